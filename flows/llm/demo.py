"""The demo: the real MiniLM batch job on the bundled corpus, planned with ``dp`` and run under Prefect.

:func:`run_demo` does, in order:

1. build the job (:func:`hetflow.taskgraph.workloads.llm_batch_job`) — ``n_docs`` documents in batches of
   ``batch_size``, the encoder split over ``n_shards`` tasks per batch;
2. start the embedded Dask cluster (:func:`hetflow.flows.runtime.cluster.start_local_cluster`: one single-thread
   worker process per planned worker, ``gpu0`` with the Dask resource ``GPU=1``, ``cpu0..``) or connect
   to ``address``/``client``;
3. load MiniLM on every worker (untimed warm-up), start Prefect's temporary local server (unless
   ``PREFECT_API_URL`` points to one) and, unless a cost file is given, calibrate the costs on those
   workers (:func:`hetflow.flows.llm.profile.profile_cluster`; written to ``costs.json``) — with the server already
   running, as it will be during the run;
4. rebuild the job with the calibrated costs, plan it and execute the plan with the Prefect flow
   :func:`hetflow.flows.orchestration.flow.run_plan`, showing a progress bar of finished graph tasks read from the Dask
   scheduler's task stream (:class:`TaskProgress`);
5. write the merged table (one row per document), the Gantt chart, schedule, timeline and a summary.

On a CPU-only machine the ``gpu`` worker runs the same torch code on the CPU (CUDA is used when
available), so calibrated GPU costs there are CPU costs and the plan treats ``gpu0`` like a CPU.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import pandas as pd
from hetflow.flows.llm import DEFAULT_DOCS, demo_options
from hetflow.flows.llm.profile import profile_cluster, warm_up_workers
from hetflow.flows.logs import DASK_LOGGERS, AtLeast, console_handlers, filtered
from hetflow.flows.options import RunOptions
from hetflow.flows.runtime.cluster import open_session
from hetflow.flows.runtime.keys import parse_key
from hetflow.flows.runtime.timeline import kind_worker_table
from hetflow.taskgraph import Cluster, TaskGraph
from hetflow.taskgraph.errors import FormatError, InvalidInput
from hetflow.taskgraph.workloads import count_corpus_rows, llm_batch_job, load_costs, resolve_costs
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

__all__ = [
    "DEFAULT_DOCS",
    "DemoRecord",
    "run_demo",
    "demo_options",
    "result_table",
    "stage_table",
    "format_summary",
    "TaskProgress",
]

PROFILE_SIZES = (16, 64)  # the demo's quick calibration: two sizes (two passes, ~10 s)


@dataclass
class DemoRecord:
    """What :func:`run_demo` returns: the run record, the merged table and where the outputs went."""

    record: Any  # hetflow.flows.orchestration.flow.RunRecord
    table: pd.DataFrame
    n_docs: int
    costs: dict[str, dict[str, tuple[float, float]]]
    costs_source: str  # "calibrated", a file path, "given" or "default"
    paths: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    profile: Any = None  # hetflow.flows.llm.profile.Profile when calibrated

    @property
    def planned_makespan(self) -> float:
        return float(self.record.planned_makespan)

    @property
    def actual_makespan(self) -> float:
        return float(self.record.actual_makespan)

    @property
    def ratio(self) -> float:
        """Actual over planned makespan."""
        return float(self.record.ratio)

    @property
    def docs_per_second(self) -> float:
        """Documents over the actual makespan (first task submitted -> last task finished)."""
        return self.n_docs / self.actual_makespan if self.actual_makespan > 0 else float("nan")

    def summary(self) -> dict[str, Any]:
        """Headline numbers (JSON-able)."""
        return {
            "documents": self.n_docs,
            "rows": len(self.table),
            "tasks": len(self.record.timeline),
            "solver": self.record.solver,
            "costs": self.costs_source,
            "planned_makespan_s": round(self.planned_makespan, 3),
            "actual_makespan_s": round(self.actual_makespan, 3),
            "actual_over_planned": round(self.ratio, 3),
            "docs_per_s": round(self.docs_per_second, 2),
            "replans": len(self.record.replans),
            "retried_attempts": int(self.record.timeline.attempts.sum() - len(self.record.timeline)),
            **{f"{k}_s": round(v, 2) for k, v in self.timings.items()},
        }


def result_table(record: Any) -> pd.DataFrame:
    """The merged result table of an LLM-job run record (the ``merge`` sink's DataFrame)."""
    table = record.results.get("merge")
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"the run has no merged table (sink results: {list(record.results)})")
    return table


