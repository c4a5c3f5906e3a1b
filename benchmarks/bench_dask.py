"""hetflow.compute vs dask.compute on the shapes of Dask's own issues, on the embedded cluster.

One table, every variant in one run, on embedded LocalClusters of one GPU-class worker (``GPU=1``; on a
machine without CUDA it is a CPU process that plays the GPU) plus 3 and plus 7 CPU workers:

(a) ``resources``  — dask/distributed#8177: independent tasks, GPU-friendly ones annotated
    ``resources={"GPU": 1}`` and CPU-only ones ``resources={"CPU": 1}`` (what a Dask user writes to keep
    each kind on its workers); Dask piles resource-restricted tasks up.
(b) ``overproduce`` — #9164: many cheap CPU tokenize tasks, each producing a 2 MB array, feeding a slow
    GPU-only embed stage; Dask runs the unrestricted roots as fast as it can and holds their outputs.
(c) ``llm-bag`` — the batch LLM job written as plain dask.bag + delayed code: preprocess (CPU) → embed
    (much faster on the GPU class) → score → a merge tree.
(d) ``array`` — a homogeneous dask.array workload (blocked matmul + reduction), no annotations: Dask is
    already good here; hetflow must not be worse.
(e) ``overhead`` — 5,000 zero-length delayed tasks: (hetflow - Dask) / 5,000 per task.

Device-dependent work is emulated: a task sleeps its cost for the class of the worker it runs on (the
``GPU`` resource of that worker) and returns a real array of its output size, so transfers and memory
are real. Each variant runs once to warm up (hetflow learns its costs there, into a private cost store),
then ``--repeats`` times; the table shows the median makespan, hetflow/Dask, the peak of bytes held on
the cluster (the scheduler's ``WorkerState.nbytes``, sampled every 10 ms) and whether the results equal.

Run: ``python benchmarks/bench_dask.py [--repeats 3] [--clusters 1x3,1x7] [--shapes a,b,c,d,e]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd


# -- emulated work (runs on the workers; defined here and shipped by value) -------------------------
def _on_gpu() -> bool:
    from distributed import get_worker

    try:
        return get_worker().state.total_resources.get("GPU", 0) > 0
    except ValueError:
        return False


def work(cpu: float, gpu: float | None, out_bytes: int, *inputs: Any) -> np.ndarray:
    """Sleep the cost of this worker's class; return ``out_bytes`` of data derived from the inputs."""
    seconds = gpu if (gpu is not None and _on_gpu()) else cpu
    time.sleep(seconds)
    seed = sum(int(np.asarray(x).ravel()[:1].sum()) if np.size(x) else 0 for x in inputs) % 251
    return np.full(max(out_bytes // 8, 1), seed, dtype=np.int64)


def total(*arrays: Any) -> int:
    return int(sum(int(np.asarray(a).sum()) for a in arrays))


# one function per stage, as real pipelines have: the key prefix (the task kind) is the function's name
def gpu_friendly(*args: Any) -> np.ndarray:
    return work(*args)


def cpu_only(*args: Any) -> np.ndarray:
    return work(*args)


def tokenize(*args: Any) -> np.ndarray:
    return work(*args)


def embed(*args: Any) -> np.ndarray:
    return work(*args)


def preprocess(part: Any, cpu: float, gpu: float | None, out_bytes: int) -> np.ndarray:
    return work(cpu, gpu, out_bytes, *part)


def embed_batch(part: Any, cpu: float, gpu: float | None, out_bytes: int) -> np.ndarray:
    return work(cpu, gpu, out_bytes, part)


def score(part: Any, cpu: float, gpu: float | None, out_bytes: int) -> np.ndarray:
    return work(cpu, gpu, out_bytes, part)


def merge(*args: Any) -> np.ndarray:
    return work(*args)


# -- workloads: (collections for hetflow/dask) --------------------------------------------------------
def shape_resources(scale: float) -> Any:
    import dask

    tasks = []
    for i in range(24):
        if i % 2:
            with dask.annotate(resources={"GPU": 1}):
                tasks.append(dask.delayed(gpu_friendly, pure=True)(0.4 * scale, 0.05 * scale, 8_000, i))
        else:
            with dask.annotate(resources={"CPU": 1}):
                tasks.append(dask.delayed(cpu_only, pure=True)(0.15 * scale, None, 8_000, i))
    return dask.delayed(total, pure=True)(*tasks)


def shape_overproduce(scale: float) -> Any:
    import dask

    out = []
    for i in range(48):
        tok = dask.delayed(tokenize, pure=True)(0.01 * scale, None, 2_000_000, i)
        with dask.annotate(resources={"GPU": 1}):
            out.append(dask.delayed(embed, pure=True)(1.0 * scale, 0.06 * scale, 8_000, tok))
    return dask.delayed(total, pure=True)(*out)


def shape_llm_bag(scale: float) -> Any:
    import dask
    import dask.bag as db

    docs = db.from_sequence(range(48), npartitions=48)
    pre = docs.map_partitions(preprocess, 0.05 * scale, None, 400_000)
    with dask.annotate(resources={"GPU": 1}):
        emb = pre.map_partitions(embed_batch, 0.6 * scale, 0.04 * scale, 200_000)
    scores = emb.map_partitions(score, 0.03 * scale, 0.03 * scale, 8_000)
    parts = scores.to_delayed()
    while len(parts) > 1:  # a merge tree
        parts = [
            dask.delayed(merge, pure=True)(0.01 * scale, 0.01 * scale, 8_000, *parts[i : i + 4])
            for i in range(0, len(parts), 4)
        ]
    return dask.delayed(total, pure=True)(parts[0])


def shape_array(scale: float) -> Any:
    import dask.array as da

    n = int(1600 * max(scale, 0.25))
    x = da.random.RandomState(0).random((n, n), chunks=n // 4)
    return (x @ x.T).sum(axis=0)


def shape_overhead(scale: float) -> Any:
    import dask

    leaves = [dask.delayed(int, pure=True)(i) for i in range(4_999)]
    return dask.delayed(len, pure=True)(leaves)


SHAPES: dict[str, tuple[str, Callable[[float], Any]]] = {
    "a": ("(a) resources #8177", shape_resources),
    "b": ("(b) overproduce #9164", shape_overproduce),
    "c": ("(c) llm-bag", shape_llm_bag),
    "d": ("(d) array", shape_array),
    "e": ("(e) overhead 5k", shape_overhead),
}


# -- measurement --------------------------------------------------------------------------------------
class PeakMemory:
    """Peak of the bytes held on all workers, sampled on the scheduler every ``interval`` seconds."""

    def __init__(self, client: Any, interval: float = 0.01):
        self.client, self.interval, self.peak = client, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        def held(dask_scheduler: Any) -> int:
            return sum(ws.nbytes for ws in dask_scheduler.workers.values())

        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.client.run_on_scheduler(held))
            except Exception:  # noqa: BLE001 - the run ends under us
                return
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


def _equal(a: Any, b: Any) -> bool:
    try:
        np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=1e-9)
        return True
    except AssertionError:
        return False


def run_shape(client: Any, name: str, build: Callable[[float], Any], repeats: int, scale: float, store: Any) -> dict:
    import dask

    import hetflow

    times: dict[str, list[float]] = {"dask": [], "hetflow": []}
    peaks: dict[str, list[int]] = {"dask": [], "hetflow": []}
    results: dict[str, Any] = {}
    for variant in ("dask", "hetflow"):
        for i in range(repeats + 1):  # run 0 warms up (and teaches hetflow the costs)
            collection = build(scale)
            client.run(lambda: __import__("gc").collect())
            with PeakMemory(client) as peak:
                t0 = time.perf_counter()
                if variant == "dask":
                    with client.as_current():
                        (value,) = dask.compute(collection)
                else:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        (value,) = hetflow.compute(collection, client=client, costs=store)
                elapsed = time.perf_counter() - t0
            if i:
                times[variant].append(elapsed)
                peaks[variant].append(peak.peak)
            results[variant] = value
    d, h = statistics.median(times["dask"]), statistics.median(times["hetflow"])
    row = {
        "shape": name,
        "dask_s": round(d, 3),
        "hetflow_s": round(h, 3),
        "hetflow/dask": round(h / d, 3),
        "dask_peak_MB": round(max(peaks["dask"]) / 1e6, 1),
        "hetflow_peak_MB": round(max(peaks["hetflow"]) / 1e6, 1),
        "results_equal": _equal(results["dask"], results["hetflow"]),
        "runs": f"{repeats}+1",
    }
    if name.startswith("(e)"):
        row["overhead_ms_per_task"] = round((h - d) / 5_000 * 1e3, 3)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clusters", default="1x3,1x7", help="GPUxCPU shapes of the embedded cluster")
    parser.add_argument("--shapes", default="a,b,c,d,e")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every emulated duration")
    args = parser.parse_args(argv)

    from distributed import Client
    from hetflow.flows.runtime.cluster import start_local_cluster
    from hetflow.taskgraph.coststore import CostStore

    import hetflow

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for shape in args.clusters.split(","):
            gpus, cpus = (int(v) for v in shape.split("x"))
            store = CostStore(os.path.join(tmp, f"costs-{shape}.json"))
            with start_local_cluster(hetflow.Cluster.local(gpus, cpus), dashboard_address=None) as lc, Client(
                lc, set_as_default=False
            ) as client:
                client.wait_for_workers(gpus + cpus)
                for key in args.shapes.split(","):
                    name, build = SHAPES[key]
                    row = run_shape(client, name, build, args.repeats, args.scale, store)
                    row = {"cluster": f"{gpus} GPU + {cpus} CPU", **row}
                    print(row, file=sys.stderr, flush=True)
                    rows.append(row)
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
