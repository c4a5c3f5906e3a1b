"""Execute a :class:`~hetflow.solvers.Schedule` on dask.distributed: every graph task is one plain Dask task.

How a plan becomes Dask tasks (:class:`PlanExecutor`):

* each graph task is a Dask task ``run_graph_task(spec, *parent results)`` (a
  :class:`~hetflow.flows.runtime.keys.TaskSpec`) with key ``"<kind>-<task>[-r<round>]-<run tag>"``
  (:func:`~hetflow.flows.runtime.keys.format_key`; the dashboard's task stream groups by ``kind``), pinned with
  the per-key annotations ``workers=[address of the planned worker]`` (no ``allow_other_workers``, i.e.
  strict) and a distinct ``priority`` falling along the planned start order. Parent results travel as
  Dask futures/keys, worker to worker; only the sinks come back to the caller.
* the tasks go to the scheduler in plan order as two graphs (the first few tasks per worker, then the
  rest) rather than one ``client.submit`` each: hundreds of separate submissions keep the scheduler busy
  while the first tasks run, and workers then start what arrived first instead of what the plan put first
  (seen on the 533-task job: tasks planned at t=0 started 1-2 s late).
* retries: Dask's ``retries`` re-runs a raising task on its pinned worker; :func:`run_graph_task` sleeps
  ``retry_delay`` seconds before re-raising (the delay holds the worker, which is pinned anyway) and logs
  each failure as a Dask event, which is how attempts are counted.
* a worker that dies (its address leaves the scheduler) strands the tasks pinned to it. The executor
  polls the scheduler, then: keeps every result that still lives on a surviving worker (``who_has``),
  releases the other futures (never ``cancel``, which would cascade to finished dependents), re-plans the
  part of the graph still needed by unfinished sinks onto the surviving workers with the same solver, and
  submits it under new keys (``-r1``, ``-r2``, ...). A restarted worker has a new address and is not used
  again in the run. Sink results are gathered as soon as they finish and never again, so no result is
  lost or merged twice.

Order on a worker. A single-thread Dask worker runs, among the tasks whose inputs are already on it, the
one with the highest priority; it never waits for a higher-priority task whose inputs are still missing.
So a later-planned task can overtake an earlier-planned one whose inputs arrive late (or that becomes
ready only after the scheduler's round trip, e.g. a chain on the same worker). This is work-conserving
and mostly harmless: the plan's insertion policy already filled the gaps it knew of, and overtaking only
fills time the worker would otherwise idle — but a long overtaking task can delay the earlier-planned one
by up to its own length. Measured on the 533-task LLM job: ~8% of tasks ran at another position on their
worker than planned. ``strict_order=True`` chains each task to its predecessor on the worker (an extra,
ignored argument), which removes overtaking but adds a scheduler round trip before every task and made
that run slower (8.3 s vs 7.4-8.0 s), so it is off by default.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
from dask.highlevelgraph import HighLevelGraph, MaterializedLayer
from dask.task_spec import DataNode, Task, TaskRef
from distributed import wait
from hetflow.flows.options import RunOptions
from hetflow.flows.runtime.keys import TaskSpec, format_key
from hetflow.flows.runtime.ops import missing_ops
from hetflow.flows.runtime.pacing import Pacer
from hetflow.flows.runtime.worker import run_graph_task, warm_up
from hetflow.solvers import plan
from hetflow.solvers.schedule import Schedule
from hetflow.taskgraph import Cluster, TaskGraph, check_runnable
from hetflow.taskgraph.dask_convert import GPU_RESOURCE, DaskSlot
from hetflow.taskgraph.errors import ClusterError, DeviceError, InvalidInput

__all__ = ["PlanExecutor", "Execution", "Round", "TaskFailed", "UnknownOpError", "run_graph_task"]


class TaskFailed(RuntimeError):
    """A graph task raised on every attempt, or the run could not recover from lost workers."""


class UnknownOpError(InvalidInput):
    """A task's op name cannot be resolved on a worker that is planned to run it (nothing was run)."""


@dataclass
class Round:
    """One submission: the original plan (round 0) or a re-plan after workers died."""

    index: int
    schedule: Schedule
    offset: float  # seconds after the run start when it was submitted
    keys: dict[Hashable, str]
    dead: list[str] = field(default_factory=list)
    kept: int = 0  # results carried over from earlier rounds


