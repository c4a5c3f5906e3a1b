"""hetflow.flows.bench.emulate: hetflow vs Dask's own scheduling of the same emulated graph, same cluster."""

from __future__ import annotations

import pytest
from flows_graphs import layered
from hetflow.flows.bench.emulate import compare_execution, emulated, plain_dask_run, prefers_gpu, reference_results
from hetflow.flows.runtime.cluster import DaskSession, slot_map
from hetflow.solvers import plan
from hetflow.taskgraph import Cluster


def test_variants_agree_and_hints_reach_the_gpu(dask_client):
    cluster = Cluster.local(gpus=1, cpus=3)
    session = DaskSession(dask_client, cluster, slot_map(dask_client))
    graph = layered(4, 4, seconds=1.0)
    schedule = plan(graph, cluster, solver="heft")
    table, runs = compare_execution(session, graph, schedule, time_scale=0.02, modes=("graph", "submit"))
    assert list(table.variant) == [
        "hetflow (heft plan)", "dask (none hints)", "dask (gpu hints)",
        "dask (none hints, submit)", "dask (gpu hints, submit)",
    ]  # fmt: skip
    expected = reference_results(emulated(graph))
    assert all(v.results == expected for v in runs.values())
    assert table.vs_best_dask.min() <= 1.0 + 1e-9 and (table.makespan_s > 0).all()
    gpu_tasks = {t for t in graph.tasks if prefers_gpu(graph.cost(t))}
    hinted = runs["gpu-graph"].frame
    assert set(hinted[hinted.task.isin(gpu_tasks)].worker) == {"gpu0"}  # GPU=1 requested
    assert "gpu0" not in set(hinted[~hinted.task.isin(gpu_tasks)].worker)  # cpu-only tasks need CPU=1
    assert table.iloc[0]["actual/planned"] > 0.5


def test_plain_dask_rejects_unknown_hints(dask_client):
    session = DaskSession(dask_client, Cluster.local(1, 3), slot_map(dask_client))
    with pytest.raises(ValueError, match="hints"):
        plain_dask_run(session, layered(2, 2), hints="maybe")
