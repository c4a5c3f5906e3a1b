"""Faults under the Prefect flow: a flaky task, a worker process killed mid-run, no GPU left."""

from __future__ import annotations

import os
import signal
import threading
import time

import hetflow_test_ops  # noqa: F401
import pytest
from flows_graphs import layered
from hetflow.flows.bench.emulate import emulated, reference_results
from hetflow.flows.orchestration.flow import merge_digest, run_plan
from hetflow.flows.runtime.keys import is_task_key, parse_key
from hetflow.taskgraph.errors import DeviceError


class Killer(threading.Thread):
    """Kill Dask worker ``name`` (SIGKILL to its process) once ``after`` tasks of ``kinds`` have finished."""

    def __init__(self, address: str, name: str, after: int, kinds: set[str], timeout: float = 60):
        super().__init__(daemon=True)
        self.address, self.name, self.after, self.kinds, self.timeout = address, name, after, kinds, timeout
        self.killed_at: float | None = None

    def run(self) -> None:
        from distributed import Client
        from hetflow.flows.runtime.cluster import worker_pids

        with Client(self.address, set_as_default=False) as client:
            pid = worker_pids(client)[self.name]
            start = time.time()
            while time.time() - start < self.timeout:
                keys = [r["key"] for r in client.get_task_stream(start=start)]
                done = [k for k in keys if is_task_key(k) and parse_key(k).kind in self.kinds]
                if len(done) >= self.after:
                    os.kill(pid, signal.SIGKILL)
                    self.killed_at = time.time()
                    return
                time.sleep(0.05)


def test_task_failing_twice_then_succeeding(prefect_harness, dask_cluster, dask_client, tmp_path):
    graph = layered(4, 4)
    graph.G.nodes["t2_1"].update(op="test.flaky", params={"state_dir": str(tmp_path), "fail_times": 2})
    record = run_plan(graph, address=dask_cluster.scheduler_address, solver="heft", retries=2, retry_delay=0.1,
                      time_scale=0.05, dashboard=False, artifacts=False)  # fmt: skip
    tl = record.timeline.set_index("task")
    assert tl.loc["t2_1", "attempts"] == 3 and tl.attempts.sum() == len(graph) + 2
    assert tl.on_plan.all() and not record.replans
    assert record.results == reference_results(emulated(graph))


@pytest.mark.parametrize("victim", ["cpu1", "gpu0"])
def test_killed_worker_is_replanned_around(prefect_harness, dask_cluster, dask_client, victim):
    graph = layered(6, 6)  # embed tasks can fall back to the CPU (3x slower)
    expected = merge_digest(reference_results(emulated(graph)))
    killer = Killer(dask_cluster.scheduler_address, victim, after=8, kinds={"prep", "embed"})
    killer.start()
    record = run_plan(graph, address=dask_cluster.scheduler_address, solver="heft", time_scale=0.12,
                      dashboard=False, artifacts=False)  # fmt: skip
    killer.join()
    assert killer.killed_at is not None, "the run ended before the worker could be killed"
    assert record.digest == expected  # identical merged output, each sink merged once
    assert list(record.results) == graph.sinks
    assert len(record.replans) >= 1 and record.replans[0]["dead"] == [victim]
    assert 0 < record.replans[0]["kept"] < len(graph) and record.replans[0]["tasks"] > 0
    tl = record.timeline
    replanned = tl[tl["round"] > 0]
    assert len(replanned) > 0 and replanned.on_plan.all()
    rejoined = {r["round"] for r in record.replans if victim in r.get("rejoined", [])}
    away = replanned[~replanned["round"].isin(rejoined)]  # planned while the victim was dead (its nanny restarts it)
    assert victim not in set(away.planned_worker)
    if victim == "gpu0":  # GPU-capable tasks that were left moved to the CPUs
        assert (away[away.kind == "embed"].actual_worker.str.startswith("cpu")).all()


def test_gpu_only_task_without_gpu_is_a_clear_error(prefect_harness, dask_cluster, dask_client):
    graph = layered(4, 4, gpu_only_last=True)
    killer = Killer(dask_cluster.scheduler_address, "gpu0", after=4, kinds={"prep"})
    killer.start()
    message = r"after workers gpu0 died: task 't3_\d' cannot run on any worker: it runs on gpu"
    with pytest.raises(DeviceError, match=message):
        run_plan(graph, address=dask_cluster.scheduler_address, solver="heft", time_scale=0.12, dashboard=False,
                 artifacts=False)  # fmt: skip
    killer.join()
    assert killer.killed_at is not None


def test_max_replans_bounds_the_recovery(prefect_harness, dask_cluster, dask_client):
    from hetflow.flows.runtime.executor import TaskFailed

    graph = layered(6, 6)
    killer = Killer(dask_cluster.scheduler_address, "cpu2", after=4, kinds={"prep"})
    killer.start()
    with pytest.raises(TaskFailed, match=r"workers \['cpu2'\] died; gave up after 0 re-plans"):
        run_plan(graph, address=dask_cluster.scheduler_address, solver="heft", time_scale=0.12, max_replans=0,
                 dashboard=False, artifacts=False)  # fmt: skip
    killer.join()
    assert killer.killed_at is not None
