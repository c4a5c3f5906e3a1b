"""Pacing: tasks are released to Dask as their consumers come near, without ever stalling the run."""

from __future__ import annotations

import random
import threading
import time

import dask
import numpy as np
import pytest
from hetflow.flows.compute import compute
from hetflow.flows.runtime.pacing import Pacer
from hetflow.solvers import plan
from hetflow.taskgraph import Cluster, generators


def _simulate(graph, schedule, cluster, window, rng):
    """Finish released tasks in a random order their inputs allow; return the most outputs held at once."""
    pacer = Pacer(graph, schedule, cluster, window)
    released, finished, held, most = set(pacer.release()), set(), set(), 0
    while len(finished) < len(graph):
        runnable = [t for t in released - finished if all(q in finished for q in graph.parents(t))]
        assert runnable, f"stalled with {len(finished)}/{len(graph)} finished (window {window})"
        t = rng.choice(sorted(runnable, key=str))
        finished.add(t)
        if graph.children(t):  # an output someone still has to read
            held.add(t)
        held -= {q for q in held if all(c in finished for c in graph.children(q))}
        most = max(most, len(held))
        released |= set(pacer.release([t]))
    assert pacer.complete
    return most


@pytest.mark.parametrize("window", [0, 1, 4])
@pytest.mark.parametrize("seed", range(6))
def test_pacing_never_stalls_on_random_graphs(window, seed):
    graph = generators.layered_random(40, ccr=1.0, seed=seed)
    cluster = generators.random_cluster(2, 3, seed=seed)
    schedule = plan(graph, cluster, solver="heft")
    _simulate(graph, schedule, cluster, window, random.Random(seed))


def _pipeline(n):
    from hetflow.taskgraph import TaskGraph

    g = TaskGraph(name="pipe")
    for i in range(n):
        g.add_task(f"tok{i}", {"cpu": 0.01}, kind="tokenize")
        g.add_task(f"emb{i}", {"gpu": 1.0}, kind="embed")
        g.add_edge(f"tok{i}", f"emb{i}", bytes=2e6)
    return g.validate()


def test_a_fast_producer_is_held_back():
    graph = _pipeline(30)
    cluster = Cluster.local(1, 3)
    schedule = plan(graph, cluster, solver="heft")
    rng = random.Random(0)
    assert _simulate(graph, schedule, cluster, 1000, rng) > 10  # a horizon past the makespan: producers run ahead
    assert _simulate(graph, schedule, cluster, 2, rng) <= 4  # paced: a few outputs wait for the GPU


def _peak_bytes(client, fn):
    peak, stop = [0], threading.Event()

    def held(dask_scheduler):
        return sum(ws.nbytes for ws in dask_scheduler.workers.values())

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], client.run_on_scheduler(held))
            stop.wait(0.01)

    thread = threading.Thread(target=sample)
    thread.start()
    try:
        value = fn()
    finally:
        stop.set()
        thread.join()
    return value, peak[0]


def test_paced_compute_bounds_memory_of_an_overproducing_stage(dask_client, tmp_path):
    from hetflow.taskgraph.coststore import CostStore

    def tokenize(i):
        return np.full(250_000, i, dtype=np.int64)  # 2 MB

    def embed(tokens):
        time.sleep(0.05)
        return int(tokens[0])

    def job():
        outs = []
        for i in range(24):
            tok = dask.delayed(tokenize, pure=True)(i)
            with dask.annotate(resources={"GPU": 1}):
                outs.append(dask.delayed(embed, pure=True)(tok))
        return dask.delayed(sum)(outs)

    store = CostStore(tmp_path / "costs.json")
    with pytest.warns(UserWarning):
        compute(job(), client=dask_client, costs=store)  # learn the costs
    free, free_peak = _peak_bytes(dask_client, lambda: compute(job(), client=dask_client, costs=store))
    paced, paced_peak = _peak_bytes(dask_client, lambda: compute(job(), client=dask_client, costs=store, pace=2))
    assert free == paced == (sum(range(24)),)
    assert paced_peak < 0.5 * free_peak, (paced_peak, free_peak)
