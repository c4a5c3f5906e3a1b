"""``hetflow compute``: plan and run the Dask collections a user's Python function builds (``hf.compute``).

Example::

    hetflow compute my_pipeline.py:build                          # the embedded cluster (1 GPU + 3 CPU)
    hetflow compute my_pipeline.py:build --address tcp://10.0.0.5:8786 --solver heft

``FILE.py:FUNCTION`` names a function in a Python file; it is called without arguments and returns what
``dask.compute`` takes — one Dask collection, or a tuple/list of them. The file is the user's own code and
runs as such (like ``python FILE.py``, but under the module name ``__hetflow_pipeline__``, so an
``if __name__ == "__main__":`` block does not run). Its functions travel to the workers the way Dask ships
them. The command prints one summary line (tasks, workers, planned vs actual makespan) and each result's
``repr``, cut to ``--show`` characters. Exit 0 on success, 2 on bad input (no such file or function, a
function that returns no Dask collection, a bad annotation), 1 when the function or the computation raises
(one line naming the exception), 3 when the Dask scheduler is lost.
"""

from __future__ import annotations

import argparse
import os
import runpy
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

from hetflow.flows.cli import CommandFailed, add_verbose_flag, solver_help
from hetflow.flows.extras import require_extra
from hetflow.taskgraph.errors import InvalidInput

__all__ = ["add_parser", "arguments", "compute_target", "load_builder", "run"]

MODULE_NAME = "__hetflow_pipeline__"


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``hetflow compute``."""
    p = subparsers.add_parser(
        "compute",
        help="plan and run the Dask collections FILE.py:FUNCTION returns (hetflow.compute)",
        description="Call FUNCTION from the Python file FILE.py, then plan the Dask collections it returns onto "
                    "the cluster's GPU/CPU workers and compute them (like dask.compute).",
    )  # fmt: skip
    p.add_argument("target", metavar="FILE.py:FUNCTION", help="a function returning Dask collection(s)")
    p.add_argument("--address", default=None,
                   help="scheduler address of a running Dask cluster (default: the embedded cluster)")
    p.add_argument("--solver", default="dp", metavar="NAME", help=solver_help("dp"))
    p.add_argument("--seed", type=int, default=0, help="seed of randomised planners (default 0)")
    p.add_argument("--costs", default="learned",
                   help='"learned" (the cost store at its default path), "given" (annotations only), '
                        "or a cost store file (default learned)")  # fmt: skip
    p.add_argument("--pace", type=int, default=None,
                   help="submit tasks on the plan's clock, K mean task lengths ahead (default: all at once)")
    p.add_argument("--show", type=int, default=200, help="characters of each result's repr to print (default 200)")
    add_verbose_flag(p)
    p.set_defaults(func=run)
    return p


def load_builder(target: str) -> Callable[[], Any]:
    """The function ``FILE.py:FUNCTION`` names (the file is executed).

    Raises
    ------
    InvalidInput
        The target is not ``FILE.py:FUNCTION``, the file does not exist, or has no such callable.
    """
    path, sep, name = target.rpartition(":")
    if not sep or not path.endswith(".py") or not name.isidentifier():
        raise InvalidInput(f"{target!r}: expected FILE.py:FUNCTION, e.g. pipeline.py:build")
    if not os.path.isfile(path):
        raise InvalidInput(f"{path}: no such file")
    namespace = runpy.run_path(path, run_name=MODULE_NAME)
    builder = namespace.get(name)
    if not callable(builder):
        found = sorted(k for k, v in namespace.items() if callable(v) and not k.startswith("_"))[:8]
        raise InvalidInput(f"{path} has no function {name!r} (callables there: {', '.join(found) or 'none'})")
    return builder


def _collections(value: Any, target: str) -> tuple:
    from dask import is_dask_collection

    values = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if not any(is_dask_collection(v) for v in values):
        raise InvalidInput(f"{target} returned {type(value).__name__}, not a Dask collection (or a tuple of them)")
    return values


def arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :func:`compute_target` for ``args`` (checked: one line on a bad value)."""
    from hetflow.solvers import check_solver_name

    if args.show < 0:
        raise InvalidInput(f"--show must be >= 0, not {args.show}")
    if args.pace is not None and args.pace < 1:
        raise InvalidInput(f"--pace must be >= 1, not {args.pace}")
    check_solver_name(args.solver)
    return {"target": args.target, "address": args.address, "solver": args.solver, "seed": args.seed,
            "costs": args.costs, "pace": args.pace, "show": args.show}  # fmt: skip


def run(args: argparse.Namespace) -> int:
    require_extra("run", "hetflow compute", ["dask", "distributed"])
    return compute_target(**arguments(args))


def compute_target(
    target: str,
    *,
    address: str | None = None,
    solver: str = "dp",
    seed: int = 0,
    costs: str = "learned",
    pace: int | None = None,
    show: int = 200,
) -> int:
    """Call the function ``target`` names, ``hf.compute`` what it returns, print the summary and results."""
    from hetflow.flows.compute import UnmeasuredCostWarning, last_report

    import hetflow as hf

    builder = load_builder(target)
    try:
        built = builder()
    except Exception as e:  # noqa: BLE001 - the user's code: one line, not our traceback
        raise CommandFailed(f"hetflow: error: {target} raised {type(e).__name__}: {e}") from None
    collections = _collections(built, target)
    options = {"solver": solver, "seed": seed, "costs": costs, "pace": pace}
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UnmeasuredCostWarning)
            if address:
                from distributed import Client

                with Client(address, timeout="10s") as client:
                    results = hf.compute(*collections, client=client, **options)
            else:
                results = hf.compute(*collections, **options)
        for w in caught:  # hetflow's own: one line each, as the CLI's errors
            if issubclass(w.category, UnmeasuredCostWarning):
                print(f"hetflow: warning: {str(w.message).removeprefix('hetflow: ')}", file=sys.stderr)
            else:
                warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    except (InvalidInput, CommandFailed):
        raise
    except OSError as e:
        raise CommandFailed(f"hetflow: error: cannot reach the Dask scheduler: {e}", code=3) from None
    except Exception as e:  # noqa: BLE001 - a task raised: Dask's own exception, one line
        raise CommandFailed(f"hetflow: error: the computation failed: {type(e).__name__}: {e}") from None
    wall = time.perf_counter() - t0
    report = last_report()
    if report is not None:
        print(f"{len(report.graph)} tasks on {len(report.schedule.workers)} workers: planned "
              f"{report.planned_makespan:.3f} s, took {report.wall_seconds:.3f} s "
              f"(actual/planned {report.ratio:.2f}; {wall:.2f} s with planning)")  # fmt: skip
    for i, value in enumerate(results):
        text = repr(value)
        print(f"[{i}] {text[:show]}{'…' if len(text) > show else ''}")
    sys.stdout.flush()
    return 0
