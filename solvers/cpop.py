"""CPOP — Critical Path On a Processor (Topcuoglu, Hariri & Wu, IEEE TPDS 2002).

Objective: short makespan by keeping the critical path on one fast worker. Idea: priority
``rank_u + rank_d``; the tasks whose priority equals the entry task's (the critical path, ``|CP|``) all go
to the worker that runs them fastest in total; the others go, highest priority first from a ready list,
to the worker of earliest finish (insertion policy). In hetflow's model a critical-path task that cannot
run on that worker is placed like any other task.
Complexity ``O(V log V + (V + E) W)``.
"""

from __future__ import annotations

import numpy as np

from solvers.listsched import ListResult, list_schedule
from solvers.problem import Problem
from solvers.ranks import downward_rank, upward_rank
from solvers.registry import register_solver

__all__ = ["cpop", "critical_path_tasks"]


def critical_path_tasks(problem: Problem, priority: np.ndarray) -> np.ndarray:
    """Indices of the tasks whose priority equals the highest entry-task priority (``np.isclose``)."""
    entries = [i for i in range(problem.n) if not problem.preds[i]]
    cp_value = max(priority[i] for i in entries)
    return np.flatnonzero(np.isclose(priority, cp_value))


@register_solver("cpop")
def cpop(problem: Problem, *, seed: int = 0, downward: str = "published") -> ListResult:
    """Plan with CPOP. ``downward="saga"`` uses SAGA 2.0.2's downward rank (see :func:`downward_rank`)."""
    priority = upward_rank(problem) + downward_rank(problem, variant=downward)
    path = critical_path_tasks(problem, priority)
    times = problem.exec[path]
    runs_all = np.isfinite(times).sum(axis=0)
    total = np.where(np.isfinite(times), times, 0.0).sum(axis=0)
    # the worker that can run most of the path, then the one that runs it fastest
    cp_worker = int(np.lexsort((np.arange(problem.n_workers), total, -runs_all))[0])
    return list_schedule(problem, priority=priority, pinned={int(i): cp_worker for i in path})
