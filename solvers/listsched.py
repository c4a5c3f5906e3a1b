"""The shared insertion-based list-scheduling core.

Every list scheduler in :mod:`solvers` (HEFT, CPOP, PEFT, the greedy baselines and the DP planner's
placement passes) is this one loop with a different *priority* and *placement rule*:

1. take the next task — from a fixed order, or the ready task of highest priority;
2. for every worker compute the data-ready time (each parent's finish plus its transfer time, zero on
   the same worker) and the earliest start: the first idle gap, at or after the data-ready time, long
   enough for the task (insertion policy, exactly as in HEFT/SAGA), else the worker's last finish;
3. put the task on the worker that minimises ``finish + bias[task, worker]`` (HEFT: bias 0; PEFT: the
   optimistic cost table; the DP planner: its cost-to-go table), first worker on ties.

The per-task work is vectorised over workers with numpy; gap search runs only on workers whose largest
idle gap could hold the task, so the loop stays near ``O((V + E) * W)`` numpy work.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hetflow.solvers.problem import Problem

__all__ = ["ListResult", "list_schedule", "PartialSchedule", "Timelines", "ready_order", "data_ready"]


@dataclass
class ListResult:
    """What a solver returns: worker index, start and finish of every task (indexed like ``Problem.tasks``).

    Parameters
    ----------
    worker : ndarray of int
        Index into ``Problem.worker_names`` per task.
    start, finish : ndarray of float
        Planned times in seconds.
    meta : dict
        Solver-specific details (JSON-able); :func:`hetflow.solvers.plan` copies them to ``Schedule.meta``.

    Examples
    --------
    >>> r = ListResult(np.array([0, 1]), np.array([0.0, 2.0]), np.array([2.0, 2.5]), meta={"variant": "demo"})
    >>> r.makespan, r.meta["variant"]
    (2.5, 'demo')
    """

    worker: np.ndarray
    start: np.ndarray
    finish: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def makespan(self) -> float:
        return float(self.finish.max()) if len(self.finish) else 0.0


def data_ready(problem: Problem, i: int, worker: np.ndarray, finish: np.ndarray,
               out: np.ndarray | None = None) -> np.ndarray:
    """When all of task ``i``'s inputs can be on each worker, its parents running on ``worker`` until ``finish``.

    Raises ``out`` (zeros by default) to each arrival, in place, and returns it.

    Examples
    --------
    >>> from hetflow.taskgraph import Cluster, TaskGraph
    >>> g = TaskGraph(name="g"); g.add_task("a", {"cpu": 2.0}); g.add_task("b", {"gpu": 1.0})
    >>> g.add_edge("a", "b", bytes=5e8)
    >>> p = Problem(g, Cluster.local(gpus=1, cpus=1))  # workers gpu0, cpu0
    >>> data_ready(p, 1, worker=np.array([1, -1]), finish=np.array([2.0, 0.0])).tolist()  # a ran on cpu0 until 2
    [2.5, 2.0]
    """
    ready = np.zeros(problem.n_workers) if out is None else out
    for p, nbytes in zip(problem.preds[i], problem.pred_bytes[i]):
        latency, inv_bandwidth = problem.link_rows(worker[p])
        np.maximum(ready, finish[p] + latency + nbytes * inv_bandwidth, out=ready)
    return ready


class Timelines:
    """Busy/idle bookkeeping of every worker: last finish plus the sorted idle gaps before it.

    Examples
    --------
    >>> lines = Timelines(1)
    >>> lines.place(0, 0.0, 1.0); lines.place(0, 3.0, 4.0)  # idle from 1 to 3
    >>> [float(lines.insertion_start(0, ready=0.5, duration=d)) for d in (2.0, 2.5)]  # fits the gap, or not
    [1.0, 4.0]
    """

    def __init__(self, n_workers: int, available: np.ndarray | None = None):
        self.avail = np.zeros(n_workers) if available is None else np.array(available, dtype=float)
        self.gap_starts: list[list[float]] = [[] for _ in range(n_workers)]
        self.gap_ends: list[list[float]] = [[] for _ in range(n_workers)]
        self.max_gap = np.zeros(n_workers)

    def insertion_start(self, w: int, ready: float, duration: float) -> float:
        """Earliest start on ``w`` at or after ``ready`` in an idle gap or after the last task."""
        ends = self.gap_ends[w]
        if self.max_gap[w] >= duration and ends:
            starts = self.gap_starts[w]
            for k in range(bisect_left(ends, ready + duration), len(ends)):
                s = max(ready, starts[k])
                if s + duration <= ends[k]:
                    return s
        return max(ready, self.avail[w])

    def place(self, w: int, start: float, finish: float) -> None:
        avail = self.avail[w]
        if start >= avail:
            if start > avail:
                self._add_gap(w, avail, start)
            self.avail[w] = finish
            return
        starts, ends = self.gap_starts[w], self.gap_ends[w]
        k = bisect_right(starts, start) - 1  # the gap that holds [start, finish]
        gap_start, gap_end = starts[k], ends[k]
        del starts[k], ends[k]
        if finish < gap_end:
            starts.insert(k, finish)
            ends.insert(k, gap_end)
        if start > gap_start:
            starts.insert(k, gap_start)
            ends.insert(k, start)
        if gap_end - gap_start >= self.max_gap[w]:
            self.max_gap[w] = max((e - s for s, e in zip(starts, ends)), default=0.0)

    def _add_gap(self, w: int, start: float, end: float) -> None:
        self.gap_starts[w].append(start)
        self.gap_ends[w].append(end)
        self.max_gap[w] = max(self.max_gap[w], end - start)


class PartialSchedule:
    """A schedule under construction: the state every list scheduler (and the DP planner) advances.

    ``ready_times(i)`` gives task ``i``'s data-ready time on every worker, ``start_times(i, ready)`` its
    earliest start there (insertion policy or append), and ``assign`` commits a placement.

    Examples
    --------
    >>> from hetflow.taskgraph import Cluster, generators
    >>> p = Problem(generators.chain(2, ccr=0.0, seed=0), Cluster.local(gpus=0, cpus=1))
    >>> state = PartialSchedule(p)
    >>> finish = state.assign(0, 0, 0.0)  # task 0 on cpu0 from 0
    >>> bool(state.start_times(1, state.ready_times(1))[0] == finish)  # task 1 can start when it finishes
    True
    >>> _ = state.assign(1, 0, finish)
    >>> state.result().makespan == float(p.exec[:, 0].sum())
    True
    """

    def __init__(
        self,
        problem: Problem,
        *,
        insertion: bool = True,
        release: np.ndarray | None = None,
        worker_available: np.ndarray | None = None,
    ):
        n, W = problem.n, problem.n_workers
        self.problem = problem
        self.insertion = insertion
        self.release = release
        self.worker = np.full(n, -1, dtype=np.int64)
        self.start = np.zeros(n)
        self.finish = np.zeros(n)
        self.done = np.zeros(n, dtype=bool)
        self.lines = Timelines(W, worker_available)
        self._zeros = np.zeros(W)

    def ready_times(self, i: int) -> np.ndarray:
        """When all of task ``i``'s inputs can be on each worker (its parents must be placed)."""
        p_ = self.problem
        for p in p_.preds[i]:
            if not self.done[p]:
                raise ValueError(f"task {p_.tasks[i]!r} is scheduled before its parent {p_.tasks[p]!r}")
        ready = self._zeros.copy() if self.release is None else np.full(p_.n_workers, self.release[i])
        return data_ready(p_, i, self.worker, self.finish, out=ready)

    def start_times(self, i: int, ready: np.ndarray) -> np.ndarray:
        """Earliest start of task ``i`` on every worker given its data-ready times."""
        lines = self.lines
        est = np.maximum(ready, lines.avail)
        if self.insertion:
            duration = self.problem.exec[i]
            for w in np.flatnonzero((lines.max_gap >= duration) & (lines.max_gap > 0)):
                est[w] = lines.insertion_start(w, ready[w], duration[w])
        return est

    def start_on(self, i: int, w: int, ready: float) -> float:
        """Earliest start of task ``i`` on worker ``w`` alone."""
        if self.insertion:
            return self.lines.insertion_start(w, ready, self.problem.exec[i, w])
        return max(ready, self.lines.avail[w])

    def assign(self, i: int, w: int, start: float) -> float:
        """Place task ``i`` on ``w`` at ``start``; return its finish time."""
        f = start + self.problem.exec[i, w]
        self.worker[i], self.start[i], self.finish[i] = w, start, f
        self.lines.place(w, start, f)
        self.done[i] = True
        return f

    def result(self) -> ListResult:
        if not self.done.all():
            raise ValueError("the order does not contain every task")
        return ListResult(self.worker, self.start, self.finish)


