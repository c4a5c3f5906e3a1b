"""CostStore: fits, recency weighting, bounded memory, persistence that never loses a store."""

from __future__ import annotations

import json

import pytest
from hetflow.taskgraph import TaskGraph
from hetflow.taskgraph.coststore import CostStore, CostStoreError, default_store_path


def test_fit_recovers_a_line_and_clamps_noise():
    store = CostStore(path=None)
    store.learn({("k", "cpu"): [(x, 0.5 + 2e-6 * x) for x in (1e5, 2e5, 4e5, 8e5)]})
    assert store.duration("k", "cpu", 1e6) == pytest.approx(2.5)
    store2 = CostStore(path=None)
    store2.learn({("k", "cpu"): [(1e5, 3.0), (2e5, 1.0)]})  # slower on less input: noise, use the mean
    assert store2.duration("k", "cpu", 5e5) == pytest.approx(2.0)


def test_recent_runs_weigh_more():
    store = CostStore(path=None, half_life=1.0)
    store.learn({("k", "gpu"): [(0, 1.0)]})
    store.learn({("k", "gpu"): [(0, 4.0)]})  # the older run now counts half: (0.5*1 + 4) / 1.5
    assert store.duration("k", "gpu") == pytest.approx(3.0)


def test_memory_is_bounded_in_kinds():
    store = CostStore(path=None, max_kinds=3)
    for i in range(10):
        store.learn({(f"kind{i}", "cpu"): [(0, 1.0)]}, outputs={f"kind{i}": [(0, 8.0)]})
    assert store.kinds() == ["kind7", "kind8", "kind9"]
    assert len(store.to_dict()["durations"]) == 3 and len(store.to_dict()["outputs"]) == 3


def test_save_load_round_trip_and_backup(tmp_path):
    path = tmp_path / "sub" / "costs.json"
    store = CostStore(path)
    store.learn({("embed", "gpu"): [(1e3, 0.2)]}, outputs={"embed": [(1e3, 1536.0)]})
    store.save()
    first = path.read_text()
    again = CostStore.load(path)
    assert again.to_dict() == store.to_dict()
    again.learn({("embed", "cpu"): [(1e3, 2.0)]})
    again.save()
    assert (tmp_path / "sub" / "costs.json.bak").read_text() == first  # the previous store is kept
    assert CostStore.load(path).devices("embed") == ["cpu", "gpu"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json", "cannot be read"),
        ('{"format": "something-else"}', "is not a hetflow cost store"),
        ('{"format": "hetflow-cost-store", "version": 99}', "has version 99"),
        ('{"format": "hetflow-cost-store", "version": 1, "durations": [{"kind": "k"}]}', "is corrupt"),
        (
            '{"format": "hetflow-cost-store", "version": 1, "durations": [{"kind": "k", "device": "cpu", '
            '"stats": [1, 2, "x", 4, 5, 6]}], "outputs": [], "seen": {}}',
            "is corrupt",
        ),
        ("[" * 100_000, "cannot be read"),
    ],
)
def test_a_bad_store_file_is_a_one_line_error_and_stays(tmp_path, text, message):
    path = tmp_path / "costs.json"
    path.write_text(text)
    with pytest.raises(CostStoreError, match=message) as info:
        CostStore.load(path)
    assert "\n" not in str(info.value)
    assert path.read_text() == text  # never silently discarded


def test_apply_learned_and_fallback_costs():
    g = TaskGraph(name="g")
    g.add_task("x", {"cpu": 0.01, "gpu": 0.01}, kind="new", cost_source="unknown")
    g.add_task("y", {"cpu": 0.01, "gpu": 0.01}, kind="seen", cost_source="unknown")
    g.add_edge("x", "y")
    store = CostStore(path=None)
    store.learn({("seen", "gpu"): [(64.0, 0.3)], ("other", "cpu"): [(0, 1.0)]}, outputs={"new": [(0, 64.0)]})
    applied = store.apply(g)
    assert applied.unknown_kinds == ["new"]
    assert applied.graph.bytes("x", "y") == 64.0  # the parent kind's learned output size
    assert applied.graph.cost("y") == {"cpu": pytest.approx(0.3), "gpu": pytest.approx(0.3)}
    assert applied.graph.cost("x") == {"cpu": 1.0, "gpu": 0.3}  # the mean of the kinds known per class
    assert applied.learned == 1 and g.cost("y") == {"cpu": 0.01, "gpu": 0.01}  # the input graph is untouched


def test_default_path_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("HETFLOW_COST_STORE", str(tmp_path / "mine.json"))
    assert default_store_path() == tmp_path / "mine.json"
    assert CostStore().path == tmp_path / "mine.json"
    store = CostStore()
    store.learn({("k", "cpu"): [(0, 1.0)]})
    store.save()
    assert json.loads((tmp_path / "mine.json").read_text())["version"] == 1


def test_apply_keeps_every_tasks_parent_order():
    g = TaskGraph(name="g")
    for t in ("a", "b", "c"):
        g.add_task(t, {"cpu": 1.0}, kind=t)
    g.add_edge("b", "c")  # c reads b's output first, then a's: ops take their inputs in this order
    g.add_edge("a", "c")
    store = CostStore(path=None)
    store.learn({("c", "cpu"): [(0, 2.0)]})
    applied = store.apply(g).graph
    assert applied.parents("c") == g.parents("c") == ["b", "a"]
    assert applied.cost("c") == {"cpu": 2.0}


def test_hetflow_run_with_a_corrupt_store_is_exit_2_before_anything_starts(tmp_path, capsys, monkeypatch):
    import time

    from hetflow.flows.cli import main
    from hetflow.taskgraph import Cluster

    g = TaskGraph(name="ops")
    g.add_task("a", {"cpu": 1.0}, kind="a", op="emulate")
    g.save(str(tmp_path / "g.json"))
    Cluster.local(gpus=0, cpus=1).save(str(tmp_path / "c.json"))
    store = tmp_path / "costs.json"
    store.write_text('{"format": "hetflow-cost-store", "version": 7}')

    def no_cluster(*args, **kwargs):
        raise AssertionError("a Dask cluster was started before the cost store was checked")

    monkeypatch.setattr("hetflow.flows.runtime.cluster.open_session_for", no_cluster)
    t0 = time.time()
    code = main(["run", str(tmp_path / "g.json"), "--cluster", str(tmp_path / "c.json"), "--cost-store", str(store),
                 "--no-out-dir"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "has version 7" in err[0], err
    assert time.time() - t0 < 5
    assert store.read_text() == '{"format": "hetflow-cost-store", "version": 7}'
