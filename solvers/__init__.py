"""Planners for hetflow: turn a TaskGraph and a Cluster into a Schedule.

``plan(graph, cluster, solver="dp")`` is the entry point; :func:`solver_names` lists the registered
solvers and :func:`lower_bound` tells how far any makespan can go.
"""

from solvers.bounds import lower_bound
from solvers.problem import Problem
from solvers.registry import SOLVERS, plan, register_solver, solver_names
from solvers.schedule import InvalidSchedule, Placement, Schedule

import solvers.builtin  # noqa: E402,F401,I001  (registers the built-in solvers)

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
