"""hetflow's GPU path on a real CUDA device, in one run of a few minutes, results in one JSON file.

What it checks and measures (the ``llm`` extra with a CUDA build of torch; budget: under 8 minutes):

1. **equal outputs**: the LLM ops of :mod:`hetflow.flows.llm.ops` on CUDA against the CPU path, on two
   batches of the bundled corpus: ``llm.features``, the encoder shards (layers ``[0, 3)`` then ``[3, 6)``),
   the pooled embeddings and the ``llm.score`` table; a mixed run (features on the GPU, first shard on the
   CPU, second on the GPU, scores on the CPU) hands activations across devices; the unsharded encoder
   (``encode_full``) and sentence-transformers' own ``encode`` too. Pass: every difference within 1e-4
   (float32 kernels differ between devices), no document whose best topic differs unless its two best
   scores are within 1e-3.
2. **throughput**: MiniLM embeddings per second on the GPU (batches of 64 and 256) against one CPU worker
   (one torch thread, as each of the demo's CPU workers has).
3. **the demo with the real GPU worker**: :func:`hetflow.flows.llm.demo.run_demo` (768 documents, one GPU
   worker that runs on CUDA + ``--cpus`` CPU workers), costs calibrated on those workers, planned with
   ``dp``: calibrated costs per kind and device, planned vs actual makespan, where each stage ran, and its
   merged table against the CPU path's scores; then the same job with the built-in costs (they assume a GPU
   ~25x faster than a CPU at the encoder) when time allows.

Usage::

    python benchmarks/gpu_check.py --out gpu_check.json

Without CUDA it prints one line and exits 0: there is nothing to check. ``--stand-in-cpu`` runs every step
anyway with the CPU standing in for the GPU (to test this script where there is none; its numbers are
not GPU numbers and the JSON says so). Exit status: 0 every check passed (or no CUDA), 1 a check failed,
2 bad arguments or the ``llm`` extra is missing.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ATOL = 1e-4  # float32 results of different devices' kernels
TIE = 1e-3  # a best topic may differ only between two scores this close
BATCHES = ((0, 64), (256, 320))  # rows of the bundled corpus compared op by op
SPLIT = ((0, 3), (3, 6))  # encoder layers per shard


def _say(message: str) -> None:
    print(message, flush=True)


def _maxdiff(a: Any, b: Any) -> float:
    import numpy as np

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    return float(np.nanmax(np.abs(a - b))) if a.size else 0.0


# -- 1. equal outputs --------------------------------------------------------------------------------
def _pipeline(pre: dict, devices: tuple[str, str, str, str]) -> dict[str, Any]:
    """features -> shard -> shard -> score on the given device classes; the intermediate results."""
    from hetflow.flows.llm import ops

    feat = ops.features(pre, device=devices[0])
    act = ops.shard(feat, layers=SPLIT[0], device=devices[1])
    act = ops.shard(act, layers=SPLIT[1], device=devices[2])
    return {"features": feat, "encoded": act, "embeddings": ops.pool(act, devices[3]),
            "table": ops.score(act, device=devices[3])}  # fmt: skip


def _topic_mismatches(a: Any, b: Any) -> int:
    """Documents whose best topic differs although their two best scores are more than TIE apart."""
    import numpy as np

    cols = [c for c in a.columns if c.startswith("score_")]
    sa, sb = a[cols].to_numpy(float), b[cols].to_numpy(float)
    bad = 0
    for i in range(len(a)):
        if a["best_topic"].iloc[i] == b["best_topic"].iloc[i] or np.isnan(sa[i]).all():
            continue
        top2 = np.sort(sa[i])[-2:]
        bad += int(top2[1] - top2[0] > TIE)
    return bad + int(not np.array_equal(np.isnan(sa), np.isnan(sb)))


def check_equal() -> dict[str, Any]:
    """Step 1 (module docstring): the largest differences, per batch and comparison, and whether they pass."""
    from hetflow.flows.llm import ops

    batches = []
    for start, stop in BATCHES:
        pre = ops.preprocess(corpus="bundled", start=start, stop=stop)
        texts = [pre["text"][i] for i in pre["rows"]]
        cpu = _pipeline(pre, ("cpu",) * 4)
        gpu = _pipeline(pre, ("gpu",) * 4)
        mixed = _pipeline(pre, ("gpu", "cpu", "gpu", "cpu"))
        cols = [c for c in cpu["table"].columns if c.startswith("score_")] + ["best_score"]
        diffs = {
            "features": _maxdiff(cpu["features"]["hidden"], gpu["features"]["hidden"]),
            "encoded": _maxdiff(cpu["encoded"]["hidden"], gpu["encoded"]["hidden"]),
            "embeddings": _maxdiff(cpu["embeddings"], gpu["embeddings"]),
            "scores": _maxdiff(cpu["table"][cols], gpu["table"][cols]),
            "mixed_devices_embeddings": _maxdiff(cpu["embeddings"], mixed["embeddings"]),
            "encode_full": _maxdiff(ops.encode_full(texts, "cpu"), ops.encode_full(texts, "gpu")),
            "sentence_transformers_encode": _maxdiff(ops.embed_unsharded(texts, "cpu"),
                                                     ops.embed_unsharded(texts, "gpu")),  # fmt: skip
            "sharded_vs_unsharded_gpu": _maxdiff(gpu["embeddings"], ops.encode_full(texts, "gpu")),
        }
        mismatches = _topic_mismatches(cpu["table"], gpu["table"]) + _topic_mismatches(cpu["table"], mixed["table"])
        batches.append({"rows": [start, stop], "documents": len(texts), "tokens": int(pre["attention_mask"].shape[1]),
                        "max_abs_diff": diffs, "best_topic_mismatches": mismatches})  # fmt: skip
        worst = max(diffs, key=diffs.get)
        _say(f"equal outputs, rows {start}-{stop}: largest |cpu - gpu| {diffs[worst]:.2e} ({worst}), "
             f"{mismatches} best-topic mismatches")  # fmt: skip
    passed = all(max(b["max_abs_diff"].values()) <= ATOL and b["best_topic_mismatches"] == 0 for b in batches)
    return {"atol": ATOL, "batches": batches, "passed": passed}


# -- 2. throughput -----------------------------------------------------------------------------------
def _rate(texts: list[str], device: str, batch: int) -> float:
    """Embeddings per second of ``encode_full`` over ``texts`` in batches of ``batch`` (after a warm-up batch)."""
    from hetflow.flows.llm import ops

    ops.encode_full(texts[:batch], device)  # model load, kernels, allocator
    t0 = time.perf_counter()
    for i in range(0, len(texts), batch):
        ops.encode_full(texts[i:i + batch], device)  # returns host arrays: the device has finished
    return len(texts) / (time.perf_counter() - t0)


def measure_throughput(cpu_docs: int, gpu_docs: int) -> dict[str, Any]:
    """Step 2 (module docstring)."""
    from hetflow.flows.llm.corpus import bundled_corpus

    cpu = _rate(bundled_corpus(cpu_docs), "cpu", 64)
    gpu = {b: _rate(bundled_corpus(gpu_docs), "gpu", b) for b in (64, 256)}
    _say(f"throughput: {cpu:.0f} embeddings/s on one CPU worker (1 thread), GPU {gpu[64]:.0f}/s (batch 64), "
         f"{gpu[256]:.0f}/s (batch 256): {gpu[64] / cpu:.1f}x / {gpu[256] / cpu:.1f}x")  # fmt: skip
    return {"cpu_one_worker_per_s": cpu, "cpu_docs": cpu_docs, "gpu_per_s": {str(b): r for b, r in gpu.items()},
            "gpu_docs": gpu_docs, "speedup_batch64": gpu[64] / cpu, "speedup_batch256": gpu[256] / cpu}  # fmt: skip


# -- 3. the demo ---------------------------------------------------------------------------------------
def _demo_report(demo: Any, reference: Any) -> dict[str, Any]:
    from hetflow.flows.llm.demo import stage_table
    from hetflow.flows.runtime.timeline import worker_table

    table = demo.table.set_index("doc_id")
    ref = reference.set_index("doc_id")
    cols = [c for c in ref.columns if c.startswith("score_")]
    rows = table.loc[ref.index]
    return {
        "summary": demo.summary(),
        "costs": {kind: {dev: list(ab) for dev, ab in devs.items()} for kind, devs in demo.costs.items()},
        "stages": {str(k): {str(w): int(n) for w, n in row.items()} for k, row in
                   stage_table(demo.record.timeline).iterrows()},  # fmt: skip
        "workers": worker_table(demo.record.timeline).round(4).to_dict(orient="records"),
        "table_vs_cpu_path": {"rows": len(ref), "max_abs_diff": _maxdiff(rows[cols], ref[cols]),
                              "best_topic_mismatches": _topic_mismatches(rows.reset_index(), ref.reset_index())},
        "outputs": demo.paths,
    }  # fmt: skip


def run_demos(docs: int, cpus: int, out_dir: Path, deadline: float) -> dict[str, Any]:
    """Step 3 (module docstring): the calibrated demo, then (time allowing) the built-in costs."""
    from hetflow.flows.llm import ops
    from hetflow.flows.llm.demo import run_demo
    from hetflow.flows.logs import console_logs

    reference = ops.score(ops.shard(ops.features(ops.preprocess(corpus="bundled", start=0, stop=64), device="cpu"),
                                    layers=(0, 6), device="cpu"), device="cpu")  # rows 0-63 on the CPU  # fmt: skip
    reports: dict[str, Any] = {}
    for name, calibrate in (("calibrated", True), ("built_in_costs", False)):
        if name != "calibrated" and time.monotonic() > deadline:
            reports[name] = {"skipped": "time budget spent"}
            continue
        t0 = time.perf_counter()
        with console_logs():  # warnings and errors only, as `hetflow demo` shows them
            demo = run_demo(docs, gpus=1, cpus=cpus, calibrate=calibrate, progress=False,
                            out_dir=str(out_dir / name), cost_store=None, dashboard=False)  # fmt: skip
        reports[name] = _demo_report(demo, reference) | {"seconds": time.perf_counter() - t0}
        s, ok = reports[name]["summary"], reports[name]["table_vs_cpu_path"]
        _say(f"demo ({name}): {s['documents']} docs, planned {s['planned_makespan_s']:.2f} s, actual "
             f"{s['actual_makespan_s']:.2f} s (actual/planned {s['actual_over_planned']:.2f}), "
             f"{s['docs_per_s']:.0f} docs/s; table vs CPU path {ok['max_abs_diff']:.1e}")  # fmt: skip
    first = reports["calibrated"]["table_vs_cpu_path"]
    reports["passed"] = first["max_abs_diff"] <= ATOL and first["best_topic_mismatches"] == 0
    return reports


# -- the run -------------------------------------------------------------------------------------------
def environment(torch: Any, stand_in: bool) -> dict[str, Any]:
    """What ran the check: machine, torch/CUDA versions, the device, the hetflow commit."""
    env: dict[str, Any] = {"python": platform.python_version(), "machine": platform.machine(),
                           "cpus": os.cpu_count(), "torch": torch.__version__, "cuda": torch.version.cuda,
                           "stand_in_cpu": stand_in}  # fmt: skip
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        env.update(device=props.name, capability=f"{props.major}.{props.minor}",
                   memory_gib=round(props.total_memory / 2**30, 1), devices=torch.cuda.device_count())  # fmt: skip
    try:
        env["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                       cwd=Path(__file__).parent, timeout=10).stdout.strip() or None  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        env["commit"] = None
    return env


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], prog="gpu_check.py")
    p.add_argument("--out", default="gpu_check.json", help="the JSON results file (default gpu_check.json)")
    p.add_argument("--docs", type=int, default=768, help="documents of the demo job (default 768)")
    p.add_argument("--cpus", type=int, default=2, help="CPU workers beside the GPU worker in the demo (default 2)")
    p.add_argument("--cpu-docs", type=int, default=256, help="documents embedded on one CPU worker (default 256)")
    p.add_argument("--gpu-docs", type=int, default=4096, help="documents embedded on the GPU (default 4096)")
    p.add_argument("--budget", type=float, default=420.0,
                   help="seconds after which optional steps are skipped (default 420: the whole run stays under 8 "
                        "minutes)")  # fmt: skip
    p.add_argument("--stand-in-cpu", action="store_true",
                   help="without CUDA, run every step with the CPU standing in for the GPU (tests this script)")
    args = p.parse_args(argv)
    if min(args.docs, args.cpu_docs, args.gpu_docs) < 64 or args.cpus < 0 or args.budget <= 0:
        p.error("--docs, --cpu-docs and --gpu-docs must be >= 64, --cpus >= 0, --budget > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    try:
        import torch
    except ImportError:
        print("gpu_check: needs the llm extra: pip install 'hetflow[llm]' (no module named torch)", file=sys.stderr)
        return 2
    if not torch.cuda.is_available() and not args.stand_in_cpu:
        why = "torch built without CUDA" if torch.version.cuda is None else "no CUDA device visible"
        print(f"gpu_check: no CUDA here ({why}; torch {torch.__version__}); nothing to check")
        return 0
    from hetflow.flows.extras import MissingExtra, require_extra

    try:
        require_extra("llm", "gpu_check")
    except MissingExtra as e:
        print(f"gpu_check: {e}", file=sys.stderr)
        return 2
    os.environ.setdefault("HETFLOW_TORCH_THREADS", "1")  # the CPU path here is one CPU worker: one torch thread
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # no "Loading weights" bars
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # offline machines: no telemetry attempts
    os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="gpu-check-prefect-"))
    out = Path(args.out)
    results: dict[str, Any] = {"check": "hetflow GPU path", "started": datetime.datetime.now().isoformat(),
                               "environment": environment(torch, args.stand_in_cpu)}  # fmt: skip
    if args.stand_in_cpu:
        _say("gpu_check: --stand-in-cpu: the CPU stands in for the GPU; these are not GPU numbers")
    else:
        _say(f"gpu_check: {results['environment']['device']} (CUDA {torch.version.cuda}, torch {torch.__version__})")
    steps = {"equality": check_equal,
             "throughput": lambda: measure_throughput(args.cpu_docs, args.gpu_docs),
             "demo": lambda: run_demos(args.docs, args.cpus, out.parent / f"{out.stem}-demo",
                                       started + args.budget)}  # fmt: skip
    for name, step in steps.items():
        t0 = time.perf_counter()
        try:
            results[name] = step()
        except Exception as e:  # a failing step is a result too; the others still run
            results[name] = {"error": f"{type(e).__name__}: {e}", "passed": False}
            _say(f"{name}: FAILED: {type(e).__name__}: {e}")
        results[name]["seconds"] = time.perf_counter() - t0
    results["seconds"] = time.monotonic() - started
    results["passed"] = all(results[n].get("passed", True) for n in steps)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, default=str) + "\n")
    verdict = "every check passed" if results["passed"] else "A CHECK FAILED"
    _say(f"gpu_check: {verdict} in {results['seconds']:.0f} s; wrote {out}")
    return 0 if results["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
