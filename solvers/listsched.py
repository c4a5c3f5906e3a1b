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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from solvers.problem import Problem

__all__ = ["ListResult", "list_schedule", "Timelines"]


@dataclass
class ListResult:
    """Worker index, start and finish of every task (indexed like ``Problem.tasks``)."""

    worker: np.ndarray
    start: np.ndarray
    finish: np.ndarray

    @property
    def makespan(self) -> float:
        return float(self.finish.max()) if len(self.finish) else 0.0


class Timelines:
    """Busy/idle bookkeeping of every worker: last finish plus the sorted idle gaps before it."""

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


def list_schedule(
    problem: Problem,
    *,
    order: Sequence[int] | None = None,
    priority: np.ndarray | None = None,
    bias: np.ndarray | Callable[[int, np.ndarray], np.ndarray] | None = None,
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
    bias : ndarray (n, W) or callable ``(task, finish_row) -> bias_row``, optional
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
    """
    n, W = problem.n, problem.n_workers
    exec_, latency, inv_bw = problem.exec, problem.latency, problem.inv_bandwidth
    preds, pred_bytes, succs = problem.preds, problem.pred_bytes, problem.succs
    worker = np.full(n, -1, dtype=np.int64)
    start = np.zeros(n)
    finish = np.zeros(n)
    lines = Timelines(W, worker_available)
    pinned = pinned or {}
    bias_fn = bias if callable(bias) else None
    bias_table = None if callable(bias) else bias
    zeros = np.zeros(W)

    if order is None:
        if priority is None:
            raise ValueError("list_schedule needs an order or a priority")
        missing = [len(preds[i]) for i in range(n)]
        heap = [(-priority[i], i) for i in range(n) if missing[i] == 0]
        heapq.heapify(heap)

        def tasks():
            while heap:
                _, i = heapq.heappop(heap)
                yield i
                for j in succs[i]:
                    missing[j] -= 1
                    if missing[j] == 0:
                        heapq.heappush(heap, (-priority[j], j))

        sequence = tasks()
    else:
        sequence = iter(order)

    done = np.zeros(n, dtype=bool)
    for i in sequence:
        ready = zeros.copy() if release is None else np.full(W, release[i])
        for p, nbytes in zip(preds[i], pred_bytes[i]):
            if not done[p]:
                raise ValueError(f"task {problem.tasks[i]!r} is scheduled before its parent {problem.tasks[p]!r}")
            wp = worker[p]
            np.maximum(ready, finish[p] + latency[wp] + nbytes * inv_bw[wp], out=ready)
        duration = exec_[i]
        w_pin = pinned.get(i)
        if w_pin is not None and np.isfinite(duration[w_pin]):
            w = w_pin
            s = lines.insertion_start(w, ready[w], duration[w]) if insertion else max(ready[w], lines.avail[w])
        else:
            est = np.maximum(ready, lines.avail)
            if insertion:
                for w in np.flatnonzero((lines.max_gap >= duration) & (lines.max_gap > 0)):
                    est[w] = lines.insertion_start(w, ready[w], duration[w])
            eft = est + duration
            if bias_table is not None:
                w = int(np.argmin(eft + bias_table[i]))
            elif bias_fn is not None:
                w = int(np.argmin(eft + bias_fn(i, eft)))
            else:
                w = int(np.argmin(eft))
            s = est[w]
        f = s + duration[w]
        worker[i], start[i], finish[i] = w, s, f
        lines.place(w, s, f)
        done[i] = True
    if not done.all():
        raise ValueError("the order does not contain every task")
    return ListResult(worker, start, finish)
