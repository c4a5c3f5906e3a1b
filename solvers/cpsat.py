"""A constraint-programming reference solver (``solver="cpsat"``, OR-tools CP-SAT; ``pip install hetflow[bench]``).

Objective
---------
The optimal makespan under DESIGN.md's cost model, for graphs too large for the downset DP
(:mod:`hetflow.solvers.exact`, about a dozen tasks) but small enough for a CP solver (tens to a few hundred
tasks): the yardstick that tells how far a heuristic plan is from the optimum.

Model
-----
Times are integers: seconds times ``resolution / U`` with ``U`` the makespan of a starting plan, rounded
*up* (durations and transfers), so every solution of the integer model is a valid plan in real time.
Per task ``t`` a start and an end variable and, per worker ``w`` that can run it, a presence literal
``x[t, w]`` with an optional interval of length ``exec(t, w)``; exactly one literal per task; no overlap
of the intervals on a worker; for every edge ``u -> v`` and worker pair ``a != b`` with a transfer
``start(v) >= end(u) + comm(u -> v, a, b)`` when ``x[u, a]`` and ``x[v, b]``, and ``start(v) >= end(u)``
always. Minimise the latest end. The starting plan (HEFT's, or the ``hint``) is given to the solver as a
complete hint, so it never returns anything worse.

The search runs on one thread for ``deterministic_time`` units of CP-SAT's deterministic clock (roughly
seconds), so the result is the same on every machine for a seed; a ``time_limit`` (wall seconds) can cut
it shorter, and then it is not. The returned plan is the solver's
assignment replayed in its start order with the exact real-valued times (no worse than the integer
objective). ``optimal`` in the meta means the integer model was solved to optimality: the plan is optimal
up to the rounding, i.e. within about ``resolution^-1`` of the makespan per task on the critical path.

Complexity: ``O(E W^2)`` conditional constraints; the search is exponential in the worst case.
"""

from __future__ import annotations

import math

import numpy as np
from hetflow.solvers.anytime import Deadline
from hetflow.solvers.heft import heft
from hetflow.solvers.listsched import ListResult
from hetflow.solvers.problem import Problem
from hetflow.solvers.registry import register_solver
from hetflow.solvers.search import replay_order, simulate
from hetflow.taskgraph.errors import InvalidInput

__all__ = ["cpsat", "cpsat_schedule"]


# Integer lengths and delays are capped here: far beyond any horizon (about ``resolution``), so a capped
# task or transfer still cannot fit, and sums of two stay far inside CP-SAT's 64-bit integers.
_CAP = 2**40


def _ceil(x: float, scale: float) -> int:
    """``x`` seconds in model units, rounded up (at most ``_CAP``)."""
    units = x * scale - 1e-9
    return int(math.ceil(units)) if units < _CAP else _CAP


def cpsat_schedule(problem: Problem, *, hint: ListResult | None = None, deterministic_time: float = 10.0,
                   resolution: float = 1e4, seed: int = 0, time_limit: float | None = None,
                   deadline: Deadline | None = None, allowed: np.ndarray | None = None,
                   parameters: dict | None = None) -> tuple[ListResult, dict]:
    """Solve the CP model; return the plan and ``{"status", "optimal", "objective"}``.

    ``time_limit`` (wall seconds) caps the search on top of ``deterministic_time``; the result may then
    depend on the machine's speed. ``deadline`` receives a progress report per improving solution.
    ``allowed`` (tasks x workers, boolean) restricts the workers a task may take (default: every worker
    that can run it); the hint's workers must be allowed. A sub-problem with most tasks confined to the
    hint's worker is what :mod:`hetflow.solvers.lns` solves. ``parameters``: further CP-SAT parameters
    (``SatParameters`` fields, e.g. ``{"linearization_level": 0}``).

    Examples
    --------
    >>> from hetflow.taskgraph import Cluster, TaskGraph
    >>> g = TaskGraph(name="g")
    >>> for t, c in zip("abc", (3.0, 2.0, 1.0)): g.add_task(t, {"cpu": c})
    >>> result, info = cpsat_schedule(Problem(g, Cluster.local(gpus=0, cpus=2)))
    >>> float(result.makespan), info["optimal"]  # {a} on one worker, {b, c} on the other
    (3.0, True)
    """
    try:
        from ortools.sat.python import cp_model
    except ImportError:  # pragma: no cover - ortools is in the bench extra
        raise InvalidInput("solver 'cpsat' needs OR-tools: pip install 'hetflow[bench]' (or ortools)") from None

    start_plan = hint if hint is not None else heft(problem)
    if problem.n == 0 or start_plan.makespan <= 0:
        return start_plan, {"status": "trivial", "optimal": True, "objective": start_plan.makespan}
    scale = resolution / start_plan.makespan
    n, W = problem.n, problem.n_workers
    able = problem.runnable if allowed is None else problem.runnable & allowed
    hinted = _integer_replay(problem, start_plan, scale)
    horizon = int(hinted[1].max()) + 1
    model = cp_model.CpModel()
    start = [model.NewIntVar(0, horizon, f"s{i}") for i in range(n)]
    end = [model.NewIntVar(0, horizon, f"e{i}") for i in range(n)]
    on: dict[tuple[int, int], cp_model.IntVar] = {}
    intervals: list[list] = [[] for _ in range(W)]
    for i in range(n):
        for w in map(int, np.flatnonzero(able[i])):
            on[i, w] = model.NewBoolVar(f"x{i}_{w}")
            length = _ceil(problem.exec[i, w], scale)
            intervals[w].append(model.NewOptionalIntervalVar(start[i], length, end[i], on[i, w], f"iv{i}_{w}"))
        model.AddExactlyOne(on[i, w] for w in range(W) if (i, w) in on)
    for group in intervals:
        model.AddNoOverlap(group)
    for j in range(n):
        for i, nbytes in zip(problem.preds[j], problem.pred_bytes[j]):
            model.Add(start[j] >= end[i])
            for a in range(W):
                for b in range(W):
                    if a != b and (i, a) in on and (j, b) in on:
                        delay = _ceil(problem.comm(nbytes, a, b), scale)
                        if delay > 0:
                            model.Add(start[j] >= end[i] + delay).OnlyEnforceIf([on[i, a], on[j, b]])
    makespan = model.NewIntVar(0, horizon, "makespan")
    model.AddMaxEquality(makespan, end)
    model.Minimize(makespan)
    begin, finish = hinted
    for i in range(n):
        model.AddHint(start[i], int(begin[i]))
        model.AddHint(end[i], int(finish[i]))
        for w in range(W):
            if (i, w) in on:
                model.AddHint(on[i, w], int(start_plan.worker[i]) == w)
    model.AddHint(makespan, int(finish.max()))

    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = int(seed)
    solver.parameters.max_deterministic_time = float(deterministic_time)
    for name, value in (parameters or {}).items():
        setattr(solver.parameters, name, value)
    if time_limit is not None:
        solver.parameters.max_time_in_seconds = max(float(time_limit), 0.01)
    callback = None
    if deadline is not None and deadline.listener is not None:
        class _Report(cp_model.CpSolverSolutionCallback):
            def on_solution_callback(self) -> None:
                deadline.report("CP-SAT", self.ObjectiveValue() / scale)

        callback = _Report()
    status = solver.Solve(model, callback)
    info = {"status": solver.StatusName(status), "optimal": status == cp_model.OPTIMAL, "objective": None}
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return start_plan, info
    info["objective"] = solver.ObjectiveValue() / scale
    worker = np.array([next(w for w in range(W) if (i, w) in on and solver.BooleanValue(on[i, w]))
                       for i in range(n)], dtype=np.int64)
    begins = np.array([solver.Value(start[i]) for i in range(n)])
    result = simulate(problem, worker, replay_order(begins, problem.exec[np.arange(n), worker] > 0))
    if result.makespan > start_plan.makespan * (1 + 1e-12):  # cannot happen (ceil'd model); keep the promise
        return start_plan, info
    return result, info


