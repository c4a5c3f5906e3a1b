"""hetflow.compute / plan_dask: any Dask collection planned onto GPU/CPU workers and run pinned.

Runs on the shared process-based cluster of conftest.py (gpu0 with GPU=1, cpu0..cpu2): the user's functions
are defined inside the tests (cloudpickle ships them by value — no worker can import them).
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import dask
import dask.array as da
import dask.bag as db
import distributed
import numpy as np
import pandas as pd
import pytest
from hetflow.flows.compute import UnmeasuredCostWarning, compute, last_report, plan_dask
from hetflow.taskgraph import Cluster, InvalidInput
from hetflow.taskgraph.coststore import CostStore
from hetflow.taskgraph.dask_graph import annotate, from_collections
from hetflow.taskgraph.errors import CycleError, DeviceError


@pytest.fixture
def store(tmp_path):
    return CostStore(tmp_path / "costs.json")


def _ran_on(client, t0):
    """Dask key -> the name of the worker that computed it (from the scheduler's task stream)."""
    names = {a: w["name"] for a, w in client.scheduler_info(n_workers=-1)["workers"].items()}
    return {
        r["key"]: names[r["worker"]]
        for r in client.get_task_stream(start=t0)
        if any(s["action"] == "compute" and s["start"] >= t0 for s in r["startstops"])
    }


def test_user_function_defined_here_runs_on_worker_processes(dask_client, store):
    def shout(word, times):  # a local function: not importable anywhere, Dask ships it by value
        return (word.upper() + "!") * times

    assert "<locals>" in shout.__qualname__
    parts = [dask.delayed(shout)(w, i + 1) for i, w in enumerate(["a", "bc", "d"])]
    total = dask.delayed("".join)(parts)
    t0 = time.time()
    with pytest.warns(UnmeasuredCostWarning, match="shout"):
        assert compute(total, client=dask_client, costs=store) == ("A!BC!BC!D!D!D!",)
    pids = dask_client.run(lambda: __import__("os").getpid())
    assert len(set(pids.values())) == 4  # four worker processes, none of them this one
    assert any(k[0].startswith("shout") for k in [(str(k),) for k in _ran_on(dask_client, t0 - 1)])


def test_array_matmul_reduction_equals_dask(dask_client, store):
    x = da.random.RandomState(0).random((300, 300), chunks=100)
    y = (x @ x.T).sum(axis=0)
    z = (x + 1).mean()
    expected = dask.compute(y, z, scheduler="sync")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnmeasuredCostWarning)
        got = compute(y, z, client=dask_client, costs=store)
    assert isinstance(got, tuple) and len(got) == 2
    np.testing.assert_allclose(got[0], expected[0])
    assert got[1] == pytest.approx(expected[1])


def test_dataframe_groupby_equals_dask(dask_client, store):
    import dask.dataframe as dd

    rng = np.random.default_rng(1)
    pdf = pd.DataFrame({"k": rng.integers(0, 7, 2_000), "v": rng.random(2_000)})
    ddf = dd.from_pandas(pdf, npartitions=6)
    agg = ddf.groupby("k").v.agg(["sum", "count"])
    expected = agg.compute(scheduler="sync")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnmeasuredCostWarning)
        (got,) = compute(agg, client=dask_client, costs=store)
    pd.testing.assert_frame_equal(got.sort_index(), expected.sort_index())


def test_bag_and_containers_follow_dask_compute_conventions(dask_client, store):
    bag = db.from_sequence(range(20), npartitions=4).map(lambda v: v * v)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnmeasuredCostWarning)
        got = compute({"total": bag.sum(), "items": bag, "plain": 7}, client=dask_client, costs=store)
    assert got == dask.compute({"total": bag.sum(), "items": bag, "plain": 7}, scheduler="sync")
    assert compute(1, "x", client=dask_client) == (1, "x")  # nothing to compute: arguments back


def test_gpu_annotation_pins_tasks_to_gpu_class_workers(dask_client, store):
    def embed(v):
        return v * 2

    with dask.annotate(resources={"GPU": 1}):
        vectors = [dask.delayed(embed, pure=True)(i) for i in range(6)]
    total = dask.delayed(sum)(vectors)
    t0 = time.time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnmeasuredCostWarning)
        assert compute(total, client=dask_client, costs=store) == (30,)
    ran = _ran_on(dask_client, t0 - 1)
    embeds = {k: w for k, w in ran.items() if str(k).startswith("embed")}
    assert len(embeds) == 6 and set(embeds.values()) == {"gpu0"}


