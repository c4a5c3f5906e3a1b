"""``hetflow demo``: the MiniLM batch job on the bundled corpus, end to end on an embedded Dask cluster.

Examples::

    hetflow demo                                   # 768 docs, 1 GPU-class + 2 CPU workers, calibrated dp plan
    hetflow demo --docs 2000 --shards 2 --cpus 3 --out-dir run1
    hetflow demo --costs costs.json                # plan with a calibration from `hetflow profile`

Prints docs/s, planned vs actual makespan, where each stage ran, and the paths of the Gantt chart and
the result table. Exit 0 on success, 2 on bad input, 1 when the run fails.
"""

from __future__ import annotations

import argparse
from typing import Any

from hetflow.flows.cli import DEFAULTS, add_verbose_flag, failed_run, prefect_server, run_options, solver_help
from hetflow.flows.extras import require_extra
from hetflow.flows.llm import DEFAULT_DOCS, DEMO_OUT_DIR, demo_options
from hetflow.taskgraph.errors import InvalidInput

__all__ = ["add_parser", "arguments", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``hetflow demo``."""
    p = subparsers.add_parser(
        "demo",
        help="run the LLM batch job end to end (embedded Dask cluster + Prefect)",
        description="Build the MiniLM batch job on the bundled corpus, start one GPU-class and N CPU Dask workers, "
        "calibrate costs, plan, run under Prefect, merge, and report.",
    )
    p.add_argument("--docs", type=int, default=None,
                   help=f"documents (default {DEFAULT_DOCS} of the bundled corpus, or every row of --corpus FILE)")
    p.add_argument("--batch-size", type=int, default=64, help="documents per batch (default 64)")
    p.add_argument("--shards", type=int, default=3, help="inference tasks per batch (default 3)")
    p.add_argument("--gpus", type=int, default=1, help="GPU-class workers (default 1)")
    p.add_argument("--cpus", type=int, default=2, help="CPU workers (default 2)")
    p.add_argument("--corpus", default="bundled", help="'bundled' or a .txt/.csv/.parquet file (default bundled)")
    p.add_argument("--costs", help="cost calibration file (hetflow profile); default: calibrate on the cluster")
    p.add_argument("--no-calibrate", action="store_true", help="without --costs, plan with the built-in costs")
    p.add_argument("--address", help="run on a running Dask cluster (tcp://host:port) instead of starting one")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    # run options (cli.run_options): only the flags given, on top of the demo's defaults
    p.add_argument("--solver", default=argparse.SUPPRESS, metavar="NAME", help=solver_help(DEFAULTS.solver))
    p.add_argument("--out-dir", default=argparse.SUPPRESS, help=f"output directory (default {DEMO_OUT_DIR})")
    p.add_argument("--retries", type=int, default=argparse.SUPPRESS,
                   help=f"re-runs of a failing task (default {DEFAULTS.retries})")
    p.add_argument("--host", default=argparse.SUPPRESS,
                   help="interface the embedded cluster listens on (default 127.0.0.1; 0.0.0.0: all)")
    add_verbose_flag(p)
    p.set_defaults(func=run)
    return p


def arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :func:`~hetflow.flows.llm.demo.run_demo` for ``args`` (checked)."""
    for name in ("docs", "batch_size", "shards", "cpus"):
        if getattr(args, name) is not None and getattr(args, name) < (0 if name == "cpus" else 1):
            raise InvalidInput(f"--{name.replace('_', '-')} must be >= {0 if name == 'cpus' else 1}")
    if args.gpus < 0 or args.gpus + args.cpus < 1:
        raise InvalidInput("--gpus must be >= 0 and the cluster needs a worker")
    docs = args.docs if args.docs is not None else (DEFAULT_DOCS if args.corpus == "bundled" else None)
    return {
        "n_docs": docs,
        "batch_size": args.batch_size,
        "n_shards": args.shards,
        "gpus": args.gpus,
        "cpus": args.cpus,
        "corpus": args.corpus,
        "costs": args.costs,
        "calibrate": not args.no_calibrate,
        "address": args.address,
        "progress": not args.no_progress,
        "options": run_options(args, demo_options()),
    }


def run(args: argparse.Namespace) -> int:
    require_extra("llm", "hetflow demo")  # before anything starts: one line instead of an import traceback
    call = arguments(args)
    from hetflow.flows.llm.demo import format_summary, run_demo
    from hetflow.flows.runtime.executor import SchedulerLost, TaskFailed

    try:
        with prefect_server(tracebacks=bool(args.verbose)):
            demo = run_demo(**call)
    except (TaskFailed, SchedulerLost) as e:
        return failed_run(e, call["options"], "demo run")
    print(format_summary(demo))
    return 0
