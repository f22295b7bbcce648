"""Evaluate many architectures with weights inherited from a trained supernet.

Protocol (recorded in the log's ``.meta.json`` sidecar and printed by the CLI): the
images are the first ``max_images`` of the run's seeded **validation split of the
training data** (never the test set), in fixed batches of ``batch_size``, identical
for every architecture; BatchNorm uses batch statistics (the supernet default) or,
for supernets that track running statistics, is recalibrated per architecture on
``recalibrate_batches`` training batches. The stem's output does not depend on the
architecture and is computed once per batch.

The log is a CSV with ``arch_str, supernet_acc, supernet_loss, checkpoint, images,
epoch, dataset, split, source`` (accuracy in %), readable by
:func:`predictor.logs.read_log` and ``nasgcn fit``.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from predictor.errors import NasgcnError
from predictor.io import atomic_path, write_json_atomic
from predictor.spaces import SearchSpace, get_space

from .data import ImageSet, Normalizer, epoch_batches, load_data_from
from .models.supernet import recalibrate_bn
from .train import TrainConfig, checkpoint_space, load_supernet

LOG_COLUMNS = (
    "arch_str",
    "supernet_acc",
    "supernet_loss",
    "checkpoint",
    "images",
    "epoch",
    "dataset",
    "split",
    "source",
)


@dataclass
class EvalResult:
    """Per-architecture results (accuracy in %) plus the protocol that produced them."""

    ids: np.ndarray
    acc: np.ndarray
    loss: np.ndarray
    protocol: dict[str, Any]
    space: str = "nb201"

    @property
    def arch_str(self) -> list[str]:
        return get_space(self.space).decode(self.ids)


@torch.no_grad()
def evaluate_archs(
    model: torch.nn.Module,
    ids: np.ndarray,
    images: ImageSet,
    normalize: Normalizer,
    batch_size: int = 500,
    device: str | torch.device = "cpu",
    recalibrate: ImageSet | None = None,
    recalibrate_batches: int = 4,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-1 accuracy (%) and mean cross-entropy of each row of ``ids`` on ``images``.

    ``model`` is any space's supernet (``stem`` + ``forward_from_stem(h, arch)``).
    """
    device = torch.device(device)
    ids = np.atleast_2d(np.asarray(ids, dtype=np.int64))
    model = model.to(device).eval()
    if device.type == "cpu" and not model.channels_last:
        model.use_channels_last()  # faster CPU convolutions; same function
    fmt = torch.channels_last if model.channels_last else torch.contiguous_format
    xs = [
        normalize(x.to(device)).contiguous(memory_format=fmt)
        for x, _ in epoch_batches(images, batch_size, 0, 0, shuffle=False, drop_last=False)
    ]
    ys = [y.to(device) for _, y in epoch_batches(images, batch_size, 0, 0, shuffle=False, drop_last=False)]
    tracks = any(getattr(m, "track_running_stats", False) for m in model.modules())
    stems = None if tracks else [model.stem(x) for x in xs]  # shared by all architectures
    recal = None
    if tracks and recalibrate is not None:
        recal = [
            normalize(x.to(device))
            for i, (x, _) in enumerate(epoch_batches(recalibrate, batch_size, 0, 0))
            if i < recalibrate_batches
        ]
    acc = np.empty(len(ids))
    loss = np.empty(len(ids))
    n = len(images)
    bar = None
    if progress:
        from predictor.progress import progress_bar

        bar = progress_bar(total=len(ids), desc="evaluate", unit="arch")
    start = time.perf_counter()
    for i, row in enumerate(ids):
        arch = tuple(int(i) for i in row)
        if recal is not None:
            recalibrate_bn(model, arch, recal)
            model.eval()
        # Sums stay on the device: one host sync per architecture, not per batch.
        correct = torch.zeros((), dtype=torch.int64, device=device)
        total_loss = torch.zeros((), dtype=torch.float64, device=device)
        for b, (x, y) in enumerate(zip(xs, ys, strict=True)):
            h = stems[b] if stems is not None else model.stem(x)
            logits = model.forward_from_stem(h, arch)
            total_loss += F.cross_entropy(logits, y, reduction="sum").double()
            correct += (logits.argmax(1) == y).sum()
        acc[i] = 100.0 * int(correct) / n
        loss[i] = float(total_loss) / n
        if bar is not None:
            bar.update(1)
            bar.set_postfix(arch_s=f"{(i + 1) / (time.perf_counter() - start):.1f}")
    if bar is not None:
        bar.close()
    return acc, loss


