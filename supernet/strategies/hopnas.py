"""HOPNAS: path dropout, then dynamic pruning of the supernet in hierarchical order.

Training is path dropout (:class:`~supernet.samplers.DropoutSampler`: whole ops dropped, the rate
ramping to ``max_drop``) restricted to the ops that survive. At the end of epochs from
``prune_start`` (a fraction of the run) on, a pruning round measures the supernet: it draws
``prune_paths`` single paths from the surviving space (uniform per slot over its surviving ops; in
family rounds over its surviving families, then their ops), scores each on the first
``prune_images`` validation images (:func:`supernet.evaluate.evaluate_archs`, the ``supernet
eval`` scoring) and computes, per slot, the marginal mean accuracy of the paths using each
choice and its standard error. A choice is pruned when its marginal is below the slot's best by
more than ``k`` standard errors of the difference (``sqrt(se_best^2 + se_choice^2)``); the best
choice of a slot is never pruned, a choice needs ``min_paths`` paths to be judged, and a slot keeps
at least ``min_ops`` ops (default 2: the supernet stays a label source for a space, not one
network; with ``min_ops=1`` it may shrink to a single architecture, as it did in 10 epochs on
digits). Within a round, the clearest separations (largest ``z``) are applied first.

Hierarchical order: rounds before ``fine_start`` judge **op families** (ops that compute nothing;
parameter-free ops; ops with parameters — from the space's exact costs, so every space has them),
pruning a whole family at once; later rounds judge the **single ops** that remain.

Why this order and rule, measured with ``benchmarks/hopnas_separation.py`` (digits, 10 epochs of
path dropout, 2 seeds; per seed 2 x 200 uniformly drawn paths scored on the same 300 validation
images). For every slot and pair of ops, ``|z|`` is their marginal difference over its standard
error in the first half; "agree" is the share of pairs whose sign the second, independent half
repeats:

    space (model)            pairs           n  median |z|  agree  agree if |z|>2  pairs |z|>2
    nb201 (C=8, N=1)         cross-family   96     1.63      0.85       0.95            41
                             within-family  24     1.11      0.79       0.75             4
    nbmacro (width 0.25)     cross-family   32     1.85      0.72       1.00            15
                             within-family  16     1.42      1.00       1.00             4

Differences between families are larger (43-47 % of them exceed 2 standard errors, against
17-25 % inside a family) and those that do replicate in 95-100 % of cases; inside NB201's
families (1x1 against 3x3 convolution, skip against pooling) even a 2-SE difference repeated only
3 times in 4. So families are judged first, while the supernet is young; single ops only from
``fine_start`` on, when training has concentrated on the surviving space. The rule is a
``k``-standard-error test (default 2) rather than a fixed accuracy margin because the noise of a
marginal differs between slots and shrinks with ``prune_paths``: the same rule stays valid for any
number of paths and any space.

What the defaults did (digits, 10 epochs, batch 64, NB201 C=8 N=1 / NB-Macro width 0.25): 13 / 8
pruning events; the mixture's forward cost fell from 3.9 to 1.0 / from 3.0 to 1.3 single-path
units; the rounds scored 179,200 forward-only images against 14,080 training images (the
history's ``eval_images``: count them when comparing at equal compute; fewer ``prune_paths`` or
``prune_images``, or a larger ``prune_every``, cut it). On NB201 the family rounds removed the
convolutions from all 6 edges: short supernet training overrates parameter-free ops (see the
``weighted`` sampler), and pruning on the supernet's own scores acts on that bias; a later
``prune_start`` leaves the convolutions more training before they are judged.

Pruning state (the surviving ``alive`` mask, the log of events, the evaluation images spent) is
part of the sampler state in the checkpoint, so a resumed run prunes identically. Every pruning
event is logged as one line and the run folder's ``strategy.json`` holds the surviving space;
``nasgcn supernet posterior RUN`` samples only from it.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from predictor.errors import NasgcnError

from ..samplers import DropoutSampler, Path, SpaceLike, parametric_ops, register_sampler, sampling_of

log = logging.getLogger(__name__)

LEVELS = ("family", "op")


def op_families(space: Any) -> tuple[np.ndarray, list[str]]:
    """Family id per op (zero op / parameter-free / with parameters) and the families' names."""
    zero = set(sampling_of(space).zero_ops)
    param = parametric_ops(space)
    names = ["zero", "parameter-free", "parametric"]
    fam = np.array([0 if o in zero else (2 if param[o] else 1) for o in range(len(space.ops))], dtype=np.int64)
    used = sorted(set(fam.tolist()))
    remap = {f: i for i, f in enumerate(used)}
    return np.array([remap[f] for f in fam], dtype=np.int64), [names[f] for f in used]


