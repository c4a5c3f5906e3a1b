"""The demo job for real (MiniLM on the bundled corpus): hetflow's dp plan vs Dask's own scheduling vs one worker.

What is measured (one embedded Dask cluster — ``--gpus`` GPU-class + ``--cpus`` CPU single-thread worker
processes — every variant on the same warm workers, one after the other):

1. calibration: :func:`hetflow.flows.llm.profile.profile_cluster` on those workers (all at once, as during a run);
2. **hetflow dp (calibrated)**: ``llm_batch_job(costs=calibrated)``, planned with ``dp``, executed by
   :class:`~hetflow.flows.runtime.executor.PlanExecutor` (pinned tasks; no Prefect around it, see ``hetflow demo``
   for that).
   Each round re-calibrates quickly right before this run (as ``hetflow demo`` does), because on a shared
   machine the load of other processes — which the costs include — changes from minute to minute;
3. **hetflow dp (default costs)**: the same with the built-in costs, which assume a real GPU ~25x faster
   than a CPU for the encoder — on a CPU-only machine the plan is then wrong, and actual/planned shows it;
4. **dask (no hints)** / **dask (GPU hints)**: ``client.submit`` per task, no pins; CPU-only kinds request
   ``CPU=1``; with GPU hints the features/inference/score tasks also request ``GPU=1``;
5. **one worker**: a dp plan on ``cpu0`` alone (the others idle).

Per variant: makespan (first submit -> last task finished, from the Dask task stream), docs/s over it,
the plan's makespan and actual/planned where there is a plan, and tasks run per worker. Every variant's
merged table must equal the first one's (one row per document, scores within 1e-5).

Usage::

    python benchmarks/bench_demo.py            # 768 docs (the demo default)
    python benchmarks/bench_demo.py --small    # 256 docs, quick calibration
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import numpy as np
import pandas as pd

QUICK_SIZES = (16, 64)  # the per-round re-calibration (the demo's calibration)
GPU_KINDS = ("features", "inference", "score")  # kinds a real GPU runs far faster (DEFAULT_COSTS)


def _same_table(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    cols = [c for c in a.columns if c.startswith("score_")] + ["best_score"]
    return (
        a["doc_id"].tolist() == b["doc_id"].tolist()
        and a["best_topic"].fillna("").tolist() == b["best_topic"].fillna("").tolist()
        and np.allclose(a[cols].to_numpy(float), b[cols].to_numpy(float), atol=1e-5, equal_nan=True)
    )


# -- Dask's own scheduling of the same job (the baselines) ---------------------------------------------
def _run_op_anywhere(spec: tuple, *inputs: Any) -> Any:
    """Run a graph task's op on whatever worker Dask chose, with that worker's device class (``GPU`` > 0).

    Defined in the script: Dask ships it to the workers by value (cloudpickle).
    """
    from distributed import get_worker
    from hetflow.flows.runtime.ops import call_op

    task, op, params = spec
    worker = get_worker()
    device = "gpu" if worker.state.total_resources.get("GPU", 0) > 0 else "cpu"
    return call_op(op, inputs, params, device=device, worker=str(worker.name), task=task)


def run_dask_scheduled(client: Any, graph: Any, *, hints: str = "none", timeout: float = 900.0) -> dict[str, Any]:
    """Let Dask place the job's tasks itself: one ``client.submit`` per task, no worker pins.

    Parameters
    ----------
    hints : ``"none"`` or ``"gpu"``
        ``"none"``: only the cost model's hard constraints — a task without a ``gpu`` cost requests
        ``CPU=1`` (the embedded CPU workers advertise it), one without a ``cpu`` cost ``GPU=1``.
        ``"gpu"``: also ``GPU=1`` on every task of :data:`GPU_KINDS` (what a user would annotate).

    Returns
    -------
    dict
        ``results`` (sink -> value), ``frame`` (task, kind, worker, start, stop; seconds since the first
        submit), ``makespan`` (first submit -> last compute stop) and ``submit_s``.
    """
    import uuid

    from distributed import wait

    if hints not in ("none", "gpu"):
        raise ValueError(f"hints must be 'none' or 'gpu', not {hints!r}")
    tag = uuid.uuid4().hex[:8]
    client.get_task_stream(count=0)  # make sure the scheduler records the task stream
    futures: dict[Any, Any] = {}
    task_of: dict[str, Any] = {}
    t0 = time.time()
    for t in graph.tasks:
        data, cost = graph.G.nodes[t], graph.cost(t)
        if "cpu" not in cost or (hints == "gpu" and graph.kind(t) in GPU_KINDS and "gpu" in cost):
            resources: dict[str, float] | None = {"GPU": 1}
        else:
            resources = {"CPU": 1} if "gpu" not in cost else None
        key = f"{graph.kind(t)}-{t}-dask{hints}-{tag}"
        task_of[key] = t
        spec = (t, data.get("op"), dict(data.get("params") or {}))
        futures[t] = client.submit(_run_op_anywhere, spec, *[futures[q] for q in graph.parents(t)], key=key,
                                   resources=resources, pure=False)  # fmt: skip
    submit_s = time.time() - t0
    sinks = [futures[s] for s in graph.sinks]
    with client.as_current():
        wait(sinks, timeout=timeout)
    results = dict(zip(graph.sinks, client.gather(sinks)))
    names = {a: str(w.get("name", a)) for a, w in client.scheduler_info(n_workers=-1)["workers"].items()}
    rows = []
    for rec in client.get_task_stream(start=t0 - 1.0):
        compute = [s for s in rec["startstops"] if s["action"] == "compute"]
        if rec["key"] in task_of and compute:
            t = task_of[rec["key"]]
            rows.append({"task": t, "kind": graph.kind(t), "worker": names.get(rec["worker"], rec["worker"]),
                         "start": compute[-1]["start"] - t0, "stop": compute[-1]["stop"] - t0})  # fmt: skip
    for f in futures.values():
        f.release()
    frame = pd.DataFrame(rows, columns=["task", "kind", "worker", "start", "stop"])
    return {"results": results, "frame": frame, "makespan": float(frame.stop.max()), "submit_s": submit_s}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="256 docs and a quick calibration")
    parser.add_argument("--docs", type=int, default=None, help="documents (default 768; --small 256)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--shards", type=int, default=3)
    parser.add_argument("--gpus", type=int, default=1)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--sizes", default=None, help="calibration batch sizes (default 8,32,64; --small 16,64)")
    parser.add_argument("--repeats", type=int, default=None, help="calibration passes (default 2; --small 1)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds of all variants (default 3; --small 1)")
    parser.add_argument("--no-recalibrate", action="store_true",
                        help="plan every round from the first calibration (default: a quick re-calibration, sizes "
                        "16,64, right before each calibrated hetflow run)")
    parser.add_argument("--costs-out", default=None, help="also write the calibration here")
    parser.add_argument("--csv", help="also write the table here")
    args = parser.parse_args(argv)
    n_docs = args.docs or (256 if args.small else 768)
    sizes = [int(x) for x in (args.sizes or ("16,64" if args.small else "8,32,64")).split(",")]
    repeats = args.repeats or (1 if args.small else 2)
    args.rounds = args.rounds or (1 if args.small else 3)
    os.environ.setdefault("HETFLOW_TORCH_THREADS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

    from hetflow.flows.bench.emulate import hetflow_run
    from hetflow.flows.llm.profile import profile_cluster, warm_up_workers
    from hetflow.flows.runtime.cluster import open_session
    from hetflow.solvers import plan
    from hetflow.taskgraph import Cluster
    from hetflow.taskgraph.workloads import llm_batch_job

    cluster = Cluster.local(gpus=args.gpus, cpus=args.cpus)
    job = {"n_docs": n_docs, "batch_size": args.batch_size, "n_shards": args.shards}
    t_all = time.perf_counter()
    session = open_session(cluster, dashboard_address=None)
    try:
        client = session.client
        t = time.perf_counter()
        warm_up_workers(client)
        print(f"cluster {cluster}: workers warm (MiniLM loaded) in {time.perf_counter() - t:.1f} s")
        prof = profile_cluster(client, sizes=sizes, repeats=repeats, span=max(n_docs, max(sizes)))
        if args.costs_out:
            prof.save(args.costs_out)
        print(f"calibration: {len(prof.samples)} op runs in {prof.meta['sample_s']:.1f} s, sizes {sizes} x {repeats}, "
              f"wall/CPU {prof.meta['contention']:.2f}")  # fmt: skip
        print(prof.to_text())

        rows, tables = [], {}

        def record(name: str, rnd: int, makespan: float, planned: float, frame: pd.DataFrame, results: dict) -> None:
            tables[name] = results["merge"] if isinstance(results.get("merge"), pd.DataFrame) else None
            per_worker = frame.groupby("worker").size()
            busy = float((frame.stop - frame.start).sum())
            rows.append({"variant": name, "round": rnd, "makespan_s": makespan, "docs_per_s": n_docs / makespan,
                         "planned_s": planned, "actual/planned": makespan / planned if planned > 0 else np.nan,
                         "busy_s": busy})  # fmt: skip
            rows[-1].update({f"tasks@{w}": int(per_worker.get(w, 0)) for w in cluster.names})
            print(f"  round {rnd} {name:<28} makespan {makespan:7.2f} s  {n_docs / makespan:6.1f} docs/s  "
                  f"busy {busy:6.1f} worker-s", flush=True)  # fmt: skip

        print(f"links: {prof.meta['link']}")
        planned = prof.cluster(cluster)  # measured transfer latency and bandwidth
        calibrated = llm_batch_job(**job, costs=prof.costs)
        default = llm_batch_job(**job)
        one = Cluster([w for w in cluster.workers if w.device == "cpu"][:1] or cluster.workers[:1])
        plans = {
            "hetflow dp (calibrated)": (calibrated, plan(calibrated, planned, solver="dp")),
            "hetflow dp (default costs)": (default, plan(default, cluster, solver="dp")),
            f"one worker ({one.names[0]})": (calibrated, plan(calibrated, one, solver="dp")),
        }
        variants = [*list(plans)[:2], "dask (no hints)", "dask (GPU hints)", list(plans)[2]]
        print(f"\njob {calibrated.name}: {len(calibrated)} tasks; {args.rounds} round(s) of the variants, "
              f"order rotated each round:")  # fmt: skip
        for rnd in range(args.rounds):
            k = rnd % len(variants)
            for name in variants[k:] + variants[:k]:
                if name == variants[0] and not args.no_recalibrate:  # calibrate just before, as the demo does
                    quick = profile_cluster(client, sizes=QUICK_SIZES, repeats=1, span=max(n_docs, max(QUICK_SIZES)))
                    graph = llm_batch_job(**job, costs=quick.costs)
                    plans[name] = (graph, plan(graph, quick.cluster(cluster), solver="dp"))
                    print(f"  round {rnd} re-calibrated in {quick.meta['sample_s']:.1f} s "
                          f"(wall/CPU {quick.meta['contention']:.2f})")  # fmt: skip
                if name in plans:
                    graph, schedule = plans[name]
                    v = hetflow_run(session, graph, schedule)
                    record(name, rnd, v.makespan, v.planned, v.frame, v.results)
                else:
                    d = run_dask_scheduled(client, calibrated, hints="gpu" if "GPU" in name else "none")
                    record(name, rnd, d["makespan"], np.nan, d["frame"], d["results"])

        ref = tables["hetflow dp (calibrated)"]
        assert ref["doc_id"].tolist() == list(range(n_docs)), "merged table is not one row per document"
        for name, table in tables.items():
            assert table is not None and _same_table(ref, table), f"{name}: merged table differs"
    finally:
        session.close()

    runs = pd.DataFrame(rows)
    table = runs.groupby("variant", sort=False).median(numeric_only=True).drop(columns="round").reset_index()
    table.insert(1, "rounds", runs.groupby("variant", sort=False).size().to_numpy())
    table["vs_hetflow"] = table.makespan_s / table.makespan_s.iloc[0]
    pd.set_option("display.width", 200)
    cuda = any(w.get("cuda") for w in prof.meta["workers"])
    print(f"\n{n_docs} documents, {args.gpus} GPU-class + {args.cpus} CPU workers on {os.cpu_count()} cores "
          f"(GPU-class worker {'uses CUDA' if cuda else 'runs on the CPU'}); medians over rounds:")  # fmt: skip
    print(table.round(3).to_string(index=False))
    het = table.iloc[0]
    best_dask = table[table.variant.str.startswith("dask")].makespan_s.min()
    print(f"\nhetflow dp (calibrated): actual/planned {het['actual/planned']:.3f} (target <= 1.2; per round "
          f"{', '.join(f'{r:.3f}' for r in runs[runs.variant == het.variant]['actual/planned'])}); "
          f"makespan / best Dask {het.makespan_s / best_dask:.3f}; all merged tables identical; "
          f"benchmark wall {time.perf_counter() - t_all:.0f} s")  # fmt: skip
    if args.csv:
        runs.to_csv(args.csv, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
