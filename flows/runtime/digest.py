"""Content digests of run results: equal digests mean equal content, whichever objects hold it.

:func:`content_digest` hashes (SHA-256) a value's full content, not its ``repr`` (which elides the middle of
large arrays and frames, so two results that differ there would look equal):

* ``None``, ``bool``, ``int`` (any size), ``float`` and ``complex`` (bitwise), ``str`` (UTF-8), ``bytes``,
  ``bytearray`` and ``memoryview`` (the bytes), each with a type tag, so ``1``, ``1.0``, ``True`` and
  ``"1"`` differ;
* NumPy arrays and scalars: dtype, shape and the C-ordered bytes (object arrays element by element);
* pandas ``DataFrame``, ``Series`` and ``Index``: type, shape, column labels, dtypes, index and values —
  per column :func:`pandas.util.hash_pandas_object` (a 64-bit hash per row), object columns element by
  element;
* ``list`` and ``tuple`` in order; ``dict`` (any mapping), ``set`` and ``frozenset`` independent of order
  (like ``==``); dataclass instances as their type name and fields;
* anything else as its type name and its pickle (protocol 5). That is deterministic for a given object, but
  two equal objects of an unknown type built differently (e.g. holding a set in another insertion order)
  may get different digests; an object that cannot be pickled raises ``TypeError``.

Examples
--------
>>> import numpy as np
>>> a, b = np.zeros(10_000), np.zeros(10_000)
>>> b[5_000] = 1e-300
>>> content_digest(a) == content_digest(b), repr(a) == repr(b)
(False, True)
>>> content_digest({"x": [1, 2.0]}) == content_digest({"x": [1, 2.0]})
True
>>> content_digest(1) == content_digest(1.0)
False
"""

from __future__ import annotations

import dataclasses
import hashlib
import pickle
import struct
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["content_digest", "update_digest"]


def content_digest(value: Any) -> str:
    """SHA-256 hex digest of ``value``'s content (see the module docstring for what counts)."""
    h = hashlib.sha256()
    update_digest(h, value)
    return h.hexdigest()


def update_digest(h: Any, value: Any) -> None:
    """Feed ``value``'s content into the hashlib object ``h`` (tagged and length-prefixed: unambiguous)."""
    if value is None:
        h.update(b"N")
    elif isinstance(value, bool):
        h.update(b"B1" if value else b"B0")
    elif isinstance(value, np.generic):  # before int/float: np.float64 is a float, but keeps its dtype
        _array(h, np.asarray(value), b"G")
    elif isinstance(value, int):
        _chunk(h, b"I", value.to_bytes(value.bit_length() // 8 + 1, "little", signed=True))
    elif isinstance(value, float):
        _chunk(h, b"F", struct.pack("<d", value))
    elif isinstance(value, complex):
        _chunk(h, b"C", struct.pack("<dd", value.real, value.imag))
    elif isinstance(value, str):
        _chunk(h, b"S", value.encode("utf-8", "surrogatepass"))
    elif isinstance(value, (bytes, bytearray, memoryview)):
        _chunk(h, b"Y", memoryview(value).cast("B"))
    elif isinstance(value, np.ndarray):
        _array(h, value, b"A")
    elif isinstance(value, (list, tuple)):
        _chunk(h, b"L" if isinstance(value, list) else b"T", str(len(value)).encode())
        for item in value:
            update_digest(h, item)
    elif isinstance(value, Mapping):
        entries = sorted(content_digest(k) + content_digest(v) for k, v in value.items())
        _chunk(h, b"M", "".join(entries).encode())
    elif isinstance(value, (set, frozenset)):
        _chunk(h, b"E", "".join(sorted(content_digest(x) for x in value)).encode())
    elif _is_pandas(value):
        _pandas(h, value)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        _chunk(h, b"K", _type_name(value).encode())
        update_digest(h, {f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    else:
        try:
            data = pickle.dumps(value, protocol=5)
        except Exception as e:  # pickling raises many types
            raise TypeError(f"cannot digest a {_type_name(value)}: not a known type, and not picklable ({e})") from e
        _chunk(h, b"P", _type_name(value).encode())
        _chunk(h, b"p", data)


def _chunk(h: Any, tag: bytes, data: bytes | memoryview) -> None:
    h.update(tag + len(data).to_bytes(8, "little"))
    h.update(data)


def _type_name(value: Any) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


def _array(h: Any, array: np.ndarray, tag: bytes) -> None:
    dtype = array.dtype
    _chunk(h, tag, f"{dtype.descr if dtype.fields else dtype.str}|{array.shape}".encode())
    if dtype.hasobject:
        for item in array.ravel(order="C"):
            update_digest(h, item)
    else:
        _chunk(h, b"a", memoryview(np.ascontiguousarray(array)).cast("B"))


def _is_pandas(value: Any) -> bool:
    pd = sys.modules.get("pandas")  # not imported: the value cannot be a pandas object
    return pd is not None and isinstance(value, (pd.DataFrame, pd.Series, pd.Index))


def _pandas(h: Any, value: Any) -> None:
    import pandas as pd

    _chunk(h, b"D", _type_name(value).encode())
    if isinstance(value, pd.DataFrame):
        update_digest(h, [list(value.shape), list(value.columns), [str(t) for t in value.dtypes]])
        _pandas_values(h, value.index)
        for i in range(value.shape[1]):
            _pandas_values(h, value.iloc[:, i])
    elif isinstance(value, pd.Series):
        update_digest(h, [value.name, str(value.dtype), len(value)])
        _pandas_values(h, value.index)
        _pandas_values(h, value)
    else:  # an Index
        _pandas_values(h, value)


def _pandas_values(h: Any, values: Any) -> None:
    """An Index's or a Series' values (without the Series' index): names, dtype, then the values."""
    import pandas as pd

    names = list(values.names) if isinstance(values, pd.Index) else [values.name]
    update_digest(h, [names, str(values.dtype), len(values)])
    if values.dtype == object:  # hash_pandas_object would hash str(x): 1 and "1" would collide
        for item in values.tolist():
            update_digest(h, item)
    else:
        hashed = pd.util.hash_pandas_object(values, index=False) if isinstance(values, pd.Series) \
            else pd.util.hash_pandas_object(values)
        _chunk(h, b"H", memoryview(np.ascontiguousarray(hashed.to_numpy(dtype=np.uint64))).cast("B"))
