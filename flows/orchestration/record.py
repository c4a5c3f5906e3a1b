"""What a run leaves behind: :class:`RunRecord` and :func:`write_outputs`, the one place that writes run outputs.

``run_plan`` (and through it ``hetflow run``, ``hetflow demo`` and scheduled runs) writes a run's folder with
:func:`write_outputs`:

* ``schedule.json`` — the plan (DESIGN.md's schedule format);
* ``timeline.csv`` — one row per task, planned vs actual (:func:`hetflow.flows.runtime.timeline.timeline_frame`);
* ``results.json`` — the merge digest and each sink's result; a sink whose result is a pandas DataFrame is
  written as ``results.parquet`` (``results-<sink>.parquet`` when there are several) and named in
  ``results.json``; other results over 1 MiB or not JSON go to ``results/<i>-<sink>.<ext>`` (npy, bin, txt,
  json, ...; :func:`hetflow.flows.runtime.results_io.result_entry`) and are referenced there. A run that
  failed (a task failed or ran past its limit, a time-out, a lost scheduler) writes the sinks that
  finished, and its ``results.json`` starts with ``"complete": false``, the reason (``"incomplete"``) and
  the sinks without a result (``"missing"``); the summary's first row says so too;
* ``summary.md`` — headline numbers, per-worker load, tasks per kind and worker, re-plans;
* ``gantt.png`` and ``gantt.html`` — the planned-vs-actual chart (:func:`hetflow.solvers.charts.gantt_compare`;
  the HTML one is interactive).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from hetflow.flows.runtime.digest import update_digest
from hetflow.flows.runtime.results_io import result_entry
from hetflow.flows.runtime.timeline import kind_worker_table, run_chart, summary_markdown, worker_table
from hetflow.solvers.schedule import Schedule
from hetflow.taskgraph import Cluster

__all__ = ["RunRecord", "merge_digest", "write_outputs"]


@dataclass
class RunRecord:
    """Everything a run produced: merged sink results, plan, actual timeline and their comparison.

    ``results`` maps each sink to its result in ``graph.sinks`` order (the merge order). Times are seconds;
    planned ones are model seconds times ``time_scale``, actual ones are relative to the first submit.
    ``planned_makespan`` is the original plan's; after re-plans, ``replanned_makespan`` is when the plan in
    force at the end expected to finish. ``paths`` names the files :func:`write_outputs` wrote. A partial
    record (of a failed run) has ``incomplete`` (the reason) and ``missing`` (the sinks without a result).
    """

    graph_name: str
    solver: str
    schedule: Schedule
    cluster: Cluster
    results: dict[Hashable, Any]
    timeline: pd.DataFrame
    planned_makespan: float
    actual_makespan: float
    wall_seconds: float
    submit_seconds: float
    time_scale: float
    replans: list[dict[str, Any]] = field(default_factory=list)
    dashboard_link: str | None = None
    paths: dict[str, str] = field(default_factory=dict)
    incomplete: str | None = None
    missing: list[Hashable] = field(default_factory=list)

    @property
    def digest(self) -> str:
        """Hash of the merged output: equal digests mean identical results for every sink."""
        return merge_digest(self.results)

    @property
    def ratio(self) -> float:
        """Actual over planned makespan."""
        return self.actual_makespan / self.planned_makespan if self.planned_makespan > 0 else float("nan")

    @property
    def attempts(self) -> int:
        return int(self.timeline.attempts.sum())

    @property
    def replanned_makespan(self) -> float:
        """The last planned finish over every round (equals ``planned_makespan`` without re-plans)."""
        if not self.replans or not len(self.timeline):
            return self.planned_makespan
        return float(self.timeline.planned_finish.max())

    def summary(self) -> dict[str, Any]:
        """Headline numbers (JSON-able)."""
        tl = self.timeline
        return {
            **({"INCOMPLETE": self.incomplete, "missing_sinks": len(self.missing)} if self.incomplete else {}),
            "graph": self.graph_name,
            "tasks": len(tl),
            "sinks": len(self.results),
            "solver": self.solver,
            "workers": len(self.cluster),
            "planned_makespan_s": round(self.planned_makespan, 4),
            **({"replanned_makespan_s": round(self.replanned_makespan, 4)} if self.replans else {}),
            "actual_makespan_s": round(self.actual_makespan, 4),
            "actual_over_planned": round(self.ratio, 4),
            "wall_s": round(self.wall_seconds, 4),
            "submit_s": round(self.submit_seconds, 4),
            "on_planned_worker": f"{int(tl.on_plan.sum())}/{len(tl)}",
            "retried_attempts": int(self.attempts - len(tl)),
            "replans": len(self.replans),
            "time_scale": self.time_scale,
            "digest": self.digest,
            "dashboard": self.dashboard_link or "-",
        }

    def to_markdown(self) -> str:
        return summary_markdown(self.summary(), worker_table(self.timeline), self.replans,
                                kinds=kind_worker_table(self.timeline))  # fmt: skip

    def gantt(self, path: str | Path | None = None) -> Any:
        """Planned-vs-actual Gantt chart: a PNG (matplotlib Figure) or, when ``path`` ends in ``.html``, an
        interactive bokeh page (see :func:`hetflow.flows.runtime.timeline.run_chart`)."""
        title = f"{self.graph_name}: {self.solver} plan vs Dask execution"
        return run_chart(self.timeline, path, cluster=self.cluster, replans=self.replans,
                         planned_makespan=self.planned_makespan, title=title)  # fmt: skip

    def save(self, out_dir: str | Path) -> dict[str, str]:
        """Write the run's outputs to ``out_dir`` (:func:`write_outputs`); return and remember their paths."""
        self.paths = write_outputs(self, out_dir)
        return self.paths