def _integer_replay(problem: Problem, plan: ListResult, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """The plan's assignment and order replayed in the integer model's rounded-up times (a feasible hint)."""
    n = problem.n
    order = replay_order(plan.start, plan.finish > plan.start)
    avail = np.zeros(problem.n_workers, dtype=np.int64)
    begin = np.zeros(n, dtype=np.int64)
    finish = np.zeros(n, dtype=np.int64)
    for i in order:
        w = int(plan.worker[i])
        ready = int(avail[w])
        for p, nbytes in zip(problem.preds[i], problem.pred_bytes[i]):
            q = int(plan.worker[p])
            ready = max(ready, int(finish[p]) + (0 if q == w else _ceil(problem.comm(nbytes, q, w), scale)))
        begin[i] = ready
        finish[i] = ready + _ceil(problem.exec[i, w], scale)
        avail[w] = finish[i]
    return begin, finish


@register_solver("cpsat", capabilities={"max_tasks": 300, "extra": "bench", "needs": ("ortools",),
                                  "warm_up": True})
def cpsat(problem: Problem, *, seed: int = 0, deterministic_time: float = 10.0, hint_solver: str = "dp",
          resolution: float = 1e4, time_limit: float | None = None) -> ListResult:
    """Plan with CP-SAT, starting from the plan of ``hint_solver`` (default: the DP planner's).

    ``time_limit`` (wall seconds, None: none) caps the whole call: the hint solver gets a quarter of it when
    it takes a limit, CP-SAT the rest, and the best plan found by then is returned; without it the result
    is deterministic (``deterministic_time`` bounds the search). The meta says whether the integer model
    was proven optimal (``optimal``) and CP-SAT's status.

    Examples
    --------
    >>> from hetflow.taskgraph import Cluster, generators
    >>> r = cpsat(Problem(generators.in_tree(2, seed=1), Cluster.local(gpus=1, cpus=2)), deterministic_time=1.0)
    >>> r.meta["status"], r.meta["hint_solver"], r.makespan <= r.meta["hint_makespan"]  # never worse than its hint
    ('OPTIMAL', 'dp', True)
    """
    from hetflow.solvers.registry import SOLVERS, check_solver_name, solver_capabilities

    clock = Deadline(time_limit)
    hint_options = {}
    if clock.limit is not None and solver_capabilities(check_solver_name(hint_solver)).time_limit:
        hint_options["time_limit"] = clock.limit / 4
    start_plan = SOLVERS[hint_solver](problem, seed=seed, **hint_options)
    clock.report(f"hint ({hint_solver})", start_plan.makespan)
    remaining = None if clock.limit is None else clock.remaining()
    result, info = cpsat_schedule(problem, hint=start_plan, deterministic_time=deterministic_time,
                                  resolution=resolution, seed=seed, time_limit=remaining, deadline=clock)
    result.meta = {**info, "hint_solver": hint_solver, "hint_makespan": round(start_plan.makespan, 9)}
    return result
