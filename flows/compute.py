"""Plan and run any Dask computation: :func:`compute` is ``dask.compute`` with a planner in front.

``dask.compute`` hands the graph to Dask's scheduler, which places each task greedily when it becomes
ready (earliest start, work stealing, ``resources=`` as hard constraints). :func:`compute` builds the same
optimised graph, plans all of it up front onto the client's workers (the GPU-class and CPU-class workers
that :mod:`hetflow.taskgraph.dask_convert` discovers) with a hetflow solver, and submits every Dask task
unchanged — the user's own functions, shipped by Dask's serialisation — pinned to its planned worker with
the planned order as priorities. Results, return convention and keys are ``dask.compute``'s.

Costs come from the cost store (:mod:`hetflow.taskgraph.coststore`): each run measures every task (Dask's
task stream) and feeds the store, so the second run of a pipeline is planned from the first one's
measurements. Kinds never measured get a fallback and a warning naming them. A job the store knows to
be CPU-bound is planned on no more worker threads per machine than it has cores
(:mod:`hetflow.flows.runtime.hosts`). Per-class costs can also be
given with :func:`hetflow.annotate` (``cost=``), and ``dask.annotate(resources={"GPU": 1})`` keeps tasks on
GPU-class workers, as with Dask.

Examples
--------
A user function on a LocalCluster of one GPU-class and two CPU workers (``client=None`` starts that
embedded cluster, or uses the current ``distributed`` client)::

    import dask, hetflow

    @dask.delayed
    def embed(batch): ...

    with dask.annotate(resources={"GPU": 1}):
        vectors = [embed(b) for b in batches]
    (total,) = hetflow.compute(dask.delayed(sum)(vectors))

:func:`plan_dask` returns the graph and the plan without running anything.
"""

from __future__ import annotations

import atexit
import threading
import warnings
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from hetflow.flows.extras import require_extra
from hetflow.solvers import plan as plan_graph
from hetflow.solvers.registry import check_solver_name
from hetflow.solvers.schedule import Schedule
from hetflow.taskgraph import Cluster, TaskGraph, check_runnable
from hetflow.taskgraph.coststore import CostStore
from hetflow.taskgraph.dask_graph import DaskWork, from_collections
from hetflow.taskgraph.errors import DeviceError, InvalidInput

__all__ = [
    "compute",
    "plan_dask",
    "planning_options",
    "last_report",
    "ComputeReport",
    "UnmeasuredCostWarning",
    "embedded_client",
]


class UnmeasuredCostWarning(UserWarning):
    """Some task kinds were planned with fallback costs: nothing has measured them yet."""


@dataclass
class ComputeReport:
    """What the last :func:`compute` of this process did (:func:`last_report`)."""

    graph: TaskGraph
    schedule: Schedule
    planned_makespan: float
    wall_seconds: float
    unknown_kinds: list[str]
    replans: int
    planned_workers: list[str] = field(default_factory=list)  # the workers the plan could use

    @property
    def ratio(self) -> float:
        """Wall time over planned makespan."""
        return self.wall_seconds / self.planned_makespan if self.planned_makespan > 0 else float("nan")


_last: dict[str, ComputeReport] = {}


def last_report() -> ComputeReport | None:
    """The :class:`ComputeReport` of this process's last :func:`compute`, or None."""
    return _last.get("report")


# -- the cluster ---------------------------------------------------------------------------------
class _Embedded:
    """The embedded LocalCluster (1 GPU-class + 3 CPU workers), started on first use, closed at exit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._session: Any = None

    def client(self) -> Any:
        with self._lock:
            if self._session is None or self._session.client.status != "running":
                from hetflow.flows.runtime.cluster import open_session

                self._session = open_session(Cluster.local(gpus=1, cpus=3), dashboard_address=None)
                atexit.register(self.close)
            return self._session.client

    def close(self) -> None:
        with self._lock:
            if self._session is not None:
                self._session.close()
                self._session = None


_EMBEDDED = _Embedded()


def embedded_client() -> Any:
    """The client of hetflow's embedded cluster (started on first call, closed when Python exits)."""
    return _EMBEDDED.client()


