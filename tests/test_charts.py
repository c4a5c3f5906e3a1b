"""One Gantt implementation (hetflow.solvers.charts) for plans and runs, and the one writer of run outputs.

No Dask here: runs are synthetic RunRecords whose timeline has the columns the executor's timeline has.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hetflow.flows.orchestration.record import RunRecord, write_outputs
from hetflow.solvers import Placement, Schedule
from hetflow.solvers.charts import gantt, gantt_compare, kind_colors, worker_rows
from hetflow.taskgraph import Cluster, TaskGraph

CLUSTER = Cluster.local(gpus=1, cpus=3)  # cpu2 stays idle below


def _graph() -> TaskGraph:
    g = TaskGraph(name="tiny")
    g.add_task("a", {"cpu": 1.0}, kind="load")
    g.add_task("b", {"cpu": 3.0, "gpu": 1.0}, kind="gpu-friendly")
    g.add_task("c", {"cpu": 1.0}, kind="load")
    g.add_task("d", {"cpu": 0.5}, kind="merge")
    for u, v in [("a", "b"), ("c", "b"), ("b", "d")]:
        g.add_edge(u, v)
    return g.validate()


def _schedule() -> Schedule:
    return Schedule([Placement("a", "cpu0", 0.0, 1.0), Placement("c", "cpu1", 0.0, 1.0),
                     Placement("b", "gpu0", 1.0, 2.0), Placement("d", "cpu0", 2.0, 2.5)], solver="manual")  # fmt: skip


def _record(replanned: bool = False) -> RunRecord:
    """A run of _schedule() at time scale 2; with ``replanned``, gpu0 died at 2.5 s and b, d were re-planned."""
    s, g = _schedule(), _graph()
    rows = []
    for p in s.placements:
        moved = replanned and p.task in ("b", "d")
        planned_worker = "cpu1" if moved and p.task == "b" else p.worker
        offset = 2.5 if moved else 0.0
        start, finish = offset + 2 * p.start, offset + 2 * (p.finish + (2.0 if moved and p.task == "b" else 0.0))
        rows.append({"task": p.task, "kind": g.kind(p.task), "key": f"k-{p.task}", "round": int(moved),
                     "planned_worker": planned_worker, "actual_worker": planned_worker, "planned_start": start,
                     "planned_finish": finish, "actual_start": start + 0.1, "actual_finish": finish + 0.3,
                     "attempts": 1, "on_plan": True})  # fmt: skip
    timeline = pd.DataFrame(rows)
    replans = [{"round": 1, "at": 2.5, "dead": ["gpu0"], "tasks": 2, "kept": 2, "planned_makespan": 9.0}]
    return RunRecord("tiny", "manual", s, CLUSTER, {"d": pd.DataFrame({"x": [1, 2, 3]})}, timeline,
                     planned_makespan=s.makespan * 2, actual_makespan=float(timeline.actual_finish.max()),
                     wall_seconds=9.0, submit_seconds=0.01, time_scale=2.0,
                     replans=replans if replanned else [])  # fmt: skip


def _legend_colors(ax) -> dict[str, tuple]:
    legend = ax.get_legend()
    return {t.get_text(): tuple(h.get_facecolor()) for t, h in zip(legend.get_texts(), legend.legend_handles)}


def test_one_colour_per_kind_in_the_plan_chart_and_the_run_chart():
    plan_fig = gantt(_schedule(), _graph())
    run_fig = _record().gantt()
    plan_colors, run_colors = _legend_colors(plan_fig.axes[0]), _legend_colors(run_fig.axes[0])
    assert set(plan_colors) == {"gpu-friendly", "load", "merge"}
    assert plan_colors == run_colors
    assert kind_colors(["merge", "load", "gpu-friendly"]) == kind_colors(["gpu-friendly", "merge", "load"])


def test_every_worker_is_a_row_labelled_with_its_device_class():
    fig = _record().gantt()
    for ax in fig.axes[:2]:
        assert [t.get_text() for t in ax.get_yticklabels()] == ["gpu0 (gpu)", "cpu0 (cpu)", "cpu1 (cpu)", "cpu2 (cpu)"]
    plan_rows = [t.get_text() for t in gantt(_schedule(), cluster=CLUSTER).axes[0].get_yticklabels()]
    assert plan_rows == ["gpu0 (gpu)", "cpu0 (cpu)", "cpu1 (cpu)", "cpu2 (cpu)"]
    assert list(worker_rows(["cpu1", "zz"], CLUSTER).values())[-1] == "zz"  # a worker the cluster lacks comes last


def test_replans_are_marked_and_the_planned_makespan_matches_the_summary():
    record = _record(replanned=True)
    summary = record.summary()
    fig = record.gantt()
    top, bottom = fig.axes[:2]
    numbers = [float(x) for x in re.findall(r"[\d.]+(?= s)", top.get_title())]
    assert numbers == pytest.approx([summary["planned_makespan_s"], summary["replanned_makespan_s"]], rel=1e-3)
    assert summary["planned_makespan_s"] == 5.0 and summary["replanned_makespan_s"] == 10.5
    assert float(re.findall(r"[\d.]+(?= s)", bottom.get_title())[0]) == pytest.approx(summary["actual_makespan_s"])
    for ax in (top, bottom):
        assert [line.get_xdata()[0] for line in ax.get_lines()] == [2.5]  # the re-plan
        assert any("gpu0 died: re-plan 1" in t.get_text() for t in ax.texts)
        hatched = [c for c in ax.collections if c.get_hatch() == "//"]
        assert len(hatched) == 1 and hatched[0].get_paths()[0].get_extents().x0 == pytest.approx(2.5)
    no_replan = _record().gantt().axes[0]
    assert "after re-plans" not in no_replan.get_title() and not no_replan.get_lines()
    assert "replanned_makespan_s" not in _record().summary()


def test_html_chart_is_interactive(tmp_path: Path):
    record = _record(replanned=True)
    layout = record.gantt(tmp_path / "run.html")
    page = (tmp_path / "run.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "Bokeh" in page and len(page) > 10_000
    from bokeh.models import HoverTool, Span

    figures = [c for c in layout.children if hasattr(c, "renderers")]
    assert len(figures) == 2 and figures[0].x_range is figures[1].x_range  # one time axis
    for fig in figures:
        assert list(fig.y_range.factors) == ["cpu2 (cpu)", "cpu1 (cpu)", "cpu0 (cpu)", "gpu0 (gpu)"]
        (hover,) = [t for t in fig.tools if isinstance(t, HoverTool)]
        assert [name for name, _ in hover.tooltips] == ["task", "kind", "worker", "planned", "actual"]
        assert [s.location for s in fig.center if isinstance(s, Span)] == [2.5]
    planned, actual = figures
    bars = {r.data_source.data["kind"][0]: r.data_source.data for r in actual.renderers
            if "kind" in r.data_source.data}  # fmt: skip
    b = bars["gpu-friendly"]
    assert list(b["task"]) == ["b"] and b["worker"][0] == "cpu1 (cpu)"
    assert b["start_planned"][0] == pytest.approx(4.5) and b["start_actual"][0] == pytest.approx(4.6)
    assert b["finish_planned"][0] == pytest.approx(10.5) and b["finish_actual"][0] == pytest.approx(10.8)
    colors = kind_colors(["load", "gpu-friendly", "merge"])
    assert all(d["color"][0] == colors[k] for k, d in bars.items())
    with pytest.raises(ValueError, match="chart format"):
        gantt_compare(_schedule(), _schedule().to_frame(), tmp_path / "run.bmp")


def test_write_outputs_is_the_one_writer(tmp_path: Path):
    record = _record(replanned=True)
    paths = write_outputs(record, tmp_path / "out")
    assert sorted(paths) == ["gantt", "gantt_html", "results", "schedule", "summary", "table", "timeline"]
    for p in paths.values():
        assert Path(p).stat().st_size > 0, p
    assert Path(paths["gantt"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    results = json.loads(Path(paths["results"]).read_text())
    assert results == {"digest": record.digest, "results": [["d", {"parquet": "results.parquet", "rows": 3}]]}
    pd.testing.assert_frame_equal(pd.read_parquet(paths["table"]), record.results["d"])
    assert Schedule.load(paths["schedule"]) == record.schedule
    summary = Path(paths["summary"]).read_text()
    assert "## Tasks per kind and worker" in summary and "| load | 1 | 1 | 2 |" in summary
    assert "## Re-plans" in summary and "| replanned_makespan_s | 10.5 |" in summary
    assert record.save(tmp_path / "again") == {k: p.replace("/out/", "/again/") for k, p in paths.items()}
    assert record.paths["table"].endswith("again/results.parquet")


def test_several_table_sinks_get_a_file_each(tmp_path: Path):
    record = _record()
    record.results = {"x/1": pd.DataFrame({"a": [1]}), "y": pd.DataFrame({"b": [2.0]}), "z": 7, "w": np.arange(2)}
    paths = write_outputs(record, tmp_path)
    assert Path(paths["table:x/1"]).name == "results-x_1.parquet" and Path(paths["table:y"]).exists()
    entries = dict(json.loads(Path(paths["results"]).read_text())["results"])
    assert entries["z"] == 7 and entries["y"]["parquet"] == "results-y.parquet"
    assert entries["w"]["$file"] == "results/003-w.npy"  # not JSON: a file of its own (results_io), not its repr
    assert np.load(tmp_path / entries["w"]["$file"]).tolist() == [0, 1]
