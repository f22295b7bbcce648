"""Columnar tables keyed by ``arch_str``: whole-space listings and the lookup table.

A table is a dict of equal-length numpy columns plus a metadata dict. CSV is the
interchange format; metadata (space, macro network, units, model provenance)
travels in a sidecar ``<file>.meta.json`` so the CSV stays plain for any tool.
Files are read through :mod:`predictor.readers` (one reader, the same ``file:line``
errors as logs); numeric values must be finite and in their column's range, NaN (an
empty cell) meaning *missing*. Writers refuse what the readers would refuse.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from . import table_cache
from .errors import LogFormatError, NasgcnError
from .io import atomic_path, atomic_with_sidecar, check_sidecar
from .readers import ArchColumn, CsvRows, RowProblem, TextFile, check_column, check_path, check_writable, duplicate_keys
from .spaces import get_space

Frame = dict[str, np.ndarray]


def space_frame(space_name: str = "nb201", macro: Mapping[str, Any] | Any = None, unique: bool = False) -> Frame:
    """Every architecture (or one per isomorphism class) with structure and exact costs.

    ``macro`` overrides the space's macro-network options (a dict; a dataclass such as NB201's
    ``MacroConfig`` is accepted too).
    """
    space = get_space(space_name)
    space.require_enumerable("a whole-space table")
    ids = space.unique_ids() if unique else space.all_ids()
    if macro is not None and not isinstance(macro, Mapping):
        macro = dict(vars(macro))
    costs = space.costs(ids, macro)
    return {
        "arch_str": np.asarray(space.decode(ids), dtype=object),
        "index": space.index_of(ids),
        "iso_class": space.iso_class(ids),
        "dead": space.is_dead(ids),
        "params_m": costs["params_m"],
        "flops_m": costs["flops_m"],
    }


def meta_path(path: str | os.PathLike) -> Path:
    return Path(str(path) + ".meta.json")


def _fmt(v: Any) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (float, np.floating)):
        return "" if math.isnan(v) else repr(float(v))
    return str(v)


def _check_frame_writable(path: str | os.PathLike, frame: Mapping[str, np.ndarray]) -> None:
    """Refuse values the readers would refuse: inf, or outside a column's declared range.

    NaN is allowed and written as an empty cell (CSV) or a null (Parquet): it means *missing*,
    e.g. "the target cannot run this architecture" in a hardware column, and reads back as NaN.
    """
    for name, col in frame.items():
        check_writable(name, np.asarray(col), True, path)


def write_csv(path: str | os.PathLike, frame: Mapping[str, np.ndarray], meta: Mapping[str, Any] | None = None) -> None:
    """Write ``frame`` as CSV (and ``meta`` beside it), each atomically; lines end with ``\\n``.

    Infinite or out-of-range values are refused before anything is written (see
    :func:`_check_frame_writable`); NaN becomes an empty cell.
    """
    cols = list(frame)
    n = len(frame[cols[0]]) if cols else 0
    _check_frame_writable(path, frame)
    with atomic_with_sidecar(path, meta) as tmp:  # sidecar first, recording the CSV's size and hash
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(cols)
            columns = [np.asarray(frame[c]).tolist() for c in cols]
            for i in range(n):
                w.writerow([_fmt(col[i]) for col in columns])


_BOOL = {"true": True, "false": False}


def _convert(values: list[str]) -> np.ndarray:
    """The narrowest type that holds every cell: bool, int64, float64 (empty = NaN), else text.

    ``map(int/float)`` over the strings: measured 4x faster than numpy's string casts on a 15,625-row
    lookup table, which every ``nasgcn query`` reads.
    """
    if not values:
        return np.zeros(0, dtype=np.int64)
    head = next((v for v in values if v != ""), "")
    if head.lower() in _BOOL and {v.lower() for v in set(values)} <= {"true", "false", ""}:
        return np.array([v.lower() == "true" for v in values], dtype=bool)
    try:
        return np.array(list(map(int, values)), dtype=np.int64)
    except (ValueError, OverflowError):
        pass
    try:
        return np.array(list(map(float, values)), dtype=np.float64)
    except ValueError:
        pass
    try:
        return np.array([float(v) if v.strip() != "" else np.nan for v in values], dtype=np.float64)
    except ValueError:
        return np.asarray(values, dtype=object)


#: Columns always read as text: architecture strings such as NAS-Bench-Macro's ``00012220`` are no numbers.
TEXT_COLUMNS = frozenset({"arch_str", "arch", "arch_ids"})

_KINDS = "a table (CSV)"


def read_meta(path: Path, sha256: str | None = None) -> dict[str, Any]:
    """The ``<path>.meta.json`` sidecar's metadata ({} when absent), checked against the data file
    (``sha256``: its hash, if known). Shared by the table and hardware readers."""
    mp = meta_path(path)
    if not mp.exists():
        return {}
    try:
        meta = json.loads(TextFile(mp, "a metadata sidecar (JSON)").read())
    except json.JSONDecodeError as err:
        raise LogFormatError(str(mp), err.lineno, f"invalid JSON ({err.msg})", "fix or delete the sidecar") from None
    if not isinstance(meta, dict):
        raise LogFormatError(str(mp), None, "expected a JSON object", "fix or delete the sidecar")
    return check_sidecar(path, meta, mp, sha256=sha256)


def _check_values(path: Path, frame: Frame, lines: list[int] | None) -> None:
    """Every numeric column within its declared range (:func:`predictor.readers.metric_range`); NaN = missing."""
    for name, col in frame.items():
        if col.dtype.kind in "fiu":
            check_column(path, name, col, lines, allow_nan=True)


def read_csv(path: str | os.PathLike) -> tuple[Frame, dict[str, Any]]:
    """Read a CSV written by :func:`write_csv` (or any plain CSV) into numpy columns.

    Streams through :class:`predictor.readers.CsvRows` and stops at the first bad line (wrong
    field count, unreadable quoting, not text); numeric cells must be finite (empty = NaN) and
    within their column's range. A header-only file gives empty columns (:func:`read_keyed` refuses it).
    """
    frame, meta, _ = _read_csv_lines(path)
    return frame, meta


def _read_csv_lines(
    path: str | os.PathLike, arch_check: ArchColumn | None = None, meta: dict[str, Any] | None = None
) -> tuple[Frame, dict[str, Any], list[int]]:
    """Columns, metadata and line numbers; ``arch_check`` parses ``arch_str`` while streaming.

    ``meta``: the sidecar's metadata when the caller has read it already.
    """
    rows = CsvRows(path, kinds=_KINDS)
    header = rows.header
    a = header.index("arch_str") if arch_check is not None and "arch_str" in header else None
    cells: list[list[str]] = [[] for _ in header]
    lines: list[int] = []
    width = len(header)
    known = arch_check.known if arch_check is not None else None
    chunk: list[tuple[int, list[str]]] = []

    def flush(final: bool = False) -> None:
        """Check a chunk of rows (fast path: every width right, every string a known canonical one)."""
        ok = all(len(r) == width for _, r in chunk)
        if ok and a is not None:
            ok = bool(known) and all(r[a] in known for _, r in chunk)  # type: ignore[operator]
        if not ok:  # find the first bad row, as the row-by-row check would
            for i, (line, row) in enumerate(chunk):
                try:
                    problem = rows.width_problem(row, last=final and i == len(chunk) - 1) if len(row) != width else None
                    if problem is not None:
                        raise problem
                    if a is not None:
                        arch_check(row[a])  # type: ignore[misc]
                except RowProblem as err:
                    raise err.error(rows.path, line) from None
        for j, col in enumerate(zip(*(r for _, r in chunk), strict=True)):
            cells[j].extend(col)
        lines.extend(line for line, _ in chunk)
        chunk.clear()

    bulk = rows.rest()  # a small file read at once, or None: streamed
    if bulk is not None:
        for lo in range(0, len(bulk), 2048):
            chunk.extend(bulk[lo : lo + 2048])
            flush(final=lo + 2048 >= len(bulk))
    else:
        for item in rows:  # in chunks: junk stops at its first chunk, not after the whole file
            chunk.append(item)
            if len(chunk) >= 2048:
                flush()
        if chunk:
            flush(final=True)
    frame = {
        name: np.asarray(col, dtype=object) if name in TEXT_COLUMNS else _convert(col)
        for name, col in zip(header, cells, strict=True)
    }
    _check_values(rows.path, frame, lines)
    return frame, meta if meta is not None else read_meta(rows.path), lines


PARQUET_SUFFIXES = (".parquet", ".pq")


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow is a dev/parquet extra
        raise NasgcnError("Parquet needs pyarrow: pip install 'nasgcn[parquet]' (or use a .csv path)") from None
    return pa, pq


def write_parquet(
    path: str | os.PathLike, frame: Mapping[str, np.ndarray], meta: Mapping[str, Any] | None = None
) -> None:
    """Write ``frame`` as Parquet atomically; ``meta`` goes into the file's schema metadata (inf refused)."""
    pa, pq = _pyarrow()
    _check_frame_writable(path, frame)
    arrays = {}
    for name, col in frame.items():
        values = np.asarray(col)
        arrays[name] = pa.array(values.tolist() if values.dtype == object else values)
    table = pa.table(arrays)
    if meta is not None:
        table = table.replace_schema_metadata({b"nasgcn": json.dumps(dict(meta), default=str).encode()})
    with atomic_path(path, suffix=".parquet") as tmp:
        pq.write_table(table, tmp)


