"""Cost calibration: the a + b*size fit, and a real (tiny) profile of MiniLM on Dask workers."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hetflow.flows.llm.profile import _batches, fit_ab, fit_costs
from hetflow.taskgraph import Cluster
from hetflow.taskgraph.workloads import DEFAULT_COSTS, llm_batch_job, load_costs, save_costs

pytest_plugins = ["conftest_llm"]


def test_fit_ab_recovers_a_known_line():
    rng = np.random.default_rng(0)
    x = np.repeat([8, 32, 64, 128], 5).astype(float)
    y = 0.004 + 0.0021 * x + rng.normal(0, 1e-4, len(x))
    a, b = fit_ab(x, y)
    assert a == pytest.approx(0.004, abs=2e-4) and b == pytest.approx(0.0021, rel=0.01)
    assert fit_ab([1, 2, 4], [2.0, 4.0, 8.0]) == pytest.approx((0.0, 2.0), abs=1e-12)  # exact proportional


def test_fit_ab_keeps_both_terms_non_negative():
    a, b = fit_ab([10, 20, 30], [0.5, 1.5, 2.5])  # unconstrained: a = -0.5 < 0
    assert a == 0.0 and b == pytest.approx(np.dot([10, 20, 30], [0.5, 1.5, 2.5]) / np.dot([10, 20, 30], [10, 20, 30]))
    a, b = fit_ab([10, 20, 30], [3.0, 2.0, 1.0])  # falling: b = 0, a = mean
    assert (a, b) == (pytest.approx(2.0), 0.0)
    assert fit_ab([64, 64], [1.28, 1.28]) == pytest.approx((0.0, 0.02))  # one size: proportional
    with pytest.raises(ValueError):
        fit_ab([], [])


def test_fit_costs_from_synthetic_timings_plans_like_the_truth(tmp_path):
    truth = {"preprocess": {"cpu": (5e-4, 6e-5)}, "features": {"cpu": (2e-4, 5e-5), "gpu": (1e-3, 5e-6)},
             "inference": {"cpu": (2e-3, 2.2e-3), "gpu": (1e-3, 9e-5)}, "score": {"cpu": (2e-3, 3e-5)},
             "merge": {"cpu": (1e-3, 5e-7)}}  # fmt: skip
    rng = np.random.default_rng(1)
    rows = []
    for kind, devs in truth.items():
        for device, (a, b) in devs.items():
            for speed in (1.0, 2.0):  # a twice-as-fast worker measures half the time; the fit is at speed 1
                for size in (8, 32, 64, 96, 192):
                    for _ in range(3):
                        t = (a + b * size) / speed * (1 + rng.normal(0, 0.01))
                        rows.append({"kind": kind, "device": device, "speed": speed, "size": size, "seconds": t})
    rows.append({"kind": "merge", "device": "gpu", "speed": 1.0, "size": 8, "seconds": 9.0})  # not a model pair
    costs, table = fit_costs(pd.DataFrame(rows))
    assert set(costs) == set(truth) and "gpu" not in costs["merge"]
    for kind, devs in truth.items():
        assert set(costs[kind]) == set(devs)
        for device, (a, b) in devs.items():
            fa, fb = costs[kind][device]
            if b * 192 > a:  # the slope is measurable against 1% noise
                assert fb == pytest.approx(b, rel=0.05), (kind, device)
            assert fa + fb * 64 == pytest.approx(a + b * 64, rel=0.03), (kind, device)
    assert (table.r2 > 0.95).all() and len(table) == 7
    path = save_costs(costs, tmp_path / "c.json", meta={"samples": rows[:2]})
    g = llm_batch_job(n_docs=128, batch_size=64, n_shards=2, costs=load_costs(path))
    fa, fb = costs["inference"]["cpu"]
    assert g.cost("shard0.0")["cpu"] == pytest.approx(fa + fb * 64 * 3)


def test_sample_batches_stay_inside_the_span():
    batches = _batches([8, 32, 64], 2, 200, slot_index=1)
    assert [(r, s) for r, s, _ in batches] == [(0, 8), (0, 32), (0, 64), (1, 8), (1, 32), (1, 64)]
    assert all(start >= 0 and start + size <= 200 for _, size, start in batches)
    assert len({start for *_, start in batches}) > 1  # different corpus offsets
    assert batches != _batches([8, 32, 64], 2, 200, slot_index=0)


def test_profile_cli_rejects_bad_sizes(capsys):
    from hetflow.flows.cli import main

    assert main(["profile", "--sizes", "8,x"]) == 2
    assert main(["profile", "--sizes", "0,8"]) == 2
    assert "--sizes" in capsys.readouterr().err


@pytest.mark.llm
def test_real_profile_writes_a_costs_file_the_planner_uses(llm_profile):
    prof, path = llm_profile
    data = json.loads(path.read_text())
    assert data["format"] == "hetflow-costs/1"
    meta = data["meta"]
    assert meta["machine"]["cpu_count"] >= 1 and meta["date"].endswith("+00:00")
    assert {w["name"] for w in meta["workers"]} == {"gpu0", "cpu0", "cpu1"}
    assert all(w["torch_threads"] == 1 for w in meta["workers"])  # pinned: no oversubscription
    assert meta["concurrent"] is True and meta["sizes"] == [8, 24]
    assert 0 < meta["dispatch_s"] < 0.5  # Dask's per-task round trip, added to every intercept
    # moving a task output between worker processes: measured, finite, slower than memory
    link = meta["link"]
    assert 0 <= link["latency"] < 0.5 and 1e6 < link["bandwidth"] < 1e11, link
    planned = prof.cluster(Cluster.local(gpus=1, cpus=2))
    assert planned.link("gpu0", "cpu0") == (pytest.approx(link["bandwidth"]), pytest.approx(link["latency"]))
    assert planned.names == ["gpu0", "cpu0", "cpu1"]
    # every slot timed every kind at both sizes (minus samples that ended after a slot had stopped: less
    # contention); 3 shards of different depth give 3 inference sizes per batch size
    samples = pd.DataFrame(meta["samples"])
    assert len(samples) == len(prof.samples) == 3 * 2 * (1 + 1 + 3 + 1 + 1) - meta["dropped_samples"]
    assert sorted(samples[samples.kind == "inference"]["size"].unique()) == [8, 16, 24, 48, 72]  # docs x layers
    # one (a, b) per (kind, device class) the model allows, all of them measured on this cluster
    loaded = load_costs(path)
    assert {k: set(v) for k, v in loaded.items()} == {k: set(v) for k, v in DEFAULT_COSTS.items()}
    for kind, devs in loaded.items():
        for device, (a, b) in devs.items():
            assert a >= meta["dispatch_s"] - 1e-6 and b >= 0 and a + b * 24 > 0, (kind, device)
    # the encoder dominates: one doc through 6 layers costs far more than tokenizing it
    inf_a, inf_b = loaded["inference"]["cpu"]
    pre_a, pre_b = loaded["preprocess"]["cpu"]
    assert inf_a + inf_b * 64 * 6 > 5 * (pre_a + pre_b * 64)
    g = llm_batch_job(n_docs=128, batch_size=64, n_shards=3, costs=loaded)
    assert math.isclose(g.cost("shard1.2")["gpu"], loaded["inference"]["gpu"][0] + loaded["inference"]["gpu"][1] * 128)
    assert g.cost("pre0") == {"cpu": pytest.approx(pre_a + pre_b * 64)}
