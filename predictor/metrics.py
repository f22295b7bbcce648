"""Ranking metrics for predictors and supernets: how well a score orders architectures.

Every function takes ``y_true`` (measured accuracy) and ``y_pred`` (any score where
higher means better) as 1-D arrays of equal length and ignores pairs where either is
NaN. All are vectorized numpy/scipy; none loops over architectures in Python.

* :func:`kendall_tau`, :func:`spearman`: rank correlation over all given architectures
  (scipy's tau-b, which handles ties).
* :func:`top_kendall_tau`: Kendall tau among the *true* top ``p`` fraction: does the
  score order the good architectures correctly? (Supernets are known to fail here.)
* :func:`precision_at_k`: fraction of the predicted top ``k`` that are in the true top ``k``
  (= top-k overlap).
* :func:`ndcg`: scikit-learn's NDCG@k with the true accuracy (shifted to >= 0) as relevance.
* :func:`regret`: true best minus the true value of the predicted best (the price of trusting
  the score's top-1 pick), in the units of ``y_true``.
* :func:`tie_ranks`: shared ("1224") ranks of values equal at a shown precision, so that
  equal numbers are reported as ties rather than as a best and a runner-up.
"""

from __future__ import annotations

import numpy as np

from .errors import NasgcnError

__all__ = [
    "kendall_tau",
    "spearman",
    "top_kendall_tau",
    "precision_at_k",
    "ndcg",
    "regret",
    "top1_true",
    "ranking_report",
    "tie_ranks",
    "round_significant",
]


def _pair(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.float64).reshape(-1)
    p = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    if t.shape != p.shape:
        raise NasgcnError(f"y_true and y_pred differ in length: {t.shape[0]} vs {p.shape[0]}")
    ok = np.isfinite(t) & np.isfinite(p)
    if ok.sum() < 2:
        raise NasgcnError(f"need at least 2 architectures with finite y_true and y_pred, got {int(ok.sum())}")
    return t[ok], p[ok]


def kendall_tau(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Kendall's tau-b (scipy) between the true and predicted values."""
    from scipy.stats import kendalltau

    t, p = _pair(y_true, y_pred)
    if t.size and (np.ptp(t) == 0 or np.ptp(p) == 0):  # undefined for a constant input: NaN, without a warning
        return float("nan")
    return float(kendalltau(t, p).statistic)


def spearman(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Spearman's rank correlation (scipy)."""
    from scipy.stats import spearmanr

    t, p = _pair(y_true, y_pred)
    if np.ptp(t) == 0 or np.ptp(p) == 0:  # undefined for a constant input: NaN, without scipy's warning
        return float("nan")
    return float(spearmanr(t, p).statistic)


def _top_mask(values: np.ndarray, frac: float | None = None, k: int | None = None) -> np.ndarray:
    """Boolean mask of the ``k`` (or ``ceil(frac * n)``) largest values; ties broken by position."""
    n = values.shape[0]
    if k is None:
        if frac is None or not 0 < frac <= 1:
            raise NasgcnError(f"top fraction must be in (0, 1], got {frac}")
        k = int(np.ceil(frac * n))
    if k < 1:
        raise NasgcnError(f"k must be >= 1, got {k}")
    k = min(k, n)
    order = np.argsort(-values, kind="stable")
    mask = np.zeros(n, dtype=bool)
    mask[order[:k]] = True
    return mask


def top_kendall_tau(y_true: np.ndarray, y_pred: np.ndarray, frac: float = 0.01) -> float:
    """Kendall tau among the architectures in the *true* top ``frac`` (e.g. 0.01 = top 1 %; at least 2)."""
    t, p = _pair(y_true, y_pred)
    if not 0 < frac <= 1:
        raise NasgcnError(f"top fraction must be in (0, 1], got {frac}")
    mask = _top_mask(t, k=max(2, int(np.ceil(frac * t.shape[0]))))
    return kendall_tau(t[mask], p[mask])


def precision_at_k(y_true: np.ndarray, y_pred: np.ndarray, k: int = 10) -> float:
    """Fraction of the predicted top ``k`` that are among the true top ``k`` (top-k overlap)."""
    t, p = _pair(y_true, y_pred)
    k = min(int(k), t.shape[0])
    return float((_top_mask(t, k=k) & _top_mask(p, k=k)).sum() / k)


def ndcg(y_true: np.ndarray, y_pred: np.ndarray, k: int | None = 10) -> float:
    """NDCG@k (scikit-learn) with relevance = ``y_true - min(y_true)`` (relevance must be >= 0)."""
    from sklearn.metrics import ndcg_score

    t, p = _pair(y_true, y_pred)
    rel = t - t.min()
    return float(ndcg_score(rel[None, :], p[None, :], k=k))


def top1_true(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """True value of the architecture the score ranks first (ties: first position)."""
    t, p = _pair(y_true, y_pred)
    return float(t[int(np.argmax(p))])


def regret(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """``max(y_true) - y_true[argmax(y_pred)]``: the loss from trusting the score's top-1 pick."""
    t, p = _pair(y_true, y_pred)
    return float(t.max() - t[int(np.argmax(p))])


def ranking_report(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float | int]:
    """All metrics in one dict (the fields ``nasgcn evaluate --json`` prints)."""
    t, p = _pair(y_true, y_pred)
    return {
        "n": int(t.shape[0]),
        "kendall_tau": kendall_tau(t, p),
        "spearman": spearman(t, p),
        "top1pct_kendall_tau": top_kendall_tau(t, p, 0.01),
        "top5pct_kendall_tau": top_kendall_tau(t, p, 0.05),
        "precision_at_10": precision_at_k(t, p, 10),
        "precision_at_100": precision_at_k(t, p, 100),
        "ndcg_at_10": ndcg(t, p, 10),
        "top1_true": top1_true(t, p),
        "regret_top1": regret(t, p),
    }


def round_significant(values: np.ndarray, digits: int) -> np.ndarray:
    """``values`` rounded to ``digits`` significant digits, vectorized (what ``f"{v:.{digits}g}"`` shows)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return v.copy()
    # printf-style rounding of the exact binary value, as the text output does (scaling first would
    # round 0.012345 the other way at a half)
    return np.char.mod(f"%.{int(digits)}g", v).astype(np.float64)


def tie_ranks(
    values: np.ndarray,
    decimals: int | None = None,
    significant: int | None = None,
    descending: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """``(rank, tied)`` per value: competition rank (1 = best; equal values share the best rank of the
    group, "1224") and the size of its tie group (1 = no tie).

    Values are compared after rounding to ``decimals`` places or ``significant`` digits (the precision
    they are shown at; default: exact, up to float noise at 9 places). NaN ranks last, tied with NaN.
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if significant is not None:
        key = round_significant(v, significant)
    else:
        key = np.round(v, 9 if decimals is None else decimals)
    key = -key if descending else key
    key = np.where(np.isnan(key), np.inf, key)
    uniq, inv, counts = np.unique(key, return_inverse=True, return_counts=True)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])  # values strictly better than each group
    return (first[inv] + 1).astype(np.int64), counts[inv].astype(np.int64)