def _resolve_client(client: Any) -> Any:
    if client is not None:
        return client
    require_extra("run", "hetflow.compute", ["distributed"])  # a missing run extra: one message naming it
    from distributed import default_client

    try:
        return default_client()
    except ValueError:  # no current client: the embedded default
        return embedded_client()


def _resolve_store(costs: Any) -> CostStore | None:
    if costs is None or costs == "given":
        return None
    if costs == "learned":
        return CostStore.load()
    if isinstance(costs, CostStore):
        return costs
    if isinstance(costs, str) or hasattr(costs, "__fspath__"):
        return CostStore.load(costs)
    raise InvalidInput(f"costs={costs!r}: use 'learned', 'given', a CostStore or a cost-store path")


def _cluster_of(target: Any) -> tuple[Cluster, dict[str, Any] | None]:
    """``(Cluster, slots)`` of a Cluster (no slots) or a connected client."""
    if isinstance(target, Cluster):
        return target, None
    from hetflow.flows.runtime.cluster import slot_map
    from hetflow.taskgraph.dask_convert import measured_bandwidth

    slots = slot_map(target)
    workers = [s.worker for s in slots.values()]
    bandwidth = measured_bandwidth(target)
    return (Cluster(workers) if bandwidth is None else Cluster(workers, bandwidth=bandwidth)), slots


def _check_devices(work: DaskWork, cluster: Cluster) -> None:
    classes = {w.device for w in cluster.workers}
    for key, devices in work.annotated.items():
        if not classes & set(devices):
            wanted = " or ".join(devices)
            raise DeviceError(
                f"Dask task {key!r} is annotated to run on {wanted}, but no worker of the cluster is "
                f"({', '.join(sorted(classes))})"
            )


def _prepared(work: DaskWork, cluster: Cluster, store: CostStore | None) -> tuple[TaskGraph, list[str]]:
    """The graph to plan: learned costs applied, classes the cluster lacks dropped from unannotated tasks."""
    _check_devices(work, cluster)
    graph, unknown = work.graph, []
    if store is not None:
        applied = store.apply(graph)
        graph, unknown = applied.graph, applied.unknown_kinds
    classes = {w.device for w in cluster.workers}
    for t, data in graph.G.nodes(data=True):
        if t not in work.annotated and set(data["cost"]) - classes:
            data["cost"] = {d: s for d, s in data["cost"].items() if d in classes} or data["cost"]
    check_runnable(graph, cluster)
    if unknown:
        warnings.warn(
            f"hetflow: no measured costs for task kinds {', '.join(unknown)}; planned with the mean of known "
            "kinds (or 10 ms). This run measures them for the next one.",
            UnmeasuredCostWarning,
            stacklevel=3,
        )
    return graph, unknown


def _planned_cluster(client: Any, cluster: Cluster, slots: dict[str, Any], graph: TaskGraph,
                     store: CostStore | None) -> tuple[Cluster, TaskGraph]:
    """The workers to plan on and the graph to plan: all workers, or as many per machine as it has cores where
    the job would keep them busy, with CPU-bound tasks costed at their CPU time
    (:mod:`hetflow.flows.runtime.hosts`)."""
    from hetflow.flows.runtime.hosts import CPU_BOUND, cpu_costs, cpu_share, cpu_slots, hosts_of, oversubscription

    share = cpu_share(graph, store) if store is not None else None
    if share is None or share * len(cluster) < CPU_BOUND:  # not even one core's worth: no question to ask
        return cluster, graph
    hosts = hosts_of(client, slots)
    planned = cpu_slots(cluster, hosts, share, {n: s.address for n, s in slots.items()})
    if len(planned) == len(cluster) or not _runnable_on(graph, planned):
        return cluster, graph
    return planned, cpu_costs(graph, store, oversubscription(cluster, hosts))


def _runnable_on(graph: TaskGraph, cluster: Cluster) -> bool:
    """Whether every task of ``graph`` has a worker of its classes in ``cluster``."""
    try:
        check_runnable(graph, cluster)
    except InvalidInput:
        return False
    return True


PLANNING_SHARE = 0.01  # of the job's estimated length that compute() spends searching for a better plan
_DP_SECONDS_AT_EFFORT_1 = 1.5  # dp's local search at effort 1 on this project's 2-core reference machine


