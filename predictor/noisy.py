"""Fitting many cheap noisy labels (supernet accuracies) together with a few accurate ones.

Why: a supernet's accuracy of an architecture carries a large per-architecture error, so a GCN
fit to supernet labels alone inherits the supernet's poor ranking of the best architectures.
A handful of stand-alone results fixes the top of the ranking if they are (a) put on the same
scale and (b) spent where they matter. This module does both:

* :func:`mix_sources` stacks the two label sets with a ``source`` id (0 = accurate, the target
  the predictor reports; 1 = noisy). :class:`~predictor.gcn.GCNPredictor` standardizes each
  source on its own, fits the noisy one through a learned affine map and ranks within each source,
  so the offset and scale between supernet and stand-alone accuracy are learned, not assumed.
  ``accurate_weight`` makes each accurate label count as that many noisy ones.
* :func:`select_for_retraining` picks which architectures to retrain stand-alone: the predicted
  best, one per isomorphism class, skipping cut-off cells and those already measured.
* :func:`fit_noisy_accurate` is the one-call API used by ``nasgcn fit LOG --accurate LOG``; the
  fitted model keeps the accurate labels (``measured_``, saved in its JSON config).
* :func:`overlay_measured`: in the lookup table, an architecture (and its isomorphism class) that
  was measured accurately gets its measured value and ``pred_std = 0`` instead of a prediction;
  a measurement beats a prediction, and the table's top-1 pick can then be a retrained cell.

Recipes (measured in ``benchmarks/predictor_nb201.py``, section ``noisy``): all at once, fit on
the noisy labels, retrain ``K/2`` random architectures (they calibrate scale and parameter-count
bias over the whole range) and the ``K/2`` best of the noisy-only table (``select_for_retraining``;
they fix the top), refit with both, overlay the measurements (``hybrid``). When the retraining can
be done in rounds, :func:`predictor.acquisition.sequential_search` (``nasgcn suggest`` for one
round) spends the same ``K`` better: measure the predicted best, refit, repeat.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import NasgcnError
from .gcn import GCNPredictor, to_ids

__all__ = ["mix_sources", "fit_noisy_accurate", "select_for_retraining", "overlay_measured"]


def mix_sources(
    noisy_archs: Sequence[str] | np.ndarray,
    noisy_y: Sequence[float] | np.ndarray,
    accurate_archs: Sequence[str] | np.ndarray | None = None,
    accurate_y: Sequence[float] | np.ndarray | None = None,
    accurate_weight: float | str = "auto",
    space: str = "nb201",
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stack noisy and accurate labels: ``(ids, y, sample_weight, source)``.

    Without accurate labels the noisy ones become source 0 (the model then predicts noisy units).
    ``accurate_weight="auto"`` is ``max(1, 0.75 * n_noisy / n_accurate)``: the accurate labels together
    weigh about as much as the noisy ones (measured: a fixed weight of 10 lost Kendall tau when the
    noisy labels grew from 300 to 1,000).
    """
    n_ids = to_ids(noisy_archs, space)
    n_y = np.asarray(noisy_y, dtype=np.float64).reshape(-1)
    if n_y.shape[0] != n_ids.shape[0]:
        raise NasgcnError(f"noisy labels: {n_ids.shape[0]} architectures but {n_y.shape[0]} values")
    if accurate_archs is None or len(accurate_archs) == 0:
        return n_ids, n_y, np.ones(n_y.shape[0]), np.zeros(n_y.shape[0], dtype=np.int64)
    if accurate_y is None:
        raise NasgcnError("accurate architectures given without accurate labels")
    a_ids = to_ids(accurate_archs, space)
    a_y = np.asarray(accurate_y, dtype=np.float64).reshape(-1)
    if a_y.shape[0] != a_ids.shape[0]:
        raise NasgcnError(f"accurate labels: {a_ids.shape[0]} architectures but {a_y.shape[0]} values")
    if a_y.shape[0] < 2:
        raise NasgcnError(f"need at least 2 accurate labels to calibrate the noisy ones, got {a_y.shape[0]}")
    if accurate_weight == "auto":
        accurate_weight = max(1.0, 0.75 * n_y.shape[0] / a_y.shape[0])
    if isinstance(accurate_weight, str) or not accurate_weight > 0:
        raise NasgcnError(f"accurate_weight must be > 0 or 'auto', got {accurate_weight!r}")
    ids = np.concatenate([a_ids, n_ids])
    y = np.concatenate([a_y, n_y])
    w = np.concatenate([np.full(a_y.shape[0], float(accurate_weight)), np.ones(n_y.shape[0])])
    src = np.concatenate([np.zeros(a_y.shape[0], dtype=np.int64), np.ones(n_y.shape[0], dtype=np.int64)])
    return ids, y, w, src


