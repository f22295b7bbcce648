"""Image data for supernet training, evaluation and retraining, held in memory as uint8.

Sources: scikit-learn's bundled ``digits`` (8×8 grey, offline default), an ``npz:DIR``
folder (files with ``x`` uint8 N×H×W×C and ``y``; training files are those with
``train`` in their name, test files those with ``test``), and CIFAR-10/100 through
torchvision (downloaded only when asked). Validation is always a seeded split of the
training data, never the test set.

Batches are cut from in-memory tensors with a seeded ``torch.Generator`` (no worker
processes: the datasets are small, and a per-epoch permutation derived from
``(seed, epoch)`` makes the data order reproducible and resumable). Pixels stay
uint8 until a batch is on the device, where it is augmented and normalised.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from predictor.errors import NasgcnError

DATASETS = ("digits", "cifar10", "cifar100", "npz:DIR")


@dataclass
class ImageSet:
    """Images ``x`` (N, C, H, W) uint8 and labels ``y`` (N,) int64."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def subset(self, index: torch.Tensor | np.ndarray | slice) -> ImageSet:
        return ImageSet(self.x[index], self.y[index])


@dataclass
class DataSplits:
    """Train/validation split of one dataset plus what the models need to know about it."""

    name: str
    train: ImageSet
    val: ImageSet
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: bool
    info: dict = field(default_factory=dict)

    @property
    def in_channels(self) -> int:
        return int(self.train.x.shape[1])

    @property
    def input_size(self) -> int:
        return int(self.train.x.shape[2])


def _nhwc_to_set(x: np.ndarray, y: np.ndarray, where: str) -> ImageSet:
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.dtype != np.uint8:
        raise NasgcnError(f"{where}: expected 'x' uint8 of shape N×H×W×C, got {x.dtype} {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise NasgcnError(f"{where}: expected 'y' of shape ({len(x)},), got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or (len(y) and y.min() < 0):
        raise NasgcnError(f"{where}: labels 'y' must be non-negative integers")
    return ImageSet(
        torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))), torch.from_numpy(y.astype(np.int64))
    )


def _concat(sets: list[ImageSet]) -> ImageSet:
    return ImageSet(torch.cat([s.x for s in sets]), torch.cat([s.y for s in sets]))


def _load_digits() -> ImageSet:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = np.round(d.images * (255.0 / 16.0)).astype(np.uint8)  # values 0..16 -> 0..255
    return _nhwc_to_set(x, d.target, "sklearn digits")


def _npz_files(root: Path, kind: str) -> list[Path]:
    if not root.is_dir():
        raise NasgcnError(f"npz data folder {root} does not exist (pass npz:DIR with a folder of .npz files)")
    files = sorted(p for p in root.glob("*.npz") if kind in p.name.lower())
    if not files:
        raise NasgcnError(f"no '*{kind}*.npz' file in {root} (name training files e.g. train_part1.npz)")
    return files


def _load_npz(root: Path, kind: str) -> ImageSet:
    sets = []
    for path in _npz_files(root, kind):
        try:
            with np.load(path, allow_pickle=False) as f:
                if "x" not in f or "y" not in f:
                    raise NasgcnError(
                        f"{path}: needs arrays 'x' (uint8 N×H×W×C) and 'y' (labels); has {list(f.keys())}"
                    )
                sets.append(_nhwc_to_set(f["x"], f["y"], str(path)))
        except (OSError, ValueError) as exc:
            if isinstance(exc, NasgcnError):
                raise
            raise NasgcnError(f"{path}: not a readable .npz file ({exc})") from exc
    shapes = {tuple(s.x.shape[1:]) for s in sets}
    if len(shapes) > 1:
        raise NasgcnError(f"npz files in {root} have different image shapes {sorted(shapes)}")
    return _concat(sets)


