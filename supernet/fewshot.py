"""Reduced weight sharing: split a trained one-shot supernet into sub-supernets (few-shot NAS).

Why: interference between the child models that share weights is the main source of a
supernet's ranking error, and fewer children per set of weights means less interference
(Zhang et al. 2020, "Deeper Insights into Weight Sharing"; Zhao et al. 2021, few-shot NAS).

A split partitions the space by the ops of one or more slots (an NB201 edge, a chain layer):

* per op (default): one sub-supernet per op of the slot (few-shot NAS: NB201 edge 1<-0, 5 parts);
* ``groups=G``: the op combinations of the split slots (``n_ops ** len(slots)``, in lexicographic
  order) cut into G contiguous groups (Deeper Insights' G groups; e.g. two slots, G=5);
* ``share_prefix=k``: the stem and the first ``k`` modules of the supernet's layer list (NB201:
  cells and reduction blocks in network order; chain spaces: layers) stay the one-shot weights,
  frozen and therefore identical in every sub-supernet; only the rest is duplicated and
  fine-tuned. This is the "share a prefix" variant run from a trained one-shot supernet (the
  paper trains the shared prefix jointly from scratch; here the sub-supernets stay independent runs).

Every sub-supernet is an ordinary run folder (``config.json``, ``checkpoint.pt``,
``history.jsonl``) under the split folder, started from the one-shot weights (the first epoch
loads them; later starts resume from the run's own checkpoint, exactly like ``supernet train
--resume``), plus ``fewshot.json`` (its part of the space). The folder's ``split.json`` lists the
members and the routing: an architecture belongs to the member whose combinations contain its ops
on the split slots. Members train in this process, in ``jobs`` worker processes, or one per
machine (``train_member`` / ``nasgcn supernet split ... --member K``, which also runs under
torchrun for data parallelism).

Fine-tuning defaults to the few-shot NAS recipe: SGD Nesterov 0.9, lr 0.025 cosine to 0.001,
weight decay 1e-4, half the one-shot epochs (600 + 300 in the paper); batch, data and seed (hence
the validation split) are the one-shot run's.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from predictor.errors import NasgcnError
from predictor.io import write_json_atomic
from predictor.spaces import SearchSpace, get_space

from .samplers import SAMPLERS, ArchSampler, sampling_of
from .samplers import Path as SamplerPath
from .train import CHECKPOINT, SupernetTrainer, TrainConfig, checkpoint_space, load_checkpoint

MANIFEST = "split.json"
MEMBER_FILE = "fewshot.json"
FORMAT = "nasgcn-split/1"
RECIPE = {"lr": 0.025, "min_lr": 0.001, "weight_decay": 1e-4, "momentum": 0.9, "nesterov": True}


def parse_slot(space: SearchSpace, text: str | int) -> int:
    """Slot index from an index (``0``), a slot name (``edge 1<-0``) or its short form (``1<-0``)."""
    names = list(space.slot_names) or [f"slot {k}" for k in range(space.num_slots)]
    s = str(text).strip()
    if s.lstrip("-").isdigit():
        k = int(s)
        if 0 <= k < space.num_slots:
            return k
    else:
        for k, name in enumerate(names):
            short = name.split(" (")[0]
            if s in (name, short, short.split(" ", 1)[-1]):
                return k
    listed = ", ".join(f"{k} ({n})" for k, n in enumerate(names))
    raise NasgcnError(f"--slot {text!r}: no such slot in space {space.name!r} (valid: {listed})")


def parse_slots(space: SearchSpace, text: str | int | Sequence[str | int]) -> list[int]:
    """One or more slots (comma-separated text or a list); repeated slots are an error."""
    items = [t for t in str(text).split(",") if t.strip()] if isinstance(text, (str, int)) else list(text)
    if not items:
        raise NasgcnError("--slot needs at least one slot")
    slots = [parse_slot(space, t) for t in items]
    if len(set(slots)) != len(slots):
        raise NasgcnError(f"--slot {text!r} names a slot twice")
    return slots


def partition(space: SearchSpace, slots: Sequence[int], groups: int | None = None) -> list[list[tuple[int, ...]]]:
    """The op combinations of ``slots`` cut into ``groups`` contiguous groups (default: one each)."""
    combos = list(itertools.product(range(len(space.ops)), repeat=len(slots)))
    g = len(combos) if groups is None else int(groups)
    if not 1 <= g <= len(combos):
        raise NasgcnError(
            f"--groups {groups}: must be 1..{len(combos)} (the op combinations of {len(slots)} slot(s) "
            f"of {len(space.ops)} ops)"
        )
    return [[combos[i] for i in part] for part in np.array_split(np.arange(len(combos)), g)]


def member_name(space: SearchSpace, slots: Sequence[int], combos: Sequence[tuple[int, ...]], index: int) -> str:
    """A readable, file-safe name: ``slot0-nor_conv_3x3`` for one combination, else ``group3``."""
    if len(combos) == 1:
        return "_".join(f"slot{s}-{space.ops[o]}" for s, o in zip(slots, combos[0], strict=True))
    return f"group{index}"


class GroupSampler(ArchSampler):
    """Restricts a sampler to op combinations of some slots: each path's split slots are set to a
    combination drawn uniformly from the group (with the wrapped sampler's stream, so its saved
    state restores this one). Masks (path dropout) get that combination one-hot on those slots."""

    name = "group"

    def __init__(self, base: ArchSampler, slots: Sequence[int], combos: Sequence[Sequence[int]]) -> None:
        self.base, self.seed = base, base.seed
        self.space, self.num_slots, self.num_ops = base.space, base.num_slots, base.num_ops
        self.rng = base.rng
        self.slots = [int(s) for s in slots]
        self.combos = np.asarray(combos, dtype=np.int64).reshape(-1, len(self.slots))
        self._zero = set(sampling_of(self.space).zero_ops)

    def _apply(self, path: SamplerPath) -> SamplerPath:
        combo = self.combos[int(self.base.rng.integers(len(self.combos)))] if len(self.combos) > 1 else self.combos[0]
        if isinstance(path, np.ndarray) and path.shape == (self.num_slots, self.num_ops):
            mask = path.copy()
            for slot, op in zip(self.slots, combo, strict=True):
                mask[slot] = False
                mask[slot, op] = int(op) not in self._zero
            return mask
        ids = list(path)
        for slot, op in zip(self.slots, combo, strict=True):
            ids[slot] = int(op)
        return tuple(ids)

    def next_group(self, step: int = 0, total_steps: int = 1) -> list[SamplerPath]:
        return [self._apply(p) for p in self.base.next_group(step, total_steps)]

    # the wrapped strategy's trainer hooks (a relaxed forward, its own parameters, pruning, ...)
    def forward(self, model: Any, x: Any, path: SamplerPath) -> Any:
        return self.base.forward(model, x, path)

    def parameters(self) -> list[Any]:
        return self.base.parameters()

    def regularizer(self) -> Any:
        return self.base.regularizer()

    def zero_grad(self) -> None:
        self.base.zero_grad()

    def step(self) -> None:
        self.base.step()

    def end_epoch(self, trainer: Any) -> list[str]:
        return self.base.end_epoch(trainer)

    def path_cost(self, path: SamplerPath) -> float:
        return self.base.path_cost(path)

    def summary(self) -> dict[str, Any]:
        return self.base.summary()

    def state_dict(self) -> dict[str, Any]:
        return self.base.state_dict()  # the trainer restores the wrapped sampler, which owns the stream

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.base.load_state_dict(state)


class FewShotTrainer(SupernetTrainer):
    """A sub-supernet's trainer: starts from the one-shot weights, samples only its part of the
    space, and keeps a shared prefix frozen; otherwise the ordinary resumable trainer."""

    def __init__(
        self,
        config: TrainConfig,
        run_dir: str | Path,
        parent: str | Path,
        slots: Sequence[int],
        combos: Sequence[Sequence[int]],
        share_prefix: int = 0,
    ) -> None:
        super().__init__(config, run_dir, resume=True)
        self.parent, self.slots, self.combos, self.share_prefix = Path(parent), list(slots), combos, share_prefix

    def _prepare(self) -> None:
        super()._prepare()
        if self._ckpt is None:  # a fresh member: the one-shot weights (resumed members have their own)
            self.model.load_state_dict(load_checkpoint(self.parent)["model"])
        if len(self.combos) > 1:  # a single combination is config.fixed (plain SubspaceSampler)
            self.sampler = GroupSampler(self.sampler, self.slots, self.combos)
        if self.share_prefix:
            layers = getattr(self.model, "layers", None)
            if layers is None or self.share_prefix > len(layers):
                raise NasgcnError(
                    f"--share-prefix {self.share_prefix}: the supernet has {len(layers or [])} layers after its stem"
                )
            for module in [self.model.stem, *list(layers)[: self.share_prefix]]:
                module.requires_grad_(False)  # no gradient: SGD (and its weight decay) leaves them as they are


@dataclass
class Split:
    """A split folder's manifest (``split.json``) with routing of architectures to members."""

    root: Path
    manifest: dict[str, Any]

    @classmethod
    def load(cls, root: str | Path) -> Split:
        root = Path(root)
        path = root / MANIFEST
        if not path.exists():
            raise NasgcnError(f"{root}: no {MANIFEST} (not a split folder; build one with nasgcn supernet split)")
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise NasgcnError(
                f"{path}:{exc.lineno}: not valid JSON ({exc.msg}; rebuild with nasgcn supernet split)"
            ) from None
        if manifest.get("format") != FORMAT:
            raise NasgcnError(f"{path}: not a nasgcn split manifest (format {FORMAT})")
        return cls(root, manifest)

    @property
    def space(self) -> SearchSpace:
        return get_space(self.manifest["space"])

    @property
    def members(self) -> list[dict[str, Any]]:
        return self.manifest["members"]

    def member_dir(self, k: int) -> Path:
        return self.root / self.members[k]["dir"]

    def route(self, ids: np.ndarray) -> np.ndarray:
        """Index of the member that holds each architecture (rows of ``ids``)."""
        ids = np.atleast_2d(np.asarray(ids, dtype=np.int64))
        slots = self.manifest["slots"]
        owner = {tuple(c): k for k, m in enumerate(self.members) for c in m["combos"]}
        keys = ids[:, slots]
        out = np.fromiter((owner.get(tuple(int(v) for v in row), -1) for row in keys), np.int64, len(ids))
        if (out < 0).any():  # cannot happen for a complete partition; guards hand-edited manifests
            bad = int(np.flatnonzero(out < 0)[0])
            raise NasgcnError(f"{self.root / MANIFEST}: no member holds {self.space.format(ids[bad])}")
        return out

    def parent_run(self) -> Path:
        """The one-shot run: its recorded path, else the same place relative to the split folder (moved)."""
        p = self.manifest["parent"]
        for cand in (Path(p["run"]), self.root / p.get("relative", p["run"])):
            if (cand / CHECKPOINT).exists():
                return cand
        raise NasgcnError(
            f"{self.root / MANIFEST}: the one-shot run {p['run']} is gone (its weights start every member; "
            "copy it back there or next to the split folder)"
        )

    def unfinished(self) -> list[int]:
        """Members whose fine-tuning has not completed all its epochs."""
        left = []
        for k, m in enumerate(self.members):
            ckpt = self.member_dir(k) / CHECKPOINT
            if not ckpt.exists() or int(load_checkpoint(ckpt)["epoch"]) < int(m["epochs"]):
                left.append(k)
        return left


