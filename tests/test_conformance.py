"""Every registered solver passes the conformance checks of :mod:`hetflow.solvers.checks`, sized and selected by
its declared capabilities; the checks catch broken solvers (built-in or registered by a user); plus unit tests
of Schedule.validate, of the lower bounds on hand-made graphs, and of bounds and solvers against a brute-force
optimum on tiny instances.

Solvers are collected from ``hetflow.solvers.solver_names()`` at import time, so a newly registered built-in
solver is checked automatically.
"""

from __future__ import annotations

import math
import random
import time

import hetflow.solvers
import numpy as np
import pytest
from hetflow.solvers import Capabilities, InvalidSchedule, ListResult, Placement, Problem, Schedule
from hetflow.solvers.bounds import lower_bounds, lp_bound, path_bound, window_bound
from hetflow.solvers.checks import (
    CHECKS,
    SMALL,
    TINY,
    SolverCheckFailed,
    brute_force_makespan,
    check_instance,
    check_solver,
    describe,
    instance_sizes,
    instances,
    parametrize_checks,
    simulate,
)
from hetflow.solvers.listsched import data_ready, list_schedule
from hetflow.solvers.registry import CAPABILITIES, SOLVERS, register_solver, solver_capabilities
from hetflow.taskgraph import Cluster, InvalidInput, TaskGraph, Worker
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

NAMES = hetflow.solvers.solver_names()
# per solver, the largest instances above SMALL that its declared max_tasks allows (exact: 12 tasks; none: 60)
LARGER = {n: sizes[-1] for n in NAMES if len(sizes := instance_sizes(solver_capabilities(n))) > 1}
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_builtin_solvers_registered() -> None:
    assert {"heft", "cpop", "peft", "greedy", "random", "dp", "exact"} <= set(NAMES)
    assert solver_capabilities("exact").max_tasks == 12 and solver_capabilities("heft").max_tasks is None
    assert solver_capabilities("cpsat").extra == "bench" and solver_capabilities("cpsat").needs == ("ortools",)
    assert all(solver_capabilities(n).deterministic for n in NAMES)
    assert set(LARGER) == set(NAMES) and LARGER["exact"]["max_tasks"] == 12 and LARGER["dp"]["max_tasks"] == 60


# -- the checks, per built-in solver --------------------------------------------------------------------
@pytest.mark.parametrize("solver, check", parametrize_checks(NAMES))
def test_builtin_solver(solver: str, check) -> None:
    check(solver)


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(instance=instances(**SMALL), seed=st.integers(0, 3))
def test_conforms_small(name: str, instance: tuple[TaskGraph, Cluster], seed: int) -> None:
    graph, cluster = instance
    note(describe(graph, cluster))
    check_instance(name, graph, cluster, seed=seed)


@pytest.mark.parametrize("name", sorted(LARGER))
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), seed=st.integers(0, 3))
def test_conforms_large(name: str, data: st.DataObject, seed: int) -> None:
    graph, cluster = data.draw(instances(**LARGER[name]))
    note(describe(graph, cluster))
    check_instance(name, graph, cluster, seed=seed)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=25, deadline=None)
@given(instance=instances(**TINY))
def test_no_solver_beats_the_optimum(name: str, instance: tuple[TaskGraph, Cluster]) -> None:
    graph, cluster = instance
    note(describe(graph, cluster))
    best = brute_force_makespan(graph, cluster)
    makespan = hetflow.solvers.plan(graph, cluster, solver=name).makespan
    assert makespan >= best * (1 - 1e-9) - 1e-9, f"{name}: {makespan} beats the optimum {best}"
    if name == "exact":
        assert math.isclose(makespan, best, rel_tol=1e-9, abs_tol=1e-9), f"exact: {makespan} != optimum {best}"


# -- user solvers: registered with register_solver, checked the same way; broken ones fail ------------------
def in_order(problem: Problem, *, seed: int = 0, time_limit: float | None = None) -> ListResult:
    """A correct user solver: each task, in topological order, where it finishes first."""
    return list_schedule(problem, order=range(problem.n))