def select_archs(
    how: str,
    n: int | None = None,
    archs_file: str | Path | None = None,
    seed: int = 0,
    fixed: dict[int, int] | None = None,
    space: str | SearchSpace = "nb201",
) -> np.ndarray:
    """Op ids to evaluate: ``sample`` (n distinct, seeded), ``list`` (a file), ``unique`` or ``all``.

    ``fixed`` (slot -> op id, a few-shot sub-supernet's sub-space) restricts the choice
    to that sub-space; listed architectures outside it are an error. ``unique`` and ``all``
    need an enumerable space; ``sample`` works on any (large spaces are sampled, not listed).
    """
    space = get_space(space)
    fixed = {int(k): int(v) for k, v in (fixed or {}).items()}

    def inside(ids: np.ndarray) -> np.ndarray:
        ok = np.ones(len(ids), dtype=bool)
        for slot, op in fixed.items():
            ok &= ids[:, slot] == op
        return ok

    if how == "list":
        ids = read_arch_list(archs_file, space)
        bad = np.flatnonzero(~inside(ids))
        if len(bad):
            raise NasgcnError(
                f"{archs_file}: {len(bad)} architecture(s) lie outside the supernet's sub-space "
                f"(fixed slots {fixed}), e.g. {space.format(ids[bad[0]])}"
            )
        return ids
    if how in ("unique", "all") and not space.enumerable:
        raise NasgcnError(
            f"--{how} needs every architecture of space {space.name!r} ({float(space.size):.3g} of them), which "
            "cannot be enumerated; evaluate --sample N random architectures or --archs FILE instead"
        )
    if how == "unique":
        ids = space.unique_ids()
    elif how == "all":
        ids = space.all_ids()
    elif how == "sample":
        if not n or n < 1:
            raise NasgcnError("--sample needs a positive number of architectures")
        if not fixed:
            if n > space.size:
                raise NasgcnError(f"cannot sample {n} distinct architectures from {space.size}")
            return space.sample(n, np.random.default_rng(seed), unique=True)
        if not space.enumerable:  # fix the slots of a sample; drop repeats until n distinct
            rng, rows, seen = np.random.default_rng(seed), [], set()
            for _ in range(100):
                draw = space.sample(2 * n, rng)
                for slot, op in fixed.items():
                    draw[:, slot] = op
                for row in draw:
                    key = row.tobytes()
                    if key not in seen:
                        seen.add(key)
                        rows.append(row)
                if len(rows) >= n:
                    return np.stack(rows[:n])
            raise NasgcnError(f"could not sample {n} distinct architectures from the sub-space")
        pool = space.all_ids()[inside(space.all_ids())]
        if n > len(pool):
            raise NasgcnError(f"cannot sample {n} distinct architectures from the sub-space's {len(pool)}")
        return pool[np.sort(np.random.default_rng(seed).choice(len(pool), n, replace=False))]
    else:
        raise NasgcnError(f"unknown selection {how!r}")
    return ids[inside(ids)] if fixed else ids


def read_arch_list(path: str | Path | None, space: str | SearchSpace = "nb201") -> np.ndarray:
    """Architectures of ``space`` from a text file (one string per line) or a CSV with an ``arch_str`` column."""
    if path is None:
        raise NasgcnError("--archs needs a file")
    path = Path(path)
    if not path.exists():
        raise NasgcnError(f"architecture list {path} does not exist")
    space = get_space(space)
    lines = path.read_text(encoding="utf-8").splitlines()
    rows: list[tuple[int, str]] = []
    if lines and "arch_str" in lines[0].split(","):
        reader = csv.DictReader(lines)
        rows = [(i + 2, r["arch_str"]) for i, r in enumerate(reader)]
    else:
        rows = [(i + 1, s.strip()) for i, s in enumerate(lines) if s.strip() and not s.lstrip().startswith("#")]
    if not rows:
        raise NasgcnError(f"{path}: no architectures found (one arch string per line, or a CSV with arch_str)")
    ids = []
    for line, s in rows:
        try:
            ids.append(space.parse(s))
        except NasgcnError as exc:
            raise NasgcnError(f"{path}:{line}: {exc}") from None
    return np.asarray(ids, dtype=np.int64)


def write_eval_log(path: str | Path, result: EvalResult, meta: dict[str, Any]) -> None:
    """Atomic CSV with :data:`LOG_COLUMNS` plus a ``<path>.meta.json`` with the protocol."""
    fixed = [meta.get(k, "") for k in ("checkpoint", "images", "epoch", "dataset", "split", "source")]
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(LOG_COLUMNS)
            for s, a, lo in zip(result.arch_str, result.acc, result.loss, strict=True):
                w.writerow([s, f"{a:.4f}", f"{lo:.6f}", *fixed])
    write_json_atomic(
        Path(str(path) + ".meta.json"),
        {"columns": {"supernet_acc": "top-1 %", "supernet_loss": "mean CE"}, "space": result.space, **result.protocol},
    )


