"""The DP planner and the exact solver: optimality on small graphs, never worse than the baselines."""

from __future__ import annotations

import itertools
import math
import os
import time

import networkx as nx
import numpy as np
import pytest
from hetflow.solvers import Problem, lower_bound, plan
from hetflow.solvers.dp import chains
from hetflow.solvers.exact import exact_schedule
from hetflow.solvers.search import critical_path, simulate
from hetflow.taskgraph import Cluster, TaskGraph, Worker


def small_instance(seed: int, n_tasks: int = 12) -> tuple[TaskGraph, Cluster]:
    """Integer costs and bytes (bandwidth 1) so that CP-SAT's optimum is exact."""
    rng = np.random.default_rng(seed)
    G = nx.DiGraph()
    for i in range(n_tasks):
        cpu = int(rng.integers(1, 20))
        r = rng.random()
        cost = {"cpu": cpu} if r < 0.3 else ({"gpu": int(rng.integers(1, 6))} if r < 0.4 else
                                              {"cpu": cpu, "gpu": int(rng.integers(1, 8))})
        G.add_node(i, cost=cost)
    for i in range(n_tasks):
        for j in range(i + 1, n_tasks):
            if rng.random() < 0.25:
                G.add_edge(i, j, bytes=int(rng.integers(0, 8)))
    n_workers = int(rng.integers(2, 4))
    workers = [Worker("gpu0", "gpu", 1.0)] + [Worker(f"cpu{k}", "cpu", 1.0) for k in range(n_workers - 1)]
    return TaskGraph(G), Cluster(workers, bandwidth=1.0)


def cpsat_optimum(graph: TaskGraph, cluster: Cluster) -> float:
    """Independent oracle: OR-tools CP-SAT with optional intervals per (task, worker)."""
    cp_model = pytest.importorskip("ortools.sat.python.cp_model")
    problem = Problem(graph, cluster)
    model = cp_model.CpModel()
    horizon = int(sum(np.nanmax(np.where(problem.runnable[i], problem.exec[i], np.nan)) for i in range(problem.n))
                  + sum(sum(b) for b in problem.pred_bytes) + 1)
    start = [model.NewIntVar(0, horizon, f"s{i}") for i in range(problem.n)]
    end = [model.NewIntVar(0, horizon, f"e{i}") for i in range(problem.n)]
    on: dict[tuple[int, int], object] = {}
    per_worker: dict[int, list] = {w: [] for w in range(problem.n_workers)}
    for i in range(problem.n):
        for w in np.flatnonzero(problem.runnable[i]):
            w = int(w)
            x = model.NewBoolVar(f"x{i}_{w}")
            duration = int(round(problem.exec[i, w]))
            per_worker[w].append(model.NewOptionalIntervalVar(start[i], duration, end[i], x, f"iv{i}_{w}"))
            on[i, w] = x
        model.AddExactlyOne(on[i, w] for w in range(problem.n_workers) if (i, w) in on)
    for intervals in per_worker.values():
        model.AddNoOverlap(intervals)
    for j in range(problem.n):
        for i, nbytes in zip(problem.preds[j], problem.pred_bytes[j]):
            for (a, b) in itertools.product(range(problem.n_workers), repeat=2):
                if (i, a) in on and (j, b) in on:
                    delay = int(round(problem.comm(nbytes, a, b)))
                    model.Add(start[j] >= end[i] + delay).OnlyEnforceIf([on[i, a], on[j, b]])
    makespan = model.NewIntVar(0, horizon, "makespan")
    model.AddMaxEquality(makespan, end)
    model.Minimize(makespan)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 2
    solver.parameters.max_time_in_seconds = 60
    assert solver.Solve(model) == cp_model.OPTIMAL
    return solver.ObjectiveValue()


@pytest.mark.parametrize("seed", range(12))
def test_exact_mode_equals_cpsat_optimum(seed):
    graph, cluster = small_instance(seed, n_tasks=int(8 + seed % 5))
    schedule = plan(graph, cluster, solver="dp", mode="exact")
    schedule.validate(graph, cluster)
    assert schedule.meta["optimal"] is True
    optimum = cpsat_optimum(graph, cluster)
    assert schedule.makespan == pytest.approx(optimum, abs=1e-9)
    assert lower_bound(graph, cluster, window_seconds=5.0) <= optimum * (1 + 1e-9)


