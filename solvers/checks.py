"""Conformance checks for solvers, built-in or your own (in the spirit of scikit-learn's ``check_estimator``).

:func:`check_solver` runs every check that a solver's declared :class:`~hetflow.solvers.registry.Capabilities`
call for, on generated graphs and clusters, and raises :class:`SolverCheckFailed` (an ``AssertionError``)
naming the check and the instance (as JSON) at the first failure. The test suite runs it on every built-in
solver; run it on yours before you trust its plans::

    from hetflow.solvers import ListResult, register_solver
    from hetflow.solvers.checks import check_solver

    @register_solver("mine", capabilities={"max_tasks": 500})
    def mine(problem, *, seed=0):
        ...  # worker, start, finish per task in problem.tasks order
        return ListResult(worker, start, finish)

    check_solver("mine")        # or check_solver(mine): unregistered functions work too

In a pytest suite, one test per (solver, check) pair::

    @pytest.mark.parametrize("solver, check", parametrize_checks(["mine"]))
    def test_mine(solver, check):
        check(solver)

Checks
------
``valid_plans``
    Random graphs and clusters (sized by ``max_tasks``): the plan validates against the cost model (every
    task once, on a worker of a device class it has a cost for, duration ``cost / speed``, each input
    arrived — finish plus latency plus bytes over bandwidth, free on the same worker — before the start, one
    task at a time per worker); ``makespan`` is the last finish; ``transferred_bytes`` the bytes that cross
    workers; ``solver`` the name; the makespan is not below :func:`~hetflow.solvers.lower_bound`; the plan
    survives a JSON round trip; the graph and cluster are not modified.
``deterministic`` (when declared)
    The same instance and seed give the same plan, also for an equal instance built afresh.
``no_idle_on_one_worker``, ``zero_costs``
    With one worker transfers are free and the makespan is the total work; with zero costs it is 0.
``not_below_optimum``
    On tiny instances the makespan is not below the optimum (a brute-force search), and equals it when the
    solver's ``meta["optimal"]`` claims optimality.
``time_limit`` (when declared)
    ``time_limit=0.5`` still gives a valid plan, within a generous multiple of the limit.

The instances come from :func:`random_instance` with a seeded ``random.Random``; with hypothesis installed,
:func:`instances`, :func:`graphs` and :func:`clusters` are the same generators as hypothesis strategies (for
``@given`` tests that shrink a failure to a minimal instance), and :func:`check_instance` runs the per-instance
checks on one of them. Neither pytest nor hypothesis is imported until a function needs it.

Examples
--------
>>> check_solver("heft")  # doctest: +ELLIPSIS
['valid_plans', 'deterministic', ..., 'not_below_optimum']
>>> from hetflow.solvers.listsched import list_schedule
>>> def optimistic(problem, *, seed=0):  # plans as if transfers were free: wrong
...     free = problem.with_comm_scaled(0.0)
...     return list_schedule(free, order=range(problem.n))
>>> check_solver(optimistic)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
hetflow.solvers.checks.SolverCheckFailed: solver 'optimistic' failed check 'valid_plans': task ... before input ...
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import networkx as nx
from hetflow.solvers.bounds import lower_bound
from hetflow.solvers.registry import (
    SOLVERS,
    Capabilities,
    Solver,
    check_solver_name,
    run_solver,
    solver_capabilities,
    solver_names,
)
from hetflow.solvers.schedule import Schedule
from hetflow.taskgraph import Cluster, TaskGraph, Worker, graph_from_dict, graph_to_dict
from hetflow.taskgraph.errors import InvalidInput

__all__ = [
    "SolverCheckFailed",
    "check_solver",
    "check_instance",
    "check_schedule",
    "parametrize_checks",
    "CHECKS",
    "instance_sizes",
    "random_instance",
    "instances",
    "graphs",
    "clusters",
    "simulate",
    "brute_force_makespan",
    "describe",
    "SMALL",
    "LARGE",
    "TINY",
]

# Instance sizes: every solver gets SMALL and TINY ones; LARGE ones are capped at the solver's max_tasks.
SMALL = {"max_tasks": 10, "min_workers": 1, "max_workers": 3}
LARGE = {"max_tasks": 60, "min_workers": 2, "max_workers": 6}
TINY = {"max_tasks": 6, "min_workers": 1, "max_workers": 3}  # brute force stays under ~0.1 s
REL_TOL = 1e-9  # float rounding allowed in makespan comparisons
OPTIMAL_REL_TOL = 1e-3  # a claimed optimum may be off by rounding (CP-SAT plans on an integer time grid)


class SolverCheckFailed(AssertionError):
    """A solver failed a conformance check; the message names the solver, the check and the instance.

    Attributes
    ----------
    solver, check : str
    instance : str
        The instance as JSON (``{"graph": node-link data, "cluster": ...}``), or ``""``.

    Examples
    --------
    >>> e = SolverCheckFailed("mine", "zero_costs", "makespan 1.0, expected 0")
    >>> str(e), isinstance(e, AssertionError)
    ("solver 'mine' failed check 'zero_costs': makespan 1.0, expected 0", True)
    """

    def __init__(self, solver: str, check: str, message: str, instance: str = ""):
        self.solver, self.check, self.instance = solver, check, instance
        text = f"solver {solver!r} failed check {check!r}: {message}"
        super().__init__(text + (f"\ninstance: {instance}" if instance else ""))


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


def _rebuild(graph: TaskGraph, cluster: Cluster) -> tuple[TaskGraph, Cluster]:
    """Equal but freshly built objects (through JSON, so nothing is shared)."""
    graph2 = graph_from_dict(json.loads(json.dumps(graph_to_dict(graph))))
    return graph2, Cluster.from_dict(json.loads(json.dumps(cluster.to_dict())))


def _fingerprint(graph: TaskGraph, cluster: Cluster) -> str:
    return json.dumps([graph_to_dict(graph), cluster.to_dict()], sort_keys=True, default=str)


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


# -- the solver under test ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Subject:
    name: str
    fn: Solver
    caps: Capabilities

    def plan(self, graph: TaskGraph, cluster: Cluster, seed: int = 0, **options: Any) -> Schedule:
        return run_solver(self.fn, graph, cluster, name=self.name, seed=seed, **options)


def _subject(solver: str | Solver | _Subject, capabilities: Capabilities | None = None) -> _Subject:
    """The solver by name (registered) or as a function, with its declared (or the given) capabilities."""
    if isinstance(solver, _Subject):
        return solver
    if isinstance(solver, str):
        name = check_solver_name(solver)
        caps = capabilities or solver_capabilities(name)
        fn = SOLVERS[name]
    elif callable(solver):
        fn = solver
        name = getattr(solver, "__name__", type(solver).__name__)
        caps = capabilities or Capabilities()
    else:
        raise InvalidInput(f"check_solver takes a solver name or function, not {type(solver).__name__}")
    caps = caps.for_solver(fn)
    if not caps.available:
        raise ImportError(f"solver {name!r} {caps.missing()}")
    return _Subject(name, fn, caps)


@contextmanager
def _failing_as(subject: _Subject, check: str, graph: TaskGraph | None = None, cluster: Cluster | None = None):
    """Turn an assertion, an invalid schedule or a crash inside the block into :class:`SolverCheckFailed`."""
    try:
        yield
    except SolverCheckFailed:
        raise
    except Exception as e:
        message = str(e) if isinstance(e, (AssertionError, InvalidInput)) else f"raised {type(e).__name__}: {e}"
        instance = describe(graph, cluster) if graph is not None and cluster is not None else ""
        raise SolverCheckFailed(subject.name, check, message or type(e).__name__, instance) from e


def instance_sizes(caps: Capabilities) -> list[dict[str, int]]:
    """The instance sizes a solver gets: SMALL, then LARGE capped at its ``max_tasks`` when that is above SMALL.

    Examples
    --------
    >>> [size["max_tasks"] for size in instance_sizes(Capabilities(max_tasks=12))]
    [10, 12]
    >>> [size["max_tasks"] for size in instance_sizes(Capabilities())]
    [10, 60]
    """
    sizes = [dict(SMALL)]
    cap = LARGE["max_tasks"] if caps.max_tasks is None else min(LARGE["max_tasks"], caps.max_tasks)
    if cap > SMALL["max_tasks"]:
        sizes.append({**LARGE, "max_tasks": cap})
    return sizes


def _generated(caps: Capabilities, first_seed: int, n: int) -> Iterator[tuple[TaskGraph, Cluster]]:
    """``n`` SMALL instances, then ``n // 2`` (at least one) of the larger size the capabilities allow."""
    for k, size in enumerate(instance_sizes(caps)):
        for i in range(n if k == 0 else max(1, n // 2)):
            yield random_instance(first_seed + 100 * k + i, **size)


# -- checks --------------------------------------------------------------------------------------------------
def check_schedule(schedule: Schedule, graph: TaskGraph, cluster: Cluster, solver: str) -> None:
    """Check one plan against its instance: valid, honest makespan and bytes, above the lower bound, JSON-able.

    Raises
    ------
    AssertionError or hetflow.solvers.InvalidSchedule
        What is wrong (the check functions turn it into :class:`SolverCheckFailed`).

    Examples
    --------
    >>> from hetflow.solvers import Placement, plan
    >>> g = TaskGraph(name="g"); g.add_task("a", {"cpu": 2.0})
    >>> c = Cluster.local(gpus=0, cpus=1)
    >>> check_schedule(plan(g, c, solver="heft"), g, c, "heft")
    >>> check_schedule(Schedule([Placement("a", "cpu0", 0.0, 1.0)], solver="heft"), g, c, "heft")
    Traceback (most recent call last):
    ...
    hetflow.solvers.schedule.InvalidSchedule: task 'a' lasts 1 s on 'cpu0'; the cost model says 2 s
    """
    schedule.validate(graph, cluster)
    assert schedule.solver == solver, f"the schedule names solver {schedule.solver!r}"
    assert len(schedule) == len(graph), f"{len(schedule)} placements for {len(graph)} tasks"
    last = max((p.finish for p in schedule.placements), default=0.0)
    assert schedule.makespan == last, f"makespan {schedule.makespan!r} is not the last finish {last!r}"
    assert schedule.to_dict()["makespan"] == last, "the JSON makespan is not the last finish"
    moved = schedule.recount_transfers(graph)
    assert math.isclose(schedule.transferred_bytes, moved, rel_tol=REL_TOL, abs_tol=1e-6), (
        f"transferred_bytes {schedule.transferred_bytes!r}, but {moved!r} bytes cross workers"
    )
    bound = lower_bound(graph, cluster)
    assert schedule.makespan >= bound * (1 - REL_TOL) - REL_TOL, (
        f"makespan {schedule.makespan!r} is below the lower bound {bound!r}"
    )
    again = Schedule.from_dict(json.loads(json.dumps(schedule.to_dict())))
    assert again == schedule and again.solver == schedule.solver, "the schedule changes in a JSON round trip"


def check_instance(solver: str | Solver, graph: TaskGraph, cluster: Cluster, seed: int = 0, *,
                   capabilities: Capabilities | None = None, **options: Any) -> Schedule:
    """Plan one instance and run the per-instance checks (``valid_plans``, ``deterministic``); return the plan.

    Examples
    --------
    >>> g = TaskGraph(name="g"); g.add_task("a", {"cpu": 2.0}); g.add_task("b", {"cpu": 1.0, "gpu": 0.5})
    >>> check_instance("dp", g, Cluster.local(gpus=1, cpus=1)).makespan
    2.0
    """
    subject = _subject(solver, capabilities)
    schedule = _plan_valid(subject, graph, cluster, seed, options)
    if subject.caps.deterministic:
        _same_plan(subject, graph, cluster, seed, options, schedule)
    return schedule


def _plan_valid(subject: _Subject, graph: TaskGraph, cluster: Cluster, seed: int, options: dict) -> Schedule:
    with _failing_as(subject, "valid_plans", graph, cluster):
        before = _fingerprint(graph, cluster)
        schedule = subject.plan(graph, cluster, seed, **options)
        assert _fingerprint(graph, cluster) == before, "planning modified the graph or the cluster"
        check_schedule(schedule, graph, cluster, subject.name)
    return schedule


def _same_plan(subject: _Subject, graph: TaskGraph, cluster: Cluster, seed: int, options: dict,
               first: Schedule) -> None:
    with _failing_as(subject, "deterministic", graph, cluster):
        assert subject.plan(graph, cluster, seed, **options) == first, "not deterministic for a fixed seed"
        fresh = subject.plan(*_rebuild(graph, cluster), seed, **options)
        assert fresh == first, "a different plan for an equal, freshly built instance"


def check_valid_plans(solver: str | Solver, *, capabilities: Capabilities | None = None, seed: int = 0,
                      n_instances: int = 8) -> None:
    """``n_instances`` random SMALL instances and ``n_instances // 2`` LARGE ones each give a valid plan.

    Examples
    --------
    >>> check_valid_plans("greedy", n_instances=2)  # 2 SMALL instances, 1 LARGE
    >>> check_valid_plans("exact", capabilities=Capabilities(max_tasks=8), n_instances=1)  # LARGE: 8 tasks at most
    """
    subject = _subject(solver, capabilities)
    for i, (graph, cluster) in enumerate(_generated(subject.caps, seed * 1000, n_instances)):
        _plan_valid(subject, graph, cluster, seed + i % 4, {})


def check_deterministic(solver: str | Solver, *, capabilities: Capabilities | None = None, seed: int = 0,
                        n_instances: int = 4) -> None:
    """The same instance and seed give the same plan, also for an equal instance built afresh.

    Examples
    --------
    >>> check_deterministic("random", n_instances=2)
    """
    subject = _subject(solver, capabilities)
    for i, (graph, cluster) in enumerate(_generated(subject.caps, seed * 1000 + 500, n_instances)):
        _same_plan(subject, graph, cluster, seed + i, {}, _plan_valid(subject, graph, cluster, seed + i, {}))


def check_no_idle_on_one_worker(solver: str | Solver, *, capabilities: Capabilities | None = None,
                                seed: int = 0) -> None:
    """On one worker transfers are free, so a sensible plan never idles: makespan = total work / speed.

    Examples
    --------
    >>> check_no_idle_on_one_worker("cpop")
    """
    subject = _subject(solver, capabilities)
    g = TaskGraph(name="one-worker", validate=False)
    for i, c in enumerate([2.0, 0.0, 3.5, 1.0, 4.0]):
        g.add_task(f"t{i}", {"cpu": c, "tpu": 1.0})
    for u, v in [(0, 1), (0, 2), (1, 3), (2, 3)]:
        g.add_edge(f"t{u}", f"t{v}", bytes=1e9)
    g.validate()
    cluster = Cluster([Worker("cpu0", "cpu", 2.0)], bandwidth=1e6, latency=1.0)
    s = _plan_valid(subject, g, cluster, seed, {})
    with _failing_as(subject, "no_idle_on_one_worker", g, cluster):
        assert math.isclose(s.makespan, 10.5 / 2.0, rel_tol=1e-9), f"makespan {s.makespan}, the work is 5.25 s"
        assert s.transferred_bytes == 0.0, f"{s.transferred_bytes} bytes moved on a single worker"


def check_zero_costs(solver: str | Solver, *, capabilities: Capabilities | None = None, seed: int = 0) -> None:
    """Tasks that cost nothing, with or without bytes on their edges, give makespan 0.

    Examples
    --------
    >>> check_zero_costs("peft")
    """
    subject = _subject(solver, capabilities)
    g = TaskGraph(name="zeros", validate=False)
    for i in range(4):
        g.add_task(i, {"cpu": 0.0, "gpu": 0.0})
    g.add_edge(0, 1)
    g.add_edge(0, 2)
    g.add_edge(2, 3, bytes=0.0)
    cluster = Cluster.local(gpus=1, cpus=2)
    s = _plan_valid(subject, g.validate(), cluster, seed, {})
    with _failing_as(subject, "zero_costs", g, cluster):
        assert s.makespan == 0.0, f"makespan {s.makespan}, every task costs 0"


def check_not_below_optimum(solver: str | Solver, *, capabilities: Capabilities | None = None, seed: int = 0,
                            n_instances: int = 6) -> None:
    """On tiny instances the makespan is not below the brute-force optimum, and equals it if ``meta`` claims so.

    Examples
    --------
    >>> check_not_below_optimum("exact", n_instances=2)  # exact claims optimality: the claim is checked too
    >>> graph, cluster = random_instance(900, **TINY)  # its first instance (seed 0)
    >>> math.isclose(run_solver(SOLVERS["exact"], graph, cluster).makespan, brute_force_makespan(graph, cluster))
    True
    """
    subject = _subject(solver, capabilities)
    for i in range(n_instances):
        graph, cluster = random_instance(seed * 1000 + 900 + i, **TINY)
        s = _plan_valid(subject, graph, cluster, seed, {})
        with _failing_as(subject, "not_below_optimum", graph, cluster):
            best = brute_force_makespan(graph, cluster)
            assert s.makespan >= best * (1 - REL_TOL) - REL_TOL, f"makespan {s.makespan!r} beats the optimum {best!r}"
            if s.meta.get("optimal") is True:
                assert math.isclose(s.makespan, best, rel_tol=OPTIMAL_REL_TOL, abs_tol=REL_TOL), (
                    f"meta claims the plan is optimal, but its makespan {s.makespan!r} > the optimum {best!r}"
                )


def check_time_limit(solver: str | Solver, *, capabilities: Capabilities | None = None, seed: int = 0,
                     limit: float = 0.5) -> None:
    """With ``time_limit=limit`` the largest instance it handles still plans validly within ``10 * limit + 5`` s.

    Examples
    --------
    >>> from hetflow.solvers.listsched import list_schedule
    >>> def quick(problem, *, seed=0, time_limit=None):
    ...     return list_schedule(problem, order=range(problem.n))
    >>> check_time_limit(quick)
    """
    subject = _subject(solver, capabilities)
    size = instance_sizes(subject.caps)[-1]
    graph, cluster = random_instance(seed * 1000 + 999, **size)
    with _failing_as(subject, "time_limit", graph, cluster):
        t0 = time.perf_counter()
        s = subject.plan(graph, cluster, seed, time_limit=limit)
        took = time.perf_counter() - t0
        check_schedule(s, graph, cluster, subject.name)
        assert took <= 10 * limit + 5, f"took {took:.1f} s with time_limit={limit}"


CHECKS: dict[str, Callable[..., None]] = {
    "valid_plans": check_valid_plans,
    "deterministic": check_deterministic,
    "no_idle_on_one_worker": check_no_idle_on_one_worker,
    "zero_costs": check_zero_costs,
    "not_below_optimum": check_not_below_optimum,
    "time_limit": check_time_limit,
}


def _applicable(caps: Capabilities) -> list[str]:
    skip = {"deterministic"} if not caps.deterministic else set()
    if not caps.time_limit:
        skip.add("time_limit")
    return [c for c in CHECKS if c not in skip]


def check_solver(solver: str | Solver, *, capabilities: Capabilities | None = None, seed: int = 0,
                 checks: Iterable[str] | None = None) -> list[str]:
    """Run every conformance check the solver's capabilities call for; return the names of the checks run.

    Parameters
    ----------
    solver : str or Solver
        A registered name, or a solver function (registered or not).
    capabilities : Capabilities, optional
        Override what the solver declared (default: its registered capabilities, or the defaults for an
        unregistered function: any size, deterministic, ``time_limit`` when its signature has one).
    seed : int
        Seeds the generated instances and the solver.
    checks : iterable of str, optional
        Only these (names from :data:`CHECKS`).

    Raises
    ------
    SolverCheckFailed
        At the first failed check (an ``AssertionError``), naming the check and the instance.
    ImportError
        The solver needs an optional extra that is not installed.

    Examples
    --------
    >>> check_solver("greedy", checks=["zero_costs"])
    ['zero_costs']
    """
    subject = _subject(solver, capabilities)
    wanted = _applicable(subject.caps)
    if checks is not None:
        checks = list(checks)
        unknown = [c for c in checks if c not in CHECKS]
        if unknown:
            raise InvalidInput(f"unknown check {unknown[0]!r}; choose from {', '.join(CHECKS)}")
        wanted = [c for c in wanted if c in checks]
    for name in wanted:
        CHECKS[name](subject, seed=seed)
    return wanted


def parametrize_checks(solvers: Iterable[str] | None = None) -> list[Any]:
    """``(solver name, check)`` pairs for ``pytest.mark.parametrize``, one per applicable check of each solver.

    Solvers whose optional extra is missing come as ``pytest.param(..., marks=skip)`` with the reason.

    Examples
    --------
    >>> pairs = parametrize_checks(["heft"])
    >>> [p.values[1].__name__ for p in pairs][:2], pairs[0].id
    (['check_valid_plans', 'check_deterministic'], 'heft-valid_plans')
    """
    import pytest

    out = []
    for name in solver_names() if solvers is None else list(solvers):
        caps = solver_capabilities(name)
        marks = [] if caps.available else [pytest.mark.skip(reason=f"solver {name!r} {caps.missing()}")]
        for check in _applicable(caps) if caps.available else list(CHECKS):
            out.append(pytest.param(name, CHECKS[check], id=f"{name}-{check}", marks=marks))
    return out


