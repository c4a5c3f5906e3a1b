"""Tests for hetflow.taskgraph.generators: structure, cost model, CCR, determinism, speed."""

from __future__ import annotations

import doctest
import json
import math
import time

import networkx as nx
import numpy as np
import pytest
from hetflow.taskgraph import Cluster, TaskGraph, generators
from hetflow.taskgraph.generators import (
    chain,
    fork_join,
    in_tree,
    layered_random,
    measure_ccr,
    out_tree,
    random_cluster,
    random_small,
)


def _as_json(g: TaskGraph) -> str:
    return json.dumps(g.to_dict(), sort_keys=True)


def _ccr(g: TaskGraph, bandwidth: float) -> float:
    """CCR recomputed here from the raw graph, independently of measure_ccr."""
    nbytes = [d["bytes"] for _, _, d in g.G.edges(data=True)]
    per_task = [sum(c.values()) / len(c) for _, c in g.G.nodes(data="cost")]
    return (sum(nbytes) / len(nbytes) / bandwidth) / (sum(per_task) / len(per_task))


def _layers(g: TaskGraph) -> np.ndarray:
    return np.array([g.G.nodes[t]["layer"] for t in range(len(g))])


def test_doctests():
    result = doctest.testmod(generators)
    assert result.attempted > 0 and result.failed == 0


# -- layered_random -----------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 2, 3, 10, 100, 1000])
@pytest.mark.parametrize("seed", [0, 7])
def test_layered_counts_and_acyclic(n, seed):
    g = layered_random(n, seed=seed)
    assert len(g) == n
    assert sorted(g.G) == list(range(n))
    assert nx.is_directed_acyclic_graph(g.G)
    assert all(u < v for u, v in g.G.edges)  # ids are a topological order


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_layered_layer_structure(alpha, seed):
    n = 900
    g = layered_random(n, alpha=alpha, seed=seed)
    layer = _layers(g)
    height = round(math.sqrt(n) / alpha)
    assert g.G.graph["params"]["height"] == height
    # every layer is non-empty, numbered 0..height-1 in task order
    assert np.array_equal(np.unique(layer), np.arange(height))
    assert np.all(np.diff(layer) >= 0)
    assert abs(np.bincount(layer).mean() - math.sqrt(n) * alpha) < 1e-9  # mean width = n / height
    # edges only go to later layers, mostly the next one
    u, v = np.array(list(g.G.edges)).T
    assert np.all(layer[v] > layer[u])
    assert np.mean(layer[v] == layer[u] + 1) > 0.6
    # sources are exactly the first layer, sinks exactly the last one
    assert set(g.sources) == set(np.flatnonzero(layer == 0).tolist())
    assert set(g.sinks) == set(np.flatnonzero(layer == height - 1).tolist())


@pytest.mark.parametrize("out_degree", [1, 2, 3, 6])
@pytest.mark.parametrize("seed", range(4))
def test_layered_every_non_source_has_a_parent_and_degree_bound(out_degree, seed):
    g = layered_random(2000, out_degree=out_degree, seed=seed)
    layer = _layers(g)
    last = layer.max()
    for t in g.G:
        assert (g.G.in_degree(t) > 0) == (layer[t] > 0)
        assert (g.G.out_degree(t) > 0) == (layer[t] < last)
    # A task exceeds out_degree only when every task up to its layer is full (no room to adopt orphans).
    outdeg = np.array([g.G.out_degree(t) for t in range(len(g))])
    for lay in np.unique(layer[outdeg > out_degree]):
        assert outdeg[layer <= lay].min() >= out_degree
    if out_degree == 3:
        assert np.mean(outdeg > out_degree) < 0.01


def test_layered_skip_prob():
    def next_layer_share(skip_prob):
        g = layered_random(2000, skip_prob=skip_prob, seed=3)
        layer = _layers(g)
        return np.mean([layer[v] == layer[u] + 1 for u, v in g.G.edges])

    # without skips only adopted orphans reach past the next layer
    assert next_layer_share(0.0) > 0.9
    assert 0.4 < next_layer_share(0.5) < 0.7


@pytest.mark.parametrize("ccr", [0.1, 1.0, 10.0])
@pytest.mark.parametrize("bandwidth", [1e6, 1e9])
def test_layered_ccr(ccr, bandwidth):
    g = layered_random(500, ccr=ccr, bandwidth=bandwidth, seed=4)
    assert _ccr(g, bandwidth) == pytest.approx(ccr, rel=1e-9)
    assert measure_ccr(g, bandwidth) == pytest.approx(ccr, rel=1e-9)
    nbytes = np.array([b for *_, b in g.G.edges(data="bytes")])
    assert nbytes.min() >= 0 and nbytes.std() > 0.3 * nbytes.mean()  # spread, not a constant


