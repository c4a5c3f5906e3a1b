"""Honest digests and results files (issue 14, item 2).

``merge_digest`` hashes the full content of the results (:mod:`hetflow.flows.runtime.digest`), not their
``repr``: near-equal arrays and frames (whose ``repr`` elides the middle) get different digests, equal
content in different objects equal ones. ``results.json`` keeps large or non-JSON results in files of their
own (:func:`hetflow.flows.runtime.results_io.result_entry`), also from a real run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hetflow.flows.orchestration.record import merge_digest
from hetflow.flows.runtime.digest import content_digest
from hetflow.flows.runtime.results_io import INLINE_BYTES, result_entry


def _frame(n: int = 1000) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"doc": [f"d{i}" for i in range(n)], "score": rng.random(n), "topic": rng.integers(0, 5, n),
                         "emb": list(rng.random((n, 2)))})


# -- near-equal content: different digests ------------------------------------------------------------------
def test_arrays_that_differ_in_the_middle() -> None:
    a = np.arange(10_000, dtype=float)
    b = a.copy()
    b[5_000] += 0.5
    assert repr(a) == repr(b)  # what the old digest hashed
    assert merge_digest({"s": a}) != merge_digest({"s": b})
    c = a.copy()
    c[5_000] = np.nextafter(c[5_000], np.inf)  # one ulp
    assert content_digest(a) != content_digest(c)


def test_frames_that_differ_in_rows_100_and_101() -> None:
    a = _frame()
    b = a.copy()
    b.loc[100, "score"] += 1e-9
    b.loc[101, "doc"] = "changed"
    assert repr(a) == repr(b)
    assert merge_digest({"merge": a}) != merge_digest({"merge": b})
    for change in (lambda f: f.loc.__setitem__((100, "topic"), 9),  # an int column
                   lambda f: f.loc.__setitem__((101, "emb"), np.zeros(2))):  # an object column of arrays
        c = a.copy(deep=True)
        c["emb"] = [e.copy() for e in a["emb"]]
        change(c)
        assert repr(a) == repr(c) and content_digest(a) != content_digest(c)


def test_metadata_counts() -> None:
    a = _frame(200)
    assert content_digest(a) != content_digest(a.rename(columns={"score": "s"}))
    assert content_digest(a) != content_digest(a.set_axis(range(1, 201)))  # the index
    assert content_digest(a) != content_digest(a.astype({"topic": "int32"}))  # a dtype
    assert content_digest(a) != content_digest(a[["score", "doc", "topic", "emb"]])  # column order
    s = a["score"]
    assert content_digest(s) != content_digest(s.rename("other"))
    x = np.arange(6)
    assert content_digest(x) != content_digest(x.astype(np.int32))
    assert content_digest(x.reshape(2, 3)) != content_digest(x.reshape(3, 2))
    assert len({content_digest(v) for v in (1, 1.0, True, "1", b"1", np.int64(1), [1], (1,), {1})}) == 9
    mixed = pd.Series([1, "1"], dtype=object)
    assert content_digest(mixed) != content_digest(pd.Series(["1", 1], dtype=object))  # pandas' own hash: equal


def test_merge_digest_covers_sink_names_and_order() -> None:
    assert merge_digest({"a": 1, "b": 2}) != merge_digest({"b": 2, "a": 1})  # merge order is part of the run
    assert merge_digest({"a": 1}) != merge_digest({"b": 1})
    assert len(merge_digest({"a": 1})) == 16


# -- equal content in different objects: equal digests ----------------------------------------------------------
def test_equal_content_equal_digests() -> None:
    a = np.arange(10_000, dtype=float)
    strided = (np.arange(20_000, dtype=float) / 2)[::2]  # not contiguous, same values
    assert not strided.flags.c_contiguous and content_digest(a) == content_digest(strided)
    assert content_digest(np.asfortranarray(a.reshape(100, 100))) == content_digest(a.reshape(100, 100))
    f = _frame()
    rebuilt = pd.DataFrame({c: list(f[c]) if c == "emb" else f[c].to_numpy().copy() for c in f.columns})
    assert merge_digest({"m": f}) == merge_digest({"m": rebuilt})
    assert content_digest({"x": [1, 2.5], "y": None}) == content_digest({"y": None, "x": [1, 2.5]})
    assert content_digest({1, 2, 3}) == content_digest({3, 2, 1})
    assert content_digest(10**5000) == content_digest(10**5000 + 0) != content_digest(10**5000 + 1)

    @dataclasses.dataclass
    class Point:
        x: float
        y: list

    assert content_digest(Point(1.0, [2])) == content_digest(Point(1.0, [2])) != content_digest(Point(1.0, [3]))


def test_unknown_types_use_their_pickle() -> None:
    from fractions import Fraction

    assert content_digest(Fraction(1, 3)) == content_digest(Fraction(2, 6)) != content_digest(Fraction(1, 4))
    with pytest.raises(TypeError, match="cannot digest a _thread.lock"):
        content_digest(threading.Lock())


# -- results.json ---------------------------------------------------------------------------------------------
def test_large_results_get_files_of_their_own(tmp_path: Path) -> None:
    blob = np.random.default_rng(1).bytes(100 * 2**20)  # the 100 MB bytes sink
    array = np.random.default_rng(2).random((1000, 384)).astype(np.float32)
    frame = _frame().drop(columns="emb")
    big_list = list(range(300_000))
    text = "x" * (INLINE_BYTES + 1)
    results = {"blob": blob, "emb/array": array, "frame": frame, "series": frame["score"], "list": big_list,
               "text": text, "small": {"n": 3, "v": [1.5, None]}, "tuple": (1, np.float64(2.5)),
               "odd": threading.Lock}
    entries = {sink: result_entry(value, tmp_path, f"{i:03d}-{sink.replace('/', '_')}")
               for i, (sink, value) in enumerate(results.items())}
    assert len(json.dumps(entries)) < 10_000
    assert entries["small"] == {"n": 3, "v": [1.5, None]} and entries["tuple"] == [1, 2.5]
    assert entries["odd"]["$repr"] == repr(threading.Lock) and entries["odd"]["type"] == "builtin_function_or_method"

    def path(name: str) -> Path:
        ref = entries[name]
        assert ref["digest"] == content_digest(results[name])[:16]
        assert ref["bytes"] == (tmp_path / ref["$file"]).stat().st_size
        return tmp_path / ref["$file"]

    assert entries["blob"]["format"] == "bin" and path("blob").read_bytes() == blob
    assert entries["emb/array"]["$file"] == "results/001-emb_array.npy"
    loaded = np.load(path("emb/array"), allow_pickle=False)
    assert loaded.dtype == np.float32 and np.array_equal(loaded, array)
    pd.testing.assert_frame_equal(pd.read_parquet(path("frame")), frame)
    pd.testing.assert_series_equal(pd.read_parquet(path("series"))["score"], frame["score"])
    assert json.loads(path("list").read_text()) == big_list
    assert path("text").read_text(encoding="utf-8") == text


def test_frames_parquet_cannot_hold_fall_back_to_repr(tmp_path: Path) -> None:
    mixed = pd.DataFrame({"a": [1, "x", 2.5]}, dtype=object)
    assert result_entry(mixed, tmp_path, "0-m") == {"$repr": repr(mixed), "type": "pandas.DataFrame"}


# -- a real run: a 3 MB sink goes to a file, the digest is the content's --------------------------------------------
def test_run_writes_large_sinks_to_files(prefect_harness, dask_client, tmp_path: Path) -> None:
    from hetflow.flows.orchestration.flow import run_plan
    from hetflow.taskgraph import TaskGraph

    g = TaskGraph(name="blobs")
    g.add_task("big", {"cpu": 0.01}, op="test.blob", params={"size": 3 * 2**20, "seed": 7})
    g.add_task("small", {"cpu": 0.01}, op="test.add", params={"offset": 1})
    record = run_plan(g, client=dask_client, solver="heft", dashboard=False, artifacts=False, cost_store=None,
                      out_dir=str(tmp_path / "out"))  # no cost store: the session's stays as other tests expect
    expected = np.random.default_rng(7).bytes(3 * 2**20)
    assert record.results["big"] == expected
    assert record.digest == merge_digest({"big": expected, "small": record.results["small"]})
    document = json.loads((tmp_path / "out" / "results.json").read_text())
    assert document["digest"] == record.digest and os.path.getsize(tmp_path / "out" / "results.json") < 2_000
    entries = dict(document["results"])
    assert entries["big"]["$file"] == "results/000-big.bin" and entries["big"]["format"] == "bin"
    assert (tmp_path / "out" / entries["big"]["$file"]).read_bytes() == expected
    assert entries["small"] == [1.0, "cpu"]
