"""Shared fixtures of the flows tests (tests/test_flows_*.py).

* ``prefect_harness``: one temporary Prefect server for the session (``prefect_test_harness``) with a
  temporary ``PREFECT_HOME``, analytics and flow heartbeats off.
* ``dask_cluster`` (session): one embedded Dask cluster shaped like ``Cluster.local(1, 3)`` (worker
  processes gpu0 with ``GPU=1``, cpu0..cpu2), shared by address; ``dask_client`` (function) connects to it
  after waiting until all four workers are up (fault tests kill workers; their nannies restart them), and
  ships ``tests/hetflow_test_ops.py`` to the workers.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

FLOWS_CLUSTER_SHAPE = {"gpus": 1, "cpus": 3}


@pytest.fixture(scope="session", autouse=True)
def _private_cost_store(tmp_path_factory: pytest.TempPathFactory):
    """Runs learn costs into a store of this test session, never the user's ``~/.hetflow/costs.json``."""
    os.environ["HETFLOW_COST_STORE"] = str(tmp_path_factory.mktemp("hetflow-home") / "costs.json")
    yield


@pytest.fixture(scope="session", autouse=True)
def _private_runs_dir(tmp_path_factory: pytest.TempPathFactory):
    """``hetflow run`` keeps its run folders in this test session's folder, never in the checkout."""
    os.environ["HETFLOW_RUNS_DIR"] = str(tmp_path_factory.mktemp("hetflow-runs"))
    yield


@pytest.fixture(scope="session")
def _prefect_harness_session(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("prefect-home")
    os.environ["PREFECT_HOME"] = str(home)
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    from prefect.settings import (
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        PREFECT_HOME,
        PREFECT_SERVER_ANALYTICS_ENABLED,
        temporary_settings,
    )
    from prefect.testing.utilities import prefect_test_harness

    updates = {
        PREFECT_HOME: str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED: False,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None,
    }
    with temporary_settings(updates=updates), prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def prefect_harness(_prefect_harness_session):
    """The session's Prefect test server, with console logging kept off pytest's per-test streams."""
    _console_logs_to_real_stderr()
    yield
    _console_logs_to_real_stderr()


def _console_logs_to_real_stderr() -> None:
    """Point Prefect's console log handlers at the process's real stderr.

    They bind ``sys.stderr`` when Prefect (re)configures logging, which can happen inside a test using
    ``capsys``; the handler then keeps pytest's per-test stream, closed after the test, and every later log
    line fails ("I/O operation on closed file"). pytest still captures fd 2, so nothing leaks.
    """
    import logging
    import sys

    from prefect.logging.handlers import PrefectConsoleHandler

    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, PrefectConsoleHandler):
                handler.stream = sys.__stderr__  # not setStream(): it flushes the old, maybe closed, stream
                handler.console.file = sys.__stderr__


@pytest.fixture(scope="session")
def dask_cluster():
    from hetflow.flows.runtime.cluster import start_local_cluster
    from hetflow.taskgraph import Cluster

    with start_local_cluster(Cluster.local(**FLOWS_CLUSTER_SHAPE), dashboard_address=":0") as cluster:
        yield cluster


@pytest.fixture
def dask_client(dask_cluster):
    from distributed import Client

    n = sum(FLOWS_CLUSTER_SHAPE.values())
    with Client(dask_cluster.scheduler_address, set_as_default=False) as client:
        client.wait_for_workers(n, timeout=120)
        client.upload_file(str(Path(__file__).with_name("hetflow_test_ops.py")))
        yield client
