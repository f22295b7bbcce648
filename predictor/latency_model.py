"""Hardware cost models for search spaces too large to tabulate (FBNet: 9^22 architectures).

Why a table of per-layer costs: a chain network runs its layers one after the other, so its
latency on a device is close to a sum over layers of the cost of the block chosen there
(HW-NAS-Bench's Raspberry Pi 4 / Pixel 3 / Eyeriss / FPGA figures *are* such sums). The model
is an additive per-(layer, block) table plus a bias, fitted on the one-hot of the block of every
slot. Three refinements, each measured on HELP's FBNet latencies (``benchmarks/latency_fbnet.py``):

* **structured basis** (chain spaces): the table is written as a per-block cost proportional to
  the block's exact MACs at that layer + one shared cost per (stage, first layer or not, block)
  (a stage's later layers have identical shapes) + a free per-(layer, block) deviation whose
  ridge penalty k-fold cross-validation picks per column (~0 fits any table exactly). The span is
  the plain table's, so nothing is lost with many data; with few it is what makes 100
  measurements enough (199 unknowns): at 100, Raspberry Pi 4 within +-10 % 0.61 -> 1.00, Xeon
  Silver 0.77 -> 0.95 (3 seeds).
* **robust fit** (``loss="huber"``; the default ``"auto"`` picks Huber or plain least squares per
  column by cross-validation): iteratively reweighted least squares with a Huber threshold of
  1.345 robust sigmas. Measured phone and CPU latencies have heavy, one-sided noise
  (a few percent of HELP's Galaxy S7 / Xeon Gold 6226 runs are 20-100 % slow, correlated in
  measurement order: device state, not architecture); the robust fit follows the typical run
  (Galaxy S7 at 900: 0.53 -> 0.75). ``"lad"`` approximates the median fit, ``"lsq"`` is plain
  least squares (with ``structured=False``: the benchmark's baseline table).
* **non-additive correction** (``correction="auto"``): ridge-penalized terms for every pair of
  blocks on adjacent layers (``(L-1) * K^2`` terms), fitted on the table's residuals; ``auto``
  keeps them only when cross-validation on the training set says they lower the error. On HELP's
  FBNet latencies they were never kept, and neither boosted trees nor a GCN on the residuals
  helped (one seed at 900: a GCN correction lowered the Galaxy S7 share within +-10 % from 0.73 to
  0.59, Xeon Gold from 0.95 to 0.93, Pixel 2 from 0.65 to 0.60): what is not additive there is
  noise (device state drifting in measurement order, not a property of the architecture).

Uncertainty: ``std`` is the out-of-fold relative error scale (68th percentile of
``|pred - y| / pred`` in k-fold CV) times the prediction, so ``pred + z * std`` is a usable
safety margin for constraints.

Units: costs are kept in the measured file's unit (ms for ``*_latency[_ms]``), per forward pass
at the batch size the file was measured at (``batch`` in the saved model: ``1080ti_32`` means a
batch of 32; ``None`` when the file does not say). Column names drop a trailing ``_ms``
(``pixel3_latency_ms`` -> ``pixel3_latency``, as in HW-NAS-Bench tables and
``nasgcn latency targets``), so budgets read ``--max pixel3_latency=5``.

File format (no pickles): one ``.npz`` (``np.load(..., allow_pickle=False)``) holding
``meta_json`` (space, columns, units, batch, source, settings, CV figures) and float64 arrays
``table`` ``(C, L, K)``, ``bias`` ``(C,)``, ``pairs`` ``(C, L-1, K*K)``, ``noise_rel`` ``(C,)``.
"""

from __future__ import annotations

import json
import math
import os
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import NasgcnError
from .targets import clip_costs

FORMAT = "nasgcn-latency-model"
VERSION = 1
LOSSES = ("huber", "lad", "lsq")
CORRECTIONS = ("auto", "none", "pairs", "gcn")
#: architecture column names accepted in measured files, in order of preference
ARCH_COLUMNS = ("arch_str", "arch_ids", "arch")
#: measurement settings (one value per file, recorded in the model's metadata), not costs
SETTING_COLUMNS = ("batch", "threads", "repeats", "device", "precision")
#: ``auto`` keeps the pair correction only when it lowers the CV error by this share
PAIR_GAIN = 0.02
#: ... and by at least this much mean relative error (exact tables: both are ~1e-12)
PAIR_MIN_GAIN = 1e-4
#: ridge penalties (times n) of the table basis: MAC slopes and plain tables / tied stage costs /
#: per-layer deviations. Chosen on HELP's FBNet latencies (100 / 300 / 900 samples); a plain table
#: with these data is the least-squares table of the benchmark.
PLAIN_RIDGE = 1e-9
TIED_RIDGE = 1e-3
#: candidate penalties of the per-(layer, block) deviations from the tied stage costs, picked per
#: column by k-fold CV: ~0 fits any table exactly, 0.1 trusts the space's structure (few/noisy data)
DEVIATION_RIDGE = (1e-8, 1e-2, 0.1)
_MISSING = {"", "nan", "na", "n/a", "none", "null", "-"}
_UNIT_SUFFIX = {"_ms": "ms", "_us": "us", "_s": "s", "_mj": "mJ", "_j": "J"}


