"""`Cluster`: workers with a device class and a speed, joined by links with bandwidth and latency.

Cost model (DESIGN.md): a task runs on worker ``w`` in ``cost[device(w)] / speed(w)`` seconds; data
moves between two different workers in ``latency(a, b) + bytes / bandwidth(a, b)`` seconds and is free on
the same worker. Links are symmetric; pairs without a link use the cluster's defaults.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hetflow.taskgraph.errors import ClusterError, DeviceError, FormatError, brief
from hetflow.taskgraph.graph import BANDWIDTH_RANGE, MAX_LATENCY, SPEED_RANGE, TaskGraph, check_number

__all__ = ["Worker", "Cluster", "check_runnable", "natural_key"]


def natural_key(name: object) -> tuple:
    """Sort key putting ``cpu2`` before ``cpu10``: digit runs compare as numbers, the rest as text.

    Examples
    --------
    >>> sorted(["cpu10", "gpu0", "cpu2"], key=natural_key)
    ['cpu2', 'cpu10', 'gpu0']
    """
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", str(name)) if p)


@dataclass(frozen=True)
class Worker:
    """One task slot: a name, a device class (``"gpu"``, ``"cpu"``, ...) and a relative speed.

    Examples
    --------
    >>> fast = Worker("cpu0", "cpu", speed=2.0)
    >>> Cluster([fast]).exec_time({"cpu": 3.0}, "cpu0")  # cost / speed
    1.5
    """

    name: str
    device: str
    speed: float = 1.0


@dataclass(frozen=True)
class Link:
    """A symmetric network link between workers ``a`` and ``b`` (bytes per second, seconds per transfer).

    Examples
    --------
    >>> nvlink = Link("gpu0", "gpu1", bandwidth=5e10)
    >>> c = Cluster([Worker("gpu0", "gpu"), Worker("gpu1", "gpu")], bandwidth=1e9, links=[nvlink])
    >>> c.comm_time("gpu1", "gpu0", 5e9), c.link("gpu0", "gpu1")
    (0.1, (50000000000.0, 0.0))
    """

    a: str
    b: str
    bandwidth: float
    latency: float = 0.0


class Cluster:
    """Heterogeneous workers and the network between them.

    Parameters
    ----------
    workers : sequence of Worker or mappings with ``name``, ``device``, ``speed``
    bandwidth : float
        Default bytes per second between two different workers.
    latency : float
        Default seconds added to every transfer between two different workers.
    links : sequence of Link or mappings with ``a``, ``b``, ``bandwidth``, ``latency``
        Symmetric per-pair overrides.

    Examples
    --------
    >>> c = Cluster.local(gpus=1, cpus=2, bandwidth=1e9)
    >>> [w.name for w in c.workers], sorted(c.devices)
    (['gpu0', 'cpu0', 'cpu1'], ['cpu', 'gpu'])
    >>> c.comm_time("gpu0", "cpu0", 2e9), c.comm_time("cpu0", "cpu0", 2e9)
    (2.0, 0.0)
    """

    def __init__(
        self,
        workers: Sequence[Worker | Mapping[str, Any]],
        bandwidth: float = 1e9,
        latency: float = 0.0,
        links: Iterable[Link | Mapping[str, Any]] = (),
    ):
        for what, items in (("workers", workers), ("links", links)):
            if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
                raise ClusterError(f"cluster {what} must be a list, not {brief(items)}")
        self.workers: tuple[Worker, ...] = tuple(_worker(w) for w in workers)
        self.bandwidth = _bandwidth(bandwidth, "cluster bandwidth")
        self.latency = check_number(latency, "cluster latency", high=MAX_LATENCY)
        if not self.workers:
            raise ClusterError("the cluster has no workers")
        self.index: dict[str, int] = {}
        for i, w in enumerate(self.workers):
            if w.name in self.index:
                raise ClusterError(f"duplicate worker name {w.name!r}")
            self.index[w.name] = i
        self.links: dict[frozenset[str], Link] = {}
        for raw in links:
            link = _link(raw, self.latency)
            for end in (link.a, link.b):
                if end not in self.index:
                    raise ClusterError(f"link {link.a!r} - {link.b!r} names unknown worker {end!r}")
            self.links[frozenset((link.a, link.b))] = link

    # -- queries --------------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return [w.name for w in self.workers]

    @property
    def devices(self) -> set[str]:
        return {w.device for w in self.workers}

    def worker(self, name: str) -> Worker:
        try:
            return self.workers[self.index[name]]
        except KeyError:
            raise ClusterError(f"unknown worker {name!r}") from None

    def link(self, a: str, b: str) -> tuple[float, float]:
        """``(bandwidth, latency)`` between two different workers."""
        link = self.links.get(frozenset((a, b)))
        if link is None:
            return self.bandwidth, self.latency
        return link.bandwidth, link.latency

    def link_classes(self) -> tuple[list[int], dict[tuple[int, int], tuple[float, float]]]:
        """Group workers whose links to every other worker are the same; the network by exception.

        Two workers ``a`` and ``b`` share a class when ``link(a, v) == link(b, v)`` for every other worker
        ``v``. Then all pairs inside a class have one ``(bandwidth, latency)`` and all pairs across two
        classes another, so a ``classes x classes`` table describes the whole network; these classes are
        the coarsest grouping that allows it. Listed links equal to the defaults count as absent.

        Returns
        -------
        classes : list of int
            Class of each worker (in ``workers`` order), numbered by first worker.
        links : dict
            ``(class_a, class_b) -> (bandwidth, latency)`` (both orders) where a transfer between a worker
            of ``class_a`` and a *different* worker of ``class_b`` does not use the defaults.

        Time and memory are ``O(workers + links)``: without links every worker is in class 0.

        Examples
        --------
        >>> c = Cluster.local(gpus=2, cpus=2)
        >>> c.link_classes()
        ([0, 0, 0, 0], {})
        >>> nvlink = {"a": "gpu0", "b": "gpu1", "bandwidth": 5e10}
        >>> Cluster(c.workers, links=[nvlink]).link_classes()
        ([0, 0, 1, 1], {(0, 0): (50000000000.0, 0.0)})
        """
        W, default = len(self.workers), (self.bandwidth, self.latency)
        linked: list[dict[int, tuple[float, float]]] = [{} for _ in range(W)]
        for lk in self.links.values():
            a, b, value = self.index[lk.a], self.index[lk.b], (lk.bandwidth, lk.latency)
            if a != b and value != default:
                linked[a][b] = linked[b][a] = value
        parent = list(range(W))

        def root(x: int) -> int:
            while parent[x] != x:
                parent[x] = x = parent[parent[x]]
            return x

        first: dict[frozenset, int] = {}  # workers with the same listed links: not linked to each other
        for w in range(W):
            parent[w] = first.setdefault(frozenset(linked[w].items()), w)
        # workers linked to each other, with the same links to everyone else (a hash sum filters the pairs)
        sums = [sum(hash(item) for item in row.items()) for row in linked]
        for a in range(W):
            for b, value in linked[a].items():
                if b < a or sums[a] - hash((b, value)) != sums[b] - hash((a, value)) or root(a) == root(b):
                    continue
                row_a, row_b = linked[a], linked[b]
                if len(row_a) == len(row_b) and all(v == b or row_b.get(v) == x for v, x in row_a.items()):
                    parent[root(b)] = root(a)
        number: dict[int, int] = {}
        classes = [number.setdefault(root(w), len(number)) for w in range(W)]
        links = {}
        for a in range(W):
            for b, value in linked[a].items():
                links[classes[a], classes[b]] = value
        return classes, links

    def comm_time(self, a: str, b: str, nbytes: float) -> float:
        """Seconds to move ``nbytes`` from worker ``a`` to worker ``b`` (0 on the same worker)."""
        if a == b:
            return 0.0
        bandwidth, latency = self.link(a, b)
        return latency + nbytes / bandwidth

    def exec_time(self, cost: Mapping[str, float], worker: str) -> float:
        """Seconds a task with ``cost`` takes on ``worker``; ``inf`` if it cannot run there."""
        w = self.worker(worker)
        seconds = cost.get(w.device)
        return float("inf") if seconds is None else seconds / w.speed

    def without(self, names: Iterable[str]) -> Cluster:
        """The cluster with the named workers removed (e.g. after they died)."""
        gone = set(names)
        keep = [w for w in self.workers if w.name not in gone]
        if not keep:
            raise ClusterError(f"no worker is left after removing {sorted(gone)}")
        links = [lk for lk in self.links.values() if lk.a not in gone and lk.b not in gone]
        return Cluster(keep, self.bandwidth, self.latency, links)

    def __len__(self) -> int:
        return len(self.workers)

    def __repr__(self) -> str:
        counts = {d: sum(w.device == d for w in self.workers) for d in sorted(self.devices)}
        return f"Cluster({', '.join(f'{n} {d}' for d, n in counts.items())}, bandwidth={self.bandwidth:g})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cluster) and self.to_dict() == other.to_dict()

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def local(
        cls,
        gpus: int = 1,
        cpus: int = 3,
        *,
        gpu_speed: float = 1.0,
        cpu_speed: float = 1.0,
        bandwidth: float = 1e9,
        latency: float = 0.0,
    ) -> Cluster:
        """A cluster of ``gpus`` workers ``gpu0..`` and ``cpus`` workers ``cpu0..``."""
        workers = [Worker(f"gpu{i}", "gpu", gpu_speed) for i in range(gpus)]
        workers += [Worker(f"cpu{i}", "cpu", cpu_speed) for i in range(cpus)]
        return cls(workers, bandwidth=bandwidth, latency=latency)

    @classmethod
    def from_dask(cls, client: Any, **kwargs: Any) -> Cluster:
        """Discover a live Dask cluster's workers (see :func:`hetflow.taskgraph.dask_convert.cluster_from_dask`)."""
        from hetflow.taskgraph.dask_convert import cluster_from_dask

        return cluster_from_dask(client, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "workers": [{"name": w.name, "device": w.device, "speed": w.speed} for w in self.workers],
            "bandwidth": self.bandwidth,
            "latency": self.latency,
        }
        if self.links:
            data["links"] = [
                {"a": lk.a, "b": lk.b, "bandwidth": lk.bandwidth, "latency": lk.latency}
                for lk in self.links.values()
            ]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Cluster:
        if not isinstance(data, Mapping) or "workers" not in data:
            raise FormatError("cluster JSON must be an object with a 'workers' list")
        if not isinstance(data["workers"], list):
            raise FormatError("cluster 'workers' must be a list")
        links = data.get("links")
        if links is not None and not isinstance(links, list):
            raise FormatError(f"cluster 'links' must be a list, not {brief(links)}")
        return cls(
            data["workers"],
            bandwidth=data.get("bandwidth", 1e9),
            latency=data.get("latency", 0.0),
            links=links or (),
        )

    def save(self, path: str) -> None:
        with open(path, "w") as f:
            json.dump(self.to_dict(), f, indent=1)

    @classmethod
    def load(cls, path: str) -> Cluster:
        from hetflow.taskgraph.io import read_json

        return cls.from_dict(read_json(path, what="cluster"))


