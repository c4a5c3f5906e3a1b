"""hetflow.flows.runtime.keys: the Dask key codec and the executor -> worker task spec."""

from __future__ import annotations

import pickle

import pytest
from dask.utils import key_split
from hetflow.flows.runtime.keys import TaskKey, TaskSpec, format_key, is_task_key, parse_key
from hypothesis import given
from hypothesis import strategies as st

texts = st.text(st.characters(codec="utf-8"), max_size=12) | st.sampled_from(["gpu-friendly", "-", "%2D", "r1", "%"])
task_ids = texts | st.integers() | st.tuples(st.text(max_size=4), st.integers(0, 9))
tags = st.text(st.characters(codec="utf-8"), min_size=1, max_size=10) | st.just("1f2e3d4c")


@given(kind=texts, task=task_ids, tag=tags, round=st.integers(0, 10_000))
def test_keys_round_trip(kind, task, tag, round):
    key = format_key(kind, task, tag, round)
    assert parse_key(key) == TaskKey(kind, str(task), round, tag)
    assert is_task_key(key)


@given(kind=texts, a=task_ids, b=task_ids, tag=tags)
def test_distinct_tasks_get_distinct_keys(kind, a, b, tag):
    assert (format_key(kind, a, tag) == format_key(kind, b, tag)) == (str(a) == str(b))


def test_keys_are_readable_and_group_by_kind():
    assert format_key("embed", "t0_1", "1f2e3d4c") == "embed-t0_1-1f2e3d4c"
    assert format_key("embed", "t0_1", "1f2e3d4c", round=2) == "embed-t0_1-r2-1f2e3d4c"
    assert key_split(format_key("embed", "t0_1", "1f2e3d4c", 1)) == "embed"  # the dashboard's task group
    assert parse_key("gpu%2Dfriendly-shard%2D3-r3-1f2e3d4c") == TaskKey("gpu-friendly", "shard-3", 3, "1f2e3d4c")


@pytest.mark.parametrize("key", ["plain", "a-b", "a-b-c-d-e", "a-b-r0-c", "a-b-x1-c", ("a", 1), 7])
def test_foreign_keys_do_not_parse(key):
    assert not is_task_key(key)
    with pytest.raises(ValueError, match="not the Dask key of a hetflow graph task"):
        parse_key(key)


def test_bad_round_is_refused():
    with pytest.raises(ValueError, match="round"):
        format_key("k", "t", "tag", round=-1)


def test_task_spec_is_typed_and_pickles_with_a_callable_op():
    spec = TaskSpec("t-1", len, {"x": 1}, "gpu", "gpu0", 2, 0.5, "hetflow-1f2e3d4c")
    back = pickle.loads(pickle.dumps(spec))
    assert back == spec and back.op is len and back.n_inputs == 2 and back._fields[1] == "op"


def test_odd_kinds_and_task_ids_run_and_are_counted(dask_client):
    """Kinds with hyphens and unicode/int task ids on a real cluster: every key parses back to its task, and the
    progress poller (which reads keys off the scheduler's task stream) counts every task."""
    from hetflow.flows.llm.demo import TaskProgress
    from hetflow.flows.runtime.cluster import slot_map
    from hetflow.flows.runtime.executor import PlanExecutor
    from hetflow.flows.runtime.ops import emulated, reference_results
    from hetflow.solvers import plan
    from hetflow.taskgraph import Cluster, TaskGraph

    g = TaskGraph(name="odd-ids")
    g.add_task("a-1", {"cpu": 0.01}, kind="gpu-friendly")
    g.add_task("ü-2", {"cpu": 0.02, "gpu": 0.01}, kind="gpu-friendly")
    g.add_task(3, {"cpu": 0.01}, kind="merge-all")
    g.add_edge("a-1", "ü-2")
    g.add_edge("ü-2", 3)
    g.validate()
    cluster = Cluster.local(gpus=1, cpus=3)
    seen = []
    poller = TaskProgress(dask_client, g, lambda done, docs: seen.append(done), interval=0.02)
    poller.start()
    try:
        ex = PlanExecutor(dask_client, g, cluster, slot_map(dask_client), time_scale=0.1).run(plan(g, cluster, "heft"))
    finally:
        poller.stop()
    assert ex.results == reference_results(emulated(g))
    for t in g.tasks:
        assert parse_key(ex.final_key[t]) == TaskKey(g.kind(t), str(t), 0, ex.final_key[t].rsplit("-", 1)[1])
    assert poller.done == {"a-1", "ü-2", "3"} and seen[-1] == 3