def ready_order(problem: Problem, priority: np.ndarray, heads: Sequence[int] | None = None) -> Iterator[int]:
    """Yield tasks from a ready list, highest ``priority`` first (lower index on ties).

    The consumer places each yielded task before asking for the next. With ``heads`` (a mask of
    tasks to yield), other tasks are released silently — the DP planner places a whole chain per head.

    Examples
    --------
    >>> from hetflow.taskgraph import Cluster, generators
    >>> p = Problem(generators.fork_join(3, seed=0), Cluster.local(gpus=1, cpus=1))  # 0 -> 1, 2, 3 -> 4
    >>> list(ready_order(p, priority=np.array([0.0, 1.0, 3.0, 2.0, 9.0])))  # the fork first, the join last
    [0, 2, 3, 1, 4]
    """
    preds, succs = problem.preds, problem.succs
    missing = [len(preds[i]) for i in range(problem.n)]
    heap = [(-priority[i], i) for i in range(problem.n) if missing[i] == 0]
    heapq.heapify(heap)
    while heap:
        _, i = heapq.heappop(heap)
        yield i
        stack = [i]
        while stack:
            for j in succs[stack.pop()]:
                missing[j] -= 1
                if missing[j] == 0:
                    if heads is None or heads[j]:
                        heapq.heappush(heap, (-priority[j], j))
                    else:
                        stack.append(j)


