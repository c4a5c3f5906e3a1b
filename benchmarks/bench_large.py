"""The DP planner at 10,000 and 100,000 tasks: makespan against HEFT where the lower bound leaves room, time, memory.

Usage::

    python benchmarks/bench_large.py                 # every instance (about 10 minutes on 2 cores)
    python benchmarks/bench_large.py --only layered  # instances whose name contains "layered"

Instances: layered random DAGs at CCR 1 and 5 with 10,000 tasks on 16 workers (4 GPU + 12 CPU, two seeds)
and 100,000 tasks on 64 workers (16 + 48), and WfCommons recipes generated at 10,000 tasks on 16 workers
(1.25e8 B/s links). Each instance is planned in a fresh process (graph generation, ``Problem`` and all
solvers), which reports the makespans, dp's planning time and the process's peak memory (``ru_maxrss``,
taken before the lower bound's LP, which is the benchmark's, not the planner's).

Prints one pandas table — HEFT, PEFT, CPOP and dp side by side as ratios to HEFT, the lower bound over
HEFT (what any planner can reach), dp's time and the peak memory — and dp's geometric mean over HEFT on
the instances where the bound leaves at least 5% of room (``LB/HEFT <= 0.95``), the issue's criterion.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time

import numpy as np
import pandas as pd

ROOM = 0.95  # instances count where the lower bound is at most this fraction of HEFT's makespan
WF_RECIPES = ("montage", "epigenomics", "1000genome", "srasearch", "cycles")


def instances() -> list[tuple[str, dict]]:
    out = []
    for ccr in (1.0, 5.0):
        for seed in (1, 2):
            out.append((f"layered-n10k-ccr{ccr:g}-s{seed}", {"kind": "layered", "n": 10_000, "ccr": ccr,
                                                             "seed": seed, "gpus": 4, "cpus": 12}))
        out.append((f"layered-n100k-ccr{ccr:g}-s2", {"kind": "layered", "n": 100_000, "ccr": ccr, "seed": 2,
                                                      "gpus": 16, "cpus": 48}))
    for recipe in WF_RECIPES:
        out.append((f"{recipe}-10k", {"kind": "wfcommons", "recipe": recipe, "n": 10_000, "seed": 1, "gpus": 4,
                                      "cpus": 12}))
    return out


def _run(spec: dict) -> dict:
    """Build one instance and plan it with every solver (in a child process)."""
    import resource
    import warnings

    from hetflow.solvers import Problem, lower_bound
    from hetflow.solvers.registry import SOLVERS
    from hetflow.taskgraph.generators import layered_random, random_cluster

    if spec["kind"] == "layered":
        graph = layered_random(spec["n"], ccr=spec["ccr"], seed=spec["seed"])
        cluster = random_cluster(spec["gpus"], spec["cpus"], seed=spec["seed"])
    else:
        from hetflow.taskgraph.wfformat import generate_wfcommons

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph = generate_wfcommons(spec["recipe"], spec["n"], seed=spec["seed"])
        cluster = random_cluster(spec["gpus"], spec["cpus"], bandwidth=1.25e8, seed=spec["seed"])
    problem = Problem(graph, cluster)
    row = {"tasks": problem.n, "workers": problem.n_workers}
    for name in ("heft", "peft", "cpop", "dp"):
        t0 = time.perf_counter()
        result = SOLVERS[name](problem, seed=0)
        row[name] = result.makespan
        row[f"{name}_s"] = time.perf_counter() - t0
    row["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before the bound's LP
    row["lower_bound"] = lower_bound(problem)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="run only instances whose name contains this")
    args = parser.parse_args(argv)
    rows = []
    context = multiprocessing.get_context("spawn")
    for name, spec in instances():
        if args.only not in name:
            continue
        with context.Pool(1) as pool:  # a fresh process per instance: its own peak memory
            row = pool.apply(_run, (spec,))
        rows.append({"instance": name, **row})
        print(f"{name}: dp/HEFT {row['dp'] / row['heft']:.4f} in {row['dp_s']:.1f} s, peak {row['peak_mb']:.0f} MB",
              file=sys.stderr, flush=True)
    df = pd.DataFrame(rows).set_index("instance")
    table = pd.DataFrame({
        "tasks": df["tasks"], "workers": df["workers"], "LB/HEFT": df["lower_bound"] / df["heft"],
        "PEFT/HEFT": df["peft"] / df["heft"], "CPOP/HEFT": df["cpop"] / df["heft"], "dp/HEFT": df["dp"] / df["heft"],
        "heft_s": df["heft_s"], "dp_s": df["dp_s"], "peak_MB": df["peak_mb"],
    })
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.round(4).to_string())
    room = table[table["LB/HEFT"] <= ROOM]
    if len(room):
        gm = float(np.exp(np.log(room["dp/HEFT"]).mean()))
        print(f"\ndp/HEFT geometric mean where LB/HEFT <= {ROOM}: {gm:.4f} over {len(room)} instances "
              f"({', '.join(room.index)})")
    print(f"dp worse than HEFT on {(table['dp/HEFT'] > 1 + 1e-9).sum()} instances; "
          f"max dp time {table['dp_s'].max():.1f} s; max peak memory {table['peak_MB'].max():.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
