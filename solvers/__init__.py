"""Planners for hetflow: turn a TaskGraph and a Cluster into a Schedule.

``plan(graph, cluster, solver="dp")`` is the entry point; :func:`solver_names` lists the registered
solvers and :func:`lower_bound` tells how far any makespan can go.
"""

import hetflow.solvers.builtin  # noqa: F401  (registers the built-in solvers)
from hetflow.solvers.bounds import lower_bound
from hetflow.solvers.problem import Problem
from hetflow.solvers.registry import SOLVERS, plan, register_solver, solver_names
from hetflow.solvers.schedule import InvalidSchedule, Placement, Schedule

__all__ = [
    "plan",
    "lower_bound",
    "solver_names",
    "register_solver",
    "SOLVERS",
    "Problem",
    "Schedule",
    "Placement",
    "InvalidSchedule",
]