def _load_torchvision(name: str, root: Path | None, train: bool, download: bool) -> ImageSet:
    try:
        import torchvision
    except ImportError as exc:  # pragma: no cover - torchvision is a dependency
        raise NasgcnError("torchvision is needed for CIFAR: pip install torchvision") from exc
    cls = torchvision.datasets.CIFAR10 if name == "cifar10" else torchvision.datasets.CIFAR100
    root = Path(root) if root is not None else Path.home() / ".cache" / "nasgcn" / "data"
    try:
        ds = cls(str(root), train=train, download=download)
    except RuntimeError as exc:
        raise NasgcnError(f"{name} not found under {root} ({exc}); pass --download to fetch it") from exc
    return _nhwc_to_set(np.asarray(ds.data), np.asarray(ds.targets), f"{name} at {root}")


def _resize(s: ImageSet, size: int) -> ImageSet:
    if s.x.shape[-1] == size and s.x.shape[-2] == size:
        return s
    x = F.interpolate(s.x.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return ImageSet(x.round().clamp(0, 255).to(torch.uint8), s.y)


def _parse_name(dataset: str) -> tuple[str, Path | None]:
    if dataset.startswith("npz:"):
        return "npz", Path(dataset[4:]).expanduser()
    if dataset in ("digits", "cifar10", "cifar100"):
        return dataset, None
    raise NasgcnError(f"unknown dataset {dataset!r} (choose digits, cifar10, cifar100 or npz:DIR)")


def load_images(dataset: str, split: str = "train", root: str | Path | None = None, download: bool = False) -> ImageSet:
    """All images of ``dataset``'s ``train`` or ``test`` split (digits has no test split)."""
    kind, npz_root = _parse_name(dataset)
    if split not in ("train", "test"):
        raise NasgcnError(f"split must be 'train' or 'test', got {split!r}")
    if kind == "digits":
        if split == "test":
            raise NasgcnError("the digits dataset has no test split; use the validation split")
        return _load_digits()
    if kind == "npz":
        return _load_npz(npz_root, split)
    return _load_torchvision(kind, Path(root) if root else None, split == "train", download)


def load_data(
    dataset: str = "digits",
    root: str | Path | None = None,
    download: bool = False,
    val_fraction: float = 0.2,
    seed: int = 0,
    limit_train: int | None = None,
    input_size: int | None = None,
    augment: bool | None = None,
) -> DataSplits:
    """Load ``dataset`` and split its training data into train/val with ``seed``.

    ``limit_train`` keeps only the first so many (shuffled) training images, to keep CPU
    runs short; ``input_size`` resizes images (fewer pixels: a CPU-scale proxy);
    ``augment`` (random crop + flip) defaults to on for CIFAR-like data, off for digits.
    """
    if not 0.0 < val_fraction < 1.0:
        raise NasgcnError(f"val_fraction must be in (0, 1), got {val_fraction}")
    kind, _ = _parse_name(dataset)
    full = load_images(dataset, "train", root, download)
    if input_size:
        full = _resize(full, int(input_size))
    if full.x.shape[-1] % 4 or full.x.shape[-2] != full.x.shape[-1]:
        raise NasgcnError(f"images must be square with a side divisible by 4, got {tuple(full.x.shape[2:])}")
    g = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(len(full), generator=g)
    n_val = max(1, int(round(val_fraction * len(full))))
    val, train = full.subset(perm[:n_val]), full.subset(perm[n_val:])
    if limit_train:
        train = train.subset(slice(0, int(limit_train)))
    xf = train.x.float() / 255.0
    mean = tuple(float(v) for v in xf.mean(dim=(0, 2, 3)))
    std = tuple(max(float(v), 1e-3) for v in xf.std(dim=(0, 2, 3)))
    num_classes = int(full.y.max()) + 1
    if augment is None:
        augment = kind != "digits"
    info = {
        "dataset": dataset,
        "seed": seed,
        "val_fraction": val_fraction,
        "train_images": len(train),
        "val_images": len(val),
        "input_size": int(full.x.shape[-1]),
    }
    return DataSplits(dataset, train, val, num_classes, mean, std, bool(augment), info)


class Normalizer:
    """uint8 batch on any device -> float, normalised per channel."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        self.mean = torch.tensor(mean).view(1, -1, 1, 1)
        self.std = torch.tensor(std).view(1, -1, 1, 1)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self.mean.to(x.device), self.std.to(x.device)
        return (x.float().div_(255.0) - mean) / std


@dataclass
class RunOptions:
    """Data options every run records (supernet and stand-alone training configs extend it).

    Evaluation, shifting and retraining rebuild a run's exact splits from these fields.
    """

    dataset: str = "digits"
    data_root: str | None = None
    download: bool = False
    val_fraction: float = 0.2
    limit_train: int | None = None
    input_size: int | None = None
    augment: bool | None = None

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], where: str = "config") -> Any:
        """The config from a dict (e.g. ``config.json``); unknown keys are an error naming ``where``."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise NasgcnError(f"{where}: unknown option(s) {', '.join(unknown)} (known: {', '.join(sorted(names))})")
        return cls(**values)


DATA_FIELDS = ("dataset", "data_root", "download", "val_fraction", "seed", "limit_train", "input_size", "augment")


def load_data_from(cfg: Any, **override: Any) -> DataSplits:
    """:func:`load_data` with the data fields of a run config (a config dataclass or its dict).

    Runs record these fields so that evaluation, shifting and retraining rebuild exactly
    the same splits; ``override`` replaces single fields (e.g. ``download=False``).
    """
    get = cfg.get if isinstance(cfg, Mapping) else (lambda name: getattr(cfg, name, None))
    v = {name: get(name) for name in DATA_FIELDS}
    v.update(override)
    return load_data(
        v["dataset"],
        v["data_root"],
        bool(v["download"]),
        v["val_fraction"],
        v["seed"],
        v["limit_train"],
        v["input_size"],
        v["augment"],
    )


def augment_batch(x: torch.Tensor, generator: torch.Generator, flip: bool = True) -> torch.Tensor:
    """Random crop with zero padding (size/8) and horizontal flip, vectorised over the batch.

    Random numbers come from ``generator`` on the CPU, so results do not depend on the device.
    """
    b, _, h, w = x.shape
    pad = max(1, h // 8)
    xp = F.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (b,), generator=generator).to(x.device)
    ox = torch.randint(0, 2 * pad + 1, (b,), generator=generator).to(x.device)
    rows = (oy[:, None] + torch.arange(h, device=x.device))[:, :, None]  # (b, h, 1)
    cols = ox[:, None] + torch.arange(w, device=x.device)  # (b, w)
    if flip:
        do_flip = (torch.rand(b, generator=generator) < 0.5).to(x.device)
        cols = torch.where(do_flip[:, None], cols.flip(1), cols)
    cols = cols[:, None, :]  # (b, 1, w)
    out = xp[torch.arange(b, device=x.device)[:, None, None], :, rows, cols]  # (b, h, w, c)
    return out.permute(0, 3, 1, 2).contiguous()


def epoch_batches(
    data: ImageSet,
    batch_size: int,
    seed: int,
    epoch: int,
    shuffle: bool = True,
    drop_last: bool = True,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The (uint8 x, y) batches of one epoch; the order depends only on ``(seed, epoch)``."""
    n = len(data)
    if shuffle:
        g = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))
        order = torch.randperm(n, generator=g)
    else:
        order = torch.arange(n)
    stop = n - n % batch_size if drop_last and n >= batch_size else n
    for start in range(0, stop, batch_size):
        idx = order[start : start + batch_size]
        yield data.x[idx], data.y[idx]


def num_batches(n: int, batch_size: int, drop_last: bool = True) -> int:
    if drop_last and n >= batch_size:
        return n // batch_size
    return -(-n // batch_size)
