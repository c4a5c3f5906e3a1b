"""The one-line-error contract for untrusted input files (issue 14, item 5).

Every malformed graph, cluster, schedule or WfFormat file, and every number outside the ranges the solvers
are tested at, makes ``hetflow`` exit 2 with one line ``hetflow: error: ...`` and no traceback; inputs that
networkx would silently read differently from what the file says (duplicate ids, ``true`` vs ``1``, an edge
listed twice, a boolean cost) are refused the same way. The commands run in-process
(:func:`hetflow.flows.cli.main`); a hypothesis test mutates the example files (structure and values).
The numbers at both ends of every range plan with every built-in solver.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest
from hetflow.flows.cli import main
from hetflow.solvers import Schedule, lower_bound, plan, solver_names
from hetflow.solvers.registry import MAX_SEED, check_seed
from hetflow.taskgraph import Cluster, ClusterError, CostError, FormatError, InvalidInput, TaskGraph, Worker
from hetflow.taskgraph.graph import BANDWIDTH_RANGE, MAX_BYTES, MAX_COST, MAX_LATENCY, SPEED_RANGE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
GRAPH = json.loads((ROOT / "examples" / "tiny_graph.json").read_text())
CLUSTER = json.loads((ROOT / "examples" / "cluster.json").read_text())
WFFORMAT = {
    "name": "tiny-wf",
    "schemaVersion": "1.5",
    "workflow": {
        "specification": {
            "tasks": [{"id": "a", "parents": [], "children": ["b"], "outputFiles": ["f"]},
                      {"id": "b", "parents": ["a"], "children": [], "inputFiles": ["f"]}],
            "files": [{"id": "f", "sizeInBytes": 2048}],
        },
        "execution": {"tasks": [{"id": "a", "runtimeInSeconds": 1.5}, {"id": "b", "runtimeInSeconds": 3}]},
    },
}


def _edit(doc: Any, change) -> Any:
    doc = copy.deepcopy(doc)
    change(doc)
    return doc


def _text(doc: Any) -> str:
    return doc if isinstance(doc, str) else json.dumps(doc)


def _hetflow(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    """Run the CLI in-process; a usage error (``SystemExit``) counts like a returned status."""
    try:
        code = main(args)
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def _assert_one_line(code: int, err: str, match: str | None = None) -> None:
    import re

    assert code == 2, (code, err)
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("hetflow: error: "), err
    if match is not None:
        assert re.search(match, lines[0]), (match, lines[0])


def _plan(tmp_path: Path, capsys: pytest.CaptureFixture, graph: Any = GRAPH, cluster: Any = CLUSTER,
          extra: tuple[str, ...] = ()) -> tuple[int, str, str]:
    g, c = tmp_path / "graph.json", tmp_path / "cluster.json"
    g.write_text(_text(graph))
    c.write_text(_text(cluster))
    return _hetflow(["plan", str(g), "--cluster", str(c), *extra], capsys)


def _wf(change) -> dict:
    return _edit(WFFORMAT, change)


def _cost(value: Any) -> str:
    """The example graph with ``value`` (JSON text) as the first task's cpu cost."""
    return json.dumps(GRAPH).replace('"cpu": 2.0', f'"cpu": {value}', 1)


