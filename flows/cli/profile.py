"""``hetflow profile``: calibrate the LLM job's cost model on the workers of a Dask cluster.

Examples::

    hetflow profile --out costs.json                        # embedded cluster: 1 GPU-class + 2 CPU workers
    hetflow profile --cluster cluster.json --sizes 8,32,64 --repeats 3
    hetflow profile --address tcp://10.0.0.5:8786 --out costs.json
    hetflow demo --costs costs.json                         # plan with it (or llm_batch_job(costs=load_costs(...)))

Every worker slot runs a few batches of each task kind (after an untimed warm-up that loads the model);
``seconds = a + b * size`` is fitted per (kind, device class) and written in ``save_costs`` format with the
machine, date and raw samples under ``meta``. Workers sample concurrently unless ``--sequential``, so the
costs include the slowdown of sharing the machine's cores during a run. Exit 0 on success, 2 on bad input.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from hetflow.flows.cli import add_verbose_flag
from hetflow.flows.extras import require_extra
from hetflow.taskgraph import Cluster
from hetflow.taskgraph.errors import InvalidInput

__all__ = ["add_parser", "arguments", "run", "parse_sizes"]


def parse_sizes(text: str) -> list[int]:
    """``"8,32,64"`` -> ``[8, 32, 64]``; raises InvalidInput on anything else."""
    try:
        sizes = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise InvalidInput(f"--sizes must be comma-separated integers, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise InvalidInput(f"--sizes must be integers >= 1, got {text!r}")
    return sizes


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``hetflow profile``."""
    p = subparsers.add_parser(
        "profile",
        help="calibrate cost = a + b*size per task kind and device class on the cluster's workers",
        description="Time each LLM task kind on every worker slot of a Dask cluster, fit seconds = a + b*size per "
        "(kind, device class) and write a costs file for the planner.",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument("--cluster", help="cluster JSON: start an embedded Dask cluster of that shape")
    where.add_argument("--address", help="scheduler address of a running Dask cluster (tcp://host:port)")
    p.add_argument("--gpus", type=int, default=1, help="embedded default: GPU-class workers (default 1)")
    p.add_argument("--cpus", type=int, default=2, help="embedded default: CPU workers (default 2)")
    p.add_argument("--out", default="costs.json", help="costs file to write (default costs.json)")
    p.add_argument("--sizes", default="8,32,64", help="batch sizes in documents (default 8,32,64)")
    p.add_argument("--repeats", type=int, default=2, help="timed passes over the sizes per worker (default 2)")
    p.add_argument("--corpus", default="bundled", help="'bundled' or a .txt/.csv/.parquet file (default bundled)")
    p.add_argument("--sequential", action="store_true",
                   help="profile one worker at a time (workers on separate machines; default: all at once)")
    add_verbose_flag(p)
    p.set_defaults(func=run)
    return p


def arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :func:`hetflow.flows.llm.profile.profile` for ``args`` (checked)."""
    sizes = parse_sizes(args.sizes)
    if args.repeats < 1:
        raise InvalidInput("--repeats must be >= 1")
    if args.gpus < 0 or args.cpus < 0 or args.gpus + args.cpus < 1:
        raise InvalidInput("--gpus and --cpus must be >= 0 with at least one worker")
    if args.cluster:
        cluster = Cluster.load(args.cluster)
    elif args.address is None:
        cluster = Cluster.local(gpus=args.gpus, cpus=args.cpus)
    else:
        cluster = None
    return {
        "cluster": cluster,
        "address": args.address,
        "out": args.out,
        "sizes": sizes,
        "repeats": args.repeats,
        "corpus": args.corpus,
        "concurrent": not args.sequential,
    }


def run(args: argparse.Namespace) -> int:
    require_extra("llm", "hetflow profile")  # before anything starts: one line instead of an import traceback
    call = arguments(args)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from hetflow.flows.llm.profile import profile

    result = profile(**call, log=print if args.verbose else None)  # quiet: the summary below only
    meta = result.meta
    workers = ", ".join(f"{w['name']} ({w['device']}, {w['torch_threads']} torch thread"
                        f"{'s' if w['torch_threads'] != 1 else ''}{', CUDA' if w['cuda'] else ''})"
                        for w in meta["workers"])  # fmt: skip
    print(f"workers: {workers}")
    print(f"samples: {len(result.samples)} op runs, wall/CPU time {meta['contention']:.2f} "
          f"({'concurrent' if meta['concurrent'] else 'sequential'})")  # fmt: skip
    print(result.to_text())
    print(f"wrote {args.out}")
    return 0
