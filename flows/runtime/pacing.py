"""Release a plan's tasks to Dask only as their consumers come near: bounded memory for fast producers.

Dask runs every task whose inputs are ready as soon as a worker is free. When a cheap stage feeds a slow
one (tokenize on many CPU workers → embed on one GPU, dask/distributed#9164) the producers run far ahead
and their outputs pile up in memory. A plan knows the order in which every worker will consume its inputs,
so the executor can hold producers back:

* every task has a position in its planned worker's queue (the plan's order);
* ``done[w]`` counts the leading tasks of worker ``w``'s queue that have finished (tasks that overtook
  others count once their predecessors are done too);
* a task is **released** (submitted to Dask) when one of its children is at most ``window`` places from
  the head of its own worker's queue — its output will be read soon. A task without children is released
  when it is itself that close to its worker's head.
* **No stall**: when nothing released is still running anywhere, the head of every worker's queue is
  released. The plan's order is a valid schedule, so the earliest-planned unfinished task always has its
  parents done and progress resumes; a pipeline whose consumer is busy never triggers this, so its
  producers stay paced.

At most about ``window`` outputs wait per consumer worker, whatever the number of producers.

Examples
--------
>>> from hetflow.solvers.schedule import Placement, Schedule
>>> from hetflow.taskgraph import TaskGraph
>>> g = TaskGraph(name="pipe")
>>> for i in range(4):
...     g.add_task(f"tok{i}", {"cpu": 0.1}); g.add_task(f"emb{i}", {"gpu": 1.0}); g.add_edge(f"tok{i}", f"emb{i}")
>>> plan = Schedule([Placement(f"tok{i}", "cpu0", 0.1 * i, 0.1 * i + 0.1) for i in range(4)]
...                 + [Placement(f"emb{i}", "gpu0", 1.0 * i + 0.1, 1.0 * i + 1.1) for i in range(4)])
>>> pacer = Pacer(g, plan, window=1)
>>> sorted(pacer.release())  # emb0 and tok0/tok1 (their consumers are within 1 place of gpu0's head)
['emb0', 'emb1', 'tok0', 'tok1']
>>> sorted(pacer.release(finished=["tok0", "emb0"]))  # emb0 done: one more producer may run
['emb2', 'tok2']
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

from hetflow.solvers.schedule import Schedule
from hetflow.taskgraph import TaskGraph

__all__ = ["Pacer"]


class Pacer:
    """Which planned tasks to submit next (see the module docstring).

    Parameters
    ----------
    graph : TaskGraph
    schedule : Schedule
        The plan (tasks in ``schedule.placements`` order per worker = the queue order).
    window : int
        How many places ahead of a worker's head a consumer may be for its inputs to be released (>= 0).
    """

    def __init__(self, graph: TaskGraph, schedule: Schedule, window: int = 4):
        if window < 0:
            raise ValueError("window must be >= 0")
        self.graph, self.window = graph, int(window)
        self.queue: dict[str, list[Hashable]] = {}
        self.worker: dict[Hashable, str] = {}
        self.position: dict[Hashable, int] = {}
        for p in sorted(schedule.placements, key=lambda p: (p.start, p.finish)):
            q = self.queue.setdefault(p.worker, [])
            self.worker[p.task], self.position[p.task] = p.worker, len(q)
            q.append(p.task)
        self.done = dict.fromkeys(self.queue, 0)
        self.finished: set[Hashable] = set()
        self.released: set[Hashable] = set()

    def _near_head(self, task: Hashable) -> bool:
        return self.position[task] <= self.done[self.worker[task]] + self.window

    def _due(self, task: Hashable) -> bool:
        children = [c for c in self.graph.G.successors(task) if c in self.position]
        return any(self._near_head(c) for c in children) if children else self._near_head(task)

    def release(self, finished: Iterable[Hashable] = ()) -> list[Hashable]:
        """Record ``finished`` tasks; return the tasks to submit now (each task is returned once)."""
        for t in finished:
            if t in self.position:
                self.finished.add(t)
        for w, q in self.queue.items():
            i = self.done[w]
            while i < len(q) and q[i] in self.finished:
                i += 1
            self.done[w] = i
        # only the first window + 1 tasks of each queue can be due through a child or themselves
        candidates: set[Hashable] = set()
        for w, q in self.queue.items():
            for c in q[self.done[w] : self.done[w] + self.window + 1]:
                candidates.add(c)
                candidates.update(self.graph.G.predecessors(c))
        new = [t for t in candidates if t in self.position and t not in self.released and self._due(t)]
        if not new and not (self.released - self.finished):  # nothing runs: release every queue's head
            new = [q[self.done[w]] for w, q in self.queue.items() if self.done[w] < len(q)]
            new = [t for t in new if t not in self.released]
        self.released.update(new)
        return sorted(new, key=lambda t: (self.position[t], str(t)))

    @property
    def complete(self) -> bool:
        """True once every planned task has been released."""
        return len(self.released) == len(self.position)
