"""Where a graph's tasks may read and write files: a graph file is untrusted input.

An op declares which of its params are paths of files it reads or writes when it is registered
(``register_op(name, reads=..., writes=...)``, kept in :data:`hetflow.flows.runtime.ops.READS` and
:data:`~hetflow.flows.runtime.ops.WRITES`; the built-in ``llm.preprocess`` reads ``corpus`` and ``llm.merge``
writes ``out``). Before any task runs, :func:`confine_paths` checks every such param of every task:

* a path that is **read** must lie, once ``..`` and symbolic links are resolved (``os.path.realpath``),
  inside the folder of the graph file (``graph.source``, set by :func:`~hetflow.taskgraph.load_graph`; a
  graph built in Python has none) or one of the run's data folders, ``RunOptions.data_dirs`` (``hetflow
  run --data-dir``); a relative path is taken from the current folder;
* a path that is **written** must lie, resolved the same way, inside the run's output folder
  (``RunOptions.out_dir``); a relative path is taken from that folder. A run without an output folder
  writes nothing.

Anything else raises :class:`PathRefused` (an :class:`~hetflow.taskgraph.errors.InvalidInput`: one line
naming the task, the op, the parameter and the path). The accepted paths are handed to the ops resolved
(absolute, symbolic links followed), so a worker opens exactly the file that was checked, whatever its own
current folder. The check reads the file system of the process that starts the run: with a remote Dask
cluster the paths must mean the same files there (a shared file system). A link swapped between the check
and the task's open is not caught. Emulated runs run no op and are not checked.

Examples
--------
>>> import tempfile, pathlib
>>> from hetflow.flows.options import RunOptions
>>> from hetflow.taskgraph import TaskGraph
>>> data = pathlib.Path(tempfile.mkdtemp())
>>> g = TaskGraph(name="one")
>>> g.add_task("pre", {"cpu": 1.0}, op="llm.preprocess", params={"corpus": "/etc/passwd", "start": 0, "stop": 1})
>>> try:
...     confine_paths(g, RunOptions(data_dirs=[str(data)]))
... except PathRefused as e:
...     print(str(e).split(",")[0])
task 'pre' (op llm.preprocess) reads params.corpus='/etc/passwd'
>>> g.G.nodes["pre"]["params"]["corpus"] = str(data / "docs.txt")
>>> confined = confine_paths(g, RunOptions(data_dirs=[str(data)]))
>>> confined.G.nodes["pre"]["params"]["corpus"] == str(data.resolve() / "docs.txt")
True
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping
from typing import Any

from hetflow.flows.options import RunOptions
from hetflow.flows.runtime.ops import declared_paths, with_params
from hetflow.taskgraph import TaskGraph
from hetflow.taskgraph.errors import InvalidInput

__all__ = ["PathRefused", "confine_paths", "with_graph_folder", "op_names"]

Declared = Mapping[str, tuple[Mapping[str, frozenset[str]], Mapping[str, frozenset[str]]]]


class PathRefused(InvalidInput):
    """A task's file path lies outside the folders the run allows (module docstring)."""


def op_names(graph: TaskGraph) -> list[str]:
    """The op names (not functions) the graph's tasks use, sorted."""
    return sorted({op for _, op in graph.G.nodes(data="op") if isinstance(op, str)})


def confine_paths(graph: TaskGraph, options: RunOptions, declared: Declared | None = None) -> TaskGraph:
    """``graph`` with every declared path param resolved, or :class:`PathRefused` (module docstring).

    Parameters
    ----------
    graph : TaskGraph
    options : RunOptions
        ``data_dirs`` (read, besides the graph file's folder), ``out_dir`` (write); with ``emulate`` nothing
        is checked.
    declared : mapping, optional
        ``{op: (reads, writes)}`` (:func:`hetflow.flows.runtime.ops.declared_paths`) from the processes that
        will run the ops, merged with the declarations of this process.

    Returns
    -------
    TaskGraph
        ``graph`` itself when no param changes, else a copy with the resolved paths in ``params``.
    """
    if options.emulate:
        return graph
    names = op_names(graph)
    tables = {**declared_paths(names), **(declared or {})}
    if not tables:
        return graph
    read_roots = _read_roots(with_graph_folder(options, graph).data_dirs)
    write_root = os.path.realpath(options.out_dir) if options.out_dir is not None else None
    updates: dict[Hashable, dict[str, Any]] = {}
    for t, data in graph.G.nodes(data=True):
        op = data.get("op")
        if not isinstance(op, str) or op not in tables:
            continue
        reads, writes = tables[op]
        params = dict(data.get("params") or {})
        for name, value in params.items():
            verb = "reads" if name in reads else "writes" if name in writes else None
            if verb is None or (isinstance(value, str) and value in (reads if verb == "reads" else writes)[name]):
                continue  # not a path param, or a value that names no file ("bundled")
            path = _path(t, op, verb, name, value)
            if path is None:
                continue
            if verb == "reads":
                resolved = _check_read(t, op, name, value, os.path.realpath(path), read_roots)
            else:
                resolved = _check_write(t, op, name, value, path, write_root)
            if resolved != value:
                updates.setdefault(t, params)[name] = resolved
    return with_params(graph, updates) if updates else graph


def with_graph_folder(options: RunOptions, graph: TaskGraph) -> RunOptions:
    """``options`` whose data folders include the folder of the file ``graph`` was loaded from, if any."""
    if graph.source is None:
        return options
    folder = os.path.dirname(graph.source)
    return options if folder in options.data_dirs else RunOptions.build(options, data_dirs=(*options.data_dirs, folder))


def _read_roots(data_dirs: tuple[str, ...]) -> list[str]:
    roots = []
    for folder in data_dirs:
        if not os.path.isdir(folder):
            raise InvalidInput(f"data folder {folder!r} is not a folder")
        roots.append(os.path.realpath(folder))
    return roots


def _path(task: Hashable, op: str, verb: str, name: str, value: Any) -> str | None:
    """The param's value as a path string; None for an unset one (None or "": the op opens nothing)."""
    if value is None or value == "":
        return None
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or "\0" in value:
        raise PathRefused(f"task {task!r} (op {op}) {verb} params.{name}={value!r}, which is not a file path")
    return value


def _inside(path: str, root: str) -> bool:
    return os.path.commonpath([path, root]) == root


def _check_read(task: Hashable, op: str, name: str, value: Any, real: str, roots: list[str]) -> str:
    if any(_inside(real, root) for root in roots):
        return real
    allowed = ", ".join(roots) if roots else "none"
    raise PathRefused(
        f"task {task!r} (op {op}) reads params.{name}={value!r}, resolved {real}, outside the folders a graph "
        f"may read ({allowed}): name its folder with --data-dir (RunOptions.data_dirs)"
    )


def _check_write(task: Hashable, op: str, name: str, value: Any, path: str, root: str | None) -> str:
    if root is None:
        raise PathRefused(
            f"task {task!r} (op {op}) writes params.{name}={value!r}, but the run has no output folder "
            "(--out-dir, RunOptions.out_dir) and writes nowhere else"
        )
    real = os.path.realpath(os.path.join(root, path))  # an absolute path replaces root
    if _inside(real, root):
        return real
    raise PathRefused(
        f"task {task!r} (op {op}) writes params.{name}={value!r}, resolved {real}, outside the run's output "
        f"folder {root}"
    )
