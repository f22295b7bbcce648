"""Evaluate many architectures with weights inherited from a trained supernet.

Protocol (recorded in the log's ``.meta.json`` sidecar and printed by the CLI): the
images are the first ``max_images`` of the run's seeded **validation split of the
training data** (never the test set), in fixed batches of ``batch_size``, identical
for every architecture; BatchNorm uses batch statistics (the supernet default) or,
for supernets that track running statistics, is recalibrated per architecture on
``recalibrate_batches`` training batches. The stem's output does not depend on the
architecture and is computed once per batch.

The log is a CSV with ``arch_str, supernet_acc, supernet_loss, checkpoint, images,
epoch, dataset, split, source, supernet`` (accuracy in %), readable by
:func:`predictor.logs.read_log` and ``nasgcn fit``. ``supernet`` names what scored the row: the
run's folder name, or for a split folder (:mod:`supernet.fewshot`) the member that holds the
architecture (routing by ``split.json``; ``checkpoint`` and ``epoch`` are then that member's).

Sharded evaluation (``sharded=True``; the CLI under ``torchrun``): rank ``r`` of ``W`` scores the
``r``-th contiguous slice of the architectures and keeps its rows in
``<out>.shards/shard-r-of-W.csv``, rewritten after every chunk; a restarted run keeps the rows a
shard already holds (same architectures, same checkpoints) and scores only the rest. Rank 0
gathers the rows (over the process group, so machines need no shared disk) and writes the log:
the same rows, order and values as a single process (each architecture's score depends only on
the architecture, the weights and the fixed validation batches).
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
from predictor.io import atomic_path, atomic_with_sidecar
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
    "supernet",
)


@dataclass
class EvalResult:
    """Per-architecture results (accuracy in %) plus the protocol that produced them."""

    ids: np.ndarray
    acc: np.ndarray
    loss: np.ndarray
    protocol: dict[str, Any]
    space: str = "nb201"
    supernet: list[str] | None = None  # what scored each row (run name or split member)

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
    allowed: np.ndarray | None = None,
) -> np.ndarray:
    """Op ids to evaluate: ``sample`` (n distinct, seeded), ``list`` (a file), ``unique`` or ``all``.

    ``fixed`` (slot -> op id, a few-shot sub-supernet's sub-space) restricts the choice
    to that sub-space; listed architectures outside it are an error. ``allowed`` (a
    ``(slots, ops)`` mask, e.g. the ops a HOPNAS run kept) restricts every slot to its allowed
    ops in the same way. ``unique`` and ``all`` need an enumerable space; ``sample`` works on
    any (large spaces are sampled, not listed).
    """
    space = get_space(space)
    fixed = {int(k): int(v) for k, v in (fixed or {}).items()}
    mask = None if allowed is None else np.asarray(allowed, dtype=bool)
    if mask is not None and (mask.shape != (space.num_slots, len(space.ops)) or not mask.any(1).all()):
        raise NasgcnError(f"allowed ops must be a (slots, ops) mask with an op in every slot, got shape {mask.shape}")

    def inside(ids: np.ndarray) -> np.ndarray:
        ok = np.ones(len(ids), dtype=bool)
        for slot, op in fixed.items():
            ok &= ids[:, slot] == op
        if mask is not None:
            ok &= mask[np.arange(ids.shape[1]), ids].all(1)
        return ok

    restricted = bool(fixed) or mask is not None

    if how == "list":
        ids = read_arch_list(archs_file, space)
        bad = np.flatnonzero(~inside(ids))
        if len(bad):
            what = f"fixed slots {fixed}" if fixed else "the ops the run kept"
            raise NasgcnError(
                f"{archs_file}: {len(bad)} architecture(s) lie outside the supernet's sub-space "
                f"({what}), e.g. {space.format(ids[bad[0]])}"
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
        if not restricted:
            if n > space.size:
                raise NasgcnError(f"cannot sample {n} distinct architectures from {space.size}")
            return space.sample(n, np.random.default_rng(seed), unique=True)
        if not space.enumerable:  # fix the slots of a sample; drop repeats until n distinct
            rng, rows, seen = np.random.default_rng(seed), [], set()
            for _ in range(100):
                draw = space.sample(2 * n, rng)
                if mask is not None:  # a disallowed op is redrawn among the slot's allowed ones
                    for slot in range(draw.shape[1]):
                        ok = np.flatnonzero(mask[slot])
                        bad = ~mask[slot, draw[:, slot]]
                        draw[bad, slot] = rng.choice(ok, int(bad.sum()))
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
    return ids[inside(ids)] if restricted else ids


def read_arch_list(path: str | Path | None, space: str | SearchSpace = "nb201") -> np.ndarray:
    """Architectures of ``space`` from a text file (one string per line) or a CSV with an ``arch_str`` column."""
    if path is None:
        raise NasgcnError("--archs needs a file")
    path = Path(path)
    if not path.exists():
        raise NasgcnError(f"architecture list {path} does not exist")
    from predictor.readers import read_arch_list as _read  # the package's one reader (BOM, binary, junk)

    return _read(path, get_space(space))[0]


def _log_rows(result: EvalResult, meta: dict[str, Any]) -> list[list[str]]:
    """The CSV rows of :data:`LOG_COLUMNS` (after ``arch_str`` and the metrics, a ``meta`` value is either
    one for every row or a list with one per row)."""
    n = len(result.ids)
    cols = []
    for k in LOG_COLUMNS[3:]:
        v = result.supernet if k == "supernet" and result.supernet is not None else meta.get(k, "")
        cols.append([str(x) for x in v] if isinstance(v, (list, tuple, np.ndarray)) else [str(v)] * n)
    return [
        [s, f"{a:.4f}", f"{lo:.6f}", *(c[i] for c in cols)]
        for i, (s, a, lo) in enumerate(zip(result.arch_str, result.acc, result.loss, strict=True))
    ]


def _write_rows(path: str | Path, rows: list[list[str]], sidecar: dict[str, Any] | None = None) -> None:
    """The log CSV; with ``sidecar``, its ``.meta.json`` too (written first, recording the CSV's hash)."""
    with atomic_with_sidecar(path, sidecar) if sidecar is not None else atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(LOG_COLUMNS)
            w.writerows(rows)


def _log_meta(result_space: str, protocol: dict[str, Any]) -> dict[str, Any]:
    return {"columns": {"supernet_acc": "top-1 %", "supernet_loss": "mean CE"}, "space": result_space, **protocol}


def write_eval_log(path: str | Path, result: EvalResult, meta: dict[str, Any]) -> None:
    """Atomic CSV with :data:`LOG_COLUMNS` plus a ``<path>.meta.json`` with the protocol.

    NaN/inf or out-of-range accuracies and losses (a diverged supernet) are refused before writing:
    :func:`predictor.logs.read_log` would refuse the file.
    """
    from predictor.readers import check_writable

    check_writable("supernet_acc", np.asarray(result.acc, dtype=np.float64), False, path)
    check_writable("supernet_loss", np.asarray(result.loss, dtype=np.float64), False, path)
    _write_rows(path, _log_rows(result, meta), _log_meta(result.space, result.protocol))


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


class _Scorer:
    """What scores architectures: one run, or the members of a split folder (routing by its manifest).

    Members load on first use and stay loaded (a shard touches each member once per chunk).
    """

    def __init__(self, path: str | Path, device: str, data_root: str | None, max_images: int | None) -> None:
        from .fewshot import Split, is_split

        self.path, self.device, self.data_root, self.max_images = Path(path), device, data_root, max_images
        self.split = Split.load(path) if is_split(path) else None
        if self.split is not None:
            self.dirs = [self.split.member_dir(k) for k in range(len(self.split.members))]
            self.names = [m["dir"] for m in self.split.members]
        else:
            run = self.path.parent if self.path.is_file() else self.path
            self.dirs, self.names = [self.path], [run.resolve().name]
        self._runs: dict[int, dict[str, Any]] = {}

    def run(self, k: int) -> dict[str, Any]:
        if k not in self._runs:
            self._runs[k] = _load_for_eval(self.dirs[k], self.device, self.data_root, self.max_images)
        return self._runs[k]

    def route(self, ids: np.ndarray) -> np.ndarray:
        return self.split.route(ids) if self.split is not None else np.zeros(len(ids), dtype=np.int64)

    def protocol(self, batch_size: int, n: int) -> dict[str, Any]:
        run = self.run(0)
        ckpt, cfg, val = run["ckpt"], run["cfg"], run["val"]
        protocol = {
            "space": checkpoint_space(ckpt),
            "checkpoint": ckpt["checkpoint_id"],
            "epoch": int(ckpt["epoch"]),
            "dataset": cfg.dataset,
            "split": f"validation split of the training data (val_fraction={cfg.val_fraction}, seed={cfg.seed})",
            "images": len(val),
            "batch_size": batch_size,
            "bn": "recalibrated running statistics" if run["tracks"] else "batch statistics (no affine in cells)",
            "archs": n,
        }
        if self.split is not None:
            m = self.split.manifest
            protocol["checkpoint"] = "per row (split members)"
            protocol["split_of"] = m["parent"]["checkpoint"]
            protocol["split_slots"] = m["slot_names"]
            protocol["supernets"] = len(self.names)
            protocol["share_prefix"] = m["share_prefix"]
        elif cfg.fixed:
            protocol["subspace"] = {str(k): v for k, v in cfg.fixed.items()}
        return protocol

    def meta(self, owner: np.ndarray) -> dict[str, Any]:
        """Per-row log metadata for rows scored by members ``owner``."""
        ckpts = {k: self.run(k)["ckpt"] for k in np.unique(owner).tolist()}
        first = self.run(0)
        return {
            "checkpoint": [ckpts[k]["checkpoint_id"] for k in owner.tolist()],
            "epoch": [int(ckpts[k]["epoch"]) for k in owner.tolist()],
            "images": len(first["val"]),
            "dataset": first["cfg"].dataset,
            "split": "val",
            "source": "supernet",
        }

    def score(
        self, ids: np.ndarray, options: dict[str, Any], progress: bool, jobs: int = 1
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Accuracy, loss and owning member of every row of ``ids`` (each member scores its rows)."""
        owner = self.route(ids)
        acc, loss = np.empty(len(ids)), np.empty(len(ids))
        for k in np.unique(owner).tolist():
            rows = np.flatnonzero(owner == k)
            if jobs > 1 and len(rows) > 1:
                a, lo = _evaluate_parallel(
                    self.dirs[k], ids[rows], jobs, self.data_root, self.max_images, options, progress
                )
            else:
                run = self.run(k)
                a, lo = evaluate_archs(
                    run["model"], ids[rows], run["val"], run["normalize"], device=self.device,
                    recalibrate=run["recalibrate"], progress=progress, **options,
                )  # fmt: skip
            acc[rows], loss[rows] = a, lo
        return acc, loss, owner


def shard_slices(n: int, world_size: int) -> list[slice]:
    """Contiguous, near-equal slices of ``n`` rows, one per rank (the first ``n % W`` one row longer)."""
    bounds = np.cumsum([0] + [len(a) for a in np.array_split(np.arange(n), world_size)])
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def shard_path(out: str | Path, rank: int, world_size: int) -> Path:
    return Path(str(out) + ".shards") / f"shard-{rank:03d}-of-{world_size:03d}.csv"


def _read_shard(path: Path, arch_str: list[str], checkpoints: list[str]) -> list[list[str]]:
    """The rows a shard file already holds, if they are this shard's first architectures as scored by the
    same checkpoints (else none: the shard starts over)."""
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if not rows or tuple(rows[0]) != LOG_COLUMNS:
        return []
    rows = rows[1:]
    ck = LOG_COLUMNS.index("checkpoint")
    if len(rows) > len(arch_str) or any(
        len(r) != len(LOG_COLUMNS) or r[0] != a or r[ck] != c for r, a, c in zip(rows, arch_str, checkpoints)
    ):
        return []
    return rows


def _evaluate_shard(
    scorer: _Scorer,
    ids: np.ndarray,
    space: str,
    path: Path,
    options: dict[str, Any],
    chunk: int,
    progress: bool,
) -> list[list[str]]:
    """Score this rank's ``ids`` into the shard file ``path`` (resuming its finished rows); its rows."""
    names = get_space(space).decode(ids)
    owner = scorer.route(ids)
    meta = scorer.meta(owner)
    rows = _read_shard(path, names, meta["checkpoint"])
    path.parent.mkdir(parents=True, exist_ok=True)
    for start in range(len(rows), len(ids), chunk):
        part = slice(start, min(start + chunk, len(ids)))
        acc, loss, own = scorer.score(ids[part], options, progress=False)
        res = EvalResult(ids[part], acc, loss, {}, space, [scorer.names[k] for k in own.tolist()])
        rows += _log_rows(res, {k: (v[part] if isinstance(v, list) else v) for k, v in meta.items()})
        _write_rows(path, rows)
        if progress:
            print(f"{path.name}: {len(rows)}/{len(ids)} architectures", flush=True)
    if not path.exists():
        _write_rows(path, rows)
    return rows


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
    sharded: bool = False,
    chunk: int = 64,
) -> EvalResult:
    """Evaluate ``ids`` with a run's supernet (or a split folder's members) on its validation split;
    write the log if ``out``.

    ``jobs > 1`` (CPU only) shards the architectures over that many worker processes of one thread
    each: small convolutions scale far better over processes than over a process's threads.
    ``sharded`` (launched by torchrun): every rank scores its slice, resumably, in chunks of ``chunk``
    rows; rank 0 returns (and writes) all rows, the other ranks their own slice.
    """
    ids = np.atleast_2d(np.asarray(ids, dtype=np.int64))
    if jobs > 1 and torch.device(device).type != "cpu":
        raise NasgcnError(f"jobs={jobs} (--jobs) shards the architectures over CPU processes; on {device} use 1")
    if sharded and jobs > 1:
        raise NasgcnError("--jobs > 1 and torchrun sharding do not combine; launch more ranks instead")
    options = {"batch_size": batch_size, "recalibrate_batches": recalibrate_batches}
    if sharded:
        return _evaluate_sharded(run_dir, ids, out, max_images, device, data_root, options, progress, chunk)
    scorer = _Scorer(run_dir, "cpu" if jobs > 1 else device, data_root, max_images)
    protocol = scorer.protocol(batch_size, len(ids))
    space = protocol["space"]
    if progress:
        print("protocol: " + "; ".join(f"{k}={v}" for k, v in protocol.items()), flush=True)
    start = time.perf_counter()
    acc, loss, owner = scorer.score(ids, options, progress, jobs)
    if jobs > 1 and len(ids) > 1:
        protocol["processes"] = int(jobs)
    protocol["seconds"] = time.perf_counter() - start
    result = EvalResult(ids, acc, loss, protocol, space, [scorer.names[k] for k in owner.tolist()])
    if out is not None:
        write_eval_log(out, result, scorer.meta(owner))
    return result


def _evaluate_sharded(
    run_dir: str | Path,
    ids: np.ndarray,
    out: str | Path | None,
    max_images: int | None,
    device: str,
    data_root: str | None,
    options: dict[str, Any],
    progress: bool,
    chunk: int,
) -> EvalResult:
    from . import distributed as D

    if out is None:
        raise NasgcnError("sharded evaluation needs an output log (--out): the shards are kept next to it")
    info, dev = D.setup(device, long_timeout=True)
    scorer = _Scorer(run_dir, str(dev), data_root, max_images)
    protocol = scorer.protocol(options["batch_size"], len(ids))
    space = protocol["space"]
    if progress and info.is_main:
        print("protocol: " + "; ".join(f"{k}={v}" for k, v in protocol.items()), flush=True)
    start = time.perf_counter()
    mine = shard_slices(len(ids), info.world_size)[info.rank]
    rows = _evaluate_shard(
        scorer, ids[mine], space, shard_path(out, info.rank, info.world_size), options, chunk, progress
    )
    every = D.gather_to_main(rows, info)
    protocol["seconds"] = time.perf_counter() - start
    protocol["shards"] = info.world_size
    if info.is_main:
        rows = [r for part in every for r in part]
        _write_rows(out, rows, _log_meta(space, protocol))
    D.barrier(info)
    part = ids if info.is_main else ids[mine]
    return EvalResult(
        part,
        np.array([float(r[1]) for r in rows]),
        np.array([float(r[2]) for r in rows]),
        protocol,
        space,
        [r[LOG_COLUMNS.index("supernet")] for r in rows],
    )
