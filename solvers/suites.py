"""Benchmark suites for planning experiments: named ``(graph, cluster)`` instances.

* :class:`Instance` — a named ``(graph, cluster)`` pair in a suite, with the parameters that made it.
* :func:`suites` — layered random DAGs, LLM batch jobs, WfCommons recipes generated offline and the real
  WfInstances traces (:func:`data_dir`), each on a random mixed-speed cluster drawn from the seed.

:mod:`hetflow.solvers.experiments` runs solvers over them.
"""

from __future__ import annotations

import os
import warnings
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hetflow.taskgraph
import numpy as np
from hetflow.taskgraph import Cluster, TaskGraph
from hetflow.taskgraph.errors import InvalidInput

__all__ = ["Instance", "Suites", "suites", "data_dir", "SUITE_NAMES"]

SUITE_NAMES = ("layered", "llm", "wfcommons", "wfinstances")

# Network speeds per suite (bytes/s). The layered generator sets edge bytes so that transfer time at this
# bandwidth over mean run time is the requested CCR; WfCommons sizes are real bytes, moved over a
# 1 Gbit/s-class shared file system.
LAYERED_BANDWIDTH = 1e9
LLM_BANDWIDTH = 1e9
WF_BANDWIDTH = 1.25e8
SPEED_RANGE = (0.5, 2.0)


@dataclass
class Instance:
    """One benchmark problem: a task graph planned onto a cluster.

    Parameters
    ----------
    name : str
        Unique within its suite (e.g. ``"layered-n100-ccr1-b0.5"``).
    suite : str
        Suite the instance belongs to (the summary groups by it).
    graph : TaskGraph
    cluster : Cluster
    params : dict
        Whatever generated it (CCR, beta, recipe, cluster shape, ...); copied into the result rows.

    Examples
    --------
    >>> g = TaskGraph(name="g"); g.add_task("a", {"cpu": 2.0})
    >>> Instance("one-task", "demo", g, Cluster.local(gpus=0, cpus=2), {"origin": "docs"})
    Instance(demo/one-task: 1 tasks on Cluster(2 cpu, bandwidth=1e+09))
    """

    name: str
    suite: str
    graph: TaskGraph
    cluster: Cluster
    params: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Instance({self.suite}/{self.name}: {len(self.graph)} tasks on {self.cluster!r})"


class Suites(dict):
    """``{suite name: [Instance, ...]}`` plus ``notes``: why a requested suite was skipped or trimmed.

    Examples
    --------
    >>> built = Suites(demo=[]); built.notes.append("demo: nothing to build")
    >>> dict(built), built.notes
    ({'demo': []}, ['demo: nothing to build'])
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.notes: list[str] = []


# -- suites ------------------------------------------------------------------------------------------
def data_dir() -> Path:
    """Directory of the real WfInstances traces: ``$HETFLOW_DATA``, else the ten that ship with hetflow.

    The shipped traces are package data of :mod:`hetflow.taskgraph` (``data/wfinstances``, LGPL-3.0, see
    the README there).

    Examples
    --------
    >>> import os
    >>> folder = data_dir()
    >>> "HETFLOW_DATA" in os.environ or len(sorted(folder.glob("*.json"))) == 10
    True
    """
    env = os.environ.get("HETFLOW_DATA")
    return Path(env) if env else Path(hetflow.taskgraph.__file__).resolve().parent / "data" / "wfinstances"


def _rng(seed: int, name: str) -> np.random.Generator:
    """A generator that depends only on ``seed`` and the instance ``name`` (stable across runs and suites)."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def _cluster(name: str, seed: int, bandwidth: float) -> tuple[Cluster, dict[str, Any]]:
    """1-4 GPU and 2-16 CPU workers of mixed speeds, drawn from ``(seed, name)``."""
    from hetflow.taskgraph.generators import random_cluster

    rng = _rng(seed, "cluster:" + name)
    n_gpus, n_cpus = int(rng.integers(1, 5)), int(rng.integers(2, 17))
    cluster = random_cluster(n_gpus, n_cpus, speed_range=SPEED_RANGE, bandwidth=bandwidth,
                             seed=int(rng.integers(2**31)))
    return cluster, {"n_gpus": n_gpus, "n_cpus": n_cpus, "bandwidth": bandwidth}


def _layered(size: str, seed: int) -> list[Instance]:
    from hetflow.taskgraph.generators import layered_random

    grid = [(n, ccr, beta) for n in (100, 1000) for ccr in (0.1, 1.0, 10.0) for beta in (0.5, 1.5)]
    if size == "small":
        grid = [(100, 0.1, 0.5), (100, 1.0, 1.5), (100, 10.0, 0.5), (100, 10.0, 1.5)]
    out = []
    for n, ccr, beta in grid:
        name = f"layered-n{n}-ccr{ccr:g}-b{beta:g}"
        graph = layered_random(n, ccr=ccr, beta=beta, bandwidth=LAYERED_BANDWIDTH,
                               seed=int(_rng(seed, name).integers(2**31)))
        cluster, shape = _cluster(name, seed, LAYERED_BANDWIDTH)
        out.append(Instance(name, "layered", graph, cluster, {"ccr": ccr, "beta": beta, **shape}))
    return out


