"""How a plan runs: :class:`RunOptions`, the one options object carried from the CLI through the flow to the executor.

``hetflow run`` builds it from its flags, :func:`hetflow.flows.orchestration.flow.run_plan` and
:func:`hetflow.flows.llm.demo.run_demo` take it (or keyword overrides that build it), and
:class:`hetflow.flows.runtime.executor.PlanExecutor` reads the fields it needs. It is validated once, when it
is made: a bad value raises :class:`OptionError` (an :class:`~hetflow.taskgraph.errors.InvalidInput`) naming
the option, before any cluster or Prefect server starts.

Examples
--------
>>> opts = RunOptions(solver="heft", time_scale=0.1)
>>> opts.retries, opts.time_scale
(2, 0.1)
>>> RunOptions.build(opts, retries=0).retries          # a copy with overrides, validated again
0
>>> try:
...     RunOptions(retries=-1)
... except InvalidInput as e:  # an OptionError
...     print(e)
retries must be >= 0, not -1
>>> RunOptions.build(None, retry=3)  # doctest: +IGNORE_EXCEPTION_DETAIL
Traceback (most recent call last):
OptionError: retry is not a run option; choose from solver, seed, retries, ...

``out_dir`` may name a new folder per run: ``{graph}`` and ``{time}`` are filled when the run starts
(:meth:`RunOptions.with_run_folder`). ``hetflow run`` writes into :func:`default_run_folder` unless told
otherwise:

>>> import datetime, tempfile
>>> root = tempfile.mkdtemp()
>>> opts = RunOptions(out_dir=root + "/{graph}-{time}")
>>> when = datetime.datetime(2026, 1, 2, 3, 4, 5)
>>> [opts.with_run_folder("llm demo", now=when).out_dir[len(root):] for _ in range(2)]  # never the same folder
['/llm_demo-20260102-030405', '/llm_demo-20260102-030405-2']
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import os
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hetflow.solvers.registry import MAX_SEED, check_solver_name
from hetflow.taskgraph.errors import InvalidInput

__all__ = ["RunOptions", "OptionError", "RUNS_DIR", "default_run_folder"]

RUNS_DIR = "hetflow-runs"  # where `hetflow run` keeps its run folders (relative to the working directory)
_FIELDS = ("graph", "time")  # the placeholders out_dir may use


class OptionError(InvalidInput):
    """A run option with a bad value: ``option`` names it, ``problem`` says what is wrong.

    The CLI reports it under the flag's name (``--retries must be ...``).
    """

    def __init__(self, option: str, problem: str):
        super().__init__(f"{option} {problem}")
        self.option, self.problem = option, problem


@dataclass(frozen=True)
class RunOptions:
    """How to run a plan on Dask (planning, retries, timing, reporting). Immutable; validated when made.

    Parameters
    ----------
    solver : str
        Planner (:func:`hetflow.solvers.plan`), also used for re-plans after a worker dies.
    seed : int
        Seed of randomised planners (0 to :data:`hetflow.solvers.registry.MAX_SEED`).
    retries : int
        Re-runs of a raising task on its planned worker.
    retry_delay : float
        Seconds before each retry.
    time_scale : float
        Model seconds -> real seconds: emulated tasks sleep ``cost / speed * time_scale``, and the report's
        planned times are scaled by it.
    emulate : bool
        Strip every task's ``op``/``params``: each task sleeps its planned duration.
    strict_order : bool
        Chain each worker's tasks in plan order (no overtaking by later-planned ready tasks).
    max_replans : int
        Re-plans allowed after worker deaths before the run fails.
    timeout : float, optional
        Fail when the execution takes longer (seconds), naming the tasks still running; the sinks that
        finished are kept (and written, marked incomplete).
    task_timeout_factor : float, optional
        Fail the run when one attempt of a task runs longer than ``task_timeout_factor`` times its planned
        duration (scaled by ``time_scale``) plus ``task_timeout_slack`` seconds, naming it and its worker;
        None: no per-task limit.
    task_timeout_slack : float
        Seconds added to every task's limit (start-up, model loading, a cost model that is off).
    poll_interval : float
        Seconds between the executor's checks of sink results and worker liveness.
    dashboard : bool
        Start the embedded cluster's Bokeh dashboard and print its link (never a link when False).
    host : str
        Interface every server of the embedded cluster listens on (scheduler, nannies, workers, dashboard and
        HTTP servers): loopback by default; ``"0.0.0.0"`` exposes them on every interface.
    connect_timeout : float
        Seconds to reach the scheduler, or for the embedded workers to come up.
    out_dir : str, optional
        Write the run's outputs there (:func:`hetflow.flows.orchestration.record.write_outputs`). ``{graph}``
        and ``{time}`` in it are replaced by the graph's name and the run's start time, and a folder with
        them is always a new one (:meth:`with_run_folder`); None writes nothing (the record has ``save``).
    artifacts : bool
        Publish the summary and the per-worker table as Prefect artifacts.
    cost_store : str, optional
        Learned costs (:mod:`hetflow.taskgraph.coststore`): ``"default"`` (``~/.hetflow/costs.json`` or
        ``$HETFLOW_COST_STORE``), a file path, or None (plan with the graph's costs, learn nothing). Tasks with
        a real op are planned from the store's measurements of their kind and every run adds its own;
        emulated runs neither use nor feed it.
    pace : int, optional
        Release tasks to Dask only as their consumers come within ``pace`` places of the head of their
        worker's planned queue (:mod:`hetflow.flows.runtime.pacing`): bounded memory when a fast stage feeds
        a slow one. None (default) submits the whole plan at once. Re-plans are not paced.
    data_dirs : sequence of str
        Folders the graph's tasks may read files from, besides the folder of the graph file (``--data-dir``).
        Files the ops write go only into ``out_dir`` (:mod:`hetflow.flows.runtime.trust`).
    """

    solver: str = "dp"
    seed: int = 0
    retries: int = 2
    retry_delay: float = 0.0
    time_scale: float = 1.0
    emulate: bool = False
    strict_order: bool = False
    max_replans: int = 3
    timeout: float | None = None
    poll_interval: float = 0.1
    dashboard: bool = True
    host: str = "127.0.0.1"
    connect_timeout: float = 30.0
    out_dir: str | None = None
    artifacts: bool = True
    cost_store: str | None = "default"
    pace: int | None = None
    data_dirs: tuple[str, ...] = ()
    task_timeout_factor: float | None = 10.0
    task_timeout_slack: float = 60.0

    def __post_init__(self) -> None:
        check_solver_name(self.solver)
        if self.pace is not None:
            _set(self, "pace", _count("pace", self.pace))
        for name in ("seed", "retries", "max_replans"):
            _set(self, name, _count(name, getattr(self, name)))
        if self.seed > MAX_SEED:
            raise OptionError("seed", f"must be <= {MAX_SEED}, not {self.seed!r}")
        for name in ("retry_delay", "time_scale", "task_timeout_slack"):
            _set(self, name, _seconds(name, getattr(self, name), zero_ok=True))
        for name in ("poll_interval", "connect_timeout"):
            _set(self, name, _seconds(name, getattr(self, name), zero_ok=False))
        for name in ("timeout", "task_timeout_factor"):
            if getattr(self, name) is not None:
                _set(self, name, _seconds(name, getattr(self, name), zero_ok=False))
        for name in ("emulate", "strict_order", "dashboard", "artifacts"):
            if not isinstance(getattr(self, name), bool):
                raise OptionError(name, f"must be True or False, not {getattr(self, name)!r}")
        if not isinstance(self.host, str) or not self.host or self.host != self.host.strip():
            raise OptionError("host", f"must be an interface address or host name, not {self.host!r}")
        if self.out_dir is not None:
            if not isinstance(self.out_dir, (str, os.PathLike)) or not str(self.out_dir):
                raise OptionError("out_dir", f"must be a folder path, not {self.out_dir!r}")
            _set(self, "out_dir", os.fspath(self.out_dir))
            _placeholders(self.out_dir)  # checks them
        if self.cost_store is not None:
            if not isinstance(self.cost_store, (str, os.PathLike)) or not str(self.cost_store):
                raise OptionError("cost_store", f"must be 'default', a file path or None, not {self.cost_store!r}")
            _set(self, "cost_store", os.fspath(self.cost_store))
        _set(self, "data_dirs", _folders("data_dirs", self.data_dirs))

    @classmethod
    def names(cls) -> list[str]:
        """The option names, in declaration order."""
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def build(cls, options: RunOptions | Mapping[str, Any] | None = None, **overrides: Any) -> RunOptions:
        """``options`` (default: the defaults) with ``overrides`` applied; unknown names raise :class:`OptionError`.

        ``options`` may also be a mapping of option names (e.g. the JSON parameters of a deployment).
        """
        if isinstance(options, Mapping):
            overrides = {**options, **overrides}
            options = None
        elif options is not None and not isinstance(options, RunOptions):
            raise InvalidInput(f"options must be RunOptions, not {type(options).__name__}")
        known = cls.names()
        for name in overrides:
            if name not in known:
                raise OptionError(name, f"is not a run option; choose from {', '.join(known)}")
        return dataclasses.replace(options, **overrides) if options is not None else cls(**overrides)

    def with_run_folder(self, graph_name: str, now: datetime.datetime | None = None) -> RunOptions:
        """These options with ``{graph}``/``{time}`` in :attr:`out_dir` filled in and that folder created.

        The folder is new: when the name is taken (two runs in the same second), ``-2``, ``-3``, ... is
        appended. Without placeholders (or without ``out_dir``) the options come back unchanged.
        """
        if self.out_dir is None or not _placeholders(self.out_dir):
            return self
        now = now or datetime.datetime.now()
        name = re.sub(r"[^\w.-]+", "_", str(graph_name)).strip("._") or "run"
        base = Path(self.out_dir.format(graph=name, time=now.strftime("%Y%m%d-%H%M%S")))
        for i in range(1, 10_000):
            folder = base if i == 1 else base.with_name(f"{base.name}-{i}")
            try:
                folder.mkdir(parents=True)
            except FileExistsError:
                continue
            except OSError as e:
                raise OptionError("out_dir", f"cannot create {str(folder)!r}: {e.strerror or e}") from None
            return dataclasses.replace(self, out_dir=str(folder))
        raise OptionError("out_dir", f"has no free folder name left after {str(base)!r}")

    def to_dict(self) -> dict[str, Any]:
        """The options as a JSON-able dict (``RunOptions.build(d)`` reads it back)."""
        return {**dataclasses.asdict(self), "data_dirs": list(self.data_dirs)}


def default_run_folder() -> str:
    """Where ``hetflow run`` writes a run's outputs unless told otherwise: ``$HETFLOW_RUNS_DIR`` (default
    ``./hetflow-runs``) ``/{graph}-{time}``, a new folder per run.

    Examples
    --------
    >>> import os
    >>> default_run_folder() == os.path.join(os.environ.get("HETFLOW_RUNS_DIR", "hetflow-runs"), "{graph}-{time}")
    True
    """
    return os.path.join(os.environ.get("HETFLOW_RUNS_DIR") or RUNS_DIR, "{graph}-{time}")


def _placeholders(out_dir: str) -> list[str]:
    """The ``{...}`` fields of ``out_dir`` (``{{``/``}}`` are literal braces); raises OptionError on others."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(out_dir) if f is not None]
    except ValueError as e:
        raise OptionError("out_dir", f"has unbalanced braces ({e}); write {{{{ and }}}} for literal ones") from None
    for f in fields:
        if f not in _FIELDS:
            raise OptionError("out_dir", f"may use {{graph}} and {{time}} only, not {{{f}}}")
    return fields


def _set(options: RunOptions, name: str, value: Any) -> None:
    object.__setattr__(options, name, value)  # normalising in __post_init__ of a frozen dataclass


def _folders(name: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, (str, bytes, os.PathLike)) or not isinstance(value, (list, tuple)):
        raise OptionError(name, f"must be a list of folder paths, not {value!r}")
    for v in value:
        if not isinstance(v, (str, os.PathLike)) or not str(v):
            raise OptionError(name, f"must be a list of folder paths, not {value!r}")
    return tuple(os.fspath(v) for v in value)


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise OptionError(name, f"must be an integer, not {value!r}")
    if value < 0:
        raise OptionError(name, f"must be >= 0, not {value!r}")
    return int(value)


def _seconds(name: str, value: Any, *, zero_ok: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise OptionError(name, f"must be a number, not {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise OptionError(name, f"must be finite, not {value!r}")
    if value < 0 or (value == 0 and not zero_ok):
        raise OptionError(name, f"must be {'>= 0' if zero_ok else '> 0'}, not {value!r}")
    return value
