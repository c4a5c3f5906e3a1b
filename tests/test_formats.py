"""docs/formats.md and examples/*.json against hetflow's loaders: every JSON block of the formats document
loads, the schedule there is a valid plan of the graph there on the cluster there, every field hetflow writes
is documented, and every example file loads and plans."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hetflow.solvers import Schedule, plan
from hetflow.taskgraph import Cluster, graph_from_dict, graph_to_dict, load_graph

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "formats.md"
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))


def _blocks() -> list[dict]:
    return [json.loads(b) for b in re.findall(r"```json\n(.*?)```", DOC.read_text(), flags=re.S)]


def _by_kind() -> dict[str, dict]:
    kinds = {}
    for block in _blocks():
        kind = "graph" if "nodes" in block else "cluster" if "workers" in block else "schedule"
        assert kind not in kinds, f"two {kind} examples in {DOC.name}"
        kinds[kind] = block
    return kinds


def test_every_json_block_loads_and_the_schedule_fits_the_graph_and_cluster() -> None:
    docs = _by_kind()
    assert set(docs) == {"graph", "cluster", "schedule"}
    graph = graph_from_dict(docs["graph"])
    cluster = Cluster.from_dict(docs["cluster"])
    schedule = Schedule.from_dict(docs["schedule"])
    assert graph.tasks == ["pre0", "feat0"] and graph.bytes("pre0", "feat0") == 8e6
    assert cluster.link("gpu0", "gpu1") == (5e10, 0.0) and cluster.link("gpu0", "cpu0") == (1e9, 0.0)
    schedule.validate(graph, cluster)
    assert schedule.transferred_bytes == schedule.recount_transfers(graph)
    planned = plan(graph, cluster, solver=docs["schedule"]["solver"])  # the plan the solver makes
    assert [(p.task, p.worker) for p in planned.placements] == [(p.task, p.worker) for p in schedule.placements]
    assert planned.makespan == pytest.approx(schedule.makespan, rel=1e-12)


def test_every_field_hetflow_writes_is_documented() -> None:
    docs = _by_kind()
    graph, cluster = graph_from_dict(docs["graph"]), Cluster.from_dict(docs["cluster"])
    written = {
        "graph": set(graph_to_dict(graph)),
        "cluster": set(cluster.to_dict()),
        "schedule": set(plan(graph, cluster, solver="dp").to_dict()),
    }
    text = DOC.read_text()
    for kind, keys in written.items():
        undocumented = {k for k in keys if f'"{k}"' not in text and f"`{k}`" not in text}
        assert not undocumented, f"{kind} fields {sorted(undocumented)} are written but not in {DOC.name}"
        assert set(docs[kind]) <= keys | {"meta"}, f"the {kind} example has fields hetflow does not write"


def test_readme_points_at_the_formats_document() -> None:
    assert "docs/formats.md" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_files_load(path: Path) -> None:
    data = json.loads(path.read_text())
    if "workers" in data:
        Cluster.load(str(path))
    else:
        assert "nodes" in data or "workflow" in data, f"{path.name} is neither a graph nor a cluster"
        graph = load_graph(path)
        cluster = Cluster.load(str(ROOT / "examples" / "cluster.json"))
        plan(graph, cluster, solver="heft").validate(graph, cluster)


def test_the_examples_are_there() -> None:
    assert {p.name for p in EXAMPLES} >= {"tiny_graph.json", "cluster.json"}