def merge_digest(results: dict[Hashable, Any]) -> str:
    """Content hash of the ``(sink, result)`` pairs in merge order (:mod:`hetflow.flows.runtime.digest`)."""
    h = hashlib.sha256()
    for k, v in results.items():
        update_digest(h, k)
        update_digest(h, v)
    return h.hexdigest()[:16]


def _file_safe(name: Hashable) -> str:
    return re.sub(r"[^\w.-]+", "_", str(name))


def write_outputs(record: RunRecord, out_dir: str | Path) -> dict[str, str]:
    """Write a run's outputs (module docstring) into ``out_dir``; return ``{what: path}``.

    Keys: ``schedule``, ``timeline``, ``results``, ``table`` (or ``table:<sink>`` for several DataFrame
    sinks), ``summary``, ``gantt`` and ``gantt_html``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {"schedule": out / "schedule.json", "timeline": out / "timeline.csv"}
    record.schedule.save(str(paths["schedule"]))
    record.timeline.to_csv(paths["timeline"], index=False)

    tables = [s for s, v in record.results.items() if isinstance(v, pd.DataFrame)]
    entries = []
    for i, (sink, value) in enumerate(record.results.items()):
        if sink in tables:
            one = len(tables) == 1
            name = "results.parquet" if one else f"results-{_file_safe(sink)}.parquet"
            value.to_parquet(out / name, index=False)
            paths["table" if one else f"table:{sink}"] = out / name
            value = {"parquet": name, "rows": len(value)}
        entries.append([str(sink), result_entry(value, out, f"{i:03d}-{_file_safe(sink)[:60]}")])
    paths["results"] = out / "results.json"
    status: dict[str, Any] = {}  # a complete run's results.json has no status keys
    if record.incomplete is not None:
        status = {"complete": False, "incomplete": record.incomplete, "missing": [str(s) for s in record.missing]}
    paths["results"].write_text(json.dumps({**status, "digest": record.digest, "results": entries}, indent=1) + "\n")

    paths["summary"] = out / "summary.md"
    paths["summary"].write_text(record.to_markdown(), encoding="utf-8")
    paths["gantt"], paths["gantt_html"] = out / "gantt.png", out / "gantt.html"
    record.gantt(paths["gantt"])
    record.gantt(paths["gantt_html"])
    return {k: str(v) for k, v in paths.items()}
