"""Large-neighbourhood search over worker pairs, each sub-problem solved by CP-SAT — a pass of the DP planner.

Objective
---------
Shorten the makespan of a given plan; never return a worse one.

Idea
----
On communication-heavy graphs a good plan is a few long same-worker runs on two or three fast workers, and
the annealing (:mod:`hetflow.solvers.anneal`) can end in a plan whose runs are cut in the wrong places:
moving a run from one worker to the other takes many coordinated moves, each of which alone makes the plan
longer. This pass re-solves that decision exactly: for a pair ``(a, b)`` of the busiest workers, every
task on ``a`` or ``b`` may go to either of them, every other task keeps its worker, and CP-SAT
(:func:`hetflow.solvers.cpsat.cpsat_schedule`, the current plan as a complete hint) chooses the split and
re-sequences the whole plan::

    minimise makespan  s.t.  worker(t) in {a, b} for t on a or b,  worker(t) fixed otherwise

The pairs of the ``PAIR_WORKERS`` busiest workers are tried in turn, each from the best plan so far; a plan
is kept when its exact (real-valued) replay is shorter. Which split a re-solve finds depends on the plan it
starts from, so a second chain takes the pairs in the opposite order, on the second core (CP-SAT releases
the GIL), and the shorter of the two chains' plans is kept: over planner seeds 0-5 on the 100-task CCR-5/10
instances of ``benchmarks/best_known.py`` that took the runs above 1.06x the best known plan from 2 of 36 to
1 (the second chain's plan was shorter in 3 of the 36) for no more wall time on two cores. Time-window
neighbourhoods (10-30 tasks close in time or along the critical path, any worker) were tried first: the
annealed plans were already optimal for them, while the worker-pair neighbourhood cut 2-5% off the worst
ones.

Determinism: CP-SAT runs on one thread with a fixed seed for ``deterministic_time`` units of its
deterministic clock per pair, so the result depends only on the inputs and the seed (and the OR-tools
version); a ``deadline`` with a limit also caps each solve in wall seconds, and then it may not. OR-tools is a
dependency of hetflow; where it cannot be imported the plan is returned unchanged.

Complexity: ``O(E W^2)`` to build each model (most literals fixed), then CP-SAT's bounded search.
"""

from __future__ import annotations

import itertools
import threading

import numpy as np
from hetflow.solvers.anytime import Deadline, map_chains
from hetflow.solvers.listsched import ListResult
from hetflow.solvers.problem import Problem

__all__ = ["comm_ratio", "pair_lns", "PAIR_CHAINS", "PAIR_WORKERS", "PAIR_SWEEPS", "PAIR_TIME"]

PAIR_WORKERS = 4  # the pairs of this many busiest workers are re-solved
PAIR_SWEEPS = 1  # sweeps over the pairs while the previous one found a shorter plan
PAIR_CHAINS = 2  # chains of re-solves, the pairs in opposite orders (one per thread)
PAIR_SEED_STRIDE = 7919  # chain k's solves are seeded from seed + k * this
PAIR_TIME = 0.05  # CP-SAT's deterministic time per pair (roughly seconds)
CPSAT_PARAMETERS = {"linearization_level": 0}  # no LP relaxation: as good here, and twice as fast
RESOLUTION = 1e5  # model time units per makespan: rounding up costs at most 1e-5 of it per task and transfer


def available() -> bool:
    """Whether OR-tools (CP-SAT) can be imported (a dependency of hetflow: only a broken install lacks it).

    Examples
    --------
    >>> available()
    True
    """
    try:
        import ortools.sat.python.cp_model  # noqa: F401
    except ImportError:  # pragma: no cover - a dependency; missing only from a broken install
        return False
    return True


def comm_ratio(problem: Problem) -> float:
    """Mean transfer time of an edge (mean link) over the mean run time of a task on its fastest worker.

    Examples
    --------
    >>> from hetflow.taskgraph import Cluster, TaskGraph
    >>> g = TaskGraph(name="g"); g.add_task("a", {"cpu": 2.0}); g.add_task("b", {"cpu": 4.0})
    >>> g.add_edge("a", "b", bytes=3e9)
    >>> round(comm_ratio(Problem(g, Cluster.local(gpus=0, cpus=2))), 3)  # 3e9 B over 1 of 3 pairs at 1 GB/s; 3 s
    0.333
    """
    return float(problem.mean_edge_comm / max(float(problem.min_exec.mean()), 1e-300))