# ----- column names and units ---------------------------------------------------------------
def column_name(raw: str) -> str:
    """Model column for a measured column: a trailing ``_ms`` dropped (``x_latency_ms`` -> ``x_latency``)."""
    return raw[:-3] if raw.endswith("_ms") and len(raw) > 3 else raw


def column_unit(raw: str) -> str:
    """Unit from the name: an explicit suffix (``_ms``, ``_us``), else ms for latency, mJ for energy."""
    low = raw.lower()
    for suffix, unit in _UNIT_SUFFIX.items():
        if low.endswith(suffix):
            return unit
    if low.endswith("_latency"):
        return "ms"
    if low.endswith("_energy"):
        return "mJ"
    return ""


def column_batch(raw: str) -> int | None:
    """Batch size written in the name (HELP style ``1080ti_32_latency_ms`` -> 32); None if absent."""
    m = re.search(r"_(\d+)_(latency|energy)(_[a-z]+)?$", raw.lower())
    return int(m.group(1)) if m else None


# ----- reading measured files ---------------------------------------------------------------
@dataclass
class Measured:
    """Per-architecture measurements read from a file: op ids, strings and cost columns."""

    path: str
    space: str
    arch_column: str
    ids: np.ndarray
    strings: list[str]
    lines: list[int]
    #: model column name -> values (float64)
    columns: dict[str, np.ndarray]
    #: model column name -> the file's column name
    raw_names: dict[str, str]
    meta: dict[str, Any] = field(default_factory=dict)


def _sidecar(path: Path) -> dict[str, Any]:
    side = Path(str(path) + ".meta.json")
    if not side.exists():
        return {}
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise NasgcnError(f"{side}: invalid JSON ({err.msg}, line {err.lineno})") from None
    return data if isinstance(data, dict) else {}


def _space_hint(arch: str, space_name: str) -> str:
    """' (looks like a NAME architecture: pass --space NAME)' when another registered space parses it."""
    from .spaces import get_space, list_spaces

    for name in list_spaces():
        if name == space_name:
            continue
        try:
            get_space(name).parse(arch)
        except Exception:  # noqa: BLE001 - any parse failure means "not this space"
            continue
        return f" (it parses as a {name!r} architecture: pass --space {name})"
    return ""


def _read_rows(p: Path) -> tuple[list[str], list[list[str]], list[int]]:
    """Header, rows (all strings: digit codes keep leading zeros) and line numbers of a CSV/TSV.

    Read through :class:`predictor.readers.CsvRows` (the package's one reader): stops at the first
    bad line; binary files, a BOM and blank lines are handled as for every other table.
    """
    from .readers import CsvRows

    reader = CsvRows(p, kinds="a measured-cost table (CSV or TSV)")
    rows, lines = [], []
    for line, row in reader:
        problem = reader.width_problem(row)
        if problem is not None:
            raise problem.error(p, line)
        rows.append(row)
        lines.append(line)
    return reader.header, rows, lines


def _parse_archs(
    p: Path, space: str, header: list[str], rows: list[list[str]], lines: list[int]
) -> tuple[np.ndarray, list[str], str]:
    from .spaces import get_space

    sp = get_space(space)
    col = next((c for c in ARCH_COLUMNS if c in header), None)
    if col is None:
        raise NasgcnError(
            f"{p}:1: no architecture column (looked for {', '.join(ARCH_COLUMNS)}; columns: {', '.join(header)})"
        )
    if not rows:
        raise NasgcnError(f"{p}: no data rows")
    a = header.index(col)
    ids = np.empty((len(rows), sp.num_slots), dtype=np.int64)
    for i, (row, line) in enumerate(zip(rows, lines, strict=True)):
        text = row[a].strip()
        try:
            ids[i] = sp.parse(text)
        except Exception as err:  # noqa: BLE001 - ArchitectureError and friends, re-raised with file:line
            raise NasgcnError(f"{p}:{line}: {err}{_space_hint(text, sp.name)}") from None
    strings = sp.decode(ids)
    seen: dict[str, int] = {}
    for s, line in zip(strings, lines, strict=True):
        if s in seen:
            raise NasgcnError(f"{p}:{line}: architecture {s} repeats line {seen[s]} (remove the duplicate)")
        seen[s] = line
    return ids, strings, col


