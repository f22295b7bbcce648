"""Columnar tables keyed by ``arch_str``: whole-space listings and the lookup table.

A table is a dict of equal-length numpy columns plus a metadata dict. CSV is the
interchange format; metadata (space, macro network, units, model provenance)
travels in a sidecar ``<file>.meta.json`` so the CSV stays plain for any tool.
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

from .errors import NasgcnError
from .io import atomic_path, write_json_atomic
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


def write_csv(path: str | os.PathLike, frame: Mapping[str, np.ndarray], meta: Mapping[str, Any] | None = None) -> None:
    """Write ``frame`` as CSV (and ``meta`` beside it), each atomically."""
    cols = list(frame)
    n = len(frame[cols[0]]) if cols else 0
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(cols)
            columns = [np.asarray(frame[c]).tolist() for c in cols]
            for i in range(n):
                w.writerow([_fmt(col[i]) for col in columns])
    if meta is not None:
        write_json_atomic(meta_path(path), dict(meta))


def _convert(values: list[str]) -> np.ndarray:
    lowered = {v.lower() for v in values if v != ""}
    if lowered and lowered <= {"true", "false"}:
        return np.asarray([v.lower() == "true" for v in values], dtype=bool)
    try:
        ints = [int(v) for v in values]
        return np.asarray(ints, dtype=np.int64)
    except ValueError:
        pass
    try:
        return np.asarray([float(v) if v != "" else np.nan for v in values], dtype=np.float64)
    except ValueError:
        return np.asarray(values, dtype=object)


#: Columns always read as text: architecture strings such as NAS-Bench-Macro's ``00012220`` are no numbers.
TEXT_COLUMNS = frozenset({"arch_str", "arch", "arch_ids"})


def read_csv(path: str | os.PathLike) -> tuple[Frame, dict[str, Any]]:
    """Read a CSV written by :func:`write_csv` (or any plain CSV) into numpy columns."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file")
    with open(p, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise NasgcnError(f"{p}: the file is empty; expected a CSV header line") from None
        rows = list(reader)
    for lineno, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise NasgcnError(
                f"{p}:{lineno}: expected {len(header)} fields, found {len(row)} (truncated or malformed line)"
            )
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in header]
    frame = {
        name: np.asarray(list(col), dtype=object) if name in TEXT_COLUMNS else _convert(list(col))
        for name, col in zip(header, columns, strict=True)
    }
    meta: dict[str, Any] = {}
    mp = meta_path(p)
    if mp.exists():
        meta = json.loads(mp.read_text(encoding="utf-8"))
    return frame, meta


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
    """Write ``frame`` as Parquet atomically; ``meta`` goes into the file's schema metadata."""
    pa, pq = _pyarrow()
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
    pa, pq = _pyarrow()
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file")
    table = pq.read_table(p)
    frame: Frame = {}
    for name in table.column_names:
        values = table.column(name).to_numpy(zero_copy_only=False)
        frame[name] = values.astype(object) if values.dtype.kind in "OUS" else values
    raw = (table.schema.metadata or {}).get(b"nasgcn")
    return frame, (json.loads(raw) if raw else {})


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
