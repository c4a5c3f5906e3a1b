"""hetflow.taskgraph.dask_convert and hetflow.flows.runtime.cluster: planned workers <-> Dask workers."""

from __future__ import annotations

import pytest
from hetflow.taskgraph import Cluster
from hetflow.taskgraph.dask_convert import cluster_from_dask, dask_slots
from hetflow.taskgraph.errors import ClusterError


def _info(**workers):
    return {"workers": {f"tcp://127.0.0.1:{i}": w for i, w in enumerate(workers.values(), start=1)}}


def test_one_slot_per_thread_gpu_first_natural_order():
    info = _info(
        a={"name": "cpu10", "nthreads": 1, "resources": {}},
        b={"name": "cpu2", "nthreads": 1, "resources": {"CPU": 1}},
        c={"name": "box", "nthreads": 3, "resources": {"GPU": 1, "SPEED": 2.5}},
        d={"name": "gpu0", "nthreads": 1, "resources": {"GPU": 1}},
    )
    slots = dask_slots(info)
    assert [(s.worker.name, s.worker.device, s.worker.speed) for s in slots] == [
        ("box-gpu0", "gpu", 2.5), ("box-cpu0", "cpu", 2.5), ("box-cpu1", "cpu", 2.5),
        ("gpu0", "gpu", 1.0), ("cpu2", "cpu", 1.0), ("cpu10", "cpu", 1.0),
    ]  # fmt: skip
    assert [s.shared for s in slots] == [True, True, True, False, False, False]
    assert {s.address for s in slots[:3]} == {"tcp://127.0.0.1:3"}


def test_speed_from_name_suffix_and_unnamed_workers():
    info = _info(a={"name": "cpu0@1.5", "nthreads": 1}, b={"name": None, "nthreads": 1, "resources": {"GPU": 2}})
    c = cluster_from_dask(info, bandwidth=5e8, latency=0.001)
    assert c.names == ["tcp://127.0.0.1:2", "cpu0@1.5"]
    assert c.worker("cpu0@1.5").speed == 1.5 and c.worker("tcp://127.0.0.1:2").device == "gpu"
    assert (c.bandwidth, c.latency) == (5e8, 0.001)


def test_bad_clusters_are_rejected():
    with pytest.raises(ClusterError, match="no workers"):
        dask_slots({"workers": {}})
    with pytest.raises(ClusterError, match="speed"):
        dask_slots(_info(a={"name": "x", "nthreads": 1, "resources": {"SPEED": 0}}))
    dup = _info(a={"name": "box-cpu0", "nthreads": 1}, b={"name": "box", "nthreads": 2})
    with pytest.raises(ClusterError, match="box-cpu0"):
        dask_slots(dup)


def test_live_cluster_round_trips(dask_client):
    from hetflow.flows.runtime.cluster import slot_map, worker_pids

    discovered = Cluster.from_dask(dask_client)
    assert discovered == Cluster.local(gpus=1, cpus=3)
    slots = slot_map(dask_client)
    assert set(slots) == {"gpu0", "cpu0", "cpu1", "cpu2"}
    assert set(worker_pids(dask_client)) == set(slots)
    resources = dask_client.run(lambda dask_worker: dict(dask_worker.state.total_resources))
    assert resources[slots["gpu0"].address] == {"GPU": 1.0}
    assert resources[slots["cpu0"].address] == {"CPU": 1.0}


def test_session_rejects_unknown_address():
    from hetflow.flows.runtime.cluster import open_session

    with pytest.raises(ClusterError, match="cannot connect"):
        open_session(address="tcp://127.0.0.1:9", timeout=1)
