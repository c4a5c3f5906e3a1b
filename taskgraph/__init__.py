"""Task graphs for hetflow: DAGs with per-device-class costs and edge bytes, clusters, generators, importers."""

from taskgraph.cluster import Cluster, Link, Worker, check_runnable
from taskgraph.errors import ClusterError, CostError, CycleError, DeviceError, FormatError, InvalidInput
from taskgraph.graph import TaskGraph
from taskgraph.io import graph_from_dict, graph_to_dict, load_graph, save_graph

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
    # Submodules with heavier imports load on first use: taskgraph.generators, .workloads, .wfformat.
    if name in {"generators", "workloads", "wfformat"}:
        import importlib

        return importlib.import_module(f"taskgraph.{name}")
    raise AttributeError(name)
