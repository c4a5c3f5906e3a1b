"""Plan versus actual: the executed timeline as a DataFrame, makespans, a Gantt chart and a summary.

Actual times come from the Dask task stream (compute start/stop on the worker, wall clock), taken
relative to the moment the executor started submitting. Planned times are the schedule's model seconds
times ``time_scale`` (what the emulated tasks sleep); tasks of a re-plan are shifted by the moment the
re-plan was submitted.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping
from typing import Any

import pandas as pd
from hetflow.flows.runtime.executor import Execution
from hetflow.taskgraph import TaskGraph
from hetflow.taskgraph.dask_convert import DaskSlot

__all__ = ["timeline_frame", "gantt", "summary_markdown", "worker_table"]

COLUMNS = [
    "task",
    "kind",
    "key",
    "round",
    "planned_worker",
    "actual_worker",
    "planned_start",
    "planned_finish",
    "actual_start",
    "actual_finish",
    "attempts",
    "on_plan",
]


def timeline_frame(
    graph: TaskGraph, execution: Execution, slots: Mapping[str, DaskSlot], time_scale: float = 1.0
) -> pd.DataFrame:
    """One row per graph task: plan (of the round whose result was used) joined with what Dask did.

    Columns: ``task, kind, key, round, planned_worker, actual_worker, planned_start, planned_finish,
    actual_start, actual_finish, attempts, on_plan`` (seconds relative to the run start; ``on_plan`` is
    True when the task ran on the Dask worker that hosts its planned worker).
    """
    by_address: dict[str, list[str]] = {}
    for name, slot in slots.items():
        by_address.setdefault(slot.address, []).append(name)
    records: dict[str, dict[str, Any]] = {}
    for rec in execution.stream:  # later records win (a key is computed once per run unless lost)
        records[rec["key"]] = rec
    rows = []
    for t in graph.tasks:
        r = execution.final_round[t]
        rnd = execution.rounds[r]
        p = rnd.schedule.by_task[t]
        key = execution.final_key[t]
        rec = records.get(key)
        start = stop = math.nan
        actual = None
        if rec is not None:
            compute = [s for s in rec["startstops"] if s["action"] == "compute"]
            if compute:
                start, stop = compute[-1]["start"] - execution.t0, compute[-1]["stop"] - execution.t0
            names = by_address.get(rec["worker"], [])
            actual = p.worker if p.worker in names else (names[0] if names else rec["worker"])
        rows.append(
            {
                "task": t,
                "kind": graph.kind(t),
                "key": key,
                "round": r,
                "planned_worker": p.worker,
                "actual_worker": actual,
                "planned_start": rnd.offset + p.start * time_scale,
                "planned_finish": rnd.offset + p.finish * time_scale,
                "actual_start": start,
                "actual_finish": stop,
                "attempts": 1 + execution.failures.get(repr(t), 0),
                "on_plan": actual == p.worker,
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def worker_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per actual worker: tasks run, busy seconds, first start, last finish, utilisation."""
    df = frame.dropna(subset=["actual_start"]).assign(busy=lambda d: d.actual_finish - d.actual_start)
    makespan = float(df.actual_finish.max()) if len(df) else 0.0
    out = df.groupby("actual_worker").agg(
        tasks=("task", "size"),
        busy_s=("busy", "sum"),
        first_start=("actual_start", "min"),
        last_finish=("actual_finish", "max"),
    )
    out["utilisation"] = out.busy_s / makespan if makespan > 0 else 0.0
    return out.reset_index()


def _draw(ax: Any, frame: pd.DataFrame, start: str, finish: str, worker: str, colors: dict, rows: dict) -> None:
    for kind, df in frame.dropna(subset=[start]).groupby("kind"):
        spans = list(zip(df[start], df[finish] - df[start]))
        for w, (s, d) in zip(df[worker], spans):
            ax.broken_barh(
                [(s, max(d, 1e-4))], (rows[w] - 0.4, 0.8), color=colors[kind], edgecolor="white", linewidth=0.4
            )
    ax.set_yticks(list(rows.values()), list(rows.keys()))
    ax.invert_yaxis()
    ax.grid(axis="x", alpha=0.3)


def gantt(frame: pd.DataFrame, path: str | None = None, *, title: str = "", summary: str = "") -> Any:
    """Planned (top) vs actual (bottom) Gantt chart; writes PNG (or HTML with the PNG inlined) to ``path``.

    Returns the matplotlib Figure.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    workers = list(dict.fromkeys(list(frame.planned_worker) + [w for w in frame.actual_worker if w is not None]))
    rows = {w: i for i, w in enumerate(workers)}
    kinds = sorted(frame.kind.unique())
    cmap = plt.get_cmap("tab20")
    colors = {k: cmap(i % 20) for i, k in enumerate(kinds)}
    height = 1.2 + 0.35 * len(workers)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 2 * height), sharex=True)
    _draw(top, frame, "planned_start", "planned_finish", "planned_worker", colors, rows)
    ran = frame.dropna(subset=["actual_worker"])
    _draw(bottom, ran, "actual_start", "actual_finish", "actual_worker", colors, rows)
    planned = float(frame.planned_finish.max()) if len(frame) else 0.0
    actual = float(frame.actual_finish.max()) if len(frame) else 0.0
    top.set_title(f"planned (makespan {planned:.3g} s)")
    bottom.set_title(f"actual (makespan {actual:.3g} s)")
    bottom.set_xlabel("seconds since the run started")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colors[k]) for k in kinds]
    fig.legend(handles, kinds, loc="upper right", fontsize="small", ncols=min(4, len(kinds)) or 1)
    if title:
        fig.suptitle(title, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    if path is not None:
        path = str(path)
        if path.endswith((".html", ".htm")):
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=110)
            img = base64.b64encode(buf.getvalue()).decode()
            with open(path, "w") as f:
                f.write(
                    f"<html><head><meta charset='utf-8'><title>{title or 'hetflow run'}</title></head><body>"
                    f"<h2>{title}</h2><pre>{summary}</pre><img src='data:image/png;base64,{img}'/>"
                    f"{frame.to_html(index=False, float_format=lambda x: f'{x:.3f}')}</body></html>"
                )
        else:
            fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig


def summary_markdown(stats: Mapping[str, Any], workers: pd.DataFrame, replans: list[Mapping[str, Any]]) -> str:
    """A markdown report: headline numbers, per-worker table and re-plans."""
    lines = ["# hetflow run", "", "| metric | value |", "|---|---|"]
    for k, v in stats.items():
        lines.append(f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |")
    lines += ["", "## Workers", "", "| worker | tasks | busy s | utilisation |", "|---|---|---|---|"]
    for row in workers.itertuples():
        lines.append(f"| {row.actual_worker} | {row.tasks} | {row.busy_s:.3f} | {row.utilisation:.0%} |")
    if replans:
        lines += [
            "",
            "## Re-plans",
            "",
            "| round | at s | dead workers | tasks re-planned | results kept |",
            "|---|---|---|---|---|",
        ]
        for r in replans:
            lines.append(f"| {r['round']} | {r['at']:.3f} | {', '.join(r['dead'])} | {r['tasks']} | {r['kept']} |")
    return "\n".join(lines) + "\n"
