"""Compiled insertion-based list scheduling: the same plans as :func:`hetflow.solvers.listsched.list_schedule`,
about 50x faster, which is what lets the DP planner run its whole portfolio at 100,000 tasks.

:func:`list_schedule` takes the same arguments. With numba it runs one compiled loop over the tasks — the
data-ready time on every worker, the earliest start in an idle gap (HEFT's insertion policy) or after the
worker's last task, the worker of least finish time plus ``bias`` — and computes the very same floats as
the pure-Python scheduler, ties included (the tests compare them plan for plan). Without numba, or for
the options the kernel does not cover (``release``, ``worker_available``, no insertion), it calls the
pure-Python scheduler.

Links are read from the problem's link class tables (``Problem.link_class``, ``class_latency``,
``class_inv_bandwidth``), so memory stays linear in the workers. Per worker the kernel keeps the idle gaps
before its last task as sorted ``(start, end)`` rows and the longest gap's length, exactly as
:class:`hetflow.solvers.listsched.Timelines` does, so a worker whose longest gap is shorter than the task
is not searched. Complexity ``O((V + E) W + V log V)`` plus the gap searches.

Examples
--------
>>> from hetflow.taskgraph import Cluster, TaskGraph
>>> from hetflow.solvers import listsched
>>> g = TaskGraph(name="g"); g.add_task("a", {"cpu": 2.0}); g.add_task("b", {"cpu": 8.0, "gpu": 1.0})
>>> g.add_edge("a", "b", bytes=1e9)
>>> p = Problem(g, Cluster.local(gpus=1, cpus=1))
>>> list_schedule(p, order=[0, 1]).finish.tolist(), listsched.list_schedule(p, order=[0, 1]).finish.tolist()
([2.0, 4.0], [2.0, 4.0])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from hetflow.solvers import listsched
from hetflow.solvers.listsched import ListResult
from hetflow.solvers.problem import Problem

__all__ = ["list_schedule", "COMPILED"]


def _bisect_left(a, lo, hi, x):
    while lo < hi:
        mid = (lo + hi) // 2
        if a[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _bisect_right(a, lo, hi, x):
    while lo < hi:
        mid = (lo + hi) // 2
        if x < a[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _heap_push(keys, ids, size, key, i):
    """Max-heap on ``key``, lower ``i`` first among equal keys (heapq on ``(-key, i)``)."""
    k = size
    keys[k] = key
    ids[k] = i
    while k > 0:
        parent = (k - 1) // 2
        if keys[parent] > keys[k] or (keys[parent] == keys[k] and ids[parent] < ids[k]):
            break
        keys[parent], keys[k] = keys[k], keys[parent]
        ids[parent], ids[k] = ids[k], ids[parent]
        k = parent
    return size + 1


def _heap_pop(keys, ids, size):
    top = ids[0]
    size -= 1
    keys[0] = keys[size]
    ids[0] = ids[size]
    k = 0
    while True:
        left = 2 * k + 1
        if left >= size:
            break
        child = left
        right = left + 1
        if right < size and (keys[right] > keys[left] or (keys[right] == keys[left] and ids[right] < ids[left])):
            child = right
        if keys[k] > keys[child] or (keys[k] == keys[child] and ids[k] < ids[child]):
            break
        keys[k], keys[child] = keys[child], keys[k]
        ids[k], ids[child] = ids[child], ids[k]
        k = child
    return top, size


def _schedule(order, priority, use_order, exec_, link_class, latency, inv_bw, indptr, pred, pred_bytes, sindptr, succ,
              bias,
              use_bias, pinned, worker, start, finish):
    n, W = exec_.shape
    avail = np.zeros(W)
    cap = 16
    gap_s = np.zeros((W, cap))
    gap_e = np.zeros((W, cap))
    n_gaps = np.zeros(W, dtype=np.int64)
    max_gap = np.zeros(W)
    ready = np.zeros(W)
    est = np.zeros(W)
    missing = np.zeros(n, dtype=np.int64)
    keys = np.zeros(n)
    ids = np.zeros(n, dtype=np.int64)
    size = 0
    if not use_order:
        for i in range(n):
            missing[i] = indptr[i + 1] - indptr[i]
            if missing[i] == 0:
                size = _heap_push(keys, ids, size, priority[i], i)
    for step in range(n):
        if use_order:
            i = order[step]
        else:
            i, size = _heap_pop(keys, ids, size)
            for e in range(sindptr[i], sindptr[i + 1]):
                j = succ[e]
                missing[j] -= 1
                if missing[j] == 0:
                    size = _heap_push(keys, ids, size, priority[j], j)
        # data-ready time on every worker (the same float operations as listsched.data_ready)
        for w in range(W):
            ready[w] = 0.0
        for e in range(indptr[i], indptr[i + 1]):
            p = pred[e]
            wp = worker[p]
            nbytes = pred_bytes[e]
            c = link_class[wp]
            for w in range(W):
                if w == wp:  # the same worker: free (the dense rows hold zeros there)
                    arrival = finish[p]
                else:
                    d = link_class[w]
                    arrival = finish[p] + latency[c, d] + nbytes * inv_bw[c, d]
                if arrival > ready[w]:
                    ready[w] = arrival
        w_pin = pinned[i]
        if w_pin >= 0 and exec_[i, w_pin] < np.inf:
            candidates_lo, candidates_hi = w_pin, w_pin + 1
        else:
            w_pin = -1
            candidates_lo, candidates_hi = 0, W
        best_w = -1
        best_key = np.inf
        for w in range(candidates_lo, candidates_hi):
            duration = exec_[i, w]
            s = ready[w] if ready[w] > avail[w] else avail[w]
            if max_gap[w] >= duration and max_gap[w] > 0 and n_gaps[w] > 0:  # Timelines.insertion_start
                g = n_gaps[w]
                k = _bisect_left(gap_e[w], 0, g, ready[w] + duration)
                while k < g:
                    s_gap = ready[w] if ready[w] > gap_s[w, k] else gap_s[w, k]
                    if s_gap + duration <= gap_e[w, k]:
                        s = s_gap
                        break
                    k += 1
            est[w] = s
            if w_pin >= 0:
                best_w = w
                break
            key = s + duration
            if use_bias:
                key = key + bias[i, w]
            if best_w < 0 or key < best_key:  # np.argmin: the first minimum (inf keys included)
                best_key = key
                best_w = w
        w = best_w
        s = est[w]
        f = s + exec_[i, w]
        worker[i] = w
        start[i] = s
        finish[i] = f
        # Timelines.place
        if s >= avail[w]:
            if s > avail[w]:
                g = n_gaps[w]
                if g == gap_s.shape[1]:
                    gap_s, gap_e = _grow(gap_s, gap_e)
                gap_s[w, g] = avail[w]
                gap_e[w, g] = s
                n_gaps[w] = g + 1
                if s - avail[w] > max_gap[w]:
                    max_gap[w] = s - avail[w]
            avail[w] = f
            continue
        g = n_gaps[w]
        k = _bisect_right(gap_s[w], 0, g, s) - 1  # the gap that holds [s, f]
        g_start = gap_s[w, k]
        g_end = gap_e[w, k]
        for m in range(k, g - 1):  # delete row k
            gap_s[w, m] = gap_s[w, m + 1]
            gap_e[w, m] = gap_e[w, m + 1]
        g -= 1
        if f < g_end:
            if g + 1 > gap_s.shape[1]:
                gap_s, gap_e = _grow(gap_s, gap_e)
            for m in range(g, k, -1):
                gap_s[w, m] = gap_s[w, m - 1]
                gap_e[w, m] = gap_e[w, m - 1]
            gap_s[w, k] = f
            gap_e[w, k] = g_end
            g += 1
        if s > g_start:
            if g + 1 > gap_s.shape[1]:
                gap_s, gap_e = _grow(gap_s, gap_e)
            for m in range(g, k, -1):
                gap_s[w, m] = gap_s[w, m - 1]
                gap_e[w, m] = gap_e[w, m - 1]
            gap_s[w, k] = g_start
            gap_e[w, k] = s
            g += 1
        n_gaps[w] = g
        if g_end - g_start >= max_gap[w]:
            longest = 0.0
            for m in range(g):
                if gap_e[w, m] - gap_s[w, m] > longest:
                    longest = gap_e[w, m] - gap_s[w, m]
            max_gap[w] = longest


def _grow(gap_s, gap_e):
    W, cap = gap_s.shape
    new_s = np.zeros((W, 2 * cap))
    new_e = np.zeros((W, 2 * cap))
    new_s[:, :cap] = gap_s
    new_e[:, :cap] = gap_e
    return new_s, new_e


try:
    from numba import njit

    _bisect_left = njit(cache=True)(_bisect_left)
    _bisect_right = njit(cache=True)(_bisect_right)
    _heap_push = njit(cache=True)(_heap_push)
    _heap_pop = njit(cache=True)(_heap_pop)
    _grow = njit(cache=True)(_grow)
    _schedule = njit(cache=True, nogil=True)(_schedule)
    COMPILED = True
except ImportError:  # pragma: no cover - numba is a dependency; the pure-Python scheduler is used instead
    COMPILED = False


def _arrays(problem: Problem) -> tuple[np.ndarray, ...]:
    """The graph in CSR form (parents with bytes, children), cached on the problem."""
    cached = problem.__dict__.get("_fastlist_csr")
    if cached is None:
        indptr = np.zeros(problem.n + 1, dtype=np.int64)
        indptr[1:] = np.cumsum([len(p) for p in problem.preds])
        pred = np.fromiter((p for ps in problem.preds for p in ps), dtype=np.int64, count=int(indptr[-1]))
        pred_bytes = np.fromiter((b for bs in problem.pred_bytes for b in bs), dtype=float, count=int(indptr[-1]))
        sindptr = np.zeros(problem.n + 1, dtype=np.int64)
        sindptr[1:] = np.cumsum([len(s) for s in problem.succs])
        succ = np.fromiter((s for ss in problem.succs for s in ss), dtype=np.int64, count=int(sindptr[-1]))
        cached = problem.__dict__["_fastlist_csr"] = (indptr, pred, pred_bytes, sindptr, succ)
    return cached


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
    """:func:`hetflow.solvers.listsched.list_schedule`, compiled (same arguments, same plans).

    Examples
    --------
    >>> from hetflow.solvers.heft import heft_order
    >>> from hetflow.taskgraph.generators import layered_random, random_cluster
    >>> p = Problem(layered_random(200, ccr=1.0, seed=3), random_cluster(2, 4, seed=3))
    >>> fast, slow = list_schedule(p, order=heft_order(p)), listsched.list_schedule(p, order=heft_order(p))
    >>> bool((fast.worker == slow.worker).all() and (fast.finish == slow.finish).all())
    True
    """
    if not COMPILED or not insertion or release is not None or worker_available is not None:
        return listsched.list_schedule(problem, order=order, priority=priority, bias=bias, pinned=pinned,
                                       insertion=insertion, release=release, worker_available=worker_available)
    if order is None and priority is None:
        raise ValueError("list_schedule needs an order or a priority")
    n = problem.n
    use_order = order is not None
    order_arr = np.asarray(order if use_order else np.zeros(0), dtype=np.int64)
    if use_order and len(order_arr) != n:
        raise ValueError("the order does not contain every task")
    priority_arr = np.zeros(n) if priority is None else np.asarray(priority, dtype=float)
    pinned_arr = np.full(n, -1, dtype=np.int64)
    for i, w in (pinned or {}).items():
        pinned_arr[i] = w
    bias_arr = np.zeros((1, 1)) if bias is None else np.ascontiguousarray(bias, dtype=float)
    worker = np.full(n, -1, dtype=np.int64)
    start = np.zeros(n)
    finish = np.zeros(n)
    if use_order:  # the pure-Python scheduler's check: every task after its parents
        position = np.empty(n, dtype=np.int64)
        position[order_arr] = np.arange(n)
        for j in range(n):
            for p in problem.preds[j]:
                if position[p] > position[j]:
                    raise ValueError(f"task {problem.tasks[j]!r} is scheduled before its parent {problem.tasks[p]!r}")
    indptr, pred, pred_bytes, sindptr, succ = _arrays(problem)
    _schedule(order_arr, priority_arr, use_order, problem.exec, problem.link_class, problem.class_latency,
              problem.class_inv_bandwidth, indptr, pred, pred_bytes, sindptr, succ, bias_arr, bias is not None,
              pinned_arr, worker, start, finish)
    return ListResult(worker, start, finish)
