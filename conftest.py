"""Repository-wide test rules: doctests of the packages, and tests that stay inside the repository.

**Doctests.** ``python -m pytest`` collects the docstring examples of ``hetflow/``, ``taskgraph/`` and
``solvers/`` (``testpaths`` in pyproject.toml). Those folders install as ``hetflow``, ``hetflow.taskgraph`` and
``hetflow.solvers``; pytest's own ``--doctest-modules`` would import ``taskgraph/io.py`` as a second, bare
``taskgraph.io`` module, so here every module is imported under its installed name instead, and the doctests
of modules (or functions) that need an optional extra are skipped, with the reason, when it is not installed.

**A fresh clone passes.** A test that opens or lists a path beside the repository (a sibling folder of the
checkout such as ``../shared``, which a fresh clone does not have) fails, naming the path. Paths of the
Python installation, the temporary folder and hidden folders (``~/.cache`` when the checkout sits in the home
folder) are fine. It watches this process only (not subprocesses), through an audit hook (``open``,
``os.listdir``, ``os.scandir``); a checkout directly in ``/`` or in the home folder is not watched.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import site
import sys
import tempfile
from pathlib import Path

import pytest
from _pytest.doctest import DoctestModule

ROOT = Path(__file__).resolve().parent
PACKAGES = {"hetflow": "hetflow", "taskgraph": "hetflow.taskgraph", "solvers": "hetflow.solvers"}

# (module that must be importable, the extra that installs it) -> doctests (name prefixes) that need it
NEEDS = {
    ("dask", "run"): ["hetflow.taskgraph.dask_graph"],
    ("ortools", "bench"): ["hetflow.solvers.cpsat"],
    ("wfcommons", "bench"): ["hetflow.taskgraph.wfformat.generate_wfcommons"],
    ("hypothesis", "dev"): [f"hetflow.solvers.check_instances.{f}" for f in ("clusters", "graphs", "instances")],
}


def module_name(path: Path) -> str | None:
    """``solvers/io.py`` -> ``hetflow.solvers.io``; None outside the three package folders."""
    rel = path.resolve().relative_to(ROOT)
    if rel.parts[0] not in PACKAGES or path.suffix != ".py":
        return None
    parts = [PACKAGES[rel.parts[0]], *rel.parts[1:-1]]
    if rel.stem != "__init__":
        parts.append(rel.stem)
    return ".".join(parts)


class HetflowDoctests(DoctestModule):
    """The doctests of one module, imported as ``hetflow.<package>.<module>``."""

    def _getobj(self):
        return importlib.import_module(module_name(self.path))


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    try:
        name = module_name(file_path)
    except ValueError:  # outside the repository
        return None
    if name is None or file_path.name == "__main__.py":
        return None
    return HetflowDoctests.from_parent(parent, path=file_path)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for (module, extra), prefixes in NEEDS.items():
        if importlib.util.find_spec(module) is not None:
            continue
        for item in items:
            if any(item.name == p or item.name.startswith(p + ".") for p in prefixes):
                item.add_marker(pytest.mark.skip(reason=f"needs {module} (pip install 'hetflow[{extra}]')"))


# -- tests stay inside the repository ------------------------------------------------------------------------
OUTSIDE: list[str] = []  # paths beside the repository that this process opened or listed, in order
_PARENT = os.path.dirname(str(ROOT))
_WATCHED = _PARENT not in (os.path.dirname(_PARENT), os.path.expanduser("~"))
# folders a test may read even beside the repository (a venv or the temp folder next to it) -- but not one
# that holds the repository's parent (a clone in /tmp/x/hetflow: /tmp would exempt everything beside it)
_ALLOWED = tuple(
    prefix
    for prefix in {os.path.realpath(p) + os.sep for p in {sys.prefix, sys.base_prefix, sys.exec_prefix,
                   tempfile.gettempdir(), *site.getsitepackages(), site.getusersitepackages()}}
    if not (os.path.realpath(_PARENT) + os.sep).startswith(prefix)
)
_EVENTS = frozenset({"open", "os.listdir", "os.scandir"})


def outside_repository(path: str | bytes | os.PathLike) -> bool:
    """Whether ``path`` lies beside the repository (under its parent folder, not in it, not allowed above)."""
    p = os.path.abspath(os.fsdecode(path))
    if not p.startswith(_PARENT + os.sep) or p == str(ROOT) or p.startswith(str(ROOT) + os.sep):
        return False
    if p.startswith(_ALLOWED) or os.path.realpath(p).startswith(_ALLOWED):
        return False
    return not p[len(_PARENT) + 1 :].startswith(".")


def _audit(event: str, args: tuple) -> None:
    if event not in _EVENTS or not args or not isinstance(args[0], (str, bytes, os.PathLike)):
        return
    try:
        if outside_repository(args[0]):
            OUTSIDE.append(os.path.abspath(os.fsdecode(args[0])))
    except Exception:  # never break the code under test
        pass


if _WATCHED:
    sys.addaudithook(_audit)


@pytest.fixture
def outside_reads() -> list[str]:
    """The paths beside the repository read so far (the guard's record; a test may pop what it caused)."""
    return OUTSIDE


@pytest.fixture(autouse=True)
def _stays_inside_the_repository(request: pytest.FixtureRequest):
    seen = len(OUTSIDE)
    yield
    if len(OUTSIDE) > seen:
        path = OUTSIDE[seen]
        del OUTSIDE[seen:]
        pytest.fail(f"{request.node.nodeid} read {path}, outside the repository (a fresh clone has no such path)")


def pytest_collection_finish(session: pytest.Session) -> None:
    if OUTSIDE:
        raise pytest.UsageError(f"collecting the tests read {OUTSIDE[0]}, outside the repository "
                                "(a fresh clone has no such path)")
