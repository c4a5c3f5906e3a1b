"""Worker loss during a gather, restarted workers rejoining, and time limits (issue 14 items 7 and 8):
runtime.executor.PlanExecutor on the shared Dask cluster (conftest.py: Nanny workers, restarted when killed)."""

from __future__ import annotations

import os
import signal
import threading
import time

import hetflow_test_ops  # noqa: F401  (registers test.* ops in this process too)
import pytest
from flows_graphs import layered
from hetflow.flows.bench.emulate import emulated, reference_results
from hetflow.flows.orchestration.record import merge_digest
from hetflow.flows.runtime.cluster import slot_map, worker_pids
from hetflow.flows.runtime.executor import PlanExecutor, TaskFailed
from hetflow.flows.runtime.keys import is_task_key, parse_key
from hetflow.flows.runtime.timeline import timeline_frame
from hetflow.solvers import plan
from hetflow.taskgraph import Cluster, TaskGraph

CLUSTER = Cluster.local(gpus=1, cpus=3)


def _executor(client, graph, **options) -> tuple[PlanExecutor, object]:
    executor = PlanExecutor(client, graph, CLUSTER, slot_map(client), solver="heft", **options)
    return executor, plan(graph, CLUSTER, solver="heft")


class KillWhenDone(threading.Thread):
    """SIGKILL a worker ``delay`` s after ``after`` tasks whose key ``match`` accepts have finished: ``victim``,
    or (None) the worker that ran the first of them."""

    def __init__(self, address: str, match, *, after: int = 1, delay: float = 0.0, victim: str | None = None):
        super().__init__(daemon=True)
        self.address, self.match, self.after, self.delay, self.victim = address, match, after, delay, victim
        self.killed: str | None = None
        self.killed_at: float | None = None

    def run(self) -> None:
        from distributed import Client

        with Client(self.address, set_as_default=False) as client:
            pids = worker_pids(client)
            names = {a: str(w["name"]) for a, w in client.scheduler_info(n_workers=-1)["workers"].items()}
            start = time.time()
            while time.time() - start < 60:
                stream = client.get_task_stream(start=start)
                done = [r for r in stream if is_task_key(r["key"]) and self.match(r["key"])]
                if len(done) >= self.after:
                    time.sleep(self.delay)
                    name = self.victim or names[done[0]["worker"]]
                    os.kill(pids[name], signal.SIGKILL)
                    self.killed, self.killed_at = name, time.time()
                    return
                time.sleep(0.02)


def test_losing_the_holder_of_a_sink_being_gathered_costs_no_gather_timeout(dask_cluster, dask_client):
    """The sink's result takes 1.5 s to leave its worker; the worker dies 0.4 s into that. The old executor
    waited for a 10 s gather timeout before it noticed; now the scheduler's who_has says so within a poll."""
    g = TaskGraph(name="slow-sink")
    g.add_task("a", {"cpu": 0.05}, kind="prep")
    g.add_task("sink", {"cpu": 0.05}, kind="sink", op="test.slow_result", params={"seconds": 1.5})
    g.add_edge("a", "sink")
    executor, schedule = _executor(dask_client, g, time_scale=1.0)
    killer = KillWhenDone(dask_cluster.scheduler_address, lambda key: parse_key(key).task == "sink", delay=0.4)
    killer.start()
    ex = executor.run(schedule)
    killer.join()
    assert killer.killed is not None, "the run ended before the holder could be killed"
    assert len(ex.replans) >= 1 and ex.replans[0].dead == [killer.killed]
    assert ex.results["sink"] == hetflow_test_ops.SlowPickle(reference_results(emulated(g))["sink"])
    extra = ex.t0 + ex.wall_seconds - killer.killed_at  # from the kill to the sink in hand
    assert extra < 6.0, f"{extra:.1f} s from the kill to the end (a 10 s gather timeout would show here)"


