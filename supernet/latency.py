"""Measure the latency of real stand-alone networks of any search space on this machine.

Protocol (stored next to the numbers, in ``<out>.meta.json``): the network is built
with the space's registered network (:func:`supernet.models.build_network`: NB201's
``NB201Network``, a chain space's ``ChainNetwork``), put in eval mode, run under
``torch.no_grad()`` on a random input of shape ``(batch, in_channels, H, W)``;
``warmup`` untimed runs, then ``repeats`` timed runs (``time.perf_counter``, with
``torch.cuda.synchronize`` before and after each run on CUDA). We report the
**median** in milliseconds per batch and the **IQR** (75th - 25th percentile) as the
spread. ``torch.set_num_threads(threads)`` fixes CPU parallelism when given.

One measurement per isomorphism class: the class representative (its smallest-index
member) is timed and the value is written for every member (column ``iso_rep`` names
the measured architecture), or for the representative only with
``representatives_only=True``. Note that isomorphic cells can differ slightly in real
compute (the stand-alone network also runs ops whose result is cut off), so this is
a deliberate approximation that divides the measuring time by 2.4 on NB201. Spaces too
large to enumerate (fbnet) are measured on ``sample`` seeded random architectures, each
timed as itself (``iso_rep`` is its canonical form).

Resumable output: rows are appended to the CSV and flushed as each class finishes.
On restart, classes already complete in the file are skipped, a truncated last line
(from a kill mid-write) is dropped, and a file written with other settings is refused.
"""

from __future__ import annotations

import csv
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from predictor.errors import NasgcnError
from predictor.io import write_json_atomic
from predictor.spaces import get_space


@dataclass(frozen=True)
class MeasureConfig:
    """What is timed and how; every field goes into the output's metadata."""

    name: str = "cpu"
    device: str = "cpu"
    batch: int = 1
    threads: int | None = None
    warmup: int = 5
    repeats: int = 20
    channels: int = 16  # NB201 only
    cells: int = 5  # NB201 only
    num_classes: int = 10
    input_size: int = 32
    in_channels: int = 3
    space: str = "nb201"
    width: float = 1.0  # chain spaces only

    def __post_init__(self) -> None:
        get_space(self.space)  # unknown space: a clear error
        if not self.width > 0:
            raise NasgcnError(f"width must be positive, got {self.width}")
        for f in ("batch", "warmup", "repeats", "channels", "cells", "num_classes", "input_size", "in_channels"):
            v = getattr(self, f)
            if not isinstance(v, int) or v < (0 if f == "warmup" else 1):
                raise NasgcnError(f"latency option {f} must be a positive integer, got {v!r}")
        if self.threads is not None and self.threads < 1:
            raise NasgcnError(f"threads must be >= 1, got {self.threads}")
        if not self.name.replace("_", "").isalnum():
            raise NasgcnError(f"target name {self.name!r} must be letters, digits and '_' (it names a column)")
        if self.input_size % 4:
            raise NasgcnError(f"input size {self.input_size} must be divisible by 4 (stride-2 reductions)")

    @property
    def column(self) -> str:
        return f"{self.name}_latency"

    def header(self) -> list[str]:
        return ["arch_str", self.column, f"{self.column}_iqr", "iso_rep", "batch", "threads", "device", "repeats"]


def resolve_device(device: str) -> torch.device:
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise NasgcnError(f"device {device!r} requested but CUDA is not available; use --device cpu")
    return dev


def time_model(
    model: nn.Module, x: torch.Tensor, warmup: int = 5, repeats: int = 20
) -> tuple[float, float, np.ndarray]:
    """Median and IQR (ms) of ``repeats`` forward passes after ``warmup`` untimed ones."""
    cuda = x.device.type == "cuda"
    model.eval()
    times = np.empty(repeats)
    with torch.no_grad():
        for _ in range(warmup):
            model(x)
        for i in range(repeats):
            if cuda:
                torch.cuda.synchronize(x.device)
            t0 = time.perf_counter()
            model(x)
            if cuda:
                torch.cuda.synchronize(x.device)
            times[i] = (time.perf_counter() - t0) * 1e3
    q25, q50, q75 = np.percentile(times, [25, 50, 75])
    return float(q50), float(q75 - q25), times


def default_builder(cfg: MeasureConfig) -> Callable[[str], nn.Module]:
    """The space's stand-alone network with the options of ``cfg`` that it takes."""
    from supernet.models.registry import build_network, network_option_names

    wanted = {
        "channels": cfg.channels,
        "cells": cfg.cells,
        "width": cfg.width,
        "num_classes": cfg.num_classes,
        "in_channels": cfg.in_channels,
    }
    names = network_option_names(cfg.space)
    options = {k: v for k, v in wanted.items() if k in names}

    def build(arch: str) -> nn.Module:
        return build_network(cfg.space, arch, **options)

    return build


def _existing_rows(path: Path, header: list[str]) -> set[str]:
    """Arch strings already in ``path``; drops a truncated last line; refuses other settings."""
    from predictor.readers import CsvRows, TextFile

    if not path.exists() or path.stat().st_size == 0:
        return set()
    kinds = "a latency table (CSV)"
    TextFile(path, kinds)  # the package's one reader: a binary file is refused before anything is cut
    raw = path.read_bytes()
    if not raw.endswith(b"\n"):  # killed mid-line: cut back to the last complete line
        cut = raw.rfind(b"\n") + 1
        with open(path, "r+b") as fh:
            fh.truncate(cut)
        raw = raw[:cut]
    if not raw.strip():
        return set()
    rows = CsvRows(path, kinds=kinds)  # BOM, bad bytes, junk: file:line errors like every other table
    found = rows.header
    if found != header:
        raise NasgcnError(
            f"{path}: existing file has columns {found}, expected {header}; "
            "resume with the same --name, or write to a new --out"
        )
    done = set()
    for _line, row in rows:
        if len(row) == len(header):
            done.add(row[0])
    return done


