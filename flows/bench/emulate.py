"""Emulated workloads: run a graph for real on a CPU-only Dask cluster, with sleeps standing in for work.

Every task sleeps ``cost[device] / speed * time_scale`` seconds on the worker it runs on and returns a
digest of its id and inputs (:func:`hetflow.flows.runtime.ops.emulate`), so

* a hetflow plan can be executed and its actual makespan compared with the planned one, and
* the same graph can be handed to Dask's own scheduler (:func:`plain_dask_run`) — a task then learns its
  device class from the worker Dask chose (``GPU`` resource) — and all variants must return identical
  sink digests.

:func:`compare_execution` runs the variants side by side on one cluster and returns a pandas table.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from dask.highlevelgraph import HighLevelGraph, MaterializedLayer
from dask.task_spec import DataNode, Task, TaskRef
from distributed import wait
from hetflow.flows.options import RunOptions
from hetflow.flows.runtime.cluster import DaskSession
from hetflow.flows.runtime.executor import PlanExecutor
from hetflow.flows.runtime.keys import format_key
from hetflow.flows.runtime.ops import emulated, reference_results  # noqa: F401  (re-exported)
from hetflow.flows.runtime.timeline import timeline_frame
from hetflow.flows.runtime.worker import run_anywhere, warm_up
from hetflow.solvers.schedule import Schedule
from hetflow.taskgraph import TaskGraph

__all__ = [
    "prefers_gpu",
    "plain_dask_run",
    "hetflow_run",
    "VariantResult",
    "compare_execution",
]




def prefers_gpu(cost: dict[str, float]) -> bool:
    """True when a task is faster on a GPU than on a CPU (or can only run on a GPU)."""
    return "gpu" in cost and cost["gpu"] < cost.get("cpu", float("inf"))


@dataclass
class VariantResult:
    """One execution of the graph: makespan and where every task ran."""

    name: str
    makespan: float  # first submit -> last sink finished (seconds)
    results: dict[Hashable, Any]
    frame: pd.DataFrame  # task, worker, start, stop (relative to the first submit)
    planned: float = float("nan")
    submit_seconds: float = float("nan")


def _stream_frame(stream: list[dict], names: dict[str, str], t0: float, task_of: dict[str, Hashable]) -> pd.DataFrame:
    rows = []
    for rec in stream:
        compute = [s for s in rec["startstops"] if s["action"] == "compute"]
        if rec["key"] in task_of and compute:
            rows.append(
                {
                    "task": task_of[rec["key"]],
                    "worker": names.get(rec["worker"], rec["worker"]),
                    "start": compute[-1]["start"] - t0,
                    "stop": compute[-1]["stop"] - t0,
                }
            )
    return pd.DataFrame(rows, columns=["task", "worker", "start", "stop"])


def plain_dask_run(
    session: DaskSession,
    graph: TaskGraph,
    *,
    hints: str = "none",
    time_scale: float = 1.0,
    mode: str = "graph",
    timeout: float = 600,
) -> VariantResult:
    """Let Dask schedule ``graph`` itself (placement, order, work stealing): no workers, no priorities.

    Parameters
    ----------
    hints : ``"none"`` or ``"gpu"``
        ``"none"``: no placement hints, only the hard constraints of the cost model — a task without a
        ``cpu`` cost requests ``resources={"GPU": 1}``, one without a ``gpu`` cost ``{"CPU": 1}`` (the
        embedded cluster's CPU workers advertise ``CPU=1``). ``"gpu"``: additionally every task that is
        faster on a GPU (:func:`prefers_gpu`) requests ``{"GPU": 1}``.
    mode : ``"graph"`` or ``"submit"``
        ``"graph"``: the whole DAG as one graph (like ``client.compute`` of a collection; Dask orders
        it with ``dask.order``). ``"submit"``: one ``client.submit`` per task in topological order.
    """
    if hints not in ("none", "gpu") or mode not in ("graph", "submit"):
        raise ValueError(f"hints must be 'none' or 'gpu' and mode 'graph' or 'submit', not {hints!r}, {mode!r}")
    client = session.client
    client.run(warm_up)
    client.get_task_stream(count=0)
    tag = uuid.uuid4().hex[:8]
    keys = {t: format_key(graph.kind(t), t, f"dask{hints}.{tag}") for t in graph.tasks}
    task_of = {k: t for t, k in keys.items()}
    need: dict[Hashable, str | None] = {}
    for t in graph.tasks:
        cost = graph.cost(t)
        if "cpu" not in cost or (hints == "gpu" and prefers_gpu(cost)):
            need[t] = "GPU"
        else:
            need[t] = "CPU" if "gpu" not in cost else None
    futures: dict[Hashable, Any] = {}
    t0 = time.time()
    if mode == "submit":
        for t in graph.tasks:
            futures[t] = client.submit(
                run_anywhere, (t, graph.cost(t), time_scale), *[futures[q] for q in graph.parents(t)],
                key=keys[t], resources={need[t]: 1} if need[t] else None, pure=False,
            )  # fmt: skip
    else:
        layers, deps = {}, {}
        for resource in (None, "GPU", "CPU"):
            tasks = {
                keys[t]: Task(keys[t], run_anywhere, DataNode(None, (t, graph.cost(t), time_scale)),
                              *[TaskRef(keys[q]) for q in graph.parents(t)])
                for t in graph.tasks if need[t] == resource
            }  # fmt: skip
            if tasks:
                annotations = {"resources": {resource: 1}} if resource else None
                layers[f"dask-{tag}-{resource}"] = MaterializedLayer(tasks, annotations=annotations)
                deps[f"dask-{tag}-{resource}"] = set()
        submitted = client.get(HighLevelGraph(layers, deps), [keys[t] for t in graph.tasks], sync=False)
        futures = dict(zip(graph.tasks, submitted))
    submit_seconds = time.time() - t0
    sinks = [futures[s] for s in graph.sinks]
    with client.as_current():
        wait(sinks, timeout=timeout)
    stop = time.time()
    results = dict(zip(graph.sinks, client.gather(sinks)))
    names = {s.address: s.dask_name for s in session.slots.values()}
    frame = _stream_frame(client.get_task_stream(start=t0 - 1.0), names, t0, task_of)
    makespan = float(frame.stop.max()) if len(frame) else stop - t0
    del futures, sinks
    label = f"dask ({hints} hints{', submit' if mode == 'submit' else ''})"
    return VariantResult(label, makespan, results, frame, submit_seconds=submit_seconds)


def hetflow_run(
    session: DaskSession, graph: TaskGraph, schedule: Schedule, options: RunOptions | None = None, **overrides: Any
) -> VariantResult:
    """Execute ``schedule`` with :class:`PlanExecutor` (no Prefect around it) and time it like the baselines.

    ``options``/``overrides`` are the executor's (:class:`~hetflow.flows.options.RunOptions`), e.g.
    ``time_scale=0.1, strict_order=True``.
    """
    executor = PlanExecutor(session.client, graph, session.cluster, session.slots, options, **overrides)
    time_scale = executor.options.time_scale
    execution = executor.run(schedule)
    tl = timeline_frame(graph, execution, session.slots, time_scale)
    frame = tl.rename(columns={"actual_worker": "worker", "actual_start": "start", "actual_finish": "stop"})[
        ["task", "worker", "start", "stop"]
    ]
    return VariantResult(
        f"hetflow ({schedule.solver} plan)",
        float(frame.stop.max()),
        execution.results,
        frame,
        planned=schedule.makespan * time_scale,
        submit_seconds=execution.submit_seconds,
    )


def _row(v: VariantResult, graph: TaskGraph, gpu_workers: set[str]) -> dict[str, Any]:
    f = v.frame.assign(busy=lambda d: d.stop - d.start)
    on_gpu = f[f.worker.isin(gpu_workers)]
    kinds_gpu = {t for t in graph.tasks if prefers_gpu(graph.cost(t))}
    return {
        "variant": v.name,
        "makespan_s": v.makespan,
        "planned_s": v.planned,
        "actual/planned": v.makespan / v.planned if v.planned > 0 else float("nan"),
        "gpu_busy_%": 100 * on_gpu.busy.sum() / v.makespan / max(1, len(gpu_workers)) if v.makespan else 0.0,
        "gpu_tasks_on_gpu_%": 100 * on_gpu.task.isin(kinds_gpu).sum() / max(1, len(kinds_gpu)),
        "cpu_tasks_on_gpu": int((~on_gpu.task.isin(kinds_gpu)).sum()),
        "submit_s": v.submit_seconds,
    }


def compare_execution(
    session: DaskSession,
    graph: TaskGraph,
    schedule: Schedule,
    *,
    time_scale: float = 1.0,
    modes: tuple[str, ...] = ("graph",),
    **options: Any,
) -> tuple[pd.DataFrame, dict[str, VariantResult]]:
    """Run the hetflow plan, then Dask with no hints and with GPU hints (per ``modes``), on one cluster.

    ``options`` are further run options of the hetflow variant (``strict_order``, ``solver``, ...).

    Returns the comparison table (one row per variant, ``vs_best_dask`` = makespan over the best Dask
    variant's) and the raw results. Raises ``AssertionError`` if the variants' sink results differ.
    """
    graph = emulated(graph)
    runs = {"hetflow": hetflow_run(session, graph, schedule, time_scale=time_scale, **options)}
    for mode in modes:
        for hints in ("none", "gpu"):
            runs[f"{hints}-{mode}"] = plain_dask_run(session, graph, hints=hints, time_scale=time_scale, mode=mode)
    reference = runs["hetflow"].results
    for name, v in runs.items():
        assert v.results == reference, f"{name}: sink results differ from hetflow's"
    gpu_workers = {s.dask_name for s in session.slots.values() if s.worker.device == "gpu"}
    table = pd.DataFrame([_row(v, graph, gpu_workers) for v in runs.values()])
    best = min(v.makespan for name, v in runs.items() if name != "hetflow")
    table["vs_best_dask"] = table.makespan_s / best
    return table, runs
