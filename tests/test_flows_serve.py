"""Scheduled pipelines: a cron deployment of the hetflow flow on a Prefect server this test starts itself,
triggered with run_deployment and executed by ``hetflow serve`` in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from flows_graphs import layered
from hetflow.flows.orchestration.serve import FLOW_NAME, deployment

CRON = "0 3 1 1 *"  # once a year: the schedule exists, but only the triggered run executes in the test


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


@pytest.fixture
def prefect_server(tmp_path):
    port = _free_port()
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "server-home"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115  (closed in the finally below)
    proc = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port), "--no-ui",
         "--analytics-off"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.time() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail(f"prefect server did not start: {(tmp_path / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        _stop(proc)
        log.close()


def test_cron_deployment_runs_on_a_served_flow(prefect_server, dask_cluster, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    graph_path = tmp_path / "graph.json"
    layered(2, 3).save(str(graph_path))
    address = dask_cluster.scheduler_address
    options = dict(address=address, solver="heft", emulate=True, time_scale=0.05)
    with temporary_settings(updates={PREFECT_API_URL: prefect_server}):
        deployment_id = deployment(str(graph_path), cron=CRON, name="nightly-test", **options).apply()
        with get_client(sync_client=True) as client:
            dep = client.read_deployment(deployment_id)
            assert [s.schedule.cron for s in dep.schedules] == [CRON]
            assert dep.entrypoint == "hetflow.flows.orchestration.serve.run_graph_file"
            assert dep.parameters["graph"] == str(graph_path.resolve()) and dep.parameters["options"]["emulate"] is True
        flow_run = run_deployment(f"{FLOW_NAME}/nightly-test", timeout=0)
        assert flow_run.state.is_scheduled()

        env = {
            **os.environ,
            "PREFECT_API_URL": prefect_server,
            "PREFECT_RUNNER_POLL_FREQUENCY": "1",
            "PREFECT_HOME": str(tmp_path / "serve-home"),
            "PYTHONPATH": str(Path(__file__).parents[1]),
        }
        log = open(tmp_path / "serve.log", "w")  # noqa: SIM115  (closed in the finally below)
        serve = subprocess.Popen(
            [sys.executable, "-m", "hetflow", "serve", str(graph_path), "--address", address, "--cron", CRON,
             "--name", "nightly-test", "--solver", "heft", "--emulate", "--time-scale", "0.05"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            with get_client(sync_client=True) as client:
                deadline = time.time() + 120
                while not (state := client.read_flow_run(flow_run.id).state).is_final():
                    assert serve.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
                    assert time.time() < deadline, f"still {state.name}: {(tmp_path / 'serve.log').read_text()[-3000:]}"
                    time.sleep(1)
                assert state.is_completed(), (tmp_path / "serve.log").read_text()[-3000:]
                children = client.read_flow_runs()
                names = {client.read_flow(r.flow_id).name for r in children if r.state and r.state.is_completed()}
                assert {FLOW_NAME, "hetflow-run-plan"} <= names
        finally:
            _stop(serve)
            log.close()


def test_serve_cli_rejects_bad_cron(tmp_path):
    graph_path = tmp_path / "graph.json"
    layered(2, 2).save(str(graph_path))
    from hetflow.flows.cli import main

    assert main(["serve", str(graph_path), "--cron", "every tuesday", "--apply-only"]) == 2
    assert json.loads(graph_path.read_text())["nodes"]
