"""The ``hetflow`` command line.

Each subcommand lives in its own module ``hetflow.flows.cli.<name>`` exposing ``add_parser(subparsers)`` (which
registers the subcommand and sets ``func``) and keeps heavy imports (Prefect, Dask, torch) inside the
function it runs, so ``hetflow plan`` starts fast. Bad input (:class:`hetflow.taskgraph.InvalidInput`, or a
missing file) prints one line on stderr and exits 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from hetflow.taskgraph.errors import InvalidInput

__all__ = ["main", "build_parser"]

SUBCOMMANDS = ["plan", "run", "demo", "bench", "profile", "serve"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors: one line, exit 2
        self.exit(2, f"hetflow: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hetflow", description="Plan task graphs onto GPU/CPU Dask clusters and run them.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"hetflow.flows.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"hetflow.flows.cli.{name}":
                raise
            continue
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InvalidInput as e:
        print(f"hetflow: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hetflow: interrupted", file=sys.stderr)
        return 130