def brute_force(problem: Problem) -> float:
    """Every assignment x every topological order, tasks appended at their earliest start."""
    G = nx.DiGraph()
    G.add_nodes_from(range(problem.n))
    G.add_edges_from((i, j) for j in range(problem.n) for i in problem.preds[j])
    orders = list(nx.all_topological_sorts(G))
    best = math.inf
    for assign in itertools.product(*[np.flatnonzero(problem.runnable[i]) for i in range(problem.n)]):
        for order in orders:
            avail = np.zeros(problem.n_workers)
            finish = np.zeros(problem.n)
            for i in order:
                w = assign[i]
                ready = max([avail[w]] + [finish[p] + problem.comm(b, assign[p], w)
                                          for p, b in zip(problem.preds[i], problem.pred_bytes[i])])
                finish[i] = ready + problem.exec[i, w]
                avail[w] = finish[i]
            best = min(best, finish.max())
    return best


@pytest.mark.parametrize("seed", range(10))
def test_exact_schedule_equals_brute_force(seed):
    graph, cluster = small_instance(100 + seed, n_tasks=6)
    result, optimal = exact_schedule(Problem(graph, cluster))
    assert optimal
    assert result.makespan == pytest.approx(brute_force(Problem(graph, cluster)))


def test_default_and_heuristic_modes_near_optimum():
    """Default mode is optimal on <= 12 tasks; the heuristic alone is within 3% in geometric mean."""
    ratios_default, ratios_heuristic = [], []
    for seed in range(12):
        graph, cluster = small_instance(200 + seed, n_tasks=8 + seed % 5)
        optimum, optimal = exact_schedule(Problem(graph, cluster), node_limit=None)
        assert optimal
        ratios_default.append(plan(graph, cluster, solver="dp").makespan / optimum.makespan)
        ratios_heuristic.append(plan(graph, cluster, solver="dp", mode="heuristic").makespan / optimum.makespan)
    assert min(ratios_default + ratios_heuristic) >= 1 - 1e-9
    assert np.exp(np.mean(np.log(ratios_default))) <= 1.03
    assert np.exp(np.mean(np.log(ratios_heuristic))) <= 1.03


@pytest.mark.parametrize("seed", range(6))
def test_cpsat_solver_equals_the_exact_dp(seed):
    """The CP-SAT reference solver and the downset DP agree on the optimum (integer costs: no rounding)."""
    pytest.importorskip("ortools")
    graph, cluster = small_instance(300 + seed, n_tasks=8 + seed % 4)
    exact, optimal = exact_schedule(Problem(graph, cluster), node_limit=None)
    assert optimal
    schedule = plan(graph, cluster, solver="cpsat")
    schedule.validate(graph, cluster)
    assert schedule.meta["optimal"] is True
    assert schedule.makespan == pytest.approx(exact.makespan, rel=1e-9)


def test_dp_near_the_cpsat_optimum_on_mid_size_graphs():
    """20-30 tasks, CCR <= 1: dp within 3% of the proven optimum in geometric mean, 8% on each; HEFT further.

    (Measured: 1.6% and 6.1%; HEFT 16% in geometric mean. On CCR 10 graphs of 40 tasks dp is 2-27% above
    the optimum: see the README's measured numbers.)
    """
    pytest.importorskip("ortools")
    from hetflow.solvers.cpsat import cpsat_schedule
    from hetflow.taskgraph.generators import layered_random, random_cluster

    dp_ratio, heft_ratio = [], []
    for seed in range(6):
        graph = layered_random(20 + 10 * (seed % 2), ccr=(0.1, 1.0)[seed % 2], seed=seed)
        cluster = random_cluster(1 + seed % 2, 2 + seed % 3, seed=seed)
        problem = Problem(graph, cluster)
        dp = plan(graph, cluster, solver="dp")
        optimum, info = cpsat_schedule(problem, hint=None, deterministic_time=60.0)
        assert info["optimal"], info
        dp_ratio.append(dp.makespan / optimum.makespan)
        heft_ratio.append(plan(graph, cluster, solver="heft").makespan / optimum.makespan)
    assert min(dp_ratio) >= 1 - 1e-3 and max(dp_ratio) <= 1.08, dp_ratio  # optimal up to the rounding
    assert np.exp(np.mean(np.log(dp_ratio))) <= 1.03
    assert np.exp(np.mean(np.log(dp_ratio))) < np.exp(np.mean(np.log(heft_ratio)))


def layered_instances():
    from hetflow.taskgraph.generators import layered_random, random_cluster

    for k, (ccr, beta) in enumerate([(0.1, 0.5), (1.0, 1.5), (10.0, 0.5), (10.0, 1.5)]):
        graph = layered_random(80, ccr=ccr, beta=beta, seed=k)
        yield graph, random_cluster(1 + k % 2, 3 + k, seed=k)