def _check_meta(path: Path, meta: dict[str, Any]) -> None:
    """Refuse to resume a file measured with different settings."""
    import json

    if not path.exists():
        return
    old = json.loads(path.read_text(encoding="utf-8")).get("config", {})
    new = meta["config"]
    diff = sorted(k for k in new if k in old and old[k] != new[k])
    if diff:
        raise NasgcnError(
            f"{path}: the file was measured with other settings ({', '.join(f'{k}={old[k]!r}' for k in diff)}); "
            "use the same options to resume or write to a new --out"
        )


def plan_classes(sample: int | None, seed: int = 0, space: str = "nb201") -> np.ndarray:
    """Isomorphism classes to measure, in a fixed (seeded) order so reruns resume the same plan."""
    space = get_space(space)
    space.require_enumerable("measuring by isomorphism class")
    n_cls = space.num_unique
    order = np.random.default_rng(seed).permutation(n_cls)
    if sample is None:
        return order
    if not 1 <= sample <= n_cls:
        raise NasgcnError(f"--sample must be in 1..{n_cls} (isomorphism classes), got {sample}")
    return order[:sample]


def _plan(
    space: Any, sample: int | None, seed: int, representatives_only: bool, classes: Sequence[int] | None
) -> list[tuple[str, list[str]]]:
    """(architecture to time, rows to write) in a fixed seeded order, so reruns resume the same plan."""
    if not space.enumerable:
        if classes is not None:
            raise NasgcnError(f"space {space.name!r} has no enumerated isomorphism classes to pick from")
        if sample is None:
            space.require_enumerable("latency measure --all; use --sample N")
        ids = space.sample(int(sample), np.random.default_rng(seed), unique=True)
        reps = space.decode(space.canonical_ids(ids))
        # a sampled architecture is timed as its canonical form and written under its own string
        return [(rep, [arch]) for rep, arch in zip(reps, space.decode(ids), strict=True)]
    all_ids = space.all_ids()
    iso_all = space.iso_class(all_ids)
    reps = space.unique_ids()
    plan = np.asarray(classes if classes is not None else plan_classes(sample, seed, space.name), dtype=np.int64)
    out = []
    for cls in plan.tolist():
        rep = space.format(reps[cls])
        out.append((rep, [rep] if representatives_only else space.decode(all_ids[iso_all == cls])))
    return out


def measure_space(
    out: str | os.PathLike,
    cfg: MeasureConfig | None = None,
    sample: int | None = 100,
    seed: int = 0,
    representatives_only: bool = False,
    progress: bool = True,
    builder: Callable[[str], nn.Module] | None = None,
    classes: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Measure ``sample`` random isomorphism classes (all when None), appending to ``out``.

    Returns a summary: classes measured now, skipped (already done), rows in the
    file, the median latency and the median relative IQR of this run.
    """
    from predictor.progress import progress_bar

    cfg = cfg or MeasureConfig()
    path = Path(out)
    dev = resolve_device(cfg.device)
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    threads = torch.get_num_threads() if dev.type == "cpu" else 0
    space = get_space(cfg.space)
    jobs = _plan(space, sample, seed, representatives_only, classes)
    header = cfg.header()
    meta = {
        "units": {cfg.column: "ms", f"{cfg.column}_iqr": "ms"},
        "device": cfg.device,
        "device_name": torch.cuda.get_device_name(dev)
        if dev.type == "cuda"
        else platform.processor() or platform.machine(),
        "batch": cfg.batch,
        "threads": threads,
        "precision": "float32",
        "normalization": "none: milliseconds per batch of the given size",
        "statistic": f"median of {cfg.repeats} runs after {cfg.warmup} warm-up runs; _iqr = 75th - 25th percentile",
        "iso": "one measurement per isomorphism class (its representative, column iso_rep), written for "
        + ("the representative only" if representatives_only else "every member"),
        "source": "nasgcn latency measure",
        "torch": torch.__version__,
        "space": space.name,
        "config": {**asdict(cfg), "threads": threads, "representatives_only": representatives_only},
    }
    meta_file = Path(str(path) + ".meta.json")
    _check_meta(meta_file, meta)
    done = _existing_rows(path, header)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(meta_file, meta)
    build = builder or default_builder(cfg)
    x = torch.randn(cfg.batch, cfg.in_channels, cfg.input_size, cfg.input_size, device=dev)
    new_file = not path.exists() or path.stat().st_size == 0
    measured, skipped, lat, rel = 0, 0, [], []
    with open(path, "a", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")  # like every table the package writes
        if new_file:
            writer.writerow(header)
            fh.flush()
        for rep, members in progress_bar(jobs, enabled=progress, desc=f"latency {cfg.column}", unit="arch"):
            todo = [m for m in members if m not in done]
            if not todo:
                skipped += 1
                continue
            model = build(rep).to(dev)
            med, iqr, _ = time_model(model, x, cfg.warmup, cfg.repeats)
            del model
            rows = [[m, repr(med), repr(iqr), rep, cfg.batch, threads, cfg.device, cfg.repeats] for m in todo]
            writer.writerows(rows)
            fh.flush()
            os.fsync(fh.fileno())
            done.update(todo)
            measured += 1
            lat.append(med)
            rel.append(iqr / med if med > 0 else 0.0)
    return {
        "measured": measured,
        "skipped": skipped,
        "rows": len(done),
        "median_ms": float(np.median(lat)) if lat else float("nan"),
        "median_rel_iqr": float(np.median(rel)) if rel else float("nan"),
    }
