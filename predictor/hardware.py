"""Hardware cost tables: per-target latency/energy columns keyed by ``arch_str``.

A :class:`HardwareTable` holds one row per architecture and one float column per
metric (``pixel3_latency``, ``edgegpu_energy``, ...), a ``units`` dict (every metric
has a unit; numbers without units are a classic source of wrong comparisons) and a
``meta`` dict (device, batch size, precision, source, normalization).

Conventions, all explicit:

* **Keys** are architecture strings, parsed and re-formatted into the space's
  canonical spelling, so a file with reordered rows or stray spaces joins correctly.
* **Missing values** (empty cell, ``nan``, ``null``) are kept as NaN and mean *the
  target cannot run this architecture* (e.g. HW-NAS-Bench's Edge TPU); a NaN fails
  every constraint on that column in :mod:`predictor.query`.
* **Isomorphic duplicates**: ``iso="keep"`` keeps each architecture's own
  measurement; ``iso="mean"``/``"median"`` aggregate over the isomorphism class
  (ignoring NaN) and broadcast the value to *every* member of the class in the
  space, so a file measured on one representative per class covers the space.
* **Units** come from the ``units`` argument, else the sidecar ``<file>.meta.json``,
  else the target registry, else the column suffix (``_latency`` ms, ``_energy`` mJ).
"""

from __future__ import annotations

import fnmatch
import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import table_cache
from .errors import ArchitectureError, LogFormatError, NasgcnError
from .readers import (
    ArchColumn,
    CsvRows,
    RowProblem,
    TextFile,
    check_column,
    check_path,
    jsonl_lines,
    option,
    other_space_hint,
    parse_json_line,
)
from .spaces import get_space
from .table import ColumnTable, read_meta

if TYPE_CHECKING:  # pragma: no cover
    from .lookup import LookupTable

ISO_POLICIES = ("keep", "mean", "median")
EXACT_COLUMNS = frozenset({"params_m", "flops_m"})

# Columns that identify or describe a row rather than measure a cost.
ID_COLUMNS = frozenset({"arch_str", "nb201_index", "index", "iso_class", "iso_rep", "dead"})
SETTING_COLUMNS = frozenset({"batch", "threads", "repeats", "device", "precision"})

_SUFFIX_UNITS = (("_latency", "ms"), ("_energy", "mJ"), ("_power", "W"))
_MISSING = frozenset({"", "nan", "na", "n/a", "null", "none"})


# ----- target registry ---------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """A known hardware cost column: what it measures, in which unit, from where."""

    name: str
    column: str
    unit: str
    description: str = ""
    source: str = ""
    measured: bool = True
    meta: Mapping[str, Any] = field(default_factory=dict)


_TARGETS: dict[str, Target] = {}


def register_target(
    name: str,
    column: str | None = None,
    unit: str | None = None,
    description: str = "",
    source: str = "",
    measured: bool = True,
    **meta: Any,
) -> Target:
    """Register a cost target under ``name`` (its column defaults to ``name``).

    Re-registering a name replaces it, so users can correct a unit or description.
    """
    column = column or name
    target = Target(name, column, unit or infer_unit(column, use_registry=False), description, source, measured, meta)
    _TARGETS[name] = target
    return target


def list_targets(pattern: str = "*") -> list[str]:
    """Names of registered targets matching a glob ``pattern`` (``"*latency"``)."""
    return sorted(n for n in _TARGETS if fnmatch.fnmatch(n, pattern))


def get_target(name: str) -> Target:
    if name not in _TARGETS:
        raise NasgcnError(f"unknown hardware target {name!r}; known: {', '.join(list_targets())}")
    return _TARGETS[name]


