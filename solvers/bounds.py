"""Lower bounds on the makespan of any schedule of a graph on a cluster.

* ``path``: the earliest finish of every task with unlimited workers — a forward dynamic program over
  (task, worker) in which a task runs on each worker as fast as that worker allows and data crosses
  between different workers over the cluster's cheapest link (free on the same worker). Contention is
  ignored, so no schedule can finish earlier. It is at least the critical path at best speed.
* ``lp``: work against capacity. A fraction ``x[t, c]`` of each task goes to device class ``c``, whose
  capacity in time ``T`` is ``T`` times the sum of its workers' speeds; the smallest feasible ``T`` (a
  linear program) bounds the makespan because the cost model charges ``cost / speed`` per worker.

* ``window``: integral work per worker with time windows. A task on worker ``w`` cannot start before its
  earliest start there with unlimited workers (``head``, the forward DP of ``path`` with the real links)
  and must leave room for the rest of the graph after it (``tail``, the exact-link optimistic cost table
  of :func:`hetflow.solvers.ranks.optimistic_cost_table`), so in a schedule of makespan ``T`` it runs on ``w``
  only if ``head + exec + tail <= T``; and every worker's tasks must fit in ``T``. The smallest ``T``
  for which whole tasks can be assigned that way (a mixed-integer program, solved with HiGHS inside a
  bisection on ``T``; tasks with identical costs are counted together) bounds the makespan. Unlike
  ``lp`` it sees that a slow worker cannot take a long task late in the schedule, nor half of a task.

``lower_bound`` is the larger of them (``window`` only when given time for it).
"""

from __future__ import annotations

import numpy as np
from hetflow.solvers.problem import Problem
from hetflow.solvers.ranks import optimistic_cost_table
from hetflow.taskgraph import Cluster, TaskGraph

__all__ = ["lower_bound", "lower_bounds", "path_bound", "lp_bound", "lp_relaxation", "window_bound", "earliest_starts"]


def earliest_starts(problem: Problem) -> np.ndarray:
    """``head[t, w]``: the earliest start of ``t`` on ``w`` with unlimited workers and the real links.

    Examples
    --------
    >>> from hetflow.taskgraph import Cluster, TaskGraph
    >>> g = TaskGraph(name="g"); g.add_task("a", {"cpu": 2.0}); g.add_task("b", {"cpu": 8.0, "gpu": 1.0})
    >>> g.add_edge("a", "b", bytes=1e9)  # 1 s over the default 1 GB/s
    >>> earliest_starts(Problem(g, Cluster.local(gpus=1, cpus=1))).tolist()  # b: on gpu0 at 3, on cpu0 at 2
    [[0.0, 0.0], [3.0, 2.0]]
    """
    head = np.zeros((problem.n, problem.n_workers))
    finish = np.zeros_like(head)
    for j in range(problem.n):
        for i, nbytes in zip(problem.preds[j], problem.pred_bytes[j]):
            np.maximum(head[j], problem.arrivals(finish[i], nbytes), out=head[j])  # free on the same worker
        finish[j] = head[j] + problem.exec[j]
    return head


def path_bound(problem: Problem) -> float:
    """Longest path with every task at its fastest and transfers over the cheapest link.

    Examples
    --------
    >>> from hetflow.taskgraph import Cluster, generators
    >>> g = generators.chain(5, ccr=0.0, seed=3)  # no bytes: the bound is the chain at best speed
    >>> path_bound(Problem(g, Cluster.local(gpus=1, cpus=1))) == sum(min(g.cost(t).values()) for t in g)
    True
    """
    latency, per_byte = problem.min_comm_coefficients
    finish = np.zeros((problem.n, problem.n_workers))
    for j in range(problem.n):
        ready = np.zeros(problem.n_workers)
        for i, nbytes in zip(problem.preds[j], problem.pred_bytes[j]):
            f = finish[i]
            np.maximum(ready, np.minimum(f, f.min() + latency + nbytes * per_byte), out=ready)
        finish[j] = ready + problem.exec[j]
    return float(finish.min(axis=1).max()) if problem.n else 0.0


