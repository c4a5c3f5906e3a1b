"""`Schedule`: a plan as a plain value — per task ``(worker, start, finish)`` plus makespan and metadata.

It converts to a pandas DataFrame and to/from DESIGN.md's JSON, and :meth:`Schedule.validate` checks it
against the cost model: every task once, on a worker whose device class it can use, duration equal to
``cost / speed``, inputs arrived (transfer time included) before the start, no overlap on a worker, and
makespan equal to the last finish.
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hetflow.taskgraph import Cluster, TaskGraph
from hetflow.taskgraph.errors import FormatError, InvalidInput, brief
from hetflow.taskgraph.graph import check_number
from hetflow.taskgraph.io import check_task_id, read_json

__all__ = ["Placement", "Schedule", "InvalidSchedule"]


class InvalidSchedule(InvalidInput):
    """A schedule breaks the cost model of its graph and cluster (the message says where).

    Examples
    --------
    >>> from hetflow.taskgraph import Cluster, TaskGraph
    >>> g = TaskGraph(name="g"); g.add_task("a", {"cpu": 2.0})
    >>> Schedule([Placement("a", "cpu0", 0.0, 1.0)]).validate(g, Cluster.local(gpus=0, cpus=1))
    Traceback (most recent call last):
    ...
    hetflow.solvers.schedule.InvalidSchedule: task 'a' lasts 1 s on 'cpu0'; the cost model says 2 s
    """


@dataclass(frozen=True)
class Placement:
    """Where and when one task runs.

    Examples
    --------
    >>> p = Placement("embed0", "gpu0", start=1.5, finish=2.25)
    >>> p.duration
    0.75
    """

    task: Hashable
    worker: str
    start: float
    finish: float

    @property
    def duration(self) -> float:
        return self.finish - self.start


@dataclass
class Schedule:
    """A plan of a task graph onto a cluster.

    Parameters
    ----------
    placements : iterable of Placement
        One per task; stored sorted by ``(start, finish, worker)``.
    solver : str
        Name of the solver that made the plan.
    plan_seconds : float
        Wall time spent planning.
    transferred_bytes : float
        Bytes moved between different workers.
    meta : dict
        Solver-specific details (JSON-able).

    Examples
    --------
    >>> s = Schedule([Placement("a", "cpu0", 0.0, 2.0), Placement("b", "gpu0", 2.0, 2.5)], solver="manual")
    >>> s.makespan, s.worker_of("b"), s.order_on("cpu0")
    (2.5, 'gpu0', ['a'])
    >>> Schedule.from_dict(s.to_dict()) == s
    True
    """

    placements: Iterable[Placement]
    solver: str = "unknown"
    plan_seconds: float = 0.0
    transferred_bytes: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        items = sorted(self.placements, key=lambda p: (p.start, p.finish, p.worker))
        self.placements = items
        self.by_task: dict[Hashable, Placement] = {}
        for p in items:
            if p.task in self.by_task:
                raise InvalidSchedule(f"task {p.task!r} is scheduled more than once")
            self.by_task[p.task] = p

    # -- queries --------------------------------------------------------------------------------
    @property
    def makespan(self) -> float:
        """Finish time of the last task (0 for an empty schedule)."""
        return max((p.finish for p in self.placements), default=0.0)

    def __getitem__(self, task: Hashable) -> Placement:
        return self.by_task[task]

    def __len__(self) -> int:
        return len(self.placements)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schedule) and self.placements == other.placements

    def worker_of(self, task: Hashable) -> str:
        return self.by_task[task].worker

    def order_on(self, worker: str) -> list[Hashable]:
        """Tasks planned on ``worker``, in start order."""
        return [p.task for p in self.placements if p.worker == worker]

    @property
    def workers(self) -> list[str]:
        return sorted({p.worker for p in self.placements})

    def to_frame(self):
        """A pandas DataFrame with one row per task: task, worker, start, finish, duration."""
        import pandas as pd

        return pd.DataFrame(
            {
                "task": [p.task for p in self.placements],
                "worker": [p.worker for p in self.placements],
                "start": [p.start for p in self.placements],
                "finish": [p.finish for p in self.placements],
                "duration": [p.duration for p in self.placements],
            }
        )

    def gantt(self, graph: TaskGraph | None = None, path: str | None = None, **kwargs: Any):
        """Draw a Gantt chart (see :func:`hetflow.solvers.charts.gantt`); returns the matplotlib Figure."""
        from hetflow.solvers.charts import gantt

        return gantt(self, graph=graph, path=path, **kwargs)

    # -- JSON -----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "solver": self.solver,
            "makespan": self.makespan,
            "plan_seconds": self.plan_seconds,
            "tasks": [
                {"task": p.task, "worker": p.worker, "start": p.start, "finish": p.finish}
                for p in self.placements
            ],
            "transferred_bytes": self.transferred_bytes,
        }
        if self.meta:
            data["meta"] = self.meta
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Schedule:
        """The schedule in DESIGN.md's JSON form; every malformed part raises a one-line :class:`InvalidInput`."""
        if not isinstance(data, Mapping) or not isinstance(data.get("tasks"), list):
            raise FormatError("schedule JSON must be an object with a 'tasks' list")
        placements = []
        for i, row in enumerate(data["tasks"]):
            if not isinstance(row, Mapping) or not {"task", "worker", "start", "finish"} <= row.keys():
                raise FormatError(f"schedule task #{i} needs task, worker, start and finish")
            task = check_task_id(row["task"], f"schedule task #{i} has task")
            if not isinstance(row["worker"], str):
                raise FormatError(f"schedule task #{i} has worker {brief(row['worker'])}; it must be a worker name")
            start, finish = (check_number(row[k], f"{k} of schedule task #{i}") for k in ("start", "finish"))
            placements.append(Placement(task, row["worker"], start, finish))
        meta = data.get("meta", {})
        if not isinstance(meta, Mapping):
            raise FormatError(f"schedule 'meta' must be an object, not {brief(meta)}")
        schedule = cls(
            placements,
            solver=str(data.get("solver", "unknown")),
            plan_seconds=check_number(data.get("plan_seconds", 0.0), "schedule plan_seconds"),
            transferred_bytes=check_number(data.get("transferred_bytes", 0.0), "schedule transferred_bytes"),
            meta=dict(meta),
        )
        stated = data.get("makespan")
        if stated is not None:
            stated = check_number(stated, "schedule makespan")
            if not math.isclose(stated, schedule.makespan, rel_tol=1e-9, abs_tol=1e-9):
                raise FormatError(f"schedule makespan {stated} is not the last finish time {schedule.makespan}")
        return schedule

    def save(self, path: str) -> None:
        with open(path, "w") as f:
            json.dump(self.to_dict(), f, indent=1)

    @classmethod
    def load(cls, path: str) -> Schedule:
        return cls.from_dict(read_json(path, what="schedule"))

    # -- checking -------------------------------------------------------------------------------
    def validate(self, graph: TaskGraph, cluster: Cluster, *, tol: float = 1e-6) -> Schedule:
        """Check the schedule against DESIGN.md's cost model; return ``self`` or raise :class:`InvalidSchedule`.

        ``tol`` is a relative tolerance (times the makespan, at least ``tol`` seconds) for float rounding.
        """
        eps = tol * max(1.0, self.makespan)
        missing = [t for t in graph.tasks if t not in self.by_task]
        if missing:
            raise InvalidSchedule(f"task {missing[0]!r} is not scheduled ({len(missing)} missing)")
        extra = [t for t in self.by_task if t not in graph]
        if extra:
            raise InvalidSchedule(f"task {extra[0]!r} is scheduled but not in the graph")
        for p in self.placements:
            if p.worker not in cluster.index:
                raise InvalidSchedule(f"task {p.task!r} is on unknown worker {p.worker!r}")
            if not (math.isfinite(p.start) and p.start >= -eps):
                raise InvalidSchedule(f"task {p.task!r} starts at {p.start}")
            want = cluster.exec_time(graph.cost(p.task), p.worker)
            if math.isinf(want):
                device = cluster.worker(p.worker).device
                raise InvalidSchedule(f"task {p.task!r} cannot run on {p.worker!r} (device class {device!r})")
            if abs(p.duration - want) > eps:
                raise InvalidSchedule(
                    f"task {p.task!r} lasts {p.duration:g} s on {p.worker!r}; the cost model says {want:g} s"
                )
            for parent in graph.G.predecessors(p.task):
                q = self.by_task[parent]
                arrival = q.finish + cluster.comm_time(q.worker, p.worker, graph.bytes(parent, p.task))
                if p.start < arrival - eps:
                    raise InvalidSchedule(
                        f"task {p.task!r} starts at {p.start:g} before input from {parent!r} arrives at {arrival:g}"
                    )
        last: dict[str, Placement] = {}
        for p in sorted(self.placements, key=lambda p: (p.worker, p.start, p.finish)):
            prev = last.get(p.worker)
            if prev is not None and p.start < prev.finish - eps:
                raise InvalidSchedule(f"tasks {prev.task!r} and {p.task!r} overlap on worker {p.worker!r}")
            last[p.worker] = p
        return self

    def recount_transfers(self, graph: TaskGraph) -> float:
        """Bytes that move between different workers under this plan."""
        where = {t: p.worker for t, p in self.by_task.items()}
        return float(sum(b for u, v, b in graph.G.edges(data="bytes", default=0.0) if where[u] != where[v]))
