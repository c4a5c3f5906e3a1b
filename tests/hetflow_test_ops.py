"""Ops used by the flows tests; shipped to Dask workers with ``client.upload_file`` (not a test module).

``test.flaky`` fails its first ``fail_times`` attempts per task (counted in files under ``state_dir``, so
the count survives retries on any process), then behaves like ``emulate``. ``test.add`` sums its inputs;
``test.blob`` returns ``size`` seeded random bytes.
``test.read``/``test.write`` read and write the files their params name (declared paths), ``test.stuck``
hangs until a flag file exists, ``test.slow_result`` returns a result that takes a while to gather.
"""

from __future__ import annotations

import os
import time

from hetflow.flows.runtime.ops import emulate, register_op


@register_op("test.flaky")
def flaky(*inputs, state_dir: str, fail_times: int = 2, seconds: float = 0.0, task=None):
    path = os.path.join(state_dir, f"{task}.attempts")
    attempts = 1
    if os.path.exists(path):
        with open(path) as f:
            attempts += int(f.read())
    with open(path, "w") as f:
        f.write(str(attempts))
    if attempts <= fail_times:
        raise RuntimeError(f"flaky failure {attempts} of task {task!r}")
    return emulate(*inputs, seconds=seconds, task=task)


@register_op("test.add")
def add(*inputs, offset: float = 0.0, device: str = "?"):
    return (sum(x[0] for x in inputs) + offset, device)


@register_op("test.blob")
def blob(*inputs, size: int, seed: int = 0):
    """``size`` seeded random bytes (a large sink result)."""
    import numpy as np

    return np.random.default_rng(seed).bytes(size)


@register_op("test.read", reads=["path"])
def read(*inputs, path: str) -> str:
    """The text of the file ``path`` (a declared read: hetflow.flows.runtime.trust checks it)."""
    with open(path) as f:
        return f.read()


@register_op("test.write", writes=["out"])
def write(*inputs, out: str) -> str:
    """Write the inputs to ``out`` (a declared write, into the run's output folder only); return the path."""
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        f.write(repr(inputs))
    return out


@register_op("test.stuck")
def stuck(*inputs, flag: str, limit: float = 120.0):
    """Run until the file ``flag`` exists (a task that hangs; the test frees its worker by creating the file)."""
    end = time.time() + limit
    while not os.path.exists(flag) and time.time() < end:
        time.sleep(0.05)
    return "freed"


class SlowPickle:
    """A result that takes ``seconds`` to pickle: how long a large result takes to leave its worker."""

    def __init__(self, value, seconds: float = 0.0):
        self.value, self.seconds = value, seconds

    def __reduce__(self):
        time.sleep(self.seconds)
        return (SlowPickle, (self.value, 0.0))

    def __eq__(self, other):
        return isinstance(other, SlowPickle) and other.value == self.value

    def __repr__(self):
        return f"SlowPickle({self.value!r})"


@register_op("test.slow_result")
def slow_result(*inputs, seconds: float = 1.0, task=None):
    """``SlowPickle(emulate digest)``: the gather of this result takes ``seconds``."""
    return SlowPickle(emulate(*inputs, task=task), seconds)
