"""Dask collections as hetflow task graphs: one graph task per Dask task of the optimised graph.

:func:`from_collections` does what ``dask.compute`` does before it hands a graph to a scheduler — find
the collections among the arguments, build their graph, optimise it (blockwise fusion, culling) and add
the finalize step — and then describes the result as a :class:`~hetflow.taskgraph.TaskGraph`:

* **tasks** are the Dask keys of the optimised graph (tuples such as ``('sum-3f2a…', 0, 1)`` stay tuples);
  their ``kind`` is Dask's key prefix (:func:`dask.utils.key_split`), so costs learned for ``"sum"`` on one
  run plan the next run's ``"sum"`` tasks;
* **edges** are Dask's dependencies; keys that a task depends on but the graph does not compute (results
  the user persisted, futures) are *external*: nothing plans or recomputes them, the scheduler already has
  them;
* **device classes** come from the user's Dask annotations, read before optimisation (Dask's fusion and
  dask-dataframe's query planning drop them, hetflow carries them onto the fused tasks):
  ``dask.annotate(resources={"GPU": 1})`` means gpu-only, ``resources={"CPU": 1}`` cpu-only, and
  ``dask.annotate(hetflow={"cost": {"cpu": 2.0, "gpu": 0.1}})`` (or :func:`annotate`) gives per-class
  costs — a class it leaves out cannot run the task.
* **fusion respects stages**: Dask fuses linear chains (``bag.map_partitions(f).map_partitions(g)``) into
  one task whatever their annotations, so a CPU stage and the GPU stage after it would run as one task on
  one worker. hetflow splits such a fused chain where the annotations change — each run of equally
  annotated tasks stays one fused task — so the planner can put the stages on different workers. Other
  fused tasks take the strictest annotation among the tasks fused into them.
* **costs** of tasks without a cost annotation are placeholders (:data:`UNKNOWN_COST` on every allowed
  class, marked ``cost_source="unknown"``); the caller fills them from a cost store
  (:class:`~hetflow.taskgraph.coststore.CostStore`) or calibrates.

The Dask task objects themselves (``dask.task_spec.GraphNode``: the user's function and arguments, shipped
by Dask's own serialisation) stay in :attr:`DaskWork.nodes`; the executor submits them unchanged, pinned to
the planned worker.

Examples
--------
>>> import dask
>>> @dask.delayed
... def inc(x):
...     return x + 1
>>> with annotate(cost={"gpu": 0.5}):
...     y = inc(1)
>>> work = from_collections(inc(y))
>>> sorted(work.graph.kind(t) for t in work.graph.tasks)
['inc', 'inc']
>>> work.graph.cost(next(t for t in work.graph.tasks if work.graph.cost(t) == {"gpu": 0.5}))
{'gpu': 0.5}
>>> len(work.outputs), work.external
(1, set())
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Collection, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
from hetflow.taskgraph.errors import CycleError, DeviceError, FormatError
from hetflow.taskgraph.graph import TaskGraph, check_number

__all__ = [
    "DaskWork", "from_collections", "annotate", "split_fused_stages", "UNKNOWN_COST", "DEVICE_CLASSES", "task_devices"
]

UNKNOWN_COST = 0.01  # placeholder seconds for a task nobody has measured yet (replaced before planning)
DEVICE_CLASSES = ("cpu", "gpu")  # what an unannotated Dask task may run on
_RESOURCE_CLASS = {"GPU": "gpu", "CPU": "cpu"}  # Dask resource -> the device class it restricts a task to


@dataclass
class DaskWork:
    """Dask collections planned as a :class:`TaskGraph`.

    Attributes
    ----------
    graph : TaskGraph
        One task per Dask key of the optimised graph; ``kind`` = key prefix; ``cost_source`` is
        ``"annotation"`` or ``"unknown"`` (placeholder costs).
    nodes : dict
        Dask key -> the ``dask.task_spec.GraphNode`` to submit.
    outputs : list
        Keys whose results ``dask.compute`` would return, in order (one per collection).
    repack : callable
        ``repack(results)`` turns the output values into ``dask.compute``'s return value.
    external : set
        Keys the graph reads but does not compute (persisted results, futures).
    annotated : dict
        Dask key -> the device classes an annotation allows (only annotated tasks).

    Examples
    --------
    >>> import dask
    >>> with annotate(device="gpu"):
    ...     x = dask.delayed(abs)(-2)
    >>> work = from_collections(dask.delayed(max)(x, 1))
    >>> len(work.graph), list(work.annotated.values()), work.repack([2])  # repack: as dask.compute returns
    (2, [('gpu',)], (2,))
    """

    graph: TaskGraph
    nodes: dict[Hashable, Any]
    outputs: list[Hashable]
    repack: Any
    external: set[Hashable] = field(default_factory=set)
    annotated: dict[Hashable, tuple[str, ...]] = field(default_factory=dict)


@contextlib.contextmanager
def annotate(*, cost: Mapping[str, float] | None = None, device: str | None = None) -> Iterator[None]:
    """Annotate the Dask tasks built inside the block for hetflow (a ``dask.annotate`` underneath).

    Parameters
    ----------
    cost : mapping device class -> seconds, optional
        Per-class cost of each task (at speed 1); classes left out cannot run it.
    device : str, optional
        Restrict the tasks to one device class (``"gpu"`` or ``"cpu"``) without giving costs.

    Examples
    --------
    >>> import dask
    >>> with annotate(device="gpu"):
    ...     x = dask.delayed(sum)([1, 2])
    >>> [t for t, d in from_collections(x).annotated.items()]  # doctest: +ELLIPSIS
    ['sum-...']
    """
    import dask

    note: dict[str, Any] = {}
    if cost is not None:
        note["cost"] = _check_cost(cost, "hetflow.annotate(cost=...)")
    if device is not None:
        if not isinstance(device, str) or not device:
            raise DeviceError(f"hetflow.annotate(device={device!r}): a device class is a non-empty string")
        note["device"] = device
    with dask.annotate(hetflow=note):
        yield


def _check_cost(cost: Any, where: str) -> dict[str, float]:
    if not isinstance(cost, Mapping) or not cost:
        raise DeviceError(f"{where} must map device classes to seconds, got {cost!r}")
    return {str(d): check_number(s, f"{where} for {d!r}") for d, s in cost.items()}


def task_devices(annotation: Mapping[str, Any]) -> tuple[tuple[str, ...] | None, dict[str, float] | None]:
    """The device classes and costs one task's Dask annotations allow (``None``: no restriction / no costs).

    Examples
    --------
    >>> task_devices({"resources": {"GPU": 1}})
    (('gpu',), None)
    >>> task_devices({"hetflow": {"cost": {"cpu": 2.0, "gpu": 0.5}}})
    (('cpu', 'gpu'), {'cpu': 2.0, 'gpu': 0.5})
    >>> task_devices({"priority": 3})
    (None, None)
    """
    devices: set[str] | None = None
    resources = annotation.get("resources") or {}
    if isinstance(resources, Mapping):
        restricted = {_RESOURCE_CLASS[r] for r, amount in resources.items() if r in _RESOURCE_CLASS and amount}
        if restricted:
            devices = restricted
    note = annotation.get("hetflow") or {}
    cost = None
    if isinstance(note, Mapping):
        if note.get("device"):
            devices = {note["device"]} if devices is None else devices & {note["device"]}
        if note.get("cost"):
            cost = _check_cost(note["cost"], "the hetflow cost annotation")
            devices = set(cost) if devices is None else devices & set(cost)
    if devices is not None and not devices:
        raise DeviceError(f"the annotations {dict(annotation)!r} leave no device class to run on")
    allowed = None if devices is None else tuple(sorted(devices))
    if cost is not None and allowed is not None:
        cost = {d: cost[d] for d in allowed}
    return allowed, cost


def _collect(args: tuple, traverse: bool) -> tuple[list[Any], Any]:
    from dask.base import unpack_collections

    return unpack_collections(*args, traverse=traverse)


def _final_expr(collections: list[Any], optimize_graph: bool) -> Any:
    from dask._expr import FinalizeCompute  # what dask.compute runs (dask >= 2025)
    from dask.base import collections_to_expr

    return FinalizeCompute(collections_to_expr(collections, optimize_graph)).optimize()


def _inner_keys(node: Any) -> Iterator[Hashable]:
    """Keys of the tasks fused into ``node`` (the subgraph of ``_execute_subgraph``), recursively."""
    from dask.task_spec import GraphNode

    stack = [node]
    while stack:
        n = stack.pop()
        for arg in getattr(n, "args", ()) or ():
            if isinstance(arg, Mapping):
                for k, inner in arg.items():
                    if isinstance(inner, GraphNode):
                        yield k
                        stack.append(inner)
            else:
                value = getattr(arg, "value", None)  # a DataNode wrapping the subgraph dict
                if isinstance(value, Mapping):
                    for k, inner in value.items():
                        if isinstance(inner, GraphNode):
                            yield k
                            stack.append(inner)


def _annotated(collections: list[Any]) -> bool:
    """Whether any layer of the collections' (high-level) graphs carries annotations (cheap: no tasks built)."""
    for c in collections:
        if hasattr(c, "expr"):  # dask-expr collections (dataframes): Dask's query planning drops annotations
            continue
        layers = getattr(c.__dask_graph__(), "layers", None)
        if layers is None or any(getattr(layer, "annotations", None) for layer in layers.values()):
            return True  # a plain dict graph: cannot tell cheaply, look
    return False