def infer_unit(column: str, use_registry: bool = True) -> str:
    """Unit of a cost column: registry first, then suffix rules; '' means unitless.

    ``<col>_std`` and ``<col>_iqr`` share the unit of ``<col>``.
    """
    for extra in ("_std", "_iqr"):
        if column.endswith(extra):
            return infer_unit(column[: -len(extra)], use_registry)
    if use_registry:
        for t in _TARGETS.values():
            if t.column == column:
                return t.unit
    if column == "params_m":
        return "M params"
    if column == "flops_m":
        return "M MACs"
    for suffix, unit in _SUFFIX_UNITS:
        if column.endswith(suffix):
            return unit
    return ""


_HWNAS = "HW-NAS-Bench v1.0 (Li et al., ICLR 2021), CIFAR-10 NB201 networks, batch 1"
for _name, _unit, _desc, _measured in (
    ("edgegpu_latency", "ms", "NVIDIA Jetson TX2 (Edge GPU), TensorRT", True),
    ("edgegpu_energy", "mJ", "NVIDIA Jetson TX2 (Edge GPU) energy per inference", True),
    ("raspi4_latency", "ms", "Raspberry Pi 4 CPU, TFLite", True),
    ("edgetpu_latency", "ms", "Google Edge TPU dev board; NaN where the compiler cannot map the network", True),
    ("pixel3_latency", "ms", "Google Pixel 3 mobile CPU, TFLite", True),
    ("eyeriss_latency", "ms", "Eyeriss ASIC, estimated by a simulator", False),
    ("eyeriss_energy", "mJ", "Eyeriss ASIC energy, estimated", False),
    ("eyeriss_arithmetic_intensity", "", "Eyeriss arithmetic intensity (ops per byte), estimated", False),
    ("fpga_latency", "ms", "Xilinx ZC706 FPGA, estimated", False),
    ("fpga_energy", "mJ", "Xilinx ZC706 FPGA energy, estimated", False),
):
    register_target(_name, unit=_unit, description=_desc, source=_HWNAS, measured=_measured, batch=1)
register_target(
    "local_cpu",
    column="cpu_latency",
    unit="ms",
    description="this machine's CPU, measured by 'nasgcn latency measure --name cpu' (median of repeats)",
    source="nasgcn latency measure",
    measured=True,
)


# ----- parsing helpers ---------------------------------------------------------------
_STR_INDEX: dict[str, int] = {}


def _nb201_string_index() -> dict[str, int]:
    """Canonical NB201 string -> index, built once (fast path for clean files)."""
    if not _STR_INDEX:
        space = get_space("nb201")
        _STR_INDEX.update({s: i for i, s in enumerate(space.all_strings())})
    return _STR_INDEX


def _space_hint(space_name: str, arch: Any) -> str:
    """'; it parses as a SPACE architecture: pass --space SPACE' when another space reads it."""
    return other_space_hint(space_name, arch)


def _bad_arch(space_name: str, arch: Any, err: Exception, path: str, line: int | None, i: int) -> LogFormatError:
    where = "" if line is not None else f"record {i + 1}: "
    return LogFormatError(path, line, f"{where}{err}{_space_hint(space_name, arch)}", "fix or remove this row")


def _arch_ids(space_name: str, archs: Iterable[Any], path: str, lines: list[int | None]) -> np.ndarray:
    """Op-id matrix of the architecture strings; bad strings raise with file:line.

    NB201 keeps its fast path (a dict from canonical string to index); other spaces encode in
    one vectorized pass and re-parse row by row only to locate an error.
    """
    space = get_space(space_name)
    archs = list(archs)
    if space.name == "nb201":
        table = _nb201_string_index()
        idx = np.empty(len(archs), dtype=np.int64)
        for i, (arch, line) in enumerate(zip(archs, lines, strict=False)):
            j = table.get(arch) if isinstance(arch, str) else None
            if j is None:
                try:
                    j = int(space.index_of(np.asarray([space.parse(str(arch) if arch is not None else "")]))[0])
                except ArchitectureError as err:
                    raise _bad_arch(space.name, arch, err, path, line, i) from None
            idx[i] = j
        return space.all_ids()[idx]
    clean = [a.strip() if isinstance(a, str) else a for a in archs]
    try:
        if all(isinstance(a, str) for a in clean):
            return space.encode(clean)
    except ArchitectureError:
        pass
    for i, (arch, line) in enumerate(zip(clean, lines, strict=False)):
        try:
            space.parse(str(arch) if arch is not None else "")
        except ArchitectureError as err:
            raise _bad_arch(space.name, arch, err, path, line, i) from None
    return space.encode([str(a) for a in clean])


