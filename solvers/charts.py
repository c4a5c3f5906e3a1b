"""Gantt charts of plans and runs: one row per worker, one bar per task, one colour per task kind.

* :func:`gantt` — a plan (or any timeline): PNG/SVG/PDF via matplotlib; fast for 10k-task plans (one
  ``broken_barh`` per worker).
* :func:`gantt_compare` — planned vs actual, two panels on one time axis: a PNG/SVG/PDF via matplotlib, or
  an interactive HTML page via bokeh when the path ends in ``.html`` (hover a bar: task, kind, worker, planned
  and actual start/finish). Re-plans are marked (a dashed line, and the dead workers' rows hatched after it).
* :func:`kind_colors` — the colour of each task kind; both charts use it, so a kind has one colour in the
  plan chart and the run chart.

With a ``cluster``, every worker gets a row labelled with its device class (``gpu0 (gpu)``), idle workers
too. Figures are :class:`matplotlib.figure.Figure` objects (no pyplot): nothing opens a window and no global
figure list grows during long benchmarks.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from hetflow.taskgraph.cluster import natural_key

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from hetflow.solvers.schedule import Schedule
    from hetflow.taskgraph import Cluster, TaskGraph
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["gantt", "gantt_compare", "kind_colors", "worker_rows"]

LABEL_LIMIT = 40  # write task names on the bars when a plan has at most this many tasks
IMAGE_FORMATS = {".png", ".svg", ".pdf"}
HTML_FORMATS = {".html", ".htm"}
DEAD = "#888888"  # re-plan marks


# -- shared pieces ----------------------------------------------------------------------------------
def palette(n: int) -> list[str]:
    """``n`` distinct colours (hex): matplotlib's tab10, or tab20 beyond 10.

    Examples
    --------
    >>> palette(2)
    ['#1f77b4', '#ff7f0e']
    """
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [to_hex(cmap(i % cmap.N)) for i in range(max(n, 1))]


def kind_colors(kinds: Iterable[str]) -> dict[str, str]:
    """Colour (hex) of each distinct name in ``kinds``, assigned in natural order: the same set of kinds
    always gets the same colours.

    Examples
    --------
    >>> kind_colors(["merge", "embed", "embed"])
    {'embed': '#1f77b4', 'merge': '#ff7f0e'}
    """
    names = sorted({str(k) for k in kinds}, key=natural_key)
    return dict(zip(names, palette(len(names))))


def worker_rows(names: Iterable[str], cluster: Cluster | None = None) -> dict[str, str]:
    """Row order and labels: worker name -> row label, GPU workers first, then natural order.

    With ``cluster`` every one of its workers gets a row labelled ``name (device)``, idle or not; names
    not in the cluster follow with plain labels.

    Examples
    --------
    >>> from hetflow.taskgraph import Cluster
    >>> worker_rows(["cpu0"], Cluster.local(gpus=1, cpus=2))
    {'gpu0': 'gpu0 (gpu)', 'cpu0': 'cpu0 (cpu)', 'cpu1': 'cpu1 (cpu)'}
    """
    device = {w.name: w.device for w in cluster.workers} if cluster is not None else {}
    every = set(device) | {str(n) for n in names}
    gpu = lambda n: device.get(n, "gpu" if n.startswith("gpu") else "")  # noqa: E731
    order = sorted(every, key=lambda n: (n not in device, gpu(n) != "gpu", natural_key(n)))
    return {n: f"{n} ({device[n]})" if n in device else n for n in order}


def _frame(data: Schedule | pd.DataFrame) -> pd.DataFrame:
    """Task, worker, start, finish columns from a Schedule or a DataFrame."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        missing = {"task", "worker", "start", "finish"} - set(data.columns)
        if missing:
            raise ValueError(f"timeline frame lacks column(s) {sorted(missing)}")
        return data
    return data.to_frame()


def _groups(frame: pd.DataFrame, graph: TaskGraph | None, color_by: str) -> list[str]:
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


