"""The solver contract, the registry, and :func:`plan`, the one entry point from ``(graph, cluster)`` to a Schedule.

A *solver* is any callable ``fn(problem, *, seed, **options) -> ListResult`` (the :class:`Solver` protocol):
it receives a :class:`~hetflow.solvers.problem.Problem` (dense arrays of the graph and cluster) and returns
the worker, start and finish of every task, plus optional ``meta``. :func:`register_solver` puts one under a
name, with its declared :class:`Capabilities`; :func:`plan` builds the problem, runs the solver, checks that
every task was placed on a worker that can run it, and wraps the result as a
:class:`~hetflow.solvers.schedule.Schedule`. :mod:`hetflow.solvers.checks` tests a solver against the whole
contract.
"""

from __future__ import annotations

import importlib.util
import inspect
import numbers
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Protocol

import numpy as np
from hetflow.solvers.anytime import reporting
from hetflow.solvers.listsched import ListResult
from hetflow.solvers.problem import Problem
from hetflow.solvers.schedule import InvalidSchedule, Placement, Schedule
from hetflow.taskgraph import Cluster, TaskGraph
from hetflow.taskgraph.errors import InvalidInput, brief

__all__ = [
    "Solver",
    "Capabilities",
    "register_solver",
    "SOLVERS",
    "plan",
    "run_solver",
    "to_schedule",
    "solver_names",
    "solver_capabilities",
    "check_solver_name",
    "check_seed",
    "warm_up",
    "warm_up_problem",
    "MAX_SEED",
]

MAX_SEED = 2**31 - 1  # CP-SAT's random_seed is a 32-bit integer; NumPy's generators need seeds >= 0


