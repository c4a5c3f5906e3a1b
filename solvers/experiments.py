"""Planning experiments: run several solvers on many instances and compare them side by side::

    from hetflow.solvers.experiments import compare, suites, summarize
    results = compare(["dp", "heft", "peft"], suites("small")["layered"])  # one row per run
    summarize(results)                                                     # per suite x solver

* :class:`Instance` — a named ``(graph, cluster)`` pair in a suite (:mod:`hetflow.solvers.suites`).
* :func:`compare` — plans every instance with every solver and seed; a pandas DataFrame with makespan,
  lower bound, ratios to a reference solver (HEFT) and to the lower bound, planning time, best-of flags.
* :func:`summarize` — per suite and solver: geometric means of the ratios, share of instances where the
  solver is best, worst ratio, planning times; plus an ``"all"`` suite.
* :func:`suites` — the benchmark suites (:mod:`hetflow.solvers.suites`, re-exported here).
* :func:`markdown_table` — a pipe table without the optional ``tabulate`` package.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from hetflow.solvers.bounds import lower_bound
from hetflow.solvers.registry import SOLVERS, check_solver_name, plan
from hetflow.solvers.suites import SUITE_NAMES, Instance, Suites, data_dir, suites
from hetflow.taskgraph.errors import InvalidInput

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "Instance", "Suites", "compare", "summarize", "format_summary", "suites", "markdown_table", "geomean", "data_dir",
    "SUITE_NAMES",
]

REL_TOL = 1e-9  # makespans within this relative tolerance tie for "best"


RESULT_COLUMNS = [
    "suite", "instance", "solver", "seed", "makespan", "lower_bound", "ratio_to_reference", "ratio_to_lb",
    "plan_seconds", "transferred_bytes", "is_best", "n_tasks", "n_workers", "valid", "error",
]


# -- running -----------------------------------------------------------------------------------------
TIME_KEYWORDS = ("time_limit", "time_budget")  # how solvers name a planning-time cap


def _time_keyword(fn: Any) -> str | None:
    """The keyword through which solver function ``fn`` takes a time cap, if any."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return None
    for name in TIME_KEYWORDS:
        if name in params:
            return name
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return TIME_KEYWORDS[0]
    return None


def _progress(enabled: bool) -> Any:
    """A rich progress bar on stderr, or None when disabled."""
    if not enabled:
        return None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[progress.description]{task.description:<48}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=Console(stderr=True), transient=False,
    )


