"""Worker threads sharing too few cores (hetflow.flows.runtime.hosts): CPU-bound jobs are planned on as many
workers per machine as it has cores; jobs that wait keep every worker. The cores are real: the live test
runs its cluster on one core of this machine (the worker processes inherit the test's CPU affinity)."""

from __future__ import annotations

import contextlib
import doctest
import os
import signal
import threading
import time

import dask
import pytest
from hetflow.flows.compute import compute, last_report
from hetflow.flows.runtime import hosts
from hetflow.flows.runtime.hosts import CPU_BOUND, Host, cpu_samples, cpu_share, cpu_slots, hosts_of
from hetflow.taskgraph import Cluster, TaskGraph, Worker
from hetflow.taskgraph.coststore import CostStore, CostStoreError


def test_the_module_examples_run():
    result = doctest.testmod(hosts)
    assert result.attempted >= 20 and result.failed == 0


def _cluster() -> Cluster:
    return Cluster([Worker("gpu0", "gpu"), Worker("cpu0", "cpu"), Worker("cpu1", "cpu", 2.0), Worker("cpu2", "cpu")])


@pytest.mark.parametrize(
    ("cores", "share", "kept"),
    [
        (2, 0.9, ["gpu0", "cpu1"]),  # CPU-bound, 4 threads on 2 cores
        (3, 0.9, ["gpu0", "cpu0", "cpu1"]),  # the third core goes to the fastest left (cpu1 2x, then by name)
        (4, 0.9, ["gpu0", "cpu0", "cpu1", "cpu2"]),  # enough cores
        (2, CPU_BOUND / 2 * 0.99, ["gpu0", "cpu0", "cpu1", "cpu2"]),  # just under the line: tasks mostly wait
        (2, CPU_BOUND / 2, ["gpu0", "cpu1"]),  # on the line
    ],
)
def test_cpu_slots_keep_at_most_one_worker_per_core_when_the_job_would_keep_the_cores_busy(cores, share, kept):
    machine = Host("box", cores)
    planned = cpu_slots(_cluster(), dict.fromkeys(["gpu0", "cpu0", "cpu1", "cpu2"], machine), share)
    assert [w.name for w in planned.workers] == kept


def test_cpu_slots_count_cores_per_machine():
    a, b = Host("a", 1), Host("b", 4)
    planned = cpu_slots(_cluster(), {"gpu0": a, "cpu0": a, "cpu1": b, "cpu2": b}, share=1.0)
    assert [w.name for w in planned.workers] == ["gpu0", "cpu0", "cpu1", "cpu2"]  # a keeps one of each class
    c = Host("c", 1)
    planned = cpu_slots(_cluster(), {"gpu0": a, "cpu0": c, "cpu1": c, "cpu2": c}, share=1.0)
    assert [w.name for w in planned.workers] == ["gpu0", "cpu1"]


def test_cpu_share_is_work_weighted_over_measured_kinds():
    g = TaskGraph(name="g")
    g.add_task("a", {"cpu": 2.0, "gpu": 1.0}, kind="crunch")  # counts with its cheapest cost, 1.0
    g.add_task("b", {"cpu": 3.0}, kind="wait")
    g.add_task("c", {"cpu": 5.0}, kind="never-measured")
    store = CostStore(path=None)
    store.learn({}, cpu={("crunch", "gpu"): [(1.0, 1.0)], ("wait", "cpu"): [(2.0, 0.0)]})
    assert cpu_share(g, store) == pytest.approx(1.0 / 9.0)  # the unmeasured kind counts as waiting


def test_cpu_samples_are_the_difference_of_two_snapshots_per_worker():
    before = {"w1": {"crunch": (1.0, 0.5), "other": (3.0, 0.0)}, "w2": {"crunch": (0.0, 0.0)},
              "restarted": {"crunch": (9.0, 9.0)}, "left": {"crunch": (1.0, 1.0)}}
    after = {"w1": {"crunch": (2.5, 1.0), "other": (3.0, 0.0), "wait": (0.0, 4.0)}, "w2": {"crunch": (1.0, 0.0)},
             "restarted": {"crunch": (0.5, 0.0)}, "joined": {"crunch": (7.0, 7.0)}}
    device_of = {"w1": "cpu", "w2": "cpu", "restarted": "cpu", "left": "cpu", "joined": "gpu"}
    assert cpu_samples(before, after, ["crunch", "wait", "other", "absent"], device_of) == {
        ("crunch", "cpu"): [(3.0, 2.5)], ("wait", "cpu"): [(4.0, 0.0)]}
    assert cpu_samples(before, after, ["crunch"], {"w1": "gpu"}) == {("crunch", "gpu"): [(2.0, 1.5)]}


