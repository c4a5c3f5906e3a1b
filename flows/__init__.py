"""Run hetflow plans for real: Prefect 3 flows over a dask.distributed cluster.

Heavy modules (Prefect, Dask) load on first use, so ``import hetflow.flows`` stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["run_plan", "RunOptions", "RunRecord"]

_LAZY = {
    "run_plan": "hetflow.flows.orchestration.flow",
    "RunOptions": "hetflow.flows.options",
    "RunRecord": "hetflow.flows.orchestration.record",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from hetflow.flows.extras import import_module  # Prefect and Dask come with the run extra

        return getattr(import_module(_LAZY[name], f"hetflow.flows.{name}"), name)
    raise AttributeError(name)
