"""Dask clusters for hetflow: an embedded cluster shaped like a plan's :class:`~hetflow.taskgraph.Cluster`, or a
connection to a running scheduler, plus the map from planned workers to Dask addresses.

The embedded cluster has one Dask worker *process* per planned worker (so a worker can be killed by its
pid), named like the planned worker, with ``nthreads=1`` and the device class as a Dask resource
(``GPU=1`` for ``gpu`` workers, ``CPU=1`` for ``cpu`` ones; ``SPEED=s`` when the speed is not 1). That is
exactly what :func:`hetflow.taskgraph.dask_convert.cluster_from_dask` reads back, so discovery round-trips.

Every server of the embedded cluster — the scheduler, each nanny and worker, and their HTTP servers (the
dashboard, or ``/health`` and ``/metrics`` without it) — listens on ``host``, the loopback interface
``127.0.0.1`` unless the caller names another (``hetflow run --host 0.0.0.0`` exposes them on every interface).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from distributed import Client, Nanny, Scheduler, SpecCluster, Worker
from hetflow.flows.logs import quiet_close
from hetflow.flows.options import RunOptions
from hetflow.taskgraph import Cluster
from hetflow.taskgraph.dask_convert import GPU_RESOURCE, SPEED_RESOURCE, DaskSlot, cluster_from_dask, dask_slots
from hetflow.taskgraph.errors import ClusterError

__all__ = [
    "LOOPBACK",
    "bind_address",
    "worker_resources",
    "start_local_cluster",
    "DaskSession",
    "open_session",
    "open_session_for",
    "session",
    "slot_map",
    "worker_pids",
]


LOOPBACK = "127.0.0.1"


def bind_address(address: str | None, host: str) -> str:
    """``address`` with ``host`` filled in when it names only a port (``":0"``, ``":8787"``; ``None`` is ``":0"``).

    Dask would listen on every interface for an address without a host.

    Examples
    --------
    >>> bind_address(":0", "127.0.0.1"), bind_address(None, "127.0.0.1"), bind_address("0.0.0.0:8787", "127.0.0.1")
    ('127.0.0.1:0', '127.0.0.1:0', '0.0.0.0:8787')
    """
    text = ":0" if address is None else str(address)
    if text.startswith(":") or text.isdigit():
        return f"{host}:{int(text.lstrip(':') or 0)}"
    return text


def worker_resources(device: str, speed: float = 1.0) -> dict[str, float]:
    """Dask resources advertising a planned worker's device class and speed."""
    resources = {GPU_RESOURCE: 1.0} if device == "gpu" else {device.upper(): 1.0}
    if speed != 1.0:
        resources[SPEED_RESOURCE] = float(speed)
    return resources


def start_local_cluster(
    cluster: Cluster,
    *,
    processes: bool = True,
    dashboard_address: str | None = ":0",
    host: str = LOOPBACK,
    silence_logs: int | bool = logging.ERROR,
    worker_options: dict[str, Any] | None = None,
) -> Any:
    """Start a ``distributed.SpecCluster`` with one single-thread worker per planned worker.

    Parameters
    ----------
    cluster : Cluster
        The planned workers; Dask worker ``name`` = planned worker name.
    processes : bool
        One process per worker (``Nanny``) — needed to kill a worker by pid. False runs threads in this
        process (faster to start, for small tests).
    dashboard_address : str or None
        Where the Bokeh dashboard listens (``":0"``: a free port on ``host``; ``None``: no dashboard, the
        scheduler's HTTP server still serves ``/health`` and ``/metrics`` on a free port of ``host``).
    host : str
        Interface (IPv4 address or host name) every server listens on: the scheduler, the nannies, the
        workers and their HTTP servers. Loopback by default; ``"0.0.0.0"`` exposes them on every interface.
    silence_logs : int or bool
        Log level for Dask's loggers (``False`` leaves them alone).
    worker_options : dict, optional
        Extra keyword arguments for every worker (e.g. ``memory_limit``).

    Returns
    -------
    distributed.SpecCluster
        Use as a context manager or call ``close()``.
    """
    http = bind_address(dashboard_address, host)
    scheduler_options: dict[str, Any] = {"host": host, "port": 0, "dashboard_address": http}
    if dashboard_address is None:  # the HTTP server (health, metrics) still runs, on a free port
        scheduler_options["dashboard"] = False
    workers = {}
    for w in cluster.workers:
        options = {
            "name": w.name,
            "nthreads": 1,
            "resources": worker_resources(w.device, w.speed),
            "host": host,
            "dashboard_address": bind_address(":0", host),  # the worker's HTTP server
            "memory_limit": 0,
            **(worker_options or {}),
        }
        if processes:
            options.setdefault("silence_logs", silence_logs)
        workers[w.name] = {"cls": Nanny if processes else Worker, "options": options}
    return SpecCluster(
        workers=workers,
        scheduler={"cls": Scheduler, "options": scheduler_options},
        silence_logs=silence_logs,
        name=f"hetflow-{len(cluster)}w",
    )


