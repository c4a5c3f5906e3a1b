"""What a graph task runs: a registry of *ops* by name.

A task node may carry ``op`` — a registered name, or (from Python) any function, which Dask ships to the
workers with its own serialisation — and ``params`` (a JSON-able dict). The executor calls::

    fn(*parent_results, **params, **context)

with the parents' results in the order of ``TaskGraph.parents(task)`` and, when the function accepts them,
the keywords ``device`` (the device class of the worker it runs on, ``"gpu"`` or ``"cpu"``), ``worker``
(the planned worker's name) and ``task`` (the task id). Ops must be idempotent: Dask may run a task again
after a worker dies. A task without ``op`` runs :func:`emulate`.

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
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import networkx as nx
from hetflow.taskgraph import TaskGraph

__all__ = [
    "register_op",
    "resolve_op",
    "call_op",
    "emulate",
    "emulated",
    "reference_results",
    "missing_ops",
    "UnknownOp",
    "OPS",
]

OPS: dict[str, Callable[..., Any]] = {}

# Modules that register ops when imported, by op-name prefix.
_PROVIDERS = {"llm.": "hetflow.flows.llm.ops"}


def register_op(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering ``fn`` under ``name``."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        OPS[name] = fn
        return fn

    return deco


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
    G = nx.DiGraph(**graph.G.graph)
    for t, data in graph.G.nodes(data=True):
        G.add_node(t, **{k: v for k, v in data.items() if k not in ("op", "params")})
    for v in graph.G:  # edges child by child: keeps each task's parent order (the order of its inputs)
        for u, data in graph.G.pred[v].items():
            G.add_edge(u, v, **data)
    return TaskGraph(G, validate=False)


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


def missing_ops(names: Sequence[str]) -> list[str]:
    """The op names among ``names`` that this process cannot resolve (run on each worker before a run)."""
    missing = []
    for name in names:
        try:
            resolve_op(name)
        except UnknownOp:
            missing.append(name)
    return missing
