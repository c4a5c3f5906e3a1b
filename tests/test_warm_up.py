"""``warm_up``: what a solver loads on first use is loaded before the clock starts, and ``hetflow plan`` reports
it apart from the planning time. Both run in fresh processes: in this one the kernels are loaded already."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

_FRESH = """
import json, sys
from hetflow.solvers import _replay, anneal, fastlist, ranks
from hetflow.solvers.registry import warm_up
kernels = {"list scheduling": fastlist._schedule, "annealing": anneal._anneal, "replay": _replay.replay,
           "cost-to-go": ranks._oct_kernel}
before = {name: len(k.signatures) for name, k in kernels.items()}
seconds = warm_up(sys.argv[1])
print(json.dumps({"before": before, "after": {name: len(k.signatures) for name, k in kernels.items()},
                  "seconds": seconds, "again": warm_up(sys.argv[1]),
                  "modules": [m for m in ("scipy.optimize", "ortools.sat.python.cp_model") if m in sys.modules]}))
"""


def _fresh(solver: str) -> dict:
    done = subprocess.run([sys.executable, "-c", _FRESH, solver], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_dp_warm_up_loads_every_kernel_and_library_it_uses_once() -> None:
    pytest.importorskip("numba")
    run = _fresh("dp")
    assert set(run["before"].values()) == {0}, run  # nothing loaded at import
    assert all(n >= 1 for n in run["after"].values()), run
    assert run["modules"] == ["scipy.optimize", "ortools.sat.python.cp_model"], run
    assert run["seconds"] > 0 and run["again"] == 0.0, run


def test_heft_warm_up_loads_list_scheduling_only() -> None:
    pytest.importorskip("numba")
    run = _fresh("heft")
    assert run["after"]["list scheduling"] >= 1 and run["after"]["annealing"] == 0, run
    assert "ortools.sat.python.cp_model" not in run["modules"], run


def test_hetflow_plan_reports_loading_apart_from_planning(tmp_path: Path) -> None:
    from hetflow.taskgraph.generators import layered_random, random_cluster

    layered_random(40, ccr=5.0, seed=1).save(tmp_path / "g.json")
    random_cluster(1, 3, seed=1).save(tmp_path / "c.json")
    done = subprocess.run([sys.executable, "-m", "hetflow", "plan", str(tmp_path / "g.json"), "--cluster",
                           str(tmp_path / "c.json"), "--no-bound"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r"planned in ([0-9.e-]+) s \(\+([0-9.e-]+) s loading, once per process\)", done.stdout)
    assert found, done.stdout
    assert float(found.group(1)) > 0 and float(found.group(2)) > 0


_BAD_INPUT = """
import json, sys
from hetflow.solvers import fastlist, plan
from hetflow.taskgraph import Cluster, InvalidInput, TaskGraph
graph = TaskGraph(name="g"); graph.add_task("a", {"gpu": 1.0})  # no worker of this cluster can run it
try:
    plan(graph, Cluster.local(gpus=0, cpus=2), "dp")
except InvalidInput as e:
    print(json.dumps({"error": str(e), "loaded": len(fastlist._schedule.signatures),
                      "ortools": "ortools.sat.python.cp_model" in sys.modules}))
"""


def test_bad_input_is_reported_before_anything_loads() -> None:
    """The warm-up runs after the last input check: a graph no worker can run fails at once."""
    pytest.importorskip("numba")
    done = subprocess.run([sys.executable, "-c", _BAD_INPUT], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    run = json.loads(done.stdout.strip().splitlines()[-1])
    assert run["error"].startswith("task 'a' cannot run on any worker"), run
    assert run["loaded"] == 0 and not run["ortools"], run


def test_plan_keeps_loading_off_plan_seconds_and_says_how_long_it_took() -> None:
    done = subprocess.run([sys.executable, "-c", """
import json
from hetflow.solvers import plan
from hetflow.taskgraph.generators import layered_random, random_cluster
g, c = layered_random(30, ccr=5.0, seed=1), random_cluster(1, 3, seed=1)
first, second = plan(g, c, "dp", effort=0.05), plan(g, c, "dp", effort=0.05)
print(json.dumps([first.meta.get("loading_seconds"), second.meta.get("loading_seconds"),
                  first.makespan == second.makespan]))
"""], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    loading, again, same = json.loads(done.stdout.strip().splitlines()[-1])
    assert loading > 0 and again is None and same