def read_architectures(path: str | os.PathLike, space: str) -> tuple[np.ndarray, list[str], list[int], str]:
    """Architectures of a CSV/TSV (column ``arch_str``, ``arch_ids`` or ``arch``), read as strings.

    Digit codes keep their leading zeros. Returns op ids, canonical strings, line numbers and the
    column used; malformed rows and repeats raise naming the file and line.
    """
    p = Path(path)
    header, rows, lines = _read_rows(p)
    ids, strings, col = _parse_archs(p, space, header, rows, lines)
    return ids, strings, lines, col


def read_measured(path: str | os.PathLike, space: str, columns: Sequence[str] | None = None) -> Measured:
    """A measured-cost file: an architecture column and one numeric column per device.

    Every cost must be a finite number >= 0 (a model of what a device cannot run needs another
    tool); bad values raise naming the file, line and column. ``columns`` picks columns by the
    file's or the model's name. A ``FILE.meta.json`` sidecar may give ``space``, ``units``,
    ``batch``, ``device``, ``source``.
    """
    from .spaces import get_space

    p = Path(path)
    side = _sidecar(p)
    sp = get_space(space)
    sp.check_compatible(side.get("space"), str(p))
    header, rows, lines = _read_rows(p)
    ids, strings, arch_col = _parse_archs(p, sp.name, header, rows, lines)
    skip = {arch_col, *ARCH_COLUMNS, "space", "index", "nb201_index", "iso_class", "iso_rep", "dead"}
    if "space" in header:
        j = header.index("space")
        for row, line in zip(rows, lines, strict=True):
            sp.check_compatible(row[j].strip() or None, f"{p}:{line}")
    wanted = list(columns or [])
    out: dict[str, np.ndarray] = {}
    raw_names: dict[str, str] = {}
    for j, name in enumerate(header):
        if name in SETTING_COLUMNS:  # how it was measured (nasgcn latency measure writes these)
            distinct = sorted({r[j].strip() for r in rows})
            value: Any = distinct[0] if len(distinct) == 1 else distinct
            if name == "batch" and isinstance(value, str) and value.isdigit():
                value = int(value)
            side.setdefault(name, value)
            continue
        if name in skip or name.endswith(("_std", "_iqr", "_runnable")):
            continue
        values = [r[j].strip() for r in rows]
        numeric = all(_is_number(v) for v in values)
        model_name = column_name(name)
        if wanted and name not in wanted and model_name not in wanted:
            continue
        if not numeric and not column_unit(name) and not wanted:
            continue  # free text (labels, comments)
        vals = np.empty(len(values))
        for i, (v, line) in enumerate(zip(values, lines, strict=True)):
            vals[i] = _to_cost(v, p, line, name)
        if model_name in out:
            raise NasgcnError(f"{p}:1: columns {raw_names[model_name]!r} and {name!r} both map to {model_name!r}")
        out[model_name] = vals
        raw_names[model_name] = name
    missing = [c for c in wanted if c not in out and column_name(c) not in out]
    if missing:
        raise NasgcnError(f"{p}: no cost column {missing[0]!r}; columns: {', '.join(header)}")
    if not out:
        raise NasgcnError(f"{p}: no numeric cost column besides {arch_col} (add e.g. a <device>_latency_ms column)")
    return Measured(str(p), sp.name, arch_col, ids, strings, lines, out, raw_names, side)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _to_cost(text: str, path: Path, line: int, column: str) -> float:
    if text.lower() in _MISSING:
        raise NasgcnError(
            f"{path}:{line}: column {column!r} is empty/NaN; the latency model needs a measured number "
            "for every row (drop the row, or the column with --column)"
        )
    try:
        v = float(text)
    except ValueError:
        raise NasgcnError(f"{path}:{line}: column {column!r}: {text!r} is not a number") from None
    if math.isnan(v) or math.isinf(v):
        raise NasgcnError(
            f"{path}:{line}: column {column!r} is {text!r}; the latency model needs a finite measured number "
            "(drop the row, or the column with --column)"
        )
    if v < 0:
        raise NasgcnError(f"{path}:{line}: column {column!r}: negative cost {v} (costs must be >= 0)")
    from .readers import value_problem

    problem = value_problem(column, v)  # the declared range (predictor.readers.METRIC_RANGES), e.g. 1e308
    if problem is not None:
        raise problem.error(path, line)
    return v


# ----- fitting ------------------------------------------------------------------------------
def onehot(ids: np.ndarray, n_ops: int) -> np.ndarray:
    """``(n, L*K)`` one-hot of the block of every slot."""
    n, L = ids.shape
    X = np.zeros((n, L * n_ops))
    X[np.arange(n)[:, None], np.arange(L) * n_ops + ids] = 1.0
    return X


