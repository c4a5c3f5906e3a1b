"""User functions as ops of hetflow's own TaskGraph, on worker processes that cannot import them."""

from __future__ import annotations

import time

import pytest
from hetflow.flows.runtime.cluster import slot_map
from hetflow.flows.runtime.executor import PlanExecutor, UnknownOpError
from hetflow.flows.runtime.ops import register_op
from hetflow.solvers import plan
from hetflow.taskgraph import Cluster, TaskGraph

CLUSTER = Cluster.local(gpus=1, cpus=3)


def _graph(op_a, op_b) -> TaskGraph:
    g = TaskGraph(name="user-ops")
    g.add_task("a", {"cpu": 0.01}, kind="load", op=op_a, params={"n": 4})
    g.add_task("b", {"cpu": 0.02, "gpu": 0.01}, kind="double", op=op_b)
    g.add_edge("a", "b", bytes=100)
    return g.validate()


def test_a_function_defined_in_the_test_is_an_op(dask_client):
    def load(n, device=None):
        return list(range(n)), device

    def double(loaded, *, task):
        values, device = loaded
        return [2 * v for v in values], device, task

    assert "<locals>" in load.__qualname__  # pickled by value: no worker can import it
    graph = _graph(load, double)
    schedule = plan(graph, CLUSTER, solver="heft")
    ex = PlanExecutor(dask_client, graph, CLUSTER, slot_map(dask_client), solver="heft").run(schedule)
    assert ex.results == {"b": ([0, 2, 4, 6], "cpu", "b")}


def test_an_op_name_no_worker_knows_fails_at_once_without_retries(dask_client):
    @register_op("mine.square")  # registered here, in the client process only
    def square(x):
        return x * x

    graph = _graph("mine.square", "mine.square")
    schedule = plan(graph, CLUSTER, solver="heft")
    executor = PlanExecutor(dask_client, graph, CLUSTER, slot_map(dask_client), solver="heft", retries=3)
    t0 = time.time()
    with pytest.raises(UnknownOpError, match=r"op 'mine.square' of task 'a' is not registered on Dask worker"):
        executor.run(schedule)
    assert time.time() - t0 < 10
    # this run's keys carry its tag; the task stream's times are corrected by each worker's estimated clock
    # offset, so a time window alone can catch the previous test's tasks (or miss this one's)
    ran = [r for r in dask_client.get_task_stream(start=t0 - 60) if executor.tag in str(r["key"])]
    assert ran == []  # nothing was submitted, so nothing was retried
