"""Discover a live dask.distributed cluster as a hetflow :class:`~hetflow.taskgraph.Cluster`.

Conventions (what a Dask worker must advertise to be planned well):

* **Device class** — a worker with a Dask resource ``GPU > 0`` offers ``gpu`` slots, every other thread
  slot is ``cpu``. The ``gpu`` class is only a Dask resource: on a CPU-only machine a worker started with
  ``resources={"GPU": 1}`` plays the GPU.
* **Slots** — one planned worker per Dask thread slot. A worker with ``nthreads=1`` is one planned worker
  named like the Dask worker (``gpu0``, ``cpu1``, ...). A worker with ``nthreads=n`` and ``GPU=g`` gives
  ``min(g, n)`` slots ``<name>-gpu<i>`` and ``n - min(g, n)`` slots ``<name>-cpu<j>``; the executor then
  requests ``GPU=1`` for tasks on its gpu slots so Dask runs at most ``g`` of them at once.
* **Speed** — the Dask resource ``SPEED`` (e.g. ``resources={"GPU": 1, "SPEED": 2.0}``; no task ever
  requests it), else a ``@<speed>`` suffix of the worker name (``cpu3@1.5``), else 1.0.
* Workers without a name are named by their address. Slots are listed GPU workers first, then by name.

Network: Dask does not expose link speeds, so the caller gives the default ``bandwidth``/``latency``;
:func:`measured_bandwidth` reads the running estimate Dask's scheduler keeps from the transfers it has seen
(what its own placement decisions assume).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hetflow.taskgraph.cluster import Cluster, Worker, natural_key
from hetflow.taskgraph.errors import ClusterError

__all__ = ["DaskSlot", "dask_slots", "cluster_from_dask", "measured_bandwidth", "GPU_RESOURCE", "SPEED_RESOURCE"]

GPU_RESOURCE = "GPU"
SPEED_RESOURCE = "SPEED"
_SPEED_SUFFIX = re.compile(r"@(\d+(?:\.\d*)?|\.\d+)$")


@dataclass(frozen=True)
class DaskSlot:
    """One planned worker and where it lives in Dask.

    Attributes
    ----------
    worker : Worker
        The planned worker (name, device class, speed).
    address : str
        Address of the Dask worker that hosts the slot (what tasks are pinned to).
    dask_name : str
        The Dask worker's name.
    shared : bool
        True when the Dask worker hosts more than one slot (then gpu tasks request ``GPU=1``).

    Examples
    --------
    >>> info = {"workers": {"tcp://10.0.0.5:4000": {"name": "box", "nthreads": 2, "resources": {"GPU": 1}}}}
    >>> [(s.worker.name, s.dask_name, s.shared) for s in dask_slots(info)]
    [('box-gpu0', 'box', True), ('box-cpu0', 'box', True)]
    """

    worker: Worker
    address: str
    dask_name: str
    shared: bool = False


def _worker_infos(client_or_info: Any) -> Mapping[str, Mapping[str, Any]]:
    if isinstance(client_or_info, Mapping):
        info = client_or_info
    else:
        info = client_or_info.scheduler_info(n_workers=-1)
    workers = info.get("workers", info) if isinstance(info, Mapping) else None
    if not isinstance(workers, Mapping):
        raise ClusterError("scheduler info has no 'workers' mapping")
    return workers


def _speed(name: str, resources: Mapping[str, float]) -> float:
    raw: Any = resources.get(SPEED_RESOURCE, resources.get(SPEED_RESOURCE.lower()))
    if raw is None:
        match = _SPEED_SUFFIX.search(name)
        raw = match.group(1) if match else 1.0
    speed = float(raw)
    if not math.isfinite(speed) or speed <= 0:
        raise ClusterError(f"Dask worker {name!r} advertises speed {raw!r}; it must be > 0")
    return speed


def dask_slots(client_or_info: Any) -> list[DaskSlot]:
    """The planned workers of a live Dask cluster and the addresses that host them.

    Parameters
    ----------
    client_or_info : distributed.Client or dict
        A connected client, or the dict returned by ``client.scheduler_info(n_workers=-1)``.

    Examples
    --------
    >>> info = {"workers": {
    ...     "tcp://127.0.0.1:1": {"name": "gpu0", "nthreads": 1, "resources": {"GPU": 1}},
    ...     "tcp://127.0.0.1:2": {"name": "cpu0", "nthreads": 1, "resources": {"SPEED": 2}},
    ...     "tcp://127.0.0.1:3": {"name": "big", "nthreads": 3, "resources": {"GPU": 1}}}}
    >>> [(s.worker.name, s.worker.device, s.worker.speed, s.address[-1]) for s in dask_slots(info)]
    ... # doctest: +NORMALIZE_WHITESPACE
    [('big-gpu0', 'gpu', 1.0, '3'), ('big-cpu0', 'cpu', 1.0, '3'), ('big-cpu1', 'cpu', 1.0, '3'),
     ('gpu0', 'gpu', 1.0, '1'), ('cpu0', 'cpu', 2.0, '2')]
    """
    rows = []
    for address, w in _worker_infos(client_or_info).items():
        name = w.get("name")
        name = address if name is None or name == "" else str(name)
        resources = dict(w.get("resources") or {})
        nthreads = int(w.get("nthreads") or 1)
        gpus = resources.get(GPU_RESOURCE, 0) or 0
        n_gpu = min(nthreads, max(1, int(gpus))) if gpus > 0 else 0
        rows.append((n_gpu == 0, natural_key(name), name, address, nthreads, n_gpu, _speed(name, resources)))
    slots: list[DaskSlot] = []
    for *_, name, address, nthreads, n_gpu, speed in sorted(rows):
        if nthreads == 1:
            device = "gpu" if n_gpu else "cpu"
            slots.append(DaskSlot(Worker(name, device, speed), address, name))
            continue
        for i in range(n_gpu):
            slots.append(DaskSlot(Worker(f"{name}-gpu{i}", "gpu", speed), address, name, shared=True))
        for j in range(nthreads - n_gpu):
            slots.append(DaskSlot(Worker(f"{name}-cpu{j}", "cpu", speed), address, name, shared=True))
    if not slots:
        raise ClusterError("the Dask cluster has no workers")
    seen: set[str] = set()
    for s in slots:
        if s.worker.name in seen:
            raise ClusterError(f"two Dask worker slots are both named {s.worker.name!r}; give workers unique names")
        seen.add(s.worker.name)
    return slots


def cluster_from_dask(client: Any, bandwidth: float = 1e9, latency: float = 0.0) -> Cluster:
    """A :class:`Cluster` with one planned worker per thread slot of a live Dask cluster.

    Parameters
    ----------
    client : distributed.Client or dict
        A connected client (or its ``scheduler_info(n_workers=-1)`` dict).
    bandwidth, latency : float
        Network model between different workers (Dask does not measure it up front).

    Returns
    -------
    Cluster
        Workers as described in this module's docstring; :func:`dask_slots` gives their addresses.

    Examples
    --------
    With a live cluster, ``cluster_from_dask(client)``; its ``scheduler_info`` dict works the same:

    >>> info = {"workers": {"tcp://127.0.0.1:1": {"name": "gpu0", "nthreads": 1, "resources": {"GPU": 1}},
    ...                     "tcp://127.0.0.1:2": {"name": "cpu0@1.5", "nthreads": 1}}}
    >>> c = cluster_from_dask(info, bandwidth=1e10)
    >>> [(w.name, w.device, w.speed) for w in c.workers], c.bandwidth
    ([('gpu0', 'gpu', 1.0), ('cpu0@1.5', 'cpu', 1.5)], 10000000000.0)
    """
    return Cluster([s.worker for s in dask_slots(client)], bandwidth=bandwidth, latency=latency)


def measured_bandwidth(client: Any) -> float | None:
    """Dask's own estimate of the bandwidth between its workers, bytes/s (None if it cannot be read).

    The scheduler starts from the ``distributed.scheduler.bandwidth`` setting (100 MB/s by default) and
    moves it towards the bandwidth the workers measure on every transfer; its work stealing and
    ``decide_worker`` price transfers with it. Planning with the same number keeps hetflow's transfer
    costs as honest as Dask's (an assumed 1 GB/s between worker processes that share two cores made
    plans move 5 MB blocks as if they were free).

    Examples
    --------
    With a live cluster, ``measured_bandwidth(client)`` (e.g. ``2.1e8`` between worker processes on one
    machine); anything that cannot answer gives None:

    >>> measured_bandwidth({"workers": {}}) is None
    True
    """
    try:
        value = client.run_on_scheduler(_scheduler_bandwidth)
    except Exception:  # noqa: BLE001 - a dict, an older scheduler, a closed client: no estimate
        return None
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) and value > 0 else None


def _scheduler_bandwidth(dask_scheduler: Any) -> float:
    return dask_scheduler.bandwidth
