"""Feed a :class:`~hetflow.taskgraph.coststore.CostStore` from what Dask measured.

A Dask task-stream record (``client.get_task_stream()``) carries the key, the worker's address, compute
start/stop and ``nbytes``, the size of the result. Joined with the task graph, every computed task gives
one duration sample ``(input bytes, seconds at speed 1, the graph's own cost)`` for its ``(kind, device
class)`` — the last is None where the graph's cost was a placeholder or itself learned — and one output
sample ``(input bytes, output bytes)`` for its kind; input bytes are the measured result sizes of its
parents (the graph's edge bytes where a parent was not measured). Seconds at speed 1 are the measured
seconds times the worker's speed, the inverse of the planner's ``exec = cost / speed``.

:func:`measure` does the join for a hetflow run (the planned worker of each task is known) and for a
plain Dask run (the device class comes from the worker the task ran on); :func:`observe_dask` learns from a
``dask.compute`` the user ran themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any

from hetflow.taskgraph import TaskGraph
from hetflow.taskgraph.coststore import CostStore
from hetflow.taskgraph.dask_convert import DaskSlot

__all__ = [
    "Samples",
    "measure",
    "learn",
    "run_cost_store",
    "learn_from_execution",
    "observe_dask",
    "device_by_address",
]

Samples = tuple[dict[tuple[str, str], list[tuple[float, float]]], dict[str, list[tuple[float, float]]]]


def _compute_seconds(record: Mapping[str, Any]) -> float | None:
    spans = [s for s in record.get("startstops", ()) if s.get("action") == "compute"]
    return float(spans[-1]["stop"] - spans[-1]["start"]) if spans else None


def device_by_address(slots: Mapping[str, DaskSlot]) -> dict[str, tuple[str, float]]:
    """Dask worker address -> ``(device class, speed)``; a worker hosting both classes counts as ``cpu``.

    Examples
    --------
    >>> from hetflow.taskgraph import Worker
    >>> slots = {"g": DaskSlot(Worker("g", "gpu"), "tcp://a:1", "g"),
    ...          "c": DaskSlot(Worker("c", "cpu", 2.0), "tcp://b:1", "c")}
    >>> device_by_address(slots)
    {'tcp://a:1': ('gpu', 1.0), 'tcp://b:1': ('cpu', 2.0)}
    """
    out: dict[str, tuple[str, float]] = {}
    for slot in slots.values():
        device, speed = slot.worker.device, slot.worker.speed
        if slot.address in out and out[slot.address][0] != device:
            device = "cpu"
        out[slot.address] = (device, speed)
    return out


def measure(
    graph: TaskGraph,
    stream: Iterable[Mapping[str, Any]],
    device_of: Callable[[Hashable, Mapping[str, Any]], tuple[str, float] | None],
    key_of: Mapping[Hashable, Any] | None = None,
) -> Samples:
    """Duration and output samples of every task of ``graph`` that the task stream saw computed.

    Parameters
    ----------
    graph : TaskGraph
    stream : iterable of task-stream records
    device_of : callable
        ``device_of(task, record) -> (device class, speed)``, or ``None`` to skip the task.
    key_of : mapping task -> Dask key, optional
        The key each task ran under (default: the task id itself, as for Dask graphs).

    Examples
    --------
    >>> g = TaskGraph(name="g")
    >>> g.add_task("a", {"cpu": 1.0}, kind="load"); g.add_task("b", {"cpu": 1.0}, kind="sum")
    >>> g.add_edge("a", "b", bytes=5.0)
    >>> rec = lambda key, t0, t1, n: {"key": key, "nbytes": n, "worker": "w",
    ...     "startstops": [{"action": "compute", "start": t0, "stop": t1}]}
    >>> durations, outputs = measure(g, [rec("a", 0, 1, 800), rec("b", 1, 1.5, 8)], lambda t, r: ("cpu", 2.0))
    >>> durations  # (input bytes, seconds at speed 1, the graph's own cost)
    {('load', 'cpu'): [(0.0, 2.0, 1.0)], ('sum', 'cpu'): [(800.0, 1.0, 1.0)]}
    >>> outputs
    {'load': [(0.0, 800.0)], 'sum': [(800.0, 8.0)]}
    """
    by_key = {}
    for record in stream:
        if record.get("status", "OK") == "OK":
            by_key[record["key"]] = record  # the last computation of a key wins
    records = {t: by_key.get(key_of[t] if key_of is not None else t) for t in graph.tasks}
    durations: dict[tuple[str, str], list[tuple[float, float]]] = {}
    outputs: dict[str, list[tuple[float, float]]] = {}
    for t in graph.tasks:
        record = records[t]
        seconds = _compute_seconds(record) if record is not None else None
        if seconds is None:
            continue
        where = device_of(t, record)
        if where is None:
            continue
        device, speed = where
        x = 0.0
        for q in graph.parents(t):
            parent = records[q]
            x += float(parent["nbytes"]) if parent is not None and "nbytes" in parent else graph.bytes(q, t)
        kind = graph.kind(t)
        model = graph.cost(t).get(device) if graph.G.nodes[t].get("cost_source") in (None, "annotation") else None
        durations.setdefault((kind, device), []).append((x, seconds * speed, model))
        if "nbytes" in record:
            outputs.setdefault(kind, []).append((x, float(record["nbytes"])))
    return durations, outputs


def learn(
    store: CostStore,
    samples: Samples,
    *,
    save: bool = True,
    cpu: Mapping[tuple[str, str], list[tuple[float, float]]] | None = None,
) -> CostStore:
    """Add one run's samples (and its ``(wall, CPU seconds)`` per kind and device class, ``cpu``) to ``store``
    and save it (when it has a path)."""
    durations, outputs = samples
    if durations or outputs:
        store.learn(durations, outputs, cpu=cpu)
        if save and store.path is not None:
            store.save()
    return store


def run_cost_store(graph: TaskGraph, cost_store: str | None, emulate: bool = False) -> CostStore | None:
    """The cost store a run of ``graph`` uses and feeds (``RunOptions.cost_store``), or None.

    None when no store is asked for, the run is emulated, or no task runs a real op. A corrupt store raises
    :class:`~hetflow.taskgraph.coststore.CostStoreError` (one line): call it before anything starts.
    """
    if cost_store is None or emulate or all(op is None for _, op in graph.G.nodes(data="op")):
        return None
    return CostStore.load() if cost_store == "default" else CostStore.load(cost_store)


def learn_from_execution(store: CostStore, graph: TaskGraph, execution: Any, cluster: Any) -> CostStore:
    """Feed ``store`` with the tasks of a :class:`~hetflow.flows.runtime.executor.Execution` that ran a real op.

    Each task's device class and speed are those of the worker it was planned on in the round whose result
    was used; ``graph`` is the graph as the user gave it (its costs are the "model seconds" of the samples).
    """
    workers = {w.name: (w.device, w.speed) for w in cluster.workers}

    def device_of(task: Hashable, record: Mapping[str, Any]) -> tuple[str, float] | None:
        placement = execution.rounds[execution.final_round[task]].schedule.by_task[task]
        return workers.get(placement.worker)

    real = [t for t, op in graph.G.nodes(data="op") if op is not None]
    if not real:
        return store
    return learn(store, measure(graph.subgraph(real), execution.stream, device_of, execution.final_key))


def observe_dask(
    client: Any, *collections: Any, store: CostStore | None = None, start: float | None = None
) -> CostStore:
    """Learn costs from a plain ``dask.compute``/``client.compute`` of ``collections`` the user already ran.

    The collections are rebuilt exactly as ``dask.compute`` builds them (same optimisation, so the same
    keys); each task's device class is the class of the worker that ran it.

    Parameters
    ----------
    client : distributed.Client
        The client the computation ran on; its scheduler must record the task stream
        (``client.get_task_stream(count=0)`` before the run, or the dashboard open).
    *collections
        What was computed.
    store : CostStore, optional
        Default: the store at the default path.
    start : float, optional
        Wall-clock time before the run (task-stream records from then on are read).
    """
    from hetflow.flows.runtime.cluster import slot_map
    from hetflow.taskgraph.dask_graph import from_collections

    store = store if store is not None else CostStore.load()
    work = from_collections(*collections)
    where = device_by_address(slot_map(client))
    stream = client.get_task_stream(start=start) if start is not None else client.get_task_stream()
    samples = measure(work.graph, stream, lambda t, record: where.get(record.get("worker")))
    return learn(store, samples)
