"""Benchmark task graphs and clusters: layered random DAGs, chains, fork-joins, trees, small random DAGs.

Every generator is deterministic for its ``seed`` (one :func:`numpy.random.default_rng` stream), names
its tasks ``0..n-1`` in a topological order, and returns a validated :class:`TaskGraph` whose
``G.graph`` records the generator and its parameters.

Costs (shared by all generators, after Topcuoglu, Hariri and Wu, IEEE TPDS 2002): a task's average cost
``w_i`` is uniform in ``[0, 2 * mean_cost]``; its cost on a device class is ``w_i * U(1 - beta/2,
1 + beta/2)``. Exactly ``round(gpu_share * n)`` tasks are GPU-friendly (``kind="gpu-friendly"``): their
GPU cost is also divided by a speedup drawn from ``gpu_speedup``. The others (``kind="cpu"``) run on a GPU
``U(*gpu_slowdown)`` times slower than on a CPU, and ``round(cpu_only_share * n)`` of them have no GPU
cost at all. Edge bytes are uniform around a mean chosen so that the communication-to-computation ratio
:func:`measure_ccr` equals ``ccr`` (exactly before ``integer`` rounding): mean edge transfer time at
``bandwidth`` over the mean, across tasks, of each task's cost averaged over its device classes.
"""

from __future__ import annotations

import contextlib
import gc
import math
from collections.abc import Iterator, Mapping
from typing import Any

import networkx as nx
import numpy as np
from hetflow.taskgraph.cluster import Cluster, Worker
from hetflow.taskgraph.graph import TaskGraph

__all__ = [
    "layered_random",
    "chain",
    "fork_join",
    "in_tree",
    "out_tree",
    "random_small",
    "random_cluster",
    "measure_ccr",
]

_MIN_COST = 1e-3  # smallest cost, as a share of mean_cost (float costs; integer costs are >= 1)


# -- public generators ------------------------------------------------------------------------
def layered_random(
    n_tasks: int,
    *,
    ccr: float = 1.0,
    alpha: float = 1.0,
    out_degree: int = 3,
    skip_prob: float = 0.2,
    beta: float = 0.5,
    gpu_share: float = 0.3,
    gpu_speedup: tuple[float, float] = (5.0, 30.0),
    gpu_slowdown: tuple[float, float] = (1.0, 2.0),
    cpu_only_share: float = 0.0,
    mean_cost: float = 10.0,
    bandwidth: float = 1e9,
    integer: bool = False,
    seed: int = 0,
) -> TaskGraph:
    """A layered random DAG in the style of Topcuoglu, Hariri and Wu (2002).

    Parameters
    ----------
    n_tasks : int
        Number of tasks (>= 1).
    ccr : float
        Target communication-to-computation ratio (see :func:`measure_ccr`).
    alpha : float
        Shape: ``round(sqrt(n_tasks) / alpha)`` layers whose widths are random with mean
        ``sqrt(n_tasks) * alpha``; small ``alpha`` gives long thin graphs, large ``alpha`` wide ones.
    out_degree : int
        Each task outside the last layer draws 1 to ``out_degree`` children (duplicates merge).
    skip_prob : float
        Chance that a child is drawn from any later layer instead of the next one.
    beta : float
        Cost heterogeneity in ``[0, 2]``: per-device costs are ``w_i * U(1 - beta/2, 1 + beta/2)``.
    gpu_share : float
        Share of GPU-friendly tasks, whose GPU cost is divided by ``U(*gpu_speedup)``.
    gpu_speedup, gpu_slowdown : (float, float)
        GPU speedup range of GPU-friendly tasks; GPU/CPU cost ratio range of the other tasks.
    cpu_only_share : float
        Share of tasks with no GPU cost (taken from the non-GPU-friendly ones).
    mean_cost : float
        Mean of the average task cost ``w_i``.
    bandwidth : float
        Bytes per second used to turn ``ccr`` into edge bytes.
    integer : bool
        Round costs (to >= 1) and bytes to integers.
    seed : int
        Seed of the random stream.

    Returns
    -------
    TaskGraph
        Tasks ``0..n-1`` ordered by layer, each with a ``layer`` attribute. Every task outside the first
        layer has a parent and every task outside the last has a child. A task left without a parent
        is adopted by a task with fewer than ``out_degree`` children, from the previous layer if it
        has room, else from the nearest earlier layers; only when every earlier task is full (e.g. a
        narrow first layer before a wide second one) do previous-layer tasks exceed ``out_degree``.

    Examples
    --------
    >>> g = layered_random(100, ccr=0.5, seed=1)
    >>> len(g), g.G.nodes[0]["layer"], round(measure_ccr(g), 6)
    (100, 0, 0.5)
    >>> all(g.G.nodes[t]["layer"] == 0 for t in g.sources)
    True
    """
    _require(_is_int(n_tasks) and n_tasks >= 1, f"n_tasks must be an integer >= 1, got {n_tasks!r}")
    _require(alpha > 0, f"alpha must be > 0, got {alpha!r}")
    _require(_is_int(out_degree) and out_degree >= 1, f"out_degree must be an integer >= 1: {out_degree!r}")
    _require(0 <= skip_prob <= 1, f"skip_prob must be in [0, 1], got {skip_prob!r}")
    rng = np.random.default_rng(seed)
    height = int(min(n_tasks, max(1, round(math.sqrt(n_tasks) / alpha))))
    weights = rng.uniform(0.0, 1.0, height) + 1e-9
    widths = 1 + rng.multinomial(n_tasks - height, weights / weights.sum())
    layer = np.repeat(np.arange(height), widths)
    src, dst = _layer_edges(rng, layer, widths, out_degree, skip_prob)
    params = dict(n_tasks=n_tasks, alpha=alpha, out_degree=out_degree, skip_prob=skip_prob, height=height)
    return _assemble(
        rng, n_tasks, src, dst, "layered_random", params, {"layer": layer.tolist()},
        ccr=ccr, beta=beta, gpu_share=gpu_share, gpu_speedup=gpu_speedup, gpu_slowdown=gpu_slowdown,
        cpu_only_share=cpu_only_share, mean_cost=mean_cost, bandwidth=bandwidth, integer=integer, seed=seed,
    )  # fmt: skip