@dataclass
class Execution:
    """What :meth:`PlanExecutor.run` returns."""

    results: dict[Hashable, Any]  # sink -> result, in ``graph.sinks`` order
    rounds: list[Round]
    final_key: dict[Hashable, str]  # task -> key whose result was used
    final_round: dict[Hashable, int]
    t0: float  # wall clock (time.time()) just before the first submit
    wall_seconds: float  # first submit -> last sink gathered
    submit_seconds: float  # time spent in the round-0 submit loop
    failures: dict[str, int]  # repr(task) -> failed attempts (all rounds)
    stream: list[dict[str, Any]]  # Dask task-stream records of this run's keys

    @property
    def replans(self) -> list[Round]:
        return self.rounds[1:]


class PlanExecutor:
    """Run a schedule on a connected Dask client (see the module docstring).

    Parameters
    ----------
    client : distributed.Client
    graph : TaskGraph
    cluster : Cluster
        The planned cluster; re-plans use ``cluster.without(dead workers)``.
    slots : mapping planned worker name -> DaskSlot
        Where each planned worker lives (:func:`hetflow.flows.runtime.cluster.slot_map`).
    options : RunOptions, optional
        What the executor reads of them: ``solver``/``seed`` (re-plans after a worker dies), ``retries`` and
        ``retry_delay`` (extra attempts of a raising task on its planned worker, and the pause before each),
        ``time_scale`` (tasks without an ``op`` — every task with ``emulate`` — sleep
        ``cost[device] / speed * time_scale`` seconds), ``strict_order``, ``max_replans`` (then
        :class:`TaskFailed`), ``poll_interval`` and ``timeout``.
    planner : callable, optional
        ``planner(graph, cluster) -> Schedule`` for re-plans (default: ``hetflow.solvers.plan`` with solver/seed).
    log : callable, optional
        ``log(message)`` for progress messages (Prefect's logger in the flow).
    nodes : mapping task -> dask.task_spec.GraphNode, optional
        Tasks that are Dask tasks of a user's collection (:mod:`hetflow.taskgraph.dask_graph`): submitted
        as they are (their own function and arguments) under their own key, pinned like any graph task;
        re-planned rounds rename them ``<name>-r<round>``. Their failures are not counted as events.
    outputs : sequence of tasks, optional
        The tasks whose results :meth:`run` returns (default: the graph's sinks).
    **overrides
        Options by name (``time_scale=0.1``), applied to ``options`` (:meth:`RunOptions.build`).
    """

    def __init__(
        self,
        client: Any,
        graph: TaskGraph,
        cluster: Cluster,
        slots: Mapping[str, DaskSlot],
        options: RunOptions | None = None,
        *,
        planner: Callable[[TaskGraph, Cluster], Schedule] | None = None,
        log: Callable[[str], None] | None = None,
        nodes: Mapping[Hashable, Any] | None = None,
        outputs: Sequence[Hashable] | None = None,
        **overrides: Any,
    ):
        self.options = RunOptions.build(options, **overrides)
        self.client, self.graph, self.cluster, self.slots = client, graph, cluster, dict(slots)
        self.planner = planner
        self.log = log or (lambda message: None)
        self.nodes = dict(nodes or {})
        self.outputs = list(outputs) if outputs is not None else graph.sinks
        self.tag = uuid.uuid4().hex[:8]
        self.topic = f"hetflow-{self.tag}"
        self.placed: dict[Hashable, str] = {}  # task -> planned worker of its latest submission
        self.first_chunk = 4  # tasks per worker in the first graph sent to the scheduler
        self._held: dict[Hashable, tuple] = {}  # planned tasks the pacer has not released yet
        self._pacer: Pacer | None = None

    # -- submission -----------------------------------------------------------------------------
    def _spec(self, task: Hashable, slot: DaskSlot, n_inputs: int) -> TaskSpec:
        data = self.graph.G.nodes[task]
        op, params = (None, {}) if self.options.emulate else (data.get("op"), dict(data.get("params") or {}))
        if op is None:
            seconds = self.graph.cost(task)[slot.worker.device] / slot.worker.speed
            params = {"seconds": seconds * self.options.time_scale}
        device, worker, delay = slot.worker.device, slot.worker.name, self.options.retry_delay
        return TaskSpec(task, op, params, device, worker, n_inputs, delay, self.topic)

    def _submit(self, schedule: Schedule, round_: int, futures: dict[Hashable, Any]) -> dict[Hashable, str]:
        """Submit every task of ``schedule`` to Dask; parents come from ``futures`` (updated in place).

        Tasks go in plan order as two graphs (``update-graph`` messages): the first
        :attr:`first_chunk` tasks per worker, so that workers start at once, then the rest. Submitting
        task by task instead makes the scheduler digest hundreds of small graphs while the first tasks
        already run, and workers start whatever arrived first rather than what the plan put first.
        Placement and order travel as per-key layer annotations (``workers``, ``priority``).
        """
        graph = self.graph
        rank = {p.task: i for i, p in enumerate(schedule.placements)}
        n = len(rank)
        # plan order, made topological (a zero-length parent may share its child's start time)
        order = list(nx.lexicographical_topological_sort(graph.G.subgraph(rank), key=rank.__getitem__))
        keys: dict[Hashable, Any] = {
            t: (_round_key(t, round_) if t in self.nodes else format_key(graph.kind(t), t, self.tag, round_))
            for t in order
        }
        if len(set(keys.values())) < len(keys):
            seen: dict[str, Hashable] = {}
            for t, k in keys.items():
                if k in seen:
                    raise InvalidInput(f"tasks {seen[k]!r} and {t!r} get the same Dask key {k!r}; rename one")
                seen[k] = t
        key_of = {t: f.key for t, f in futures.items()}
        key_of.update(keys)
        previous: dict[str, str] = {}
        tasks: list[tuple[str, Task, str, int, bool]] = []
        for t in order:
            p = schedule.by_task[t]
            slot = self.slots[p.worker]
            self.placed[t] = p.worker
            key = keys[t]
            if t in self.nodes:  # a user's Dask task: as it is, its inputs renamed to this run's keys
                subs = {q: key_of[q] for q in graph.parents(t) if key_of[q] != q}
                node = self.nodes[t].substitute(subs, key=key) if subs or key != t else self.nodes[t]
            else:
                parents = [TaskRef(key_of[q]) for q in graph.parents(t)]
                extra = [TaskRef(previous[p.worker])] if self.options.strict_order and p.worker in previous else []
                spec = DataNode(None, self._spec(t, slot, len(parents)))
                node = Task(key, run_graph_task, spec, *parents, *extra)
            previous[p.worker] = key
            gpu = slot.shared and slot.worker.device == "gpu"  # shared worker: GPU=1 caps its gpu tasks
            tasks.append((key, node, slot.address, n - rank[t], gpu))
        rows = dict(zip(order, tasks))
        self._held = {}
        if self.options.pace is not None and round_ == 0:  # release as consumers come near (runtime.pacing)
            self._held, self._pacer = rows, Pacer(graph, schedule, self.cluster, self.options.pace)
            self._release(self._pacer.release(), futures, f"r{round_}")
            return keys
        cut = self.first_chunk * len(schedule.workers)
        self._send(dict(list(rows.items())[:cut]), futures, f"r{round_}-0")
        self._send(dict(list(rows.items())[cut:]), futures, f"r{round_}-1")
        return keys

    def _send(self, rows: Mapping[Hashable, tuple], futures: dict[Hashable, Any], name: str) -> None:
        """Submit ``rows`` (task -> (key, node, address, priority, needs_gpu)) as one graph; record futures."""
        if rows:
            submitted = self.client.get(
                _annotated_graph(list(rows.values()), f"hetflow-{self.tag}-{name}"),
                [row[0] for row in rows.values()],
                sync=False,
                retries=self.options.retries or None,
            )
            futures.update(zip(rows, submitted))

    def _release(self, tasks: list[Hashable], futures: dict[Hashable, Any], name: str) -> None:
        """Submit the held tasks the pacer released (in one graph)."""
        rows = {t: self._held.pop(t) for t in tasks if t in self._held}
        self._send(rows, futures, f"{name}-p{len(futures)}")

    def _progress(self, futures: dict[Hashable, Any], done: set[Hashable]) -> None:
        """Note the tasks that finished since the last call: forget consumed intermediates, feed the pacer.

        A finished task's future is released once every child has finished too (and it is no output): Dask
        then frees its result, as it would have without hetflow. A worker's death later re-plans whatever
        is still needed and no longer held (:meth:`_replan`).
        """
        status = {t: f.status for t, f in futures.items() if t not in done}
        finished = [t for t, st in status.items() if st == "finished"]
        done.update(finished)
        wanted, G = set(self.outputs), self.graph.G
        for t in finished:
            for q in (*G.predecessors(t), t):
                if q in futures and q in done and q not in wanted and all(c in done for c in G.successors(q)):
                    futures.pop(q).release()
        if self._held:
            failed = next((t for t, st in status.items() if st == "error"), None)
            if failed is not None:  # its dependents may still be held: report it here
                self._raise_failure(failed, futures[failed])
            if finished or not any(st == "pending" for st in status.values()):
                self._release(self._pacer.release(finished), futures, "r0")

    def _paced_watch(self, futures: Mapping[Hashable, Any], done: set[Hashable]) -> list[Any]:
        """While tasks are held, the unfinished submitted ones: the loop wakes when any of them finishes."""
        return [f for t, f in futures.items() if t not in done] if self._held else []

    def _plan(self, graph: TaskGraph, cluster: Cluster) -> Schedule:
        if self.planner is not None:
            return self.planner(graph, cluster)
        return plan(graph, cluster, solver=self.options.solver, seed=self.options.seed)

    # -- main loop ------------------------------------------------------------------------------
    def run(self, schedule: Schedule) -> Execution:
        """Submit ``schedule``, watch it to the end (recovering from dead workers) and gather the sinks."""
        graph, client, opts = self.graph, self.client, self.options
        missing = [w for w in schedule.workers if w not in self.slots]
        if missing:
            raise ClusterError(f"the schedule uses worker {missing[0]!r}, which the Dask cluster does not have")
        client.get_task_stream(count=0)  # make sure the scheduler records the task stream
        client.run(warm_up)  # imports on every worker now, not inside the first timed task
        self._check_ops(schedule)
        futures: dict[Hashable, Any] = {}
        final_round: dict[Hashable, int] = dict.fromkeys(graph.tasks, 0)
        dead: set[str] = set()
        results: dict[Hashable, Any] = {}
        sinks = self.outputs
        t0 = time.time()
        keys = self._submit(schedule, 0, futures)
        submit_seconds = time.time() - t0
        rounds = [Round(0, schedule, 0.0, keys)]
        final_key = dict(keys)
        self.log(f"submitted {len(keys)} tasks in {submit_seconds:.3f} s")
        gather_timeout = 10.0
        done: set[Hashable] = set()  # tasks seen finished (this round's future)
        try:
            while len(results) < len(sinks):
                if opts.timeout is not None and time.time() - t0 > opts.timeout:
                    raise TaskFailed(f"the run did not finish within {opts.timeout:g} s")
                pending = [s for s in sinks if s not in results and s in futures]  # (paced: submitted ones)
                try:  # O(pending) per poll interval, not per finished sink
                    with client.as_current():
                        watched = [futures[s] for s in pending] + self._paced_watch(futures, done)
                        wait(watched, timeout=opts.poll_interval, return_when="FIRST_COMPLETED" if self._held
                             else "ALL_COMPLETED")
                except TimeoutError:
                    pass
                self._progress(futures, done)
                status = {s: futures[s].status for s in pending}
                finished = [s for s in pending if status[s] == "finished"]
                if finished:
                    try:
                        values = client.sync(_gather, client, [futures[s] for s in finished], gather_timeout)
                    except (asyncio.TimeoutError, TimeoutError):  # slow, or a holder died under us:
                        values, gather_timeout = None, 2 * gather_timeout  # the liveness check decides
                    for s, v in zip(finished, values or ()):
                        results[s] = v  # gathered once, never again: no sink is lost or merged twice
                        futures.pop(s).release()
                alive = set(client.nthreads())
                gone = {name for name, slot in self.slots.items() if slot.address not in alive} - dead
                if gone:
                    dead |= gone
                    if len(rounds) > opts.max_replans:
                        raise TaskFailed(f"workers {sorted(dead)} died; gave up after {opts.max_replans} re-plans")
                    new = self._replan(futures, results, dead, alive, len(rounds), t0)
                    done -= set(new.keys) if new is not None else set()
                    if new is not None:
                        rounds.append(new)
                        final_key.update(new.keys)
                        final_round.update(dict.fromkeys(new.keys, new.index))
                elif "error" in status.values():  # errors propagate to the sinks; report the first cause
                    first = next(t for t in graph.tasks if t in futures and futures[t].status == "error")
                    self._raise_failure(first, futures[first])
            wall = time.time() - t0
        except BaseException:
            for f in futures.values():
                f.release()
            raise
        for f in futures.values():
            f.release()
        failures: dict[str, int] = {}
        for _, msg in client.get_events(self.topic):
            failures[msg["task"]] = failures.get(msg["task"], 0) + 1
        wanted = set(final_key.values())
        stream = [r for r in client.get_task_stream(start=t0 - 1.0) if r["key"] in wanted]
        return Execution(
            {s: results[s] for s in sinks}, rounds, final_key, final_round, t0, wall, submit_seconds, failures, stream
        )

    def _check_ops(self, schedule: Schedule) -> None:
        """Fail at once, before anything runs, when a planned worker cannot resolve a task's op name."""
        names = sorted({op for t, op in self.graph.G.nodes(data="op") if isinstance(op, str) and t not in self.nodes})
        if not names:
            return
        addresses = sorted({self.slots[w].address for w in schedule.workers})
        missing = self.client.run(missing_ops, names, workers=addresses)
        for address in addresses:
            if missing.get(address):
                op = missing[address][0]
                task = next(t for t, o in self.graph.G.nodes(data="op") if o == op)
                raise UnknownOpError(
                    f"op {op!r} of task {task!r} is not registered on Dask worker {address}: register it with "
                    "register_op in a module the workers import (client.upload_file), or make the op the "
                    "function itself (Python API)"
                )

    def _raise_failure(self, task: Hashable, future: Any) -> None:
        exc = future.exception()
        raise TaskFailed(
            f"task {task!r} failed on worker {self.placed.get(task)!r} after {self.options.retries + 1} attempt(s): "
            f"{type(exc).__name__}: {exc}"
        ) from exc

    def _replan(
        self,
        futures: dict[Hashable, Any],
        results: Mapping[Hashable, Any],
        dead: set[str],
        alive: set[str],
        round_: int,
        t0: float,
    ) -> Round | None:
        """Re-plan what the unfinished sinks still need onto the surviving workers and submit it."""
        graph = self.graph
        self._held = {}  # tasks the pacer still held are re-planned with the rest (and not paced)
        by_key = {f.key: t for t, f in futures.items()}
        who_has = self.client.who_has(list(futures.values())) if futures else {}
        available = set(results)
        for key, holders in who_has.items():
            if any(h in alive for h in holders):
                available.add(by_key[key])
        needed: set[Hashable] = set()
        wanted = set(self.outputs)
        for t in reversed(graph.tasks):
            if t in available:
                continue
            if t in wanted or any(c in needed for c in graph.G.successors(t)):
                needed.add(t)
        for t in [t for t in futures if t not in available]:
            futures.pop(t).release()  # release, not cancel: cancel would cascade to finished dependents
        self.log(f"workers {sorted(dead)} died: {len(available)} results kept, re-planning {len(needed)} tasks")
        if not needed:
            return None
        try:
            survivors = self.cluster.without(dead)
        except ClusterError:
            names = ", ".join(sorted(dead))
            raise ClusterError(f"every planned worker died ({names}); cannot finish the run") from None
        sub = graph.subgraph([t for t in graph.tasks if t in needed])
        try:
            check_runnable(sub, survivors)
        except DeviceError as e:
            raise DeviceError(f"after workers {', '.join(sorted(dead))} died: {e}") from None
        offset = time.time() - t0
        schedule = self._plan(sub, survivors).validate(sub, survivors)
        keys = self._submit(schedule, round_, futures)
        return Round(round_, schedule, offset, keys, sorted(dead), kept=len(available))


