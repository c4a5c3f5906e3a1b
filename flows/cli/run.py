"""``hetflow run``: plan a task graph and execute the plan on Dask under the Prefect flow ``run_plan``.

Examples::

    hetflow run graph.json --cluster cluster.json --solver dp --time-scale 0.1 --out-dir run-out
    hetflow run graph.json --address tcp://10.0.0.5:8786 --retries 3

With ``--cluster`` an embedded Dask cluster shaped like the file is started (one single-thread worker
process per planned worker, ``GPU=1`` on gpu workers); with ``--address`` the running cluster's workers
are discovered (:func:`hetflow.taskgraph.dask_convert.cluster_from_dask`). Prints a summary; exit 0 on success,
2 on bad input (unreadable files, a task no worker can run, ...), 1 when the run itself fails.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``hetflow run``."""
    p = subparsers.add_parser(
        "run",
        help="plan a graph and run the plan on Dask (Prefect flow)",
        description="Plan GRAPH and execute the plan on a Dask cluster under Prefect; print plan vs actual.",
    )
    p.add_argument("graph", help="task graph JSON (node-link) or WfCommons WfFormat file")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--cluster", help="cluster JSON: start an embedded Dask cluster of that shape")
    where.add_argument("--address", help="scheduler address of a running Dask cluster (tcp://host:port)")
    p.add_argument("--schedule", help="run this schedule JSON instead of planning")
    p.add_argument("--solver", default="dp", help="planner (default dp)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--retries", type=int, default=2, help="re-runs of a failing task on its worker (default 2)")
    p.add_argument("--retry-delay", type=float, default=0.0, help="seconds before each retry (default 0)")
    p.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="real seconds per model second for emulated tasks and planned times (default 1)",
    )
    p.add_argument("--emulate", action="store_true", help="ignore ops: every task sleeps its planned duration")
    p.add_argument("--max-replans", type=int, default=3, help="re-plans allowed after worker deaths (default 3)")
    p.add_argument("--timeout", type=float, default=None, help="fail if execution takes longer (seconds)")
    p.add_argument(
        "--connect-timeout",
        type=float,
        default=30.0,
        help="seconds to reach the scheduler / start the embedded workers (default 30)",
    )
    p.add_argument("--out-dir", help="write schedule.json, timeline.csv, results.json, summary.md, gantt.png")
    p.add_argument("--no-dashboard", action="store_true", help="do not start the Dask dashboard")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from hetflow.taskgraph import Cluster, load_graph
    from hetflow.taskgraph.errors import InvalidInput

    for name in ("retries", "max_replans"):
        if getattr(args, name) < 0:
            raise InvalidInput(f"--{name.replace('_', '-')} must be >= 0")
    for name in ("retry_delay", "time_scale"):
        if getattr(args, name) < 0:
            raise InvalidInput(f"--{name.replace('_', '-')} must be >= 0")
    graph = load_graph(args.graph)
    cluster = Cluster.load(args.cluster) if args.cluster else None
    schedule = None
    if args.schedule:
        from hetflow.solvers import Schedule

        schedule = Schedule.load(args.schedule)
    from hetflow.solvers import solver_names

    if args.solver not in solver_names():
        raise InvalidInput(f"unknown solver {args.solver!r}; choose one of {', '.join(solver_names())}")

    from hetflow.flows.orchestration.flow import run_plan
    from hetflow.flows.runtime.executor import TaskFailed

    try:
        record = run_plan(
            graph,
            schedule,
            cluster=cluster,
            address=args.address,
            solver=args.solver,
            seed=args.seed,
            retries=args.retries,
            retry_delay=args.retry_delay,
            time_scale=args.time_scale,
            emulate=args.emulate,
            max_replans=args.max_replans,
            timeout=args.timeout,
            dashboard=not args.no_dashboard,
            connect_timeout=args.connect_timeout,
            out_dir=args.out_dir,
        )
    except TaskFailed as e:
        print(f"hetflow: run failed: {e}", file=sys.stderr)
        return 1
    width = max(len(k) for k in record.summary())
    for k, v in record.summary().items():
        print(f"{k:<{width}}  {v}")
    for sink, value in list(record.results.items())[:5]:
        text = repr(value)
        print(f"result {sink}: {text[:100] + '...' if len(text) > 100 else text}")
    if len(record.results) > 5:
        print(f"... {len(record.results) - 5} more sinks")
    return 0