def lp_relaxation(problem: Problem) -> tuple[float, np.ndarray, list[str]]:
    """Solve the work-vs-capacity LP; return ``(T, prices, classes)``.

    ``prices[c]`` is the dual value of class ``c``'s capacity (``sum_c prices[c] * capacity[c] == 1``):
    one more second of work at speed 1 on class ``c`` raises the bound by ``prices[c]`` seconds. The DP
    planner charges it as the opportunity cost of running a task on a scarce class.

    Examples
    --------
    >>> from hetflow.taskgraph import Cluster, TaskGraph
    >>> four = TaskGraph(name="four")
    >>> for i in range(4): four.add_task(i, {"cpu": 4.0, "gpu": 1.0})
    >>> T, prices, classes = lp_relaxation(Problem(four, Cluster.local(gpus=1, cpus=1)))
    >>> T, prices.round(3).tolist(), classes  # a second of cpu work is worth a quarter of a gpu second
    (3.2, [0.2, 0.8], ['cpu', 'gpu'])
    """
    from scipy.optimize import linprog  # imported here: it is slow to import and plans rarely need it
    from scipy.sparse import coo_matrix

    classes = sorted(problem.cluster.devices)
    capacity = np.array([sum(w.speed for w in problem.cluster.workers if w.device == c) for c in classes])
    first = {c: next(w for w, wk in enumerate(problem.cluster.workers) if wk.device == c) for c in classes}
    speeds = np.array([problem.cluster.workers[first[c]].speed for c in classes])
    cost = np.stack([problem.exec[:, first[c]] for c in classes], axis=1) * speeds  # at speed 1
    task_idx, class_idx = np.nonzero(np.isfinite(cost))
    n_vars = len(task_idx) + 1  # x[t, c] ..., T
    rows = np.concatenate([class_idx, np.arange(len(classes))])
    cols = np.concatenate([np.arange(len(task_idx)), np.full(len(classes), n_vars - 1)])
    data = np.concatenate([cost[task_idx, class_idx], -capacity])
    a_ub = coo_matrix((data, (rows, cols)), shape=(len(classes), n_vars)).tocsr()
    a_eq = coo_matrix(
        (np.ones(len(task_idx)), (task_idx, np.arange(len(task_idx)))), shape=(problem.n, n_vars)
    ).tocsr()
    objective = np.zeros(n_vars)
    objective[-1] = 1.0
    result = linprog(
        objective, A_ub=a_ub, b_ub=np.zeros(len(classes)), A_eq=a_eq, b_eq=np.ones(problem.n),
        bounds=(0, None), method="highs",
    )
    if not result.success:  # pragma: no cover - the LP is always feasible for a runnable graph
        raise RuntimeError(f"lower-bound LP failed: {result.message}")
    return float(result.x[-1]), np.maximum(-result.ineqlin.marginals, 0.0), classes


def lp_bound(problem: Problem) -> float:
    """Smallest ``T`` such that the work fits the device classes' total speed (solved with HiGHS).

    Examples
    --------
    >>> from hetflow.taskgraph import Cluster, Worker, generators
    >>> g = generators.fork_join(6, gpu_share=0.0, cpu_only_share=1.0, seed=0)  # 8 cpu-only tasks
    >>> c = Cluster([Worker("cpu0", "cpu", 1.0), Worker("cpu1", "cpu", 3.0)])  # total speed 4
    >>> round(lp_bound(Problem(g, c)), 9) == round(sum(g.cost(t)["cpu"] for t in g) / 4.0, 9)
    True
    """
    return lp_relaxation(problem)[0]


