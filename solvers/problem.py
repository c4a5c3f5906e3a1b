"""`Problem`: a task graph and a cluster compiled to arrays, the common input of every solver.

Tasks are numbered in the graph's topological order and workers in cluster order. ``exec[i, w]`` is the
run time of task ``i`` on worker ``w`` (``inf`` where the task cannot run there).

The network is stored by exception, in ``O(workers + classes^2)`` memory: workers whose links to everyone
else are the same form a *link class* (:meth:`hetflow.taskgraph.Cluster.link_classes`; without listed links
there is one), ``link_class[w]`` is worker ``w``'s class, and ``class_latency[c, d]`` and
``class_inv_bandwidth[c, d]`` give ``comm = latency + bytes * inv_bandwidth`` between *different* workers of
classes ``c`` and ``d``; the same worker costs nothing. Solvers read the network through :meth:`Problem.comm`,
:meth:`Problem.link_rows`, :meth:`Problem.arrivals` and (compiled code) the class tables. The dense
``(W, W)`` tables :attr:`Problem.latency` and :attr:`Problem.inv_bandwidth` (zero on the diagonal) are
built only when asked for, and used by those methods only on small clusters where they are faster; every
method returns the very same floats either way.
"""

from __future__ import annotations

import copy
from collections.abc import Hashable
from functools import cached_property
from typing import overload

import numpy as np
from hetflow.taskgraph import Cluster, TaskGraph, check_runnable

__all__ = ["Problem", "DENSE_LINKS", "DENSE_MEAN"]