def _annotations_by_key(expr: Any) -> dict[Hashable, dict[str, Any]]:
    by_key: dict[Hashable, dict[str, Any]] = {}
    for kind, values in (expr.__dask_annotations__() or {}).items():
        for key, value in values.items():
            by_key.setdefault(key, {})[kind] = value
    return by_key


def from_collections(
    *args: Any, optimize_graph: bool = True, traverse: bool = True, name: str = "dask"
) -> DaskWork:
    """Build the graph ``dask.compute(*args)`` would run, as a :class:`DaskWork`.

    Parameters
    ----------
    *args
        Dask collections (array, dataframe, bag, delayed, anything with ``__dask_graph__``), possibly inside
        lists/tuples/dicts like ``dask.compute`` accepts.
    optimize_graph : bool
        Optimise as ``dask.compute`` does (default).
    traverse : bool
        Look for collections inside Python containers (as ``dask.compute``).
    name : str
        The graph's name.

    Raises
    ------
    FormatError
        Nothing to compute (no collection among ``args``).
    CycleError
        The Dask graph has a cycle.
    DeviceError
        An annotation leaves a task no device class.

    Examples
    --------
    >>> import dask.bag as db
    >>> work = from_collections(db.from_sequence(range(6), npartitions=3).map(lambda x: x * 2).sum())
    >>> len(work.outputs), len(work.graph) > 3
    (1, True)
    """
    from dask.task_spec import GraphNode
    from dask.utils import key_split

    collections, repack = _collect(args, traverse)
    if not collections:
        raise FormatError("nothing to compute: no Dask collection among the arguments")
    expr = _final_expr(collections, optimize_graph)
    dsk = dict(expr.__dask_graph__())
    from dask._task_spec import convert_legacy_graph

    if any(not isinstance(v, GraphNode) for v in dsk.values()):
        dsk = convert_legacy_graph(dsk)
    outputs = list(_flatten(expr.__dask_keys__()))
    # annotations as the user wrote them (before fusion drops them) plus what survived optimisation
    notes = _annotations_by_key(_final_expr(collections, False)) if optimize_graph and _annotated(collections) else {}
    for key, value in _annotations_by_key(expr).items():
        notes.setdefault(key, {}).update(value)
    if notes:
        dsk = split_fused_stages(dsk, notes, outputs)

    G = nx.DiGraph(name=name)
    annotated: dict[Hashable, tuple[str, ...]] = {}
    external: set[Hashable] = set()
    for key, node in dsk.items():
        devices, cost = None, None
        for k in (key, *_inner_keys(node)):
            if k in notes:
                d, c = task_devices(notes[k])
                if d is not None:
                    devices = d if devices is None else tuple(sorted(set(devices) & set(d)))
                    if not devices:
                        raise DeviceError(f"Dask task {key!r} fuses tasks annotated for different device classes")
                cost = c if c is not None else cost
        attrs: dict[str, Any] = {"kind": key_split(key)}
        if cost is not None:
            attrs["cost"], attrs["cost_source"] = dict(cost), "annotation"
        else:
            attrs["cost"], attrs["cost_source"] = dict.fromkeys(devices or DEVICE_CLASSES, UNKNOWN_COST), "unknown"
        if devices is not None:
            annotated[key] = devices
        G.add_node(key, **attrs)
    for key, node in dsk.items():
        for dep in sorted(node.dependencies, key=repr):
            if dep in dsk:
                G.add_edge(dep, key, bytes=0.0)
            else:
                external.add(dep)
    try:
        graph = TaskGraph(G, validate=True)
    except CycleError as e:
        raise CycleError(f"the Dask graph has a cycle: {str(e).split(': ', 1)[-1]}") from None
    return DaskWork(graph, dsk, outputs, repack, external, annotated)