def stage_table(timeline: pd.DataFrame) -> pd.DataFrame:
    """Where each stage ran: tasks per (kind, actual worker), stages in pipeline order, plus totals."""
    return kind_worker_table(timeline).rename_axis("stage")


def batch_rows(graph: TaskGraph) -> dict[Hashable, int]:
    """Score task -> documents it scores: the rows ``[start, stop)`` its batch's ``preprocess`` task reads."""
    rows = {}
    for t in graph.tasks:
        if graph.kind(t) == "score":
            pre = [a for a in nx.ancestors(graph.G, t) if graph.kind(a) == "preprocess"]
            params = [graph.G.nodes[a].get("params") or {} for a in pre]
            rows[t] = sum(max(0, int(p.get("stop", 0)) - int(p.get("start", 0))) for p in params)
    return rows


class TaskProgress(threading.Thread):
    """Poll the Dask scheduler's task stream for finished graph tasks; report ``callback(done, docs_scored)``.

    A task counts as done once a key of it (:func:`hetflow.flows.runtime.keys.parse_key`) finished without
    error. Only records added after the poller was
    created are read, so earlier runs on the same cluster do not count, and none is missed (the stream
    keeps records after their results are released).
    """

    def __init__(self, client: Any, graph: TaskGraph, callback: Callable[[int, int], None], interval: float = 0.25):
        super().__init__(daemon=True, name="hetflow-progress")
        self.client, self.callback, self.interval = client, callback, interval
        self.tasks = {str(t) for t in graph.tasks}
        self.docs = {str(t): n for t, n in batch_rows(graph).items()}
        self.done: set[str] = set()
        self.stop_event = threading.Event()
        client.get_task_stream(count=0)  # makes the scheduler record the task stream
        self.index, _ = client.run_on_scheduler(_stream_since, None)

    def poll(self) -> int:
        """Read the new task-stream records once; return the number of finished graph tasks."""
        try:
            self.index, keys = self.client.run_on_scheduler(_stream_since, self.index)
        except Exception:  # scheduler busy or gone: try again at the next poll
            keys = []
        for key in keys:
            try:
                task = parse_key(key).task
            except ValueError:  # not a graph task's key
                continue
            if task in self.tasks:
                self.done.add(task)
        self.callback(len(self.done), sum(self.docs.get(t, 0) for t in self.done))
        return len(self.done)

    def run(self) -> None:
        while not self.stop_event.wait(self.interval):
            self.poll()

    def stop(self) -> None:
        """Stop polling (after one last poll)."""
        self.stop_event.set()
        self.join(timeout=5)
        self.poll()


def _stream_since(index: int | None, dask_scheduler: Any = None) -> tuple[int, list[str]]:
    """Scheduler side: (new index, keys of tasks that finished OK) of the task stream from ``index`` on."""
    plugin = dask_scheduler.plugins.get("task-stream")
    if plugin is None:
        return (index or 0), []
    if index is None:
        return plugin.index, []
    records = plugin.collect(start_index=index)
    return plugin.index, [r["key"] for r in records if isinstance(r.get("key"), str) and r.get("status") == "OK"]


@contextmanager
def _quiet_logs(console: Any = None, level: int = logging.ERROR) -> Iterator[None]:
    """Hide Dask's INFO and WARNING lines in this process (e.g. "Worker process still alive after 4.0
    seconds, killing" at every cluster close) and print Prefect's log lines above the progress bar.

    Dask's records are dropped by a handler filter (the cluster start resets the ``distributed`` logger's
    level). Prefect's console handlers print through their own rich console; pointing them at the progress
    bar's ``console`` keeps the bar at the bottom instead of being overwritten.
    """
    swapped = []
    for h in console_handlers() if console is not None else ():
        if type(h).__name__ == "PrefectConsoleHandler" and hasattr(h, "console"):
            swapped.append((h, h.console))
            h.console = console
    try:
        with filtered(AtLeast(level, DASK_LOGGERS)):
            yield
    finally:
        for h, old in swapped:
            h.console = old


def _start_prefect_server() -> str:
    """Start Prefect's temporary local server now, unless ``PREFECT_API_URL`` names one; return the API URL.

    The flow would start it anyway; starting it before the calibration means the costs are measured with
    the server's background load present, as it is during the run.
    """
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    return str(PREFECT_API_URL.value() or get_client(sync_client=True).api_url)