def _load_for_eval(run_dir: str | Path, device: str, data_root: str | None, max_images: int | None) -> dict[str, Any]:
    """Everything evaluating a run needs: the supernet, its config and data, the validation images."""
    model, ckpt = load_supernet(run_dir, device)
    cfg = TrainConfig.from_dict(ckpt["config"], str(run_dir))
    data = load_data_from(cfg, data_root=data_root or cfg.data_root, download=False)
    val = data.val if not max_images else data.val.subset(slice(0, int(max_images)))
    tracks = bool(ckpt["model_config"].get("track_running_stats"))
    return {
        "model": model,
        "ckpt": ckpt,
        "cfg": cfg,
        "val": val,
        "recalibrate": data.train if tracks else None,
        "normalize": Normalizer(tuple(ckpt["data"]["mean"]), tuple(ckpt["data"]["std"])),
        "tracks": tracks,
    }


_WORKER: dict[str, Any] = {}  # per worker process: what _load_for_eval returned, plus the call's options


def _init_worker(run_dir: str, data_root: str | None, max_images: int | None, options: dict[str, Any]) -> None:
    torch.set_num_threads(options.pop("threads"))
    _WORKER.update(_load_for_eval(run_dir, "cpu", data_root, max_images), options=options)


def _evaluate_chunk(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w = _WORKER
    return evaluate_archs(
        w["model"], ids, w["val"], w["normalize"], device="cpu", recalibrate=w["recalibrate"], progress=False,
        **w["options"],
    )  # fmt: skip


def _evaluate_parallel(
    run_dir: str | Path,
    ids: np.ndarray,
    jobs: int,
    data_root: str | None,
    max_images: int | None,
    options: dict[str, Any],
    progress: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Shard ``ids`` over ``jobs`` CPU worker processes (each loads the run once, one thread each)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    chunks = np.array_split(ids, min(len(ids), 8 * jobs))
    ctx = multiprocessing.get_context("spawn")
    bar = None
    if progress:
        from predictor.progress import progress_bar

        bar = progress_bar(total=len(ids), desc=f"evaluate ({jobs} processes)", unit="arch")
    acc, loss = [], []
    init = (str(run_dir), data_root, max_images, {**options, "threads": 1})
    with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init_worker, initargs=init) as pool:
        for (a, lo), chunk in zip(pool.map(_evaluate_chunk, chunks), chunks, strict=True):
            acc.append(a)
            loss.append(lo)
            if bar is not None:
                bar.update(len(chunk))
    if bar is not None:
        bar.close()
    return np.concatenate(acc), np.concatenate(loss)


def evaluate_run(
    run_dir: str | Path,
    ids: np.ndarray,
    out: str | Path | None = None,
    max_images: int | None = 1000,
    batch_size: int = 500,
    device: str = "cpu",
    data_root: str | None = None,
    recalibrate_batches: int = 4,
    progress: bool = True,
    jobs: int = 1,
) -> EvalResult:
    """Evaluate ``ids`` with a run's supernet on its validation split; write the log if ``out``.

    ``jobs > 1`` (CPU only) shards the architectures over that many worker processes of one thread
    each: small convolutions scale far better over processes than over a process's threads.
    """
    ids = np.atleast_2d(np.asarray(ids, dtype=np.int64))
    if jobs > 1 and torch.device(device).type != "cpu":
        raise NasgcnError(f"jobs={jobs} (--jobs) shards the architectures over CPU processes; on {device} use 1")
    run = _load_for_eval(run_dir, "cpu" if jobs > 1 else device, data_root, max_images)
    ckpt, cfg, val = run["ckpt"], run["cfg"], run["val"]
    space = checkpoint_space(ckpt)
    protocol = {
        "space": space,
        "checkpoint": ckpt["checkpoint_id"],
        "epoch": int(ckpt["epoch"]),
        "dataset": cfg.dataset,
        "split": f"validation split of the training data (val_fraction={cfg.val_fraction}, seed={cfg.seed})",
        "images": len(val),
        "batch_size": batch_size,
        "bn": "recalibrated running statistics" if run["tracks"] else "batch statistics (no affine in cells)",
        "archs": len(ids),
    }
    if cfg.fixed:
        protocol["subspace"] = {str(k): v for k, v in cfg.fixed.items()}
    if progress:
        print("protocol: " + "; ".join(f"{k}={v}" for k, v in protocol.items()), flush=True)
    start = time.perf_counter()
    options = {"batch_size": batch_size, "recalibrate_batches": recalibrate_batches}
    if jobs > 1 and len(ids) > 1:
        acc, loss = _evaluate_parallel(run_dir, ids, jobs, data_root, max_images, options, progress)
        protocol["processes"] = int(jobs)
    else:
        acc, loss = evaluate_archs(
            run["model"], ids, val, run["normalize"], device=device, recalibrate=run["recalibrate"],
            progress=progress, **options,
        )  # fmt: skip
    protocol["seconds"] = time.perf_counter() - start
    result = EvalResult(ids, acc, loss, protocol, space)
    if out is not None:
        meta = {
            "checkpoint": ckpt["checkpoint_id"],
            "images": len(val),
            "epoch": int(ckpt["epoch"]),
            "dataset": cfg.dataset,
            "split": "val",
            "source": "supernet",
        }
        write_eval_log(out, result, meta)
    return result
