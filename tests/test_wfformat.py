"""Tests for hetflow.taskgraph.wfformat: the real WfInstances traces, both WfFormat layouts, errors, WfCommons."""

from __future__ import annotations

import copy
import doctest
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from hetflow.solvers.suites import data_dir
from hetflow.taskgraph import CostError, CycleError, FormatError, InvalidInput, load_graph, wfformat
from hetflow.taskgraph.wfformat import WFCOMMONS_RECIPES, generate_wfcommons, graph_from_wfformat, load_wfformat

ROOT = Path(__file__).resolve().parents[1]
# The real traces: $HETFLOW_DATA, else the ten that ship in the repository (taskgraph/data/wfinstances).
TRACES_DIR = data_dir() if data_dir().is_dir() else None
TRACES = sorted(TRACES_DIR.glob("*.json")) if TRACES_DIR else []
needs_traces = pytest.mark.skipif(TRACES_DIR is None, reason="WfInstances traces not found (set HETFLOW_DATA)")


def _raw(path: Path) -> dict:
    return json.loads(path.read_text())


def _tiny15() -> dict:
    """A three-task WfFormat 1.5 document: a -> b, a -> c, b -> c."""
    return {
        "name": "tiny",
        "schemaVersion": "1.5",
        "workflow": {
            "specification": {
                "tasks": [
                    {"name": "prep", "id": "a", "parents": [], "children": ["b", "c_ID0000003"],
                     "inputFiles": ["in"], "outputFiles": ["x", "y"]},
                    {"name": "b", "id": "b", "parents": ["a"], "children": ["c_ID0000003"],
                     "inputFiles": ["x", "y"], "outputFiles": ["z"]},
                    {"name": "c_ID0000003", "id": "c_ID0000003", "parents": ["a", "b"], "children": [],
                     "inputFiles": ["z"], "outputFiles": []},
                ],
                "files": [{"id": "in", "sizeInBytes": 1}, {"id": "x", "sizeInBytes": 100},
                          {"id": "y", "sizeInBytes": 20}, {"id": "z", "sizeInBytes": 3}],
            },
            "execution": {
                "makespanInSeconds": 10,
                "tasks": [{"id": "a", "runtimeInSeconds": 1.0},
                          {"id": "b", "runtimeInSeconds": 2.5, "command": {"program": "bprog"}},
                          {"id": "c_ID0000003", "runtimeInSeconds": 0}],
            },
        },
    }  # fmt: skip


def test_doctests():
    result = doctest.testmod(wfformat)
    assert result.attempted > 0 and result.failed == 0


# -- real traces ----------------------------------------------------------------------------------
@needs_traces
def test_all_ten_traces_are_present():
    assert len(TRACES) == 10, f"expected 10 WfInstances traces in {TRACES_DIR}"


@pytest.mark.parametrize("path", TRACES, ids=lambda p: p.stem)
def test_real_trace_matches_raw_json(path):
    raw = _raw(path)
    spec, execution = raw["workflow"]["specification"], raw["workflow"]["execution"]
    g = load_wfformat(path)
    assert g.name == raw["name"]
    assert len(g) == len(spec["tasks"])
    declared = {(p, t["id"]) for t in spec["tasks"] for p in t["parents"]}
    declared |= {(t["id"], c) for t in spec["tasks"] for c in t["children"]}
    assert set(g.G.edges) == declared
    assert nx.is_directed_acyclic_graph(g.G)
    runtime = {t["id"]: t["runtimeInSeconds"] for t in execution["tasks"]}
    for t in g:
        assert g.cost(t) == {"cpu": runtime[t], "gpu": runtime[t]}
    # edge bytes recomputed from the raw file lists
    size = {f["id"]: f["sizeInBytes"] for f in spec["files"]}
    task = {t["id"]: t for t in spec["tasks"]}
    for u, v in g.G.edges:
        shared = set(task[u]["outputFiles"]) & set(task[v]["inputFiles"])
        assert g.bytes(u, v) == sum(size[f] for f in shared)
    # load_graph (the CLI's entry point) detects WfFormat and gives the same graph
    assert nx.utils.graphs_equal(load_graph(path).G, g.G)


@needs_traces
def test_hand_checked_edge_bytes():
    g = load_wfformat(TRACES_DIR / "srasearch-chameleon-10a-001.json")
    # bowtie2 reads the six reference.*.bt2 index files bowtie2-build wrote:
    # 2 * 4,226,858 (1.bt2, rev.1.bt2) + 2 * 24,280 (2.bt2, rev.2.bt2) + 24,273 (4.bt2) + 17 (3.bt2)
    assert g.bytes("bowtie2-build_ID0000001", "bowtie2_ID0000003") == 8_526_566
    assert g.cost("bowtie2_ID0000003") == {"cpu": 54.137, "gpu": 54.137}
    assert set(g.parents("bowtie2_ID0000003")) == {"bowtie2-build_ID0000001", "fasterq-dump_ID0000002"}


