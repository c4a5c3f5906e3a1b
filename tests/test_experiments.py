"""Tests for hetflow.solvers.experiments (compare, summarize, suites), hetflow.solvers.plots and ``hetflow bench``."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hetflow.solvers import Schedule, plan
from hetflow.solvers.experiments import (
    RESULT_COLUMNS,
    Instance,
    compare,
    geomean,
    markdown_table,
    summarize,
)
from hetflow.solvers.plots import gantt, gantt_compare, summary_plot
from hetflow.solvers.schedule import Placement
from hetflow.taskgraph import Cluster, TaskGraph

REPO = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def diamond(scale: float = 1.0, nbytes: float = 5e8) -> TaskGraph:
    g = TaskGraph(name="diamond")
    g.add_task("src", {"cpu": 1.0 * scale}, kind="load")
    for i in range(4):
        g.add_task(f"m{i}", {"cpu": 6.0 * scale, "gpu": (0.5 + i) * scale}, kind="embed")
        g.add_edge("src", f"m{i}", bytes=nbytes)
    g.add_task("sink", {"cpu": 2.0 * scale}, kind="merge")
    for i in range(4):
        g.add_edge(f"m{i}", "sink", bytes=nbytes / 4)
    return g.validate()


def layered(n_layers: int, width: int, seed: int) -> TaskGraph:
    """A small random layered DAG with mixed device costs."""
    rng = np.random.default_rng(seed)
    g = TaskGraph(name=f"layers{seed}")
    prev: list[str] = []
    for layer in range(n_layers):
        cur = []
        for k in range(width):
            t = f"t{layer}_{k}"
            cost = {"cpu": float(rng.uniform(1, 10))}
            if rng.random() < 0.6:
                cost["gpu"] = cost["cpu"] / float(rng.uniform(2, 20))
            g.add_task(t, cost, kind=f"stage{layer % 3}")
            for p in prev:
                if rng.random() < 0.4:
                    g.add_edge(p, t, bytes=float(rng.uniform(0, 2e9)))
            cur.append(t)
        prev = cur
    return g.validate()


@pytest.fixture(scope="module")
def instances() -> list[Instance]:
    cluster = Cluster([{"name": "gpu0", "device": "gpu", "speed": 1.0},
                       {"name": "cpu0", "device": "cpu", "speed": 1.5},
                       {"name": "cpu1", "device": "cpu", "speed": 0.7}], bandwidth=1e9)
    out = [Instance("diamond", "tiny", diamond(), cluster, {"ccr": 1.0})]
    for s in range(3):
        out.append(Instance(f"layers{s}", "layers", layered(5, 4, s), Cluster.local(gpus=1 + s % 2, cpus=3),
                            {"ccr": 0.5}))
    return out


@pytest.fixture(scope="module")
def results(instances: list[Instance]) -> pd.DataFrame:
    return compare(["heft", "peft", "cpop", "greedy"], instances, seeds=(0, 1), progress=False)


# -- compare -------------------------------------------------------------------------------------------
def test_compare_columns_and_rows(results: pd.DataFrame, instances: list[Instance]) -> None:
    assert list(results.columns[: len(RESULT_COLUMNS)]) == RESULT_COLUMNS
    assert "ccr" in results.columns  # instance params are carried along
    assert len(results) == len(instances) * 4 * 2
    assert results["valid"].all() and (results["error"] == "").all()
    first = results.iloc[0]
    assert first["n_tasks"] == 6 and first["n_workers"] == 3


def test_compare_matches_plan(results: pd.DataFrame, instances: list[Instance]) -> None:
    inst = instances[1]
    want = plan(inst.graph, inst.cluster, solver="peft").makespan
    got = results.query("instance == 'layers0' and solver == 'peft' and seed == 0")["makespan"].item()
    assert got == pytest.approx(want, rel=1e-12)


def test_ratio_to_reference_and_lower_bound(results: pd.DataFrame) -> None:
    heft = results[results["solver"] == "heft"]
    assert np.allclose(heft["ratio_to_reference"], 1.0)
    assert (results["lower_bound"] > 0).all()
    assert (results["lower_bound"] <= results["makespan"] * (1 + 1e-9)).all()
    assert (results["ratio_to_lb"] >= 1 - 1e-9).all()
    # one lower bound per instance
    assert (results.groupby("instance")["lower_bound"].nunique() == 1).all()
    ref = results.set_index(["instance", "seed", "solver"])["makespan"]
    row = results.query("instance == 'layers2' and solver == 'cpop' and seed == 1").iloc[0]
    assert row["ratio_to_reference"] == pytest.approx(row["makespan"] / ref[("layers2", 1, "heft")])


def test_is_best_is_min_per_instance(results: pd.DataFrame) -> None:
    for _, grp in results.groupby(["instance", "seed"]):
        best = grp["makespan"].min()
        assert grp["is_best"].any()
        assert (grp["is_best"] == np.isclose(grp["makespan"], best, rtol=1e-9, atol=0)).all()


def test_is_best_hand_made_ties_and_invalid() -> None:
    from hetflow.solvers.experiments import _add_ratios

    df = pd.DataFrame({
        "suite": ["s"] * 4, "instance": ["i"] * 4, "seed": [0] * 4,
        "solver": ["heft", "a", "b", "c"],
        "makespan": [10.0, 10.0 * (1 + 1e-12), 10.5, 9.0],
        "lower_bound": [5.0] * 4,
        "valid": [True, True, True, False],  # c is shorter but invalid: never best
    })
    out = _add_ratios(df, "heft")
    assert out["is_best"].tolist() == [True, True, False, False]
    assert out["ratio_to_reference"].tolist()[:3] == pytest.approx([1.0, 1.0, 1.05])
    assert math.isnan(out["ratio_to_reference"].iloc[3])
    assert out["ratio_to_lb"].iloc[2] == pytest.approx(2.1)


def test_optimal_column_from_exact_solvers() -> None:
    from hetflow.taskgraph.generators import random_small

    tiny = Instance("tiny", "t", random_small(6, 0.4, seed=1), Cluster.local(gpus=1, cpus=1))
    df = compare(["exact", "heft"], [tiny], progress=False).set_index("solver")
    assert df.loc["exact", "optimal"] == True  # noqa: E712 (a numpy/pandas bool)
    assert pd.isna(df.loc["heft", "optimal"])
    assert df.loc["exact", "makespan"] <= df.loc["heft", "makespan"] + 1e-12


def test_reference_added_and_unknown_solver(instances: list[Instance]) -> None:
    df = compare(["greedy"], instances[:1], progress=False)
    assert set(df["solver"]) == {"greedy", "heft"}
    from hetflow.taskgraph.errors import InvalidInput

    with pytest.raises(InvalidInput, match="unknown solver"):
        compare(["no-such-solver"], instances[:1], progress=False)


def test_failed_solver_is_recorded(instances: list[Instance]) -> None:
    from hetflow.solvers.registry import SOLVERS, register_solver

    @register_solver("_broken_for_test")
    def broken(problem, *, seed=0):
        raise RuntimeError("boom")

    try:
        df = compare(["heft", "_broken_for_test"], instances[:1], progress=False)
    finally:
        SOLVERS.pop("_broken_for_test")
    row = df[df["solver"] == "_broken_for_test"].iloc[0]
    assert not row["valid"] and not row["is_best"] and "boom" in row["error"] and math.isnan(row["makespan"])
    assert df[df["solver"] == "heft"]["is_best"].all()


def test_time_limit_and_options_reach_the_solver(instances: list[Instance]) -> None:
    from hetflow.solvers.heft import heft
    from hetflow.solvers.registry import SOLVERS, register_solver

    seen: list[tuple] = []

    @register_solver("_budgeted_for_test")
    def budgeted(problem, *, seed=0, time_budget=1.0, flag=False):
        seen.append((seed, time_budget, flag))
        return heft(problem)

    try:
        df = compare(["_budgeted_for_test"], instances[:1], seeds=(3,), time_limit=0.25, progress=False,
                     solver_options={"_budgeted_for_test": {"flag": True}})
    finally:
        SOLVERS.pop("_budgeted_for_test")
    assert seen == [(3, 0.25, True)]
    assert df["is_best"].all()  # same plan as heft: a tie counts as best for both


# -- summarize -----------------------------------------------------------------------------------------
def test_summarize_hand_made() -> None:
    df = pd.DataFrame({
        "suite": ["A", "A", "A", "A", "B", "B"],
        "instance": ["i1", "i1", "i2", "i2", "j1", "j1"],
        "solver": ["heft", "dp", "heft", "dp", "heft", "dp"],
        "ratio_to_reference": [1.0, 0.5, 1.0, 2.0, 1.0, 0.8],
        "ratio_to_lb": [2.0, 1.0, 1.5, 3.0, 1.25, 1.0],
        "is_best": [False, True, True, False, False, True],
        "plan_seconds": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
        "valid": [True] * 6,
    })
    s = summarize(df).set_index(["suite", "solver"])
    assert list(s.index) == [("A", "heft"), ("A", "dp"), ("B", "heft"), ("B", "dp"), ("all", "heft"), ("all", "dp")]
    assert s.loc[("A", "dp"), "geomean_ratio_to_reference"] == pytest.approx(1.0)  # sqrt(0.5 * 2)
    assert s.loc[("A", "dp"), "geomean_ratio_to_lb"] == pytest.approx(math.sqrt(3.0))
    assert s.loc[("A", "dp"), "share_best"] == pytest.approx(0.5)
    assert s.loc[("A", "dp"), "worst_ratio_to_reference"] == pytest.approx(2.0)
    assert s.loc[("A", "dp"), "mean_plan_seconds"] == pytest.approx(0.3)
    assert s.loc[("all", "dp"), "geomean_ratio_to_reference"] == pytest.approx((0.5 * 2.0 * 0.8) ** (1 / 3))
    assert s.loc[("all", "dp"), "share_best"] == pytest.approx(2 / 3)
    assert s.loc[("all", "dp"), "max_plan_seconds"] == pytest.approx(0.6)
    assert s.loc[("all", "heft"), "instances"] == 3


def test_summarize_drops_failures() -> None:
    df = pd.DataFrame({
        "suite": ["A"] * 4, "instance": ["i1", "i2", "i1", "i2"], "solver": ["x", "x", "heft", "heft"],
        "ratio_to_reference": [4.0, np.nan, 1.0, 1.0], "ratio_to_lb": [2.0, np.nan, 1.0, 1.0],
        "is_best": [False, False, True, True], "plan_seconds": [1.0, np.nan, 0.1, 0.1],
        "valid": [True, False, True, True],
    })
    x = summarize(df).set_index(["suite", "solver"]).loc[("A", "x")]
    assert x["failures"] == 1 and x["runs"] == 2 and x["share_best"] == 0
    assert x["geomean_ratio_to_reference"] == pytest.approx(4.0)
    assert geomean([np.nan, -1.0]) != geomean([np.nan, -1.0])  # NaN when nothing is usable


def test_markdown_table() -> None:
    text = markdown_table(pd.DataFrame({"suite": ["a|b"], "x": [1.23456789], "ok": [True]}))
    lines = text.splitlines()
    assert lines[0].startswith("| suite") and "1.235" in lines[2] and "a\\|b" in lines[2]
    assert lines[1].count("|") == 4


# -- suites --------------------------------------------------------------------------------------------
def test_suites_small_if_generators_exist(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("hetflow.taskgraph.generators")
    from hetflow.solvers.experiments import suites
    from hetflow.taskgraph.errors import InvalidInput

    built = suites("small", seed=0)
    assert {"layered", "llm", "wfinstances"} <= set(built)
    for name, insts in built.items():
        assert 1 <= len(insts) <= 8, name
        for inst in insts:
            assert inst.suite == name and len(inst.graph) <= 300
            assert 1 <= inst.params["n_gpus"] <= 4 and 2 <= inst.params["n_cpus"] <= 16
            assert len(inst.cluster) == inst.params["n_gpus"] + inst.params["n_cpus"]
    again = suites("small", seed=0, only=["layered"])["layered"]
    for a, b in zip(built["layered"], again):  # deterministic from the seed
        assert a.cluster == b.cluster and a.graph.to_dict() == b.graph.to_dict()
    other = suites("small", seed=1, only=["layered"])["layered"]
    assert any(a.cluster != b.cluster for a, b in zip(again, other))
    with pytest.raises(InvalidInput, match="unknown suite"):
        suites("small", only=["nope"])
    monkeypatch.setenv("HETFLOW_DATA", str(tmp_path))  # no traces there: skipped with a note
    empty = suites("small", only=["wfinstances"])
    assert "wfinstances" not in empty and "no *.json traces" in empty.notes[0]


# -- plots ---------------------------------------------------------------------------------------------
def _check_png(path: Path) -> None:
    data = path.read_bytes()
    assert len(data) > 2000 and data[:8] == PNG_MAGIC


def _check_svg(path: Path) -> None:
    text = path.read_text()
    assert len(text) > 2000 and "<svg" in text


def test_gantt_png_svg(tmp_path: Path, instances: list[Instance]) -> None:
    inst = instances[0]
    s = plan(inst.graph, inst.cluster, solver="heft")
    fig = gantt(s, inst.graph, tmp_path / "g.png", title="diamond")
    _check_png(tmp_path / "g.png")
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["embed", "load", "merge"]
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == sorted(s.workers, key=lambda w: w != "gpu0")
    s.gantt(inst.graph, path=str(tmp_path / "g.svg"))  # Schedule.gantt delegates here
    _check_svg(tmp_path / "g.svg")
    with pytest.raises(ValueError, match="format"):
        gantt(s, path=tmp_path / "g.bmpx")


def test_gantt_large_is_fast(tmp_path: Path) -> None:
    import time

    rng = np.random.default_rng(0)
    placements, t_free = [], np.zeros(16)
    for i in range(10_000):
        w = int(rng.integers(16))
        d = float(rng.uniform(0.1, 2))
        placements.append(Placement(i, f"cpu{w}", t_free[w], t_free[w] + d))
        t_free[w] += d
    t0 = time.perf_counter()
    gantt(Schedule(placements, solver="synthetic"), path=tmp_path / "big.png")
    assert time.perf_counter() - t0 < 10
    _check_png(tmp_path / "big.png")


def test_gantt_compare(tmp_path: Path, instances: list[Instance]) -> None:
    inst = instances[0]
    s = plan(inst.graph, inst.cluster, solver="heft")
    actual = s.to_frame()
    actual["start"] = actual["start"] * 1.2 + 1.7e9  # wall-clock stamps, slower than planned
    actual["finish"] = actual["finish"] * 1.2 + 1.7e9
    fig = gantt_compare(s, actual, tmp_path / "cmp.png", graph=inst.graph)
    _check_png(tmp_path / "cmp.png")
    top, bottom = fig.axes[:2]
    assert bottom.get_xlim()[1] == pytest.approx(1.2 * s.makespan * 1.01, rel=1e-6)
    assert top.get_xlim() == bottom.get_xlim()  # shared time axis


def test_summary_plot(tmp_path: Path, results: pd.DataFrame) -> None:
    fig = summary_plot(results, tmp_path / "sum.png")
    assert len(fig.axes) == 2
    _check_png(tmp_path / "sum.png")
    fig = summary_plot(summarize(results), tmp_path / "sum.svg")
    assert len(fig.axes) == 1
    _check_svg(tmp_path / "sum.svg")


# -- CLI -----------------------------------------------------------------------------------------------
def test_hetflow_bench_cli(tmp_path: Path) -> None:
    pytest.importorskip("hetflow.taskgraph.generators")
    out = tmp_path / "bench"
    proc = subprocess.run(
        [sys.executable, "-m", "hetflow", "bench", "--size", "small", "--suite", "layered",
         "--solvers", "heft,peft", "--out-dir", str(out), "--no-progress"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "| suite" in proc.stdout and "peft" in proc.stdout
    for name in ("results.csv", "summary.csv", "summary.md"):
        assert (out / name).stat().st_size > 100
    _check_png(out / "summary.png")
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["suite"]) == {"layered", "all"} and set(summary["solver"]) == {"heft", "peft"}
    heft = summary[summary["solver"] == "heft"]
    assert np.allclose(heft["geomean_ratio_to_reference"], 1.0)


def test_hetflow_bench_bad_solver(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "hetflow", "bench", "--size", "small", "--suite", "layered",
         "--solvers", "nope", "--out-dir", str(tmp_path), "--no-progress"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2 and "unknown solver" in proc.stderr