def chain(n: int, *, seed: int = 0, **kwargs: Any) -> TaskGraph:
    """A chain ``0 -> 1 -> ... -> n-1``.

    ``kwargs`` are the cost options of :func:`layered_random` (``ccr``, ``beta``, ``gpu_share``,
    ``gpu_speedup``, ``gpu_slowdown``, ``cpu_only_share``, ``mean_cost``, ``bandwidth``, ``integer``).

    Examples
    --------
    >>> g = chain(4, gpu_share=0.5)
    >>> g.tasks, g.sources, g.sinks, sum(g.kind(t) == "gpu-friendly" for t in g)
    ([0, 1, 2, 3], [0], [3], 2)
    """
    _require(_is_int(n) and n >= 1, f"n must be an integer >= 1, got {n!r}")
    i = np.arange(n - 1)
    return _assemble(np.random.default_rng(seed), n, i, i + 1, "chain", {"n": n}, seed=seed, **kwargs)


def fork_join(width: int, depth: int = 1, *, seed: int = 0, **kwargs: Any) -> TaskGraph:
    """``depth`` fork-join stages: a task fans out to ``width`` tasks that join into one, repeatedly.

    Task 0 is the first fork; stage ``s`` has tasks ``1 + s*(width+1) ..`` and ends with its join, so the
    graph has ``1 + depth * (width + 1)`` tasks. ``kwargs``: cost options as in :func:`chain`.

    Examples
    --------
    >>> g = fork_join(3, depth=2)
    >>> len(g), g.children(0), g.parents(4), g.children(4)
    (9, [1, 2, 3], [1, 2, 3], [5, 6, 7])
    """
    _require(_is_int(width) and width >= 1, f"width must be an integer >= 1, got {width!r}")
    _require(_is_int(depth) and depth >= 1, f"depth must be an integer >= 1, got {depth!r}")
    base = 1 + np.arange(depth) * (width + 1)  # first parallel task of each stage
    fork = np.where(base == 1, 0, base - 1)  # task 0, then the previous stage's join
    body = (base[:, None] + np.arange(width)).ravel()
    src = np.concatenate([np.repeat(fork, width), body])
    dst = np.concatenate([body, np.repeat(base + width, width)])
    n = 1 + depth * (width + 1)
    params = {"width": width, "depth": depth}
    return _assemble(np.random.default_rng(seed), n, src, dst, "fork_join", params, seed=seed, **kwargs)


