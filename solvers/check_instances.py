"""Random instances and a brute-force reference for the solver conformance checks (:mod:`hetflow.solvers.checks`).

* :func:`random_instance` — a seeded ``(graph, cluster)`` of DESIGN.md's cost model: tasks that are cpu-only,
  gpu-only or both, sometimes with a class no worker has; zero costs and bytes now and then; mixed speeds,
  per-link overrides and latency. :func:`instances`, :func:`graphs` and :func:`clusters` are the same
  generators as hypothesis strategies (they shrink a failure to a small instance; hypothesis is imported only
  when they are called).
* :func:`simulate` and :func:`brute_force_makespan` — a reference simulator and the optimum of tiny
  instances, written from the cost model independently of the solvers.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import networkx as nx
from hetflow.taskgraph import Cluster, TaskGraph, Worker, graph_to_dict

__all__ = ["random_instance", "instances", "graphs", "clusters", "describe", "simulate", "brute_force_makespan",
           "SMALL", "LARGE", "TINY"]

# Instance sizes: every solver gets SMALL and TINY ones; LARGE ones are capped at the solver's max_tasks.
SMALL = {"max_tasks": 10, "min_workers": 1, "max_workers": 3}
LARGE = {"max_tasks": 60, "min_workers": 2, "max_workers": 6}
TINY = {"max_tasks": 6, "min_workers": 1, "max_workers": 3}  # brute force stays under ~0.1 s


# -- instances ------------------------------------------------------------------------------------------
class _Draw(Protocol):
    """A source of random choices: seeded ``random.Random``, or hypothesis's ``draw`` (which shrinks)."""

    def integer(self, lo: int, hi: int) -> int: ...
    def choice(self, options: Sequence[Any]) -> Any: ...
    def real(self, lo: float, hi: float) -> float: ...
    def permutation(self, items: Sequence[Any]) -> list[Any]: ...


