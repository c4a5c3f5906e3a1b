"""Benchmark every registered planner on every suite in one run, side by side.

Usage::

    python benchmarks/bench_planners.py            # full suites (minutes)
    python benchmarks/bench_planners.py --small    # CI subset (seconds)
    python benchmarks/bench_planners.py --best-known --planner-seeds 0,1,2   # vs the best known plans

``--best-known`` plans the 20-100-task instances of ``benchmarks/best_known.py`` (layered CCR 0.2/1/5/10 and
LLM jobs) with every solver and prints one table: per family, each solver's geometric-mean makespan over
the best known plan (the best cached CP-SAT run, a proven optimum where CP-SAT proved one), and for
``dp`` also its worst ratio and slowest plan. Instances without a cached CP-SAT run are left out (counted).

Prints the per-suite summary table (with an ``all`` row per solver), then the headline numbers for the
flagship ``dp`` planner: its geometric-mean makespan / HEFT overall and on the LLM suite, the instances
where it is worse than HEFT or PEFT (should be none), and its slowest plan. Writes ``results.csv``,
``summary.csv``, ``summary.md`` and ``summary.png`` to ``benchmarks/results/`` (``--small`` adds a
``-small`` suffix).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd
from hetflow.flows.cli.bench import default_solvers
from hetflow.solvers.experiments import compare, format_summary, markdown_table, suites, summarize
from hetflow.solvers.plots import summary_plot

RESULTS = Path(__file__).resolve().parent / "results"
FLAGSHIP = "dp"
RIVALS = ("heft", "peft")
REL_TOL = 1e-9


def dp_report(results: pd.DataFrame, summary: pd.DataFrame) -> list[str]:
    """Headline lines about the flagship planner (empty-ish when it is not registered)."""
    if FLAGSHIP not in set(results["solver"]):
        return [f"{FLAGSHIP}: not registered; nothing to report"]
    lines = []
    rows = summary[summary["solver"] == FLAGSHIP].set_index("suite")
    for suite in ("all", "llm"):
        if suite in rows.index:
            r = rows.loc[suite]
            lines.append(f"{FLAGSHIP} geomean makespan/HEFT on {suite}: {r.geomean_ratio_to_reference:.4f} "
                         f"(makespan/LB {r.geomean_ratio_to_lb:.4f}, best on {r.share_best:.0%} of runs)")
    heft_rows = summary[summary["solver"] == "heft"].set_index("suite")
    for suite in ("all", "llm"):
        if suite in heft_rows.index and heft_rows.loc[suite].geomean_ratio_to_lb > 0:
            lines.append(f"  best any planner can reach on {suite}: geomean lower bound/HEFT "
                         f"{1 / heft_rows.loc[suite].geomean_ratio_to_lb:.4f}")
    keys = ["suite", "instance", "seed"]
    span = results.pivot_table(index=keys, columns="solver", values="makespan", aggfunc="first")
    rivals = [r for r in RIVALS if r in span.columns]
    if rivals:
        best_rival = span[rivals].min(axis=1)
        worse = span[span[FLAGSHIP] > best_rival * (1 + REL_TOL) + 1e-12]
        lines.append(f"instances where {FLAGSHIP} is worse than {' or '.join(rivals)}: {len(worse)}")
        for key, row in worse.iterrows():
            detail = ", ".join(f"{s} {row[s]:.6g}" for s in [FLAGSHIP, *rivals])
            lines.append(f"  {'/'.join(map(str, key[:2]))} seed {key[2]}: {detail}")
    mine = results[results["solver"] == FLAGSHIP]
    failed = mine[~mine["valid"].astype(bool)]
    if len(failed):
        lines.append(f"{FLAGSHIP} failed or was invalid on {len(failed)} runs")
    if mine["plan_seconds"].notna().any():
        slow = mine.loc[mine["plan_seconds"].idxmax()]
        lines.append(f"{FLAGSHIP} max plan time: {slow.plan_seconds:.3f} s ({slow.suite}/{slow.instance}, "
                     f"{slow.n_tasks} tasks, {slow.n_workers} workers)")
    return lines


def best_known_table(results: pd.DataFrame, known: dict[str, dict]) -> pd.DataFrame:
    """Per family and solver: geometric-mean makespan / best known, and dp's worst ratio and slowest plan."""
    from hetflow.solvers.experiments import geomean

    rows = results[results["instance"].isin(known)].copy()
    rows["best_known"] = rows["instance"].map(lambda name: known[name]["makespan"])
    rows["ratio"] = rows["makespan"] / rows["best_known"]
    table = rows.pivot_table(index="suite", columns="solver", values="ratio", aggfunc=geomean)
    every = rows.groupby("solver")["ratio"].agg(geomean)
    table.loc["all"] = every
    mine = rows[rows["solver"] == FLAGSHIP]
    table[f"{FLAGSHIP}_worst"] = mine.groupby("suite")["ratio"].max()
    table.loc["all", f"{FLAGSHIP}_worst"] = mine["ratio"].max()
    table[f"{FLAGSHIP}_max_s"] = mine.groupby("suite")["plan_seconds"].max()
    table.loc["all", f"{FLAGSHIP}_max_s"] = mine["plan_seconds"].max()
    counts = rows.drop_duplicates("instance").groupby("suite")["instance"].count()
    proven = rows.drop_duplicates("instance").groupby("suite")["instance"].agg(
        lambda names: sum(known[n]["optimal"] for n in names))
    table["instances"] = counts
    table["proven_optimal"] = proven
    table.loc["all", ["instances", "proven_optimal"]] = [counts.sum(), proven.sum()]
    return table.round(4)