def is_split(path: str | Path) -> bool:
    return (Path(path) / MANIFEST).exists()


def plan_split(
    run: str | Path,
    slot: str | int | Sequence[str | int],
    out: str | Path,
    epochs: int | None = None,
    groups: int | None = None,
    share_prefix: int = 0,
    sampler: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Split:
    """Write the split folder: ``split.json`` and each member's ``fewshot.json`` (no training).

    Rerunning with the same arguments keeps the folder (members resume); different ones are refused.
    """
    run, out = Path(run), Path(out)
    ckpt = load_checkpoint(run)
    space = get_space(checkpoint_space(ckpt))
    parent_cfg = dict(ckpt["config"])
    slots = parse_slots(space, slot)
    parts = partition(space, slots, groups)
    if share_prefix < 0:
        raise NasgcnError(f"--share-prefix must be >= 0, got {share_prefix}")
    ft_epochs = int(epochs) if epochs is not None else max(1, int(parent_cfg["epochs"]) // 2)
    if ft_epochs < 1:
        raise NasgcnError(f"--epochs must be positive, got {epochs}")
    base = {k: v for k, v in parent_cfg.items() if k not in TrainConfig.RUNTIME}
    base.update(RECIPE, epochs=ft_epochs, **(overrides or {}))
    if sampler and sampler != base.get("sampler"):
        base["sampler"], base["sampler_options"] = sampler, {}
    if not getattr(SAMPLERS.get(base["sampler"]), "supports_fixed", True):
        raise NasgcnError(
            f"sampler {base['sampler']!r} of {run} cannot be restricted to a part of the space; fine-tune the "
            "sub-supernets with another one (--sampler uniform, weighted, ...)"
        )
    members = []
    for k, combos in enumerate(parts):
        name = member_name(space, slots, combos, k)
        fixed = {str(s): space.ops[o] for s, o in zip(slots, combos[0], strict=True)} if len(combos) == 1 else {}
        cfg = {**base, "fixed": {**dict(parent_cfg.get("fixed") or {}), **fixed}}
        TrainConfig.from_dict(cfg, "split member").validate()
        members.append(
            {"name": name, "dir": f"{k:02d}-{name}", "combos": [list(c) for c in combos], "epochs": ft_epochs,
             "config": cfg}
        )  # fmt: skip
    manifest = {
        "format": FORMAT,
        "space": space.name,
        "parent": {
            "run": str(run.resolve()),
            "relative": os.path.relpath(run.resolve(), out.resolve()),
            "checkpoint": ckpt["checkpoint_id"],
            "epoch": int(ckpt["epoch"]),
        },
        "slots": slots,
        "slot_names": [space.slot_names[s] if space.slot_names else f"slot {s}" for s in slots],
        "groups": len(parts),
        "share_prefix": int(share_prefix),
        "members": members,
    }
    if (out / MANIFEST).exists():
        old = Split.load(out).manifest
        if {k: v for k, v in old.items() if k != "parent"} != {k: v for k, v in manifest.items() if k != "parent"} or (
            old["parent"]["checkpoint"] != manifest["parent"]["checkpoint"]
        ):
            raise NasgcnError(
                f"{out / MANIFEST}: this folder holds a different split (of {old['parent']['checkpoint']}, slots "
                f"{old['slots']}, {old['groups']} groups); rerun with its options to resume, or pick a new --out"
            )
        return Split(out, old)
    out.mkdir(parents=True, exist_ok=True)
    for m in members:
        d = out / m["dir"]
        d.mkdir(exist_ok=True)
        write_json_atomic(d / MEMBER_FILE, {"slots": slots, "combos": m["combos"], "share_prefix": share_prefix})
    write_json_atomic(out / MANIFEST, manifest)
    return Split(out, manifest)


def train_member(
    root: str | Path, index: int, progress: bool = False, threads: int | None = None, device: str = "cpu"
) -> SupernetTrainer:
    """Train (or resume, or do nothing if finished) member ``index`` of the split folder ``root``."""
    split = Split.load(root)
    if not 0 <= index < len(split.members):
        raise NasgcnError(f"--member {index}: the split in {root} has members 0..{len(split.members) - 1}")
    m = split.members[index]
    cfg = TrainConfig.from_dict(m["config"], str(Path(root) / MANIFEST))
    cfg.progress, cfg.threads, cfg.device = progress, threads, device
    parent = split.parent_run()
    d = split.member_dir(index)
    trainer = FewShotTrainer(cfg, d, parent, split.manifest["slots"], m["combos"], split.manifest["share_prefix"])
    return trainer.fit()


def _train_member_job(root: str, index: int, threads: int) -> int:
    train_member(root, index, progress=False, threads=threads)
    return index


def train_split(
    root: str | Path,
    members: Sequence[int] | None = None,
    jobs: int = 1,
    progress: bool = True,
    threads: int | None = None,
    device: str = "cpu",
) -> list[int]:
    """Train the unfinished ``members`` (default all) of a split, in ``jobs`` processes; returns them."""
    split = Split.load(root)
    todo = [k for k in (members if members is not None else range(len(split.members))) if k in split.unfinished()]
    if jobs > 1 and len(todo) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(min(jobs, len(todo)), mp_context=ctx) as pool:
            list(pool.map(_train_member_job, [str(root)] * len(todo), todo, [threads or 1] * len(todo)))
    else:
        for k in todo:
            train_member(root, k, progress=progress, threads=threads, device=device)
    return todo


def split_supernet(
    run: str | Path,
    slot: str | int | Sequence[str | int],
    out: str | Path,
    epochs: int | None = None,
    groups: int | None = None,
    share_prefix: int = 0,
    jobs: int = 1,
    progress: bool = True,
    threads: int | None = None,
    sampler: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Split:
    """Plan the split of ``run`` on ``slot`` into ``out`` and fine-tune every member (resumable)."""
    split = plan_split(run, slot, out, epochs, groups, share_prefix, sampler, overrides)
    train_split(out, jobs=jobs, progress=progress, threads=threads)
    return split