@needs_traces
def test_kinds_come_from_the_program():
    g = load_wfformat(TRACES_DIR / "montage-chameleon-dss-05d-001.json")
    kinds = {g.kind(t) for t in g}
    assert {"mProject", "mDiffFit", "mBackground"} <= kinds
    assert g.kind("mProject_ID0000001") == "mProject"


# -- layouts and mapping --------------------------------------------------------------------------
def test_tiny_15_document():
    g = graph_from_wfformat(_tiny15())
    assert g.name == "tiny"
    assert g.tasks == ["a", "b", "c_ID0000003"]
    assert g.bytes("a", "b") == 120 and g.bytes("b", "c_ID0000003") == 3
    assert g.bytes("a", "c_ID0000003") == 0  # declared dependency without shared files is kept
    assert [g.kind(t) for t in g.tasks] == ["prep", "bprog", "c"]  # name, program, stripped id
    assert g.cost("c_ID0000003") == {"cpu": 0.0, "gpu": 0.0}


def test_devices_keyword():
    g = graph_from_wfformat(_tiny15(), devices=("cpu",))
    assert g.cost("b") == {"cpu": 2.5}
    g = graph_from_wfformat(_tiny15(), devices=("cpu", "gpu", "tpu"))
    assert g.device_classes == {"cpu", "gpu", "tpu"}
    with pytest.raises(ValueError):
        graph_from_wfformat(_tiny15(), devices=())


def test_dependency_declared_on_one_side_only():
    doc = _tiny15()
    doc["workflow"]["specification"]["tasks"][2]["parents"] = ["b"]  # a -> c only in a's children
    assert ("a", "c_ID0000003") in graph_from_wfformat(doc).G.edges


@pytest.mark.parametrize("version", ["1.2", "1.3", "1.4"])
def test_flat_layout(version):
    key = "jobs" if version == "1.2" else "tasks"
    runtime = "runtimeInSeconds" if version == "1.4" else "runtime"
    size = "sizeInBytes" if version == "1.4" else "size"
    tasks = [
        {"name": "split_ID0000001", "id": "ID0000001", "category": "split", runtime: 4.0, "parents": [],
         "files": [{"link": "input", "name": "big.dat", size: 1000},
                   {"link": "output", "name": "part1", size: 400},
                   {"link": "output", "name": "part2", size: 600}]},
        {"name": "work_ID0000002", "id": "ID0000002", runtime: 8.0, "parents": ["split_ID0000001"],
         "files": [{"link": "input", "name": "part1", size: 400},
                   {"link": "output", "name": "r1", size: 10}]},
        {"name": "merge_ID0000003", "id": "ID0000003", runtime: 1.0, "parents": ["ID0000002"],
         "children": [], "files": [{"link": "input", "name": "r1", size: 10}]},
    ]  # fmt: skip
    doc = {"name": "flat", "schemaVersion": version, "workflow": {key: tasks}}
    g = graph_from_wfformat(doc)
    assert g.tasks == ["split_ID0000001", "work_ID0000002", "merge_ID0000003"]
    assert g.bytes("split_ID0000001", "work_ID0000002") == 400
    assert g.bytes("work_ID0000002", "merge_ID0000003") == 10  # parent named by its id
    assert g.cost("work_ID0000002") == {"cpu": 8.0, "gpu": 8.0}
    assert [g.kind(t) for t in g.tasks] == ["split", "work", "merge"]


# -- malformed input ------------------------------------------------------------------------------
def _break(path: str, value):
    """A copy of the tiny document with the item at ``path`` (keys/indexes joined by '/') replaced or,
    for value ``...``, deleted."""
    doc = copy.deepcopy(_tiny15())
    *parents, last = [int(k) if k.isdigit() else k for k in path.split("/")]
    obj = doc
    for k in parents:
        obj = obj[k]
    if value is ...:
        del obj[last]
    else:
        obj[last] = value
    return doc