def _staged_bag(npartitions: int, clean_cost: dict | None = None):
    """CPU stage -> GPU-annotated stage -> CPU stage, the chain Dask fuses into one task per partition."""

    def clean(text):
        return text.strip().lower()

    def embed(text):
        return [len(text), text.count("a")]

    def score(vec):
        return vec[0] * 10 + vec[1]

    docs = db.from_sequence([f" Doc {i} AAA{'a' * i} " for i in range(npartitions)], npartitions=npartitions)
    if clean_cost:
        with annotate(cost=clean_cost):
            cleaned = docs.map(clean)
    else:
        cleaned = docs.map(clean)
    with annotate(cost={"gpu": 0.1}):
        vectors = cleaned.map(embed)
    return vectors.map(score)


def test_fused_stages_are_split_where_annotations_change():
    bag = _staged_bag(4)
    work = from_collections(bag.sum())
    kinds = {work.graph.kind(t) for t in work.graph.tasks}
    assert {"clean", "embed"} <= kinds  # not one fused from_sequence-clean-embed-score-sum-part task
    embeds = [t for t in work.graph.tasks if work.graph.kind(t) == "embed"]
    assert len(embeds) == 4 and all(work.annotated[t] == ("gpu",) for t in embeds)
    assert all(t not in work.annotated for t in work.graph.tasks if work.graph.kind(t) in ("clean", "sum-part"))
    # 1 s of cleaning per partition: split, the cpu workers clean while the gpu embeds; fused, the gpu did it all
    graph, schedule = plan_dask(_staged_bag(4, {"cpu": 1.0, "gpu": 1.0}), cluster_or_client=Cluster.local(1, 3),
                                costs="given")
    cleans = [t for t in graph.tasks if graph.kind(t) == "clean"]
    assert len({schedule.worker_of(t) for t in cleans}) >= 3
    assert schedule.makespan < 2.5  # fused: 4 x (1 + 0.1) s on gpu0


def test_split_stages_compute_what_dask_computes(dask_client, store):
    bag = _staged_bag(6)
    t0 = time.time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnmeasuredCostWarning)
        got = compute(bag, bag.sum(), client=dask_client, costs=store)
    assert got == dask.compute(bag, bag.sum(), scheduler="sync")
    ran = _ran_on(dask_client, t0 - 1)
    embeds = {k: w for k, w in ran.items() if str(k).startswith("('embed")}
    assert len(embeds) == 6 and set(embeds.values()) == {"gpu0"}


def test_transfers_are_priced_with_the_bandwidth_dask_measured(dask_client):
    from hetflow.flows.compute import _cluster_of

    x = da.ones((400, 400), chunks=100)
    dask.compute((x @ x.T).sum(), scheduler=dask_client.get)  # some transfers for Dask to measure
    measured = dask_client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.bandwidth)
    cluster, _ = _cluster_of(dask_client)
    assert cluster.bandwidth == measured != Cluster.local(1, 1).bandwidth


def test_hetflow_cost_annotation_sets_classes_and_costs():
    with annotate(cost={"cpu": 3.0}):
        a = dask.delayed(abs)(-1)
    work = from_collections(dask.delayed(max)(a, 0))
    (key,) = [k for k in work.graph.tasks if str(k).startswith("abs")]
    assert work.graph.cost(key) == {"cpu": 3.0} and work.annotated[key] == ("cpu",)
    graph, schedule = plan_dask(dask.delayed(max)(a, 0), cluster_or_client=Cluster.local(1, 1), costs="given")
    assert schedule.worker_of(key) == "cpu0"


def test_annotation_naming_a_missing_device_class_is_one_line_error(dask_client):
    with annotate(cost={"tpu": 1.0}):
        x = dask.delayed(abs)(-3)
    t0 = time.time()
    with pytest.raises(DeviceError, match=r"annotated to run on tpu, but no worker of the cluster is"):
        compute(x, client=dask_client, costs="given")
    assert not [k for k in _ran_on(dask_client, t0) if str(k).startswith("abs")]  # nothing ran


def test_cyclic_graph_is_rejected():
    class Cyclic:
        def __dask_graph__(self):
            return {"a": (abs, "b"), "b": (abs, "a")}

        def __dask_keys__(self):
            return ["a"]

        def __dask_postcompute__(self):
            return (lambda results: results[0]), ()

        def __dask_tokenize__(self):
            return "cyclic"

    with pytest.raises(CycleError, match="cycle"):
        from_collections(Cyclic(), optimize_graph=False)