@pytest.fixture
def register():
    """``register(name, fn, **capabilities)`` for one test; unregistered afterwards."""
    names = []

    def add(name: str, fn, **capabilities):
        names.append(name)
        return register_solver(name, capabilities=capabilities)(fn)

    yield add
    for name in names:
        SOLVERS.pop(name, None)
        CAPABILITIES.pop(name, None)


def test_user_solver_is_checked_like_the_builtins(register) -> None:
    register("user-in-order", in_order, max_tasks=40)
    caps = solver_capabilities("user-in-order")
    assert caps == Capabilities(max_tasks=40, time_limit=True)  # time_limit read from the signature
    assert "user-in-order" in hetflow.solvers.solver_names()
    assert check_solver("user-in-order") == list(CHECKS)  # every check, time_limit included
    assert [p.id for p in parametrize_checks(["user-in-order"])] == [f"user-in-order-{c}" for c in CHECKS]
    assert [p.id.split("-", 1)[1] for p in parametrize_checks(["heft"])] == [c for c in CHECKS if c != "time_limit"]
    assert check_solver(in_order) == list(CHECKS)  # an unregistered function too


def test_declared_max_tasks_sizes_the_instances(register) -> None:
    def small_only(problem: Problem, *, seed: int = 0) -> ListResult:
        if problem.n > 12:
            raise InvalidInput(f"small_only takes at most 12 tasks; this graph has {problem.n}")
        return list_schedule(problem, order=range(problem.n))

    register("small-only", small_only, max_tasks=12)
    check_solver("small-only")
    with pytest.raises(SolverCheckFailed, match="failed check 'valid_plans': small_only takes at most 12") as e:
        check_solver(small_only)  # undeclared: it gets 60-task graphs and says no
    assert e.value.check == "valid_plans" and '"graph"' in e.value.instance


def _fan() -> tuple[TaskGraph, Cluster]:
    g = TaskGraph(name="fan", validate=False)
    g.add_task("a", {"cpu": 1.0})
    for i in range(6):
        g.add_task(f"b{i}", {"cpu": 1.0, "gpu": 0.5})
        g.add_edge("a", f"b{i}", bytes=1e9)
    return g.validate(), Cluster.local(gpus=1, cpus=2)


def no_transfers(problem: Problem, *, seed: int = 0) -> ListResult:
    problem.latency = np.zeros_like(problem.latency)  # pretends the network is free: ignores comm delays
    problem.inv_bandwidth = np.zeros_like(problem.inv_bandwidth)
    return list_schedule(problem, order=range(problem.n))


def no_precedence(problem: Problem, *, seed: int = 0) -> ListResult:
    """Starts every task at its worker's next free time, inputs or not."""
    worker = np.argmin(problem.exec, axis=1)
    free = np.zeros(problem.n_workers)
    start, finish = np.zeros(problem.n), np.zeros(problem.n)
    for i in range(problem.n):
        w = worker[i]
        start[i], finish[i] = free[w], free[w] + problem.exec[i, w]
        free[w] = finish[i]
    return ListResult(worker, start, finish)


def too_short(problem: Problem, *, seed: int = 0) -> ListResult:
    """Reports half the run time of every task, so its makespan is wrong."""
    r = list_schedule(problem, order=range(problem.n))
    return ListResult(r.worker, r.start, r.start + (r.finish - r.start) / 2)


def overlapping(problem: Problem, *, seed: int = 0) -> ListResult:
    """Each task on the first worker that can run it, as soon as its inputs arrive, busy worker or not."""
    worker = np.argmax(problem.runnable, axis=1)
    start, finish = np.zeros(problem.n), np.zeros(problem.n)
    for i in range(problem.n):
        start[i] = data_ready(problem, i, worker, finish)[worker[i]]
        finish[i] = start[i] + problem.exec[i, worker[i]]
    return ListResult(worker, start, finish)


def unplaced(problem: Problem, *, seed: int = 0) -> ListResult:
    r = list_schedule(problem, order=range(problem.n))
    r.worker[-1] = -1
    return r


def idles(problem: Problem, *, seed: int = 0) -> ListResult:
    """Valid, but starts no task before 1 s."""
    release = np.ones(problem.n)
    return list_schedule(problem, order=range(problem.n), release=release)