def test_ccr_zero_gives_zero_bytes():
    g = layered_random(100, ccr=0.0, seed=1)
    assert g.G.number_of_edges() > 0
    assert all(b == 0 for *_, b in g.G.edges(data="bytes"))


def test_layered_determinism():
    assert _as_json(layered_random(300, seed=5)) == _as_json(layered_random(300, seed=5))
    assert _as_json(layered_random(300, seed=5)) != _as_json(layered_random(300, seed=6))


def test_layered_records_parameters():
    g = layered_random(50, ccr=2.0, alpha=0.5, gpu_share=0.2, seed=9)
    params = g.G.graph["params"]
    assert g.G.graph["generator"] == "layered_random"
    assert (params["n_tasks"], params["ccr"], params["alpha"], params["gpu_share"], params["seed"]) == (
        50, 2.0, 0.5, 0.2, 9,
    )  # fmt: skip
    json.dumps(g.to_dict())  # the parameters survive the JSON format


# -- cost model (shared by every generator) -------------------------------------------------------
@pytest.mark.parametrize("share", [0.0, 0.3, 0.55, 1.0])
def test_gpu_share_fraction_and_speed(share):
    n = 400
    g = layered_random(n, gpu_share=share, seed=2)
    friendly = [t for t in g if g.kind(t) == "gpu-friendly"]
    assert len(friendly) == round(share * n)
    assert {g.kind(t) for t in g} <= {"gpu-friendly", "cpu"}
    for t in g:
        c = g.cost(t)
        if g.kind(t) == "gpu-friendly":
            assert c["gpu"] < c["cpu"]
        else:
            assert c["cpu"] <= c["gpu"] <= 2 * c["cpu"]


def test_beta_spread():
    # All GPU-friendly with a fixed speedup: cpu/gpu = 4 * U1/U2 with U in [1 - beta/2, 1 + beta/2].
    flat = layered_random(300, beta=0.0, gpu_share=1.0, gpu_speedup=(4.0, 4.0), seed=1)
    assert all(flat.cost(t)["cpu"] / flat.cost(t)["gpu"] == pytest.approx(4.0) for t in flat)
    g = layered_random(300, beta=0.5, gpu_share=1.0, gpu_speedup=(4.0, 4.0), seed=1)
    ratio = np.array([g.cost(t)["cpu"] / g.cost(t)["gpu"] / 4.0 for t in g])
    assert ratio.min() >= 0.75 / 1.25 - 1e-9 and ratio.max() <= 1.25 / 0.75 + 1e-9
    assert ratio.min() < 0.8 and ratio.max() > 1.25  # the range is actually used


def test_mean_cost():
    g = layered_random(5000, beta=0.0, gpu_share=0.0, gpu_slowdown=(1.0, 1.0), mean_cost=7.0, seed=0)
    cpu = np.array([g.cost(t)["cpu"] for t in g])
    assert all(g.cost(t)["gpu"] == g.cost(t)["cpu"] for t in g)  # related-machines (SAGA) case
    assert cpu.mean() == pytest.approx(7.0, rel=0.05)
    assert cpu.min() > 0 and cpu.max() <= 14.0


def test_cpu_only_share():
    n = 200
    g = layered_random(n, gpu_share=0.25, cpu_only_share=0.4, seed=3)
    no_gpu = [t for t in g if "gpu" not in g.cost(t)]
    assert len(no_gpu) == round(0.4 * n)
    assert all(g.kind(t) == "cpu" for t in no_gpu)
    assert sum(g.kind(t) == "gpu-friendly" for t in g) == round(0.25 * n)
    assert measure_ccr(g) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "make",
    [
        lambda **kw: layered_random(60, **kw),
        lambda **kw: chain(30, **kw),
        lambda **kw: fork_join(5, depth=3, **kw),
        lambda **kw: in_tree(4, **kw),
        lambda **kw: out_tree(3, branching=3, **kw),
        lambda **kw: random_small(12, 0.4, **kw),
    ],
)
def test_every_generator_shares_the_cost_model(make):
    g = make(ccr=3.0, gpu_share=0.5, seed=11)
    assert _ccr(g, 1e9) == pytest.approx(3.0)
    assert sum(g.kind(t) == "gpu-friendly" for t in g) == round(0.5 * len(g))
    assert _as_json(g) == _as_json(make(ccr=3.0, gpu_share=0.5, seed=11))
    assert _as_json(g) != _as_json(make(ccr=3.0, gpu_share=0.5, seed=12))
    gi = make(integer=True, bandwidth=1.0, seed=2)
    assert all(c == int(c) and c >= 1 for t in gi for c in gi.cost(t).values())
    assert all(b == int(b) for *_, b in gi.G.edges(data="bytes"))