# -- targeted cases: (id, graph, cluster, extra args, message regex) ----------------------------------------
GRAPH_CASES = [
    ("json-nested-100k-deep", "[" * 100_000 + "]" * 100_000, r"nested too deeply"),
    ("cost-int-10**400", _cost(10**400), r"cost of task 'pre0' on 'cpu' is an integer of about 400 digits"),
    ("cost-int-5000-digits", _cost("9" * 5000), r"not valid JSON: Exceeds the limit"),
    ("cost-1e15", _cost("1e15"), r"cost of task 'pre0' on 'cpu' is 1000000000000000.0; it must be at most 1e\+12"),
    ("cost-true", _cost("true"), r"cost of task 'pre0' on 'cpu' is True; it must be a number, not a boolean"),
    ("cost-string-number", _cost('"2.0"'), r"cost of task 'pre0' on 'cpu' is '2.0'; it must be a finite number"),
    ("cost-list", _cost("[1]"), r"cost of task 'pre0' on 'cpu' is \[1\]"),
    ("bytes-1e19", _edit(GRAPH, lambda g: g["edges"][0].update(bytes=1e19)), r"bytes on edge 'pre0' -> 'feat0'"),
    ("id-null", _edit(GRAPH, lambda g: g["nodes"][0].update(id=None)), r"node #0 .* has id None"),
    ("id-list", _edit(GRAPH, lambda g: g["nodes"][0].update(id=["pre0"])), r"node #0 .* has id \['pre0'\]"),
    ("id-nan", _cost("1").replace('"id": "pre0"', '"id": NaN'), r"node #0 .* has id nan"),
    ("edges-null", _edit(GRAPH, lambda g: g.update(edges=None)), r"'edges' of the task graph JSON must be a list"),
    ("edges-object", _edit(GRAPH, lambda g: g.update(edges={})), r"'edges' .* must be a list"),
    ("graph-attrs-a-list", _edit(GRAPH, lambda g: g.update(graph=[[1, 2, 3]])), r"'graph' .* must be an object"),
    ("directed-string", _edit(GRAPH, lambda g: g.update(directed="yes")), r"must be directed"),
    ("edge-source-list", _edit(GRAPH, lambda g: g["edges"][0].update(source=["pre0"])),
     r"edge #0 of the task graph names source \['pre0'\]"),
    ("duplicate-node-id", _edit(GRAPH, lambda g: g["nodes"].append(dict(g["nodes"][0], cost={"cpu": 99}))),
     r"nodes #0 and #11 of the task graph have the same id 'pre0'"),
    ("ids-true-and-1", {"nodes": [{"id": 1, "cost": {"cpu": 1}}, {"id": True, "cost": {"cpu": 2}}]},
     r"node #1 .* has id True"),
    ("ids-1-and-1.0", {"nodes": [{"id": 1, "cost": {"cpu": 1}}, {"id": 1.0, "cost": {"cpu": 2}}]},
     r"nodes #0 and #1 .* the same id 1.0"),
    ("duplicate-edge", _edit(GRAPH, lambda g: g["edges"].append(dict(g["edges"][0], bytes=5))),
     r"edge 'pre0' -> 'feat0' appears twice"),
    ("wfformat-task-id-list", _wf(lambda w: w["workflow"]["specification"]["tasks"][0].update(id=["a"])),
     r"task #0 of workflow.specification.tasks has id \['a'\]"),
    ("wfformat-run-id-list", _wf(lambda w: w["workflow"]["execution"]["tasks"][0].update(id=["a"])),
     r"task #0 of workflow.execution.tasks has id \['a'\]"),
    ("wfformat-file-id-list", _wf(lambda w: w["workflow"]["specification"]["files"][0].update(id=["f"])),
     r"workflow.specification.files\[0\] has file id \['f'\]"),
    ("wfformat-parent-dict", _wf(lambda w: w["workflow"]["specification"]["tasks"][1].update(parents=[{}])),
     r"task 'b' names parent task \{\}"),
    ("wfformat-runtime-1e13", _wf(lambda w: w["workflow"]["execution"]["tasks"][0].update(runtimeInSeconds=1e13)),
     r"runtimeInSeconds of task 'a' is 10000000000000.0; it must be at most 1e\+12"),
    ("wfformat-size-true", _wf(lambda w: w["workflow"]["specification"]["files"][0].update(sizeInBytes=True)),
     r"size of file 'f' is True"),
]
CLUSTER_CASES = [
    ("speed-1e-320", _edit(CLUSTER, lambda c: c["workers"][1].update(speed=1e-320)),
     r"speed of worker 'cpu0' is 1e-320; it must be between 1e-06 and 1e\+06"),
    ("speed-1e7", _edit(CLUSTER, lambda c: c["workers"][1].update(speed=1e7)),
     r"speed of worker 'cpu0' is 10000000.0; it must be between"),
    ("speed-true", _edit(CLUSTER, lambda c: c["workers"][1].update(speed=True)), r"speed of worker 'cpu0' is True"),
    ("links-5", _edit(CLUSTER, lambda c: c.update(links=5)), r"cluster 'links' must be a list, not 5"),
    ("links-of-strings", _edit(CLUSTER, lambda c: c.update(links=["x"])), r"link 'x' must be an object"),
    ("link-end-a-number", _edit(CLUSTER, lambda c: c["links"][0].update(a=0)), r"link end 0 must be a worker name"),
    ("bandwidth-1e-320", _edit(CLUSTER, lambda c: c.update(bandwidth=1e-320)), r"cluster bandwidth is 1e-320"),
    ("link-bandwidth-1e19", _edit(CLUSTER, lambda c: c["links"][0].update(bandwidth=1e19)),
     r"bandwidth of link 'gpu0' - 'cpu0' is 1e\+19"),
    ("latency-1e13", _edit(CLUSTER, lambda c: c.update(latency=1e13)),
     r"cluster latency is 10000000000000.0; it must be at most 1e\+12"),
    ("latency-int-10**400", json.dumps(CLUSTER).replace('"latency": 0.001', f'"latency": {10**400}'),
     r"cluster latency is an integer of about 400 digits"),
    ("cluster-nested-deep", '{"workers": ' + "[" * 50_000 + "]" * 50_000 + "}", r"cluster .* nested too deeply"),
]


