"""Matplotlib figures for schedules and planner comparisons, written to PNG/SVG without a display.

* :func:`gantt` — one row per worker, bars coloured by task kind (or worker); fast for 10k-task plans
  (one ``broken_barh`` per worker).
* :func:`gantt_compare` — planned vs actual timelines, two stacked panels on a shared time axis.
* :func:`summary_plot` — a comparison from :func:`hetflow.solvers.experiments.compare`: per-suite geometric mean of
  makespan / reference per solver, plus the per-instance ratios.

Figures are built with :class:`matplotlib.figure.Figure` (no pyplot), so nothing opens a window, no global
figure list grows during long benchmarks, and saving uses the Agg/SVG canvas chosen by the file extension.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from hetflow.solvers.schedule import Schedule
    from hetflow.taskgraph import TaskGraph
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["gantt", "gantt_compare", "summary_plot"]

LABEL_LIMIT = 40  # write task names on the bars when a plan has at most this many tasks
_FORMATS = {".png", ".svg", ".pdf"}


# -- helpers ----------------------------------------------------------------------------------------
def _natural_key(name: str) -> tuple:
    """``gpu0 < gpu2 < gpu10``: split digits out of worker names."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", str(name)))


def _worker_order(names: Sequence[str]) -> list[str]:
    """GPU-ish workers first, then natural order."""
    return sorted(set(names), key=lambda n: (not str(n).startswith("gpu"), _natural_key(n)))


