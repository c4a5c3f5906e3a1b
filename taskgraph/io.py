"""JSON files of DESIGN.md: task graphs (node-link, edges under ``"edges"``) and WfFormat detection."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import networkx as nx
from hetflow.taskgraph.errors import FormatError, brief
from hetflow.taskgraph.graph import TaskGraph

__all__ = ["read_json", "graph_to_dict", "graph_from_dict", "load_graph", "save_graph", "check_task_id"]


def read_json(path: str | Path, what: str = "file") -> Any:
    """Parse a JSON file, turning every failure into a one-line :class:`FormatError`.

    Besides syntax errors that covers nesting too deep for the parser and integer literals longer than
    Python's limit for converting digits (4,300 by default).

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
    except RecursionError:
        raise FormatError(f"{what} {str(path)!r} is nested too deeply to read") from None
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError, too many digits in an integer literal
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

    Raises :class:`FormatError` for anything networkx would read differently from what the file says: a
    task id that is not a string or a number (``null``, ``true``, a list), two nodes with equal ids
    (``1`` and ``1.0`` are equal), an edge listed twice, or a part of the wrong type.

    Examples
    --------
    >>> g = graph_from_dict({"nodes": [{"id": "a", "cost": {"cpu": 1.0}}, {"id": "b", "cost": {"gpu": 2.0}}],
    ...                      "edges": [{"source": "a", "target": "b", "bytes": 10}]})
    >>> g.tasks, g.bytes("a", "b")
    (['a', 'b'], 10.0)
    >>> graph_from_dict({"nodes": [{"id": 1, "cost": {"cpu": 1}}, {"id": 1.0, "cost": {"cpu": 2}}]})
    Traceback (most recent call last):
    ...
    hetflow.taskgraph.errors.FormatError: nodes #0 and #1 of the task graph have the same id 1.0
    """
    if not isinstance(data, Mapping) or not isinstance(data.get("nodes"), list):
        raise FormatError("task graph JSON must be an object with a 'nodes' list")
    edges_key = "edges" if "edges" in data or "links" not in data else "links"
    data = {"directed": True, "multigraph": False, "graph": {}, edges_key: [], **data}
    if data["directed"] is not True or data["multigraph"] is not False:
        raise FormatError("task graph JSON must be directed and not a multigraph")
    if not isinstance(data["graph"], Mapping):
        raise FormatError(f"'graph' of the task graph JSON must be an object, not {brief(data['graph'])}")
    if not isinstance(data[edges_key], list):
        raise FormatError(f"'{edges_key}' of the task graph JSON must be a list, not {brief(data[edges_key])}")
    first: dict[Any, int] = {}
    for i, node in enumerate(data["nodes"]):
        if not isinstance(node, Mapping) or "id" not in node:
            raise FormatError(f"node #{i} of the task graph has no 'id'")
        tid = check_task_id(node["id"], f"node #{i} of the task graph has id")
        if tid in first:
            raise FormatError(f"nodes #{first[tid]} and #{i} of the task graph have the same id {brief(tid)}")
        first[tid] = i
    seen: set[tuple[Any, Any]] = set()
    for i, edge in enumerate(data[edges_key]):
        if not isinstance(edge, Mapping) or "source" not in edge or "target" not in edge:
            raise FormatError(f"edge #{i} of the task graph needs 'source' and 'target'")
        ends = tuple(check_task_id(edge[k], f"edge #{i} of the task graph names {k}") for k in ("source", "target"))
        for end in ends:
            if end not in first:
                raise FormatError(f"edge {brief(ends[0])} -> {brief(ends[1])} names unknown task {brief(end)}")
        if ends in seen:
            raise FormatError(f"edge {brief(ends[0])} -> {brief(ends[1])} appears twice in the task graph")
        seen.add(ends)
    try:
        G = nx.node_link_graph(data, edges=edges_key)
    except (KeyError, TypeError, ValueError, nx.NetworkXError) as e:
        raise FormatError(f"task graph JSON is malformed: {e}") from None
    return TaskGraph(G)


def check_task_id(value: Any, what: str) -> str | int | float:
    """Return ``value`` if it can be a task id read from a file, else raise :class:`FormatError` (``what`` starts
    the message).

    A task id is a string, an integer or a finite float; ``true``, ``null``, NaN and containers are refused
    (networkx would merge ``true`` with ``1``, or fail later).

    Examples
    --------
    >>> check_task_id("pre0", "node #0 has id")
    'pre0'
    >>> check_task_id(None, "node #0 has id")
    Traceback (most recent call last):
    ...
    hetflow.taskgraph.errors.FormatError: node #0 has id None; a task id must be a string or a number
    """
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(value, str) or (number and (not isinstance(value, float) or math.isfinite(value))):
        return value
    raise FormatError(f"{what} {brief(value)}; a task id must be a string or a number")


def load_graph(path: str | Path) -> TaskGraph:
    """Load a task graph file: node-link JSON, or WfCommons WfFormat (detected by its ``"workflow"`` key).

    The graph remembers the file's absolute path as ``graph.source``.

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

        graph = graph_from_wfformat(data)
    else:
        graph = graph_from_dict(data)
    graph.source = os.path.abspath(path)  # where its tasks may read files (hetflow.flows.runtime.trust)
    return graph


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