def _worker(raw: Worker | Mapping[str, Any]) -> Worker:
    if isinstance(raw, Worker):
        name, device, speed = raw.name, raw.device, raw.speed
    elif isinstance(raw, Mapping):
        if "name" not in raw or "device" not in raw:
            raise ClusterError(f"worker {dict(raw)!r} needs a 'name' and a 'device'")
        name, device, speed = raw["name"], raw["device"], raw.get("speed", 1.0)
    else:
        raise ClusterError(f"worker {brief(raw)} must be an object with name, device and speed")
    if not isinstance(name, str) or not name:
        raise ClusterError(f"worker name {brief(name)} must be a non-empty string")
    if not isinstance(device, str) or not device:
        raise ClusterError(f"worker {name!r} has device class {brief(device)}; it must be a non-empty string")
    low, high = SPEED_RANGE
    return Worker(name, device, check_number(speed, f"speed of worker {name!r}", positive=True, low=low, high=high))


def _bandwidth(value: Any, what: str) -> float:
    low, high = BANDWIDTH_RANGE
    return check_number(value, what, positive=True, low=low, high=high)


def _link(raw: Link | Mapping[str, Any], default_latency: float) -> Link:
    """A validated link; a mapping without ``latency`` takes the cluster's default latency."""
    if isinstance(raw, Mapping):
        try:
            a, b, bandwidth = raw["a"], raw["b"], raw["bandwidth"]
        except KeyError as missing:
            raise ClusterError(f"link {brief(dict(raw))} is missing {missing}") from None
        raw = Link(a, b, bandwidth, raw.get("latency", default_latency))
    elif not isinstance(raw, Link):
        raise ClusterError(f"link {brief(raw)} must be an object with a, b, bandwidth and latency")
    for end in (raw.a, raw.b):
        if not isinstance(end, str):
            raise ClusterError(f"link end {brief(end)} must be a worker name")
    what = f"link {raw.a!r} - {raw.b!r}"
    return Link(
        raw.a,
        raw.b,
        _bandwidth(raw.bandwidth, f"bandwidth of {what}"),
        check_number(raw.latency, f"latency of {what}", high=MAX_LATENCY),
    )


def check_runnable(graph: TaskGraph, cluster: Cluster) -> None:
    """Raise :class:`DeviceError` naming the first task that no worker of ``cluster`` can run.

    Device classes in a task's cost that no worker has are ignored, as long as one class is usable.

    Examples
    --------
    >>> g = TaskGraph(name="g"); g.add_task("emb", {"gpu": 0.5})
    >>> check_runnable(g, Cluster.local(gpus=0, cpus=2))
    Traceback (most recent call last):
    ...
    hetflow.taskgraph.errors.DeviceError: task 'emb' cannot run on any worker: it runs on gpu, the cluster has cpu
    """
    have = cluster.devices
    usable: dict[frozenset[str], bool] = {}  # few distinct sets of device classes: check each once
    for t, cost in graph.G.nodes(data="cost"):
        classes = frozenset(cost)
        ok = usable.get(classes)
        if ok is None:
            ok = usable[classes] = bool(have.intersection(classes))
        if not ok:
            raise DeviceError(
                f"task {t!r} cannot run on any worker: it runs on {', '.join(sorted(cost))}, "
                f"the cluster has {', '.join(sorted(have))}"
            )


