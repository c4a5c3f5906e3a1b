"""The network stored by exception (issue 14, item 6): link classes in :class:`Cluster`, class tables in
:class:`Problem`, planning memory linear in the workers.

* :meth:`Cluster.link_classes` matches its definition (brute force) on random clusters with links;
* the class-table code paths of :class:`Problem` (used above ``DENSE_LINKS`` workers) return the very same
  floats and indices as the dense ``(W, W)`` tables, and every solver plans identically through either;
* a 2-task graph plans on 10,000 workers in well under 500 MB (a subprocess, peak RSS);
* listed links still take effect on a large cluster.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import hetflow.solvers.problem as problem_module
import numpy as np
import pytest
from hetflow.solvers import plan
from hetflow.solvers.bounds import earliest_starts, path_bound
from hetflow.solvers.problem import Problem
from hetflow.solvers.ranks import optimistic_cost_table
from hetflow.taskgraph import Cluster, TaskGraph, Worker, generators

ROOT = Path(__file__).resolve().parents[1]


def _random_cluster(seed: int, n_workers: int = 9) -> Cluster:
    """Workers with a few speeds and device classes, links drawn from several patterns (islands, racks,
    random pairs, links at the default values, a worker linked to everyone)."""
    rng = random.Random(seed)
    workers = [Worker(f"w{i}", rng.choice(["cpu", "gpu"]), rng.choice([1.0, 2.0])) for i in range(n_workers)]
    names = [w.name for w in workers]
    values = [(1e10, 0.0), (1e8, 0.01), (1e9, 1e-3), (3e9, 1e-3)]  # (1e9, 1e-3) are the defaults
    links = []
    for _ in range(rng.randint(0, 3)):
        pattern = rng.choice(["island", "pairs", "star"])
        bandwidth, latency = rng.choice(values)
        if pattern == "island":
            group = rng.sample(names, rng.randint(2, 4))
            pairs = [(a, b) for i, a in enumerate(group) for b in group[i + 1:]]
        elif pattern == "pairs":
            pairs = [tuple(rng.sample(names, 2)) for _ in range(rng.randint(1, 4))]
        else:
            hub = rng.choice(names)
            pairs = [(hub, b) for b in names if b != hub]
        links += [{"a": a, "b": b, "bandwidth": bandwidth, "latency": latency} for a, b in pairs]
    return Cluster(workers, bandwidth=1e9, latency=1e-3, links=links)


@pytest.mark.parametrize("seed", range(40))
def test_link_classes_match_their_definition(seed: int) -> None:
    cluster = _random_cluster(seed)
    classes, links = cluster.link_classes()
    names = cluster.names
    W = len(names)
    default = (cluster.bandwidth, cluster.latency)
    for a in range(W):
        for b in range(W):
            if a != b:  # the class table gives every pair's link
                assert links.get((classes[a], classes[b]), default) == cluster.link(names[a], names[b])
    for a in range(W):  # coarsest: workers of two classes differ in their link to some third worker
        for b in range(a + 1, W):
            twins = all(cluster.link(names[a], names[v]) == cluster.link(names[b], names[v])
                        for v in range(W) if v not in (a, b))
            assert twins == (classes[a] == classes[b]), (a, b)


def test_no_links_is_one_class_and_linear_memory() -> None:
    cluster = Cluster([Worker(f"w{i}", "cpu") for i in range(5000)])
    classes, links = cluster.link_classes()
    assert set(classes) == {0} and links == {}
    g = TaskGraph(name="g")
    g.add_task("a", {"cpu": 1.0})
    p = Problem(g, cluster)
    assert p.class_latency.shape == (1, 1) and "latency" not in p.__dict__  # no (W, W) table built


@pytest.fixture
def class_tables(monkeypatch: pytest.MonkeyPatch):
    """Make Problem use its class tables even on small clusters."""
    monkeypatch.setattr(problem_module, "DENSE_LINKS", 0)


@pytest.mark.parametrize("seed", range(12))
def test_class_tables_equal_dense_tables(seed: int, class_tables) -> None:
    cluster = _random_cluster(seed)
    g = generators.layered_random(20, ccr=2.0, seed=seed)
    p = Problem(g, cluster)
    dense_latency, dense_inv = p.latency, p.inv_bandwidth
    names = cluster.names
    for a in range(len(names)):
        for b in range(len(names)):  # the dense tables are what the old constructor built
            bandwidth, latency = cluster.link(names[a], names[b])
            assert dense_latency[a, b] == (0.0 if a == b else latency)
            assert dense_inv[a, b] == (0.0 if a == b else 1.0 / bandwidth)
            assert p.comm(1e6, a, b) == float(dense_latency[a, b] + 1e6 * dense_inv[a, b])
        rows = p.link_rows(a)
        assert np.array_equal(rows[0], dense_latency[a]) and np.array_equal(rows[1], dense_inv[a])
    rng = np.random.default_rng(seed)
    for _ in range(50):  # ties, infinities, zero bytes: bit for bit the dense column minimum and argmin
        finish = rng.choice([0.0, 1.0, 1.0 + 1e-3, 2.5, np.inf], size=len(names))
        nbytes = float(rng.choice([0.0, 1e6, 1e9, 1e12]))
        arrive = finish[:, None] + dense_latency + nbytes * dense_inv
        out, came_from = p.arrivals(finish, nbytes, argmin=True)
        assert np.array_equal(out, arrive.min(axis=0)) and np.array_equal(p.arrivals(finish, nbytes), out)
        assert np.array_equal(came_from, np.argmin(arrive, axis=0))
    W = len(names)
    upper, off = np.triu_indices(W, 1), ~np.eye(W, dtype=bool)  # the dense formulas
    assert p.mean_comm_coefficients == (dense_latency[upper].sum() / (W * (W + 1) / 2),
                                        dense_inv[upper].sum() / (W * (W + 1) / 2))
    assert p.min_comm_coefficients == (dense_latency[off].min(), dense_inv[off].min())


def test_mean_over_class_tables_on_large_clusters(monkeypatch: pytest.MonkeyPatch) -> None:
    """Above DENSE_MEAN workers the mean comes from pair counts per class pair: equal up to rounding."""
    for seed in range(8):
        cluster = _random_cluster(seed)
        g = generators.layered_random(5, seed=seed)
        dense = Problem(g, cluster).mean_comm_coefficients
        monkeypatch.setattr(problem_module, "DENSE_MEAN", 0)
        counted = Problem(g, cluster).mean_comm_coefficients
        monkeypatch.setattr(problem_module, "DENSE_MEAN", 1024)
        assert counted == pytest.approx(dense, rel=1e-12, abs=0.0)


@pytest.mark.parametrize("seed", range(6))
def test_solvers_plan_identically_through_class_tables(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = _random_cluster(seed, n_workers=7)
    g = generators.layered_random(30 if seed % 2 else 10, ccr=[0.5, 5.0][seed % 2], seed=seed)
    dense = {s: plan(g, cluster, solver=s, seed=seed) for s in ("dp", "heft", "peft", "cpop", "greedy", "random")}
    p = Problem(g, cluster)
    tables = (optimistic_cost_table(p, comm="exact"), earliest_starts(p), path_bound(p))
    monkeypatch.setattr(problem_module, "DENSE_LINKS", 0)
    for solver, schedule in dense.items():
        again = plan(g, cluster, solver=solver, seed=seed)
        assert again.placements == schedule.placements, solver
    p = Problem(g, cluster)
    assert np.array_equal(optimistic_cost_table(p, comm="exact"), tables[0])
    assert np.array_equal(earliest_starts(p), tables[1]) and path_bound(p) == tables[2]


def test_exact_twins_need_the_same_links() -> None:
    """The exact search tries only the first of several interchangeable empty workers. cpu1 has a fast link
    to the GPU, cpu0 and cpu2 one to each other: every CPU has one fast and two default links, which the old
    signature (a sorted multiset of link values) took for interchangeable. Only cpu0 and cpu2 are."""
    from hetflow.solvers.exact import _Search

    workers = [Worker("gpu0", "gpu"), Worker("cpu0", "cpu"), Worker("cpu1", "cpu"), Worker("cpu2", "cpu")]
    links = [{"a": "gpu0", "b": "cpu1", "bandwidth": 1e12}, {"a": "cpu0", "b": "cpu2", "bandwidth": 1e12}]
    g = TaskGraph(name="g")
    g.add_task("a", {"gpu": 1.0, "cpu": 1.0})
    assert _Search(Problem(g, Cluster(workers, bandwidth=1e6, links=links)), None).twin_of == [0, 1, 2, 1]
    assert _Search(Problem(g, Cluster(workers, bandwidth=1e6)), None).twin_of == [0, 1, 1, 1]
    island = [{"a": "cpu1", "b": "cpu2", "bandwidth": 1e12}]  # cpu1 and cpu2 are interchangeable
    assert _Search(Problem(g, Cluster(workers, bandwidth=1e6, links=island)), None).twin_of == [0, 1, 2, 2]


@pytest.mark.parametrize("gpus", [1, 1000])
def test_explicit_links_take_effect_on_a_large_cluster(gpus: int) -> None:
    """3,000 workers (class tables, not dense ones): a heavy transfer goes over the one fast link. With one
    GPU every solver finds it; with 1,000 the planners that look ahead (dp: exact on 2 tasks) do."""
    fast_gpu = f"gpu{gpus // 2}"
    workers = [Worker(f"gpu{i}", "gpu") for i in range(gpus)] + [Worker(f"cpu{i}", "cpu") for i in range(3000 - gpus)]
    links = [{"a": fast_gpu, "b": "cpu1234", "bandwidth": 1e12, "latency": 0.5}]
    cluster = Cluster(workers, bandwidth=1e9, latency=0.01, links=links)
    g = TaskGraph(name="g")
    g.add_task("a", {"gpu": 1.0})
    g.add_task("b", {"cpu": 2.0})
    g.add_edge("a", "b", bytes=1e12)  # 1000 s over a default link, 1.5 s over the fast one
    assert len(cluster) > problem_module.DENSE_LINKS
    for solver in ("dp", "exact") if gpus > 1 else ("dp", "heft", "peft", "cpop", "greedy", "exact"):
        schedule = plan(g, cluster, solver=solver).validate(g, cluster)
        assert (schedule.worker_of("a"), schedule.worker_of("b")) == (fast_gpu, "cpu1234"), solver
        assert schedule.makespan == pytest.approx(1.0 + 0.5 + 1.0 + 2.0), solver


# Peak RSS from /proc (VmHWM, this process image only): getrusage's ru_maxrss survives exec, so a child of a
# big pytest process would report the parent's size.
MEMORY_PROBE = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))  # a regression fails here, not the machine
from hetflow.flows.cli import main
graph, cluster = sys.argv[1], sys.argv[2]
code = main(["plan", graph, "--cluster", cluster])
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print(json.dumps({"code": code, "peak_mb": int(status["VmHWM"].split()[0]) / 1024}))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak RSS from /proc")
def test_planning_10000_workers_stays_under_500_mb(tmp_path: Path) -> None:
    workers = [{"name": f"w{i}", "device": "gpu" if i % 4 == 0 else "cpu", "speed": 1.0 + (i % 3) / 2}
               for i in range(10_000)]
    graph = {"nodes": [{"id": "a", "cost": {"cpu": 1.0, "gpu": 0.5}}, {"id": "b", "cost": {"cpu": 2.0, "gpu": 0.25}}],
             "edges": [{"source": "a", "target": "b", "bytes": 1e9}]}
    (tmp_path / "g.json").write_text(json.dumps(graph))
    (tmp_path / "c.json").write_text(json.dumps({"workers": workers, "bandwidth": 1e9, "latency": 1e-3}))
    result = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(tmp_path / "g.json"), str(tmp_path / "c.json")],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert "2 tasks on 10000 workers" in lines[0]
    probe = json.loads(lines[-1])
    assert probe["code"] == 0 and probe["peak_mb"] < 500, probe
