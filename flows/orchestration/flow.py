"""The Prefect 3 flow :func:`run_plan`: Dask cluster → plan → execute pinned tasks → merge → report.

Prefect tasks are the coarse steps only (set-up, planning, execution, merge, report). The graph's tasks
are plain Dask tasks submitted by :class:`hetflow.flows.runtime.executor.PlanExecutor` — a Prefect task per graph node
would cost ~0.1 s each.

Example (starts an embedded Dask cluster; use ``address="tcp://..."`` for a running one)::

    from hetflow.taskgraph import Cluster, workloads
    g = workloads.llm_batch_job(n_docs=640)
    record = run_plan(g, cluster=Cluster.local(1, 3), solver="dp", emulate=True, time_scale=2.0)
    record = run_plan(g, options=RunOptions(solver="heft", emulate=True))  # the same options as one object
    record.results, record.planned_makespan, record.actual_makespan, record.replans
    record.timeline.head(); record.gantt("run.png")
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Hashable
from typing import Any

from hetflow.flows.options import RunOptions
from hetflow.flows.orchestration.record import RunRecord, merge_digest
from hetflow.flows.runtime.cluster import DaskSession, open_session_for
from hetflow.flows.runtime.executor import Execution, PlanExecutor
from hetflow.flows.runtime.learning import learn_from_execution, run_cost_store
from hetflow.flows.runtime.timeline import timeline_frame, worker_table
from hetflow.flows.runtime.trust import confine_paths, with_graph_folder
from hetflow.solvers import plan
from hetflow.solvers.schedule import Schedule
from hetflow.taskgraph import Cluster, TaskGraph, check_runnable
from hetflow.taskgraph.coststore import CostStore
from hetflow.taskgraph.errors import ClusterError, InvalidInput
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

__all__ = ["run_plan", "RunRecord", "RunOptions", "merge_digest"]


# -- learned costs -----------------------------------------------------------------------------------
def _with_learned_costs(graph: TaskGraph, store: CostStore | None, cluster: Cluster) -> TaskGraph:
    """``graph`` with the store's costs on its real-op tasks (emulated tasks keep what they sleep)."""
    if store is None or not len(store):
        return graph
    applied = store.apply(graph, only=lambda t: graph.G.nodes[t].get("op") is not None)
    if applied.learned:
        get_run_logger().info(f"planning {applied.learned} of {len(graph)} tasks with costs learned from runs")
    check_runnable(applied.graph, cluster)
    return applied.graph


# -- the coarse Prefect tasks ------------------------------------------------------------------------
@task(name="set up Dask cluster", cache_policy=NO_CACHE)
def setup_cluster(cluster: Cluster | None, address: str | None, client: Any, options: RunOptions) -> DaskSession:
    session = open_session_for(options, cluster, address, client=client)
    where = "embedded cluster" if session.local_cluster is not None else (address or "given client")
    get_run_logger().info(f"Dask {where}: {len(session.cluster)} planned workers {session.cluster.names}")
    link = session.dashboard_link if options.dashboard else None
    if link:
        print(f"Dask dashboard: {link}")
    return session


@task(name="plan", cache_policy=NO_CACHE)
def make_plan(graph: TaskGraph, cluster: Cluster, options: RunOptions, schedule: Schedule | None) -> Schedule:
    if schedule is not None:
        return schedule.validate(graph, cluster)
    schedule = plan(graph, cluster, solver=options.solver, seed=options.seed)
    schedule.validate(graph, cluster)  # cheap (O(V + E)); a bad plan would run in a wrong order
    get_run_logger().info(
        f"{options.solver} planned {len(schedule)} tasks: makespan {schedule.makespan:.4g} s "
        f"in {schedule.plan_seconds:.3f} s"
    )
    return schedule