def marginals(ids: np.ndarray, acc: np.ndarray, groups: np.ndarray, n_groups: int) -> tuple[np.ndarray, ...]:
    """Per (slot, group): mean accuracy, standard error and count of the paths using that group there."""
    slots = ids.shape[1]
    mean = np.full((slots, n_groups), np.nan)
    se = np.full((slots, n_groups), np.nan)
    count = np.zeros((slots, n_groups), dtype=np.int64)
    g = groups[ids]
    for s in range(slots):
        for j in range(n_groups):
            a = acc[g[:, s] == j]
            count[s, j] = len(a)
            if len(a):
                mean[s, j] = a.mean()
                se[s, j] = a.std(ddof=1) / np.sqrt(len(a)) if len(a) > 1 else np.inf
    return mean, se, count


def prune_decisions(
    mean: np.ndarray, se: np.ndarray, count: np.ndarray, k: float, min_paths: int
) -> list[tuple[int, int, float, int, float]]:
    """(slot, group, z, best group, best mean) for each group to prune: below its slot's best by > k SE."""
    out = []
    for s in range(mean.shape[0]):
        judged = np.flatnonzero(count[s] >= min_paths)
        if len(judged) < 2:
            continue
        best = judged[np.argmax(mean[s, judged])]
        for j in judged:
            if j == best:
                continue
            z = (mean[s, best] - mean[s, j]) / max(float(np.hypot(se[s, best], se[s, j])), 1e-12)
            if z > k:
                out.append((s, int(j), float(z), int(best), float(mean[s, best])))
    return out


