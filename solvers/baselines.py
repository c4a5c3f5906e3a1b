"""Two simple baselines every planner should beat.

* ``greedy``: each task, in topological order, goes to the device class where it runs fastest and there to
  the worker where it can start earliest — what a user pinning "GPU work to GPUs" by hand gets.
* ``random``: a seeded random topological order and a random capable worker per task.
"""

from __future__ import annotations

import numpy as np
from hetflow.solvers.listsched import ListResult, list_schedule
from hetflow.solvers.problem import Problem
from hetflow.solvers.registry import register_solver

__all__ = ["greedy", "random_plan"]


@register_solver("greedy")
def greedy(problem: Problem, *, seed: int = 0) -> ListResult:
    """Fastest device class, then earliest start (deterministic).

    Examples
    --------
    >>> from hetflow.taskgraph import Cluster, TaskGraph
    >>> g = TaskGraph(name="fork"); g.add_task("pre", {"cpu": 1.0})
    >>> for i in range(3): g.add_task(f"emb{i}", {"cpu": 4.0, "gpu": 1.0}); g.add_edge("pre", f"emb{i}", bytes=1e8)
    >>> p = Problem(g, Cluster.local(gpus=1, cpus=2))  # workers gpu0, cpu0, cpu1
    >>> r = greedy(p)
    >>> [p.worker_names[w] for w in r.worker], r.makespan  # every embedding to the gpu, where it is fastest
    (['cpu0', 'gpu0', 'gpu0', 'gpu0'], 4.1)
    """
    devices = np.array([w.device for w in problem.cluster.workers])
    bias = np.full(problem.exec.shape, np.inf)
    for i in range(problem.n):
        best = devices[int(np.argmin(problem.exec[i]))]
        mine = devices == best
        bias[i, mine] = -problem.exec[i, mine]  # finish + bias = start
    return list_schedule(problem, order=range(problem.n), bias=bias, insertion=False)


@register_solver("random")
def random_plan(problem: Problem, *, seed: int = 0) -> ListResult:
    """Random order and random capable workers, reproducible for ``seed``.

    Examples
    --------
    >>> from hetflow.taskgraph import Cluster, TaskGraph
    >>> g = TaskGraph(name="fork"); g.add_task("pre", {"cpu": 1.0})
    >>> for i in range(3): g.add_task(f"emb{i}", {"cpu": 4.0, "gpu": 1.0}); g.add_edge("pre", f"emb{i}", bytes=1e8)
    >>> p = Problem(g, Cluster.local(gpus=1, cpus=2))  # workers gpu0, cpu0, cpu1
    >>> random_plan(p, seed=1).worker.tolist() == random_plan(p, seed=1).worker.tolist()
    True
    >>> random_plan(p, seed=0).makespan >= 4.1  # never better than the optimum
    True
    """
    rng = np.random.default_rng(seed)
    pinned = {i: int(rng.choice(np.flatnonzero(problem.runnable[i]))) for i in range(problem.n)}
    return list_schedule(problem, priority=rng.random(problem.n), pinned=pinned, insertion=False)
