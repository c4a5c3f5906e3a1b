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
  submits it under new keys (``-r1``, ``-r2``, ...). A restarted worker (same name, new address) joins the
  next re-plan, or gets one of its own when planning on it is expected to finish sooner
  (:data:`REJOIN_GAIN`). Sink results are gathered as soon as they finish and never again, so no result is
  lost or merged twice; a gather watches the holders (:func:`~hetflow.flows.runtime.liveness.gather_live`)
  instead of timing out.
* limits (:mod:`hetflow.flows.runtime.liveness`): a task attempt running past ``task_timeout_factor`` x its
  planned duration + ``task_timeout_slack``, or the run past ``timeout``, fails the run naming what runs and
  waits; a lost scheduler raises :class:`SchedulerLost`. Either way the sinks gathered so far travel with
  the exception (``execution``).

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

import contextlib
import time
import uuid
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import networkx as nx
from dask.highlevelgraph import HighLevelGraph, MaterializedLayer
from dask.task_spec import DataNode, Task, TaskRef
from distributed import wait
from hetflow.flows.options import RunOptions
from hetflow.flows.runtime.execution import Execution, Round, RunState, TaskFailed
from hetflow.flows.runtime.keys import TaskSpec, format_key
from hetflow.flows.runtime.liveness import (
    SchedulerLost,
    TaskLimits,
    alive_workers,
    check_scheduler,
    executing,
    gather_live,
    lost_scheduler,
)
from hetflow.flows.runtime.ops import declared_paths, missing_ops
from hetflow.flows.runtime.pacing import Pacer
from hetflow.flows.runtime.trust import confine_paths
from hetflow.flows.runtime.worker import run_graph_task, warm_up
from hetflow.solvers import plan
from hetflow.solvers.schedule import Schedule
from hetflow.taskgraph import Cluster, TaskGraph, check_runnable
from hetflow.taskgraph.dask_convert import GPU_RESOURCE, DaskSlot, dask_slots
from hetflow.taskgraph.errors import ClusterError, DeviceError, InvalidInput

__all__ = ["PlanExecutor", "Execution", "Round", "TaskFailed", "SchedulerLost", "UnknownOpError", "run_graph_task"]

REJOIN_GAIN = 0.9  # a restarted worker rejoins when the plan with it is expected to take < 90% of the time left


