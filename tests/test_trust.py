"""An untrusted graph file reads only under its own folder or a --data-dir, and writes only into the run's
output folder (issue 14 item 1; hetflow.flows.runtime.trust)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import hetflow_test_ops  # noqa: F401  (registers test.read / test.write here too)
import pytest
from hetflow.flows.cli import main
from hetflow.flows.options import RunOptions
from hetflow.flows.runtime.trust import PathRefused, confine_paths
from hetflow.taskgraph import Cluster, TaskGraph, load_graph


def _exploit(folder: Path, corpus: str, out: str) -> Path:
    """The probe's graph: llm.preprocess reads ``corpus``, the root llm.merge writes ``out``."""
    nodes = [
        {"id": "pre", "kind": "preprocess", "cost": {"cpu": 0.1}, "op": "llm.preprocess",
         "params": {"corpus": corpus, "start": 0, "stop": 2}},
        {"id": "merge", "kind": "merge", "cost": {"cpu": 0.1}, "op": "llm.merge",
         "params": {"final": True, "out": out}},
    ]  # fmt: skip
    path = folder / "graph.json"
    path.write_text(json.dumps({"directed": True, "graph": {"name": "exploit"}, "nodes": nodes,
                                "edges": [{"source": "pre", "target": "merge", "bytes": 0}]}))  # fmt: skip
    return path


@pytest.fixture
def layout(tmp_path: Path) -> dict[str, Path]:
    private = tmp_path / "private"
    private.mkdir()
    (private / "secret.txt").write_text("a private line\nanother\n")
    graphs = tmp_path / "graphs"
    graphs.mkdir()
    (graphs / "docs.txt").write_text("first document\nsecond document\n")
    cluster = tmp_path / "cluster.json"
    Cluster.local(gpus=0, cpus=1).save(str(cluster))
    return {"root": tmp_path, "private": private, "graphs": graphs, "cluster": cluster}


