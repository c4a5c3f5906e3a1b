"""Task graphs for hetflow: DAGs with per-device-class costs and edge bytes, clusters, generators, importers."""

from hetflow.taskgraph.cluster import Cluster, Link, Worker, check_runnable
from hetflow.taskgraph.errors import ClusterError, CostError, CycleError, DeviceError, FormatError, InvalidInput
from hetflow.taskgraph.graph import TaskGraph
from hetflow.taskgraph.io import graph_from_dict, graph_to_dict, load_graph, save_graph

__all__ = [
    "TaskGraph",
    "Cluster",
    "Worker",
    "Link",
    "check_runnable",
    "load_graph",
    "save_graph",
    "graph_from_dict",
    "graph_to_dict",
    "InvalidInput",
    "CycleError",
    "CostError",
    "DeviceError",
    "ClusterError",
    "FormatError",
]


def __getattr__(name: str):
    # Submodules with heavier imports load on first use: hetflow.taskgraph.generators, .workloads, .wfformat.
    if name in {"generators", "workloads", "wfformat"}:
        import importlib

        return importlib.import_module(f"hetflow.taskgraph.{name}")
    raise AttributeError(name)
