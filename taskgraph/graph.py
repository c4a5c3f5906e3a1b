"""`TaskGraph`: a DAG of tasks with a cost per device class and bytes on every edge.

The graph is a thin, validated view over a :class:`networkx.DiGraph` (``TaskGraph.G``):

* node attribute ``cost``: ``{device_class: seconds}`` at speed 1. A class that is missing means the
  task cannot run on workers of that class.
* node attribute ``kind`` (optional): a label such as ``"preprocess"`` used for grouping and plots.
* node attributes ``op``/``params`` (optional): what :mod:`flows` runs for the task.
* edge attribute ``bytes``: size of the data the child reads from the parent (default 0).
"""

from __future__ import annotations

import math
import numbers
from collections import deque
from collections.abc import Hashable, Iterable, Iterator, Mapping
from functools import cached_property
from typing import Any

import networkx as nx
from hetflow.taskgraph.errors import CostError, CycleError, DeviceError, FormatError, brief

__all__ = ["TaskGraph", "check_number", "MAX_COST", "MAX_BYTES", "SPEED_RANGE", "BANDWIDTH_RANGE", "MAX_LATENCY"]

Task = Hashable


# Ranges of the numbers a graph or a cluster may hold. Every built-in solver, the lower bounds and the
# compiled replay are tested at both ends of each (tests/test_input_contract.py). The binding limits: HiGHS
# treats LP coefficients >= 1e15 as infinite (the lower bound and the DP's work prices solve an LP over the
# costs at speed 1), and ``cost / speed`` and ``bytes / bandwidth`` must stay finite floats with room left
# for sums along paths. Zero is allowed for costs, bytes and latencies.
MAX_COST = 1e12  # seconds of work at speed 1 (about 31,700 years)
MAX_BYTES = 1e18  # bytes on one edge (1 EB)
SPEED_RANGE = (1e-6, 1e6)  # relative worker speed
BANDWIDTH_RANGE = (1e-6, 1e18)  # bytes per second
MAX_LATENCY = 1e12  # seconds


def check_number(value: Any, what: str, *, positive: bool = False, low: float | None = None,
                 high: float | None = None) -> float:
    """Return ``value`` as a float, or raise :class:`CostError` if it is not a finite number in range.

    ``value`` must be a real number (``int``, ``float`` or a NumPy number; not a ``bool`` or a string),
    ``>= 0``, ``> 0`` with ``positive``, at least ``low`` (when given and the value is not 0, or always
    with ``positive``) and at most ``high``.

    Examples
    --------
    >>> check_number(2, "cost of task 'a'")
    2.0
    >>> check_number(float("nan"), "cost of task 'a'")
    Traceback (most recent call last):
    ...
    hetflow.taskgraph.errors.CostError: cost of task 'a' is nan; it must be a finite number >= 0
    >>> check_number(True, "cost of task 'a'")
    Traceback (most recent call last):
    ...
    hetflow.taskgraph.errors.CostError: cost of task 'a' is True; it must be a number, not a boolean
    >>> check_number(1e-9, "speed of worker 'w'", positive=True, low=1e-6, high=1e6)
    Traceback (most recent call last):
    ...
    hetflow.taskgraph.errors.CostError: speed of worker 'w' is 1e-09; it must be between 1e-06 and 1e+06
    """
    bound = "> 0" if positive else ">= 0"
    if isinstance(value, bool):
        raise CostError(f"{what} is {value!r}; it must be a number, not a boolean")
    if not isinstance(value, numbers.Real):
        raise CostError(f"{what} is {brief(value)}; it must be a finite number {bound}")
    try:
        number = float(value)
    except OverflowError:  # an int beyond float range
        raise CostError(f"{what} is an integer of about {int(value).bit_length() * 0.30103:.0f} digits; "
                        "it is too large") from None
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        raise CostError(f"{what} is {number!r}; it must be a finite number {bound}")
    too_small = low is not None and number < low and (positive or number != 0)
    if too_small or (high is not None and number > high):
        zero = "" if positive or low is None else "0 or "
        limits = f"between {zero}{low:g} and {high:g}" if low is not None else f"at most {high:g}"
        raise CostError(f"{what} is {number!r}; it must be {limits}")
    return number


