"""Costs learned from runs: the second run of an uncalibrated LLM pipeline is planned from the first one.

The README's example (``llm_batch_job`` with the built-in costs, ``run_plan``) at a small size, on the real
MiniLM ops, on the shared LLM cluster of conftest_llm (gpu0 with GPU=1, cpu0, cpu1; no CUDA here, so the
"GPU" worker is a CPU process and the built-in GPU costs are far off).
"""

from __future__ import annotations

import pytest

pytest_plugins = ["conftest_llm"]
pytestmark = pytest.mark.llm


def test_second_run_is_planned_from_the_first_runs_measurements(prefect_harness, llm_client, llm_profile, tmp_path):
    from hetflow.flows.orchestration.flow import run_plan
    from hetflow.taskgraph import workloads
    from hetflow.taskgraph.coststore import CostStore

    store = tmp_path / "costs.json"
    graph = workloads.llm_batch_job(n_docs=384, batch_size=64, n_shards=3)  # built-in costs: uncalibrated
    options = dict(client=llm_client, cost_store=str(store), artifacts=False, dashboard=False)
    first = run_plan(graph, **options)
    learned = CostStore.load(store)
    assert learned.runs == 1 and {"preprocess", "features", "inference", "score", "merge"} <= set(learned.kinds())
    second = run_plan(graph, **options)
    assert CostStore.load(store).runs == 2
    assert second.digest == first.digest  # same results, whatever the plan
    # the built-in costs assume a real GPU: far from this machine; the second plan knows better
    assert abs(second.ratio - 1) < abs(first.ratio - 1)
    assert second.ratio <= 1.15, (first.ratio, second.ratio)
    print(f"actual/planned: first run {first.ratio:.3f}, second run {second.ratio:.3f}")
