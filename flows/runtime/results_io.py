"""One sink result as a value of ``results.json``: inline when it is small JSON, else a file of its own.

:func:`hetflow.flows.orchestration.record.write_outputs` writes ``OUT_DIR/results.json`` as
``{"digest": ..., "results": [[sink, entry], ...]}`` with each ``entry`` from :func:`result_entry`::

    ["sink", <value>]
    ["big-sink", {"$file": "results/001-big-sink.npy", "format": "npy", "type": "numpy.ndarray",
                  "bytes": 8000128, "digest": "<content digest of the value>"}]

A result stays inline when it is JSON of at most ``INLINE_BYTES`` once encoded (JSON's own conversions
apply: tuples become lists, dict keys strings, NumPy scalars Python numbers). Otherwise it goes to
``OUT_DIR/results/<stem>.<ext>``, in a format that keeps it exactly and loads without pickle:

=========================  ==========  ==============================================
result                     ``format``  read back with
=========================  ==========  ==============================================
NumPy array (not object)   ``npy``     ``numpy.load(path)`` (``allow_pickle`` off)
pandas DataFrame / Series  ``parquet`` ``pandas.read_parquet(path)``
bytes, bytearray           ``bin``     ``open(path, "rb").read()``
str                        ``txt``     ``open(path, encoding="utf-8").read()``
large JSON                 ``json``    ``json.load(open(path))``
anything else              ``repr``    (its ``repr`` as text; not loadable)
=========================  ==========  ==============================================

A frame that parquet cannot hold (e.g. mixed-type object columns) falls back to ``repr`` as well. An
object whose ``repr`` is short stays inline as ``{"$repr": ..., "type": ...}``. The ``digest`` of a stored
result is :func:`hetflow.flows.runtime.digest.content_digest` of the value, cut to 16 characters like the
merge digest.
"""

from __future__ import annotations

import io
import json
import os
import sys
from typing import Any

import numpy as np
from hetflow.flows.runtime.digest import content_digest

__all__ = ["result_entry", "INLINE_BYTES"]

INLINE_BYTES = 1 << 20  # a result larger than this (as JSON) gets a file of its own


def result_entry(value: Any, out_dir: str | os.PathLike, stem: str) -> Any:
    """The ``results.json`` value of one sink result: the value itself, or a reference to the file it went to.

    Parameters
    ----------
    value : object
        The sink's result.
    out_dir : path
        The run's output folder; a stored result goes to its ``results/`` subfolder.
    stem : str
        The file name without extension (file-name-safe, unique in the run, e.g. ``"001-merge"``).

    Examples
    --------
    >>> import tempfile
    >>> out = tempfile.mkdtemp()
    >>> result_entry([1, 2], out, "000-small")
    [1, 2]
    >>> ref = result_entry(np.zeros(3), out, "001-array")
    >>> ref["$file"], ref["format"], np.load(os.path.join(out, ref["$file"])).tolist()
    ('results/001-array.npy', 'npy', [0.0, 0.0, 0.0])
    """
    return _entry(value, os.fspath(out_dir), stem)


def _entry(value: Any, out_dir: str, stem: str) -> Any:
    """The JSON value of one result: the value itself, or a reference to the file it was written to."""
    text = _json_text(value)
    if text is not None and len(text) <= INLINE_BYTES:
        return json.loads(text)
    fmt, data = ("json", text.encode()) if text is not None else _encode(value)
    if fmt == "repr" and len(data) <= INLINE_BYTES:
        return {"$repr": data.decode("utf-8", "surrogatepass"), "type": _type_name(value)}
    rel = f"results/{stem}.{fmt}"
    path = os.path.join(out_dir, *rel.split("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if callable(data):
        data(path)
    else:
        with open(path, "wb") as f:
            f.write(data)
    return {"$file": rel, "format": fmt, "type": _type_name(value), "bytes": os.path.getsize(path),
            "digest": content_digest(value)[:16]}


def _json_text(value: Any) -> str | None:
    """``value`` as JSON text, or None when it is not JSON (JSON's own conversions apply: tuples become lists,
    dict keys strings, NumPy scalars Python numbers). A string longer than ``INLINE_BYTES`` counts as not JSON,
    so that it gets a plain text file."""

    def default(obj: Any) -> Any:
        if isinstance(obj, np.generic) and not isinstance(obj, np.object_):
            return obj.item()
        raise TypeError(type(obj).__name__)

    if isinstance(value, str) and len(value) > INLINE_BYTES:
        return None
    try:
        return json.dumps(value, default=default)
    except (TypeError, ValueError, RecursionError):
        return None


def _encode(value: Any) -> tuple[str, Any]:
    """``(format, bytes or a function that writes the file)`` for a result that is not JSON."""
    if isinstance(value, np.ndarray) and not value.dtype.hasobject:
        return "npy", lambda path: np.save(path, value, allow_pickle=False)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "bin", bytes(value)
    if isinstance(value, str):
        return "txt", value.encode("utf-8", "surrogatepass")
    frame = _as_frame(value)
    if frame is not None:
        try:
            buffer = io.BytesIO()
            frame.to_parquet(buffer)
            return "parquet", buffer.getvalue()
        except Exception:  # pyarrow refuses some frames (object columns of mixed types, ...), in many error types
            pass
    return "repr", repr(value).encode("utf-8", "surrogatepass")


def _as_frame(value: Any) -> Any:
    pd = sys.modules.get("pandas")
    if pd is None:
        return None
    if isinstance(value, pd.DataFrame):
        return value
    if isinstance(value, pd.Series):
        return value.to_frame(name=value.name if value.name is not None else "value")
    return None


def _type_name(value: Any) -> str:
    kind = type(value)
    package = kind.__module__.split(".")[0]
    return kind.__qualname__ if package == "builtins" else f"{package}.{kind.__qualname__}"