def list_schedule(
    problem: Problem,
    *,
    order: Sequence[int] | None = None,
    priority: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    pinned: Mapping[int, int] | None = None,
    insertion: bool = True,
    release: np.ndarray | None = None,
    worker_available: np.ndarray | None = None,
) -> ListResult:
    """Schedule every task of ``problem`` with the insertion policy.

    Parameters
    ----------
    problem : Problem
    order : sequence of int, optional
        Fixed order of task indices (each task after its parents). Exclusive with ``priority``.
    priority : ndarray, optional
        Ready-list priority per task, highest first; ties go to the lower task index.
    bias : ndarray (n, W), optional
        Added to each worker's finish time when choosing the worker (not to the schedule itself).
    pinned : mapping task -> worker, optional
        Tasks that must go to a given worker (ignored where the task cannot run there).
    insertion : bool
        Fill idle gaps (HEFT's insertion policy); False appends after the worker's last task.
    release : ndarray, optional
        Earliest start of each task (default 0).
    worker_available : ndarray, optional
        Time each worker becomes free (default 0).

    Returns
    -------
    ListResult

    Examples
    --------
    >>> from hetflow.taskgraph import Cluster, generators
    >>> p = Problem(generators.fork_join(3, seed=0), Cluster.local(gpus=1, cpus=2))  # workers gpu0, cpu0, cpu1
    >>> free = list_schedule(p, order=range(p.n))  # each task, in topological order, where it finishes first
    >>> on_cpu1 = list_schedule(p, order=range(p.n), pinned={i: 2 for i in range(p.n)})
    >>> set(on_cpu1.worker.tolist()), round(free.makespan, 3), round(on_cpu1.makespan, 3)
    ({2}, 16.643, 42.107)
    """
    if order is None:
        if priority is None:
            raise ValueError("list_schedule needs an order or a priority")
        order = ready_order(problem, priority)
    state = PartialSchedule(problem, insertion=insertion, release=release, worker_available=worker_available)
    exec_ = problem.exec
    pinned = pinned or {}
    for i in order:
        ready = state.ready_times(i)
        w = pinned.get(i)
        if w is not None and np.isfinite(exec_[i, w]):
            state.assign(i, w, state.start_on(i, w, ready[w]))
            continue
        est = state.start_times(i, ready)
        key = est + exec_[i]
        if bias is not None:
            key = key + bias[i]
        w = int(np.argmin(key))
        state.assign(i, w, est[w])
    return state.result()
