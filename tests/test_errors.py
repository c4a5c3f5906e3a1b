"""Every class of bad input fails cleanly: a specific :class:`hetflow.taskgraph.InvalidInput` through the Python API,
and through ``hetflow plan`` (a real subprocess) exit status 2 with one line on stderr and no traceback.

Each case is a graph file, a cluster file and a solver; ``CASES`` lists them once and both paths use it.
The CLI subprocesses run concurrently (a module fixture) to keep the file fast.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hetflow.solvers import plan
from hetflow.taskgraph import (
    Cluster,
    ClusterError,
    CostError,
    CycleError,
    DeviceError,
    FormatError,
    InvalidInput,
    TaskGraph,
    Worker,
    load_graph,
)

MISSING = object()  # the file is not written


def _graph(nodes: Any = None, edges: Any = None, **extra: Any) -> dict:
    if nodes is None:
        nodes = [{"id": "a", "cost": {"cpu": 1.0}}, {"id": "b", "cost": {"cpu": 2.0, "gpu": 0.5}}]
    if edges is None:
        edges = [{"source": "a", "target": "b", "bytes": 1e6}]
    return {"directed": True, "multigraph": False, "graph": {"name": "bad"}, "nodes": nodes, "edges": edges,
            **extra}


def _cluster(workers: Any = None, **extra: Any) -> dict:
    if workers is None:
        workers = [{"name": "gpu0", "device": "gpu", "speed": 1.0}, {"name": "cpu0", "device": "cpu", "speed": 1.0}]
    return {"workers": workers, "bandwidth": 1e9, "latency": 0.0, **extra}


def _cost(value: Any) -> dict:
    return _graph(nodes=[{"id": "a", "cost": {"cpu": 1.0}}, {"id": "b", "cost": {"cpu": value}}])


@dataclass
class Case:
    id: str
    error: type[InvalidInput]
    match: str  # regex the message must contain
    graph: Any = None  # dict -> JSON, str -> raw text, MISSING -> no file; None -> a good graph
    cluster: Any = None
    solver: str = "heft"


CASES = [
    Case("cycle", CycleError, r"cycle: 'a' -> 'b' -> 'c' -> 'a'",
         graph=_graph(nodes=[{"id": t, "cost": {"cpu": 1}} for t in "abc"],
                      edges=[{"source": u, "target": v} for u, v in ("ab", "bc", "ca")])),
    Case("self-loop", CycleError, r"cycle: 'a' -> 'a'",
         graph=_graph(edges=[{"source": "a", "target": "a"}])),
    Case("unknown-device-class", DeviceError, r"task 'b' cannot run on any worker: it runs on tpu",
         graph=_graph(nodes=[{"id": "a", "cost": {"cpu": 1.0}}, {"id": "b", "cost": {"tpu": 1.0}}])),
    Case("no-worker-can-run", DeviceError, r"task 'b' cannot run on any worker: it runs on gpu, the cluster has cpu",
         graph=_graph(nodes=[{"id": "a", "cost": {"cpu": 1.0}}, {"id": "b", "cost": {"gpu": 1.0}}]),
         cluster=_cluster([{"name": "cpu0", "device": "cpu", "speed": 1.0}])),
    Case("empty-cost", DeviceError, r"task 'b' has no cost",
         graph=_graph(nodes=[{"id": "a", "cost": {"cpu": 1.0}}, {"id": "b", "cost": {}}])),
    Case("no-cost", DeviceError, r"task 'b' has no cost",
         graph=_graph(nodes=[{"id": "a", "cost": {"cpu": 1.0}}, {"id": "b"}])),
    Case("negative-cost", CostError, r"cost of task 'b' on 'cpu' is -1.0", graph=_cost(-1.0)),
    Case("nan-cost", CostError, r"cost of task 'b' on 'cpu' is nan", graph=_cost(math.nan)),
    Case("inf-cost", CostError, r"cost of task 'b' on 'cpu' is inf", graph=_cost(math.inf)),
    Case("text-cost", CostError, r"cost of task 'b' on 'cpu' is 'fast'", graph=_cost("fast")),
    Case("negative-bytes", CostError, r"bytes on edge 'a' -> 'b' is -5",
         graph=_graph(edges=[{"source": "a", "target": "b", "bytes": -5}])),
    Case("json-syntax", FormatError, r"not valid JSON", graph='{"nodes": [ {"id": "a", }'),
    Case("not-utf8", FormatError, r"not valid JSON", graph="\udcff"),
    Case("missing-nodes", FormatError, r"'nodes' list", graph={"edges": []}),
    Case("nodes-not-a-list", FormatError, r"'nodes' list", graph=_graph(nodes={"a": {"cost": {"cpu": 1}}})),
    Case("graph-is-a-list", FormatError, r"'nodes' list", graph=[{"id": "a"}]),
    Case("node-without-id", FormatError, r"node #1 .* no 'id'",
         graph=_graph(nodes=[{"id": "a", "cost": {"cpu": 1}}, {"cost": {"cpu": 1}}], edges=[])),
    Case("edge-without-target", FormatError, r"edge #0 .* 'source' and 'target'",
         graph=_graph(edges=[{"source": "a"}])),
    Case("edge-to-unknown-node", FormatError, r"names unknown task 'zz'",
         graph=_graph(edges=[{"source": "a", "target": "zz"}])),
    Case("duplicate-worker", ClusterError, r"duplicate worker name 'cpu0'",
         cluster=_cluster([{"name": "cpu0", "device": "cpu"}, {"name": "cpu0", "device": "gpu"}])),
    Case("link-to-unknown-worker", ClusterError, r"names unknown worker 'gpu9'",
         cluster=_cluster(links=[{"a": "cpu0", "b": "gpu9", "bandwidth": 1e9}])),
    Case("zero-speed", CostError, r"speed of worker 'cpu0' is 0.0; it must be a finite number > 0",
         cluster=_cluster([{"name": "gpu0", "device": "gpu"}, {"name": "cpu0", "device": "cpu", "speed": 0}])),
    Case("negative-speed", CostError, r"speed of worker 'gpu0' is -2.0",
         cluster=_cluster([{"name": "gpu0", "device": "gpu", "speed": -2}, {"name": "cpu0", "device": "cpu"}])),
    Case("zero-bandwidth", CostError, r"cluster bandwidth is 0.0", cluster={**_cluster(), "bandwidth": 0}),
    Case("negative-link-bandwidth", CostError, r"bandwidth of link 'gpu0' - 'cpu0' is -1.0",
         cluster=_cluster(links=[{"a": "gpu0", "b": "cpu0", "bandwidth": -1.0}])),
    Case("negative-latency", CostError, r"cluster latency is -0.1", cluster={**_cluster(), "latency": -0.1}),
    Case("no-workers", ClusterError, r"no workers", cluster=_cluster([])),
    Case("workers-not-a-list", FormatError, r"'workers' must be a list", cluster={"workers": {"cpu0": {}}}),
    Case("worker-without-device", ClusterError, r"needs a 'name' and a 'device'",
         cluster=_cluster([{"name": "cpu0"}])),
    Case("cluster-json-syntax", FormatError, r"cluster .* not valid JSON", cluster="{workers: []}"),
    Case("missing-graph-file", FormatError, r"cannot read task graph .*graph.json", graph=MISSING),
    Case("missing-cluster-file", FormatError, r"cannot read cluster .*cluster.json", cluster=MISSING),
    Case("unknown-solver", InvalidInput, r"unknown solver 'nope'; choose one of .*heft", solver="nope"),
]
IDS = [c.id for c in CASES]


def _write(path: Path, content: Any, default: dict) -> None:
    if content is MISSING:
        return
    if content is None:
        content = default
    if isinstance(content, str):
        path.write_bytes(content.encode("utf-8", "surrogateescape"))
    else:
        path.write_text(json.dumps(content))  # NaN / Infinity are written as JSON's common extension


def _files(directory: Path, case: Case) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    graph, cluster = directory / "graph.json", directory / "cluster.json"
    _write(graph, case.graph, _graph())
    _write(cluster, case.cluster, _cluster())
    return graph, cluster


def test_every_case_is_otherwise_good(tmp_path: Path) -> None:
    """The shared defaults plan fine, so each case fails for its own reason only."""
    graph, cluster = _files(tmp_path, Case("good", InvalidInput, ""))
    assert plan(load_graph(graph), Cluster.load(cluster), solver="heft").makespan > 0


# -- Python API -------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_api(case: Case, tmp_path: Path) -> None:
    graph_path, cluster_path = _files(tmp_path, case)
    with pytest.raises(case.error, match=case.match) as info:
        plan(load_graph(graph_path), Cluster.load(cluster_path), solver=case.solver)
    assert isinstance(info.value, ValueError)  # InvalidInput is a ValueError
    assert "\n" not in str(info.value)


def test_api_builders_reject_bad_values() -> None:
    g = TaskGraph(name="g", validate=False)
    g.add_task("a", {"cpu": float("nan")})
    with pytest.raises(CostError, match="'a'"):
        g.validate()
    g = TaskGraph(name="g")
    g.add_task("a", {"cpu": 1.0})
    with pytest.raises(FormatError, match="unknown task 'b'"):
        g.add_edge("a", "b")
    with pytest.raises(ClusterError, match="duplicate worker name 'w'"):
        Cluster([Worker("w", "cpu"), Worker("w", "gpu")])
    with pytest.raises(CostError, match="speed of worker 'w'"):
        Cluster([Worker("w", "cpu", 0.0)])
    with pytest.raises(CostError, match="cluster bandwidth"):
        Cluster([Worker("w", "cpu")], bandwidth=-1.0)
    with pytest.raises(ClusterError, match="unknown worker 'v'"):
        Cluster([Worker("w", "cpu")], links=[{"a": "w", "b": "v", "bandwidth": 1.0}])
    with pytest.raises(InvalidInput, match="unknown solver"):
        plan(g, Cluster.local(), solver="nope")
    with pytest.raises(DeviceError, match="task 'a'"):
        plan(g, Cluster.local(gpus=1, cpus=0))


def test_api_cycle_in_built_graph() -> None:
    g = TaskGraph(name="g", validate=False)
    for t in "xyz":
        g.add_task(t, {"cpu": 1.0})
    g.add_edge("x", "y")
    g.add_edge("y", "z")
    g.add_edge("z", "y")
    with pytest.raises(CycleError, match=r"'y' -> 'z' -> 'y'"):
        g.validate()


# -- CLI --------------------------------------------------------------------------------------------
def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hetflow", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def cli_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess]:
    """Run ``hetflow plan`` once per case, several at a time."""
    root = tmp_path_factory.mktemp("cli-errors")

    def one(case: Case) -> tuple[str, subprocess.CompletedProcess]:
        graph, cluster = _files(root / case.id, case)
        return case.id, _cli(["plan", str(graph), "--cluster", str(cluster), "--solver", case.solver], root)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(pool.map(one, CASES))


def _assert_clean_failure(result: subprocess.CompletedProcess, match: str) -> None:
    import re

    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("hetflow: error: ")
    assert re.search(match, lines[0]), (match, lines[0])
    assert result.stdout == ""


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_cli(case: Case, cli_results: dict) -> None:
    _assert_clean_failure(cli_results[case.id], case.match)


def test_cli_usage_errors_are_one_line(tmp_path: Path) -> None:
    graph, _ = _files(tmp_path, Case("good", InvalidInput, ""))
    result = _cli(["plan", str(graph)], tmp_path)  # --cluster is required
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr
    assert "--cluster" in result.stderr and "Traceback" not in result.stderr


def test_cli_unwritable_out(tmp_path: Path) -> None:
    graph, cluster = _files(tmp_path, Case("good", InvalidInput, ""))
    out = tmp_path / "no-such-dir" / "schedule.json"
    result = _cli(["plan", str(graph), "--cluster", str(cluster), "--solver", "heft", "--out", str(out)], tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    message = f"hetflow: error: cannot write schedule {str(out)!r}: No such file or directory"
    assert result.stderr.splitlines() == [message]
