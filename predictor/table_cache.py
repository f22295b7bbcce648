"""A binary cache of checked tables, so that a lookup table read again is not parsed again.

Why: ``nasgcn query`` is bound by start-up, and parsing and checking a 15,625-row CSV (every
string parsed by the space, duplicates, ranges) costs more than the rest of the command. The
cache holds the *result* of :func:`predictor.table.read_keyed` (rows already checked, strings
canonical), keyed by the sha256 of the CSV's bytes, the space it was checked against and the
nasgcn version, so an edited, replaced or half-written CSV is a miss and is read and checked
again. The sidecar metadata is not cached: it is read fresh every time.

Format (no pickle, nothing executable): a magic line, one JSON header line, then the numeric
columns as raw buffers and the text columns as one JSON list each. Anything unexpected (wrong
magic, version, key, sizes, truncation) is a miss, logged at debug level, and the CSV is read.

Where: ``$NASGCN_CACHE_DIR``, else ``$XDG_CACHE_HOME/nasgcn/tables``, else
``~/.cache/nasgcn/tables``; ``NASGCN_NO_CACHE=1`` turns it off. At most :data:`MAX_ENTRIES` files
are kept (oldest removed). A cache that cannot be written is skipped silently: it is an optimization.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

MAGIC = b"NASGCN-TABLE-CACHE 1\n"
MAX_ENTRIES = 64
#: dtypes stored as raw buffers (little-endian; bool as one byte)
_RAW_DTYPES = {"<f8", "<f4", "<i8", "<i4", "|b1"}


def cache_dir() -> Path | None:
    """The folder of cached tables, or None when caching is off (``NASGCN_NO_CACHE``)."""
    if os.environ.get("NASGCN_NO_CACHE", "").strip() not in ("", "0"):
        return None
    env = os.environ.get("NASGCN_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg) / "nasgcn" / "tables"
    try:
        return Path.home() / ".cache" / "nasgcn" / "tables"
    except RuntimeError:  # no home folder to be found: no cache
        return None


def _version() -> str:
    from . import __version__

    return __version__


def entry_key(digest: str, space: str) -> str:
    """The file name of one cached table: sha256 of (format, nasgcn version, space, CSV sha256)."""
    raw = f"{MAGIC.decode().strip()}|{_version()}|{space}|{digest}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32] + ".tbl"


def load(digest: str, space: str) -> dict[str, np.ndarray] | None:
    """The cached frame of the CSV whose sha256 is ``digest`` checked against ``space``, else None."""
    hit = load_with_extra(digest, space)
    return None if hit is None else hit[0]


def load_with_extra(digest: str, space: str) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    """The cached frame and the JSON ``extra`` stored with it (see :func:`store`), else None.

    ``space`` is the part of the key besides the file's hash: the space it was checked against,
    plus whatever else changes the result (a reader's options).
    """
    folder = cache_dir()
    if folder is None:
        return None
    path = folder / entry_key(digest, space)
    try:
        blob = path.read_bytes()
    except OSError:
        return None
    try:
        frame, head = _decode(blob, digest, space)
        extra = head.get("extra", {})
        if not isinstance(extra, dict):
            raise ValueError("extra is not an object")
        return frame, extra
    except (ValueError, KeyError, TypeError, IndexError) as err:
        log.debug("ignoring cache file %s: %s", path, err)
        return None


def _decode(blob: bytes, digest: str, space: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    if not blob.startswith(MAGIC):
        raise ValueError("not a nasgcn table cache")
    end = blob.index(b"\n", len(MAGIC))
    head = json.loads(blob[len(MAGIC) : end])
    if head.get("sha256") != digest or head.get("space") != space or head.get("version") != _version():
        raise ValueError("cache key does not match")
    rows = int(head["rows"])
    payload = memoryview(blob)[end + 1 :]
    if len(payload) != int(head["bytes"]):
        raise ValueError("truncated")
    frame: dict[str, np.ndarray] = {}
    for name, kind, dtype, offset, nbytes in head["columns"]:
        part = payload[offset : offset + nbytes]
        if len(part) != nbytes:
            raise ValueError(f"column {name!r} out of bounds")
        if kind == "raw":
            if dtype not in _RAW_DTYPES:
                raise ValueError(f"unexpected dtype {dtype!r}")
            col = np.frombuffer(part, dtype=np.dtype(dtype)).copy()  # writable, like a parsed column
        elif kind == "text":
            values = json.loads(bytes(part))
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise ValueError(f"column {name!r} is not a list of strings")
            col = np.empty(len(values), dtype=object)
            col[:] = values
        else:
            raise ValueError(f"unknown column kind {kind!r}")
        if len(col) != rows:
            raise ValueError(f"column {name!r} has {len(col)} rows, expected {rows}")
        frame[str(name)] = col
    return frame, head


def _encode(frame: dict[str, np.ndarray], digest: str, space: str, extra: dict[str, Any] | None) -> bytes | None:
    """The cache bytes, or None when a column cannot be stored exactly (then nothing is cached)."""
    parts: list[bytes] = []
    columns = []
    offset = 0
    rows = None
    for name, col in frame.items():
        arr = np.asarray(col)
        if rows is None:
            rows = len(arr)
        if arr.ndim != 1 or len(arr) != rows:
            return None
        if arr.dtype == object:
            values = arr.tolist()
            if not all(isinstance(v, str) for v in values):
                return None
            data, kind, dtype = json.dumps(values, ensure_ascii=False).encode(), "text", "str"
        else:
            dtype = arr.dtype.str if arr.dtype.byteorder == "|" else arr.dtype.newbyteorder("<").str
            if dtype not in _RAW_DTYPES:
                return None
            data, kind = np.ascontiguousarray(arr, dtype=np.dtype(dtype)).tobytes(), "raw"
        columns.append([name, kind, dtype, offset, len(data)])
        parts.append(data)
        offset += len(data)
    head = {"sha256": digest, "space": space, "version": _version(), "rows": rows or 0, "bytes": offset}
    head["columns"] = columns
    if extra:
        try:
            plain = json.loads(json.dumps(extra, allow_nan=False))
        except (TypeError, ValueError):
            return None
        if plain != extra:  # e.g. tuples or numpy scalars: a hit would not give back the same values
            return None
        head["extra"] = plain
    return MAGIC + json.dumps(head).encode() + b"\n" + b"".join(parts)


def store(digest: str, space: str, frame: dict[str, np.ndarray], extra: dict[str, Any] | None = None) -> None:
    """Cache ``frame`` (the checked result of reading the file with sha256 ``digest``); best effort.

    ``extra``: JSON-able metadata that belongs to the result (units, a hardware table's info).
    """
    folder = cache_dir()
    if folder is None:
        return
    blob = _encode(frame, digest, space, extra)
    if blob is None:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(blob)
            os.replace(tmp, folder / entry_key(digest, space))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _prune(folder)
    except OSError as err:
        log.debug("table cache not written in %s: %s", folder, err)


def _prune(folder: Path) -> None:
    """Keep the :data:`MAX_ENTRIES` most recently written cache files."""
    entries = sorted(folder.glob("*.tbl"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for old in entries[MAX_ENTRIES:]:
        with contextlib.suppress(OSError):
            old.unlink()


def clear() -> int:
    """Remove every cached table; returns how many files were removed."""
    folder = cache_dir()
    if folder is None or not folder.is_dir():
        return 0
    n = 0
    for entry in folder.glob("*.tbl"):
        with contextlib.suppress(OSError):
            entry.unlink()
            n += 1
    return n


#: larger files are not cached (nor hashed for it): a junk file must fail at its first lines, not after a hash
MAX_SOURCE_BYTES = 64 << 20


def file_digest(path: Path) -> tuple[str | None, tuple[int, int]]:
    """sha256 of a file's bytes (None above :data:`MAX_SOURCE_BYTES`), and (size, mtime_ns) to notice a change."""
    st = path.stat()
    stamp = (st.st_size, st.st_mtime_ns)
    if st.st_size > MAX_SOURCE_BYTES:
        return None, stamp
    return hashlib.sha256(path.read_bytes()).hexdigest(), stamp


def unchanged(path: Path, stamp: tuple[int, int]) -> bool:
    """Whether the file still has the size and mtime it had when hashed."""
    try:
        st = path.stat()
    except OSError:
        return False
    return (st.st_size, st.st_mtime_ns) == stamp
