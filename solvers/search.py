"""Iterated local search over a fixed assignment and order — the DP planner's improvement phase.

Objective
---------
Shorten the makespan of a given plan without ever making it worse.

Idea
----
A plan is an assignment (worker per task) plus a global order (tasks by planned start). *Replaying* it —
each task, in order, at its earliest start on its worker after its inputs arrive, idle gaps included —
gives exact times under the cost model. The search descends with moves on the plan's critical path (the
chain of tasks whose start is bound by the one before): run a task before the task that blocks it on its
worker, or move it to one of the fastest other workers that can run it. When no move helps it perturbs a
few random placements (seeded) and descends again, keeping the best plan (iterated local search).

Trials are cheap: a trial differs from the incumbent from some order position on, so the replay resumes
from a checkpoint taken before that position, and it stops as soon as a task finishes later than the
incumbent's makespan. The budget is counted in replayed task steps, not seconds, so the result is the
same on every machine for a given seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from solvers.listsched import ListResult, Timelines
from solvers.problem import Problem

__all__ = ["Replay", "critical_path", "local_search", "simulate"]


@dataclass
class _Checkpoint:
    position: int
    start: list[float]
    finish: list[float]
    lines: Timelines


def _copy_lines(lines: Timelines) -> Timelines:
    copy = Timelines.__new__(Timelines)
    copy.avail = lines.avail.copy()
    copy.max_gap = lines.max_gap.copy()
    copy.gap_starts = [list(g) for g in lines.gap_starts]
    copy.gap_ends = [list(g) for g in lines.gap_ends]
    return copy


class Replay:
    """Exact times of a fixed assignment and order, with checkpoints every ``every`` positions."""

    def __init__(self, problem: Problem, every: int | None = None):
        self.problem = problem
        self.latency = problem.latency.tolist()
        self.inv_bw = problem.inv_bandwidth.tolist()
        self.exec = problem.exec.tolist()
        self.every = every or max(8, int(np.sqrt(problem.n)))
        self.steps = 0  # tasks replayed so far (the search's budget unit)

    def run(
        self,
        worker: list[int],
        order: list[int],
        *,
        resume: _Checkpoint | None = None,
        bound: float = np.inf,
        checkpoints: list[_Checkpoint] | None = None,
    ) -> tuple[list[float], list[float]] | None:
        """Replay from ``resume`` (or the beginning); ``None`` once some task finishes at or after ``bound``.

        When ``checkpoints`` is a list, snapshots are appended to it along the way.
        """
        n = self.problem.n
        if resume is None:
            start, finish, lines, first = [0.0] * n, [0.0] * n, Timelines(self.problem.n_workers), 0
        else:
            start, finish = list(resume.start), list(resume.finish)
            lines, first = _copy_lines(resume.lines), resume.position
        latency, inv_bw, exec_ = self.latency, self.inv_bw, self.exec
        preds, pred_bytes = self.problem.preds, self.problem.pred_bytes
        every = self.every
        self.steps += n - first + (n // 8 if resume is not None else 0)  # copying the checkpoint costs too
        for pos in range(first, n):
            if checkpoints is not None and pos % every == 0 and pos > first:
                checkpoints.append(_Checkpoint(pos, list(start), list(finish), _copy_lines(lines)))
            i = order[pos]
            w = worker[i]
            ready = 0.0
            for p, nbytes in zip(preds[i], pred_bytes[i]):
                wp = worker[p]
                arrival = finish[p] + latency[wp][w] + nbytes * inv_bw[wp][w]
                if arrival > ready:
                    ready = arrival
            duration = exec_[i][w]
            s = lines.insertion_start(w, ready, duration)
            f = s + duration
            if f >= bound:
                return None
            start[i], finish[i] = s, f
            lines.place(w, s, f)
        return start, finish


def simulate(problem: Problem, worker: np.ndarray, order: np.ndarray) -> ListResult:
    """Times of a fixed assignment and order (insertion policy)."""
    start, finish = Replay(problem).run(worker.tolist(), order.tolist())
    return ListResult(worker.copy(), np.array(start), np.array(finish))


def critical_path(problem: Problem, result: ListResult, eps: float = 1e-9) -> list[int]:
    """Tasks on the schedule's critical path, last first: each one's start is bound by its predecessor.

    The binding predecessor of a task is the parent whose data arrives exactly at its start, else the task
    just before it on the same worker.
    """
    worker, start, finish = result.worker, result.start, result.finish
    previous = {}
    order = np.lexsort((start, worker))
    for a, b in zip(order, order[1:]):
        if worker[a] == worker[b]:
            previous[int(b)] = int(a)
    i = int(np.argmax(finish))
    path, seen = [i], {i}
    while start[i] > eps:
        tol = eps * max(1.0, start[i])
        binding = None
        for p, nbytes in zip(problem.preds[i], problem.pred_bytes[i]):
            if finish[p] + problem.comm(nbytes, worker[p], worker[i]) >= start[i] - tol:
                binding = p
                break
        if binding is None:
            binding = previous.get(i)
            if binding is None or finish[binding] < start[i] - tol:
                break  # idle before the task: the path starts here
        if binding in seen:  # zero-length tasks can bind each other
            break
        i = binding
        seen.add(i)
        path.append(i)
    return path


class _Plan:
    """An incumbent: assignment, order, times and the replay checkpoints that produced them."""

    def __init__(self, replay: Replay, worker: list[int], order: list[int],
                 resume: _Checkpoint | None = None, kept: list[_Checkpoint] | None = None):
        self.worker, self.order = worker, order
        self.checkpoints = list(kept or [])
        self.start, self.finish = replay.run(worker, order, resume=resume, checkpoints=self.checkpoints)
        self.makespan = max(self.finish, default=0.0)
        self.position = {t: k for k, t in enumerate(order)}

    def before(self, position: int) -> tuple[_Checkpoint | None, list[_Checkpoint]]:
        """The last checkpoint at or before ``position`` and the ones up to it."""
        kept = [c for c in self.checkpoints if c.position <= position]
        return (kept[-1] if kept else None), kept

    def result(self) -> ListResult:
        return ListResult(np.array(self.worker), np.array(self.start), np.array(self.finish))


def _descend(problem: Problem, replay: Replay, plan: _Plan, budget: int, width: int) -> _Plan:
    runnable = problem.runnable
    while replay.steps < budget:
        improved = False
        current = plan.result()
        for i in critical_path(problem, current):
            w_i = plan.worker[i]
            others = sorted((int(w) for w in np.flatnonzero(runnable[i]) if w != w_i),
                            key=lambda w: problem.exec[i, w])[:width]
            moves: list[tuple[int, int | None]] = [(w, None) for w in others]
            earlier = np.flatnonzero((current.worker == w_i) & (current.finish <= current.start[i] + 1e-9))
            if len(earlier):
                blocker = int(earlier[np.argmax(current.finish[earlier])])
                pos_b = plan.position[blocker]
                if max((plan.position[q] for q in problem.preds[i]), default=-1) < pos_b < plan.position[i]:
                    moves.insert(0, (w_i, blocker))
            for w, blocker in moves:
                if blocker is None:
                    changed = plan.position[i]
                    worker = list(plan.worker)
                    worker[i] = w
                    order = plan.order
                else:
                    changed = plan.position[blocker]
                    worker = plan.worker
                    order = plan.order[:changed] + [i] + [t for t in plan.order[changed:] if t != i]
                resume, kept = plan.before(changed)
                if replay.run(worker, order, resume=resume, bound=plan.makespan * (1 - 1e-9)) is not None:
                    plan, improved = _Plan(replay, worker, order, resume, kept), True
                    break
                if replay.steps >= budget:
                    return plan
            if improved:
                break
        if not improved:
            break
    return plan


def local_search(problem: Problem, start: ListResult, budget: int, *, seed: int = 0,
                 width: int = 3, patience: int = 100) -> tuple[ListResult, int]:
    """Improve ``start`` for ``budget`` replayed task steps, or until ``patience`` perturbations in a row
    found nothing better; return the best plan (never worse) and the number of perturbations.

    Deterministic for a seed.
    """
    rng = np.random.default_rng(seed)
    replay = Replay(problem)
    order = np.lexsort((np.arange(problem.n), start.start)).tolist()
    best = _descend(problem, replay, _Plan(replay, start.worker.tolist(), order), budget, width)
    kicks = since_better = 0
    size = min(problem.n, 2 + problem.n // 50)
    while replay.steps < budget and since_better < patience:
        kicks += 1
        since_better += 1
        worker = list(best.worker)
        for i in rng.choice(problem.n, size=size, replace=False):
            worker[i] = int(rng.choice(np.flatnonzero(problem.runnable[i])))
        trial = _descend(problem, replay, _Plan(replay, worker, best.order), budget, width)
        if trial.makespan < best.makespan * (1 - 1e-9):
            best, since_better = trial, 0
    result = best.result()
    if result.makespan >= start.makespan * (1 - 1e-9):
        return start, kicks
    return result, kicks
