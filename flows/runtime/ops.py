"""What a graph task runs: a registry of *ops* by name.

A task node may carry ``op`` — a registered name, or (from Python) any function, which Dask ships to the
workers with its own serialisation — and ``params`` (a JSON-able dict). The executor calls::

    fn(*parent_results, **params, **context)

with the parents' results in the order of ``TaskGraph.parents(task)`` and, when the function accepts them,
the keywords ``device`` (the device class of the worker it runs on, ``"gpu"`` or ``"cpu"``), ``worker``
(the planned worker's name) and ``task`` (the task id). Ops must be idempotent: Dask may run a task again
after a worker dies. A task without ``op`` runs :func:`emulate`.

An op whose params name files declares them when it is registered (``reads=``/``writes=``, kept in
:data:`READS` and :data:`WRITES`): :func:`hetflow.flows.runtime.trust.confine_paths` then checks them against
the run's data folders and output folder before any task runs, as it does for the built-in ``llm.preprocess``
(reads ``corpus``) and ``llm.merge`` (writes ``out``).

Examples
--------
>>> @register_op("demo.add")
... def add(*xs, offset=0):
...     return sum(xs) + offset
>>> call_op("demo.add", [1, 2], {"offset": 10}, device="cpu", worker="cpu0", task="t")
13
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import time
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any

import networkx as nx
from hetflow.taskgraph import TaskGraph

__all__ = [
    "register_op",
    "resolve_op",
    "call_op",
    "emulate",
    "emulated",
    "with_params",
    "reference_results",
    "missing_ops",
    "declared_paths",
    "UnknownOp",
    "OPS",
    "READS",
    "WRITES",
]

OPS: dict[str, Callable[..., Any]] = {}
# op name -> {param that names a file the op reads (writes): values of that param that name no file}
READS: dict[str, dict[str, frozenset[str]]] = {}
WRITES: dict[str, dict[str, frozenset[str]]] = {}

# Modules that register ops when imported, by op-name prefix.
_PROVIDERS = {"llm.": "hetflow.flows.llm.ops"}


def register_op(
    name: str,
    *,
    reads: Iterable[str] | Mapping[str, Iterable[str]] = (),
    writes: Iterable[str] | Mapping[str, Iterable[str]] = (),
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering ``fn`` under ``name``.

    ``reads``/``writes`` name the params that are paths of files the op reads/writes, optionally mapped to
    the values of that param that name no file (``{"corpus": ["bundled"]}``); see :data:`READS`.
    """
    declared = {"reads": _path_params(reads), "writes": _path_params(writes)}

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        OPS[name] = fn
        for table, params in ((READS, declared["reads"]), (WRITES, declared["writes"])):
            if params:
                table[name] = params
            else:
                table.pop(name, None)
        return fn

    return deco


def _path_params(params: Iterable[str] | Mapping[str, Iterable[str]]) -> dict[str, frozenset[str]]:
    if isinstance(params, str):
        params = [params]
    if isinstance(params, Mapping):
        return {str(p): frozenset(map(str, names)) for p, names in params.items()}
    return {str(p): frozenset() for p in params}


class UnknownOp(LookupError):
    """An op name that no registered function (and no provider module) answers to, here."""


def resolve_op(op: str | Callable[..., Any] | None) -> Callable[..., Any]:
    """The function for ``op``: a callable is itself, a name is looked up (``None`` means :func:`emulate`).

    Raises
    ------
    UnknownOp
        ``op`` is a name nothing registered in this process.
    """
    if op is None:
        return emulate
    if callable(op):
        return op
    if op not in OPS:
        for prefix, module in _PROVIDERS.items():
            if op.startswith(prefix):
                importlib.import_module(module)
    if op not in OPS:
        raise UnknownOp(
            f"unknown op {op!r} (registered: {', '.join(sorted(OPS)) or 'none'}); register it with "
            "register_op in a module the Dask workers import (e.g. client.upload_file), or make the task's "
            "op the function itself"
        )
    return OPS[op]