class UnknownOpError(InvalidInput):
    """A task's op name cannot be resolved on a worker that is planned to run it (nothing was run)."""


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
        """Submit ``schedule``, watch it to the end (recovering from dead workers) and gather the sinks.

        Raises
        ------
        TaskFailed
            A task failed on every attempt or ran past its limit, the run passed ``timeout``, or workers kept
            dying; it names the tasks still running. The exception's ``execution`` is the partial run.
        SchedulerLost
            The client lost the Dask scheduler.
        """
        client, opts = self.client, self.options
        missing = [w for w in schedule.workers if w not in self.slots]
        if missing:
            raise ClusterError(f"the schedule uses worker {missing[0]!r}, which the Dask cluster does not have")
        client.get_task_stream(count=0)  # make sure the scheduler records the task stream
        client.run(warm_up)  # imports on every worker now, not inside the first timed task
        self._check_ops(schedule)
        self.names = {slot.address: name for name, slot in self.slots.items()}
        self.limits = TaskLimits(opts.task_timeout_factor, opts.task_timeout_slack, opts.time_scale)
        state = RunState(time.time(), final_round=dict.fromkeys(self.graph.tasks, 0), known=set(self.names))
        keys = self._submit(schedule, 0, state.futures)
        state.submit_seconds = time.time() - state.t0
        state.add(Round(0, schedule, 0.0, keys))
        self.limits.add(schedule, keys)
        self.log(f"submitted {len(keys)} tasks in {state.submit_seconds:.3f} s")
        try:
            while len(state.results) < len(self.outputs):
                self._step(state)
            state.wall = time.time() - state.t0
        except Exception as e:  # keep what finished: the caller reports it as a partial run
            error = e if isinstance(e, SchedulerLost) else lost_scheduler(client) or e  # futures cancelled with it
            self._forget(state)
            state.wall = time.time() - state.t0
            lost = isinstance(error, SchedulerLost)  # then ask it nothing more (a call would wait to reconnect)
            error.execution = self._execution(state, complete=False, ask=not lost)  # type: ignore[attr-defined]
            if error is e:
                raise
            raise error from None
        except BaseException:  # Ctrl-C, SIGTERM: stop at once
            self._forget(state)
            raise
        self._forget(state)
        return self._execution(state)

    def _step(self, state: RunState) -> None:
        """One poll: wait a little on the pending sinks, follow worker deaths and restarts, gather the finished
        sinks, fail on a task error or a time limit."""
        client, opts, futures = self.client, self.options, state.futures
        check_scheduler(client)
        if opts.timeout is not None and time.time() - state.t0 > opts.timeout:
            raise TaskFailed(f"the run did not finish within {opts.timeout:g} s; {self._describe(state)}")
        pending = [s for s in self.outputs if s not in state.results and s in futures]  # (paced: submitted ones)
        try:  # O(pending) per poll interval, not per finished sink
            with client.as_current():
                watched = [futures[s] for s in pending] + self._paced_watch(futures, state.done)
                wait(watched, timeout=opts.poll_interval, return_when="FIRST_COMPLETED" if self._held
                     else "ALL_COMPLETED")  # fmt: skip
        except TimeoutError:
            pass
        alive = alive_workers(client)
        gone = {name for name, slot in self.slots.items() if slot.address not in alive} - state.dead
        if gone:
            state.dead |= gone
            died = [r for r in state.rounds[1:] if r.dead]
            if len(died) >= opts.max_replans:
                raise TaskFailed(f"workers {sorted(state.dead)} died; gave up after {opts.max_replans} re-plans")
            self._replan(state, alive)
            return
        if state.dead and alive - state.known:
            self._rejoin(state, alive)
            pending = [s for s in self.outputs if s not in state.results and s in futures]
        self._progress(futures, state.done)
        status = {s: futures[s].status for s in pending}
        finished = [s for s in pending if status[s] == "finished"]
        if finished:  # no gather timeout: it returns None when a holder leaves, and the next poll re-plans
            values = client.sync(gather_live, client, [futures[s] for s in finished], opts.poll_interval)
            for s, v in zip(finished, values or ()):
                state.results[s] = v  # gathered once, never again: no sink is lost or merged twice
                futures.pop(s).release()
        if "error" in status.values():  # errors propagate to the sinks; report the first cause
            first = next(t for t in self.graph.tasks if t in futures and futures[t].status == "error")
            self._raise_failure(first, futures[first])
        if opts.task_timeout_factor is not None and time.time() - state.checked >= max(1.0, opts.poll_interval):
            state.checked = time.time()
            self._check_limits(state)

    def _forget(self, state: RunState) -> None:
        for f in state.futures.values():
            with contextlib.suppress(Exception):  # a client without its scheduler
                f.release()

    def _execution(self, state: RunState, complete: bool = True, ask: bool = True) -> Execution:
        """The :class:`Execution` of ``state`` (also of a failed run: then what it got; without ``ask``, no
        failure counts or task stream from the scheduler)."""
        failures: dict[str, int] = {}
        stream: list[dict[str, Any]] = []
        try:
            if ask:
                check_scheduler(self.client)
                for _, msg in self.client.get_events(self.topic):
                    failures[msg["task"]] = failures.get(msg["task"], 0) + 1
                wanted = set(state.final_key.values())
                stream = [r for r in self.client.get_task_stream(start=state.t0 - 1.0) if r["key"] in wanted]
        except (OSError, SchedulerLost):
            if complete:
                raise
        results = {s: state.results[s] for s in self.outputs if s in state.results}
        return Execution(results, state.rounds, state.final_key, state.final_round, state.t0, state.wall,
                         state.submit_seconds, failures, stream, dict(self.names), complete)  # fmt: skip

    # -- time limits ----------------------------------------------------------------------------
    def _check_limits(self, state: RunState) -> None:
        over = self.limits.over(executing(self.client))
        if over:
            key, task, running, planned, limit = over[0]
            raise TaskFailed(
                f"task {task!r} ran {running.seconds:.1f} s on worker {self._name(running.address)}, past its limit "
                f"of {limit:.1f} s ({self.options.task_timeout_factor:g} x planned {planned:.3g} s + "
                f"{self.options.task_timeout_slack:g} s); {self._describe(state)}"
            )

    def _name(self, address: str) -> str:
        return repr(self.names.get(address, address))

    def _describe(self, state: RunState, shown: int = 4) -> str:
        """What is running, waiting and done: "running: 't' on 'cpu0' (8.7 s), ...; waiting: 5 tasks (...); ..."."""
        task_of = {k: t for t, k in state.final_key.items()}
        running = [r for r in executing(self.client) if r.key in task_of]
        busy = {task_of[r.key] for r in running}
        waiting = [t for t, f in state.futures.items() if f.status == "pending" and t not in busy] + list(self._held)
        parts = []
        if running:
            shown_running = ", ".join(f"{task_of[r.key]!r} on {self._name(r.address)} ({r.seconds:.1f} s)"
                                      for r in running[:shown])  # fmt: skip
            more = f" and {len(running) - shown} more" if len(running) > shown else ""
            parts.append(f"running: {shown_running}{more}")
        if waiting:
            names = ", ".join(repr(t) for t in waiting[:shown]) + (", ..." if len(waiting) > shown else "")
            parts.append(f"waiting: {len(waiting)} task{'s' if len(waiting) != 1 else ''} ({names})")
        parts.append(f"{len(state.results)} of {len(self.outputs)} sinks finished")
        return "; ".join(parts)

    def _check_ops(self, schedule: Schedule) -> None:
        """Fail at once, before anything runs, when a planned worker cannot resolve a task's op name or a task's
        file path lies outside the run's folders (:mod:`hetflow.flows.runtime.trust`)."""
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
        declared: dict[str, Any] = {}  # path params declared where the ops run (also ops registered only there)
        for found in self.client.run(declared_paths, names, workers=addresses).values():
            declared.update(found)
        self.graph = confine_paths(self.graph, self.options, declared)

    def _raise_failure(self, task: Hashable, future: Any) -> None:
        exc = future.exception()
        raise TaskFailed(
            f"task {task!r} failed on worker {self.placed.get(task)!r} after {self.options.retries + 1} attempt(s): "
            f"{type(exc).__name__}: {exc}"
        ) from exc

    # -- re-plans -------------------------------------------------------------------------------
    def _still_needed(self, state: RunState, alive: set[str]) -> tuple[set[Hashable], set[Hashable]]:
        """``(available, needed)``: tasks whose result is gathered or held by a live worker, and the tasks the
        unfinished sinks still need computed."""
        futures = state.futures
        by_key = {f.key: t for t, f in futures.items()}
        who_has = self.client.who_has(list(futures.values())) if futures else {}
        available = set(state.results)
        for key, holders in who_has.items():
            if any(h in alive for h in holders):
                available.add(by_key[key])
        needed: set[Hashable] = set()
        wanted = set(self.outputs)
        for t in reversed(self.graph.tasks):
            if t in available:
                continue
            if t in wanted or any(c in needed for c in self.graph.G.successors(t)):
                needed.add(t)
        return available, needed

    def _drop_unavailable(self, state: RunState, available: set[Hashable]) -> None:
        for t in [t for t in state.futures if t not in available]:
            state.futures.pop(t).release()  # release, not cancel: cancel would cascade to finished dependents

    def _start_round(self, state: RunState, schedule: Schedule, offset: float, **info: Any) -> None:
        index = len(state.rounds)
        keys = self._submit(schedule, index, state.futures)
        state.add(Round(index, schedule, offset, keys, **info))
        self.limits.add(schedule, keys)

    def _replan(self, state: RunState, alive: set[str]) -> None:
        """Re-plan what the unfinished sinks still need onto the live planned workers (survivors, and dead ones
        already restarted) and submit it."""
        dead = sorted(state.dead)
        self._held = {}  # tasks the pacer still held are re-planned with the rest (and not paced)
        rejoined = self._revive(state, alive)
        available, needed = self._still_needed(state, alive)
        self._drop_unavailable(state, available)
        self.log(f"workers {dead} died: {len(available)} results kept, re-planning {len(needed)} tasks")
        if not needed:
            return
        try:
            survivors = self.cluster.without(state.dead)
        except ClusterError:
            raise ClusterError(f"every planned worker died ({', '.join(dead)}); cannot finish the run") from None
        sub = self.graph.subgraph([t for t in self.graph.tasks if t in needed])
        try:
            check_runnable(sub, survivors)
        except DeviceError as e:
            raise DeviceError(f"after workers {', '.join(dead)} died: {e}") from None
        offset = time.time() - state.t0
        schedule = self._plan(sub, survivors).validate(sub, survivors)
        self._start_round(state, schedule, offset, dead=dead, kept=len(available), rejoined=rejoined)

    def _revive(self, state: RunState, alive: set[str]) -> list[str]:
        """Planned workers that died and are back (same name and device class, new address): live again."""
        state.known |= alive
        revived = []
        for slot in dask_slots(self.client):
            name = slot.worker.name
            old = self.slots.get(name)
            if name in state.dead and slot.address in alive and old is not None and slot.address != old.address \
                    and slot.worker.device == old.worker.device:  # fmt: skip
                self.slots[name] = slot
                self.names[slot.address] = name
                state.dead.discard(name)
                revived.append(name)
        return sorted(revived)

    def _rejoin(self, state: RunState, alive: set[str]) -> None:
        """New workers appeared while planned ones are dead: plan on the restarted ones again when that is
        expected to finish sooner (by :data:`REJOIN_GAIN`) than the plan in force."""
        rejoined = self._revive(state, alive)
        if not rejoined:
            return
        available, needed = self._still_needed(state, alive)
        cluster = self.cluster.without(state.dead) if state.dead else self.cluster
        sub = self.graph.subgraph([t for t in self.graph.tasks if t in needed])
        if not needed:
            return
        scale = self.options.time_scale
        now = time.time() - state.t0
        current = state.rounds[-1]
        left = current.offset + current.schedule.makespan * scale - now
        schedule = self._plan(sub, cluster).validate(sub, cluster)  # the cluster of the plan in force, and more
        if schedule.makespan * scale >= REJOIN_GAIN * left:
            self.log(f"workers {rejoined} restarted; the plan in force stays (with them: "
                     f"{schedule.makespan * scale:.3g} s, without: {left:.3g} s left)")  # fmt: skip
            return
        self._drop_unavailable(state, available)
        self.log(f"workers {rejoined} restarted: {len(available)} results kept, re-planning {len(needed)} tasks")
        self._start_round(state, schedule, now, kept=len(available), rejoined=rejoined)


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
