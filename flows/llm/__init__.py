"""The batch LLM workload's runtime side: corpus reading, the MiniLM ops, cost calibration and the demo.

Importing this package is cheap; its modules import torch (through :mod:`hetflow.flows.llm.ops`) only when
they run.
"""

from __future__ import annotations

from typing import Any

from hetflow.flows.options import RunOptions

__all__ = ["DEFAULT_DOCS", "DEMO_OUT_DIR", "demo_options"]

DEFAULT_DOCS = 768  # 12 batches of 64: 45-90 s end to end on 2 cores (quiet-busy), Prefect start included
DEMO_OUT_DIR = "hetflow-demo"  # where `hetflow demo` writes its outputs unless told otherwise


def demo_options(options: RunOptions | None = None, **overrides: Any) -> RunOptions:
    """The demo's run options: ``options`` (default: :class:`~hetflow.flows.options.RunOptions` with
    ``out_dir="hetflow-demo"`` and no dashboard) with ``overrides`` applied.

    Examples
    --------
    >>> demo_options(retries=0).out_dir, demo_options(out_dir=None).out_dir
    ('hetflow-demo', None)
    """
    base = options if options is not None else RunOptions(out_dir=DEMO_OUT_DIR, dashboard=False)
    return RunOptions.build(base, **overrides)