def table_basis(space: Any, structured: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Basis ``B`` ``(L*K, F)`` of the per-(layer, block) table, the ridge penalty of each column and
    a mask of the per-(layer, block) deviation columns (their penalty is chosen by cross-validation).

    The table is ``B @ coef``. Plain: the identity (one free cost per layer and block). Structured
    (chain spaces): a cost per block proportional to its exact MACs at that layer (unpenalized),
    one shared cost per (stage, first layer or not, block) (lightly penalized: layers of a stage
    after the first have the same shapes), and a free per-(layer, block) deviation (penalized).
    Same column space, so exact tables are still fitted exactly; the penalties only choose among
    fits when data are few (at 100 FBNet measurements the plain table is underdetermined: 199
    unknowns) or noisy.
    """
    L, K = space.num_slots, len(space.ops)
    eye = np.eye(L * K)
    if not structured or not hasattr(space, "cost_tables") or not hasattr(space, "spec"):
        return eye, np.full(L * K, PLAIN_RIDGE), np.zeros(L * K, dtype=bool)
    layers = space.spec.layers()
    keys = [(d["stage"], d["first"]) for d in layers]
    groups = sorted(set(keys))
    tied = np.zeros((L * K, len(groups) * K))
    macs_col = np.zeros((L * K, K))
    _, m_tab, _, _ = space.cost_tables()
    for layer, key in enumerate(keys):
        g = groups.index(key)
        for k in range(K):
            tied[layer * K + k, g * K + k] = 1.0
            macs_col[layer * K + k, k] = m_tab[layer, k] / 1e6
    basis = np.hstack([macs_col, tied, eye])
    pen = np.concatenate(
        [np.full(K, PLAIN_RIDGE), np.full(tied.shape[1], TIED_RIDGE), np.full(L * K, DEVIATION_RIDGE[0])]
    )
    dev = np.zeros(basis.shape[1], dtype=bool)
    dev[-L * K :] = True
    return basis, pen, dev


def fit_table(
    ids: np.ndarray,
    y: np.ndarray,
    basis: np.ndarray,
    pen: np.ndarray,
    loss: str = "huber",
    iters: int = 50,
) -> tuple[np.ndarray, float, np.ndarray]:
    """Additive per-(layer, block) table ``(L, K)`` and bias by (robust) ridge-regularized least squares.

    ``basis``/``pen`` from :func:`table_basis`. ``huber`` reweights with a threshold of 1.345
    robust sigmas (MAD of the residuals), ``lad`` approximates the median fit (weights 1/|r|,
    floored at 0.1 sigma so that near-interpolating fits stay well conditioned), ``lsq`` is plain
    least squares. Returns (table, bias, sample weights of the last reweighting).
    """
    if loss not in LOSSES:
        raise NasgcnError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")
    n, L = ids.shape
    LK = basis.shape[0]
    K = LK // L
    flat = np.arange(L) * K + ids
    B = np.zeros((LK + 1, basis.shape[1] + 1))
    B[:LK, :-1] = basis
    B[LK, -1] = 1.0
    flat1 = np.hstack([flat, np.full((n, 1), LK)])  # the bias as one more always-on entry
    P = np.diag(np.append(pen, 0.0) * n)
    weights = np.ones(n)
    tiny = 1e-9 * max(float(np.median(np.abs(y))), 1e-12)

    # Normal equations through the design projected on the basis, X @ B (n x F), built once in row
    # chunks from the one-hot rows (bounded memory); each reweighting is then one BLAS product.
    chunk = max(1, 4_000_000 // (LK + 1))
    xb = np.concatenate([B[flat1[a : a + chunk]].sum(axis=1) for a in range(0, n, chunk)])

    def solve(wts: np.ndarray) -> np.ndarray:
        return np.linalg.solve(xb.T @ (xb * wts[:, None]) + P, xb.T @ (wts * y))

    def fitted(c: np.ndarray) -> np.ndarray:
        return (B @ c)[flat1].sum(axis=1)

    coef = solve(weights)
    if loss != "lsq":
        for _ in range(iters):
            r = np.abs(y - fitted(coef))
            sigma = 1.4826 * float(np.median(r)) + tiny
            if sigma <= 10 * tiny:  # (almost) exact fit: nothing to reweight
                break
            if loss == "huber":
                new = np.minimum(1.0, 1.345 * sigma / np.maximum(r, 1e-300))
            else:
                new = 1.0 / np.maximum(r, 0.1 * sigma)
            new = new / new.mean()
            coef_new = solve(new)
            step = float(np.max(np.abs(fitted(coef_new - coef))))
            coef, weights = coef_new, new
            # fitted values move by < 0.01 % of the residual scale (lad converges slowly: tighter)
            if step <= (1e-4 if loss == "huber" else 1e-7) * sigma + tiny:
                break
    table = (basis @ coef[:-1]).reshape(L, K)
    return table, float(coef[-1]), weights


def _pair_index(ids: np.ndarray, n_ops: int) -> np.ndarray:
    """``(n, L-1)`` index of the (block at l, block at l+1) pair within each adjacent-layer table."""
    return ids[:, :-1] * n_ops + ids[:, 1:]


def fit_pairs(ids: np.ndarray, resid: np.ndarray, weights: np.ndarray, n_ops: int, ridge: float) -> np.ndarray:
    """Adjacent-layer pair terms ``(L-1, K*K)`` on the table's residuals (weighted ridge, dual form).

    The dual needs an ``n x n`` solve only (n is hundreds; there are (L-1) K^2 = 1,701 terms for
    FBNet); the kernel of one-hot pair features counts the adjacent pairs two architectures share.
    """
    n, L = ids.shape
    pidx = _pair_index(ids, n_ops)
    gram = np.zeros((n, n))
    for j in range(L - 1):
        gram += pidx[:, j][:, None] == pidx[:, j][None, :]
    s = np.sqrt(weights)
    alpha = np.linalg.solve(s[:, None] * gram * s[None, :] + ridge * np.eye(n), s * resid)
    coef = s * alpha
    pairs = np.zeros((L - 1, n_ops * n_ops))
    for j in range(L - 1):
        np.add.at(pairs[j], pidx[:, j], coef)
    return pairs


def _predict_one(ids: np.ndarray, table: np.ndarray, bias: float, pairs: np.ndarray | None) -> np.ndarray:
    L, K = table.shape
    flat = np.arange(L) * K + ids
    out = table.ravel()[flat].sum(axis=1) + bias
    if pairs is not None and pairs.any():
        pflat = np.arange(L - 1) * (K * K) + _pair_index(ids, K)
        out += pairs.ravel()[pflat].sum(axis=1)
    return out


def _rel_err(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.abs(pred - y) / np.maximum(np.abs(pred), 1e-12)


# ----- the model ----------------------------------------------------------------------------
#: Cross-validation (penalty, loss and correction choice) uses at most this many measured rows.
CV_MAX_ROWS = 1500


class LatencyModel:
    """Additive per-(layer, block) cost tables for one or more device columns of one space.

    ``predict(archs)`` returns ``{column: (mean, std)}``; vectorized (100,000 FBNet architectures
    and 14 columns in about 0.1 s). See the module docstring for the method and file format.
    """

    def __init__(
        self,
        space: str = "fbnet",
        loss: str = "auto",
        correction: str = "auto",
        structured: bool = True,
        folds: int = 5,
        pair_ridge: float = 10.0,
        random_state: int | None = 0,
        gcn_epochs: int = 150,
    ) -> None:
        self.space = space
        self.loss = loss
        self.correction = correction
        self.structured = structured
        self.folds = folds
        self.pair_ridge = pair_ridge
        self.random_state = random_state
        self.gcn_epochs = gcn_epochs
        self.gcn_: dict[str, Any] = {}
        self.columns: list[str] = []
        self.units: dict[str, str] = {}
        self.meta: dict[str, Any] = {}

    # ----- helpers -------------------------------------------------------------------------
    def _space(self) -> Any:
        from .spaces import get_space

        return get_space(self.space)

    def _ids(self, archs: Any) -> np.ndarray:
        sp = self._space()
        if isinstance(archs, np.ndarray) and archs.ndim == 2 and archs.dtype.kind in "iu":
            return sp.validate_ids(archs)
        return sp.encode(list(archs) if not isinstance(archs, str) else [archs])

    def _fit_column(self, ids: np.ndarray, y: np.ndarray, K: int, pairs: bool, dev_ridge: float, loss: str) -> tuple:
        basis, pen, dev = self._basis
        table, bias, weights = fit_table(ids, y, basis, np.where(dev, dev_ridge, pen), loss)
        pair_tab = None
        if pairs:
            resid = y - _predict_one(ids, table, bias, None)
            pair_tab = fit_pairs(ids, resid, weights, K, self.pair_ridge)
        return table, bias, pair_tab

    def _oof(
        self, ids: np.ndarray, y: np.ndarray, fold_of: np.ndarray, K: int, pairs: bool, ridge: float, loss: str
    ) -> np.ndarray:
        """Out-of-fold predictions of one configuration (k-fold cross-validation)."""
        pred = np.empty(len(y))
        for f in np.unique(fold_of):
            tr, te = fold_of != f, fold_of == f
            t, b, p = self._fit_column(ids[tr], y[tr], K, pairs, ridge, loss)
            pred[te] = _predict_one(ids[te], t, b, p)
        return pred

    # ----- fit / predict -------------------------------------------------------------------
    def fit(
        self,
        archs: Any,
        costs: Mapping[str, Any],
        units: Mapping[str, str] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> "LatencyModel":
        """Fit one table per column of ``costs`` (name -> per-architecture values)."""
        if self.loss not in ("auto", *LOSSES):
            raise NasgcnError(f"loss must be auto or one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.correction not in CORRECTIONS:
            raise NasgcnError(f"correction must be one of {', '.join(CORRECTIONS)}, got {self.correction!r}")
        ids = self._ids(archs)
        n, L = ids.shape
        K = len(self._space().ops)
        if not costs:
            raise NasgcnError("no cost column to fit")
        min_n = max(10, L + 2)
        if n < min_n:
            raise NasgcnError(f"need at least {min_n} measured architectures to fit a latency model, got {n}")
        uniq = np.unique(ids, axis=0).shape[0]
        if uniq != n:
            raise NasgcnError(f"the training architectures repeat ({n - uniq} duplicate rows); give each once")
        self._basis = table_basis(self._space(), self.structured)
        rng = np.random.default_rng(self.random_state)
        # Model selection by k-fold CV on at most CV_MAX_ROWS rows (the choice and the error scale settle
        # long before that; the final table is fitted on every row).
        cv = np.sort(rng.permutation(n)[:CV_MAX_ROWS]) if n > CV_MAX_ROWS else np.arange(n)
        fold_of = rng.permutation(cv.size) % max(2, int(self.folds))
        ids_cv = ids[cv]
        tables, biases, pair_tabs, noise, info = [], [], [], [], {}
        for name, values in costs.items():
            y = np.asarray(values, dtype=np.float64).reshape(-1)
            if y.shape[0] != n:
                raise NasgcnError(f"column {name!r}: {y.shape[0]} values for {n} architectures")
            if not np.isfinite(y).all():
                raise NasgcnError(
                    f"column {name!r}: costs must be finite numbers (row {int(np.argmax(~np.isfinite(y)))})"
                )
            # out-of-fold predictions: the deviation penalty, whether the pair terms help, the error scale
            ridges = list(DEVIATION_RIDGE) if self._basis[2].any() else [PLAIN_RIDGE]
            force = self.correction == "pairs"
            losses = ["huber", "lsq"] if self.loss == "auto" else [self.loss]
            configs = [(r, lo) for lo in losses for r in ridges]
            y_cv = y[cv]
            oof = {(r, lo, force): self._oof(ids_cv, y_cv, fold_of, K, force, r, lo) for r, lo in configs}
            mae_r = {(r, lo): float(np.mean(_rel_err(oof[(r, lo, force)], y_cv))) for r, lo in configs}
            ridge, loss = min(configs, key=lambda c: mae_r[c])
            mae_add = mae_r[(ridge, loss)]
            use_pairs = force
            if self.correction == "auto":
                oof[(ridge, loss, True)] = self._oof(ids_cv, y_cv, fold_of, K, True, ridge, loss)
                mae_pair = float(np.mean(_rel_err(oof[(ridge, loss, True)], y_cv)))
                # pairs must beat the table by PAIR_GAIN of its error and by a visible margin (not 1e-12 vs 1e-13)
                use_pairs = mae_pair < (1 - PAIR_GAIN) * mae_add and mae_add - mae_pair > PAIR_MIN_GAIN
            t, b, p = self._fit_column(ids, y, K, use_pairs, ridge, loss)
            rel = _rel_err(oof[(ridge, loss, use_pairs)], y_cv)
            tables.append(t)
            biases.append(b)
            pair_tabs.append(p if p is not None else np.zeros((L - 1, K * K)))
            noise.append(float(np.quantile(rel, 0.6827)))
            info[name] = {
                "pairs": bool(use_pairs),
                "deviation_ridge": ridge,
                "loss": loss,
                "cv_mean_rel_err": float(np.mean(rel)),
                "cv_mean_rel_err_table": mae_add,
                "cv_within_10pct": float(np.mean(rel <= 0.1)),
                "noise_rel": noise[-1],
            }
        self.columns = [str(c) for c in costs]
        self.units = {c: (dict(units or {}).get(c) or column_unit(c)) for c in self.columns}
        self.table_ = np.stack(tables)
        self.bias_ = np.asarray(biases)
        self.pairs_ = np.stack(pair_tabs)
        self.noise_rel_ = np.asarray(noise)
        self.gcn_ = self._fit_gcn_corrections(ids, costs) if self.correction == "gcn" else {}
        self.meta = {
            **dict(meta or {}),
            "n_train": int(n),
            "fit": info,
        }
        return self

    def _fit_gcn_corrections(self, ids: np.ndarray, costs: Mapping[str, Any]) -> dict[str, Any]:
        """One GCN per column on the log-ratio of measured to table cost: the non-additive part.

        Opt-in (``correction="gcn"``): on HELP's FBNet latencies it was worse than the table alone on every
        device (e.g. samsung_s7 0.73 -> 0.59 within 10 %, 900 measurements), so ``auto`` never picks it.
        """
        from .gcn import GCNPredictor

        base = self._additive(ids)
        out = {}
        for c, name in enumerate(self.columns):
            y = np.asarray(costs[name], dtype=np.float64).reshape(-1)
            if (y <= 0).any() or (base[:, c] <= 0).any():
                raise NasgcnError(f"column {name!r}: the GCN correction needs positive costs (it fits log ratios)")
            est = GCNPredictor(
                space=self.space, ensemble=2, epochs=self.gcn_epochs, loss="mse", random_state=self.random_state
            )
            out[name] = est.fit(ids, np.log(y / base[:, c]))
        return out

    def _check_fitted(self) -> None:
        if not hasattr(self, "table_"):
            raise NasgcnError("this LatencyModel is not fitted yet; call fit() or load a model file")

    def predict(self, archs: Any) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``{column: (mean, std)}`` for every architecture (strings or an op-id matrix)."""
        self._check_fitted()
        ids = self._ids(archs)
        acc = self._additive(ids)
        out = {}
        for c, name in enumerate(self.columns):
            mean = acc[:, c].copy()
            if name in self.gcn_:
                mean *= np.exp(self.gcn_[name].predict(ids))
            std = self.noise_rel_[c] * np.abs(mean)
            out[name] = (clip_costs(mean, f"latency model {name}"), std)
        return out

    def _additive(self, ids: np.ndarray) -> np.ndarray:
        """Table (+ pair terms) costs ``(n, columns)``."""
        C, L, K = self.table_.shape
        n = ids.shape[0]
        # layer by layer, all columns at once: (n, C) rows gathered from a (K, C) slice per layer
        by_layer = np.ascontiguousarray(self.table_.transpose(1, 2, 0))  # (L, K, C)
        acc = np.tile(self.bias_, (n, 1))
        for layer in range(L):
            acc += by_layer[layer][ids[:, layer]]
        if self.pairs_.any():
            pairs = np.ascontiguousarray(self.pairs_.transpose(1, 2, 0))  # (L-1, K*K, C)
            pidx = _pair_index(ids, K)
            for layer in range(L - 1):
                acc += pairs[layer][pidx[:, layer]]
        return acc

    # ----- persistence ---------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """JSON-able description (everything but the arrays)."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "space": self.space,
            "columns": list(self.columns),
            "units": dict(self.units),
            "settings": {
                "loss": self.loss,
                "correction": self.correction,
                "structured": self.structured,
                "folds": self.folds,
                "pair_ridge": self.pair_ridge,
                "random_state": self.random_state,
                "gcn_epochs": self.gcn_epochs,
            },
            "gcn_columns": sorted(self.gcn_),
            "meta": self.meta,
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write the model as one ``.npz`` (JSON state + float arrays; no pickles), atomically."""
        self._check_fitted()
        from .io import atomic_path, dumps

        with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as fh:
            np.savez(
                fh,
                meta_json=np.asarray(dumps(self.state())),
                table=self.table_,
                bias=self.bias_,
                pairs=self.pairs_,
                noise_rel=self.noise_rel_,
                **self._gcn_arrays(),
            )

    def _gcn_arrays(self) -> dict[str, np.ndarray]:
        """Each GCN correction's files (state_dict + JSON config) as byte arrays, so the model stays one file."""
        import tempfile

        arrays = {}
        with tempfile.TemporaryDirectory() as tmp:
            for k, name in enumerate(sorted(self.gcn_)):
                path = Path(tmp) / f"gcn{k}.pt"
                self.gcn_[name].save(path)
                arrays[f"gcn{k}_pt"] = np.frombuffer(path.read_bytes(), dtype=np.uint8)
                arrays[f"gcn{k}_json"] = np.frombuffer(Path(str(path) + ".json").read_bytes(), dtype=np.uint8)
        return arrays

    @classmethod
    def load(cls, path: str | os.PathLike) -> "LatencyModel":
        """Read a file written by :meth:`save`; refuses other files with a clear message."""
        p = Path(path)
        if not p.exists():
            raise NasgcnError(f"{p}: no such latency model file")
        try:
            with np.load(p, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError, zipfile.BadZipFile) as err:
            raise NasgcnError(f"{p}: not a nasgcn latency model file ({err})") from None
        if "meta_json" not in arrays:
            raise NasgcnError(f"{p}: not a nasgcn latency model file (no meta_json entry)")
        state = json.loads(str(arrays["meta_json"]))
        if state.get("format") != FORMAT:
            raise NasgcnError(f"{p}: not a nasgcn latency model file (format {state.get('format')!r})")
        if int(state.get("version", 0)) > VERSION:
            raise NasgcnError(f"{p}: latency model version {state['version']} is newer than this nasgcn ({VERSION})")
        known = ("loss", "correction", "structured", "folds", "pair_ridge", "random_state", "gcn_epochs")
        model = cls(space=state["space"], **{k: v for k, v in state.get("settings", {}).items() if k in known})
        model.columns = list(state["columns"])
        model.units = dict(state.get("units", {}))
        model.meta = dict(state.get("meta", {}))
        model.table_ = np.asarray(arrays["table"], dtype=np.float64)
        model.bias_ = np.asarray(arrays["bias"], dtype=np.float64)
        model.pairs_ = np.asarray(arrays["pairs"], dtype=np.float64)
        model.noise_rel_ = np.asarray(arrays["noise_rel"], dtype=np.float64)
        sp = model._space()
        C = len(model.columns)
        if model.table_.shape != (C, sp.num_slots, len(sp.ops)):
            raise NasgcnError(
                f"{p}: table shape {model.table_.shape} does not fit space {sp.name!r} "
                f"({C} columns, {sp.num_slots} slots, {len(sp.ops)} ops)"
            )
        model.gcn_ = _load_gcns(p, arrays, state.get("gcn_columns", []))
        return model

    def __repr__(self) -> str:
        return f"LatencyModel(space={self.space!r}, columns={self.columns}, loss={self.loss!r})"


def _load_gcns(path: Path, arrays: Mapping[str, np.ndarray], columns: Sequence[str]) -> dict[str, Any]:
    """The GCN corrections stored in a model file (weights read with ``weights_only=True``)."""
    if not columns:
        return {}
    import tempfile

    from .gcn import GCNPredictor

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k, name in enumerate(columns):
            if f"gcn{k}_pt" not in arrays or f"gcn{k}_json" not in arrays:
                raise NasgcnError(f"{path}: the GCN correction of column {name!r} is missing from the file")
            pt = Path(tmp) / f"gcn{k}.pt"
            pt.write_bytes(np.asarray(arrays[f"gcn{k}_pt"], dtype=np.uint8).tobytes())
            Path(str(pt) + ".json").write_bytes(np.asarray(arrays[f"gcn{k}_json"], dtype=np.uint8).tobytes())
            out[name] = GCNPredictor.load(pt)
    return out


def is_cost_model_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a saved :class:`LatencyModel` (an npz with a nasgcn ``meta_json``)."""
    p = Path(path)
    if not p.is_file() or not zipfile.is_zipfile(p):
        return False
    try:
        with zipfile.ZipFile(p) as zf:
            return "meta_json.npy" in zf.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def load_cost_model(path: str | os.PathLike, space: str | None = None) -> LatencyModel:
    """Load a saved cost model; with ``space``, refuse one made for another space (clear error)."""
    model = LatencyModel.load(path)
    if space is not None:
        from .spaces import get_space

        get_space(space).check_compatible(model.space, f"latency model {path}")
    return model


def fit_measured(
    measured: Measured,
    loss: str = "auto",
    correction: str = "auto",
    random_state: int | None = 0,
) -> LatencyModel:
    """Fit a :class:`LatencyModel` on a file read by :func:`read_measured`, recording where it came from."""
    meta_in = measured.meta
    batches = {c: column_batch(raw) for c, raw in measured.raw_names.items()}
    if isinstance(meta_in.get("batch"), int):
        batches = {c: (b if b is not None else meta_in["batch"]) for c, b in batches.items()}
    units = {
        c: (dict(meta_in.get("units") or {}).get(raw) or column_unit(raw)) for c, raw in measured.raw_names.items()
    }
    meta = {
        "source": str(meta_in.get("source") or measured.path),
        "measured_file": measured.path,
        "arch_column": measured.arch_column,
        "source_columns": dict(measured.raw_names),
        "batch": batches,
        "cost_per": "one forward pass at the measured batch size",
    }
    for key in ("device", "threads", "repeats", "precision"):
        if key in meta_in:
            meta[key] = meta_in[key]
    model = LatencyModel(space=measured.space, loss=loss, correction=correction, random_state=random_state)
    return model.fit(measured.ids, measured.columns, units=units, meta=meta)
