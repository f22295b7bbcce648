"""The one reading layer: every table the package reads (logs, lookup and hardware tables, latency CSVs).

Why one layer: the readers used to open files their own way, so a binary file, a UTF-8 BOM, a
trailing blank line or a header-only table behaved differently (or crashed) depending on which
command read it. Everything here turns such a problem into one
:class:`~predictor.errors.LogFormatError` shaped ``file:line: problem (fix)``:

* :class:`TextFile` opens a file as UTF-8 text, *streaming*: a NUL byte in the first 8 KiB is
  "a binary file", undecodable bytes are "not UTF-8 text" at a line, a BOM is dropped, and no
  line may exceed :data:`MAX_LINE_CHARS` (so a 200 MB file without newlines fails after 1 MiB).
* :class:`CsvRows` streams CSV/TSV records with their line numbers: blank lines are skipped, the
  header is stripped and checked for duplicate names, a short line without a final newline is
  reported as truncated. Callers stop at the first bad line (or, when skipping bad rows, after
  :data:`MAX_BAD_ROWS` of them once bad rows outnumber good ones), so junk never reads to the end.
* :func:`jsonl_lines` does the same for JSON Lines.
* The schema check: :data:`METRIC_RANGES` / :func:`metric_range` declare what a value of a column
  may be (finite; accuracy in [0, 100]; losses and costs >= 0; anything else ``|x| <=``
  :data:`MAX_ABS`), :func:`bad_values` applies it to a column, :class:`ArchColumn` parses
  architecture strings with the space's own parser and :func:`duplicate_keys` finds repeats.
* :func:`option` spells a fix hint for whoever is reading: ``--on-error skip`` on the command line
  (the CLI calls :func:`set_hint_style`), ``on_error='skip'`` from Python.

The parser is the standard library's ``csv`` module (its reader is C code and streams), not
pyarrow.csv or pandas: on the 2-core reference machine ``import pyarrow.csv`` takes 0.73 s and
``import pandas`` 1.53 s against 0.08 s for ``csv`` + ``json``, while ``nasgcn query`` must start
in about 0.1x ``import torch`` (~0.25-0.45 s) in all. Importing this module costs numpy only.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import json
import math
import os
import re
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ArchitectureError, LogFormatError

MAX_LINE_CHARS = 1 << 20
"""Longest line accepted (characters); a longer one is junk, not a table row."""
MAX_BAD_ROWS = 20
"""When skipping bad rows, reading stops once more than this many rows are bad *and* they outnumber good ones."""
MAX_SHOWN_PROBLEMS = 10
"""Skipped rows logged one line each; the rest are counted in one line."""
MAX_ABS = 1e15
"""Largest magnitude accepted in a numeric column without a declared range (1e308 overflows any fit)."""
SNIFF_BYTES = 8192
#: Files up to this size are read in one piece (fast); larger ones are streamed line by line.
WHOLE_READ_BYTES = 16 << 20


class MissingFileError(LogFormatError, FileNotFoundError):
    """A file that does not exist: a :class:`LogFormatError` that is also a ``FileNotFoundError``."""


class RowProblem(Exception):
    """A problem with one row (line): the caller raises it as a LogFormatError or skips the row."""

    def __init__(self, problem: str, fix: str = "") -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix

    def error(self, path: str | os.PathLike, line: int | None) -> LogFormatError:
        return LogFormatError(str(path), line, self.problem, self.fix)


# ----- fix hints: CLI flags on the CLI, keywords in Python -------------------------------
_HINT_STYLE: ContextVar[str] = ContextVar("nasgcn_hint_style", default="python")


def set_hint_style(style: str) -> None:
    """``"cli"`` (hints name ``--flags``) or ``"python"`` (hints name ``keyword=`` arguments)."""
    if style not in ("cli", "python"):
        raise ValueError(f"hint style must be 'cli' or 'python', got {style!r}")
    _HINT_STYLE.set(style)


@contextlib.contextmanager
def hint_style(style: str) -> Iterator[None]:
    """Use ``style`` for fix hints inside the ``with`` block."""
    if style not in ("cli", "python"):
        raise ValueError(f"hint style must be 'cli' or 'python', got {style!r}")
    token = _HINT_STYLE.set(style)
    try:
        yield
    finally:
        _HINT_STYLE.reset(token)


def cli_hints() -> bool:
    """Whether fix hints are being written for the command line."""
    return _HINT_STYLE.get() == "cli"


def option(name: str, value: Any = None) -> str:
    """An option as the reader of the message types it: ``--on-error skip`` or ``on_error='skip'``."""
    if _HINT_STYLE.get() == "cli":
        flag = "--" + name.replace("_", "-")
        return flag if value is None else f"{flag} {value}"
    return f"{name}=True" if value is None else f"{name}={value!r}"


# ----- ranges: what a value of a column may be ------------------------------------------
@dataclass(frozen=True)
class Range:
    """Allowed closed interval of a metric, and what it is (for messages)."""

    low: float
    high: float
    what: str

    def __contains__(self, x: float) -> bool:
        return self.low <= x <= self.high

    def text(self) -> str:
        hi = "inf" if math.isinf(self.high) else f"{self.high:g}"
        lo = "-inf" if math.isinf(self.low) else f"{self.low:g}"
        return f"[{lo}, {hi}]"


ACCURACY = Range(0.0, 100.0, "an accuracy (%)")
NON_NEGATIVE = Range(0.0, MAX_ABS, "a cost, size, count or spread")
LOSS = Range(0.0, MAX_ABS, "a loss")
ANY = Range(-MAX_ABS, MAX_ABS, "a number")

METRIC_RANGES: tuple[tuple[str, Range], ...] = (
    (r"(^|_)(acc|accuracy|top1|top5|top1_acc|top5_acc)(_|$)|(^|_)acc\d", ACCURACY),
    (r"(^|_)(loss|nll|ce)(_|$)", LOSS),
    (
        r"(^|_)(latency|energy|power|ms|mj|params|flops|macs|params_m|params_mb|flops_m|std|iqr|count)(_|$)",
        NON_NEGATIVE,
    ),
)
"""Column-name patterns (regular expressions on the lower-cased name, first match wins) and their ranges.