def call_op(
    op: str | Callable[..., Any] | None, inputs: Sequence[Any], params: Mapping[str, Any] | None, **context: Any
) -> Any:
    """Run ``op`` (a registered name or a function) on ``inputs`` with ``params`` plus the ``context``
    keywords it accepts."""
    fn = resolve_op(op)
    kwargs = dict(params or {})
    signature = inspect.signature(fn)
    takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    for key, value in context.items():
        if takes_any or key in signature.parameters:
            kwargs.setdefault(key, value)
    return fn(*inputs, **kwargs)


@register_op("emulate")
def emulate(*inputs: Any, seconds: float = 0.0, task: Any = None, **_: Any) -> str:
    """Sleep ``seconds`` (the planned duration, scaled) and return a digest of the task and its inputs.

    The digest makes merged results checkable: the same graph gives the same sink values whatever the
    placement, retries or re-plans.
    """
    if seconds > 0:
        time.sleep(seconds)
    h = hashlib.sha256(repr(task).encode())
    for x in inputs:
        h.update(repr(x).encode())
    return h.hexdigest()[:16]


def emulated(graph: TaskGraph) -> TaskGraph:
    """A copy of ``graph`` without ``op``/``params``: every task sleeps its planned duration (``emulate``)."""
    return _copy(graph, lambda t, data: {k: v for k, v in data.items() if k not in ("op", "params")})


def with_params(graph: TaskGraph, params: Mapping[Hashable, Mapping[str, Any]]) -> TaskGraph:
    """A copy of ``graph`` in which each task of ``params`` has those params (the others keep theirs)."""
    return _copy(graph, lambda t, data: {**data, "params": dict(params[t])} if t in params else dict(data))


def _copy(graph: TaskGraph, node_data: Callable[[Hashable, dict], dict]) -> TaskGraph:
    G = nx.DiGraph(**graph.G.graph)
    for t, data in graph.G.nodes(data=True):
        G.add_node(t, **node_data(t, data))
    for v in graph.G:  # edges child by child: keeps each task's parent order (the order of its inputs)
        for u, data in graph.G.pred[v].items():
            G.add_edge(u, v, **data)
    copy = TaskGraph(G, validate=False)
    copy.source = graph.source
    return copy


def reference_results(graph: TaskGraph) -> dict[Hashable, Any]:
    """Sink results of running every task in this process, in topological order, without Dask or sleeps.

    The fault-free reference for emulated graphs (``emulate`` digests do not depend on where or how long
    a task ran). Ops get ``device`` = the task's cheapest device class and ``worker="local"``.
    """
    values: dict[Hashable, Any] = {}
    for t in graph.tasks:
        data = graph.G.nodes[t]
        op, params = data.get("op"), dict(data.get("params") or {})
        if op is None:
            params = {"seconds": 0.0}
        cost = graph.cost(t)
        device = min(cost, key=cost.__getitem__)
        inputs = [values[q] for q in graph.parents(t)]
        values[t] = call_op(op, inputs, params, device=device, worker="local", task=t)
    return {s: values[s] for s in graph.sinks}


def declared_paths(names: Sequence[str]) -> dict[str, tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]]:
    """``{op: (reads, writes)}`` for the op names among ``names`` that declare path params here (run on the
    client and on each worker before a run: an op registered only on the workers declares its paths there)."""
    out = {}
    for name in names:
        try:
            resolve_op(name)
        except UnknownOp:
            continue
        if name in READS or name in WRITES:
            out[name] = (dict(READS.get(name, {})), dict(WRITES.get(name, {})))
    return out


def missing_ops(names: Sequence[str]) -> list[str]:
    """The op names among ``names`` that this process cannot resolve (run on each worker before a run)."""
    missing = []
    for name in names:
        try:
            resolve_op(name)
        except UnknownOp:
            missing.append(name)
    return missing
