"""No import cycle anywhere in hetflow, the layers respected, and every module importable on its own.

* The graph of module-level imports between hetflow modules (``ast``; imports inside functions and under
  ``if TYPE_CHECKING:`` do not run at import time and are left out) must be acyclic.
* Layers (DESIGN.md): taskgraph imports nothing of solvers/flows, solvers nothing of flows, and nothing in
  flows' runtime or orchestration imports the CLI or the benchmark code — at any level, lazy imports included.
* Every module imports in a fresh interpreter of its own (a forked child of one that has loaded only
  third-party libraries), so no module depends on another having been imported first.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"hetflow": "hetflow", "hetflow.taskgraph": "taskgraph", "hetflow.solvers": "solvers",
            "hetflow.flows": "flows"}  # fmt: skip


def _modules() -> dict[str, Path]:
    """Dotted name -> file of every hetflow module (the source folders mapped as pyproject maps them)."""
    out = {}
    for package, folder in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join([package, *parts])] = path
    return out


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, *, module_level: bool) -> set[str]:
    """hetflow modules imported by ``tree`` (only statements run at import time when ``module_level``)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if module_level and isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if module_level and isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub)
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:  # relative import: resolved against the module's package
                    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
                    for _ in range(child.level - 1):
                        package = package.rpartition(".")[0]
                    base = f"{package}.{base}" if base else package
                for alias in child.names:  # a submodule, else a name the package itself must define
                    found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
            visit(child)

    visit(tree)
    return {m for m in found if m in MODULES}


def _graph(module_level: bool) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_nodes_from(MODULES)
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for target in _imports(tree, module, module_level=module_level):
            if target != module:
                g.add_edge(module, target)
    return g


def test_the_module_list_is_complete():
    assert len(MODULES) > 40
    assert {"hetflow.flows.options", "hetflow.flows.runtime.keys", "hetflow.solvers.charts"} <= set(MODULES)


def test_no_import_cycle_among_module_level_imports():
    g = _graph(module_level=True)
    assert g.number_of_edges() > 50  # the parser sees the imports
    cycles = list(nx.simple_cycles(g))
    assert not cycles, "import cycles: " + "; ".join(" -> ".join([*c, c[0]]) for c in cycles[:5])


def test_cycle_detection_would_see_a_cycle():
    tree_a = ast.parse("from hetflow.flows.runtime.keys import format_key\n")
    tree_b = ast.parse("import hetflow.flows.options\nif TYPE_CHECKING:\n    import hetflow.flows.cli\n"
                       "def f():\n    import hetflow.flows.bench.emulate\n")  # fmt: skip
    assert _imports(tree_a, "hetflow.flows.options", module_level=True) == {"hetflow.flows.runtime.keys"}
    assert _imports(tree_b, "hetflow.flows.runtime.keys", module_level=True) == {"hetflow.flows.options"}
    assert "hetflow.flows.bench.emulate" in _imports(tree_b, "hetflow.flows.runtime.keys", module_level=False)
    g = nx.DiGraph([("hetflow.flows.options", "hetflow.flows.runtime.keys"),
                    ("hetflow.flows.runtime.keys", "hetflow.flows.options")])  # fmt: skip
    assert list(nx.simple_cycles(g))


@pytest.mark.parametrize(
    "lower, upper",
    [
        ("hetflow.taskgraph", "hetflow.solvers"),
        ("hetflow.taskgraph", "hetflow.flows"),
        ("hetflow.solvers", "hetflow.flows"),
        ("hetflow.flows.runtime", "hetflow.flows.cli"),
        ("hetflow.flows.runtime", "hetflow.flows.bench"),
        ("hetflow.flows.runtime", "hetflow.flows.orchestration"),
        ("hetflow.flows.runtime", "hetflow.flows.llm"),
        ("hetflow.flows.orchestration", "hetflow.flows.cli"),
        ("hetflow.flows.orchestration", "hetflow.flows.bench"),
        ("hetflow.flows.orchestration", "hetflow.flows.llm"),
        ("hetflow.flows.options", "hetflow.flows.runtime"),
    ],
)
def test_layers(lower, upper):
    """Nothing in ``lower`` imports anything in ``upper``, not even inside a function."""
    g = _graph(module_level=False)
    inside = lambda m, p: m == p or m.startswith(p + ".")  # noqa: E731
    bad = [(a, b) for a, b in g.edges if inside(a, lower) and inside(b, upper)]
    assert not bad, f"{lower} must not import {upper}: {bad}"


SCRIPTLESS = [m for m in MODULES if not m.endswith(".__main__")]  # __main__ runs the CLI when imported
FRESH_IMPORTS = r"""
import importlib, json, os, sys
for lib in ("numpy", "scipy", "pandas", "networkx", "matplotlib", "dask", "distributed", "prefect", "bokeh", "rich",
            "pyarrow", "numba"):
    try:
        importlib.import_module(lib)  # third-party only: each child then imports hetflow from scratch
    except ImportError:
        pass
assert not any(m == "hetflow" or m.startswith("hetflow.") for m in sys.modules)
results = {}
for name in json.loads(sys.argv[1]):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            importlib.import_module(name)
            message = "ok"
        except ModuleNotFoundError as e:
            third_party = e.name and not (e.name == "hetflow" or e.name.startswith("hetflow."))
            message = f"missing {e.name}" if third_party else f"error: {type(e).__name__}: {e}"
        except BaseException as e:
            message = f"error: {type(e).__name__}: {e}"
        os.write(write, message.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        results[name] = f.read()
    os.waitpid(pid, 0)
print(json.dumps(results))
"""


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_every_module_imports_in_a_fresh_interpreter():
    proc = subprocess.run([sys.executable, "-c", FRESH_IMPORTS, json.dumps(sorted(SCRIPTLESS))], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(results) == set(SCRIPTLESS)
    errors = {m: r for m, r in results.items() if r.startswith("error")}
    assert not errors, errors
    missing = {m: r for m, r in results.items() if r.startswith("missing")}
    assert len(missing) <= 5, f"modules skipped for a missing optional dependency: {missing}"
