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

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``hetflow serve``."""
    p = subparsers.add_parser(
        "serve",
        help="run a graph on a cron schedule (Prefect deployment)",
        description="Deploy the hetflow run of GRAPH on a cron schedule against a Prefect server and serve it.",
    )
    p.add_argument("graph", help="task graph JSON")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--cluster", help="cluster JSON: each run starts an embedded Dask cluster of that shape")
    where.add_argument("--address", help="scheduler address of a running Dask cluster")
    p.add_argument("--cron", required=True, help='cron schedule, e.g. "0 2 * * *" (quote it)')
    p.add_argument("--name", default="scheduled", help="deployment name (default 'scheduled')")
    p.add_argument("--solver", default="dp")
    p.add_argument("--time-scale", type=float, default=None, help="real seconds per model second")
    p.add_argument("--emulate", action="store_true", help="ignore ops: every task sleeps its planned duration")
    p.add_argument("--retries", type=int, default=None)
    p.add_argument("--out-dir", help="each run writes its report here")
    p.add_argument("--apply-only", action="store_true", help="register the deployment and exit")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from hetflow.taskgraph.errors import InvalidInput

    try:
        from prefect.client.schemas.schedules import CronSchedule

        CronSchedule(cron=args.cron)
    except Exception:
        raise InvalidInput(f"--cron {args.cron!r} is not a valid cron expression") from None
    from hetflow.flows.orchestration.serve import deployment, serve

    options = dict(
        cluster=args.cluster,
        address=args.address,
        solver=args.solver,
        time_scale=args.time_scale,
        emulate=args.emulate or None,
        retries=args.retries,
        out_dir=args.out_dir,
    )
    if not os.environ.get("PREFECT_API_URL"):
        print(
            "hetflow: PREFECT_API_URL is not set; runs go to a temporary server that stops with this process",
            file=sys.stderr,
        )
    if args.apply_only:
        deployment_id = deployment(args.graph, cron=args.cron, name=args.name, **options).apply()
        print(f"deployment hetflow-run-file/{args.name} ({deployment_id}) on cron {args.cron!r}")
        return 0
    serve(args.graph, cron=args.cron, name=args.name, **options)
    return 0
