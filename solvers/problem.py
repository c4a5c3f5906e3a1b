"""`Problem`: a task graph and a cluster compiled to arrays, the common input of every solver.

Tasks are numbered in the graph's topological order and workers in cluster order. ``exec[i, w]`` is the
run time of task ``i`` on worker ``w`` (``inf`` where the task cannot run there); ``latency[a, b]`` and
``inv_bandwidth[a, b]`` give ``comm = latency + bytes * inv_bandwidth`` between different workers and are
zero on the diagonal, so the same-worker case needs no branch.
"""

from __future__ import annotations

import copy
from collections.abc import Hashable
from functools import cached_property

import numpy as np
from hetflow.taskgraph import Cluster, TaskGraph, check_runnable

__all__ = ["Problem"]


class Problem:
    """Array form of ``(graph, cluster)``; cheap to build (linear in tasks + edges).

    Examples
    --------
    >>> from hetflow.taskgraph import Cluster, TaskGraph
    >>> g = TaskGraph(name="g"); g.add_task("a", {"cpu": 2.0}); g.add_task("b", {"cpu": 4.0, "gpu": 1.0})
    >>> g.add_edge("a", "b", bytes=1e9)
    >>> p = Problem(g, Cluster.local(gpus=1, cpus=1, cpu_speed=2.0))
    >>> p.exec.tolist(), p.comm(1e9, 0, 1)
    ([[inf, 1.0], [1.0, 2.0]], 1.0)
    """

    def __init__(self, graph: TaskGraph, cluster: Cluster):
        check_runnable(graph, cluster)
        self.graph = graph
        self.cluster = cluster
        self.tasks: list[Hashable] = graph.tasks
        self.index = {t: i for i, t in enumerate(self.tasks)}
        self.n = n = len(self.tasks)
        self.n_workers = W = len(cluster.workers)
        self.worker_names = cluster.names

        costs = [graph.cost(t) for t in self.tasks]
        self.exec = np.full((n, W), np.inf)
        for device in sorted(cluster.devices):
            column = np.array([c.get(device, np.inf) for c in costs], dtype=float)
            for w, worker in enumerate(cluster.workers):
                if worker.device == device:
                    self.exec[:, w] = column / worker.speed

        self.latency = np.zeros((W, W))
        self.inv_bandwidth = np.zeros((W, W))
        for a, wa in enumerate(cluster.workers):
            for b, wb in enumerate(cluster.workers):
                if a != b:
                    bandwidth, latency = cluster.link(wa.name, wb.name)
                    self.latency[a, b] = latency
                    self.inv_bandwidth[a, b] = 1.0 / bandwidth

        index, G = self.index, graph.G
        self.preds: list[list[int]] = [[] for _ in range(n)]
        self.pred_bytes: list[list[float]] = [[] for _ in range(n)]
        self.succs: list[list[int]] = [[] for _ in range(n)]
        self.succ_bytes: list[list[float]] = [[] for _ in range(n)]
        for u, v, nbytes in G.edges(data="bytes", default=0.0):
            i, j = index[u], index[v]
            self.preds[j].append(i)
            self.pred_bytes[j].append(nbytes)
            self.succs[i].append(j)
            self.succ_bytes[i].append(nbytes)

    def bytes_moved(self, worker: np.ndarray) -> float:
        """Bytes that cross between different workers when task ``i`` runs on ``worker[i]``."""
        return float(sum(b for j in range(self.n) for i, b in zip(self.preds[j], self.pred_bytes[j])
                         if worker[i] != worker[j]))

    def with_comm_scaled(self, factor: float) -> Problem:
        """The same problem with every transfer ``factor`` times as long (tasks and graph shared, not copied).

        Examples
        --------
        >>> from hetflow.taskgraph import Cluster, TaskGraph
        >>> g = TaskGraph(name="g"); g.add_task("a", {"cpu": 1.0}); g.add_task("b", {"cpu": 1.0})
        >>> g.add_edge("a", "b", bytes=1e9)
        >>> p = Problem(g, Cluster.local(gpus=0, cpus=2))
        >>> p.comm(1e9, 0, 1), p.with_comm_scaled(4).comm(1e9, 0, 1)
        (1.0, 4.0)
        """
        scaled = copy.copy(self)
        for derived in ("mean_comm_coefficients", "min_comm_coefficients"):  # cached from the old links
            scaled.__dict__.pop(derived, None)
        scaled.latency = self.latency * factor
        scaled.inv_bandwidth = self.inv_bandwidth * factor
        return scaled

    def comm(self, nbytes: float, a: int, b: int) -> float:
        """Transfer time of ``nbytes`` from worker ``a`` to worker ``b``."""
        return float(self.latency[a, b] + nbytes * self.inv_bandwidth[a, b])

    @cached_property
    def runnable(self) -> np.ndarray:
        """Boolean ``(n, W)``: task ``i`` can run on worker ``w``."""
        return np.isfinite(self.exec)

    @cached_property
    def mean_exec(self) -> np.ndarray:
        """Mean run time of each task over the workers that can run it."""
        finite = np.where(self.runnable, self.exec, 0.0)
        return finite.sum(axis=1) / self.runnable.sum(axis=1)

    @cached_property
    def min_exec(self) -> np.ndarray:
        return self.exec.min(axis=1)

    @cached_property
    def mean_comm_coefficients(self) -> tuple[float, float]:
        """``(latency, seconds per byte)`` averaged like SAGA does: over unordered worker pairs, self-pairs included.

        A self-pair costs nothing, so with one worker the mean is zero.
        """
        W = self.n_workers
        upper = np.triu_indices(W, k=1)
        pairs = W * (W + 1) / 2
        return float(self.latency[upper].sum() / pairs), float(self.inv_bandwidth[upper].sum() / pairs)

    def mean_comm(self, nbytes: float) -> float:
        latency, per_byte = self.mean_comm_coefficients
        return latency + nbytes * per_byte

    @cached_property
    def min_comm_coefficients(self) -> tuple[float, float]:
        """Cheapest ``(latency, seconds per byte)`` between two different workers (0, 0 with one worker)."""
        if self.n_workers == 1:
            return 0.0, 0.0
        off = ~np.eye(self.n_workers, dtype=bool)
        return float(self.latency[off].min()), float(self.inv_bandwidth[off].min())