def _llm(size: str, seed: int, notes: list[str]) -> list[Instance]:
    from hetflow.taskgraph.workloads import llm_batch_job

    batch_size = 64
    grid = [(b, s) for b in (8, 32, 128) for s in (2, 4, 8)]
    if size == "small":
        grid = [(8, 2), (8, 4), (32, 2), (32, 4)]
    out = []
    for batches, shards in grid:
        name = f"llm-b{batches}-s{shards}"
        try:
            graph = llm_batch_job(n_docs=batches * batch_size, batch_size=batch_size, n_shards=shards)
        except InvalidInput as e:  # e.g. a cap on shards
            notes.append(f"llm: skipped {name} ({e})")
            continue
        if size == "small" and len(graph) > 300:
            continue
        cluster, shape = _cluster(name, seed, LLM_BANDWIDTH)
        out.append(Instance(name, "llm", graph, cluster, {"batches": batches, "shards": shards, **shape}))
    return out


WF_RECIPES = ("montage", "epigenomics", "1000genome", "srasearch", "cycles")


def _wfcommons(size: str, seed: int, notes: list[str]) -> list[Instance]:
    try:
        import wfcommons  # noqa: F401
    except ImportError:
        notes.append("wfcommons: skipped (the wfcommons package is not installed; pip install hetflow[bench])")
        return []
    from hetflow.taskgraph.wfformat import generate_wfcommons

    sizes = (200,) if size == "small" else (200, 1000, 2000)
    out = []
    for recipe in WF_RECIPES:
        for n in sizes:
            name = f"{recipe}-{n}"
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    graph = generate_wfcommons(recipe, n, seed=int(_rng(seed, name).integers(2**31)))
            except InvalidInput as e:
                notes.append(f"wfcommons: skipped {name} ({e})")
                continue
            cluster, shape = _cluster(name, seed, WF_BANDWIDTH)
            out.append(Instance(name, "wfcommons", graph, cluster, {"recipe": recipe, **shape}))
    return out


def _wfinstances(size: str, seed: int, notes: list[str]) -> list[Instance]:
    from hetflow.taskgraph.wfformat import load_wfformat

    root = data_dir()
    files = sorted(root.glob("*.json")) if root.is_dir() else []
    if not files:
        notes.append(f"wfinstances: skipped (no *.json traces in {root}; unset HETFLOW_DATA for the shipped ones)")
        return []
    if size == "small":  # the four smallest traces
        files = sorted(sorted(files, key=lambda p: p.stat().st_size)[:4])
    out = []
    for path in files:
        graph = load_wfformat(path)
        if size == "small" and len(graph) > 300:
            continue
        cluster, shape = _cluster(path.stem, seed, WF_BANDWIDTH)
        out.append(Instance(path.stem, "wfinstances", graph, cluster, {"recipe": path.stem.split("-")[0], **shape}))
    return out


def suites(size: str = "full", seed: int = 0, only: Iterable[str] | None = None) -> Suites:
    """Build the benchmark suites.

    Parameters
    ----------
    size : {"full", "small"}
        ``"full"``: layered random DAGs (CCR 0.1/1/10 x beta 0.5/1.5 x 100/1,000 tasks), LLM batch jobs
        (8/32/128 batches x 2/4/8 shards), WfCommons recipes (montage, epigenomics, 1000genome, srasearch,
        cycles x 200/1,000/2,000 tasks) and every real trace in :func:`data_dir`. ``"small"``: a handful
        of instances per suite, at most 300 tasks each, for CI.
    seed : int
        Seeds the graphs and the clusters; every instance draws its own cluster (1-4 GPU and 2-16 CPU
        workers, speeds in ``SPEED_RANGE``) from ``(seed, instance name)``.
    only : iterable of str, optional
        Build only these suites (names from ``SUITE_NAMES``).

    Returns
    -------
    Suites
        ``{suite: [Instance, ...]}``; ``.notes`` says which suites or instances were skipped and why
        (e.g. the ``wfcommons`` package is missing).

    Examples
    --------
    >>> built = suites("small", only=["wfinstances"])  # the four smallest shipped traces
    >>> [(i.name.split("-")[0], len(i.graph)) for i in built["wfinstances"]]
    [('1000genome', 52), ('epigenomics', 41), ('montage', 58), ('srasearch', 22)]
    """
    if size not in ("full", "small"):
        raise InvalidInput(f"suite size must be 'full' or 'small', not {size!r}")
    wanted = list(SUITE_NAMES) if only is None else list(dict.fromkeys(only))
    bad = [s for s in wanted if s not in SUITE_NAMES]
    if bad:
        raise InvalidInput(f"unknown suite {bad[0]!r}; choose from {', '.join(SUITE_NAMES)}")
    result = Suites()
    builders = {
        "layered": lambda: _layered(size, seed),
        "llm": lambda: _llm(size, seed, result.notes),
        "wfcommons": lambda: _wfcommons(size, seed, result.notes),
        "wfinstances": lambda: _wfinstances(size, seed, result.notes),
    }
    for name in wanted:
        instances = builders[name]()
        if instances:
            result[name] = instances
    return result
