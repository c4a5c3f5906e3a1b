"""``hetflow bench``: run the planning benchmark suites and write the comparison table and plot.

Example::

    hetflow bench --size small --suite layered --suite llm --solvers dp,heft,peft --out-dir bench-out

prints the per-suite summary (Markdown) and writes ``results.csv`` (one row per instance x solver x seed),
``summary.csv``, ``summary.md`` and ``summary.png`` into ``--out-dir``.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from hetflow.flows.extras import MissingExtra, missing_modules, require_extra
from hetflow.solvers import SOLVERS, solver_capabilities, solver_names
from hetflow.solvers.registry import check_solver_name
from hetflow.solvers.suites import SUITE_NAMES
from hetflow.taskgraph.errors import InvalidInput

__all__ = ["add_parser", "arguments", "run", "run_bench", "default_solvers", "takes_time_limit"]

EXCLUDED_BY_DEFAULT = ("random", "exact", "cpsat")  # noise; tiny graphs only; slow reference
SUITE_MODULES = {"wfcommons": ("wfcommons",)}  # suites built by an optional package (the bench extra)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``hetflow bench``."""
    p = subparsers.add_parser(
        "bench",
        help="compare planners on benchmark suites",
        description="Plan the benchmark suites with several solvers side by side; print and write the summary.",
    )
    p.add_argument("--suite", action="append", choices=SUITE_NAMES, metavar="NAME",
                   help=f"suite to run (repeatable; default all): {', '.join(SUITE_NAMES)}")
    p.add_argument("--size", choices=("small", "full"), default="full",
                   help="'small' is a quick subset (<= 300 tasks per instance); default full")
    p.add_argument("--solvers", default=None,
                   help="comma-separated solver names (default: every registered solver except "
                        f"{', '.join(EXCLUDED_BY_DEFAULT)})")
    p.add_argument("--seeds", default="0", help="comma-separated seeds for suites and solvers (default 0)")
    p.add_argument("--reference", default="heft", help="solver the ratios divide by (default heft)")
    p.add_argument("--time-limit", type=float, default=None,
                   help="seconds per plan, passed as the time_limit option to the solvers that take one "
                        "(a note names the others)")
    p.add_argument("--out-dir", default="bench-results", help="directory for the CSV/Markdown/PNG outputs")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-plot", action="store_true", help="skip the summary plot")
    p.set_defaults(func=run)
    return p


def default_solvers() -> list[str]:
    """Every registered solver except those of :data:`EXCLUDED_BY_DEFAULT` (``random``, ``exact``, ``cpsat``)."""
    return [s for s in solver_names() if s not in EXCLUDED_BY_DEFAULT]


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise InvalidInput(f"--seeds must be comma-separated integers, not {text!r}") from None
    if not seeds:
        raise InvalidInput("--seeds names no seed")
    return seeds


def arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :func:`run_bench` for ``args`` (solver names and seeds checked)."""
    solvers = [s.strip() for s in args.solvers.split(",") if s.strip()] if args.solvers else default_solvers()
    for name in [*solvers, args.reference]:
        check_solver_name(name)
    _require_extras(solvers + [args.reference], args.suite or [])
    if args.time_limit is not None and not (math.isfinite(args.time_limit) and args.time_limit > 0):
        raise InvalidInput(f"--time-limit must be > 0, not {args.time_limit!r}")
    return {
        "solvers": solvers,
        "suites": args.suite,
        "size": args.size,
        "seeds": _seeds(args.seeds),
        "reference": args.reference,
        "time_limit": args.time_limit,
        "out_dir": args.out_dir,
        "progress": not args.no_progress,
        "plot": not args.no_plot,
    }


def _require_extras(solvers: list[str], suites: list[str]) -> None:
    """One line naming the extra to install when a solver or an explicitly requested suite needs a missing one
    (a suite missing from the default "all suites" is skipped with a note instead)."""
    for name in dict.fromkeys(solvers):
        caps = solver_capabilities(name)
        missing = missing_modules(caps.needs)
        if missing and caps.extra:
            require_extra(caps.extra, f"hetflow bench: solver {name}", caps.needs)
        if missing:
            raise MissingExtra(f"hetflow bench: solver {name} needs {', '.join(missing)}")
    for suite in suites:
        if suite in SUITE_MODULES:
            require_extra("bench", f"hetflow bench --suite {suite}", SUITE_MODULES[suite])


def takes_time_limit(solver: str) -> bool:
    """Whether :func:`hetflow.solvers.experiments.compare` passes a time limit to solver ``solver``."""
    from hetflow.solvers.experiments import _time_keyword

    return _time_keyword(SOLVERS[solver]) is not None


def run(args: argparse.Namespace) -> int:
    """Run the benchmark described by ``args``; 0 on success, 1 if some plan failed or was invalid."""
    return run_bench(**arguments(args))


def run_bench(
    *,
    solvers: list[str],
    suites: list[str] | None,
    size: str,
    seeds: list[int],
    reference: str,
    time_limit: float | None,
    out_dir: str,
    progress: bool,
    plot: bool,
) -> int:
    """Plan the ``suites`` with every solver and seed; write and print the summary (see the module docstring).

    ``time_limit`` reaches each solver that takes a time cap (:func:`~hetflow.solvers.experiments.compare`:
    a ``time_limit`` option, in seconds); a note names the solvers it does not reach.
    Returns 0, or 1 if some plan failed or was invalid.
    """
    import pandas as pd
    from hetflow.solvers.experiments import compare, format_summary, markdown_table, summarize
    from hetflow.solvers.suites import suites as build_suites

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    notes = []
    if time_limit is not None:
        ignored = [s for s in dict.fromkeys([*solvers, reference]) if not takes_time_limit(s)]
        if ignored:
            notes.append(f"--time-limit does not apply to {', '.join(ignored)} (no time_limit option)")
    frames = []
    for seed in seeds:  # the seed draws both the instances and the solvers' randomness
        built = build_suites(size, seed=seed, only=suites)
        notes += [n for n in built.notes if n not in notes]
        instances = [inst for group in built.values() for inst in group]
        if not instances:
            continue
        frames.append(compare(solvers, instances, seeds=[seed], reference=reference, progress=progress,
                              time_limit=time_limit))
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if not frames:
        print("hetflow: error: no benchmark instance was built", file=sys.stderr)
        return 2
    results = pd.concat(frames, ignore_index=True)
    summary = summarize(results)

    results.to_csv(out / "results.csv", index=False)
    summary.to_csv(out / "summary.csv", index=False)
    table = markdown_table(format_summary(summary, reference))
    header = (
        f"# hetflow bench ({size}; suites: {', '.join(dict.fromkeys(results['suite']))}; "
        f"seeds: {', '.join(map(str, seeds))})\n\n"
        f"gm/{reference}, gm/LB: geometric means of makespan / {reference} and makespan / lower bound; "
        "best: share of runs with the shortest makespan (ties count); summary.csv has full precision.\n\n"
    )
    (out / "summary.md").write_text(header + table + "\n")
    if plot:
        from hetflow.solvers.plots import summary_plot

        summary_plot(results, out / "summary.png", reference=reference)
    print(table)

    bad = results[~results["valid"].astype(bool)]
    for row in bad.itertuples(index=False):
        print(f"failed: {row.suite}/{row.instance} {row.solver} seed {row.seed}: {row.error}", file=sys.stderr)
    print(f"wrote {out}/results.csv, summary.csv, summary.md{'' if not plot else ', summary.png'}", file=sys.stderr)
    return 1 if len(bad) else 0
