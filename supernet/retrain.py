"""Stand-alone retraining of chosen architectures from scratch (the accurate labels).

Presets: ``nb201`` is NAS-Bench-201's recipe (SGD Nesterov momentum 0.9, lr 0.1
cosine to 0, weight decay 5e-4, batch 256, 200 epochs, C=16, N=5); ``cpu-small`` and
``tiny`` shrink epochs, width and depth so a CPU finishes in minutes or seconds. Each
architecture trains in its own folder ``OUT/<index>/`` with an atomic per-epoch
checkpoint, so a killed run resumes at the last finished epoch of the architecture it
was on. Each result is appended (atomically) to an evaluation log with ``arch_str,
<split>_acc, <split>_loss, epochs, seed, dataset, split, source=retrain, checkpoint,
images``, which ``nasgcn fit`` reads as accurate labels.
"""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from predictor.errors import NasgcnError
from predictor.io import atomic_path, write_json_atomic, write_text_atomic
from predictor.spaces import get_space

from .data import (
    DataSplits,
    ImageSet,
    Normalizer,
    RunOptions,
    augment_batch,
    epoch_batches,
    load_data_from,
    load_images,
    num_batches,
)
from .models.registry import build_network, network_option_names

FORMAT = "nasgcn-retrain/1"


@dataclass
class RetrainConfig(RunOptions):
    """Recipe of a stand-alone training run (defaults = the ``nb201`` preset); data fields come first.

    Model options apply where the space's network takes them (``channels``/``cells``: NB201;
    ``width``: chain spaces) and are ignored elsewhere, so one preset serves every space.
    """

    space: str = "nb201"
    channels: int = 16
    cells: int = 5
    width: float = 1.0
    epochs: int = 200
    batch_size: int = 256
    lr: float = 0.1
    min_lr: float = 0.0
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    limit_train_batches: int | None = None
    split: str = "val"  # "val" (split of the training data) or "test" (the dataset's test split)
    seed: int = 0
    device: str = "cpu"
    progress: bool = True


PRESETS: dict[str, dict[str, Any]] = {
    "nb201": {},
    "cpu-small": {"epochs": 10, "batch_size": 128, "lr": 0.05, "channels": 8, "cells": 2, "width": 0.5},
    "tiny": {"epochs": 2, "batch_size": 64, "lr": 0.05, "channels": 4, "cells": 1, "width": 0.25, "limit_train": 512},
}


def preset(name: str, **overrides: Any) -> RetrainConfig:
    """The preset ``name`` with ``overrides`` (``None`` values are ignored)."""
    if name not in PRESETS:
        raise NasgcnError(f"unknown retrain preset {name!r} (choose from {', '.join(PRESETS)})")
    values = {**PRESETS[name], **{k: v for k, v in overrides.items() if v is not None}}
    return RetrainConfig.from_dict(values, f"preset {name}")


_RUNTIME = ("device", "progress")


_ADDED = {"space": "nb201", "width": 1.0}  # fields newer than some checkpoints (their values then)


_MODEL = ("channels", "cells", "width")


def _unused(cfg: RetrainConfig) -> set[str]:
    """Model options the space's network does not take (not part of its recipe)."""
    return set(_MODEL) - network_option_names(cfg.space)


def _recipe(cfg: RetrainConfig) -> dict[str, Any]:
    skip = set(_RUNTIME) | _unused(cfg)
    return {k: v for k, v in asdict(cfg).items() if k not in skip}


def make_network(cfg: RetrainConfig, row: Any, num_classes: int, in_channels: int) -> torch.nn.Module:
    """The stand-alone network of ``row`` in ``cfg.space`` with the model options that space takes."""
    options = {
        "channels": cfg.channels,
        "cells": cfg.cells,
        "width": cfg.width,
        "num_classes": num_classes,
        "in_channels": in_channels,
    }
    names = network_option_names(cfg.space)
    return build_network(cfg.space, tuple(int(i) for i in row), **{k: v for k, v in options.items() if k in names})


