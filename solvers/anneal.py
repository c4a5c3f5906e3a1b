"""Simulated annealing over an assignment and a task order, compiled — the DP planner's search on small graphs.

Objective
---------
Shorten the makespan of a given plan; never return a worse one.

Idea
----
A plan is a worker per task and a global order of the tasks (a topological order); *replaying* it — each task
appended on its worker at the earliest time its inputs are there — gives its exact times, and every
semi-active schedule is some (assignment, order) pair. On graphs of up to a few hundred tasks a replay costs
about a microsecond in compiled code, so the search can afford hundreds of thousands of them: a move
changes the plan a little and is kept when ``makespan' <= makespan - T ln(u)`` (``u`` uniform in (0, 1],
temperature ``T`` cooling geometrically from ``t_start`` to ``t_end`` times the graph's *move scale* — the
mean run time of a task on its fastest worker plus the mean transfer time of an edge, the size of what one
move changes: half of it accepts a typical worse move now and then, at any CCR), so
it climbs out of the local optima where a descent stops. Draw ``u`` first and the replay can stop as soon
as a task finishes past that threshold. Moves, each on a task from the current critical path with
probability ``focus`` (else any task):

* *reassign* the task to another worker that can run it (30%);
* *swap* the workers of the task and a task on the other worker (10%);
* *block*: move it with up to eight of its neighbours on its worker, joined to it by edges, or with a path
  of up to eight descendants there (7.5% each) — on communication-heavy graphs the good plans are long
  same-worker runs, which single moves cannot shift;
* *join* a parent's or child's worker, removing a transfer (15%);
* *shift* the task to another place in the order, between its last parent and first child (25%);
* *exchange* all the tasks of its worker and another worker (5%).

The best plan seen is kept. :func:`anneal_race` runs chains in rounds of successive halving — many short
hot chains from diverse starts, then fewer, longer and cooler ones from the best plans of the round
before — which on communication-heavy graphs finds better basins than equal independent chains.
The random stream is seeded and the budget is a number of moves (or replayed
task steps), so the result depends only on the inputs and the seed.

A move replays the order only from the first position it changes (each worker's state there is found by
walking back from that position), so a trial costs the length of that suffix, and less when the
threshold cuts it. Chains run in slices of ``SLICE_MOVES`` moves (or ``SLICE_STEPS`` replayed steps), so
that a time limit can stop them between two slices.

Complexity: ``O(V + E)`` per move, ``O(moves (V + E))`` in all.
"""

from __future__ import annotations

import numpy as np
from hetflow.solvers.anytime import Deadline, map_chains
from hetflow.solvers.listsched import ListResult
from hetflow.solvers.problem import Problem

__all__ = ["anneal", "anneal_chains", "anneal_race", "move_scale"]

# rounds of anneal_race: (chains, first and last temperature in move scales); each round gets the same moves
RACE = ((8, 0.5, 0.05), (4, 0.1, 0.01), (2, 0.03, 0.0025))
SLICE_MOVES = 100_000  # a chain checks its deadline after this many moves
SLICE_STEPS = 20_000_000  # ... or this many replayed task steps (about 0.3 s either way)


def _arrival(done, wp, w, nbytes, link_class, latency, inv_bw):
    """When ``nbytes`` leaving worker ``wp`` at ``done`` are on worker ``w`` (link class tables; free on ``wp``)."""
    if wp == w:
        return done
    return done + latency[link_class[wp], link_class[w]] + nbytes * inv_bw[link_class[wp], link_class[w]]


