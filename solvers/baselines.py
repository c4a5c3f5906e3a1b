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


@register_solver("greedy", capabilities={"warm_up": True})
def greedy(problem: Problem, *, seed: int = 0) -> ListResult:
    """Fastest device class, then earliest start (deterministic).

    Examples
    --------
    >>> from hetflow.taskgraph import Cluster, TaskGraph
    >>> g = TaskGraph(name="g"); g.add_task("a", {"cpu": 1.0, "gpu": 0.9}); g.add_task("b", {"cpu": 1.0, "gpu": 0.9})
    >>> r = greedy(Problem(g, Cluster.local(gpus=1, cpus=1)))
    >>> r.worker.tolist(), r.makespan  # both on the gpu, 10 % faster there, while the cpu idles
    ([0, 0], 1.8)
    """
    devices = np.array([w.device for w in problem.cluster.workers])
    bias = np.full(problem.exec.shape, np.inf)
    for i in range(problem.n):
        best = devices[int(np.argmin(problem.exec[i]))]
        mine = devices == best
        bias[i, mine] = -problem.exec[i, mine]  # finish + bias = start
    return list_schedule(problem, order=range(problem.n), bias=bias, insertion=False)


@register_solver("random", capabilities={"warm_up": True})
def random_plan(problem: Problem, *, seed: int = 0) -> ListResult:
    """Random order and random capable workers, reproducible for ``seed``.

    Examples
    --------
    >>> from hetflow.taskgraph import Cluster, generators
    >>> p = Problem(generators.layered_random(20, seed=0), Cluster.local(gpus=1, cpus=2))
    >>> random_plan(p, seed=7).start.tolist() == random_plan(p, seed=7).start.tolist()
    True
    """
    rng = np.random.default_rng(seed)
    pinned = {i: int(rng.choice(np.flatnonzero(problem.runnable[i]))) for i in range(problem.n)}
    return list_schedule(problem, priority=rng.random(problem.n), pinned=pinned, insertion=False)
