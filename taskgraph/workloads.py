"""Workload generators: the batch LLM job over a text corpus as a :class:`TaskGraph`.

The graph only describes the job (costs, bytes, ops and their parameters); the task functions are the
``llm.*`` ops of :mod:`hetflow.flows.llm.ops`. Building a graph reads no text and imports no torch, so planning
benchmarks can build large graphs quickly.

Per batch ``b`` of ``batch_size`` documents::

    pre{b} -> feat{b} -> shard{b}.0 -> ... -> shard{b}.{n_shards-1} -> score{b}

then a merge tree (fan-in ``merge_fanin``) over the ``score`` tasks up to one root ``merge``, whose result
is the table with one row per input document.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
from hetflow.taskgraph.errors import CostError, FormatError, InvalidInput
from hetflow.taskgraph.graph import TaskGraph, check_number

__all__ = [
    "llm_batch_job",
    "layer_split",
    "DEFAULT_COSTS",
    "KINDS",
    "resolve_costs",
    "load_costs",
    "save_costs",
    "count_corpus_rows",
    "N_LAYERS",
    "TOKENS_PER_DOC",
]

KINDS = ("preprocess", "features", "inference", "score", "merge")
N_LAYERS = 6  # MiniLM-L6's encoder layers (the executable model)
HIDDEN = 384

# Edge size estimates. Batches are padded to their longest document: on the bundled corpus the padded width
# averages ~44 tokens (mean real length ~20) at batch_size 64; user corpora with long rows will be larger.
TOKENS_PER_DOC = 48
_META_BYTES = 120  # per doc: ids, flags, normalized text (~75 chars)
_ROW_BYTES = 200  # per result-table row: meta + 8 topic scores + best topic

# Seconds = a + b * size, per kind and device class, at speed 1. size = documents in the batch, except
# "inference": documents x encoder layers in the shard, and "merge": rows merged.
# CPU: measured with the real ops (hetflow.flows.llm.ops) on the bundled corpus (batch_size 64, padded width ~45
# tokens), one torch thread (HETFLOW_TORCH_THREADS=1), on a shared 2-core x86 VM (Python 3.11, torch 2.13
# CPU): a = median time of a one-document batch, b = (total - batches * a) / docs. Encoder layers: 2.2 ms per
# doc-layer (~50 us per padded token; ~460 docs/s per layer, ~75 docs/s for the whole model) in the
# least-loaded run; 2-5x slower while other jobs loaded the VM. The other ops are ~1% of the work.
# Loading the model, tokenizer and corpus (~5 s + ~2 s, once per worker process) is not included.
# GPU: no GPU was available, so these are estimates: ~1 ms per task for host<->device copies and kernel
# launches; per-doc costs ~25x below the CPU for encoder layers, ~10x for embeddings, ~5x for scoring.
# For a real machine, pass a calibration file (load_costs; written by `hetflow profile`).
DEFAULT_COSTS: dict[str, dict[str, tuple[float, float]]] = {
    "preprocess": {"cpu": (5.0e-4, 6.0e-5)},
    "features": {"cpu": (2.0e-4, 5.0e-5), "gpu": (1.0e-3, 5.0e-6)},
    "inference": {"cpu": (2.0e-3, 2.2e-3), "gpu": (1.0e-3, 9.0e-5)},
    "score": {"cpu": (2.0e-3, 3.0e-5), "gpu": (1.0e-3, 6.0e-6)},
    "merge": {"cpu": (1.0e-3, 5.0e-7)},
}


# -- costs ---------------------------------------------------------------------------------------
def resolve_costs(costs: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, dict[str, tuple[float, float]]]:
    """:data:`DEFAULT_COSTS` updated with ``costs`` (per kind and device); validated.

    Parameters
    ----------
    costs : mapping, optional
        ``{kind: {device: (a, b) or None}}``. An entry replaces the default for that kind and device;
        ``None`` removes the device for that kind (the task cannot run there). Kinds not named keep their
        defaults.

    Raises
    ------
    CostError
        Unknown kind, a pair that is not two finite numbers >= 0, or a kind left with no device.

    Examples
    --------
    >>> costs = resolve_costs({"score": {"gpu": None}, "merge": {"cpu": (0.002, 1e-6)}})
    >>> costs["score"], costs["merge"]  # scoring becomes CPU-only, merging dearer
    ({'cpu': (0.002, 3e-05)}, {'cpu': (0.002, 1e-06)})
    >>> resolve_costs({"embed": {"gpu": (0, 1)}})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    hetflow.taskgraph.errors.CostError: costs name unknown task kind 'embed'; kinds are preprocess, ...
    """
    out = {kind: dict(devs) for kind, devs in DEFAULT_COSTS.items()}
    for kind, devs in (costs or {}).items():
        if kind not in out:
            raise CostError(f"costs name unknown task kind {kind!r}; kinds are {', '.join(KINDS)}")
        if not isinstance(devs, Mapping):
            raise CostError(f"costs[{kind!r}] must map device class -> [a, b], got {devs!r}")
        for device, pair in devs.items():
            if not isinstance(device, str) or not device:
                raise CostError(f"costs[{kind!r}] names device class {device!r}")
            if pair is None:
                out[kind].pop(device, None)
                continue
            if isinstance(pair, (str, bytes)) or not hasattr(pair, "__len__") or len(pair) != 2:
                raise CostError(f"costs[{kind!r}][{device!r}] must be [a, b] (seconds = a + b*size), got {pair!r}")
            what = f"costs[{kind!r}][{device!r}]"
            out[kind][device] = (check_number(pair[0], f"{what}[0]"), check_number(pair[1], f"{what}[1]"))
    for kind, devs in out.items():
        if not devs:
            raise CostError(f"costs leave task kind {kind!r} with no device class")
    return out


def load_costs(path: str | Path) -> dict[str, dict[str, tuple[float, float]]]:
    """Read a cost calibration JSON file: ``{"costs": {kind: {device: [a, b]}}, ...}`` or the bare mapping.

    Only the entries in the file are returned (pass the result as ``costs=`` to merge with the defaults).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = save_costs({"merge": {"cpu": (0.002, 1e-6)}}, Path(folder) / "costs.json")
    ...     load_costs(path)
    {'merge': {'cpu': (0.002, 1e-06)}}
    """
    from hetflow.taskgraph.io import read_json

    data = read_json(path, "cost file")
    if isinstance(data, Mapping) and "costs" in data:
        data = data["costs"]
    if not isinstance(data, Mapping):
        raise FormatError(f"cost file {str(path)!r} must hold an object {{kind: {{device: [a, b]}}}}")
    full = resolve_costs(data)  # validates
    return {kind: {d: full[kind][d] for d in devs if devs[d] is not None} for kind, devs in data.items()}


def save_costs(costs: Mapping[str, Mapping[str, Any]], path: str | Path, meta: Mapping[str, Any] | None = None) -> Path:
    """Write ``costs`` as ``{"format": "hetflow-costs/1", "costs": {...}, "meta": {...}}``; return the path.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = save_costs({"score": {"gpu": (0.001, 6e-6)}}, Path(folder) / "c.json", meta={"host": "lab1"})
    ...     json.loads(path.read_text())
    {'format': 'hetflow-costs/1', 'costs': {'score': {'gpu': [0.001, 6e-06]}}, 'meta': {'host': 'lab1'}}
    """
    resolve_costs({k: {d: p for d, p in v.items() if p is not None} for k, v in costs.items()})  # validate
    data = {
        "format": "hetflow-costs/1",
        "costs": {k: {d: [float(p[0]), float(p[1])] for d, p in v.items() if p is not None} for k, v in costs.items()},
        "meta": dict(meta or {}),
    }
    path = Path(path)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


# -- corpus size without loading text ------------------------------------------------------------------
def count_corpus_rows(path: str | Path) -> int:
    """Number of documents in a corpus file, by the rules of ``hetflow.flows.llm.corpus.load_corpus``.

    ``.txt``: lines (a final newline does not add one); ``.parquet``: rows from the file metadata;
    ``.csv``: records after the header (parsed, since quoted fields may span lines).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     corpus = Path(folder) / "docs.csv"
    ...     _ = corpus.write_text('text\\n"first, with a comma"\\n"second\\nspans two lines"\\n')
    ...     count_corpus_rows(corpus)
    2
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".txt", ".csv", ".parquet"):
        raise FormatError(f"{path}: unknown corpus format {suffix or '(no extension)'!r}; use .txt, .csv or .parquet")
    if not path.is_file():
        raise FormatError(f"{path}: corpus file not found")
    if suffix == ".txt":
        raw = path.read_bytes()
        raw = raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw
        return 0 if not raw else raw.count(b"\n") + (not raw.endswith(b"\n"))
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            return int(pq.ParquetFile(path).metadata.num_rows)
        except Exception as exc:  # pyarrow raises several unrelated types for bad files
            raise FormatError(f"{path}: not a readable Parquet file ({type(exc).__name__}: {exc})") from None
    import csv
    import io

    text = path.read_bytes().decode("utf-8-sig", "surrogateescape")
    try:
        return max(0, sum(1 for _ in csv.reader(io.StringIO(text, newline=""))) - 1)  # minus the header
    except csv.Error as exc:
        raise FormatError(f"{path}: not a readable CSV file ({exc})") from None


