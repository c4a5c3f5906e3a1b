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
from typing import Any

from hetflow.flows.cli import DEFAULTS, run_options
from hetflow.solvers import Schedule
from hetflow.taskgraph import Cluster, load_graph

__all__ = ["add_parser", "arguments", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``hetflow run``."""
    p = subparsers.add_parser(
        "run",
        help="plan a graph and run the plan on Dask (Prefect flow)",
        description="Plan GRAPH and execute the plan on a Dask cluster under Prefect; print plan vs actual.",
        argument_default=argparse.SUPPRESS,  # run options: only the flags given (cli.run_options)
    )
    p.add_argument("graph", help="task graph JSON (node-link) or WfCommons WfFormat file")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--cluster", default=None, help="cluster JSON: start an embedded Dask cluster of that shape")
    where.add_argument("--address", default=None,
                       help="scheduler address of a running Dask cluster (tcp://host:port)")
    p.add_argument("--schedule", default=None, help="run this schedule JSON instead of planning")
    p.add_argument("--solver", help=f"planner (default {DEFAULTS.solver})")
    p.add_argument("--seed", type=int, help=f"seed of randomised planners (default {DEFAULTS.seed})")
    p.add_argument("--retries", type=int,
                   help=f"re-runs of a failing task on its worker (default {DEFAULTS.retries})")
    p.add_argument("--retry-delay", type=float, help=f"seconds before each retry (default {DEFAULTS.retry_delay:g})")
    p.add_argument("--time-scale", type=float,
                   help="real seconds per model second for emulated tasks and planned times "
                        f"(default {DEFAULTS.time_scale:g})")
    p.add_argument("--emulate", action="store_true", help="ignore ops: every task sleeps its planned duration")
    p.add_argument("--strict-order", action="store_true",
                   help="run each worker's tasks exactly in plan order (no overtaking; slower)")
    p.add_argument("--max-replans", type=int,
                   help=f"re-plans allowed after worker deaths (default {DEFAULTS.max_replans})")
    p.add_argument("--timeout", type=float, help="fail if execution takes longer (seconds; default none)")
    p.add_argument("--connect-timeout", type=float,
                   help="seconds to reach the scheduler / start the embedded workers "
                        f"(default {DEFAULTS.connect_timeout:g})")
    p.add_argument("--out-dir", help="write schedule.json, timeline.csv, results.json, summary.md, gantt.png")
    p.add_argument("--no-dashboard", dest="dashboard", action="store_false",
                   help="no Dask dashboard (none started, no link printed)")
    p.add_argument("--host", help="interface the embedded cluster listens on (default 127.0.0.1; 0.0.0.0: all)")
    p.add_argument("--no-artifacts", dest="artifacts", action="store_false",
                   help="do not publish the summary as Prefect artifacts")
    p.add_argument("--cost-store",
                   help="learned costs: plan ops from this store and add the run's measurements "
                        "(default ~/.hetflow/costs.json or $HETFLOW_COST_STORE)")
    p.add_argument("--no-cost-store", dest="cost_store", action="store_const", const=None,
                   help="plan with the graph's costs only and learn nothing")
    p.set_defaults(func=run)
    return p


def arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :func:`~hetflow.flows.orchestration.flow.run_plan` for ``args`` (inputs read,
    options validated)."""
    options = run_options(args)
    graph = load_graph(args.graph)
    cluster = Cluster.load(args.cluster) if args.cluster else None
    schedule = Schedule.load(args.schedule) if args.schedule else None
    if schedule is not None and cluster is not None:  # checked before Prefect starts; with --address the
        schedule.validate(graph, cluster)  # workers are known only once connected (the flow checks it then)
    return {"graph": graph, "schedule": schedule, "cluster": cluster, "address": args.address, "options": options}


def run(args: argparse.Namespace) -> int:
    call = arguments(args)
    from hetflow.flows.orchestration.flow import run_plan
    from hetflow.flows.runtime.executor import TaskFailed

    try:
        record = run_plan(**call)
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