def _replay_from(first, order, pos, worker, exec_, link_class, latency, inv_bw, indptr, pred, pred_bytes, finish, pmax,
                 t_st, t_fi, t_pr, avail, last, bound):
    """Replay ``order[first:]`` into ``t_st``/``t_fi``/``t_pr``, the tasks before ``first`` keeping their times
    in ``finish`` (``pmax[k]``: their running maximum); return the makespan, or -1.0 as soon as a task
    finishes after ``bound``."""
    W = avail.shape[0]
    for w in range(W):
        avail[w] = 0.0
        last[w] = -1
    seen = 0
    k = first - 1
    while k >= 0 and seen < W:  # each worker's last task before first
        t = order[k]
        w = worker[t]
        if last[w] < 0:
            last[w] = t
            avail[w] = finish[t]
            seen += 1
        k -= 1
    makespan = pmax[first - 1] if first > 0 else 0.0
    for k in range(first, order.shape[0]):
        i = order[k]
        w = worker[i]
        ready = avail[w]
        for e in range(indptr[i], indptr[i + 1]):
            p = pred[e]
            wp = worker[p]
            done = t_fi[p] if pos[p] >= first else finish[p]
            arrival = _arrival(done, wp, w, pred_bytes[e], link_class, latency, inv_bw)
            if arrival > ready:
                ready = arrival
        f = ready + exec_[i, w]
        if f > bound:
            return -1.0
        t_st[i] = ready
        t_fi[i] = f
        t_pr[i] = last[w]
        last[w] = i
        avail[w] = f
        if f > makespan:
            makespan = f
    return makespan


def _critical(worker, start, finish, prev, link_class, latency, inv_bw, indptr, pred, pred_bytes, out):
    """Fill ``out`` with the critical path (last task first); return its length."""
    n = finish.shape[0]
    i = 0
    for k in range(n):
        if finish[k] > finish[i]:
            i = k
    length = 0
    while True:
        out[length] = i
        length += 1
        if length >= n or start[i] <= 0.0:
            return length
        w = worker[i]
        tol = 1e-9 * max(1.0, start[i])
        nxt = -1
        for e in range(indptr[i], indptr[i + 1]):
            p = pred[e]
            wp = worker[p]
            if _arrival(finish[p], wp, w, pred_bytes[e], link_class, latency, inv_bw) >= start[i] - tol:
                nxt = p
                break
        if nxt < 0:
            q = prev[i]
            if q < 0 or finish[q] < start[i] - tol:
                return length
            nxt = q
        i = nxt