def run_best_known(names: list[str], planner_seeds: list[int], progress: bool) -> int:
    """The ``--best-known`` mode (see the module docstring)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import best_known

    known = best_known.best_known()
    instances = [inst for inst in best_known.instances() if inst.name in known]
    missing = len(best_known.instances()) - len(instances)
    print(f"{len(instances)} instances with a best known plan ({missing} without a cached CP-SAT run, left out); "
          f"solvers: {', '.join(names)}; planner seeds {planner_seeds}", file=sys.stderr)
    results = compare(names, instances, seeds=planner_seeds, progress=progress, bound_seconds=0)
    table = best_known_table(results, known)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(table.to_string())
    mine = results[results["solver"] == FLAGSHIP]
    span = results.pivot_table(index=["instance", "seed"], columns="solver", values="makespan", aggfunc="first")
    rivals = [r for r in ("heft", "peft", "cpop") if r in span.columns]
    if FLAGSHIP in span.columns and rivals:
        worse = (span[FLAGSHIP] > span[rivals].min(axis=1) * (1 + REL_TOL) + 1e-12).sum()
        print(f"runs where {FLAGSHIP} is worse than {' or '.join(rivals)}: {worse} of {len(span)}")
    failed = results[~results["valid"].astype(bool)]
    for row in failed.itertuples(index=False):
        print(f"FAILED {row.instance} {row.solver}: {row.error}")
    print(f"{len(mine)} {FLAGSHIP} runs; best known plans from {best_known.CACHE.name}")
    return 1 if len(failed) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="quick CI subset (<= 300 tasks per instance)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the suites (graphs and clusters)")
    parser.add_argument("--planner-seeds", default=None,
                        help="comma-separated seeds of the seeded planners (default: --seed); dp's local search "
                             "is sensitive to its seed, so e.g. 0,1,2 averages that out")
    parser.add_argument("--solvers", default=None, help="comma-separated (default: all but random, exact, cpsat)")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--out-dir", default=str(RESULTS))
    parser.add_argument("--best-known", action="store_true",
                        help="the 20-100-task instances of best_known.py against their best known plans")
    args = parser.parse_args(argv)
    planner_seeds = [int(x) for x in args.planner_seeds.split(",")] if args.planner_seeds else [args.seed]
    if args.best_known:
        names = args.solvers.split(",") if args.solvers else ["heft", "peft", "cpop", "dp"]
        return run_best_known(names, planner_seeds, progress=not args.no_progress)

    size = "small" if args.small else "full"
    names = args.solvers.split(",") if args.solvers else default_solvers()  # as `hetflow bench`
    t0 = time.perf_counter()
    built = suites(size, seed=args.seed)
    for note in built.notes:
        print(f"note: {note}", file=sys.stderr)
    instances = [inst for group in built.values() for inst in group]
    counts = ", ".join(f"{k} {len(v)}" for k, v in built.items())
    print(f"{len(instances)} instances ({counts}); solvers: {', '.join(names)}", file=sys.stderr)
    results = compare(names, instances, seeds=planner_seeds, progress=not args.no_progress)
    summary = summarize(results)
    elapsed = time.perf_counter() - t0

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    suffix = "-small" if args.small else ""
    results.to_csv(out / f"results{suffix}.csv", index=False)
    summary.to_csv(out / f"summary{suffix}.csv", index=False)
    table = markdown_table(format_summary(summary))
    report = dp_report(results, summary)
    (out / f"summary{suffix}.md").write_text(
        f"# Planner benchmark ({size}, suite seed {args.seed}, planner seeds {planner_seeds})\n\n"
        f"{counts}\n\n{table}\n\n"
        + "\n".join(f"- {line}" if not line.startswith("  ") else f"  - {line.strip()}" for line in report) + "\n"
    )
    summary_plot(results, out / f"summary{suffix}.png", title=f"planner comparison ({size})")

    print(table)
    print()
    for line in report:
        print(line)
    invalid = results[~results["valid"].astype(bool)]
    for row in invalid.itertuples(index=False):
        print(f"FAILED {row.suite}/{row.instance} {row.solver}: {row.error}")
    print(f"\n{len(results)} runs in {elapsed:.1f} s; wrote {out}/results{suffix}.csv, summary{suffix}.csv, "
          f"summary{suffix}.md, summary{suffix}.png")
    return 1 if len(invalid) else 0


if __name__ == "__main__":
    sys.exit(main())
