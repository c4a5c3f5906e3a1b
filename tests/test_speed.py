"""Planning-speed targets from the issue: HEFT plans 10,000 tasks on 16 workers in < 1 s and 100,000 in
< 15 s on a 2-core machine (instances of benchmarks/bench_heft_speed.py; the time is wall time of
``plan(..., solver="heft")``, perf_counter, building the graph excluded).

CI machines are noisy and often slower: under ``CI=true`` the limits get 2x slack. The 10k case takes the
best of two runs. On a shared machine other processes inflate wall time (a failure message shows the CPU
time next to it). The 100k case takes ~5 s plus ~5 s to build the graph and is marked ``slow``.
"""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path

import pytest
from hetflow.solvers import plan

SLACK = 2.0 if os.environ.get("CI", "").lower() in ("1", "true", "yes") else 1.0


def _bench():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_heft_speed.py"
    spec = importlib.util.spec_from_file_location("bench_heft_speed", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _plan_seconds(n: int, repeat: int = 1) -> tuple[float, float]:
    """Best wall time of ``repeat`` plans, and the CPU time of that run (a big gap means a busy machine)."""
    bench = _bench()
    graph, cluster = bench.layered_dag(n), bench.cluster16()
    assert len(graph) == n and len(cluster) == 16
    plan(graph.subgraph(list(graph.tasks)[:50]).validate(), cluster, solver="heft")  # warm caches/imports
    best = (float("inf"), float("inf"))
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        schedule = plan(graph, cluster, solver="heft")
        best = min(best, (time.perf_counter() - t0, time.process_time() - c0))
        assert len(schedule) == n
    return best


def test_heft_10k_tasks_under_1s() -> None:
    seconds, cpu = _plan_seconds(10_000, repeat=2)
    limit = 1.0 * SLACK
    assert seconds < limit, f"HEFT took {seconds:.2f} s (cpu {cpu:.2f} s) for 10,000 tasks; limit {limit:g} s"


@pytest.mark.slow
def test_heft_100k_tasks_under_15s() -> None:
    seconds, cpu = _plan_seconds(100_000)
    limit = 15.0 * SLACK
    assert seconds < limit, f"HEFT took {seconds:.2f} s (cpu {cpu:.2f} s) for 100,000 tasks; limit {limit:g} s"
