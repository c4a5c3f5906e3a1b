"""WfCommons workflows as :class:`TaskGraph`: import WfFormat files and generate synthetic instances.

WfFormat (https://github.com/wfcommons/WfFormat) describes a workflow run: tasks, the files each reads and
writes, and measured runtimes. Two layouts are read:

* 1.5/1.6: ``workflow.specification.tasks[]`` (``id``, ``parents``, ``children``, ``inputFiles``,
  ``outputFiles``), ``workflow.specification.files[]`` (``id``, ``sizeInBytes``) and
  ``workflow.execution.tasks[]`` (``id``, ``runtimeInSeconds``);
* 1.0-1.4 (flat): ``workflow.tasks[]`` (``workflow.jobs[]`` before 1.3), each with ``name``,
  ``parents``/``children`` (by name), ``runtimeInSeconds`` (``runtime`` before 1.4) and ``files[]``
  entries with ``link`` (``"input"``/``"output"``), ``name`` and ``sizeInBytes`` (``size`` before 1.4).

Mapping (DESIGN.md): a task's runtime becomes its cost on every device class; an edge carries the total
size of the files the child reads that the parent writes (0 when they share none; the edge is kept).
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import networkx as nx
from hetflow.taskgraph.errors import FormatError, InvalidInput, brief
from hetflow.taskgraph.graph import MAX_BYTES, MAX_COST, TaskGraph, check_number
from hetflow.taskgraph.io import read_json

__all__ = ["graph_from_wfformat", "load_wfformat", "generate_wfcommons", "WFCOMMONS_RECIPES"]

DEFAULT_DEVICES = ("cpu", "gpu")

# Short recipe name -> wfcommons 1.6 class name, and the smallest ``num_tasks`` each builds from (smaller
# values make wfcommons pick a base graph larger than asked for and fail). Measured by building every
# n in 2..400 with wfcommons 1.6; a built workflow has about ``num_tasks - 2`` tasks.
WFCOMMONS_RECIPES: dict[str, tuple[str, int]] = {
    "blast": ("BlastRecipe", 45),
    "bwa": ("BwaRecipe", 106),
    "cycles": ("CyclesRecipe", 69),
    "epigenomics": ("EpigenomicsRecipe", 43),
    "genome": ("GenomeRecipe", 54),
    "montage": ("MontageRecipe", 60),
    "seismology": ("SeismologyRecipe", 103),
    "soykb": ("SoykbRecipe", 98),
    "srasearch": ("SrasearchRecipe", 24),
}
_ALIASES = {"1000genome": "genome"}
# wfcommons 1.6's RnaseqRecipe builds tasks with no dependencies and no files, in an order that changes
# with PYTHONHASHSEED: useless for planning, so it is refused.
_BROKEN = {"rnaseq": "wfcommons 1.6's rnaseq recipe builds tasks without dependencies or files"}
_ID_SUFFIX = re.compile(r"_(?:ID)?\d+$")


# -- import -------------------------------------------------------------------------------------
def graph_from_wfformat(data: Mapping[str, Any], *, devices: Sequence[str] = DEFAULT_DEVICES) -> TaskGraph:
    """Build a validated :class:`TaskGraph` from a parsed WfFormat document.

    Parameters
    ----------
    data : Mapping
        The parsed JSON of a WfFormat instance (a mapping with a ``"workflow"`` key).
    devices : sequence of str
        Device classes that get the task's runtime as their cost.

    Returns
    -------
    TaskGraph
        Nodes are task ids (task names in layouts before 1.5) with ``cost`` and ``kind`` (the task's
        ``category``, else its ``name`` when it differs from its id, else the program it ran, else the id
        without its ``_ID0000001``-style suffix). The graph is named after the document's ``name``.

    Raises
    ------
    FormatError
        A required part is missing or malformed (the message names it).
    CostError
        A runtime or file size is negative or not a number.
    CycleError
        The dependencies form a cycle.

    Examples
    --------
    >>> doc = {"name": "tiny", "workflow": {
    ...     "specification": {
    ...         "tasks": [{"id": "a", "parents": [], "children": ["b"], "outputFiles": ["f"]},
    ...                   {"id": "b", "parents": ["a"], "children": [], "inputFiles": ["f"]}],
    ...         "files": [{"id": "f", "sizeInBytes": 2048}]},
    ...     "execution": {"tasks": [{"id": "a", "runtimeInSeconds": 1.5},
    ...                             {"id": "b", "runtimeInSeconds": 3}]}}}
    >>> g = graph_from_wfformat(doc)
    >>> g.name, g.cost("a"), g.bytes("a", "b")
    ('tiny', {'cpu': 1.5, 'gpu': 1.5}, 2048.0)
    """
    if not isinstance(data, Mapping):
        raise FormatError("a WfFormat document must be a JSON object")
    wf = data.get("workflow")
    if not isinstance(wf, Mapping):
        raise FormatError("WfFormat document has no 'workflow' object")
    devices = _check_devices(devices)
    if "specification" in wf:
        parsed = _parse_spec(wf)
    elif "tasks" in wf or "jobs" in wf:
        parsed = _parse_flat(wf)
    else:
        raise FormatError("WfFormat 'workflow' has neither 'specification' (1.5+) nor 'tasks' (up to 1.4)")
    tasks, edges, reads, writes, sizes = parsed

    G = nx.DiGraph(name=str(data.get("name") or "workflow"), source="wfformat")
    if "schemaVersion" in data:
        G.graph["schema_version"] = str(data["schemaVersion"])
    for tid, (runtime, kind) in tasks.items():
        G.add_node(tid, cost=dict.fromkeys(devices, runtime), kind=kind)
    for parent, child in edges:
        shared = reads[child].intersection(writes[parent])
        nbytes = 0.0
        for fid in sorted(shared, key=str):
            if fid not in sizes:
                raise FormatError(f"file {fid!r} read by task {child!r} has no size in the workflow's files")
            nbytes += sizes[fid]
        G.add_edge(parent, child, bytes=nbytes)
    return TaskGraph(G)


def load_wfformat(path: str | Path, *, devices: Sequence[str] = DEFAULT_DEVICES) -> TaskGraph:
    """Read a WfFormat JSON file into a :class:`TaskGraph` (see :func:`graph_from_wfformat`).

    Examples
    --------
    >>> traces = Path(__file__).parent / "data" / "wfinstances"  # the traces shipped with hetflow
    >>> g = load_wfformat(traces / "montage-chameleon-dss-05d-001.json", devices=("cpu",))
    >>> len(g), g.kind("mProject_ID0000001"), sorted(g.device_classes)
    (58, 'mProject', ['cpu'])
    """
    return graph_from_wfformat(read_json(path, what="WfFormat file"), devices=devices)


# Parsed form shared by both layouts: tasks {id: (runtime, kind)}, edges [(parent, child)],
# reads/writes {id: set of file ids}, sizes {file id: bytes}.
_Parsed = tuple[dict[str, tuple[float, str]], list[tuple[str, str]], dict[str, set], dict[str, set], dict[str, float]]


def _parse_spec(wf: Mapping[str, Any]) -> _Parsed:
    """WfFormat 1.5+: specification + execution sections."""
    spec = wf["specification"]
    if not isinstance(spec, Mapping) or not isinstance(spec.get("tasks"), list):
        raise FormatError("WfFormat 'workflow.specification' has no 'tasks' list")
    execution = wf.get("execution")
    if not isinstance(execution, Mapping) or not isinstance(execution.get("tasks"), list):
        raise FormatError("WfFormat 'workflow.execution' has no 'tasks' list (task runtimes are needed)")
    runs = {}
    for i, run in enumerate(execution["tasks"]):
        if not isinstance(run, Mapping) or "id" not in run:
            raise FormatError(f"workflow.execution.tasks[{i}] has no 'id'")
        runs[_task_id(run["id"], i, "workflow.execution.tasks")] = run

    sizes = {}
    for i, f in enumerate(_list(spec, "files", "workflow.specification")):
        if not isinstance(f, Mapping) or "id" not in f:
            raise FormatError(f"workflow.specification.files[{i}] has no 'id'")
        fid = _file_id(f["id"], f"workflow.specification.files[{i}]")
        if "sizeInBytes" not in f:
            raise FormatError(f"file {fid!r} in workflow.specification.files has no 'sizeInBytes'")
        sizes[fid] = check_number(f["sizeInBytes"], f"size of file {fid!r}", high=MAX_BYTES)

    tasks, reads, writes, declared = {}, {}, {}, []
    for i, t in enumerate(spec["tasks"]):
        if not isinstance(t, Mapping) or "id" not in t:
            raise FormatError(f"workflow.specification.tasks[{i}] has no 'id'")
        tid = _task_id(t["id"], i, "workflow.specification.tasks")
        if tid in tasks:
            raise FormatError(f"task id {tid!r} appears twice in workflow.specification.tasks")
        run = runs.get(tid)
        if run is None or "runtimeInSeconds" not in run:
            raise FormatError(f"task {tid!r} has no 'runtimeInSeconds' in workflow.execution.tasks")
        runtime = check_number(run["runtimeInSeconds"], f"runtimeInSeconds of task {tid!r}", high=MAX_COST)
        name = t.get("name")
        program = run["command"].get("program") if isinstance(run.get("command"), Mapping) else None
        kind = t.get("category") or (name if name and name != tid else None) or program or _strip_id(tid)
        tasks[tid] = (runtime, str(kind))
        reads[tid] = _file_ids(t, "inputFiles", tid)
        writes[tid] = _file_ids(t, "outputFiles", tid)
        declared.append((tid, _list(t, "parents", f"task {tid!r}"), _list(t, "children", f"task {tid!r}")))
    return tasks, _edges(declared, {t: t for t in tasks}), reads, writes, sizes


def _parse_flat(wf: Mapping[str, Any]) -> _Parsed:
    """WfFormat 1.0-1.4: one ``tasks`` (or ``jobs``) list with runtimes and per-task files."""
    key = "tasks" if "tasks" in wf else "jobs"
    if not isinstance(wf[key], list):
        raise FormatError(f"WfFormat 'workflow.{key}' must be a list")
    tasks, reads, writes, sizes, declared, refs = {}, {}, {}, {}, [], {}
    for i, t in enumerate(wf[key]):
        if not isinstance(t, Mapping) or ("name" not in t and "id" not in t):
            raise FormatError(f"workflow.{key}[{i}] has no 'name'")
        # Up to 1.4 tasks refer to each other by name; accept ids too.
        tid = _task_id(t.get("name", t.get("id")), i, f"workflow.{key}")
        if tid in tasks:
            raise FormatError(f"task name {tid!r} appears twice in workflow.{key}")
        runtime = t.get("runtimeInSeconds", t.get("runtime"))
        if runtime is None:
            raise FormatError(f"task {tid!r} has no 'runtimeInSeconds' (or 'runtime')")
        kind = t.get("category") or _strip_id(tid)
        tasks[tid] = (check_number(runtime, f"runtime of task {tid!r}", high=MAX_COST), str(kind))
        reads[tid], writes[tid] = set(), set()
        for j, f in enumerate(_list(t, "files", f"task {tid!r}")):
            if not isinstance(f, Mapping) or "name" not in f:
                raise FormatError(f"file #{j} of task {tid!r} has no 'name'")
            fid = str(f.get("path", "")) + _file_id(f["name"], f"file #{j} of task {tid!r}")
            size = f.get("sizeInBytes", f.get("size"))
            if size is None:
                raise FormatError(f"file {fid!r} of task {tid!r} has no 'sizeInBytes' (or 'size')")
            sizes.setdefault(fid, check_number(size, f"size of file {fid!r}", high=MAX_BYTES))
            (reads if str(f.get("link", "")).lower() == "input" else writes)[tid].add(fid)
        declared.append((tid, _list(t, "parents", f"task {tid!r}"), _list(t, "children", f"task {tid!r}")))
        refs[tid] = tid
        if "id" in t and "name" in t:
            refs.setdefault(_task_id(t["id"], i, f"workflow.{key}"), tid)
    return tasks, _edges(declared, refs), reads, writes, sizes


def _edges(declared: Iterable[tuple[str, list, list]], refs: Mapping[str, str]) -> list[tuple[str, str]]:
    """Union of the declared parent and child links, resolved through ``refs``, in a stable order."""
    edges: dict[tuple[str, str], None] = {}
    for tid, parents, children in declared:
        for ref, link in [(p, "parent") for p in parents] + [(c, "child") for c in children]:
            if not isinstance(ref, (str, int)) or isinstance(ref, bool):
                raise FormatError(f"task {tid!r} names {link} task {brief(ref)}; task ids must be strings")
            other = refs.get(str(ref))
            if other is None:
                raise FormatError(f"task {tid!r} names unknown {link} task {ref!r}")
            edges[(other, tid) if link == "parent" else (tid, other)] = None
    return list(edges)


def _list(obj: Mapping[str, Any], key: str, where: str) -> list:
    value = obj.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list):
        raise FormatError(f"'{key}' of {where} must be a list")
    return value


def _file_ids(task: Mapping[str, Any], key: str, tid: str) -> set:
    return {_file_id(fid, f"'{key}' of task {tid!r}") for fid in _list(task, key, f"task {tid!r}")}


def _file_id(value: Any, where: str) -> str:
    """A file id (a string; integers are read as their decimal string)."""
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise FormatError(f"{where} has file id {brief(value)}; file ids must be strings")
    return str(value)


def _task_id(value: Any, index: int, where: str = "workflow tasks") -> str:
    if not isinstance(value, (str, int)) or isinstance(value, bool) or value == "":
        raise FormatError(f"task #{index} of {where} has id {brief(value)}; it must be a non-empty string")
    return str(value)


def _strip_id(tid: str) -> str:
    return _ID_SUFFIX.sub("", tid) or tid


def _check_devices(devices: Sequence[str]) -> tuple[str, ...]:
    if isinstance(devices, str):
        devices = (devices,)
    devices = tuple(devices)
    if not devices or not all(isinstance(d, str) and d for d in devices):
        raise ValueError(f"devices must be non-empty device class names, got {devices!r}")
    return devices


# -- synthetic workflows ------------------------------------------------------------------------
def generate_wfcommons(
    recipe: str, n_tasks: int, seed: int = 0, *, devices: Sequence[str] = DEFAULT_DEVICES
) -> TaskGraph:
    """Generate a realistic synthetic workflow offline with WfCommons' WfChef recipes.

    Parameters
    ----------
    recipe : str
        Short recipe name: ``blast``, ``bwa``, ``cycles``, ``epigenomics``, ``genome`` (alias
        ``1000genome``), ``montage``, ``seismology``, ``soykb``, ``srasearch``. (wfcommons 1.6 also ships
        ``rnaseq``, but it builds no dependencies, so it is refused.)
    n_tasks : int
        Upper bound on the number of tasks (WfCommons' ``num_tasks``; the result has about
        ``n_tasks - 2``). Each recipe has a minimum, see ``WFCOMMONS_RECIPES`` (e.g. montage 60, bwa 106).
    seed : int
        Seeds Python's and NumPy's global generators for the build; their previous states are restored.
        The same seed gives the same graph (file names inside WfCommons are random, but they do not reach
        the graph).
    devices : sequence of str
        Device classes that get each task's runtime as their cost.

    Raises
    ------
    ImportError
        ``wfcommons`` is not installed (it ships with the ``bench`` extra).
    InvalidInput
        (a ``ValueError``) Unknown recipe, or ``n_tasks`` below the recipe's minimum.

    Examples
    --------
    >>> g = generate_wfcommons("montage", 80, seed=1)
    >>> len(g), g.kind(g.sources[0])
    (77, 'mProject')
    """
    short = _ALIASES.get(recipe.lower(), recipe.lower())
    if short in _BROKEN:
        raise InvalidInput(f"WfCommons recipe {recipe!r} is not supported: {_BROKEN[short]}")
    if short not in WFCOMMONS_RECIPES:
        names = ", ".join(sorted([*WFCOMMONS_RECIPES, *_ALIASES]))
        raise InvalidInput(f"unknown WfCommons recipe {recipe!r}; choose one of {names}")
    class_name, minimum = WFCOMMONS_RECIPES[short]
    if isinstance(n_tasks, bool) or not isinstance(n_tasks, int) or n_tasks < minimum:
        raise InvalidInput(f"WfCommons recipe {short!r} needs n_tasks >= {minimum}, got {n_tasks!r}")
    try:
        import numpy as np
        from wfcommons import WorkflowGenerator
        from wfcommons.wfchef import recipes
    except ImportError as e:
        raise ImportError(
            f"generate_wfcommons needs the 'wfcommons' package: pip install 'hetflow[bench]' ({e})"
        ) from e

    recipe_cls = getattr(recipes, class_name)
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        random.seed(seed)
        np.random.seed(seed)
        try:
            workflow = WorkflowGenerator(recipe_cls.from_num_tasks(n_tasks)).build_workflow(
                f"{short}-{n_tasks}-seed{seed}"
            )
        except ValueError as e:  # e.g. "Cannot create synthetic graph with N nodes from base graph ..."
            raise InvalidInput(f"WfCommons recipe {short!r} cannot build {n_tasks} tasks: {e}") from None
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)

    fd, path = tempfile.mkstemp(prefix=f"wfcommons-{short}-", suffix=".json")
    os.close(fd)
    try:
        workflow.write_json(Path(path))
        graph = load_wfformat(path, devices=devices)
    finally:
        with contextlib.suppress(OSError):
            os.remove(path)
    graph.G.graph.update(generator="wfcommons", recipe=short, n_tasks=n_tasks, seed=seed)
    return graph
