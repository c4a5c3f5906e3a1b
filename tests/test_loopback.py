"""Servers hetflow starts listen on loopback unless asked otherwise (issue 14, item 3).

The bound addresses are read from the operating system (psutil, the LISTEN sockets of the process tree),
not from what Dask reports: Dask's HTTP server used to listen on ``0.0.0.0`` while its link said
``127.0.0.1``.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from hetflow.flows.runtime.cluster import bind_address

ROOT = Path(__file__).resolve().parents[1]
LOOPBACK = {"127.0.0.1", "::1"}


def listening(exclude: set | None = None) -> set[tuple[int, str, int]]:
    """``(pid, ip, port)`` of every listening TCP socket of this process and its descendants."""
    found = set()
    for proc in [psutil.Process(), *psutil.Process().children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):  # a process that just ended
            found |= {(proc.pid, c.laddr.ip, c.laddr.port) for c in proc.net_connections(kind="tcp")
                      if c.status == psutil.CONN_LISTEN}
    return found - (exclude or set())


PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
from test_loopback import listening
from hetflow.flows.runtime.cluster import open_session
from hetflow.taskgraph import Cluster

if __name__ == "__main__":
    report = {}
    for case, options in [("dashboard", {"dashboard_address": ":0"}), ("no-dashboard", {"dashboard_address": None}),
                          ("exposed", {"dashboard_address": ":0", "host": "0.0.0.0"})]:
        before = listening()
        session = open_session(Cluster.local(gpus=1, cpus=1), timeout=120, **options)
        try:
            info = session.client.scheduler_info(n_workers=-1)
            http = [info["services"]["dashboard"]] + [w["services"]["dashboard"] for w in info["workers"].values()]
            report[case] = {"sockets": sorted(listening(before)), "http_ports": http,
                            "scheduler_port": int(info["address"].rsplit(":", 1)[1]), "link": session.dashboard_link}
        finally:
            session.close()
    print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def bound() -> dict:
    """Start embedded clusters (with and without dashboard, and exposed) in a fresh process; their sockets."""
    result = subprocess.run([sys.executable, "-c", PROBE, str(Path(__file__).parent)], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize("case", ["dashboard", "no-dashboard"])
def test_embedded_cluster_listens_on_loopback_only(bound: dict, case: str) -> None:
    report = bound[case]
    sockets = report["sockets"]
    # scheduler: comm + HTTP; per worker (2): nanny, worker comm, worker HTTP
    assert len(sockets) >= 2 + 3 * 2, sockets
    assert {ip for _, ip, _ in sockets} <= LOOPBACK, sockets
    ports = {port for _, _, port in sockets}
    assert report["scheduler_port"] in ports and set(report["http_ports"]) <= ports  # the HTTP servers included


def test_dashboard_link_is_reachable_on_loopback(bound: dict) -> None:
    link = bound["dashboard"]["link"]
    assert link.startswith("http://127.0.0.1:")
    port = int(link.split(":")[2].split("/")[0])
    assert any(p == port and ip == "127.0.0.1" for _, ip, p in bound["dashboard"]["sockets"])


def test_host_exposes_the_servers_when_asked(bound: dict) -> None:
    sockets = bound["exposed"]["sockets"]
    by_port = {port: ip for _, ip, port in sockets}
    assert by_port[bound["exposed"]["scheduler_port"]] == "0.0.0.0"
    assert {by_port[p] for p in bound["exposed"]["http_ports"]} == {"0.0.0.0"}


def test_bind_address() -> None:
    assert bind_address(":0", "127.0.0.1") == "127.0.0.1:0"
    assert bind_address(":8787", "10.0.0.5") == "10.0.0.5:8787"
    assert bind_address("8787", "127.0.0.1") == "127.0.0.1:8787"
    assert bind_address(None, "127.0.0.1") == "127.0.0.1:0"
    assert bind_address("0.0.0.0:0", "127.0.0.1") == "0.0.0.0:0"  # an explicit host is kept


def test_run_plan_cluster_listens_on_loopback(prefect_harness) -> None:
    """``run_plan`` with an embedded cluster and its dashboard: sockets sampled while the plan runs."""
    from hetflow.flows.orchestration.flow import run_plan
    from hetflow.taskgraph import Cluster, TaskGraph

    g = TaskGraph(name="sleepers")
    for i in range(4):
        g.add_task(f"t{i}", {"cpu": 1.0, "gpu": 1.0})
    before = listening()
    seen: set = set()
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            seen.update(listening(before))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        record = run_plan(g, cluster=Cluster.local(gpus=1, cpus=1), solver="heft", time_scale=1.0, artifacts=False,
                          connect_timeout=120)
    finally:
        done.set()
        sampler.join()
    assert record.dashboard_link and record.dashboard_link.startswith("http://127.0.0.1:")
    assert len(seen) >= 2 + 3 * 2, seen
    assert {ip for _, ip, _ in seen} <= LOOPBACK, seen
