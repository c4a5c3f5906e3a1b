"""JSON files of DESIGN.md: task graphs (node-link, edges under ``"edges"``) and WfFormat detection."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import networkx as nx
from hetflow.taskgraph.errors import FormatError
from hetflow.taskgraph.graph import TaskGraph

__all__ = ["read_json", "graph_to_dict", "graph_from_dict", "load_graph", "save_graph"]


def read_json(path: str | Path, what: str = "file") -> Any:
    """Parse a JSON file, turning every failure into a one-line :class:`FormatError`.

    Examples
    --------
    >>> read_json(Path(__file__).parent / "data" / "wfinstances" / "LICENSE", what="cluster")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    hetflow.taskgraph.errors.FormatError: cluster '.../LICENSE' is not valid JSON: Expecting value: line 1 column 1 ...
    """
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise FormatError(f"cannot read {what} {str(path)!r}: {e.strerror or e}") from None
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise FormatError(f"{what} {str(path)!r} is not valid JSON: {e}") from None


def graph_to_dict(graph: TaskGraph) -> dict[str, Any]:
    """Node-link data with the edge list under ``"edges"``.

    Examples
    --------
    >>> g = TaskGraph(name="g"); g.add_task("a", {"cpu": 1.0}); g.add_task("b", {"gpu": 2.0})
    >>> g.add_edge("a", "b", bytes=10)
    >>> graph_to_dict(g)["edges"]
    [{'bytes': 10, 'source': 'a', 'target': 'b'}]
    """
    return nx.node_link_data(graph.G, edges="edges")


def graph_from_dict(data: Mapping[str, Any]) -> TaskGraph:
    """Build and validate a :class:`TaskGraph` from node-link data (``"edges"``, or the older ``"links"``).

    Examples
    --------
    >>> g = graph_from_dict({"nodes": [{"id": "a", "cost": {"cpu": 1.0}}, {"id": "b", "cost": {"gpu": 2.0}}],
    ...                      "edges": [{"source": "a", "target": "b", "bytes": 10}]})
    >>> g.tasks, g.bytes("a", "b")
    (['a', 'b'], 10.0)
    """
    if not isinstance(data, Mapping) or not isinstance(data.get("nodes"), list):
        raise FormatError("task graph JSON must be an object with a 'nodes' list")
    edges_key = "edges" if "edges" in data or "links" not in data else "links"
    data = {"directed": True, "multigraph": False, "graph": {}, edges_key: [], **data}
    if not data["directed"] or data["multigraph"]:
        raise FormatError("task graph JSON must be directed and not a multigraph")
    for i, node in enumerate(data["nodes"]):
        if not isinstance(node, Mapping) or "id" not in node:
            raise FormatError(f"node #{i} of the task graph has no 'id'")
    for i, edge in enumerate(data[edges_key]):
        if not isinstance(edge, Mapping) or "source" not in edge or "target" not in edge:
            raise FormatError(f"edge #{i} of the task graph needs 'source' and 'target'")
    ids = {_hashable(node["id"]) for node in data["nodes"]}
    for edge in data[edges_key]:
        for end in ("source", "target"):
            if _hashable(edge[end]) not in ids:
                raise FormatError(f"edge {edge['source']!r} -> {edge['target']!r} names unknown task {edge[end]!r}")
    try:
        G = nx.node_link_graph(data, edges=edges_key)
    except (KeyError, TypeError, nx.NetworkXError) as e:
        raise FormatError(f"task graph JSON is malformed: {e}") from None
    return TaskGraph(G)


def _hashable(node_id: Any) -> Any:
    try:
        hash(node_id)
    except TypeError:
        raise FormatError(f"task id {node_id!r} must be a string or a number") from None
    return node_id


def load_graph(path: str | Path) -> TaskGraph:
    """Load a task graph file: node-link JSON, or WfCommons WfFormat (detected by its ``"workflow"`` key).

    Examples
    --------
    >>> traces = Path(__file__).parent / "data" / "wfinstances"  # the WfFormat traces shipped with hetflow
    >>> trace = load_graph(traces / "srasearch-chameleon-10a-001.json")
    >>> len(trace), trace.cost("bowtie2_ID0000003")
    (22, {'cpu': 54.137, 'gpu': 54.137})
    """
    data = read_json(path, what="task graph")
    if isinstance(data, Mapping) and "workflow" in data:
        from hetflow.taskgraph.wfformat import graph_from_wfformat

        return graph_from_wfformat(data)
    return graph_from_dict(data)


def save_graph(graph: TaskGraph, path: str | Path) -> None:
    """Write ``graph`` as node-link JSON (``"edges"``), the format :func:`load_graph` reads.

    Examples
    --------
    >>> import tempfile
    >>> g = TaskGraph(name="g"); g.add_task("a", {"cpu": 1.0})
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     save_graph(g, Path(folder) / "g.json")
    ...     load_graph(Path(folder) / "g.json").tasks
    ['a']
    """
    with open(path, "w") as f:
        json.dump(graph_to_dict(graph), f, indent=1)