def _train_one(
    net: torch.nn.Module,
    cfg: RetrainConfig,
    data: DataSplits,
    folder: Path,
    device: torch.device,
    max_epochs: int | None = None,
) -> dict:
    """Train ``net`` (resuming from ``folder/checkpoint.pt``); returns the training record."""
    normalize = Normalizer(data.mean, data.std)
    opt = torch.optim.SGD(
        net.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov, weight_decay=cfg.weight_decay
    )
    steps = num_batches(len(data.train), cfg.batch_size)
    if cfg.limit_train_batches:
        steps = min(steps, cfg.limit_train_batches)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, cfg.epochs * steps), eta_min=cfg.min_lr)
    ckpt_path = folder / "checkpoint.pt"
    epoch, history = 0, []
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location=device, weights_only=True)
        if ckpt.get("format") != FORMAT or ckpt.get("arch_str") != net.arch_str:
            raise NasgcnError(f"{ckpt_path}: checkpoint of another run; remove it or choose another --out")
        skip = set(_RUNTIME) | _unused(cfg)
        saved = {k: v for k, v in {**_ADDED, **json.loads(ckpt["config"])}.items() if k not in skip}
        if saved != _recipe(cfg):
            diff = sorted(k for k in saved if saved[k] != _recipe(cfg).get(k))
            raise NasgcnError(f"{ckpt_path}: made with a different recipe ({', '.join(diff)}); choose another --out")
        net.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        epoch, history = int(ckpt["epoch"]), json.loads(ckpt["history"])
    bar = None
    if cfg.progress:
        from predictor.progress import progress_bar

        bar = progress_bar(total=cfg.epochs * steps, initial=epoch * steps, desc=f"retrain {net.arch_str}", leave=False)
    nonblocking = device.type == "cuda"
    stop = cfg.epochs if max_epochs is None else min(cfg.epochs, epoch + max_epochs)
    while epoch < stop:
        net.train()
        gen = torch.Generator().manual_seed(cfg.seed * 7_919 + epoch + 1)
        loss_sum, correct, seen, start = 0.0, 0, 0, time.perf_counter()
        for i, (xb, yb) in enumerate(epoch_batches(data.train, cfg.batch_size, cfg.seed, epoch)):
            if i >= steps:
                break
            if data.augment:
                xb = augment_batch(xb, gen)
            x = normalize(xb.to(device, non_blocking=nonblocking))
            y = yb.to(device, non_blocking=nonblocking)
            logits = net(x)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
            sched.step()
            loss_sum += float(loss.detach()) * y.shape[0]
            correct += int((logits.detach().argmax(1) == y).sum())
            seen += y.shape[0]
            if bar is not None:
                rate = seen / max(time.perf_counter() - start, 1e-9)
                bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{100 * correct / seen:.1f}", img_s=f"{rate:.0f}")
                bar.update(1)
        epoch += 1
        history.append(
            {"epoch": epoch, "train_loss": loss_sum / max(seen, 1), "train_acc": 100 * correct / max(seen, 1)}
        )
        state = {
            "format": FORMAT,
            "arch_str": net.arch_str,
            "model": net.state_dict(),
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "epoch": epoch,
            "history": json.dumps(history),
            "config": json.dumps(asdict(cfg)),
        }
        with atomic_path(ckpt_path) as tmp:
            torch.save(state, tmp)
    if bar is not None:
        bar.close()
    return {"history": history, "finished": epoch >= cfg.epochs}


@torch.no_grad()
def evaluate_network(
    net: torch.nn.Module, images: ImageSet, normalize: Normalizer, device: torch.device, batch_size: int = 500
) -> tuple[float, float]:
    """Accuracy (%) and mean cross-entropy of a stand-alone network (eval mode, running BN stats)."""
    net.eval()
    correct, total = 0, 0.0
    for xb, yb in epoch_batches(images, batch_size, 0, 0, shuffle=False, drop_last=False):
        logits = net(normalize(xb.to(device)))
        y = yb.to(device)
        total += float(F.cross_entropy(logits, y, reduction="sum"))
        correct += int((logits.argmax(1) == y).sum())
    return 100.0 * correct / len(images), total / len(images)


def log_columns(split: str) -> list[str]:
    return [
        "arch_str",
        f"{split}_acc",
        f"{split}_loss",
        "epochs",
        "seed",
        "dataset",
        "split",
        "source",
        "checkpoint",
        "images",
    ]