def window_bound(problem: Problem, *, lower: float = 0.0, upper: float | None = None, time_limit: float = 2.0,
                 tolerance: float = 1e-3) -> float:
    """Largest ``T`` proven infeasible for whole-task assignment with time windows (see the module docstring).

    Parameters
    ----------
    problem : Problem
    lower, upper : float
        Known bounds on the optimum: ``upper`` a makespan some schedule achieves (default: HEFT's).
    time_limit : float
        Seconds for the whole bisection; a step that runs out of time counts as feasible, so the result
        stays a valid bound (just a weaker one).
    tolerance : float
        Stop when ``upper - lower`` is below this fraction of ``upper``.

    Returns
    -------
    float
        ``max(lower, largest T proven infeasible)``.

    Examples
    --------
    Two tasks of 1 s on the GPU or 3 s on the CPU, one GPU and one CPU: the LP bound splits work across
    both (1.5 s); whole tasks cannot do better than 2 s.

    >>> from hetflow.taskgraph import Cluster, TaskGraph
    >>> g = TaskGraph(name="g")
    >>> for i in range(2): g.add_task(i, {"cpu": 3.0, "gpu": 1.0})
    >>> p = Problem(g, Cluster.local(gpus=1, cpus=1))
    >>> lp_bound(p), round(window_bound(p), 2)
    (1.5, 2.0)
    """
    import time

    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import coo_matrix

    if problem.n == 0:
        return 0.0
    deadline = time.perf_counter() + time_limit
    if upper is None:
        from hetflow.solvers.heft import heft

        upper = heft(problem).makespan
    head, tail = earliest_starts(problem), optimistic_cost_table(problem, comm="exact")
    need = head + tail  # [t, w]: time a schedule needs besides the task itself, when the task runs on w
    groups: dict[bytes, list[int]] = {}
    for t in range(problem.n):
        groups.setdefault(problem.exec[t].tobytes(), []).append(t)
    members = list(groups.values())
    cost = np.array([problem.exec[m[0]] for m in members])  # [group, worker], inf where it cannot run
    count = np.array([len(m) for m in members], dtype=float)
    slack = np.array([need[m].min(axis=0) for m in members])  # loosest window of the group's tasks
    # no task on w starts before the earliest head there, nor ends after T minus the shortest tail (a worker
    # that runs anything has T >= reserved by its task's window; an idle one has load 0)
    def least(table: np.ndarray) -> np.ndarray:
        return np.where(problem.runnable, table, np.inf).min(axis=0)

    reserved = least(head) + least(tail)
    reserved[~np.isfinite(reserved)] = 0.0  # a worker that can run nothing

    def infeasible(T: float) -> bool:
        fits = np.isfinite(cost) & (cost + slack <= T)
        g_idx, w_idx = np.nonzero(fits)
        if len(np.unique(g_idx)) < len(members):
            return True  # some task fits on no worker
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            return False
        n_vars = len(g_idx)
        assign = coo_matrix((np.ones(n_vars), (g_idx, np.arange(n_vars))), shape=(len(members), n_vars))
        load = coo_matrix((cost[g_idx, w_idx], (w_idx, np.arange(n_vars))), shape=(problem.n_workers, n_vars))
        result = milp(np.zeros(n_vars), integrality=np.ones(n_vars), bounds=Bounds(0, count[g_idx]),
                      constraints=[LinearConstraint(assign, count, count),
                                   LinearConstraint(load, -np.inf, np.maximum(T - reserved, 0.0))],
                      options={"time_limit": remaining})
        return result.status == 2  # proven infeasible; a timeout proves nothing

    lo, hi = lower, upper
    while hi - lo > tolerance * hi and time.perf_counter() < deadline:
        mid = (lo + hi) / 2
        if infeasible(mid):
            lo = mid
        else:
            hi = mid
    return lo


def lower_bounds(problem: Problem, *, window_seconds: float = 0.0) -> dict[str, float]:
    """The bounds by name; ``window`` only with ``window_seconds > 0``.

    Examples
    --------
    >>> from hetflow.taskgraph import Cluster, generators
    >>> p = Problem(generators.out_tree(3, seed=1), Cluster.local(gpus=1, cpus=2))
    >>> sorted(lower_bounds(p)), sorted(lower_bounds(p, window_seconds=0.5))
    (['lp', 'path'], ['lp', 'path', 'window'])
    """
    if problem.n == 0:
        return {"path": 0.0, "lp": 0.0, **({"window": 0.0} if window_seconds > 0 else {})}
    bounds = {"path": path_bound(problem), "lp": lp_bound(problem)}
    if window_seconds > 0:
        bounds["window"] = window_bound(problem, lower=max(bounds.values()), time_limit=window_seconds)
    return bounds


def lower_bound(graph: TaskGraph | Problem, cluster: Cluster | None = None, *, window_seconds: float = 0.0) -> float:
    """The best lower bound on the makespan of ``graph`` on ``cluster``.

    ``window_seconds > 0`` also tries the window bound (a MILP) for that long.

    Examples
    --------
    >>> from hetflow.taskgraph import Cluster, TaskGraph
    >>> g = TaskGraph(name="g")
    >>> for i in range(4): g.add_task(i, {"cpu": 4.0, "gpu": 1.0})
    >>> lower_bound(g, Cluster.local(gpus=1, cpus=1))  # 4 tasks, capacity 1 gpu + 1 cpu
    3.2
    """
    problem = graph if isinstance(graph, Problem) else Problem(graph, cluster)
    return round(max(lower_bounds(problem, window_seconds=window_seconds).values()), 12)