def _anneal(worker, order, exec_, link_class, latency, inv_bw, indptr, pred, pred_bytes, sindptr, succ, able_ptr, able,
            moves, max_steps, t_start, t_end, focus, seed, best_worker, best_order, best_in):
    """Anneal from ``(worker, order)`` (modified) for ``moves`` moves or ``max_steps`` replayed task steps;
    a plan better than ``best_in`` goes to ``best_worker``/``best_order``; returns the best makespan."""
    np.random.seed(seed)
    n = order.shape[0]
    W = link_class.shape[0]
    pos = np.empty(n, dtype=np.int64)
    for k in range(n):
        pos[order[k]] = k
    start = np.zeros(n)
    finish = np.zeros(n)
    prev = np.full(n, -1, dtype=np.int64)
    t_st = np.zeros(n)
    t_fi = np.zeros(n)
    t_pr = np.full(n, -1, dtype=np.int64)
    avail = np.zeros(W)
    last = np.full(W, -1, dtype=np.int64)
    path = np.zeros(n, dtype=np.int64)
    moved = np.zeros(n, dtype=np.int64)
    was = np.zeros(n, dtype=np.int64)
    pmax = np.zeros(n)  # running maximum of the finish times along the order
    # the whole plan: a replay from position 0 writes straight into start/finish/prev
    current = _replay_from(0, order, pos, worker, exec_, link_class, latency, inv_bw, indptr, pred, pred_bytes,
                           finish, pmax, start, finish, prev, avail, last, np.inf)
    running = 0.0
    for k in range(n):
        running = max(running, finish[order[k]])
        pmax[k] = running
    best = best_in
    if current < best:
        best = current
        best_worker[:] = worker
        best_order[:] = order
    path_len = _critical(worker, start, finish, prev, link_class, latency, inv_bw, indptr, pred, pred_bytes,
                             path)
    temp = t_start
    cool = (t_end / t_start) ** (1.0 / max(moves, 1))
    by_steps = max_steps < 2**62  # cool along the step budget instead of the moves
    log_ratio = np.log(t_end / t_start)
    steps = 0
    for _ in range(moves):
        if by_steps:
            if steps > max_steps:
                break
            temp = t_start * np.exp(log_ratio * steps / max_steps)
        else:
            temp *= cool
        if np.random.random() < focus:
            i = path[np.random.randint(path_len)]
        else:
            i = np.random.randint(n)
        kind = np.random.random()
        old_w = worker[i]
        w = old_w
        n_moved = 0  # tasks whose worker changed, in moved[:n_moved] (old workers in was[:n_moved])
        shift_from = -1
        if kind < 0.55:  # reassign (0.3), swap (0.1) or block (0.15) to a random capable worker
            if able_ptr[i + 1] - able_ptr[i] < 2:
                continue
            w = able[able_ptr[i] + np.random.randint(able_ptr[i + 1] - able_ptr[i])]
            if w == old_w:
                continue
            moved[0], was[0], n_moved = i, old_w, 1
            if 0.3 <= kind < 0.4:  # swap with a task on w that can run on old_w
                j = np.random.randint(n)
                for k in range(n):
                    cand = (j + k) % n
                    if worker[cand] == w and exec_[cand, old_w] < np.inf:
                        moved[1], was[1], n_moved = cand, w, 2
                        worker[cand] = old_w
                        break
                if n_moved < 2:
                    continue
            elif kind >= 0.475:  # with a path of its descendants on its worker (each a child of the last)
                limit = 2 + np.random.randint(7)
                v = i
                while n_moved < limit:
                    degree = sindptr[v + 1] - sindptr[v]
                    nxt = -1
                    offset = np.random.randint(degree) if degree else 0
                    for k in range(degree):
                        u = succ[sindptr[v] + (k + offset) % degree]
                        if worker[u] == old_w and exec_[u, w] < np.inf:
                            nxt = u
                            break
                    if nxt < 0:
                        break
                    worker[nxt] = w
                    moved[n_moved], was[n_moved] = nxt, old_w
                    n_moved += 1
                    v = nxt
            elif kind >= 0.4:  # with up to a few of its neighbours on its worker, joined by edges to it
                limit = 2 + np.random.randint(7)
                worker[i] = -1  # marks a task taken
                head = 0
                while head < n_moved and n_moved < limit:
                    v = moved[head]
                    head += 1
                    n_in = indptr[v + 1] - indptr[v]
                    degree = n_in + sindptr[v + 1] - sindptr[v]
                    offset = np.random.randint(degree) if degree else 0
                    for k in range(degree):
                        e = (k + offset) % degree
                        u = pred[indptr[v] + e] if e < n_in else succ[sindptr[v] + e - n_in]
                        if worker[u] == old_w and exec_[u, w] < np.inf and n_moved < limit:
                            worker[u] = -1
                            moved[n_moved], was[n_moved] = u, old_w
                            n_moved += 1
                for k in range(n_moved):
                    worker[moved[k]] = w
            worker[i] = w
        elif kind < 0.7:  # join a neighbour's worker
            degree = indptr[i + 1] - indptr[i] + sindptr[i + 1] - sindptr[i]
            if degree == 0:
                continue
            k = np.random.randint(degree)
            n_in = indptr[i + 1] - indptr[i]
            other = pred[indptr[i] + k] if k < n_in else succ[sindptr[i] + k - n_in]
            w = worker[other]
            if w == old_w or exec_[i, w] == np.inf:
                continue
            moved[0], was[0], n_moved = i, old_w, 1
            worker[i] = w
        elif kind < 0.95:  # shift in the order
            lo = 0
            for e in range(indptr[i], indptr[i + 1]):
                if pos[pred[e]] + 1 > lo:
                    lo = pos[pred[e]] + 1
            hi = n - 1
            for e in range(sindptr[i], sindptr[i + 1]):
                if pos[succ[e]] - 1 < hi:
                    hi = pos[succ[e]] - 1
            if hi <= lo:
                continue
            target = lo + np.random.randint(hi - lo + 1)
            here = pos[i]
            if target == here:
                continue
            shift_from = here
            _move(order, pos, here, target)
        else:  # exchange all the tasks of two workers
            w = np.random.randint(W)
            if w == old_w:
                continue
            ok = True
            for v in range(n):
                if (worker[v] == old_w and exec_[v, w] == np.inf) or (worker[v] == w and exec_[v, old_w] == np.inf):
                    ok = False
                    break
            if not ok:
                continue
            for v in range(n):
                if worker[v] == old_w or worker[v] == w:
                    moved[n_moved], was[n_moved] = v, worker[v]
                    n_moved += 1
                    worker[v] = w if worker[v] == old_w else old_w
        if shift_from >= 0:
            first = min(shift_from, pos[i])
        else:
            first = n
            for k in range(n_moved):
                first = min(first, pos[moved[k]])
        threshold = current - temp * np.log(1.0 - np.random.random())
        steps += n - first
        found = _replay_from(first, order, pos, worker, exec_, link_class, latency, inv_bw, indptr, pred, pred_bytes,
                             finish, pmax, t_st, t_fi, t_pr, avail, last, threshold)
        if found < 0.0:  # rejected: undo
            if shift_from >= 0:
                _move(order, pos, pos[i], shift_from)
            for k in range(n_moved):
                worker[moved[k]] = was[k]
            continue
        current = found
        steps += n - first  # the copy below
        running = pmax[first - 1] if first > 0 else 0.0
        for k in range(first, n):  # take over the replayed part
            t = order[k]
            start[t] = t_st[t]
            finish[t] = t_fi[t]
            prev[t] = t_pr[t]
            running = max(running, finish[t])
            pmax[k] = running
        path_len = _critical(worker, start, finish, prev, link_class, latency, inv_bw, indptr, pred, pred_bytes,
                             path)
        if current < best * (1.0 - 1e-12):
            best = current
            best_worker[:] = worker
            best_order[:] = order
    return best