def slot_map(client: Any) -> dict[str, DaskSlot]:
    """Planned worker name -> :class:`DaskSlot` of the live cluster behind ``client``."""
    return {s.worker.name: s for s in dask_slots(client)}


@dataclass
class DaskSession:
    """A connected client, the planned cluster it serves and the planned-name -> address map."""

    client: Any
    cluster: Cluster
    slots: dict[str, DaskSlot]
    local_cluster: Any = None

    @property
    def dashboard_link(self) -> str | None:
        """The Bokeh dashboard URL, or None when the scheduler has none."""
        try:
            services = self.client.scheduler_info(n_workers=0).get("services", {})
        except Exception:  # pragma: no cover - scheduler gone
            return None
        return self.client.dashboard_link if "dashboard" in services else None

    def close(self, quiet: bool = True) -> None:
        """Close the client, then the cluster this session started (its workers retire before the scheduler
        stops). ``quiet``: Dask's console lines below CRITICAL are dropped meanwhile (comms closing under a
        pending read log ``CommClosedError`` tracebacks that say nothing about the run). A client that lost
        its scheduler always closes quietly: the loss was reported, and Dask would log its cancelled
        reconnect with a traceback."""
        lost = self.client.status not in ("running", "closed")
        with quiet_close() if quiet or lost else contextlib.nullcontext():
            self.client.close()
            if self.local_cluster is not None:
                self.local_cluster.close()


def open_session(
    cluster: Cluster | None = None,
    address: str | None = None,
    *,
    client: Any = None,
    dashboard_address: str | None = ":0",
    processes: bool = True,
    timeout: float = 60.0,
    host: str = LOOPBACK,
) -> DaskSession:
    """Connect to a Dask cluster and describe it as a planned :class:`Cluster`.

    Exactly one way in: an existing ``client``, a scheduler ``address`` (``tcp://host:port``), or neither,
    which starts an embedded cluster shaped like ``cluster`` (default ``Cluster.local(1, 3)``). With a
    client or an address the planned workers are discovered (:func:`cluster_from_dask`); ``cluster``
    then only lends its ``bandwidth``/``latency`` and its ``links`` between workers of the same names (so a
    cluster started from a file and handed over as a client is planned as the file says). An embedded
    cluster listens on ``host`` (loopback by default, see :func:`start_local_cluster`).

    Raises
    ------
    ClusterError
        The scheduler cannot be reached, or an embedded cluster does not come up with every worker.
    """
    local = None
    if client is None and address is None:
        cluster = cluster if cluster is not None else Cluster.local(gpus=1, cpus=3)
        local = start_local_cluster(cluster, dashboard_address=dashboard_address, processes=processes, host=host)
        client = Client(local, set_as_default=False)
        try:
            client.wait_for_workers(len(cluster), timeout=timeout)
        except Exception as e:
            client.close()
            local.close()
            raise ClusterError(f"the embedded Dask cluster did not start {len(cluster)} workers: {e}") from None
    elif client is None:
        try:
            client = Client(address, timeout=timeout, set_as_default=False)
        except OSError as e:
            raise ClusterError(f"cannot connect to the Dask scheduler at {address!r}: {e}") from None
    if local is None:
        bandwidth = cluster.bandwidth if cluster is not None else 1e9
        latency = cluster.latency if cluster is not None else 0.0
        found = cluster_from_dask(client, bandwidth=bandwidth, latency=latency)
        names = set(found.names)
        links = [lk for lk in (cluster.links.values() if cluster is not None else ()) if {lk.a, lk.b} <= names]
        cluster = Cluster(found.workers, bandwidth, latency, links) if links else found
    slots = slot_map(client)
    missing = [name for name in cluster.names if name not in slots]
    if missing:
        raise ClusterError(f"planned worker {missing[0]!r} has no Dask worker of that name")
    return DaskSession(client, cluster, slots, local)


def open_session_for(
    options: RunOptions, cluster: Cluster | None = None, address: str | None = None, *, client: Any = None
) -> DaskSession:
    """:func:`open_session` with the connection settings of ``options`` (dashboard, connect timeout, host).

    What a run uses (:func:`hetflow.flows.orchestration.flow.run_plan`) and what ``hetflow run`` uses when it
    starts the embedded cluster itself, to print the dashboard link while it is live and to keep it open.
    """
    dashboard_address = ":0" if options.dashboard else None
    return open_session(cluster, address, client=client, dashboard_address=dashboard_address,
                        timeout=options.connect_timeout, host=options.host)  # fmt: skip


@contextmanager
def session(*args: Any, **kwargs: Any) -> Iterator[DaskSession]:
    """:func:`open_session` as a context manager; closes what it opened (not a client passed in)."""
    own_client = kwargs.get("client") is None
    s = open_session(*args, **kwargs)
    try:
        yield s
    finally:
        if own_client:
            s.close()


def worker_pids(client: Any) -> dict[str, int]:
    """Dask worker name -> pid of its process (to kill one in fault drills)."""
    pids = client.run(os.getpid)
    names = {addr: str(w.get("name", addr)) for addr, w in client.scheduler_info(n_workers=-1)["workers"].items()}
    return {names.get(addr, addr): pid for addr, pid in pids.items()}