@task(name="execute plan", cache_policy=NO_CACHE)
def execute_plan(session: DaskSession, graph: TaskGraph, schedule: Schedule, options: RunOptions) -> Execution:
    logger = get_run_logger()
    executor = PlanExecutor(session.client, graph, session.cluster, session.slots, options, log=logger.info)
    execution = executor.run(schedule)
    logger.info(f"executed {len(graph)} tasks in {execution.wall_seconds:.3f} s, {len(execution.replans)} re-plans")
    return execution


@task(name="merge sink results", cache_policy=NO_CACHE)
def merge_results(graph: TaskGraph, execution: Execution) -> dict[Hashable, Any]:
    missing = [s for s in graph.sinks if s not in execution.results]
    if missing:  # the executor returns every sink or raises; this guards the contract
        raise RuntimeError(f"sink {missing[0]!r} has no result")
    return {s: execution.results[s] for s in graph.sinks}


@task(name="report", cache_policy=NO_CACHE)
def report_run(
    graph: TaskGraph,
    session: DaskSession,
    schedule: Schedule,
    execution: Execution,
    results: dict[Hashable, Any],
    options: RunOptions,
    incomplete: str | None = None,
) -> RunRecord:
    time_scale = options.time_scale
    frame = timeline_frame(graph, execution, session.slots, time_scale)
    replans = [
        {
            "round": r.index,
            "at": r.offset,
            "dead": r.dead,
            "tasks": len(r.schedule),
            "kept": r.kept,
            "planned_makespan": r.schedule.makespan * time_scale,
            **({"rejoined": r.rejoined} if r.rejoined else {}),
        }
        for r in execution.replans
    ]
    record = RunRecord(
        graph_name=graph.name,
        solver=schedule.solver,
        schedule=schedule,
        cluster=session.cluster,
        results=results,
        timeline=frame,
        planned_makespan=schedule.makespan * time_scale,
        actual_makespan=float(frame.actual_finish.max()) if len(frame) else 0.0,
        wall_seconds=execution.wall_seconds,
        submit_seconds=execution.submit_seconds,
        time_scale=time_scale,
        replans=replans,
        dashboard_link=session.dashboard_link if options.dashboard else None,
        incomplete=incomplete,
        missing=[s for s in graph.sinks if s not in results],
    )
    if options.artifacts:
        create_markdown_artifact(record.to_markdown(), key="hetflow-run-summary", description="plan vs actual")
        table = worker_table(frame).round(4).to_dict(orient="records")
        create_table_artifact(table, key="hetflow-run-workers", description="per-worker actual load")
    if options.out_dir:
        paths = record.save(options.out_dir)
        get_run_logger().info(f"wrote {', '.join(paths.values())}")  # the one writer: record.write_outputs
    return record


def _report_partial(
    error: Exception, graph: TaskGraph, session: DaskSession, schedule: Schedule, options: RunOptions
) -> None:
    """After a failed execution: report (and write, marked incomplete) the sinks that finished before it."""
    execution = getattr(error, "execution", None)
    if not isinstance(execution, Execution):
        return
    reason = f"{type(error).__name__}: {error}"
    try:
        report_run(graph, session, schedule, execution, dict(execution.results), options, incomplete=reason)
    except Exception as e:  # never hide the run's own error behind a reporting one
        get_run_logger().warning(f"could not report the partial run: {type(e).__name__}: {e}")


