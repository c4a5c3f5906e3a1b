"""Exact makespan minimisation for small graphs: a DP over the DAG's downsets (``solver="exact"``).

Objective
---------
The optimal makespan under DESIGN.md's cost model (per-device-class costs, per-link transfers, one task
at a time per worker), as the reference the heuristics are measured against.

Idea
----
Some optimal schedule is *semi-active*: every task starts at ``max(finish of the previous task on its
worker, arrival of its last input)``. Sorting such a schedule by ``(start, task index)`` and appending the
tasks in that order, each to the end of its worker's queue, rebuilds it exactly — provided zero-length
tasks sort before tasks of positive length that start at the same time (on one worker the zero-length
one must come first). So the search appends one ``(task, worker)`` at a time and only in non-decreasing
``(start, has length, index)`` order, which removes the ``k!`` re-orderings of independent tasks.

A search state is a *downset* ``S`` (the set of placed tasks, closed under predecessors) plus the times
that matter for the rest: each worker's free time, the finish time and worker of every placed task that
still has unplaced children, and the last start. The value of a state is the best makespan reachable
from it::

    f(S, times) = min over ready t, worker w of f(S + {t}, times after appending t to w)

States with the same downset and the same placement of its frontier are compared by their time vectors:
one whose times are all no earlier than a visited state's is dominated and pruned (memoised DP). Branch
and bound prunes with ``max(current makespan, longest remaining path at best speed, remaining work over
free capacity)`` against the best plan found (HEFT's to start). Identical empty workers are interchangeable,
so only the first of them is tried.

Complexity is exponential; meant for graphs of about a dozen tasks and a few workers. With a node limit
it returns the best plan found and ``optimal=False``.
"""

from __future__ import annotations

import numpy as np
from hetflow.solvers.heft import heft
from hetflow.solvers.listsched import ListResult
from hetflow.solvers.problem import Problem
from hetflow.solvers.registry import register_solver

__all__ = ["exact_schedule", "exact"]


class _Search:
    def __init__(self, problem: Problem, node_limit: int | None):
        self.p = problem
        self.n, self.W = problem.n, problem.n_workers
        self.exec = problem.exec.tolist()
        self.link_class = problem.link_class.tolist()
        self.latency = problem.class_latency.tolist()  # between different workers, by link class
        self.inv_bw = problem.class_inv_bandwidth.tolist()
        self.runnable = [np.flatnonzero(problem.runnable[i]).tolist() for i in range(self.n)]
        self.min_exec = problem.min_exec.tolist()
        # static bottom level at best speed, no transfers
        bottom = [0.0] * self.n
        for i in range(self.n - 1, -1, -1):
            bottom[i] = self.min_exec[i] + max((bottom[j] for j in problem.succs[i]), default=0.0)
        self.bottom = bottom
        self.pred_mask = [sum(1 << p for p in problem.preds[i]) for i in range(self.n)]
        self.succ_mask = [sum(1 << s for s in problem.succs[i]) for i in range(self.n)]
        # workers interchangeable with an earlier one: same device and speed, and the same links to every other
        # worker (the same link class)
        first: dict[tuple, int] = {}
        self.twin_of = [first.setdefault((wk.device, wk.speed, self.link_class[w]), w)
                        for w, wk in enumerate(problem.cluster.workers)]
        self.node_limit = node_limit
        self.nodes = 0
        self.memo: dict[tuple, list[tuple[float, ...]]] = {}
        self.best = np.inf
        self.best_plan: tuple[list[int], list[float]] | None = None

    def run(self, upper: ListResult) -> bool:
        self.best = upper.makespan * (1 + 1e-12)
        self.best_plan = (upper.worker.tolist(), upper.start.tolist())
        worker = [-1] * self.n
        start = [0.0] * self.n
        finish = [0.0] * self.n
        avail = [0.0] * self.W
        try:
            self._expand(0, worker, start, finish, avail, used=[False] * self.W, last=(-1.0, False, -1), span=0.0)
        except _Stop:
            return False
        return True

    def _arrival(self, finish: float, wp: int, w: int, nbytes: float) -> float:
        """When ``nbytes`` that leave worker ``wp`` at ``finish`` are on worker ``w``."""
        if wp == w:
            return finish
        c, d = self.link_class[wp], self.link_class[w]
        return finish + self.latency[c][d] + nbytes * self.inv_bw[c][d]

    def _lower_bound(self, placed: int, finish: list[float], worker: list[int], avail: list[float],
                     last_start: float, span: float) -> float:
        bound = span
        work = 0.0
        for t in range(self.n):
            if placed >> t & 1:
                continue
            work += self.min_exec[t]
            ready = last_start
            for p, nbytes in zip(self.p.preds[t], self.p.pred_bytes[t]):
                if placed >> p & 1:
                    wp, fp = worker[p], finish[p]
                    arrive = min(self._arrival(fp, wp, w, nbytes) for w in self.runnable[t])
                    ready = max(ready, arrive)
            bound = max(bound, ready + self.bottom[t])
        # remaining work must fit in the workers' free time after max(avail, last_start)
        free = sorted(max(a, last_start) for a in avail)
        level, acc = free[0], 0.0
        for k in range(1, self.W + 1):
            nxt = free[k] if k < self.W else np.inf
            if acc + k * (nxt - level) >= work:
                level += (work - acc) / k
                break
            acc += k * (nxt - level)
            level = nxt
        return max(bound, level)

    def _dominated(self, placed: int, worker: list[int], finish: list[float], avail: list[float],
                   last: tuple[float, int]) -> bool:
        frontier = [t for t in range(self.n) if placed >> t & 1 and self.succ_mask[t] & ~placed]
        key = (placed, tuple(worker[t] for t in frontier))
        vector = (*last, *avail, *(finish[t] for t in frontier))
        seen = self.memo.setdefault(key, [])
        for other in seen:
            if all(a <= b + 1e-12 for a, b in zip(other, vector)):
                return True
        seen[:] = [o for o in seen if not all(b <= a + 1e-12 for a, b in zip(o, vector))]
        seen.append(vector)
        return False

    def _expand(self, placed, worker, start, finish, avail, used, last, span) -> None:
        if placed == (1 << self.n) - 1:
            if span < self.best:
                self.best = span
                self.best_plan = (worker.copy(), start.copy())
            return
        self.nodes += 1
        if self.node_limit is not None and self.nodes > self.node_limit:
            raise _Stop
        if self._lower_bound(placed, finish, worker, avail, last[0], span) >= self.best:
            return
        if self._dominated(placed, worker, finish, avail, last):
            return
        moves = []
        for t in range(self.n):
            if placed >> t & 1 or self.pred_mask[t] & ~placed:
                continue
            for w in self.runnable[t]:
                twin = self.twin_of[w]
                if twin != w and not used[w] and not used[twin]:
                    continue  # an identical, still empty worker comes first
                ready = avail[w]
                for p, nbytes in zip(self.p.preds[t], self.p.pred_bytes[t]):
                    ready = max(ready, self._arrival(finish[p], worker[p], w, nbytes))
                if (ready, self.exec[t][w] > 0, t) < last:
                    continue  # keep appends in non-decreasing (start, has length, index) order
                moves.append((ready + self.exec[t][w], ready, t, w))
        moves.sort()
        for end, s, t, w in moves:
            if max(span, end) >= self.best:
                continue
            old_avail, old_used = avail[w], used[w]
            worker[t], start[t], finish[t], avail[w], used[w] = w, s, end, end, True
            self._expand(placed | 1 << t, worker, start, finish, avail, used, (s, end > s, t), max(span, end))
            worker[t], avail[w], used[w] = -1, old_avail, old_used