def _stage(notes: Mapping[Hashable, Mapping[str, Any]], key: Hashable) -> str:
    """What an annotation asks of one task, comparable between tasks (``""``: nothing)."""
    if key not in notes:
        return ""
    devices, cost = task_devices(notes[key])
    return repr((devices, sorted((cost or {}).items())))


def _fused_chain(node: Any) -> list[tuple[Hashable, Any]] | None:
    """The inner ``(key, task)`` pairs of a task Dask fused from a linear chain, first to last (None: not one)."""
    from dask._task_spec import _execute_subgraph

    if getattr(node, "func", None) is not _execute_subgraph or not node.args:
        return None
    inner = node.args[0]
    inner = getattr(inner, "value", inner)  # the subgraph dict, possibly wrapped in a DataNode
    if not isinstance(inner, Mapping) or len(inner) < 2:
        return None
    parent: dict[Hashable, Hashable] = {}
    for k, task in inner.items():
        inside = [d for d in task.dependencies if d in inner]
        if len(inside) > 1 or (inside and inside[0] in parent.values()):
            return None  # a task with two inner inputs, or an inner result read twice: not a chain
        if inside:
            parent[k] = inside[0]
    heads = [k for k in inner if k not in parent]
    child = {p: c for c, p in parent.items()}
    chain: list[tuple[Hashable, Any]] = []
    k = heads[0] if len(heads) == 1 else None
    while k is not None:
        chain.append((k, inner[k]))
        k = child.get(k)
    return chain if len(chain) == len(inner) else None


