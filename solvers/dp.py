"""The hetflow dynamic-programming planner (``solver="dp"``).

Objective
---------
Minimise the makespan of a task graph on heterogeneous workers under DESIGN.md's cost model; among plans
of equal makespan prefer fewer bytes moved between workers.

Idea
----
List schedulers such as HEFT look one task ahead. The DP planner replaces that myopia with three dynamic
programs and keeps the best plan it finds:

1. **Cost-to-go table** (backwards over the DAG, per task and worker, with the real link costs)::

       C(t, w) = max_{s in succ(t)} min_{w'} [ C(s, w') + exec(s, w') + comm(t -> s, w, w') ],  C(exit, w) = 0

   It is PEFT's optimistic cost table with exact per-link transfers instead of their mean. It ranks tasks
   (``rank(t) = min_w exec(t, w) + C(t, w)``, the optimistic remaining length) and is added to a worker's
   finish time when placing a task, so a task is not put where its children would pay for it.

2. **Chain DP** (exact placement of a chain given the partial schedule). Sharded inference makes long
   chains (features -> shard 1 -> ... -> shard k -> score). When a chain's head is next, the whole chain
   ``c_0 .. c_K`` is placed at once by a DP over (position, worker)::

       R_k(w) = min_{w'} F_{k-1}(w') + comm(c_{k-1} -> c_k, w', w)      (R_0 = data-ready time of c_0)
       F_k(w) = S_w(c_k, R_k(w)) + exec(c_k, w) + lambda * price(c_k, w)

   where ``S_w`` is the earliest start on ``w`` at or after ``R`` (idle gaps included) — monotone in
   ``R``, which makes the min over the previous worker exact — and the chain ends on
   ``argmin_w F_K(w) + C(c_K, w)``. Device choice and cut points of the chain are chosen jointly, which a
   task-by-task scheduler cannot do (it would pay a transfer to reach the GPU one shard at a time).

3. **Work prices** from the LP lower bound's dual (:func:`hetflow.solvers.bounds.lp_relaxation`): running task
   ``t`` on class ``c`` instead of its cheapest class raises the work bound by the reduced cost
   ``price(t, c) = y_c cost(t, c) - min_c' y_c' cost(t, c')``. Charging it keeps a scarce GPU for the tasks
   that gain most from it, so a fast upstream stage does not flood the GPU with work a CPU could do.

The planner runs a portfolio of passes on the shared list-scheduling core — HEFT, PEFT and CPOP
themselves, then cost-to-go/chain/price variants, and HEFT and the cost-to-go pass planned as if every
transfer took 2x and 4x as long (a greedy scheduler pays for a transfer once per placement but the graph
pays again downstream; on communication-heavy graphs the averse plans keep long same-worker runs; each is
replayed with the real transfer times) — and improves the best with an iterated critical-path
local search (:mod:`hetflow.solvers.search`) until its search budget (replayed task steps, see ``effort``) is
spent. It returns the best plan seen, so it is never worse than the HEFT, PEFT and CPOP plans it
computed. On graphs of at most ``exact_tasks`` tasks the exact DP over downsets (:mod:`hetflow.solvers.exact`)
runs first and, when it proves optimality within its node budget, its plan wins.

Complexity: the tables cost ``O(E W^2)`` (cost-to-go) and ``O(V + E)`` (ranks); each pass
``O((V + E) W)`` numpy work; the chain DP adds ``O(K W^2)`` per chain of length ``K``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from hetflow.solvers.bounds import lp_relaxation
from hetflow.solvers.cpop import cpop
from hetflow.solvers.heft import heft
from hetflow.solvers.listsched import ListResult, PartialSchedule, list_schedule, ready_order
from hetflow.solvers.peft import peft
from hetflow.solvers.problem import Problem
from hetflow.solvers.ranks import optimistic_cost_table, upward_rank
from hetflow.solvers.registry import register_solver
from hetflow.solvers.search import local_search, replay_order, simulate

__all__ = ["dp", "chains", "work_prices", "SEARCH_STEPS", "FULL_PORTFOLIO"]

SEARCH_STEPS = 12_000_000  # replayed task steps of local search at effort 1 (~1 s on a 2-core machine)
COMPILED_SEARCH_TASKS = 5_000  # above, the search budget is small: skip numba's ~1.5 s import and load
FULL_PORTFOLIO = 40_000  # tasks x workers up to which every DP pass runs
COMM_WEIGHTS = (2.0, 4.0)  # transfer-time multipliers of the communication-averse passes


@dataclass
class _Best:
    result: ListResult | None = None
    name: str = ""
    moved: float = np.inf
    tried: dict[str, float] = field(default_factory=dict)
    kicks: int = 0

    def offer(self, name: str, result: ListResult, problem: Problem) -> None:
        """Keep ``result`` if its makespan is shorter, or equal with fewer bytes moved."""
        makespan = result.makespan
        self.tried[name] = round(makespan, 9)
        if self.result is not None and makespan > self.result.makespan * (1 + 1e-12):
            return
        moved = problem.bytes_moved(result.worker)  # only needed to break a tie
        if self.result is None or makespan < self.result.makespan * (1 - 1e-12) or moved < self.moved:
            self.result, self.name, self.moved = result, name, moved


def chains(problem: Problem) -> tuple[np.ndarray, list[list[int]]]:
    """Split the DAG into maximal chains (edges ``u -> v`` with ``u``'s only child ``v`` and ``v``'s only parent ``u``).

    Returns a boolean mask of chain heads and, per task, the chain it heads (empty for non-heads).

    Examples
    --------
    >>> from hetflow.taskgraph import Cluster, TaskGraph
    >>> g = TaskGraph(name="g")
    >>> for t in "abcd": g.add_task(t, {"cpu": 1.0})
    >>> for u, v in ["ab", "bc", "ad"]: g.add_edge(u, v)
    >>> heads, members = chains(Problem(g, Cluster.local(gpus=0, cpus=1)))
    >>> [[g.tasks[i] for i in members[h]] for h in np.flatnonzero(heads)]
    [['a'], ['b', 'c'], ['d']]
    """
    n = problem.n
    nxt = np.full(n, -1)
    for i in range(n):
        if len(problem.succs[i]) == 1:
            j = problem.succs[i][0]
            if len(problem.preds[j]) == 1:
                nxt[i] = j
    heads = np.ones(n, dtype=bool)
    heads[nxt[nxt >= 0]] = False
    members: list[list[int]] = [[] for _ in range(n)]
    for h in np.flatnonzero(heads):
        i = h
        while i >= 0:
            members[h].append(int(i))
            i = nxt[i]
    return heads, members


def work_prices(problem: Problem) -> np.ndarray:
    """Reduced cost (seconds of work bound) of running each task on each worker's device class.

    Examples
    --------
    Four tasks that need the scarce gpu and one that runs equally well anywhere: the latter pays 0.6 s of
    the work bound on the gpu, nothing on the cpu.

    >>> from hetflow.taskgraph import Cluster, TaskGraph
    >>> g = TaskGraph(name="g"); g.add_task("tok", {"cpu": 1.0, "gpu": 1.0})
    >>> for i in range(4): g.add_task(i, {"cpu": 4.0, "gpu": 1.0})
    >>> p = Problem(g, Cluster.local(gpus=1, cpus=1))  # workers gpu0, cpu0
    >>> work_prices(p)[p.tasks.index("tok")].round(3).tolist()
    [0.6, 0.0]
    """
    bound, prices, classes = lp_relaxation(problem)
    speed = np.array([w.speed for w in problem.cluster.workers])
    class_price = np.array([prices[classes.index(w.device)] for w in problem.cluster.workers])
    runnable = problem.runnable
    charged = np.full(problem.exec.shape, np.inf)
    np.multiply(problem.exec, speed * class_price, out=charged, where=runnable)  # y_c * cost(t, c)
    return charged - charged.min(axis=1, keepdims=True)


def _ctg_pass(problem: Problem, cost_to_go: np.ndarray | None = None) -> ListResult:
    """List scheduling by optimistic remaining length, each task placed to minimise finish + cost-to-go."""
    if cost_to_go is None:
        cost_to_go = optimistic_cost_table(problem, comm="exact")
    return list_schedule(problem, priority=(problem.exec + cost_to_go).min(axis=1), bias=cost_to_go)


def _chain_pass(problem: Problem, priority: np.ndarray, cost_to_go: np.ndarray | None,
                price: np.ndarray | None, heads: np.ndarray, members: list[list[int]]) -> ListResult:
    """Place whole chains with the chain DP, chain heads taken from a ready list by ``priority``."""
    state = PartialSchedule(problem)
    exec_ = problem.exec
    for h in ready_order(problem, priority, heads=heads):
        chain = members[h]
        best_from: list[np.ndarray] = []
        reach = state.ready_times(chain[0])
        finish = reach
        for k, i in enumerate(chain):
            if k:
                nbytes = problem.pred_bytes[i][0]
                reach, came_from = problem.arrivals(finish, nbytes, argmin=True)  # min over w' -> w
                best_from.append(came_from)
            finish = state.start_times(i, reach) + exec_[i]
            if price is not None:
                finish = finish + price[i]
        tail = chain[-1]
        end = finish if cost_to_go is None else finish + cost_to_go[tail]
        path = [int(np.argmin(end))]
        for back in reversed(best_from):
            path.append(int(back[path[-1]]))
        path.reverse()
        for i, w in zip(chain, path):
            state.assign(i, w, state.start_on(i, w, state.ready_times(i)[w]))
    return state.result()


@register_solver("dp")
def dp(
    problem: Problem,
    *,
    seed: int = 0,
    effort: float = 1.0,
    exact_tasks: int = 12,
    mode: str = "auto",
) -> ListResult:
    """Plan with the DP planner.

    Parameters
    ----------
    problem : Problem
    seed : int
        Seed of the local search's perturbations; the same inputs and seed give the same plan.
    effort : float
        Scales the local search: ``effort * SEARCH_STEPS`` replayed task steps, times ``(2000 / n)^2``
        above 2,000 tasks; 0 skips it. About 1.5 s per instance at 1 on a 2-core machine, up to a few
        thousand tasks.
    exact_tasks : int
        Graphs with at most this many tasks try the exact DP over downsets first (``mode="auto"``).
    mode : {"auto", "heuristic", "exact"}
        ``"heuristic"`` skips the exact DP; ``"exact"`` requires it to prove optimality.

    Examples
    --------
    >>> from hetflow.solvers.heft import heft
    >>> from hetflow.taskgraph import Cluster, workloads
    >>> job = Problem(workloads.llm_batch_job(n_docs=256, batch_size=64, n_shards=2), Cluster.local(1, 3))
    >>> r = dp(job, effort=0.2)  # 21 tasks: heuristic passes, then a short local search
    >>> r.meta["variant"], r.meta["optimal"], r.makespan < heft(job).makespan
    ('local-search', False, True)
    """
    if mode not in ("auto", "heuristic", "exact"):
        raise ValueError(f"unknown dp mode {mode!r}")
    t0 = time.perf_counter()
    best = _Best()

    if mode == "exact" or (mode == "auto" and problem.n <= exact_tasks):
        from hetflow.solvers.exact import exact_schedule

        found, optimal = exact_schedule(problem, node_limit=None if mode == "exact" else 20_000)
        if found is not None:
            best.offer("exact", found, problem)
        if optimal:
            return _finish(best, t0, optimal=True)
        if mode == "exact":
            raise RuntimeError("the exact DP did not finish")

    cost_to_go = optimistic_cost_table(problem, comm="exact")
    rank = (problem.exec + cost_to_go).min(axis=1)
    heads, members = chains(problem)
    best.offer("heft", heft(problem), problem)
    best.offer("peft", peft(problem), problem)
    best.offer("dp-chain", _chain_pass(problem, rank, cost_to_go, None, heads, members), problem)
    if problem.n * problem.n_workers <= FULL_PORTFOLIO:  # on large graphs one DP pass keeps the time down
        best.offer("cpop", cpop(problem), problem)
        best.offer("dp-ctg", _ctg_pass(problem, cost_to_go), problem)
        if len(problem.cluster.devices) > 1:
            price = work_prices(problem)
            best.offer("dp-chain-price", _chain_pass(problem, rank, cost_to_go, price, heads, members), problem)
            best.offer("dp-ctg-price", list_schedule(problem, priority=rank, bias=cost_to_go + price), problem)
            best.offer("dp-heft-price", list_schedule(problem, priority=upward_rank(problem), bias=price), problem)
        for factor in COMM_WEIGHTS:  # plan as if transfers were dearer, keep the assignment and order
            heavier = problem.with_comm_scaled(factor)
            for name, planned in ((f"heft-comm{factor:g}", heft(heavier)),
                                  (f"dp-ctg-comm{factor:g}", _ctg_pass(heavier))):
                order = replay_order(planned.start, planned.finish > planned.start)
                best.offer(name, simulate(problem, planned.worker, order), problem)  # the real transfer times
    budget = int(effort * SEARCH_STEPS * min(1.0, 2000 / max(problem.n, 1)) ** 2)
    if problem.n > COMPILED_SEARCH_TASKS:
        budget //= 40  # the pure-Python replay is ~40x slower
    if budget >= problem.n:
        compiled = problem.n <= COMPILED_SEARCH_TASKS
        improved, best.kicks = local_search(problem, best.result, budget, seed=seed, compiled=compiled)
        if improved is not best.result:
            best.offer("local-search", improved, problem)
    return _finish(best, t0, optimal=False)


def _finish(best: _Best, t0: float, optimal: bool) -> ListResult:
    result = best.result
    result.meta = {  # type: ignore[attr-defined]
        "variant": best.name,
        "optimal": optimal,
        "passes": best.tried,
        "search_kicks": best.kicks,
        "dp_seconds": round(time.perf_counter() - t0, 4),
    }
    return result
