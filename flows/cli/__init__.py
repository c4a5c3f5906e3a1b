"""The ``hetflow`` command line.

Each subcommand lives in its own module ``hetflow.flows.cli.<name>`` exposing ``add_parser(subparsers)`` (which
registers the subcommand and sets ``func``) and keeps heavy imports (Prefect, Dask, torch) inside the
function it runs, so ``hetflow plan`` starts fast. Bad input (:class:`hetflow.taskgraph.InvalidInput`, or a
missing file) prints one line on stderr and exits 2, never a traceback.

A command that runs a plan maps its flags onto :class:`~hetflow.flows.options.RunOptions` by name: each such
flag's ``dest`` is the option's name and its default is ``argparse.SUPPRESS``, so :func:`run_options` takes
exactly the flags given and the defaults live in one place (the dataclass). A bad value is reported under
the flag's name (``--retries must be >= 0, not -1``). Each command module also has ``arguments(args)``: the
keyword arguments of the function it calls, which the tests check flag by flag.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
from collections.abc import Sequence

from hetflow.flows.logs import console_logs
from hetflow.flows.options import OptionError, RunOptions
from hetflow.taskgraph.errors import InvalidInput

__all__ = ["main", "build_parser", "run_options", "solver_help", "add_verbose_flag", "DEFAULTS"]

DEFAULTS = RunOptions()  # for the help texts

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


def add_verbose_flag(parser: argparse.ArgumentParser) -> None:
    """Add ``-v/--verbose`` (``args.verbose``: 0 quiet, 1 or more: Prefect's INFO lines on the console)."""
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="show Prefect's INFO log lines (flow/task runs, server) on the console; "
                             "default: warnings and errors only, then a summary")  # fmt: skip


def solver_help(default: str) -> str:
    """Help text of a ``--solver`` flag: every registered solver (:func:`hetflow.solvers.solver_names`), those
    that need an install extra marked, and the default."""
    from hetflow.solvers import solver_capabilities, solver_names

    names = []
    for name in solver_names():
        extra = solver_capabilities(name).extra
        names.append(f"{name} ({extra} extra)" if extra else name)
    return f"planner, one of: {', '.join(names)} (default {default})"


def run_options(args: argparse.Namespace, base: RunOptions | None = None) -> RunOptions:
    """``base`` (default: the defaults) with every option flag given on the command line; validated."""
    return RunOptions.build(base, **{name: getattr(args, name) for name in RunOptions.names() if hasattr(args, name)})


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # commands with -v/--verbose run quiet unless given it: set up before they import Prefect and Dask
    quiet = console_logs(args.verbose) if hasattr(args, "verbose") else contextlib.nullcontext()
    try:
        with quiet:
            return int(args.func(args) or 0)
    except OptionError as e:  # a run option comes from the flag of the same name
        print(f"hetflow: error: --{e.option.replace('_', '-')} {e.problem}", file=sys.stderr)
        return 2
    except InvalidInput as e:
        print(f"hetflow: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hetflow: interrupted", file=sys.stderr)
        return 130

