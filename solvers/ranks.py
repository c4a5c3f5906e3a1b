"""Task priorities shared by the list schedulers: upward/downward ranks and PEFT's optimistic cost table.

Averages follow SAGA (the reference implementation the tests compare against): mean run time over the
workers that can run a task, mean transfer time over unordered worker pairs with self-pairs counted as
free (:meth:`Problem.mean_comm`). The papers and other implementations average transfers differently;
``averaging`` (:data:`AVERAGING`) names the three conventions found in practice:

* ``"saga"`` — unordered worker pairs, the same-worker pair included (SAGA 2.0.2: its network's edges);
* ``"matrix"`` — all ``W^2`` ordered pairs, the same-worker pairs included (the mean of the transfer
  matrix, what a numpy implementation averaging ``comm[a, b]`` computes);
* ``"links"`` — the ``W (W - 1)`` ordered pairs of different workers (HEFT's and PEFT's papers: the mean
  over the links between processors).

Links are symmetric, so all three are the SAGA mean times a factor: ``1``, ``(W + 1) / W`` and
``(W + 1) / (W - 1)``.
"""

from __future__ import annotations

import numpy as np
from hetflow.solvers.problem import Problem

__all__ = ["upward_rank", "downward_rank", "optimistic_cost_table", "mean_comm_coefficients", "AVERAGING"]

AVERAGING = ("saga", "matrix", "links")


def mean_comm_coefficients(problem: Problem, averaging: str = "saga") -> tuple[float, float]:
    """Mean ``(latency, seconds per byte)`` of a transfer under one of the :data:`AVERAGING` conventions.

    Examples
    --------
    >>> from hetflow.taskgraph import Cluster, TaskGraph
    >>> g = TaskGraph(name="g"); g.add_task("a", {"cpu": 1.0})
    >>> p = Problem(g, Cluster.local(gpus=0, cpus=2, bandwidth=1.0))
    >>> [mean_comm_coefficients(p, a)[1] for a in AVERAGING]  # 1 link of 3 pairs, 2 of 4, 2 of 2
    [0.3333333333333333, 0.5, 1.0]
    """
    if averaging not in AVERAGING:
        raise ValueError(f"unknown averaging {averaging!r}; choose one of {', '.join(AVERAGING)}")
    latency, per_byte = problem.mean_comm_coefficients
    W = problem.n_workers
    if averaging == "saga" or W == 1:
        return latency, per_byte
    factor = (W + 1) / W if averaging == "matrix" else (W + 1) / (W - 1)
    return latency * factor, per_byte * factor


def upward_rank(problem: Problem, averaging: str = "saga") -> np.ndarray:
    """HEFT's ``rank_u``: mean run time plus the longest mean path (run + transfer) to an exit task.

    ``rank_u(t) = w̄(t) + max_{s in succ(t)} (c̄(t, s) + rank_u(s))``, ``c̄`` averaged by ``averaging``
    (:func:`mean_comm_coefficients`).

    Examples
    --------
    >>> from hetflow.taskgraph import Cluster, generators
    >>> p = Problem(generators.chain(3, ccr=0.0, seed=1), Cluster.local(gpus=1, cpus=1))
    >>> rank = upward_rank(p)  # a chain without bytes: the mean run times of the task and all after it
    >>> bool(np.allclose(rank, np.cumsum(p.mean_exec[::-1])[::-1]))
    True
    """
    latency, per_byte = mean_comm_coefficients(problem, averaging)
    mean_exec = problem.mean_exec
    rank = np.zeros(problem.n)
    for i in range(problem.n - 1, -1, -1):
        best = 0.0
        for j, nbytes in zip(problem.succs[i], problem.succ_bytes[i]):
            best = max(best, latency + nbytes * per_byte + rank[j])
        rank[i] = mean_exec[i] + best
    return rank


def downward_rank(problem: Problem, *, variant: str = "published") -> np.ndarray:
    """CPOP's ``rank_d``: the longest mean path from an entry task, excluding the task itself.

    ``variant="published"`` (Topcuoglu et al. 2002): ``rank_d(t) = max_p (rank_d(p) + w̄(p) + c̄(p, t))``.
    ``variant="saga"`` reproduces SAGA 2.0.2's ``downward_rank``, which adds the task's *own* cost divided
    by the mean worker speed instead of the parent's mean run time; it exists so that the test suite can
    compare with SAGA's CpopScheduler, whose critical path differs from the paper's because of it. SAGA
    also joins several entry tasks under a zero-cost super source, so there each entry task's rank is its
    own term instead of 0.

    Examples
    --------
    >>> from hetflow.taskgraph import Cluster, TaskGraph
    >>> g = TaskGraph(name="pair"); g.add_task("a", {"cpu": 3.0, "gpu": 1.0}); g.add_task("b", {"cpu": 1.0})
    >>> g.add_edge("a", "b", bytes=3e9)
    >>> downward_rank(Problem(g, Cluster.local(gpus=1, cpus=1))).tolist()  # a's mean 2 s + mean transfer 1 s
    [0.0, 3.0]
    """
    if variant not in ("published", "saga"):
        raise ValueError(f"unknown downward rank variant {variant!r}")
    latency, per_byte = problem.mean_comm_coefficients
    mean_exec = problem.mean_exec
    if variant == "saga":
        speeds = np.array([w.speed for w in problem.cluster.workers])
        raw_cost = np.where(problem.runnable, problem.exec * speeds, 0.0).sum(1) / problem.runnable.sum(1)
        own = raw_cost / speeds.mean()
    rank = np.zeros(problem.n)
    super_source = variant == "saga" and sum(not p for p in problem.preds) > 1
    for j in range(problem.n):
        if super_source and not problem.preds[j]:
            rank[j] = own[j]  # parent = SAGA's super source: rank 0, no bytes
            continue
        best = 0.0
        for i, nbytes in zip(problem.preds[j], problem.pred_bytes[j]):
            step = latency + nbytes * per_byte + (own[j] if variant == "saga" else mean_exec[i])
            best = max(best, rank[i] + step)
        rank[j] = best
    return rank


