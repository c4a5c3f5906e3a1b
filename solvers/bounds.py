"""Lower bounds on the makespan of any schedule of a graph on a cluster.

* ``path``: the earliest finish of every task with unlimited workers — a forward dynamic program over
  (task, worker) in which a task runs on each worker as fast as that worker allows and data crosses
  between different workers over the cluster's cheapest link (free on the same worker). Contention is
  ignored, so no schedule can finish earlier. It is at least the critical path at best speed.
* ``lp``: work against capacity. A fraction ``x[t, c]`` of each task goes to device class ``c``, whose
  capacity in time ``T`` is ``T`` times the sum of its workers' speeds; the smallest feasible ``T`` (a
  linear program) bounds the makespan because the cost model charges ``cost / speed`` per worker.

``lower_bound`` is the larger of the two.
"""

from __future__ import annotations

import numpy as np

from solvers.problem import Problem
from taskgraph import Cluster, TaskGraph

__all__ = ["lower_bound", "lower_bounds", "path_bound", "lp_bound", "lp_relaxation"]


def path_bound(problem: Problem) -> float:
    """Longest path with every task at its fastest and transfers over the cheapest link."""
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
    """Smallest ``T`` such that the work fits the device classes' total speed (solved with HiGHS)."""
    return lp_relaxation(problem)[0]


def lower_bounds(problem: Problem) -> dict[str, float]:
    """Both bounds, by name."""
    if problem.n == 0:
        return {"path": 0.0, "lp": 0.0}
    return {"path": path_bound(problem), "lp": lp_bound(problem)}


def lower_bound(graph: TaskGraph | Problem, cluster: Cluster | None = None) -> float:
    """The best lower bound on the makespan of ``graph`` on ``cluster``.

    Examples
    --------
    >>> from taskgraph import Cluster, TaskGraph
    >>> g = TaskGraph(name="g")
    >>> for i in range(4): g.add_task(i, {"cpu": 4.0, "gpu": 1.0})
    >>> lower_bound(g, Cluster.local(gpus=1, cpus=1))  # 4 tasks, capacity 1 gpu + 1 cpu
    3.2
    """
    problem = graph if isinstance(graph, Problem) else Problem(graph, cluster)
    return round(max(lower_bounds(problem).values()), 12)