@register_sampler("hopnas")
class HopnasSampler(DropoutSampler):
    """HOPNAS: path dropout over the surviving ops, pruned during training by op family, then by op."""

    supports_fixed = False

    def __init__(
        self,
        seed: int = 0,
        max_drop: float = 0.5,
        prune_start: float = 0.3,
        fine_start: float = 0.6,
        prune_every: int = 1,
        prune_paths: int = 100,
        prune_images: int = 256,
        k: float = 2.0,
        min_paths: int = 5,
        min_ops: int = 2,
        space: SpaceLike = "nb201",
    ) -> None:
        super().__init__(seed, max_drop, space)
        if not 0.0 <= prune_start <= fine_start <= 1.0:
            raise NasgcnError(f"hopnas needs 0 <= prune_start <= fine_start <= 1, got {prune_start}, {fine_start}")
        if prune_every < 1 or prune_paths < 2 or prune_images < 1 or min_paths < 2 or not k > 0 or min_ops < 1:
            raise NasgcnError(
                "hopnas: prune_every, prune_images, min_ops >= 1, prune_paths, min_paths >= 2 and k > 0 needed"
            )
        self.min_ops = int(min_ops)
        self.prune_start, self.fine_start, self.prune_every = float(prune_start), float(fine_start), int(prune_every)
        self.prune_paths, self.prune_images, self.k, self.min_paths = int(prune_paths), int(prune_images), k, min_paths
        self.alive = np.ones((self.num_slots, self.num_ops), dtype=bool)
        self.families, self.family_names = op_families(self.space)
        self.events: list[dict[str, Any]] = []
        self.eval_images = 0

    # -- sampling ------------------------------------------------------------------------
    def next_group(self, step: int = 0, total_steps: int = 1) -> list[Path]:
        keep = (self.rng.random((self.num_slots, self.num_ops)) >= self.drop_rate(step, total_steps)) & self.alive
        if self.zero_ops:
            keep[:, self.zero_ops] = False
        else:
            for s in np.flatnonzero(~keep.any(1)):
                ops = np.flatnonzero(self.alive[s])
                keep[s, ops[int(self.rng.integers(len(ops)))]] = True
        return [keep]

    def sample_paths(self, n: int, by_family: bool = False) -> np.ndarray:
        """``n`` single paths from the surviving space: each slot's op uniform over its surviving ops, or
        (``by_family``) a surviving family uniformly, then an op of it, so that a small family (FBNet's
        one skip among nine blocks) gets as many paths to be judged by as a large one."""
        ids = np.empty((n, self.num_slots), dtype=np.int64)
        for s in range(self.num_slots):
            ops = np.flatnonzero(self.alive[s])
            if not by_family:
                ids[:, s] = ops[self.rng.integers(0, len(ops), n)]
                continue
            fams = np.unique(self.families[ops])
            pick = fams[self.rng.integers(0, len(fams), n)]
            for f in fams:
                members = ops[self.families[ops] == f]
                where = np.flatnonzero(pick == f)
                ids[where, s] = members[self.rng.integers(0, len(members), len(where))]
        return ids

    def op_probs(self) -> np.ndarray:
        return self.alive / self.alive.sum(1, keepdims=True)

    # -- pruning -------------------------------------------------------------------------
    def level_at(self, epoch: int, epochs: int) -> str | None:
        """The hierarchy level a round after ``epoch`` (1-based, completed) judges, or None (no round)."""
        start = max(1, int(np.ceil(self.prune_start * epochs)))
        if epoch < start or (epoch - start) % self.prune_every or epoch >= epochs:
            return None  # the last epoch is not pruned: nothing would train on the pruned space
        return "family" if epoch < self.fine_start * epochs else "op"

    def prune_round(self, ids: np.ndarray, acc: np.ndarray, level: str, epoch: int) -> list[str]:
        """Apply one round's decisions from scored paths; returns the log lines (one per event)."""
        if level == "family":
            groups, names = self.families, self.family_names
        else:
            groups, names = np.arange(self.num_ops), list(self.space.ops)
        mean, se, count = marginals(ids, acc, groups, len(names))
        lines = []
        decisions = sorted(prune_decisions(mean, se, count, self.k, self.min_paths), key=lambda d: -d[2])
        for s, j, z, best, best_mean in decisions:  # clearest separation first (min_ops may stop the rest)
            ops = [int(o) for o in np.flatnonzero((groups == j) & self.alive[s])]
            if not ops or self.alive[s].sum() - len(ops) < self.min_ops:
                continue
            self.alive[s, ops] = False
            event = {
                "epoch": epoch,
                "level": level,
                "slot": int(s),
                "pruned": [self.space.ops[o] for o in ops],
                "group": names[j],
                "marginal": float(mean[s, j]),
                "best": names[best],
                "best_marginal": best_mean,
                "z": round(z, 3),
                "paths": int(ids.shape[0]),
            }
            self.events.append(event)
            lines.append(
                f"hopnas: epoch {epoch} pruned {'/'.join(event['pruned'])} ({level} {names[j]}) on "
                f"{self.space.slot_names[s]}: marginal {mean[s, j]:.2f}% vs best {names[best]} {best_mean:.2f}% "
                f"(z={z:.2f} > k={self.k})"
            )
        return lines

    def end_epoch(self, trainer: Any) -> list[str]:
        level = self.level_at(trainer.epoch + 1, trainer.config.epochs)
        if level is None or self.alive.sum(1).max() <= self.min_ops:
            return []
        from ..evaluate import evaluate_archs

        ids = self.sample_paths(self.prune_paths, by_family=level == "family")
        val = trainer.data.val
        val = val.subset(slice(0, min(self.prune_images, len(val))))
        model = trainer.model
        was_cl = getattr(model, "channels_last", False)
        acc, _ = evaluate_archs(model, ids, val, trainer.normalize, device=trainer.device, progress=False)
        if getattr(model, "channels_last", False) != was_cl:
            model.use_channels_last(was_cl)
        self.eval_images += len(ids) * len(val)
        lines = self.prune_round(ids, acc, level, trainer.epoch + 1)
        for line in lines:
            log.info(line)
        return lines

    def summary(self) -> dict[str, Any]:
        return {
            "strategy": "hopnas",
            "ops": list(self.space.ops),
            "slots": list(self.space.slot_names),
            "alive": self.alive.astype(int).tolist(),
            "surviving": {
                self.space.slot_names[s]: [self.space.ops[o] for o in np.flatnonzero(a)]
                for s, a in enumerate(self.alive)
            },  # fmt: skip
            "events": list(self.events),
            "eval_images": int(self.eval_images),
        }

    # -- state ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "alive": self.alive.astype(int).tolist(),
            "events": [dict(e) for e in self.events],
            "eval_images": int(self.eval_images),
        }

    def load_state_dict(self, state: Any) -> None:
        super().load_state_dict(state)
        self.alive = np.asarray(state["alive"], dtype=bool).reshape(self.num_slots, self.num_ops)
        self.events = [dict(e) for e in state.get("events", [])]
        self.eval_images = int(state.get("eval_images", 0))
