"""Cost calibration: time each task kind of the LLM job on each device class of a live Dask cluster.

The planner's cost model is ``seconds = a + b * size`` per task kind and device class, at speed 1
(:data:`hetflow.taskgraph.workloads.DEFAULT_COSTS`; ``size`` is documents, document-layers for ``inference`` and
rows for ``merge``). :func:`profile_cluster` measures it where the job will run:

1. **warm-up**: every worker slot runs the whole pipeline once on a few documents (model, tokenizer,
   corpus and topic embeddings load; first-call overheads). Not timed; all slots finish it before step 2.
2. **samples**: every slot then runs the same sequence on its own Dask worker (pinned like the executor
   pins graph tasks: ``workers=[address]``, ``GPU=1`` on the GPU slot of a shared worker): for each repeat
   and each size, ``llm.preprocess`` → ``llm.features`` → ``llm.shard`` over layers ``[0,1) [1,3) [3,6)``
   (sizes n, 2n, 3n doc-layers) → ``llm.score`` → ``llm.merge`` of four copies (4n rows), timing each op
   inside the worker with ``time.perf_counter`` (wall) and ``time.process_time`` (CPU). Batches are taken
   at different corpus offsets per slot and repeat, so padded widths vary as in the job.
3. **fit**: per (kind, device class), the median time at each size (over slots and repeats, times the
   worker's speed) is fitted by least squares with ``a >= 0, b >= 0`` (:func:`fit_costs`).

4. **dispatch**: a chain of no-op tasks on every slot measures Dask's per-task round trip (a task becomes
   runnable only after the scheduler hears that its inputs finished: ~5 ms here), added to every ``a``.
5. **links**: a payload of 64 KiB to 16 MiB made on one worker and read on another, against the same on
   one worker, gives the transfer's ``latency + bytes / bandwidth`` (:func:`link_costs`; 0-3 ms and
   1-3 GB/s between worker processes here, depending on the load, against the 1 GB/s default), for the
   cluster the planner sees (:meth:`Profile.cluster`).

Contention: by default all slots sample **at the same time**, as they run during the job. On a machine
with fewer cores than workers (2 cores, 3 worker processes) each op then takes ~workers/cores times longer
than alone, and the fitted costs include that slowdown — which is what the plan must predict. To keep the
load on until every slot has finished its timed batches, the slots start together (``start_at``), run
their batches once more untimed afterwards, and samples that ended after the first slot stopped are
dropped. Calibrate with the cluster that will run the job, shortly before the run: on a shared machine
the load of other processes is in the costs too. ``concurrent=False`` measures each slot alone (for
workers on separate machines). The ``cpu_seconds`` column shows how much of each wall time was CPU work
(``meta["contention"]`` = total wall / total CPU).

Limits: a plan's tail (and head) keeps fewer workers busy than calibrated, so those tasks run faster than
planned. Links are measured between two workers and applied to every pair (one machine: all alike).
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from distributed import wait
from hetflow.flows.llm import ops as llm_ops
from hetflow.flows.llm.corpus import bundled_corpus
from hetflow.flows.runtime.cluster import session, slot_map
from hetflow.flows.runtime.ops import call_op
from hetflow.taskgraph import Cluster
from hetflow.taskgraph.dask_convert import GPU_RESOURCE
from hetflow.taskgraph.errors import InvalidInput
from hetflow.taskgraph.workloads import count_corpus_rows, resolve_costs, save_costs

__all__ = [
    "DEFAULT_SIZES",
    "Profile",
    "fit_ab",
    "fit_costs",
    "profile_worker",
    "warm_up_workers",
    "dispatch_latency",
    "link_costs",
    "profile_cluster",
    "profile",
]

DEFAULT_SIZES: tuple[int, ...] = (8, 32, 64)
LAYER_SPLIT: tuple[tuple[int, int], ...] = ((0, 1), (1, 3), (3, 6))  # 1, 2 and 3 layers
MERGE_COPIES = 4  # the job's merge fan-in
SAMPLE_COLUMNS = [
    "slot", "device", "speed", "kind", "size", "seconds", "cpu_seconds", "end", "repeat", "start", "width",
]  # fmt: skip


# -- worker side ------------------------------------------------------------------------------------
def _worker_info() -> dict[str, Any]:
    """Torch threads, CUDA and pid of this worker process (after the ops pinned the threads)."""
    torch = llm_ops._torch()
    return {
        "pid": os.getpid(),
        "torch_threads": int(torch.get_num_threads()),
        "cuda": bool(torch.cuda.is_available()),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }


def profile_worker(
    device: str,
    corpus: str,
    batches: Sequence[tuple[int, int, int]],
    *,
    warm_up: bool = False,
    start_at: float | None = None,
    filler: bool = False,
) -> dict[str, Any]:
    """Run and time the LLM ops on this process (called inside a Dask worker by :func:`profile_cluster`).

    Parameters
    ----------
    device : str
        The worker's device class, passed to the ops (``"gpu"`` uses CUDA when available).
    corpus : str
        ``"bundled"`` or a corpus path (as in :func:`hetflow.taskgraph.workloads.llm_batch_job`).
    batches : sequence of (repeat, size, start)
        The batches to time: rows ``[start, start + size)``.
    warm_up : bool
        Run the batches untimed and return no samples (loads the model and corpus).
    start_at : float, optional
        Wall-clock time (``time.time()``) to start at, so that concurrent slots start together.
    filler : bool
        After the timed batches, run them once more untimed: the load stays on while slower slots finish
        their timed batches (the driver keeps only samples that ended before every slot stopped).

    Returns
    -------
    dict
        ``{"samples": [row, ...], "info": {...}, "stopped": t}``; a row has ``kind, size, seconds,
        cpu_seconds, end, repeat, start, width`` (``end``: wall clock at its end; ``width``: padded tokens of
        the batch); ``stopped``: wall clock when this slot stopped working.
    """
    rows: list[dict[str, Any]] = []
    record = not warm_up

    def timed(kind: str, size: int, op: str, inputs: list, params: dict, meta: dict) -> Any:
        w0, c0 = time.perf_counter(), time.process_time()
        out = call_op(op, inputs, params, device=device, worker="profile", task=f"profile-{kind}")
        if record:
            rows.append({"kind": kind, "size": size, "seconds": time.perf_counter() - w0,
                         "cpu_seconds": time.process_time() - c0, "end": time.time(), **meta})  # fmt: skip
        return out

    if start_at is not None:
        time.sleep(max(0.0, start_at - time.time()))
    passes = [batches, batches] if filler else [batches]
    for i, todo in enumerate(passes):
        record = not warm_up and i == 0
        _run_batches(todo, corpus, timed, rows)
    return {"samples": rows, "info": _worker_info(), "stopped": time.time()}


def _run_batches(batches: Sequence[tuple[int, int, int]], corpus: str, timed: Callable, rows: list) -> None:
    """One pass of the pipeline over ``batches`` through ``timed`` (which records into ``rows``)."""
    for repeat, size, start in batches:
        meta = {"repeat": repeat, "start": start, "width": 0}
        params = {"corpus": corpus, "start": start, "stop": start + size}
        first = len(rows)
        pre = timed("preprocess", size, "llm.preprocess", [], params, meta)
        act = timed("features", size, "llm.features", [pre], {}, meta)
        for lo, hi in LAYER_SPLIT:
            act = timed("inference", size * (hi - lo), "llm.shard", [act], {"layers": [lo, hi]}, meta)
        table = timed("score", size, "llm.score", [act], {}, meta)
        copies = []
        for k in range(MERGE_COPIES):  # disjoint doc_ids; duplicates point inside their own copy
            part = table.copy()
            part["doc_id"] += k * 1_000_000
            part["dup_of"] = np.where(part["dup_of"] >= 0, part["dup_of"] + k * 1_000_000, -1)
            copies.append(part)
        timed("merge", size * MERGE_COPIES, "llm.merge", copies, {}, meta)
        width = int(pre["input_ids"].shape[1]) if pre["input_ids"].ndim == 2 else 0
        for row in rows[first:]:
            row["width"] = width


# -- fitting ------------------------------------------------------------------------------------
def fit_ab(size: Sequence[float], seconds: Sequence[float]) -> tuple[float, float]:
    """Least-squares ``seconds = a + b * size`` with ``a >= 0`` and ``b >= 0``.

    The unconstrained solution when it is feasible, else the better of the two boundary fits (``a = 0``,
    or ``b = 0``). With a single distinct size the time is taken as proportional (``a = 0``).

    Examples
    --------
    >>> a, b = fit_ab([1, 2, 3], [3.0, 5.0, 7.0])
    >>> round(a, 9), round(b, 9)
    (1.0, 2.0)
    >>> a, b = fit_ab([1, 2, 3], [1.0, 1.0, 0.5])  # falling times: b would be negative
    >>> round(a, 9), b
    (0.833333333, 0.0)
    """
    x, y = np.asarray(size, float), np.asarray(seconds, float)
    if len(x) == 0:
        raise ValueError("fit_ab: no samples")
    if len(np.unique(x)) < 2:
        return (0.0, float(max(0.0, y.mean() / x[0]))) if x[0] > 0 else (float(max(0.0, y.mean())), 0.0)
    X = np.column_stack([np.ones_like(x), x])
    (a, b), *_ = np.linalg.lstsq(X, y, rcond=None)
    if a >= 0 and b >= 0:
        return float(a), float(b)
    candidates = [(0.0, max(0.0, float(x @ y / (x @ x)))), (max(0.0, float(y.mean())), 0.0)]
    return min(candidates, key=lambda ab: float(((ab[0] + ab[1] * x - y) ** 2).sum()))


def fit_costs(
    samples: pd.DataFrame, allowed: Mapping[str, Sequence[str]] | None = None
) -> tuple[dict[str, dict[str, tuple[float, float]]], pd.DataFrame]:
    """Fit ``a + b * size`` per (kind, device class) on the median time at each size.

    Parameters
    ----------
    samples : pandas.DataFrame
        Columns ``kind, device, size, seconds`` and optionally ``speed`` (seconds are multiplied by it to
        give times at speed 1).
    allowed : mapping kind -> device classes, optional
        Only these pairs are fitted (default: the pairs of :data:`hetflow.taskgraph.workloads.DEFAULT_COSTS`, so a
        GPU-class worker's timings of CPU-only kinds are ignored).

    Returns
    -------
    costs : dict
        ``{kind: {device: (a, b)}}``, ready for ``llm_batch_job(costs=...)`` and ``save_costs``.
    table : pandas.DataFrame
        One row per fitted pair: ``kind, device, a, b, sizes, samples, r2, max_rel_err`` (fit quality on the
        per-size medians).
    """
    allowed = allowed if allowed is not None else {k: list(v) for k, v in resolve_costs().items()}
    df = samples.copy()
    df["t"] = df["seconds"] * df.get("speed", 1.0)
    costs: dict[str, dict[str, tuple[float, float]]] = {}
    rows = []
    for (kind, device), group in df.groupby(["kind", "device"], sort=True):
        if device not in allowed.get(kind, ()):
            continue
        med = group.groupby("size")["t"].median()
        a, b = fit_ab(med.index.to_numpy(float), med.to_numpy(float))
        costs.setdefault(kind, {})[device] = (a, b)
        pred = a + b * med.index.to_numpy(float)
        y = med.to_numpy(float)
        ss_tot = float(((y - y.mean()) ** 2).sum())
        r2 = 1.0 - float(((y - pred) ** 2).sum()) / ss_tot if ss_tot > 0 else float("nan")
        rel = float(np.max(np.abs(pred - y) / np.maximum(y, 1e-12)))
        rows.append({"kind": kind, "device": device, "a": a, "b": b, "sizes": len(med), "samples": len(group),
                     "r2": r2, "max_rel_err": rel})  # fmt: skip
    table = pd.DataFrame(rows, columns=["kind", "device", "a", "b", "sizes", "samples", "r2", "max_rel_err"])
    return costs, table


# -- driver side ------------------------------------------------------------------------------------
@dataclass
class Profile:
    """A calibration: fitted costs, the raw samples, the fit table and metadata."""

    costs: dict[str, dict[str, tuple[float, float]]]
    samples: pd.DataFrame
    fit: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)

    def save(self, path: str | Path) -> Path:
        """Write the costs file (``save_costs`` format; ``meta`` holds the machine, date and samples)."""
        meta = dict(self.meta)
        meta["fit"] = self.fit.round(9).to_dict(orient="records")
        meta["samples"] = self.samples.round(6).to_dict(orient="records")
        return save_costs(self.costs, path, meta=meta)

    def cluster(self, cluster: Cluster) -> Cluster:
        """``cluster`` with the measured link latency and bandwidth (unchanged when none was measured)."""
        link = self.meta.get("link") or {}
        bandwidth, latency = link.get("bandwidth"), link.get("latency")
        if bandwidth is None or not np.isfinite(bandwidth) or bandwidth <= 0:
            return cluster
        return Cluster(cluster.workers, bandwidth=float(bandwidth), latency=float(latency or 0.0))

    def to_text(self) -> str:
        """The fit as a small table: milliseconds per task and per unit of size."""
        t = self.fit.assign(a_ms=self.fit.a * 1e3, b_ms=self.fit.b * 1e3)
        t["at_64_docs_ms"] = [1e3 * (a + b * 64 * (6 if k == "inference" else MERGE_COPIES if k == "merge" else 1))
                              for k, a, b in zip(t.kind, t.a, t.b)]  # fmt: skip
        cols = ["kind", "device", "a_ms", "b_ms", "at_64_docs_ms", "sizes", "samples", "r2", "max_rel_err"]
        return t[cols].round(4).to_string(index=False)


def _batches(sizes: Sequence[int], repeats: int, span: int, slot_index: int) -> list[tuple[int, int, int]]:
    """(repeat, size, start) for one slot: offsets spread over ``[0, span)``, different per slot and repeat."""
    out = []
    for r in range(repeats):
        for j, size in enumerate(sizes):
            room = max(1, span - size + 1)
            out.append((r, int(size), int(((r * len(sizes) + j) * 997 + slot_index * 389) % room)))
    return out


def _corpus_rows(corpus: str) -> int:
    if corpus == "bundled":
        return len(bundled_corpus())
    return count_corpus_rows(corpus)


def profile_cluster(
    client: Any,
    *,
    sizes: Sequence[int] = DEFAULT_SIZES,
    repeats: int = 2,
    corpus: str = "bundled",
    span: int | None = None,
    concurrent: bool = True,
    dispatch: bool = True,
    links: bool = True,
    timeout: float = 600.0,
    log: Callable[[str], None] | None = None,
) -> Profile:
    """Calibrate the LLM job's costs on the workers of a connected Dask cluster (module docstring).

    Parameters
    ----------
    client : distributed.Client
    sizes : sequence of int
        Batch sizes (documents) to time; at least two distinct sizes give a slope and an intercept.
    repeats : int
        Timed passes over ``sizes`` per slot.
    corpus : str
        ``"bundled"`` or a corpus path readable by the workers.
    span : int, optional
        Sample batches from rows ``[0, span)`` (default: the whole corpus).
    concurrent : bool
        All slots sample at once (contention as in a run; default) or one after the other.
    dispatch : bool
        Also measure Dask's per-task dispatch latency (:func:`dispatch_latency`) and add it to every
        fitted intercept ``a``: in a run each task waits for a scheduler round trip after its inputs finish.
    links : bool
        Also measure moving a task output between two workers (:func:`link_costs`); ``meta["link"]``
        holds ``latency`` and ``bandwidth`` for the planned :class:`~hetflow.taskgraph.Cluster`
        (:meth:`Profile.cluster`).
    timeout : float
        Seconds to wait for each phase.
    log : callable, optional
        ``log(message)`` for progress.

    Returns
    -------
    Profile
    """
    sizes = [int(s) for s in sizes]
    if not sizes or min(sizes) < 1 or repeats < 1:
        raise InvalidInput("profile: sizes must be integers >= 1 and repeats >= 1")
    n_rows = _corpus_rows(corpus)
    span = min(int(span), n_rows) if span else n_rows
    if max(sizes) > span:
        raise InvalidInput(f"profile: size {max(sizes)} exceeds the {span} corpus rows sampled")
    log = log or (lambda message: None)
    t0 = time.time()
    infos = warm_up_workers(client, corpus=corpus, size=min(sizes), timeout=timeout)
    log(f"warm-up on {len(infos)} worker slots took {time.time() - t0:.1f} s")
    slots = list(slot_map(client).values())
    t1 = time.time()
    futures, previous = [], None
    start_at = time.time() + 0.3 if concurrent else None
    for i, s in enumerate(slots):
        options = {"start_at": start_at, "filler": concurrent and len(slots) > 1}
        f = _submit(client, s, _batches(sizes, repeats, span, i), False, corpus, None if concurrent else previous,
                    options)  # fmt: skip
        futures.append(f)
        previous = f
    with client.as_current():
        wait(futures, timeout=timeout)
    results = [f.result() for f in futures]
    rows = []
    for s, res in zip(slots, results):
        for row in res["samples"]:
            rows.append({"slot": s.worker.name, "device": s.worker.device, "speed": s.worker.speed, **row})
    seconds = time.time() - t1
    samples = pd.DataFrame(rows, columns=SAMPLE_COLUMNS)
    dropped = 0
    if concurrent and len(slots) > 1:  # keep what ran while every slot was still busy
        stop = min(res["stopped"] for res in results)
        kept = samples[samples["end"] <= stop]
        if kept.groupby(["kind", "device"]).ngroups == samples.groupby(["kind", "device"]).ngroups:
            dropped, samples = len(samples) - len(kept), kept.reset_index(drop=True)
    log(f"timed {len(rows)} op runs in {seconds:.1f} s ({'concurrently' if concurrent else 'one slot at a time'}"
        f"{f'; {dropped} ended after a slot had stopped and were dropped' if dropped else ''})")  # fmt: skip
    costs, table = fit_costs(samples)
    latency = dispatch_latency(client, timeout=timeout) if dispatch else 0.0
    link_latency, bandwidth = link_costs(client, timeout=timeout) if links else (None, None)
    costs = {k: {d: (a + latency, b) for d, (a, b) in devs.items()} for k, devs in costs.items()}
    table["a"] += latency
    meta = {
        "machine": {"node": platform.node(), "platform": platform.platform(), "python": platform.python_version(),
                    "processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count()},
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "workers": [{"name": s.worker.name, "device": s.worker.device, "speed": s.worker.speed,
                     "dask_worker": s.dask_name, **infos.get(s.worker.name, {})} for s in slots],
        "sizes": sizes, "repeats": int(repeats), "corpus": corpus, "span": span, "concurrent": bool(concurrent),
        "layer_split": [list(p) for p in LAYER_SPLIT], "merge_copies": MERGE_COPIES,
        "warm_up_s": round(t1 - t0, 3), "sample_s": round(seconds, 3), "dispatch_s": round(latency, 6),
        "dropped_samples": int(dropped),
        "link": {"latency": link_latency, "bandwidth": bandwidth} if links else None,
        "contention": round(float(samples.seconds.sum() / max(samples.cpu_seconds.sum(), 1e-9)), 3),
    }  # fmt: skip
    return Profile(costs, samples, table, meta)


def _stamp(*_: Any) -> float:
    return time.time()


def dispatch_latency(client: Any, n: int = 12, timeout: float = 60.0) -> float:
    """Seconds Dask adds per task of a chain: ``n`` no-op tasks chained on each slot (all slots at once).

    Each link waits for the worker -> scheduler -> worker round trip that makes the next task runnable,
    which a plan's cost model does not see. Each chain is submitted as one graph; its tasks stamp the time
    they ran. Returns the median over slots of (last stamp - first stamp) / (n - 1).
    """
    tag = time.time_ns()
    chains = []
    for s in slot_map(client).values():
        keys = [f"profile-chain-{s.worker.name}-{i}-{tag}" for i in range(n)]
        dsk = {k: (_stamp, *keys[i - 1 : i]) for i, k in enumerate(keys)}
        chains.append(client.get(dsk, keys, workers=[s.address], allow_other_workers=False, sync=False))
    with client.as_current():
        wait([f for chain in chains for f in chain], timeout=timeout)
    per_task = []
    for chain in chains:
        stamps = client.gather(chain)
        per_task.append((stamps[-1] - stamps[0]) / (n - 1))
        for f in chain:
            f.release()
    return max(0.0, float(np.median(per_task)))


def _payload(size: int, *_: Any) -> dict[str, Any]:
    """A task output like the LLM job's: a dict holding a numpy array of ``size`` bytes, stamped when made."""
    return {"made": time.time(), "data": np.zeros(int(size), dtype=np.uint8)}


def _arrival(payload: dict[str, Any]) -> float:
    return time.time() - payload["made"]


def link_costs(client: Any, sizes: Sequence[int] = (2**16, 2**20, 2**22, 2**24), repeats: int = 5,
               timeout: float = 60.0) -> tuple[float, float]:
    """Measure ``(latency s, bandwidth bytes/s)`` of moving a task output between two workers of the cluster.

    For each size, a producer task on one worker makes a payload of that many bytes and a consumer task
    reads it, once on the same worker and once on another (both pinned); the gap from
    production to consumption differs by the transfer (serialisation, the network, deserialisation), the
    scheduler round trip being in both. ``seconds = latency + size / bandwidth`` is fitted on the medians
    (:func:`fit_ab`). An untimed transfer goes first (the workers' first connection would otherwise be
    charged to the smallest size), and the largest size (16 MiB, ~10 ms on a local link) keeps the slope
    above the noise; should the fit still find no slope, the bandwidth is taken from the largest size
    alone. With one worker there is nothing to move: ``(0, inf)``.
    """
    addresses = list(dict.fromkeys(s.address for s in slot_map(client).values()))
    if len(addresses) < 2:
        return 0.0, float("inf")
    src, dst = addresses[0], addresses[1]
    tag = time.time_ns()
    samples = []
    for size, r in [(min(sizes), -1)] + [(size, r) for size in sizes for r in range(repeats)]:  # r=-1: warm-up
        for where in (src, dst):
            made = client.submit(_payload, size, key=f"profile-link-make-{size}-{r}-{where}-{tag}",
                                 workers=[src], allow_other_workers=False, pure=False)
            read = client.submit(_arrival, made, key=f"profile-link-read-{size}-{r}-{where}-{tag}",
                                 workers=[where], allow_other_workers=False, pure=False)
            pair = [made, read]
            with client.as_current():
                wait(pair, timeout=timeout)
            samples.append((size, where == dst, r < 0, pair[1].result()))
            for f in pair:
                f.release()
    frame = pd.DataFrame(samples, columns=["size", "remote", "warm_up", "seconds"])
    med = frame[~frame.warm_up].groupby(["size", "remote"])["seconds"].median().unstack()
    extra = (med[True] - med[False]).clip(lower=0.0)
    latency, per_byte = fit_ab(extra.index.to_numpy(float), extra.to_numpy(float))
    if per_byte <= 0 and extra.iloc[-1] > 0:  # no measurable slope: charge the largest transfer to bandwidth
        latency, per_byte = 0.0, float(extra.iloc[-1]) / float(extra.index[-1])
    return latency, (1.0 / per_byte if per_byte > 0 else float("inf"))


def _submit(
    client: Any, slot: Any, batches: list, warm: bool, corpus: str, after: Any = None, options: dict | None = None
) -> Any:
    """Submit :func:`profile_worker` pinned to ``slot`` (``GPU=1`` on the GPU slot of a shared worker)."""
    shared_gpu = slot.shared and slot.worker.device == "gpu"
    return client.submit(
        _run_after, slot.worker.device, corpus, batches, warm, options or {}, *([after] if after is not None else []),
        key=f"profile-{'warm' if warm else 'time'}-{slot.worker.name}-{time.time_ns()}",
        workers=[slot.address], allow_other_workers=False, pure=False,
        resources={GPU_RESOURCE: 1} if shared_gpu else None,
    )  # fmt: skip


def warm_up_workers(client: Any, *, corpus: str = "bundled", size: int = 8, timeout: float = 600.0) -> dict[str, dict]:
    """Run the LLM pipeline once, untimed, on every worker slot (model, tokenizer, corpus and topics load).

    Returns planned worker name -> ``{"pid", "torch_threads", "cuda", "omp_num_threads"}`` of its process.
    Call it before a timed run: loading MiniLM takes seconds per worker process.
    """
    slots = list(slot_map(client).values())
    futures = [_submit(client, s, [(0, size, 0)], True, corpus) for s in slots]
    with client.as_current():
        wait(futures, timeout=timeout)
    return {s.worker.name: f.result()["info"] for s, f in zip(slots, futures)}


def _run_after(device: str, corpus: str, batches: list, warm: bool, options: dict, *_after: Any) -> dict[str, Any]:
    """:func:`profile_worker` with ordering-only extra arguments (sequential profiling)."""
    return profile_worker(device, corpus, batches, warm_up=warm, **options)


def profile(
    cluster: Any = None,
    address: str | None = None,
    *,
    out: str | Path | None = None,
    **options: Any,
) -> Profile:
    """Open a Dask session (embedded cluster shaped like ``cluster``, or ``address``), profile, close.

    Parameters
    ----------
    cluster : hetflow.taskgraph.Cluster, optional
        Shape of the embedded cluster to start when no ``address`` is given (default 1 GPU-class + 2 CPU
        workers, the demo's).
    address : str, optional
        Scheduler of a running cluster; its workers are discovered.
    out : path, optional
        Write the costs file there (:meth:`Profile.save`).
    **options
        Passed to :func:`profile_cluster`.
    """
    if cluster is None and address is None:
        cluster = Cluster.local(gpus=1, cpus=2)
    with session(cluster, address, dashboard_address=None) as s:
        result = profile_cluster(s.client, **options)
    if out is not None:
        result.save(out)
    return result
