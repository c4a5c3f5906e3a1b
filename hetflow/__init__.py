"""hetflow: plan task graphs onto heterogeneous GPU/CPU Dask clusters, and run the plans with Prefect.

The public face of three packages that live in the repository's top-level folders:

* :mod:`hetflow.taskgraph` — :class:`TaskGraph` (a networkx DAG with per-device-class costs and edge bytes),
  :class:`Cluster`, file formats, generators and the LLM workload (:mod:`hetflow.workloads`);
* :mod:`hetflow.solvers` — :func:`plan` (``dp``, HEFT, CPOP, PEFT, exact, CP-SAT, ...) and :func:`lower_bound`;
* :mod:`hetflow.flows` — :func:`run_plan` (a Prefect flow over dask.distributed) and the ``hetflow`` CLI.

Examples
--------
>>> import hetflow as hf
>>> g = hf.TaskGraph(name="two")
>>> g.add_task("pre", {"cpu": 2.0})
>>> g.add_task("embed", {"cpu": 8.0, "gpu": 1.0})
>>> g.add_edge("pre", "embed", bytes=1e6)
>>> cluster = hf.Cluster.local(gpus=1, cpus=1)
>>> hf.plan(g, cluster, solver="heft").makespan
3.001
>>> hf.lower_bound(g, cluster) <= 3.001
True
"""

from __future__ import annotations

import os
from typing import Any


def _source_tree_path() -> list[str]:
    """The repository root when this file runs from a source checkout, else nothing.

    In a checkout, ``hetflow.taskgraph`` & co. are the top-level folders beside ``hetflow/``; searching the
    root too makes them resolve from the same tree as this file (a second checkout run from its own root, or
    with ``PYTHONPATH`` pointing at it, never mixes in the editable install's files). Installed wheels hold
    the subpackages inside ``hetflow/`` and need nothing.
    """
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    marks = ("pyproject.toml", "taskgraph", "solvers", "flows")
    return [root] if all(os.path.exists(os.path.join(root, m)) for m in marks) else []


__path__ = [*__path__, *_source_tree_path()]  # before the imports below: they resolve through it

from hetflow.solvers import Schedule, lower_bound, plan, register_solver, solver_names  # noqa: E402
from hetflow.taskgraph import (  # noqa: E402
    Cluster,
    InvalidInput,
    TaskGraph,
    Worker,
    load_graph,
    save_graph,
)

__version__ = "0.1.0"

__all__ = [
    "TaskGraph",
    "Cluster",
    "Worker",
    "Schedule",
    "InvalidInput",
    "load_graph",
    "save_graph",
    "plan",
    "lower_bound",
    "solver_names",
    "register_solver",
    "run_plan",
    "compute",
    "plan_dask",
    "annotate",
    "CostStore",
    "workloads",
    "generators",
]

# Heavy or optional parts load on first use: Prefect and Dask for running, numpy-heavy generators.
_LAZY = {
    "run_plan": ("hetflow.flows.orchestration.flow", "run_plan"),
    "compute": ("hetflow.flows.compute", "compute"),
    "plan_dask": ("hetflow.flows.compute", "plan_dask"),
    "annotate": ("hetflow.taskgraph.dask_graph", "annotate"),
    "CostStore": ("hetflow.taskgraph.coststore", "CostStore"),
    "workloads": ("hetflow.taskgraph.workloads", None),
    "generators": ("hetflow.taskgraph.generators", None),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from hetflow.flows.extras import import_module  # a missing extra: one message naming it

        module, attr = _LAZY[name]
        value = import_module(module, f"hetflow.{name}")
        return value if attr is None else getattr(value, attr)
    raise AttributeError(f"module 'hetflow' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
