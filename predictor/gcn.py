"""``GCNPredictor``: a scikit-learn style GCN accuracy predictor for any search space.

The space (``space=``, default ``"nb201"``) supplies the graph view, exact costs and isomorphism
classes. On NAS-Bench-Macro (chain graph, node type = (layer, block)) the defaults, untuned, rank
all 6,561 architectures with Kendall tau 0.741 / 0.854 / 0.888 / 0.914 / 0.935 from N = 20 / 50 /
100 / 200 / 500 random ``mean_acc`` labels (5 seeds; a random forest on one-hot ops + params +
FLOPs: 0.665 / 0.714 / 0.786 / 0.830 / 0.881; ``benchmarks/predictor_nbmacro.py``). Spaces too
large to enumerate (FBNet) are predicted per architecture (``predict``), never as a whole; their
global features are standardized over a fixed sample of 20,000 and isomorphic duplicates are
grouped by canonical op ids.

Why it looks the way it does:

* **Graph** — the ops-on-nodes view (:mod:`predictor.graphs`), messages both ways on the DAG,
  ``none`` nodes masked (they send nothing), see :mod:`predictor.nn`. Training uses the dense
  batched path; prediction the compact path (each node state computed once per distinct local
  pattern, plan cached for the last queried architectures); :meth:`GCNPredictor.predict_sparse`
  runs the same weights through PyG ``Batch`` objects (used to check the paths agree).
* **Isomorphism** (``iso=True``) — labels are averaged per isomorphism class (weighted by their
  sample weights) and every prediction is made for the class representative, so isomorphic cells
  always get identical predictions and duplicates don't dominate the loss.
* **Graph-level features** (``global_features``) — standardized log parameter count, log FLOPs
  and the cut-off ("dead") flag of the cell, computed exactly by :mod:`predictor.costs`. The
  parameter count alone ranks NB201 with Kendall tau 0.58, so the network starts from there.
  Dead cells (output identically zero; 341 in NB201, all scoring chance level) are handled through
  the flag and the ``none`` masking while training.
* **Honest outputs** — predictions are what the target can be (see :mod:`predictor.targets`):
  the ensemble mean is clipped to ``target_range`` (default inferred from the target's name:
  accuracy [0, 100], losses and costs >= 0; the std stays the ensemble spread, so ``mean +- std``
  may cross a bound: clip the interval, not the spread). Cut-off cells are predicted as what they
  are, not as what the network extrapolates for them (59.6 % with a small std once, truth 10 %):
  ``dead_value="auto"`` takes the median (and std) of the dead cells' source-0 training labels when
  there are at least :data:`DEAD_MIN_LABELS`, else chance level for accuracy and cross-entropy
  targets (``100 / num_classes``, ``log(num_classes)``; std 0), else leaves them to the network (a
  latency is not fixed by the cut-off). On NB201 the truth is exactly 10.0 % for all 341 dead cells
  in every CIFAR-10 test column (9.712 % on the 25k ``cifar10-valid`` half). :meth:`extrapolated`
  marks predictions outside the range of the source-0 training labels or made for cells whose
  graph-level features lie outside the training rows' range.
* **Losses** — ``"mse"`` on standardized targets, ``"rank"`` (pairwise logistic / RankNet over the
  pairs of a mini-batch), ``"mix"`` (MSE + ``rank_weight`` x rank). A ranking loss leaves the output
  scale free, so after a ``"rank"`` fit each member gets a strictly increasing map back to the
  source-0 labels (so its ranking is kept): piecewise linear through the blocks of a weighted
  isotonic regression of the training labels on its outputs, extended beyond them with the slope of
  a least-squares line (a linear map alone let the 10 % cut-off cells push the top above 100 %).
  Predictions are thus in label units for every loss. ``"rank"`` is the better choice for a small,
  clean label set when the top of the ranking matters: the MSE term is dominated by the very poor
  cells (NB201's cut-off cells score 10 %, six standard deviations below the mean; 11 % of cells
  are below 80 %) while the top 1 % spans 0.6 points. On NB201 with 100 true labels
  (``benchmarks/constrained_nb201.py`` case (a), 14 training sets) it lowered the mean
  constrained-search regret from 0.86 to 0.75 points (paired difference -0.12 +- 0.09 standard
  error, better on 8 of 14 sets) and raised the Kendall tau of the true top 5 % from 0.16 to 0.21;
  on the published protocol (N = 78 / 156) the two are equal. ``"mix"`` stays the default: it ties
  several label sources together through their values (:mod:`predictor.noisy`).
* **Sources** — ``fit(..., source=s)`` mixes labels of different quality (e.g. many noisy supernet
  accuracies, source 1, with a few stand-alone results, source 0). Each source is standardized on
  its own. The network output ``f`` is in the units of the *anchor* source (the one with most
  labels); every other source ``s`` sees ``exp(a_s) f + b_s + c_s . g`` (learned per member; ``g``
  the graph-level features, since a supernet's bias against large networks is systematic). In
  source 0's map (the one predictions go through) the features are clipped to the range of source
  0's training labels: slopes fitted on a few accurate labels from the top of the space (where
  fewer parameters can happen to score better) must not be extrapolated to the smallest cells,
  which once made the identity cell a sequential search's predicted best (Kendall tau -0.22).
  Predictions are always in the units of source 0 (through its map when it is not the anchor), so
  a handful of accurate labels re-weigh the parameter count and fix the scale without having to
  cover the whole range. See :mod:`predictor.noisy`.
* **Deep ensemble** of ``ensemble`` members (own initialization and batch order) gives ``pred_std``.
* Seeds: ``random_state`` fixes initialization, batch order and the validation split.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import NasgcnError
from .estimator import BaseEstimator, RegressorMixin, check_is_fitted
from .io import atomic_with_sidecar
from .model_file import load_member_state, read_model_config, read_model_weights
from .nn import CellGCN, compact_plan, normalized_adjacency
from .rows import unique_rows
from .targets import chance_value, clip, infer_range, metric_kind, parse_range, range_to_json

__all__ = ["GCNPredictor", "data_hash", "FEATURES"]

FORMAT_VERSION = 1
FEATURES = ("log_params", "log_flops", "dead")
LOSSES = ("mse", "rank", "mix")
#: ``dead_value="auto"`` uses the dead cells' own training labels from this many on.
DEAD_MIN_LABELS = 2


@contextlib.contextmanager
def _threads(n: int | None) -> Iterator[None]:
    """Temporarily set torch's CPU thread count."""
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _space(name: str):
    from .spaces import get_space

    return get_space(name)