Everything not matched is :data:`ANY` (finite, ``|x| <= MAX_ABS``). Shared by the readers and by
whoever bounds predictions, so a range is declared once.
"""


@functools.lru_cache(maxsize=4096)
def metric_range(column: str) -> Range:
    """The declared range of a column, by name (see :data:`METRIC_RANGES`)."""
    name = column.lower()
    for pattern, rng in METRIC_RANGES:
        if re.search(pattern, name):
            return rng
    return ANY


def value_problem(column: str, x: float, allow_nan: bool = False) -> RowProblem | None:
    """Why ``x`` cannot be a value of ``column`` (None when it can)."""
    if math.isnan(x):
        if allow_nan:
            return None
        return RowProblem(f"NaN in column {column!r}", "write a number, or drop the row")
    if math.isinf(x):
        return RowProblem(f"infinite value {x} in column {column!r}", "write a finite number, or drop the row")
    rng = metric_range(column)
    if x not in rng:
        return RowProblem(
            f"{x!r} in column {column!r} is outside {rng.text()}, the range of {rng.what}",
            "check the units and the value" if rng is not ANY else "rescale the column (an overflow?)",
        )
    return None


def bad_values(column: str, values: np.ndarray, allow_nan: bool = False) -> np.ndarray:
    """Indices of the values of a float column that :func:`value_problem` refuses (vectorized)."""
    v = np.asarray(values, dtype=np.float64)
    rng = metric_range(column)
    with np.errstate(invalid="ignore"):
        ok = (v >= rng.low) & (v <= rng.high)
    if allow_nan:
        ok |= np.isnan(v)
    return np.flatnonzero(~ok)


def check_column(
    path: str | os.PathLike, column: str, values: np.ndarray, lines: Sequence[int | None] | None, allow_nan: bool
) -> None:
    """Raise for the first value of a column that its range refuses, naming file and line."""
    bad = bad_values(column, values, allow_nan)
    if bad.size:
        i = int(bad[0])
        problem = value_problem(column, float(np.asarray(values, dtype=np.float64)[i]), allow_nan)
        assert problem is not None
        line = lines[i] if lines is not None and i < len(lines) else None
        if line is None:
            problem.problem = f"row {i + 1}: {problem.problem}"
        if bad.size > 1:
            problem.problem += f"; {bad.size - 1} more such value(s)"
        raise problem.error(path, line)


def check_writable(column: str, values: np.ndarray, allow_nan: bool, path: str | os.PathLike) -> None:
    """Refuse to write values that the readers would refuse (a writer must not make unreadable files)."""
    v = np.asarray(values)
    if v.dtype.kind not in "fc":
        return
    bad = bad_values(column, v, allow_nan)
    if bad.size:
        i = int(bad[0])
        problem = value_problem(column, float(v[i]), allow_nan)
        assert problem is not None
        raise LogFormatError(
            str(path),
            None,
            f"refusing to write row {i + 1}: {problem.problem} ({bad.size} such value(s))",
            "fix the values before writing; the readers would refuse this file",
        )


# ----- text files ----------------------------------------------------------------------
def check_path(path: str | os.PathLike, kinds: str = "a table") -> Path:
    """The path, if it names a readable file (clear errors for missing files and folders)."""
    p = Path(path)
    if not p.exists():
        raise MissingFileError(str(p), None, "no such file", "check the path")
    if p.is_dir():
        raise LogFormatError(str(p), None, f"is a directory, not {kinds}", f"give {kinds} file")
    return p


class TextFile:
    """A UTF-8 text file read line by line, with the number and ending of the last line read."""

    def __init__(self, path: str | os.PathLike, kinds: str = "a CSV or JSONL table") -> None:
        self.path = check_path(path, kinds)
        self.kinds = kinds
        self.line_no = 0
        self.ended = True  # whether the last line read ended with a newline
        self.has_quotes = True  # known only after small_lines(): until then, parse with csv
        with open(self.path, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
        if b"\x00" in head:
            raise LogFormatError(
                str(self.path),
                None,
                "a binary file, not text (NUL bytes near the start)",
                f"give {kinds} as UTF-8 text",
            )

    def lines(self) -> Iterator[str]:
        """The lines with their endings; a BOM is dropped; bad bytes and endless lines raise."""
        self.line_no, self.ended = 0, True
        with open(self.path, encoding="utf-8-sig", newline="") as fh:
            while True:
                try:
                    line = fh.readline(MAX_LINE_CHARS)
                except UnicodeDecodeError as err:
                    raise LogFormatError(
                        str(self.path),
                        self.line_no + 1,
                        f"not UTF-8 text ({err.reason}; at or after this line)",
                        f"save {self.kinds} as UTF-8",
                    ) from None
                if not line:
                    return
                self.line_no += 1
                self.ended = line.endswith(("\n", "\r"))
                if len(line) >= MAX_LINE_CHARS and not self.ended:
                    raise LogFormatError(
                        str(self.path),
                        self.line_no,
                        f"a line longer than {MAX_LINE_CHARS} characters",
                        f"is this {self.kinds}? table rows are short lines",
                    )
                if "\x00" in line:
                    raise LogFormatError(
                        str(self.path), self.line_no, "a NUL byte in the text", "a binary or corrupted file"
                    )
                yield line

    def small_lines(self, max_bytes: int = WHOLE_READ_BYTES) -> list[str] | None:
        """All lines at once (C speed) for a file of at most ``max_bytes``, with the checks of
        :meth:`lines`; ``None`` for a larger file, which is streamed instead (bounded memory)."""
        if self.path.stat().st_size > max_bytes:
            return None
        data = self.path.read_bytes()
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise LogFormatError(
                str(self.path),
                data.count(b"\n", 0, err.start) + 1,
                f"not UTF-8 text ({err.reason}; at or after this line)",
                f"save {self.kinds} as UTF-8",
            ) from None
        if "\x00" in text:
            line = text.count("\n", 0, text.index("\x00")) + 1
            raise LogFormatError(str(self.path), line, "a NUL byte in the text", "a binary or corrupted file")
        lines = io.StringIO(text, newline="").readlines()
        if len(text) >= MAX_LINE_CHARS:
            long = next((i for i, ln in enumerate(lines) if len(ln) > MAX_LINE_CHARS), None)
            if long is not None:
                raise LogFormatError(
                    str(self.path),
                    long + 1,
                    f"a line longer than {MAX_LINE_CHARS} characters",
                    f"is this {self.kinds}? table rows are short lines",
                )
        self.line_no = len(lines)
        self.ended = not lines or lines[-1].endswith(("\n", "\r"))
        self.has_quotes = '"' in text
        return lines

    def read(self, max_chars: int = 1 << 28) -> str:
        """The whole text (for formats that are one document, e.g. ``.json``), within a size limit."""
        size = self.path.stat().st_size
        if size > max_chars:
            raise LogFormatError(
                str(self.path), None, f"{size} bytes is too large for one JSON document", "use CSV or JSONL"
            )
        try:
            return self.path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as err:
            raise LogFormatError(
                str(self.path),
                None,
                f"not UTF-8 text ({err.reason} at byte {err.start})",
                f"save {self.kinds} as UTF-8",
            ) from None


def _blank(row: Sequence[str]) -> bool:
    return not row or all(not c.strip() for c in row)


class CsvRows:
    """A CSV/TSV file as a stripped header and a stream of ``(line, row)`` records.

    ``kinds`` names what the file should be, for messages ("a hardware table"). Blank lines are
    skipped anywhere; an empty file raises at once. Iterating raises at unreadable quoting.
    """

    def __init__(self, path: str | os.PathLike, *, delimiter: str | None = None, kinds: str = "a CSV table") -> None:
        self.src = TextFile(path, kinds)
        self.path = self.src.path
        if delimiter is None:
            delimiter = "\t" if self.path.suffix.lower() == ".tsv" else ","
        lines = self.src.small_lines()
        self._reader = csv.reader(self.src.lines() if lines is None else lines, delimiter=delimiter, strict=True)
        # a small file without quotes splits on the delimiter alone: the same rows, faster than csv
        self._fast = lines if lines is not None and not self.src.has_quotes else None
        self._delim, self._pos = delimiter, 0
        self.header: list[str] = []
        self.header_line = 0
        for line, row in self._fast_records() if self._fast is not None else self._records():
            self.header = [h.strip() for h in row]
            self.header_line = line
            break
        else:
            raise LogFormatError(str(self.path), None, "the file is empty", "expected a header line naming the columns")
        seen: set[str] = set()
        for name in self.header:
            if name in seen:
                raise LogFormatError(
                    str(self.path),
                    self.header_line,
                    f"duplicate column name {name!r}",
                    "give every column a distinct name",
                )
            seen.add(name)
        self.width = len(self.header)

    def _fast_records(self) -> Iterator[tuple[int, list[str]]]:
        lines, d = self._fast or [], self._delim
        while self._pos < len(lines):
            self._pos += 1
            row = lines[self._pos - 1].rstrip("\r\n").split(d)
            if (row and row[0].strip()) or not _blank(row):
                yield self._pos, row

    def rest(self) -> list[tuple[int, list[str]]] | None:
        """Every remaining ``(line, row)`` at once where the fast path applies (else ``None``: iterate)."""
        if self._fast is None:
            return None
        d, start = self._delim, self._pos
        split = (ln.rstrip("\r\n").split(d) for ln in self._fast[start:])
        out = [(i, r) for i, r in enumerate(split, start + 1) if (r and r[0].strip()) or not _blank(r)]
        self._pos = len(self._fast)
        return out

    def _records(self) -> Iterator[tuple[int, list[str]]]:
        if self._fast is not None:
            yield from self._fast_records()
            return
        try:
            end = self._reader.line_num
            for row in self._reader:  # a record's line is where it starts (a quoted cell may span lines)
                if (row and row[0].strip()) or not _blank(row):  # the common case without a generator
                    yield end + 1, row
                end = self._reader.line_num
        except csv.Error as err:
            raise LogFormatError(
                str(self.path),
                self._reader.line_num or 1,
                f"unreadable CSV ({err})",
                "check the quoting; was the file cut off?",
            ) from None

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        return self._records()

    def width_problem(self, row: Sequence[str], last: bool = True) -> RowProblem | None:
        """Why ``row`` does not fit the header: truncated last line or wrong count (``last``: ``row`` is
        the last one read, so a missing final newline means it was cut off)."""
        if len(row) == self.width:
            return None
        if len(row) < self.width and last and not self.src.ended:
            return RowProblem(
                f"truncated last line: expected {self.width} fields, found {len(row)} and no final newline",
                "the file was probably cut off while being written; rerun or delete that line",
            )
        return RowProblem(f"expected {self.width} fields, found {len(row)}", "check the commas and quoting of this row")

    def column(self, *names: str) -> str | None:
        """The first of ``names`` present in the header."""
        return next((n for n in names if n in self.header), None)


def jsonl_lines(path: str | os.PathLike, kinds: str = "a JSONL table") -> Iterator[tuple[int, str, bool]]:
    """Non-blank lines of a JSON Lines file as ``(line, text, is_last)``, streamed with one line of lookahead."""
    src = TextFile(path, kinds)
    pending: tuple[int, str] | None = None
    for text in src.lines():
        if not text.strip():
            continue
        if pending is not None:
            yield pending[0], pending[1], False
        pending = (src.line_no, text)
    if pending is not None:
        yield pending[0], pending[1], True


def parse_json_line(text: str, is_last: bool) -> Any:
    """One JSON value (duplicate keys refused); a broken last line is reported as truncated."""
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as err:
        if is_last:
            hint = "" if text.endswith(("\n", "\r")) else " and no final newline"
            raise RowProblem(
                f"truncated last line: invalid JSON ({err.msg}){hint}",
                "the file was probably cut off while being written; rerun or delete that line",
            ) from None
        raise RowProblem(f"invalid JSON ({err.msg} at column {err.colno})", "one JSON object per line") from None


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d: dict[str, Any] = {}
    for k, v in pairs:
        if k in d:
            raise RowProblem(f"duplicate key {k!r}", "give every key a distinct name")
        d[k] = v
    return d


# ----- skipped rows: bounded, logged ---------------------------------------------------
class BadRows:
    """Bad rows of one file when skipping: counted, capped, logged as one clean line each."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = str(path)
        self.problems: dict[int, RowProblem] = {}

    def add(self, line: int, problem: RowProblem, good: int) -> None:
        """Record a bad row; stop reading once junk dominates (``good`` rows read so far)."""
        self.problems.setdefault(line, problem)
        n = len(self.problems)
        if n > MAX_BAD_ROWS and n > good:
            first = min(self.problems)
            raise LogFormatError(
                self.path,
                line,
                f"stopped reading: {n} bad rows and only {good} good ones so far "
                f"(first at line {first}: {self.problems[first].problem})",
                "is this the right file? fix the first bad lines",
            )

    def report(self, logger: Any, total: int) -> None:
        """One line per skipped row (the first :data:`MAX_SHOWN_PROBLEMS`), then a count."""
        if not self.problems:
            return
        ordered = sorted(self.problems.items())
        for line, p in ordered[:MAX_SHOWN_PROBLEMS]:
            logger.warning("%s:%d: %s; row skipped", self.path, line, p.problem)
        hidden = len(ordered) - MAX_SHOWN_PROBLEMS
        if hidden > 0:
            logger.warning("%s: ... and %d more bad rows skipped", self.path, hidden)
        logger.warning("%s: skipped %d of %d rows (%d kept)", self.path, len(ordered), total, total - len(ordered))


