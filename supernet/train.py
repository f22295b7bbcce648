"""One resumable trainer for the weight-sharing supernet of any search space, with swappable samplers.

``TrainConfig.space`` (default ``nb201``) picks the space; the model comes from its registry
entry (:func:`supernet.models.build_supernet`), the space is saved in ``config.json`` and the
checkpoint, :func:`load_supernet` rebuilds any space's supernet, and resuming a run with
another space is refused.

Defaults follow the NAS-Bench-201 supernet search configs (SGD, Nesterov momentum
0.9, lr 0.025 cosine-annealed to 0.001, weight decay 5e-4, batch 64, gradient clip 5).
Each optimizer step trains the paths the sampler returns on one batch, accumulating
their gradients (1 path for uniform/dropout, 5 for FairNAS). Samplers come from the
registry of :mod:`supernet.samplers` (``sampler`` names one, ``sampler_options`` sets its
registered parameters); strategies that do more than sample paths (HOPNAS pruning, PGNAS
keep logits) act through the sampler's hooks (``forward``, ``regularizer``, ``step``,
``end_epoch``), and what they learned is saved as ``strategy.json`` in the run folder.
The history counts ``compute_images``: images x the forward cost of each path in
single-path units (:meth:`~supernet.samplers.ArchSampler.path_cost`), for comparing
strategies at equal compute; ``eval_images`` (HOPNAS's pruning rounds) counts the
forward-only single-path images a strategy scored to decide something.

A run directory holds ``config.json``, ``checkpoint.pt`` (written atomically after
every epoch: model, optimizer, scheduler, sampler and RNG states) and
``history.jsonl`` (one line per epoch). ``resume=True`` continues from the last
completed epoch and gives the same weights as an uninterrupted run: the data order
and augmentation of an epoch depend only on ``(seed, epoch)`` and the sampler's
stream is restored from its saved state.

Data parallel: launched by ``torchrun``, every rank trains the same architectures
(identically seeded samplers) on its slice of each global batch and gradients are
averaged (see :mod:`supernet.distributed`). BatchNorm statistics are per device, as
in DDP without SyncBN; a single process reproduces a W-process run exactly with
``micro_batches=W``.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from predictor.errors import NasgcnError
from predictor.io import atomic_path, write_json_atomic, write_text_atomic
from predictor.spaces import get_space

from . import distributed as D
from .data import DataSplits, Normalizer, RunOptions, augment_batch, epoch_batches, load_data_from, num_batches
from .models.registry import build_supernet, supernet_from_config, supernet_option_names
from .samplers import ArchSampler, check_sampler, make_sampler, sampler_params

CHECKPOINT = "checkpoint.pt"
STRATEGY = "strategy.json"
CONFIG = "config.json"
HISTORY = "history.jsonl"
FORMAT = "nasgcn-supernet/1"


@dataclass
class TrainConfig(RunOptions):
    """Everything a supernet run depends on (saved as ``config.json``); data fields come first."""

    # model
    space: str = "nb201"  # search space (predictor.spaces); the supernet comes from its registry entry
    channels: int = 16  # NB201: cell channels of the first stage
    cells: int = 5  # NB201: cells per stage
    width: float = 1.0  # chain spaces: channel multiplier (1 = the space's exact network)
    affine: bool = False
    track_running_stats: bool = False
    channels_last: bool | None = None  # NHWC weights/activations; None = on for CPU (faster oneDNN convs)
    # sampling
    sampler: str = "uniform"  # a registered sampler (supernet.samplers.sampler_names())
    max_drop: float = 0.5  # final drop rate, for samplers that take it (dropout, hopnas)
    sampler_options: dict[str, Any] = field(default_factory=dict)  # the sampler's registered parameters
    fixed: dict[str, Any] = field(default_factory=dict)
    # optimisation (NB201 supernet defaults)
    epochs: int = 250
    batch_size: int = 64
    lr: float = 0.025
    min_lr: float = 0.001
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    grad_clip: float | None = 5.0
    micro_batches: int = 1
    limit_train_batches: int | None = None
    seed: int = 0
    # runtime (not part of the result)
    device: str = "cpu"
    progress: bool = True
    threads: int | None = None

    RUNTIME = ("device", "progress", "threads")

    def validate(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.micro_batches < 1:
            raise NasgcnError("epochs, batch size and micro batches must be positive")
        if self.batch_size % self.micro_batches:
            raise NasgcnError(f"batch size {self.batch_size} is not divisible by micro_batches {self.micro_batches}")
        if self.lr <= 0:
            raise NasgcnError(f"learning rate must be positive, got {self.lr}")
        if not self.width > 0:
            raise NasgcnError(f"width must be positive, got {self.width}")
        get_space(self.space)  # unknown space: a clear error listing the known ones
        check_sampler(self.sampler, self.sampler_options, "sampler_options")

    def sampler_kwargs(self) -> dict[str, Any]:
        """Options for the sampler: ``max_drop`` where it takes one, then ``sampler_options``."""
        params = sampler_params(self.sampler)
        return {**({"max_drop": self.max_drop} if "max_drop" in params else {}), **self.sampler_options}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_MODEL_DEFAULTS = {"channels": 16, "cells": 5, "width": 1.0}


def make_model(cfg: TrainConfig, data: DataSplits) -> torch.nn.Module:
    """The supernet of ``cfg.space`` for ``data``; a model option that space does not take must stay default."""
    wanted = {
        "channels": cfg.channels,
        "cells": cfg.cells,
        "width": cfg.width,
        "num_classes": data.num_classes,
        "in_channels": data.in_channels,
        "affine": cfg.affine,
        "track_running_stats": cfg.track_running_stats,
    }
    names = supernet_option_names(cfg.space)
    for key, default in _MODEL_DEFAULTS.items():
        if key not in names and wanted[key] != default:
            raise NasgcnError(
                f"option {key}={wanted[key]!r} does not apply to space {cfg.space!r} "
                f"(its supernet takes: {', '.join(sorted(names))})"
            )
    return build_supernet(cfg.space, **{k: v for k, v in wanted.items() if k in names})


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint (``weights_only``: no code is unpickled)."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.exists():
        raise NasgcnError(f"no checkpoint at {path} (train a supernet first: nasgcn supernet train --out DIR)")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # corrupted or foreign file
        raise NasgcnError(f"{path}: not a readable nasgcn checkpoint ({exc})") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise NasgcnError(f"{path}: not a nasgcn supernet checkpoint (format {FORMAT})")
    return ckpt


def checkpoint_space(ckpt: dict[str, Any]) -> str:
    """The search space a checkpoint was trained on (files from before spaces: ``nb201``)."""
    return str(ckpt.get("space") or ckpt.get("config", {}).get("space") or "nb201")


def load_supernet(
    run_dir: str | Path, device: str | torch.device = "cpu", space: str | None = None
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The trained supernet of a run directory (or checkpoint file) and its checkpoint dict.

    The model is rebuilt for the space recorded in the checkpoint; ``space`` (if given) must match it.
    """
    ckpt = load_checkpoint(run_dir)
    recorded = checkpoint_space(ckpt)
    if space is not None:
        get_space(space).check_compatible(recorded, f"supernet checkpoint {run_dir}")
    model = supernet_from_config({"space": recorded, **ckpt["model_config"]})
    model.load_state_dict(ckpt["model"])
    return model.to(device), ckpt


