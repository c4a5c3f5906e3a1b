"""``benchmarks/gpu_check.py``: one line and exit 0 without CUDA; with the CPU standing in, every step runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


def _run(args: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


@pytest.mark.llm
def test_without_cuda_it_says_so_in_one_line_and_exits_0(tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the check would run (python benchmarks/gpu_check.py)")
    proc = _run(["--out", str(tmp_path / "gpu.json")], tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("\n") == 1 and proc.stdout.startswith("gpu_check: no CUDA here (") and not proc.stderr
    assert "nothing to check" in proc.stdout and not (tmp_path / "gpu.json").exists()


def test_bad_arguments_exit_2(tmp_path):
    proc = _run(["--docs", "10"], tmp_path, timeout=60)
    assert proc.returncode == 2 and "--docs, --cpu-docs and --gpu-docs must be >= 64" in proc.stderr


@pytest.mark.slow
@pytest.mark.llm
def test_with_the_cpu_standing_in_every_step_runs_and_passes(tmp_path):
    """The whole script on the CPU (small sizes): the JSON has every step, outputs equal, the demo ran."""
    pytest.importorskip("torch")
    out = tmp_path / "gpu.json"
    proc = _run(["--stand-in-cpu", "--out", str(out), "--docs", "128", "--cpu-docs", "64", "--gpu-docs", "128",
                 "--cpus", "1"], tmp_path, timeout=900)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["passed"] and result["environment"]["stand_in_cpu"] is True
    assert {b["rows"][0] for b in result["equality"]["batches"]} == {0, 256}
    assert all(max(b["max_abs_diff"].values()) == 0.0 for b in result["equality"]["batches"])  # same device
    assert result["throughput"]["cpu_one_worker_per_s"] > 0
    demo = result["demo"]["calibrated"]
    assert demo["summary"]["documents"] == 128 and demo["table_vs_cpu_path"]["rows"] == 64
    assert set(demo["costs"]) >= {"preprocess", "features", "score"} and "gpu0" in demo["stages"]["features"]
    assert "summary" in result["demo"]["built_in_costs"] or "skipped" in result["demo"]["built_in_costs"]