class TaskGraph:
    """A validated DAG of tasks with per-device-class costs and edge bytes.

    Parameters
    ----------
    G : networkx.DiGraph, optional
        Graph whose nodes carry ``cost`` dicts and whose edges carry ``bytes``. It is used as is (not
        copied); attributes are normalised to floats in place.
    name : str, optional
        Graph name, stored in ``G.graph["name"]``.
    validate : bool
        Check costs, bytes and acyclicity now (default). Builders that add tasks one by one pass False
        and call :meth:`validate` at the end.

    Examples
    --------
    >>> g = TaskGraph(name="tiny")
    >>> g.add_task("pre", {"cpu": 2.0}, kind="preprocess")
    >>> g.add_task("emb", {"cpu": 12.0, "gpu": 0.6}, kind="features")
    >>> g.add_edge("pre", "emb", bytes=8e6)
    >>> g.validate().tasks
    ['pre', 'emb']
    >>> g.cost("emb")["gpu"], g.bytes("pre", "emb")
    (0.6, 8000000.0)
    """

    source: str | None = None  # the file it was loaded from (absolute path; None when built in Python)

    def __init__(self, G: nx.DiGraph | None = None, *, name: str | None = None, validate: bool = True):
        if G is None:
            G = nx.DiGraph()
        if not isinstance(G, nx.DiGraph) or G.is_multigraph():
            raise FormatError("a task graph must be a networkx DiGraph (not a multigraph)")
        self.G = G
        if name is not None:
            G.graph["name"] = name
        if validate:
            self.validate()

    # -- building -------------------------------------------------------------------------------
    def add_task(self, task: Task, cost: Mapping[str, float], kind: str | None = None, **attrs: Any) -> None:
        """Add a task with its cost per device class (seconds at speed 1)."""
        attrs["cost"] = dict(cost)
        if kind is not None:
            attrs["kind"] = kind
        self.G.add_node(task, **attrs)
        self._invalidate()

    def add_edge(self, parent: Task, child: Task, bytes: float = 0.0) -> None:  # noqa: A002
        """Add a dependency: ``child`` reads ``bytes`` bytes produced by ``parent``."""
        for t in (parent, child):
            if t not in self.G:
                raise FormatError(f"edge {parent!r} -> {child!r} names unknown task {t!r}")
        self.G.add_edge(parent, child, bytes=bytes)
        self._invalidate()

    def _invalidate(self) -> None:
        self.__dict__.pop("tasks", None)

    # -- validation -----------------------------------------------------------------------------
    def validate(self) -> TaskGraph:
        """Check the graph and normalise its numbers; return ``self``.

        Raises
        ------
        CycleError
            The graph has a cycle (the message lists it).
        CostError
            A cost or edge size is negative, NaN, infinite or not a number.
        DeviceError
            A task has no cost for any device class, or a device class name is not a non-empty string.
        """
        G = self.G
        for t, data in G.nodes(data=True):
            cost = data.get("cost")
            if not isinstance(cost, Mapping) or not cost:
                raise DeviceError(f"task {t!r} has no cost for any device class")
            clean = {}
            for device, seconds in cost.items():
                if not isinstance(device, str) or not device:
                    raise DeviceError(f"task {t!r} names device class {device!r}; it must be a non-empty string")
                clean[device] = check_number(seconds, f"cost of task {t!r} on {device!r}", high=MAX_COST)
            data["cost"] = clean
        for u, v, data in G.edges(data=True):
            data["bytes"] = check_number(data.get("bytes", 0.0), f"bytes on edge {u!r} -> {v!r}", high=MAX_BYTES)
        self._invalidate()
        if not nx.is_directed_acyclic_graph(G):
            cycle = nx.find_cycle(G)
            path = " -> ".join(repr(u) for u, _ in cycle) + f" -> {cycle[0][0]!r}"
            raise CycleError(f"task graph has a cycle: {path}")
        return self

    # -- queries --------------------------------------------------------------------------------
    @cached_property
    def tasks(self) -> list[Task]:
        """Tasks in a deterministic topological order (breadth-first from the sources, in insertion order)."""
        # Kahn's algorithm with a FIFO queue seeded in insertion order: deterministic and linear
        G = self.G
        missing = {t: d for t, d in G.in_degree()}
        queue = deque(t for t, d in missing.items() if d == 0)
        order = []
        while queue:
            t = queue.popleft()
            order.append(t)
            for child in G._succ[t]:
                missing[child] -= 1
                if missing[child] == 0:
                    queue.append(child)
        if len(order) != len(missing):
            raise CycleError("task graph has a cycle")  # validate() names it
        return order

    @property
    def name(self) -> str:
        return str(self.G.graph.get("name", "graph"))

    def cost(self, task: Task) -> dict[str, float]:
        """Cost of ``task`` per device class (seconds at speed 1)."""
        return self.G.nodes[task]["cost"]

    def kind(self, task: Task) -> str:
        """The task's ``kind`` label, or ``"task"`` when it has none."""
        return str(self.G.nodes[task].get("kind", "task"))

    def bytes(self, parent: Task, child: Task) -> float:
        """Bytes the child reads from the parent."""
        return float(self.G.edges[parent, child].get("bytes", 0.0))

    def parents(self, task: Task) -> list[Task]:
        return list(self.G.predecessors(task))

    def children(self, task: Task) -> list[Task]:
        return list(self.G.successors(task))

    @property
    def sources(self) -> list[Task]:
        return [t for t in self.tasks if self.G.in_degree(t) == 0]

    @property
    def sinks(self) -> list[Task]:
        return [t for t in self.tasks if self.G.out_degree(t) == 0]

    @property
    def device_classes(self) -> set[str]:
        """Every device class named by some task's cost."""
        return {d for _, c in self.G.nodes(data="cost") for d in c}

    def subgraph(self, tasks: Iterable[Task]) -> TaskGraph:
        """A new graph (copied attributes) induced on ``tasks``."""
        return TaskGraph(self.G.subgraph(list(tasks)).copy(), validate=False)

    def __len__(self) -> int:
        return self.G.number_of_nodes()

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks)

    def __contains__(self, task: object) -> bool:
        return task in self.G

    def __repr__(self) -> str:
        return f"TaskGraph({self.name!r}, tasks={len(self)}, edges={self.G.number_of_edges()})"

    # -- files ----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """networkx node-link data with the edge list under ``"edges"`` (DESIGN.md's format)."""
        from hetflow.taskgraph.io import graph_to_dict

        return graph_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskGraph:
        from hetflow.taskgraph.io import graph_from_dict

        return graph_from_dict(data)

    def save(self, path: str) -> None:
        from hetflow.taskgraph.io import save_graph

        save_graph(self, path)

    @classmethod
    def load(cls, path: str) -> TaskGraph:
        """Load a node-link JSON graph or a WfCommons WfFormat file (detected by its ``"workflow"`` key)."""
        from hetflow.taskgraph.io import load_graph

        return load_graph(path)
