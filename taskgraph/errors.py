"""Errors raised on bad input.

Every error carries a one-line message naming the problem, so the CLI can print it as is and exit 2.
"""

from __future__ import annotations

__all__ = [
    "brief",
    "InvalidInput",
    "CycleError",
    "CostError",
    "DeviceError",
    "ClusterError",
    "FormatError",
]


MAX_MESSAGE = 400  # characters; a value quoted from an untrusted file can be any size


def brief(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to about ``limit`` characters, for quoting untrusted values in a one-line message.

    Examples
    --------
    >>> brief("a" * 100, limit=10)
    "'aaaaaaaa...(102 characters)"
    >>> brief([1, 2])
    '[1, 2]'
    """
    try:
        text = repr(value)
    except (RecursionError, ValueError):  # deeply nested, or an int too long for str()
        return f"<{type(value).__name__}>"
    return text if len(text) <= limit else f"{text[: limit - 1]}...({len(text)} characters)"


class InvalidInput(ValueError):
    """Base class of every bad-input error in hetflow (a ``ValueError``); the message is one line (whitespace
    collapsed) of at most ``MAX_MESSAGE`` characters.

    Examples
    --------
    >>> from hetflow.taskgraph import Cluster
    >>> try:
    ...     Cluster([])
    ... except InvalidInput as e:  # catches every bad-input error of hetflow
    ...     print(type(e).__name__, "-", e)
    ClusterError - the cluster has no workers
    >>> str(InvalidInput("a message   that wraps"))  # whitespace runs become one space
    'a message that wraps'
    """

    def __init__(self, message: str):
        text = " ".join(str(message).split())
        if len(text) > MAX_MESSAGE:
            text = text[: MAX_MESSAGE - 3] + "..."
        super().__init__(text)


class CycleError(InvalidInput):
    """The task graph has a cycle; the message names it.

    Examples
    --------
    >>> from hetflow.taskgraph import TaskGraph
    >>> g = TaskGraph(name="loop", validate=False)
    >>> g.add_task("a", {"cpu": 1.0}); g.add_task("b", {"cpu": 1.0})
    >>> g.add_edge("a", "b"); g.add_edge("b", "a")
    >>> g.validate()
    Traceback (most recent call last):
    ...
    hetflow.taskgraph.errors.CycleError: task graph has a cycle: 'a' -> 'b' -> 'a'
    """


class CostError(InvalidInput):
    """A cost, speed, size, bandwidth or latency is negative, NaN or infinite.

    Examples
    --------
    >>> from hetflow.taskgraph import TaskGraph
    >>> g = TaskGraph(name="g", validate=False); g.add_task("a", {"cpu": -1.0})
    >>> g.validate()  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    hetflow.taskgraph.errors.CostError: ...
    """


class DeviceError(InvalidInput):
    """A task names an unknown device class, or no worker can run it.

    Examples
    --------
    >>> from hetflow.taskgraph import Cluster, TaskGraph, check_runnable
    >>> g = TaskGraph(name="g"); g.add_task("embed", {"gpu": 1.0})
    >>> check_runnable(g, Cluster.local(gpus=0, cpus=1))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    hetflow.taskgraph.errors.DeviceError: task 'embed' cannot run on any worker: ...
    """


class ClusterError(InvalidInput):
    """The cluster is malformed: duplicate worker names, links to unknown workers, no workers.

    Examples
    --------
    >>> from hetflow.taskgraph import Cluster
    >>> Cluster.from_dict({"workers": [{"name": "w", "device": "cpu"}, {"name": "w", "device": "gpu"}]})
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    hetflow.taskgraph.errors.ClusterError: ...
    """


class FormatError(InvalidInput):
    """A file is not valid JSON or not in one of the formats of DESIGN.md.

    Examples
    --------
    >>> from hetflow.taskgraph import graph_from_dict
    >>> graph_from_dict({"edges": []})
    Traceback (most recent call last):
    ...
    hetflow.taskgraph.errors.FormatError: task graph JSON must be an object with a 'nodes' list
    """
