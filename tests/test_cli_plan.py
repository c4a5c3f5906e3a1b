"""``hetflow plan`` (flows/cmd_plan.py): the schedule file follows DESIGN.md, the command stays light, and
the example files are in DESIGN.md's formats."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import hetflow.solvers
import pytest
from hetflow.flows.cli import main
from hetflow.solvers import Schedule
from hetflow.taskgraph import Cluster, load_graph

ROOT = Path(__file__).resolve().parents[1]
GRAPH = ROOT / "examples" / "tiny_graph.json"
CLUSTER = ROOT / "examples" / "cluster.json"


def _hetflow(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hetflow", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_schedule_file_has_design_shape(tmp_path: Path) -> None:
    out = tmp_path / "schedule.json"
    result = _hetflow("plan", str(GRAPH), "--cluster", str(CLUSTER), "--solver", "heft", "--out", str(out),
                      cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    summary = result.stdout.splitlines()
    assert 1 <= len(summary) <= 2
    assert summary[0].startswith("heft: makespan ")
    assert "lower bound" in summary[0] and "11 tasks on 4 workers" in summary[0]

    data = json.loads(out.read_text())
    assert {"solver", "makespan", "plan_seconds", "tasks"} <= set(data)
    assert data["solver"] == "heft"
    assert isinstance(data["makespan"], float) and isinstance(data["plan_seconds"], float)
    assert data["plan_seconds"] >= 0
    graph, cluster = load_graph(GRAPH), Cluster.load(CLUSTER)
    assert sorted(row["task"] for row in data["tasks"]) == sorted(graph.tasks)
    for row in data["tasks"]:
        assert set(row) == {"task", "worker", "start", "finish"}
        assert row["worker"] in cluster.names
        assert 0 <= row["start"] <= row["finish"] <= data["makespan"]
    assert data["makespan"] == max(row["finish"] for row in data["tasks"])

    schedule = Schedule.load(str(out)).validate(graph, cluster)
    assert schedule == hetflow.solvers.plan(graph, cluster, solver="heft")
    assert f"makespan {schedule.makespan:.6g} s" in summary[0]


@pytest.mark.parametrize("solver", hetflow.solvers.solver_names())
def test_every_solver_plans_the_example(solver: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "s.json"
    assert main(["plan", str(GRAPH), "--cluster", str(CLUSTER), "--solver", solver, "--out", str(out)]) == 0
    assert capsys.readouterr().out.startswith(f"{solver}: makespan ")
    Schedule.load(str(out)).validate(load_graph(GRAPH), Cluster.load(CLUSTER))


def test_default_solver(capsys: pytest.CaptureFixture) -> None:
    assert main(["plan", str(GRAPH), "--cluster", str(CLUSTER), "--no-bound"]) == 0
    line = capsys.readouterr().out
    expected = "dp" if "dp" in hetflow.solvers.solver_names() else "heft"
    assert line.startswith(f"{expected}: makespan ") and "lower bound" not in line


def test_seed_is_passed(tmp_path: Path) -> None:
    files = [tmp_path / f"s{i}.json" for i in range(3)]
    for seed, path in zip((1, 1, 2), files):
        assert main(["plan", str(GRAPH), "--cluster", str(CLUSTER), "--solver", "random", "--seed", str(seed),
                     "--out", str(path), "--no-bound"]) == 0
    a, b, c = (Schedule.load(str(p)) for p in files)
    assert a == b
    assert a == hetflow.solvers.plan(load_graph(GRAPH), Cluster.load(CLUSTER), solver="random", seed=1)
    assert c == hetflow.solvers.plan(load_graph(GRAPH), Cluster.load(CLUSTER), solver="random", seed=2)


def test_plan_does_not_import_prefect_or_dask(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from hetflow.flows.cli import main\n"
        f"rc = main(['plan', {str(GRAPH)!r}, '--cluster', {str(CLUSTER)!r}, '--solver', 'heft'])\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'prefect', 'dask', 'distributed', 'torch'})\n"
        "print('HEAVY', heavy, rc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "HEAVY [] 0" in result.stdout, result.stdout


def test_plan_reads_wfformat(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A WfFormat 1.5 file (detected by its "workflow" key): runtime on every class, bytes from files."""
    doc = {
        "name": "mini", "schemaVersion": "1.5",
        "workflow": {
            "specification": {
                "tasks": [
                    {"id": "split", "parents": [], "children": ["work"], "inputFiles": [], "outputFiles": ["f1"]},
                    {"id": "work", "parents": ["split"], "children": [], "inputFiles": ["f1"], "outputFiles": []},
                ],
                "files": [{"id": "f1", "sizeInBytes": 2_000_000_000}],
            },
            "execution": {"tasks": [{"id": "split", "runtimeInSeconds": 3.0},
                                    {"id": "work", "runtimeInSeconds": 4.0}]},
        },
    }
    path, out = tmp_path / "wf.json", tmp_path / "s.json"
    path.write_text(json.dumps(doc))
    assert main(["plan", str(path), "--cluster", str(CLUSTER), "--solver", "heft", "--out", str(out)]) == 0
    s = Schedule.load(str(out)).validate(load_graph(path), Cluster.load(CLUSTER))
    # both tasks stay on the fastest worker (cpu2, speed 1.5): moving 2 GB costs more than it saves
    assert s.worker_of("split") == s.worker_of("work") == "cpu2"
    assert s.makespan == pytest.approx(7.0 / 1.5)


# -- the example files ------------------------------------------------------------------------------------
def test_example_graph_is_design_node_link() -> None:
    data = json.loads(GRAPH.read_text())
    assert set(data) == {"directed", "multigraph", "graph", "nodes", "edges"}
    assert data["directed"] is True and data["multigraph"] is False
    for node in data["nodes"]:
        assert set(node) == {"id", "kind", "cost"} and node["cost"]
    for edge in data["edges"]:
        assert set(edge) == {"source", "target", "bytes"}
    g = load_graph(GRAPH)
    assert len(g) == 11 and g.sinks == ["merge"] and sorted(g.sources) == ["pre0", "pre1"]
    for b in (0, 1):  # pre -> feat -> shard0 -> shard1 -> score -> merge, per batch
        chain = [f"pre{b}", f"feat{b}", f"shard0_{b}", f"shard1_{b}", f"score{b}", "merge"]
        assert all(g.G.has_edge(u, v) for u, v in zip(chain, chain[1:]))


def test_example_cluster_is_design_format() -> None:
    data = json.loads(CLUSTER.read_text())
    assert set(data) == {"workers", "bandwidth", "latency", "links"}
    for w in data["workers"]:
        assert set(w) == {"name", "device", "speed"}
    for link in data["links"]:
        assert set(link) == {"a", "b", "bandwidth", "latency"}
    c = Cluster.load(CLUSTER)
    assert sorted(w.device for w in c.workers) == ["cpu", "cpu", "cpu", "gpu"]
    assert Cluster.from_dict(data) == c