def append_log_row(path: str | Path, columns: list[str], row: list[Any]) -> None:
    """Append one row to a CSV log atomically (header written for a new file; must match otherwise)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if text:
        header = text.splitlines()[0].split(",")
        if header != columns:
            raise NasgcnError(
                f"{path}: its columns {','.join(header)} differ from the retrain log's {','.join(columns)}; "
                "write retrain results to a separate --log file"
            )
        if not text.endswith("\n"):
            text += "\n"
    else:
        text = ",".join(columns) + "\n"
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(row)
    write_text_atomic(path, text + buf.getvalue())


def _logged(path: Path, arch: str, cfg: RetrainConfig) -> bool:
    from predictor.readers import CsvRows  # the package's one reader: BOM, binary files, file:line errors

    if not path.exists() or path.stat().st_size == 0:
        return False
    rows = CsvRows(path, kinds="a retrain log (CSV)")
    for _line, row in rows:
        r = dict(zip(rows.header, row, strict=False))
        if r.get("arch_str") == arch and r.get("seed") == str(cfg.seed) and r.get("epochs") == str(cfg.epochs):
            return True
    return False


def _record_log_space(log_path: Path, space: str) -> None:
    """Give the log a ``.meta.json`` naming its space (refusing a log of another space)."""
    from predictor.logs import log_space

    get_space(space).check_compatible(log_space(log_path), f"retrain log {log_path}")
    sidecar = Path(str(log_path) + ".meta.json")
    if not sidecar.exists():
        log_path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(sidecar, {"space": space, "source": "retrain"})


def retrain(
    archs: list[str] | np.ndarray,
    config: RetrainConfig,
    out_dir: str | Path,
    log: str | Path | None = None,
    max_epochs: int | None = None,
) -> list[dict[str, Any]]:
    """Train each architecture from scratch, evaluate it, append a row to ``log``; resumable.

    Architectures already in the log with the same seed and epochs are skipped. Returns one
    record per architecture (``arch_str``, ``acc``, ``loss``, ``split``, ``params``...).
    ``max_epochs`` stops each architecture after that many epochs in this call (unfinished
    architectures are not logged; a later call resumes them). ``out_dir`` is locked meanwhile
    (:mod:`supernet.runlock`): a second retraining into it stops at once.
    """
    from .runlock import RunLock

    with RunLock(out_dir, "supernet retrain"):
        return _retrain(archs, config, out_dir, log, max_epochs)


def _retrain(
    archs: list[str] | np.ndarray,
    config: RetrainConfig,
    out_dir: str | Path,
    log: str | Path | None,
    max_epochs: int | None,
) -> list[dict[str, Any]]:
    cfg = config
    if cfg.split not in ("val", "test"):
        raise NasgcnError(f"split must be 'val' or 'test', got {cfg.split!r}")
    space = get_space(cfg.space)
    ids = space.encode(list(archs)) if not isinstance(archs, np.ndarray) else np.atleast_2d(archs)
    out_dir = Path(out_dir)
    log_path = Path(log) if log is not None else out_dir / "retrain.csv"
    device = torch.device(cfg.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    data = load_data_from(cfg)
    if cfg.split == "test":
        held = load_images(cfg.dataset, "test", cfg.data_root, cfg.download)
        if cfg.input_size:
            from .data import _resize

            held = _resize(held, int(cfg.input_size))
    else:
        held = data.val
    normalize = Normalizer(data.mean, data.std)
    _record_log_space(log_path, space.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out_dir / "retrain_config.json", {"format": FORMAT, **asdict(cfg), "data": data.info})
    records = []
    for row in ids:
        arch = space.format(row)
        folder = out_dir / (str(int(space.index_of(row)[0])) if space.enumerable else arch)
        torch.manual_seed(cfg.seed)
        net = make_network(cfg, row, data.num_classes, data.in_channels).to(device)
        trained = _train_one(net, cfg, data, folder, device, max_epochs)
        if not trained["finished"]:
            continue
        acc, loss = evaluate_network(net, held, normalize, device)
        rec = {
            "arch_str": arch,
            "acc": acc,
            "loss": loss,
            "split": cfg.split,
            "epochs": cfg.epochs,
            "seed": cfg.seed,
            "params": sum(p.numel() for p in net.parameters()),
            "history": trained["history"],
        }
        records.append(rec)
        if not _logged(log_path, arch, cfg):
            append_log_row(
                log_path,
                log_columns(cfg.split),
                [
                    arch,
                    f"{acc:.4f}",
                    f"{loss:.6f}",
                    cfg.epochs,
                    cfg.seed,
                    cfg.dataset,
                    cfg.split,
                    "retrain",
                    str(folder),
                    len(held),
                ],
            )
        if cfg.progress:
            print(f"{arch}: {cfg.split} acc {acc:.2f}% loss {loss:.4f} ({cfg.epochs} epochs)", flush=True)
    _mark_ties(records)
    return records


def _mark_ties(records: list[dict[str, Any]]) -> None:
    """``rank`` (shared by equal accuracies at the logged 4 decimals) and ``tied_with`` (the others at it).

    A held-out set of a few thousand images gives few distinct accuracies: equal ones are ties, not a ranking.
    """
    from predictor.metrics import tie_ranks

    if not records:
        return
    rank, tied = tie_ranks(np.asarray([r["acc"] for r in records], dtype=np.float64), decimals=4)
    for rec, k, t in zip(records, rank, tied, strict=True):
        rec["rank"] = int(k)
        rec["tied_with"] = int(t) - 1


def with_overrides(cfg: RetrainConfig, **kw: Any) -> RetrainConfig:
    return replace(cfg, **{k: v for k, v in kw.items() if v is not None})