def read_parquet(path: str | os.PathLike) -> tuple[Frame, dict[str, Any]]:
    """A Parquet table and its embedded metadata; values checked like :func:`read_csv` (row numbers from 1)."""
    pa, pq = _pyarrow()
    p = check_path(path, "a Parquet table")
    try:
        table = pq.read_table(p)
    except (pa.ArrowInvalid, OSError) as err:
        raise LogFormatError(str(p), None, f"not a readable Parquet file ({err})", "give a .parquet table") from None
    frame: Frame = {}
    for name in table.column_names:
        values = table.column(name).to_numpy(zero_copy_only=False)
        frame[name] = values.astype(object) if values.dtype.kind in "OUS" else values
    _check_values(p, frame, None)
    raw = (table.schema.metadata or {}).get(b"nasgcn")
    try:
        meta = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        raise LogFormatError(str(p), None, "unreadable nasgcn metadata in the schema", "rewrite the file") from None
    return frame, meta


def write_table(
    path: str | os.PathLike, frame: Mapping[str, np.ndarray], meta: Mapping[str, Any] | None = None
) -> None:
    """CSV or Parquet, chosen by the file suffix."""
    if Path(path).suffix.lower() in PARQUET_SUFFIXES:
        write_parquet(path, frame, meta)
    else:
        write_csv(path, frame, meta)


