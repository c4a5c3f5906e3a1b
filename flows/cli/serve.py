"""``hetflow serve``: deploy ``run_graph_file`` on a cron schedule against a Prefect server and serve it.

Example::

    prefect server start &                                  # once; the UI is on http://127.0.0.1:4200
    export PREFECT_API_URL=http://127.0.0.1:4200/api
    hetflow serve graph.json --cluster cluster.json --cron "0 2 * * *" --name nightly --emulate

The process registers deployment ``hetflow-run-file/<name>`` and runs its scheduled (and manually
triggered: ``prefect deployment run hetflow-run-file/nightly``) flow runs until interrupted.
``--apply-only`` registers the deployment and exits (a later ``hetflow serve`` or a worker runs it).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from hetflow.flows.cli import DEFAULTS, add_trust_arguments, add_verbose_flag, run_options, solver_help
from hetflow.flows.extras import require_extra, require_graph_extras
from hetflow.taskgraph import load_graph
from hetflow.taskgraph.errors import InvalidInput

__all__ = ["add_parser", "arguments", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``hetflow serve``."""
    p = subparsers.add_parser(
        "serve",
        help="run a graph on a cron schedule (Prefect deployment)",
        description="Deploy the hetflow run of GRAPH on a cron schedule against a Prefect server and serve it.",
        argument_default=argparse.SUPPRESS,  # run options: only the flags given (cli.run_options)
    )
    p.add_argument("graph", help="task graph JSON")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--cluster", default=None,
                       help="cluster JSON: each run starts an embedded Dask cluster of that shape")
    where.add_argument("--address", default=None, help="scheduler address of a running Dask cluster")
    p.add_argument("--cron", required=True, help='cron schedule, e.g. "0 2 * * *" (quote it)')
    p.add_argument("--name", default="scheduled", help="deployment name (default 'scheduled')")
    p.add_argument("--solver", metavar="NAME", help=solver_help(DEFAULTS.solver))
    p.add_argument("--time-scale", type=float,
                   help=f"real seconds per model second (default {DEFAULTS.time_scale:g})")
    p.add_argument("--emulate", action="store_true", help="ignore ops: every task sleeps its planned duration")
    p.add_argument("--retries", type=int, help=f"re-runs of a failing task (default {DEFAULTS.retries})")
    p.add_argument("--out-dir", help="each run writes its outputs here; {graph} and {time} are filled in per run "
                                     "(e.g. reports/{graph}-{time}: a new folder each time)")
    add_trust_arguments(p)
    p.add_argument("--apply-only", action="store_true", default=False, help="register the deployment and exit")
    add_verbose_flag(p)
    p.set_defaults(func=run)
    return p


def arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :func:`~hetflow.flows.orchestration.serve.deployment` for ``args`` (checked)."""
    try:
        from prefect.client.schemas.schedules import CronSchedule

        CronSchedule(cron=args.cron)
    except Exception:
        raise InvalidInput(f"--cron {args.cron!r} is not a valid cron expression") from None
    return {
        "graph": args.graph,
        "cron": args.cron,
        "name": args.name,
        "cluster": args.cluster,
        "address": args.address,
        "options": run_options(args),
    }


def run(args: argparse.Namespace) -> int:
    require_extra("run", "hetflow serve")
    call = arguments(args)
    if args.address is None and not call["options"].emulate:  # each run starts workers from this environment
        require_graph_extras(load_graph(args.graph), "hetflow serve")
    from hetflow.flows.orchestration.serve import deployment, serve

    if not os.environ.get("PREFECT_API_URL"):
        print(
            "hetflow: PREFECT_API_URL is not set; runs go to a temporary server that stops with this process",
            file=sys.stderr,
        )
    if args.apply_only:
        deployment_id = deployment(**call).apply()
        print(f"deployment hetflow-run-file/{args.name} ({deployment_id}) on cron {args.cron!r}")
        return 0
    serve(**call)
    return 0
