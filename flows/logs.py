"""Console logging while hetflow runs things: quiet by default, Dask's shutdown chatter hidden.

Quiet (:func:`console_logs`, used by the commands that run things unless ``-v``): the console shows warnings
and errors only, and the command prints its own summary at the end. Only *console* handlers are quietened:
Prefect's API handler keeps every record, so flow-run logs still reach a Prefect server's UI, and file
handlers keep theirs. Three levers, because the loggers come to life at different times:

* the environment, for what is configured later in this process or in a child process (Prefect's console
  handler level, ``PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL``; Dask's ``distributed`` logger level,
  ``DASK_LOGGING__DISTRIBUTED``), set only where the user has not set them and restored afterwards;
* a filter on every console handler that exists already (Prefect may reconfigure its handlers' levels);
* :func:`quiet_close`: Dask's loggers silenced while a cluster shuts down (a worker or comm closing under a
  pending read logs ``CommClosedError`` tracebacks that say nothing about the run);
  :meth:`hetflow.flows.runtime.cluster.DaskSession.close` closes inside it.

Only the standard library is imported here: the CLI loads this module before it knows whether Prefect or
Dask are installed.

Examples
--------
>>> import logging, io
>>> stream = io.StringIO(); handler = logging.StreamHandler(stream); log = logging.getLogger("hetflow-doc")
>>> log.addHandler(handler); log.setLevel(logging.INFO)
>>> with console_logs(verbose=0):
...     log.info("hidden"); log.warning("shown")
>>> log.info("shown again")
>>> stream.getvalue().splitlines()
['shown', 'shown again']
>>> log.removeHandler(handler)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = [
    "console_logs",
    "quiet_close",
    "filtered",
    "console_handlers",
    "AtLeast",
    "NoTraceback",
    "without_tracebacks",
    "QUIET_LEVEL",
    "DASK_LOGGERS",
]

QUIET_LEVEL = logging.WARNING
_QUIET_ENV = {"PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING", "DASK_LOGGING__DISTRIBUTED": "warning"}
DASK_LOGGERS = ("distributed", "tornado", "asyncio", "bokeh")


class AtLeast(logging.Filter):
    """Keep records at ``level`` or above (of the loggers whose names start with ``prefixes``, if given)."""

    def __init__(self, level: int, prefixes: tuple[str, ...] = ()):
        super().__init__()
        self.level, self.prefixes = level, prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.level or bool(self.prefixes) and not record.name.startswith(self.prefixes)


class NoTraceback(logging.Filter):
    """On ``handler``: a record with a traceback is emitted as a copy without it (the record itself, which
    other handlers such as Prefect's API handler also see, keeps it)."""

    def __init__(self, handler: logging.Handler):
        super().__init__()
        self.handler = handler

    def filter(self, record: logging.LogRecord) -> bool:
        if not (record.exc_info or record.exc_text):
            return True
        self.handler.handle(logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None}))
        return False


@contextmanager
def without_tracebacks() -> Iterator[None]:
    """While inside: console handlers show log records as their message lines, without tracebacks (for
    commands that report an error themselves, in one line)."""
    pairs = [(h, NoTraceback(h)) for h in console_handlers()]
    for h, f in pairs:
        h.addFilter(f)
    try:
        yield
    finally:
        for h, f in pairs:
            h.removeFilter(f)


def console_handlers() -> list[logging.Handler]:
    """Every stream handler (not a file handler) of the root logger and the named loggers, once each."""
    loggers = [logging.getLogger(), *(lg for lg in logging.Logger.manager.loggerDict.values()
                                      if isinstance(lg, logging.Logger))]  # fmt: skip
    handlers = {id(h): h for lg in loggers for h in lg.handlers
                if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)}  # fmt: skip
    return list(handlers.values())


@contextmanager
def filtered(flt: logging.Filter) -> Iterator[None]:
    """While inside: ``flt`` on every console handler that exists when entering."""
    handlers = console_handlers()
    for h in handlers:
        h.addFilter(flt)
    try:
        yield
    finally:
        for h in handlers:
            h.removeFilter(flt)


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set the variables of ``values`` that are not set yet; restore them afterwards."""
    added = [k for k in values if k not in os.environ]
    for k in added:
        os.environ[k] = values[k]
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


@contextmanager
def console_logs(verbose: int = 0) -> Iterator[None]:
    """While inside: the console shows warnings and errors only (``verbose=0``), or everything as configured
    (``verbose >= 1``). See the module docstring."""
    if verbose:
        yield
        return
    with _environment(_QUIET_ENV), filtered(AtLeast(QUIET_LEVEL)):
        yield


@contextmanager
def quiet_close() -> Iterator[None]:
    """While inside: Dask's (and tornado's, asyncio's, bokeh's) console records below CRITICAL are dropped.
    Wrap the closing of a client and its cluster in it."""
    with filtered(AtLeast(logging.CRITICAL, DASK_LOGGERS)):
        yield
