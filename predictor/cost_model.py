"""Predict a hardware cost (latency, energy) over the whole space from a few hundred measurements.

Why a separate, simple model: on-device latency of an NB201 network is close to a
sum of per-edge op costs (the cells run their ops one after the other), so a ridge
regression on per-slot one-hot op features is accurate, fits in milliseconds and
needs no GPU. Two refinements matter on real devices:

* **live ops**: an op whose input is always zero or whose output never reaches the
  cell output is removed by deployment compilers (TFLite, TensorRT), so each slot
  also gets a one-hot of its *effective* op (``none`` when the edge is dead);
* **pairwise terms** (optional): one-hot of op pairs of every two slots, which
  captures fusion and memory effects between neighbouring ops.

Uncertainty: a bootstrap ensemble gives the model spread; the leave-one-out
residual scale (relative to the prediction) adds the measurement noise, so
``pred + z * std`` is a usable safety margin for constraints.

**Cut-off (dead) cells** (output identically zero; 341 in NB201) are handled
explicitly: compilers often prune the whole cell stack, so their measured cost is
near zero on some devices and unrelated to their ops. They are left out of the
regression and predicted by the median (spread: the std) of the dead cells in the
training data; when none were measured, the regression's value is used and
``dead_fallback_`` records that.

**Cannot run** (NaN targets, e.g. HW-NAS-Bench's Edge TPU): when the training data
contains NaN, a boosted-tree classifier on the same features predicts which
architectures the target cannot run; those get NaN.

**Boosted blend** (``boost="auto"``, default): on CPUs (Raspberry Pi 4, Pixel 3) latency is
far from additive and measurement noise is heavy-tailed (in HW-NAS-Bench, 17 % / 23 % of pairs
of identical networks differ by > 20 %). A gradient-boosted tree model fitted on the log cost
with an absolute-error loss (it targets the median, so outlier measurements do not pull it)
on per-slot/live-op one-hots plus computation features (exact FLOPs and parameters of the
macro network, op counts, live in-degrees, conv depth) captures the interactions; the
prediction is the weighted geometric mean of the ridge and the boosted model (weight 0.7 on
the trees). On HW-NAS-Bench at 900 samples this raises the share within ±10 % on every
measured device (see ``benchmarks/latency_nb201.py``).

``method="gcn"`` uses :class:`predictor.gcn.GCNPredictor` (an ensemble GCN) instead
of the ridge regression, with the same dead/NaN handling.

**Any space** (``space=``): features are asked of the space. Cell spaces (with ``edges``) get the
live-edge features above; chain spaces take the canonical member of the isomorphism class as the
"effective" ops, adjacent-layer pairs as pair terms and per-stage MACs as computation features.
NB201 results are unchanged. For chain spaces too large to list, ``nasgcn latency predict`` uses
:mod:`predictor.latency_model` (per-(layer, block) tables that can be saved and searched).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import NasgcnError
from .spaces import get_space
from .targets import clip_costs

METHODS = ("additive", "gcn")
# ridge leave-one-out error (share of the cost) below which ``boost="auto"`` keeps the ridge alone:
# HW-NAS-Bench's analytic Eyeriss/FPGA estimates are <= 1.2 %, real devices >= 4.9 %
ADDITIVE_TOL = 0.03
# weight of the boosted model in the geometric blend (0.7 beat 0.5 and 1.0 on all four measured devices)
BOOST_WEIGHT = 0.7


def _space(space: Any) -> Any:
    return get_space(space) if isinstance(space, str) else space


def _zero_ops(sp: Any) -> list[int]:
    """Op ids whose node type sends nothing (NB201's ``none``), asked of the space's graph view."""
    if not sp.zero_node_types:
        return []
    types = sp.node_types(np.tile(np.arange(len(sp.ops))[:, None], (1, sp.num_slots)))
    return [k for k in range(len(sp.ops)) if int(types[k, 1]) in sp.zero_node_types]


def live_edges(op_ids: np.ndarray, space: Any = "nb201") -> np.ndarray:
    """``(n, num_slots)`` bool: the slot carries a non-zero signal that reaches the output.

    Cell spaces (with ``edges``): an edge is live when its op is not a zero op and it lies on an
    input-to-output path of non-zero edges. Chain spaces: every layer is live.
    """
    sp = _space(space)
    ids = np.asarray(op_ids)
    n = ids.shape[0]
    edges = getattr(sp, "edges", None)
    if edges is None:
        return np.ones((n, sp.num_slots), dtype=bool)
    zero = _zero_ops(sp)
    nonzero = ~np.isin(ids, zero)
    num_nodes = 1 + max(d for _, d in edges)
    fwd = np.zeros((n, num_nodes), dtype=bool)
    fwd[:, 0] = True
    for k, (s, d) in enumerate(edges):
        fwd[:, d] |= nonzero[:, k] & fwd[:, s]
    bwd = np.zeros((n, num_nodes), dtype=bool)
    bwd[:, num_nodes - 1] = True
    for k in range(len(edges) - 1, -1, -1):
        s, d = edges[k]
        bwd[:, s] |= nonzero[:, k] & bwd[:, d]
    return np.stack([nonzero[:, k] & fwd[:, s] & bwd[:, d] for k, (s, d) in enumerate(edges)], axis=1)


def effective_ids(op_ids: np.ndarray, space: Any = "nb201") -> np.ndarray:
    """The op each slot effectively runs: cell spaces replace dead edges by the zero op; chain
    spaces use the canonical member of the isomorphism class (no-op skips moved to a stage's end)."""
    sp = _space(space)
    ids = np.asarray(op_ids, dtype=np.int64)
    if getattr(sp, "edges", None) is None:
        return sp.canonical_ids(ids)
    zero = _zero_ops(sp)
    return np.where(live_edges(ids, sp), ids, zero[0] if zero else ids)


def compute_features(op_ids: np.ndarray, space: Any = "nb201") -> np.ndarray:
    """Features of the computation the network performs: exact MACs and parameters of the macro
    network, per-op counts (all and effective slots), then for cell spaces the live in-degree of
    every non-input node (number of adds), the deepest chain of convolutions and the number of
    live edges; for chain spaces the MACs of every stage and the number of non-skip layers."""
    sp = _space(space)
    ids = np.asarray(op_ids, dtype=np.int64)
    costs = sp.costs(ids)
    eff = effective_ids(ids, sp)
    n_ops = len(sp.ops)
    counts = [(ids == k).sum(1) for k in range(n_ops)] + [(eff == k).sum(1) for k in range(n_ops)]
    edges = getattr(sp, "edges", None)
    if edges is not None:
        live = live_edges(ids, sp)
        num_nodes = 1 + max(d for _, d in edges)
        indeg = [sum(live[:, k] for k, (_, d) in enumerate(edges) if d == node) for node in range(1, num_nodes)]
        # convolutions: ops with weights (the parameter count grows with them)
        conv_ops = _weighted_ops(sp)
        conv = np.isin(eff, conv_ops)
        depth = np.zeros((ids.shape[0], num_nodes))
        for k, (s, d) in enumerate(edges):
            depth[:, d] = np.maximum(depth[:, d], np.where(live[:, k], depth[:, s] + conv[:, k], 0))
        extra = [*indeg, depth[:, num_nodes - 1], live.sum(1)]
    else:
        _, m_tab, _, _ = sp.cost_tables()
        per_layer = m_tab[np.arange(sp.num_slots), ids] / 1e6
        stages = np.asarray(sp.stage_of_slot)
        extra = [per_layer[:, stages == st].sum(1) for st in np.unique(stages)]
        if sp.skip_op is not None:
            extra.append((ids != sp.skip_op).sum(1))
    cols = [costs["flops_m"], costs["params_m"], *counts, *extra]
    return np.column_stack([np.asarray(c, dtype=np.float64) for c in cols])


def _weighted_ops(sp: Any) -> list[int]:
    """Op ids that carry parameters (convolutions), from the space's exact costs."""
    rows = np.tile(np.arange(len(sp.ops))[:, None], (1, sp.num_slots))
    params = np.asarray(sp.costs(rows)["params"])
    return [k for k in range(len(sp.ops)) if params[k] > params.min()]


def _pairs(sp: Any) -> list[tuple[int, int]]:
    """Slot pairs with interaction terms: every pair in a cell (few slots), adjacent layers in a chain."""
    k = sp.num_slots
    if getattr(sp, "edges", None) is not None:
        return [(i, j) for i in range(k) for j in range(i + 1, k)]
    return [(i, i + 1) for i in range(k - 1)]


def cost_features(op_ids: np.ndarray, pairwise: bool = True, space: Any = "nb201") -> np.ndarray:
    """Design matrix: slot one-hot + effective-op one-hot [+ slot-pair one-hot].

    NB201: 30 + 30 [+ 15 * 25 = 375] columns.
    """
    sp = _space(space)
    ids = np.asarray(op_ids, dtype=np.int64)
    n, k = ids.shape
    n_ops = len(sp.ops)
    rows = np.arange(n)[:, None]
    raw = np.zeros((n, n_ops * k))
    raw[rows, np.arange(k) * n_ops + ids] = 1.0
    eff_ids = effective_ids(ids, sp)
    eff = np.zeros((n, n_ops * k))
    eff[rows, np.arange(k) * n_ops + eff_ids] = 1.0
    blocks = [raw, eff]
    if pairwise:
        pairs = _pairs(sp)
        sq = n_ops * n_ops
        pw = np.zeros((n, sq * len(pairs)))
        cols = np.stack([p * sq + ids[:, i] * n_ops + ids[:, j] for p, (i, j) in enumerate(pairs)], axis=1)
        pw[rows, cols] = 1.0
        blocks.append(pw)
    return np.hstack(blocks)


class CostModel:
    """Regressor for one hardware cost column over a search space (scikit-learn style).

    Parameters
    ----------
    method : ``"additive"`` (ridge on op features, default) or ``"gcn"``.
    pairwise : add slot-pair features to the additive model; ``"auto"`` (default) keeps them
        only when they lower the leave-one-out error (they help from a few hundred samples).
    log : fit log-cost (multiplicative model) instead of the cost (ridge part).
    boost : blend the additive model with boosted trees on log cost (geometric mean); ``"auto"``
        (default) does so from ``boost_min`` training samples on when the ridge leave-one-out
        error exceeds ``ADDITIVE_TOL`` (the cost is not additive), where it helps on HW-NAS-Bench.
    boost_min : training-set size from which ``boost="auto"`` blends.
    ensemble : bootstrap members (additive) or GCN ensemble size.
    alphas : ridge penalties tried by efficient leave-one-out CV.
    random_state : seed of the bootstrap.
    device, epochs : passed to the GCN.
    runnable_threshold : when the training costs contain NaN (cannot run), an architecture is predicted
        NaN if the classifier's probability that it runs is below this (0.3). The default leans towards
        "runs" because the two errors are not alike: a false "cannot run" silently hides a cell from every
        query, a false "runs" is caught when the pick is deployed. HW-NAS-Bench Edge TPU, 900 samples,
        3 seeds (28.5 % of the live cells cannot run there): threshold 0 / 0.1 / 0.2 / 0.3 / 0.5 flags
        0 / 71 / 82 / 87 / 91 % of the cells that cannot run and hides 0 / 0.4 / 0.9 / 1.6 / 3.4 % of
        those that can. 0 never predicts NaN (the regression alone); :meth:`runnable_proba` gives the
        probability itself (``nasgcn latency predict`` writes it as ``<col>_runnable``).
    """

    def __init__(
        self,
        method: str = "additive",
        pairwise: bool | str = "auto",
        log: bool = False,
        boost: bool | str = "auto",
        boost_min: int = 250,
        ensemble: int = 8,
        alphas: Sequence[float] = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0),
        random_state: int | None = 0,
        device: str = "cpu",
        epochs: int = 200,
        space: str = "nb201",
        runnable_threshold: float = 0.3,
    ) -> None:
        self.method = method
        self.pairwise = pairwise
        self.log = log
        self.boost = boost
        self.boost_min = boost_min
        self.ensemble = ensemble
        self.alphas = alphas
        self.random_state = random_state
        self.device = device
        self.epochs = epochs
        self.space = space
        self.runnable_threshold = runnable_threshold

    # ----- helpers -----------------------------------------------------------------
    def _ids(self, archs: Any) -> np.ndarray:
        space = get_space(self.space)
        if isinstance(archs, np.ndarray) and archs.ndim == 2:
            return space.validate_ids(archs)
        return space.encode(list(archs))

    def _fwd(self, y: np.ndarray) -> np.ndarray:
        return np.log(np.maximum(y, 1e-9)) if self.log else y

    def _inv(self, t: np.ndarray) -> np.ndarray:
        return np.exp(t) if self.log else t

    # ----- fit / predict -------------------------------------------------------------
    def fit(self, archs: Any, y: Any) -> "CostModel":
        """Fit on measured costs ``y`` (NaN = the target cannot run the architecture)."""
        if self.method not in METHODS:
            raise NasgcnError(f"cost model method must be one of {', '.join(METHODS)}, got {self.method!r}")
        ids = self._ids(archs)
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        if y.shape[0] != ids.shape[0]:
            raise NasgcnError(f"got {ids.shape[0]} architectures but {y.shape[0]} costs")
        space = get_space(self.space)
        dead = space.is_dead(ids)
        runs = ~np.isnan(y)
        train = runs & ~dead
        if train.sum() < 10:
            raise NasgcnError(
                f"need at least 10 measured, non-cut-off architectures to fit a cost model, got {train.sum()}"
            )
        rng = np.random.default_rng(self.random_state)
        self.n_train_ = int(train.sum())
        # cut-off cells: their own constant
        dead_y = y[dead & runs]
        self.dead_value_ = float(np.median(dead_y)) if dead_y.size else None
        self.dead_std_ = float(np.std(dead_y)) if dead_y.size > 1 else 0.0
        self.dead_fallback_ = dead_y.size == 0
        # cannot-run classifier
        self.runnable_ = None
        if (~runs).any():
            from sklearn.ensemble import HistGradientBoostingClassifier

            # boosted trees: which graphs a compiler rejects is a non-additive rule (HW-NAS-Bench
            # Edge TPU: 95 % accuracy from 900 samples vs 89 % for a logistic model)
            self.runnable_ = HistGradientBoostingClassifier(early_stopping=False, random_state=0).fit(
                cost_features(ids, False, self.space), runs
            )
        X_ids, t = ids[train], self._fwd(y[train])
        if self.method == "additive":
            self._fit_additive(X_ids, t, rng)
            if self.boost == "auto":
                # an (almost) additive cost (e.g. analytic estimators) is already fitted exactly by ridge
                use = self.n_train_ >= self.boost_min and self.noise_rel_ > ADDITIVE_TOL
            else:
                use = bool(self.boost)
            self.booster_ = self._fit_booster(X_ids, y[train]) if use else None
        else:
            self._fit_gcn(X_ids, t)
        return self

    def _fit_additive(self, ids: np.ndarray, t: np.ndarray, rng: np.random.Generator) -> None:
        from sklearn.linear_model import Ridge, RidgeCV

        options = [True, False] if self.pairwise == "auto" else [bool(self.pairwise)]
        best = None
        for pw in options:
            X_try = cost_features(ids, pw, self.space)
            cv_try = RidgeCV(alphas=list(self.alphas), store_cv_results=True).fit(X_try, t)
            score = float(cv_try.best_score_)  # negative mean squared LOO error
            if best is None or score > best[0]:
                best = (score, pw, X_try, cv_try)
        _, self.pairwise_, X, cv = best
        self.alpha_ = float(cv.alpha_)
        sq = cv.cv_results_
        if sq.ndim == 2:  # (n, n_alphas): squared leave-one-out errors
            sq = sq[:, list(self.alphas).index(cv.alpha_)]
        loo = np.sqrt(np.maximum(sq, 0.0))
        # measurement + model noise as a share of the cost (log target: already relative)
        rel = loo if self.log else loo / np.maximum(np.abs(t), 1e-9)
        self.noise_rel_ = float(np.sqrt(np.mean(rel**2)))
        members = []
        n = len(t)
        for _ in range(max(1, int(self.ensemble))):
            take = rng.integers(0, n, size=n) if self.ensemble > 1 else np.arange(n)
            members.append(Ridge(alpha=self.alpha_).fit(X[take], t[take]))
        self.members_ = members
        self.full_ = cv

    def _fit_booster(self, ids: np.ndarray, y: np.ndarray) -> Any:
        from sklearn.ensemble import HistGradientBoostingRegressor

        # absolute error on log cost: the median, robust to heavy-tailed measurement noise
        return HistGradientBoostingRegressor(
            loss="absolute_error",
            max_iter=500,
            learning_rate=0.05,
            max_leaf_nodes=15,
            min_samples_leaf=10,
            early_stopping=False,
            random_state=self.random_state,
        ).fit(self._boost_features(ids), np.log(np.maximum(y, 1e-9)))

    def _boost_features(self, ids: np.ndarray) -> np.ndarray:
        return np.hstack([cost_features(ids, False, self.space), compute_features(ids, self.space)])

    def _fit_gcn(self, ids: np.ndarray, t: np.ndarray) -> None:
        try:
            from .gcn import GCNPredictor
        except ImportError as err:
            raise NasgcnError(f"method='gcn' needs predictor.gcn.GCNPredictor ({err}); use method='additive'") from None
        # iso=False: isomorphic cells can differ in cost (unpruned dead ops still run)
        self.gcn_ = GCNPredictor(
            ensemble=max(1, int(self.ensemble)),
            epochs=self.epochs,
            loss="mse",
            iso=False,
            random_state=self.random_state,
            device=self.device,
            space=self.space,
        ).fit(ids, t)
        self.noise_rel_ = 0.0

    def predict(self, archs: Any, return_std: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Predicted cost (and its std) per architecture; NaN where predicted not to run."""
        if not hasattr(self, "n_train_"):
            raise NasgcnError("this CostModel is not fitted yet; call fit() first")
        ids = self._ids(archs)
        if self.method == "additive":
            X = cost_features(ids, self.pairwise_, self.space)
            center = self._inv(self.full_.predict(X))
            boots = np.stack([self._inv(m.predict(X)) for m in self.members_])
            spread = boots.std(axis=0) if len(self.members_) > 1 else np.zeros(len(ids))
            if getattr(self, "booster_", None) is not None:
                boosted = np.exp(self.booster_.predict(self._boost_features(ids)))
                # the two models disagreeing is model uncertainty too
                spread = np.sqrt(spread**2 + ((center - boosted) / 2) ** 2)
                center = np.maximum(center, 1e-9) ** (1 - BOOST_WEIGHT) * boosted**BOOST_WEIGHT
        else:
            mean_t, std_t = self.gcn_.predict(ids, return_std=True)
            center = self._inv(np.asarray(mean_t))
            spread = np.abs(self._inv(np.asarray(mean_t) + np.asarray(std_t)) - center)
        std = np.sqrt(spread**2 + (self.noise_rel_ * np.abs(center)) ** 2)
        center = clip_costs(center, "cost model")
        dead = get_space(self.space).is_dead(ids)
        if self.dead_value_ is not None:
            center = np.where(dead, self.dead_value_, center)
            std = np.where(dead, self.dead_std_, std)
        if self.runnable_ is not None:
            ok = self.runnable_proba(ids) >= self.runnable_threshold
            center = np.where(ok, center, np.nan)
            std = np.where(ok, std, np.nan)
        return (center, std) if return_std else center

    def runnable_proba(self, archs: Any) -> np.ndarray:
        """Probability that the target can run each architecture (1 when no training cost was NaN)."""
        ids = self._ids(archs)
        if getattr(self, "runnable_", None) is None:
            return np.ones(ids.shape[0])
        proba = self.runnable_.predict_proba(cost_features(ids, False, self.space))
        return proba[:, list(self.runnable_.classes_).index(True)] if proba.shape[1] > 1 else np.ones(ids.shape[0])