# -- the job -------------------------------------------------------------------------------------
def layer_split(n_layers: int, n_shards: int) -> list[tuple[int, int]]:
    """Split layers ``0..n_layers-1`` into ``n_shards`` consecutive ranges as evenly as possible.

    Earlier shards get the extra layers; when ``n_shards > n_layers`` the last shards are empty
    (pass-through).

    Examples
    --------
    >>> layer_split(6, 4)
    [(0, 2), (2, 4), (4, 5), (5, 6)]
    >>> layer_split(6, 8)[-3:]
    [(5, 6), (6, 6), (6, 6)]
    """
    q, r = divmod(n_layers, n_shards)
    out, lo = [], 0
    for k in range(n_shards):
        hi = lo + q + (k < r)
        out.append((lo, hi))
        lo = hi
    return out


def _cost(table: Mapping[str, tuple[float, float]], size: float, factor: float = 1.0) -> dict[str, float]:
    return {device: factor * (a + b * size) for device, (a, b) in table.items()}


def llm_batch_job(
    n_docs: int | None = 2000,
    batch_size: int = 64,
    n_shards: int = 3,
    *,
    corpus: str = "bundled",
    merge_fanin: int = 4,
    costs: Mapping[str, Mapping[str, Any]] | None = None,
    seed: int | None = None,
    n_layers: int = N_LAYERS,
) -> TaskGraph:
    """The batch LLM job: embed and score ``n_docs`` documents with MiniLM, sharded over ``n_shards`` tasks.

    Parameters
    ----------
    n_docs : int or None
        Documents (corpus rows ``0..n_docs-1``). ``None`` counts the rows of the corpus file (not allowed
        for ``"bundled"``). The text is never read while building the graph.
    batch_size : int
        Documents per batch (the last batch may be smaller).
    n_shards : int
        Inference tasks per batch; the encoder layers are split as evenly as possible (:func:`layer_split`).
        MiniLM has 6 layers: with more shards than layers the extra shards are empty pass-through tasks
        (they still run and move activations). Such graphs are meant for planning benchmarks.
    corpus : str
        ``"bundled"`` (text shipped with packages, see ``hetflow.flows.llm.corpus``) or a ``.txt``/``.csv``/``.parquet``
        path; stored in the ``pre*`` tasks' params (absolute when the file exists here).
    merge_fanin : int
        Inputs per merge task (>= 2).
    costs : mapping, optional
        ``{kind: {device: (a, b)}}`` overrides of :data:`DEFAULT_COSTS` (see :func:`resolve_costs`), e.g.
        :func:`load_costs` of a calibration file. Seconds at speed 1 = ``a + b * size``.
    seed : int, optional
        When given, each batch's costs are scaled by a lognormal factor (sigma 0.25, mean 1) drawn from
        this seed, emulating batches of different document lengths. ``None``: exact formula.
    n_layers : int
        Encoder layers to split (6 = MiniLM, executable). Larger values give planning-only graphs whose
        shards name layers MiniLM lacks (``llm.shard`` refuses them).

    Returns
    -------
    TaskGraph
        Kinds ``preprocess``, ``features``, ``inference``, ``score``, ``merge``; every task has ``op`` and
        JSON-able ``params``; edge ``bytes`` are size estimates. ``G.graph["workload"]`` records the
        arguments.

    Examples
    --------
    >>> g = llm_batch_job(n_docs=256, batch_size=64, n_shards=2)
    >>> len(g), g.sinks, g.G.nodes["shard0.1"]["params"]
    (21, ['merge'], {'layers': [3, 6]})
    """
    for name, value, low in (
        ("batch_size", batch_size, 1),
        ("n_shards", n_shards, 1),
        ("merge_fanin", merge_fanin, 2),
        ("n_layers", n_layers, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise InvalidInput(f"llm_batch_job: {name} must be an integer >= {low}, got {value!r}")
    if corpus != "bundled":
        path = Path(corpus)
        if n_docs is None:
            n_docs = count_corpus_rows(path)
            if n_docs == 0:
                raise FormatError(f"{path}: corpus has no rows")
        if path.is_file():
            corpus = str(path.resolve())
    elif n_docs is None:
        raise InvalidInput("llm_batch_job: give n_docs for the bundled corpus")
    if isinstance(n_docs, bool) or not isinstance(n_docs, (int, np.integer)) or n_docs < 1:
        raise InvalidInput(f"llm_batch_job: n_docs must be an integer >= 1, got {n_docs!r}")
    n_docs, batch_size, n_shards = int(n_docs), int(batch_size), int(n_shards)
    table = resolve_costs(costs)
    n_batches = math.ceil(n_docs / batch_size)
    rng = np.random.default_rng(seed) if seed is not None else None
    factors = rng.lognormal(-(0.25**2) / 2, 0.25, n_batches) if rng is not None else np.ones(n_batches)
    split = layer_split(int(n_layers), n_shards)
    act_bytes = TOKENS_PER_DOC * (HIDDEN * 4 + 1) + _META_BYTES  # float32 activations + int8 mask + meta
    tok_bytes = TOKENS_PER_DOC * 5 + _META_BYTES  # int32 ids + int8 mask + meta

    G = nx.DiGraph()
    G.graph["name"] = f"llm-batch-{n_docs}x{batch_size}-s{n_shards}"
    G.graph["workload"] = {
        "kind": "llm_batch_job", "n_docs": n_docs, "batch_size": batch_size, "n_shards": n_shards,
        "corpus": corpus, "merge_fanin": merge_fanin, "seed": seed, "n_layers": int(n_layers),
    }  # fmt: skip
    level: list[tuple[str, int]] = []  # (task, rows) feeding the merge tree
    for b in range(n_batches):
        start, stop = b * batch_size, min(n_docs, (b + 1) * batch_size)
        n, f = stop - start, float(factors[b])
        pre, feat, sc = f"pre{b}", f"feat{b}", f"score{b}"
        G.add_node(pre, kind="preprocess", cost=_cost(table["preprocess"], n, f), op="llm.preprocess",
                   params={"corpus": corpus, "start": start, "stop": stop})  # fmt: skip
        G.add_node(feat, kind="features", cost=_cost(table["features"], n, f), op="llm.features", params={})
        G.add_edge(pre, feat, bytes=float(n * tok_bytes))
        prev = feat
        for k, (lo, hi) in enumerate(split):
            sh = f"shard{b}.{k}"
            G.add_node(sh, kind="inference", cost=_cost(table["inference"], n * (hi - lo), f), op="llm.shard",
                       params={"layers": [lo, hi]})  # fmt: skip
            G.add_edge(prev, sh, bytes=float(n * act_bytes))
            prev = sh
        G.add_node(sc, kind="score", cost=_cost(table["score"], n, f), op="llm.score", params={})
        G.add_edge(prev, sc, bytes=float(n * act_bytes))
        level.append((sc, n))

    depth = 0
    while True:
        root = len(level) <= merge_fanin
        groups = [level] if root else [level[i : i + merge_fanin] for i in range(0, len(level), merge_fanin)]
        nxt = []
        for i, group in enumerate(groups):
            if len(group) == 1 and not root:
                nxt.append(group[0])  # a lone leftover joins the next level unmerged
                continue
            rows = sum(r for _, r in group)
            m = "merge" if root else f"merge{depth}.{i}"
            params: dict[str, Any] = {"final": True, "n_docs": n_docs} if root else {}
            G.add_node(m, kind="merge", cost=_cost(table["merge"], rows), op="llm.merge", params=params)
            for t, r in group:
                G.add_edge(t, m, bytes=float(r * _ROW_BYTES))
            nxt.append((m, rows))
        if root:
            break
        level, depth = nxt, depth + 1
    return TaskGraph(G)
