"""Ops used by the flows tests; shipped to Dask workers with ``client.upload_file`` (not a test module).

``test.flaky`` fails its first ``fail_times`` attempts per task (counted in files under ``state_dir``, so
the count survives retries on any process), then behaves like ``emulate``. ``test.add`` sums its inputs;
``test.blob`` returns ``size`` seeded random bytes.
"""

from __future__ import annotations

import os

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