def read_table(path: str | os.PathLike) -> tuple[Frame, dict[str, Any]]:
    """CSV or Parquet, chosen by the file suffix."""
    if Path(path).suffix.lower() in PARQUET_SUFFIXES:
        return read_parquet(path)
    return read_csv(path)


def read_keyed(
    path: str | os.PathLike, space: str | None = None, what: str = "a lookup table", allow_empty: bool = False
) -> tuple[Frame, dict[str, Any]]:
    """A table keyed by ``arch_str`` (CSV or Parquet): at least one row, valid and distinct architectures.

    ``space``: the space the strings must parse in; default the one the metadata records, else
    ``nb201``. Strings are checked with the space's own parser (unknown ops, malformed cells) and
    repeats are refused naming both lines, since a lookup keyed by architecture must be a function.
    ``allow_empty``: accept a header-only file (e.g. a query's candidates, where "none" is an answer).
    """
    from .spaces import get_space

    p = Path(path)
    cache_key: tuple[str | None, str, tuple[int, int]] | None = None
    if p.suffix.lower() in PARQUET_SUFFIXES:
        frame, meta = read_parquet(p)
        lines: list[int] | None = None
    else:  # the space is known from the sidecar: junk fails at its first line, not after reading it all
        check_path(p, what)
        digest, stamp = table_cache.file_digest(p)
        meta = read_meta(p, sha256=digest)
        early_name = space or str(meta.get("space") or "nb201")
        cached = table_cache.load(digest, early_name) if digest is not None else None
        if cached is not None:  # this exact file was read and checked before (table_cache)
            return cached, meta
        cache_key = (digest, early_name, stamp)
        frame, meta, lines = _read_csv_lines(p, ArchColumn(get_space(early_name)), meta)
    if "arch_str" not in frame:
        raise LogFormatError(
            str(p),
            1 if lines is not None else None,
            f"not {what}: no 'arch_str' column (columns: {', '.join(frame) or 'none'})",
            "name the architecture column arch_str",
        )
    archs = frame["arch_str"].tolist()
    if not archs and not allow_empty:
        raise LogFormatError(
            str(p), None, f"the file has a header but no rows, so it is not {what}", "give a table with rows"
        )

    def where(i: int) -> tuple[int | None, str]:
        return (lines[i], "") if lines is not None else (None, f"row {i + 1}: ")

    parse = ArchColumn(get_space(space or str(meta.get("space") or "nb201")), canonicalize=True)
    canon = archs if parse.known and all(a in parse.known for a in archs) else []  # all canonical already
    for i, a in enumerate(archs if not canon else ()):
        try:
            canon.append(parse(a))
        except RowProblem as err:
            line, prefix = where(i)
            raise LogFormatError(str(p), line, prefix + err.problem, err.fix) from None
    dup = duplicate_keys(canon)
    if dup is not None:
        (first, _), (line, prefix) = where(dup[0]), where(dup[1])
        at = f"line {first}" if first is not None else f"row {dup[0] + 1}"
        raise LogFormatError(
            str(p), line, f"{prefix}architecture {canon[dup[1]]} repeats {at}", f"{what} has one row per architecture"
        )
    frame["arch_str"] = np.asarray(canon, dtype=object)
    if cache_key is not None and cache_key[0] is not None and archs and table_cache.unchanged(p, cache_key[2]):
        table_cache.store(cache_key[0], cache_key[1], frame)
    return frame, meta


class ColumnTable:
    """Access shared by tables of equal-length numpy ``columns`` keyed by ``arch_str``."""

    columns: Frame
    _column_kind = ""  # word in error messages, e.g. "hardware "

    def __len__(self) -> int:
        return len(self.columns["arch_str"])

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.columns[name]
        except KeyError:
            raise NasgcnError(f"no {self._column_kind}column {name!r}; columns: {', '.join(self.columns)}") from None

    def __contains__(self, name: str) -> bool:
        return name in self.columns
