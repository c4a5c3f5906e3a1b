"""How fast hetflow's HEFT plans large layered DAGs, and how it compares with SAGA 2.0.2's HeftScheduler.

Usage::

    python benchmarks/bench_heft_speed.py            # hetflow at 1k/5k/10k/100k tasks, SAGA at 1k and 5k
    python benchmarks/bench_heft_speed.py --small    # CI: hetflow at 1k/5k, SAGA at 1k only

Instances: layered random DAGs (``hetflow.taskgraph.generators.layered_random``, Topcuoglu-style, CCR 1, 20% of
the tasks cpu-only, the rest with a gpu and a cpu cost; a numpy builder below stands in where that
generator is missing) on 16 workers (4 gpu + 12 cpu, distinct speeds, fast gpu-gpu links). SAGA's model
has one cost per task, so SAGA runs on the *related-machine* version of the same DAG (each task's cpu cost
on every class); hetflow plans that version too, and the two makespans must be equal.
Targets (2-core machine): 10,000 tasks in < 1 s, 100,000 in < 15 s.
"""

from __future__ import annotations

import argparse
import logging
import math
import time

import networkx as nx
import numpy as np
import pandas as pd
from hetflow.solvers import plan
from hetflow.taskgraph import Cluster, TaskGraph, Worker

N_WORKERS = 16


def cluster16(seed: int = 0) -> Cluster:
    """4 gpu + 12 cpu workers with distinct speeds; gpu-gpu links at 50 GB/s, the rest 1 GB/s."""
    rng = np.random.default_rng(seed)
    speeds = rng.permutation(np.linspace(0.8, 1.6, N_WORKERS))
    workers = [Worker(f"gpu{i}", "gpu", float(speeds[i])) for i in range(4)]
    workers += [Worker(f"cpu{i}", "cpu", float(speeds[4 + i])) for i in range(12)]
    links = [
        {"a": f"gpu{a}", "b": f"gpu{b}", "bandwidth": 5e10, "latency": 0.0} for a in range(4) for b in range(a + 1, 4)
    ]
    return Cluster(workers, bandwidth=1e9, latency=0.0, links=links)


def layered_dag(n: int, seed: int = 0) -> TaskGraph:
    """``layered_random(n, cpu_only_share=0.2)``; without it, about sqrt(n) layers of about sqrt(n) tasks,
    each reading 1-3 tasks of the layer before (20% cpu-only, 10% gpu-only, bytes 1-100 MB).
    """
    try:  # the shared generator
        from hetflow.taskgraph.generators import layered_random
    except ImportError:
        layered_random = None
    if layered_random is not None:
        return layered_random(n, cpu_only_share=0.2, seed=seed)
    rng = np.random.default_rng(seed)
    width = max(2, int(math.sqrt(n)))
    layers = np.array_split(np.arange(n), max(1, n // width))
    cpu = rng.uniform(1.0, 10.0, n)
    gpu = cpu / rng.uniform(2.0, 10.0, n)
    kind = rng.random(n)
    G = nx.DiGraph(name=f"layered-{n}")
    for i in range(n):
        cost = {"cpu": float(cpu[i])} if kind[i] < 0.2 else {"gpu": float(gpu[i])} if kind[i] < 0.3 else {
            "cpu": float(cpu[i]), "gpu": float(gpu[i])}
        G.add_node(i, cost=cost)
    for prev, layer in zip(layers, layers[1:]):
        k = rng.integers(1, 4, len(layer))
        for v, kv in zip(layer, k):
            for u in rng.choice(prev, size=min(kv, len(prev)), replace=False):
                G.add_edge(int(u), int(v), bytes=float(rng.uniform(1e6, 1e8)))
    return TaskGraph(G)


def related(graph: TaskGraph) -> TaskGraph:
    """The same DAG with one cost per task on every class (SAGA's related-machine model)."""
    G = graph.G.copy()
    for _, data in G.nodes(data=True):
        w = data["cost"].get("cpu", next(iter(data["cost"].values())))
        data["cost"] = {"cpu": w, "gpu": w}
    return TaskGraph(G)


def to_saga(graph: TaskGraph, cluster: Cluster):
    """SAGA's (Network, TaskGraph); every worker pair including self-links (speed inf)."""
    import saga

    names = cluster.names
    edges = [(a, b, math.inf if a == b else cluster.link(a, b)[0]) for i, a in enumerate(names) for b in names[i:]]
    network = saga.Network.create(nodes=[(w.name, w.speed) for w in cluster.workers], edges=edges)
    task_graph = saga.TaskGraph.create(
        tasks=[(str(t), graph.cost(t)["cpu"]) for t in graph.tasks],
        dependencies=[(str(u), str(v), b) for u, v, b in graph.G.edges(data="bytes")],
    )
    return network, task_graph


def timed_heft(graph: TaskGraph, cluster: Cluster) -> tuple[float, float]:
    t0 = time.perf_counter()
    makespan = plan(graph, cluster, solver="heft").makespan
    return time.perf_counter() - t0, makespan


def run(sizes: list[int], saga_sizes: list[int]) -> pd.DataFrame:
    cluster = cluster16()
    rows = []
    for n in sizes:
        graph = layered_dag(n)
        seconds, makespan = timed_heft(graph, cluster)
        row = {"tasks": n, "edges": graph.G.number_of_edges(), "workers": len(cluster),
               "hetflow_s": seconds, "makespan": makespan}
        if n in saga_sizes:
            from saga.schedulers import HeftScheduler

            rel = related(graph)
            row["related_hetflow_s"], row["related_makespan"] = timed_heft(rel, cluster)
            network, task_graph = to_saga(rel, cluster)
            t0 = time.perf_counter()
            row["saga_makespan"] = HeftScheduler().schedule(network, task_graph).makespan
            row["saga_s"] = time.perf_counter() - t0
            row["match"] = math.isclose(row["related_makespan"], row["saga_makespan"], rel_tol=1e-9)
            row["speedup"] = row["saga_s"] / row["related_hetflow_s"]
        rows.append(row)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="CI sizes: hetflow 1k/5k, SAGA 1k")
    parser.add_argument("--no-saga", action="store_true", help="skip SAGA")
    args = parser.parse_args(argv)
    sizes = [1_000, 5_000] if args.small else [1_000, 5_000, 10_000, 100_000]
    saga_sizes = [] if args.no_saga else [1_000] if args.small else [1_000, 5_000]
    if saga_sizes:
        try:
            import saga  # noqa: F401
        except ImportError:
            print("anrg-saga is not installed: SAGA columns skipped")
            saga_sizes = []
    logging.getLogger().setLevel(logging.ERROR)  # SAGA warns about its super source/sink
    table = run(sizes, saga_sizes)
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.float_format", "{:.4g}".format):
        print(table.to_string(index=False))
    if "match" in table and not table["match"].dropna().all():
        print("MISMATCH: hetflow and SAGA makespans differ on a related-machine instance")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