def compare(
    solvers: str | Sequence[str],
    instances: Iterable[Instance],
    *,
    seeds: Iterable[int] = (0,),
    reference: str | None = "heft",
    progress: bool = True,
    time_limit: float | None = None,
    validate: bool = True,
    solver_options: Mapping[str, Mapping[str, Any]] | None = None,
    bound_seconds: float = 1.0,
) -> pd.DataFrame:
    """Plan every instance with every solver and seed, and tabulate the results.

    Parameters
    ----------
    solvers : str or sequence of str
        Registered solver names (a comma-separated string is accepted).
    instances : iterable of Instance
    seeds : iterable of int
        One run per seed (deterministic solvers give the same plan for every seed).
    reference : str or None
        Solver the ``ratio_to_reference`` column divides by, on the same instance and seed. It is run too
        when it is not in ``solvers`` (its rows are then part of the result). None: no ratio.
    progress : bool
        Show a progress bar on stderr.
    time_limit : float, optional
        Seconds per plan, passed to solvers that take a time cap (as ``time_limit=`` or ``time_budget=``,
        e.g. the DP planner's budget); others ignore it.
    validate : bool
        Check every schedule against the cost model (:meth:`Schedule.validate`); an invalid schedule gets
        ``valid=False`` and its reason in ``error``, and never counts as best.
    solver_options : mapping, optional
        Extra keyword arguments per solver name, e.g. ``{"dp": {"effort": 0.5}}``.
    bound_seconds : float
        Time for the window bound (a MILP, :func:`hetflow.solvers.bounds.window_bound`) per instance, on top of
        the path and LP bounds; 0 skips it.

    Returns
    -------
    pandas.DataFrame
        One row per instance x solver x seed with columns ``suite, instance, solver, seed, makespan,
        lower_bound, ratio_to_reference, ratio_to_lb, plan_seconds, transferred_bytes, is_best, n_tasks,
        n_workers, valid, error``, ``optimal`` where a solver proved its plan optimal (``exact``,
        ``cpsat``, ``dp`` on small graphs), followed by the instance's ``params``. A solver that raises gets a row
        with NaN makespan, ``valid=False`` and the exception in ``error``. ``plan_seconds`` leaves out what a
        solver loads on first use (:func:`hetflow.solvers.registry.warm_up`, run by the first plan).

    Raises
    ------
    hetflow.taskgraph.errors.InvalidInput
        An unknown solver name, or duplicate ``(suite, instance)`` names.

    Examples
    --------
    >>> from hetflow.taskgraph.generators import layered_random, random_cluster
    >>> instances = [Instance(f"layered-{s}", "demo", layered_random(20, seed=s), random_cluster(1, 2, seed=s))
    ...              for s in range(2)]
    >>> df = compare(["greedy", "peft"], instances, progress=False, bound_seconds=0)  # HEFT is the reference
    >>> df[["instance", "solver", "makespan", "ratio_to_reference", "is_best"]].round(3).values.tolist()
    ... # doctest: +NORMALIZE_WHITESPACE
    [['layered-0', 'greedy', 100.234, 1.082, False], ['layered-0', 'peft', 83.847, 0.905, True],
     ['layered-0', 'heft', 92.669, 1.0, False], ['layered-1', 'greedy', 85.85, 1.431, False],
     ['layered-1', 'peft', 57.2, 0.953, True], ['layered-1', 'heft', 60.012, 1.0, False]]
    """
    import pandas as pd

    names = [s.strip() for s in solvers.split(",")] if isinstance(solvers, str) else list(solvers)
    names = [s for s in dict.fromkeys(names) if s]
    if reference is not None and reference not in names:
        names.append(reference)
    for s in names:
        check_solver_name(s)
    instances = list(instances)
    keys = [(i.suite, i.name) for i in instances]
    if len(set(keys)) != len(keys):
        raise InvalidInput("instance names must be unique within a suite")
    seeds = list(seeds)
    options = {s: dict((solver_options or {}).get(s, {})) for s in names}
    if time_limit is not None:
        for s in names:
            keyword = _time_keyword(SOLVERS[s])
            if keyword is not None:
                options[s].setdefault(keyword, time_limit)

    rows: list[dict[str, Any]] = []
    bar = _progress(progress)
    if bar is not None:
        bar.start()
        job = bar.add_task("planning", total=len(instances) * len(names) * len(seeds))
    try:
        for inst in instances:
            try:
                bound = float(lower_bound(inst.graph, inst.cluster, window_seconds=bound_seconds))
            except InvalidInput:  # the instance itself is broken (e.g. a task no worker can run)
                raise
            except Exception as e:  # pragma: no cover - a failed LP must not stop a benchmark
                warnings.warn(f"{inst.suite}/{inst.name}: lower bound failed ({e})")
                bound = math.nan
            for solver in names:
                for seed in seeds:
                    if bar is not None:
                        bar.update(job, description=f"{inst.suite}/{inst.name} {solver}"[:48])
                    rows.append(_run(inst, solver, seed, bound, options[solver], validate))
                    if bar is not None:
                        bar.advance(job)
    finally:
        if bar is not None:
            bar.stop()

    df = pd.DataFrame(rows, columns=list(dict.fromkeys(RESULT_COLUMNS + [k for r in rows for k in r])))
    return _add_ratios(df, reference)


def _run(inst: Instance, solver: str, seed: int, bound: float, options: dict, validate: bool) -> dict:
    """One planning run as a result row."""
    row: dict[str, Any] = {
        "suite": inst.suite, "instance": inst.name, "solver": solver, "seed": seed,
        "makespan": math.nan, "lower_bound": bound, "plan_seconds": math.nan, "transferred_bytes": math.nan,
        "n_tasks": len(inst.graph), "n_workers": len(inst.cluster), "valid": False, "error": "",
    }
    try:
        schedule = plan(inst.graph, inst.cluster, solver=solver, seed=seed, **options)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as e:
        row["error"] = f"{type(e).__name__}: {e}"[:300]
    else:
        row.update(makespan=schedule.makespan, plan_seconds=schedule.plan_seconds,
                   transferred_bytes=schedule.transferred_bytes, valid=True)
        if "optimal" in (schedule.meta or {}):  # exact solvers (and dp on small graphs) say so
            row["optimal"] = bool(schedule.meta["optimal"])
        if validate:
            try:
                schedule.validate(inst.graph, inst.cluster)
            except InvalidInput as e:
                row.update(valid=False, error=f"invalid schedule: {e}"[:300])
    for key, value in inst.params.items():
        if key not in row:
            row[key] = value
    return row


