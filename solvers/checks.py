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
checks on one of them (all from :mod:`hetflow.solvers.check_instances`, re-exported here). Neither pytest nor
hypothesis is imported until a function needs it.

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
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from hetflow.solvers.bounds import lower_bound
from hetflow.solvers.check_instances import (
    LARGE,
    SMALL,
    TINY,
    brute_force_makespan,
    clusters,
    describe,
    graphs,
    instances,
    random_instance,
    simulate,
)
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


def _rebuild(graph: TaskGraph, cluster: Cluster) -> tuple[TaskGraph, Cluster]:
    """Equal but freshly built objects (through JSON, so nothing is shared)."""
    graph2 = graph_from_dict(json.loads(json.dumps(graph_to_dict(graph))))
    return graph2, Cluster.from_dict(json.loads(json.dumps(cluster.to_dict())))


def _fingerprint(graph: TaskGraph, cluster: Cluster) -> str:
    return json.dumps([graph_to_dict(graph), cluster.to_dict()], sort_keys=True, default=str)


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