def _annotated_graph(tasks: list[tuple[str, Any, str, int, bool]], name: str) -> Any:
    """A HighLevelGraph of ``(key, Task, address, priority, needs_gpu)`` rows with per-key annotations."""
    address = {key: [addr] for key, _, addr, _, _ in tasks}
    priority = {key: prio for key, _, _, prio, _ in tasks}
    annotations = {"workers": address.__getitem__, "priority": priority.__getitem__}
    layers, deps = {}, {}
    for gpu in (False, True):
        mapping = {key: task for key, task, _, _, g in tasks if g == gpu}
        if mapping:
            extra = {"resources": {GPU_RESOURCE: 1}} if gpu else {}
            layer = f"{name}-{'gpu' if gpu else 'any'}"
            layers[layer] = MaterializedLayer(mapping, annotations={**annotations, **extra})
            deps[layer] = set()
    return HighLevelGraph(layers, deps)


def _round_key(key: Any, round_: int) -> Any:
    """A user's Dask key in re-plan round ``round_``: ``name`` -> ``name-r<round>`` (tuples keep their index)."""
    if not round_:
        return key
    if isinstance(key, tuple):
        return (f"{key[0]}-r{round_}", *key[1:])
    return f"{key}-r{round_}"


async def _gather(client: Any, futures: list[Any], timeout: float) -> list[Any]:
    return await asyncio.wait_for(client.gather(futures, asynchronous=True), timeout)
