"""The cached best known plans (``benchmarks/best_known.json``, CP-SAT runs) and dp measured against them."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hetflow.solvers import Problem, plan

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import best_known  # noqa: E402


@pytest.fixture(scope="module")
def known() -> dict[str, dict]:
    return best_known.best_known()  # replays every cached plan: raises if one does not give its makespan


def test_the_cache_covers_the_instances_and_is_current(known: dict[str, dict]) -> None:
    """Every cached run names an instance the generator still makes identically (same fingerprint), and
    every 20- and 50-task instance has a CP-SAT run."""
    instances = {inst.name: inst for inst in best_known.instances()}
    records = best_known.load()
    assert records, "benchmarks/best_known.json is empty"
    for record in records:
        inst = instances[record["instance"]]
        assert record["fingerprint"] == best_known.fingerprint(Problem(inst.graph, inst.cluster)), record["instance"]
        assert record["deterministic_time"] >= 60
    small = [name for name, inst in instances.items() if len(inst.graph) <= 50]
    assert set(small) <= set(known)
    assert all(known[name]["makespan"] > 0 for name in known)


def test_dp_equals_the_proven_optima_of_the_20_task_instances(known: dict[str, dict]) -> None:
    """CP-SAT proved the 20-task instances optimal (up to its rounding); dp finds those plans."""
    ratios = []
    for inst in best_known.instances():
        if len(inst.graph) != 20:
            continue
        assert known[inst.name]["optimal"]
        ratios.append(plan(inst.graph, inst.cluster, "dp").makespan / known[inst.name]["makespan"])
    assert len(ratios) == 12
    assert min(ratios) >= 1 - 1e-3 and max(ratios) <= 1.01, ratios
    assert np.exp(np.mean(np.log(ratios))) <= 1.002, ratios


def test_dp_near_the_best_known_plans_of_the_100_task_communication_heavy_instances(known: dict[str, dict]) -> None:
    """The six 100-task CCR-5 and CCR-10 layered instances (seed 0): before the annealing race dp was up to
    12% above the best known plan there (1.06-1.09 in geometric mean); issue 12 allows 6% on any one."""
    ratios = {}
    for inst in best_known.instances():
        if len(inst.graph) == 100 and inst.params.get("ccr", 0) >= 5:
            ratios[inst.name] = plan(inst.graph, inst.cluster, "dp", seed=0).makespan / known[inst.name]["makespan"]
    assert len(ratios) == 6
    assert max(ratios.values()) <= 1.06, ratios
    assert np.exp(np.mean(np.log(list(ratios.values())))) <= 1.04, ratios


def test_the_worker_pair_search_lifts_dp_out_of_its_worst_basins(known: dict[str, dict]) -> None:
    """Planner seeds 3 and 4 on the 100-task CCR-5 instance of seed 1 are where the annealing race ended
    9.2% and 9.5% above the best known plan; re-solving the split between pairs of busy workers with
    CP-SAT (:mod:`hetflow.solvers.lns`) brings them to 1.060 and 1.053 (OR-tools 9.x, one thread,
    deterministic time: the same on every machine for a given OR-tools version)."""
    pytest.importorskip("ortools")
    inst = next(i for i in best_known.instances() if i.name == "layered-n100-ccr5-s1")
    ratios = [plan(inst.graph, inst.cluster, "dp", seed=s).makespan / known[inst.name]["makespan"] for s in (3, 4)]
    assert max(ratios) <= 1.065, ratios


def test_a_second_worker_pair_chain_closes_another_basin(known: dict[str, dict]) -> None:
    """Planner seed 4 on the 100-task CCR-5 instance of seed 2 ended 6.6% above the best known plan with one
    chain of pair re-solves; the second chain (the pairs in the opposite order, on the other core) ends
    under 6% (1.057). Its plan is kept only when strictly shorter, so one chain's plan is never lost (with one
    chain, ``PAIR_CHAINS = 1``, this fails)."""
    pytest.importorskip("ortools")
    from hetflow.solvers.dp import dp
    from hetflow.solvers.problem import Problem

    inst = next(i for i in best_known.instances() if i.name == "layered-n100-ccr5-s2")
    problem = Problem(inst.graph, inst.cluster)
    result = dp(problem, seed=4)
    assert result.makespan / known[inst.name]["makespan"] <= 1.06, result.meta["passes"]
