"""Learned costs at full size: the README's LLM job, run again and again from a fresh cost store.

The README's example — ``llm_batch_job(n_docs=2_000, batch_size=64, n_shards=4)`` with its built-in costs,
run by ``run_plan`` on the embedded cluster (1 GPU-class + 3 CPU workers, the real MiniLM ops) — is
uncalibrated: the built-in GPU costs assume a real GPU. Each round plans from the cost store the previous
rounds filled; the table shows planned vs actual makespan per round (round 1: built-in costs).

Run: ``python benchmarks/bench_learned.py [--rounds 3] [--docs 2000] [--shards 4] [--cpus 3]`` (needs the llm
extra; about a minute per round on a 2-core machine).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import pandas as pd


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--docs", type=int, default=2_000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--cpus", type=int, default=3)
    parser.add_argument("--solver", default="dp")
    args = parser.parse_args(argv)

    from hetflow.flows.runtime.cluster import session
    from hetflow.taskgraph.coststore import CostStore

    import hetflow as hf

    graph = hf.workloads.llm_batch_job(n_docs=args.docs, batch_size=args.batch, n_shards=args.shards)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, session(
        hf.Cluster.local(gpus=1, cpus=args.cpus), dashboard_address=None
    ) as dask:
        store = os.path.join(tmp, "costs.json")
        for i in range(1, args.rounds + 1):
            record = hf.run_plan(graph, client=dask.client, solver=args.solver, cost_store=store, artifacts=False,
                                 dashboard=False)
            rows.append({
                "round": i,
                "costs": "built-in" if i == 1 else f"learned from {i - 1} run(s)",
                "planned_s": round(record.planned_makespan, 2),
                "actual_s": round(record.actual_makespan, 2),
                "actual/planned": round(record.ratio, 3),
                "digest": record.digest,
            })
            print(rows[-1], file=sys.stderr, flush=True)
        kinds = CostStore.load(store).kinds()
    print(pd.DataFrame(rows).to_string(index=False))
    print(f"graph: {len(graph)} tasks; store kinds: {', '.join(kinds)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