def _move(order, pos, here, target):
    """Move the task at position ``here`` to position ``target``, shifting the ones between."""
    i = order[here]
    if target < here:
        for k in range(here, target, -1):
            order[k] = order[k - 1]
            pos[order[k]] = k
    else:
        for k in range(here, target):
            order[k] = order[k + 1]
            pos[order[k]] = k
    order[target] = i
    pos[i] = target


try:
    from numba import njit

    _arrival = njit(cache=True, nogil=True, inline="always")(_arrival)
    _replay_from = njit(cache=True, nogil=True)(_replay_from)
    _critical = njit(cache=True, nogil=True)(_critical)
    _move = njit(cache=True, nogil=True)(_move)
    _anneal = njit(cache=True, nogil=True)(_anneal)
except ImportError:  # pragma: no cover - numba is a dependency; the pure-Python loop is the same, only slower
    pass


def _csr(lists: list[list[int]], values: list[list[float]] | None = None):
    indptr = np.zeros(len(lists) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(x) for x in lists])
    flat = np.array([v for x in lists for v in x], dtype=np.int64)
    if values is None:
        return indptr, flat
    return indptr, flat, np.array([v for x in values for v in x], dtype=float)


def move_scale(problem: Problem) -> float:
    """Mean run time of a task on its fastest worker plus mean transfer time of an edge (mean link).

    Examples
    --------
    >>> from hetflow.taskgraph import Cluster, TaskGraph
    >>> g = TaskGraph(name="g"); g.add_task("a", {"cpu": 2.0}); g.add_task("b", {"cpu": 4.0})
    >>> g.add_edge("a", "b", bytes=3e9)
    >>> move_scale(Problem(g, Cluster.local(gpus=0, cpus=2)))  # 3 s of work + 3e9 B over 1 of 3 pairs at 1 GB/s
    4.0
    """
    return float(problem.min_exec.mean()) + problem.mean_edge_comm