def check_seed(seed: Any) -> int:
    """Return ``seed`` if it is an integer from 0 to :data:`MAX_SEED`, else raise :class:`InvalidInput`.

    Examples
    --------
    >>> check_seed(7)
    7
    >>> check_seed(-1)
    Traceback (most recent call last):
    ...
    hetflow.taskgraph.errors.InvalidInput: seed -1 must be an integer from 0 to 2147483647
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed <= MAX_SEED:
        raise InvalidInput(f"seed {brief(seed)} must be an integer from 0 to {MAX_SEED}")
    return int(seed)


class Solver(Protocol):
    """What :func:`register_solver` accepts: ``fn(problem, *, seed, **options) -> ListResult``.

    The solver reads the arrays of ``problem`` (``problem.exec[i, w]`` is task ``i``'s run time on worker
    ``w``, ``inf`` where it cannot run; ``problem.preds`` and ``problem.pred_bytes`` the inputs;
    ``problem.comm``, ``problem.link_rows`` and ``problem.arrivals`` the transfers, in memory linear in the
    workers — the dense ``problem.latency`` and ``problem.inv_bandwidth`` tables are there too, but cost
    ``O(W^2)``) and returns a :class:`ListResult` indexed like
    ``problem.tasks``: every task on a worker that can run it, starting after its inputs arrived, one task at a
    time per worker. Given the same problem and ``seed`` it should return the same plan. It must not modify
    ``problem``. Solver-specific keyword options follow ``seed``; ``meta`` (a JSON-able dict) ends up in
    :attr:`Schedule.meta`.

    Examples
    --------
    >>> from hetflow.solvers.listsched import list_schedule
    >>> def in_order(problem, *, seed=0):  # each task, in topological order, where it finishes first
    ...     return list_schedule(problem, order=range(problem.n))
    >>> from hetflow.taskgraph import Cluster, TaskGraph
    >>> g = TaskGraph(name="g"); g.add_task("a", {"cpu": 2.0}); g.add_task("b", {"cpu": 1.0, "gpu": 0.5})
    >>> result = in_order(Problem(g, Cluster.local(gpus=1, cpus=1)), seed=0)
    >>> result.worker.tolist(), result.makespan
    ([1, 0], 2.0)
    """

    def __call__(self, problem: Problem, *, seed: int, **options: Any) -> ListResult: ...


@dataclass(frozen=True)
class Capabilities:
    """What a solver declares about itself; :mod:`hetflow.solvers.checks` sizes and selects its checks by it.

    Parameters
    ----------
    max_tasks : int, optional
        The largest graph (in tasks) the solver handles in seconds; None: any size.
    deterministic : bool
        The same problem and seed give the same plan.
    time_limit : bool, optional
        The solver takes a ``time_limit=`` option (seconds). None (the default at registration): True when
        the function has a parameter named ``time_limit``.
    extra : str, optional
        The optional install extra it needs (``"bench"`` for ``pip install 'hetflow[bench]'``).
    needs : tuple of str
        Modules it imports at run time (``("ortools",)``); :attr:`available` says whether they are installed.
    warm_up : bool or callable
        Whether :func:`warm_up` may load what the solver compiles or imports on first use (numba kernels,
        SciPy, OR-tools) by planning :func:`warm_up_problem` with it, or a function that does it instead
        (dp's plans it at a tiny effort). False (the default for solvers registered by users): nothing is run.

    Examples
    --------
    >>> Capabilities(max_tasks=12).handles(10), Capabilities(max_tasks=12).handles(100)
    (True, False)
    >>> Capabilities(needs=("no_such_module_here",), extra="bench").available
    False
    """

    max_tasks: int | None = None
    deterministic: bool = True
    time_limit: bool | None = None
    extra: str | None = None
    needs: tuple[str, ...] = ()
    warm_up: bool | Callable[[], Any] = False

    def __post_init__(self) -> None:
        if not (isinstance(self.warm_up, bool) or callable(self.warm_up)):
            raise InvalidInput(f"Capabilities.warm_up must be a bool or a function, not {self.warm_up!r}")
        if self.max_tasks is not None and (isinstance(self.max_tasks, bool) or not isinstance(self.max_tasks, int)
                                           or self.max_tasks < 1):
            raise InvalidInput(f"Capabilities.max_tasks must be a positive int or None, not {self.max_tasks!r}")
        if isinstance(self.needs, str):
            object.__setattr__(self, "needs", (self.needs,))

    def for_solver(self, fn: Callable[..., Any]) -> Capabilities:
        """These capabilities with ``time_limit`` decided from ``fn``'s signature when it is None."""
        return self if self.time_limit is not None else replace(self, time_limit=_accepts(fn, "time_limit"))

    def handles(self, n_tasks: int) -> bool:
        """Whether a graph of ``n_tasks`` tasks is within :attr:`max_tasks`."""
        return self.max_tasks is None or n_tasks <= self.max_tasks

    @property
    def available(self) -> bool:
        """Whether every module in :attr:`needs` is installed."""
        return all(importlib.util.find_spec(m) is not None for m in self.needs)

    def missing(self) -> str:
        """One line naming what to install, or ``""`` when :attr:`available`."""
        if self.available:
            return ""
        what = f"the {self.extra} extra: pip install 'hetflow[{self.extra}]'" if self.extra else ", ".join(self.needs)
        return f"needs {what}"


SOLVERS: dict[str, Solver] = {}
CAPABILITIES: dict[str, Capabilities] = {}


def _accepts(fn: Callable[..., Any], keyword: str) -> bool:
    try:
        return keyword in inspect.signature(fn).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return False


def register_solver(
    name: str, *, capabilities: Capabilities | Mapping[str, Any] | None = None
) -> Callable[[Solver], Solver]:
    """Register ``fn(problem, *, seed, **options) -> ListResult`` under ``name`` (a decorator).

    Parameters
    ----------
    name : str
        The name :func:`plan` and the CLI's ``--solver`` take; registering it again replaces the solver.
    capabilities : Capabilities or mapping, optional
        What the solver declares (default: any size, deterministic; ``time_limit`` from the signature).

    Examples
    --------
    >>> from hetflow.solvers.listsched import list_schedule
    >>> @register_solver("in-order", capabilities={"max_tasks": 1000})
    ... def in_order(problem, *, seed=0):
    ...     return list_schedule(problem, order=range(problem.n))
    >>> solver_capabilities("in-order").max_tasks
    1000
    >>> from hetflow.taskgraph import Cluster, TaskGraph
    >>> g = TaskGraph(name="g"); g.add_task("a", {"cpu": 2.0})
    >>> plan(g, Cluster.local(gpus=0, cpus=1), solver="in-order").makespan
    2.0
    >>> _ = SOLVERS.pop("in-order"), CAPABILITIES.pop("in-order")  # unregister again
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"a solver name must be a non-empty string, not {name!r}")
    if capabilities is None:
        caps = Capabilities()
    elif isinstance(capabilities, Capabilities):
        caps = capabilities
    else:
        known = {f.name for f in fields(Capabilities)}
        unknown = sorted(set(capabilities) - known)
        if unknown:
            raise InvalidInput(f"unknown capability {unknown[0]!r}; choose from {', '.join(sorted(known))}")
        caps = Capabilities(**capabilities)

    def deco(fn: Solver) -> Solver:
        if not callable(fn):
            raise InvalidInput(f"solver {name!r} must be callable, not {type(fn).__name__}")
        SOLVERS[name] = fn
        CAPABILITIES[name] = caps.for_solver(fn)
        return fn

    return deco


_WARM: set[str] = set()


def warm_up(name: str) -> float:
    """Load what solver ``name`` compiles or imports on first use, once per process; return the seconds it took.

    dp loads about 0.7 s of it on a 2-core machine: numba's cached kernels, SciPy's LP and OR-tools (the first
    run after an install also compiles the kernels). :func:`plan` calls it once the inputs have been checked
    and before its clock starts, so ``plan_seconds`` is the planning alone and ``meta["loading_seconds"]``
    the loading (``hetflow plan`` prints both). Solvers that do not declare a warm-up
    (:attr:`Capabilities.warm_up`), solvers whose extra is missing, a warm-up that fails (the plan itself then
    reports the problem) and later calls return 0.

    Examples
    --------
    >>> _ = warm_up("dp"), warm_up("heft")
    >>> warm_up("dp"), warm_up("heft")  # done already; nothing to load
    (0.0, 0.0)
    """
    caps = solver_capabilities(name)
    if not caps.warm_up or name in _WARM or not caps.available:
        return 0.0
    _WARM.add(name)  # once, even when it fails
    t0 = time.perf_counter()
    try:
        with reporting(None):  # the warm-up's progress is nobody's business
            if callable(caps.warm_up):
                caps.warm_up()
            else:
                SOLVERS[name](warm_up_problem(), seed=0)
    except Exception:  # the real plan reports whatever is wrong, about the user's graph
        return 0.0
    return time.perf_counter() - t0


def warm_up_problem() -> Problem:
    """Four tasks (a diamond) on a gpu and two cpu workers, transfers far longer than the tasks: a problem on
    which every built-in solver runs all of its stages in milliseconds (see :func:`warm_up`).

    Examples
    --------
    >>> p = warm_up_problem()
    >>> p.n, p.n_workers, p.tasks
    (4, 3, ['a', 'b', 'c', 'd'])
    """
    from hetflow.taskgraph import Cluster, TaskGraph

    graph = TaskGraph(name="warm-up")
    for task in "abcd":
        graph.add_task(task, {"cpu": 1.0, "gpu": 0.5})
    for u, v in ("ab", "ac", "bd", "cd"):
        graph.add_edge(u, v, bytes=1e10)
    return Problem(graph, Cluster.local(gpus=1, cpus=2))


def _ensure_builtins() -> None:
    import hetflow.solvers.builtin  # noqa: F401  (registers the built-in solvers; they import this module)


def solver_names() -> list[str]:
    """The registered solver names, sorted.

    Examples
    --------
    >>> {"dp", "heft", "peft", "cpop"} <= set(solver_names())
    True
    """
    _ensure_builtins()
    return sorted(SOLVERS)


def check_solver_name(name: str) -> str:
    """Return ``name`` if a solver is registered under it, else raise one line listing the choices.

    Raises
    ------
    hetflow.taskgraph.errors.InvalidInput
        ``unknown solver 'x'; choose one of cpop, dp, ...``

    Examples
    --------
    >>> check_solver_name("heft")
    'heft'
    >>> check_solver_name("hfet")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    hetflow.taskgraph.errors.InvalidInput: unknown solver 'hfet'; choose one of ...
    """
    _ensure_builtins()
    if not isinstance(name, str) or name not in SOLVERS:
        raise InvalidInput(f"unknown solver {name!r}; choose one of {', '.join(solver_names())}")
    return name


def solver_capabilities(name: str) -> Capabilities:
    """The :class:`Capabilities` declared for the registered solver ``name``.

    Examples
    --------
    >>> solver_capabilities("exact").max_tasks
    12
    >>> solver_capabilities("heft").deterministic
    True
    """
    return CAPABILITIES.get(check_solver_name(name), Capabilities())


def _check_result(problem: Problem, result: Any, solver: str) -> None:
    """One-line errors for a solver result that is not a plan of every task (cheap checks, O(n))."""
    if not all(hasattr(result, a) for a in ("worker", "start", "finish")):
        raise InvalidSchedule(f"solver {solver!r} returned {type(result).__name__}, not a ListResult")
    n, W = problem.n, problem.n_workers
    for attr in ("worker", "start", "finish"):
        shape = np.shape(getattr(result, attr))
        if shape != (n,):
            raise InvalidSchedule(f"solver {solver!r} returned {attr} of shape {shape}; expected ({n},), one per task")
    worker = np.asarray(result.worker)
    if not np.issubdtype(worker.dtype, np.integer):
        raise InvalidSchedule(f"solver {solver!r} returned worker indices of dtype {worker.dtype}, not integers")
    bad = np.flatnonzero((worker < 0) | (worker >= W))
    if len(bad):
        i = int(bad[0])
        raise InvalidSchedule(f"solver {solver!r} left task {problem.tasks[i]!r} unplaced "
                              f"(worker index {int(worker[i])}, not one of 0..{W - 1})")
    cannot = np.flatnonzero(~problem.runnable[np.arange(n), worker])
    if len(cannot):
        i = int(cannot[0])
        raise InvalidSchedule(f"solver {solver!r} put task {problem.tasks[i]!r} on worker "
                              f"{problem.worker_names[int(worker[i])]!r}, which cannot run it")
    times = np.concatenate([np.asarray(result.start, float), np.asarray(result.finish, float)]) if n else np.zeros(0)
    if not np.all(np.isfinite(times)):
        i = int(np.flatnonzero(~np.isfinite(times))[0]) % n
        raise InvalidSchedule(f"solver {solver!r} gave task {problem.tasks[i]!r} a non-finite start or finish")
    meta = getattr(result, "meta", {})
    if meta is not None and not isinstance(meta, Mapping):
        raise InvalidSchedule(f"solver {solver!r} returned meta of type {type(meta).__name__}, not a dict")


def to_schedule(problem: Problem, result: ListResult, solver: str, plan_seconds: float = 0.0, **meta: Any) -> Schedule:
    """Wrap a :class:`ListResult` as a :class:`Schedule` (task ids and worker names restored).

    Examples
    --------
    >>> from hetflow.solvers.heft import heft
    >>> from hetflow.taskgraph import Cluster, TaskGraph
    >>> g = TaskGraph(name="g"); g.add_task("a", {"cpu": 2.0})
    >>> problem = Problem(g, Cluster.local(gpus=0, cpus=1))
    >>> to_schedule(problem, heft(problem), "heft")["a"]
    Placement(task='a', worker='cpu0', start=0.0, finish=2.0)
    """
    names = problem.worker_names
    worker = result.worker
    placements = [
        Placement(t, names[worker[i]], float(result.start[i]), float(result.finish[i]))
        for i, t in enumerate(problem.tasks)
    ]
    moved = problem.bytes_moved(worker)
    return Schedule(placements, solver=solver, plan_seconds=plan_seconds, transferred_bytes=moved, meta=meta)


def run_solver(fn: Solver, graph: TaskGraph, cluster: Cluster, *, name: str | None = None, seed: int = 0,
               **options: Any) -> Schedule:
    """Plan with the solver function ``fn`` itself, registered or not (what :func:`plan` does after the lookup).

    Parameters
    ----------
    fn : Solver
    graph : TaskGraph
    cluster : Cluster
    name : str, optional
        The name errors and :attr:`Schedule.solver` use (default: the function's ``__name__``).
    seed : int
    **options
        Passed to ``fn``.

    Raises
    ------
    hetflow.taskgraph.errors.InvalidInput
        Bad graph or cluster; :class:`InvalidSchedule` when ``fn`` leaves a task unplaced, puts it on a
        worker that cannot run it, or returns arrays of the wrong shape or non-finite times.

    Examples
    --------
    >>> from hetflow.solvers.listsched import ListResult
    >>> from hetflow.taskgraph import Cluster, TaskGraph
    >>> def lazy(problem, *, seed=0):  # places nothing
    ...     n = problem.n
    ...     return ListResult(np.full(n, -1), np.zeros(n), np.zeros(n))
    >>> g = TaskGraph(name="g"); g.add_task("a", {"cpu": 2.0})
    >>> run_solver(lazy, g, Cluster.local(gpus=0, cpus=1))
    Traceback (most recent call last):
    ...
    hetflow.solvers.schedule.InvalidSchedule: solver 'lazy' left task 'a' unplaced (worker index -1, not one of 0..0)
    """
    registered = name is not None and SOLVERS.get(name) is fn
    name = name if name is not None else getattr(fn, "__name__", type(fn).__name__)
    seed = check_seed(seed)
    graph.validate()
    t0 = time.perf_counter()
    problem = Problem(graph, cluster)  # the last input check (e.g. a task no worker can run)
    built = time.perf_counter() - t0
    loading = warm_up(name) if registered else 0.0  # off the clock: once per process
    t0 = time.perf_counter()
    result = fn(problem, seed=seed, **options)
    elapsed = built + time.perf_counter() - t0
    _check_result(problem, result, name)
    meta = dict(getattr(result, "meta", None) or {})
    if loading > 0:
        meta["loading_seconds"] = round(loading, 4)
    return to_schedule(problem, result, name, elapsed, **meta)


def plan(graph: TaskGraph, cluster: Cluster, solver: str = "dp", *, seed: int = 0, **options: Any) -> Schedule:
    """Plan ``graph`` onto ``cluster`` with the named solver.

    Parameters
    ----------
    graph : TaskGraph
    cluster : Cluster
    solver : str
        A name from :func:`solver_names` (``"dp"``, ``"heft"``, ``"cpop"``, ``"peft"``, ...).
    seed : int
        Seed for randomised solvers; the same inputs and seed give the same schedule.
    **options
        Passed to the solver.

    Raises
    ------
    hetflow.taskgraph.errors.InvalidInput
        Bad graph or cluster (cycle, bad cost, a task no worker can run, ...), an unknown solver, or a solver
        whose optional extra is not installed; :class:`InvalidSchedule` when the solver returns a result
        that does not place every task (see :func:`run_solver`).

    Examples
    --------
    >>> from hetflow.taskgraph import Cluster, TaskGraph
    >>> g = TaskGraph(name="g"); g.add_task("a", {"cpu": 2.0}); g.add_task("b", {"cpu": 8.0, "gpu": 1.0})
    >>> g.add_edge("a", "b", bytes=1e9)
    >>> plan(g, Cluster.local(gpus=1, cpus=1), solver="heft").makespan
    4.0
    """
    caps = solver_capabilities(solver)
    if not caps.available:
        raise InvalidInput(f"solver {solver!r} {caps.missing()}")
    return run_solver(SOLVERS[solver], graph, cluster, name=solver, seed=seed, **options)
