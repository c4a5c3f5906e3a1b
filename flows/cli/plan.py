"""``hetflow plan``: plan a task graph onto a cluster and print the makespan; optionally write the schedule.

Example::

    hetflow plan examples/tiny_graph.json --cluster examples/cluster.json --solver heft --out schedule.json

prints one summary line (solver, makespan, lower bound, size, planning time — and apart from it the time the
solver took to load its compiled kernels and libraries, once per process) and writes DESIGN.md's
schedule JSON (``solver``, ``makespan``, ``plan_seconds``, ``tasks[{task, worker, start, finish}]``).
GRAPH is node-link JSON or a WfCommons WfFormat file. Imports stay light (no Prefect, no Dask) so the
command starts fast; bad input raises :class:`hetflow.taskgraph.InvalidInput`, which the CLI prints as one line
and turns into exit status 2.

``--time-limit SECONDS`` caps the planning time of the solvers that search (``dp``, ``cpsat``: they return
the best plan found by then); ``cpsat`` gets ``CPSAT_TIME_LIMIT`` seconds when none is given. The clock starts
once the solver has loaded (:func:`hetflow.solvers.registry.warm_up`). When planning
takes more than 2 s and stderr is a terminal, a progress line (stage, best makespan so far, elapsed time)
is drawn on stderr and removed at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from hetflow.flows.cli import solver_help

__all__ = ["add_parser", "run", "default_solver", "CPSAT_TIME_LIMIT"]

CPSAT_TIME_LIMIT = 60.0  # seconds: the CP solver's default cap in the CLI (it would search for long otherwise)
PROGRESS_AFTER = 2.0  # seconds of planning before the progress line appears
LOADING_SHOWN = 0.05  # seconds of loading (solvers.registry.warm_up) from which the summary line shows it


def default_solver() -> str:
    """``dp`` when it is registered, else ``heft``."""
    from hetflow.solvers import solver_names

    return "dp" if "dp" in solver_names() else "heft"


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``hetflow plan``."""
    p = subparsers.add_parser(
        "plan",
        help="plan a task graph onto a cluster",
        description="Plan GRAPH (node-link JSON or WfFormat) onto CLUSTER; print the makespan, write the schedule.",
    )
    p.add_argument("graph", metavar="GRAPH", help="task graph: node-link JSON or WfCommons WfFormat")
    p.add_argument("--cluster", required=True, metavar="CLUSTER", help="cluster JSON (workers, bandwidth, links)")
    p.add_argument("--solver", default=None, metavar="NAME", help=solver_help("dp if registered, else heft"))
    p.add_argument("--seed", type=int, default=0, help="seed for randomised solvers (default 0)")
    p.add_argument("--out", default=None, metavar="SCHEDULE.json", help="write the schedule JSON here")
    p.add_argument("--no-bound", action="store_true", help="skip the lower bound (an LP; slow on huge graphs)")
    p.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                   help=f"cap on planning time (after loading) for the solvers that search (dp, cpsat; default: none, "
                        f"{CPSAT_TIME_LIMIT:g} s for cpsat); the best plan found by then is returned")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from hetflow.taskgraph import Cluster, InvalidInput, load_graph

    graph = load_graph(args.graph)  # input errors surface before the solvers (and scipy) load
    cluster = Cluster.load(args.cluster)

    from hetflow.solvers import lower_bound, plan
    from hetflow.solvers.anytime import check_time_limit
    from hetflow.solvers.registry import check_solver_name, solver_capabilities

    solver = args.solver or default_solver()
    time_limit = check_time_limit(args.time_limit)
    if time_limit is None and solver == "cpsat":
        time_limit = CPSAT_TIME_LIMIT
    options = {}
    if time_limit is not None and solver_capabilities(check_solver_name(solver)).time_limit:
        options["time_limit"] = time_limit  # solvers that do not search finish at once: nothing to cap
    with _progress(solver, enabled=sys.stderr.isatty()):
        schedule = plan(graph, cluster, solver=solver, seed=args.seed, **options)

    parts = [f"{solver}: makespan {schedule.makespan:.6g} s"]
    if not args.no_bound:
        bound = lower_bound(graph, cluster)
        ratio = f", {schedule.makespan / bound:.3f}x" if bound > 0 else ""
        parts.append(f"lower bound {bound:.6g} s{ratio}")
    parts.append(f"{len(graph)} tasks on {len(cluster)} workers")
    loading = schedule.meta.get("loading_seconds", 0.0)  # compiled kernels, SciPy, OR-tools: off the clock
    parts.append(f"planned in {schedule.plan_seconds:.3g} s" + (f" (+{loading:.3g} s loading, once per process)"
                                                                  if loading >= LOADING_SHOWN else ""))
    print(" | ".join(parts))

    if args.out:
        try:
            text = json.dumps(schedule.to_dict(), indent=1)
        except (TypeError, ValueError) as e:
            raise InvalidInput(f"the schedule cannot be written as JSON: {e}") from None
        try:
            with open(args.out, "w") as f:
                f.write(text + "\n")
        except OSError as e:
            raise InvalidInput(f"cannot write schedule {args.out!r}: {e.strerror or e}") from None
        print(f"wrote {args.out}", file=sys.stdout)
    return 0


@contextmanager
def _progress(solver: str, enabled: bool) -> Iterator[None]:
    """A transient rich progress line on stderr, shown once planning has taken ``PROGRESS_AFTER`` seconds and
    fed by the solver's reports (:func:`hetflow.solvers.anytime.reporting`)."""
    if not enabled:
        yield
        return
    from hetflow.solvers.anytime import reporting
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                   console=Console(stderr=True), transient=True)
    job = bar.add_task(f"planning with {solver}", total=None)

    def listener(stage: str, best: float) -> None:
        bar.update(job, description=f"planning with {solver}: {stage}, best makespan {best:.6g} s")

    timer = threading.Timer(PROGRESS_AFTER, bar.start)
    timer.daemon = True
    timer.start()
    try:
        with reporting(listener):
            yield
    finally:
        timer.cancel()
        timer.join()  # a start under way finishes before the stop
        bar.stop()