def false_optimum(problem: Problem, *, seed: int = 0) -> ListResult:
    """A valid random plan that claims to be optimal."""
    rng = np.random.default_rng(seed)
    pinned = {i: int(rng.choice(np.flatnonzero(problem.runnable[i]))) for i in range(problem.n)}
    r = list_schedule(problem, order=range(problem.n), pinned=pinned, insertion=False)
    r.meta = {"optimal": True}
    return r


def mutates(problem: Problem, *, seed: int = 0) -> ListResult:
    problem.graph.G.graph["touched"] = True  # writes into the user's graph
    return list_schedule(problem, order=range(problem.n))


def sleeps(problem: Problem, *, seed: int = 0, time_limit: float | None = None) -> ListResult:
    time.sleep(0.05 if time_limit is None else 10 * time_limit + 6)  # takes time_limit but ignores it
    return list_schedule(problem, order=range(problem.n))


@pytest.mark.parametrize(
    "fn, check, message",
    [
        (no_transfers, "valid_plans", "before input"),
        (no_precedence, "valid_plans", "before input"),
        (too_short, "valid_plans", "lasts"),
        (overlapping, "valid_plans", "overlap"),
        (unplaced, "valid_plans", "left task .* unplaced"),
        (idles, "no_idle_on_one_worker", "makespan"),
        (false_optimum, "not_below_optimum", "claims the plan is optimal"),
        (mutates, "valid_plans", "modified the graph"),
    ],
)
def test_check_solver_fails_broken_solvers(register, fn, check: str, message: str) -> None:
    register(f"_broken_{fn.__name__}", fn)
    with pytest.raises(SolverCheckFailed, match=message) as e:
        check_solver(f"_broken_{fn.__name__}")
    assert e.value.check == check and e.value.solver == f"_broken_{fn.__name__}"
    assert str(e.value).startswith(f"solver '_broken_{fn.__name__}' failed check '{check}': ")
    assert isinstance(e.value, AssertionError)


@pytest.mark.slow
def test_check_solver_fails_a_solver_that_ignores_its_time_limit(register) -> None:
    register("_broken_sleeps", sleeps)
    with pytest.raises(SolverCheckFailed, match="took .* with time_limit=0.5"):
        check_solver("_broken_sleeps", checks=["time_limit"])


def test_suite_catches_broken_solvers(register) -> None:
    g, cluster = _fan()
    register("_test_no_transfers", no_transfers)
    calls = iter(range(10**6))

    def unstable(problem: Problem, *, seed: int = 0) -> ListResult:
        rng = np.random.default_rng(next(calls))  # ignores the seed
        return list_schedule(problem, priority=rng.random(problem.n))

    register("_test_unstable", unstable)
    with pytest.raises(SolverCheckFailed, match="before input"):
        check_instance("_test_no_transfers", g, cluster)
    with pytest.raises(AssertionError, match="not deterministic"):
        for _ in range(5):  # two random orders may coincide; five calls in a row will not all agree
            check_instance("_test_unstable", g, cluster)
    with pytest.raises(SolverCheckFailed, match="failed check 'deterministic'"):
        check_solver("_test_unstable")
    # declared non-deterministic: its plans are valid, only the determinism check is left out
    assert check_solver(unstable, capabilities=Capabilities(deterministic=False)) == [
        c for c in CHECKS if c not in ("deterministic", "time_limit")
    ]


def test_plan_rejects_results_that_are_not_plans(register) -> None:
    g, cluster = _fan()
    register("_unplaced", unplaced)
    with pytest.raises(InvalidSchedule, match=r"^solver '_unplaced' left task 'b5' unplaced \(worker index -1"):
        hetflow.solvers.plan(g, cluster, solver="_unplaced")

    def wrong_class(problem: Problem, *, seed: int = 0) -> ListResult:
        r = list_schedule(problem, order=range(problem.n))
        r.worker[0] = problem.worker_names.index("gpu0")  # 'a' is cpu-only
        return r

    def short(problem: Problem, *, seed: int = 0) -> ListResult:
        r = list_schedule(problem, order=range(problem.n))
        return ListResult(r.worker[:-1], r.start, r.finish)

    def nan_times(problem: Problem, *, seed: int = 0) -> ListResult:
        r = list_schedule(problem, order=range(problem.n))
        r.start[2] = np.nan
        return r

    for fn, message in [(wrong_class, "put task 'a' on worker 'gpu0', which cannot run it"),
                        (short, "returned worker of shape \\(6,\\); expected \\(7,\\)"),
                        (nan_times, "gave task 'b1' a non-finite start"),
                        (lambda problem, *, seed=0: None, "returned NoneType, not a ListResult")]:
        register("_bad", fn)
        with pytest.raises(InvalidSchedule, match=message):
            hetflow.solvers.plan(g, cluster, solver="_bad")


