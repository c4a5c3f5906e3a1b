"""CPOP — Critical Path On a Processor (Topcuoglu, Hariri & Wu, IEEE TPDS 2002).

Objective: short makespan by keeping the critical path on one fast worker. Idea: priority
``rank_u + rank_d``; the critical path is walked from the entry task of highest priority ``|CP|``, taking
at each step a child whose priority equals ``|CP|`` (as in the paper: one path, even when identical
copies of it tie). Its tasks go to the worker that runs them fastest in total; the others go, highest
priority first from a ready list, to the worker of earliest finish (insertion policy).
hetflow's model lets a path mix device classes; the path's worker is then the one minimising the path's
length when the tasks it cannot run take their best time elsewhere, and those tasks are placed like any
other. ``downward="saga"`` reproduces SAGA 2.0.2 instead (its rank_d, and every task whose priority is
close to ``|CP|`` pinned).
Complexity ``O(V log V + (V + E) W)``.
"""

from __future__ import annotations

import numpy as np
from hetflow.solvers.fastlist import list_schedule
from hetflow.solvers.listsched import ListResult
from hetflow.solvers.problem import Problem
from hetflow.solvers.ranks import downward_rank, upward_rank
from hetflow.solvers.registry import register_solver

__all__ = ["cpop", "critical_path_tasks"]


def critical_path_tasks(
    problem: Problem, priority: np.ndarray, cp_value: float | None = None, *, walk: bool = True
) -> np.ndarray:
    """The critical path: from the entry task of highest priority ``|CP|``, children of priority ``|CP|``.

    ``walk=False`` returns every task whose priority is close to ``cp_value`` (SAGA's reading, in which
    identical copies of the path all count).

    Examples
    --------
    >>> from hetflow.solvers.ranks import downward_rank, upward_rank
    >>> from hetflow.taskgraph import Cluster, generators
    >>> p = Problem(generators.fork_join(3, seed=4), Cluster.local(gpus=1, cpus=1))
    >>> critical_path_tasks(p, upward_rank(p) + downward_rank(p)).tolist()  # the fork, one branch, the join
    [0, 1, 4]
    """
    entries = [i for i in range(problem.n) if not problem.preds[i]]
    head = max(entries, key=lambda i: (priority[i], -i))
    if cp_value is None:
        cp_value = priority[head]
    if not walk:
        return np.flatnonzero(np.isclose(priority, cp_value))
    path = [head]
    while True:
        on_path = [j for j in problem.succs[path[-1]] if np.isclose(priority[j], cp_value)]
        if not on_path:
            return np.array(path)
        path.append(min(on_path))


@register_solver("cpop", capabilities={"warm_up": True})
def cpop(problem: Problem, *, seed: int = 0, downward: str = "published") -> ListResult:
    """Plan with CPOP. ``downward="saga"`` reproduces SAGA 2.0.2 (see the module docstring).

    Examples
    --------
    >>> from hetflow.taskgraph import Cluster, generators
    >>> chain = Problem(generators.chain(4, seed=0), Cluster.local(gpus=2, cpus=2))
    >>> cpop(chain).worker.tolist()  # a chain is its own critical path: all on the one worker best for it
    [2, 2, 2, 2]
    """
    up = upward_rank(problem)
    priority = up + downward_rank(problem, variant=downward)
    saga = downward == "saga"
    entries = [i for i in range(problem.n) if not problem.preds[i]]
    # SAGA puts several entry tasks under a zero-cost super source: the path value is that task's priority
    cp_value = max(up[entries]) if saga and len(entries) > 1 else None
    path = critical_path_tasks(problem, priority, cp_value, walk=not saga)
    times = problem.exec[path]
    if saga:
        cp_worker = int(np.argmin(times.sum(axis=0)))
    else:  # tasks the worker cannot run count at their best time elsewhere
        best_elsewhere = times.min(axis=1, keepdims=True)
        cp_worker = int(np.argmin(np.where(np.isfinite(times), times, best_elsewhere).sum(axis=0)))
    return list_schedule(problem, priority=priority, pinned={int(i): cp_worker for i in path})
