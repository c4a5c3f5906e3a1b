"""Planning experiments: run several solvers on many instances and compare them side by side::

    from solvers.experiments import compare, suites, summarize
    results = compare(["dp", "heft", "peft"], suites("small")["layered"])  # one row per run
    summarize(results)                                                     # per suite x solver

* :class:`Instance` — a named ``(graph, cluster)`` pair in a suite, with the parameters that made it.
* :func:`compare` — plans every instance with every solver and seed; a pandas DataFrame with makespan,
  lower bound, ratios to a reference solver (HEFT) and to the lower bound, planning time, best-of flags.
* :func:`summarize` — per suite and solver: geometric means of the ratios, share of instances where the
  solver is best, worst ratio, planning times; plus an ``"all"`` suite.
* :func:`suites` — the benchmark suites: layered random DAGs, LLM batch jobs, WfCommons recipes generated
  offline and real WfInstances traces, each on a random mixed-speed cluster drawn from the seed.
* :func:`markdown_table` — a pipe table without the optional ``tabulate`` package.
"""

from __future__ import annotations

import inspect
import math
import os
import warnings
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from solvers.bounds import lower_bound
from solvers.registry import SOLVERS, plan, solver_names
from taskgraph import Cluster, TaskGraph
from taskgraph.errors import InvalidInput

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "Instance", "Suites", "compare", "summarize", "format_summary", "suites", "markdown_table", "geomean", "data_dir",
    "SUITE_NAMES",
]

SUITE_NAMES = ("layered", "llm", "wfcommons", "wfinstances")
REL_TOL = 1e-9  # makespans within this relative tolerance tie for "best"

# Network speeds per suite (bytes/s). The layered generator sets edge bytes so that transfer time at this
# bandwidth over mean run time is the requested CCR; WfCommons sizes are real bytes, moved over a
# 1 Gbit/s-class shared file system.
LAYERED_BANDWIDTH = 1e9
LLM_BANDWIDTH = 1e9
WF_BANDWIDTH = 1.25e8
SPEED_RANGE = (0.5, 2.0)

RESULT_COLUMNS = [
    "suite", "instance", "solver", "seed", "makespan", "lower_bound", "ratio_to_reference", "ratio_to_lb",
    "plan_seconds", "transferred_bytes", "is_best", "n_tasks", "n_workers", "valid", "error",
]


@dataclass
class Instance:
    """One benchmark problem: a task graph planned onto a cluster.

    Parameters
    ----------
    name : str
        Unique within its suite (e.g. ``"layered-n100-ccr1-b0.5"``).
    suite : str
        Suite the instance belongs to (the summary groups by it).
    graph : TaskGraph
    cluster : Cluster
    params : dict
        Whatever generated it (CCR, beta, recipe, cluster shape, ...); copied into the result rows.
    """

    name: str
    suite: str
    graph: TaskGraph
    cluster: Cluster
    params: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Instance({self.suite}/{self.name}: {len(self.graph)} tasks on {self.cluster!r})"


class Suites(dict):
    """``{suite name: [Instance, ...]}`` plus ``notes``: why a requested suite was skipped or trimmed."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.notes: list[str] = []


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
        Extra keyword arguments per solver name, e.g. ``{"dp": {"beam": 8}}``.
    bound_seconds : float
        Time for the window bound (a MILP, :func:`solvers.bounds.window_bound`) per instance, on top of
        the path and LP bounds; 0 skips it.

    Returns
    -------
    pandas.DataFrame
        One row per instance x solver x seed with columns ``suite, instance, solver, seed, makespan,
        lower_bound, ratio_to_reference, ratio_to_lb, plan_seconds, transferred_bytes, is_best, n_tasks,
        n_workers, valid, error`` followed by the instance's ``params``. A solver that raises gets a row
        with NaN makespan, ``valid=False`` and the exception in ``error``.

    Raises
    ------
    taskgraph.errors.InvalidInput
        An unknown solver name, or duplicate ``(suite, instance)`` names.
    """
    import pandas as pd

    names = [s.strip() for s in solvers.split(",")] if isinstance(solvers, str) else list(solvers)
    names = [s for s in dict.fromkeys(names) if s]
    if reference is not None and reference not in names:
        names.append(reference)
    unknown = [s for s in names if s not in SOLVERS]
    if unknown:
        raise InvalidInput(f"unknown solver {unknown[0]!r}; choose from {', '.join(solver_names())}")
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