def out_tree(depth: int, branching: int = 2, *, seed: int = 0, **kwargs: Any) -> TaskGraph:
    """A complete out-tree (a root fanning out): task ``i``'s children are ``i*branching + 1 ..``.

    It has ``depth + 1`` levels. ``kwargs``: cost options as in :func:`chain`.

    Examples
    --------
    >>> g = out_tree(2, branching=2)
    >>> len(g), g.children(0), g.children(1), len(g.sinks)
    (7, [1, 2], [3, 4], 4)
    """
    n, parent = _tree(depth, branching)
    params = {"depth": depth, "branching": branching}
    src, dst = parent, np.arange(1, n)
    return _assemble(np.random.default_rng(seed), n, src, dst, "out_tree", params, seed=seed, **kwargs)


def in_tree(depth: int, branching: int = 2, *, seed: int = 0, **kwargs: Any) -> TaskGraph:
    """A complete in-tree (leaves reducing into one root): the mirror of :func:`out_tree`.

    Tasks are numbered leaves first, so the root is task ``n - 1``. ``kwargs``: cost options as in
    :func:`chain`.

    Examples
    --------
    >>> g = in_tree(2, branching=3)
    >>> len(g), g.sinks, g.parents(12), len(g.sources)
    (13, [12], [9, 10, 11], 9)
    """
    n, parent = _tree(depth, branching)
    src, dst = n - 1 - np.arange(n - 1, 0, -1), n - 1 - parent[::-1]  # leaves first
    params = {"depth": depth, "branching": branching}
    return _assemble(np.random.default_rng(seed), n, src, dst, "in_tree", params, seed=seed, **kwargs)


def random_small(
    n_tasks: int, edge_prob: float = 0.3, seed: int = 0, *, integer: bool = False, **kwargs: Any
) -> TaskGraph:
    """A small random DAG: each pair ``i < j`` is an edge ``i -> j`` with probability ``edge_prob``.

    Meant for exact-solver tests. With ``integer=True`` costs and bytes are integers, so with
    ``bandwidth=1`` every execution and transfer time is an integer. ``kwargs``: cost options as in
    :func:`chain`.

    Examples
    --------
    >>> g = random_small(6, 0.5, seed=3, integer=True, bandwidth=1, mean_cost=5)
    >>> len(g), all(c == int(c) for t in g for c in g.cost(t).values())
    (6, True)
    >>> all(b == int(b) for *_, b in g.G.edges(data="bytes"))
    True
    """
    _require(_is_int(n_tasks) and n_tasks >= 1, f"n_tasks must be an integer >= 1, got {n_tasks!r}")
    _require(0 <= edge_prob <= 1, f"edge_prob must be in [0, 1], got {edge_prob!r}")
    rng = np.random.default_rng(seed)
    src, dst = np.triu_indices(n_tasks, 1)
    keep = rng.random(src.size) < edge_prob
    params = {"n_tasks": n_tasks, "edge_prob": edge_prob}
    return _assemble(rng, n_tasks, src[keep], dst[keep], "random_small", params, integer=integer, seed=seed, **kwargs)


def random_cluster(
    n_gpus: int,
    n_cpus: int,
    *,
    speed_range: tuple[float, float] = (0.5, 2.0),
    bandwidth: float = 1e9,
    seed: int = 0,
) -> Cluster:
    """A cluster of workers ``gpu0..`` and ``cpu0..`` with speeds uniform in ``speed_range``.

    Examples
    --------
    >>> c = random_cluster(1, 2, seed=0)
    >>> c.names, all(0.5 <= w.speed <= 2.0 for w in c.workers)
    (['gpu0', 'cpu0', 'cpu1'], True)
    """
    _require(_is_int(n_gpus) and _is_int(n_cpus) and min(n_gpus, n_cpus) >= 0, "worker counts must be >= 0")
    lo, hi = speed_range
    _require(0 < lo <= hi, f"speed_range must satisfy 0 < low <= high, got {speed_range!r}")
    speeds = np.round(np.random.default_rng(seed).uniform(lo, hi, n_gpus + n_cpus), 3).clip(lo, hi)
    names = [f"gpu{i}" for i in range(n_gpus)] + [f"cpu{i}" for i in range(n_cpus)]
    devices = ["gpu"] * n_gpus + ["cpu"] * n_cpus
    workers = [Worker(n, d, float(s)) for n, d, s in zip(names, devices, speeds)]
    return Cluster(workers, bandwidth=bandwidth)