def split_fused_stages(
    dsk: Mapping[Hashable, Any], notes: Mapping[Hashable, Mapping[str, Any]], outputs: Collection[Hashable] = ()
) -> dict:
    """Split Dask's fused linear chains where the tasks' annotations change (see the module docstring).

    Each run of consecutive, equally annotated tasks becomes one task (fused again if it has several),
    keyed by its last inner task — the key the next run reads, and for the last run the key Dask aliased
    to the fused task (the fused key, if anything reads it or it is one of ``outputs``, then aliases it) —
    so nothing outside the chain changes and each task's kind is its own stage's. Other tasks are returned
    as they are.

    Examples
    --------
    >>> import dask, dask.bag as db
    >>> words = db.from_sequence(["a b", "c"], npartitions=2).map(str.split)
    >>> with dask.annotate(resources={"GPU": 1}):
    ...     counts = words.map(len)
    >>> work = from_collections(counts)  # Dask fuses from_sequence -> split -> len into one task
    >>> kinds = {work.graph.kind(t) for t in work.graph.tasks}  # split into a cpu stage and a gpu stage
    >>> "split" in kinds and "len" in kinds
    True
    >>> sorted(work.annotated.values())
    [('gpu',), ('gpu',)]
    """
    from dask._task_spec import Alias

    split: dict[Hashable, Any] = {}
    dropped: set[Hashable] = set()
    readers: Counter[Hashable] | None = None  # key -> how many tasks read it (counted once, when first needed)
    for key, node in dsk.items():
        chain = _fused_chain(node)
        stages = [_stage(notes, k) for k, _ in chain] if chain else []
        if len(set(stages)) < 2:
            continue
        runs: list[list[tuple[Hashable, Any]]] = [[chain[0]]]
        for prev, pair, stage in zip(stages, chain[1:], stages[1:]):
            if stage == prev:
                runs[-1].append(pair)
            else:
                runs.append([pair])
        for run in runs[:-1]:
            split[run[-1][0]] = _fuse(run, run[-1][0])
        last = runs[-1][-1][0]
        if last != key and isinstance(dsk.get(last), Alias):  # Dask renamed the chain and aliased its end
            split[last] = _fuse(runs[-1], last)
            if readers is None:
                readers = Counter(d for n in dsk.values() for d in n.dependencies)
            if key in outputs or readers[key] > (key in dsk[last].dependencies):  # more than the alias at last
                split[key] = Alias(key, target=last)  # someone reads the fused key
            else:
                dropped.add(key)
        else:
            split[key] = _fuse(runs[-1], key)
    return {key: split.get(key, node) for key, node in dsk.items() if key not in dropped} | split


def _fuse(run: list[tuple[Hashable, Any]], key: Hashable) -> Any:
    """One task computing the chain ``run`` of ``(inner key, task)`` pairs, as ``Task.fuse`` builds it."""
    from dask._task_spec import Task, TaskRef, _execute_subgraph

    if len(run) == 1:
        return run[0][1].substitute({}, key=key)
    inner = dict(run)
    external = tuple(sorted({d for t in inner.values() for d in t.dependencies} - set(inner), key=hash))
    return Task(key, _execute_subgraph, inner, run[-1][0], external, *(TaskRef(k) for k in external),
                _data_producer=any(t.data_producer for t in inner.values()))


def _flatten(keys: Any) -> Iterator[Hashable]:
    if isinstance(keys, list):
        for k in keys:
            yield from _flatten(k)
    else:
        yield keys