@pytest.mark.parametrize(("graph", "match"), [c[1:] for c in GRAPH_CASES], ids=[c[0] for c in GRAPH_CASES])
def test_bad_graph_is_one_line(graph: Any, match: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, err = _plan(tmp_path, capsys, graph=graph)
    _assert_one_line(code, err, match)
    assert out == ""


@pytest.mark.parametrize(("cluster", "match"), [c[1:] for c in CLUSTER_CASES], ids=[c[0] for c in CLUSTER_CASES])
def test_bad_cluster_is_one_line(cluster: Any, match: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, err = _plan(tmp_path, capsys, cluster=cluster)
    _assert_one_line(code, err, match)


@pytest.mark.parametrize("seed", ["-1", str(MAX_SEED + 1)])
@pytest.mark.parametrize("solver", ["random", "dp", "cpsat"])
def test_bad_seed_is_one_line(seed: str, solver: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, err = _plan(tmp_path, capsys, extra=("--seed", seed, "--solver", solver))
    _assert_one_line(code, err, rf"seed {seed} must be an integer from 0 to {MAX_SEED}")


def test_check_seed_api() -> None:
    assert check_seed(0) == 0 and check_seed(MAX_SEED) == MAX_SEED
    for bad in (-1, MAX_SEED + 1, True, 1.5, "3", None):
        with pytest.raises(InvalidInput, match="seed"):
            check_seed(bad)


# -- schedule files (hetflow run --schedule): refused before Prefect or Dask start ---------------------------
def _good_schedule() -> dict:
    """The example's HEFT schedule without its (optional) makespan, so that each case breaks one thing."""
    from hetflow.taskgraph import load_graph

    graph = load_graph(ROOT / "examples" / "tiny_graph.json")
    data = plan(graph, Cluster.from_dict(CLUSTER), solver="heft").to_dict()
    del data["makespan"]
    return data


SCHEDULE_CASES = [
    ("not-json", "{tasks: ", r"schedule .* not valid JSON"),
    ("nested-deep", "[" * 100_000 + "]" * 100_000, r"schedule .* nested too deeply"),
    ("tasks-null", lambda s: s.update(tasks=None), r"'tasks' list"),
    ("row-a-list", lambda s: s["tasks"].__setitem__(0, [1, 2]), r"schedule task #0 needs task, worker, start"),
    ("row-missing-finish", lambda s: s["tasks"][0].pop("finish"), r"schedule task #0 needs task, worker, start"),
    ("task-id-list", lambda s: s["tasks"][0].update(task=["pre0"]), r"schedule task #0 has task \['pre0'\]"),
    ("worker-a-number", lambda s: s["tasks"][0].update(worker=3), r"schedule task #0 has worker 3"),
    ("start-a-string", lambda s: s["tasks"][0].update(start="0"), r"start of schedule task #0 is '0'"),
    ("start-nan", lambda s: s["tasks"][0].update(start=math.nan), r"start of schedule task #0 is nan"),
    ("finish-int-10**400", lambda s: s["tasks"][0].update(finish=10**400), r"finish of schedule task #0 .* too large"),
    ("meta-a-number", lambda s: s.update(meta=5), r"schedule 'meta' must be an object"),
    ("plan-seconds-null", lambda s: s.update(plan_seconds=None), r"schedule plan_seconds is None"),
    ("makespan-wrong", lambda s: s.update(makespan=1e6), r"is not the last finish time"),
    ("task-twice", lambda s: s["tasks"].append(dict(s["tasks"][0])), r"scheduled more than once"),
    ("breaks-cost-model", lambda s: s["tasks"][-1].update(finish=s["tasks"][-1]["finish"] + 1),
     r"lasts .* the cost model says"),
    ("unknown-worker", lambda s: s["tasks"][0].update(worker="tpu7"), r"on unknown worker 'tpu7'"),
]


@pytest.mark.parametrize(("change", "match"), [c[1:] for c in SCHEDULE_CASES], ids=[c[0] for c in SCHEDULE_CASES])
def test_bad_schedule_is_one_line(change: Any, match: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    if callable(change):
        schedule = _good_schedule()
        change(schedule)
        change = json.dumps(schedule)
    (tmp_path / "s.json").write_text(change)
    (tmp_path / "g.json").write_text(json.dumps(GRAPH))
    (tmp_path / "c.json").write_text(json.dumps(CLUSTER))
    args = ["run", str(tmp_path / "g.json"), "--cluster", str(tmp_path / "c.json"), "--schedule",
            str(tmp_path / "s.json"), "--emulate", "--no-dashboard"]
    code, out, err = _hetflow(args, capsys)
    _assert_one_line(code, err, match)
    assert out == ""


def test_run_rejects_a_seed_cpsat_cannot_take(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "g.json").write_text(json.dumps(GRAPH))
    (tmp_path / "c.json").write_text(json.dumps(CLUSTER))
    args = ["run", str(tmp_path / "g.json"), "--cluster", str(tmp_path / "c.json"), "--seed", str(MAX_SEED + 1)]
    code, _, err = _hetflow(args, capsys)
    _assert_one_line(code, err, rf"--seed must be <= {MAX_SEED}")


# -- the Python API refuses the same things ---------------------------------------------------------------------
def test_api_ranges_and_types() -> None:
    g = TaskGraph(name="g", validate=False)
    g.add_task("a", {"cpu": True})
    with pytest.raises(CostError, match="not a boolean"):
        g.validate()
    with pytest.raises(ClusterError, match="links must be a list"):
        Cluster([Worker("w", "cpu")], links=5)
    with pytest.raises(ClusterError, match="link 3 must be an object"):
        Cluster([Worker("w", "cpu")], links=[3])
    with pytest.raises(CostError, match="speed of worker 'w' is 1e-07"):
        Cluster([Worker("w", "cpu", 1e-7)])
    with pytest.raises(FormatError, match="'tasks' list"):
        Schedule.from_dict({"tasks": 5})


# -- the ends of every range plan with every solver ------------------------------------------------------------------
def _extreme_graph(n_layers: int, cost_hi: float, cost_lo: float, nbytes: float) -> TaskGraph:
    """A layered DAG whose costs alternate between the range's ends and whose edges carry ``nbytes``."""
    g = TaskGraph(name="extreme", validate=False)
    width = 2
    for layer in range(n_layers):
        for k in range(width):
            hi, lo = (cost_hi, cost_lo) if (layer + k) % 2 else (cost_lo, cost_hi)
            cost = {"cpu": hi, "gpu": lo} if k else {"cpu": lo}
            g.add_task(f"t{layer}_{k}", cost)
            if layer:
                for j in range(width):
                    g.add_edge(f"t{layer - 1}_{j}", f"t{layer}_{k}", bytes=nbytes if j == k else 0.0)
    return g.validate()


def _extreme_cluster(speed_a: float, speed_b: float, bandwidth: float, latency: float) -> Cluster:
    low_bw, high_bw = BANDWIDTH_RANGE
    other = low_bw if bandwidth == high_bw else high_bw
    workers = [Worker("g0", "gpu", speed_a), Worker("g1", "gpu", speed_b), Worker("c0", "cpu", speed_b),
               Worker("c1", "cpu", speed_a)]
    links = [{"a": "g0", "b": "c0", "bandwidth": other, "latency": MAX_LATENCY - latency}]
    return Cluster(workers, bandwidth=bandwidth, latency=latency, links=links)


EXTREMES = [  # (cost_hi, cost_lo, bytes, speed_a, speed_b, bandwidth, latency)
    (MAX_COST, 0.0, MAX_BYTES, SPEED_RANGE[0], SPEED_RANGE[1], BANDWIDTH_RANGE[0], 0.0),
    (MAX_COST, 5e-324, MAX_BYTES, SPEED_RANGE[1], SPEED_RANGE[1], BANDWIDTH_RANGE[1], MAX_LATENCY),
    (MAX_COST, MAX_COST, 0.0, SPEED_RANGE[0], SPEED_RANGE[0], BANDWIDTH_RANGE[0], MAX_LATENCY),
    (1e-9, 1.0, 5e-324, SPEED_RANGE[0], SPEED_RANGE[1], BANDWIDTH_RANGE[1], 5e-324),
    (0.0, 0.0, MAX_BYTES, SPEED_RANGE[1], SPEED_RANGE[0], BANDWIDTH_RANGE[0], MAX_LATENCY),
]


@pytest.mark.parametrize("case", EXTREMES, ids=[f"extreme{i}" for i in range(len(EXTREMES))])
def test_range_ends_plan_with_every_solver(case: tuple) -> None:
    """Tiny graphs for every solver (cpsat and exact included), a 24-task one for the DP planner's compiled
    local search; every plan is valid under the cost model and no shorter than the lower bound."""
    import warnings

    cost_hi, cost_lo, nbytes, speed_a, speed_b, bandwidth, latency = case
    cluster = _extreme_cluster(speed_a, speed_b, bandwidth, latency)
    tiny, larger = _extreme_graph(2, cost_hi, cost_lo, nbytes), _extreme_graph(12, cost_hi, cost_lo, nbytes)
    runs = [(tiny, s, {"deterministic_time": 1.0} if s == "cpsat" else {}) for s in solver_names()]
    runs.append((larger, "dp", {"mode": "heuristic"}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow or an invalid operation in numpy fails the test
        for graph, solver, options in runs:
            bound = lower_bound(graph, cluster)
            schedule = plan(graph, cluster, solver=solver, **options).validate(graph, cluster)
            assert math.isfinite(schedule.makespan), solver
            assert schedule.makespan >= bound * (1 - 1e-9), (solver, schedule.makespan, bound)


@pytest.mark.parametrize("value", [MAX_COST * (1 + 1e-15), 1e308, -5e-324])
def test_just_outside_the_cost_range(value: float) -> None:
    g = TaskGraph(name="g", validate=False)
    g.add_task("a", {"cpu": value})
    with pytest.raises(CostError, match="cost of task 'a'"):
        g.validate()


# -- hypothesis: mutated example files never produce a traceback -------------------------------------------------
class _Raw:
    """A JSON fragment written as is (duplicate keys, deep nesting, integer literals Python cannot print)."""

    counter = 0

    def __init__(self, text: str):
        _Raw.counter += 1
        self.text, self.tag = text, f"@@raw{_Raw.counter}@@"


def _dump(doc: Any) -> str:
    raws: dict[str, str] = {}

    def walk(x: Any) -> Any:
        if isinstance(x, _Raw):
            raws[x.tag] = x.text
            return x.tag
        if isinstance(x, dict):
            return {(walk(k) if isinstance(k, _Raw) else k): walk(v) for k, v in x.items()}
        if isinstance(x, list):
            return [walk(v) for v in x]
        return x

    text = json.dumps(walk(doc))
    for tag, raw in raws.items():
        text = text.replace(json.dumps(tag), raw)
    return text


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            found += _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            found += _paths(v, prefix + (i,))
    return found


def _get(doc: Any, path: tuple) -> Any:
    for key in path:
        doc = doc[key]
    return doc


NUMBERS = [0, -1, 1, 2**63, 1e15, MAX_COST, 1.0000001 * MAX_COST, 1e-320, 5e-324, 1e308, -0.0, math.nan, math.inf,
           -math.inf, MAX_BYTES, 1e19, 1e-6, 9e-7, 1e6, 2e6, 1e-9]
RAW_LEAVES = ["9" * 5000, str(10**400), "[" * 3000 + "]" * 3000, "[" * 50 + "]" * 50, '{"a": {"b": {"c": []}}}']
numbers = st.one_of(
    st.sampled_from(NUMBERS),
    st.floats(min_value=0, max_value=2 * MAX_COST),
    st.floats(min_value=0, max_value=1e-3),
    st.integers(0, 2**70),
)
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(NUMBERS),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.sampled_from(["pre0", "feat0", "merge", "gpu0", "cpu0", "cpu", "gpu", "", "a", "b", "f", "workflow"]),
    st.sampled_from(RAW_LEAVES).map(_Raw),
)


@st.composite
def mutated(draw: st.DrawFn, base: Any) -> str:
    """``base`` with 1-3 mutations: replace, wrap or stringify a value, delete or duplicate a key or an item."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        scalars = [p for p in paths if not isinstance(_get(doc, p), (dict, list))]
        path = draw(st.sampled_from(scalars if scalars and draw(st.integers(0, 3)) else paths))  # mostly values
        parent, key = (_get(doc, path[:-1]), path[-1]) if path else (None, None)
        target = _get(doc, path)
        op = draw(st.sampled_from(["replace", "replace", "replace", "wrap", "stringify", "delete", "duplicate"]))
        if op == "replace" and isinstance(target, (int, float)) and draw(st.booleans()):
            new = draw(numbers)  # a number for a number: the file stays well-formed, the value is extreme
        elif op == "replace":
            new = draw(leaves)
        elif op == "wrap":
            new = draw(st.sampled_from([[target], {"x": target}, [target, target]]))
        elif op == "stringify":
            new = _dump(target)
        elif parent is None:
            continue
        elif op == "delete":
            del parent[key]
            continue
        elif isinstance(parent, list):  # duplicate an item
            parent.insert(key, copy.deepcopy(target))
            continue
        else:  # duplicate a key: the JSON object gets the key twice, the second with another value
            parent[_Raw(key.text if isinstance(key, _Raw) else json.dumps(key))] = draw(leaves)
            continue
        if parent is None:
            doc = new
        else:
            parent[key] = new
    return _dump(doc)


@settings(max_examples=200, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    which=st.sampled_from(["graph", "graph", "cluster", "wfformat", "both"]),
    data=st.data(),
    solver=st.sampled_from([None, None, "heft", "random", "greedy", "peft"]),
)
def test_mutated_examples_exit_0_or_one_line(which: str, data: st.DataObject, solver: str | None,
                                             tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    graph = data.draw(mutated(GRAPH)) if which in ("graph", "both") else json.dumps(GRAPH)
    if which == "wfformat":
        graph = data.draw(mutated(WFFORMAT))
    cluster = data.draw(mutated(CLUSTER)) if which in ("cluster", "both") else json.dumps(CLUSTER)
    extra = ("--solver", solver) if solver else ()
    code, out, err = _plan(tmp_path, capsys, graph=graph, cluster=cluster, extra=extra)
    assert "Traceback" not in err
    if code == 0:
        assert "makespan" in out, out
    else:
        _assert_one_line(code, err)