def test_scheduler_keywords_are_refused():
    with pytest.raises(InvalidInput, match="does not take workers"):
        compute(dask.delayed(abs)(1), workers=["x"])


def test_persisted_keys_are_not_recomputed(dask_client, store, tmp_path):
    def load(i, log):  # counts its own runs in a file every worker process can append to
        with open(log, "a") as f:
            f.write(f"{i}\n")
        return list(range(i * 10, i * 10 + 10))

    log = str(tmp_path / "runs.log")
    parts = [dask.delayed(load, pure=True)(i, log) for i in range(4)]
    persisted = dask_client.persist(parts)
    assert dask_client.gather(distributed.futures_of(persisted)) == [list(range(i * 10, i * 10 + 10)) for i in range(4)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnmeasuredCostWarning)
        (total,) = compute(dask.delayed(sum)([dask.delayed(sum)(p) for p in persisted]), client=dask_client,
                           costs=store)
    assert total == sum(range(40))
    with open(log) as f:
        assert sorted(f.read().split()) == ["0", "1", "2", "3"]  # each part ran once: the persisted result was read


def test_second_run_is_planned_from_the_first_runs_measurements(dask_client, store):
    def slow_square(v):
        time.sleep(0.05)
        return v * v

    def job():
        return dask.delayed(sum)([dask.delayed(slow_square, pure=True)(i) for i in range(8)])

    with pytest.warns(UnmeasuredCostWarning, match="slow_square"):
        compute(job(), client=dask_client, costs=store)
    saved = json.loads(store.path.read_text())
    assert saved["runs"] == 1 and "slow_square" in saved["seen"]
    reloaded = CostStore.load(store.path)
    assert 0.04 < reloaded.duration("slow_square", "cpu") < 0.5 or reloaded.duration("slow_square", "gpu") > 0.04
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnmeasuredCostWarning)  # everything is known now
        assert compute(job(), client=dask_client, costs=reloaded) == (sum(i * i for i in range(8)),)
    report = last_report()
    assert report.unknown_kinds == []
    # 8 tasks of 50 ms on 4 workers: the plan knows it now (the fallback planned 10 ms per task)
    assert report.planned_makespan >= 0.09


def test_compute_without_client_uses_the_current_default_client(dask_cluster, store):
    from distributed import Client

    with Client(dask_cluster.scheduler_address) as client:  # set as default
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnmeasuredCostWarning)
            assert compute(dask.delayed(abs)(-5), costs=store) == (5,)
        assert client.get_task_stream(count=0) is not None


def test_a_killed_worker_is_replanned_around_and_nothing_is_lost(dask_cluster, dask_client, store, tmp_path):
    import os
    import signal
    import threading

    from hetflow.flows.runtime.cluster import worker_pids

    def step(i, log, *parts):  # logs each run: nothing may run twice unless its worker died
        time.sleep(0.15)
        with open(log, "a") as f:
            f.write(f"{i}\n")
        return i + sum(parts)

    log = str(tmp_path / "runs.log")
    layer = [dask.delayed(step, pure=True)(i, log) for i in range(12)]
    top = [dask.delayed(step, pure=True)(100 + i, log, *layer[i * 3 : i * 3 + 3]) for i in range(4)]
    job = dask.delayed(sum)(top)
    expected = sum(range(12)) + sum(100 + i for i in range(4))

    pid = worker_pids(dask_client)["cpu1"]
    killed = threading.Event()

    def kill_after_some_steps():
        deadline = time.time() + 60
        while time.time() < deadline:
            if os.path.exists(log) and len(Path(log).read_text().split()) >= 4:
                os.kill(pid, signal.SIGKILL)
                killed.set()
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_after_some_steps, daemon=True)
    killer.start()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnmeasuredCostWarning)
        assert compute(job, client=dask_client, costs=store) == (expected,)
    killer.join()
    assert killed.is_set(), "the run ended before the worker could be killed"
    report = last_report()
    assert report.replans >= 1
    runs = Path(log).read_text().split()
    assert set(runs) == {str(i) for i in range(12)} | {str(100 + i) for i in range(4)}  # every step ran
    # only what the dead worker held or ran may have run twice
    assert len(runs) - 16 <= sum(1 for p in report.schedule.placements if p.worker == "cpu1")