class _Stop(Exception):
    pass


def exact_schedule(problem: Problem, node_limit: int | None = None) -> tuple[ListResult | None, bool]:
    """Search for an optimal schedule; return ``(best schedule found, proved optimal)``.

    Examples
    --------
    >>> from hetflow.taskgraph import Cluster, TaskGraph
    >>> g = TaskGraph(name="g")
    >>> for t, c in [("a", 3.0), ("b", 2.0), ("c", 2.0)]: g.add_task(t, {"cpu": c})
    >>> result, optimal = exact_schedule(Problem(g, Cluster.local(gpus=0, cpus=2)))
    >>> result.makespan, optimal
    (4.0, True)
    """
    upper = heft(problem)
    search = _Search(problem, node_limit)
    optimal = search.run(upper)
    worker, start = search.best_plan
    worker_arr = np.array(worker, dtype=np.int64)
    start_arr = np.array(start)
    finish = start_arr + problem.exec[np.arange(problem.n), worker_arr]
    return ListResult(worker_arr, start_arr, finish), optimal


@register_solver("exact", capabilities={"max_tasks": 12, "warm_up": True})
def exact(problem: Problem, *, seed: int = 0, node_limit: int | None = 2_000_000, max_tasks: int = 16) -> ListResult:
    """Optimal plan for small graphs (raises for graphs above ``max_tasks`` tasks).

    Examples
    --------
    >>> from hetflow.solvers.heft import heft
    >>> from hetflow.taskgraph import Cluster, generators
    >>> tree = Problem(generators.out_tree(2, seed=1), Cluster.local(gpus=1, cpus=2))  # 7 tasks
    >>> r = exact(tree)
    >>> r.meta, r.makespan <= heft(tree).makespan
    ({'optimal': True}, True)
    """
    from hetflow.taskgraph.errors import InvalidInput

    if problem.n > max_tasks:
        raise InvalidInput(f"the exact solver takes at most {max_tasks} tasks; this graph has {problem.n}")
    result, optimal = exact_schedule(problem, node_limit)
    result.meta = {"optimal": optimal}
    return result
