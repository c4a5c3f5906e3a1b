"""The functions graph tasks run inside a Dask worker (kept import-light: workers unpickle them).

This module and what it imports (:mod:`~hetflow.flows.runtime.ops`, :mod:`~hetflow.flows.runtime.keys`) load
neither pandas nor Prefect, so a worker's first task does not pay for them.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from distributed import get_worker
from hetflow.flows.runtime.keys import TaskSpec
from hetflow.flows.runtime.ops import call_op, emulate

__all__ = ["run_graph_task", "run_anywhere", "warm_up"]


def run_graph_task(spec: TaskSpec, *inputs: Any) -> Any:
    """Run one graph task: ``call_op(op, inputs, params, device=..., worker=..., task=...)``.

    Arguments past the first ``spec.n_inputs`` are ordering-only dependencies and are ignored. On an
    exception the failure is logged as a Dask event on ``spec.topic`` (that is how attempts are counted),
    the worker waits ``spec.retry_delay`` seconds, and the exception propagates so that Dask's ``retries``
    re-run the task.
    """
    try:
        return call_op(spec.op, inputs[: spec.n_inputs], spec.params, device=spec.device, worker=spec.worker,
                       task=spec.task)  # fmt: skip
    except Exception as e:
        with contextlib.suppress(ValueError):  # ValueError: not inside a Dask worker
            get_worker().log_event(spec.topic, {"task": repr(spec.task), "error": f"{type(e).__name__}: {e}"})
        if spec.retry_delay > 0:
            time.sleep(spec.retry_delay)
        raise


def run_anywhere(spec: tuple, *inputs: Any) -> Any:
    """Emulate a graph task on whatever worker Dask chose (the plain-Dask baselines).

    ``spec`` is ``(task, cost, time_scale)``. The device class comes from the worker's resources (``GPU``
    > 0 means ``gpu``), the speed from its ``SPEED`` resource; the task sleeps
    ``cost[device] / speed * time_scale`` and returns the same digest as under hetflow.
    """
    task, cost, time_scale = spec
    resources = get_worker().state.total_resources
    device = "gpu" if resources.get("GPU", 0) > 0 else "cpu"
    if device not in cost:
        raise RuntimeError(f"task {task!r} landed on a {device} worker but has no {device} cost")
    seconds = cost[device] / float(resources.get("SPEED", 1.0)) * time_scale
    return emulate(*inputs, seconds=seconds, task=task)


def warm_up() -> bool:
    """Load this module (and so what graph tasks need) once per worker process: ``client.run(warm_up)``."""
    return True
