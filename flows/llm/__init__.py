"""The batch LLM workload's runtime side: corpus reading, the MiniLM ops, cost calibration and the demo.

Importing this package is cheap; its modules import torch (through :mod:`hetflow.flows.llm.ops`) only when
they run.
"""

DEFAULT_DOCS = 768  # 12 batches of 64: 45-90 s end to end on 2 cores (quiet-busy), Prefect start included
DEMO_OUT_DIR = "hetflow-demo"  # where `hetflow demo` writes its outputs unless told otherwise
