"""Replay kernel: exact times of a fixed assignment and global order, appending each task on its worker.

Compiled with numba when it is installed (about 100x faster, which is what makes the local search worth
running on thousands of tasks); the pure-Python loop below computes the very same floats otherwise.
"""

from __future__ import annotations

__all__ = ["replay", "avail_before", "COMPILED"]


def _replay(order, worker, exec_, link_class, latency, inv_bw, indptr, pred, pred_bytes, start, finish, avail,
            bound, first=0, makespan=0.0):
    """Fill ``start``/``finish``; return ``(makespan, tasks replayed)``, makespan -1.0 once a task finishes at
    or after ``bound``.

    ``latency`` and ``inv_bw`` are the problem's link class tables (``Problem.class_latency``, ...), indexed
    through ``link_class``; a transfer to the same worker is free.

    Replays ``order[first:]`` only: ``avail`` must then hold each worker's finish time after ``order[:first]``,
    ``finish`` those tasks' finish times and ``makespan`` their latest finish (all zero for ``first=0``).
    """
    for k in range(first, order.shape[0]):
        i = order[k]
        w = worker[i]
        ready = avail[w]
        for e in range(indptr[i], indptr[i + 1]):
            p = pred[e]
            wp = worker[p]
            if wp == w:
                arrival = finish[p]
            else:
                c, d = link_class[wp], link_class[w]
                arrival = finish[p] + latency[c, d] + pred_bytes[e] * inv_bw[c, d]
            if arrival > ready:
                ready = arrival
        f = ready + exec_[i, w]
        if f >= bound:
            return -1.0, k + 1 - first
        start[i] = ready
        finish[i] = f
        avail[w] = f
        if f > makespan:
            makespan = f
    return makespan, order.shape[0] - first


def _avail_before(first, indptr, pos, fin, out):
    """Each worker's finish time after the tasks at order positions ``< first``: worker ``w``'s tasks are
    ``indptr[w]:indptr[w + 1]`` of ``pos`` (their positions, increasing) and ``fin`` (their finish times)."""
    for w in range(indptr.shape[0] - 1):
        lo, hi = indptr[w], indptr[w + 1]
        base = lo
        while lo < hi:  # first index whose position is >= first
            mid = (lo + hi) // 2
            if pos[mid] < first:
                lo = mid + 1
            else:
                hi = mid
        out[w] = fin[lo - 1] if lo > base else 0.0
    return out


try:
    from numba import njit

    replay = njit(cache=True, nogil=True)(_replay)
    avail_before = njit(cache=True, nogil=True)(_avail_before)
    COMPILED = True
except ImportError:  # pragma: no cover - numba is a dependency; this keeps the planner working without it
    replay = _replay
    avail_before = _avail_before
    COMPILED = False