@functools.lru_cache(maxsize=8)
def _space_all_ids(name: str) -> np.ndarray:
    """All op-id rows of a space, cached read-only (``predict_space`` runs on every table build)."""
    ids = _space(name).all_ids()
    ids.setflags(write=False)
    return ids


@functools.lru_cache(maxsize=8)
def _space_unique_ids(name: str) -> np.ndarray:
    ids = _space(name).unique_ids()
    ids.setflags(write=False)
    return ids


def _iso_run_ids(name: str, ids: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """One representative row per distinct isomorphism class of ``ids`` and each row's position among them.

    ``ids=None`` means the whole space in index order (every class, precomputed). Spaces too large to
    enumerate group by their canonical op ids instead of class numbers (same classes, no table).
    """
    if ids is None:
        return _space_unique_ids(name), _all_iso_classes(name)
    sp = _space(name)
    if sp.enumerable:
        uniq, inv = np.unique(sp.iso_class(ids), return_inverse=True)
        return _space_unique_ids(name)[uniq], inv.reshape(-1)
    run, _, inv = unique_rows(sp.canonical_ids(ids))
    return run, inv


#: Spaces too large to enumerate standardize their global features on this many random architectures.
FEATURE_SAMPLE = 20_000


@functools.lru_cache(maxsize=8)
def _feature_reference_ids(name: str) -> np.ndarray:
    """Architectures the global features are standardized over: the whole space, or a fixed sample of it."""
    sp = _space(name)
    ids = sp.all_ids() if sp.enumerable else sp.sample(FEATURE_SAMPLE, rng=np.random.default_rng(0))
    ids.setflags(write=False)
    return ids


@functools.lru_cache(maxsize=8)
def _all_iso_classes(name: str) -> np.ndarray:
    cls = _space(name).iso_class(_space_all_ids(name))
    cls.setflags(write=False)
    return cls


def to_ids(archs: Sequence[str] | np.ndarray, space: str = "nb201") -> np.ndarray:
    """Op-id matrix ``(n, slots)`` from strings or ids; unknown strings raise :class:`NasgcnError`."""
    sp = _space(space)
    if isinstance(archs, np.ndarray) and archs.dtype.kind in "iu":
        return sp.validate_ids(np.atleast_2d(archs))
    archs = list(archs)
    if archs and not isinstance(archs[0], str):
        return sp.validate_ids(np.atleast_2d(np.asarray(archs, dtype=np.int64)))
    return sp.encode(archs)


def _space_spec(name: str) -> dict[str, Any] | None:
    """The spec of a chain space (stored in model files so that custom spaces load anywhere), else None."""
    from .spaces import ChainSpace

    sp = _space(name)
    return sp.spec.to_dict() if isinstance(sp, ChainSpace) else None


def data_hash(ids: np.ndarray, y: np.ndarray, *extra: np.ndarray | None) -> str:
    """sha256 of the training data (op ids, targets and any extra arrays), to tie a model to its data."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(ids, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(y, dtype=np.float64).tobytes())
    for arr in extra:
        if arr is not None:
            h.update(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
    return h.hexdigest()


def _global_features(ids: np.ndarray, names: Sequence[str], space: str = "nb201") -> np.ndarray:
    """Raw graph-level features (n, len(names)), before standardization (exact costs from the space)."""
    if not names:
        return np.zeros((ids.shape[0], 0), dtype=np.float64)
    sp = _space(space)
    costs = sp.costs(ids)
    dead = sp.is_dead(ids).astype(np.float64)
    table = {
        "log_params": np.log(costs["params_m"]),
        "log_flops": np.log(costs["flops_m"]),
        "dead": dead,
    }
    unknown = [n for n in names if n not in table]
    if unknown:
        raise NasgcnError(f"unknown global feature(s) {unknown}; choose from {list(FEATURES)}")
    return np.stack([table[n] for n in names], axis=1)


class GCNPredictor(RegressorMixin, BaseEstimator):
    """GCN accuracy predictor (scikit-learn estimator; ``score`` is Kendall tau).

    Parameters
    ----------
    hidden, num_layers, dropout : network size.
    loss : ``"mse"``, ``"rank"`` or ``"mix"`` (see module docstring); ``rank_weight`` weights the
        ranking term in ``"mix"``. Use ``"rank"`` for a small set of clean labels when the top of the
        ranking matters (constrained search); its outputs are mapped back to label units after fit.
    ensemble : number of ensemble members (``pred_std`` is their spread; 0 for one member).
    epochs, batch_size, lr, weight_decay : Adam training; ``epochs`` is a maximum with early stopping.
        ``batch_size="auto"`` is ``max(64, ceil(n / 8))``: at most 8 steps per epoch, so large label
        sets train in bounded time (measured: no loss of Kendall tau up to N = 469 where it is 64).
    early_stopping, validation_fraction, patience : hold out a random fraction of the (aggregated)
        labels and stop when its loss has not improved for ``patience`` epochs; the best weights
        are restored.
    iso : average labels over isomorphic cells and predict per class representative.
    global_features : graph-level inputs, a subset of :data:`FEATURES`.
    mask_none : ``none`` nodes send no messages.
    calibration_penalty : L2 penalty on the feature slopes of the per-source calibration maps.
    warmup_fraction : with several sources, the first fraction of epochs trains on the anchor source
        only; then each other source's map starts from a ridge fit to the warm network.
    space : name of the search space (``"nb201"``, ``"nbmacro"``, ``"fbnet"`` or a registered chain
        space); node types, adjacency, costs and isomorphism classes all come from it, and it is
        recorded in the saved model (:meth:`load` can refuse another space).
    random_state : int seed, ``None`` or a ``RandomState`` (the seed drawn is recorded in ``seed_``).
    device : ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
    n_threads : torch CPU threads during ``fit``/``predict`` (restored afterwards); ``None`` keeps
        torch's setting. The model is tiny: on a shared 2-core machine the default thread pool made
        a fit 30x slower than one thread.
    verbose : show a tqdm bar over epochs.
    target_range : ``(low, high)`` the target can take (``None`` for an open side; a ``"LO,HI"``
        string works too); predictions are clipped to it and ``fit`` refuses source-0 labels outside
        it. ``None`` infers it from ``target_`` (the target's name, set by ``nasgcn fit``) via
        :func:`predictor.targets.infer_range`: accuracy [0, 100], losses and costs >= 0, else open.
    dead_value : prediction for cut-off cells (``space.is_dead``): ``"auto"`` (their training labels'
        median, else chance level for accuracy/cross-entropy targets, see the module docstring), a
        number (std 0), or ``None`` to leave them to the network.
    """

    def __init__(
        self,
        hidden: int = 32,
        num_layers: int = 3,
        dropout: float = 0.0,
        loss: str = "mix",
        rank_weight: float = 1.0,
        ensemble: int = 3,
        epochs: int = 150,
        batch_size: int | str = "auto",
        lr: float = 3e-3,
        weight_decay: float = 1e-4,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        patience: int = 20,
        iso: bool = True,
        global_features: tuple[str, ...] = FEATURES,
        mask_none: bool = True,
        calibration_penalty: float = 0.1,
        warmup_fraction: float = 0.3,
        space: str = "nb201",
        random_state: int | None = None,
        device: str = "cpu",
        n_threads: int | None = 1,
        verbose: bool = False,
        target_range: Any = None,
        dead_value: float | str | None = "auto",
    ) -> None:
        self.hidden = hidden
        self.num_layers = num_layers
        self.dropout = dropout
        self.loss = loss
        self.rank_weight = rank_weight
        self.ensemble = ensemble
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.iso = iso
        self.global_features = global_features
        self.mask_none = mask_none
        self.calibration_penalty = calibration_penalty
        self.warmup_fraction = warmup_fraction
        self.space = space
        self.random_state = random_state
        self.device = device
        self.n_threads = n_threads
        self.verbose = verbose
        self.target_range = target_range
        self.dead_value = dead_value

    # ----- helpers ---------------------------------------------------------------------
    def _check_params(self) -> None:
        if self.loss not in LOSSES:
            raise NasgcnError(f"unknown loss {self.loss!r}; use one of {', '.join(LOSSES)}")
        sizes = ["hidden", "num_layers", "ensemble", "epochs"] + ([] if self.batch_size == "auto" else ["batch_size"])
        for name in sizes:
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise NasgcnError(f"{name} must be a positive integer, got {value!r}")
        if not 0 < self.validation_fraction < 1:
            raise NasgcnError(f"validation_fraction must be in (0, 1), got {self.validation_fraction}")
        parse_range(self.target_range, "target_range")  # a malformed range fails before any work
        if self.dead_value not in (None, "auto") and not (
            isinstance(self.dead_value, (int, float, np.integer, np.floating)) and np.isfinite(self.dead_value)
        ):
            raise NasgcnError(f"dead_value must be 'auto', None or a finite number, got {self.dead_value!r}")
        _space(self.space)  # unknown spaces fail here with the list of known ones

    def _new_member(self) -> CellGCN:
        sp = _space(self.space)
        zero = tuple(sp.zero_node_types)
        return CellGCN(
            num_node_types=sp.num_node_types,
            hidden=self.hidden,
            num_layers=self.num_layers,
            num_global=len(self.global_features),
            none_type=zero[0] if zero else None,
            mask_none=self.mask_none and bool(zero),
            dropout=self.dropout,
        )

    def _torch_device(self) -> torch.device:
        dev = torch.device(self.device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise NasgcnError(f"device {self.device!r} requested but CUDA is not available; use --device cpu")
        return dev

    def _inputs(self, ids: np.ndarray, dev: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Node types and standardized global features as tensors on ``dev``."""
        types = torch.as_tensor(_space(self.space).node_types(ids), device=dev)
        if not self.global_features:
            return types, None
        g = (_global_features(ids, self.global_features, self.space) - self.feat_mean_) / self.feat_std_
        return types, torch.as_tensor(g, dtype=torch.float32, device=dev)

    def _adjacency(self, dev: torch.device) -> torch.Tensor:
        return normalized_adjacency(torch.as_tensor(_space(self.space).adjacency)).to(dev)

    # ----- fitting ---------------------------------------------------------------------
    def fit(
        self,
        archs: Sequence[str] | np.ndarray,
        y: Iterable[float],
        sample_weight: Iterable[float] | None = None,
        source: Iterable[int] | None = None,
    ) -> "GCNPredictor":
        """Fit on architectures (strings or op ids) and targets; returns ``self``.

        ``source`` (optional, ints >= 0) marks the label source of each sample; source 0 is the
        target the predictions are expressed in and must be present.
        """
        self._check_params()
        self.__dict__.pop("recorded_range_", None)  # a refit infers or declares its own range
        ids = to_ids(archs, self.space)
        y = np.asarray(list(y) if not isinstance(y, np.ndarray) else y, dtype=np.float64).reshape(-1)
        n = ids.shape[0]
        if y.shape[0] != n:
            raise NasgcnError(f"got {n} architectures but {y.shape[0]} targets")
        if n < 2:
            raise NasgcnError(f"need at least 2 labelled architectures, got {n}")
        if not np.all(np.isfinite(y)):
            bad = np.flatnonzero(~np.isfinite(y))[:5].tolist()
            raise NasgcnError(f"targets contain NaN/inf at positions {bad} (drop those rows first)")
        w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64).reshape(-1)
        if w.shape[0] != n:
            raise NasgcnError(f"sample_weight has {w.shape[0]} values, expected {n}")
        if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise NasgcnError("sample_weight must be finite, >= 0 and not all zero")
        src = np.zeros(n, dtype=np.int64) if source is None else np.asarray(source).reshape(-1).astype(np.int64)
        if src.shape[0] != n:
            raise NasgcnError(f"source has {src.shape[0]} values, expected {n}")
        if src.min() < 0 or not np.any(src == 0):
            raise NasgcnError("source ids must be >= 0 and source 0 (the target) must have labels")
        declared = parse_range(self.target_range, "target_range")
        if declared is not None:
            bad = np.flatnonzero((src == 0) & ((y < declared[0]) | (y > declared[1])))
            if bad.size:
                raise NasgcnError(
                    f"{bad.size} target(s) outside the declared range [{declared[0]:g}, {declared[1]:g}], e.g. "
                    f"{y[bad[0]]:g} at position {int(bad[0])} (fix those labels, or declare the range the "
                    "target can take: --target-range LO,HI / target_range=)"
                )
        sel0 = (src == 0) & (w > 0)
        if not sel0.any():
            sel0 = src == 0
        self.label_range_ = np.array([y[sel0].min(), y[sel0].max()], dtype=np.float64)
        dead0 = sel0 & _space(self.space).is_dead(ids)
        self.dead_labels_ = {
            "n": int(dead0.sum()),
            "median": float(np.median(y[dead0])) if dead0.any() else None,
            "std": float(y[dead0].std()) if dead0.any() else None,
        }
        self.data_hash_ = data_hash(ids, y, w, src if source is not None else None)
        self.n_train_ = int(n)
        self.n_sources_ = int(src.max()) + 1

        # Aggregate isomorphic duplicates (per source): weighted mean label, summed weight.
        if self.iso:
            sp = _space(self.space)
            if sp.enumerable:
                cls, class_ids = sp.iso_class(ids), sp.unique_ids()
            else:  # no class table: number the distinct canonical forms of this sample
                class_ids, _, cls = unique_rows(sp.canonical_ids(ids))
            key = cls * self.n_sources_ + src
            uniq, inv = np.unique(key, return_inverse=True)
            wsum = np.bincount(inv, weights=w)
            ysum = np.bincount(inv, weights=w * y)
            keep = wsum > 0
            y_a = np.where(keep, ysum / np.where(keep, wsum, 1), 0)[keep]
            w_a = wsum[keep]
            src_a = (uniq % self.n_sources_)[keep]
            ids_a = class_ids[(uniq // self.n_sources_)[keep]]
        else:
            keep = w > 0
            ids_a, y_a, w_a, src_a = ids[keep], y[keep], w[keep], src[keep]

        # Per-source standardization; source 0 defines the output units.
        self.source_mean_ = np.zeros(self.n_sources_)
        self.source_std_ = np.ones(self.n_sources_)
        with np.errstate(over="ignore", invalid="ignore"):
            for s in range(self.n_sources_):
                ys = y_a[src_a == s]
                if ys.size:
                    self.source_mean_[s] = ys.mean()
                    self.source_std_[s] = ys.std() if ys.size > 1 and ys.std() > 0 else 1.0
        if not (np.isfinite(self.source_mean_).all() and np.isfinite(self.source_std_).all()):
            big = float(np.max(np.abs(y)))
            raise NasgcnError(
                f"targets too large to standardize (|y| up to {big:g}: their mean or spread overflows); "
                "drop or rescale those labels"
            )
        counts = np.bincount(src_a, minlength=self.n_sources_)
        self.anchor_ = int(np.argmax(counts))
        self.y_mean_ = float(self.source_mean_[0])
        self.y_std_ = float(self.source_std_[0])
        z = (y_a - self.source_mean_[src_a]) / self.source_std_[src_a]

        # Feature standardization over the whole space (fixed, independent of the sample).
        if self.global_features:
            allf = _global_features(_feature_reference_ids(self.space), self.global_features, self.space)
            self.feat_mean_ = allf.mean(0)
            std = allf.std(0)
            self.feat_std_ = np.where(std > 0, std, 1.0)
        else:
            self.feat_mean_ = np.zeros(0)
            self.feat_std_ = np.ones(0)

        if isinstance(self.random_state, (int, np.integer)):
            self.seed_ = int(self.random_state)
        else:  # None or a RandomState, as scikit-learn's check_random_state accepts
            from sklearn.utils import check_random_state

            self.seed_ = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
        dev = self._torch_device()
        devices = [dev] if dev.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), _threads(self.n_threads):
            torch.manual_seed(self.seed_)
            self._train(ids_a, z, w_a, src_a, dev)
        return self

    def _train(self, ids: np.ndarray, z: np.ndarray, w: np.ndarray, src: np.ndarray, dev: torch.device) -> None:
        from .progress import progress_bar

        rng = np.random.default_rng(self.seed_)
        n = ids.shape[0]
        val_idx = np.zeros(0, dtype=np.int64)
        if self.early_stopping:
            n_val = int(round(self.validation_fraction * n))
            if n_val < 2 or n - n_val < 2:
                raise NasgcnError(
                    f"early stopping needs >= 2 validation and training labels; {n} unique labels with "
                    f"validation_fraction={self.validation_fraction} is too few (disable early stopping)"
                )
            perm = rng.permutation(n)
            val_idx, tr_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        else:
            tr_idx = np.arange(n)

        types, glob = self._inputs(ids, dev)
        # Source 0's feature range (it always has labels): its calibration map is linear in the features,
        # and slopes fitted on a few labels from a narrow range must not be extrapolated beyond it.
        n_glob = 0 if glob is None else glob.shape[1]
        g0 = np.zeros((0, n_glob)) if glob is None else glob.double().cpu().numpy()[src == 0]
        self.feature_range_ = np.stack([g0.min(0), g0.max(0)]) if n_glob else np.zeros((2, 0))
        # All training rows' range (every source): outside it a prediction is an extrapolation.
        g_all = np.zeros((0, n_glob)) if glob is None else glob.double().cpu().numpy()
        self.train_feature_range_ = np.stack([g_all.min(0), g_all.max(0)]) if n_glob else np.zeros((2, 0))
        zt = torch.as_tensor(z, dtype=torch.float32, device=dev)
        wt = torch.as_tensor(w / w.mean(), dtype=torch.float32, device=dev)
        st = torch.as_tensor(src, device=dev)
        adj = self._adjacency(dev)

        members = torch.nn.ModuleList(self._new_member() for _ in range(self.ensemble)).to(dev)
        # Per member and source: log-scale, shift and feature slopes; unused for the anchor source.
        calib = torch.nn.Parameter(torch.zeros(self.ensemble, self.n_sources_, 2 + n_glob, device=dev))
        params = list(members.parameters()) + ([calib] if self.n_sources_ > 1 else [])
        # foreach: the same arithmetic as the per-tensor loop (identical results), 15 % faster fits on the CPU
        opt = torch.optim.Adam(params, lr=self.lr, weight_decay=0.0, foreach=True)
        decay = [p for m in members for name, p in m.named_parameters() if p.dim() > 1 and "embed" not in name]
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=self.epochs)

        def member_loss(k: int, idx: torch.Tensor) -> torch.Tensor:
            g = None if glob is None else glob[idx]
            f = members[k].forward_dense(types[idx], adj, g)
            return self._loss(f, zt[idx], w_train[idx], st[idx], calib[k], g)

        tr = torch.as_tensor(tr_idx, device=dev)
        va = torch.as_tensor(val_idx, device=dev)
        bs = max(64, -(-len(tr_idx) // 8)) if self.batch_size == "auto" else int(self.batch_size)
        bs = min(bs, len(tr_idx))
        self.loss_curve_: list[float] = []
        self.validation_scores_: list[float] = []
        best = (np.inf, None, 0)
        bad_epochs = 0
        # Warm-up on the anchor source alone, then start every other source's map from a ridge fit
        # (a few labels from a narrow range would otherwise bend the network instead of the map).
        warmup = int(self.warmup_fraction * self.epochs) if self.n_sources_ > 1 else 0
        w_train = wt * (st == self.anchor_) if warmup else wt
        bar = progress_bar(range(self.epochs), enabled=self.verbose, desc="fit", unit="epoch", leave=False)
        for epoch in bar:
            if warmup and epoch == warmup:
                self._init_calibration(members, calib, types, adj, glob, zt, wt, st, tr)
                w_train = wt
            members.train()
            perms = [tr[torch.as_tensor(rng.permutation(len(tr_idx)), device=dev)] for _ in range(self.ensemble)]
            total, steps = 0.0, 0
            for start in range(0, len(tr_idx), bs):
                if len(tr_idx) - start < 2:
                    break
                opt.zero_grad(set_to_none=True)
                loss = sum(member_loss(k, perms[k][start : start + bs]) for k in range(self.ensemble))
                if self.weight_decay:
                    loss = loss + self.weight_decay * sum((p * p).sum() for p in decay)
                if self.calibration_penalty and self.n_sources_ > 1:
                    # Few accurate labels from a narrow range cannot pin the feature slopes down.
                    loss = loss + self.calibration_penalty * (calib[..., 2:] ** 2).sum()
                loss.backward()
                opt.step()
                total += float(loss.detach()) / self.ensemble
                steps += 1
            sched.step()
            self.loss_curve_.append(total / max(steps, 1))
            if self.early_stopping:
                members.eval()
                with torch.no_grad():
                    vloss = float(sum(member_loss(k, va) for k in range(self.ensemble))) / self.ensemble
                self.validation_scores_.append(vloss)
                if vloss < best[0] - 1e-6:
                    best = (vloss, (copy.deepcopy(members.state_dict()), calib.detach().clone()), epoch)
                    bad_epochs = 0
                else:
                    bad_epochs += 1
                    if bad_epochs >= self.patience:
                        break
            bar.set_postfix(loss=f"{self.loss_curve_[-1]:.4f}")
        bar.close()
        self.n_epochs_ = len(self.loss_curve_)
        self.best_epoch_ = self.n_epochs_ - 1
        if self.early_stopping and best[1] is not None:
            members.load_state_dict(best[1][0])
            calib.data.copy_(best[1][1])
            self.best_epoch_ = best[2]
        members.eval()
        self.members_ = members
        self.calibration_ = calib.detach()
        self.output_map_ = None
        if self.loss == "rank":
            self.output_map_ = self._fit_output_map(types, adj, glob, zt, wt, st)

    def _fit_output_map(self, types, adj, glob, z, w, src) -> list[torch.Tensor] | None:
        """Per member, the knots ``(M + 1, 2)`` of its increasing output map (see module docstring; ``"rank"`` fits).

        Rows ``0..M-1`` are ``(output, label)`` knots (weighted means of the isotonic blocks of the source-0
        training labels, validation ones included), row ``M`` is ``(slope, 0)``: the least-squares slope
        used beyond the end knots.
        """
        from sklearn.isotonic import IsotonicRegression

        sel = src == 0
        if int(sel.sum()) < 2:
            return None
        g = None if glob is None else glob[sel]
        zs, ws = z[sel].double().cpu().numpy(), w[sel].double().cpu().numpy()
        maps = []
        with torch.no_grad():
            for k, member in enumerate(self.members_):
                f = self._target(k, member.forward_dense(types[sel], adj, g), g).double().cpu().numpy()
                fc = f - np.average(f, weights=ws)
                slope = max(float((ws * fc * zs).sum() / max((ws * fc * fc).sum(), 1e-12)), 1e-3)
                fitted = IsotonicRegression().fit(f, zs, sample_weight=ws).predict(f)
                levels, block = np.unique(fitted, return_inverse=True)
                wsum = np.bincount(block, weights=ws)
                x = np.bincount(block, weights=ws * f) / np.where(wsum > 0, wsum, 1)
                keep = wsum > 0
                knots = np.stack([x[keep], levels[keep]], 1)
                rows = np.concatenate([knots, [[slope, 0.0]]])
                maps.append(torch.as_tensor(rows, dtype=torch.float64, device=z.device))
        return maps

    @staticmethod
    def _apply_output_map(f: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """Piecewise-linear interpolation through the knots of :meth:`_fit_output_map`, linear beyond them.

        Computed in float64 (close isotonic levels must not collapse), returned in ``f``'s dtype.
        """
        x, y, slope = rows[:-1, 0].contiguous(), rows[:-1, 1], rows[-1, 0]
        f64 = f.to(rows.dtype)
        below = y[0] + slope * (f64 - x[0])
        if x.numel() < 2:
            return below.to(f.dtype)
        i = torch.searchsorted(x, f64.contiguous()).clamp(1, x.numel() - 1)
        x0, x1, y0, y1 = x[i - 1], x[i], y[i - 1], y[i]
        inside = y0 + (f64 - x0) * (y1 - y0) / (x1 - x0)
        above = y[-1] + slope * (f64 - x[-1])
        return torch.where(f64 < x[0], below, torch.where(f64 > x[-1], above, inside)).to(f.dtype)

    def _loss(
        self,
        f: torch.Tensor,
        z: torch.Tensor,
        w: torch.Tensor,
        src: torch.Tensor,
        calib: torch.Tensor,
        glob: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Weighted loss of one member's standardized outputs ``f`` against targets ``z``.

        Labels of a source s other than the anchor are compared with ``exp(c0) f + c1 + c2: . glob``
        (per-source calibration ``calib[s]``); the anchor's with ``f`` itself.
        """
        loss = f.new_zeros(())
        other = src != self.anchor_
        g_out = torch.where(other, self._calibrate(f, calib[src], glob), f) if other.any() else f
        if self.loss in ("mse", "mix"):
            loss = loss + (w * (g_out - z) ** 2).sum() / w.sum()
        if self.loss in ("rank", "mix"):
            diff = g_out[:, None] - g_out[None, :]
            better = (z[:, None] > z[None, :]) & (src[:, None] == src[None, :])
            pw = (w[:, None] * w[None, :]) * better
            if pw.sum() > 0:
                rank = (pw * torch.nn.functional.softplus(-diff)).sum() / pw.sum()
                loss = loss + (self.rank_weight if self.loss == "mix" else 1.0) * rank
        return loss

    def _init_calibration(self, members, calib, types, adj, glob, z, w, src, idx) -> None:
        """Per member and non-anchor source: weighted ridge fit of ``z ~ a f + b + c . g``, ``a >= 0.05``."""
        members.eval()
        with torch.no_grad():
            for k, member in enumerate(members):
                g = None if glob is None else glob[idx]
                f = member.forward_dense(types[idx], adj, g).double()
                for s in range(self.n_sources_):
                    sel = src[idx] == s
                    if s == self.anchor_ or int(sel.sum()) < 2:
                        continue
                    ws, zs = w[idx][sel].double(), z[idx][sel].double()
                    gs = torch.zeros(int(sel.sum()), 0, dtype=torch.float64, device=f.device)
                    if g is not None:
                        gs = g[sel].double()
                    ones = torch.ones_like(zs)
                    a = self._ridge(torch.cat([f[sel, None], ones[:, None], gs], 1), zs, ws)[0].clamp(min=0.05)
                    rest = self._ridge(torch.cat([ones[:, None], gs], 1), zs - a * f[sel], ws, skip=1)
                    calib.data[k, s, 0] = torch.log(a).float()
                    calib.data[k, s, 1:] = rest.float()

    def _ridge(self, x: torch.Tensor, z: torch.Tensor, w: torch.Tensor, skip: int = 2) -> torch.Tensor:
        """Weighted least squares with ``calibration_penalty`` on coefficients after the first ``skip``."""
        wn = w / w.sum()
        lam = torch.zeros(x.shape[1], dtype=x.dtype, device=x.device)
        lam[skip:] = max(self.calibration_penalty, 0.0)
        lam[:skip] = 1e-6
        a = x.t() @ (wn[:, None] * x) + torch.diag(lam)
        return torch.linalg.solve(a, x.t() @ (wn * z))

    @staticmethod
    def _calibrate(f: torch.Tensor, c: torch.Tensor, glob: torch.Tensor | None) -> torch.Tensor:
        """``exp(c0) f + c1 + c[2:] . glob`` row by row (``c`` is (B, 2 + G) or (2 + G,))."""
        c = c.expand(f.shape[0], -1) if c.dim() == 1 else c
        out = torch.exp(c[:, 0]) * f + c[:, 1]
        if glob is not None and c.shape[1] > 2:
            out = out + (c[:, 2:] * glob).sum(1)
        return out

    # ----- prediction ------------------------------------------------------------------
    def _member_outputs(self, ids: np.ndarray, path: str | None = None) -> np.ndarray:
        """Standardized outputs of every member, ``(K, n)``, for the iso-representatives.

        ``path="compact"`` runs :meth:`CellGCN.forward_compact` on a cached :func:`compact_plan`;
        ``"dense"`` runs :meth:`CellGCN.forward_dense` member by member (the reference it must agree
        with). ``None`` (what :meth:`predict` uses) picks per device: compact on the CPU, where it
        saves work (whole space 26 ms with the fused kernels, vs 114 ms dense), dense on CUDA, where the GPU does not
        mind the redundant rows but the compact plan's many small gathers cost launches (H200:
        6.6 ms vs 22.5 ms).
        """
        out, inv = self._grouped_outputs(ids, path)
        return out if inv is None else out[:, inv]

    def _grouped_outputs(self, ids: np.ndarray | None, path: str | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """``(out, inv)``: member outputs ``(K, U)`` for the distinct cells run and each row's column (or None).

        With ``iso`` only one representative per isomorphism class is run (6,466 for all of NB201), and the
        ensemble statistics are taken there before expanding to the rows. ``ids=None``: the whole space.
        """
        check_is_fitted(self, "members_")
        dev = next(self.members_.parameters()).device
        if path is None:
            path = "dense" if dev.type == "cuda" else "compact"
        if ids is None:
            _space(self.space).require_enumerable("predicting the whole space")
        if self.iso:
            run_ids, inv = _iso_run_ids(self.space, ids)
        else:
            run_ids, inv = (_space_all_ids(self.space) if ids is None else ids), None
        with torch.inference_mode(), _threads(self.n_threads):
            if path == "compact":
                glob, plan = self._prediction_inputs(run_ids, dev)
                outs = [m.forward_compact(plan, glob) for m in self.members_]
            elif path == "dense":
                types, glob = self._inputs(run_ids, dev)
                adj = self._adjacency(dev)
                outs = [m.forward_dense(types, adj, glob) for m in self.members_]
            else:
                raise ValueError(f"unknown path {path!r}")
            out = torch.stack([self._target(k, f, glob) for k, f in enumerate(outs)])
            out = out.float().cpu().numpy()
        return out, inv

    def _prediction_inputs(self, ids: np.ndarray, dev: torch.device) -> tuple:
        """Global features and :func:`compact_plan` for ``ids``, cached for the last ids.

        ``predict_space`` always runs the same 6,466 representatives; building these costs as much as the
        network itself. The cache is keyed on the ids, the features and their statistics, the network's
        depth and none-masking, and the device (a refit with other settings builds a new plan).
        """
        first = self.members_[0]
        key = (
            hashlib.sha1(np.ascontiguousarray(ids, dtype=np.int64).tobytes()).hexdigest(),
            np.asarray(self.feat_mean_, dtype=np.float64).tobytes(),
            np.asarray(self.feat_std_, dtype=np.float64).tobytes(),
            tuple(self.global_features),
            len(first.convs),
            first.mask_none,
            first.none_type,
            str(dev),
        )
        cached = getattr(self, "_predict_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        types, glob = self._inputs(ids, dev)
        adj = self._adjacency(dev)
        mask = first._mask(types, torch.float32)
        value = (glob, compact_plan(types, adj, len(first.convs), mask))
        self._predict_cache = (key, value)
        return value

    def _target(self, k: int, f: torch.Tensor, glob: torch.Tensor | None) -> torch.Tensor:
        """Member ``k``'s output in standardized units of source 0.

        Through source 0's calibration map unless it is the anchor, then the output map of a ``"rank"`` fit.
        """
        if getattr(self, "anchor_", 0) != 0:
            f = self._calibrate(f, self.calibration_[k, 0].to(f.device), self._within_range(glob))
        maps = getattr(self, "output_map_", None)
        if maps is not None:
            f = self._apply_output_map(f, maps[k].to(f.device))
        return f

    def _within_range(self, glob: torch.Tensor | None) -> torch.Tensor | None:
        """``glob`` clipped to the feature range of the source-0 training labels (no extrapolation)."""
        bounds = getattr(self, "feature_range_", None)
        if glob is None or bounds is None or glob.shape[1] == 0:
            return glob
        lo = torch.as_tensor(bounds[0], dtype=glob.dtype, device=glob.device)
        hi = torch.as_tensor(bounds[1], dtype=glob.dtype, device=glob.device)
        return torch.minimum(torch.maximum(glob, lo), hi)

    def predict(self, archs: Sequence[str] | np.ndarray, return_std: bool = False):
        """Predicted target (ensemble mean, units of source 0); with ``return_std`` also the ensemble std."""
        return self._predict(to_ids(archs, self.space), return_std)

    def _predict(self, ids: np.ndarray | None, return_std: bool):
        out, inv = self._grouped_outputs(ids)
        out = out.astype(np.float64) * self.y_std_ + self.y_mean_
        mean = out.mean(0)
        std = out.std(0) if return_std else None
        mean, std = self._finish(mean, std, self._run_ids(ids))
        if inv is not None:
            mean = mean[inv]
            std = None if std is None else std[inv]
        return (mean, std) if return_std else mean

    def _run_ids(self, ids: np.ndarray | None) -> np.ndarray:
        """The rows :meth:`_grouped_outputs` runs for ``ids`` (class representatives with ``iso``)."""
        if self.iso:
            return _iso_run_ids(self.space, ids)[0]
        return _space_all_ids(self.space) if ids is None else ids

    def target_bounds(self) -> tuple[float, float]:
        """The range predictions are clipped to: ``target_range``, else inferred from ``target_`` (may be open)."""
        declared = parse_range(self.target_range, "target_range")
        if declared is None:
            declared = getattr(self, "recorded_range_", None)
        return declared if declared is not None else infer_range(getattr(self, "target_", None))

    def dead_prediction(self) -> tuple[float, float, str] | None:
        """``(value, std, why)`` predicted for every cut-off cell, or ``None`` (the network's output is kept)."""
        if self.dead_value is None:
            return None
        if self.dead_value != "auto":
            return float(self.dead_value), 0.0, "declared dead_value"
        seen = getattr(self, "dead_labels_", None) or {}
        if seen.get("n", 0) >= DEAD_MIN_LABELS and seen.get("median") is not None:
            return float(seen["median"]), float(seen["std"] or 0.0), f"median of {seen['n']} dead training labels"
        labels = getattr(self, "label_range_", None)
        percent = labels is None or float(np.max(np.abs(labels))) > 1.0
        classes = _space(self.space).macro_defaults().get("num_classes")
        name = getattr(self, "target_", None)
        if metric_kind(name) == "other" and self.target_bounds() == (0.0, 100.0):
            name = "accuracy"  # a target declared as a percentage without a telling name
        value = chance_value(name, classes, percent=percent)
        return None if value is None else (value, 0.0, f"chance level of {classes} classes")

    def _finish(
        self, mean: np.ndarray, std: np.ndarray | None, run_ids: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Cut-off cells get :meth:`dead_prediction`; the mean is clipped to :meth:`target_bounds` (std kept)."""
        dead = self.dead_prediction()
        if dead is not None:
            mask = _space(self.space).is_dead(run_ids)
            if mask.any():
                mean = mean.copy()
                mean[mask] = dead[0]
                if std is not None:
                    std = std.copy()
                    std[mask] = dead[1]
        return clip(mean, self.target_bounds()), std

    def extrapolated(
        self, archs: Sequence[str] | np.ndarray | None = None, pred: np.ndarray | None = None
    ) -> np.ndarray:
        """True where a prediction rests on extrapolation (``archs=None``: the whole space, index order).

        That is: the prediction lies outside the range of the source-0 training labels, or the cell's
        graph-level features (log params, log FLOPs, cut-off flag) lie outside the range of the
        training rows. Cut-off cells predicted by :meth:`dead_prediction` are not extrapolated. ``pred``:
        the predictions already made for the same rows (saves a second pass).
        """
        check_is_fitted(self, "members_")
        ids = None if archs is None else to_ids(archs, self.space)
        if ids is None:
            _space(self.space).require_enumerable("the whole space")
        if pred is None:
            pred = self._predict(ids, False)
        pred = np.asarray(pred, dtype=np.float64).reshape(-1)
        if self.iso:
            run, inv = _iso_run_ids(self.space, ids)
        else:
            run, inv = self._run_ids(ids), None
        outside = np.zeros(run.shape[0], dtype=bool)
        bounds = getattr(self, "train_feature_range_", None)
        if self.global_features and bounds is not None and np.size(bounds):
            g = (_global_features(run, self.global_features, self.space) - self.feat_mean_) / self.feat_std_
            tol = 1e-6
            outside = ((g < bounds[0] - tol) | (g > bounds[1] + tol)).any(1)
        dead = None
        if self.dead_prediction() is not None:
            dead = _space(self.space).is_dead(run)
            outside &= ~dead
        if inv is not None:
            outside = outside[inv]
            dead = None if dead is None else dead[inv]
        labels = getattr(self, "label_range_", None)
        if labels is not None:
            span = max(float(labels[1] - labels[0]), 1.0) * 1e-9
            beyond = (pred > labels[1] + span) | (pred < labels[0] - span)
            outside |= beyond if dead is None else beyond & ~dead
        return outside | ~np.isfinite(pred)

    def predict_space(self, return_std: bool = False):
        """Predictions for every architecture of the space, in :meth:`SearchSpace.all_ids` order."""
        return self._predict(None, return_std)

    def predict_sparse(self, archs: Sequence[str] | np.ndarray, batch_size: int = 4096) -> np.ndarray:
        """Same predictions as :meth:`predict`, through PyG ``Data``/``Batch`` and ``MessagePassing`` (reference path)."""
        from torch_geometric.data import Batch

        from .graphs import to_pyg

        check_is_fitted(self, "members_")
        ids = to_ids(archs, self.space)
        if self.iso:  # same rule as predict: every cell is evaluated as its class representative
            run, inv = _iso_run_ids(self.space, ids)
            ids = run[inv]
        dev = next(self.members_.parameters()).device
        outs = []
        with torch.inference_mode():
            for start in range(0, ids.shape[0], batch_size):
                chunk = ids[start : start + batch_size]
                batch = Batch.from_data_list([to_pyg(row, space=self.space) for row in chunk]).to(dev)
                _, glob = self._inputs(chunk, dev)
                outs.append(
                    torch.stack(
                        [
                            self._target(k, m(batch.node_type, batch.edge_index, batch.batch, glob), glob)
                            for k, m in enumerate(self.members_)
                        ]
                    )
                )
        out = torch.cat(outs, dim=1).cpu().numpy().astype(np.float64) * self.y_std_ + self.y_mean_
        return self._finish(out.mean(0), None, ids)[0]

    def score(self, archs: Sequence[str] | np.ndarray, y: Iterable[float], sample_weight: Any = None) -> float:
        """Kendall tau between ``y`` and the predictions (higher is better)."""
        from .metrics import kendall_tau

        return kendall_tau(np.asarray(list(y) if not isinstance(y, np.ndarray) else y), self.predict(archs))

    # ----- persistence -----------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """JSON-able description: hyperparameters, fitted statistics and provenance."""
        check_is_fitted(self, "members_")
        from . import __version__

        params = self.get_params()
        params["global_features"] = list(params["global_features"])
        declared = parse_range(params.get("target_range"), "target_range")
        params["target_range"] = None if declared is None else range_to_json(declared)
        if isinstance(params.get("dead_value"), (np.integer, np.floating)):
            params["dead_value"] = float(params["dead_value"])
        return {
            "format": "nasgcn.GCNPredictor",
            "format_version": FORMAT_VERSION,
            "nasgcn_version": __version__,
            "params": params,
            "space": self.space,
            "space_spec": _space_spec(self.space),
            "target": getattr(self, "target_", None),
            "n_train": self.n_train_,
            "data_sha256": self.data_hash_,
            "seed": self.seed_,
            "n_sources": self.n_sources_,
            "anchor_source": self.anchor_,
            "source_mean": self.source_mean_.tolist(),
            "source_std": self.source_std_.tolist(),
            "feat_mean": np.asarray(self.feat_mean_).tolist(),
            "feat_std": np.asarray(self.feat_std_).tolist(),
            "feature_range": None if getattr(self, "feature_range_", None) is None else self.feature_range_.tolist(),
            "n_epochs": self.n_epochs_,
            "best_epoch": self.best_epoch_,
            "meta": getattr(self, "meta_", {}),
            "measured": getattr(self, "measured_", None),
            "target_range": range_to_json(self.target_bounds()),
            "label_range": None if getattr(self, "label_range_", None) is None else self.label_range_.tolist(),
            "train_feature_range": None
            if getattr(self, "train_feature_range_", None) is None
            else np.asarray(self.train_feature_range_).tolist(),
            "dead_labels": getattr(self, "dead_labels_", None),
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write ``path`` (torch ``state_dict`` of all members) and ``path.json`` (config), atomically."""
        cfg = self.config()
        state = {f"members.{k}": v.detach().cpu() for k, v in self.members_.state_dict().items()}
        state["calibration"] = self.calibration_.detach().cpu()
        for k, rows in enumerate(getattr(self, "output_map_", None) or []):
            state[f"output_map.{k}"] = rows.detach().cpu()
        with atomic_with_sidecar(path, cfg, sidecar=str(path) + ".json") as tmp:  # config first, with the weights' hash
            torch.save(state, tmp)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "cpu", space: str | None = None) -> "GCNPredictor":
        """Load a model written by :meth:`save` (``torch.load(weights_only=True)``).

        ``space``: refuse a model made for another search space (clear error naming the file).
        """
        path = Path(path)
        cfg_path = Path(str(path) + ".json")
        if not path.is_file():
            raise NasgcnError(f"{path}: model file not found")
        if not cfg_path.is_file():
            raise NasgcnError(f"{cfg_path}: model config not found (a model is MODEL plus MODEL.json)")
        cfg = read_model_config(cfg_path, FORMAT_VERSION, cls._get_param_names())  # every key checked, one line
        params = dict(cfg["params"])
        params["global_features"] = tuple(params["global_features"])
        params["device"] = device
        params.setdefault("space", cfg.get("space", "nb201"))
        if space is not None:
            _space(space).check_compatible(params["space"], f"model {path}")
        if isinstance(cfg.get("space_spec"), dict):  # a chain space: registered from its spec if need be
            from .spaces.chain import ensure_chain_space

            ensure_chain_space(cfg["space_spec"], source=str(cfg_path))
        _space(params["space"])  # an unregistered space without a spec fails here, clearly
        est = cls(**params)
        dev = est._torch_device()
        state = read_model_weights(path, dev, cfg, cfg_path)  # weights_only=True, finite, the config's file
        members = torch.nn.ModuleList(est._new_member() for _ in range(est.ensemble)).to(dev)
        load_member_state(members, state, path, cfg_path)
        members.eval()
        est.members_ = members
        est.calibration_ = state["calibration"].to(dev)
        maps = [state[f"output_map.{k}"].to(dev) for k in range(est.ensemble) if f"output_map.{k}" in state]
        est.output_map_ = maps or None
        est.n_train_ = int(cfg["n_train"])
        est.data_hash_ = cfg["data_sha256"]
        est.seed_ = int(cfg["seed"])
        est.n_sources_ = int(cfg["n_sources"])
        est.anchor_ = int(cfg.get("anchor_source", 0))
        est.source_mean_ = np.asarray(cfg["source_mean"], dtype=np.float64)
        est.source_std_ = np.asarray(cfg["source_std"], dtype=np.float64)
        est.y_mean_ = float(est.source_mean_[0])
        est.y_std_ = float(est.source_std_[0])
        est.feat_mean_ = np.asarray(cfg["feat_mean"], dtype=np.float64)
        est.feat_std_ = np.asarray(cfg["feat_std"], dtype=np.float64)
        bounds = cfg.get("feature_range")  # absent in models saved before it existed: no clipping
        est.feature_range_ = None if bounds is None else np.asarray(bounds, dtype=np.float64).reshape(2, -1)
        # Absent in models saved before honest outputs: no label range, no dead labels (chance level still applies).
        labels, train_bounds = cfg.get("label_range"), cfg.get("train_feature_range")
        est.label_range_ = None if labels is None else np.asarray(labels, dtype=np.float64).reshape(2)
        est.train_feature_range_ = (
            est.feature_range_ if train_bounds is None else np.asarray(train_bounds, dtype=np.float64).reshape(2, -1)
        )
        est.dead_labels_ = cfg.get("dead_labels") or None
        recorded = cfg.get("target_range")  # the range in force when saved (inferred or declared) stays in force
        est.recorded_range_ = parse_range(recorded, f"{cfg_path}: target_range") if isinstance(recorded, list) else None
        est.n_epochs_ = int(cfg["n_epochs"])
        est.best_epoch_ = int(cfg["best_epoch"])
        est.target_ = cfg.get("target")
        est.meta_ = cfg.get("meta", {})
        if cfg.get("measured"):
            est.measured_ = cfg["measured"]
        return est