def anneal(problem: Problem, start: ListResult, moves: int, *, seed: int = 0, t_start: float = 0.5,
           t_end: float = 0.0025) -> ListResult:
    """Anneal ``start`` for ``moves`` moves; return the best plan seen (``start`` itself when none is better).

    ``t_start``/``t_end``: first and last temperature in units of :func:`move_scale`.

    Examples
    --------
    >>> from hetflow.taskgraph import Cluster, TaskGraph
    >>> from hetflow.solvers.heft import heft
    >>> g = TaskGraph(name="g")
    >>> for t, cost in zip("abcd", (1.0, 2.0, 1.0, 1.0)): g.add_task(t, {"cpu": cost})
    >>> for u, v, gb in (("a", "c", 3), ("b", "c", 3), ("c", "d", 2)): g.add_edge(u, v, bytes=gb * 1e9)
    >>> p = Problem(g, Cluster.local(gpus=0, cpus=2))
    >>> heft(p).makespan, anneal(p, heft(p), 2000).makespan  # HEFT runs a and b in parallel, then waits 3 s
    (6.0, 5.0)
    """
    return anneal_chains(problem, [start], moves, seeds=[seed], t_start=t_start, t_end=t_end)


def anneal_chains(problem: Problem, starts: list[ListResult], moves: int, *, seeds: list[int],
                  t_start: float = 0.5, t_end: float = 0.0025, threads: int = 1, max_steps: int | None = None,
                  focus: float = 0.5, deadline: Deadline | None = None) -> ListResult:
    """One annealing chain per seed, chain ``k`` from ``starts[k % len(starts)]``, run on ``threads`` threads
    (the compiled kernel releases the GIL); return the best plan of all chains and starts.

    A chain stops after ``moves`` moves or, with ``max_steps``, once its replays have covered that many
    task steps (a move replays the order from the first position it changes); the temperature then cools
    along the steps. ``focus``: the share of moves made on a task of the current critical path.

    The result does not depend on ``threads``: every chain has its own seeded random stream, and ties go
    to the earlier chain. Once a ``deadline`` has expired, every chain stops at the end of its current slice
    (``SLICE_MOVES`` moves or ``SLICE_STEPS`` steps) with the best plan it has seen.

    Examples
    --------
    >>> from hetflow.solvers.heft import heft
    >>> from hetflow.taskgraph.generators import layered_random, random_cluster
    >>> p = Problem(layered_random(40, ccr=5.0, seed=1), random_cluster(1, 3, seed=1))
    >>> one = anneal_chains(p, [heft(p)], 20_000, seeds=[0, 1], threads=1)
    >>> two = anneal_chains(p, [heft(p)], 20_000, seeds=[0, 1], threads=2)
    >>> one.makespan == two.makespan < heft(p).makespan
    True
    """
    from hetflow.solvers.search import simulate

    incumbent = min(starts, key=lambda r: r.makespan)
    found = _run_chains(problem, starts, moves, seeds, t_start, t_end, threads, max_steps, focus, deadline)
    k = min(range(len(found)), key=lambda k: (found[k][0], k))
    if found[k][0] >= incumbent.makespan * (1 - 1e-12):
        return incumbent
    return simulate(problem, found[k][1], found[k][2])