def pair_lns(problem: Problem, plan: ListResult, *, workers: int = PAIR_WORKERS, deterministic_time: float = PAIR_TIME,
             seed: int = 0, sweeps: int = 1, chains: int = PAIR_CHAINS, threads: int = 1,
             deadline: Deadline | None = None) -> ListResult:
    """Re-solve the split of the tasks between each pair of the ``workers`` busiest workers of ``plan``
    (see the module docstring); return the best plan found (``plan`` itself when none is shorter).

    ``chains`` (1 or 2) independent chains of re-solves run from ``plan``, the second taking the pairs in
    the opposite order (and skipped when there is only one pair), on up to ``threads`` threads (CP-SAT
    releases the GIL; with one thread the chains run one after the other, twice the time). The first
    chain's plan wins ties; without a ``deadline`` limit the result does not depend on ``threads``.

    Examples
    --------
    >>> from hetflow.solvers.heft import heft
    >>> from hetflow.taskgraph.generators import layered_random, random_cluster
    >>> p = Problem(layered_random(20, ccr=5.0, seed=1), random_cluster(1, 3, seed=1))
    >>> start = heft(p)
    >>> one = pair_lns(p, start, deterministic_time=0.05, chains=1)
    >>> two = pair_lns(p, start, deterministic_time=0.05)  # the reversed chain ends shorter here
    >>> two.makespan < one.makespan < start.makespan
    True
    >>> pair_lns(p, start, deterministic_time=0.05, threads=2).makespan == two.makespan
    True
    """
    if chains not in (1, 2):
        raise ValueError(f"pair_lns runs 1 or 2 chains, not {chains!r}")
    load = np.bincount(plan.worker, minlength=problem.n_workers)
    busiest = [int(w) for w in np.argsort(-load, kind="stable")[:workers] if load[w] > 0]
    pairs = list(itertools.combinations(busiest, 2))
    orders = [pairs, pairs[::-1]][:chains if len(pairs) > 1 else 1]

    def run(k: int, stop: threading.Event) -> ListResult:
        return _pair_chain(problem, plan, orders[k], deterministic_time, seed + PAIR_SEED_STRIDE * k, sweeps,
                           deadline, stop)

    found = map_chains(run, len(orders), threads)
    return min(found, key=lambda r: r.makespan)  # the first on ties


def _pair_chain(problem: Problem, plan: ListResult, pairs: list[tuple[int, int]], deterministic_time: float,
                seed: int, sweeps: int, deadline: Deadline | None, stop: threading.Event) -> ListResult:
    """Re-solve ``pairs`` in turn, each from the best plan so far, for up to ``sweeps`` sweeps."""
    from hetflow.solvers.cpsat import cpsat_schedule

    best = plan
    allowed = np.zeros((problem.n, problem.n_workers), dtype=bool)
    for sweep in range(sweeps):
        before = best
        for k, (a, b) in enumerate(pairs):
            if stop.is_set() or (deadline is not None and deadline.expired()):
                return best
            on_pair = np.isin(best.worker, (a, b))
            allowed[:] = False
            allowed[np.arange(problem.n), best.worker] = True
            allowed[np.ix_(on_pair, [a, b])] = True
            limit = None if deadline is None or deadline.limit is None else deadline.remaining()
            found, _ = cpsat_schedule(problem, hint=best, deterministic_time=deterministic_time,
                                      resolution=RESOLUTION, seed=(seed * 1000 + sweep * len(pairs) + k) % 2**31,
                                      allowed=allowed, parameters=CPSAT_PARAMETERS, time_limit=limit)
            if found.makespan < best.makespan * (1 - 1e-12):
                best = found
            if deadline is not None:
                deadline.report("worker-pair search", best.makespan)
        if best is before:  # a sweep without a shorter plan
            break
    return best