def test_cli_refuses_a_private_file_read_before_prefect_starts(layout, capsys):
    secret = layout["private"] / "secret.txt"
    graph = _exploit(layout["graphs"], str(secret), "table.csv")
    start = time.perf_counter()
    code = main(["run", str(graph), "--cluster", str(layout["cluster"]), "--out-dir", str(layout["root"] / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith("hetflow: error: task 'pre' (op llm.preprocess) reads params.corpus=")
    assert str(secret) in err and "--data-dir" in err
    assert time.perf_counter() - start < 5  # refused before any cluster or Prefect server starts
    assert not (layout["root"] / "out").exists()


def test_cli_refuses_a_dotdot_write_out_of_the_output_folder(layout, capsys):
    out = layout["root"] / "out"
    sneaky = f"{out}/newdir/../../elsewhere/evil.csv"
    graph = _exploit(layout["graphs"], "bundled", sneaky)
    code = main(["run", str(graph), "--cluster", str(layout["cluster"]), "--out-dir", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert "task 'merge' (op llm.merge) writes params.out=" in err and sneaky in err
    assert str(layout["root"] / "elsewhere" / "evil.csv") in err and "outside the run's output folder" in err
    assert not (layout["root"] / "elsewhere").exists()


def test_a_write_without_an_output_folder_is_refused(layout, capsys):
    graph = _exploit(layout["graphs"], "bundled", "table.csv")
    assert main(["run", str(graph), "--cluster", str(layout["cluster"]), "--no-out-dir"]) == 2
    assert "the run has no output folder" in capsys.readouterr().err


def test_graph_folder_and_data_dirs_are_readable_outputs_writable(layout):
    graph = load_graph(_exploit(layout["graphs"], "docs.txt", "sub/table.csv"))  # relative: cwd, out dir
    out = layout["root"] / "out"
    cwd = os.getcwd()
    try:
        os.chdir(layout["graphs"])
        confined = confine_paths(graph, RunOptions(out_dir=str(out)))
    finally:
        os.chdir(cwd)
    params = confined.G.nodes
    assert params["pre"]["params"]["corpus"] == str((layout["graphs"] / "docs.txt").resolve())
    assert params["merge"]["params"]["out"] == str(out.resolve() / "sub" / "table.csv")
    assert graph.G.nodes["pre"]["params"]["corpus"] == "docs.txt"  # the caller's graph is not changed
    assert confined.parents("merge") == ["pre"] and confined.source == graph.source
    secret = str(layout["private"] / "secret.txt")
    graph.G.nodes["pre"]["params"]["corpus"] = secret
    with pytest.raises(PathRefused, match="reads params.corpus"):
        confine_paths(graph, RunOptions(out_dir=str(out)))
    allowed = confine_paths(graph, RunOptions(out_dir=str(out), data_dirs=[str(layout["private"])]))
    assert allowed.G.nodes["pre"]["params"]["corpus"] == str(Path(secret).resolve())


def test_a_symlink_inside_a_data_dir_pointing_outside_is_refused(layout):
    data = layout["root"] / "data"
    data.mkdir()
    (data / "innocent.txt").symlink_to(layout["private"] / "secret.txt")
    (data / "sub").symlink_to(layout["private"], target_is_directory=True)
    g = TaskGraph(name="links")
    g.add_task("r", {"cpu": 1.0}, op="test.read", params={"path": str(data / "innocent.txt")})
    options = RunOptions(data_dirs=[str(data)])
    with pytest.raises(PathRefused, match=r"resolved .*private/secret.txt, outside the folders"):
        confine_paths(g, options)
    g.G.nodes["r"]["params"]["path"] = str(data / "sub" / "secret.txt")
    with pytest.raises(PathRefused):
        confine_paths(g, options)
    g.G.nodes["r"]["params"]["path"] = str(data / ".." / "private" / "secret.txt")
    with pytest.raises(PathRefused):
        confine_paths(g, options)


def test_python_graphs_read_only_the_data_dirs(layout):
    g = TaskGraph(name="python")  # no file: no folder of its own
    g.add_task("r", {"cpu": 1.0}, op="test.read", params={"path": str(layout["graphs"] / "docs.txt")})
    with pytest.raises(PathRefused, match=r"may read \(none\)"):
        confine_paths(g, RunOptions())
    confine_paths(g, RunOptions(data_dirs=[str(layout["graphs"])]))
    with pytest.raises(PathRefused, match="not a file path"):
        g.G.nodes["r"]["params"]["path"] = ["a", "list"]
        confine_paths(g, RunOptions(data_dirs=[str(layout["graphs"])]))
    assert confine_paths(g, RunOptions(emulate=True)) is g  # emulated runs run no op


def test_run_plan_reads_and_writes_where_allowed(prefect_harness, dask_cluster, dask_client, layout):
    from hetflow.flows.orchestration.flow import run_plan

    g = TaskGraph(name="read-write")
    g.add_task("r", {"cpu": 0.01}, op="test.read", params={"path": "docs.txt"})
    g.add_task("w", {"cpu": 0.01}, op="test.write", params={"out": "copy/docs.repr"})
    g.add_edge("r", "w")
    path = layout["graphs"] / "rw.json"
    g.save(str(path))
    out = layout["root"] / "out"
    cwd = os.getcwd()
    try:
        os.chdir(layout["graphs"])
        record = run_plan(load_graph(path), address=dask_cluster.scheduler_address, out_dir=str(out),
                          dashboard=False, artifacts=False, cost_store=None)  # fmt: skip
    finally:
        os.chdir(cwd)
    assert record.results == {"w": str(out.resolve() / "copy" / "docs.repr")}
    assert (out / "copy" / "docs.repr").read_text() == repr(("first document\nsecond document\n",))


def test_a_path_op_registered_only_on_the_workers_is_checked_there(prefect_harness, dask_cluster, dask_client,
                                                                    layout):  # fmt: skip
    from hetflow.flows.orchestration.flow import run_plan

    module = layout["root"] / "hetflow_worker_only_ops.py"
    module.write_text(
        "from hetflow.flows.runtime.ops import register_op\n\n"
        "@register_op('workers.read', reads=['source'])\n"
        "def read(*inputs, source):\n"
        "    with open(source) as f:\n"
        "        return f.read()\n"
    )
    dask_client.upload_file(str(module))  # this process never imports it: only the workers know the op
    g = TaskGraph(name="worker-only")
    g.add_task("r", {"cpu": 0.01}, op="workers.read", params={"source": str(layout["private"] / "secret.txt")})
    with pytest.raises(PathRefused, match=r"task 'r' \(op workers.read\) reads params.source="):
        run_plan(g, address=dask_cluster.scheduler_address, dashboard=False, artifacts=False, cost_store=None)