@pytest.mark.parametrize(
    "doc,error,words",
    [
        ([1, 2], FormatError, "JSON object"),
        ({"name": "x"}, FormatError, "'workflow'"),
        (_break("workflow/specification", ...), FormatError, "'specification'"),
        (_break("workflow/specification/tasks", ...), FormatError, "'tasks'"),
        (_break("workflow/execution", ...), FormatError, "workflow.execution"),
        (_break("workflow/specification/tasks/1/id", ...), FormatError, "tasks[1] has no 'id'"),
        (_break("workflow/execution/tasks/1/runtimeInSeconds", ...), FormatError, "'b' has no 'runtimeInSeconds'"),
        (_break("workflow/execution/tasks/1/runtimeInSeconds", -3), CostError, "runtimeInSeconds of task 'b'"),
        (_break("workflow/execution/tasks/1/runtimeInSeconds", "slow"), CostError, "task 'b'"),
        (_break("workflow/specification/files/1/sizeInBytes", ...), FormatError, "file 'x'"),
        (_break("workflow/specification/files/1", {"id": "q", "sizeInBytes": 1}), FormatError, "file 'x'"),
        (_break("workflow/specification/tasks/1/parents", ["nope"]), FormatError, "unknown parent task 'nope'"),
        (_break("workflow/specification/tasks/1/children", "c"), FormatError, "'children' of task 'b'"),
        (_break("workflow/specification/tasks/2/id", "b"), FormatError, "appears twice"),
        (_break("workflow/specification/tasks/1/inputFiles", [{"id": "x"}]), FormatError, "'inputFiles' of task 'b'"),
        (_break("workflow/specification/tasks/0/parents", ["b"]), CycleError, "cycle"),
        ({"workflow": {"tasks": [{"name": "t", "files": []}]}}, FormatError, "task 't' has no 'runtimeInSeconds'"),
        ({"workflow": {"tasks": [{"name": "t", "runtime": 1, "files": [{"name": "f"}]}]}}, FormatError, "'f'"),
    ],
)
def test_malformed_documents(doc, error, words):
    with pytest.raises(error) as info:
        graph_from_wfformat(doc)
    message = str(info.value)
    assert words in message and "\n" not in message


def test_load_wfformat_errors(tmp_path):
    with pytest.raises(FormatError, match="cannot read"):
        load_wfformat(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(FormatError, match="not valid JSON"):
        load_wfformat(bad)
    good = tmp_path / "tiny.json"
    good.write_text(json.dumps(_tiny15()))
    assert load_graph(good).tasks == ["a", "b", "c_ID0000003"]


# -- WfCommons generation -------------------------------------------------------------------------
def _as_json(g) -> str:
    return json.dumps(g.to_dict(), sort_keys=True)


def test_generate_wfcommons_is_deterministic():
    pytest.importorskip("wfcommons")
    state = random.getstate(), np.random.get_state()[1].copy()
    g = generate_wfcommons("montage", 80, seed=3)
    assert random.getstate() == state[0] and np.array_equal(np.random.get_state()[1], state[1])
    assert _as_json(g) == _as_json(generate_wfcommons("montage", 80, seed=3))
    assert _as_json(g) != _as_json(generate_wfcommons("montage", 80, seed=4))
    assert 60 <= len(g) <= 80 and g.G.number_of_edges() > len(g)
    assert {"mProject", "mDiffFit"} <= {g.kind(t) for t in g}
    assert sum(g.bytes(u, v) > 0 for u, v in g.G.edges) > 0.9 * g.G.number_of_edges()
    assert g.G.graph["recipe"] == "montage" and g.G.graph["seed"] == 3


@pytest.mark.parametrize("recipe", [*WFCOMMONS_RECIPES, "1000genome"])
def test_generate_every_recipe_at_its_minimum(recipe):
    pytest.importorskip("wfcommons")
    minimum = WFCOMMONS_RECIPES[recipe if recipe != "1000genome" else "genome"][1]
    g = generate_wfcommons(recipe, minimum, seed=0)
    assert 0 < len(g) <= minimum
    assert g.G.number_of_edges() >= len(g) // 2 and len(g.sources) < len(g)
    with pytest.raises(InvalidInput, match=f">= {minimum}"):
        generate_wfcommons(recipe, minimum - 1, seed=0)


def test_generate_wfcommons_bad_recipes():
    with pytest.raises(InvalidInput, match="unknown WfCommons recipe 'nope'.*montage"):
        generate_wfcommons("nope", 100, seed=0)
    with pytest.raises(InvalidInput, match="rnaseq.*without dependencies"):
        generate_wfcommons("rnaseq", 100, seed=0)


def test_generate_wfcommons_without_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "wfcommons", None)  # makes `import wfcommons` fail
    with pytest.raises(ImportError, match=r"hetflow\[bench\]"):
        generate_wfcommons("montage", 100, seed=0)


@pytest.mark.slow
def test_generate_wfcommons_same_across_processes():
    pytest.importorskip("wfcommons")
    code = (
        "import json; from hetflow.taskgraph.wfformat import generate_wfcommons as g; "
        "print(json.dumps(g('epigenomics', 90, seed=5).to_dict(), sort_keys=True))"
    )
    outs = [
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": str(h)},
        ).stdout
        for h in (1, 2)
    ]  # fmt: skip
    assert outs[0] == outs[1] and outs[0]