@pytest.mark.parametrize("graph,cluster", list(layered_instances()))
def test_dp_never_worse_than_baselines_and_beats_heft_somewhere(graph, cluster):
    dp = plan(graph, cluster, solver="dp", effort=0.3).validate(graph, cluster)
    for name in ("heft", "peft", "cpop"):
        assert dp.makespan <= plan(graph, cluster, solver=name).makespan * (1 + 1e-9)
    assert dp.meta["passes"]["heft"] >= dp.makespan


def test_dp_improves_on_heft_on_high_ccr_layered():
    from hetflow.taskgraph.generators import layered_random, random_cluster

    ratios = []
    for seed in range(3):
        graph = layered_random(100, ccr=10.0, beta=1.5, seed=seed)
        cluster = random_cluster(2, 6, seed=seed)
        ratios.append(plan(graph, cluster, "dp", effort=0.5).makespan / plan(graph, cluster, "heft").makespan)
    assert np.exp(np.mean(np.log(ratios))) < 0.95


def test_dp_is_deterministic_for_a_seed():
    graph, cluster = next(layered_instances())
    a = plan(graph, cluster, solver="dp", seed=3, effort=0.2)
    b = plan(graph, cluster, solver="dp", seed=3, effort=0.2)
    assert a == b


def test_chain_dp_places_a_chain_optimally():
    """A lone chain: the chain DP's choice equals the best of all worker sequences."""
    rng = np.random.default_rng(7)
    graph = TaskGraph(name="chain")
    for k in range(5):
        graph.add_task(k, {"cpu": float(rng.uniform(1, 10)), "gpu": float(rng.uniform(0.2, 12))})
        if k:
            graph.add_edge(k - 1, k, bytes=float(rng.uniform(0, 5e9)))
    cluster = Cluster([Worker("gpu0", "gpu", 1.0), Worker("cpu0", "cpu", 1.3), Worker("cpu1", "cpu", 0.8)])
    problem = Problem(graph, cluster)
    heads, members = chains(problem)
    assert members[0] == [0, 1, 2, 3, 4] and heads.sum() == 1
    best = min(simulate(problem, np.array(ws), np.arange(5)).makespan
               for ws in itertools.product(range(3), repeat=5))
    dp = plan(graph, cluster, solver="dp", mode="heuristic", effort=0)
    assert dp.meta["passes"]["dp-chain"] == pytest.approx(best)


def test_critical_path_ends_at_makespan_and_is_bound():
    graph, cluster = next(layered_instances())
    problem = Problem(graph, cluster)
    from hetflow.solvers.heft import heft

    result = heft(problem)
    path = critical_path(problem, result)
    assert result.finish[path[0]] == pytest.approx(result.makespan)
    for later, earlier in zip(path, path[1:]):
        assert result.finish[earlier] <= result.start[later] + 1e-9


@pytest.mark.parametrize("compiled", [True, False])
def test_replay_from_a_position_equals_full_replay(compiled):
    """The search replays only the part of the order after a move; that must give the full replay's times."""
    from hetflow.solvers.heft import heft
    from hetflow.solvers.search import Replay, _Prefix

    graph, cluster = next(layered_instances())
    problem = Problem(graph, cluster)
    base = heft(problem)
    order = np.lexsort((np.arange(problem.n), base.start)).astype(np.int64)
    full, partial = Replay(problem, compiled=compiled), Replay(problem, compiled=compiled)
    full.run(base.worker.astype(np.int64), order)
    prefix = _Prefix(problem, full.result(base.worker), order)
    rng = np.random.default_rng(0)
    for _ in range(20):
        worker = base.worker.astype(np.int64).copy()
        i = int(rng.integers(problem.n))
        worker[i] = rng.choice(np.flatnonzero(problem.runnable[i]))
        first = int(prefix.position[i])
        expected = full.run(worker, order)
        assert partial.run(worker, order, prefix=prefix, first=first) == expected
        assert np.array_equal(partial.finish, full.finish) and np.array_equal(partial.start, full.start)
        assert partial.steps < full.steps or first == 0


def _speed_slack() -> float:
    return 2.0 if os.environ.get("CI") else 1.0  # shared CI machines are noisy


def _timed_plan(graph, cluster):
    """Plan with dp; return the schedule and the wall seconds it took (dp anneals on two threads at this size,
    so CPU seconds would count that time twice)."""
    t0 = time.perf_counter()
    schedule = plan(graph, cluster, solver="dp")
    return schedule, time.perf_counter() - t0


