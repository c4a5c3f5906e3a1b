"""The hetflow dynamic-programming planner (``solver="dp"``).

Objective
---------
Minimise the makespan of a task graph on heterogeneous workers under DESIGN.md's cost model (per-class run
times, per-link transfers, one task at a time per worker); among plans of equal makespan prefer fewer
bytes moved between workers.

State and recurrences
---------------------
List schedulers such as HEFT look one task ahead. The DP planner replaces that myopia with dynamic programs
over explicit states and keeps the best plan it finds:

1. **Cost-to-go table** — state ``(task t, worker w)``: the shortest time from ``t``'s finish on ``w`` to the
   end of the graph if every later task got its best worker and no worker were busy (backwards over the DAG,
   real per-link transfers)::

       C(t, w) = max_{s in succ(t)} min_{w'} [ C(s, w') + exec(s, w') + comm(t -> s, w, w') ],  C(exit, w) = 0

   It is PEFT's optimistic cost table with exact transfers instead of their mean. It ranks tasks
   (``rank(t) = min_w exec(t, w) + C(t, w)``) and is added to a worker's finish time when placing a task, so
   a task is not put where its children would pay for it.

2. **Chain DP** — state ``(position k in a chain, worker w)`` given the partial schedule. Sharded inference
   makes long chains (features -> shard 1 -> ... -> shard k -> score); when a chain's head is next, the
   whole chain ``c_0 .. c_K`` is placed at once::

       R_k(w) = min_{w'} F_{k-1}(w') + comm(c_{k-1} -> c_k, w', w)      (R_0 = data-ready time of c_0)
       F_k(w) = S_w(c_k, R_k(w)) + exec(c_k, w) + lambda * price(c_k, w)

   where ``S_w`` is the earliest start on ``w`` at or after ``R`` (idle gaps included) — monotone in ``R``,
   which makes the min over the previous worker exact — and the chain ends on ``argmin_w F_K(w) + C(c_K, w)``.
   Device and cut points are chosen jointly, which a task-by-task scheduler cannot do.

3. **Work prices** from the LP lower bound's dual (:func:`hetflow.solvers.bounds.lp_relaxation`):
   ``price(t, c) = y_c cost(t, c) - min_c' y_c' cost(t, c')``, the rise of the work bound when ``t`` runs
   on class ``c``; charging it keeps a scarce GPU for the tasks that gain most from it.

4. **Exact DP over downsets** (:mod:`hetflow.solvers.exact`) — state ``(set of placed tasks, the times and
   workers of its frontier)``, ``f(S) = min_{ready t, worker w} f(S + {t} on w)`` with dominance pruning —
   on graphs of at most ``exact_tasks`` tasks; when it proves optimality its plan is returned.

Pipeline
--------
A portfolio of passes on the shared (compiled, :mod:`hetflow.solvers.fastlist`) list-scheduling core:
HEFT and PEFT under each reading of "mean transfer" (:data:`hetflow.solvers.ranks.AVERAGING`) and CPOP as
published and as SAGA has it — so dp is never worse than any textbook form of them — then the cost-to-go,
chain and price passes, and HEFT and the cost-to-go pass planned as if transfers took 2x and 4x as long
(replayed with the real ones). Up to 500 tasks the *few-worker* passes follow: the cost-to-go and HEFT
passes confined to the ``k`` fastest workers (``k = 1 .. W - 1``; real, 2x and 4x transfers), since good
plans on communication-heavy graphs keep most tasks on two or three fast workers. The best plans then go
to a search over (assignment, order) pairs, each replayed exactly: simulated annealing
(:mod:`hetflow.solvers.anneal`) and the iterated critical-path local search (:mod:`hetflow.solvers.search`).
Up to 500 tasks the annealing is a *race* (:func:`hetflow.solvers.anneal.anneal_race`, on up to two
threads): eight short hot chains from the four best passes and the four best few-worker passes, then
four cooler chains from the four best plans they found, then two cool ones from the best two — one third
of the moves per round. Above 500 tasks two nearly-greedy chains (their own seeds, one per core) focused on the critical
path anneal HEFT's (or the best pass's) plan. On communication-heavy graphs of up to 100 tasks (an edge's mean transfer
at least ``PAIR_RATIO`` times a task's mean run) a *worker-pair search* (:mod:`hetflow.solvers.lns`, a
large-neighbourhood search; needs OR-tools) follows the race: for each pair of the four busiest workers,
CP-SAT re-solves how the tasks on the two are split between them and re-sequences the plan, every other
task keeping its worker — the many coordinated moves that shift a same-worker run, which the annealing
cannot make one at a time; two chains of these re-solves, the pairs in opposite orders, run on two threads.
The best plan seen is returned.

Which idea wins where
---------------------
Measured with seed 0 on the instances of ``benchmarks/best_known.py`` (20-100 tasks, 4-8 workers) and the
``small`` WfCommons/WfInstances suites; geometric means of makespan / HEFT after the portfolio, after
annealing, after the worker-pair search and after the local search (from :func:`dp`'s ``meta["passes"]``
per instance; "-": the pair search does not run there), and of makespan / best known plan over planner
seeds 0-5 (``python benchmarks/bench_planners.py --best-known --planner-seeds 0,1,2,3,4,5``; worst run in
brackets):

==================  ==================================  =========  =======  =====  =====  ================
family              best portfolio pass (most often)    portfolio  anneal   pairs  final  / best known
==================  ==================================  =========  =======  =====  =====  ================
layered CCR 0.2     chain/price passes, HEFT (any mean)  0.983      0.937    -      0.937  1.011 (1.040)
layered CCR 1       CPOP (SAGA), PEFT                   0.944      0.855    -      0.855  1.010 (1.057)
layered CCR 5       few-worker passes (1 worker), PEFT  0.885      0.667    0.664  0.664  1.013 (1.060)
layered CCR 10      few-worker passes (1 worker)        0.713      0.554    0.553  0.553  1.006 (1.063)
LLM jobs            HEFT with prices, CPOP (SAGA)       0.969      0.933    -      0.933  1.000 (1.000)
WfCommons (200)     HEFT (ties with most passes)        1.000      0.994    -      0.994
WfInstances         HEFT (ties)                         0.996      0.945    -      0.945
==================  ==================================  =========  =======  =====  =====  ================

On communication-heavy graphs the annealer's *join*/*block* moves build the long same-worker runs good
plans are made of (the passes alone stay 17-44% above the best known plans there), and the race's
first round decides the basin: on one 100-task CCR-10 instance dp's plan 1.4% above the optimum shares
38 of 100 assignments with it, and six equal chains (the previous design) ended 1-14% above the best
known plans of the 100-task CCR-5/10 instances, still 1-8.5% with ten times the moves; the race, with
few-worker starts among its eight, ends 0-5.5% above over planner seeds 0-2 (held out — 100-task
layered graphs of other seeds, CCR 1/5/10 — it is 0.6-1.6% shorter than the previous design in geometric
mean). Over seeds 0-5, though, 4 of the 36 runs on those six instances ended 6.3-9.5% above: a basin
whose same-worker runs are split in the wrong places. The worker-pair search re-solves those splits: over
the 36 runs its geometric mean goes from 1.035 to 1.026 of the best known plan and the runs above 1.06
from 4 to 2 (1.066 and 1.063) with one chain of re-solves, and with a second chain taking the pairs in
the opposite order on the other core to 1.025 and 1 run (the CCR-10 plan at 1.063, which no pair re-solve
moves), for 0.1-0.6 s of CP-SAT at 100 tasks. Time-window neighbourhoods (10-30 tasks close in time or on
the critical path, any worker) found nothing there — the annealed plans are already optimal for them — and
on CCR <= 1 the pair search gained under 0.1%, so it is confined to communication-heavy graphs. At
10,000-100,000 tasks (``benchmarks/bench_large.py``) HEFT or SAGA's CPOP is the best pass and the cool
annealing chains give the gain: 0.965-0.973x HEFT at 10k tasks over planner seeds 0-1 (0.965-0.976x with one chain) and
0.956x at 100k tasks on CCR-5 layered graphs.

Complexity
----------
Tables: ``O(E W^2)`` (cost-to-go), ``O(V + E)`` (ranks), the LP of the prices; each list pass
``O((V + E) W)`` compiled (``6 (W - 1)`` few-worker passes up to 500 tasks); the chain DP ``O(K W^2)``
per chain of length ``K``; the search ``O(V + E)`` per move (a replay from the first position the move
changes), for a fixed budget of moves (small graphs) or replayed task steps (large ones).

Determinism and time limits
---------------------------
Budgets are counted in moves and replayed task steps (CP-SAT's deterministic time in the worker-pair
search, on one thread with a seeded search), never seconds, and every annealing chain has its
own seeded random stream, so without ``time_limit`` the plan depends only on the inputs, ``seed`` and
``effort`` (the same on any machine, with one thread or two). A ``time_limit`` stops the passes and the
search where the clock falls — the plan is then the best so far, and may differ between runs.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
from hetflow.solvers.anneal import anneal_chains, anneal_race
from hetflow.solvers.anytime import Deadline
from hetflow.solvers.bounds import lp_relaxation
from hetflow.solvers.cpop import cpop
from hetflow.solvers.fastlist import list_schedule
from hetflow.solvers.heft import heft, heft_order
from hetflow.solvers.listsched import ListResult, PartialSchedule, ready_order
from hetflow.solvers.lns import PAIR_SWEEPS, PAIR_TIME, comm_ratio, pair_lns
from hetflow.solvers.lns import available as lns_available
from hetflow.solvers.peft import peft
from hetflow.solvers.problem import Problem
from hetflow.solvers.ranks import AVERAGING, optimistic_cost_table, upward_rank
from hetflow.solvers.registry import register_solver, warm_up_problem
from hetflow.solvers.search import local_search, replay_order, simulate

__all__ = ["dp", "chains", "work_prices", "SEARCH_STEPS"]

SEARCH_STEPS = 12_000_000  # replayed task steps of local search at effort 1 (~1 s on a 2-core machine)
SEARCH_SCALE_TASKS = 2_000  # above, the search budget grows in proportion to the tasks
CHAIN_PORTFOLIO = 200_000  # tasks x workers up to which the chain DP passes run (pure Python, ~20 us a task)
PRICED_TASKS = 20_000  # tasks up to which the price passes run (their LP takes ~300 MB at 100k tasks)
COMM_WEIGHTS = (2.0, 4.0)  # transfer-time multipliers of the communication-averse passes
ANNEAL_TASKS = 500  # graphs up to this size are annealed (compiled moves are cheap enough there)
ANNEAL_MOVES = 1_200_000  # moves per annealing round (anneal_race) at effort 1 up to 100 tasks, 100 / n of it above
PAIR_TASKS = 100  # graphs up to this size get the worker-pair search (its CP-SAT models grow with the graph) ...
PAIR_RATIO = 3.0  # ... if an edge's mean transfer takes this many times a task's mean run (lns.comm_ratio) or more
RACE_STARTS = 4  # the race starts from this many distinct best passes and as many distinct best few-worker ones
LARGE_ANNEAL_STEPS = 300_000_000  # replayed task steps of each cool chain on larger graphs (from 10k tasks)
LARGE_TEMPERATURES = (0.01, 0.0005)  # its first and last temperature (in move scales: nearly a descent)
LARGE_FOCUS = 0.9  # its share of moves on the critical path (elsewhere a move rarely shortens the plan)
LARGE_CHAINS = 2  # such chains, with their own seeds (one per core on a 2-core machine); the best is kept


@dataclass
class _Best:
    clock: Deadline
    result: ListResult | None = None
    name: str = ""
    moved: float = np.inf
    tried: dict[str, float] = field(default_factory=dict)
    kicks: int = 0
    plans: dict[str, ListResult] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def offer(self, name: str, result: ListResult, problem: Problem) -> None:
        """Keep ``result`` if its makespan is shorter, or equal with fewer bytes moved."""
        makespan = result.makespan
        self.tried[name] = round(makespan, 9)
        self.plans[name] = result
        if self.result is not None and makespan > self.result.makespan * (1 + 1e-12):
            return
        moved = problem.bytes_moved(result.worker)  # only needed to break a tie
        if self.result is None or makespan < self.result.makespan * (1 - 1e-12) or moved < self.moved:
            self.result, self.name, self.moved = result, name, moved
        self.clock.report(name, self.result.makespan)


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


def _textbook_passes(problem: Problem) -> Iterator[tuple[str, Callable[[], ListResult]]]:
    """HEFT and PEFT under every transfer averaging (:data:`hetflow.solvers.ranks.AVERAGING`) and CPOP as
    published and as SAGA has it: dp is never worse than any of them. HEFT orders that coincide run once."""
    orders: list[np.ndarray] = []
    for averaging in AVERAGING:
        order = heft_order(problem, upward_rank(problem, averaging))
        if not any(np.array_equal(order, seen) for seen in orders):
            orders.append(order)
            yield ("heft" if averaging == "saga" else f"heft-{averaging}",
                   lambda order=order: list_schedule(problem, order=order))
    for averaging in AVERAGING:
        if averaging == "saga" or problem.n_workers > 1:
            yield ("peft" if averaging == "saga" else f"peft-{averaging}",
                   lambda averaging=averaging: peft(problem, averaging=averaging))
    yield "cpop", lambda: cpop(problem)
    yield "cpop-saga", lambda: cpop(problem, downward="saga")


def _dp_passes(problem: Problem) -> Iterator[tuple[str, Callable[[], ListResult]]]:
    """The cost-to-go, chain and price passes, and the communication-averse ones (see the module docstring).
    The chain passes (pure Python) run up to ``CHAIN_PORTFOLIO`` tasks x workers."""
    cost_to_go = optimistic_cost_table(problem, comm="exact")
    rank = (problem.exec + cost_to_go).min(axis=1)
    chained = problem.n * problem.n_workers <= CHAIN_PORTFOLIO
    if chained:
        heads, members = chains(problem)
        yield "dp-chain", lambda: _chain_pass(problem, rank, cost_to_go, None, heads, members)
    yield "dp-ctg", lambda: _ctg_pass(problem, cost_to_go)
    if len(problem.cluster.devices) > 1 and problem.n <= PRICED_TASKS:
        price = work_prices(problem)
        if chained:
            yield "dp-chain-price", lambda: _chain_pass(problem, rank, cost_to_go, price, heads, members)
        yield "dp-ctg-price", lambda: list_schedule(problem, priority=rank, bias=cost_to_go + price)
        yield "dp-heft-price", lambda: list_schedule(problem, priority=upward_rank(problem), bias=price)
    for factor in COMM_WEIGHTS:  # plan as if transfers were dearer, keep the assignment and order
        heavier = problem.with_comm_scaled(factor)
        for name, planner in ((f"heft-comm{factor:g}", heft), (f"dp-ctg-comm{factor:g}", _ctg_pass)):
            yield name, lambda heavier=heavier, planner=planner: _replayed(problem, planner(heavier))


def _few_worker_passes(problem: Problem) -> Iterator[tuple[str, Callable[[], ListResult]]]:
    """The cost-to-go and HEFT passes on the ``k`` fastest workers only (``k = 1 .. W - 1``, the others
    charged a prohibitive bias, so a task only they can run still goes there), with real transfers and as
    if they took 2x and 4x as long. Good plans on communication-heavy graphs keep most tasks on two or
    three fast workers; these plans give the annealing race starts in those basins. Workers are ranked by
    the time the whole graph would take on each alone."""
    runnable = problem.runnable
    penalty = 10 * problem.exec[runnable].max() if runnable.any() else 1.0
    fastest = np.argsort(np.where(runnable, problem.exec, penalty).sum(axis=0), kind="stable")
    for factor in (1.0, *COMM_WEIGHTS):
        planned = problem if factor == 1 else problem.with_comm_scaled(factor)
        cost_to_go = optimistic_cost_table(planned, comm="exact")
        ranks = {"ctg": (planned.exec + cost_to_go).min(axis=1), "heft": upward_rank(planned)}
        for k in range(1, problem.n_workers):
            excluded = np.zeros(problem.n_workers)
            excluded[fastest[k:]] = 1e15
            for kind, rank in ranks.items():
                bias = excluded + (cost_to_go if kind == "ctg" else np.zeros(problem.exec.shape))

                def make(planned=planned, rank=rank, bias=bias):
                    plan = list_schedule(planned, priority=rank, bias=bias)
                    return plan if planned is problem else _replayed(problem, plan)

                yield f"dp-few{k}-{kind}" + ("" if factor == 1 else f"-x{factor:g}"), make


def _replayed(problem: Problem, planned: ListResult) -> ListResult:
    """A plan's assignment and order with ``problem``'s transfer times."""
    order = replay_order(planned.start, planned.finish > planned.start)
    return simulate(problem, planned.worker, order, compiled=True)


def _warm_up() -> None:
    """Plan :func:`~hetflow.solvers.registry.warm_up_problem` through every stage of :func:`dp` at a tiny effort:
    numba's kernels load (or compile, on the first run after an install), SciPy's LP and OR-tools are imported.
    The capability behind :func:`hetflow.solvers.registry.warm_up`.

    Examples
    --------
    >>> import sys
    >>> _warm_up()
    >>> "ortools.sat.python.cp_model" in sys.modules and "scipy.optimize" in sys.modules
    True
    """
    problem = warm_up_problem()  # transfers far longer than the tasks: the worker-pair search runs too
    dp(problem, effort=1e-3, exact_tasks=0)
    anneal_chains(problem, [heft(problem)], 100, seeds=[0], max_steps=1_000)  # the kernel above 500 tasks


@register_solver("dp", capabilities={"warm_up": _warm_up})
def dp(
    problem: Problem,
    *,
    seed: int = 0,
    effort: float = 1.0,
    exact_tasks: int = 12,
    mode: str = "auto",
    time_limit: float | None = None,
) -> ListResult:
    """Plan with the DP planner.

    Parameters
    ----------
    problem : Problem
    seed : int
        Seed of the search (annealing chains and local search); the same inputs and seed give the same plan.
    effort : float
        Scales the search budgets: ``ANNEAL_MOVES * min(1, 100 / n)`` moves per round of the annealing race up to
        ``ANNEAL_TASKS`` tasks, else ``LARGE_ANNEAL_STEPS * sqrt(n / 10,000)`` replayed task steps per chain (capped
        at 10,000 tasks); ``PAIR_TIME`` units of CP-SAT's deterministic time per worker pair up to ``PAIR_TASKS``
        tasks; ``SEARCH_STEPS * max(1, n / 2000)`` steps of local search; 0 skips the search. At 1 on a 2-core
        machine: about 1-2 s at 100-500 tasks, 5-7 s at 10,000, 20-40 s at 100,000 (the annealing chains and the
        worker-pair re-solves run two at a time; on one core they take twice as long).
    exact_tasks : int
        Graphs with at most this many tasks try the exact DP over downsets first (``mode="auto"``).
    mode : {"auto", "heuristic", "exact"}
        ``"heuristic"`` skips the exact DP; ``"exact"`` requires it to prove optimality.
    time_limit : float, optional
        Seconds of planning (wall clock). The passes and the search stop when it is spent and the best plan
        so far is returned; HEFT's plan is always made first, so a limit shorter than HEFT itself is
        overrun by that much. None (the default): no limit, and the plan depends only on the inputs, ``seed``
        and ``effort`` (see :mod:`hetflow.solvers.anytime`).

    Examples
    --------
    >>> from hetflow.solvers.heft import heft
    >>> from hetflow.taskgraph import Cluster, workloads
    >>> job = Problem(workloads.llm_batch_job(n_docs=256, batch_size=64, n_shards=2), Cluster.local(1, 3))
    >>> r = dp(job, effort=0.2)  # 21 tasks: the passes, then annealing and a short local search
    >>> r.meta["variant"], r.meta["optimal"], r.makespan < heft(job).makespan
    ('anneal', False, True)
    """
    if mode not in ("auto", "heuristic", "exact"):
        raise ValueError(f"unknown dp mode {mode!r}")
    clock = Deadline(time_limit)
    best = _Best(clock=clock)

    if mode == "exact" or (mode == "auto" and problem.n <= exact_tasks):
        from hetflow.solvers.exact import exact_schedule

        found, optimal = exact_schedule(problem, node_limit=None if mode == "exact" else 20_000)
        if found is not None:
            best.offer("exact", found, problem)
        if optimal:
            return _finish(best, clock, optimal=True)
        if mode == "exact":
            raise RuntimeError("the exact DP did not finish")

    small = problem.n <= ANNEAL_TASKS and effort > 0  # the few-worker passes are starts for the race
    passes = [_textbook_passes(problem), _dp_passes(problem)] + ([_few_worker_passes(problem)] if small else [])
    for name, make in itertools.chain(*passes):
        if best.result is not None and clock.expired():
            break
        t0 = clock.elapsed()
        best.offer(name, make(), problem)
        best.seconds[name] = round(clock.elapsed() - t0, 3)
    moves = int(effort * ANNEAL_MOVES * min(1.0, 100 / max(problem.n, 1)))
    large_steps = int(effort * LARGE_ANNEAL_STEPS * min(1.0, problem.n / 10_000) ** 0.5)
    if effort > 0 and not clock.expired():
        t0 = clock.elapsed()
        if small:
            few = [plan for name, plan in best.plans.items() if name.startswith("dp-few")]
            others = [plan for name, plan in best.plans.items() if not name.startswith("dp-few")]
            starts = _distinct_best(others, RACE_STARTS) + _distinct_best(few, RACE_STARTS)
            annealed = anneal_race(problem, starts, moves, seed=seed, threads=_threads(), deadline=clock)
        else:
            seeds = [seed * LARGE_CHAINS + k for k in range(LARGE_CHAINS)]
            annealed = anneal_chains(problem, [best.result], 2**62, seeds=seeds, t_start=LARGE_TEMPERATURES[0],
                                     t_end=LARGE_TEMPERATURES[1], max_steps=large_steps, focus=LARGE_FOCUS,
                                     threads=_threads(), deadline=clock)
        best.offer("anneal", annealed, problem)
        best.seconds["anneal"] = round(clock.elapsed() - t0, 3)
    if small and problem.n <= PAIR_TASKS and comm_ratio(problem) >= PAIR_RATIO and not clock.expired() \
            and lns_available():
        t0 = clock.elapsed()
        paired = pair_lns(problem, best.result, deterministic_time=PAIR_TIME * effort, seed=seed, sweeps=PAIR_SWEEPS,
                          threads=_threads(), deadline=clock)
        best.offer("pair-lns", paired, problem)
        best.seconds["pair-lns"] = round(clock.elapsed() - t0, 3)
    budget = int(effort * SEARCH_STEPS * max(1.0, problem.n / SEARCH_SCALE_TASKS))
    if budget >= problem.n and not clock.expired():
        t0 = clock.elapsed()
        improved, best.kicks = local_search(problem, best.result, budget, seed=seed, deadline=clock)
        best.seconds["local-search"] = round(clock.elapsed() - t0, 3)
        if improved is not best.result:
            best.offer("local-search", improved, problem)
    return _finish(best, clock, optimal=False)


def _distinct_best(plans: list[ListResult], k: int) -> list[ListResult]:
    """The ``k`` shortest plans of distinct makespans (earliest first among equals)."""
    chosen: list[ListResult] = []
    for plan in sorted(plans, key=lambda r: r.makespan):
        if not chosen or plan.makespan > chosen[-1].makespan * (1 + 1e-9):
            chosen.append(plan)
        if len(chosen) == k:
            break
    return chosen


def _threads() -> int:
    """Threads for the annealing chains: the CPUs this process may use, at most two."""
    try:
        return max(1, min(2, len(os.sched_getaffinity(0))))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, min(2, os.cpu_count() or 1))


def _finish(best: _Best, clock: Deadline, optimal: bool) -> ListResult:
    result = best.result
    result.meta = {  # type: ignore[attr-defined]
        "variant": best.name,
        "optimal": optimal,
        "passes": best.tried,
        "pass_seconds": best.seconds,
        "search_kicks": best.kicks,
        "dp_seconds": round(clock.elapsed(), 4),
        "time_limited": clock.expired(),
    }
    return result
