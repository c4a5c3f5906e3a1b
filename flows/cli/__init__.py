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

Exit codes: 0 success, 1 the run failed (a task failed, a time limit passed), 2 bad input, 3 the Dask
scheduler was lost, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM, handled like Ctrl-C: the embedded
cluster stops and the shared Prefect server is let go, :func:`prefect_server`). Prefect's anonymous
analytics are off in the CLI (``DO_NOT_TRACK=1``, ``PREFECT_SERVER_ANALYTICS_ENABLED=false`` unless set), so
an offline run makes no attempt to send telemetry.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence

from hetflow.flows.logs import console_logs, without_tracebacks
from hetflow.flows.options import OptionError, RunOptions
from hetflow.taskgraph.errors import InvalidInput

__all__ = [
    "main",
    "build_parser",
    "run_options",
    "solver_help",
    "add_verbose_flag",
    "add_trust_arguments",
    "prefect_server",
    "kept_note",
    "failed_run",
    "CommandFailed",
    "Terminated",
    "DEFAULTS",
]

DEFAULTS = RunOptions()  # for the help texts

SUBCOMMANDS = ["plan", "run", "compute", "demo", "bench", "profile", "serve"]


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


def add_trust_arguments(parser: argparse.ArgumentParser) -> None:
    """``--data-dir`` (repeatable): folders the graph's tasks may read besides the graph file's own."""
    parser.add_argument("--data-dir", dest="data_dirs", action="append", metavar="FOLDER",
                        help="a folder the graph's tasks may read files from, besides the graph file's folder "
                             "(repeatable; tasks write only into --out-dir)")  # fmt: skip


class CommandFailed(Exception):
    """A failure the command reports in one line (``message``) with exit code ``code``."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


@contextlib.contextmanager
def prefect_server(*, tracebacks: bool = False) -> Iterator[None]:
    """The Prefect side of a command that runs flows: the machine's shared local Prefect server (started on
    demand, :mod:`hetflow.flows.orchestration.local_server`; concurrent runs share it) and a result folder of
    this process, removed at the end (Prefect pickles every failed flow's exception into its result storage:
    nothing piles up in ``~/.prefect/storage``). Unless ``tracebacks`` (``-v``), console log records lose
    their tracebacks meanwhile: a failed run logs one line per failed step and the command says why in
    one more (an error hetflow does not expect still ends the command with Python's traceback)."""
    from hetflow.flows.orchestration.local_server import LocalServerError, shared_server
    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, temporary_settings

    lines = contextlib.nullcontext() if tracebacks else without_tracebacks()
    with tempfile.TemporaryDirectory(prefix="hetflow-prefect-results-") as storage, lines:
        try:
            with shared_server(), temporary_settings(updates={PREFECT_LOCAL_STORAGE_PATH: storage}):
                yield
        except LocalServerError as e:
            raise CommandFailed(f"hetflow: error: {e}") from None


def kept_note(error: BaseException, options: RunOptions) -> str:
    """Where a failed run kept the sinks that finished: "; finished sinks written to OUT (incomplete)"."""
    execution = getattr(error, "execution", None)
    if execution is None or not execution.results:
        return ""
    if options.out_dir:
        return f"; finished sinks written to {options.out_dir} (results.json: incomplete)"
    return "; give --out-dir to keep the finished sinks"


def failed_run(error: BaseException, options: RunOptions, what: str = "run") -> int:
    """Say in one line on stderr why a run ended early; return the exit code for it.

    A lost Dask scheduler (:class:`~hetflow.flows.runtime.liveness.SchedulerLost`) exits 3, anything else
    (a task failed, a time limit passed) 1. The line ends with :func:`kept_note`.
    """
    from hetflow.flows.runtime.liveness import SchedulerLost

    lost = isinstance(error, SchedulerLost)
    print(f"hetflow: {'' if lost else what + ' failed: '}{error}{kept_note(error, options)}", file=sys.stderr)
    return 3 if lost else 1


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C's KeyboardInterrupt so that every ``finally`` stops what it started."""


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM kills at once
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _analytics_off() -> None:
    """No Prefect telemetry from the CLI (set before Prefect is imported; explicit settings win)."""
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def main(argv: Sequence[str] | None = None) -> int:
    _analytics_off()
    args = build_parser().parse_args(argv)
    before = _children()
    # commands with -v/--verbose run quiet unless given it: set up before they import Prefect and Dask
    quiet = console_logs(args.verbose) if hasattr(args, "verbose") else contextlib.nullcontext()
    try:
        with quiet, _sigterm_as_interrupt():
            return int(args.func(args) or 0)
    except OptionError as e:  # a run option comes from the flag of the same name
        print(f"hetflow: error: --{e.option.replace('_', '-')} {e.problem}", file=sys.stderr)
        return 2
    except InvalidInput as e:
        print(f"hetflow: error: {e}", file=sys.stderr)
        return 2
    except CommandFailed as e:
        print(e, file=sys.stderr)
        return e.code
    except Terminated:
        _stop_children(before)
        print("hetflow: terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        _stop_children(before)
        print("hetflow: interrupted", file=sys.stderr)
        return 130


def _children() -> set[int]:
    try:
        import psutil
    except ImportError:  # no run extra: the command starts no process
        return set()
    return {p.pid for p in psutil.Process().children(recursive=True)}


def _stop_children(before: set[int], grace: float = 5.0) -> None:
    """After Ctrl-C or SIGTERM, once every ``finally`` ran: stop the processes the command started and did
    not stop (a cluster interrupted while it started, a worker slow to exit); not those that were there
    before (``before``) nor those in another session: the shared Prefect server (its own session) stops by
    itself once its last run is gone."""
    try:
        import psutil
    except ImportError:
        return
    session = os.getsid(0)
    children = []
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(OSError):
            if child.pid not in before and os.getsid(child.pid) == session:
                children.append(child)
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.terminate()
    _, alive = psutil.wait_procs(children, timeout=grace)
    for child in alive:
        with contextlib.suppress(psutil.Error):
            child.kill()