def planning_options(graph: TaskGraph, cluster: Cluster, solver: str, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` plus, for ``dp`` without an explicit ``effort``, an effort worth the job's length.

    Planning is overhead for a job that runs once: dp's local search gets about :data:`PLANNING_SHARE` of
    the job's estimated length (its total cheapest work over the workers), between effort 0.01 and 1.
    """
    if solver != "dp" or "effort" in options:
        return options
    work = sum(min(graph.cost(t).values()) for t in graph.tasks) / max(len(cluster), 1)
    effort = min(1.0, max(0.01, PLANNING_SHARE * work / _DP_SECONDS_AT_EFFORT_1))
    return {**options, "effort": round(effort, 3)}


def plan_dask(
    *collections: Any,
    cluster_or_client: Any = None,
    solver: str = "dp",
    costs: Any = "learned",
    seed: int = 0,
    optimize_graph: bool = True,
    traverse: bool = True,
    **solver_options: Any,
) -> tuple[TaskGraph, Schedule]:
    """Plan Dask collections without running them: ``(TaskGraph, Schedule)``.

    Parameters
    ----------
    *collections
        What ``dask.compute`` would take.
    cluster_or_client : Cluster or distributed.Client, optional
        The workers to plan onto (default: the current client, else the embedded cluster). With a client the
        plan is the one :func:`compute` would make, so the workers are asked for their cores (a CPU-bound job
        is planned on one worker per core, :mod:`hetflow.flows.runtime.hosts`); a Cluster is planned on as it
        is.
    solver, seed, **solver_options
        See :func:`hetflow.plan` (and :func:`planning_options` for dp's default effort).
    costs : "learned", "given", CostStore or path
        Where task costs come from (default: the cost store at its default path).
    optimize_graph, traverse : bool
        As in ``dask.compute``.

    Examples
    --------
    >>> import dask, hetflow as hf
    >>> x = dask.delayed(sum)([dask.delayed(abs)(-i) for i in range(4)])
    >>> graph, schedule = hf.plan_dask(x, cluster_or_client=hf.Cluster.local(1, 2), costs="given")
    >>> len(graph), len(schedule)
    (5, 5)
    """
    check_solver_name(solver)
    work = from_collections(*collections, optimize_graph=optimize_graph, traverse=traverse)
    target = cluster_or_client if cluster_or_client is not None else _resolve_client(None)
    cluster, slots = _cluster_of(target)
    store = _resolve_store(costs)
    graph, _ = _prepared(work, cluster, store)
    if slots is not None:  # a live cluster: plan where compute() would
        cluster, graph = _planned_cluster(target, cluster, slots, graph, store)
    options = planning_options(graph, cluster, solver, solver_options)
    return graph, plan_graph(graph, cluster, solver=solver, seed=seed, **options)


def compute(
    *args: Any,
    client: Any = None,
    solver: str = "dp",
    costs: Any = "learned",
    seed: int = 0,
    traverse: bool = True,
    optimize_graph: bool = True,
    retries: int = 0,
    pace: int | None = None,
    solver_options: dict[str, Any] | None = None,
    **kwargs: Any,
) -> tuple:
    """Compute Dask collections like ``dask.compute``, planned onto the client's GPU/CPU workers.

    Parameters
    ----------
    *args
        Dask collections (array, dataframe, bag, delayed, anything with ``__dask_graph__``), also inside
        Python containers; other values pass through unchanged, as with ``dask.compute``.
    client : distributed.Client, optional
        Default: the current client, else hetflow's embedded cluster (1 GPU-class + 3 CPU workers).
    solver, seed : str, int
        The planner (:func:`hetflow.plan`); also used to re-plan when a worker dies.
    costs : "learned", "given", CostStore or path
        "learned" (default) plans with the cost store at its default path and adds this run's
        measurements to it; a CostStore or path does the same with that store; "given" uses only the
        graph's annotations and placeholders and learns nothing.
    traverse, optimize_graph : bool
        As in ``dask.compute``.
    retries : int
        Extra attempts of a failing task on its planned worker.
    pace : int, optional
        Submit tasks only as their consumers come within ``pace`` places of their worker's head
        (:mod:`hetflow.flows.runtime.pacing`): bounded memory when a fast stage feeds a slow one. None (default)
        submits the whole plan at once.
    solver_options : dict, optional
        Passed to the solver; for ``dp`` without ``effort`` the search effort follows the job's length
        (:func:`planning_options`).
    **kwargs
        Anything else ``dask.compute`` would pass to a scheduler is refused (placement is the plan's).

    Returns
    -------
    tuple
        What ``dask.compute(*args)`` returns.

    Raises
    ------
    hetflow.InvalidInput
        Bad arguments, a cycle, an annotation naming a device class no worker has, a corrupt cost store.
    hetflow.flows.runtime.executor.TaskFailed
        A task failed on every attempt (its exception is chained).

    Examples
    --------
    >>> import dask, dask.array as da, hetflow as hf
    >>> from distributed import Client, LocalCluster
    >>> with LocalCluster(n_workers=2, processes=False, dashboard_address=None) as lc, Client(lc) as client:
    ...     x = da.ones((100, 100), chunks=50)
    ...     with dask.annotate(resources={"GPU": 1}):  # no GPU-class worker here: a one-line error
    ...         y = x.sum()
    ...     print(hf.compute(x.sum(), (x + 1).max(), client=client, costs="given"))
    ...     try:
    ...         hf.compute(y, client=client, costs="given")
    ...     except hf.InvalidInput as e:
    ...         print(str(e).split("is annotated")[1].split(",")[0])
    (np.float64(10000.0), np.float64(2.0))
     to run on gpu
    """
    if kwargs:
        names = ", ".join(sorted(kwargs))
        raise InvalidInput(f"hetflow.compute does not take {names}: placement and order come from the plan")
    if retries < 0:
        raise InvalidInput(f"retries={retries!r} must be >= 0")
    check_solver_name(solver)
    try:
        work = from_collections(*args, optimize_graph=optimize_graph, traverse=traverse)
    except InvalidInput as e:
        if "nothing to compute" in str(e):
            return args
        raise
    store = _resolve_store(costs)
    client = _resolve_client(client)
    cluster, slots = _cluster_of(client)
    graph, unknown = _prepared(work, cluster, store)
    planned, graph = _planned_cluster(client, cluster, slots, graph, store)
    options = planning_options(graph, planned, solver, dict(solver_options or {}))
    schedule = plan_graph(graph, planned, solver=solver, seed=seed, **options)
    if store is not None:
        from hetflow.flows.runtime.hosts import cpu_samples, thread_seconds

        before = thread_seconds(client)
    used = {w.name for w in planned.workers}  # a worker left out of the plan may die or restart unnoticed
    execution = _execute(client, graph, planned, {n: s for n, s in slots.items() if n in used}, schedule, work,
                         solver, seed, retries, pace)
    if store is not None:
        from hetflow.flows.runtime.learning import device_by_address, learn, measure

        where = device_by_address(slots)
        samples = measure(graph, execution.stream, lambda t, r: where.get(r.get("worker")), execution.final_key)
        device_of = {address: device for address, (device, _) in where.items()}
        cpu = cpu_samples(before, thread_seconds(client), {graph.kind(t) for t in graph.tasks}, device_of)
        learn(store, samples, cpu=cpu)
    _last["report"] = ComputeReport(
        graph, schedule, schedule.makespan, execution.wall_seconds, unknown, len(execution.replans),
        [w.name for w in planned.workers],
    )
    return work.repack([execution.results[k] for k in work.outputs])


def _execute(
    client: Any,
    graph: TaskGraph,
    cluster: Cluster,
    slots: dict[str, Any],
    schedule: Schedule,
    work: DaskWork,
    solver: str,
    seed: int,
    retries: int,
    pace: int | None,
) -> Any:
    from hetflow.flows.runtime.executor import PlanExecutor

    outputs: list[Hashable] = list(dict.fromkeys(work.outputs))
    executor = PlanExecutor(
        client, graph, cluster, slots, solver=solver, seed=seed, retries=retries, pace=pace, nodes=work.nodes,
        outputs=outputs, task_timeout_factor=None,  # costs of unmeasured kinds are guesses (10 ms): no per-task limit
    )
    return executor.run(schedule)
