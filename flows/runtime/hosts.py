"""Worker threads that share too few cores: plan CPU-bound work on as many of them as the cores can run.

The planner's model has every worker run its tasks independently. That holds for tasks that wait — on a
GPU kernel, a disk, a sleep — but not for CPU-bound ones when a machine runs more worker threads than it
has cores: hetflow's embedded cluster of one GPU-class and three CPU workers is four single-thread processes,
and on a 2-core machine four CPU-bound tasks run at half speed each. The plan then spreads work over four
"parallel" workers that are really two, and pays for it twice: costs learned under that contention make
spreading look worth it, and every block moved between two of those processes costs CPU time on both ends
(measured on a 3200² ``dask.array`` matmul: about 8 ms of worker CPU per 5 MB block moved; a plan on four
processes moved 75 blocks, Dask 60, a plan on two 35).

So when a job would keep a machine's cores busy — :func:`cpu_slots` plans on at most as many worker
threads per machine as it has usable cores (the best worker of each device class first, so a GPU-only task
still has its worker, then the fastest). "Busy" comes from Dask's own per-task metric of the time a task's
thread spent on a CPU, as the cost store learned it per kind
(:meth:`~hetflow.taskgraph.coststore.CostStore.cpu_share`): a task that waits on a GPU, a disk or a sleep
shows a share near 0 whatever the load; a CPU-bound one shows about ``cores / runnable threads`` of the
machine (it waits for a core the rest of the time) — 0.15-0.5 for the matmul blocks of a 3200² ``dask.array``
on four worker processes sharing two cores, depending on what else ran. Spread over the machine's
``threads`` workers, a job of work-weighted share ``s`` asks ``s * threads / cores`` of the cores; at
:data:`CPU_BOUND` or more, the cores, not the workers, are what the plan must share out. Jobs that wait,
or were never measured, are planned on every worker. (Dask's dynamic scheduler does not need this: it
places each task next to its data when it becomes ready.)

On one worker per core a CPU-bound task runs in about its CPU time, not in the wall time it took among
more threads than cores — and that wall time differs by class with the contention each class saw (on the
matmul, the GPU-class worker's blocks were learned at 20 ms and the CPU workers' at 42 ms, the same work).
:func:`cpu_costs` plans such tasks with their CPU time per class (the store keeps the share per kind and
class), so the plan balances the work it will really see.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hetflow.taskgraph import Cluster, TaskGraph
from hetflow.taskgraph.cluster import natural_key
from hetflow.taskgraph.coststore import CostStore
from hetflow.taskgraph.dask_convert import DaskSlot

__all__ = [
    "CPU_BOUND",
    "Host",
    "cpu_costs",
    "cpu_samples",
    "cpu_share",
    "cpu_slots",
    "hosts_of",
    "machine_cores",
    "oversubscription",
    "thread_seconds",
]

CPU_BOUND = 0.25  # the share of a machine's core time a job would need, spread over all its workers


@dataclass(frozen=True)
class Host:
    """A machine of the cluster: its name and the cores its worker processes may use."""

    name: str
    cores: int


def cpu_share(graph: TaskGraph, store: CostStore) -> float | None:
    """The work-weighted share of CPU time in the wall time of ``graph``'s tasks, by the store (None: unknown).

    Each task counts with its cheapest cost and its kind's :meth:`CostStore.cpu_share`; tasks of kinds never
    measured count as waiting (share 0): no evidence, no fewer workers.

    Examples
    --------
    >>> g = TaskGraph(name="g")
    >>> g.add_task("a", {"cpu": 3.0}, kind="matmul"); g.add_task("b", {"cpu": 1.0}, kind="nap")
    >>> store = CostStore(path=None)
    >>> store.learn({}, cpu={("matmul", "cpu"): [(1.0, 0.9)], ("nap", "cpu"): [(1.0, 0.1)]})
    >>> round(cpu_share(g, store), 3)
    0.7
    >>> cpu_share(g, CostStore(path=None)) is None
    True
    """
    used = total = 0.0
    measured = False
    share_of = functools.cache(store.cpu_share)  # a graph has many tasks of few kinds
    for t in graph.tasks:
        share = share_of(graph.kind(t))
        work = min(graph.cost(t).values())
        total += work
        if share is not None:
            used, measured = used + share * work, True
    return used / total if measured and total > 0 else None


def _by_host(cluster: Cluster, hosts: Mapping[str, Host]) -> dict[str, list[Any]]:
    """Machine name -> the workers of ``cluster`` on it (workers missing from ``hosts`` left out)."""
    by_host: dict[str, list[Any]] = {}
    for w in cluster.workers:
        if w.name in hosts:
            by_host.setdefault(hosts[w.name].name, []).append(w)
    return by_host


def cpu_slots(
    cluster: Cluster, hosts: Mapping[str, Host], share: float, process: Mapping[str, str] | None = None
) -> Cluster:
    """``cluster`` with at most ``cores`` workers (thread slots) on each host the job would keep busy.

    Parameters
    ----------
    cluster : Cluster
        One planned worker per Dask worker thread.
    hosts : mapping worker name -> Host
        Where each worker runs; workers missing from it are kept.
    share : float
        The job's CPU share (:func:`cpu_share`): a host of ``cores`` cores and ``threads`` workers keeps
        ``cores`` of them (each device class keeps one) when ``share * threads / cores >= CPU_BOUND``.
    process : mapping worker name -> Dask worker address, optional
        Which thread slots share a process: the first thread of every process is kept before any second
        one (two threads of one process share its GIL).

    Examples
    --------
    >>> from hetflow.taskgraph import Worker
    >>> c = Cluster([Worker("gpu0", "gpu"), Worker("cpu0", "cpu"), Worker("cpu1", "cpu", 2.0),
    ...              Worker("cpu2", "cpu")])
    >>> two = Host("box", cores=2)
    >>> hosts = dict.fromkeys(["gpu0", "cpu0", "cpu1", "cpu2"], two)
    >>> [w.name for w in cpu_slots(c, hosts, share=0.2).workers]  # 0.2 * 4 / 2 >= 0.25: cores are the limit
    ['gpu0', 'cpu1']
    >>> len(cpu_slots(c, hosts, share=0.05))  # tasks that wait: every worker
    4
    >>> one = dict.fromkeys(["gpu0", "cpu0", "cpu1", "cpu2"], Host("small", cores=1))  # each class keeps one
    >>> [w.name for w in cpu_slots(c, one, share=1.0).workers]
    ['gpu0', 'cpu1']
    >>> three = dict.fromkeys(["gpu0", "cpu0", "cpu1", "cpu2"], Host("box", cores=3))  # cpu0, cpu1: one process
    >>> [w.name for w in cpu_slots(c, three, 1.0, process={"gpu0": "a", "cpu0": "b", "cpu1": "b", "cpu2": "c"}).workers]
    ['gpu0', 'cpu0', 'cpu2']
    """
    process = process or {}
    nth: dict[str, int] = {}  # worker -> its place among the thread slots of its process
    seen: dict[str, int] = {}
    for w in sorted(cluster.workers, key=lambda w: natural_key(w.name)):
        where = process.get(w.name, w.name)
        nth[w.name], seen[where] = seen.get(where, 0), seen.get(where, 0) + 1
    dropped: set[str] = set()
    for workers in _by_host(cluster, hosts).values():
        cores = max(1, min(hosts[w.name].cores for w in workers))
        if len(workers) <= cores or share * len(workers) / cores < CPU_BOUND:
            continue
        ranked = sorted(workers, key=lambda w: (nth[w.name], -w.speed, natural_key(w.name)))
        keep = {next(w.name for w in ranked if w.device == d) for d in sorted({w.device for w in workers})}
        for w in ranked:
            if len(keep) >= cores:
                break
            keep.add(w.name)
        dropped |= {w.name for w in workers} - keep
    return cluster.without(dropped) if dropped else cluster


def _cpus() -> tuple[list[int] | None, int]:
    """This process's CPU affinity (None where unknown) and dask's count of its usable cores (cgroup quota
    included)."""
    from dask.system import cpu_count

    try:
        ids: list[int] | None = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        ids = None
    return ids, cpu_count()


def machine_cores(reports: Iterable[tuple[list[int] | None, int]]) -> int:
    """The cores the workers of one machine can use together, from each worker's :func:`_cpus`.

    Workers pinned to different cores (e.g. one per NUMA node) add up; a CPU quota caps them.

    Examples
    --------
    >>> machine_cores([([0, 1], 2), ([0, 1], 2), ([0, 1], 2)])  # three workers on the same two cores
    2
    >>> machine_cores([([0, 1, 2, 3], 4), ([4, 5, 6, 7], 4)])  # pinned to one NUMA node each
    8
    >>> machine_cores([(list(range(16)), 2)])  # 16 CPUs visible, a quota of 2
    2
    >>> machine_cores([(None, 4), (None, 4)])
    4
    """
    reports = list(reports)
    if not reports:
        return 1
    if any(ids is None for ids, _ in reports):
        return max(1, max(count for _, count in reports))
    distinct = {frozenset(ids): count for ids, count in reports}
    union = frozenset().union(*distinct)
    return max(1, min(len(union), sum(distinct.values())))


def hosts_of(client: Any, slots: Mapping[str, DaskSlot]) -> dict[str, Host]:
    """Planned worker name -> the :class:`Host` of its Dask worker (machine and usable cores); {} when the
    workers cannot be asked (one left meanwhile, a comm error): then nothing is restricted."""
    try:
        info = client.scheduler_info(n_workers=-1).get("workers", {})
        replies = client.run(_cpus, on_error="return")
    except Exception:  # noqa: BLE001 - no answer: plan on every worker
        return {}
    cpus = {a: r for a, r in replies.items() if isinstance(r, tuple) and len(r) == 2 and isinstance(r[1], int)}
    machine = {a: str(info.get(a, {}).get("host", a)) for a in cpus}
    cores = {m: machine_cores(cpus[a] for a in cpus if machine[a] == m) for m in set(machine.values())}
    return {name: Host(machine[s.address], cores[machine[s.address]]) for name, s in slots.items() if s.address in cpus}


def _thread_seconds(dask_worker: Any) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for key, value in dask_worker.digests_total.items():
        if isinstance(key, tuple) and len(key) >= 4 and key[0] == "execute" and key[-1] == "seconds":
            activity = key[-2]
            if activity in ("thread-cpu", "thread-noncpu"):
                row = out.setdefault(str(key[-3]), [0.0, 0.0])
                row[activity == "thread-noncpu"] += float(value)
    return out


Snapshot = dict[str, dict[str, tuple[float, float]]]  # worker address -> key prefix -> (CPU s, other s)


def thread_seconds(client: Any) -> Snapshot:
    """Per worker and Dask key prefix, ``(CPU seconds, other seconds)`` its tasks' threads spent so far.

    Dask's workers measure both for every task they run (``thread-cpu`` and ``thread-noncpu``); the
    difference of two calls is what ran in between (:func:`cpu_samples`). Workers that do not answer, or an
    older ``distributed`` without the metric, give nothing.
    """
    try:
        replies = client.run(_thread_seconds, on_error="return")
    except Exception:  # noqa: BLE001 - no answer: learn nothing
        return {}
    return {
        address: {str(p): (float(u), float(o)) for p, (u, o) in rows.items()}
        for address, rows in replies.items()
        if isinstance(rows, dict)
    }


def cpu_samples(
    before: Snapshot, after: Snapshot, kinds: Iterable[Hashable], device_of: Mapping[str, str]
) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """``{(kind, device class): [(wall seconds, CPU seconds)]}`` of what ran between two :func:`thread_seconds`.

    ``device_of`` maps a worker's address to its class; only workers in both snapshots and in ``device_of``
    count, and only where their counters grew (a restarted worker starts again from 0).

    Examples
    --------
    >>> before = {"w1": {"sum": (1.0, 1.0)}, "w2": {}, "gone": {"sum": (5.0, 0.0)}}
    >>> after = {"w1": {"sum": (1.5, 1.5), "nap": (0.0, 2.0), "x": (1.0, 0.0)}, "w2": {"sum": (0.2, 0.0)},
    ...          "new": {"sum": (9.0, 9.0)}}
    >>> cpu_samples(before, after, ["sum", "nap"], {"w1": "cpu", "w2": "gpu", "gone": "cpu", "new": "cpu"})
    {('sum', 'cpu'): [(1.0, 0.5)], ('nap', 'cpu'): [(2.0, 0.0)], ('sum', 'gpu'): [(0.2, 0.2)]}
    """
    wanted = list(dict.fromkeys(str(k) for k in kinds))
    totals: dict[tuple[str, str], list[float]] = {}
    for address in sorted(before.keys() & after.keys() & device_of.keys()):
        for kind in wanted:
            used0, other0 = before[address].get(kind, (0.0, 0.0))
            used1, other1 = after[address].get(kind, (0.0, 0.0))
            used, other = used1 - used0, other1 - other0
            if used >= 0 and other >= 0 and used + other > 0:
                row = totals.setdefault((kind, device_of[address]), [0.0, 0.0])
                row[0], row[1] = row[0] + used + other, row[1] + used
    return {key: [(wall, used)] for key, (wall, used) in totals.items()}


def oversubscription(cluster: Cluster, hosts: Mapping[str, Host]) -> float:
    """The most worker threads per usable core on any machine of ``cluster`` (1.0 when none is known).

    Examples
    --------
    >>> from hetflow.taskgraph import Worker
    >>> c = Cluster([Worker("gpu0", "gpu"), Worker("cpu0", "cpu"), Worker("cpu1", "cpu")])
    >>> oversubscription(c, dict.fromkeys(["gpu0", "cpu0", "cpu1"], Host("box", 2)))
    1.5
    """
    by_host = _by_host(cluster, hosts)
    return max([len(ws) / max(1, min(hosts[w.name].cores for w in ws)) for ws in by_host.values()] or [1.0])


def cpu_costs(graph: TaskGraph, store: CostStore, oversubscribed: float) -> TaskGraph:
    """``graph`` with the cost of each CPU-bound task on each class replaced by its CPU time there.

    For a plan on one worker per core (:func:`cpu_slots`): costs learned while more threads than cores ran
    include the waits for a core, and differ by class with the contention each class happened to see.
    A kind is CPU-bound when its share, times the ``oversubscribed`` threads per core it was measured
    under, reaches :data:`CPU_BOUND`; its cost on class ``d`` becomes ``cost[d] * cpu_share(kind, d)``
    where that share is known. Other tasks keep their costs.

    Examples
    --------
    >>> g = TaskGraph(name="g")
    >>> g.add_task("m", {"cpu": 0.04, "gpu": 0.02}, kind="matmul"); g.add_task("e", {"gpu": 1.0}, kind="embed")
    >>> store = CostStore(path=None)
    >>> store.learn({}, cpu={("matmul", "cpu"): [(1.0, 0.5)], ("matmul", "gpu"): [(1.0, 1.0)],
    ...                      ("embed", "gpu"): [(1.0, 0.01)]})
    >>> out = cpu_costs(g, store, oversubscribed=2.0)
    >>> out.cost("m"), out.cost("e")
    ({'cpu': 0.02, 'gpu': 0.02}, {'gpu': 1.0})
    """
    share = functools.cache(store.cpu_share)  # a graph has many tasks of few kinds
    G = graph.G.copy()
    for t, data in G.nodes(data=True):
        kind = graph.kind(t)
        whole = share(kind)
        if whole is None or whole * oversubscribed < CPU_BOUND:
            continue
        cost = dict(data["cost"])
        for d in cost:
            on_d = share(kind, d)
            if on_d is not None and on_d > 0:
                cost[d] = cost[d] * on_d
        data["cost"] = cost
    return TaskGraph(G, name=graph.name, validate=False)
