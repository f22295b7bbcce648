"""Architecture samplers for supernet training, all behind one small interface.

A sampler answers, for each optimizer step, the list of paths whose gradients are
accumulated before that step (``next_group``). A path is 6 op ids, or a ``(6, 5)``
boolean op mask for the path-dropout mixture. Every sampler owns a numpy
``Generator``, so sampling never touches global RNG state, and
``state_dict``/``load_state_dict`` restore its stream exactly (resume, and identical
streams on every DDP rank from the same seed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from predictor.errors import NasgcnError
from predictor.spaces import get_space
from predictor.spaces.nb201 import EDGES, OPS

NUM_EDGES, NUM_OPS = len(EDGES), len(OPS)
Path = tuple[int, ...] | np.ndarray


class ArchSampler:
    """Base class: ``next_group(step, total_steps)`` -> list of paths for one optimizer step."""

    name = "base"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def next_group(self, step: int = 0, total_steps: int = 1) -> list[Path]:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {"name": self.name, "seed": self.seed, "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state.get("name") != self.name:
            raise NasgcnError(f"sampler state is for {state.get('name')!r}, not {self.name!r}")
        self.rng.bit_generator.state = state["rng"]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(seed={self.seed})"


class UniformSampler(ArchSampler):
    """Uniform single path (SPOS): one architecture drawn uniformly from the 15,625 per step."""

    name = "uniform"

    def next_group(self, step: int = 0, total_steps: int = 1) -> list[Path]:
        return [tuple(int(i) for i in self.rng.integers(0, NUM_OPS, NUM_EDGES))]


def effective_depth(ids: np.ndarray) -> np.ndarray:
    """Convolutions on the deepest live input->output path of each cell (0..3; -1 = cut off).

    The four input->output paths of the NB201 cell are 3<-0, 3<-1<-0, 3<-2<-0 and
    3<-2<-1<-0; a path with a ``none`` edge carries nothing, and every other op counts 1
    if it is a convolution. ``ids``: (n, 6) op ids in edge-slot order.
    """
    ids = np.atleast_2d(np.asarray(ids))
    slot = {edge: i for i, edge in enumerate(EDGES)}
    paths = ([(0, 3)], [(0, 1), (1, 3)], [(0, 2), (2, 3)], [(0, 1), (1, 2), (2, 3)])
    none, convs = OPS.index("none"), [OPS.index("nor_conv_1x1"), OPS.index("nor_conv_3x3")]
    depth = np.full(len(ids), -1, dtype=np.int64)
    for path in paths:
        ops = ids[:, [slot[e] for e in path]]
        live = (ops != none).all(1)
        depth = np.where(live, np.maximum(depth, np.isin(ops, convs).sum(1)), depth)
    return depth


class BalancedSampler(ArchSampler):
    """Depth-balanced single path: uniform over three depth groups, then over the cells in it.

    Why: drawn uniformly, only a few percent of cells stack three convolutions on one
    path, so a uniform supernet trains the deep cells least and ranks them low, while
    stand-alone training ranks them high (NB201's best cells are deep). The groups are
    the effective depth (:func:`effective_depth`) 0-1, 2 and 3, each drawn with
    probability 1/3; cut-off cells (no live path) are never drawn. The idea is the
    "balanced" sampling of the few-shot NAS supernets whose accuracies are in the
    reference data (Kendall tau 0.64 -> 0.72 and 0.71 -> 0.74 over the space there). On the
    small CIFAR-10 supernets of ``benchmarks/supernet_cifar_small.py`` it was steadier than
    uniform sampling (16 px, 90 epochs, seeds 0 / 1: 0.420 / 0.451 against 0.424 / 0.203).
    """

    name = "balanced"

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        grid = get_space("nb201").all_ids()
        depth = effective_depth(grid)
        self.groups = [grid[np.isin(depth, d)] for d in ((0, 1), (2,), (3,))]

    def next_group(self, step: int = 0, total_steps: int = 1) -> list[Path]:
        cells = self.groups[int(self.rng.integers(len(self.groups)))]
        return [tuple(int(i) for i in cells[int(self.rng.integers(len(cells)))])]


class WeightedSampler(ArchSampler):
    """Single path with each edge's op drawn from fixed weights (default: convolutions twice as often).

    Why: on the small CIFAR-10 supernets of ``benchmarks/supernet_cifar_small.py`` the uniform and
    depth-balanced supernets overrate ``skip_connect`` and ``avg_pool_3x3`` and underrate the
    convolutions on almost every edge (the parameter-free ops need no training, a convolution's
    weights only learn on the steps that draw it). Drawing the parametric ops more often gives their
    weights more of the training. ``weights`` are per op in :data:`OPS` order (``none``,
    ``skip_connect``, ``nor_conv_1x1``, ``nor_conv_3x3``, ``avg_pool_3x3``), normalized; every op keeps
    a positive probability so every path is still trained.
    """

    name = "weighted"

    def __init__(self, seed: int = 0, weights: tuple[float, ...] = (1.0, 1.0, 2.0, 2.0, 1.0)) -> None:
        super().__init__(seed)
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (NUM_OPS,) or not np.all(np.isfinite(w)) or (w <= 0).any():
            raise NasgcnError(f"op weights must be {NUM_OPS} positive numbers ({', '.join(OPS)}), got {weights!r}")
        self.probs = w / w.sum()

    def next_group(self, step: int = 0, total_steps: int = 1) -> list[Path]:
        return [tuple(int(i) for i in self.rng.choice(NUM_OPS, NUM_EDGES, p=self.probs))]


class FairSampler(ArchSampler):
    """FairNAS strict fairness: 5 paths per step that use every op of every edge exactly once.

    An independent random permutation of the 5 ops per edge; the group's paths are the
    columns. The trainer accumulates their gradients (on the same batch) into one step.
    """

    name = "fair"

    def next_group(self, step: int = 0, total_steps: int = 1) -> list[Path]:
        perms = np.stack([self.rng.permutation(NUM_OPS) for _ in range(NUM_EDGES)])  # (6, 5)
        return [tuple(int(i) for i in perms[:, j]) for j in range(NUM_OPS)]


class DropoutSampler(ArchSampler):
    """Path dropout (Bender et al., 2018): the full mixture with ops dropped at a rising rate.

    Each step returns one ``(6, 5)`` op mask: every non-``none`` op of every edge is kept
    independently with probability ``1 - p(t)``, where ``p`` ramps linearly from 0 to
    ``max_drop`` over training (``t = step / total_steps``). One mask per batch (not per
    example). An edge with every op dropped is a ``none`` edge; a fully cut-off path is
    allowed (the supernet returns zeros for it) and simply trains the head.
    """

    name = "dropout"

    def __init__(self, seed: int = 0, max_drop: float = 0.5) -> None:
        super().__init__(seed)
        if not 0.0 <= max_drop < 1.0:
            raise NasgcnError(f"max_drop must be in [0, 1), got {max_drop}")
        self.max_drop = max_drop

    def drop_rate(self, step: int, total_steps: int) -> float:
        return self.max_drop * min(1.0, step / max(1, total_steps))

    def next_group(self, step: int = 0, total_steps: int = 1) -> list[Path]:
        keep = self.rng.random((NUM_EDGES, NUM_OPS)) >= self.drop_rate(step, total_steps)
        keep[:, 0] = False  # `none` contributes nothing
        return [keep]


class SubspaceSampler(ArchSampler):
    """Restricts another sampler to a sub-space by fixing the op of some edges.

    ``fixed`` maps edge slot (0..5) to op (id or name); e.g. ``{0: "nor_conv_3x3"}`` gives
    one few-shot sub-supernet of a split on edge 1←0. Fixed slots are overwritten in
    every path of the wrapped sampler's group (so FairNAS fairness holds on free edges).
    """

    name = "subspace"

    def __init__(self, base: ArchSampler, fixed: Mapping[int, int | str]) -> None:
        self.base = base
        self.seed = base.seed
        self.fixed: dict[int, int] = {}
        for slot, op in fixed.items():
            slot = int(slot)
            if not 0 <= slot < NUM_EDGES:
                raise NasgcnError(f"edge slot must be in 0..{NUM_EDGES - 1}, got {slot}")
            op_id = OPS.index(op) if isinstance(op, str) and op in OPS else op
            if not isinstance(op_id, (int, np.integer)) or not 0 <= int(op_id) < NUM_OPS:
                raise NasgcnError(f"unknown op {op!r} for edge slot {slot} (ops: {', '.join(OPS)})")
            self.fixed[slot] = int(op_id)

    def _apply(self, path: Path) -> Path:
        if isinstance(path, np.ndarray) and path.shape == (NUM_EDGES, NUM_OPS):
            mask = path.copy()
            for slot, op in self.fixed.items():
                mask[slot] = False
                mask[slot, op] = op != 0
            return mask
        ids = list(path)
        for slot, op in self.fixed.items():
            ids[slot] = op
        return tuple(ids)

    def next_group(self, step: int = 0, total_steps: int = 1) -> list[Path]:
        return [self._apply(p) for p in self.base.next_group(step, total_steps)]

    def contains(self, ids: np.ndarray) -> np.ndarray:
        """Which rows of ``ids`` (n, 6) lie in the sub-space."""
        ids = np.atleast_2d(np.asarray(ids))
        ok = np.ones(len(ids), dtype=bool)
        for slot, op in self.fixed.items():
            ok &= ids[:, slot] == op
        return ok

    def state_dict(self) -> dict[str, Any]:
        return {"name": self.name, "fixed": dict(self.fixed), "base": self.base.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state.get("name") != self.name:
            raise NasgcnError(f"sampler state is for {state.get('name')!r}, not {self.name!r}")
        self.base.load_state_dict(state["base"])

    def __repr__(self) -> str:
        fixed = ", ".join(f"{EDGES[s][1]}<-{EDGES[s][0]}={OPS[o]}" for s, o in self.fixed.items())
        return f"SubspaceSampler({self.base!r}, {fixed})"


SAMPLERS: dict[str, type[ArchSampler]] = {
    "uniform": UniformSampler,
    "balanced": BalancedSampler,
    "weighted": WeightedSampler,
    "fair": FairSampler,
    "dropout": DropoutSampler,
}


def make_sampler(name: str, seed: int = 0, fixed: Mapping[int, int | str] | None = None, **options: Any) -> ArchSampler:
    """Sampler by name (``uniform``, ``balanced``, ``weighted``, ``fair``, ``dropout``), optionally restricted to a sub-space."""
    try:
        cls = SAMPLERS[name]
    except KeyError:
        raise NasgcnError(f"unknown sampler {name!r} (choose from {', '.join(SAMPLERS)})") from None
    sampler = cls(seed, **options) if options else cls(seed)
    return SubspaceSampler(sampler, fixed) if fixed else sampler