def test_dp_plans_10k_tasks_on_16_workers_in_10s():
    from hetflow.taskgraph.generators import layered_random, random_cluster

    graph = layered_random(10_000, ccr=1.0, seed=1)
    cluster = random_cluster(4, 12, seed=1)
    plan(layered_random(600, seed=0), cluster, "dp", effort=0.01)  # numba compiles (or loads) its kernels once
    schedule, elapsed = _timed_plan(graph, cluster)
    schedule.validate(graph, cluster)
    assert elapsed < 10.0 * _speed_slack(), f"dp took {elapsed:.2f} s"
    assert schedule.makespan <= schedule.meta["passes"]["heft"] * (1 + 1e-9)


def test_dp_anneals_two_chains_at_10k_tasks_one_per_core():
    """A 10k-task CCR-5 graph (an instance of benchmarks/bench_large.py, where the lower bound is 0.77 of
    HEFT): the two seeded annealing chains, run side by side, end 3.5% under HEFT (one chain: 3.0%)."""
    from hetflow.taskgraph.generators import layered_random, random_cluster

    graph = layered_random(10_000, ccr=5.0, seed=2)
    cluster = random_cluster(4, 12, seed=2)
    plan(layered_random(600, seed=0), cluster, "dp", effort=0.01)  # numba compiles (or loads) its kernels once
    schedule, elapsed = _timed_plan(graph, cluster)
    assert elapsed < 10.0 * _speed_slack(), f"dp took {elapsed:.2f} s"
    heft_makespan = schedule.meta["passes"]["heft"]
    assert schedule.makespan <= 0.967 * heft_makespan, schedule.makespan / heft_makespan


_LARGE_RUN = """
import json, resource, sys, time
from hetflow.solvers import plan
from hetflow.taskgraph.generators import layered_random, random_cluster
n, ccr, gpus, cpus = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
graph, cluster = layered_random(n, ccr=ccr, seed=2), random_cluster(gpus, cpus, seed=2)
plan(layered_random(600, seed=0), cluster, "dp", effort=0.01)  # numba compiles (or loads) its kernels once
t0 = time.perf_counter()
schedule = plan(graph, cluster, "dp")
print(json.dumps({"wall": time.perf_counter() - t0, "tasks": len(schedule), "makespan": schedule.makespan,
                  "heft": schedule.meta["passes"]["heft"],
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


@pytest.mark.slow
def test_dp_plans_100k_tasks_on_64_workers_in_60s_within_1gb():
    """The whole process (graph, arrays, planning) stays under 1 GB; dp beats HEFT by 3% on a CCR-5 graph,
    where the lower bound leaves room (measured: 0.96)."""
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _LARGE_RUN, "100000", "5", "16", "48"], capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    run = json.loads(done.stdout.strip().splitlines()[-1])
    assert run["tasks"] == 100_000
    assert run["wall"] < 60.0 * _speed_slack(), run
    assert run["peak_mb"] < 1024, run
    assert run["makespan"] <= 0.97 * run["heft"], run


def test_search_moves_a_same_worker_run_as_a_block():
    """A chain on a slow worker with heavy transfers: every single-task move pays a transfer and is worse,
    moving the whole run to the fast worker halves the makespan — the search must find it."""
    from hetflow.solvers.search import _blocks, local_search

    graph = TaskGraph(name="run")
    for k in range(4):
        graph.add_task(k, {"cpu": 10.0})
        if k:
            graph.add_edge(k - 1, k, bytes=100.0)
    cluster = Cluster([Worker("slow", "cpu", 1.0), Worker("fast", "cpu", 2.0)], bandwidth=1.0)
    problem = Problem(graph, cluster)
    on_slow = np.zeros(4, dtype=np.int64)
    start = simulate(problem, on_slow, np.arange(4))
    assert start.makespan == pytest.approx(40.0)
    for i in range(4):  # the premise: no single move helps
        moved = on_slow.copy()
        moved[i] = 1
        assert simulate(problem, moved, np.arange(4)).makespan > start.makespan
    assert sorted(_blocks(problem, on_slow, 1)[0]) == [1, 2, 3]  # descendants inside the worker
    assert sorted(_blocks(problem, on_slow, 1)[1]) == [0, 1]  # ancestors inside the worker
    best, _ = local_search(problem, start, budget=100_000, patience=0)  # descent only, no random kicks
    assert best.makespan == pytest.approx(20.0)
    assert set(best.worker) == {1}


def test_comm_averse_passes_keep_runs_together_on_high_ccr():
    """Planning as if transfers cost 2x/4x, then replaying with the real ones, beats every plain pass on a
    CCR-10 graph (seeded; the averse plan moves fewer bytes), and dp keeps the best pass."""
    from hetflow.taskgraph.generators import layered_random, random_cluster

    graph, cluster = layered_random(100, ccr=10.0, beta=1.5, seed=1), random_cluster(2, 6, seed=1)
    schedule = plan(graph, cluster, "dp", effort=0).validate(graph, cluster)
    passes = schedule.meta["passes"]
    averse = {k: v for k, v in passes.items() if "-comm" in k}
    assert set(averse) == {"heft-comm2", "dp-ctg-comm2", "heft-comm4", "dp-ctg-comm4"}
    plain = min(v for k, v in passes.items() if k not in averse)
    assert min(averse.values()) < 0.8 * plain
    assert schedule.makespan == pytest.approx(min(passes.values()))
    assert schedule.transferred_bytes < plan(graph, cluster, "heft").transferred_bytes


def test_problem_with_comm_scaled_rescales_every_transfer():
    from hetflow.taskgraph.generators import layered_random, random_cluster

    problem = Problem(layered_random(30, ccr=1.0, seed=0), random_cluster(1, 3, seed=0))
    before = problem.mean_comm(1e9), problem.min_comm_coefficients  # cached on the original
    scaled = problem.with_comm_scaled(3.0)
    assert scaled.mean_comm(1e9) == pytest.approx(3 * before[0])
    assert scaled.min_comm_coefficients == pytest.approx(tuple(3 * x for x in before[1]))
    assert np.array_equal(scaled.exec, problem.exec) and problem.mean_comm(1e9) == before[0]


def _textbook_heft(problem: Problem, pairs: str):
    """Insertion HEFT with the rank written out here: mean run time over the capable workers plus, over the
    children, the mean transfer time (``pairs="matrix"``: the W x W transfer matrix, same-worker zeros
    included; ``"links"``: ordered pairs of different workers) plus the child's rank."""
    from hetflow.solvers.listsched import list_schedule

    W = problem.n_workers
    lat, inv = problem.latency, problem.inv_bandwidth
    count = W * W if pairs == "matrix" else W * (W - 1)
    mean_exec = np.array([problem.exec[i][problem.runnable[i]].mean() for i in range(problem.n)])
    rank = np.zeros(problem.n)
    for i in reversed(range(problem.n)):
        rank[i] = mean_exec[i] + max((rank[j] + (lat + b * inv).sum() / count
                                      for j, b in zip(problem.succs[i], problem.succ_bytes[i])), default=0.0)
    order = sorted(range(problem.n), key=lambda i: (-rank[i], i))
    return list_schedule(problem, order=order)