# ----- architectures and keys ---------------------------------------------------------
_STRING_INDEX: dict[str, dict[str, tuple[int, ...]]] = {}


def string_index(space: Any) -> dict[str, tuple[int, ...]] | None:
    """Canonical string -> op ids for a whole (small) space, built once; None for large spaces."""
    if not getattr(space, "enumerable", True) or space.size > 1_000_000:
        return None
    if space.name not in _STRING_INDEX:
        ids = space.all_ids()
        _STRING_INDEX[space.name] = dict(zip(space.decode(ids), map(tuple, ids.tolist()), strict=True))
    return _STRING_INDEX[space.name]


def other_space_hint(space_name: str, arch: Any) -> str:
    """'; it parses as a 'X' architecture: pass --space X' when another registered space reads it."""
    from .spaces import get_space, list_spaces

    for other in list_spaces():
        if other == space_name:
            continue
        try:
            get_space(other).parse(str(arch))
        except Exception:  # noqa: BLE001 - any parse failure means "not this space"
            continue
        return f"; it parses as a {other!r} architecture: pass {option('space', other)}"
    return ""


class ArchColumn:
    """Checks and normalizes architecture strings with the space's own parser (fast for canonical ones)."""

    def __init__(self, space: Any, canonicalize: bool = True) -> None:
        self.space = space
        self.canonicalize = canonicalize
        self.known = string_index(space) or {}

    def __call__(self, raw: Any) -> str:
        """The (canonical) string, or a :class:`RowProblem`."""
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            raise RowProblem("missing arch_str value", "every row needs an architecture string")
        if not isinstance(raw, str):
            raise RowProblem(f"arch_str must be a string, got {raw!r}", "quote the architecture string")
        if raw in self.known:
            return raw
        compact = "".join(raw.split())  # ops never contain whitespace
        if compact in self.known:
            return compact if self.canonicalize else raw
        try:
            ids = self.space.parse(compact)
        except ArchitectureError as err:
            raise RowProblem(f"{err}{other_space_hint(self.space.name, compact)}", "fix or remove this row") from None
        return self.space.format(ids) if self.canonicalize else raw