def test_meta_is_a_field_that_reaches_the_schedule() -> None:
    g, cluster = _fan()
    assert ListResult(np.zeros(1, int), np.zeros(1), np.zeros(1)).meta == {}
    s = hetflow.solvers.plan(g, cluster, solver="dp")
    assert s.meta["variant"] and s.meta["optimal"] is True  # 7 tasks: dp's exact DP proves it
    assert hetflow.solvers.plan(g, cluster, solver="exact").meta == {"optimal": True}


def test_check_solver_name() -> None:
    assert hetflow.solvers.check_solver_name("dp") == "dp"
    with pytest.raises(InvalidInput, match=r"^unknown solver 'DP'; choose one of .*\bdp\b.*\bheft\b"):
        hetflow.solvers.check_solver_name("DP")
    with pytest.raises(InvalidInput, match="unknown solver 'nope'"):
        hetflow.solvers.plan(*_fan(), solver="nope")
    with pytest.raises(InvalidInput, match="unknown check 'nope'"):
        check_solver("heft", checks=["nope"])
    with pytest.raises(InvalidInput, match="unknown capability 'max_task'"):
        register_solver("x", capabilities={"max_task": 3})
    with pytest.raises(InvalidInput, match="max_tasks must be a positive int"):
        Capabilities(max_tasks=0)


def test_missing_extra_is_one_line_and_skips_the_checks(register) -> None:
    register("_needs_extra", in_order, needs=("no_such_module_for_hetflow",), extra="bench")
    line = r"^solver '_needs_extra' needs the bench extra: pip install 'hetflow\[bench\]'$"
    with pytest.raises(InvalidInput, match=line):
        hetflow.solvers.plan(*_fan(), solver="_needs_extra")
    with pytest.raises(ImportError, match="needs the bench extra"):
        check_solver("_needs_extra")
    params = parametrize_checks(["_needs_extra"])
    assert params and all(m.name == "skip" for p in params for m in p.marks)


# -- Schedule.validate ------------------------------------------------------------------------------
def _instance() -> tuple[TaskGraph, Cluster]:
    g = TaskGraph(name="v", validate=False)
    g.add_task("a", {"cpu": 2.0})
    g.add_task("b", {"gpu": 1.0, "cpu": 4.0})
    g.add_task("c", {"cpu": 3.0})
    g.add_edge("a", "b", bytes=1e9)
    workers = [Worker("gpu0", "gpu", 1.0), Worker("cpu0", "cpu", 2.0), Worker("cpu1", "cpu", 1.0)]
    return g.validate(), Cluster(workers, bandwidth=1e9, latency=0.5)


# a on cpu0 [0, 1]; b on gpu0 after 1 + 0.5 latency + 1 transfer = 2.5; c on cpu0 [1, 2.5]
GOOD = {"a": ("cpu0", 0.0, 1.0), "b": ("gpu0", 2.5, 3.5), "c": ("cpu0", 1.0, 2.5)}


def _schedule(rows: dict[str, tuple[str, float, float]]) -> Schedule:
    return Schedule([Placement(t, w, s, f) for t, (w, s, f) in rows.items()], solver="manual")