# -- suites ------------------------------------------------------------------------------------------
def data_dir() -> Path:
    """Directory of the real WfInstances traces: ``$HETFLOW_DATA`` or ``<repo>/../shared/data/wfinstances``."""
    env = os.environ.get("HETFLOW_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data" / "wfinstances"


def _rng(seed: int, name: str) -> np.random.Generator:
    """A generator that depends only on ``seed`` and the instance ``name`` (stable across runs and suites)."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def _cluster(name: str, seed: int, bandwidth: float) -> tuple[Cluster, dict[str, Any]]:
    """1-4 GPU and 2-16 CPU workers of mixed speeds, drawn from ``(seed, name)``."""
    from taskgraph.generators import random_cluster

    rng = _rng(seed, "cluster:" + name)
    n_gpus, n_cpus = int(rng.integers(1, 5)), int(rng.integers(2, 17))
    cluster = random_cluster(n_gpus, n_cpus, speed_range=SPEED_RANGE, bandwidth=bandwidth,
                             seed=int(rng.integers(2**31)))
    return cluster, {"n_gpus": n_gpus, "n_cpus": n_cpus, "bandwidth": bandwidth}


def _layered(size: str, seed: int) -> list[Instance]:
    from taskgraph.generators import layered_random

    grid = [(n, ccr, beta) for n in (100, 1000) for ccr in (0.1, 1.0, 10.0) for beta in (0.5, 1.5)]
    if size == "small":
        grid = [(100, 0.1, 0.5), (100, 1.0, 1.5), (100, 10.0, 0.5), (100, 10.0, 1.5)]
    out = []
    for n, ccr, beta in grid:
        name = f"layered-n{n}-ccr{ccr:g}-b{beta:g}"
        graph = layered_random(n, ccr=ccr, beta=beta, bandwidth=LAYERED_BANDWIDTH,
                               seed=int(_rng(seed, name).integers(2**31)))
        cluster, shape = _cluster(name, seed, LAYERED_BANDWIDTH)
        out.append(Instance(name, "layered", graph, cluster, {"ccr": ccr, "beta": beta, **shape}))
    return out


def _llm(size: str, seed: int, notes: list[str]) -> list[Instance]:
    from taskgraph.workloads import llm_batch_job

    batch_size = 64
    grid = [(b, s) for b in (8, 32, 128) for s in (2, 4, 8)]
    if size == "small":
        grid = [(8, 2), (8, 4), (32, 2), (32, 4)]
    out = []
    for batches, shards in grid:
        name = f"llm-b{batches}-s{shards}"
        try:
            graph = llm_batch_job(n_docs=batches * batch_size, batch_size=batch_size, n_shards=shards)
        except InvalidInput as e:  # e.g. a cap on shards
            notes.append(f"llm: skipped {name} ({e})")
            continue
        if size == "small" and len(graph) > 300:
            continue
        cluster, shape = _cluster(name, seed, LLM_BANDWIDTH)
        out.append(Instance(name, "llm", graph, cluster, {"batches": batches, "shards": shards, **shape}))
    return out


WF_RECIPES = ("montage", "epigenomics", "1000genome", "srasearch", "cycles")


def _wfcommons(size: str, seed: int, notes: list[str]) -> list[Instance]:
    try:
        import wfcommons  # noqa: F401
    except ImportError:
        notes.append("wfcommons: skipped (the wfcommons package is not installed; pip install hetflow[bench])")
        return []
    from taskgraph.wfformat import generate_wfcommons

    sizes = (200,) if size == "small" else (200, 1000, 2000)
    out = []
    for recipe in WF_RECIPES:
        for n in sizes:
            name = f"{recipe}-{n}"
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    graph = generate_wfcommons(recipe, n, seed=int(_rng(seed, name).integers(2**31)))
            except InvalidInput as e:
                notes.append(f"wfcommons: skipped {name} ({e})")
                continue
            cluster, shape = _cluster(name, seed, WF_BANDWIDTH)
            out.append(Instance(name, "wfcommons", graph, cluster, {"recipe": recipe, **shape}))
    return out


def _wfinstances(size: str, seed: int, notes: list[str]) -> list[Instance]:
    from taskgraph.wfformat import load_wfformat

    root = data_dir()
    files = sorted(root.glob("*.json")) if root.is_dir() else []
    if not files:
        notes.append(f"wfinstances: skipped (no *.json traces in {root}; set HETFLOW_DATA)")
        return []
    if size == "small":  # the four smallest traces
        files = sorted(sorted(files, key=lambda p: p.stat().st_size)[:4])
    out = []
    for path in files:
        graph = load_wfformat(path)
        if size == "small" and len(graph) > 300:
            continue
        cluster, shape = _cluster(path.stem, seed, WF_BANDWIDTH)
        out.append(Instance(path.stem, "wfinstances", graph, cluster, {"recipe": path.stem.split("-")[0], **shape}))
    return out


def suites(size: str = "full", seed: int = 0, only: Iterable[str] | None = None) -> Suites:
    """Build the benchmark suites.

    Parameters
    ----------
    size : {"full", "small"}
        ``"full"``: layered random DAGs (CCR 0.1/1/10 x beta 0.5/1.5 x 100/1,000 tasks), LLM batch jobs
        (8/32/128 batches x 2/4/8 shards), WfCommons recipes (montage, epigenomics, 1000genome, srasearch,
        cycles x 200/1,000/2,000 tasks) and every real trace in :func:`data_dir`. ``"small"``: a handful
        of instances per suite, at most 300 tasks each, for CI.
    seed : int
        Seeds the graphs and the clusters; every instance draws its own cluster (1-4 GPU and 2-16 CPU
        workers, speeds in ``SPEED_RANGE``) from ``(seed, instance name)``.
    only : iterable of str, optional
        Build only these suites (names from ``SUITE_NAMES``).

    Returns
    -------
    Suites
        ``{suite: [Instance, ...]}``; ``.notes`` says which suites or instances were skipped and why
        (e.g. the ``wfcommons`` package is missing).
    """
    if size not in ("full", "small"):
        raise InvalidInput(f"suite size must be 'full' or 'small', not {size!r}")
    wanted = list(SUITE_NAMES) if only is None else list(dict.fromkeys(only))
    bad = [s for s in wanted if s not in SUITE_NAMES]
    if bad:
        raise InvalidInput(f"unknown suite {bad[0]!r}; choose from {', '.join(SUITE_NAMES)}")
    result = Suites()
    builders = {
        "layered": lambda: _layered(size, seed),
        "llm": lambda: _llm(size, seed, result.notes),
        "wfcommons": lambda: _wfcommons(size, seed, result.notes),
        "wfinstances": lambda: _wfinstances(size, seed, result.notes),
    }
    for name in wanted:
        instances = builders[name]()
        if instances:
            result[name] = instances
    return result
