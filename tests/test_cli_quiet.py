"""``hetflow run`` is quiet, keeps its outputs in a run folder, and shows the dashboard while it is live.

End to end in a fresh process (as a user runs it) on ``examples/tiny_graph.json``, plus the run-folder
policy of :class:`~hetflow.flows.options.RunOptions` and the links an embedded cluster keeps.
"""

from __future__ import annotations

import datetime
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from hetflow.flows.cli import main
from hetflow.flows.options import OptionError, RunOptions, default_run_folder
from hetflow.taskgraph import Cluster, TaskGraph

ROOT = Path(__file__).resolve().parents[1]
GRAPH, CLUSTER = str(ROOT / "examples" / "tiny_graph.json"), str(ROOT / "examples" / "cluster.json")
OUTPUTS = {"schedule.json", "timeline.csv", "results.json", "summary.md", "gantt.png", "gantt.html"}


def _env(tmp_path: Path) -> dict[str, str]:
    """A user's environment: this checkout importable, a Prefect home and cost store of the test's own, no
    HETFLOW_RUNS_DIR (the run folder goes to ./hetflow-runs of the working directory)."""
    env = {k: v for k, v in os.environ.items() if k != "HETFLOW_RUNS_DIR" and not k.startswith("PREFECT_API")}
    env.update(PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               PREFECT_HOME=str(tmp_path / "prefect-home"), HETFLOW_COST_STORE=str(tmp_path / "costs.json"),
               PREFECT_SERVER_ANALYTICS_ENABLED="false", PYTHONUNBUFFERED="1",
               PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120")  # a fresh home migrates its database: slow
    # on a busy 2-core machine (the default 20 s is what `hetflow demo` raises too)  # fmt: skip
    return env


def _summary(out: str) -> dict[str, str]:
    return dict(line.split(None, 1) for line in out.splitlines() if line and not line.startswith("result "))


def test_a_run_is_quiet_and_keeps_its_outputs(tmp_path):
    argv = [sys.executable, "-m", "hetflow", "run", GRAPH, "--cluster", CLUSTER, "--emulate", "--time-scale", "0.05"]
    proc = subprocess.run(argv, cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    err = proc.stderr
    assert "INFO" not in err and "Traceback" not in err and "CommClosedError" not in err, err
    assert len(err) < 1000, err  # was ~8 KB of Dask and Prefect lines
    # the dashboard link is printed once, at the start, while the cluster serves it; the summary says it closed
    links = re.findall(r"^hetflow: Dask dashboard (http://127\.0\.0\.1:\d+/status) \(while the run lasts", err, re.M)
    assert len(links) == 1, err
    summary = _summary(proc.stdout)
    assert summary["graph"] == "llm-demo" and summary["on_planned_worker"] == "11/11", proc.stdout
    assert summary["dashboard"].startswith("closed with the run") and "http" not in proc.stdout
    folder = tmp_path / summary["outputs"]
    assert folder.parent == tmp_path / "hetflow-runs" and re.fullmatch(r"llm-demo-\d{8}-\d{6}", folder.name)
    assert {p.name for p in folder.iterdir()} == OUTPUTS
    assert summary["digest"] in (folder / "results.json").read_text()


class _Lines(threading.Thread):
    """Collect a stream's lines in a queue (to wait for one while the process runs)."""

    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream, self.lines, self.seen = stream, queue.Queue(), []

    def run(self) -> None:
        for line in self.stream:
            self.lines.put(line)

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                continue
            self.seen.append(line)
            if m := re.search(pattern, line):
                return m
        raise AssertionError(f"no line matching {pattern!r} in {timeout} s; got:\n{''.join(self.seen)[-3000:]}")

    def rest(self) -> str:
        self.join(timeout=30)
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return "".join(self.seen)


def test_verbose_keep_open_and_no_out_dir(tmp_path):
    """-v shows Prefect's lines; --keep-open keeps the dashboard serving after the summary until Ctrl-C;
    --no-out-dir writes nothing."""
    argv = [sys.executable, "-m", "hetflow", "run", GRAPH, "--cluster", CLUSTER, "--emulate", "--time-scale", "0.05",
            "-v", "--keep-open", "--no-out-dir", "--no-cost-store"]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=tmp_path, env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    err, out = _Lines(proc.stderr), _Lines(proc.stdout)
    err.start(), out.start()
    try:
        link = err.wait_for(r"hetflow: keeping dashboard (http://\S+) open; Ctrl-C closes it", timeout=600).group(1)
        with urllib.request.urlopen(link, timeout=30) as response:  # served after the run ended
            assert response.status == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr, stdout = err.rest(), out.rest()
    assert "closing the cluster" in stderr
    assert re.search(r"\| INFO +\| Flow run '", stderr), stderr[-3000:]  # -v: Prefect's log lines
    summary = _summary(stdout)
    assert summary["dashboard"] == link and "outputs" not in summary, stdout
    assert not (tmp_path / "hetflow-runs").exists()
    with pytest.raises(OSError):  # closed with the cluster
        urllib.request.urlopen(link, timeout=5)


def test_run_folders_are_new_and_named_by_graph_and_time(tmp_path):
    when = datetime.datetime(2026, 3, 4, 5, 6, 7)
    opts = RunOptions(out_dir=str(tmp_path / "runs" / "{graph}-{time}"))
    first, second = (opts.with_run_folder("my graph/v1", now=when).out_dir for _ in range(2))
    assert Path(first).name == "my_graph_v1-20260304-050607" and Path(second).name == Path(first).name + "-2"
    assert Path(first).is_dir() and Path(second).is_dir()
    fixed = RunOptions(out_dir=str(tmp_path / "fixed"))
    assert fixed.with_run_folder("g") is fixed and not (tmp_path / "fixed").exists()  # written by the run itself
    assert RunOptions().with_run_folder("g").out_dir is None
    with pytest.raises(OptionError, match=r"^out_dir may use \{graph\} and \{time\} only, not \{when\}$"):
        RunOptions(out_dir="runs/{when}")
    with pytest.raises(OptionError, match="unbalanced braces"):
        RunOptions(out_dir="runs/{graph")
    assert RunOptions(out_dir="runs/{{literal}}").with_run_folder("g").out_dir == "runs/{{literal}}"  # no fields


def test_default_run_folder_follows_the_environment(monkeypatch):
    monkeypatch.setenv("HETFLOW_RUNS_DIR", "/data/runs")
    assert default_run_folder() == os.path.join("/data/runs", "{graph}-{time}")
    monkeypatch.delenv("HETFLOW_RUNS_DIR")
    assert default_run_folder() == os.path.join("hetflow-runs", "{graph}-{time}")


def test_bad_out_dir_is_one_line(capsys):
    assert main(["run", GRAPH, "--cluster", CLUSTER, "--out-dir", "runs/{nope}"]) == 2
    assert capsys.readouterr().err == "hetflow: error: --out-dir may use {graph} and {time} only, not {nope}\n"


def test_a_failed_run_leaves_no_empty_run_folder(prefect_harness, tmp_path, monkeypatch, capsys):
    """An op no worker knows fails once the cluster is up; the run folder claimed for it goes again."""
    monkeypatch.setenv("HETFLOW_RUNS_DIR", str(tmp_path / "runs"))
    g = TaskGraph(name="unknown-op")
    g.add_task("a", {"cpu": 1.0}, op="no.such.op")
    g.save(str(tmp_path / "g.json"))
    Cluster.local(gpus=0, cpus=1).save(str(tmp_path / "c.json"))
    assert main(["run", str(tmp_path / "g.json"), "--cluster", str(tmp_path / "c.json"), "--no-dashboard"]) == 2
    assert "hetflow: error: op 'no.such.op' of task 'a' is not registered" in capsys.readouterr().err
    assert list((tmp_path / "runs").iterdir()) == []


def test_a_task_no_worker_can_run_fails_before_anything_starts(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HETFLOW_RUNS_DIR", str(tmp_path / "runs"))
    g = TaskGraph(name="gpu-only")
    g.add_task("a", {"gpu": 1.0})
    g.save(str(tmp_path / "g.json"))
    Cluster.local(gpus=0, cpus=1).save(str(tmp_path / "c.json"))
    t0 = time.perf_counter()
    assert main(["run", str(tmp_path / "g.json"), "--cluster", str(tmp_path / "c.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hetflow: error: ") and err.count("\n") == 1 and "'a'" in err, err
    assert time.perf_counter() - t0 < 10 and not (tmp_path / "runs").exists()  # no cluster, no Prefect, no folder


def test_a_given_client_keeps_the_clusters_links(dask_client):
    """``hetflow run --cluster`` hands its embedded cluster to the flow as a client: the links of the file stay."""
    from hetflow.flows.runtime.cluster import open_session

    shape = Cluster.load(CLUSTER)  # gpu0-cpu0 at 10 GB/s, the rest at 1 GB/s, latency 1 ms
    s = open_session(Cluster(Cluster.local(1, 3).workers, 2e9, 0.002, shape.links.values()), client=dask_client)
    assert (s.cluster.bandwidth, s.cluster.latency) == (2e9, 0.002)
    assert s.cluster.comm_time("gpu0", "cpu0", 1e10) == pytest.approx(1.0)  # the link, not the default
    assert s.cluster.comm_time("cpu1", "cpu0", 2e9) == pytest.approx(1.002)
