"""HEFT — Heterogeneous Earliest Finish Time (Topcuoglu, Hariri & Wu, IEEE TPDS 2002).

Objective: short makespan on heterogeneous workers. Idea: order tasks by upward rank (mean run time plus
the longest mean path to an exit), then put each on the worker where it *finishes* earliest, filling idle
gaps (insertion policy). Ties in rank go to the task earlier in topological order, as in SAGA.
Complexity ``O(V log V + (V + E) W)``.
"""

from __future__ import annotations

import numpy as np
from hetflow.solvers.listsched import ListResult, list_schedule
from hetflow.solvers.problem import Problem
from hetflow.solvers.ranks import upward_rank
from hetflow.solvers.registry import register_solver

__all__ = ["heft", "heft_order"]


def heft_order(problem: Problem, rank: np.ndarray | None = None) -> np.ndarray:
    """Tasks by decreasing upward rank, earlier topological position first on ties."""
    rank = upward_rank(problem) if rank is None else rank
    return np.lexsort((np.arange(problem.n), -rank))


@register_solver("heft")
def heft(problem: Problem, *, seed: int = 0, insertion: bool = True) -> ListResult:
    """Plan with HEFT (``seed`` is unused: HEFT is deterministic)."""
    return list_schedule(problem, order=heft_order(problem), insertion=insertion)
