"""``hetflow run`` as separate processes (issue 14 items 4 and 9): concurrent runs share one local Prefect
server, SIGTERM stops a run and everything it started, a lost scheduler ends a run in one line with exit 3.

Each test gives its processes a private ``PREFECT_HOME`` (and so a private shared server) and bounds every
wait. Slow on a loaded 2-core machine (each run starts Python, Prefect and Dask processes).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from hetflow.taskgraph import Cluster

ROOT = Path(__file__).resolve().parents[1]
TINY = str(ROOT / "examples" / "tiny_graph.json")  # 11 tasks, planned ~10 s on 2 workers (time scale 1)
QUIET = ["--no-dashboard", "--no-artifacts", "--no-cost-store"]


pytestmark = pytest.mark.slow  # process-level load tests (5 concurrent runs, SIGTERM, a killed scheduler): timing-
# sensitive on a shared 2-core machine; run them with python -m pytest -m slow tests/test_cli_processes.py


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment of a user's shell: no Prefect settings but a private PREFECT_HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DO_NOT_TRACK"))}
    env.update(PYTHONPATH=str(ROOT), PREFECT_HOME=str(tmp_path / "prefect-home"), HETFLOW_PREFECT_IDLE="2")
    return env


@pytest.fixture
def cluster_file(tmp_path: Path) -> str:
    path = tmp_path / "cluster.json"
    Cluster.local(gpus=1, cpus=1).save(str(path))
    return str(path)


def _hetflow(args: list[str], env: dict[str, str], tmp_path: Path, name: str) -> tuple[subprocess.Popen, Path]:
    err = tmp_path / f"{name}.err"
    with open(tmp_path / f"{name}.out", "w") as out, open(err, "w") as e:
        proc = subprocess.Popen([sys.executable, "-m", "hetflow", *args], env=env, stdout=out, stderr=e, cwd=tmp_path)
    return proc, err


def _wait_for(predicate, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"waited {timeout:g} s for {what}")


def _server_gone(home: Path, timeout: float) -> None:
    """The shared Prefect server of ``home`` stops by itself once no run uses it."""
    state = home / "hetflow-server.json"
    pid = json.loads(state.read_text())["pid"] if state.exists() else None
    _wait_for(lambda: not state.exists() and (pid is None or not psutil.pid_exists(pid)
                                              or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE),
              timeout, "the shared Prefect server to stop")  # fmt: skip


def test_five_concurrent_runs_share_one_prefect_server(env, cluster_file, tmp_path):
    """Each run used to start Prefect's temporary server on the same database: 5 at once all failed with
    "Timed out while attempting to connect to ephemeral Prefect API server"."""
    runs = [_hetflow(["run", TINY, "--cluster", cluster_file, "--emulate", "--time-scale", "0.01", *QUIET], env,
                     tmp_path, f"run{i}") for i in range(5)]  # fmt: skip
    deadline = time.monotonic() + 420
    codes = [proc.wait(timeout=max(1.0, deadline - time.monotonic())) for proc, _ in runs]
    errors = [err.read_text() for _, err in runs]
    assert codes == [0] * 5, "\n---\n".join(e[-1500:] for e in errors)
    for text in errors:
        assert "ephemeral Prefect API server" not in text and "Starting temporary server" not in text
        assert "Failed to send telemetry" not in text  # (Dask workers may log a heartbeat traceback at close)
    home = Path(env["PREFECT_HOME"])
    assert "telemetry" not in (home / "hetflow-server.log").read_text()  # analytics off: no attempt offline
    assert not list(home.glob("storage/*"))  # no pickled results left behind
    _server_gone(home, timeout=30)


@pytest.mark.parametrize("when", ["running", "starting"])
def test_sigterm_stops_the_run_and_everything_it_started(env, cluster_file, tmp_path, when):
    proc, err = _hetflow(["run", TINY, "--cluster", cluster_file, "--emulate", *QUIET], env, tmp_path, "term")
    server = Path(env["PREFECT_HOME"]) / "hetflow-server.json"
    try:  # the command starts the embedded cluster, then the Prefect server, then the flow (~10 s of tasks)
        if when == "running":
            _wait_for(server.exists, 240, "the run's Prefect server")
            time.sleep(3)
        else:  # while the embedded cluster starts its worker processes
            _wait_for(lambda: psutil.Process(proc.pid).children(recursive=True), 240, "the first worker process")
        assert psutil.Process(proc.pid).children(recursive=True)  # Dask nannies and workers
        proc.send_signal(signal.SIGTERM)
        start = time.monotonic()
        code = proc.wait(timeout=60)
        stopped = time.monotonic() - start
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 143 and err.read_text().rstrip().endswith("hetflow: terminated"), err.read_text()[-2000:]
    assert stopped < 30, f"SIGTERM took {stopped:.1f} s"
    home = Path(env["PREFECT_HOME"])
    state = home / "hetflow-server.json"
    server = json.loads(state.read_text())["pid"] if state.exists() else None
    _wait_for(lambda: not [p for p in _started_by(home) if p.pid != server], 10,
              "every process the run started to stop")  # also those started after the SIGTERM  # fmt: skip
    _server_gone(home, timeout=30)  # not a child, and it stops once the run is gone


def _started_by(home: Path) -> list[psutil.Process]:
    """Live processes whose environment names ``home`` as PREFECT_HOME: the run's and its descendants', however
    they were re-parented."""
    found = []
    for p in psutil.process_iter():
        try:
            if p.status() != psutil.STATUS_ZOMBIE and p.environ().get("PREFECT_HOME") == str(home):
                found.append(p)
        except psutil.Error:
            continue
    return found


def test_losing_the_scheduler_ends_the_run_in_one_line_with_exit_3(env, tmp_path):
    from distributed import Client

    info = tmp_path / "scheduler.json"
    python = [sys.executable, "-m"]
    scheduler = subprocess.Popen([*python, "distributed.cli.dask_scheduler", "--scheduler-file", str(info), "--host",
                                  "127.0.0.1", "--port", "0", "--no-dashboard"], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    worker = run = None
    try:
        _wait_for(info.exists, 60, "the scheduler")
        address = json.loads(info.read_text())["address"]
        worker = subprocess.Popen([*python, "distributed.cli.dask_worker", "--scheduler-file", str(info), "--name",
                                   "cpu0", "--nthreads", "1", "--resources", "CPU=1", "--no-dashboard", "--no-nanny"],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        run, err = _hetflow(["run", TINY, "--address", address, "--emulate", "--connect-timeout", "60", *QUIET], env,
                            tmp_path, "lost")  # fmt: skip
        with Client(address, set_as_default=False) as client:
            count = lambda dask_scheduler: len(dask_scheduler.tasks)  # noqa: E731 - pickled by value for the scheduler
            _wait_for(lambda: client.run_on_scheduler(count) > 0, 240, "the run to submit its tasks")
        scheduler.kill()
        start = time.monotonic()
        code = run.wait(timeout=60)
        ended = time.monotonic() - start
    finally:
        for p in (run, worker, scheduler):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(timeout=30)
    text = err.read_text()
    assert code == 3, text[-2000:]
    lines = text.rstrip().splitlines()
    # one line naming the scheduler; when the client noticed through a failed call, the call's error follows
    named = rf"hetflow: lost the connection to the Dask scheduler {re.escape(address)}( \(.+\))?"
    assert re.fullmatch(named, lines[-1]), lines[-1]
    assert "Traceback" not in text and len(lines) < 10, text  # was: a raw OSError after 32 s and 270 lines
    assert ended < 15, f"{ended:.1f} s from the scheduler's death to the exit"
