"""HEFT — Heterogeneous Earliest Finish Time (Topcuoglu, Hariri & Wu, IEEE TPDS 2002).

Objective: short makespan on heterogeneous workers. Idea: order tasks by upward rank (mean run time plus
the longest mean path to an exit), then put each on the worker where it *finishes* earliest, filling idle
gaps (insertion policy). Ties in rank go to the task earlier in topological order, as in SAGA.
``averaging`` picks how the rank averages transfers (:data:`hetflow.solvers.ranks.AVERAGING`): SAGA's
convention by default, which is what ``tests/test_saga_equivalence.py`` checks; the others are the
papers' and a numpy implementation's readings of "mean transfer time", and can order tasks differently.
Complexity ``O(V log V + (V + E) W)``.
"""

from __future__ import annotations

import numpy as np
from hetflow.solvers.fastlist import list_schedule
from hetflow.solvers.listsched import ListResult
from hetflow.solvers.problem import Problem
from hetflow.solvers.ranks import upward_rank
from hetflow.solvers.registry import register_solver

__all__ = ["heft", "heft_order"]


def heft_order(problem: Problem, rank: np.ndarray | None = None) -> np.ndarray:
    """Tasks by decreasing upward rank, earlier topological position first on ties.

    Examples
    --------
    >>> from hetflow.taskgraph import Cluster, generators
    >>> order = heft_order(Problem(generators.fork_join(3, seed=0), Cluster.local(gpus=1, cpus=2)))
    >>> int(order[0]), int(order[-1])  # the fork first, the join last
    (0, 4)
    """
    rank = upward_rank(problem) if rank is None else rank
    return np.lexsort((np.arange(problem.n), -rank))


@register_solver("heft", capabilities={"warm_up": True})
def heft(problem: Problem, *, seed: int = 0, insertion: bool = True, averaging: str = "saga") -> ListResult:
    """Plan with HEFT (``seed`` is unused: HEFT is deterministic); ``averaging`` as in the module docstring.

    Examples
    --------
    >>> from hetflow.taskgraph import Cluster, TaskGraph
    >>> g = TaskGraph(name="fork"); g.add_task("pre", {"cpu": 1.0})
    >>> for i in range(3): g.add_task(f"emb{i}", {"cpu": 4.0, "gpu": 1.0}); g.add_edge("pre", f"emb{i}", bytes=1e8)
    >>> p = Problem(g, Cluster.local(gpus=1, cpus=2))  # workers gpu0, cpu0, cpu1
    >>> r = heft(p)
    >>> [p.worker_names[w] for w in r.worker], r.makespan  # the embeddings queue on the gpu
    (['cpu0', 'gpu0', 'gpu0', 'gpu0'], 4.1)
    """
    return list_schedule(problem, order=heft_order(problem, upward_rank(problem, averaging)), insertion=insertion)
