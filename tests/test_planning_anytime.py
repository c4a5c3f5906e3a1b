"""Anytime, bounded planning: ``time_limit`` in dp and cpsat, ``hetflow plan --time-limit``, the progress line on
a terminal, and determinism when no limit is given."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hetflow.solvers import Problem, plan
from hetflow.solvers.anneal import anneal_chains
from hetflow.solvers.anytime import Deadline, reporting
from hetflow.solvers.heft import heft
from hetflow.taskgraph.generators import layered_random, random_cluster

ROOT = Path(__file__).resolve().parents[1]


def _slack() -> float:
    return 3.0 if os.environ.get("CI") else 1.5  # shared machines are noisy


def test_dp_time_limit_returns_the_best_plan_so_far():
    """At effort 50 dp would search for minutes; with a 1.5 s limit it stops, no worse than HEFT."""
    graph, cluster = layered_random(3000, ccr=5.0, seed=3), random_cluster(2, 6, seed=3)
    plan(layered_random(600, seed=0), cluster, "dp", effort=0.01)  # numba compiles (or loads) its kernels once
    t0 = time.perf_counter()
    schedule = plan(graph, cluster, "dp", effort=50, time_limit=1.5).validate(graph, cluster)
    elapsed = time.perf_counter() - t0
    assert schedule.meta["time_limited"] is True
    assert elapsed < 1.5 + 2.0 * _slack(), elapsed  # the limit, plus the pass under way when it fell
    assert schedule.makespan <= plan(graph, cluster, "heft").makespan * (1 + 1e-9)


def test_dp_reports_progress_to_a_listener():
    graph, cluster = layered_random(60, ccr=1.0, seed=1), random_cluster(1, 3, seed=1)
    seen: list[tuple[str, float]] = []
    with reporting(lambda stage, best: seen.append((stage, best))):
        schedule = plan(graph, cluster, "dp", effort=0.1)
    stages = [stage for stage, _ in seen]
    assert stages[0] == "heft" and "annealing" in stages
    bests = [best for _, best in seen]
    assert all(b >= a - 1e-9 for a, b in zip(bests[1:], bests))  # the best so far never gets worse
    assert bests[-1] == pytest.approx(schedule.makespan)


def test_dp_is_deterministic_without_a_limit_whatever_the_threads():
    """Annealing chains have their own seeded streams: one thread or two, the same plan."""
    problem = Problem(layered_random(80, ccr=5.0, seed=2), random_cluster(2, 4, seed=2))
    start = heft(problem)
    one = anneal_chains(problem, [start], 20_000, seeds=[0, 1, 2, 3], threads=1)
    two = anneal_chains(problem, [start], 20_000, seeds=[0, 1, 2, 3], threads=2)
    assert np.array_equal(one.worker, two.worker) and np.array_equal(one.finish, two.finish)
    assert one.makespan < start.makespan
    graph, cluster = layered_random(80, ccr=5.0, seed=2), random_cluster(2, 4, seed=2)
    assert plan(graph, cluster, "dp", seed=4) == plan(graph, cluster, "dp", seed=4)


def test_cpsat_honours_its_time_limit():
    pytest.importorskip("ortools")
    graph, cluster = layered_random(60, ccr=10.0, seed=5), random_cluster(2, 5, seed=5)
    t0 = time.perf_counter()
    schedule = plan(graph, cluster, "cpsat", deterministic_time=600.0, time_limit=2.0).validate(graph, cluster)
    elapsed = time.perf_counter() - t0
    assert elapsed < 2.0 + 2.0 * _slack(), elapsed
    assert schedule.makespan <= schedule.meta["hint_makespan"] * (1 + 1e-9)


def test_a_bad_time_limit_is_an_input_error():
    from hetflow.taskgraph.errors import InvalidInput

    graph, cluster = layered_random(10, seed=0), random_cluster(1, 1, seed=0)
    for bad in (0, -1, float("nan"), "soon"):
        with pytest.raises(InvalidInput, match="time limit"):
            plan(graph, cluster, "dp", time_limit=bad)
    assert Deadline(None).remaining() == float("inf")


@pytest.fixture(scope="module")
def big_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A graph that takes CP-SAT well over 2 s, as files for the CLI."""
    root = tmp_path_factory.mktemp("anytime")
    layered_random(60, ccr=10.0, seed=5).save(str(root / "g.json"))
    random_cluster(2, 5, seed=5).save(str(root / "c.json"))
    return root / "g.json", root / "c.json"


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "hetflow", "plan", *args]


def test_cli_time_limit(big_files: tuple[Path, Path]) -> None:
    graph, cluster = big_files
    done = subprocess.run(_cli(str(graph), "--cluster", str(cluster), "--solver", "dp", "--time-limit", "0.5",
                               "--no-bound"), capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("dp: makespan ") and done.stderr == ""  # not a terminal: no progress line
    bad = subprocess.run(_cli(str(graph), "--cluster", str(cluster), "--time-limit", "-3"), capture_output=True,
                         text=True, timeout=120, cwd=ROOT)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == ["hetflow: error: time limit must be a positive number of seconds, "
                                                "not -3.0"]


def test_cli_shows_progress_on_a_terminal(big_files: tuple[Path, Path]) -> None:
    """stderr on a pseudo-terminal: after 2 s of planning a progress line names the solver and the best plan."""
    pytest.importorskip("ortools")
    graph, cluster = big_files
    leader, follower = pty.openpty()
    proc = subprocess.Popen(_cli(str(graph), "--cluster", str(cluster), "--solver", "cpsat", "--time-limit", "6",
                                 "--no-bound"), stdout=subprocess.PIPE, stderr=follower, cwd=ROOT)
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    out, _ = proc.communicate(timeout=60)
    os.close(leader)
    assert proc.returncode == 0
    assert out.decode().startswith("cpsat: makespan ")
    text = seen.decode(errors="replace")
    assert "planning with cpsat" in text and "best makespan" in text, text[-500:]
