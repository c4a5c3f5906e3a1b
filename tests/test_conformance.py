"""Every registered solver passes the shared conformance suite (tests/conformance.py); plus unit tests of
Schedule.validate, of the lower bounds on hand-made graphs, and of bounds and solvers against a brute-force
optimum on tiny instances.

Solvers are collected from ``hetflow.solvers.solver_names()`` at import time, so a solver registered later (``dp``,
``exact``) is checked automatically. ``exact`` gets only SMALL instances.
"""

from __future__ import annotations

import math
import random

import hetflow.solvers
import numpy as np
import pytest
from conformance import (
    LARGE,
    SMALL,
    SMALL_ONLY,
    brute_force_makespan,
    check_solver,
    describe,
    instances,
    simulate,
)
from hetflow.solvers import InvalidSchedule, Placement, Problem, Schedule
from hetflow.solvers.bounds import lower_bounds, lp_bound, path_bound, window_bound
from hetflow.solvers.listsched import list_schedule
from hetflow.solvers.registry import SOLVERS, register_solver
from hetflow.taskgraph import Cluster, TaskGraph, Worker
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

NAMES = hetflow.solvers.solver_names()
ANY_SIZE = [n for n in NAMES if n not in SMALL_ONLY]
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TINY = {"max_tasks": 6, "min_workers": 1, "max_workers": 3}  # brute force stays under ~0.1 s


def test_builtin_solvers_registered() -> None:
    assert {"heft", "cpop", "peft", "greedy", "random"} <= set(NAMES)


# -- the suite, per solver --------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(instance=instances(**SMALL), seed=st.integers(0, 3))
def test_conforms_small(name: str, instance: tuple[TaskGraph, Cluster], seed: int) -> None:
    graph, cluster = instance
    note(describe(graph, cluster))
    check_solver(name, graph, cluster, seed=seed)


@pytest.mark.parametrize("name", ANY_SIZE)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instance=instances(**LARGE), seed=st.integers(0, 3))
def test_conforms_large(name: str, instance: tuple[TaskGraph, Cluster], seed: int) -> None:
    graph, cluster = instance
    note(describe(graph, cluster))
    check_solver(name, graph, cluster, seed=seed)


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


@pytest.mark.parametrize("name", NAMES)
def test_single_worker_runs_back_to_back(name: str) -> None:
    """On one worker transfers are free, so a sensible plan never idles: makespan = total work."""
    g = TaskGraph(name="chain-ish", validate=False)
    for i, c in enumerate([2.0, 0.0, 3.5, 1.0, 4.0]):
        g.add_task(f"t{i}", {"cpu": c, "tpu": 1.0})
    for u, v in [(0, 1), (0, 2), (1, 3), (2, 3)]:
        g.add_edge(f"t{u}", f"t{v}", bytes=1e9)
    g.validate()
    cluster = Cluster([Worker("cpu0", "cpu", 2.0)], bandwidth=1e6, latency=1.0)
    s = check_solver(name, g, cluster)
    assert s.makespan == pytest.approx(10.5 / 2.0)
    assert s.transferred_bytes == 0.0


@pytest.mark.parametrize("name", NAMES)
def test_all_zero_costs(name: str) -> None:
    g = TaskGraph(name="zeros", validate=False)
    for i in range(4):
        g.add_task(i, {"cpu": 0.0, "gpu": 0.0})
    g.add_edge(0, 1)
    g.add_edge(0, 2)
    g.add_edge(2, 3, bytes=0.0)
    s = check_solver(name, g.validate(), Cluster.local(gpus=1, cpus=2))
    assert s.makespan == 0.0


# -- the suite must be able to fail ----------------------------------------------------------------
@pytest.fixture
def broken_solvers():
    """Two deliberately wrong solvers, registered for one test only."""

    @register_solver("_test_no_transfers")
    def no_transfers(problem: Problem, *, seed: int = 0):
        problem.latency = np.zeros_like(problem.latency)  # pretends the network is free
        problem.inv_bandwidth = np.zeros_like(problem.inv_bandwidth)
        return list_schedule(problem, order=range(problem.n))

    calls = iter(range(10**6))

    @register_solver("_test_unstable")
    def unstable(problem: Problem, *, seed: int = 0):
        rng = np.random.default_rng(next(calls))  # ignores the seed
        return list_schedule(problem, priority=rng.random(problem.n))

    yield
    SOLVERS.pop("_test_no_transfers")
    SOLVERS.pop("_test_unstable")


def test_suite_catches_broken_solvers(broken_solvers) -> None:
    g = TaskGraph(name="fan", validate=False)
    g.add_task("a", {"cpu": 1.0})
    for i in range(6):
        g.add_task(f"b{i}", {"cpu": 1.0, "gpu": 0.5})
        g.add_edge("a", f"b{i}", bytes=1e9)
    cluster = Cluster.local(gpus=1, cpus=2)
    with pytest.raises(InvalidSchedule, match="before input"):
        check_solver("_test_no_transfers", g.validate(), cluster)
    with pytest.raises(AssertionError, match="not deterministic"):
        for _ in range(5):  # two random orders may coincide; five calls in a row will not all agree
            check_solver("_test_unstable", g, cluster)


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
