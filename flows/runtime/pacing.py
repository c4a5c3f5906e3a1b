"""Release a plan's tasks to Dask on the plan's clock: bounded memory when a fast stage feeds a slow one.

Dask runs every task whose inputs are ready as soon as a worker is free. When a cheap stage feeds a slow one
(tokenize on many CPU workers → embed on one GPU, dask/distributed#9164) the producers run far ahead and
their outputs pile up in memory. A plan knows when each output is needed, so the executor can hold
producers back:

* **latest starts**: a backward pass over the plan gives every task the latest start that delays nothing
  (its worker's next task and every child, transfers included, keep their planned starts; the makespan
  stays). A producer whose consumer is far behind gets a late latest start; a task on the critical path
  keeps its planned start.
* **progress clock**: the run has reached, in plan time, the smallest latest start among the first
  unfinished task of every worker's planned queue — the worker furthest behind sets it.
* a task is **released** (submitted to Dask) once its latest start is at most ``horizon`` plan seconds ahead
  of the clock, and its parents are released (Dask must know a task's inputs when it gets the task).
  ``horizon`` is ``window`` times the mean planned task length.

The first unfinished task of the worker that sets the clock is always due, so the run never stalls; as a
safeguard, when nothing released is still running the earliest-planned waiting task is released (every task
planned before it, its inputs among them, is then done).

Examples
--------
>>> from hetflow.solvers.schedule import Placement, Schedule
>>> from hetflow.taskgraph import Cluster, TaskGraph
>>> g = TaskGraph(name="pipe")
>>> for i in range(4):
...     g.add_task(f"tok{i}", {"cpu": 0.1}); g.add_task(f"emb{i}", {"gpu": 1.0}); g.add_edge(f"tok{i}", f"emb{i}")
>>> plan = Schedule([Placement(f"tok{i}", "cpu0", 0.1 * i, 0.1 * i + 0.1) for i in range(4)]
...                 + [Placement(f"emb{i}", "gpu0", 1.0 * i + 0.1, 1.0 * i + 1.1) for i in range(4)])
>>> pacer = Pacer(g, plan, Cluster.local(1, 1), window=1)
>>> sorted(pacer.release())  # tok1..3 are not needed before 1.0, 2.0, 3.0 s of plan time
['emb0', 'tok0']
>>> sorted(pacer.release(finished=["tok0", "emb0"]))  # the GPU reached 1.1 s: the next pair is due
['emb1', 'tok1']
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

from hetflow.solvers.schedule import Schedule
from hetflow.taskgraph import Cluster, TaskGraph

__all__ = ["Pacer", "latest_starts"]


def latest_starts(graph: TaskGraph, schedule: Schedule, cluster: Cluster) -> dict[Hashable, float]:
    """The latest start of every planned task that delays no other task and not the makespan.

    Examples
    --------
    >>> from hetflow.solvers.schedule import Placement, Schedule
    >>> from hetflow.taskgraph import Cluster, TaskGraph
    >>> g = TaskGraph(name="g")
    >>> g.add_task("d", {"gpu": 5.0}); g.add_task("a", {"cpu": 1.0}); g.add_task("c", {"gpu": 1.0})
    >>> g.add_edge("a", "c")
    >>> s = Schedule([Placement("d", "gpu0", 0, 5), Placement("a", "cpu0", 0, 1), Placement("c", "gpu0", 5, 6)])
    >>> latest_starts(g, s, Cluster.local(1, 1))  # c waits for the GPU anyway: a can start as late as 4
    {'c': 5.0, 'd': 0.0, 'a': 4.0}
    """
    by_task = schedule.by_task
    nxt: dict[Hashable, Hashable] = {}
    for w in schedule.workers:
        order = schedule.order_on(w)
        nxt.update(zip(order, order[1:]))
    latest: dict[Hashable, float] = {}
    for p in sorted(schedule.placements, key=lambda p: (-p.finish, -p.start)):
        t = p.task
        finish = schedule.makespan
        if t in nxt:
            finish = min(finish, latest[nxt[t]])
        for c in graph.G.successors(t):
            if c in by_task:
                comm = cluster.comm_time(p.worker, by_task[c].worker, graph.bytes(t, c))
                finish = min(finish, latest[c] - comm)
        latest[t] = float(max(p.start, finish - (p.finish - p.start)))
    return latest


class Pacer:
    """Which planned tasks to submit next (see the module docstring).

    Parameters
    ----------
    graph : TaskGraph
    schedule : Schedule
    cluster : Cluster
        The planned cluster (transfer times of the latest-start pass).
    window : float
        How far ahead of the progress clock tasks are released, in mean planned task lengths (>= 0).
    """

    def __init__(self, graph: TaskGraph, schedule: Schedule, cluster: Cluster, window: float = 4):
        if not window >= 0:
            raise ValueError("window must be >= 0")
        self.graph = graph
        self.latest = latest_starts(graph, schedule, cluster)
        self.start = {p.task: p.start for p in schedule.placements}
        lengths = [p.finish - p.start for p in schedule.placements]
        self.horizon = float(window) * (sum(lengths) / len(lengths) if lengths else 0.0)
        self.queue = {w: schedule.order_on(w) for w in schedule.workers}
        self.head = dict.fromkeys(self.queue, 0)  # index of the first unfinished task of each queue
        self.finished: set[Hashable] = set()
        self.released: set[Hashable] = set()
        self._waiting = sorted(self.latest, key=lambda t: (self.latest[t], self.start[t], str(t)))

    def clock(self) -> float:
        """Plan time the run has reached: the smallest latest start among the queues' first unfinished tasks."""
        heads = [self.latest[q[self.head[w]]] for w, q in self.queue.items() if self.head[w] < len(q)]
        return min(heads) if heads else float("inf")

    def release(self, finished: Iterable[Hashable] = ()) -> list[Hashable]:
        """Record ``finished`` tasks; return the tasks to submit now (each task is returned once)."""
        self.finished.update(t for t in finished if t in self.latest)
        for w, q in self.queue.items():
            i = self.head[w]
            while i < len(q) and q[i] in self.finished:
                i += 1
            self.head[w] = i
        limit = self.clock() + self.horizon
        new: list[Hashable] = []
        keep: list[Hashable] = []
        for t in self._waiting:  # by latest start: parents (earlier) come before their children
            if self.latest[t] <= limit and all(q in self.released for q in self.graph.G.predecessors(t)):
                self.released.add(t)
                new.append(t)
            else:
                keep.append(t)
        if not new and keep and not (self.released - self.finished):  # nothing runs: never stall
            first = min(keep, key=lambda t: (self.start[t], str(t)))
            self.released.add(first)
            new.append(first)
            keep.remove(first)
        self._waiting = keep
        return new

    @property
    def complete(self) -> bool:
        """True once every planned task has been released."""
        return not self._waiting
