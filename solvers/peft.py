"""PEFT — Predict Earliest Finish Time (Arabnejad & Barbosa, IEEE TPDS 2014).

Objective: short makespan with one step of lookahead. Idea: a dynamic program from the exit tasks builds
the optimistic cost table ``OCT(t, p)`` — the shortest remaining path if ``t`` runs on ``p`` and every
later task gets its best worker, ignoring contention. Tasks leave a ready list by ``rank_oct`` (mean of
their OCT row) and go to the worker minimising ``EFT(t, p) + OCT(t, p)``, so a task avoids a worker whose
children would pay for it later. Complexity ``O(V^2 W)`` in the paper, ``O((V + E) W)`` here.
"""

from __future__ import annotations

import numpy as np
from hetflow.solvers.fastlist import list_schedule
from hetflow.solvers.listsched import ListResult
from hetflow.solvers.problem import Problem
from hetflow.solvers.ranks import optimistic_cost_table
from hetflow.solvers.registry import register_solver

__all__ = ["peft"]


@register_solver("peft", capabilities={"warm_up": True})
def peft(problem: Problem, *, seed: int = 0, averaging: str = "saga") -> ListResult:
    """Plan with PEFT (deterministic; ``seed`` is unused). ``averaging``: how the table averages transfers
    (:data:`hetflow.solvers.ranks.AVERAGING`; the paper's mean over links is ``"links"``).

    Examples
    --------
    >>> from hetflow.solvers.heft import heft
    >>> from hetflow.taskgraph.generators import layered_random, random_cluster
    >>> p = Problem(layered_random(20, seed=0), random_cluster(1, 2, seed=0))
    >>> round(peft(p).makespan, 3), round(heft(p).makespan, 3)  # the lookahead pays off here
    (83.847, 92.669)
    """
    table = optimistic_cost_table(problem, averaging=averaging)
    runnable = problem.runnable
    rank_oct = np.where(runnable, table, 0.0).sum(axis=1) / runnable.sum(axis=1)
    return list_schedule(problem, priority=rank_oct, bias=table)
