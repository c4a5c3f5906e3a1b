"""``hetflow run``: plan a task graph and execute the plan on Dask under the Prefect flow ``run_plan``.

Examples::

    hetflow run graph.json --cluster cluster.json --solver dp --time-scale 0.1 --out-dir run-out
    hetflow run graph.json --address tcp://10.0.0.5:8786 --retries 3

With ``--cluster`` an embedded Dask cluster shaped like the file is started (one single-thread worker
process per planned worker, ``GPU=1`` on gpu workers) by this command, which prints its dashboard link
while it is live and, with ``--keep-open``, keeps it up after the run until Ctrl-C; with ``--address`` the
running cluster's workers are discovered (:func:`hetflow.taskgraph.dask_convert.cluster_from_dask`).

Quiet: the console shows warnings and errors only (``-v`` adds Prefect's log lines), then one summary on
stdout, the first sink results and the run folder. The outputs
(:func:`hetflow.flows.orchestration.record.write_outputs`) go to a new folder
``hetflow-runs/<graph>-<time>/`` (:func:`hetflow.flows.options.default_run_folder`) unless ``--out-dir``
names another or ``--no-out-dir`` writes none. Exit 0 on success, 2 on bad input (unreadable files, a
missing extra, a task no worker can run, a file path outside the run's folders, ...), 1 when the run itself
fails (the sinks that finished are kept in the run folder, marked incomplete), 3 when the Dask scheduler is
lost, 143 on SIGTERM (like Ctrl-C: what the run started is stopped).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from typing import Any

from hetflow.flows.cli import (
    DEFAULTS,
    add_trust_arguments,
    add_verbose_flag,
    failed_run,
    prefect_server,
    run_options,
    solver_help,
)
from hetflow.flows.extras import require_extra, require_graph_extras
from hetflow.flows.options import RunOptions, default_run_folder
from hetflow.flows.runtime.learning import run_cost_store
from hetflow.flows.runtime.trust import confine_paths
from hetflow.solvers import Schedule
from hetflow.taskgraph import Cluster, check_runnable, load_graph

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
    p.add_argument("--solver", metavar="NAME", help=solver_help(DEFAULTS.solver))
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
    p.add_argument("--out-dir",
                   help="write schedule.json, timeline.csv, results.json, summary.md, gantt.png/.html there "
                        "({graph} and {time} are filled in; default: a new folder hetflow-runs/{graph}-{time}, "
                        "under $HETFLOW_RUNS_DIR when set)")
    p.add_argument("--no-out-dir", dest="out_dir", action="store_const", const=None,
                   help="write no output files (the summary is still printed)")
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
    p.add_argument("--keep-open", action="store_true", default=False,
                   help="with --cluster: keep the embedded cluster (and its dashboard) up after the run until "
                        "Ctrl-C")
    add_trust_arguments(p)
    p.add_argument("--task-timeout-factor", type=float,
                   help="fail when a task runs longer than this many times its planned duration plus the slack "
                        f"(default {DEFAULTS.task_timeout_factor:g})")
    p.add_argument("--task-timeout-slack", type=float,
                   help=f"seconds added to every task's limit (default {DEFAULTS.task_timeout_slack:g})")
    p.add_argument("--no-task-timeout", dest="task_timeout_factor", action="store_const", const=None,
                   help="no per-task time limit")
    add_verbose_flag(p)
    p.set_defaults(func=run)
    return p


def arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :func:`~hetflow.flows.orchestration.flow.run_plan` for ``args`` (inputs read,
    options validated)."""
    options = run_options(args, RunOptions(out_dir=default_run_folder()))
    graph = load_graph(args.graph)
    cluster = Cluster.load(args.cluster) if args.cluster else None
    schedule = Schedule.load(args.schedule) if args.schedule else None
    if schedule is not None and cluster is not None:  # checked before Prefect starts; with --address the
        schedule.validate(graph, cluster)  # workers are known only once connected (the flow checks it then)
    return {"graph": graph, "schedule": schedule, "cluster": cluster, "address": args.address, "options": options}


def run(args: argparse.Namespace) -> int:
    require_extra("run", "hetflow run")
    call = arguments(args)
    graph, options = call["graph"], call["options"]
    embedded = call["address"] is None
    if embedded:  # bad input is reported before anything starts (with --address the workers are known later)
        check_runnable(graph, call["cluster"])  # learned costs never add a device class: the same verdict
        if not options.emulate:  # the ops run in worker processes started from this environment
            require_graph_extras(graph, "hetflow run")
    run_cost_store(graph, options.cost_store, options.emulate)  # a corrupt store is bad input: say it now
    if args.keep_open and not embedded:
        print("hetflow: --keep-open applies to the embedded cluster (--cluster) only; ignored", file=sys.stderr)
    from hetflow.flows.orchestration.flow import run_plan  # Prefect and Dask load here
    from hetflow.flows.runtime.cluster import open_session_for
    from hetflow.flows.runtime.executor import SchedulerLost, TaskFailed

    call["options"] = claimed = options.with_run_folder(graph.name)
    created = claimed.out_dir if claimed is not options else None  # a new folder, made for this run
    options, record, session = claimed, None, None
    try:
        confine_paths(graph, options)  # an untrusted graph's file paths: refused before anything starts
        if embedded:  # started here, not in the flow: the link is printed while it is live, --keep-open
            session = open_session_for(options, call["cluster"])
            if options.dashboard and session.dashboard_link:
                print(f"hetflow: Dask dashboard {session.dashboard_link} (while the run lasts"
                      f"{'' if args.keep_open else '; --keep-open keeps it after'})", file=sys.stderr)
            call["client"] = session.client
        try:
            with prefect_server(tracebacks=bool(args.verbose)):
                record = run_plan(**call)
        except (TaskFailed, SchedulerLost) as e:
            return failed_run(e, options)
        _print_summary(record, options, live=not embedded or args.keep_open)
        if session is not None and args.keep_open:
            _wait_for_interrupt(session.dashboard_link if options.dashboard else None)
    finally:
        if session is not None:
            session.close(quiet=not args.verbose)
        if record is None and created:
            _remove_if_empty(created)
    return 0


def _print_summary(record: Any, options: RunOptions, *, live: bool) -> None:
    """The record's headline numbers, the first sink results and where the outputs are."""
    summary = record.summary()
    if record.dashboard_link and not live:  # the embedded cluster is gone with its dashboard
        summary["dashboard"] = "closed with the run (--keep-open keeps it)"
    width = max(len(k) for k in summary)
    for k, v in summary.items():
        print(f"{k:<{width}}  {v}")
    for sink, value in list(record.results.items())[:5]:
        text = repr(value)
        print(f"result {sink}: {text[:100] + '...' if len(text) > 100 else text}")
    if len(record.results) > 5:
        print(f"... {len(record.results) - 5} more sinks")
    if options.out_dir:
        print(f"{'outputs':<{width}}  {options.out_dir}{os.sep}")


def _wait_for_interrupt(link: str | None) -> None:
    """Block until Ctrl-C (SIGINT), saying what stays up."""
    what = f"dashboard {link}" if link else "the embedded cluster (no dashboard: --no-dashboard)"
    sys.stdout.flush()  # the summary first, also through a pipe
    print(f"hetflow: keeping {what} open; Ctrl-C closes it", file=sys.stderr, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("hetflow: closing the cluster", file=sys.stderr)


def _remove_if_empty(folder: str) -> None:
    """Remove the run folder made for a run that failed before writing into it."""
    with contextlib.suppress(OSError):  # not empty (or gone): keep it
        os.rmdir(folder)