def test_validate_accepts_a_correct_schedule() -> None:
    g, c = _instance()
    _schedule(GOOD).validate(g, c)
    # same worker: the transfer is free, b may start right after a
    _schedule({"a": ("cpu0", 0.0, 1.0), "b": ("cpu0", 1.0, 3.0), "c": ("cpu1", 0.0, 3.0)}).validate(g, c)
    # float rounding far below the tolerance is fine
    _schedule({**GOOD, "b": ("gpu0", 2.5 - 1e-12, 3.5 - 1e-12)}).validate(g, c)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"c": ("cpu0", 0.5, 2.0)}, "overlap"),  # c runs while a does
        ({"b": ("gpu0", 1.5, 2.5)}, "before input"),  # after a finishes, before the transfer ends
        ({"b": ("gpu0", 2.0, 3.0)}, "before input"),  # the transfer without its latency
        ({"b": ("gpu0", 2.5, 4.0)}, "lasts"),  # wrong duration
        ({"b": ("gpu0", 2.5, 3.0)}, "lasts"),  # too short
        ({"a": ("gpu0", 0.0, 2.0)}, "cannot run"),  # a is cpu-only
        ({"c": ("cpu9", 0.0, 3.0)}, "unknown worker"),
        ({"c": ("cpu1", -1.0, 2.0)}, "starts at"),
        ({"c": ("cpu1", math.nan, math.nan)}, "starts at"),
        ({"zzz": ("cpu1", 0.0, 1.0)}, "not in the graph"),
    ],
)
def test_validate_rejects(change: dict, message: str) -> None:
    g, c = _instance()
    with pytest.raises(InvalidSchedule, match=message):
        _schedule({**GOOD, **change}).validate(g, c)


def test_validate_rejects_missing_task() -> None:
    g, c = _instance()
    rows = dict(GOOD)
    del rows["c"]
    with pytest.raises(InvalidSchedule, match="'c' is not scheduled"):
        _schedule(rows).validate(g, c)


def test_duplicate_task_is_rejected() -> None:
    rows = [Placement(t, w, s, f) for t, (w, s, f) in GOOD.items()] + [Placement("c", "cpu1", 0.0, 3.0)]
    with pytest.raises(InvalidSchedule, match="more than once"):
        Schedule(rows)
    data = _schedule(GOOD).to_dict()
    data["tasks"].append({"task": "c", "worker": "cpu1", "start": 0.0, "finish": 3.0})
    with pytest.raises(InvalidSchedule, match="more than once"):
        Schedule.from_dict(data)


def test_validate_uses_per_link_bandwidth() -> None:
    g, _ = _instance()
    workers = [Worker("gpu0", "gpu", 1.0), Worker("cpu0", "cpu", 2.0)]
    link = {"a": "cpu0", "b": "gpu0", "bandwidth": 1e8, "latency": 0.5}
    slow = Cluster(workers, bandwidth=1e9, latency=0.5, links=[link])
    rows = {**GOOD, "c": ("cpu0", 1.0, 2.5)}
    with pytest.raises(InvalidSchedule, match="before input"):  # arrival is 1 + 0.5 + 10
        _schedule(rows).validate(g, slow)
    _schedule({**rows, "b": ("gpu0", 11.5, 12.5)}).validate(g, slow)


# -- lower bounds on hand-made graphs ----------------------------------------------------------------
def _graph(tasks: dict, edges: list[tuple[str, str, float]] = ()) -> TaskGraph:
    g = TaskGraph(name="lb", validate=False)
    for t, cost in tasks.items():
        g.add_task(t, cost)
    for u, v, b in edges:
        g.add_edge(u, v, bytes=b)
    return g.validate()


def test_lp_bound_balances_work_across_classes() -> None:
    g = _graph({i: {"cpu": 4.0, "gpu": 1.0} for i in range(4)})
    p = Problem(g, Cluster.local(gpus=1, cpus=1))
    # x of the work on the gpu: 4x = 16(1 - x) -> x = 0.8, T = 3.2
    assert lp_bound(p) == pytest.approx(3.2)
    assert path_bound(p) == pytest.approx(1.0)
    assert hetflow.solvers.lower_bound(g, Cluster.local(gpus=1, cpus=1)) == pytest.approx(3.2)


def test_lp_bound_uses_speeds() -> None:
    g = _graph({i: {"cpu": 1.0} for i in range(8)})
    c = Cluster([Worker("cpu0", "cpu", 1.0), Worker("cpu1", "cpu", 3.0)])
    assert lower_bounds(Problem(g, c)) == pytest.approx({"lp": 2.0, "path": 1 / 3})
    assert hetflow.solvers.lower_bound(g, c) == pytest.approx(2.0)
    assert hetflow.solvers.plan(g, c, solver="heft").makespan == pytest.approx(2.0)  # and the bound is tight


