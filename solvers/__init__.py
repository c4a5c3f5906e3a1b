"""Planners for hetflow: turn a TaskGraph and a Cluster into a Schedule.

``plan(graph, cluster, solver="dp")`` is the entry point; :func:`solver_names` lists the registered
solvers and :func:`lower_bound` tells how far any makespan can go.
"""

import solvers.builtin  # noqa: F401  (registers the built-in solvers)
from solvers.bounds import lower_bound
from solvers.problem import Problem
from solvers.registry import SOLVERS, plan, register_solver, solver_names
from solvers.schedule import InvalidSchedule, Placement, Schedule

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
