"""DC-NAS: cluster sub-networks by what they do to the supernet's features, then rank within clusters.

Divide-and-Conquer NAS observes that one global criterion misranks unlike architectures, while
within a group of similar ones the supernet's ranking is more reliable. Here:

* **Features** (:func:`probe_features`): every architecture runs the trained supernet on one fixed
  probe batch (the first ``probe`` images of the run's validation split, the split ``supernet eval``
  uses, never the test set). The output of each searchable layer (NB201: every cell and reduction
  block; chain spaces: every layer) is global-average-pooled to ``(probe, channels)``; each layer's
  block is centred over the probe images and L2-normalized, so every layer weighs the same and
  only the architecture's effect on the representation remains; the chosen layers are concatenated.
  ``layers``: ``"all"``, ``"last"``, ``"logits"`` (the classifier's output) or indices like ``"0,2,-1"``.
* **Clusters** (:func:`cluster_features`): scikit-learn k-means (``n_init=10``, seeded) on the
  features; similarity is Euclidean on unit-norm blocks, i.e. cosine similarity per layer. Each
  architecture gets its cluster and its distance to the cluster's centroid.
* **Selection** (:func:`select_by_cluster`): rank within each cluster by a score (e.g. supernet
  accuracy), then merge the cluster winners: the best of every cluster first (ordered by score),
  then every cluster's second best, and so on; the top ``top`` of that merged list are the picks.

Measured choice (``benchmarks/cluster_nb201.py``: a tiny CPU NB201 supernet's features, the 17 real
``oneshot_baseline`` runs' scores on 1,000 architectures): K = 8 and merge ``score`` raise the best
true accuracy among 10 picks from 93.77 (plain top 10) to 93.94-94.00 (random partitions: 93.81);
feature layers ``all`` (space-generic; the first NB201 cell alone is 0.06 better), never ``last`` or
``logits``. The top-1 pick is the global best under merge ``score``. See :data:`RECOMMENDED`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from predictor.errors import NasgcnError
from predictor.spaces import get_space

#: The layer choice and K the tiny-supernet measurement favours (benchmarks/cluster_nb201.py).
RECOMMENDED = {"layers": "all", "k": 8, "merge": "score"}


def _layer_modules(model: torch.nn.Module) -> list[torch.nn.Module]:
    layers = getattr(model, "layers", None)
    if layers is None or len(layers) == 0:
        raise NasgcnError(f"{type(model).__name__} has no 'layers' to take probe features from")
    return list(layers)


def _pick_layers(n: int, layers: str | Sequence[int]) -> list[int] | str:
    if isinstance(layers, str):
        key = layers.strip().lower()
        if key == "all":
            return list(range(n))
        if key == "last":
            return [n - 1]
        if key == "logits":
            return "logits"
        try:
            layers = [int(v) for v in key.split(",") if v.strip()]
        except ValueError:
            raise NasgcnError(
                f"feature layers must be 'all', 'last', 'logits' or indices like '0,2,-1', got {layers!r}"
            ) from None
    out = []
    for i in layers:
        if not -n <= int(i) < n:
            raise NasgcnError(f"feature layer {i} out of range: the supernet has {n} layers (0..{n - 1})")
        out.append(int(i) % n)
    if not out:
        raise NasgcnError("no feature layer chosen")
    return sorted(set(out))


def _normalize_block(b: torch.Tensor) -> torch.Tensor:
    b = b - b.mean(dim=0, keepdim=True)  # centre over the probe images
    return (b / b.norm().clamp_min(1e-12)).flatten()


@torch.no_grad()
def probe_blocks(
    model: torch.nn.Module,
    ids: np.ndarray,
    x: torch.Tensor,
    recalibrate: list[torch.Tensor] | None = None,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """Every normalized feature block in one pass: ``{"0": (n, d0), "1": ..., "logits": (n, dL)}``.

    Each block is one layer's pooled output, centred over the probe images and L2-normalized
    (module docstring); :func:`combine_blocks` concatenates a choice of them.
    """
    from .models.supernet import recalibrate_bn

    ids = np.atleast_2d(np.asarray(ids, dtype=np.int64))
    mods = _layer_modules(model)
    grabbed: dict[int, torch.Tensor] = {}
    hooks = [
        m.register_forward_hook(lambda _m, _inp, out, i=i: grabbed.__setitem__(i, out)) for i, m in enumerate(mods)
    ]
    model.eval()
    rows: dict[str, list[np.ndarray]] = {str(i): [] for i in range(len(mods))}
    rows["logits"] = []
    bar = None
    if progress:
        from predictor.progress import progress_bar

        bar = progress_bar(total=len(ids), desc="probe features", unit="arch")
    try:
        for row in ids:
            arch = tuple(int(v) for v in row)
            if recalibrate is not None:
                recalibrate_bn(model, arch, recalibrate)
                model.eval()
            grabbed.clear()
            logits = model(x, arch)
            rows["logits"].append(_normalize_block(logits.float()).cpu().numpy())
            for i in range(len(mods)):
                rows[str(i)].append(_normalize_block(grabbed[i].float().mean(dim=(2, 3))).cpu().numpy())
            if bar is not None:
                bar.update(1)
    finally:
        for h in hooks:
            h.remove()
        if bar is not None:
            bar.close()
    return {k: np.stack(v).astype(np.float64) for k, v in rows.items()}


def combine_blocks(blocks: dict[str, np.ndarray], layers: str | Sequence[int] = "all") -> np.ndarray:
    """Concatenate the chosen blocks of :func:`probe_blocks`, each scaled by ``1/sqrt(#blocks)`` (unit norm)."""
    n_layers = sum(1 for k in blocks if k != "logits")
    chosen = _pick_layers(n_layers, layers)
    keys = ["logits"] if chosen == "logits" else [str(i) for i in chosen]
    return np.concatenate([blocks[k] for k in keys], axis=1) / np.sqrt(len(keys))


def probe_features(
    model: torch.nn.Module,
    ids: np.ndarray,
    x: torch.Tensor,
    layers: str | Sequence[int] = "all",
    recalibrate: list[torch.Tensor] | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Feature vector ``(n, D)`` of each architecture on the normalized probe batch ``x`` (module docstring).

    ``recalibrate``: training batches to re-estimate running BN statistics per architecture (for
    supernets that track them; batch-statistics supernets need none).
    """
    _pick_layers(len(_layer_modules(model)), layers)  # a bad choice fails before any forward pass
    return combine_blocks(probe_blocks(model, ids, x, recalibrate, progress), layers)


def cluster_features(features: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, float]:
    """k-means labels, distance of each row to its centroid, and the inertia (scikit-learn ``KMeans``)."""
    from sklearn.cluster import KMeans

    X = np.asarray(features, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] == 0:
        raise NasgcnError(f"features must be a non-empty matrix, got shape {X.shape}")
    if not 1 <= k <= X.shape[0]:
        raise NasgcnError(f"--k must be between 1 and the number of architectures ({X.shape[0]}), got {k}")
    km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(X)
    labels = km.labels_.astype(np.int64)
    dist = np.linalg.norm(X - km.cluster_centers_[labels], axis=1)
    return labels, dist, float(km.inertia_)


MERGES = ("score", "cluster_mean", "zscore")


def select_by_cluster(scores: np.ndarray, clusters: np.ndarray, top: int = 10, merge: str = "score") -> np.ndarray:
    """Indices of the DC-NAS picks: rank within each cluster, merge the winners (module docstring).

    Round ``r`` holds every cluster's ``r``-th best; rounds are concatenated and the first ``top``
    returned. Within a round the clusters are ordered by ``merge``: ``"score"`` (the member's own
    score: the top-1 is then the global best), ``"cluster_mean"`` (the cluster's mean score, a
    region-level estimate less sensitive to one lucky score) or ``"zscore"`` (the member's score
    standardized within its cluster: how far it stands out among similar networks). NaN scores and
    negative cluster labels are never picked.
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    c = np.asarray(clusters).reshape(-1)
    if s.shape != c.shape:
        raise NasgcnError(f"scores ({s.size}) and clusters ({c.size}) differ in length")
    if top < 1:
        raise NasgcnError(f"top must be >= 1, got {top}")
    if merge not in MERGES:
        raise NasgcnError(f"merge must be one of {', '.join(MERGES)}, got {merge!r}")
    ok = np.flatnonzero(np.isfinite(s) & (c >= 0))
    if ok.size == 0:
        return ok
    order = ok[np.lexsort((ok, -s[ok], c[ok]))]  # by cluster, best first, ties by position
    cl = c[order]
    start = np.r_[0, np.flatnonzero(cl[1:] != cl[:-1]) + 1]
    sizes = np.diff(np.r_[start, order.size])
    within = np.arange(order.size) - np.repeat(start, sizes)
    if merge == "score":
        key = s[order]
    else:
        sums = np.add.reduceat(s[order], start)
        mean = np.repeat(sums / sizes, sizes)
        if merge == "cluster_mean":
            key = mean
        else:
            sq = np.add.reduceat((s[order] - mean) ** 2, start)
            sd = np.repeat(np.sqrt(sq / sizes), sizes)
            key = np.where(sd > 0, (s[order] - mean) / np.where(sd > 0, sd, 1.0), 0.0)
    merged = order[np.lexsort((order, -s[order], -key, within))]
    return merged[:top]


@dataclass
class ClusterResult:
    """DC-NAS clusters of ``ids`` (op ids) from a supernet run, and how they were computed."""

    space: str
    ids: np.ndarray
    labels: np.ndarray
    distance: np.ndarray
    inertia: float
    protocol: dict[str, Any] = field(default_factory=dict)
    features: np.ndarray | None = field(default=None, repr=False)

    @property
    def arch_str(self) -> list[str]:
        return get_space(self.space).decode(self.ids)

    def columns(self) -> dict[str, np.ndarray]:
        return {
            "arch_str": np.asarray(self.arch_str, dtype=object),
            "cluster": self.labels,
            "distance": self.distance,
        }


def load_probe(
    run_dir: str | Path, probe: int = 64, device: str = "cpu", data_root: str | None = None
) -> dict[str, Any]:
    """The run's supernet, its probe batch (first ``probe`` validation images, normalized) and BN batches."""
    from .data import epoch_batches
    from .evaluate import _load_for_eval

    if probe < 2:
        raise NasgcnError(f"--probe must be >= 2 images (features are centred over them), got {probe}")
    run = _load_for_eval(run_dir, device, data_root, probe)
    norm = run["normalize"]
    x = norm(run["val"].x.to(device))
    recal = None
    if run["recalibrate"] is not None:
        recal = [norm(b.to(device)) for i, (b, _) in enumerate(epoch_batches(run["recalibrate"], 64, 0, 0)) if i < 2]
    return {**run, "x": x, "recal": recal}


def cluster_architectures(
    run_dir: str | Path,
    ids: np.ndarray,
    k: int,
    layers: str | Sequence[int] = RECOMMENDED["layers"],
    probe: int = 64,
    seed: int = 0,
    device: str = "cpu",
    data_root: str | None = None,
    keep_features: bool = False,
    progress: bool = False,
) -> ClusterResult:
    """DC-NAS clusters of ``ids`` through the trained supernet of ``run_dir`` (see the module docstring)."""
    from .train import checkpoint_space

    run = load_probe(run_dir, probe, device, data_root)
    space = checkpoint_space(run["ckpt"])
    ids = get_space(space).validate_ids(np.atleast_2d(ids))
    feats = probe_features(run["model"], ids, run["x"], layers, run["recal"], progress)
    labels, dist, inertia = cluster_features(feats, k, seed)
    protocol = {
        "space": space,
        "checkpoint": run["ckpt"]["checkpoint_id"],
        "probe_images": int(run["x"].shape[0]),
        "probe_split": "first images of the run's validation split",
        "layers": layers if isinstance(layers, str) else ",".join(str(i) for i in layers),
        "feature_dim": int(feats.shape[1]),
        "k": int(k),
        "seed": int(seed),
        "inertia": inertia,
        "archs": int(ids.shape[0]),
    }
    return ClusterResult(space, ids, labels, dist, inertia, protocol, feats if keep_features else None)


def write_clusters(path: str | Path, result: ClusterResult) -> None:
    """``arch_str,cluster,distance`` CSV (atomically) with the protocol in the ``.meta.json`` beside it."""
    from predictor.table import write_csv

    write_csv(path, result.columns(), {"source": "nasgcn supernet cluster", **result.protocol})