def _frame(data: Schedule | pd.DataFrame) -> pd.DataFrame:
    """Task, worker, start, finish columns from a Schedule or a DataFrame."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        missing = {"task", "worker", "start", "finish"} - set(data.columns)
        if missing:
            raise ValueError(f"timeline frame lacks column(s) {sorted(missing)}")
        return data
    return data.to_frame()


def _palette(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(max(n, 1))]


def _kinds(frame: pd.DataFrame, graph: TaskGraph | None, color_by: str) -> list[str]:
    """The colour group of every row of ``frame``."""
    if color_by == "worker":
        return [str(w) for w in frame["worker"]]
    if color_by == "kind":
        if graph is not None:
            return [graph.kind(t) if t in graph else "task" for t in frame["task"]]
        if "kind" in frame.columns:
            return [str(k) for k in frame["kind"]]
        return ["task"] * len(frame)
    if color_by == "none":
        return ["task"] * len(frame)
    raise ValueError(f"color_by must be 'kind', 'worker' or 'none', not {color_by!r}")


def _save(fig: Figure, path: str | Path | None) -> None:
    if path is None:
        return
    path = Path(path)
    if path.suffix.lower() not in _FORMATS:
        raise ValueError(f"cannot tell the image format of {str(path)!r}; use .png, .svg or .pdf")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")


def _new_figure(width: float, height: float, rows: int = 1, sharex: bool = False) -> tuple[Figure, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(rows, 1, sharex=sharex)
    return fig, axes


def _draw_timeline(
    ax: Axes,
    frame: pd.DataFrame,
    groups: list[str],
    colors: Mapping[str, Any],
    workers: Sequence[str],
    *,
    labels: bool,
) -> None:
    """Bars of ``frame`` on ``ax``, one row per worker (top row first)."""
    row = {w: i for i, w in enumerate(workers)}
    start = frame["start"].to_numpy(float)
    width = frame["finish"].to_numpy(float) - start
    worker = frame["worker"].astype(str).to_numpy()
    group = np.asarray(groups, dtype=object)
    for w in workers:
        mine = np.flatnonzero(worker == w)
        if len(mine) == 0:
            continue
        y = row[w]
        ax.broken_barh(
            list(zip(start[mine], width[mine])),
            (y - 0.4, 0.8),
            facecolors=[colors[g] for g in group[mine]],
            edgecolor="black" if len(frame) <= 400 else "none",
            linewidth=0.4,
        )
    if labels:
        for t, s, d, w in zip(frame["task"], start, width, worker):
            ax.text(s + d / 2, row[w], str(t), ha="center", va="center", fontsize=7, clip_on=True)
    ax.set_yticks(range(len(workers)), [str(w) for w in workers])
    ax.set_ylim(len(workers) - 0.5, -0.5)
    ax.set_ylabel("worker")
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)


def _legend(ax: Axes, colors: Mapping[str, Any]) -> None:
    from matplotlib.patches import Patch

    if len(colors) <= 1 and "task" in colors:
        return
    handles = [Patch(facecolor=c, edgecolor="black", linewidth=0.4, label=k) for k, c in colors.items()]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)


# -- public API -------------------------------------------------------------------------------------
def gantt(
    schedule: Schedule | pd.DataFrame,
    graph: TaskGraph | None = None,
    path: str | Path | None = None,
    *,
    ax: Axes | None = None,
    title: str | None = None,
    color_by: str = "kind",
    workers: Sequence[str] | None = None,
    labels: bool | None = None,
) -> Figure:
    """Draw a Gantt chart of a schedule: one row per worker, one bar per task.

    Parameters
    ----------
    schedule : Schedule or pandas.DataFrame
        A plan, or any timeline with ``task``, ``worker``, ``start`` and ``finish`` columns.
    graph : TaskGraph, optional
        Gives each task's ``kind`` for the colours (without it every bar has one colour unless the frame
        has a ``kind`` column).
    path : str or Path, optional
        Write the figure there; the format follows the extension (``.png``, ``.svg``, ``.pdf``).
    ax : matplotlib Axes, optional
        Draw into this Axes instead of a new figure.
    title : str, optional
        Defaults to the solver name and makespan.
    color_by : {"kind", "worker", "none"}
    workers : sequence of str, optional
        Row order (and idle workers to show); defaults to the workers in the plan, GPUs first.
    labels : bool, optional
        Write task names on the bars; by default only when there are at most 40 tasks.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from hetflow.solvers.schedule import Placement, Schedule
    >>> s = Schedule([Placement("a", "cpu0", 0.0, 2.0), Placement("b", "gpu0", 2.0, 2.5)], solver="manual")
    >>> fig = gantt(s)
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ['gpu0', 'cpu0']
    """
    frame = _frame(schedule)
    groups = _kinds(frame, graph, color_by)
    names = sorted(set(groups), key=_natural_key)
    colors = dict(zip(names, _palette(len(names))))
    rows = list(workers) if workers is not None else _worker_order(frame["worker"].astype(str))
    if ax is None:
        fig, ax = _new_figure(10, max(2.0, 0.35 * len(rows) + 1.2))
    else:
        fig = ax.figure
    show_labels = len(frame) <= LABEL_LIMIT if labels is None else labels
    _draw_timeline(ax, frame, groups, colors, rows, labels=show_labels)
    makespan = float(frame["finish"].max()) if len(frame) else 0.0
    if title is None:
        solver = getattr(schedule, "solver", None)
        title = f"{solver + ': ' if solver else ''}makespan {makespan:.4g} s, {len(frame)} tasks"
    ax.set_title(title)
    ax.set_xlabel("time (s)")
    ax.set_xlim(0, makespan * 1.01 if makespan > 0 else 1.0)
    _legend(ax, colors)
    _save(fig, path)
    return fig


def gantt_compare(
    planned: Schedule | pd.DataFrame,
    actual: pd.DataFrame,
    path: str | Path | None = None,
    *,
    graph: TaskGraph | None = None,
    normalize: bool = True,
    title: str | None = None,
    color_by: str = "kind",
) -> Figure:
    """Planned vs actual timelines: two stacked Gantt panels on one time axis.

    Parameters
    ----------
    planned : Schedule or pandas.DataFrame
        The plan (a Schedule, or a frame with task, worker, start, finish columns).
    actual : pandas.DataFrame
        What ran: ``task``, ``worker``, ``start``, ``finish`` (e.g. from a Dask task stream). Worker names
        should match the plan's for the rows to line up; unknown workers get rows of their own.
    path : str or Path, optional
        Write the figure there (``.png``/``.svg``/``.pdf``).
    graph : TaskGraph, optional
        Gives task kinds for the colours (same colour per kind in both panels).
    normalize : bool
        Shift each timeline so its first start is at 0 (actual timings are usually wall-clock stamps).
    title : str, optional
    color_by : {"kind", "worker", "none"}

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import pandas as pd
    >>> from hetflow.solvers import Placement, Schedule
    >>> planned = Schedule([Placement("a", "cpu0", 0.0, 2.0), Placement("b", "gpu0", 3.0, 4.0)])
    >>> actual = pd.DataFrame({"task": ["a", "b"], "worker": ["cpu0", "gpu0"],  # wall-clock stamps
    ...                        "start": [100.0, 103.5], "finish": [102.1, 104.6]})
    >>> fig = gantt_compare(planned, actual)
    >>> [ax.get_title() for ax in fig.axes[:2]]
    ['planned: makespan 4 s', 'actual: makespan 4.6 s']
    """
    plan_frame = _frame(planned).copy()
    real = _frame(actual).copy()
    for frame in (plan_frame, real):
        if normalize and len(frame):
            t0 = float(frame["start"].min())
            frame["start"] = frame["start"].astype(float) - t0
            frame["finish"] = frame["finish"].astype(float) - t0
    plan_groups = _kinds(plan_frame, graph, color_by)
    real_groups = _kinds(real, graph, color_by)
    names = sorted(set(plan_groups) | set(real_groups), key=_natural_key)
    colors = dict(zip(names, _palette(len(names))))
    rows = _worker_order(list(plan_frame["worker"].astype(str)) + list(real["worker"].astype(str)))
    fig, (top, bottom) = _new_figure(10, max(3.5, 0.7 * len(rows) + 2.0), rows=2, sharex=True)
    labels = max(len(plan_frame), len(real)) <= LABEL_LIMIT
    _draw_timeline(top, plan_frame, plan_groups, colors, rows, labels=labels)
    _draw_timeline(bottom, real, real_groups, colors, rows, labels=labels)
    plan_span = float(plan_frame["finish"].max()) if len(plan_frame) else 0.0
    real_span = float(real["finish"].max()) if len(real) else 0.0
    top.set_title(f"planned: makespan {plan_span:.4g} s")
    bottom.set_title(f"actual: makespan {real_span:.4g} s")
    bottom.set_xlabel("time (s)")
    span = max(plan_span, real_span)
    bottom.set_xlim(0, span * 1.01 if span > 0 else 1.0)
    _legend(top, colors)
    if title:
        fig.suptitle(title)
    _save(fig, path)
    return fig


def summary_plot(
    data: pd.DataFrame,
    path: str | Path | None = None,
    *,
    reference: str = "heft",
    title: str | None = None,
) -> Figure:
    """Summarise a planner comparison.

    Parameters
    ----------
    data : pandas.DataFrame
        Either the per-run results of :func:`hetflow.solvers.experiments.compare` (two panels: grouped bars of
        the per-suite geometric mean of makespan / ``reference`` per solver, and a box plot with the
        per-instance ratios per solver) or a table from :func:`hetflow.solvers.experiments.summarize` (bars
        only).
    path : str or Path, optional
        Write the figure there (``.png``/``.svg``/``.pdf``).
    reference : str
        Name of the reference solver, for the axis labels.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import pandas as pd
    >>> runs = pd.DataFrame({"suite": "demo", "instance": ["a", "a", "b", "b"], "solver": ["heft", "dp"] * 2,
    ...                      "ratio_to_reference": [1.0, 0.9, 1.0, 0.8], "ratio_to_lb": [1.2, 1.08, 1.5, 1.2],
    ...                      "is_best": [False, True, False, True], "plan_seconds": 0.01, "valid": True})
    >>> fig = summary_plot(runs)  # or summary_plot(runs, "summary.png")
    >>> len(fig.axes)  # the per-suite bars and the per-instance box plot
    2
    """
    from hetflow.solvers.experiments import summarize

    raw = data if "instance" in data.columns else None
    summary = summarize(raw) if raw is not None else data
    if summary["suite"].nunique() == 2:  # one suite plus its "all" copy: show it once
        summary = summary[summary["suite"] != "all"]
    suites = list(dict.fromkeys(summary["suite"]))
    solvers = list(dict.fromkeys(summary["solver"]))
    colors = dict(zip(solvers, _palette(len(solvers))))
    panels = 2 if raw is not None else 1
    fig, axes = _new_figure(max(7.0, 1.3 * len(suites) * max(1, len(solvers)) / 3 + 4), 4.2 * panels,
                            rows=panels)
    axes = list(np.atleast_1d(axes))

    ax = axes[0]
    width = 0.8 / max(1, len(solvers))
    value = summary.set_index(["suite", "solver"])["geomean_ratio_to_reference"]
    x = np.arange(len(suites))
    for k, solver in enumerate(solvers):
        heights = [float(value.get((s, solver), np.nan)) for s in suites]
        ax.bar(x + (k - (len(solvers) - 1) / 2) * width, heights, width, label=solver, color=colors[solver])
    ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
    ax.set_xticks(x, suites)
    ax.set_ylabel(f"geomean makespan / {reference}")
    finite = value[np.isfinite(value.to_numpy(float))]
    if len(finite):
        lo, hi = float(finite.min()), float(finite.max())
        pad = max(0.02, 0.1 * (hi - lo))
        ax.set_ylim(max(0.0, min(lo, 1.0) - pad), max(hi, 1.0) + pad)
    ax.legend(ncols=min(len(solvers), 6), fontsize=8, loc="upper left", frameon=False)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.set_title(title or "planner comparison")

    if raw is not None:
        ax = axes[1]
        ok = raw[raw["valid"].astype(bool) & np.isfinite(raw["ratio_to_reference"].astype(float))]
        series = [ok.loc[ok["solver"] == s, "ratio_to_reference"].to_numpy(float) for s in solvers]
        ax.boxplot(series, tick_labels=solvers, showfliers=False, widths=0.6)
        rng = np.random.default_rng(0)
        raw_suites = list(dict.fromkeys(ok["suite"]))
        suite_colors = dict(zip(raw_suites, _palette(len(raw_suites))))
        for k, solver in enumerate(solvers):
            rows = ok[ok["solver"] == solver]
            jitter = rng.uniform(-0.2, 0.2, len(rows))
            ax.scatter(k + 1 + jitter, rows["ratio_to_reference"], s=9, alpha=0.7,
                       c=[suite_colors.get(s, "grey") for s in rows["suite"]], linewidths=0)
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], marker="o", linestyle="", color=c, label=s) for s, c in suite_colors.items()]
        ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
                  title="suite")
        ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
        ax.set_ylabel(f"makespan / {reference} per instance")
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    _save(fig, path)
    return fig
