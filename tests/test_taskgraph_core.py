"""TaskGraph and Cluster basics: the JSON contract, links, topological order, derived clusters."""

from __future__ import annotations

import json
import math

import pytest
from hetflow.taskgraph import Cluster, ClusterError, TaskGraph, load_graph


def test_graph_json_is_node_link_with_edges_key(tmp_path):
    g = TaskGraph(name="llm-demo")
    g.add_task("pre0", {"cpu": 2.0}, kind="preprocess")
    g.add_task("feat0", {"cpu": 12.0, "gpu": 0.6}, kind="features")
    g.add_edge("pre0", "feat0", bytes=8_000_000)
    path = tmp_path / "g.json"
    g.save(str(path))
    data = json.loads(path.read_text())
    assert data["directed"] is True and data["multigraph"] is False
    assert data["graph"] == {"name": "llm-demo"}
    assert data["edges"] == [{"source": "pre0", "target": "feat0", "bytes": 8_000_000.0}]
    assert {n["id"]: n["cost"] for n in data["nodes"]} == {"pre0": {"cpu": 2.0}, "feat0": {"cpu": 12.0, "gpu": 0.6}}
    again = load_graph(path)
    assert again.tasks == ["pre0", "feat0"]
    assert again.bytes("pre0", "feat0") == 8e6 and again.kind("feat0") == "features"


def test_older_links_key_still_loads(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"nodes": [{"id": 1, "cost": {"cpu": 1}}, {"id": 2, "cost": {"cpu": 1}}],
                                "links": [{"source": 1, "target": 2, "bytes": 5}]}))
    assert load_graph(path).bytes(1, 2) == 5.0


def test_topological_order_is_deterministic_and_valid():
    def build(order):
        g = TaskGraph(name="g")
        for t in order:
            g.add_task(t, {"cpu": 1.0})
        for u, v in [("a", "c"), ("b", "c"), ("c", "d"), ("a", "d")]:
            g.add_edge(u, v)
        return g

    g = build("abcd")
    position = {t: i for i, t in enumerate(g.tasks)}
    assert all(position[u] < position[v] for u, v in g.G.edges)
    assert g.tasks == build("abcd").tasks
    assert g.sources == ["a", "b"] and g.sinks == ["d"]


def test_cluster_links_defaults_and_round_trip():
    data = {"workers": [{"name": "gpu0", "device": "gpu", "speed": 1.0},
                        {"name": "gpu1", "device": "gpu", "speed": 1.0},
                        {"name": "cpu0", "device": "cpu", "speed": 1.5}],
            "bandwidth": 1e9, "latency": 0.01,
            "links": [{"a": "gpu0", "b": "gpu1", "bandwidth": 5e10, "latency": 0.0},
                      {"a": "gpu1", "b": "cpu0", "bandwidth": 1e8}]}
    c = Cluster.from_dict(data)
    assert c.comm_time("gpu1", "gpu0", 5e10) == pytest.approx(1.0)  # symmetric link override
    assert c.comm_time("cpu0", "gpu1", 1e8) == pytest.approx(1.01)  # no latency given: the default
    assert c.comm_time("gpu0", "cpu0", 1e9) == pytest.approx(1.01)  # no link: both defaults
    assert c.comm_time("cpu0", "cpu0", 1e12) == 0.0
    assert c.exec_time({"gpu": 3.0}, "cpu0") == math.inf and c.exec_time({"cpu": 3.0}, "cpu0") == 2.0
    assert Cluster.from_dict(c.to_dict()) == c


def test_without_drops_workers_and_their_links():
    c = Cluster.from_dict({"workers": [{"name": n, "device": "cpu"} for n in "abc"],
                           "links": [{"a": "a", "b": "b", "bandwidth": 1.0}, {"a": "b", "b": "c", "bandwidth": 2.0}]})
    smaller = c.without(["a"])
    assert smaller.names == ["b", "c"] and smaller.link("b", "c") == (2.0, 0.0)
    with pytest.raises(ClusterError, match="no worker is left"):
        smaller.without(["b", "c"])
