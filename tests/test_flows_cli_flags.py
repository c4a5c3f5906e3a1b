"""Every flag of ``hetflow run/demo/bench/serve/profile`` reaches what it names.

Each command module has ``arguments(args)``: the keyword arguments of the function it calls (``run_plan``,
``run_demo``, ``run_bench``, ``deployment``, ``profile``). For every flag, the arguments built with it differ
from those without it, exactly where the flag says; the table of flags must list every flag the parser has
(a new flag without a test, or a dropped one, fails here), and the arguments must bind to the called
function's signature. What the options then do is checked end to end here (``--no-dashboard``,
``--time-limit``, ``--no-artifacts``, ``--connect-timeout``) and by the flow/executor tests (retries, time
scale, strict order, max re-plans, timeout, emulate, out dir).
"""

from __future__ import annotations

import argparse
import inspect
import os
import re
import time
from typing import Any

import pytest
from flows_graphs import layered
from hetflow.flows.cli import build_parser, main
from hetflow.flows.options import RunOptions
from hetflow.solvers import Schedule, plan
from hetflow.taskgraph import Cluster


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("flags")
    graph = layered(2, 3)
    graph.save(str(d / "graph.json"))
    Cluster.local(gpus=1, cpus=1).save(str(d / "cluster.json"))
    plan(graph, Cluster.local(gpus=1, cpus=1), solver="heft").save(str(d / "schedule.json"))
    (d / "costs.json").write_text("{}")
    return {"graph": str(d / "graph.json"), "cluster": str(d / "cluster.json"), "schedule": str(d / "schedule.json"),
            "costs": str(d / "costs.json"), "dir": str(d)}  # fmt: skip


