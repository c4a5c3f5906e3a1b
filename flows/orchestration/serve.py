"""Scheduled pipelines: the flow :func:`run_graph_file` deployed on a cron schedule against a Prefect server.

``run_plan`` takes Python objects; a deployment needs JSON parameters, so :func:`run_graph_file` takes
file paths (graph, cluster) or a scheduler address and returns the run's summary (JSON-able).

Typical use (a long-running process next to ``prefect server start``)::

    export PREFECT_API_URL=http://127.0.0.1:4200/api
    hetflow serve graph.json --cluster cluster.json --cron "0 2 * * *" --name nightly

or in Python::

    from hetflow.flows.orchestration.serve import run_graph_file
    run_graph_file.serve(name="nightly", cron="0 2 * * *", parameters={"graph": "/abs/graph.json", ...})

``deployment(...)`` builds the same deployment without serving it (``.apply()`` registers it; a served
process or a worker then runs it; ``prefect deployment run hetflow-run-file/nightly`` triggers a run).
"""

from __future__ import annotations

import os
from typing import Any

from prefect import flow

__all__ = ["run_graph_file", "deployment", "serve", "FLOW_NAME"]

FLOW_NAME = "hetflow-run-file"


@flow(name=FLOW_NAME, log_prints=True)
def run_graph_file(
    graph: str,
    cluster: str | None = None,
    address: str | None = None,
    solver: str = "dp",
    seed: int = 0,
    retries: int = 2,
    retry_delay: float = 0.0,
    time_scale: float = 1.0,
    emulate: bool = False,
    out_dir: str | None = None,
) -> dict[str, Any]:
    """Load ``graph`` (and ``cluster``), run :func:`~hetflow.flows.run_plan` as a subflow, return its summary.

    ``cluster`` is a cluster JSON path (embedded Dask cluster); ``address`` a running scheduler. Without
    either, the embedded default cluster (1 GPU + 3 CPU workers) is used.
    """
    from hetflow.flows.orchestration.flow import run_plan
    from hetflow.taskgraph import Cluster, load_graph

    record = run_plan(
        load_graph(graph),
        cluster=Cluster.load(cluster) if cluster else None,
        address=address,
        solver=solver,
        seed=seed,
        retries=retries,
        retry_delay=retry_delay,
        time_scale=time_scale,
        emulate=emulate,
        out_dir=out_dir,
    )
    return record.summary()


def _parameters(graph: str, cluster: str | None, address: str | None, **options: Any) -> dict[str, Any]:
    from hetflow.taskgraph.errors import InvalidInput

    if cluster and address:
        raise InvalidInput("give a cluster file or a scheduler address, not both")
    params: dict[str, Any] = {"graph": os.path.abspath(graph)}  # runs start in another process and cwd
    if cluster:
        params["cluster"] = os.path.abspath(cluster)
    if address:
        params["address"] = address
    params.update({k: v for k, v in options.items() if v is not None})
    return params


def deployment(
    graph: str,
    *,
    cron: str,
    name: str = "scheduled",
    cluster: str | None = None,
    address: str | None = None,
    **options: Any,
) -> Any:
    """A ``RunnerDeployment`` of :func:`run_graph_file` on a cron schedule (call ``.apply()`` to register).

    ``options`` are further flow parameters (``solver``, ``time_scale``, ``emulate``, ...). The entrypoint
    is the module path ``hetflow.flows.orchestration.serve.run_graph_file``, so runs work from any directory
    where hetflow is importable.
    """
    from hetflow.taskgraph import load_graph
    from prefect.deployments.runner import EntrypointType

    load_graph(graph)  # fail now on a bad file, not at 2 a.m.
    return run_graph_file.to_deployment(
        name=name,
        cron=cron,
        parameters=_parameters(graph, cluster, address, **options),
        description=f"hetflow: plan and run {os.path.basename(graph)} on cron {cron!r}",
        entrypoint_type=EntrypointType.MODULE_PATH,
    )


def serve(graph: str, *, cron: str, name: str = "scheduled", limit: int | None = 1, **kwargs: Any) -> None:
    """Register the cron deployment and run its flow runs in this process until interrupted."""
    from prefect import serve as prefect_serve

    prefect_serve(deployment(graph, cron=cron, name=name, **kwargs), limit=limit)
