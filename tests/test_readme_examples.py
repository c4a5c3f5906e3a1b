"""The README's runnable examples run, each in a fresh interpreter (embedded cluster, private homes)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _run(script: str, tmp_path: Path) -> str:
    env = dict(os.environ)
    env.update(
        HETFLOW_COST_STORE=str(tmp_path / "costs.json"),
        PREFECT_HOME=str(tmp_path / "prefect"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PYTHONPATH=os.pathsep.join([str(EXAMPLES.parent), env.get("PYTHONPATH", "")]),
    )
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_dask_compute_example(tmp_path):
    out = _run("dask_compute.py", tmp_path)
    expected = sum(len(f" Document {i} ".strip().lower()) for i in range(1_000))
    assert out.split()[0] == str(expected)
    assert (tmp_path / "costs.json").exists()  # the run taught the cost store


@pytest.mark.timeout(300)
def test_user_functions_example(tmp_path):
    out = _run("user_functions.py", tmp_path)
    assert "{'square': ([0, 1, 4, 9, 16], 'gpu')}" in out