def _parse(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def _arguments(argv: list[str]) -> dict[str, Any]:
    args = _parse(argv)
    return args.func.__globals__["arguments"](args)


def _get(call: dict[str, Any], path: str) -> Any:
    """``"options.retries"`` -> call["options"].retries; ``"cluster"`` -> call["cluster"]."""
    value: Any = call
    for part in path.split("."):
        value = value[part] if isinstance(value, dict) else getattr(value, part)
    return value


def _flags(command: str) -> set[str]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {s for a in sub.choices[command]._actions for s in a.option_strings if s.startswith("--")} - {"--help"}


GRAPH, CLUSTER = "{graph}", "{cluster}"
BASE = {
    "run": ["run", GRAPH, "--cluster", CLUSTER],
    "demo": ["demo"],
    "bench": ["bench"],
    "serve": ["serve", GRAPH, "--cron", "0 3 * * *"],
    "profile": ["profile"],
    "compute": ["compute", "pipeline.py:build"],
}
# (command, flag and value, where it lands in arguments(args), expected value there)
FLAGS = [
    ("run", ["--cluster", CLUSTER], "cluster.names", ["gpu0", "cpu0"]),
    ("run", ["--address", "tcp://10.0.0.5:8786"], "address", "tcp://10.0.0.5:8786"),
    ("run", ["--schedule", "{schedule}"], "schedule.solver", "heft"),
    ("run", ["--solver", "heft"], "options.solver", "heft"),
    ("run", ["--seed", "3"], "options.seed", 3),
    ("run", ["--retries", "5"], "options.retries", 5),
    ("run", ["--retry-delay", "0.5"], "options.retry_delay", 0.5),
    ("run", ["--time-scale", "0.25"], "options.time_scale", 0.25),
    ("run", ["--emulate"], "options.emulate", True),
    ("run", ["--strict-order"], "options.strict_order", True),
    ("run", ["--max-replans", "1"], "options.max_replans", 1),
    ("run", ["--timeout", "9"], "options.timeout", 9.0),
    ("run", ["--connect-timeout", "4"], "options.connect_timeout", 4.0),
    ("run", ["--out-dir", "somewhere"], "options.out_dir", "somewhere"),
    ("run", ["--no-out-dir"], "options.out_dir", None),
    ("run", ["--no-dashboard"], "options.dashboard", False),
    ("run", ["--no-artifacts"], "options.artifacts", False),
    ("run", ["--cost-store", "mine.json"], "options.cost_store", "mine.json"),
    ("run", ["--no-cost-store"], "options.cost_store", None),
    ("run", ["--host", "0.0.0.0"], "options.host", "0.0.0.0"),
    ("run", ["--data-dir", "{dir}"], "options.data_dirs", ("{dir}",)),
    ("run", ["--task-timeout-factor", "3"], "options.task_timeout_factor", 3.0),
    ("run", ["--task-timeout-slack", "5"], "options.task_timeout_slack", 5.0),
    ("run", ["--no-task-timeout"], "options.task_timeout_factor", None),
    ("demo", ["--docs", "100"], "n_docs", 100),
    ("demo", ["--batch-size", "32"], "batch_size", 32),
    ("demo", ["--shards", "2"], "n_shards", 2),
    ("demo", ["--gpus", "2"], "gpus", 2),
    ("demo", ["--cpus", "3"], "cpus", 3),
    ("demo", ["--corpus", "docs.txt"], "corpus", "docs.txt"),
    ("demo", ["--costs", "{costs}"], "costs", "{costs}"),
    ("demo", ["--no-calibrate"], "calibrate", False),
    ("demo", ["--address", "tcp://10.0.0.5:8786"], "address", "tcp://10.0.0.5:8786"),
    ("demo", ["--no-progress"], "progress", False),
    ("demo", ["--solver", "heft"], "options.solver", "heft"),
    ("demo", ["--out-dir", "elsewhere"], "options.out_dir", "elsewhere"),
    ("demo", ["--retries", "0"], "options.retries", 0),
    ("demo", ["--host", "0.0.0.0"], "options.host", "0.0.0.0"),
    ("bench", ["--suite", "llm", "--suite", "layered"], "suites", ["llm", "layered"]),
    ("bench", ["--size", "small"], "size", "small"),
    ("bench", ["--solvers", "heft,peft"], "solvers", ["heft", "peft"]),
    ("bench", ["--seeds", "1,2"], "seeds", [1, 2]),
    ("bench", ["--reference", "peft"], "reference", "peft"),
    ("bench", ["--time-limit", "2.5"], "time_limit", 2.5),
    ("bench", ["--out-dir", "b-out"], "out_dir", "b-out"),
    ("bench", ["--no-progress"], "progress", False),
    ("bench", ["--no-plot"], "plot", False),
    ("serve", ["--cluster", CLUSTER], "cluster", CLUSTER),
    ("serve", ["--address", "tcp://10.0.0.5:8786"], "address", "tcp://10.0.0.5:8786"),
    ("serve", ["--cron", "5 4 * * *"], "cron", "5 4 * * *"),
    ("serve", ["--name", "nightly"], "name", "nightly"),
    ("serve", ["--solver", "heft"], "options.solver", "heft"),
    ("serve", ["--time-scale", "0.1"], "options.time_scale", 0.1),
    ("serve", ["--emulate"], "options.emulate", True),
    ("serve", ["--retries", "7"], "options.retries", 7),
    ("serve", ["--out-dir", "reports"], "options.out_dir", "reports"),
    ("serve", ["--data-dir", "{dir}"], "options.data_dirs", ("{dir}",)),
    ("profile", ["--cluster", CLUSTER], "cluster.names", ["gpu0", "cpu0"]),
    ("profile", ["--address", "tcp://10.0.0.5:8786"], "address", "tcp://10.0.0.5:8786"),
    ("profile", ["--gpus", "0"], "cluster.names", ["cpu0", "cpu1"]),
    ("profile", ["--cpus", "1"], "cluster.names", ["gpu0", "cpu0"]),
    ("profile", ["--out", "c.json"], "out", "c.json"),
    ("profile", ["--sizes", "4,8"], "sizes", [4, 8]),
    ("profile", ["--repeats", "3"], "repeats", 3),
    ("profile", ["--corpus", "docs.txt"], "corpus", "docs.txt"),
    ("profile", ["--sequential"], "concurrent", False),
    ("compute", ["--address", "tcp://10.0.0.5:8786"], "address", "tcp://10.0.0.5:8786"),
    ("compute", ["--solver", "heft"], "solver", "heft"),
    ("compute", ["--seed", "4"], "seed", 4),
    ("compute", ["--costs", "given"], "costs", "given"),
    ("compute", ["--pace", "2"], "pace", 2),
    ("compute", ["--show", "20"], "show", 20),
]
# what the command does, not an argument: test_serve_apply_only below; --verbose and --keep-open in
# tests/test_cli_quiet.py
NOT_FLAGS = {"serve": {"--apply-only", "--verbose"}, "run": {"--keep-open", "--verbose"}, "demo": {"--verbose"},
             "profile": {"--verbose"}, "compute": {"--verbose"}}  # fmt: skip


@pytest.mark.parametrize("command", sorted(BASE))
def test_the_table_lists_every_flag(command):
    listed = {argv[0] for c, argv, _, _ in FLAGS if c == command} | NOT_FLAGS.get(command, set())
    assert listed == _flags(command)


@pytest.mark.parametrize("command, flag, path, expected", FLAGS, ids=[f"{c} {' '.join(a)}" for c, a, _, _ in FLAGS])
def test_flag_reaches_its_argument(command, flag, path, expected, files):
    fill = lambda items: [a.format(**files) for a in items]  # noqa: E731
    base = fill(BASE[command])
    without_argv, with_argv = base, base + fill(flag)
    if command == "run" and flag[0] in ("--cluster", "--address"):  # one of the two, never both
        other = {"--cluster": ["--address", "tcp://10.0.0.9:8786"], "--address": ["--cluster", files["cluster"]]}
        without_argv, with_argv = base[:2] + other[flag[0]], base[:2] + fill(flag)
    without, with_flag = _arguments(without_argv), _arguments(with_argv)
    expected = expected.format(**files) if isinstance(expected, str) else expected
    if isinstance(expected, tuple):
        expected = tuple(e.format(**files) for e in expected)
    got = _get(with_flag, path)
    assert got == expected
    try:
        before = _get(without, path)
    except (AttributeError, KeyError, TypeError):  # e.g. no schedule without --schedule
        before = None
    assert before != got, f"{' '.join(flag)} changes nothing"


def _callee(command: str):
    from hetflow.flows.cli.bench import run_bench
    from hetflow.flows.cli.compute import compute_target
    from hetflow.flows.llm.demo import run_demo
    from hetflow.flows.orchestration.flow import run_plan
    from hetflow.flows.orchestration.serve import deployment

    return {"run": run_plan.fn, "demo": run_demo, "bench": run_bench, "serve": deployment,
            "compute": compute_target}.get(command)  # fmt: skip


@pytest.mark.parametrize("command", sorted(BASE))
def test_arguments_bind_to_the_called_function(command, files):
    call = _arguments([a.format(**files) for a in BASE[command]])
    if command == "profile":
        from hetflow.flows.llm.profile import profile, profile_cluster

        rest = {k: v for k, v in call.items() if k not in ("cluster", "address", "out")}
        inspect.signature(profile).bind(call["cluster"], call["address"], out=call["out"])
        inspect.signature(profile_cluster).bind(None, **rest)
    else:
        inspect.signature(_callee(command)).bind(**call)
    if "options" in call:
        assert isinstance(call["options"], RunOptions)


def test_option_defaults_live_in_run_options(files):
    from hetflow.flows.options import default_run_folder

    call = _arguments([a.format(**files) for a in BASE["run"]])
    assert call["options"] == RunOptions(out_dir=default_run_folder())  # the CLI keeps a run's outputs
    from hetflow.flows.llm import demo_options

    assert _arguments(["demo"])["options"] == demo_options() != RunOptions()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", GRAPH, "--cluster", CLUSTER, "--retry-delay", "-1"], "--retry-delay must be >= 0, not -1.0"),
        (["run", GRAPH, "--cluster", CLUSTER, "--time-scale", "nan"], "--time-scale must be finite, not nan"),
        (["run", GRAPH, "--cluster", CLUSTER, "--timeout", "0"], "--timeout must be > 0, not 0.0"),
        (["run", GRAPH, "--cluster", CLUSTER, "--max-replans", "-2"], "--max-replans must be >= 0, not -2"),
        (["run", GRAPH, "--cluster", CLUSTER, "--connect-timeout", "inf"], "--connect-timeout must be finite"),
        (["demo", "--retries", "-1"], "--retries must be >= 0, not -1"),
        (["demo", "--solver", "nope"], "unknown solver 'nope'"),
        (["serve", GRAPH, "--cron", "0 3 * * *", "--time-scale", "-1"], "--time-scale must be >= 0"),
        (["bench", "--time-limit", "0"], "--time-limit must be > 0"),
        (["bench", "--reference", "nope"], "unknown solver 'nope'"),
        (["compute", "p.py:build", "--solver", "nope"], "unknown solver 'nope'"),
        (["compute", "p.py:build", "--pace", "0"], "--pace must be >= 1, not 0"),
    ],
)
def test_bad_option_values_name_the_flag(argv, message, files, capsys):
    assert main([a.format(**files) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hetflow: error: ") and message in err and err.count("\n") == 1


def test_serve_options_reach_the_deployment(files):
    from hetflow.flows.orchestration.serve import deployment

    argv = [a.format(**files) for a in BASE["serve"]] + ["--emulate", "--time-scale", "0.1", "--out-dir", "rep"]
    dep = deployment(**_arguments(argv))
    options = dep.parameters["options"]
    assert options == {**RunOptions().to_dict(), "emulate": True, "time_scale": 0.1, "out_dir": os.path.abspath("rep")}
    assert RunOptions.build(options).time_scale == 0.1  # what run_graph_file builds


def test_serve_apply_only_registers_and_exits(prefect_harness, files, capsys):
    """--apply-only registers the deployment on the server (here the test harness's) and returns at once."""
    from prefect.client.orchestration import get_client

    assert main([a.format(**files) for a in BASE["serve"]] + ["--name", "flags-n1", "--emulate", "--apply-only"]) == 0
    assert "deployment hetflow-run-file/flags-n1 (" in capsys.readouterr().out
    with get_client(sync_client=True) as client:
        dep = client.read_deployment_by_name("hetflow-run-file/flags-n1")
    assert dep.parameters["options"]["emulate"] is True and [s.schedule.cron for s in dep.schedules] == ["0 3 * * *"]


# -- end to end -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["address", "cluster"])
def test_no_dashboard_prints_no_link(prefect_harness, dask_cluster, files, where, capsys, caplog):
    at = ["--address", dask_cluster.scheduler_address] if where == "address" else ["--cluster", files["cluster"]]
    code = main(["run", files["graph"], *at, "--solver", "heft", "--emulate", "--time-scale", "0.02",
                 "--no-dashboard", "--no-artifacts"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Dask dashboard" not in caplog.text and "http" not in out  # print() goes to Prefect's log
    assert [line.split() for line in out.splitlines() if line.startswith("dashboard")] == [["dashboard", "-"]]


def test_no_artifacts_publishes_none(prefect_harness, dask_cluster, files, capsys):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    def count() -> int:
        with get_client(sync_client=True) as client:
            flt = ArtifactFilter(key=ArtifactFilterKey(any_=["hetflow-run-summary"]))
            return len(client.read_artifacts(artifact_filter=flt))

    argv = ["run", files["graph"], "--address", dask_cluster.scheduler_address, "--solver", "heft", "--emulate",
            "--time-scale", "0.02"]  # fmt: skip
    before = count()
    assert main([*argv, "--no-artifacts"]) == 0 and count() == before
    assert main(argv) == 0 and count() == before + 1
    capsys.readouterr()


def test_connect_timeout_bounds_the_wait(prefect_harness, files, capsys):
    t0 = time.perf_counter()
    assert main(["run", files["graph"], "--address", "tcp://127.0.0.1:9", "--connect-timeout", "1"]) == 2
    assert time.perf_counter() - t0 < 25  # the default (30 s) would wait the whole 30 s for the refused port
    assert "cannot connect to the Dask scheduler" in capsys.readouterr().err


def test_time_limit_reaches_a_solver_that_takes_one(files, tmp_path, capsys):
    from hetflow.solvers import SOLVERS, register_solver
    from hetflow.solvers.heft import heft

    seen: list[float | None] = []

    @register_solver("timed-heft")
    def timed_heft(problem, *, seed=0, time_limit=None):
        seen.append(time_limit)
        return heft(problem, seed=seed)

    try:
        code = main(["bench", "--size", "small", "--suite", "llm", "--solvers", "timed-heft", "--time-limit", "0.75",
                     "--out-dir", str(tmp_path), "--no-progress", "--no-plot"])  # fmt: skip
    finally:
        SOLVERS.pop("timed-heft")
    err = capsys.readouterr().err
    assert code == 0, err
    assert seen and set(seen) == {0.75}
    assert "note: --time-limit does not apply to heft (no time_limit option)" in err  # the reference takes none


def test_run_plan_honours_seed_and_solver(prefect_harness, dask_cluster):
    from hetflow.flows.orchestration.flow import run_plan

    graph = layered(2, 4)
    shape = Cluster.local(gpus=1, cpus=3)
    runs = [run_plan(graph, address=dask_cluster.scheduler_address,
                     options=RunOptions(solver="random", seed=s, emulate=True, time_scale=0.01, dashboard=False,
                                        artifacts=False)) for s in (1, 2)]  # fmt: skip
    for s, record in zip((1, 2), runs):
        assert record.solver == "random" and record.schedule == plan(graph, shape, solver="random", seed=s)
        assert record.summary()["dashboard"] == "-"
    assert runs[0].schedule != runs[1].schedule


def test_schedule_flag_runs_the_given_plan(prefect_harness, dask_cluster, files, tmp_path, capsys):
    code = main(["run", files["graph"], "--address", dask_cluster.scheduler_address, "--schedule", files["schedule"],
                 "--emulate", "--time-scale", "0.01", "--no-artifacts", "--out-dir", str(tmp_path)])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    ran = Schedule.load(str(tmp_path / "schedule.json"))
    assert ran == Schedule.load(files["schedule"]) and ran.solver == "heft" and re.search(r"^solver\s+heft$", out, re.M)


@pytest.mark.parametrize("command", ["plan", "run", "demo", "serve"])
def test_solver_help_lists_every_solver(command):
    from hetflow.solvers import solver_names

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    (flag,) = [a for a in sub.choices[command]._actions if "--solver" in a.option_strings]
    text = " ".join(flag.help.split())
    assert text.startswith("planner, one of: ") and "cpsat (bench extra)" in text
    assert all(re.search(rf"\b{re.escape(name)}\b", text) for name in solver_names())
