"""hetflow.compute vs dask.compute on the shapes of Dask's own issues, on the embedded cluster.

One table, every variant in one run, on embedded LocalClusters of one GPU-class worker (``GPU=1``; on a
machine without CUDA it is a CPU process that plays the GPU) plus 3 and plus 7 CPU workers:

(a) ``resources``  — dask/distributed#8177: one root task (a shared input) fanning out to resource-annotated
    non-root tasks: CPU-stage ones ``resources={"CPU": 1}`` (every CPU worker has one) and GPU-friendly ones
    (3x faster there) ``resources={"GPU": 1}`` — what a Dask user writes to keep each kind on its workers.
    Dask places non-root restricted tasks next to their dependency, so they pile onto the worker that holds
    the root (work stealing moves some of them later).
(b) ``overproduce`` — #9164: many cheap CPU tokenize tasks, each producing a 2 MB array, feeding a slow
    GPU-only embed stage; Dask runs the unrestricted roots as fast as it can and holds their outputs.
(c) ``llm-bag`` — the batch LLM job written as plain dask.bag code: preprocess (CPU) → embed (much
    faster on the GPU class) → score → a merge tree (``Bag.reduction``). Dask fuses each partition's
    chain into one task and drops the annotation; hetflow splits the chain where the annotation changes.
(d) ``array`` — a homogeneous dask.array workload (blocked matmul + reduction), no annotations: Dask is
    already good here; hetflow must not be worse.
(e) ``overhead`` — 5,000 zero-length delayed tasks: (hetflow - Dask) / 5,000 per task.

Variants: ``dask`` (``dask.compute`` with the Dask annotations), ``hetflow`` (``hetflow.compute`` of the
very same collection) and, for shapes with a GPU stage, ``hetflow+costs`` (the GPU stage annotated with
``hetflow.annotate(cost={"cpu": .., "gpu": ..})`` instead of ``resources={"GPU": 1}``, so the planner may
move part of it to CPU workers when the GPU queue is the bottleneck), and for (b) ``hetflow+pace``
(``pace=2``: tasks released on the plan's clock). ``bound/dask`` is hetflow's lower bound for the shape with
Dask's annotations and the learned costs over Dask's makespan: no plan that keeps those annotations can
beat it.

Device-dependent work is emulated: a task sleeps its cost for the class of the worker it runs on (the
``GPU`` resource of that worker) and returns a real array of its output size, so transfers and memory
are real. Each variant runs once to warm up (hetflow learns its costs there, into a private cost store),
then ``--repeats`` times; the table shows the median makespan, hetflow/Dask, the peak of bytes held on
the cluster (the scheduler's ``WorkerState.nbytes``, sampled every 10 ms), whether the results equal, and
``planned_on``: the workers the last hetflow run was planned on (fewer than the cluster's when the job keeps
the machine's cores busy, :mod:`hetflow.flows.runtime.hosts`).

Run: ``python benchmarks/bench_dask.py [--repeats 3] [--clusters 1x3,1x7] [--shapes a,b,c,d,e]``.
"""

from __future__ import annotations

import argparse
import functools
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


def merge_all(cpu: float, gpu: float | None, out_bytes: int, parts: Any) -> np.ndarray:
    return work(cpu, gpu, out_bytes, *parts)


def _partition(part: Any) -> Any:
    return part


# -- workloads --------------------------------------------------------------------------------------
# ``on_gpu(cpu_s, gpu_s)`` is the annotation a stage that belongs on the GPU gets: what a Dask user writes
# (``dask.annotate(resources={"GPU": 1})``, the only way to keep it off the slow CPUs), or with ``costs``
# what a hetflow user can write instead (``hetflow.annotate(cost=...)``: both classes, with their costs).
def _on_gpu_annotation(costs: bool) -> Callable[[float, float], Any]:
    import dask

    import hetflow

    def on_gpu(cpu_s: float, gpu_s: float) -> Any:
        if costs:
            return hetflow.annotate(cost={"cpu": cpu_s, "gpu": gpu_s})
        return dask.annotate(resources={"GPU": 1})

    return on_gpu


def load(seed: int) -> np.ndarray:
    return np.full(1_000, seed, dtype=np.int64)


def shape_resources(scale: float, on_gpu: Callable[[float, float], Any]) -> Any:
    import dask

    root = dask.delayed(load, pure=True)(1)  # the shared input: every task below depends on it
    tasks = []
    for i in range(32):
        if i % 4 == 0:  # GPU-friendly: 3x faster on the GPU class
            cpu_s, gpu_s = 0.3 * scale, 0.1 * scale
            with on_gpu(cpu_s, gpu_s):
                tasks.append(dask.delayed(gpu_friendly, pure=True)(cpu_s, gpu_s, 8_000, root, i))
        else:
            with dask.annotate(resources={"CPU": 1}):
                tasks.append(dask.delayed(cpu_only, pure=True)(0.2 * scale, None, 8_000, root, i))
    return dask.delayed(total, pure=True)(*tasks)