@flow(name="hetflow-run-plan", validate_parameters=False, log_prints=True)
def run_plan(
    graph: TaskGraph,
    schedule: Schedule | None = None,
    *,
    cluster: Cluster | None = None,
    address: str | None = None,
    client: Any = None,
    options: RunOptions | None = None,
    **overrides: Any,
) -> RunRecord:
    """Plan ``graph`` and run the plan on Dask; return the merged sink results and a :class:`RunRecord`.

    Parameters
    ----------
    graph : TaskGraph
        Tasks with ``cost`` and optionally ``op``/``params`` (:mod:`hetflow.flows.runtime.ops`); tasks without ``op``
        sleep ``cost[device] / speed * time_scale`` seconds (``emulate``).
    schedule : Schedule, optional
        A ready plan (validated against the cluster); default: plan with ``options.solver``.
    cluster : Cluster, optional
        Without ``address``/``client``: the shape of the embedded Dask cluster to start (default
        ``Cluster.local(1, 3)``). With them: only its bandwidth/latency are used; workers are discovered.
    address : str, optional
        Scheduler address of a running Dask cluster (``tcp://host:port``).
    client : distributed.Client, optional
        An already connected client (not closed by the flow).
    options : RunOptions, optional
        How to plan, execute and report (solver, seed, retries, retry_delay, time_scale, emulate, strict_order,
        max_replans, timeout, task_timeout_factor, dashboard, connect_timeout, out_dir, data_dirs, artifacts,
        ...; see :class:`RunOptions`). Declared file paths of the graph's ops are checked against the graph
        file's folder and ``data_dirs`` (reads) and ``out_dir`` (writes) first (:mod:`hetflow.flows.runtime.trust`).
    **overrides
        Options by name, applied to ``options``: ``run_plan(g, solver="heft", time_scale=0.1)``.

    Returns
    -------
    RunRecord

    Raises
    ------
    hetflow.taskgraph.errors.InvalidInput
        Bad graph/cluster/schedule/options, or (``DeviceError``) a task that no surviving worker can run.
    hetflow.flows.runtime.executor.TaskFailed
        A task failed on every attempt or ran past its limit, or the run passed ``options.timeout``. The
        sinks that finished are reported (and, with ``out_dir``, written, marked incomplete) first; the
        exception's ``execution`` holds them.
    hetflow.flows.runtime.executor.SchedulerLost
        The Dask scheduler went away during the run.

    Examples
    --------
    >>> import hetflow as hf
    >>> g = hf.generators.layered_random(12, seed=1)
    >>> record = hf.run_plan(g, cluster=hf.Cluster.local(1, 2), solver="heft", time_scale=0.01,
    ...                      dashboard=False, artifacts=False)  # prints one summary line (to Prefect's log)
    >>> record.timeline.on_plan.all(), len(record.results) == len(g.sinks), record.planned_makespan > 0
    (np.True_, True, True)
    """
    options = RunOptions.build(options, **overrides)
    if not isinstance(graph, TaskGraph):
        raise InvalidInput(f"run_plan needs a TaskGraph, not {type(graph).__name__}")
    if address is not None and client is not None:
        raise ClusterError("pass either a scheduler address or a client, not both")
    graph.validate()
    store = run_cost_store(graph, options.cost_store, options.emulate)  # before any cluster: corrupt = bad input
    given, options = options, options.with_run_folder(graph.name)  # {graph}/{time}: a new folder for this run
    try:
        graph = confine_paths(graph, options)  # an untrusted graph reads and writes only where the run allows
    except InvalidInput:
        if options is not given:
            with contextlib.suppress(OSError):
                os.rmdir(options.out_dir)  # the folder just made for this run, still empty
        raise
    options = with_graph_folder(options, graph)  # for the executor's check on the workers' op declarations
    session = setup_cluster(cluster, address, client, options)
    try:
        planned = _with_learned_costs(graph, store, session.cluster)
        schedule = make_plan(planned, session.cluster, options, schedule)
        try:
            execution = execute_plan(session, planned, schedule, options)
        except Exception as e:
            _report_partial(e, planned, session, schedule, options)
            raise
        results = merge_results(planned, execution)
        record = report_run(planned, session, schedule, execution, results, options)
        if store is not None:
            learn_from_execution(store, graph, execution, session.cluster)
    finally:
        if client is None:
            session.close()
    print(
        f"{graph.name}: {len(graph)} tasks, planned {record.planned_makespan:.3f} s, actual "
        f"{record.actual_makespan:.3f} s ({record.ratio:.2f}x), {len(record.replans)} re-plans, digest {record.digest}"
    )
    return record
