"""``hetflow plan``: plan a task graph onto a cluster and print the makespan; optionally write the schedule.

Example::

    hetflow plan examples/tiny_graph.json --cluster examples/cluster.json --solver heft --out schedule.json

prints one summary line (solver, makespan, lower bound, size, planning time) and writes DESIGN.md's
schedule JSON (``solver``, ``makespan``, ``plan_seconds``, ``tasks[{task, worker, start, finish}]``).
GRAPH is node-link JSON or a WfCommons WfFormat file. Imports stay light (no Prefect, no Dask) so the
command starts fast; bad input raises :class:`hetflow.taskgraph.InvalidInput`, which the CLI prints as one line
and turns into exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys

from hetflow.flows.cli import solver_help

__all__ = ["add_parser", "run", "default_solver"]


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
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from hetflow.taskgraph import Cluster, InvalidInput, load_graph

    graph = load_graph(args.graph)  # input errors surface before the solvers (and scipy) load
    cluster = Cluster.load(args.cluster)

    from hetflow.solvers import lower_bound, plan

    solver = args.solver or default_solver()
    schedule = plan(graph, cluster, solver=solver, seed=args.seed)

    parts = [f"{solver}: makespan {schedule.makespan:.6g} s"]
    if not args.no_bound:
        bound = lower_bound(graph, cluster)
        ratio = f", {schedule.makespan / bound:.3f}x" if bound > 0 else ""
        parts.append(f"lower bound {bound:.6g} s{ratio}")
    parts.append(f"{len(graph)} tasks on {len(cluster)} workers")
    parts.append(f"planned in {schedule.plan_seconds:.3g} s")
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