def test_lp_bound_ignores_classes_no_worker_has() -> None:
    g = _graph({"a": {"cpu": 6.0, "tpu": 0.001}, "b": {"cpu": 2.0}})
    c = Cluster([Worker("cpu0", "cpu", 2.0)])
    assert lower_bounds(Problem(g, c)) == pytest.approx({"lp": 4.0, "path": 3.0})


def test_path_bound_pays_the_cheapest_transfer() -> None:
    g = _graph({"a": {"cpu": 2.0}, "b": {"gpu": 1.0}}, [("a", "b", 1e9)])
    c = Cluster.local(gpus=1, cpus=1, bandwidth=1e9)
    assert lower_bounds(Problem(g, c)) == pytest.approx({"path": 4.0, "lp": 2.0})
    fast = Cluster(
        [Worker("gpu0", "gpu"), Worker("cpu0", "cpu"), Worker("cpu1", "cpu")],
        bandwidth=1e9,
        latency=0.25,
        links=[{"a": "cpu0", "b": "gpu0", "bandwidth": 1e10, "latency": 0.05}],
    )
    assert path_bound(Problem(g, fast)) == pytest.approx(2.0 + 0.05 + 0.1 + 1.0)
    assert hetflow.solvers.plan(g, fast, solver="heft").makespan == pytest.approx(3.15)


def test_path_bound_keeps_data_on_one_worker_when_cheaper() -> None:
    # b on the gpu would wait for a 5 s transfer; staying on the cpu finishes at 2 + 3
    g = _graph({"a": {"cpu": 2.0}, "b": {"cpu": 3.0, "gpu": 1.0}}, [("a", "b", 5e9)])
    c = Cluster.local(gpus=1, cpus=1, bandwidth=1e9)
    assert lower_bounds(Problem(g, c)) == pytest.approx({"path": 5.0, "lp": 2.0})
    assert brute_force_makespan(g, c) == pytest.approx(5.0)


def test_path_bound_waits_for_every_parent() -> None:
    g = _graph({"a": {"cpu": 1.0, "gpu": 4.0}, "b": {"cpu": 2.0}, "c": {"gpu": 3.0}, "d": {"cpu": 1.0}},
               [("a", "b", 0.0), ("a", "c", 0.0), ("b", "d", 0.0), ("c", "d", 0.0)])
    c = Cluster([Worker("gpu0", "gpu", 2.0), Worker("cpu0", "cpu", 1.0)])
    # a 1 (cpu); b 2 (cpu) ends at 3, c 1.5 (gpu) at 2.5; d waits for b: 3 + 1
    assert path_bound(Problem(g, c)) == pytest.approx(4.0)
    # x of a on the cpu: cpu 3 + x = T, gpu (4(1 - x) + 3) / 2 = T -> x = 1/6
    assert lp_bound(Problem(g, c)) == pytest.approx(19 / 6)
    assert brute_force_makespan(g, c) == pytest.approx(4.0)


def test_zero_length_tasks_before_a_long_one() -> None:
    """Zero-length tasks may share a start time with the next task on their worker.

    a -> z -> b (zero cost, 1 MB from z to b) and c (1 s) on one cpu worker plus a gpu worker: the optimum
    runs a and z at time 0, then c (0-1), while b runs on the gpu at 0.01: makespan 1.0. The task order is
    a, c, z, b, so a search that replays a schedule sorted by (start, task index) puts z after c and ends
    at 1.01 (this found a bug in solvers/exact.py).
    """
    g = _graph({"a": {"cpu": 0.0}, "c": {"cpu": 1.0}, "z": {"cpu": 0.0}, "b": {"gpu": 0.0}},
               [("a", "z", 0.0), ("z", "b", 1e6)])
    c = Cluster([Worker("cpu0", "cpu", 1.0), Worker("gpu0", "gpu", 1.0)], bandwidth=1e8)
    assert g.tasks == ["a", "c", "z", "b"]
    assert brute_force_makespan(g, c) == pytest.approx(1.0)
    if "exact" in NAMES:
        assert hetflow.solvers.plan(g, c, solver="exact").makespan == pytest.approx(1.0)