def _add_ratios(df: pd.DataFrame, reference: str | None) -> pd.DataFrame:
    """Fill ``ratio_to_reference``, ``ratio_to_lb`` and ``is_best`` (per instance and seed)."""
    if df.empty:
        return df
    keys = ["suite", "instance", "seed"]
    ok = df["valid"].astype(bool)
    span = df["makespan"].where(ok)
    if reference is not None:
        ref = span.where(df["solver"] == reference).groupby([df[k] for k in keys]).transform("max")
        df["ratio_to_reference"] = span / ref.where(ref > 0)
    else:
        df["ratio_to_reference"] = math.nan
    df["ratio_to_lb"] = span / df["lower_bound"].where(df["lower_bound"] > 0)
    best = span.groupby([df[k] for k in keys]).transform("min")
    df["is_best"] = ok & (span <= best * (1 + REL_TOL) + 1e-12)
    return df


# -- summarising -------------------------------------------------------------------------------------
def geomean(values: Iterable[float]) -> float:
    """Geometric mean of the finite positive values (NaN when there are none).

    Examples
    --------
    >>> geomean([1.0, 4.0, float("nan")])
    2.0
    """
    x = np.asarray(list(values), dtype=float)
    x = x[np.isfinite(x) & (x > 0)]
    return float(np.exp(np.log(x).mean())) if len(x) else math.nan


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Per suite and solver statistics of a :func:`compare` result, plus an ``"all"`` suite per solver.

    Parameters
    ----------
    df : pandas.DataFrame
        Needs ``suite, instance, solver, ratio_to_reference, ratio_to_lb, is_best, plan_seconds``;
        ``valid`` (default True) drops failed runs from the ratios.

    Returns
    -------
    pandas.DataFrame
        Columns ``suite, solver, instances, runs, failures, geomean_ratio_to_reference,
        geomean_ratio_to_lb, share_best, worst_ratio_to_reference, mean_plan_seconds,
        max_plan_seconds``. ``share_best`` is the share of runs (instance x seed) where the solver's
        makespan is the smallest, ties included; a failed run counts as not best.

    Examples
    --------
    >>> import pandas as pd
    >>> runs = pd.DataFrame({"suite": "demo", "instance": ["a", "a", "b", "b"], "solver": ["heft", "dp"] * 2,
    ...                      "ratio_to_reference": [1.0, 0.9, 1.0, 0.4], "ratio_to_lb": [1.2, 1.08, 1.5, 0.6],
    ...                      "is_best": [False, True, False, True], "plan_seconds": 0.01})
    >>> summarize(runs).loc[lambda t: t.suite == "demo", ["solver", "geomean_ratio_to_reference", "share_best"]]
      solver  geomean_ratio_to_reference  share_best
    0   heft                         1.0         0.0
    1     dp                         0.6         1.0
    """
    import pandas as pd

    valid = df["valid"].astype(bool) if "valid" in df.columns else pd.Series(True, index=df.index)
    records = []
    suites_in_order = list(dict.fromkeys(df["suite"]))
    solvers_in_order = list(dict.fromkeys(df["solver"]))
    groups = [(s, df["suite"] == s) for s in suites_in_order] + [("all", pd.Series(True, index=df.index))]
    for suite, in_suite in groups:
        for solver in solvers_in_order:
            mask = in_suite & (df["solver"] == solver)
            if not mask.any():
                continue
            good = mask & valid
            ratios = df.loc[good, "ratio_to_reference"].astype(float)
            seconds = df.loc[good, "plan_seconds"].astype(float)
            records.append({
                "suite": suite,
                "solver": solver,
                "instances": int(df.loc[mask, ["suite", "instance"]].drop_duplicates().shape[0]),
                "runs": int(mask.sum()),
                "failures": int((mask & ~valid).sum()),
                "geomean_ratio_to_reference": geomean(ratios),
                "geomean_ratio_to_lb": geomean(df.loc[good, "ratio_to_lb"]),
                "share_best": float(df.loc[mask, "is_best"].astype(bool).mean()),
                "worst_ratio_to_reference": float(ratios.max()) if ratios.notna().any() else math.nan,
                "mean_plan_seconds": float(seconds.mean()) if len(seconds) else math.nan,
                "max_plan_seconds": float(seconds.max()) if len(seconds) else math.nan,
            })
    return pd.DataFrame.from_records(records, columns=[
        "suite", "solver", "instances", "runs", "failures", "geomean_ratio_to_reference", "geomean_ratio_to_lb",
        "share_best", "worst_ratio_to_reference", "mean_plan_seconds", "max_plan_seconds",
    ])


def format_summary(summary: pd.DataFrame, reference: str = "heft") -> pd.DataFrame:
    """:func:`summarize`'s table with short column names and rounded values, for printing.

    ``share_best`` becomes a percentage string; ratios keep 4 significant digits, seconds 3 decimals.

    Examples
    --------
    >>> import pandas as pd
    >>> runs = pd.DataFrame({"suite": "demo", "instance": ["a", "a"], "solver": ["heft", "dp"],
    ...                      "ratio_to_reference": [1.0, 0.91234], "ratio_to_lb": [1.2, 1.09],
    ...                      "is_best": [False, True], "plan_seconds": [0.0012, 0.5]})
    >>> format_summary(summarize(runs)).iloc[1].to_dict()  # doctest: +NORMALIZE_WHITESPACE
    {'suite': 'demo', 'solver': 'dp', 'n': 1, 'failed': 0, 'gm/heft': 0.9123, 'gm/LB': 1.09, 'best': '100%',
     'worst/heft': 0.9123, 'plan_s_mean': 0.5, 'plan_s_max': 0.5}
    """
    out = summary.rename(columns={
        "instances": "n", "failures": "failed",
        "geomean_ratio_to_reference": f"gm/{reference}", "geomean_ratio_to_lb": "gm/LB",
        "share_best": "best", "worst_ratio_to_reference": f"worst/{reference}",
        "mean_plan_seconds": "plan_s_mean", "max_plan_seconds": "plan_s_max",
    }).drop(columns=["runs"])
    out["best"] = [f"{100 * v:.0f}%" if v == v else "" for v in summary["share_best"]]
    for col in (f"gm/{reference}", "gm/LB", f"worst/{reference}"):
        out[col] = out[col].astype(float).round(4)
    for col in ("plan_s_mean", "plan_s_max"):
        out[col] = out[col].astype(float).round(3)
    return out


def markdown_table(df: pd.DataFrame, floatfmt: str = ".4g") -> str:
    """A GitHub pipe table of ``df`` (no index), without needing ``tabulate``.

    Examples
    --------
    >>> import pandas as pd
    >>> print(markdown_table(pd.DataFrame({"solver": ["heft"], "ratio": [1.0]})))
    | solver | ratio |
    |:-------|------:|
    | heft   |     1 |
    """
    def cell(v: Any) -> str:
        if isinstance(v, (bool, np.bool_)):
            return str(bool(v))
        if isinstance(v, (float, np.floating)):
            return "" if math.isnan(v) else format(float(v), floatfmt)
        return str(v).replace("|", "\\|")

    header = [str(c) for c in df.columns]
    body = [[cell(v) for v in row] for row in df.itertuples(index=False)]
    numeric = [df[c].dtype.kind in "iufb" for c in df.columns]
    widths = [max([len(h)] + [len(r[k]) for r in body]) for k, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.rjust(w) if num else c.ljust(w)
                                 for c, w, num in zip(cells, widths, numeric)) + " |"

    rule = "|" + "|".join((("-" * (w + 1) + ":") if num else (":" + "-" * (w + 1)))
                          for w, num in zip(widths, numeric)) + "|"
    return "\n".join([line(header), rule] + [line(r) for r in body])