@pytest.mark.parametrize("seed", [1, 3, 4, 6])
def test_dp_never_worse_than_textbook_heft_peft_cpop(seed):
    """dp <= HEFT (SAGA's averaging and the two other readings of "mean transfer"), PEFT under the same
    three averagings, CPOP as published and as SAGA has it, on seeded communication-heavy graphs — with
    the search off (``effort=0``), where only the portfolio stands between dp and them. On each of these
    graphs some variant other than SAGA's beats every pass dp had before they joined (measured: 0.95-0.996x).
    """
    from hetflow.solvers.cpop import cpop
    from hetflow.solvers.heft import heft
    from hetflow.solvers.peft import peft
    from hetflow.taskgraph.generators import layered_random, random_cluster

    n, ccr = [(300, 5.0), (200, 10.0), (150, 1.0), (400, 5.0), (600, 5.0), (300, 10.0)][seed % 6]
    graph = layered_random(n, ccr=ccr, beta=1.0, seed=40 + seed)
    cluster = random_cluster(1 + seed % 2, 3 + seed % 5, seed=40 + seed)
    problem = Problem(graph, cluster)
    dp = plan(graph, cluster, "dp", effort=0).validate(graph, cluster)
    rivals = {"heft-matrix (test's own rank)": _textbook_heft(problem, "matrix"),
              "heft-links (test's own rank)": _textbook_heft(problem, "links"),
              "cpop": cpop(problem), "cpop-saga": cpop(problem, downward="saga")}
    for averaging in ("saga", "matrix", "links"):
        rivals[f"heft-{averaging}"] = heft(problem, averaging=averaging)
        rivals[f"peft-{averaging}"] = peft(problem, averaging=averaging)
    assert rivals["heft-matrix"].makespan == pytest.approx(rivals["heft-matrix (test's own rank)"].makespan)
    assert rivals["heft-links"].makespan == pytest.approx(rivals["heft-links (test's own rank)"].makespan)
    for name, rival in rivals.items():
        assert dp.makespan <= rival.makespan * (1 + 1e-9), name