@dataclass
class _RandomDraw:
    rng: random.Random

    def integer(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def choice(self, options: Sequence[Any]) -> Any:
        return options[self.rng.randrange(len(options))]

    def real(self, lo: float, hi: float) -> float:
        return self.rng.uniform(lo, hi)

    def permutation(self, items: Sequence[Any]) -> list[Any]:
        return self.rng.sample(list(items), len(items))


@dataclass
class _HypothesisDraw:
    draw: Callable[[Any], Any]

    def integer(self, lo: int, hi: int) -> int:
        from hypothesis import strategies as st

        return self.draw(st.integers(lo, hi))

    def choice(self, options: Sequence[Any]) -> Any:
        from hypothesis import strategies as st

        return self.draw(st.sampled_from(list(options)))

    def real(self, lo: float, hi: float) -> float:
        from hypothesis import strategies as st

        return self.draw(st.floats(lo, hi, allow_nan=False, allow_infinity=False))

    def permutation(self, items: Sequence[Any]) -> list[Any]:
        from hypothesis import strategies as st

        return self.draw(st.permutations(list(items)))


def _value(d: _Draw, special: Sequence[float], lo: float, hi: float) -> float:
    """Zero now and then, a round value, or any value in ``[lo, hi]`` (shrinks towards zero)."""
    kind = d.integer(0, 2)
    return 0.0 if kind == 0 else d.choice(special) if kind == 1 else d.real(lo, hi)


def _cluster(d: _Draw, min_workers: int, max_workers: int, max_gpus: int = 3, max_cpus: int = 4) -> Cluster:
    """Up to ``max_gpus`` gpu and ``max_cpus`` cpu workers (both classes when ``min_workers >= 2``), mixed speeds,
    a default network and, sometimes, per-link overrides."""
    both = min_workers >= 2
    gpus = d.integer(1 if both else 0, min(max_gpus, max_workers - both))
    low = max(1 if both else 0, min_workers - gpus, 0)
    cpus = d.integer(low, max(low, min(max_cpus, max_workers - gpus)))
    speed = lambda: d.choice([0.5, 1.0, 2.0, 4.0]) if d.integer(0, 1) == 0 else d.real(0.1, 10.0)  # noqa: E731
    bandwidth = lambda: d.choice([1e8, 1e9, 1e10]) if d.integer(0, 1) == 0 else d.real(1e7, 1e11)  # noqa: E731
    latency = lambda: 0.0 if d.integer(0, 1) == 0 else d.real(0.0, 2.0)  # noqa: E731
    workers = [Worker(f"gpu{i}", "gpu", speed()) for i in range(gpus)]
    workers += [Worker(f"cpu{i}", "cpu", speed()) for i in range(cpus)]
    if d.integer(0, 1):  # worker order must not matter to validity
        workers = d.permutation(workers)
    names = [w.name for w in workers]
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    links = []
    if pairs and d.integer(0, 1):
        for k in sorted({d.integer(0, len(pairs) - 1) for _ in range(d.integer(0, len(pairs)))}):
            links.append({"a": pairs[k][0], "b": pairs[k][1], "bandwidth": bandwidth(), "latency": latency()})
    return Cluster(workers, bandwidth=bandwidth(), latency=latency(), links=links)


def _graph(d: _Draw, min_tasks: int, max_tasks: int, devices: Sequence[str]) -> TaskGraph:
    """A random DAG (edges from lower to higher index); each task runs on some of ``devices``, sometimes also on
    a class (``"tpu"``) no cluster has; task ids are ints or strings; costs and bytes are zero now and then."""
    devices = sorted(devices)
    n = d.integer(min_tasks, max_tasks)
    options = [(c,) for c in devices] + ([tuple(devices)] if len(devices) > 1 else [])
    ids: list[Hashable] = list(range(n)) if d.integer(0, 1) else [f"t{i}" for i in range(n)]
    G = nx.DiGraph(name="conformance")
    for i in range(n):
        cost = {c: _value(d, [0.5, 1.0, 2.0, 3.0], 1e-3, 100.0) for c in d.choice(options)}
        if d.integer(0, 9) == 0:
            cost["tpu"] = _value(d, [0.5, 1.0, 2.0, 3.0], 1e-3, 100.0)  # must be ignored, not crash
        G.add_node(ids[i], cost=cost, kind=d.choice(["pre", "feat", "shard", "merge"]))
    for _ in range(d.integer(0, 3 * n) if n > 1 else 0):
        a, b = d.integer(0, n - 1), d.integer(0, n - 2)
        b += b >= a  # a != b
        G.add_edge(ids[min(a, b)], ids[max(a, b)], bytes=_value(d, [1e6, 1e8, 1e9], 0.0, 5e9))
    return TaskGraph(G)


def _instance(d: _Draw, max_tasks: int, min_workers: int, max_workers: int) -> tuple[TaskGraph, Cluster]:
    cluster = _cluster(d, min_workers, max_workers)
    return _graph(d, 1, max_tasks, sorted(cluster.devices)), cluster


def random_instance(seed: int, max_tasks: int = 10, min_workers: int = 1, max_workers: int = 3
                    ) -> tuple[TaskGraph, Cluster]:
    """A random ``(graph, cluster)`` whose every task can run on the cluster, drawn from ``random.Random(seed)``.

    Examples
    --------
    >>> graph, cluster = random_instance(3, max_tasks=8)
    >>> 1 <= len(graph) <= 8 and 1 <= len(cluster) <= 3
    True
    >>> graph.to_dict() == random_instance(3, max_tasks=8)[0].to_dict()  # reproducible
    True
    """
    return _instance(_RandomDraw(random.Random(seed)), max_tasks, min_workers, max_workers)


def clusters(min_workers: int = 2, max_workers: int = 7, max_gpus: int = 3, max_cpus: int = 4) -> Any:
    """Hypothesis strategy of clusters (see :func:`random_instance`; needs hypothesis).

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=10)
    ... @given(clusters(min_workers=2, max_workers=4))
    ... def test(cluster):
    ...     assert {"cpu", "gpu"} <= cluster.devices and len(cluster) <= 4
    >>> test()
    """
    from hypothesis import strategies as st

    return st.composite(lambda draw: _cluster(_HypothesisDraw(draw), min_workers, max_workers, max_gpus, max_cpus))()


def graphs(min_tasks: int = 1, max_tasks: int = 10, devices: Sequence[str] = ("cpu", "gpu")) -> Any:
    """Hypothesis strategy of task graphs whose tasks each run on some of ``devices`` (needs hypothesis).

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=10)
    ... @given(graphs(max_tasks=5, devices=("cpu",)))
    ... def test(graph):
    ...     assert 1 <= len(graph) <= 5 and all("cpu" in graph.cost(t) for t in graph)
    >>> test()
    """
    from hypothesis import strategies as st

    return st.composite(lambda draw: _graph(_HypothesisDraw(draw), min_tasks, max_tasks, devices))()


def instances(max_tasks: int = 10, min_workers: int = 1, max_workers: int = 3) -> Any:
    """Hypothesis strategy of ``(graph, cluster)`` pairs, as :func:`random_instance` (needs hypothesis).

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> from hetflow.solvers.checks import check_instance
    >>> @settings(max_examples=5)
    ... @given(instances(**TINY))
    ... def test(instance):
    ...     check_instance("heft", *instance)
    >>> test()
    """
    from hypothesis import strategies as st

    return st.composite(lambda draw: _instance(_HypothesisDraw(draw), max_tasks, min_workers, max_workers))()


def describe(graph: TaskGraph, cluster: Cluster) -> str:
    """The instance as one line of JSON (graph node-link data and cluster), for failure reports.

    Examples
    --------
    >>> g = TaskGraph(name="g"); g.add_task("a", {"cpu": 1.0})
    >>> describe(g, Cluster.local(gpus=0, cpus=1))[:60]
    '{"graph": {"directed": true, "multigraph": false, "graph": {'
    """
    return json.dumps({"graph": graph_to_dict(graph), "cluster": cluster.to_dict()}, default=str)


# -- a reference simulator and a brute-force optimum (tiny instances) -------------------------------------
def simulate(
    graph: TaskGraph, cluster: Cluster, order: Sequence[Hashable], assignment: dict[Hashable, str]
) -> dict[Hashable, tuple[float, float]]:
    """Start every task, in ``order``, as early as its inputs and its worker allow (no insertion).

    Written from DESIGN.md's cost model independently of the solvers.

    Examples
    --------
    >>> g = TaskGraph(name="g"); g.add_task("a", {"cpu": 2.0}); g.add_task("b", {"gpu": 1.0})
    >>> g.add_edge("a", "b", bytes=1e9)
    >>> simulate(g, Cluster.local(gpus=1, cpus=1), ["a", "b"], {"a": "cpu0", "b": "gpu0"})
    {'a': (0.0, 2.0), 'b': (3.0, 4.0)}
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

    Examples
    --------
    >>> g = TaskGraph(name="g")
    >>> for t, c in {"a": 3.0, "b": 2.0, "c": 1.0}.items():
    ...     g.add_task(t, {"cpu": c, "gpu": c})
    >>> brute_force_makespan(g, Cluster.local(gpus=1, cpus=1))  # {a} and {b, c}
    3.0
    """
    tasks = graph.tasks
    parents = {t: graph.parents(t) for t in tasks}
    runs = {t: [(w.name, cluster.exec_time(graph.cost(t), w.name)) for w in cluster.workers] for t in tasks}
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