def shape_overproduce(scale: float, on_gpu: Callable[[float, float], Any]) -> Any:
    import dask

    out = []
    for i in range(48):
        tok = dask.delayed(tokenize, pure=True)(0.01 * scale, None, 2_000_000, i)
        with on_gpu(1.0 * scale, 0.06 * scale):
            out.append(dask.delayed(embed, pure=True)(1.0 * scale, 0.06 * scale, 8_000, tok))
    return dask.delayed(total, pure=True)(*out)


def shape_llm_bag(scale: float, on_gpu: Callable[[float, float], Any]) -> Any:
    import dask.bag as db

    docs = db.from_sequence(range(48), npartitions=48)
    pre = docs.map_partitions(preprocess, 0.05 * scale, None, 400_000)
    with on_gpu(0.6 * scale, 0.04 * scale):
        emb = pre.map_partitions(embed_batch, 0.6 * scale, 0.04 * scale, 200_000)
    scores = emb.map_partitions(score, 0.03 * scale, 0.03 * scale, 8_000)
    # a merge tree of fan-in 4 (kept inside the bag: ``to_delayed()`` optimises by default, and Dask's
    # optimisation drops the annotations, for Dask and hetflow alike)
    return scores.reduction(_partition, functools.partial(merge_all, 0.01 * scale, 0.01 * scale, 8_000),
                            split_every=4)


def shape_array(scale: float, on_gpu: Callable[[float, float], Any] | None = None) -> Any:
    import dask.array as da

    n = int(3200 * max(scale, 0.25))
    x = da.random.RandomState(0).random((n, n), chunks=n // 4)
    return (x @ x.T).sum(axis=0)


def shape_overhead(scale: float, on_gpu: Callable[[float, float], Any] | None = None) -> Any:
    import dask

    leaves = [dask.delayed(int, pure=True)(i) for i in range(4_999)]
    return dask.delayed(len, pure=True)(leaves)


SHAPES: dict[str, tuple[str, Callable[..., Any], bool]] = {  # name, builder, has a GPU stage
    "a": ("(a) resources #8177", shape_resources, True),
    "b": ("(b) overproduce #9164", shape_overproduce, True),
    "c": ("(c) llm-bag", shape_llm_bag, True),
    "d": ("(d) array", shape_array, False),
    "e": ("(e) overhead 5k", shape_overhead, False),
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


def _timed(client: Any, variant: str, collection: Any, store: Any, pace: int | None) -> tuple[float, int, Any]:
    import dask

    import hetflow

    client.run(lambda: __import__("gc").collect())
    with PeakMemory(client) as peak:
        t0 = time.perf_counter()
        if variant == "dask":
            with client.as_current():
                (value,) = dask.compute(collection)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                (value,) = hetflow.compute(collection, client=client, costs=store, pace=pace)
        elapsed = time.perf_counter() - t0
    return elapsed, peak.peak, value


def run_shape(client: Any, key: str, repeats: int, scale: float, store: Any) -> dict:
    """Median makespan, peak memory and results of every variant of one shape (run 0 of each warms up)."""
    import hetflow

    name, build, has_gpu_stage = SHAPES[key]
    # variant -> (built with hetflow cost annotations, pace)
    variants: dict[str, tuple[bool, int | None]] = {"dask": (False, None), "hetflow": (False, None)}
    if has_gpu_stage:
        variants["hetflow+costs"] = (True, None)
    if key == "b":
        variants["hetflow+pace"] = (False, 2)
    times: dict[str, list[float]] = {v: [] for v in variants}
    peaks: dict[str, list[int]] = {v: [] for v in variants}
    results: dict[str, Any] = {}
    for variant, (costs, pace) in variants.items():
        for i in range(repeats + 1):
            collection = build(scale, _on_gpu_annotation(costs))
            kind = "dask" if variant == "dask" else "hetflow"
            elapsed, peak, value = _timed(client, kind, collection, store, pace)
            if i:
                times[variant].append(elapsed)
                peaks[variant].append(peak)
            results[variant] = value
    d = statistics.median(times["dask"])
    row: dict[str, Any] = {"shape": name, "dask_s": round(d, 3)}
    for variant in variants:
        if variant != "dask":
            h = statistics.median(times[variant])
            row[f"{variant}_s"] = round(h, 3)
            row[f"{variant}/dask"] = round(h / d, 3)
    for variant in variants:
        row[f"{variant}_peak_MB"] = round(max(peaks[variant]) / 1e6, 1)
    # what any plan could reach with Dask's annotations and the learned costs (hetflow.lower_bound)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph, _ = hetflow.plan_dask(build(scale, _on_gpu_annotation(False)), cluster_or_client=client, costs=store)
    row["bound/dask"] = round(hetflow.lower_bound(graph, hetflow.Cluster.from_dask(client)) / d, 3)
    row["results_equal"] = all(_equal(results["dask"], v) for v in results.values())
    row["planned_on"] = len(hetflow.flows.compute.last_report().planned_workers)  # of the last hetflow run
    row["runs"] = f"{repeats}+1"
    if key == "e":
        row["overhead_ms_per_task"] = round((statistics.median(times["hetflow"]) - d) / 5_000 * 1e3, 3)
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
                    row = run_shape(client, key, args.repeats, args.scale, store)
                    row = {"cluster": f"{gpus} GPU + {cpus} CPU", **row}
                    print(row, file=sys.stderr, flush=True)
                    rows.append(row)
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
