"""Plan versus actual: the executed timeline as a DataFrame, per-worker and per-kind tables, the chart and a summary.

Actual times come from the Dask task stream (compute start/stop on the worker, wall clock), taken
relative to the moment the executor started submitting. Planned times are the schedule's model seconds
times ``time_scale`` (what the emulated tasks sleep); tasks of a re-plan are shifted by the moment the
re-plan was submitted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from hetflow.flows.runtime.executor import Execution
from hetflow.solvers.charts import gantt_compare
from hetflow.taskgraph import Cluster, TaskGraph
from hetflow.taskgraph.dask_convert import DaskSlot

__all__ = ["timeline_frame", "worker_table", "kind_worker_table", "run_chart", "summary_markdown"]

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
    for address, name in getattr(execution, "names", {}).items():  # restarted workers' new addresses too
        if name not in by_address.setdefault(address, []):
            by_address[address].append(name)
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


def kind_worker_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Tasks per (kind, actual worker) plus a ``total`` column; kinds in the order they were planned to start."""
    t = pd.crosstab(frame["kind"], frame["actual_worker"].fillna("?"))
    first = frame.groupby("kind")["planned_start"].min()
    t = t.reindex(sorted(t.index, key=lambda k: (first.get(k, math.inf), str(k))))
    t["total"] = t.sum(axis=1)
    t.index.name, t.columns.name = "kind", None
    return t


def run_chart(
    frame: pd.DataFrame,
    path: str | Path | None = None,
    *,
    cluster: Cluster | None = None,
    replans: Sequence[Mapping[str, Any]] = (),
    planned_makespan: float | None = None,
    title: str = "",
) -> Any:
    """The planned-vs-actual chart of a run's timeline (:func:`hetflow.solvers.charts.gantt_compare`).

    Planned bars (of the round whose result was used) above, actual ones below, on the run's clock; one
    row per worker of ``cluster`` labelled with its device class; ``replans`` (``RunRecord.replans``) marked.
    ``path`` ending in ``.html`` gives the interactive bokeh page, else a matplotlib image.
    """
    columns = ["task", "kind", "worker", "start", "finish"]
    planned = frame.rename(columns={"planned_worker": "worker", "planned_start": "start", "planned_finish": "finish"})
    actual = frame.dropna(subset=["actual_start"]).rename(
        columns={"actual_worker": "worker", "actual_start": "start", "actual_finish": "finish"}
    )
    return gantt_compare(planned[columns], actual[columns], path, cluster=cluster, normalize=False, events=replans,
                         planned_makespan=planned_makespan, title=title or None)  # fmt: skip


def summary_markdown(
    stats: Mapping[str, Any],
    workers: pd.DataFrame,
    replans: Sequence[Mapping[str, Any]],
    *,
    kinds: pd.DataFrame | None = None,
) -> str:
    """A markdown report: headline numbers, per-worker table, tasks per kind and worker (``kinds``), re-plans."""
    lines = ["# hetflow run", "", "| metric | value |", "|---|---|"]
    for k, v in stats.items():
        lines.append(f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |")
    lines += ["", "## Workers", "", "| worker | tasks | busy s | utilisation |", "|---|---|---|---|"]
    for row in workers.itertuples():
        lines.append(f"| {row.actual_worker} | {row.tasks} | {row.busy_s:.3f} | {row.utilisation:.0%} |")
    if kinds is not None and len(kinds):
        lines += ["", "## Tasks per kind and worker", "", "| kind | " + " | ".join(map(str, kinds.columns)) + " |",
                  "|---" * (len(kinds.columns) + 1) + "|"]  # fmt: skip
        for kind, row in kinds.iterrows():
            lines.append(f"| {kind} | " + " | ".join(str(int(v)) for v in row) + " |")
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