def test_cpu_bound_tasks_are_costed_at_their_cpu_time_per_class_and_waiting_ones_keep_theirs():
    from hetflow.flows.runtime.hosts import cpu_costs, oversubscription

    g = TaskGraph(name="g")
    g.add_task("m", {"cpu": 0.042, "gpu": 0.020}, kind="matmul")  # learned among 4 threads on 2 cores
    g.add_task("e", {"cpu": 1.0, "gpu": 0.1}, kind="embed")
    g.add_edge("m", "e", bytes=5e6)
    store = CostStore(path=None)
    store.learn({}, cpu={("matmul", "cpu"): [(0.042, 0.021)], ("matmul", "gpu"): [(0.020, 0.019)],
                         ("embed", "gpu"): [(0.1, 0.002)]})
    ratio = oversubscription(_cluster(), dict.fromkeys(["gpu0", "cpu0", "cpu1", "cpu2"], Host("box", 2)))
    assert ratio == 2.0
    out = cpu_costs(g, store, ratio)
    assert out.cost("m") == pytest.approx({"cpu": 0.021, "gpu": 0.019})  # about equal: the same work
    assert out.cost("e") == {"cpu": 1.0, "gpu": 0.1}  # waits: its wall time stays its cost
    assert out.G.edges["m", "e"]["bytes"] == 5e6 and g.cost("m") == {"cpu": 0.042, "gpu": 0.020}  # a copy


def test_the_cost_store_keeps_cpu_shares_and_reads_stores_without_them(tmp_path):
    store = CostStore(tmp_path / "costs.json")
    store.learn({("crunch", "cpu"): [(0.0, 1.0)]}, cpu={("crunch", "cpu"): [(2.0, 1.5)]})
    store.save()
    again = CostStore.load(tmp_path / "costs.json")
    assert again.cpu_share("crunch") == pytest.approx(0.75)
    old = store.to_dict()
    del old["cpu"]  # a store written before shares were learned
    assert CostStore.from_dict(old).cpu_share("crunch") is None
    broken = store.to_dict()
    broken["cpu"][0]["stats"] = [1, 2]
    with pytest.raises(CostStoreError, match="corrupt"):
        CostStore.from_dict(broken)
    store.learn({}, cpu={("crunch", "cpu"): [(1.0, 0.0)]})  # newer runs weigh more (half life 5 runs)
    assert 0.0 < store.cpu_share("crunch") < 0.75


@contextlib.contextmanager
def _one_core():
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("CPU affinity is Linux-only")
    saved = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(saved)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, saved)


def _crunch(i: int) -> int:
    total = 0
    for k in range(400_000):  # pure Python: its thread is on a CPU all the time it runs
        total += (k * i) % 7
    return total


def _wait(i: int) -> int:
    time.sleep(0.05)
    return i


@pytest.mark.timeout(240)
def test_a_cpu_bound_job_is_planned_on_one_worker_per_core_after_its_first_run(tmp_path):
    from distributed import Client
    from hetflow.flows.runtime.cluster import start_local_cluster

    store = CostStore(tmp_path / "costs.json")
    with _one_core(), start_local_cluster(Cluster.local(1, 2), dashboard_address=None) as lc, Client(
        lc, set_as_default=False
    ) as client:
        client.wait_for_workers(3)
        assert set(client.run(lambda: len(os.sched_getaffinity(0))).values()) == {1}

        def crunching():
            return dask.delayed(sum)([dask.delayed(_crunch)(i) for i in range(8)])

        def waiting():
            return dask.delayed(sum)([dask.delayed(_wait)(i) for i in range(8)])

        with pytest.warns(UserWarning):  # the first run of each: kinds never measured
            assert compute(crunching(), client=client, costs=store) == dask.compute(crunching())
            compute(waiting(), client=client, costs=store)
        assert last_report().planned_workers == ["gpu0", "cpu0", "cpu1"]  # nothing learned yet: every worker
        assert store.cpu_share("crunch") > CPU_BOUND / 3  # ~1/3: three processes on one core
        assert store.cpu_share("wait") < 0.05

        assert compute(crunching(), client=client, costs=store) == dask.compute(crunching())
        assert last_report().planned_workers == ["gpu0", "cpu0"]  # one core: one worker of each class
        assert {p.worker for p in last_report().schedule.placements} <= {"gpu0", "cpu0"}
        assert compute(waiting(), client=client, costs=store) == (sum(range(8)),)
        assert last_report().planned_workers == ["gpu0", "cpu0", "cpu1"]  # waiting tasks: every worker

        # a worker left out of the plan dies meanwhile: nothing to re-plan, nothing lost
        longer = dask.delayed(sum)([dask.delayed(_crunch)(i) for i in range(100)])
        out: list = []
        run = threading.Thread(target=lambda: out.append(compute(longer, client=client, costs=store)))
        run.start()
        time.sleep(0.3)
        cpu1 = next(a for a, w in client.scheduler_info(n_workers=-1)["workers"].items() if w["name"] == "cpu1")
        os.kill(client.run(os.getpid, workers=[cpu1])[cpu1], signal.SIGKILL)
        assert run.is_alive(), "the run ended before the worker died: make it longer"
        run.join(timeout=180)
        assert out == [dask.compute(longer)]
        assert last_report().planned_workers == ["gpu0", "cpu0"] and last_report().replans == 0
        slots = {"gpu0": None}
    assert hosts_of(client, slots) == {}  # the cluster is gone: no answer, no restriction (and no traceback)