def _row_keys(space: Any, ids: np.ndarray) -> np.ndarray:
    """One integer key per op-id row, equal exactly for equal rows.

    The space index where the space can be enumerated; else a 64-bit FNV hash of the ids
    (lookups verify the ids, so a collision cannot return a wrong row).
    """
    if space.enumerable:
        return space.index_of(ids).astype(np.int64)
    ids = np.asarray(ids, dtype=np.uint64)
    h = np.full(ids.shape[0], 0xCBF29CE484222325, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(ids.shape[1]):
            h = (h ^ (ids[:, k] + np.uint64(1))) * np.uint64(0x100000001B3)
    return h.view(np.int64)


def _lexsort_rows(ids: np.ndarray) -> np.ndarray:
    """Order of the rows by op ids, first slot most significant (= index order)."""
    return np.lexsort(ids.T[::-1]) if ids.shape[0] else np.zeros(0, dtype=np.int64)


def _to_float(value: Any, path: str, line: int | None, column: str) -> float:
    if value is None:
        return math.nan
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        v = float(value)
    else:
        text = str(value).strip()
        if text.lower() in _MISSING:
            return math.nan
        try:
            v = float(text)
        except ValueError:
            raise LogFormatError(
                path, line, f"column {column!r}: {text!r} is not a number", "write a number, or leave it empty for NaN"
            ) from None
    if math.isinf(v):
        raise LogFormatError(
            path, line, f"column {column!r}: infinite value", "leave it empty if the target cannot run"
        )
    if v < 0 and (column.endswith(("_latency", "_energy", "_iqr", "_std"))):
        raise LogFormatError(path, line, f"column {column!r}: negative cost {v}", "costs must be >= 0")
    return v


def _looks_like_cost(name: str, units: Mapping[str, str]) -> bool:
    """A column that must hold numbers: given a unit, a registered target or a cost suffix."""
    return name in units or bool(infer_unit(name)) or name.endswith(("_std", "_iqr"))


def _is_numeric(values: list[Any]) -> bool:
    for v in values:
        if v is None or isinstance(v, (int, float, np.integer, np.floating)):
            continue
        text = str(v).strip()
        if text.lower() in _MISSING:
            continue
        try:
            float(text)
        except ValueError:
            return False
    return True


_KINDS = "a hardware table (CSV, TSV, JSON, JSONL or Parquet)"


def _read_records(
    path: Path, arch_check: ArchColumn | None = None
) -> tuple[list[str], list[list[Any]], list[int | None], dict[str, Any]]:
    """Header, row values, line numbers and embedded metadata of a file (via :mod:`predictor.readers`).

    Text formats stream and stop at the first bad line (``arch_check`` parses each row's
    ``arch_str`` as it is read, so a junk file fails at its first lines); a binary file, a BOM
    or blank lines are handled as for every other table the package reads.
    """
    suffix = path.suffix.lower()
    meta: dict[str, Any] = {}
    if suffix in (".csv", ".tsv", ".txt"):
        reader = CsvRows(path, kinds=_KINDS)
        rows, lines = [], []
        a = reader.header.index("arch_str") if arch_check is not None and "arch_str" in reader.header else None
        for line, row in reader:
            try:
                problem = reader.width_problem(row)
                if problem is not None:
                    raise problem
                if a is not None:
                    arch_check(row[a])  # type: ignore[misc]
            except RowProblem as err:
                raise err.error(path, line) from None
            rows.append(row)
            lines.append(line)
        return reader.header, rows, lines, meta
    if suffix in (".jsonl", ".ndjson"):
        records, lines = [], []
        for lineno, text, is_last in jsonl_lines(path, _KINDS):
            try:
                rec = parse_json_line(text, is_last)
                if not isinstance(rec, dict):
                    raise RowProblem("expected a JSON object", "one JSON object per line")
                if arch_check is not None and "arch_str" in rec:
                    arch_check(rec["arch_str"])
            except RowProblem as err:
                raise err.error(path, lineno) from None
            records.append(rec)
            lines.append(lineno)
        return (*_records_to_rows(records, path, lines), meta)
    if suffix == ".json":
        try:
            obj = json.loads(TextFile(path, _KINDS).read())
        except json.JSONDecodeError as err:
            raise LogFormatError(str(path), err.lineno, f"invalid JSON ({err.msg})") from None
        if isinstance(obj, dict) and "rows" in obj:
            meta = {k: v for k, v in obj.items() if k != "rows"}
            obj = obj["rows"]
        if isinstance(obj, dict):  # column layout {"arch_str": [...], "x": [...]}
            header = list(obj)
            cols = [list(v) if isinstance(v, list) else None for v in obj.values()]
            if any(c is None for c in cols) or len({len(c) for c in cols}) > 1:  # type: ignore[arg-type]
                raise LogFormatError(str(path), None, "column layout needs lists of equal length", "")
            rows = [list(r) for r in zip(*cols, strict=False)]  # type: ignore[misc]
            return header, rows, [None] * len(rows), meta
        if isinstance(obj, list):
            return (*_records_to_rows(obj, path, [None] * len(obj)), meta)
        raise LogFormatError(str(path), None, "expected a list of row objects or a dict of columns")
    if suffix in (".parquet", ".pq"):
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise NasgcnError(
                f"{path}: reading Parquet needs pyarrow, which is not installed (pip install pyarrow), "
                "or convert the file to CSV/JSON"
            ) from None
        try:
            data = pq.read_table(path).to_pydict()
        except Exception as err:  # noqa: BLE001 - pyarrow raises several types for a broken file
            raise LogFormatError(
                str(path), None, f"not a readable Parquet file ({err})", "give a .parquet table"
            ) from None
        header = list(data)
        rows = [list(r) for r in zip(*data.values(), strict=False)]
        return header, rows, [i + 2 for i in range(len(rows))], meta
    raise NasgcnError(f"{path}: unsupported hardware file type {suffix!r}; use .csv, .json, .jsonl or .parquet")


def _records_to_rows(
    records: list[Any], path: Path, lines: list[int | None]
) -> tuple[list[str], list[list[Any]], list[int | None]]:
    header: list[str] = []
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise LogFormatError(str(path), lines[i], f"record {i + 1} is not an object")
        for k in rec:
            if k not in header:
                header.append(k)
    rows = [[rec.get(k) for k in header] for rec in records]
    return header, rows, lines


# ----- the table -----------------------------------------------------------------------
class HardwareTable(ColumnTable):
    """Cost columns for architectures of a space, keyed by canonical ``arch_str``.

    ``columns`` maps names to equal-length numpy arrays; ``arch_str`` is required,
    cost columns are float64 (NaN = cannot run). ``units`` has an entry for every
    cost column; ``meta`` records device, batch size, precision, source, normalization.
    """

    _column_kind = "hardware "

    def __init__(
        self,
        columns: Mapping[str, Any],
        units: Mapping[str, str] | None = None,
        meta: Mapping[str, Any] | None = None,
        space: str = "nb201",
    ) -> None:
        cols = {k: np.asarray(v) for k, v in columns.items()}
        if "arch_str" not in cols:
            raise NasgcnError(f"a hardware table needs an 'arch_str' column; got {', '.join(cols) or 'none'}")
        lengths = {len(v) for v in cols.values()}
        if len(lengths) > 1:
            raise NasgcnError(f"hardware columns differ in length: { {k: len(v) for k, v in cols.items()} }")
        cols["arch_str"] = cols["arch_str"].astype(object)
        for name in self._metric_names(cols):
            cols[name] = cols[name].astype(np.float64)
        self.space = get_space(space).name
        self.columns: dict[str, np.ndarray] = cols
        given = dict(units or {})
        self.units: dict[str, str] = {m: given.get(m, infer_unit(m)) for m in self.metrics}
        self.meta: dict[str, Any] = dict(meta or {})

    @staticmethod
    def _metric_names(cols: Mapping[str, np.ndarray]) -> list[str]:
        return [
            k for k, v in cols.items() if k not in ID_COLUMNS and k not in SETTING_COLUMNS and v.dtype.kind in "fiu"
        ]

    @property
    def metrics(self) -> list[str]:
        """Cost columns (everything numeric except identifiers and measurement settings)."""
        return self._metric_names(self.columns)

    # ----- reading ----------------------------------------------------------------
    @classmethod
    def read(
        cls,
        path: str | os.PathLike,
        units: Mapping[str, str] | None = None,
        iso: str = "keep",
        space: str | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> "HardwareTable":
        """Load a generic hardware file: ``arch_str`` plus one column per metric.

        Formats: ``.csv``/``.tsv``, ``.json`` (list of row objects, dict of columns,
        or ``{"rows": [...], "units": {...}, ...}``), ``.jsonl``, ``.parquet``
        (needs pyarrow). ``units`` overrides inferred units; ``iso`` is the policy for
        isomorphic duplicates (see the module docstring). ``space``: the search space of
        the architectures; ``None`` takes the one the file's metadata records (else
        ``nb201``), and a file recorded for another space than the one asked is refused.
        Bad rows raise :class:`LogFormatError` naming the file and line.
        """
        if iso not in ISO_POLICIES:
            raise NasgcnError(f"iso policy must be one of {', '.join(ISO_POLICIES)}, got {iso!r}")
        p = check_path(path, "a hardware table")
        digest, stamp = table_cache.file_digest(p)
        side = read_meta(p, sha256=digest)
        key = None
        if digest is not None:  # a file read and checked before with the same options (predictor.table_cache)
            opts = [str(p.resolve()), iso, space, dict(units or {}), dict(meta or {}), side]
            key = "hardware " + json.dumps(opts, sort_keys=True, default=str)
            hit = table_cache.load_with_extra(digest, key)
            if hit is not None:
                frame, extra = hit
                return cls(frame, extra.get("units"), extra.get("info"), str(extra.get("space")))
        out = cls._read_file(p, side, units, iso, space, meta)
        if key is not None and table_cache.unchanged(p, stamp):
            table_cache.store(digest, key, out.columns, {"units": out.units, "info": out.meta, "space": out.space})
        return out

    @classmethod
    def _read_file(
        cls,
        p: Path,
        side: dict[str, Any],
        units: Mapping[str, str] | None,
        iso: str,
        space: str | None,
        meta: Mapping[str, Any] | None,
    ) -> "HardwareTable":
        """:meth:`read` without the cache: parse and check the file."""
        sp = str(p)
        # The space is known before reading a streamed format (no embedded metadata): check rows as they come.
        streamed = p.suffix.lower() in (".csv", ".tsv", ".txt", ".jsonl", ".ndjson")
        early = space or (meta or {}).get("space") or side.get("space") or "nb201"
        check = None
        if streamed:
            get_space(str(early)).check_compatible((meta or {}).get("space") or side.get("space"), f"hardware file {p}")
            check = ArchColumn(get_space(str(early)))
        header, rows, lines, embedded = _read_records(p, check)
        if not rows:
            raise LogFormatError(
                sp,
                None,
                "the file has a header but no rows",
                "a hardware table needs one row per measured architecture",
            )
        if "arch_str" not in header:
            raise LogFormatError(
                sp,
                1 if lines and lines[0] else None,
                f"no 'arch_str' column (columns: {', '.join(header)})",
                "name the architecture column arch_str",
            )
        dupes = {h for h in header if header.count(h) > 1}
        if dupes:
            raise LogFormatError(sp, 1, f"duplicate column name(s) {sorted(dupes)}")
        info: dict[str, Any] = dict(side)
        info.update(embedded)
        info.update(meta or {})
        file_units = dict(info.pop("units", {}) or {})
        file_units.update(units or {})
        info.setdefault("source", str(p))

        recorded = info.get("space")
        if space is None:
            space = str(recorded) if recorded else "nb201"
        s = get_space(space)
        s.check_compatible(recorded, f"hardware file {p}")
        space = s.name
        info["space"] = space

        a = header.index("arch_str")
        ids = _arch_ids(space, [r[a] for r in rows], sp, lines)
        cols: dict[str, np.ndarray] = {}
        for j, name in enumerate(header):
            if name == "arch_str" or name in ("nb201_index", "index", "iso_class", "iso_rep", "dead"):
                continue  # identifiers are recomputed from arch_str, never trusted
            values = [r[j] for r in rows]
            if name in SETTING_COLUMNS:
                distinct = {str(v) for v in values}
                info.setdefault(name, _scalar(values[0]) if len(distinct) == 1 else sorted(distinct))
                continue
            if not _is_numeric(values) and not _looks_like_cost(name, file_units):
                continue  # free text (comments, labels): not a cost
            cols[name] = np.asarray(
                [_to_float(v, sp, ln, name) for v, ln in zip(values, lines, strict=False)], dtype=np.float64
            )
            check_column(sp, name, cols[name], lines, allow_nan=True)  # the declared range (METRIC_RANGES)
        if not cols:
            raise LogFormatError(
                sp, None, "no numeric cost column besides arch_str", "add e.g. a <device>_latency column"
            )
        if iso == "keep":
            order = _lexsort_rows(ids)
            srt = ids[order]
            dup = np.flatnonzero((srt[1:] == srt[:-1]).all(axis=1)) if len(order) > 1 else np.zeros(0, int)
            if dup.size:
                i, j = sorted((int(order[dup[0]]), int(order[dup[0] + 1])))
                raise LogFormatError(
                    sp,
                    lines[j],
                    f"architecture {s.format(ids[j])} repeats line {lines[i]}",
                    f"remove the duplicate or pass {option('iso', 'mean')} (or median) to aggregate",
                )
            frame = {"arch_str": np.asarray(s.decode(ids), dtype=object), **cols}
            info["iso_policy"] = "keep"
            return cls(frame, file_units, info, space)
        return cls._aggregate(s, ids, cols, iso, file_units, info, space)

    @classmethod
    def _aggregate(
        cls,
        s: Any,
        ids: np.ndarray,
        cols: dict[str, np.ndarray],
        how: str,
        units: dict[str, str],
        info: dict[str, Any],
        space: str,
    ) -> "HardwareTable":
        """Aggregate rows per isomorphism class.

        Enumerable spaces broadcast the class value to every member of the space; larger ones
        keep one row per class, keyed by its canonical member (lookups match any member).
        """
        if s.enumerable:
            all_ids = s.all_ids()
            iso = s.iso_class(ids)
            n_classes = s.num_unique
        else:
            canon = s.canonical_ids(ids)
            _, first, inverse = np.unique(canon, axis=0, return_index=True, return_inverse=True)
            rank = np.empty(first.size, dtype=np.int64)  # number classes in order of first appearance
            rank[np.argsort(first, kind="stable")] = np.arange(first.size)
            iso = rank[inverse.reshape(-1)]
            n_classes = int(first.size)
        agg: dict[str, np.ndarray] = {}
        for name, v in cols.items():
            agg[name] = _group_stat(iso, v, n_classes, how)
        info["iso_policy"] = how
        if s.enumerable:
            measured = np.zeros(n_classes, dtype=bool)
            measured[iso] = True
            space_iso = s.iso_class(all_ids)
            keep = measured[space_iso]
            frame = {"arch_str": np.asarray(s.decode(all_ids[keep]), dtype=object)}
            for name, per_class in agg.items():
                frame[name] = per_class[space_iso[keep]]
            info["iso_note"] = f"{how} over each isomorphism class, broadcast to every member of the space"
        else:
            reps = canon[np.sort(first)]
            frame = {"arch_str": np.asarray(s.decode(reps), dtype=object), **agg}
            info["iso_note"] = (
                f"{how} over each isomorphism class, one row per class keyed by its canonical member "
                "(the space is too large to broadcast); lookups match any member of the class"
            )
        return cls(frame, units, info, space)

    # ----- access -------------------------------------------------------------------
    def __repr__(self) -> str:
        cols = ", ".join(f"{m} [{self.units.get(m) or '-'}]" for m in self.metrics)
        return f"HardwareTable({len(self)} rows, space {self.space}: {cols})"

    def values(self, column: str, archs: Iterable[str]) -> np.ndarray:
        """Values of ``column`` for the given architecture strings (NaN where absent)."""
        pos = self._positions(list(archs))
        col = self[column].astype(np.float64)
        return np.where(pos >= 0, col[np.maximum(pos, 0)], np.nan)

    def _own_index(self) -> dict[str, Any]:
        """Op ids, sorted keys and class hashes of this table's rows, cached until ``arch_str`` changes."""
        src = self.columns["arch_str"]
        cache = self.__dict__.get("_index_cache")
        if cache is not None and cache["src"] is src:
            return cache
        s = get_space(self.space)
        ids = _arch_ids(self.space, src.tolist(), "hardware table", [None] * len(self))
        keys = _row_keys(s, ids)
        order = np.argsort(keys, kind="stable")
        cache = {"src": src, "ids": ids, "keys": keys[order], "order": order}
        if s.enumerable:
            where = np.full(s.size, -1, dtype=np.int64)
            where[keys[::-1]] = np.arange(len(self))[::-1]  # first row wins on repeats
            cache["where"] = where
        self.__dict__["_index_cache"] = cache
        return cache

    def positions_of_ids(self, ids: np.ndarray, by_class: bool = False) -> np.ndarray:
        """Row of each op-id row in this table (-1 where absent), vectorized.

        ``by_class=True`` falls back to any row of the same isomorphism class (the first in
        table order) for architectures the table does not list themselves.
        """
        s = get_space(self.space)
        ids = s.validate_ids(np.atleast_2d(ids))
        own = self._own_index()
        if ids.shape[0] == 0 or len(self) == 0:
            return np.full(ids.shape[0], -1, dtype=np.int64)
        if "where" in own:
            pos = own["where"][s.index_of(ids)]
        else:
            keys = _row_keys(s, ids)
            at = np.minimum(np.searchsorted(own["keys"], keys), len(self) - 1)
            pos = own["order"][at]
            pos = np.where((own["ids"][pos] == ids).all(axis=1), pos, -1)
        if by_class and (pos < 0).any():
            if "class_keys" not in own:
                h = s.iso_hash(own["ids"]).astype(np.uint64)
                corder = np.argsort(h, kind="stable")
                own["class_keys"], own["class_order"] = h[corder], corder
                own["class_canon"] = s.canonical_ids(own["ids"])
            miss = np.flatnonzero(pos < 0)
            h = s.iso_hash(ids[miss]).astype(np.uint64)
            at = np.minimum(np.searchsorted(own["class_keys"], h), len(self) - 1)
            cand = own["class_order"][at]
            hit = (own["class_keys"][at] == h) & (own["class_canon"][cand] == s.canonical_ids(ids[miss])).all(axis=1)
            pos[miss[hit]] = cand[hit]
        return pos

    def _positions(self, archs: list[Any]) -> np.ndarray:
        """Row of each architecture string in this table, -1 where absent."""
        ids = _arch_ids(self.space, archs, "lookup table", [None] * len(archs))
        by_class = self.meta.get("iso_policy") in ("mean", "median") and not get_space(self.space).enumerable
        return self.positions_of_ids(ids, by_class=by_class)

    # ----- output and joins ---------------------------------------------------------
    def to_csv(self, path: str | os.PathLike) -> None:
        """Write atomically; units and metadata go to ``<path>.meta.json``."""
        from .table import write_csv

        write_csv(path, self.columns, {**self.meta, "space": self.space, "units": self.units})

    def join(
        self, table: "LookupTable", columns: Iterable[str] | None = None, overwrite: bool = False
    ) -> "LookupTable":
        """The lookup table with this table's cost columns added, matched by ``arch_str``.

        Architectures the hardware file lacks get NaN (they then fail constraints on
        those columns). Units are recorded in the result's ``meta["units"]``. By default
        ``params_m``/``flops_m`` of the file are skipped: the exact cost model provides them.
        """
        from .lookup import LookupTable

        recorded = table.meta.get("space")
        if recorded is not None and str(recorded).lower() != self.space:
            raise NasgcnError(
                f"hardware table {self.meta.get('source', '')!s} is for search space {self.space!r} but the lookup "
                f"table is for {recorded!r}; read the hardware file with space={recorded!r} (--space {recorded}) "
                "or use a file measured on that space"
            )
        # FLOPs and params come from the exact cost model: a file's own copies are not joined by default
        names = list(columns) if columns is not None else [m for m in self.metrics if m not in EXACT_COLUMNS]
        for name in names:
            if name not in self.columns:
                raise NasgcnError(f"no hardware column {name!r}; columns: {', '.join(self.metrics)}")
            if name in table.columns and not overwrite:
                raise NasgcnError(
                    f"column {name!r} is already in the lookup table; drop it there or pass overwrite=True"
                )
        pos = self._positions(table["arch_str"].tolist())
        found = pos >= 0
        cols = dict(table.columns)
        for name in names:
            v = self.columns[name].astype(np.float64)
            cols[name] = np.where(found, v[np.maximum(pos, 0)], np.nan)
        meta = dict(table.meta)
        meta["units"] = {**meta.get("units", {}), **{n: self.units.get(n, infer_unit(n)) for n in names}}
        hw_meta = {k: v for k, v in self.meta.items() if k != "units"}
        meta.setdefault("hardware", []).append({"columns": names, "matched": int(found.sum()), **hw_meta})
        return LookupTable(cols, meta)


def _scalar(v: Any) -> Any:
    if isinstance(v, str):
        t = v.strip()
        for conv in (int, float):
            try:
                return conv(t)
            except ValueError:
                pass
        return t
    return v.item() if isinstance(v, np.generic) else v


def _group_stat(group: np.ndarray, values: np.ndarray, n_groups: int, how: str) -> np.ndarray:
    """NaN-ignoring mean or median of ``values`` per group id (vectorized)."""
    ok = ~np.isnan(values)
    if how == "mean":
        count = np.bincount(group[ok], minlength=n_groups)
        total = np.bincount(group[ok], weights=values[ok], minlength=n_groups)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, total / np.maximum(count, 1), np.nan)
    g, v = group[ok], values[ok]
    order = np.lexsort((v, g))
    g, v = g[order], v[order]
    count = np.bincount(g, minlength=n_groups)
    start = np.concatenate([[0], np.cumsum(count)[:-1]])
    has = count > 0
    lo = start + (count - 1) // 2
    hi = start + count // 2
    out = np.full(n_groups, np.nan)
    out[has] = 0.5 * (v[lo[has]] + v[hi[has]])
    return out
