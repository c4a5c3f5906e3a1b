"""Executed makespans: a hetflow plan run on Dask vs Dask's own scheduling of the same graph.

What is measured (one process, one embedded Dask cluster, every variant on the same workers):

* the workload is ``hetflow.taskgraph.workloads.llm_batch_job`` with ``op``/``params`` stripped, so every task
  sleeps ``cost[device] / speed * time_scale`` seconds on the worker it runs on (``hetflow.flows.bench.emulate``);
* the cluster is one Dask worker process per planned worker, ``nthreads=1``; the GPU worker is an
  ordinary CPU process advertising the Dask resource ``GPU=1`` — "gpu" cost applies there;
* **hetflow**: the plan (``--solver``) executed by ``hetflow.flows.runtime.executor.PlanExecutor`` (pinned tasks,
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
  bound and the GPU-only work (a perfect Dask-with-GPU-hints run cannot beat it), which cap the ratio;
* the whole comparison runs on several cluster shapes (``--clusters``): how much a plan can gain over
  "everything GPU-capable on the GPU" depends on how much CPU capacity there is to offload to;
* and at several time scales (``--time-scales``): Dask spends ~1-3 ms per task on this 2-core machine
  (worker hand-off, scheduler round trip), in every variant, so at a scale where the mean task lasts
  ~50 ms the ~120 tasks on the plan's critical path add ~0.3 s (7-9 %) to hetflow's makespan; at ~200 ms
  (closer to a real batch of 64 documents through MiniLM on a CPU) that share is a quarter as large.

Usage::

    python benchmarks/bench_execution.py            # 533 tasks on 1x3, 1x7 and 2x6 clusters, scales 2.5 and 10
    python benchmarks/bench_execution.py --small    # CI-sized
"""

from __future__ import annotations

import argparse
import sys
import time

import pandas as pd


def _shapes(text: str) -> list[tuple[int, int]]:
    """``"1x3,1x7"`` -> ``[(1, 3), (1, 7)]`` (GPU-class x CPU workers)."""
    shapes = []
    for part in text.split(","):
        gpus, _, cpus = part.strip().partition("x")
        shapes.append((int(gpus), int(cpus)))
    return shapes


