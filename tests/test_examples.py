"""Every public function and class of the public API has a numpydoc Examples section, and they run.

"Public" here: what ``hetflow``, ``hetflow.taskgraph`` and ``hetflow.solvers`` export (``__all__``), every
public module-level function of their modules, and every class a module exports. The examples themselves run
as doctests in ``python -m pytest`` (``testpaths`` includes the package folders; the root conftest.py collects
them); this test keeps the count of functions without one at zero.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import hetflow

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("hetflow.taskgraph", "hetflow.solvers")


def _modules(package: str) -> Iterator:
    pkg = importlib.import_module(package)
    yield pkg
    for info in pkgutil.iter_modules(pkg.__path__):
        if not info.name.startswith("_"):
            yield importlib.import_module(f"{package}.{info.name}")


def public_api() -> dict[str, object]:
    """``{qualified name: function or class}`` of everything that needs an example."""
    found: dict[str, object] = {}

    def add(obj: object) -> None:
        if inspect.isfunction(obj) or inspect.isclass(obj):
            found[f"{obj.__module__}.{obj.__qualname__}"] = obj

    for name in hetflow.__all__:
        obj = getattr(hetflow, name)
        if not getattr(obj, "__module__", "").startswith("hetflow.flows"):  # see test_flows_exports_have_examples
            add(obj)
    for package in PACKAGES:
        for module in _modules(package):
            exported = getattr(module, "__all__", [])
            for name in exported:
                obj = getattr(module, name)
                if module.__name__ in PACKAGES or getattr(obj, "__module__", None) == module.__name__:
                    add(obj)
            for name, obj in vars(module).items():
                if not name.startswith("_") and inspect.isfunction(obj) and obj.__module__ == module.__name__:
                    add(obj)
    return found


def _has_example(obj: object) -> bool:
    """An Examples section with at least one example that runs (not every one marked ``+SKIP``)."""
    doc = inspect.getdoc(obj) or ""
    _, found, section = doc.partition("Examples\n--------\n")
    examples = doctest.DocTestParser().get_examples(section)
    return bool(found) and any(not e.options.get(doctest.SKIP) for e in examples)


def test_every_public_function_has_an_example() -> None:
    api = public_api()
    assert len(api) > 80 and "hetflow.solvers.registry.plan" in api and "hetflow.taskgraph.graph.TaskGraph" in api
    missing = sorted(name for name, obj in api.items() if not _has_example(obj))
    assert not missing, f"{len(missing)} public functions/classes without an Examples section: {missing}"


def _flows_exports() -> dict[str, object]:
    """The top-level exports implemented in hetflow.flows (Prefect flows unwrapped to their function)."""
    out = {}
    for name in hetflow.__all__:
        obj = getattr(hetflow, name)
        obj = getattr(obj, "fn", obj)  # a prefect Flow wraps the function
        if getattr(obj, "__module__", "").startswith("hetflow.flows") and callable(obj):
            out[f"hetflow.{name}"] = obj
    return out


def test_flows_exports_have_examples() -> None:
    exports = _flows_exports()
    assert {"hetflow.run_plan", "hetflow.compute", "hetflow.plan_dask"} <= set(exports)
    missing = sorted(name for name, obj in exports.items() if not _has_example(obj))
    assert not missing, f"top-level exports without an Examples section: {missing}"


def test_the_test_command_runs_the_doctests(pytestconfig) -> None:
    assert {"tests", "hetflow", "taskgraph", "solvers"} <= set(pytestconfig.getini("testpaths"))


def test_fit_ab_example_runs() -> None:
    from hetflow.flows.llm import profile

    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    (test,) = doctest.DocTestFinder().find(profile.fit_ab, "fit_ab", globs=vars(profile))
    result = runner.run(test)
    assert result.attempted >= 2 and result.failed == 0


def _run_doctest(fn, module) -> doctest.TestResults:
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in doctest.DocTestFinder().find(fn, fn.__name__, globs=dict(vars(module))):
        runner.run(test)
    return runner.summarize(verbose=False)


def test_compute_example_runs() -> None:
    from hetflow.flows import compute

    result = _run_doctest(compute.compute, compute)
    assert result.attempted >= 2 and result.failed == 0


def test_run_plan_example_runs(prefect_harness) -> None:
    from hetflow.flows.orchestration import flow

    result = _run_doctest(flow.run_plan.fn, flow)
    assert result.attempted >= 3 and result.failed == 0
