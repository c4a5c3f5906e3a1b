"""The conformance suite every registered solver must pass (in the spirit of scikit-learn's ``check_estimator``).

Hypothesis strategies build random instances of DESIGN.md's cost model; :func:`check_solver` runs every
check on one instance. ``tests/test_conformance.py`` applies it to every name in ``hetflow.solvers.solver_names()``,
so a newly registered solver is checked without touching the tests.

Checks
------
* the schedule validates against its graph and cluster (each task once, on a worker of an allowed device
  class, duration ``cost / speed``, inputs arrived incl. transfer time, no overlap on a worker);
* ``makespan`` is the last finish, ``transferred_bytes`` the bytes that cross workers, ``solver`` the name;
* ``makespan >= lower_bound`` (up to float rounding);
* the same inputs and seed give the same schedule (run twice);
* the schedule survives a JSON round trip;
* an equal graph and cluster built afresh (new objects) give the same schedule;
* planning does not modify the graph or the cluster.

Strategies
----------
``clusters()``, ``graphs(devices=...)`` and ``instances()`` (a cluster, then a graph whose every task can run
on it). Tasks are cpu-only, gpu-only or both, sometimes with an extra class no worker has; costs and bytes
are zero now and then; clusters mix speeds and may carry per-link overrides and latency.
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable, Sequence
from typing import Any

import hetflow.solvers
import networkx as nx
from hetflow.solvers import Schedule
from hetflow.taskgraph import Cluster, TaskGraph, Worker
from hetflow.taskgraph.io import graph_from_dict, graph_to_dict
from hypothesis import strategies as st

__all__ = [
    "clusters",
    "graphs",
    "instances",
    "check_solver",
    "check_schedule",
    "simulate",
    "brute_force_makespan",
    "describe",
    "SMALL",
    "LARGE",
]

# Instance sizes: every solver gets SMALL instances; solvers that take any size (all but "exact") get LARGE.
SMALL = {"max_tasks": 10, "min_workers": 1, "max_workers": 3}
LARGE = {"max_tasks": 60, "min_workers": 2, "max_workers": 6}
SMALL_ONLY = {"exact"}  # solvers whose search is exponential: SMALL instances only

_costs = st.one_of(
    st.just(0.0),
    st.sampled_from([0.5, 1.0, 2.0, 3.0]),
    st.floats(min_value=1e-3, max_value=100.0, allow_nan=False, allow_infinity=False),
)
_bytes = st.one_of(
    st.just(0.0),
    st.sampled_from([1e6, 1e8, 1e9]),
    st.floats(min_value=0.0, max_value=5e9, allow_nan=False, allow_infinity=False),
)
_speeds = st.one_of(
    st.sampled_from([0.5, 1.0, 2.0, 4.0]), st.floats(min_value=0.1, max_value=10.0, allow_nan=False)
)
_bandwidths = st.one_of(st.sampled_from([1e8, 1e9, 1e10]), st.floats(min_value=1e7, max_value=1e11))
_latencies = st.one_of(st.just(0.0), st.floats(min_value=0.0, max_value=2.0, allow_nan=False))


@st.composite
def clusters(
    draw: st.DrawFn,
    min_workers: int = 2,
    max_workers: int = 7,
    max_gpus: int = 3,
    max_cpus: int = 4,
) -> Cluster:
    """Clusters of up to ``max_gpus`` gpu and ``max_cpus`` cpu workers (``min_workers..max_workers`` in all).

    With ``min_workers >= 2`` there is at least one worker of each class. Speeds are mixed; the network
    has a default bandwidth and latency and, sometimes, per-link overrides.
    """
    both = min_workers >= 2
    max_gpus = min(max_gpus, max_workers - both)
    gpus = draw(st.integers(1 if both else 0, max_gpus))
    low_cpus = max(1 if both else 0, min_workers - gpus, 0)
    cpus = draw(st.integers(low_cpus, max(low_cpus, min(max_cpus, max_workers - gpus))))
    workers = [Worker(f"gpu{i}", "gpu", draw(_speeds)) for i in range(gpus)]
    workers += [Worker(f"cpu{i}", "cpu", draw(_speeds)) for i in range(cpus)]
    if draw(st.booleans()):  # worker order should not matter to validity: shuffle sometimes
        workers = draw(st.permutations(workers))
    names = [w.name for w in workers]
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    links = []
    if pairs and draw(st.booleans()):
        for a, b in draw(st.lists(st.sampled_from(pairs), max_size=len(pairs), unique=True)):
            links.append({"a": a, "b": b, "bandwidth": draw(_bandwidths), "latency": draw(_latencies)})
    return Cluster(workers, bandwidth=draw(_bandwidths), latency=draw(_latencies), links=links)


@st.composite
def graphs(
    draw: st.DrawFn,
    min_tasks: int = 1,
    max_tasks: int = 10,
    devices: Sequence[str] = ("cpu", "gpu"),
) -> TaskGraph:
    """Random DAGs (edges only from a lower to a higher index) whose tasks each run on some of ``devices``.

    Task ids are strings or ints; some tasks also name a device class (``"tpu"``) no cluster has.
    """
    devices = sorted(devices)
    n = draw(st.integers(min_tasks, max_tasks))
    options = [(d,) for d in devices] + ([tuple(devices)] if len(devices) > 1 else [])
    as_int = draw(st.booleans())
    ids: list[Hashable] = list(range(n)) if as_int else [f"t{i}" for i in range(n)]
    G = nx.DiGraph(name="conformance")
    for i in range(n):
        classes = draw(st.sampled_from(options))
        cost = {d: draw(_costs) for d in classes}
        if draw(st.integers(0, 9)) == 0:
            cost["tpu"] = draw(_costs)  # a class no worker has: must be ignored, not crash
        G.add_node(ids[i], cost=cost, kind=draw(st.sampled_from(["pre", "feat", "shard", "merge"])))
    if n > 1:
        pair = st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda p: p[0] != p[1])
        for a, b in draw(st.lists(pair, max_size=3 * n)):
            u, v = min(a, b), max(a, b)
            G.add_edge(ids[u], ids[v], bytes=draw(_bytes))
    return TaskGraph(G)


@st.composite
def instances(
    draw: st.DrawFn, max_tasks: int = 10, min_workers: int = 1, max_workers: int = 3
) -> tuple[TaskGraph, Cluster]:
    """A cluster, then a graph whose tasks only use device classes that cluster has (every task runnable)."""
    cluster = draw(clusters(min_workers=min_workers, max_workers=max_workers))
    graph = draw(graphs(max_tasks=max_tasks, devices=sorted(cluster.devices)))
    return graph, cluster


def describe(graph: TaskGraph, cluster: Cluster) -> str:
    """The instance as JSON (graph node-link data and cluster), for failure reports."""
    return json.dumps({"graph": graph_to_dict(graph), "cluster": cluster.to_dict()}, default=str)


# -- checks -----------------------------------------------------------------------------------------
def _rebuild(graph: TaskGraph, cluster: Cluster) -> tuple[TaskGraph, Cluster]:
    """Equal but freshly built objects (through JSON, so nothing is shared)."""
    graph2 = graph_from_dict(json.loads(json.dumps(graph_to_dict(graph))))
    cluster2 = Cluster.from_dict(json.loads(json.dumps(cluster.to_dict())))
    return graph2, cluster2


def _fingerprint(graph: TaskGraph, cluster: Cluster) -> str:
    return json.dumps([graph_to_dict(graph), cluster.to_dict()], sort_keys=True, default=str)


def check_schedule(schedule: Schedule, graph: TaskGraph, cluster: Cluster, solver: str) -> None:
    """Checks of one schedule against its instance (no re-planning)."""
    schedule.validate(graph, cluster)
    assert schedule.solver == solver
    assert len(schedule) == len(graph)
    finishes = [p.finish for p in schedule.placements]
    assert schedule.makespan == max(finishes)
    assert schedule.to_dict()["makespan"] == max(finishes)
    assert math.isclose(schedule.transferred_bytes, schedule.recount_transfers(graph), rel_tol=1e-9, abs_tol=1e-6)
    bound = hetflow.solvers.lower_bound(graph, cluster)
    assert schedule.makespan >= bound * (1 - 1e-9) - 1e-9, (
        f"{solver}: makespan {schedule.makespan!r} is below the lower bound {bound!r}"
    )
    again = Schedule.from_dict(json.loads(json.dumps(schedule.to_dict())))
    assert again == schedule
    assert again.solver == schedule.solver and again.makespan == schedule.makespan


def check_solver(name: str, graph: TaskGraph, cluster: Cluster, seed: int = 0, **options: Any) -> Schedule:
    """Plan ``graph`` on ``cluster`` with solver ``name`` and run every conformance check; return the plan."""
    before = _fingerprint(graph, cluster)
    schedule = hetflow.solvers.plan(graph, cluster, solver=name, seed=seed, **options)
    assert _fingerprint(graph, cluster) == before, f"{name} modified its input"
    check_schedule(schedule, graph, cluster, name)

    twice = hetflow.solvers.plan(graph, cluster, solver=name, seed=seed, **options)
    assert twice == schedule, f"{name} is not deterministic for a fixed seed"

    graph2, cluster2 = _rebuild(graph, cluster)
    fresh = hetflow.solvers.plan(graph2, cluster2, solver=name, seed=seed, **options)
    assert fresh == schedule, f"{name} gives a different schedule for an equal, freshly built instance"
    return schedule


# -- a reference simulator and a brute-force optimum (tiny instances) ---------------------------------
def simulate(
    graph: TaskGraph, cluster: Cluster, order: Sequence[Hashable], assignment: dict[Hashable, str]
) -> dict[Hashable, tuple[float, float]]:
    """Start every task, in ``order``, as early as its inputs and its worker allow (no insertion).

    Written from DESIGN.md's cost model independently of :mod:`solvers`.
    """
    free = {w.name: 0.0 for w in cluster.workers}
    times: dict[Hashable, tuple[float, float]] = {}
    for t in order:
        w = assignment[t]
        ready = free[w]
        for p in graph.G.predecessors(t):
            ready = max(ready, times[p][1] + cluster.comm_time(assignment[p], w, graph.bytes(p, t)))
        finish = ready + cluster.exec_time(graph.cost(t), w)
        times[t] = (ready, finish)
        free[w] = finish
    return times


def brute_force_makespan(graph: TaskGraph, cluster: Cluster) -> float:
    """The optimal makespan, by depth-first search over (ready task, worker) choices with pruning.

    Every schedule can be replayed in the order of its start times with each task started as early as
    possible, which never delays it, so searching orders x assignments with earliest starts is exact.
    Meant for about 6 tasks and 3 workers.
    """
    tasks = graph.tasks
    parents = {t: graph.parents(t) for t in tasks}
    runs = {
        t: [(w.name, cluster.exec_time(graph.cost(t), w.name)) for w in cluster.workers] for t in tasks
    }
    runs = {t: [(w, d) for w, d in options if math.isfinite(d)] for t, options in runs.items()}
    best = math.inf
    placed: dict[Hashable, tuple[str, float]] = {}
    free = {w.name: 0.0 for w in cluster.workers}

    def search(current: float) -> None:
        nonlocal best
        if current >= best:
            return
        if len(placed) == len(tasks):
            best = current
            return
        for t in tasks:
            if t in placed or any(p not in placed for p in parents[t]):
                continue
            for w, duration in runs[t]:
                ready = free[w]
                for p in parents[t]:
                    pw, pf = placed[p]
                    ready = max(ready, pf + cluster.comm_time(pw, w, graph.bytes(p, t)))
                finish = ready + duration
                old = free[w]
                placed[t], free[w] = (w, finish), finish
                search(max(current, finish))
                del placed[t]
                free[w] = old

    search(0.0)
    return best
