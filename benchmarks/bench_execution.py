"""Executed makespans: a hetflow plan run on Dask vs Dask's own scheduling of the same graph.

What is measured (one process, one embedded Dask cluster, every variant on the same workers):

* the workload is ``taskgraph.workloads.llm_batch_job`` with ``op``/``params`` stripped, so every task
  sleeps ``cost[device] / speed * time_scale`` seconds on the worker it runs on (``flows.emulate_bench``);
* the cluster is one Dask worker process per planned worker, ``nthreads=1``; the GPU worker is an
  ordinary CPU process advertising the Dask resource ``GPU=1`` — "gpu" cost applies there;
* **hetflow**: the plan (``--solver``) executed by ``flows.executor.PlanExecutor`` (pinned tasks,
  distinct priorities) — the executor alone, without the Prefect flow around it;
* **dask (none hints)**: Dask places and orders the tasks itself; only the cost model's hard constraints
  are given (``GPU=1`` for tasks without a cpu cost, ``CPU=1`` for tasks without a gpu cost);
* **dask (gpu hints)**: as above, plus ``resources={"GPU": 1}`` on every task faster on a GPU;
* each Dask variant runs as one graph (``client.get`` of the whole DAG, ordered by ``dask.order``) and,
  with ``--dask-modes graph,submit``, also as one ``client.submit`` per task;
* makespan = first submit -> last task finished (task-stream compute stop); ``actual/planned`` uses the
  plan's makespan times ``time_scale``; all variants must return identical sink digests;
* overhead: the same three runs with ``time_scale=0`` (zero-length tasks); per-task overhead of hetflow
  beyond plain Dask = (hetflow makespan - best Dask makespan) / tasks. Also printed: the plan's lower
  bound and the GPU-only work (a perfect Dask-with-GPU-hints run cannot beat it), which cap the ratio.

Usage::

    python benchmarks/bench_execution.py            # ~550 tasks
    python benchmarks/bench_execution.py --small    # CI-sized
"""

from __future__ import annotations

import argparse
import sys
import time

import pandas as pd


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="a small graph and short sleeps (CI)")
    parser.add_argument("--docs", type=int, default=5376, help="documents (default 5376: 84 batches, 590 tasks)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--shards", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1, help="per-batch cost jitter seed (lognormal)")
    parser.add_argument("--time-scale", type=float, default=2.5, help="real seconds per model second")
    parser.add_argument("--solver", default="dp")
    parser.add_argument("--gpus", type=int, default=1)
    parser.add_argument("--cpus", type=int, default=3)
    parser.add_argument("--strict-order", action="store_true", help="chain each worker's tasks in plan order")
    parser.add_argument("--no-overhead", action="store_true", help="skip the zero-duration overhead runs")
    parser.add_argument("--dask-modes", default="graph,submit", help="graph and/or submit (comma-separated)")
    parser.add_argument("--csv", help="also write the table here")
    args = parser.parse_args(argv)
    if args.small:
        args.docs, args.time_scale = 1280, 1.0

    from flows.dask_cluster import open_session
    from flows.emulate_bench import compare_execution, emulated, prefers_gpu
    from solvers import lower_bound, plan, solver_names
    from taskgraph import Cluster
    from taskgraph.workloads import llm_batch_job

    solver = args.solver
    if solver not in solver_names():
        print(f"note: solver {solver!r} is not registered; using 'heft'", file=sys.stderr)
        solver = "heft"
    graph = emulated(llm_batch_job(n_docs=args.docs, batch_size=args.batch_size, n_shards=args.shards, seed=args.seed))
    cluster = Cluster.local(gpus=args.gpus, cpus=args.cpus)
    t = time.perf_counter()
    schedule = plan(graph, cluster, solver=solver)
    schedule.validate(graph, cluster)
    elapsed = time.perf_counter() - t
    bound = float(lower_bound(graph, cluster))
    gpu_work = sum(graph.cost(t)["gpu"] for t in graph.tasks if prefers_gpu(graph.cost(t)))
    print(f"graph {graph.name}: {len(graph)} tasks; cluster {cluster}; time_scale {args.time_scale}")
    print(
        f"{solver} plan {schedule.makespan:.4g} model s (planned in {elapsed:.2f} s); lower bound {bound:.4g}; "
        f"GPU-only work {gpu_work:.4g}; plan / GPU-only work = {schedule.makespan / gpu_work:.3f}"
    )
    options = {"strict_order": args.strict_order, "solver": solver}
    modes = tuple(m.strip() for m in args.dask_modes.split(",") if m.strip())
    session = open_session(cluster, dashboard_address=None)
    try:
        table, _ = compare_execution(session, graph, schedule, time_scale=args.time_scale, modes=modes, **options)
        pd.set_option("display.width", 160)
        print("\nemulated execution (seconds):")
        print(table.round(3).to_string(index=False))
        het = table.iloc[0]
        print(
            f"\nhetflow / best Dask = {het.vs_best_dask:.3f} (target <= 0.8); "
            f"actual / planned = {het['actual/planned']:.3f} (target <= 1.15)"
        )
        if not args.no_overhead:
            zero, _ = compare_execution(session, graph, schedule, time_scale=0.0, modes=modes, **options)
            per_task = (zero.makespan_s.iloc[0] - zero.makespan_s.iloc[1:].min()) / len(graph) * 1e3
            drift = (het.makespan_s - het.planned_s) / len(graph) * 1e3
            print("\nzero-length tasks (pure dispatch overhead):")
            print(zero[["variant", "makespan_s", "submit_s"]].round(3).to_string(index=False))
            print(
                f"hetflow overhead beyond plain Dask: {per_task:.2f} ms/task (target < 5); "
                f"actual - planned makespan: {drift:.2f} ms/task"
            )
            table = pd.concat([table.assign(time_scale=args.time_scale), zero.assign(time_scale=0.0)])
        if args.csv:
            table.to_csv(args.csv, index=False)
    finally:
        session.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