def anneal_race(problem: Problem, starts: list[ListResult], moves: int, *, seed: int = 0,
                rounds: tuple[tuple[int, float, float], ...] = RACE, threads: int = 1,
                deadline: Deadline | None = None) -> ListResult:
    """Annealing by successive halving: many short chains from diverse starts, then fewer, longer and cooler
    ones from the best plans the previous round found; return the best plan seen (or the best start).

    Round ``r`` runs ``rounds[r][0]`` chains of ``moves // rounds[r][0]`` moves each, cooling from
    ``rounds[r][1]`` to ``rounds[r][2]`` (in :func:`move_scale` units); in round 0 chain ``j`` starts from
    ``starts[j % len(starts)]``, in a later round from the ``j``-th best plan of the previous round's
    chains. On communication-heavy graphs a chain ends in one of many deep, far-apart basins (good plans
    of one instance may share fewer than half their assignments), so spending the first third of the
    budget on finding a good basin and the rest on the best two pays more than six equal chains.
    Chain ``j`` of round ``r`` is seeded ``seed * 1000 + 100 r + j``; like :func:`anneal_chains`, the result
    does not depend on ``threads``. A ``deadline`` stops the current round (between slices) and the race.

    Examples
    --------
    >>> from hetflow.solvers.heft import heft
    >>> from hetflow.taskgraph.generators import layered_random, random_cluster
    >>> p = Problem(layered_random(40, ccr=5.0, seed=1), random_cluster(1, 3, seed=1))
    >>> one = anneal_race(p, [heft(p)], 20_000, threads=1)
    >>> two = anneal_race(p, [heft(p)], 20_000, threads=2)
    >>> one.makespan == two.makespan < heft(p).makespan
    True
    """
    from hetflow.solvers.search import simulate

    best = min(starts, key=lambda r: r.makespan)
    pool = list(starts)
    for r, (chains, t_start, t_end) in enumerate(rounds):
        if deadline is not None and deadline.expired():
            break
        seeds = [seed * 1000 + 100 * r + j for j in range(chains)]
        found = _run_chains(problem, pool, max(1, moves // chains), seeds, t_start, t_end, threads, None, 0.5,
                            deadline)
        ranked = sorted(range(chains), key=lambda j: (found[j][0], j))
        pool = [simulate(problem, found[j][1], found[j][2]) for j in ranked]
        if pool[0].makespan < best.makespan * (1 - 1e-12):
            best = pool[0]
    return best


def _run_chains(problem: Problem, starts: list[ListResult], moves: int, seeds: list[int], t_start: float,
                t_end: float, threads: int, max_steps: int | None, focus: float,
                deadline: Deadline | None) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """Run the chains of :func:`anneal_chains`; per chain its best makespan, assignment and order."""
    import threading

    from hetflow.solvers.search import replay_order

    indptr, pred, pred_bytes = _csr(problem.preds, problem.pred_bytes)
    sindptr, succ = _csr(problem.succs)
    rows, able = np.nonzero(problem.runnable)  # the workers that can run each task, row by row
    able_ptr = np.zeros(problem.n + 1, dtype=np.int64)
    able_ptr[1:] = np.cumsum(np.bincount(rows, minlength=problem.n))
    able = able.astype(np.int64)
    scale = move_scale(problem)

    def chain(k: int, stop: threading.Event) -> tuple[float, np.ndarray, np.ndarray]:
        start = starts[k % len(starts)]
        worker = start.worker.astype(np.int64)
        order = replay_order(start.start, start.finish > start.start)
        best_worker, best_order = worker.copy(), order.copy()
        best = np.inf
        # the chain runs in slices (a slice of the temperature range each, reseeded), so that a deadline
        # can stop it between two; the slicing depends only on the budget
        total = moves if max_steps is None else max_steps
        unit = SLICE_MOVES if max_steps is None else SLICE_STEPS
        slices = max(1, -(-total // unit))
        for j in range(slices):
            if stop.is_set() or (deadline is not None and deadline.expired()):
                break
            share = total // slices + (j < total % slices)
            t_a = t_start * (t_end / t_start) ** (j / slices)
            t_b = t_start * (t_end / t_start) ** ((j + 1) / slices)
            best = _anneal(worker, order, problem.exec, problem.link_class, problem.class_latency,
                           problem.class_inv_bandwidth, indptr, pred,
                           pred_bytes, sindptr, succ, able_ptr, able, int(share if max_steps is None else 2**62),
                           np.int64(2**62 if max_steps is None else share), t_a * scale, t_b * scale, float(focus),
                           (int(seeds[k]) * 7919 + j) % 2**32, best_worker, best_order, best)
            if deadline is not None:
                deadline.report("annealing", best)
        return best, best_worker, best_order

    return map_chains(chain, len(seeds), threads)
