"""Evaluation logs: read, validate, write and aggregate ``arch_str`` + metric tables.

A log is what a user (or the supernet) measured: one row per evaluation, an
``arch_str`` column, any number of numeric **metric** columns and optional
**metadata** columns. Two formats, chosen by the file suffix:

* CSV (``.csv``): a header line, then one row per evaluation.
* JSONL (``.jsonl`` / ``.ndjson``): one JSON object per line; the first object's
  keys act as the header, every later line must have the same keys.

Metadata columns are the names in :data:`META_COLUMNS` (``source, seed, epoch,
dataset, checkpoint, run, images, split, note`` and ``count``, the number of
evaluations behind an aggregated row) plus any names passed as
``meta_columns=``. They may be empty. ``seed, epoch, run, images, count`` are
stored as int64 when every value is an integer; everything else as strings.
**Every other column is a metric** and must hold a finite number on every row.

Validation is strict because a silently dropped or mis-parsed row corrupts a
predictor without anyone noticing. A malformed string, an unknown op, a missing
or non-numeric value, NaN/inf, a wrong number of fields or a truncated last line
raise :class:`~predictor.errors.LogFormatError` naming ``file:line`` and the fix.
With ``on_error="skip"`` bad *rows* are dropped instead, each logged as one line on the
``predictor.logs`` logger (the first ten, then a count; file-level problems such as a missing
``arch_str`` column still raise). Values must also lie in their column's declared range
(:data:`predictor.readers.METRIC_RANGES`: accuracies in [0, 100], losses >= 0, anything else
``|x| <= 1e15``), so an overflowed 1e308 never reaches a fit. Files are read through
:mod:`predictor.readers` (streaming; binary files, BOMs and junk handled the same everywhere).

Architectures are stored normalized (parsed and formatted again, whitespace
removed), so spelling variants of the same cell match. :func:`aggregate` merges
duplicate architectures, or whole isomorphism classes, by a chosen rule.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import LogFormatError, NasgcnError
from .io import atomic_path
from .readers import (
    ArchColumn,
    BadRows,
    CsvRows,
    RowProblem,
    bad_values,
    check_path,
    check_writable,
    cli_hints,
    jsonl_lines,
    option,
    parse_json_line,
    string_index,
    value_problem,
)
from .spaces import SearchSpace, get_space

META_COLUMNS: tuple[str, ...] = (
    "source",
    "seed",
    "epoch",
    "dataset",
    "checkpoint",
    "run",
    "images",
    "split",
    "note",
    "count",
    "supernet",
)
"""Column names read as metadata rather than metrics (see the module docstring)."""
INT_META_COLUMNS: frozenset[str] = frozenset({"seed", "epoch", "run", "images", "count"})
"""Metadata read as int64 when every value is an integer; all other metadata stays text (ids keep leading zeros)."""

CSV_SUFFIXES = (".csv",)
JSONL_SUFFIXES = (".jsonl", ".ndjson")
RULES = ("mean", "median", "max", "min", "last")
logger = logging.getLogger(__name__)
"""Where skipped rows are reported (one line each, then a count): see :class:`predictor.readers.BadRows`."""


@dataclass
class EvaluationLog:
    """Evaluations as columns: ``arch_str`` (object array), float ``metrics``, ``meta`` columns.

    Plain numpy so logs are cheap to slice, concatenate and hand to any model.
    """

    arch_str: np.ndarray
    metrics: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.arch_str = np.asarray(list(self.arch_str), dtype=object)
        n = len(self.arch_str)
        self.metrics = {k: np.asarray(v, dtype=np.float64) for k, v in self.metrics.items()}
        self.meta = {k: np.asarray(v) for k, v in self.meta.items()}
        for kind, cols in (("metric", self.metrics), ("metadata", self.meta)):
            for name, col in cols.items():
                if col.shape != (n,):
                    raise NasgcnError(f"{kind} column {name!r} has shape {col.shape}, expected ({n},) like arch_str")
        clash = set(self.metrics) & set(self.meta)
        if "arch_str" in self.metrics or "arch_str" in self.meta or clash:
            raise NasgcnError(f"column names must be unique across arch_str, metrics and meta: {sorted(clash)}")

    def __len__(self) -> int:
        return len(self.arch_str)

    @property
    def columns(self) -> list[str]:
        return ["arch_str", *self.metrics, *self.meta]

    def to_frame(self) -> dict[str, np.ndarray]:
        """All columns as one ``{name: array}`` dict (the :mod:`predictor.table` frame)."""
        return {"arch_str": self.arch_str, **self.metrics, **self.meta}

    def ids(self, space: str | SearchSpace = "nb201") -> np.ndarray:
        """Op-id matrix ``(n, num_slots)`` of the architectures."""
        sp = get_space(space)
        known = string_index(sp)
        if known is not None:
            try:  # fast path: strings already canonical (what read_log stores)
                rows = [known[a] for a in self.arch_str.tolist()]
                return np.asarray(rows, dtype=np.int64).reshape(len(rows), sp.num_slots)
            except (KeyError, TypeError):
                pass
        return sp.encode(["".join(a.split()) for a in self.arch_str.tolist()])

    def select(self, rows: np.ndarray | Sequence[int] | slice) -> EvaluationLog:
        """A new log with the given rows (boolean mask, indices or slice)."""
        if not isinstance(rows, slice):
            rows = np.asarray(rows)
        return EvaluationLog(
            self.arch_str[rows],
            {k: v[rows] for k, v in self.metrics.items()},
            {k: v[rows] for k, v in self.meta.items()},
        )

    @classmethod
    def concat(cls, logs: Sequence[EvaluationLog]) -> EvaluationLog:
        """Stack logs with the same metric columns; metadata missing from a log is left empty."""
        if not logs:
            raise NasgcnError("no logs to concatenate")
        names = list(logs[0].metrics)
        for log in logs[1:]:
            if set(log.metrics) != set(names):
                raise NasgcnError(
                    f"logs have different metric columns: {sorted(names)} vs {sorted(log.metrics)} "
                    "(read them with metrics=[...] to keep the shared ones)"
                )
        meta_names: list[str] = []
        for log in logs:
            meta_names += [m for m in log.meta if m not in meta_names]
        meta = {}
        for name in meta_names:
            parts = [log.meta.get(name) for log in logs]
            if all(p is not None and p.dtype.kind == "i" for p in parts):
                meta[name] = np.concatenate(parts)
            else:
                strs = [
                    np.full(len(log), "", dtype=object) if p is None else p.astype(str)
                    for p, log in zip(parts, logs, strict=True)
                ]
                meta[name] = _meta_array(np.concatenate(strs).tolist(), name)
        return cls(
            np.concatenate([log.arch_str for log in logs]),
            {k: np.concatenate([log.metrics[k] for log in logs]) for k in names},
            meta,
        )


# ----------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------


class _ArchParser(ArchColumn):
    """The space's parser (see :class:`~predictor.readers.ArchColumn`) with the log's skip hint."""

    def __init__(self, space: SearchSpace, canonicalize: bool, aliases: Sequence[str] = ()) -> None:
        super().__init__(space, canonicalize)
        self.aliases = tuple(aliases)  # other names of the architecture column (see read_log)

    def __call__(self, raw: Any) -> str:
        try:
            return super().__call__(raw)
        except RowProblem as err:
            if err.fix == "fix or remove this row":
                err.fix = f"fix the string or pass {option('on_error', 'skip')}"
            raise


def _to_float(value: Any, column: str) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise RowProblem(
            f"missing value in metric column {column!r}", f"fill it in or pass {option('on_error', 'skip')}"
        )
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise RowProblem(f"non-numeric value {value!r} in metric column {column!r}", "metrics must be numbers")
    try:
        x = float(value)
    except (ValueError, OverflowError):
        raise RowProblem(
            f"non-numeric value {value!r} in metric column {column!r}",
            "metrics must be numbers"
            + ("" if cli_hints() else "; name text columns in meta_columns=[...] or pass metrics=[...]"),
        ) from None
    if not math.isfinite(x):
        raise RowProblem(
            f"{value!r} in metric column {column!r} is not a finite number",
            f"drop or fix the row, or pass {option('on_error', 'skip')}",
        )
    problem = value_problem(column, x)
    if problem is not None:
        problem.fix = f"drop or fix the row, or pass {option('on_error', 'skip')}"
        raise problem
    return x


def _meta_array(values: list[str], name: str) -> np.ndarray:
    """int64 for a counter column (:data:`INT_META_COLUMNS`) whose values are all integers, else strings."""
    if name in INT_META_COLUMNS:
        try:
            return np.asarray([int(v) for v in values], dtype=np.int64)
        except (ValueError, TypeError):
            pass
    return np.asarray(values, dtype=object)


def _meta_str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else json.dumps(value) if isinstance(value, (dict, list)) else str(value)


_SCALARS = (int, float, str)


class _Collector:
    """Accumulates rows, converts metrics column-wise, then raises or logs (capped) the bad rows.

    Row-level checks (field count, architecture) happen while reading; metric values are
    converted a whole column at a time (fast), falling back to per-value checks only for the
    values a column's range refuses. With ``on_error="raise"`` reading stops at the first bad
    row (the earliest problem in file order is reported); with ``"skip"`` it stops once bad rows
    dominate (:class:`~predictor.readers.BadRows`), so a junk file is never read to the end.
    """

    def __init__(self, path: Path, on_error: str) -> None:
        self.path = path
        self.on_error = on_error
        self.lines: list[int] = []
        self.arch: list[str] = []
        self.metric_rows: list[Sequence[Any]] = []  # raw rows; metric j is at metric_pos[j]
        self.metric_pos: list[int] = []
        self.meta_rows: list[list[str]] = []
        self.skipped = BadRows(path)
        self.metric_names: list[str] = []
        self.typed = False

    def add(self, line: int, arch: str, raw: Sequence[Any], meta_values: list[str]) -> None:
        self.lines.append(line)
        self.arch.append(arch)
        self.metric_rows.append(raw)
        self.meta_rows.append(meta_values)

    def bad(self, line: int, err: RowProblem) -> None:
        if self.on_error == "raise":
            # An earlier row may hold a bad metric value: report whichever problem comes first.
            if self.lines and self.metric_names:
                self._metric_matrix()
            first = min(self.skipped.problems.items(), default=(line, err))
            raise first[1].error(self.path, first[0])
        self.skipped.add(line, err, len(self.lines))

    def _metric_matrix(self) -> tuple[np.ndarray, np.ndarray]:
        """Float matrix (rows x metrics) and a mask of rows with a bad value (recorded as problems)."""
        names, typed = self.metric_names, self.typed
        n = len(self.arch)
        out = np.empty((n, len(names)), dtype=np.float64)
        bad = np.zeros(n, dtype=bool)
        for j, name in enumerate(names):
            pos = self.metric_pos[j]
            col = [r[pos] for r in self.metric_rows]
            try:
                if typed and not all(type(v) in _SCALARS for v in col):
                    raise TypeError("not a plain number or string")  # e.g. bool, null, list: check one by one
                values = np.asarray(col, dtype=object).astype(np.float64)
                suspects = bad_values(name, values)
            except (ValueError, TypeError, OverflowError):
                values = np.full(n, np.nan)
                suspects = np.arange(n)
            for i in suspects.tolist():
                try:
                    values[i] = _to_float(col[i], name)
                except RowProblem as err:
                    bad[i] = True
                    self.skipped.problems.setdefault(self.lines[i], err)
            out[:, j] = values
        return out, bad

    def finish(self, metric_names: list[str], meta_names: list[str], typed: bool = False) -> EvaluationLog:
        self.metric_names, self.typed = metric_names, typed
        metrics_m, bad = self._metric_matrix()
        problems = self.skipped.problems
        if problems and self.on_error == "raise":
            line, err = min(problems.items())
            raise err.error(self.path, line)
        added = set(self.lines)
        self.skipped.report(logger, len(self.lines) + sum(1 for ln in problems if ln not in added))
        keep = np.flatnonzero(~bad)
        if keep.size == 0:
            problem = "every row was skipped as invalid" if problems else "the file has a header but no rows"
            raise LogFormatError(str(self.path), None, problem, "a log needs at least one valid evaluation")
        metrics = {name: metrics_m[keep, j].copy() for j, name in enumerate(metric_names)}
        meta = {
            name: _meta_array([self.meta_rows[i][j] for i in keep.tolist()], name) for j, name in enumerate(meta_names)
        }
        return EvaluationLog(np.asarray(self.arch, dtype=object)[keep], metrics, meta)


ARCH_ALIASES: tuple[str, ...] = ("arch", "arch_ids")
"""Names accepted for the architecture column when there is no ``arch_str`` (e.g. NAS-Bench-Macro's ``arch``)."""


def _arch_alias(header: Sequence[str], aliases: Sequence[str]) -> str | None:
    """The column to read as ``arch_str`` when the header has none (the first of ``aliases`` present)."""
    if "arch_str" in header:
        return None
    return next((a for a in aliases if a in header), None)


def _split_columns(
    path: Path, line: int, header: list[str], metrics: Sequence[str] | None, meta_names: set[str]
) -> tuple[list[str], list[str]]:
    """Metric and metadata column names of a header; file-level checks."""
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise LogFormatError(
                str(path), line, f"duplicate column name {name!r}", "give every column a distinct name"
            )
        seen.add(name)
    if "arch_str" not in seen:
        raise LogFormatError(
            str(path),
            line,
            f"no 'arch_str' column (columns: {', '.join(header) or 'none'})",
            "name the architecture column arch_str",
        )
    meta = [h for h in header if h in meta_names]
    if metrics is None:
        metric_cols = [h for h in header if h != "arch_str" and h not in meta_names]
    else:
        metric_cols = list(metrics)
        missing = [m for m in metric_cols if m not in seen]
        if missing:
            raise LogFormatError(
                str(path),
                line,
                f"requested metric column(s) {', '.join(map(repr, missing))} not found (columns: {', '.join(header)})",
                "check the metric names",
            )
        bad = [m for m in metric_cols if m == "arch_str" or m in meta_names]
        if bad:
            raise NasgcnError(f"{', '.join(map(repr, bad))} is not a metric column (arch_str or metadata)")
    return metric_cols, meta


_KINDS = "an evaluation log (CSV or JSONL)"


def _read_csv(path: Path, parse: _ArchParser, metrics, meta_names, on_error) -> EvaluationLog:
    rows = CsvRows(path, delimiter=",", kinds=_KINDS)
    header = list(rows.header)
    alias = _arch_alias(header, parse.aliases)
    if alias is not None:
        header = ["arch_str" if h == alias else h for h in header]
    metric_cols, meta_cols = _split_columns(path, rows.header_line, header, metrics, meta_names)
    pos = {h: i for i, h in enumerate(header)}
    i_arch = pos["arch_str"]
    i_meta = [pos[m] for m in meta_cols]
    out = _Collector(path, on_error)
    out.metric_pos = [pos[m] for m in metric_cols]
    out.metric_names = metric_cols
    for line, row in rows:
        try:
            problem = rows.width_problem(row)
            if problem is not None:
                raise problem
            arch = parse(row[i_arch])
        except RowProblem as err:
            out.bad(line, err)
            continue
        out.add(line, arch, row, [row[i].strip() for i in i_meta])
    return out.finish(metric_cols, meta_cols)


def _read_jsonl(path: Path, parse: _ArchParser, metrics, meta_names, on_error) -> EvaluationLog:
    out = _Collector(path, on_error)
    out.typed = True
    keys: list[str] | None = None
    alias: str | None = None
    metric_cols: list[str] = []
    meta_cols: list[str] = []
    seen_any = False
    for line, text, is_last in jsonl_lines(path, _KINDS):
        seen_any = True
        try:
            rec = parse_json_line(text, is_last)
            if not isinstance(rec, dict):
                raise RowProblem(f"expected a JSON object, got {type(rec).__name__}", "one JSON object per line")
            if keys is None:
                alias = _arch_alias(list(rec), parse.aliases)
            if alias is not None and alias in rec:
                rec = {("arch_str" if k == alias else k): v for k, v in rec.items()}
            if keys is None:
                # The first record defines the columns; its file-level problems always raise.
                metric_cols, meta_cols = _split_columns(path, line, list(rec), metrics, meta_names)
                keys = list(rec)
                out.metric_names = metric_cols
                out.metric_pos = list(range(len(metric_cols)))
            else:
                extra = [k for k in rec if k not in keys]
                if extra:
                    raise RowProblem(
                        f"key(s) {', '.join(map(repr, extra))} not in the first record",
                        "every line must have the same keys as the first",
                    )
            arch = parse(rec.get("arch_str"))
        except RowProblem as err:
            out.bad(line, err)
            continue
        out.add(line, arch, [rec.get(m) for m in metric_cols], [_meta_str(rec.get(m)) for m in meta_cols])
    if not seen_any:
        raise LogFormatError(str(path), None, "the file is empty", "expected one JSON object per line")
    out.metric_pos = list(range(len(metric_cols)))
    return out.finish(metric_cols, meta_cols, typed=True)


def read_log(
    path: str | os.PathLike,
    *,
    space: str | SearchSpace = "nb201",
    metrics: Sequence[str] | None = None,
    on_error: str = "raise",
    canonicalize: bool = True,
    meta_columns: Iterable[str] = (),
    arch_aliases: Sequence[str] = (),
) -> EvaluationLog:
    """Read and validate one evaluation log (CSV or JSONL, by suffix).

    ``metrics``: the metric columns to read (others are ignored); default every
    column that is neither ``arch_str`` nor metadata. ``on_error``: ``"raise"``
    (default) stops at the first bad row with a :class:`LogFormatError` naming
    file and line; ``"skip"`` drops bad rows, logging one line each (capped) and a count.
    ``canonicalize``: store strings normalized (parse + format) so variants
    match. ``meta_columns``: extra column names to treat as metadata.
    ``arch_aliases``: other names to read as ``arch_str`` when a file has no such column
    (e.g. :data:`ARCH_ALIASES`: NAS-Bench-Macro's file calls it ``arch``); by default only
    ``arch_str`` is accepted. A log whose ``<path>.meta.json`` records another ``space`` is
    refused (:func:`log_space`).
    """
    if on_error not in ("raise", "skip"):
        raise NasgcnError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in CSV_SUFFIXES + JSONL_SUFFIXES:
        raise LogFormatError(
            str(p), None, f"unknown log format {p.suffix or '(no suffix)'!r}", "name the file .csv, .jsonl or .ndjson"
        )
    if isinstance(metrics, str):
        metrics = [metrics]
    check_path(p, "an evaluation log (CSV or JSONL)")
    sp = get_space(space)
    sp.check_compatible(log_space(p), f"log {p}")
    parse = _ArchParser(sp, canonicalize, arch_aliases)
    meta_names = set(META_COLUMNS) | set(meta_columns)
    reader = _read_csv if suffix in CSV_SUFFIXES else _read_jsonl
    return reader(p, parse, metrics, meta_names, on_error)


def log_space(path: str | os.PathLike) -> str | None:
    """The space recorded for a log (``"space"`` in its ``<path>.meta.json`` sidecar), or None.

    Logs written by ``nasgcn supernet eval``/``nasgcn latency measure`` record it; plain CSVs do not, and are
    then read in whatever space the caller asks for.
    """
    sidecar = Path(str(path) + ".meta.json")
    if not sidecar.is_file():
        return None
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if isinstance(meta, dict):  # a sidecar of other data must not lend its space to this log
        from .io import check_sidecar

        meta = check_sidecar(path, meta, sidecar)
    value = meta.get("space") if isinstance(meta, dict) else None
    return str(value) if isinstance(value, str) and value else None


def read_logs(paths: Iterable[str | os.PathLike], **kwargs: Any) -> EvaluationLog:
    """Read several logs (options as :func:`read_log`) and stack them.

    Each file's rows get a ``source`` metadata value (the file name) unless the
    file already has a ``source`` column. All files must share the metric columns.
    """
    logs = []
    for path in paths:
        log = read_log(path, **kwargs)
        if "source" not in log.meta:
            log.meta["source"] = np.full(len(log), Path(path).name, dtype=object)
        logs.append(log)
    if not logs:
        raise NasgcnError("no log files given")
    return EvaluationLog.concat(logs)


# ----------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------


def _cell(v: Any) -> Any:
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return float(v)
    return v


def write_log(path: str | os.PathLike, log: EvaluationLog) -> None:
    """Write ``log`` atomically as CSV or JSONL (by suffix); floats round-trip exactly.

    Metric values that :func:`read_log` would refuse (NaN, inf, outside the column's range) are
    refused here too, before anything is written: a log this writes can always be read back.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in CSV_SUFFIXES + JSONL_SUFFIXES:
        raise NasgcnError(f"{p}: unknown log format {p.suffix!r}; name the file .csv, .jsonl or .ndjson")
    for name, values in log.metrics.items():
        check_writable(name, values, False, p)
    frame = log.to_frame()
    names = list(frame)
    columns = [np.asarray(frame[c]).tolist() for c in names]
    with atomic_path(p) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            if suffix in CSV_SUFFIXES:
                w = csv.writer(fh, lineterminator="\n")
                w.writerow(names)
                w.writerows(
                    zip(*[[repr(x) if isinstance(x, float) else x for x in col] for col in columns], strict=True)
                )
            else:
                for row in zip(*columns, strict=True):
                    fh.write(json.dumps(dict(zip(names, map(_cell, row), strict=True)), allow_nan=False) + "\n")


# ----------------------------------------------------------------------------------------
# Aggregation
# ----------------------------------------------------------------------------------------


def _group_reduce(
    values: np.ndarray, inverse: np.ndarray, counts: np.ndarray, rule: str, weights: np.ndarray
) -> np.ndarray:
    g = counts.size
    if rule == "mean":
        return np.bincount(inverse, weights=values * weights, minlength=g) / np.bincount(inverse, weights, minlength=g)
    if rule in ("max", "min"):
        out = np.full(g, -np.inf if rule == "max" else np.inf)
        (np.maximum if rule == "max" else np.minimum).at(out, inverse, values)
        return out
    if rule == "median":
        order = np.lexsort((values, inverse))
        v = values[order]
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        return 0.5 * (v[starts + (counts - 1) // 2] + v[starts + counts // 2])
    raise AssertionError(rule)  # pragma: no cover


def aggregate(
    log: EvaluationLog, by: str = "arch", rule: str = "mean", *, space: str | SearchSpace = "nb201"
) -> EvaluationLog:
    """One row per architecture (``by="arch"``) or isomorphism class (``by="iso"``).

    Rules for metrics: ``mean`` (default), ``median``, ``max``, ``min`` or ``last``
    (the last row of the group, in log order). If the log already has a ``count``
    column (an aggregated log), ``mean`` is weighted by it and counts add up.
    With ``by="iso"`` a class is written as its canonical member's string
    (the smallest index; see :meth:`NB201Space.canonical`). The result keeps
    groups in order of first appearance and gets a ``count`` metadata column.
    Other metadata columns are kept when they are constant within every group
    (all of them with ``rule="last"``, taken from the last row), else dropped.
    """
    if by not in ("arch", "iso"):
        raise NasgcnError(f"aggregate by must be 'arch' or 'iso', got {by!r}")
    if rule not in RULES:
        raise NasgcnError(f"unknown aggregation rule {rule!r}; choose one of {', '.join(RULES)}")
    if len(log) == 0:
        return EvaluationLog(log.arch_str, dict(log.metrics), {**log.meta, "count": np.zeros(0, dtype=np.int64)})
    sp = get_space(space)
    ids = log.ids(sp)
    key = sp.iso_representative(ids) if by == "iso" else sp.index_of(ids)
    uniq, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    # Renumber groups in order of first appearance.
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    inverse = rank[inverse]
    first = first[order]
    counts = np.bincount(inverse)
    _, last_rev = np.unique(inverse[::-1], return_index=True)
    last = len(log) - 1 - last_rev
    prev_count = log.meta.get("count")
    weights = prev_count.astype(np.float64) if prev_count is not None and prev_count.dtype.kind == "i" else None
    total = np.bincount(inverse, weights, minlength=counts.size).astype(np.int64) if weights is not None else counts
    w = weights if weights is not None else np.ones(len(log))
    if rule == "last":
        metrics = {k: v[last] for k, v in log.metrics.items()}
    else:
        metrics = {k: _group_reduce(v, inverse, counts, rule, w) for k, v in log.metrics.items()}
    if by == "iso":
        arch = np.asarray(sp.decode(sp.all_ids()[uniq[order]]), dtype=object)
    else:
        arch = np.asarray(sp.decode(ids[first]), dtype=object)
    meta: dict[str, np.ndarray] = {}
    for name, col in log.meta.items():
        if name == "count":
            continue
        if rule == "last" or np.array_equal(col[first][inverse], col):
            meta[name] = col[last] if rule == "last" else col[first]
    meta["count"] = total
    return EvaluationLog(arch, metrics, meta)


__all__ = [
    "EvaluationLog",
    "META_COLUMNS",
    "aggregate",
    "log_space",
    "read_log",
    "read_logs",
    "write_log",
]