def test_a_restarted_worker_rejoins_the_plan(dask_cluster, dask_client):
    graph = layered(6, 6)
    expected = merge_digest(reference_results(emulated(graph)))
    executor, schedule = _executor(dask_client, graph, time_scale=0.35)
    killer = KillWhenDone(dask_cluster.scheduler_address, lambda key: parse_key(key).kind == "prep", after=3,
                          victim="gpu0")  # fmt: skip
    killer.start()
    ex = executor.run(schedule)
    killer.join()
    assert killer.killed == "gpu0"
    assert merge_digest(ex.results) == expected
    assert ex.replans[0].dead == ["gpu0"]
    back = [r for r in ex.replans if "gpu0" in r.rejoined]
    assert back, f"gpu0 never rejoined: {[(r.index, r.dead, r.rejoined) for r in ex.replans]}"
    frame = timeline_frame(graph, ex, executor.slots, 0.35)
    on_gpu = frame[frame["round"].isin([r.index for r in back]) & (frame.planned_worker == "gpu0")]
    assert len(on_gpu) > 0 and (on_gpu.actual_worker == "gpu0").all()  # its new address maps to its name


def test_a_task_past_its_limit_is_named_and_finished_sinks_are_kept(dask_client, tmp_path):
    g = TaskGraph(name="stuck")
    g.add_task("a", {"cpu": 0.05}, op="test.add", params={"offset": 1})
    g.add_task("quick", {"cpu": 0.05}, op="test.add", params={"offset": 2})
    g.add_task("hang", {"cpu": 0.1}, op="test.stuck", params={"flag": str(tmp_path / "free")})
    g.add_edge("a", "quick")
    g.add_edge("a", "hang")
    executor, schedule = _executor(dask_client, g, task_timeout_factor=2.0, task_timeout_slack=1.0)
    start = time.perf_counter()
    try:
        with pytest.raises(TaskFailed) as err:
            executor.run(schedule)
    finally:
        (tmp_path / "free").touch()  # frees the worker for the next tests
    elapsed = time.perf_counter() - start
    message = str(err.value)
    worker = schedule.by_task["hang"].worker
    assert "task 'hang' ran " in message and f"on worker '{worker}', past its limit of 1.2 s" in message
    assert "(2 x planned 0.1 s + 1 s)" in message and "1 of 2 sinks finished" in message
    assert elapsed < 8, f"the limit was 1.2 s; the run failed after {elapsed:.1f} s"
    partial = err.value.execution
    assert partial is not None and not partial.complete
    assert partial.results == {"quick": (1 + 2, "cpu")}  # a = (1, "cpu"); quick adds 2


def test_the_run_timeout_names_what_is_running_and_waiting(dask_client, tmp_path):
    g = TaskGraph(name="slow")
    g.add_task("hang", {"cpu": 0.1}, op="test.stuck", params={"flag": str(tmp_path / "free")})
    g.add_task("after", {"cpu": 0.1}, op="test.add")
    g.add_edge("hang", "after")
    executor, schedule = _executor(dask_client, g, timeout=1.5, task_timeout_factor=None)
    try:
        with pytest.raises(TaskFailed) as err:
            executor.run(schedule)
    finally:
        (tmp_path / "free").touch()
    worker = schedule.by_task["hang"].worker
    message = str(err.value)
    assert message.startswith("the run did not finish within 1.5 s; running: 'hang' on ")
    assert f"'hang' on '{worker}' (" in message and "waiting: 1 task ('after')" in message
    assert message.endswith("0 of 1 sinks finished")


def test_a_failed_run_writes_the_finished_sinks_marked_incomplete(prefect_harness, dask_cluster, dask_client,
                                                                  tmp_path):  # fmt: skip
    import json

    from hetflow.flows.orchestration.flow import run_plan

    g = TaskGraph(name="partial")
    g.add_task("quick", {"cpu": 0.05}, op="test.add", params={"offset": 2})
    g.add_task("hang", {"cpu": 0.05}, op="test.stuck", params={"flag": str(tmp_path / "free")})
    out = tmp_path / "out"
    try:
        with pytest.raises(TaskFailed, match="task 'hang' ran"):
            run_plan(g, address=dask_cluster.scheduler_address, out_dir=str(out), task_timeout_factor=1.0,
                     task_timeout_slack=0.5, data_dirs=[str(tmp_path)], dashboard=False, artifacts=False,
                     cost_store=None)  # fmt: skip
    finally:
        (tmp_path / "free").touch()
    saved = json.loads((out / "results.json").read_text())
    assert saved["complete"] is False and saved["missing"] == ["hang"]
    assert saved["incomplete"].startswith("TaskFailed: task 'hang' ran")
    assert [k for k, _ in saved["results"]] == ["quick"]
    assert "INCOMPLETE" in (out / "summary.md").read_text()
