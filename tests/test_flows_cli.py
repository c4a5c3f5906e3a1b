"""``hetflow run``: summary on success, exit 2 with one line on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flows_graphs import layered
from hetflow.flows.cli import main
from hetflow.solvers import solver_names
from hetflow.taskgraph import Cluster

SOLVER = "dp" if "dp" in solver_names() else "heft"


def _summary(text: str) -> dict[str, str]:
    return dict(line.split(None, 1) for line in text.splitlines() if line and not line.startswith("result "))


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    graph, cluster = tmp_path / "graph.json", tmp_path / "cluster.json"
    layered(2, 3).save(str(graph))
    Cluster.local(gpus=1, cpus=1).save(str(cluster))
    (tmp_path / "broken.json").write_text("{not json")
    return {"graph": str(graph), "cluster": str(cluster), "broken": str(tmp_path / "broken.json")}


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "missing.json", "--address", "tcp://127.0.0.1:1"], "cannot read task graph"),
        (["run", "{graph}", "--cluster", "{broken}"], "is not valid JSON"),
        (["run", "{graph}", "--cluster", "{cluster}", "--solver", "nope"], "unknown solver 'nope'"),
        (["run", "{graph}", "--cluster", "{cluster}", "--retries", "-1"], "--retries must be >= 0"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, message, files, capsys):
    assert main([a.format(**files) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hetflow: error: ") and message in err and err.count("\n") == 1


def test_unreachable_scheduler_exits_2(prefect_harness, files, capsys):
    assert main(["run", files["graph"], "--address", "tcp://127.0.0.1:9", "--connect-timeout", "1"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # Prefect logs the failed flow run before it
    assert last.startswith("hetflow: error: cannot connect to the Dask scheduler at 'tcp://127.0.0.1:9'")


def test_cluster_and_address_are_exclusive(files, capsys):
    with pytest.raises(SystemExit) as e:
        main(["run", files["graph"], "--cluster", files["cluster"], "--address", "tcp://x:1"])
    assert e.value.code == 2 and "not allowed with" in capsys.readouterr().err


def test_run_on_a_running_cluster(prefect_harness, dask_cluster, files, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["run", files["graph"], "--address", dask_cluster.scheduler_address, "--solver", SOLVER,
                 "--emulate", "--time-scale", "0.05", "--out-dir", str(out)])  # fmt: skip
    text = capsys.readouterr().out
    assert code == 0, text
    summary = _summary(text)
    assert summary["on_planned_worker"] == "7/7" and summary["solver"] == SOLVER and "result merge:" in text
    assert float(summary["actual_over_planned"]) > 0
    results = json.loads((out / "results.json").read_text())
    assert [k for k, _ in results["results"]] == ["merge"] and results["digest"] in text


def test_run_starts_an_embedded_cluster(prefect_harness, files, capsys):
    code = main(["run", files["graph"], "--cluster", files["cluster"], "--solver", "heft", "--time-scale", "0.05",
                 "--no-dashboard"])  # fmt: skip
    text = capsys.readouterr().out
    assert code == 0, text
    summary = _summary(text)
    assert summary["workers"] == "2" and summary["on_planned_worker"] == "7/7" and summary["replans"] == "0"


@pytest.mark.parametrize("lost", [False, True])
@pytest.mark.parametrize("out_dir", [None, "run-out"])
def test_a_failed_run_ends_in_one_line_with_its_exit_code(capsys, lost, out_dir):
    from types import SimpleNamespace

    from hetflow.flows.cli import failed_run
    from hetflow.flows.options import RunOptions
    from hetflow.flows.runtime.execution import TaskFailed
    from hetflow.flows.runtime.liveness import SchedulerLost

    error = SchedulerLost("lost the Dask scheduler at tcp://127.0.0.1:1") if lost else TaskFailed("task 'a' raised")
    error.execution = SimpleNamespace(results={"sink": 1})  # one sink finished before the end
    code = failed_run(error, RunOptions(out_dir=out_dir), "demo run")
    line = capsys.readouterr().err
    assert code == (3 if lost else 1)
    assert line.count("\n") == 1 and line.startswith("hetflow: ")
    assert ("demo run failed: " in line) is not lost and str(error) in line
    assert line.rstrip().endswith(f"finished sinks written to {out_dir} (results.json: incomplete)" if out_dir
                                  else "give --out-dir to keep the finished sinks")