def _colors(groups: Iterable[str], graph: TaskGraph | None, color_by: str) -> dict[str, str]:
    """Kind colours over every kind of ``graph`` when given (one colour per kind whatever part is drawn)."""
    if color_by == "kind" and graph is not None:
        return kind_colors([*(graph.kind(t) for t in graph.tasks), *groups])
    return kind_colors(groups)


def _output(path: str | Path | None, allowed: set[str]) -> Path | None:
    if path is None:
        return None
    path = Path(path)
    if path.suffix.lower() not in allowed:
        raise ValueError(f"cannot tell the chart format of {str(path)!r}; use {', '.join(sorted(allowed))}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def save_figure(fig: Figure, path: str | Path | None) -> None:
    """Write a matplotlib figure; the format follows the extension (``.png``, ``.svg``, ``.pdf``).

    Examples
    --------
    >>> import os, tempfile
    >>> fig, ax = new_figure(2, 1)
    >>> path = os.path.join(tempfile.mkdtemp(), "empty.svg")
    >>> save_figure(fig, path); os.path.getsize(path) > 0
    True
    """
    out = _output(path, IMAGE_FORMATS)
    if out is not None:
        fig.savefig(out, dpi=120, bbox_inches="tight")


def new_figure(width: float, height: float, rows: int = 1, sharex: bool = False) -> tuple[Figure, Any]:
    """A constrained-layout matplotlib Figure (no pyplot) and its axes.

    Examples
    --------
    >>> fig, axes = new_figure(6, 4, rows=2, sharex=True)
    >>> len(axes), fig.get_size_inches().tolist()
    (2, [6.0, 4.0])
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(rows, 1, sharex=sharex)
    return fig, axes


def _draw_timeline(
    ax: Axes,
    frame: pd.DataFrame,
    groups: list[str],
    colors: Mapping[str, Any],
    rows: Mapping[str, str],
    *,
    labels: bool,
) -> None:
    """Bars of ``frame`` on ``ax``, one row per worker of ``rows`` (top row first)."""
    row = {w: i for i, w in enumerate(rows)}
    start = frame["start"].to_numpy(float)
    width = frame["finish"].to_numpy(float) - start
    worker = frame["worker"].astype(str).to_numpy()
    group = np.asarray(groups, dtype=object)
    for w in rows:
        mine = np.flatnonzero(worker == w)
        if len(mine) == 0:
            continue
        ax.broken_barh(
            list(zip(start[mine], np.maximum(width[mine], 1e-9))),
            (row[w] - 0.4, 0.8),
            facecolors=[colors[g] for g in group[mine]],
            edgecolor="black" if len(frame) <= 400 else "none",
            linewidth=0.4,
        )
    if labels:
        for t, s, d, w in zip(frame["task"], start, width, worker):
            ax.text(s + d / 2, row[w], str(t), ha="center", va="center", fontsize=7, clip_on=True)
    ax.set_yticks(range(len(rows)), list(rows.values()))
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_ylabel("worker")
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)


def _legend(ax: Axes, colors: Mapping[str, Any]) -> None:
    from matplotlib.patches import Patch

    if len(colors) <= 1 and "task" in colors:
        return
    handles = [Patch(facecolor=c, edgecolor="black", linewidth=0.4, label=k) for k, c in colors.items()]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)


def _span(frame: pd.DataFrame) -> float:
    finish = frame["finish"].to_numpy(float) if len(frame) else np.zeros(0)
    finish = finish[np.isfinite(finish)]
    return float(finish.max()) if len(finish) else 0.0


# -- the plan chart ---------------------------------------------------------------------------------
def gantt(
    schedule: Schedule | pd.DataFrame,
    graph: TaskGraph | None = None,
    path: str | Path | None = None,
    *,
    ax: Axes | None = None,
    title: str | None = None,
    color_by: str = "kind",
    workers: Sequence[str] | None = None,
    cluster: Cluster | None = None,
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
        Row order (and idle workers to show); default: :func:`worker_rows`.
    cluster : Cluster, optional
        A row for each of its workers, labelled with the device class.
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
    groups = _groups(frame, graph, color_by)
    colors = _colors(groups, graph, color_by)
    if workers is not None:
        known = worker_rows(workers, cluster)
        rows = {w: known[str(w)] for w in map(str, workers)}
    else:
        rows = worker_rows(frame["worker"].astype(str), cluster)
    out = _output(path, IMAGE_FORMATS)
    if ax is None:
        fig, ax = new_figure(10, max(2.0, 0.35 * len(rows) + 1.2))
    else:
        fig = ax.figure
    show_labels = len(frame) <= LABEL_LIMIT if labels is None else labels
    _draw_timeline(ax, frame, groups, colors, rows, labels=show_labels)
    makespan = _span(frame)
    if title is None:
        solver = getattr(schedule, "solver", None)
        title = f"{solver + ': ' if solver else ''}makespan {makespan:.4g} s, {len(frame)} tasks"
    ax.set_title(title)
    ax.set_xlabel("time (s)")
    ax.set_xlim(0, makespan * 1.01 if makespan > 0 else 1.0)
    _legend(ax, {g: colors[g] for g in sorted(set(groups), key=natural_key)})
    save_figure(fig, out)
    return fig


# -- planned vs actual ------------------------------------------------------------------------------
def gantt_compare(
    planned: Schedule | pd.DataFrame,
    actual: pd.DataFrame,
    path: str | Path | None = None,
    *,
    graph: TaskGraph | None = None,
    cluster: Cluster | None = None,
    normalize: bool = True,
    events: Sequence[Mapping[str, Any]] = (),
    planned_makespan: float | None = None,
    title: str | None = None,
    color_by: str = "kind",
) -> Any:
    """Planned vs actual timelines: two stacked Gantt panels on one time axis.

    Parameters
    ----------
    planned : Schedule or pandas.DataFrame
        The plan (a Schedule, or a frame with task, worker, start, finish columns and optionally kind).
    actual : pandas.DataFrame
        What ran: ``task``, ``worker``, ``start``, ``finish`` (e.g. from a Dask task stream). Worker names
        should match the plan's for the rows to line up; unknown workers get rows of their own.
    path : str or Path, optional
        ``.html``: an interactive bokeh page (hover a bar for its task, kind, worker and planned vs actual
        times); ``.png``/``.svg``/``.pdf``: a matplotlib image.
    graph : TaskGraph, optional
        Gives task kinds for the colours (same colour per kind in both panels and in :func:`gantt`).
    cluster : Cluster, optional
        A row for each of its workers, idle ones too, labelled with the device class.
    normalize : bool
        Shift each timeline so its first start is at 0 (actual timings are usually wall-clock stamps).
    events : sequence of mappings
        Re-plans to mark: ``at`` (seconds on the chart's axis), ``dead`` (the workers that died) and
        optionally ``round``. Each gets a dashed line on both panels; the dead workers' rows are hatched
        from then on.
    planned_makespan : float, optional
        The planned makespan to print (default: the planned panel's last finish). When re-plans move the
        planned finish, the title gives both.
    title : str, optional
    color_by : {"kind", "worker", "none"}

    Returns
    -------
    matplotlib.figure.Figure, or the bokeh layout for ``.html``

    Examples
    --------
    >>> from hetflow.solvers.schedule import Placement, Schedule
    >>> from hetflow.taskgraph import Cluster
    >>> plan = Schedule([Placement("a", "cpu0", 0.0, 2.0), Placement("b", "gpu0", 2.0, 2.5)])
    >>> ran = plan.to_frame().assign(finish=lambda d: d.finish * 1.1)
    >>> fig = gantt_compare(plan, ran, cluster=Cluster.local(gpus=1, cpus=2))
    >>> [t.get_text() for t in fig.axes[1].get_yticklabels()]
    ['gpu0 (gpu)', 'cpu0 (cpu)', 'cpu1 (cpu)']
    """
    plan_frame = _frame(planned).copy()
    real = _frame(actual).copy()
    for frame in (plan_frame, real):
        if normalize and len(frame):
            t0 = float(frame["start"].min())
            frame["start"] = frame["start"].astype(float) - t0
            frame["finish"] = frame["finish"].astype(float) - t0
    plan_groups, real_groups = _groups(plan_frame, graph, color_by), _groups(real, graph, color_by)
    colors = _colors([*plan_groups, *real_groups], graph, color_by)
    rows = worker_rows([*plan_frame["worker"].astype(str), *real["worker"].astype(str)], cluster)
    plan_span, real_span = _span(plan_frame), _span(real)
    planned_makespan = plan_span if planned_makespan is None else float(planned_makespan)
    plan_title = f"planned: makespan {planned_makespan:.4g} s"
    if not math.isclose(plan_span, planned_makespan, rel_tol=1e-6, abs_tol=1e-9):
        plan_title += f" (after re-plans {plan_span:.4g} s)"
    real_title = f"actual: makespan {real_span:.4g} s"
    end = max(plan_span, real_span, *(float(e["at"]) for e in events)) if events else max(plan_span, real_span)
    if path is not None and Path(path).suffix.lower() in HTML_FORMATS:
        return _bokeh_compare(plan_frame, real, plan_groups, real_groups, colors, rows, events, end,
                              (plan_title, real_title), title, _output(path, HTML_FORMATS))  # fmt: skip
    out = _output(path, IMAGE_FORMATS)
    fig, (top, bottom) = new_figure(10, max(3.5, 0.7 * len(rows) + 2.0), rows=2, sharex=True)
    labels = max(len(plan_frame), len(real)) <= LABEL_LIMIT
    _draw_timeline(top, plan_frame, plan_groups, colors, rows, labels=labels)
    _draw_timeline(bottom, real, real_groups, colors, rows, labels=labels)
    for ax in (top, bottom):
        _mark_events(ax, events, rows, end)
    top.set_title(plan_title)
    bottom.set_title(real_title)
    bottom.set_xlabel("time (s)")
    bottom.set_xlim(0, end * 1.01 if end > 0 else 1.0)
    _legend(top, {g: colors[g] for g in sorted({*plan_groups, *real_groups}, key=natural_key)})
    if title:
        fig.suptitle(title)
    save_figure(fig, out)
    return fig


def _event_text(event: Mapping[str, Any]) -> str:
    dead = ", ".join(map(str, event.get("dead", ())))
    round_ = event.get("round")
    return f"{dead + ' died: ' if dead else ''}re-plan{f' {round_}' if round_ is not None else ''}"


def _mark_events(ax: Axes, events: Sequence[Mapping[str, Any]], rows: Mapping[str, str], end: float) -> None:
    row = {w: i for i, w in enumerate(rows)}
    for event in events:
        at = float(event["at"])
        ax.axvline(at, color=DEAD, linestyle="--", linewidth=1.0)
        ax.text(at, -0.45, " " + _event_text(event), color="black", fontsize=7, va="top", ha="left")
        for w in event.get("dead", ()):
            if str(w) in row:
                ax.broken_barh([(at, max(end - at, 1e-9))], (row[str(w)] - 0.5, 1.0), facecolors="none",
                               edgecolor=DEAD, hatch="//", linewidth=0)  # fmt: skip


def _bokeh_compare(
    plan_frame: pd.DataFrame,
    real: pd.DataFrame,
    plan_groups: list[str],
    real_groups: list[str],
    colors: Mapping[str, str],
    rows: Mapping[str, str],
    events: Sequence[Mapping[str, Any]],
    end: float,
    titles: tuple[str, str],
    title: str | None,
    out: Path,
) -> Any:
    """The interactive planned-vs-actual chart: two bokeh figures on one x range, written as one HTML page."""
    import pandas as pd
    from bokeh.embed import file_html
    from bokeh.layouts import column
    from bokeh.models import ColumnDataSource, Div, HoverTool, Label, Range1d, Span
    from bokeh.plotting import figure
    from bokeh.resources import INLINE

    plan_at = plan_frame.assign(kind=plan_groups)[["task", "kind", "worker", "start", "finish"]]
    real_at = real.assign(kind=real_groups)[["task", "kind", "worker", "start", "finish"]]
    both = pd.merge(plan_at, real_at, on="task", how="outer", suffixes=("_planned", "_actual"))
    both["kind"] = both["kind_planned"].fillna(both["kind_actual"])
    factors = list(reversed(rows.values()))  # bokeh draws the first factor at the bottom
    x_range = Range1d(0, end * 1.01 if end > 0 else 1.0)
    tooltips = [
        ("task", "@task"), ("kind", "@kind"), ("worker", "@worker"),
        ("planned", "@start_planned{0.000} - @finish_planned{0.000} s on @worker_planned"),
        ("actual", "@start_actual{0.000} - @finish_actual{0.000} s on @worker_actual"),
    ]  # fmt: skip
    panels = []
    for which, panel_title in zip(("planned", "actual"), titles):
        df = both.dropna(subset=[f"start_{which}"])
        kinds = df["kind"].astype(str).to_numpy()
        data: dict[str, Any] = {
            "task": np.array([str(t) for t in df["task"]], dtype=object),
            "kind": kinds,
            "worker": np.array([rows.get(str(w), str(w)) for w in df[f"worker_{which}"]], dtype=object),
            "color": np.array([colors.get(k, "#999999") for k in kinds], dtype=object),
        }
        for side in ("planned", "actual"):
            data[f"worker_{side}"] = np.array([w if isinstance(w, str) else "-" for w in df[f"worker_{side}"]],
                                              dtype=object)  # fmt: skip
            for col in ("start", "finish"):
                data[f"{col}_{side}"] = df[f"{col}_{side}"].to_numpy(float)
        data["left"], data["right"] = data[f"start_{which}"], data[f"finish_{which}"]
        fig = figure(title=panel_title, y_range=factors, x_range=x_range, height=max(180, 36 * len(rows) + 80),
                     sizing_mode="stretch_width", tools="xpan,xwheel_zoom,reset,save",
                     x_axis_label="time (s)")  # fmt: skip
        bars = []
        for kind in sorted(set(kinds), key=natural_key):  # one renderer per kind: a legend entry each
            mine = kinds == kind
            part = ColumnDataSource({k: v[mine] for k, v in data.items()})
            bars.append(fig.hbar(y="worker", left="left", right="right", height=0.8, color="color",
                                 line_color="white", source=part, legend_label=kind))  # fmt: skip
        fig.add_tools(HoverTool(tooltips=tooltips, renderers=bars))
        for event in events:
            at = float(event["at"])
            fig.add_layout(Span(location=at, dimension="height", line_color=DEAD, line_dash="dashed"))
            fig.add_layout(Label(x=at, y=len(factors) - 0.5, text=_event_text(event), text_font_size="8pt",
                                 y_offset=-14))  # fmt: skip
            dead = [rows[str(w)] for w in event.get("dead", ()) if str(w) in rows]
            if dead:
                fig.hbar(y=dead, left=at, right=end, height=1.0, fill_alpha=0.0, line_alpha=0.0,
                         hatch_pattern="/", hatch_color=DEAD, hatch_alpha=0.6)  # fmt: skip
        if bars:
            fig.legend.location = "top_right"
            fig.legend.click_policy = "hide"
        panels.append(fig)
    head = [Div(text=f"<h3>{html.escape(title)}</h3>")] if title else []
    layout = column(*head, *panels, sizing_mode="stretch_width")
    out.write_text(file_html(layout, INLINE, title or "hetflow run"), encoding="utf-8")
    return layout
