"""What :class:`~hetflow.flows.runtime.executor.PlanExecutor` watches while a plan runs: the scheduler, the
workers' membership, the tasks executing right now and their time limits.

* **The scheduler.** A client whose connection to the scheduler broke turns its ``status`` from
  ``"running"`` to ``"connecting"`` at once (its report stream closes); :func:`check_scheduler` raises
  :class:`SchedulerLost` then, before any call that would wait for a reconnect (30 s and more).
* **Workers.** :func:`alive_workers` is the scheduler's current worker set. A sink result whose last holder
  leaves while it is being gathered is noticed by :func:`gather_live`, which asks the scheduler who holds
  the keys every ``poll`` seconds during the gather and gives up when a key has no holder (no fixed gather
  timeout: a large result takes the time it needs while its holder lives).
* **Running tasks.** :func:`executing` reads what every worker reported executing in its last heartbeat
  (key, worker, seconds so far; heartbeats come every 0.5-1 s on small clusters). :class:`TaskLimits` holds
  each submitted key's limit, ``factor * planned duration * time_scale + slack`` seconds
  (``RunOptions.task_timeout_factor`` and ``task_timeout_slack``), and returns the keys past it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from hetflow.solvers.schedule import Schedule

__all__ = [
    "SchedulerLost",
    "lost_scheduler",
    "check_scheduler",
    "alive_workers",
    "gather_live",
    "executing",
    "Running",
    "TaskLimits",
]


class SchedulerLost(RuntimeError):
    """The client lost its connection to the Dask scheduler during a run (the CLI exits 3)."""


def scheduler_address(client: Any) -> str:
    try:
        return str(client.scheduler.address)
    except Exception:  # pragma: no cover - a client without a scheduler rpc
        return "?"


def lost_scheduler(client: Any, error: BaseException | None = None) -> SchedulerLost | None:
    """A :class:`SchedulerLost` naming the scheduler when ``client`` is no longer connected to it, else None.

    ``error`` is what a call just raised (a cancelled future, a closed comm): a client that lost its
    scheduler cancels its futures with it.
    """
    status = getattr(client, "status", "running")
    if status == "running" and not isinstance(error, OSError):
        return None
    how = f" ({type(error).__name__}: {error})" if status == "running" else ""
    return SchedulerLost(f"lost the connection to the Dask scheduler {scheduler_address(client)}{how}")


def check_scheduler(client: Any) -> None:
    """Raise :class:`SchedulerLost` when ``client`` is no longer connected to its scheduler."""
    lost = lost_scheduler(client)
    if lost is not None:
        raise lost


def alive_workers(client: Any) -> set[str]:
    """Addresses of the workers the scheduler has now; :class:`SchedulerLost` when it cannot be asked."""
    check_scheduler(client)
    try:
        return set(client.nthreads())
    except OSError as e:  # CommClosedError is an OSError
        raise lost_scheduler(client, e) from None


async def gather_live(client: Any, futures: list[Any], poll: float) -> list[Any] | None:
    """The results of ``futures``, or None as soon as one of them has no live holder left (the caller's
    liveness check then re-plans it). Run with ``client.sync(gather_live, client, futures, poll)``."""
    keys = [f.key for f in futures]
    gathering = asyncio.ensure_future(client.gather(futures, asynchronous=True))
    try:
        while True:
            done, _ = await asyncio.wait({gathering}, timeout=poll)
            if done:
                return gathering.result()
            holders = await client.scheduler.who_has(keys=keys)
            if any(not holders.get(k) for k in keys):
                return None
    finally:
        if not gathering.done():
            _quiet_cancelled_gathers(asyncio.get_running_loop())
            gathering.cancel()


def _quiet_cancelled_gathers(loop: asyncio.AbstractEventLoop) -> None:
    """A cancelled ``Client.gather`` leaves a helper task that later fails with ``distributed``'s internal
    ``AllExit``, which it means to be quiet; keep asyncio from logging it as "never retrieved" (nothing else)."""
    previous = loop.get_exception_handler()
    if getattr(previous, "hetflow_quiet", False):
        return

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if type(context.get("exception")).__name__ == "AllExit":
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    handler.hetflow_quiet = True  # type: ignore[attr-defined]
    loop.set_exception_handler(handler)


class Running(NamedTuple):
    """A task executing on a worker (from the worker's last heartbeat)."""

    key: Hashable
    address: str
    seconds: float


def executing(client: Any) -> list[Running]:
    """The tasks executing on the cluster now, longest-running first ([] when the scheduler cannot say)."""
    check_scheduler(client)

    def collect(dask_scheduler: Any) -> list[tuple[Any, str, float]]:
        # nested, referring to no module global: cloudpickle ships its code, the scheduler needs no hetflow
        return [(ts.key, ws.address, float(s)) for ws in dask_scheduler.workers.values()
                for ts, s in ws.executing.items()]  # fmt: skip

    try:
        rows = client.run_on_scheduler(collect)
    except OSError as e:
        raise lost_scheduler(client, e) from None
    except Exception:  # e.g. a scheduler that refuses pickled functions: no detail, no failure
        return []
    return sorted((Running(*r) for r in rows), key=lambda r: -r.seconds)


@dataclass
class TaskLimits:
    """Per-key time limits of a run: ``factor * planned seconds * time_scale + slack`` (``factor`` None: none).

    Examples
    --------
    >>> from hetflow.solvers.schedule import Placement, Schedule
    >>> limits = TaskLimits(factor=10.0, slack=5.0, time_scale=0.5)
    >>> limits.add(Schedule([Placement("a", "cpu0", 0.0, 2.0)]), {"a": "k-a"})
    >>> limits.limits["k-a"]
    ('a', 1.0, 15.0)
    >>> [k for k, *_ in limits.over([Running("k-a", "tcp://w:1", 16.0), Running("other", "tcp://w:2", 99.0)])]
    ['k-a']
    """

    factor: float | None
    slack: float
    time_scale: float
    limits: dict[Hashable, tuple[Hashable, float, float]] = field(default_factory=dict)  # key -> (task, planned, limit)

    def add(self, schedule: Schedule, keys: Mapping[Hashable, Hashable]) -> None:
        """Limits for the keys of one round (``keys``: task -> key) from that round's ``schedule``."""
        for task, key in keys.items():
            p = schedule.by_task[task]
            planned = (p.finish - p.start) * self.time_scale
            limit = self.factor * planned + self.slack if self.factor is not None else float("inf")
            self.limits[key] = (task, planned, limit)

    def over(self, running: list[Running]) -> list[tuple[Hashable, Hashable, Running, float, float]]:
        """``(key, task, running, planned, limit)`` of each running key past its limit."""
        out = []
        for r in running:
            if r.key in self.limits:
                task, planned, limit = self.limits[r.key]
                if r.seconds > limit:
                    out.append((r.key, task, r, planned, limit))
        return out
