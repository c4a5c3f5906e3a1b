"""Planners for hetflow: turn a TaskGraph and a Cluster into a Schedule.

``plan(graph, cluster, solver="dp")`` is the entry point; :func:`solver_names` lists the registered
solvers and :func:`lower_bound` tells how far any makespan can go. Your own planner is a :class:`Solver`
(``fn(problem, *, seed, **options) -> ListResult``) registered with :func:`register_solver` and its
:class:`Capabilities`; :func:`hetflow.solvers.checks.check_solver` tests it against the contract.
"""

import hetflow.solvers.builtin  # noqa: F401  (registers the built-in solvers)
from hetflow.solvers.bounds import lower_bound
from hetflow.solvers.listsched import ListResult
from hetflow.solvers.problem import Problem
from hetflow.solvers.registry import (
    SOLVERS,
    Capabilities,
    Solver,
    check_solver_name,
    plan,
    register_solver,
    run_solver,
    solver_capabilities,
    solver_names,
)
from hetflow.solvers.schedule import InvalidSchedule, Placement, Schedule

__all__ = [
    "plan",
    "lower_bound",
    "solver_names",
    "register_solver",
    "check_solver_name",
    "solver_capabilities",
    "run_solver",
    "Solver",
    "Capabilities",
    "ListResult",
    "SOLVERS",
    "Problem",
    "Schedule",
    "Placement",
    "InvalidSchedule",
]
