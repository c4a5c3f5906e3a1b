"""What a plan's execution produced (:class:`Execution`, one :class:`Round` per submission) and how it failed
(:class:`TaskFailed`); :class:`~hetflow.flows.runtime.executor.PlanExecutor` makes them.

A run that fails after its tasks were submitted raises with ``execution`` set: the partial
:class:`Execution` (``complete`` False), whose ``results`` are the sinks gathered before the failure.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from hetflow.solvers.schedule import Schedule

__all__ = ["TaskFailed", "Round", "Execution", "RunState"]


class TaskFailed(RuntimeError):
    """A graph task raised on every attempt, ran past its time limit, or the run could not recover from lost
    workers or passed ``RunOptions.timeout``.

    Like every exception ``PlanExecutor.run`` raises once tasks were submitted (not Ctrl-C), it carries
    ``execution``: the partial :class:`Execution` (the sinks gathered so far, the rounds, the task stream).
    """

    execution: Execution | None = None


@dataclass
class Round:
    """One submission: the original plan (round 0), a re-plan after workers died, or one that plans on
    restarted workers again (``rejoined``)."""

    index: int
    schedule: Schedule
    offset: float  # seconds after the run start when it was submitted
    keys: dict[Hashable, str]
    dead: list[str] = field(default_factory=list)
    kept: int = 0  # results carried over from earlier rounds
    rejoined: list[str] = field(default_factory=list)  # restarted workers this round plans on again


@dataclass
class Execution:
    """What :meth:`~hetflow.flows.runtime.executor.PlanExecutor.run` returns."""

    results: dict[Hashable, Any]  # sink -> result, in ``graph.sinks`` order
    rounds: list[Round]
    final_key: dict[Hashable, str]  # task -> key whose result was used
    final_round: dict[Hashable, int]
    t0: float  # wall clock (time.time()) just before the first submit
    wall_seconds: float  # first submit -> last sink gathered
    submit_seconds: float  # time spent in the round-0 submit loop
    failures: dict[str, int]  # repr(task) -> failed attempts (all rounds)
    stream: list[dict[str, Any]]  # Dask task-stream records of this run's keys
    names: dict[str, str] = field(default_factory=dict)  # Dask address -> planned worker, every address it had
    complete: bool = True  # False: the run failed; ``results`` holds the sinks gathered before

    @property
    def replans(self) -> list[Round]:
        return self.rounds[1:]


@dataclass
class RunState:
    """What :meth:`PlanExecutor.run` tracks while a run lasts (one per run)."""

    t0: float
    futures: dict[Hashable, Any] = field(default_factory=dict)
    results: dict[Hashable, Any] = field(default_factory=dict)
    rounds: list[Round] = field(default_factory=list)
    final_key: dict[Hashable, str] = field(default_factory=dict)
    final_round: dict[Hashable, int] = field(default_factory=dict)
    dead: set[str] = field(default_factory=set)
    known: set[str] = field(default_factory=set)  # every worker address seen
    done: set[Hashable] = field(default_factory=set)  # tasks seen finished (of their latest round)
    submit_seconds: float = 0.0
    wall: float = 0.0
    checked: float = 0.0  # when the task limits were last checked

    def add(self, round_: Round) -> None:
        self.rounds.append(round_)
        self.done -= set(round_.keys)
        self.final_key.update(round_.keys)
        self.final_round.update(dict.fromkeys(round_.keys, round_.index))