def fit_noisy_accurate(
    noisy_archs: Sequence[str] | np.ndarray,
    noisy_y: Sequence[float] | np.ndarray,
    accurate_archs: Sequence[str] | np.ndarray | None = None,
    accurate_y: Sequence[float] | np.ndarray | None = None,
    accurate_weight: float | str = "auto",
    **params: Any,
) -> GCNPredictor:
    """Fit a :class:`GCNPredictor` (``params``) on noisy labels plus optional accurate ones."""
    est = GCNPredictor(**params)
    ids, y, w, src = mix_sources(noisy_archs, noisy_y, accurate_archs, accurate_y, accurate_weight, est.space)
    est.fit(ids, y, sample_weight=w, source=src)
    if accurate_archs is not None and len(accurate_archs):
        from .spaces import get_space

        acc = src == 0
        est.measured_ = {"arch_str": get_space(est.space).decode(ids[acc]), "y": y[acc].tolist()}
    return est


def overlay_measured(
    pred: np.ndarray,
    pred_std: np.ndarray | None,
    archs: Sequence[str] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    space: str = "nb201",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Replace whole-space predictions by measured values (mean per isomorphism class).

    Returns ``(pred, pred_std, measured)``; ``measured`` marks the overwritten rows.
    """
    from .spaces import get_space

    sp = get_space(space)
    sp.require_enumerable("overlaying measured values on a whole-space table")
    pred = np.array(pred, dtype=np.float64).reshape(-1)
    std = np.zeros_like(pred) if pred_std is None else np.array(pred_std, dtype=np.float64).reshape(-1)
    if pred.shape[0] != sp.size or std.shape[0] != sp.size:
        raise NasgcnError(f"expected one prediction per architecture ({sp.size}), got {pred.shape[0]}")
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    cls = sp.iso_class(to_ids(archs, space))
    if cls.shape[0] != y.shape[0]:
        raise NasgcnError(f"{cls.shape[0]} measured architectures but {y.shape[0]} values")
    total = np.bincount(cls, weights=y, minlength=sp.num_unique)
    count = np.bincount(cls, minlength=sp.num_unique)
    all_cls = sp.iso_class(sp.all_ids())
    measured = count[all_cls] > 0
    pred[measured] = total[all_cls[measured]] / count[all_cls[measured]]
    std[measured] = 0.0
    return pred, std, measured


def select_for_retraining(
    pred: np.ndarray,
    k: int,
    exclude: Sequence[str] | np.ndarray | None = None,
    space: str = "nb201",
) -> np.ndarray:
    """Indices (space order) of the ``k`` best-predicted architectures, one per isomorphism class.

    ``pred`` is a prediction for every architecture in :meth:`SearchSpace.all_ids` order; cut-off
    cells and the classes of ``exclude`` (already measured) are skipped.
    """
    from .spaces import get_space

    sp = get_space(space)
    sp.require_enumerable("select_for_retraining (it ranks the whole space)")
    pred = np.asarray(pred, dtype=np.float64).reshape(-1)
    if pred.shape[0] != sp.size:
        raise NasgcnError(f"expected one prediction per architecture ({sp.size}), got {pred.shape[0]}")
    all_ids = sp.all_ids()
    cls = sp.iso_class(all_ids)
    ok = ~sp.is_dead(all_ids) & np.isfinite(pred)
    if exclude is not None and len(exclude):
        ok &= ~np.isin(cls, sp.iso_class(to_ids(exclude, space)))
    order = np.flatnonzero(ok)[np.argsort(-pred[ok], kind="stable")]
    _, first = np.unique(cls[order], return_index=True)
    return order[np.sort(first)][:k]
