"""The function every graph task runs inside a Dask worker (kept import-light: workers unpickle it).

Nothing here imports networkx, pandas, Prefect or the planners, so a worker's first task does not pay
for them.
"""

from __future__ import annotations

import time
from typing import Any

__all__ = ["run_graph_task", "run_anywhere", "warm_up"]


def run_graph_task(spec: tuple, *inputs: Any) -> Any:
    """Run one graph task: ``call_op(op, inputs, params, device=..., worker=..., task=...)``.

    ``spec`` is ``(task, op, params, device, worker, n_inputs, retry_delay, topic)``. Arguments past the
    first ``n_inputs`` are ordering-only dependencies and are ignored. On an exception the failure is
    logged as a Dask event on ``topic`` (that is how attempts are counted), the worker waits
    ``retry_delay`` seconds, and the exception propagates so that Dask's ``retries`` re-run the task.
    """
    task, op, params, device, worker, n_inputs, retry_delay, topic = spec
    from hetflow.flows.runtime.ops import call_op

    try:
        return call_op(op, inputs[:n_inputs], params, device=device, worker=worker, task=task)
    except Exception as e:
        try:
            from distributed import get_worker

            get_worker().log_event(topic, {"task": repr(task), "error": f"{type(e).__name__}: {e}"})
        except ValueError:  # not inside a Dask worker
            pass
        if retry_delay > 0:
            time.sleep(retry_delay)
        raise


def run_anywhere(spec: tuple, *inputs: Any) -> Any:
    """Emulate a graph task on whatever worker Dask chose (the plain-Dask baselines).

    ``spec`` is ``(task, cost, time_scale)``. The device class comes from the worker's resources (``GPU``
    > 0 means ``gpu``), the speed from its ``SPEED`` resource; the task sleeps
    ``cost[device] / speed * time_scale`` and returns the same digest as under hetflow.
    """
    task, cost, time_scale = spec
    from distributed import get_worker
    from hetflow.flows.runtime.ops import emulate

    resources = get_worker().state.total_resources
    device = "gpu" if resources.get("GPU", 0) > 0 else "cpu"
    if device not in cost:
        raise RuntimeError(f"task {task!r} landed on a {device} worker but has no {device} cost")
    seconds = cost[device] / float(resources.get("SPEED", 1.0)) * time_scale
    return emulate(*inputs, seconds=seconds, task=task)


def warm_up() -> bool:
    """Import what graph tasks need, once per worker process (``client.run(warm_up)``)."""
    import hetflow.flows.runtime.ops  # noqa: F401

    return True
