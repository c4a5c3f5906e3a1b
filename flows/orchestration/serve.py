"""Scheduled pipelines: the flow :func:`run_graph_file` deployed on a cron schedule against a Prefect server.

``run_plan`` takes Python objects; a deployment needs JSON parameters, so :func:`run_graph_file` takes
file paths (graph, cluster) or a scheduler address and returns the run's summary (JSON-able).

Typical use (a long-running process next to ``prefect server start``)::

    export PREFECT_API_URL=http://127.0.0.1:4200/api
    hetflow serve graph.json --cluster cluster.json --cron "0 2 * * *" --name nightly

or in Python::

    from hetflow.flows.orchestration.serve import run_graph_file
    run_graph_file.serve(name="nightly", cron="0 2 * * *",
                         parameters={"graph": "/abs/graph.json", "options": {"solver": "heft"}})

``deployment(...)`` builds the same deployment without serving it (``.apply()`` registers it; a served
process or a worker then runs it; ``prefect deployment run hetflow-run-file/nightly`` triggers a run).
"""

from __future__ import annotations

import os
from typing import Any

from hetflow.flows.options import RunOptions
from hetflow.flows.orchestration.flow import run_plan
from hetflow.flows.runtime.trust import confine_paths
from hetflow.taskgraph import Cluster, load_graph
from hetflow.taskgraph.errors import InvalidInput
from prefect import flow
from prefect import serve as prefect_serve
from prefect.deployments.runner import EntrypointType

__all__ = ["run_graph_file", "deployment", "serve", "FLOW_NAME"]

FLOW_NAME = "hetflow-run-file"


@flow(name=FLOW_NAME, log_prints=True)
def run_graph_file(
    graph: str,
    cluster: str | None = None,
    address: str | None = None,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Load ``graph`` (and ``cluster``), run :func:`~hetflow.flows.run_plan` as a subflow, return its summary.

    ``cluster`` is a cluster JSON path (embedded Dask cluster); ``address`` a running scheduler. Without
    either, the embedded default cluster (1 GPU + 3 CPU workers) is used. ``options`` are
    :class:`~hetflow.flows.options.RunOptions` by name (JSON), e.g. ``{"solver": "heft", "time_scale": 0.1}``.
    """
    run_options = RunOptions.build(options)
    record = run_plan(
        load_graph(graph), cluster=Cluster.load(cluster) if cluster else None, address=address, options=run_options
    )
    return record.summary()


def _parameters(graph: str, cluster: str | None, address: str | None, options: RunOptions) -> dict[str, Any]:
    if cluster and address:
        raise InvalidInput("give a cluster file or a scheduler address, not both")
    params: dict[str, Any] = {"graph": os.path.abspath(graph)}  # runs start in another process and cwd
    if cluster:
        params["cluster"] = os.path.abspath(cluster)
    if address:
        params["address"] = address
    if options.out_dir is not None:
        options = RunOptions.build(options, out_dir=os.path.abspath(options.out_dir))
    options = RunOptions.build(options, data_dirs=[os.path.abspath(d) for d in options.data_dirs])
    params["options"] = options.to_dict()
    return params


def deployment(
    graph: str,
    *,
    cron: str,
    name: str = "scheduled",
    cluster: str | None = None,
    address: str | None = None,
    options: RunOptions | None = None,
    **overrides: Any,
) -> Any:
    """A ``RunnerDeployment`` of :func:`run_graph_file` on a cron schedule (call ``.apply()`` to register).

    ``options`` (and ``overrides`` by name: ``solver``, ``time_scale``, ``emulate``, ...) are validated now and
    stored with the deployment as its ``options`` parameter. The entrypoint is the module path
    ``hetflow.flows.orchestration.serve.run_graph_file``, so runs work from any directory where hetflow is
    importable.
    """
    options = RunOptions.build(options, **overrides)
    confine_paths(load_graph(graph), options)  # fail now on a bad file or file path, not at 2 a.m.
    return run_graph_file.to_deployment(
        name=name,
        cron=cron,
        parameters=_parameters(graph, cluster, address, options),
        description=f"hetflow: plan and run {os.path.basename(graph)} on cron {cron!r}",
        entrypoint_type=EntrypointType.MODULE_PATH,
    )


def serve(graph: str, *, cron: str, name: str = "scheduled", limit: int | None = 1, **kwargs: Any) -> None:
    """Register the cron deployment and run its flow runs in this process until interrupted."""
    prefect_serve(deployment(graph, cron=cron, name=name, **kwargs), limit=limit)
