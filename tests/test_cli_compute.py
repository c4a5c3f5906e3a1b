"""``hetflow compute FILE.py:FUNCTION``: the user's Dask code planned and run from the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hetflow.flows.cli import main

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "dask_compute.py"
EXPECTED = sum(len(f" Document {i} ".strip().lower()) for i in range(1_000))


def _one_line_error(capsys, argv: list[str], code: int = 2) -> str:
    assert main(argv) == code
    err = capsys.readouterr().err.strip()
    assert err.startswith("hetflow: error: ") and "\n" not in err and "Traceback" not in err
    return err


@pytest.mark.parametrize(
    "target, message",
    [
        ("pipeline.py", "expected FILE.py:FUNCTION"),
        ("pipeline.txt:build", "expected FILE.py:FUNCTION"),
        ("missing.py:build", "missing.py: no such file"),
        ("{dir}/pipeline.py:nothing", "has no function 'nothing' (callables there: build, fails, nothing_dask)"),
        ("{dir}/pipeline.py:nothing_dask", "returned int, not a Dask collection"),
    ],
)
def test_bad_targets_are_one_line_errors_before_any_cluster(tmp_path, capsys, target, message):
    (tmp_path / "pipeline.py").write_text(
        "import dask\n"
        "def build():\n    return dask.delayed(sum)([1, 2])\n"
        "def nothing_dask():\n    return 3\n"
        "def fails():\n    raise ValueError('bad input file')\n"
    )
    assert message in _one_line_error(capsys, ["compute", target.format(dir=tmp_path)])


def test_the_users_function_raising_is_one_line_exit_1(tmp_path, capsys):
    (tmp_path / "pipeline.py").write_text("def fails():\n    raise ValueError('bad input file')\n")
    err = _one_line_error(capsys, ["compute", f"{tmp_path}/pipeline.py:fails"], code=1)
    assert "raised ValueError: bad input file" in err


def test_main_block_does_not_run(tmp_path, dask_cluster, capsys):
    marker = tmp_path / "ran-main"
    (tmp_path / "pipeline.py").write_text(
        "import dask, pathlib\n"
        "def double(v):\n    return 2 * v\n"
        "def build():\n    return dask.delayed(double)(21), dask.delayed(double)(4)\n"
        f"if __name__ == '__main__':\n    pathlib.Path({str(marker)!r}).write_text('x')\n"
    )
    argv = ["compute", f"{tmp_path}/pipeline.py:build", "--address", dask_cluster.scheduler_address,
            "--costs", str(tmp_path / "costs.json")]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "[0] 42" in captured.out and "[1] 8" in captured.out and "planned" in captured.out
    assert "hetflow: warning: no measured costs for task kinds double" in captured.err
    assert not marker.exists() and (tmp_path / "costs.json").exists()


@pytest.mark.timeout(300)
def test_readme_example_from_the_command_line_on_the_embedded_cluster(tmp_path):
    env = dict(os.environ, HETFLOW_COST_STORE=str(tmp_path / "costs.json"))
    done = subprocess.run(
        [sys.executable, "-m", "hetflow", "compute", f"{EXAMPLE}:build"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"[0] {EXPECTED}" in done.stdout and "tasks on 4 workers" in done.stdout