class SupernetTrainer:
    """Train the supernet of ``config.space`` with a sampler; resumable; DDP-aware.

    ``fit()`` returns ``self``; after it, ``model``, ``history_`` and ``checkpoint_id_``.
    """

    def __init__(self, config: TrainConfig, run_dir: str | Path, resume: bool = False) -> None:
        self.config = config
        self.run_dir = Path(run_dir)
        self.resume = resume

    # -- setup ---------------------------------------------------------------------------
    def _prepare(self) -> None:
        cfg = self.config
        ckpt_path = self.run_dir / CHECKPOINT
        self._ckpt: dict[str, Any] | None = None
        if ckpt_path.exists():
            if not self.resume:
                raise NasgcnError(
                    f"{self.run_dir} already holds a run; pass --resume to continue it or pick a new --out"
                )
            self._ckpt = load_checkpoint(ckpt_path)
            saved = TrainConfig.from_dict(self._ckpt["config"], str(ckpt_path))
            get_space(cfg.space).check_compatible(saved.space, f"the run in {self.run_dir} (resume)")
            for name in TrainConfig.RUNTIME:  # runtime options come from the caller
                setattr(saved, name, getattr(cfg, name))
            cfg = self.config = saved
        cfg.validate()
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.dist, self.device = D.setup(cfg.device)
        if cfg.batch_size % (self.dist.world_size * cfg.micro_batches):
            raise NasgcnError(
                f"batch size {cfg.batch_size} must be divisible by world size × micro batches "
                f"({self.dist.world_size} × {cfg.micro_batches})"
            )
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        torch.manual_seed(cfg.seed)
        self.data = load_data_from(cfg)
        if len(self.data.train) < cfg.batch_size:
            raise NasgcnError(f"batch size {cfg.batch_size} exceeds the {len(self.data.train)} training images")
        self.normalize = Normalizer(self.data.mean, self.data.std)
        self.model = make_model(cfg, self.data).to(self.device)
        if cfg.channels_last or (cfg.channels_last is None and self.device.type == "cpu"):
            self.model.use_channels_last()
        self.params = list(self.model.parameters())
        self.optimizer = torch.optim.SGD(
            self.params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov, weight_decay=cfg.weight_decay
        )
        self.steps_per_epoch = num_batches(len(self.data.train), cfg.batch_size)
        if cfg.limit_train_batches:
            self.steps_per_epoch = min(self.steps_per_epoch, cfg.limit_train_batches)
        self.total_steps = cfg.epochs * self.steps_per_epoch
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.optimizer, T_max=max(1, self.total_steps), eta_min=cfg.min_lr
        )
        fixed = {int(k): v for k, v in cfg.fixed.items()}
        self.sampler: ArchSampler = make_sampler(
            cfg.sampler, cfg.seed, fixed or None, space=cfg.space, **cfg.sampler_kwargs()
        )
        self.sampler.setup(self)
        self.epoch, self.step = 0, 0
        self.history_: list[dict[str, Any]] = []
        if self._ckpt is not None:
            self._restore(self._ckpt)
        elif self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            write_json_atomic(self.run_dir / CONFIG, {"format": FORMAT, **cfg.to_dict(), "data": self.data.info})

    def _restore(self, ckpt: dict[str, Any]) -> None:
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.sampler.load_state_dict(ckpt["sampler"])
        torch.set_rng_state(ckpt["torch_rng"])
        self.epoch, self.step = int(ckpt["epoch"]), int(ckpt["step"])
        self.history_ = [json.loads(line) for line in ckpt["history"]]

    def _save(self) -> None:
        if not self.dist.is_main:
            return
        cfg = self.config
        self.checkpoint_id_ = f"{self.run_dir.name}@epoch{self.epoch}"
        state = {
            "format": FORMAT,
            "checkpoint_id": self.checkpoint_id_,
            "space": cfg.space,
            "model": self.model.state_dict(),
            "model_config": self.model.config(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "sampler": self.sampler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "epoch": self.epoch,
            "step": self.step,
            "config": cfg.to_dict(),
            "data": {
                **self.data.info,
                "mean": list(self.data.mean),
                "std": list(self.data.std),
                "num_classes": self.data.num_classes,
                "augment": self.data.augment,
            },
            "history": [json.dumps(h, sort_keys=True) for h in self.history_],
        }
        with atomic_path(self.run_dir / CHECKPOINT) as tmp:
            torch.save(state, tmp)
        summary = self.sampler.summary()
        if summary:
            write_json_atomic(self.run_dir / STRATEGY, {"checkpoint_id": self.checkpoint_id_, **summary})
        write_text_atomic(self.run_dir / HISTORY, "".join(json.dumps(h, sort_keys=True) + "\n" for h in self.history_))

    # -- training ------------------------------------------------------------------------
    def _local_slice(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w, r = self.dist.world_size, self.dist.rank
        n = x.shape[0] // w
        return x[r * n : (r + 1) * n], y[r * n : (r + 1) * n]

    def _train_step(self, x: torch.Tensor, y: torch.Tensor, totals: torch.Tensor) -> int:
        """One optimizer step; adds (summed loss, correct) over paths and local images to ``totals``.

        The sums stay on the device (no host sync per step, which stalls a GPU); returns the image count.
        """
        cfg = self.config
        sampler = self.sampler
        group = sampler.next_group(self.step, self.total_steps)
        self.optimizer.zero_grad(set_to_none=True)
        sampler.zero_grad()
        xs, ys = x.chunk(cfg.micro_batches), y.chunk(cfg.micro_batches)
        seen = 0
        for arch in group:
            cost = sampler.path_cost(arch)
            for xc, yc in zip(xs, ys, strict=True):
                logits = sampler.forward(self.model, xc, arch)
                loss = F.cross_entropy(logits, yc)
                (loss / cfg.micro_batches).backward()
                totals[0] += loss.detach().double() * yc.shape[0]
                totals[1] += (logits.detach().argmax(1) == yc).sum()
                seen += yc.shape[0]
                self._compute += cost * yc.shape[0]
        reg = sampler.regularizer()
        if reg is not None:
            reg.backward()
        D.average_gradients(self.params + list(sampler.parameters()), self.dist.world_size)
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.params, cfg.grad_clip)
        self.optimizer.step()
        sampler.step()
        self.scheduler.step()
        self.step += 1
        return seen

    def _train_epoch(self) -> dict[str, Any]:
        cfg = self.config
        self.model.train()
        aug_gen = torch.Generator().manual_seed(cfg.seed * 7_919 + self.epoch + 1)
        batches = epoch_batches(self.data.train, cfg.batch_size, cfg.seed, self.epoch)
        bar = None
        if cfg.progress and self.dist.is_main:
            from predictor.progress import progress_bar

            bar = progress_bar(total=self.steps_per_epoch, desc=f"epoch {self.epoch + 1}/{cfg.epochs}", leave=False)
        totals = torch.zeros(2, dtype=torch.float64, device=self.device)  # summed loss, correct
        seen = 0
        self._compute = 0.0  # images x path cost (single-path units)
        start = time.perf_counter()
        nonblocking = self.device.type == "cuda"
        for i, (xb, yb) in enumerate(batches):
            if i >= self.steps_per_epoch:
                break
            if self.data.augment:
                xb = augment_batch(xb, aug_gen, flip=True)
            xb, yb = self._local_slice(xb, yb)
            if nonblocking:
                xb, yb = xb.pin_memory(), yb.pin_memory()
            x = self.normalize(xb.to(self.device, non_blocking=nonblocking))
            y = yb.to(self.device, non_blocking=nonblocking)
            seen += self._train_step(x, y, totals)
            if bar is not None:
                if i % 10 == 0 or i + 1 == self.steps_per_epoch:  # reading the sums syncs the device
                    loss_sum, correct = totals.tolist()
                    rate = seen * self.dist.world_size / max(time.perf_counter() - start, 1e-9)
                    bar.set_postfix(
                        loss=f"{loss_sum / seen:.3f}", acc=f"{100 * correct / seen:.1f}", img_s=f"{rate:.0f}"
                    )
                bar.update(1)
        if bar is not None:
            bar.close()
        loss_sum, correct = totals.tolist()
        elapsed = time.perf_counter() - start
        loss_sum, correct, seen, compute = D.all_sum(
            [loss_sum, correct, float(seen), self._compute], self.device, self.dist
        )
        return {
            "epoch": self.epoch + 1,
            "step": self.step,
            "train_loss": loss_sum / max(seen, 1),
            "train_acc": 100.0 * correct / max(seen, 1),
            "lr": self.scheduler.get_last_lr()[0],
            "seconds": elapsed,
            "images_per_s": seen / max(elapsed, 1e-9),
            "compute_images": compute,
            "forward_cost": compute / max(seen, 1),
        }

    def fit(self, max_epochs: int | None = None) -> SupernetTrainer:
        """Train until ``epochs`` are done (resuming if a checkpoint exists and ``resume``).

        ``max_epochs`` stops after that many epochs in this call (time-sliced jobs; a later
        ``resume`` continues exactly as if the run had not stopped). The run folder is locked
        meanwhile (:mod:`supernet.runlock`; rank 0 only): a second trainer into it stops at once.
        """
        from .runlock import RunLock

        with RunLock(self.run_dir, "supernet train", enabled=os.environ.get("RANK", "0") == "0"):
            return self._fit(max_epochs)

    def _fit(self, max_epochs: int | None) -> SupernetTrainer:
        self._prepare()
        cfg = self.config
        self.checkpoint_id_ = f"{self.run_dir.name}@epoch{self.epoch}"
        stop = cfg.epochs if max_epochs is None else min(cfg.epochs, self.epoch + max_epochs)
        while self.epoch < stop:
            record = self._train_epoch()
            if not all(math.isfinite(record[k]) for k in ("train_loss",)):
                raise NasgcnError(
                    f"training diverged at epoch {self.epoch + 1} (loss {record['train_loss']}); lower --lr"
                )
            spent = getattr(self.sampler, "eval_images", 0)
            for line in self.sampler.end_epoch(self):  # e.g. HOPNAS pruning (before the checkpoint)
                record.setdefault("events", []).append(line)
                if cfg.progress and self.dist.is_main:
                    print(line, flush=True)
            if getattr(self.sampler, "eval_images", 0) != spent:  # forward-only single-path images it scored
                record["eval_images"] = int(self.sampler.eval_images - spent)
            self.history_.append(record)
            self.epoch += 1
            self._save()
            if cfg.progress and self.dist.is_main:
                print(
                    f"epoch {record['epoch']}/{cfg.epochs}: loss {record['train_loss']:.4f} "
                    f"acc {record['train_acc']:.2f}% lr {record['lr']:.5f} {record['images_per_s']:.0f} img/s",
                    flush=True,
                )
        D.barrier(self.dist)
        return self


def train_supernet(config: TrainConfig, run_dir: str | Path, resume: bool = False) -> SupernetTrainer:
    """Convenience wrapper: ``SupernetTrainer(config, run_dir, resume).fit()``."""
    return SupernetTrainer(config, run_dir, resume).fit()


def train_supernet_parallel(
    config: TrainConfig, run_dir: str | Path, world_size: int, resume: bool = False
) -> list[dict[str, Any]]:
    """Train with ``world_size`` local data-parallel processes (gloo on CPU); returns the history.

    On a CPU, small supernets scale better over processes of one thread than over threads.
    ``world_size <= 1`` trains in this process.
    """
    if world_size <= 1:
        return train_supernet(config, run_dir, resume).history_
    D.spawn_local(world_size, train_supernet, config, str(run_dir), resume)
    return [json.loads(line) for line in (Path(run_dir) / HISTORY).read_text().splitlines()]


def flat_weights(model: torch.nn.Module) -> np.ndarray:
    """All parameters as one float64 vector (for comparing runs)."""
    return torch.cat([p.detach().double().reshape(-1).cpu() for p in model.parameters()]).numpy()
