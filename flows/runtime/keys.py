"""What travels between the executor and the Dask workers: the Dask key of a graph task and its task spec.

Import-light on purpose (standard library only): workers unpickle :class:`TaskSpec` and the progress
poller parses keys on every poll.

**Keys.** A graph task runs as the Dask key ``<kind>-<task>[-r<round>]-<tag>``: the task kind first (the
dashboard's task stream groups and colours by it), then ``str(task)``, the re-plan round (absent for round 0)
and a per-run tag. Inside each field ``%`` is written ``%25`` and ``-`` is written ``%2D``, so a field never
contains the separator and :func:`parse_key` takes every key :func:`format_key` makes apart again, whatever
the kind and the task id (hyphens as in the generators' ``gpu-friendly``, unicode, ints). Two tasks whose ids
print alike (``1`` and ``"1"``) get the same key; the executor refuses such graphs.

Examples
--------
>>> key = format_key("gpu-friendly", "t-1", "1f2e3d4c", round=2)
>>> key
'gpu%2Dfriendly-t%2D1-r2-1f2e3d4c'
>>> parse_key(key)
TaskKey(kind='gpu-friendly', task='t-1', round=2, tag='1f2e3d4c')
>>> parse_key(format_key("score", 7, "1f2e3d4c")).task   # the task id as text
'7'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Mapping
from typing import Any, NamedTuple

__all__ = ["TaskKey", "TaskSpec", "format_key", "parse_key", "is_task_key"]

SEPARATOR = "-"
_ESCAPED = re.compile(r"%(25|2D)")
_ROUND = re.compile(r"r([1-9][0-9]*)")


class TaskKey(NamedTuple):
    """The parts of a graph task's Dask key (:func:`parse_key`)."""

    kind: str
    task: str  # str(task id)
    round: int  # 0: the original plan; 1, 2, ...: re-plans after worker deaths
    tag: str  # names the run (PlanExecutor.tag)


class TaskSpec(NamedTuple):
    """What a graph task's Dask task is called with (the executor builds it, ``run_graph_task`` runs it).

    ``op`` is a registered op name (:mod:`hetflow.flows.runtime.ops`), a callable, or ``None`` for
    :func:`~hetflow.flows.runtime.ops.emulate`; ``params`` its keyword arguments. ``device`` and ``worker``
    are the planned worker's class and name, passed to ops that accept them. Of the Dask task's arguments
    after the spec, the first ``n_inputs`` are the parents' results (the rest only order the task). A failure
    is logged as a Dask event on ``topic`` and the worker waits ``retry_delay`` seconds before Dask retries.
    """

    task: Hashable
    op: str | Callable[..., Any] | None
    params: Mapping[str, Any]
    device: str
    worker: str
    n_inputs: int
    retry_delay: float
    topic: str


def _escape(text: str) -> str:
    return text.replace("%", "%25").replace(SEPARATOR, "%2D")


def _unescape(text: str) -> str:
    return _ESCAPED.sub(lambda m: "%" if m[1] == "25" else SEPARATOR, text)


def format_key(kind: str, task: Hashable, tag: str, round: int = 0) -> str:
    """The Dask key of ``task`` (of kind ``kind``) in re-plan round ``round`` of the run tagged ``tag``."""
    if isinstance(round, bool) or not isinstance(round, int) or round < 0:
        raise ValueError(f"round must be an integer >= 0, not {round!r}")
    fields = [_escape(str(kind)), _escape(str(task))]
    if round:
        fields.append(f"r{round}")
    fields.append(_escape(str(tag)))
    return SEPARATOR.join(fields)


def parse_key(key: str) -> TaskKey:
    """The parts of a key made by :func:`format_key`; ``ValueError`` for any other key."""
    fields = key.split(SEPARATOR) if isinstance(key, str) else []
    round_ = 0
    if len(fields) == 4 and (m := _ROUND.fullmatch(fields[2])):
        round_ = int(m[1])
        del fields[2]
    if len(fields) != 3:
        raise ValueError(f"{key!r} is not the Dask key of a hetflow graph task")
    kind, task, tag = (_unescape(f) for f in fields)
    return TaskKey(kind, task, round_, tag)


def is_task_key(key: Any) -> bool:
    """Whether ``key`` is the Dask key of a hetflow graph task."""
    try:
        parse_key(key)
    except ValueError:
        return False
    return True
