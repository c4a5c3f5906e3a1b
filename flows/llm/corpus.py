"""Text corpora for the batch LLM job: a bundled offline corpus and a loader for a user's own file.

No torch here: this module only reads text.

Bundled corpus
--------------
:func:`bundled_corpus` needs no download. It is built, in a fixed order, from

1. pyjokes' English jokes (``pyjokes.get_jokes("en", "all")``, ~280 one-liners), then
2. sentences of the docstrings of ~70 pure-Python standard-library modules (:data:`STDLIB_MODULES`), read
   from their source files with :mod:`ast` (nothing is imported), split into sentences and filtered to
   prose (30–300 characters, at least 5 words, no code).

The result is deterministic for a given Python and pyjokes version (docstrings change between Python
releases). When more documents are asked for than exist, the list is repeated; repeats are exact duplicates,
which the job computes once (see ``dup_of`` below).

User corpus and its handling (:func:`load_corpus`)
--------------------------------------------------
One document per row of a ``.txt`` file (one per line, split on ``\\n`` only; a trailing ``\\r`` is dropped;
a final newline does not add a row), of a ``.csv`` file (a header row, then one record per row, quoted
fields may span lines, a blank line is an empty row; the ``text`` column, or the only column) or of a
``.parquet`` file (the ``text`` column, or the only string column). The frame has exactly one row per input
row, in input order:

``doc_id``
    The input row number (0-based, header excluded).
``text``
    The row's text as decoded (nothing removed).
``empty``
    True when the normalized text is empty (empty or whitespace-only rows). Such rows are kept, are not
    run through the model, and get empty scores in the results.
``bad_bytes``
    Number of bytes that were not valid UTF-8. They are decoded with ``errors="replace"`` (U+FFFD) and the
    row is processed normally. Parquet strings are always valid UTF-8 (binary cells are decoded the same way).
``dup_of``
    For a non-empty row whose normalized text (:func:`normalize_text`) equals that of an earlier row, the
    ``doc_id`` of the first such row; else ``-1``. Duplicates are kept as rows but computed once: their
    scores are copied from the first occurrence when results are merged.

Errors are :class:`hetflow.taskgraph.errors.FormatError` with a one-line message: missing file, unknown extension,
unreadable CSV/Parquet, no text column, no rows.
"""

from __future__ import annotations

import ast
import csv
import functools
import importlib.util
import io
import re
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd
from hetflow.taskgraph.errors import FormatError

__all__ = [
    "bundled_corpus",
    "load_corpus",
    "corpus_frame",
    "normalize_text",
    "decode_bytes",
    "STDLIB_MODULES",
    "SUFFIXES",
]

SUFFIXES = (".txt", ".csv", ".parquet")

# Pure-Python stdlib modules whose docstrings feed the bundled corpus (order matters: it is the corpus order).
_MODULE_NAMES = (
    "abc argparse ast asyncio.base_events asyncio.streams asyncio.tasks base64 bdb bisect calendar cmd "
    "codecs collections concurrent.futures._base configparser contextlib copy csv dataclasses datetime "
    "decimal difflib email.message email.utils enum filecmp fileinput fnmatch fractions ftplib functools "
    "getopt gettext glob gzip hashlib heapq hmac html.parser http.client http.cookiejar http.server "
    "imaplib inspect ipaddress json.decoder json.encoder locale logging logging.handlers mailbox "
    "mimetypes multiprocessing.pool multiprocessing.process netrc optparse os pathlib pdb pickle pkgutil "
    "platform poplib pprint pydoc queue random re shlex shutil smtplib socket socketserver sqlite3.dbapi2 "
    "statistics string subprocess tarfile tempfile textwrap threading timeit tokenize traceback turtle "
    "typing unittest.case unittest.mock urllib.parse urllib.request uuid warnings wave weakref "
    "xml.dom.minidom zipfile"
)
STDLIB_MODULES = tuple(_MODULE_NAMES.split())

