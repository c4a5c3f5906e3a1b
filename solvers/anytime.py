"""Anytime planning: a wall-clock limit the searching solvers honour, and progress reports for whoever listens.

A :class:`Deadline` is made from a solver's ``time_limit`` option (seconds, or None for no limit). The
solvers that search (``dp``, ``cpsat``) ask :meth:`Deadline.expired` between units of work and return the
best plan found so far when it says so; without a limit they never ask the clock, so their result depends
only on the inputs, the seed and the effort (deterministic). With a limit the cut can fall anywhere:
the plan is never worse than the first complete one, but may differ between runs.

Progress goes to a listener installed with :func:`reporting` (a context variable, so nothing is plumbed
through :func:`hetflow.solvers.plan`): ``listener(stage, best_makespan)``. The ``hetflow plan`` command
installs one that draws a rich progress line on stderr once planning has taken 2 s.

Examples
--------
>>> seen = []
>>> with reporting(lambda stage, best: seen.append((stage, best))):
...     clock = Deadline(None)
...     clock.report("heft", 12.5)
>>> seen, clock.expired()
([('heft', 12.5)], False)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

from hetflow.taskgraph.errors import InvalidInput

__all__ = ["Deadline", "reporting", "check_time_limit", "map_chains"]

Listener = Callable[[str, float], None]
T = TypeVar("T")
_LISTENER: ContextVar[Listener | None] = ContextVar("hetflow_planning_listener", default=None)


def check_time_limit(time_limit: float | None) -> float | None:
    """``time_limit`` as a float, or None; a one-line input error unless it is a positive number.

    Examples
    --------
    >>> check_time_limit("2.5"), check_time_limit(None)
    (2.5, None)
    >>> check_time_limit(0)
    Traceback (most recent call last):
    ...
    hetflow.taskgraph.errors.InvalidInput: time limit must be a positive number of seconds, not 0
    """
    if time_limit is None:
        return None
    try:
        value = float(time_limit)
    except (TypeError, ValueError):
        raise InvalidInput(f"time limit must be a number of seconds, not {time_limit!r}") from None
    if not value > 0 or value == float("inf"):
        raise InvalidInput(f"time limit must be a positive number of seconds, not {time_limit!r}")
    return value


class Deadline:
    """A planning clock started at construction; ``time_limit=None`` never expires.

    Examples
    --------
    >>> import time
    >>> clock = Deadline(0.01)
    >>> time.sleep(0.02)
    >>> clock.expired(), clock.remaining(), Deadline(None).expired()
    (True, 0.0, False)
    """

    def __init__(self, time_limit: float | None):
        self.limit = check_time_limit(time_limit)
        self.t0 = time.perf_counter()
        self.listener = _LISTENER.get()
        self.best = float("inf")
        self._lock = threading.Lock()

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def remaining(self) -> float:
        """Seconds left (``inf`` without a limit, never negative)."""
        return float("inf") if self.limit is None else max(0.0, self.limit - self.elapsed())

    def expired(self) -> bool:
        return self.limit is not None and self.elapsed() >= self.limit

    def report(self, stage: str, best: float) -> None:
        """Tell the listener, if any, what the solver is doing and the best makespan so far: the least of
        every makespan reported (chains on several threads report their own), one call at a time.

        Examples
        --------
        >>> seen = []
        >>> with reporting(lambda stage, best: seen.append(best)):
        ...     clock = Deadline(None)
        ...     for makespan in (9.0, 7.0, 8.0):
        ...         clock.report("search", makespan)
        >>> seen
        [9.0, 7.0, 7.0]
        """
        if self.listener is not None:
            with self._lock:
                self.best = min(self.best, best)
                self.listener(stage, self.best)


@contextmanager
def reporting(listener: Listener | None) -> Iterator[None]:
    """Send the progress of every plan made inside the block to ``listener(stage, best_makespan)`` (None: to
    nobody, whatever listens outside the block).

    Examples
    --------
    >>> from hetflow.solvers import plan
    >>> from hetflow.taskgraph.generators import layered_random, random_cluster
    >>> stages = []
    >>> with reporting(lambda stage, best: stages.append(stage)):
    ...     _ = plan(layered_random(30, seed=1), random_cluster(1, 2, seed=1), "dp", effort=0.05)
    >>> stages[:2], "annealing" in stages
    (['heft', 'heft-matrix'], True)
    """
    token = _LISTENER.set(listener)
    try:
        yield
    finally:
        _LISTENER.reset(token)


def map_chains(chain: Callable[[int, threading.Event], T], count: int, threads: int) -> list[T]:
    """``[chain(k, stop) for k in range(count)]``, run on up to ``threads`` threads (compiled kernels and CP-SAT
    release the GIL). ``stop`` is set once the caller stops waiting — an interrupt (Ctrl-C) in the calling
    thread — so a chain that checks it between units of work ends early instead of running to its budget.

    Examples
    --------
    >>> map_chains(lambda k, stop: k * k, 3, threads=2)
    [0, 1, 4]
    """
    stop = threading.Event()
    if threads <= 1 or count <= 1:
        return [chain(k, stop) for k in range(count)]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(threads, count)) as pool:
        try:
            return list(pool.map(lambda k: chain(k, stop), range(count)))
        finally:
            stop.set()
