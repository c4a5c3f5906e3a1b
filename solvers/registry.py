"""Solver registry and :func:`plan`, the one entry point that turns ``(graph, cluster)`` into a Schedule."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from hetflow.solvers.listsched import ListResult
from hetflow.solvers.problem import Problem
from hetflow.solvers.schedule import Placement, Schedule
from hetflow.taskgraph import Cluster, TaskGraph
from hetflow.taskgraph.errors import InvalidInput

__all__ = ["register_solver", "SOLVERS", "plan", "to_schedule", "solver_names", "check_solver_name"]

SolverFn = Callable[..., ListResult]
SOLVERS: dict[str, SolverFn] = {}


def register_solver(name: str) -> Callable[[SolverFn], SolverFn]:
    """Register ``fn(problem, *, seed, **options) -> ListResult`` under ``name``."""

    def deco(fn: SolverFn) -> SolverFn:
        SOLVERS[name] = fn
        return fn

    return deco


def solver_names() -> list[str]:
    """The registered solver names, sorted."""
    return sorted(SOLVERS)


def check_solver_name(name: object) -> str:
    """Return ``name`` if a solver is registered under it, else raise :class:`InvalidInput` naming the choices.

    The one check of a solver name: :func:`plan`, the benchmark runner and the ``hetflow`` commands use it.

    Examples
    --------
    >>> check_solver_name("heft")
    'heft'
    >>> check_solver_name("nope")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    hetflow.taskgraph.errors.InvalidInput: unknown solver 'nope'; choose one of ...
    """
    import hetflow.solvers.builtin  # noqa: F401  (registers the built-in solvers)

    names = solver_names()
    if not isinstance(name, str) or name not in names:
        raise InvalidInput(f"unknown solver {name!r}; choose one of {', '.join(names)}")
    return name


def to_schedule(problem: Problem, result: ListResult, solver: str, plan_seconds: float = 0.0, **meta: Any) -> Schedule:
    """Wrap a :class:`ListResult` as a :class:`Schedule` (task ids and worker names restored)."""
    names = problem.worker_names
    worker = result.worker
    placements = [
        Placement(t, names[worker[i]], float(result.start[i]), float(result.finish[i]))
        for i, t in enumerate(problem.tasks)
    ]
    moved = problem.bytes_moved(worker)
    return Schedule(placements, solver=solver, plan_seconds=plan_seconds, transferred_bytes=moved, meta=meta)


def plan(graph: TaskGraph, cluster: Cluster, solver: str = "dp", *, seed: int = 0, **options: Any) -> Schedule:
    """Plan ``graph`` onto ``cluster`` with the named solver.

    Parameters
    ----------
    graph : TaskGraph
    cluster : Cluster
    solver : str
        A name from :func:`solver_names` (``"dp"``, ``"heft"``, ``"cpop"``, ``"peft"``, ...).
    seed : int
        Seed for randomised solvers; the same inputs and seed give the same schedule.
    **options
        Passed to the solver.

    Raises
    ------
    hetflow.taskgraph.errors.InvalidInput
        Bad graph or cluster (cycle, bad cost, a task no worker can run, ...) or an unknown solver.

    Examples
    --------
    >>> from hetflow.taskgraph import Cluster, TaskGraph
    >>> g = TaskGraph(name="g"); g.add_task("a", {"cpu": 2.0}); g.add_task("b", {"cpu": 8.0, "gpu": 1.0})
    >>> g.add_edge("a", "b", bytes=1e9)
    >>> plan(g, Cluster.local(gpus=1, cpus=1), solver="heft").makespan
    4.0
    """
    import hetflow.solvers.builtin  # noqa: F401  (registers the built-in solvers)

    check_solver_name(solver)
    graph.validate()
    t0 = time.perf_counter()
    problem = Problem(graph, cluster)
    result = SOLVERS[solver](problem, seed=seed, **options)
    meta = dict(getattr(result, "meta", {}) or {})
    elapsed = time.perf_counter() - t0
    assert np.all(result.worker >= 0)
    return to_schedule(problem, result, solver, elapsed, **meta)