_WS = re.compile(r"\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_CODEY = re.compile(r"[`{}\[\]<>=_|\\*#@]|>>>|::|\(\)|\w\.\w")


def normalize_text(text: str) -> str:
    """Unicode NFKC, whitespace runs collapsed to one space, ends stripped.

    Examples
    --------
    >>> normalize_text("  caf\\u00e9\\u00a0 \\t au   lait \\n")
    'café au lait'
    """
    return _WS.sub(" ", unicodedata.normalize("NFKC", text)).strip()


def decode_bytes(raw: bytes) -> tuple[str, int]:
    """Decode UTF-8 with ``errors="replace"``; return the text and the number of invalid bytes.

    Examples
    --------
    >>> decode_bytes(b"ok \\xff\\xfe!")
    ('ok \\ufffd\\ufffd!', 2)
    """
    try:
        return raw.decode("utf-8"), 0
    except UnicodeDecodeError:
        escaped = raw.decode("utf-8", "surrogateescape")  # one lone surrogate per invalid byte
        bad = sum(1 for c in escaped if "\udc80" <= c <= "\udcff")
        return raw.decode("utf-8", "replace"), bad


# -- bundled corpus ------------------------------------------------------------------------------
def _docstring_sentences(module: str) -> list[str]:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return []
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8", errors="replace"))
    nodes = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    out = []
    for node in ast.walk(tree):
        doc = ast.get_docstring(node) if isinstance(node, nodes) else None
        if not doc:
            continue
        for para in re.split(r"\n\s*\n", doc):
            lines = para.splitlines()
            if any(line.startswith((" ", "\t", ">>>", "-", "*", "+")) for line in lines[1:] or lines):
                continue  # code, tables, bullet lists
            for sent in _SENTENCE_END.split(" ".join(line.strip() for line in lines)):
                sent = sent.strip()
                if (
                    30 <= len(sent) <= 300
                    and len(sent.split()) >= 5
                    and sent[0].isupper()
                    and sent.endswith(".")
                    and not _CODEY.search(sent)
                ):
                    out.append(sent)
    return out


@functools.cache
def _bundled_base() -> tuple[str, ...]:
    """The bundled documents, built once per process (pyjokes is part of the ``llm`` extra)."""
    import pyjokes

    docs = [normalize_text(j) for j in pyjokes.get_jokes(language="en", category="all")]
    for module in STDLIB_MODULES:
        docs.extend(normalize_text(s) for s in _docstring_sentences(module))
    return tuple(d for d in docs if d)


def bundled_corpus(n_docs: int | None = None) -> list[str]:
    """Documents built from text shipped in installed packages (no download; see the module docstring).

    Parameters
    ----------
    n_docs : int, optional
        Number of documents; all of them (a few thousand) by default. Larger values repeat the list.

    Returns
    -------
    list of str
        Deterministic for a given Python and pyjokes version.
    """
    base = _bundled_base()
    if n_docs is None:
        return list(base)
    if n_docs < 0:
        raise ValueError(f"n_docs must be >= 0, got {n_docs}")
    return [base[i % len(base)] for i in range(n_docs)]


# -- user corpus ---------------------------------------------------------------------------------
def corpus_frame(texts: Iterable[str], bad_bytes: Sequence[int] | None = None) -> pd.DataFrame:
    """The standard corpus frame (``doc_id, text, empty, bad_bytes, dup_of``) for ``texts`` in row order."""
    texts = ["" if t is None else str(t) for t in texts]
    norm = [normalize_text(t) for t in texts]
    first: dict[str, int] = {}
    dup_of = []
    for i, t in enumerate(norm):
        dup_of.append(-1 if not t or first.setdefault(t, i) == i else first[t])
    n = len(texts)
    return pd.DataFrame(
        {
            "doc_id": pd.Series(range(n), dtype="int64"),
            "text": pd.Series(texts, dtype="object"),
            "empty": pd.Series([not t for t in norm], dtype="bool"),
            "bad_bytes": pd.Series(list(bad_bytes) if bad_bytes is not None else [0] * n, dtype="int64"),
            "dup_of": pd.Series(dup_of, dtype="int64"),
        }
    )


def _decode_column(values: Iterable[object]) -> tuple[list[str], list[int]]:
    texts, bad = [], []
    for v in values:
        if isinstance(v, (bytes, bytearray)):
            s, b = decode_bytes(bytes(v))
        elif isinstance(v, str):
            # Lone surrogates come from surrogateescape-decoded CSV bytes: one per invalid byte.
            b = sum(1 for c in v if "\udc80" <= c <= "\udcff")
            s = v.encode("utf-8", "surrogateescape").decode("utf-8", "replace") if b else v
        elif v is None or (isinstance(v, float) and v != v):
            s, b = "", 0
        else:
            s, b = str(v), 0
        texts.append(s)
        bad.append(b)
    return texts, bad


def _pick_text_column(df: pd.DataFrame, path: Path) -> str:
    if "text" in df.columns:
        return "text"
    if len(df.columns) == 1:
        return str(df.columns[0])
    strings = [c for c in df.columns if df[c].dtype == object or pd.api.types.is_string_dtype(df[c])]
    if len(strings) == 1:
        return str(strings[0])
    raise FormatError(
        f"{path}: no 'text' column and {len(strings)} string columns "
        f"({', '.join(map(str, df.columns))}); name the document column 'text'"
    )


def _read_txt(path: Path) -> tuple[list[str], list[int]]:
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]  # UTF-8 byte-order mark
    if not raw:
        return [], []
    lines = raw.split(b"\n")
    if lines[-1] == b"":
        lines.pop()  # the final newline ends the last row; it does not start a new one
    texts, bad = [], []
    for line in lines:
        s, b = decode_bytes(line[:-1] if line.endswith(b"\r") else line)
        texts.append(s)
        bad.append(b)
    return texts, bad


def _read_csv(path: Path) -> tuple[list[str], list[int]]:
    # The csv module (not pandas) so that invalid bytes survive as surrogates and blank lines stay rows.
    text = path.read_bytes().decode("utf-8-sig", "surrogateescape")
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise FormatError(f"{path}: not a readable CSV file ({exc})") from None
    if not rows:
        raise FormatError(f"{path}: CSV file is empty (no header row)")
    header = [h.strip() for h in rows[0]]
    if "text" in header:
        col = header.index("text")
    elif len(header) == 1:
        col = 0
    else:
        raise FormatError(
            f"{path}: no 'text' column among {', '.join(map(repr, header))}; name the document column 'text'"
        )
    values = []
    for i, row in enumerate(rows[1:]):
        if len(row) > len(header):
            raise FormatError(f"{path}: data row {i} has {len(row)} fields but the header has {len(header)}")
        values.append(row[col] if col < len(row) else "")  # a blank line is an empty document
    return _decode_column(values)


def _read_parquet(path: Path) -> tuple[list[str], list[int]]:
    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several unrelated types for bad files
        raise FormatError(f"{path}: not a readable Parquet file ({type(exc).__name__}: {exc})") from None
    return _decode_column(df[_pick_text_column(df, path)].tolist())


def load_corpus(path: str | Path) -> pd.DataFrame:
    """Load a user's corpus, one document per row (see the module docstring for the exact handling).

    Parameters
    ----------
    path : str or Path
        A ``.txt`` (one document per line), ``.csv`` (header; ``text`` column or the only column) or
        ``.parquet`` file (``text`` column or the only string column).

    Returns
    -------
    pandas.DataFrame
        Columns ``doc_id`` (int, input row number), ``text``, ``empty`` (bool), ``bad_bytes`` (int),
        ``dup_of`` (int, -1 when the row is not a duplicate); one row per input row.

    Raises
    ------
    FormatError
        Missing file, unknown extension, unreadable file, no text column, or no rows.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise FormatError(f"{path}: unknown corpus format {suffix or '(no extension)'!r}; use .txt, .csv or .parquet")
    if not path.is_file():
        raise FormatError(f"{path}: corpus file not found")
    reader = {".txt": _read_txt, ".csv": _read_csv, ".parquet": _read_parquet}[suffix]
    texts, bad = reader(path)
    if not texts:
        raise FormatError(f"{path}: corpus has no rows")
    return corpus_frame(texts, bad)
