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
worker, or move it to another worker — one of the fastest that can run it, or one where it would finish
earliest at its place in the order (often an idle slow worker that can absorb a task from a busy fast
one). When no single-task move helps, it moves *blocks*: a critical task with its descendants (or its
ancestors) that run on the same worker, joined by edges inside it — on communication-heavy graphs a good
plan is a few long same-worker runs, and moving one of their tasks alone pays two transfers. When no
move helps it moves two random critical-path tasks and one random task to random capable workers
(seeded) and descends again, keeping the best plan (iterated local search). A local optimum as
good as the best becomes the next starting point (a walk along the plateau; flat makespan landscapes
are common when one worker bounds the makespan), and every ``RETURN_EVERY`` fruitless perturbations the
walk goes back to the best plan.

Trials are cheap: a move leaves the order before it untouched, so only the rest is replayed (from each
worker's state at that position), and the replay (:mod:`hetflow.solvers._replay`, compiled with numba) stops as
soon as a task finishes later than the incumbent's makespan. Replaying tasks in order of their planned
start, each appended on its worker, rebuilds any insertion-based list schedule exactly (such schedules
are semi-active), so the search starts from the very plan it was given. The budget is counted in replayed
task steps, not seconds, so the result is the same on every machine for a given seed.
"""

from __future__ import annotations

import numpy as np
from hetflow.solvers.anytime import Deadline
from hetflow.solvers.listsched import ListResult, data_ready
from hetflow.solvers.problem import Problem

__all__ = ["Replay", "critical_path", "local_search", "replay_order", "simulate"]

Move = int | np.ndarray | None  # see _moves
RETURN_EVERY = 10  # perturbations without a new best after which the walk restarts from the best plan
CALL_STEPS = 500  # the Python work around one trial (candidates, replay call), in replayed task steps
STEP_STEPS = 20  # the numpy work of one descent step (prefix, critical path), per task, in replayed task steps


class Replay:
    """Exact times of a fixed assignment and order; counts the task steps it replays (the budget unit).

    Examples
    --------
    >>> from hetflow.taskgraph import Cluster, generators
    >>> p = Problem(generators.chain(3, ccr=0.0, seed=0), Cluster.local(gpus=0, cpus=1))
    >>> replay = Replay(p, compiled=False)  # compiled=True runs the numba kernel: same times, faster
    >>> one_worker = np.zeros(3, dtype=np.int64)
    >>> replay.run(one_worker, np.arange(3)) == float(replay.finish[-1]) == float(p.exec.sum())
    True
    >>> replay.run(one_worker, np.arange(3), bound=1e-3) is None  # stops once the bound is reached
    True
    """

    def __init__(self, problem: Problem, compiled: bool = True):
        from hetflow.solvers import _replay

        self.kernel = _replay.replay if compiled else _replay._replay
        self.avail_kernel = _replay.avail_before if compiled else _replay._avail_before
        self.problem = problem
        self.indptr = np.zeros(problem.n + 1, dtype=np.int64)
        self.indptr[1:] = np.cumsum([len(p) for p in problem.preds])
        self.pred = np.array([p for ps in problem.preds for p in ps], dtype=np.int64)
        self.pred_bytes = np.array([b for bs in problem.pred_bytes for b in bs], dtype=float)
        self.start = np.zeros(problem.n)
        self.finish = np.zeros(problem.n)
        self.avail = np.zeros(problem.n_workers)
        self.steps = 0
        self._base: _Prefix | None = None  # the plan whose times self.start/finish hold, before _dirty
        self._dirty = 0

    def run(self, worker: np.ndarray, order: np.ndarray, bound: float = np.inf,
            prefix: _Prefix | None = None, first: int = 0) -> float | None:
        """Makespan of the plan (times left in ``self.start``/``self.finish``), or ``None`` at ``bound``.

        With ``prefix`` (the plan the trial was derived from), ``order[:first]`` is taken as unchanged and
        only the rest is replayed; ``order[first:]`` must hold the same tasks as ``prefix.order[first:]``.
        """
        p = self.problem
        made = 0.0
        if prefix is None or first == 0:
            self.avail[:] = 0.0
            self._base = None
        else:
            # tasks at positions < first must hold the prefix plan's times; the last trial overwrote
            # (some of) those at positions >= self._dirty
            if self._base is not prefix:
                self.start[:] = prefix.result.start
                self.finish[:] = prefix.result.finish
                self._base, self._dirty = prefix, p.n
            elif self._dirty < first:
                back = prefix.order[self._dirty:first]
                self.start[back] = prefix.result.start[back]
                self.finish[back] = prefix.result.finish[back]
            self._dirty = first
            prefix.avail_before(first, out=self.avail)
            made = float(prefix.running_max[first - 1])
        makespan, replayed = self.kernel(order, worker, p.exec, p.link_class, p.class_latency, p.class_inv_bandwidth,
                                         self.indptr, self.pred, self.pred_bytes, self.start, self.finish, self.avail,
                                         bound, first, made)
        self.steps += replayed + CALL_STEPS  # plus the Python around each call
        return None if makespan < 0 else float(makespan)

    def result(self, worker: np.ndarray) -> ListResult:
        return ListResult(worker.copy(), self.start.copy(), self.finish.copy())


def replay_order(start: np.ndarray, has_length: np.ndarray) -> np.ndarray:
    """Tasks by start, zero-length ones first at equal starts, then by index: appending them in this order
    rebuilds a semi-active schedule exactly (on one worker a zero-length task must precede a task of
    positive length that starts at the same time).

    Examples
    --------
    >>> replay_order(np.array([0.0, 2.0, 2.0, 1.0]), np.array([True, True, False, True])).tolist()
    [0, 3, 2, 1]
    """
    return np.lexsort((np.arange(len(start)), has_length, start)).astype(np.int64)


def simulate(problem: Problem, worker: np.ndarray, order: np.ndarray, compiled: bool = False) -> ListResult:
    """Times of a fixed assignment and order, each task appended on its worker (``compiled``: with the numba
    kernel, worth its loading time on large graphs).

    Examples
    --------
    >>> from hetflow.taskgraph import Cluster, TaskGraph
    >>> g = TaskGraph(name="fan"); g.add_task("pre", {"cpu": 1.0})
    >>> for e in ("e0", "e1"): g.add_task(e, {"cpu": 4.0, "gpu": 1.0}); g.add_edge("pre", e, bytes=1e8)
    >>> r = simulate(Problem(g, Cluster.local(gpus=1, cpus=1)), worker=np.array([1, 0, 1]), order=np.arange(3))
    >>> r.start.tolist(), r.finish.tolist()  # e0 on gpu0 after a 0.1 s transfer; e1 after pre on cpu0
    ([0.0, 1.1, 1.0], [1.0, 2.1, 5.0])
    """
    replay = Replay(problem, compiled=compiled)
    replay.run(np.asarray(worker, dtype=np.int64), np.asarray(order, dtype=np.int64))
    return replay.result(np.asarray(worker, dtype=np.int64))


def critical_path(problem: Problem, result: ListResult, eps: float = 1e-9) -> list[int]:
    """Tasks on the schedule's critical path, last first: each one's start is bound by its predecessor.

    The binding predecessor of a task is the parent whose data arrives exactly at its start, else the task
    just before it on the same worker.

    Examples
    --------
    >>> from hetflow.solvers.heft import heft
    >>> from hetflow.taskgraph import Cluster, generators
    >>> p = Problem(generators.chain(4, seed=0), Cluster.local(gpus=1, cpus=1))
    >>> critical_path(p, heft(p))  # a chain: every task, last first
    [3, 2, 1, 0]
    """
    worker, start, finish = result.worker, result.start, result.finish
    previous = np.full(problem.n, -1, dtype=np.int64)  # the task before each one on its worker
    order = np.lexsort((start, worker))
    same = worker[order[1:]] == worker[order[:-1]]
    previous[order[1:][same]] = order[:-1][same]
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
            binding = int(previous[i])
            if binding < 0 or finish[binding] < start[i] - tol:
                break  # idle before the task: the path starts here
        if binding in seen:  # zero-length tasks can bind each other
            break
        i = binding
        seen.add(i)
        path.append(i)
    return path


class _Prefix:
    """A replayed plan seen from a position in its order: what every worker has finished before it."""

    def __init__(self, problem: Problem, result: ListResult, order: np.ndarray, avail_kernel=None):
        self.result = result
        self.order = order
        self.position = np.empty(problem.n, dtype=np.int64)
        self.position[order] = np.arange(problem.n)
        self.running_max = np.maximum.accumulate(result.finish[order])
        # every worker's tasks by position: positions and finish times (both increasing on a worker)
        by_worker = np.lexsort((self.position, result.worker))
        self.indptr = np.zeros(problem.n_workers + 1, dtype=np.int64)
        self.indptr[1:] = np.cumsum(np.bincount(result.worker, minlength=problem.n_workers))
        self.pos = self.position[by_worker]
        self.fin = np.ascontiguousarray(result.finish[by_worker])
        if avail_kernel is None:
            from hetflow.solvers._replay import avail_before as avail_kernel
        self.kernel = avail_kernel

    def avail_before(self, first: int, out: np.ndarray) -> np.ndarray:
        """Each worker's finish time after the tasks at positions ``< first``."""
        return self.kernel(first, self.indptr, self.pos, self.fin, out)


def _candidates(problem: Problem, prefix: _Prefix, i: int, width: int) -> list[int]:
    """Other workers for task ``i``: the ``width`` where it would finish first if appended at its place in the
    order (inputs from where its parents run now), the ``width`` fastest, and those of its parents and
    children (joining one saves a transfer)."""
    current = prefix.result
    w_i = int(current.worker[i])
    able = np.flatnonzero(problem.runnable[i])
    able = able[able != w_i]
    if len(able) == 0:
        return []
    fastest = able[np.argsort(problem.exec[i, able], kind="stable")[:width]]
    ready = data_ready(problem, i, current.worker, current.finish)
    free = prefix.avail_before(int(prefix.position[i]), np.zeros(problem.n_workers))
    eft = np.maximum(ready, free)[able] + problem.exec[i, able]
    earliest = able[np.argsort(eft, kind="stable")[:width]]
    kin = [int(current.worker[k]) for k in (*problem.preds[i], *problem.succs[i])]
    ok = problem.runnable[i]
    return list(dict.fromkeys(int(w) for w in (*earliest, *fastest, *kin) if w != w_i and ok[w]))


def _blocks(problem: Problem, worker: np.ndarray, i: int) -> list[np.ndarray]:
    """Task ``i`` with its descendants, and with its ancestors, reachable through edges inside its worker.

    Moving such a block keeps its internal edges free of transfers, which moving one task at a time cannot
    (each single move would pay two transfers and be rejected): on communication-heavy graphs a good plan
    is a few long same-worker runs joined by few transfers, and this is how the search shifts a run.
    """
    w = worker[i]
    found = []
    for links in (problem.succs, problem.preds):
        block, stack = {i}, [i]
        while stack:
            for v in links[stack.pop()]:
                if worker[v] == w and v not in block:
                    block.add(v)
                    stack.append(v)
        if len(block) > 1:
            found.append(np.fromiter(block, dtype=np.int64, count=len(block)))
    return found


def _moves(problem: Problem, prefix: _Prefix, i: int, others: list[int], blocks: bool) -> list[tuple[int, Move]]:
    """Trial moves of critical-path task ``i`` (``others``: its :func:`_candidates`): ``(worker, None)`` moves
    it alone, ``(its worker, blocker)`` runs it before the task that blocks it there, ``(worker, block)``
    moves a block (:func:`_blocks`)."""
    current = prefix.result
    if blocks:
        return [(w, b) for b in _blocks(problem, current.worker, i) for w in others if problem.runnable[b, w].all()]
    moves: list[tuple[int, Move]] = [(w, None) for w in others]
    w_i = int(current.worker[i])
    earlier = np.flatnonzero((current.worker == w_i) & (current.finish <= current.start[i] + 1e-9))
    if len(earlier):
        blocker = int(earlier[np.argmax(current.finish[earlier])])
        parents = max((prefix.position[q] for q in problem.preds[i]), default=-1)
        if parents < prefix.position[blocker] < prefix.position[i]:
            moves.insert(0, (w_i, blocker))
    return moves


def _descend(problem: Problem, replay: Replay, worker: np.ndarray, order: np.ndarray, budget: int,
             width: int, deadline: Deadline | None = None) -> tuple[ListResult, np.ndarray]:
    """First-improvement descent over critical-path moves — single tasks first, blocks when no single move
    helps; returns the local optimum and its order. ``worker`` is modified in place."""
    makespan = replay.run(worker, order)
    current = replay.result(worker)
    improved = True
    while improved and replay.steps < budget:
        improved = False
        replay.steps += STEP_STEPS * problem.n  # the numpy work of a descent step, in replay units
        if deadline is not None and deadline.expired():
            break
        prefix = _Prefix(problem, current, order, replay.avail_kernel)
        position = prefix.position
        path = critical_path(problem, current)
        candidates: dict[int, list[int]] = {}  # per task, shared by both tiers (the plan is the same)
        for blocks in (False, True):
            for i in path:
                if i not in candidates:
                    candidates[i] = _candidates(problem, prefix, i, width)
                for w, move in _moves(problem, prefix, i, candidates[i], blocks):
                    trial_order, undo = order, None
                    if move is None:
                        undo = (i, worker[i])
                        worker[i] = w
                        first = int(position[i])
                    elif isinstance(move, int):  # run i just before its blocker
                        rest = order[order != i]
                        first = int(position[move])
                        trial_order = np.concatenate([rest[:first], [i], rest[first:]])
                    else:
                        undo = (move, worker[move].copy())
                        worker[move] = w
                        first = int(position[move].min())
                    found = replay.run(worker, trial_order, bound=makespan * (1 - 1e-9), prefix=prefix,
                                       first=first)
                    if found is not None:
                        makespan, order, improved = found, trial_order, True
                        current = replay.result(worker)
                        break
                    if undo is not None:
                        worker[undo[0]] = undo[1]
                    if replay.steps >= budget:
                        return current, order
                if improved:
                    break
            if improved:
                break
    return current, order


def local_search(problem: Problem, start: ListResult, budget: int, *, seed: int = 0, width: int = 3,
                 patience: int = 300, compiled: bool = True, deadline: Deadline | None = None
                 ) -> tuple[ListResult, int]:
    """Improve ``start`` for ``budget`` replayed task steps, or until ``patience`` perturbations in a row
    found nothing better, or until ``deadline`` expires; return the best plan (never worse) and the number
    of perturbations.

    Deterministic for a seed when no deadline cuts it (``compiled`` only changes the speed).

    Examples
    --------
    >>> from hetflow.solvers.heft import heft
    >>> from hetflow.taskgraph.generators import layered_random, random_cluster
    >>> p = Problem(layered_random(20, ccr=1.0, seed=2), random_cluster(1, 2, seed=2))
    >>> start = heft(p)
    >>> best, kicks = local_search(p, start, budget=20_000, compiled=False)
    >>> round(start.makespan, 3), round(best.makespan, 3)
    (68.039, 61.707)
    """
    rng = np.random.default_rng(seed)
    replay = Replay(problem, compiled=compiled)
    order = replay_order(start.start, start.finish > start.start)
    best, best_order = _descend(problem, replay, start.worker.astype(np.int64), order, budget, width, deadline)
    base, base_order = best, best_order
    kicks = since_better = 0
    while replay.steps < budget and since_better < patience:
        if deadline is not None:
            if deadline.expired():
                break
            deadline.report("local search", best.makespan)
        kicks += 1
        since_better += 1
        worker = base.worker.copy()
        path = critical_path(problem, base)
        for i in [*rng.choice(path, size=min(2, len(path)), replace=False), rng.integers(problem.n)]:
            worker[i] = rng.choice(np.flatnonzero(problem.runnable[i]))
        trial, trial_order = _descend(problem, replay, worker, base_order, budget, width, deadline)
        if trial.makespan < best.makespan * (1 - 1e-9):
            best, best_order, since_better = trial, trial_order, 0
        if trial.makespan <= best.makespan * (1 + 1e-9):  # as good as the best: walk on along the plateau
            base, base_order = trial, trial_order
        elif since_better % RETURN_EVERY == 0:
            base, base_order = best, best_order
    if best.makespan >= start.makespan * (1 - 1e-9):
        return start, kicks
    return best, kicks