ARCH_LIST_KINDS = "an architecture list (one string per line, or a CSV with an arch_str column)"


def read_arch_list(path: str | os.PathLike, space: Any) -> tuple[np.ndarray, list[int]]:
    """Op ids and line numbers of an architecture list: one string per line (``#`` comments), or a CSV
    with an ``arch_str`` column. Streams and stops at the first string the space cannot parse."""
    src = TextFile(path, ARCH_LIST_KINDS)
    first = ""
    lines_iter = src.lines()
    for text in lines_iter:
        if text.strip():
            first = text
            break
    lines_iter.close()
    parse = ArchColumn(space)
    strings: list[str] = []
    where: list[int] = []
    if "arch_str" in [c.strip() for c in first.split(",")]:
        rows = CsvRows(path, kinds=ARCH_LIST_KINDS)
        a = rows.header.index("arch_str")
        for line, row in rows:
            try:
                problem = rows.width_problem(row)
                if problem is not None:
                    raise problem
                strings.append(parse(row[a]))
            except RowProblem as err:
                raise err.error(src.path, line) from None
            where.append(line)
    else:
        for text in src.lines():
            t = text.strip()
            if not t or t.startswith("#"):
                continue
            try:
                strings.append(parse(t))
            except RowProblem as err:
                raise err.error(src.path, src.line_no) from None
            where.append(src.line_no)
    if not strings:
        raise LogFormatError(str(src.path), None, "no architectures found", f"give {ARCH_LIST_KINDS}")
    return np.asarray(space.encode(strings), dtype=np.int64).reshape(len(strings), -1), where


def duplicate_keys(keys: Sequence[Any]) -> tuple[int, int] | None:
    """Positions ``(first, repeat)`` of the earliest repeated key, or None."""
    seen: dict[Any, int] = {}
    for i, k in enumerate(keys):
        j = seen.setdefault(k, i)
        if j != i:
            return j, i
    return None


__all__ = [
    "ACCURACY",
    "ANY",
    "LOSS",
    "MAX_ABS",
    "MAX_BAD_ROWS",
    "MAX_LINE_CHARS",
    "MAX_SHOWN_PROBLEMS",
    "METRIC_RANGES",
    "NON_NEGATIVE",
    "ArchColumn",
    "BadRows",
    "CsvRows",
    "MissingFileError",
    "Range",
    "RowProblem",
    "TextFile",
    "bad_values",
    "check_column",
    "check_path",
    "check_writable",
    "cli_hints",
    "duplicate_keys",
    "hint_style",
    "jsonl_lines",
    "metric_range",
    "option",
    "other_space_hint",
    "read_arch_list",
    "parse_json_line",
    "set_hint_style",
    "value_problem",
]