DENSE_LINKS = 64  # up to this many workers the link methods use the (W, W) tables: fewer, larger numpy calls
DENSE_MEAN = 1024  # up to this many workers the mean link cost sums the (W, W) table as it always did


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

        classes, links = cluster.link_classes()
        self.link_class = np.array(classes, dtype=np.int64)
        C = int(self.link_class.max()) + 1
        self.class_latency = np.full((C, C), cluster.latency)
        self.class_inv_bandwidth = np.full((C, C), 1.0 / cluster.bandwidth)
        for (c, d), (bandwidth, latency) in links.items():
            self.class_latency[c, d] = latency
            self.class_inv_bandwidth[c, d] = 1.0 / bandwidth
        order = np.argsort(self.link_class, kind="stable")
        self.class_members = np.split(order, np.flatnonzero(np.diff(self.link_class[order])) + 1)
        self.dense_links = W <= DENSE_LINKS  # link methods read the (W, W) tables (built on first use)

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
        for derived in ("latency", "inv_bandwidth", "mean_comm_coefficients", "min_comm_coefficients"):
            scaled.__dict__.pop(derived, None)  # cached from the old links
        scaled.class_latency = self.class_latency * factor
        scaled.class_inv_bandwidth = self.class_inv_bandwidth * factor
        return scaled

    def comm(self, nbytes: float, a: int, b: int) -> float:
        """Transfer time of ``nbytes`` from worker ``a`` to worker ``b``."""
        if a == b:
            return 0.0
        c, d = self.link_class[a], self.link_class[b]
        return float(self.class_latency[c, d] + nbytes * self.class_inv_bandwidth[c, d])

    @cached_property
    def latency(self) -> np.ndarray:
        """``(W, W)`` latency between workers, zero on the diagonal (``O(W^2)`` memory: small clusters only)."""
        return self._dense(self.class_latency)

    @cached_property
    def inv_bandwidth(self) -> np.ndarray:
        """``(W, W)`` seconds per byte between workers, zero on the diagonal (``O(W^2)`` memory)."""
        return self._dense(self.class_inv_bandwidth)

    def _dense(self, table: np.ndarray) -> np.ndarray:
        dense = table[np.ix_(self.link_class, self.link_class)]
        np.fill_diagonal(dense, 0.0)
        return dense

    def link_rows(self, a: int) -> tuple[np.ndarray, np.ndarray]:
        """``(latency, inv_bandwidth)`` from worker ``a`` to every worker (zero at ``a``); do not modify them.

        Examples
        --------
        >>> from hetflow.taskgraph import Cluster, TaskGraph
        >>> g = TaskGraph(name="g"); g.add_task("a", {"cpu": 1.0})
        >>> p = Problem(g, Cluster.local(gpus=0, cpus=3, bandwidth=2.0, latency=0.5))
        >>> [row.tolist() for row in p.link_rows(1)]
        [[0.5, 0.0, 0.5], [0.5, 0.0, 0.5]]
        """
        if self.dense_links:
            return self.latency[a], self.inv_bandwidth[a]
        c = self.link_class[a]
        latency, inv_bandwidth = self.class_latency[c][self.link_class], self.class_inv_bandwidth[c][self.link_class]
        latency[a] = inv_bandwidth[a] = 0.0
        return latency, inv_bandwidth

    @overload
    def arrivals(self, finish: np.ndarray, nbytes: float) -> np.ndarray: ...

    @overload
    def arrivals(self, finish: np.ndarray, nbytes: float, argmin: bool) -> tuple[np.ndarray, np.ndarray]: ...

    def arrivals(self, finish, nbytes, argmin=False):
        """Earliest arrival on every worker of ``nbytes`` leaving worker ``a`` at ``finish[a]``, over all ``a``.

        ``out[b] = min_a finish[a] + comm(nbytes, a, b)``, evaluated as ``(finish[a] + latency) + nbytes *
        inv_bandwidth`` — bit for bit the column minimum of the dense ``finish[:, None] + latency + nbytes *
        inv_bandwidth``. With ``argmin`` also the lowest ``a`` attaining each minimum (``np.argmin`` of that
        matrix along axis 0). ``O(W * classes)`` time and ``O(W)`` memory on large clusters: rounding is
        monotone, so within a class of senders the earliest one arrives first.

        Examples
        --------
        >>> from hetflow.taskgraph import Cluster, TaskGraph
        >>> g = TaskGraph(name="g"); g.add_task("a", {"cpu": 1.0})
        >>> p = Problem(g, Cluster.local(gpus=0, cpus=3, bandwidth=1.0, latency=0.5))
        >>> [x.tolist() for x in p.arrivals(np.array([0.0, 1.0, 9.0]), 2.0, argmin=True)]
        [[0.0, 1.0, 2.5], [0, 1, 0]]
        """
        if self.dense_links:
            arrive = finish[:, None] + self.latency + nbytes * self.inv_bandwidth  # [from, to]
            return (arrive.min(axis=0), np.argmin(arrive, axis=0)) if argmin else arrive.min(axis=0)
        out = np.empty(self.n_workers)
        best = np.empty(self.n_workers, dtype=np.int64) if argmin else None
        sender = self.link_class
        for d, members in enumerate(self.class_members):
            # to a member b of class d: from b itself at finish[b], else as from a different worker of d
            sent = finish + self.class_latency[sender, d] + nbytes * self.class_inv_bandwidth[sender, d]
            first = int(np.argmin(sent))
            own = finish[members]
            out[members] = np.minimum(own, sent[first])  # sent[b] >= finish[b]: counting b there changes nothing
            if argmin:
                best[members] = np.where(own < sent[first], members,
                                         np.where(own > sent[first], first, np.minimum(members, first)))
        return (out, best) if argmin else out

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

        A self-pair costs nothing, so with one worker the mean is zero. Up to ``DENSE_MEAN`` workers the sum
        runs over the dense table (as it always did, so plans stay bit for bit the same); above, over the
        class tables weighted by their pair counts (equal up to the last bits of rounding).
        """
        W = self.n_workers
        pairs = W * (W + 1) / 2
        if W <= DENSE_MEAN:
            upper = np.triu_indices(W, k=1)
            latency, inv_bandwidth = self._dense(self.class_latency), self._dense(self.class_inv_bandwidth)
            return float(latency[upper].sum() / pairs), float(inv_bandwidth[upper].sum() / pairs)
        size = np.array([len(m) for m in self.class_members], dtype=float)
        count = np.triu(np.outer(size, size), k=1) + np.diag(size * (size - 1) / 2)  # pairs per class pair
        return (float((count * self.class_latency).sum() / pairs),
                float((count * self.class_inv_bandwidth).sum() / pairs))

    def mean_comm(self, nbytes: float) -> float:
        latency, per_byte = self.mean_comm_coefficients
        return latency + nbytes * per_byte

    @property
    def mean_edge_comm(self) -> float:
        """Mean transfer time of an edge over the mean link (:attr:`mean_comm_coefficients`); 0 without edges."""
        edges = sum(len(p) for p in self.preds)
        if not edges:
            return 0.0
        latency, per_byte = self.mean_comm_coefficients
        return latency + per_byte * sum(sum(b) for b in self.pred_bytes) / edges

    @cached_property
    def min_comm_coefficients(self) -> tuple[float, float]:
        """Cheapest ``(latency, seconds per byte)`` between two different workers (0, 0 with one worker)."""
        if self.n_workers == 1:
            return 0.0, 0.0
        pair = ~np.eye(len(self.class_members), dtype=bool)  # class pairs with two different workers
        pair[np.diag_indices_from(pair)] = [len(m) > 1 for m in self.class_members]
        return float(self.class_latency[pair].min()), float(self.class_inv_bandwidth[pair].min())
