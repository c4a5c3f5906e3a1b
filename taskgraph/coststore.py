"""Costs learned from runs: per task kind and device class, ``seconds = a + b * input bytes``.

Every run of hetflow (and a plain Dask run observed through its task stream) measures each task: the
kind (``TaskGraph.kind``, a Dask key prefix for Dask graphs), the device class and speed of the worker it
ran on, its compute time and the size of its result. A :class:`CostStore` keeps, per ``(kind, device
class)``, a least-squares line of duration at speed 1 against input bytes, and per kind a line of output
bytes against input bytes. :meth:`CostStore.apply` then rewrites a graph's costs and edge bytes from those
lines before it is planned.

Graphs that carry their own cost model (hetflow's LLM job: a task's cost grows with its batch and its number of
layers, which input bytes alone do not tell) also get a second line per ``(kind, class)``: measured seconds
against the graph's own cost on that class (``a`` the per-task overhead the model misses, ``b`` its scale).
Such tasks are predicted from that line; tasks whose costs are placeholders (Dask graphs) from input bytes.

Per kind the store also keeps how much of a task's wall time was CPU time of its thread (Dask's own
``thread-cpu`` metric against the task's wall time), per device class: :meth:`CostStore.cpu_share`, near 1 for number
crunching, near 0 for a task that waits on a GPU, a disk or a sleep. Planning on workers that share too few
cores uses it (:mod:`hetflow.flows.runtime.hosts`).

Recent runs weigh more: at the start of every learned run all statistics are multiplied by
``0.5 ** (1 / half_life)`` (a run ``half_life`` runs ago counts half as much as the newest), so memory is a
handful of numbers per ``(kind, class)`` whatever the number of runs, and a store follows a machine whose
speed changes. At most ``max_kinds`` kinds are kept (the least recently seen go first).

A class never measured for a kind is estimated from a measured class of the same kind times the ratio the
graph itself gives (``cost[cpu] / cost[gpu]``): the model's relative speed-up, the measured scale. A kind
never measured at all keeps the graph's costs, unless the graph has none (Dask graphs without a cost
annotation): then it gets the mean duration of the kinds known on that class and is reported, so the
caller can warn.

The store persists as JSON (:data:`DEFAULT_PATH`: ``~/.hetflow/costs.json``, or ``$HETFLOW_COST_STORE``).
Saving is atomic and keeps the previous file as ``<name>.bak``; a file that is not a cost store of this
version is never overwritten silently — loading it raises :class:`CostStoreError`.

Examples
--------
>>> from hetflow.taskgraph import TaskGraph
>>> store = CostStore(path=None)
>>> store.learn({("embed", "cpu"): [(1e6, 2.0), (2e6, 3.0)]}, outputs={"embed": [(1e6, 4e3)]})
>>> round(store.duration("embed", "cpu", input_bytes=3e6), 6)
4.0
>>> g = TaskGraph(name="g")
>>> g.add_task("load", {"cpu": 1.0}, kind="load")
>>> g.add_task("e", {"cpu": 9.0, "gpu": 3.0}, kind="embed")
>>> g.add_edge("load", "e", bytes=2e6)
>>> applied = store.apply(g)
>>> applied.graph.cost("e")  # cpu measured; gpu scaled by the graph's own cpu/gpu ratio
{'cpu': 3.0, 'gpu': 1.0}
>>> applied.graph.cost("load"), applied.unknown_kinds  # never measured: the graph's cost stays
({'cpu': 1.0}, [])
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
from hetflow.taskgraph.errors import FormatError
from hetflow.taskgraph.graph import TaskGraph

__all__ = ["CostStore", "CostStoreError", "AppliedCosts", "default_store_path", "STORE_VERSION", "ENV_VAR"]

STORE_VERSION = 1
STORE_FORMAT = "hetflow-cost-store"
ENV_VAR = "HETFLOW_COST_STORE"
_FALLBACK_SECONDS = 0.01  # a kind nobody measured, on a class nothing was measured on


class CostStoreError(FormatError):
    """A cost store file is corrupt or from another version (it is left untouched).

    Examples
    --------
    >>> CostStore.from_dict({"format": "hetflow-cost-store", "version": 99})
    Traceback (most recent call last):
    ...
    hetflow.taskgraph.coststore.CostStoreError: cost store has version 99; this hetflow reads version 1
    """


def default_store_path() -> Path:
    """``$HETFLOW_COST_STORE``, else ``~/.hetflow/costs.json``.

    Examples
    --------
    >>> default_store_path().name
    'costs.json'
    """
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".hetflow" / "costs.json"


class _Line:
    """Weighted least-squares sufficient statistics of ``y`` against ``x``."""

    __slots__ = ("w", "sx", "sy", "sxx", "sxy", "n")

    def __init__(self, w: float = 0.0, sx: float = 0.0, sy: float = 0.0, sxx: float = 0.0, sxy: float = 0.0, n=0):
        self.w, self.sx, self.sy, self.sxx, self.sxy, self.n = w, sx, sy, sxx, sxy, int(n)

    def add(self, x: float, y: float) -> None:
        self.w += 1.0
        self.sx += x
        self.sy += y
        self.sxx += x * x
        self.sxy += x * y
        self.n += 1

    def decay(self, factor: float) -> None:
        self.w *= factor
        self.sx *= factor
        self.sy *= factor
        self.sxx *= factor
        self.sxy *= factor

    def coefficients(self) -> tuple[float, float]:
        """``(a, b)`` with ``a, b >= 0``: the fit, or a line through the origin / the mean when it is not."""
        mx, my = self.sx / self.w, self.sy / self.w
        var = self.sxx / self.w - mx * mx
        if var <= 1e-9 * max(1.0, mx * mx):  # every sample at (about) one size: the mean
            return max(my, 0.0), 0.0
        b = (self.sxy / self.w - mx * my) / var
        a = my - b * mx
        if b < 0:  # more input never takes less time (noise): the mean
            return max(my, 0.0), 0.0
        if a < 0:  # through the origin
            return 0.0, max(self.sxy / self.sxx, 0.0)
        return a, b

    def predict(self, x: float) -> float:
        a, b = self.coefficients()
        return a + b * x

    def to_list(self) -> list[float]:
        return [self.w, self.sx, self.sy, self.sxx, self.sxy, self.n]

    @classmethod
    def from_list(cls, values: Any, where: str) -> _Line:
        if not isinstance(values, list) or len(values) != 6:
            raise ValueError(f"{where}: expected 6 numbers")
        numbers = []
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"{where}: {v!r} is not a finite number")
            numbers.append(float(v))
        line = cls(*numbers[:5], n=int(numbers[5]))
        if line.w <= 0:
            raise ValueError(f"{where}: no weight")
        return line


@dataclass
class AppliedCosts:
    """What :meth:`CostStore.apply` returns.

    Attributes
    ----------
    graph : TaskGraph
        A copy of the graph with learned costs and edge bytes.
    learned : int
        Tasks whose costs come (at least partly) from measurements.
    unknown_kinds : list of str
        Kinds that had placeholder costs and nothing measured: they got a fallback.

    Examples
    --------
    >>> store = CostStore(path=None)
    >>> store.learn({("embed", "gpu"): [(0.0, 0.5)]})
    >>> g = TaskGraph(name="g"); g.add_task("e", {"gpu": 3.0}, kind="embed"); g.add_task("m", {"cpu": 1.0})
    >>> applied = store.apply(g)
    >>> applied.graph.cost("e"), applied.learned, applied.unknown_kinds, g.cost("e")  # g itself is unchanged
    ({'gpu': 0.5}, 1, [], {'gpu': 3.0})
    """

    graph: TaskGraph
    learned: int
    unknown_kinds: list[str] = field(default_factory=list)


class CostStore:
    """Learned per-kind, per-device-class costs (see the module docstring).

    Parameters
    ----------
    path : str or Path or None
        Where :meth:`save` writes (default :func:`default_store_path`); ``None`` keeps the store in memory.
    half_life : float
        Runs after which a measurement counts half.
    max_kinds : int
        Kinds kept at most (the least recently seen are dropped first).

    Examples
    --------
    >>> store = CostStore(path=None)
    >>> store.learn({("sum", "gpu"): [(0, 0.25)]})
    >>> store.duration("sum", "gpu"), store.duration("sum", "cpu")
    (0.25, None)
    """

    def __init__(self, path: str | Path | None = "default", *, half_life: float = 5.0, max_kinds: int = 5000):
        if not (half_life > 0 and math.isfinite(half_life)) or max_kinds < 1:
            raise ValueError("half_life must be > 0 and max_kinds >= 1")
        self.path = default_store_path() if path == "default" else (Path(path) if path is not None else None)
        self.half_life, self.max_kinds = float(half_life), int(max_kinds)
        self.runs = 0
        self._durations: dict[tuple[str, str], _Line] = {}
        self._models: dict[tuple[str, str], _Line] = {}  # seconds against the graph's own cost
        self._outputs: dict[str, _Line] = {}
        self._cpu: dict[tuple[str, str], _Line] = {}  # (kind, class): thread CPU seconds against wall seconds
        self._seen: dict[str, int] = {}  # kind -> the run it was last measured in

    # -- queries ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._seen)

    def __repr__(self) -> str:
        return f"CostStore({str(self.path) if self.path else None!r}, kinds={len(self)}, runs={self.runs})"

    def kinds(self) -> list[str]:
        """Kinds with at least one measurement, sorted."""
        return sorted(self._seen)

    def devices(self, kind: str) -> list[str]:
        """Device classes measured for ``kind``."""
        return sorted(d for k, d in self._durations if k == kind)

    def duration(
        self, kind: str, device: str, input_bytes: float = 0.0, model_seconds: float | None = None
    ) -> float | None:
        """Predicted seconds at speed 1, or ``None`` when ``(kind, device)`` was never measured.

        With ``model_seconds`` (the graph's own cost of the task on ``device``) the prediction comes from the
        line fitted against it, when the store has one.
        """
        if model_seconds is not None and (kind, device) in self._models:
            return self._models[(kind, device)].predict(float(model_seconds))
        line = self._durations.get((kind, device))
        return None if line is None else line.predict(float(input_bytes))

    def output_bytes(self, kind: str, input_bytes: float = 0.0) -> float | None:
        """Predicted size of a ``kind`` task's result, or ``None``."""
        line = self._outputs.get(kind)
        return None if line is None else line.predict(float(input_bytes))

    def cpu_share(self, kind: str, device: str | None = None) -> float | None:
        """The share of ``kind``'s wall time its thread spent on a CPU (0..1) on workers of class ``device``
        (default: all classes together), or None if never measured there.

        Examples
        --------
        >>> store = CostStore(path=None)
        >>> store.learn({}, cpu={("matmul", "cpu"): [(2.0, 1.0)], ("matmul", "gpu"): [(1.0, 0.9)],
        ...                      ("embed", "gpu"): [(3.0, 0.1)]})
        >>> round(store.cpu_share("matmul", "cpu"), 3), round(store.cpu_share("matmul"), 3)
        (0.5, 0.633)
        >>> round(store.cpu_share("embed"), 3), store.cpu_share("embed", "cpu"), store.cpu_share("load")
        (0.033, None, None)
        """
        if device is not None:
            lines = [self._cpu[kind, device]] if (kind, device) in self._cpu else []
        else:
            lines = [line for (k, _), line in self._cpu.items() if k == kind]
        wall = sum(line.sx for line in lines)
        if wall <= 0:
            return None
        return min(1.0, max(0.0, sum(line.sy for line in lines) / wall))

    def mean_duration(self, device: str) -> float | None:
        """Mean measured duration over the kinds known on ``device`` (the fallback for unknown kinds)."""
        values = [line.sy / line.w for (_, d), line in self._durations.items() if d == device]
        return sum(values) / len(values) if values else None

    # -- learning -----------------------------------------------------------------------------
    def learn(
        self,
        durations: Mapping[tuple[str, str], Iterable[tuple[float, ...]]],
        outputs: Mapping[str, Iterable[tuple[float, float]]] | None = None,
        cpu: Mapping[tuple[str, str], Iterable[tuple[float, float]]] | None = None,
    ) -> None:
        """Add one run's measurements (older runs are first discounted, see the module docstring).

        Parameters
        ----------
        durations : mapping ``(kind, device class)`` -> iterable of samples
            ``(input bytes, seconds at speed 1)``, or ``(input bytes, seconds, model seconds)`` where the
            graph had its own cost for the task on that class.
        outputs : mapping kind -> iterable of ``(input bytes, output bytes)``, optional
        cpu : mapping ``(kind, device class)`` -> iterable of ``(wall seconds, thread CPU seconds)``, optional
        """
        factor = 0.5 ** (1.0 / self.half_life)
        for line in (*self._durations.values(), *self._models.values(), *self._outputs.values(), *self._cpu.values()):
            line.decay(factor)
        self.runs += 1
        for (kind, device), samples in durations.items():
            key = (str(kind), str(device))
            for x, y, *model in samples:
                if _finite(x) and _finite(y):
                    self._durations.setdefault(key, _Line()).add(float(x), float(y))
                    self._seen[str(kind)] = self.runs
                    if model and model[0] is not None and _finite(model[0]):
                        self._models.setdefault(key, _Line()).add(float(model[0]), float(y))
        for kind, samples in (outputs or {}).items():
            for x, y in samples:
                if _finite(x) and _finite(y):
                    self._outputs.setdefault(str(kind), _Line()).add(float(x), float(y))
                    self._seen[str(kind)] = self.runs
        for (kind, device), samples in (cpu or {}).items():
            for wall, used in samples:
                if _finite(wall) and _finite(used) and wall > 0:
                    self._cpu.setdefault((str(kind), str(device)), _Line()).add(float(wall), float(used))
                    self._seen[str(kind)] = self.runs
        self._evict()

    def _evict(self) -> None:
        if len(self._seen) <= self.max_kinds:
            return
        keep = set(sorted(self._seen, key=lambda k: (-self._seen[k], k))[: self.max_kinds])
        self._seen = {k: r for k, r in self._seen.items() if k in keep}
        self._durations = {kd: line for kd, line in self._durations.items() if kd[0] in keep}
        self._models = {kd: line for kd, line in self._models.items() if kd[0] in keep}
        self._outputs = {k: line for k, line in self._outputs.items() if k in keep}
        self._cpu = {kd: line for kd, line in self._cpu.items() if kd[0] in keep}

    # -- planning -----------------------------------------------------------------------------
    def apply(self, graph: TaskGraph, only: Callable[[Hashable], bool] | None = None) -> AppliedCosts:
        """A copy of ``graph`` with costs and edge bytes from the store (see the module docstring).

        ``only(task)`` False keeps that task's costs and out-edge bytes (e.g. emulated tasks, whose costs are
        what they sleep).
        """
        G = nx.DiGraph(**graph.G.graph)
        G.add_nodes_from((t, dict(d, cost=dict(d["cost"]))) for t, d in graph.G.nodes(data=True))
        for v in graph.G:  # child by child: keeps each task's parent order (ops take their inputs in it)
            for u, d in graph.G.pred[v].items():
                G.add_edge(u, v, **d)
        input_bytes: dict[Hashable, float] = {}
        learned, unknown = 0, set()
        for t in graph.tasks:  # topological: a parent's output size is known before its children's
            if only is not None and not only(t):
                continue
            kind = graph.kind(t)
            node = G.nodes[t]
            x = sum(d["bytes"] for _, _, d in G.in_edges(t, data=True))
            input_bytes[t] = x
            out = self.output_bytes(kind, x)
            if out is not None:
                for _, _, d in G.out_edges(t, data=True):
                    d["bytes"] = out
            new, measured = self._costs(kind, node["cost"], x, node.get("cost_source") == "unknown")
            if measured:
                learned += 1
                node["cost_source"] = "learned"
            elif node.get("cost_source") == "unknown":
                unknown.add(kind)
            node["cost"] = new
        return AppliedCosts(TaskGraph(G, validate=True), learned, sorted(unknown))

    def _costs(
        self, kind: str, given: Mapping[str, float], x: float, placeholder: bool
    ) -> tuple[dict[str, float], bool]:
        known = {d: self.duration(kind, d, x, None if placeholder else given[d]) for d in given}
        known = {d: s for d, s in known.items() if s is not None}
        if not known:
            if not placeholder:
                return dict(given), False
            return {d: self.mean_duration(d) or _FALLBACK_SECONDS for d in given}, False
        out = {}
        for d, seconds in given.items():
            if d in known:
                out[d] = known[d]
            elif not placeholder:  # the graph's relative speed, the measured scale
                ratios = [known[m] * seconds / given[m] for m in known if given[m] > 0]
                out[d] = sum(ratios) / len(ratios) if ratios else seconds
            else:  # a Dask task seen on one class only: assume the same time elsewhere
                out[d] = sum(known.values()) / len(known)
        return out, True

    # -- files --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``format``, ``version``, the fitted statistics)."""
        return {
            "format": STORE_FORMAT,
            "version": STORE_VERSION,
            "half_life": self.half_life,
            "runs": self.runs,
            "durations": [
                {"kind": k, "device": d, "stats": line.to_list()}
                | ({"model_stats": self._models[(k, d)].to_list()} if (k, d) in self._models else {})
                for (k, d), line in sorted(self._durations.items())
            ],
            "outputs": [{"kind": k, "stats": line.to_list()} for k, line in sorted(self._outputs.items())],
            "cpu": [{"kind": k, "device": d, "stats": line.to_list()} for (k, d), line in sorted(self._cpu.items())],
            "seen": dict(sorted(self._seen.items())),
        }

    @classmethod
    def from_dict(cls, data: Any, *, path: str | Path | None = None, where: str = "cost store") -> CostStore:
        """Read :meth:`to_dict`'s form; :class:`CostStoreError` names what is wrong."""
        if not isinstance(data, Mapping) or data.get("format") != STORE_FORMAT:
            raise CostStoreError(f"{where} is not a hetflow cost store (no \"format\": \"{STORE_FORMAT}\")")
        if data.get("version") != STORE_VERSION:
            raise CostStoreError(
                f"{where} has version {data.get('version')!r}; this hetflow reads version {STORE_VERSION}"
            )
        try:
            store = cls(path=path, half_life=float(data.get("half_life", 5.0)))
            store.runs = int(data.get("runs", 0))
            for row in data["durations"]:
                key = (str(row["kind"]), str(row["device"]))
                store._durations[key] = _Line.from_list(row["stats"], where)
                if "model_stats" in row:
                    store._models[key] = _Line.from_list(row["model_stats"], where)
            for row in data["outputs"]:
                store._outputs[str(row["kind"])] = _Line.from_list(row["stats"], where)
            for row in data.get("cpu", ()):  # absent in stores written before it was learned
                store._cpu[(str(row["kind"]), str(row["device"]))] = _Line.from_list(row["stats"], where)
            store._seen = {str(k): int(v) for k, v in dict(data["seen"]).items()}
        except (KeyError, TypeError, ValueError, OverflowError) as e:
            raise CostStoreError(f"{where} is corrupt: {type(e).__name__}: {e}") from None
        return store

    @classmethod
    def load(cls, path: str | Path | None = "default", **kwargs: Any) -> CostStore:
        """The store at ``path`` (an empty one if the file does not exist yet)."""
        target = default_store_path() if path == "default" else Path(path) if path is not None else None
        if target is None or not target.exists():
            return cls(path=target, **kwargs)
        try:
            text = target.read_text()
            data = json.loads(text)
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
            raise CostStoreError(f"cost store {str(target)!r} cannot be read: {type(e).__name__}: {e}") from None
        return cls.from_dict(data, path=target, where=f"cost store {str(target)!r}")

    def save(self, path: str | Path | None = None) -> Path:
        """Write the store atomically; the previous file is kept as ``<name>.bak``."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ValueError("this cost store has no path; pass one to save()")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1))
        if target.exists():
            shutil.copy2(target, target.with_name(target.name + ".bak"))
        os.replace(tmp, target)
        return target


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x >= 0