def optimistic_cost_table(problem: Problem, comm: str = "mean", averaging: str = "saga") -> np.ndarray:
    """PEFT's optimistic cost table (Arabnejad & Barbosa 2014), a dynamic program from the exit tasks.

    ``OCT(t, p) = max_{s in succ(t)} min_{p'} [OCT(s, p') + w(s, p') + (p' != p) c(t, s)]`` with
    ``OCT(exit, p) = 0``. ``comm="mean"`` uses the mean transfer time ``c̄(t, s)`` as published;
    ``comm="exact"`` uses the real link ``c(t, s, p, p')``, which matters on clusters with fast and slow
    links (the DP planner's cost-to-go table). ``averaging`` says how the mean is taken
    (:func:`mean_comm_coefficients`).

    Returns
    -------
    ndarray of shape (n_tasks, n_workers)

    Examples
    --------
    >>> from hetflow.taskgraph import Cluster, TaskGraph
    >>> g = TaskGraph(name="g"); g.add_task("a", {"cpu": 1.0, "gpu": 1.0}); g.add_task("b", {"gpu": 2.0})
    >>> g.add_edge("a", "b", bytes=3e9)
    >>> optimistic_cost_table(Problem(g, Cluster.local(gpus=1, cpus=1)), comm="exact").tolist()
    [[2.0, 5.0], [0.0, 0.0]]
    """
    n, W = problem.n, problem.n_workers
    oct_ = np.zeros((n, W))
    exact = comm == "exact"
    latency, per_byte = (0.0, 0.0) if exact else mean_comm_coefficients(problem, averaging)
    if _oct_kernel is not None:
        sindptr = np.zeros(n + 1, dtype=np.int64)
        sindptr[1:] = np.cumsum([len(s) for s in problem.succs])
        succ = np.fromiter((j for js in problem.succs for j in js), dtype=np.int64, count=int(sindptr[-1]))
        nbytes = np.fromiter((b for bs in problem.succ_bytes for b in bs), dtype=float, count=int(sindptr[-1]))
        members = np.concatenate(problem.class_members).astype(np.int64)  # workers by link class
        class_ptr = np.zeros(len(problem.class_members) + 1, dtype=np.int64)
        class_ptr[1:] = np.cumsum([len(m) for m in problem.class_members])
        _oct_kernel(sindptr, succ, nbytes, problem.exec, problem.link_class, members, class_ptr, problem.class_latency,
                    problem.class_inv_bandwidth, exact, latency, per_byte, oct_)
        return oct_
    for i in range(n - 1, -1, -1):  # pragma: no cover - numba is a dependency; the same floats, slower
        row = oct_[i]
        for j, nbytes in zip(problem.succs[i], problem.succ_bytes[i]):
            value = oct_[j] + problem.exec[j]  # cost to go if the child runs on p'
            if exact:
                # min over p' of value[p'] + comm(p -> p') (links are symmetric: the arrival at p from any p')
                step = problem.arrivals(value, nbytes)
            else:
                step = np.minimum(value, value.min() + latency + nbytes * per_byte)
            np.maximum(row, step, out=row)
    return oct_


def _oct(sindptr, succ, nbytes, exec_, link_class, members, class_ptr, latency, inv_bw, exact, mean_latency,
         per_byte, oct_):
    """The loop of :func:`optimistic_cost_table`, compiled: the same floating-point operations, the exact
    transfers as :meth:`Problem.arrivals` takes them (per link class of the receivers, ``O(W * classes)``)."""
    n, W = exec_.shape
    value = np.zeros(W)
    for i in range(n - 1, -1, -1):
        for e in range(sindptr[i], sindptr[i + 1]):
            j = succ[e]
            b = nbytes[e]
            for q in range(W):
                value[q] = oct_[j, q] + exec_[j, q]
            if exact:
                for d in range(class_ptr.shape[0] - 1):
                    sent = np.inf  # the earliest arrival at a worker of class d from a different worker
                    for a in range(W):
                        v = value[a] + latency[link_class[a], d] + b * inv_bw[link_class[a], d]
                        if v < sent:
                            sent = v
                    for k in range(class_ptr[d], class_ptr[d + 1]):
                        p = members[k]
                        step = value[p] if value[p] < sent else sent
                        if step > oct_[i, p]:
                            oct_[i, p] = step
            else:
                lowest = np.inf
                for q in range(W):
                    if value[q] < lowest:
                        lowest = value[q]
                other = lowest + mean_latency + b * per_byte
                for p in range(W):
                    step = value[p] if value[p] < other else other
                    if step > oct_[i, p]:
                        oct_[i, p] = step


try:
    from numba import njit

    _oct_kernel = njit(cache=True, nogil=True)(_oct)
except ImportError:  # pragma: no cover
    _oct_kernel = None