# -- fixed shapes ---------------------------------------------------------------------------------
def test_chain():
    g = chain(5)
    assert list(g.G.edges) == [(0, 1), (1, 2), (2, 3), (3, 4)]
    assert len(chain(1)) == 1 and chain(1).G.number_of_edges() == 0


@pytest.mark.parametrize("width,depth", [(1, 1), (4, 1), (3, 3)])
def test_fork_join(width, depth):
    g = fork_join(width, depth=depth)
    assert len(g) == 1 + depth * (width + 1)
    assert g.G.number_of_edges() == 2 * width * depth
    assert g.sources == [0] and g.sinks == [len(g) - 1]
    joins = [t for t in g if g.G.in_degree(t) == width and width > 1]
    assert len(joins) == (depth if width > 1 else 0)
    assert nx.dag_longest_path_length(g.G) == 2 * depth


@pytest.mark.parametrize("depth,branching", [(0, 2), (3, 2), (2, 3), (4, 1)])
def test_trees(depth, branching):
    expected = (
        nx.balanced_tree(branching, depth, create_using=nx.DiGraph)
        if branching > 1
        else nx.path_graph(depth + 1, create_using=nx.DiGraph)
    )
    out, inn = out_tree(depth, branching), in_tree(depth, branching)
    assert nx.is_isomorphic(out.G, expected)
    assert nx.is_isomorphic(inn.G, expected.reverse())
    assert out.sources == [0] and inn.sinks == [len(inn) - 1]
    assert all(u < v for u, v in inn.G.edges)  # in_tree numbers leaves first


def test_random_small():
    assert random_small(7, 0.0).G.number_of_edges() == 0
    assert random_small(7, 1.0).G.number_of_edges() == 21
    g = random_small(40, 0.25, seed=1)
    assert all(u < v for u, v in g.G.edges)
    assert 0.15 < g.G.number_of_edges() / (40 * 39 / 2) < 0.35


@pytest.mark.parametrize(
    "call",
    [
        lambda: layered_random(0),
        lambda: layered_random(10, alpha=0),
        lambda: layered_random(10, out_degree=0),
        lambda: layered_random(10, beta=2.5),
        lambda: layered_random(10, gpu_share=1.5),
        lambda: layered_random(10, gpu_share=0.8, cpu_only_share=0.3),
        lambda: layered_random(10, gpu_speedup=(5.0, 1.0)),
        lambda: layered_random(10, ccr=-1),
        lambda: chain(0),
        lambda: fork_join(0),
        lambda: in_tree(-1),
        lambda: out_tree(2, branching=0),
        lambda: random_small(5, 1.5),
        lambda: random_cluster(1, 1, speed_range=(0, 1)),
    ],
)
def test_bad_parameters_raise_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_unknown_cost_option_is_a_type_error():
    with pytest.raises(TypeError):
        chain(3, gpu_sharee=0.5)


# -- clusters -------------------------------------------------------------------------------------
def test_random_cluster():
    c = random_cluster(2, 3, speed_range=(0.5, 2.0), bandwidth=5e8, seed=4)
    assert isinstance(c, Cluster)
    assert c.names == ["gpu0", "gpu1", "cpu0", "cpu1", "cpu2"]
    assert [w.device for w in c.workers] == ["gpu", "gpu", "cpu", "cpu", "cpu"]
    speeds = [w.speed for w in c.workers]
    assert all(0.5 <= s <= 2.0 for s in speeds) and len(set(speeds)) > 1
    assert c.bandwidth == 5e8
    assert c == random_cluster(2, 3, speed_range=(0.5, 2.0), bandwidth=5e8, seed=4)
    assert c != random_cluster(2, 3, speed_range=(0.5, 2.0), bandwidth=5e8, seed=5)
    assert len(random_cluster(0, 2)) == 2


# -- scale ----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_layered_100k_builds_quickly():
    start = time.perf_counter()
    g = layered_random(100_000, seed=0)
    elapsed = time.perf_counter() - start
    assert len(g) == 100_000
    assert measure_ccr(g) == pytest.approx(1.0)
    assert elapsed < 30  # ~2-4 s on a loaded 2-core machine; generous for CI