def run_shape(graph, gpus: int, cpus: int, args: argparse.Namespace, solver: str) -> tuple[pd.DataFrame, list[dict]]:
    """Plan and execute ``graph`` on a fresh cluster of that shape at every time scale; return the variants'
    table and one summary row per time scale."""
    from hetflow.flows.bench.emulate import compare_execution, prefers_gpu
    from hetflow.flows.runtime.cluster import open_session
    from hetflow.solvers import lower_bound, plan
    from hetflow.taskgraph import Cluster

    cluster = Cluster.local(gpus=gpus, cpus=cpus)
    t = time.perf_counter()
    schedule = plan(graph, cluster, solver=solver)
    schedule.validate(graph, cluster)
    elapsed = time.perf_counter() - t
    bound = float(lower_bound(graph, cluster, window_seconds=5.0))
    gpu_work = sum(graph.cost(t)["gpu"] for t in graph.tasks if prefers_gpu(graph.cost(t))) / gpus
    print(f"\n== cluster {cluster}: {solver} plan {schedule.makespan:.4g} model s (planned in {elapsed:.2f} s); "
          f"lower bound {bound:.4g}; GPU-only work per GPU {gpu_work:.4g} (plan / that = "
          f"{schedule.makespan / gpu_work:.3f})")  # fmt: skip
    mean_task = sum(p.finish - p.start for p in schedule.placements) / len(graph)  # model seconds
    options = {"strict_order": args.strict_order, "solver": solver}
    modes = tuple(m.strip() for m in args.dask_modes.split(",") if m.strip())
    session = open_session(cluster, dashboard_address=None)
    tables, summaries = [], []
    try:
        for scale in args.time_scales:
            print(f"-- time scale {scale:g} (mean planned task {scale * mean_task * 1e3:.0f} ms):")
            table, _ = compare_execution(session, graph, schedule, time_scale=scale, modes=modes, **options)
            print(table.round(3).to_string(index=False))
            het = table.iloc[0]
            best_dask = het.makespan_s / het.vs_best_dask
            summaries.append({
                "cluster": f"{gpus} GPU + {cpus} CPU", "time_scale": scale, "mean_task_ms": scale * mean_task * 1e3,
                "hetflow_s": het.makespan_s, "best_dask_s": best_dask, "hetflow/best_dask": het.vs_best_dask,
                "actual/planned": het["actual/planned"], "plan/best_dask": schedule.makespan * scale / best_dask,
                "bound/best_dask": bound * scale / best_dask,
            })  # fmt: skip
            tables.append(table.assign(time_scale=scale))
        if not args.no_overhead:
            zero, _ = compare_execution(session, graph, schedule, time_scale=0.0, modes=modes, **options)
            overhead = (zero.makespan_s.iloc[0] - zero.makespan_s.iloc[1:].min()) / len(graph) * 1e3
            for row in summaries:
                row["overhead_ms/task"] = overhead
            print("zero-length tasks (pure dispatch overhead):")
            print(zero[["variant", "makespan_s", "submit_s"]].round(3).to_string(index=False))
            tables.append(zero.assign(time_scale=0.0))
    finally:
        session.close()
    return pd.concat(tables).assign(cluster=summaries[0]["cluster"]), summaries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="a small graph, short sleeps, one cluster (CI)")
    parser.add_argument("--docs", type=int, default=5376, help="documents (default 5376: 84 batches, 533 tasks)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--shards", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1, help="per-batch cost jitter seed (lognormal)")
    parser.add_argument("--time-scales", default="2.5,10",
                        help="real seconds per model second, comma-separated (default 2.5,10: mean task ~50 and "
                             "~200 ms; Dask's per-task cost weighs less on longer tasks)")
    parser.add_argument("--solver", default="dp")
    parser.add_argument("--clusters", default="1x3,1x7,2x6",
                        help="cluster shapes, GPU-class x CPU workers (default 1x3,1x7,2x6)")
    parser.add_argument("--strict-order", action="store_true", help="chain each worker's tasks in plan order")
    parser.add_argument("--no-overhead", action="store_true", help="skip the zero-duration overhead runs")
    parser.add_argument("--dask-modes", default="graph,submit", help="graph and/or submit (comma-separated)")
    parser.add_argument("--csv", help="also write the table here")
    args = parser.parse_args(argv)
    if args.small:
        args.docs, args.time_scales, args.clusters = 1280, "1", "1x3"
    args.time_scales = [float(x) for x in args.time_scales.split(",") if x.strip()]

    from hetflow.flows.runtime.ops import emulated
    from hetflow.solvers import solver_names
    from hetflow.taskgraph.workloads import llm_batch_job

    solver = args.solver
    if solver not in solver_names():
        print(f"note: solver {solver!r} is not registered; using 'heft'", file=sys.stderr)
        solver = "heft"
    graph = emulated(llm_batch_job(n_docs=args.docs, batch_size=args.batch_size, n_shards=args.shards, seed=args.seed))
    print(f"graph {graph.name}: {len(graph)} tasks; time scales {args.time_scales}")
    pd.set_option("display.width", 200)
    tables, rows = [], []
    for gpus, cpus in _shapes(args.clusters):
        table, summary = run_shape(graph, gpus, cpus, args, solver)
        tables.append(table)
        rows.extend(summary)
    summary = pd.DataFrame(rows)
    print("\nsummary (seconds; targets: hetflow/best_dask <= 0.8, actual/planned <= 1.15, overhead < 5 ms/task;")
    print("plan/ and bound/best_dask: what the plan, or any plan, would reach executed with zero overhead):")
    print(summary.round(3).to_string(index=False))
    if args.csv:
        pd.concat(tables).to_csv(args.csv, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