def measure_ccr(graph: TaskGraph, bandwidth: float = 1e9) -> float:
    """Communication-to-computation ratio: mean edge transfer time over mean task cost.

    The mean task cost averages, over tasks, each task's cost over its device classes. A graph without
    edges has ratio 0.

    Examples
    --------
    >>> g = fork_join(4, ccr=2.0, bandwidth=1e6)
    >>> round(measure_ccr(g, bandwidth=1e6), 9), round(measure_ccr(g, bandwidth=2e6), 9)
    (2.0, 1.0)
    """
    if graph.G.number_of_edges() == 0:
        return 0.0
    comm = np.mean([b for *_, b in graph.G.edges(data="bytes", default=0.0)]) / bandwidth
    comp = np.mean([np.mean(list(c.values())) for _, c in graph.G.nodes(data="cost")])
    return float(comm / comp)


# -- shared helpers ---------------------------------------------------------------------------
def _assemble(
    rng: np.random.Generator,
    n: int,
    src: np.ndarray,
    dst: np.ndarray,
    generator: str,
    params: Mapping[str, Any],
    node_attrs: Mapping[str, list] | None = None,
    *,
    ccr: float = 1.0,
    beta: float = 0.5,
    gpu_share: float = 0.3,
    gpu_speedup: tuple[float, float] = (5.0, 30.0),
    gpu_slowdown: tuple[float, float] = (1.0, 2.0),
    cpu_only_share: float = 0.0,
    mean_cost: float = 10.0,
    bandwidth: float = 1e9,
    integer: bool = False,
    seed: int = 0,
) -> TaskGraph:
    """Draw costs and bytes for the structure ``src[k] -> dst[k]`` and build the validated graph."""
    _require(ccr >= 0, f"ccr must be >= 0, got {ccr!r}")
    _require(0 <= beta <= 2, f"beta must be in [0, 2], got {beta!r}")
    _require(0 <= gpu_share <= 1, f"gpu_share must be in [0, 1], got {gpu_share!r}")
    _require(0 <= cpu_only_share <= 1 - gpu_share, f"cpu_only_share + gpu_share must be <= 1, got {cpu_only_share!r}")
    for what, (lo, hi) in (("gpu_speedup", gpu_speedup), ("gpu_slowdown", gpu_slowdown)):
        _require(0 < lo <= hi, f"{what} must satisfy 0 < low <= high, got {(lo, hi)!r}")
    _require(mean_cost > 0 and bandwidth > 0, "mean_cost and bandwidth must be > 0")

    # Average cost w_i, then per-class costs w_i * U(1 -+ beta/2).
    w = rng.uniform(0.0, 2.0 * mean_cost, n)
    spread = rng.uniform(1 - beta / 2, 1 + beta / 2, (2, n))
    cpu, gpu_base = w * spread[0], w * spread[1]
    order = rng.permutation(n)
    n_friendly, n_cpu_only = round(gpu_share * n), round(cpu_only_share * n)
    friendly = np.zeros(n, dtype=bool)
    friendly[order[:n_friendly]] = True
    gpu = np.where(friendly, gpu_base / rng.uniform(*gpu_speedup, n), cpu * rng.uniform(*gpu_slowdown, n))
    floor = 1.0 if integer else _MIN_COST * mean_cost
    if integer:
        cpu, gpu = np.rint(cpu), np.rint(gpu)
    cpu, gpu = np.maximum(cpu, floor), np.maximum(gpu, floor)
    gpu[order[n_friendly : n_friendly + n_cpu_only]] = np.nan

    # Bytes: uniform in [0, 2 * mean], rescaled to hit the target mean exactly.
    comp = float(np.mean(np.nanmean(np.stack([cpu, gpu]), axis=0))) if n else 0.0
    m = len(src)
    nbytes = rng.uniform(0.0, 2.0, m)
    target = ccr * comp * bandwidth
    nbytes = nbytes * (target / nbytes.mean()) if m and nbytes.mean() > 0 else np.zeros(m)
    if integer:
        nbytes = np.rint(nbytes)

    G = nx.DiGraph()
    G.graph.update(
        name=f"{generator}-{n}-seed{seed}",
        generator=generator,
        params={
            **params, "ccr": ccr, "beta": beta, "gpu_share": gpu_share, "gpu_speedup": list(gpu_speedup),
            "gpu_slowdown": list(gpu_slowdown), "cpu_only_share": cpu_only_share, "mean_cost": mean_cost,
            "bandwidth": bandwidth, "integer": integer, "seed": seed,
        },
    )  # fmt: skip
    extra = {k: list(v) for k, v in (node_attrs or {}).items()}
    kinds = np.where(friendly, "gpu-friendly", "cpu").tolist()
    costs = ({"cpu": c} if math.isnan(g) else {"cpu": c, "gpu": g} for c, g in zip(cpu.tolist(), gpu.tolist()))
    nodes = (
        (i, {"cost": cost, "kind": kind, **{k: v[i] for k, v in extra.items()}})
        for i, (cost, kind) in enumerate(zip(costs, kinds))
    )
    edges = zip(np.asarray(src).tolist(), np.asarray(dst).tolist(), ({"bytes": b} for b in nbytes.tolist()))
    with _gc_paused():  # building ~10^5 small dicts triggers many useless GC passes
        G.add_nodes_from(nodes)
        G.add_edges_from(edges)
        return TaskGraph(G)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _layer_edges(
    rng: np.random.Generator, layer: np.ndarray, widths: np.ndarray, out_degree: int, skip_prob: float
) -> tuple[np.ndarray, np.ndarray]:
    """Random edges from each layer to later ones (mostly the next); every task past layer 0 gets a parent."""
    n, height = layer.size, widths.size
    start = np.concatenate([[0], np.cumsum(widths)])
    parents = np.flatnonzero(layer < height - 1)
    src = np.repeat(parents, rng.integers(1, out_degree + 1, parents.size))
    lsrc = layer[src]
    skip = rng.random(src.size) < skip_prob
    jump = np.where(skip, (rng.random(src.size) * (height - 1 - lsrc)).astype(np.int64), 0)
    target = lsrc + 1 + jump
    dst = start[target] + (rng.random(src.size) * widths[target]).astype(np.int64)
    key = np.unique(src.astype(np.int64) * n + dst)

    # Orphans (no parent, past layer 0) adopt parents with spare out-degree, nearest layers first.
    outdeg = np.bincount(key // n, minlength=n)
    orphans = np.flatnonzero((np.bincount(key % n, minlength=n) == 0) & (layer > 0))
    extra = []
    if orphans.size:
        layers, first = np.unique(layer[orphans], return_index=True)
        for lay, kids in zip(layers.tolist(), np.split(orphans, first[1:])):
            adopters = _adopters(rng, kids.size, lay, layer, start, outdeg, out_degree)
            np.add.at(outdeg, adopters, 1)
            extra.append(adopters * n + kids)
    key = np.sort(np.concatenate([key, *extra]))
    return key // n, key % n


def _adopters(
    rng: np.random.Generator,
    count: int,
    lay: int,
    layer: np.ndarray,
    start: np.ndarray,
    outdeg: np.ndarray,
    out_degree: int,
) -> np.ndarray:
    """Parents for ``count`` orphans of layer ``lay``: free child slots of the nearest earlier layers,
    least-loaded first; once every earlier task is full, the previous layer's tasks in turn."""
    lo, free = lay - 1, 0
    while True:
        free += int(np.maximum(out_degree - outdeg[start[lo] : start[lo + 1]], 0).sum())
        if free >= count or lo == 0:
            break
        lo -= 1
    cand = np.arange(start[lo], start[lay])
    spare = np.maximum(out_degree - outdeg[cand], 0)
    slots = np.repeat(cand, spare)
    load = outdeg[slots] + np.arange(slots.size) - np.repeat(np.cumsum(spare) - spare, spare)
    chosen = slots[np.lexsort((rng.random(slots.size), load, lay - layer[slots]))[:count]]
    if chosen.size == count:
        return chosen
    prev = np.arange(start[lay - 1], start[lay])
    load = outdeg[prev] + np.bincount(chosen, minlength=start[lay])[prev]
    ranked = prev[np.lexsort((rng.random(prev.size), load))]
    return np.concatenate([chosen, ranked[np.arange(count - chosen.size) % ranked.size]])


def _tree(depth: int, branching: int) -> tuple[int, np.ndarray]:
    """Size of a complete ``branching``-ary tree with ``depth + 1`` levels, and the parent of tasks 1..n-1."""
    _require(_is_int(depth) and depth >= 0, f"depth must be an integer >= 0, got {depth!r}")
    _require(_is_int(branching) and branching >= 1, f"branching must be an integer >= 1, got {branching!r}")
    n = sum(branching**k for k in range(depth + 1))
    return n, (np.arange(1, n) - 1) // branching


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)
