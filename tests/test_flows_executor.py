"""runtime.executor.PlanExecutor on a real Dask cluster, without Prefect: pinning, order, keys, retries."""

from __future__ import annotations

import hetflow_test_ops  # noqa: F401  (registers test.* ops in this process too)
import pytest
from flows_graphs import layered, two_sinks
from hetflow.flows.bench.emulate import emulated, reference_results
from hetflow.flows.runtime.cluster import slot_map
from hetflow.flows.runtime.executor import PlanExecutor, TaskFailed
from hetflow.flows.runtime.timeline import timeline_frame
from hetflow.solvers import plan
from hetflow.taskgraph import Cluster

CLUSTER = Cluster.local(gpus=1, cpus=3)


def _run(client, graph, solver="heft", **options):
    slots = slot_map(client)
    schedule = plan(graph, CLUSTER, solver=solver)
    execution = PlanExecutor(client, graph, CLUSTER, slots, solver=solver, **options).run(schedule)
    return schedule, execution, slots


def test_tasks_run_on_planned_workers_with_readable_keys(dask_client):
    graph = layered(4, 6)
    schedule, ex, slots = _run(dask_client, graph, time_scale=0.02)
    assert ex.results == reference_results(graph)
    assert list(ex.results) == graph.sinks
    # independently of hetflow.flows.runtime.timeline: the scheduler's task stream says where each key ran
    ran_on = {r["key"]: r["worker"] for r in dask_client.get_task_stream(start=ex.t0 - 1)}
    for t in graph.tasks:
        key = ex.final_key[t]
        assert key.startswith(f"{graph.kind(t)}-{t}-")
        assert ran_on[key] == slots[schedule.worker_of(t)].address, t
    frame = timeline_frame(graph, ex, slots, 0.02)
    assert frame.on_plan.all() and (frame.attempts == 1).all()
    assert (frame.actual_finish >= frame.actual_start).all()
    assert not ex.replans and ex.submit_seconds < ex.wall_seconds


def test_strict_order_follows_the_plan_on_every_worker(dask_client):
    graph = layered(4, 6)
    schedule, ex, slots = _run(dask_client, graph, time_scale=0.01, strict_order=True)
    frame = timeline_frame(graph, ex, slots, 0.01)
    for worker, df in frame.groupby("planned_worker"):
        assert df.sort_values("actual_start").task.tolist() == schedule.order_on(worker)


def test_failing_task_is_retried_on_its_worker(dask_client, tmp_path):
    graph = layered(2, 3)
    graph.G.nodes["t1_1"].update(op="test.flaky", params={"state_dir": str(tmp_path), "fail_times": 2})
    schedule, ex, slots = _run(dask_client, graph, time_scale=0.01, retries=2, retry_delay=0.2)
    assert ex.failures == {"'t1_1'": 2}
    frame = timeline_frame(graph, ex, slots, 0.01).set_index("task")
    assert frame.loc["t1_1", "attempts"] == 3 and frame.attempts.sum() == len(graph) + 2
    assert frame.loc["t1_1", "actual_worker"] == schedule.worker_of("t1_1")
    assert ex.wall_seconds >= 0.4  # two retry delays
    assert ex.results == reference_results(emulated(graph))


def test_exhausted_retries_name_the_task(dask_client, tmp_path):
    graph = layered(2, 3)
    graph.G.nodes["t0_2"].update(op="test.flaky", params={"state_dir": str(tmp_path), "fail_times": 5})
    with pytest.raises(TaskFailed, match=r"task 't0_2' failed on worker '\w+' after 2 attempt\(s\).*flaky failure 2"):
        _run(dask_client, graph, time_scale=0.01, retries=1)


def test_any_registered_op_runs_with_device_and_two_sinks(dask_client):
    graph = two_sinks()
    schedule, ex, _ = _run(dask_client, graph)
    device_b = CLUSTER.worker(schedule.worker_of("b")).device
    assert ex.results == {"b": (11, device_b), "c": (101, "cpu")}
    assert list(ex.results) == ["b", "c"]


def test_task_ids_that_print_alike_are_rejected(dask_client):
    from hetflow.taskgraph import TaskGraph
    from hetflow.taskgraph.errors import InvalidInput

    g = TaskGraph(name="clash")
    g.add_task(1, {"cpu": 0.01})
    g.add_task("1", {"cpu": 0.01})
    with pytest.raises(InvalidInput, match="same Dask key"):
        _run(dask_client, g.validate())


def test_timeout_option_stops_a_run_that_takes_longer(dask_client):
    graph = layered(2, 3)  # 1 s tasks: 0.5 s each at time scale 0.5, the run needs > 1 s
    with pytest.raises(TaskFailed, match=r"did not finish within 0.3 s"):
        _run(dask_client, graph, time_scale=0.5, timeout=0.3)


def test_emulate_option_ignores_ops(dask_client, tmp_path):
    graph = layered(2, 3)
    graph.G.nodes["t1_1"].update(op="test.flaky", params={"state_dir": str(tmp_path), "fail_times": 5})
    schedule, ex, slots = _run(dask_client, graph, time_scale=0.01, retries=0, emulate=True)
    assert ex.results == reference_results(emulated(graph)) and not ex.failures
