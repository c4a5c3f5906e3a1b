"""A clone with nothing beside it: the data the tests need ships in the repository, and no test reads beside it.

The root ``conftest.py`` fails any test that opens or lists a path beside the checkout (see its docstring);
these tests check that guard, and run the ``wfinstances`` suite from a bare copy of the packages in an
empty folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_a_read_beside_the_repository_is_caught(outside_reads: list[str]) -> None:
    beside = ROOT.parent / "hetflow-no-such-sibling" / "trace.json"
    with pytest.raises(FileNotFoundError):
        beside.read_text()
    assert outside_reads and outside_reads[-1] == str(beside)
    outside_reads.pop()  # this test meant to; the guard must not fail it
    inside = ROOT / "examples" / "cluster.json"
    with open(inside):
        pass
    assert not outside_reads or outside_reads[-1] != str(inside)


def test_wfinstances_suite_runs_from_a_bare_copy(tmp_path: Path) -> None:
    clone = tmp_path / "hetflow"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("hetflow", "taskgraph", "solvers", "flows"):
        shutil.copytree(ROOT / folder, clone / folder, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", clone)
    code = (
        "from hetflow.solvers.suites import data_dir, suites\n"
        "built = suites('small', only=['wfinstances'])\n"
        "print(data_dir()); print(len(built.get('wfinstances', [])), built.notes)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "HETFLOW_DATA"}
    env["PYTHONPATH"] = str(clone)
    out = subprocess.run([sys.executable, "-c", code], cwd=clone, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    folder, summary = out.stdout.splitlines()[-2:]
    assert Path(folder) == clone / "taskgraph" / "data" / "wfinstances"
    assert summary == "4 []"  # the four smallest traces, nothing skipped


def test_shipped_traces_are_small_and_licensed() -> None:
    folder = ROOT / "taskgraph" / "data" / "wfinstances"
    traces = sorted(folder.glob("*.json"))
    assert len(traces) == 10
    assert sum(p.stat().st_size for p in folder.iterdir()) < 5e6
    assert "GNU LESSER GENERAL PUBLIC LICENSE" in (folder / "LICENSE").read_text()
    assert "LGPL-3.0" in (folder / "README.md").read_text()