def _load_costs(costs: str | Path | Mapping | None) -> tuple[dict | None, str]:
    if costs is None:
        return None, "default"
    if isinstance(costs, Mapping):
        resolve_costs(costs)  # validate
        return {k: dict(v) for k, v in costs.items()}, "given"
    return load_costs(costs), str(costs)


def run_demo(
    n_docs: int | None = DEFAULT_DOCS,
    batch_size: int = 64,
    n_shards: int = 3,
    *,
    gpus: int = 1,
    cpus: int = 2,
    corpus: str = "bundled",
    costs: str | Path | Mapping | None = None,
    calibrate: bool = True,
    profile_sizes: tuple[int, ...] = PROFILE_SIZES,
    profile_repeats: int = 2,
    address: str | None = None,
    client: Any = None,
    prepare: Callable[[TaskGraph], TaskGraph] | None = None,
    progress: bool = True,
    console: Any = None,
    options: RunOptions | None = None,
    **overrides: Any,
) -> DemoRecord:
    """Run the demo job end to end (module docstring) and return a :class:`DemoRecord`.

    Parameters
    ----------
    n_docs, batch_size, n_shards : int
        The job (:func:`hetflow.taskgraph.workloads.llm_batch_job`); ``n_docs=None`` takes every row of a corpus file.
    gpus, cpus : int
        Shape of the embedded cluster (ignored with ``address``/``client``, whose workers are discovered).
    corpus : str
        ``"bundled"`` or a ``.txt``/``.csv``/``.parquet`` path.
    costs : path or mapping, optional
        A calibration file (``hetflow profile``) or ``{kind: {device: (a, b)}}``; skips calibration.
    calibrate : bool
        Without ``costs``: calibrate on the cluster (True) or plan with the built-in defaults (False).
    profile_sizes, profile_repeats
        Calibration settings (:func:`hetflow.flows.llm.profile.profile_cluster`).
    address, client
        Run on an existing Dask cluster instead of starting one.
    prepare : callable, optional
        ``prepare(graph) -> graph`` applied to the job before planning (fault drills, experiments).
    progress : bool
        Show a rich progress bar (tasks done / total, documents scored).
    console : rich.console.Console, optional
        Where progress goes (default: a new console on stderr).
    options : RunOptions, optional
        How the job is planned and run (:func:`demo_options`: ``solver``, ``retries``, ``retry_delay``, ...).
        ``out_dir`` (default ``hetflow-demo``; ``None`` writes nothing) receives the run's outputs
        (:func:`hetflow.flows.orchestration.record.write_outputs`: the merged table as ``results.parquet``,
        ``gantt.png``, ``schedule.json``, ``timeline.csv``, ``summary.md``) and, when calibrated, ``costs.json``.
    **overrides
        Options by name, applied to ``options``: ``run_demo(solver="heft", out_dir=None)``.
    """
    options = demo_options(options, **overrides)
    if corpus != "bundled":  # a corpus named by the caller: its folder is one the job may read
        options = RunOptions.build(options, data_dirs=(*options.data_dirs, os.path.dirname(os.path.abspath(corpus))))
    solver = options.solver
    os.environ.setdefault("HETFLOW_TORCH_THREADS", "1")  # worker processes inherit it: one torch thread each
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # no "Loading weights" bar per worker
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # offline: no telemetry attempts
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")  # 20 s is short on 2 busy cores
    # imported after the settings above: Prefect reads its settings when first imported
    from hetflow.flows.orchestration.flow import run_plan

    if address is not None and client is not None:
        raise InvalidInput("run_demo: pass either a scheduler address or a client, not both")
    timings: dict[str, float] = {}
    t_start = time.perf_counter()
    fixed, source = _load_costs(costs)
    job = {"n_docs": n_docs, "batch_size": batch_size, "n_shards": n_shards, "corpus": corpus}
    n_docs = job["n_docs"] = int(llm_batch_job(**job).G.graph["workload"]["n_docs"])  # checks the arguments
    if corpus != "bundled" and count_corpus_rows(corpus) < n_docs:
        raise FormatError(f"{corpus}: has {count_corpus_rows(corpus)} rows, the job asks for {n_docs}")
    console = console or Console(stderr=True)
    columns = [SpinnerColumn(), TextColumn("{task.description:<34}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[note]}"), TimeElapsedColumn()]  # fmt: skip
    bar = Progress(*columns, console=console, disable=not progress, transient=False)
    out = Path(options.out_dir) if options.out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    profile = None
    with _quiet_logs(console if progress else None), bar:
        step = bar.add_task("starting Dask cluster", total=None, note="")
        shape = Cluster.local(gpus=gpus, cpus=cpus)
        session = open_session(None if (address or client) else shape, address, client=client,
                               dashboard_address=":0" if options.dashboard else None,
                               timeout=options.connect_timeout, host=options.host)  # fmt: skip
        try:
            names = session.cluster.names
            bar.update(step, description=f"Dask cluster: {len(names)} workers", total=1, completed=1,
                       note=", ".join(names))  # fmt: skip
            timings["cluster_start"] = time.perf_counter() - t_start

            t = time.perf_counter()
            step = bar.add_task("loading MiniLM on the workers", total=None, note="")
            warm_up_workers(session.client, corpus=corpus, size=min(8, n_docs))
            bar.update(step, total=1, completed=1)
            timings["model_load"] = time.perf_counter() - t
            t = time.perf_counter()
            step = bar.add_task("starting Prefect server", total=None, note="")
            url = _start_prefect_server().replace("http://", "").removesuffix("/").removesuffix("/api")
            bar.update(step, description="Prefect server", total=1, completed=1, note=url)
            timings["prefect_start"] = time.perf_counter() - t
            if fixed is None and calibrate:
                t = time.perf_counter()
                step = bar.add_task("calibrating costs", total=None, note=f"sizes {list(profile_sizes)}")
                sizes = [s for s in profile_sizes if s <= n_docs] or [min(profile_sizes[0], n_docs)]
                profile = profile_cluster(session.client, sizes=sizes, repeats=profile_repeats, corpus=corpus,
                                          span=n_docs if corpus == "bundled" else None)  # fmt: skip
                fixed, source = profile.costs, "calibrated"
                if out is not None:
                    profile.save(out / "costs.json")
                bar.update(step, total=1, completed=1)
                timings["calibration"] = time.perf_counter() - t

            graph = llm_batch_job(**job, costs=fixed)
            if prepare is not None:
                graph = prepare(graph)
            step = bar.add_task(f"running {len(graph)} tasks ({solver} plan)", total=len(graph), note="")

            def report(done: int, docs: int) -> None:
                bar.update(step, completed=done, note=f"{docs}/{n_docs} docs scored")

            poller = TaskProgress(session.client, graph, report)
            poller.start()
            t = time.perf_counter()
            try:
                links = profile.cluster(shape) if profile is not None else None  # measured transfer speed
                record = run_plan(graph, cluster=links, client=session.client, options=options)
            finally:
                poller.stop()
            timings["flow"] = time.perf_counter() - t
            bar.update(step, completed=len(graph), note=f"{n_docs}/{n_docs} docs scored")
        finally:
            if client is None:
                session.close()
    table = result_table(record)
    demo = DemoRecord(record, table, int(graph.G.nodes["merge"]["params"]["n_docs"]), fixed or {}, source,
                      timings=timings, profile=profile)  # fmt: skip
    demo.paths = dict(record.paths)  # written by the flow (hetflow.flows.orchestration.record.write_outputs)
    if out is not None and source == "calibrated":
        demo.paths["costs"] = str(out / "costs.json")
    demo.timings["total"] = time.perf_counter() - t_start
    return demo


def format_summary(demo: DemoRecord) -> str:
    """A plain-text report: headline numbers, stages per worker, top topics and the output files."""
    s = demo.summary()
    lines = [
        f"{s['documents']} documents -> {s['rows']} rows, {s['tasks']} tasks, {s['solver']} plan, costs: {s['costs']}",
        f"throughput      {s['docs_per_s']:.1f} docs/s (over the actual makespan)",
        f"makespan        planned {s['planned_makespan_s']:.2f} s, actual {s['actual_makespan_s']:.2f} s "
        f"(actual/planned {s['actual_over_planned']:.2f})",
        f"retries/replans {s['retried_attempts']} retried attempts, {s['replans']} re-plans",
        "time            " + ", ".join(f"{k} {v:.1f} s" for k, v in demo.timings.items()),
        "",
        "where each stage ran (tasks per worker):",
        stage_table(demo.record.timeline).to_string(),
        "",
        "top topics: " + ", ".join(f"{k} {v}" for k, v in demo.table["best_topic"].value_counts().head(4).items()),
    ]
    if demo.paths:
        lines += ["", "outputs:"] + [f"  {k:<9} {v}" for k, v in demo.paths.items()]
    return "\n".join(lines)

