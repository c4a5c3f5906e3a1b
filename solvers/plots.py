"""Matplotlib figures of planner comparisons, written to PNG/SVG without a display.

* :func:`summary_plot` — a comparison from :func:`hetflow.solvers.experiments.compare`: per-suite geometric mean of
  makespan / reference per solver, plus the per-instance ratios.

The Gantt charts of plans and runs live in :mod:`hetflow.solvers.charts` (``gantt`` and ``gantt_compare`` are
importable from here too).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from hetflow.solvers.charts import gantt, gantt_compare, new_figure, palette, save_figure

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["gantt", "gantt_compare", "summary_plot"]


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
    colors = dict(zip(solvers, palette(len(solvers))))
    panels = 2 if raw is not None else 1
    fig, axes = new_figure(max(7.0, 1.3 * len(suites) * max(1, len(solvers)) / 3 + 4), 4.2 * panels,
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
        suite_colors = dict(zip(raw_suites, palette(len(raw_suites))))
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
    save_figure(fig, path)
    return fig