# -- brute force: bounds below the optimum ------------------------------------------------------------
def test_brute_force_on_known_cases() -> None:
    g = _graph({"a": {"cpu": 3.0, "gpu": 3.0}, "b": {"cpu": 2.0, "gpu": 2.0}, "c": {"cpu": 1.0, "gpu": 1.0}})
    assert brute_force_makespan(g, Cluster.local(gpus=1, cpus=1)) == pytest.approx(3.0)  # {a}, {b, c}
    assert brute_force_makespan(g, Cluster.local(gpus=0, cpus=1)) == pytest.approx(6.0)
    chain = _graph({"a": {"cpu": 1.0, "gpu": 1.0}, "b": {"gpu": 1.0}}, [("a", "b", 2e9)])
    assert brute_force_makespan(chain, Cluster.local(gpus=1, cpus=1)) == pytest.approx(2.0)  # both on gpu


@settings(max_examples=40, deadline=None)
@given(instance=instances(**TINY))
def test_bounds_below_brute_force_optimum(instance: tuple[TaskGraph, Cluster]) -> None:
    graph, cluster = instance
    note(describe(graph, cluster))
    best = brute_force_makespan(graph, cluster)
    bounds = lower_bounds(Problem(graph, cluster), window_seconds=5.0)
    for name in ("lp", "path", "window"):
        assert bounds[name] <= best * (1 + 1e-9) + 1e-9, (name, bounds, best)
    assert hetflow.solvers.lower_bound(graph, cluster, window_seconds=5.0) <= best * (1 + 1e-9) + 1e-9


def test_window_bound_sees_whole_tasks_and_late_slow_workers() -> None:
    # two 1 s GPU / 3 s CPU tasks: the LP splits them (1.5 s), whole tasks need 2 s
    g = _graph({"a": {"cpu": 3.0, "gpu": 1.0}, "b": {"cpu": 3.0, "gpu": 1.0}})
    c = Cluster.local(gpus=1, cpus=1)
    p = Problem(g, c)
    assert lp_bound(p) == pytest.approx(1.5)
    assert window_bound(p) == pytest.approx(2.0, rel=2e-3)
    assert brute_force_makespan(g, c) == pytest.approx(2.0)
    # behind a 2 s CPU-only head, a CPU cannot take a 3 s task in time: all three must queue on the GPU
    g = _graph({"h": {"cpu": 2.0}, "a": {"cpu": 3.0, "gpu": 1.0}, "b": {"cpu": 3.0, "gpu": 1.0},
                "c": {"cpu": 3.0, "gpu": 1.0}}, [("h", t, 0.0) for t in "abc"])
    c = Cluster.local(gpus=1, cpus=2)
    assert window_bound(Problem(g, c)) == pytest.approx(5.0, rel=2e-3)
    assert brute_force_makespan(g, c) == pytest.approx(5.0)
    assert lower_bounds(Problem(g, c))["lp"] < 4.0
    # a worker that may stay idle reserves nothing: here the GPU's only candidate would pay a transfer
    g = _graph({"a": {"cpu": 0.0, "gpu": 0.0}, "b": {"cpu": 0.0}}, [("a", "b", 1e9)])
    assert window_bound(Problem(g, Cluster.local(gpus=1, cpus=1))) == 0.0


@settings(max_examples=25, deadline=None)
@given(instance=instances(**TINY), data=st.data())
def test_reference_simulation_validates(instance: tuple[TaskGraph, Cluster], data: st.DataObject) -> None:
    """The test's own simulator and the validator agree: any order x assignment it builds is valid."""
    graph, cluster = instance
    note(describe(graph, cluster))
    rng = random.Random(data.draw(st.integers(0, 2**16)))
    assignment = {
        t: rng.choice([w.name for w in cluster.workers if math.isfinite(cluster.exec_time(graph.cost(t), w.name))])
        for t in graph.tasks
    }
    times = simulate(graph, cluster, graph.tasks, assignment)
    s = Schedule([Placement(t, assignment[t], *times[t]) for t in graph.tasks])
    s.validate(graph, cluster)
    assert s.makespan >= brute_force_makespan(graph, cluster) * (1 - 1e-9) - 1e-9
