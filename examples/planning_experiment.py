"""A planning experiment with the Python API: how far is each planner from the optimum?

Builds small LLM batch jobs and layered random DAGs at three communication-to-computation ratios, plans
them with HEFT, PEFT, CPOP and dp, solves each one with CP-SAT (``solver="cpsat"``, needs the ``bench``
extra) as the optimal reference where it proves optimality, and prints per-instance and per-family
tables (pandas). Writes a comparison plot and the Gantt charts of HEFT's and dp's plans of the instance
where dp gains most to ``--out`` (default ``experiment-out/``).

    python examples/planning_experiment.py            # ~1-2 minutes on 2 cores
    python examples/planning_experiment.py --tasks 20 --seconds 5
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from hetflow.solvers import plan
from hetflow.solvers.experiments import Instance, compare, summarize
from hetflow.solvers.plots import gantt, summary_plot
from hetflow.taskgraph.generators import layered_random, random_cluster
from hetflow.taskgraph.workloads import llm_batch_job


def instances(n_tasks: int, seeds: int) -> list[Instance]:
    out = []
    for seed in range(seeds):
        cluster = random_cluster(1 + seed % 2, 2 + seed % 3, seed=seed)
        for ccr in (0.1, 1.0, 10.0):
            graph = layered_random(n_tasks, ccr=ccr, seed=seed)
            out.append(Instance(f"layered-ccr{ccr:g}-s{seed}", f"layered-ccr{ccr:g}", graph, cluster, {"ccr": ccr}))
        job = llm_batch_job(n_docs=64 * (3 + seed), batch_size=64, n_shards=2)
        out.append(Instance(f"llm-b{3 + seed}-s{seed}", "llm", job, cluster, {"batches": 3 + seed}))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=24, help="tasks per layered DAG")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0, help="CP-SAT deterministic time per instance")
    parser.add_argument("--out", default="experiment-out")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    built = instances(args.tasks, args.seeds)
    runs = compare(["heft", "peft", "cpop", "dp", "cpsat"], built, progress=True,
                   solver_options={"cpsat": {"deterministic_time": args.seconds}})
    span = runs.pivot_table(index=["suite", "instance"], columns="solver", values="makespan")
    proven = runs[runs.solver == "cpsat"].set_index(["suite", "instance"])["optimal"]
    table = span[["heft", "peft", "cpop", "dp"]].div(span["cpsat"], axis=0)
    table["cpsat optimal"] = proven.loc[table.index].fillna(False).astype(bool)
    pd.set_option("display.width", 160)
    print("\nmakespan / CP-SAT's (1.0 = optimal where CP-SAT proved it):")
    print(table.round(3).to_string())
    print("\ngeometric mean per family:")
    print(table.drop(columns="cpsat optimal").groupby(level=0).agg(lambda x: float(np.exp(np.log(x).mean()))).round(3))
    print("\nsummary (ratios to HEFT, to the lower bound):")
    print(summarize(runs)[["suite", "solver", "geomean_ratio_to_reference", "geomean_ratio_to_lb"]].round(3)
          .to_string(index=False))

    summary_plot(runs, out / "comparison.png")
    gain = (span["dp"] / span["heft"]).idxmin()
    inst = next(i for i in built if (i.suite, i.name) == gain)
    for solver in ("heft", "dp"):
        gantt(plan(inst.graph, inst.cluster, solver=solver), inst.graph, out / f"gantt-{inst.name}-{solver}.png")
    ratio = span.loc[gain, "dp"] / span.loc[gain, "heft"]
    print(f"\nwrote {out}/comparison.png and the Gantt charts of {inst.name} (dp/HEFT {ratio:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
