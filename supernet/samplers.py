"""Architecture samplers for supernet training, all behind one small interface.

A sampler answers, for each optimizer step, the list of paths whose gradients are
accumulated before that step (``next_group``). A path is one op id per slot of the search
space (``space.num_slots``), or a ``(num_slots, len(space.ops))`` boolean op mask for the
path-dropout mixture. Samplers read only the space contract (slots, ops, exact costs), so
they work on every space (``make_sampler(name, space=...)``, default ``nb201``, whose streams
are unchanged). Every sampler owns a numpy ``Generator``, so sampling never touches global
RNG state, and ``state_dict``/``load_state_dict`` restore its stream exactly (resume, and
identical streams on every DDP rank from the same seed).

Space-specific knowledge a sampler may use (the balanced sampler's groups, ops that compute
nothing) is registered per space with :func:`register_sampling`; NB201 registers its cell
depth groups in :mod:`supernet.sampling_nb201`.

Samplers register by name with :func:`register_sampler` (a class decorator that also records
their tunable parameters and defaults); the CLI's ``--sampler`` choices, the run config's
allowed values and ``sampler_options`` all derive from that registry (:func:`sampler_names`,
:func:`sampler_params`), so a new strategy needs no edit elsewhere. Training strategies that
do more than choose paths (HOPNAS pruning, PGNAS's learned keep probabilities, in
:mod:`supernet.strategies`) use the optional trainer hooks of :class:`ArchSampler`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from predictor.errors import NasgcnError
from predictor.spaces import SearchSpace, get_space

if TYPE_CHECKING:
    import torch

Path = tuple[int, ...] | np.ndarray
SpaceLike = str | SearchSpace


@dataclass(frozen=True)
class SpaceSampling:
    """What a space tells the samplers beyond its contract (registered by name)."""

    balanced_groups: Callable[[SearchSpace], list[np.ndarray]] | None = None
    zero_ops: tuple[int, ...] = ()  # ops that compute nothing (NB201's ``none``): never in a mixture


_SAMPLING: dict[str, SpaceSampling] = {}


def register_sampling(
    space: str, balanced_groups: Callable[[SearchSpace], list[np.ndarray]] | None = None, zero_ops: tuple[int, ...] = ()
) -> None:
    """Register space-specific sampling knowledge for ``space`` (see :class:`SpaceSampling`)."""
    _SAMPLING[space] = SpaceSampling(balanced_groups, tuple(zero_ops))


def sampling_of(space: SearchSpace) -> SpaceSampling:
    return _SAMPLING.get(space.name, SpaceSampling())


def parametric_ops(space: SearchSpace) -> np.ndarray:
    """Which ops hold parameters: an architecture using op ``j`` on every slot has more parameters
    than the cheapest such uniform architecture (from the space's exact costs)."""
    n_ops = len(space.ops)
    uniform = np.repeat(np.arange(n_ops, dtype=np.int64)[:, None], space.num_slots, axis=1)
    params = np.asarray(space.costs(uniform)["params"], dtype=np.int64)
    return params > params.min()


_REGISTRY: dict[str, type[ArchSampler]] = {}
_PARAMS: dict[str, dict[str, Any]] = {}


def register_sampler(name: str) -> Callable[[type], type]:
    """Class decorator: register a sampler/strategy as ``name``.

    The class is built as ``cls(seed, space=..., **params)``. Its tunable params (what a run
    config's ``sampler_options``, and ``max_drop`` for strategies that take it, may set) are the
    keyword parameters of its ``__init__`` other than ``seed`` and ``space``, with their defaults,
    so the registry cannot drift from the constructor.
    """

    def deco(cls: type) -> type:
        params = _init_params(cls)  # first: a class that cannot be registered leaves no trace
        cls.name = name
        _REGISTRY[name] = cls
        _PARAMS[name] = params
        return cls

    return deco


def _init_params(cls: type) -> dict[str, Any]:
    import inspect

    out: dict[str, Any] = {}
    for pname, param in inspect.signature(cls.__init__).parameters.items():
        if pname in ("self", "seed", "space") or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.default is param.empty:
            raise TypeError(f"sampler {cls.__name__}: parameter {pname!r} needs a default")
        out[pname] = param.default
    return out


def sampler_names() -> tuple[str, ...]:
    """Registered sampler/strategy names, in registration order (the CLI choices and allowed config values)."""
    return tuple(_REGISTRY)


def sampler_params(name: str) -> dict[str, Any]:
    """Tunable parameters of sampler ``name`` with their defaults."""
    check_sampler(name)
    return dict(_PARAMS[name])


def sampler_help() -> str:
    """One line per registered sampler for ``--help``: its name and the first sentence of its docstring."""
    parts = []
    for name, cls in _REGISTRY.items():
        doc = (cls.__doc__ or "").strip().split("\n")[0].rstrip(".")
        params = ", ".join(f"{k}={v}" for k, v in _PARAMS[name].items())
        parts.append(f"{name}: {doc}" + (f" [{params}]" if params else ""))
    return "; ".join(parts)


def check_sampler(name: str, options: Mapping[str, Any] | None = None, where: str = "sampler") -> None:
    """Refuse an unknown sampler name or options it does not take (the message lists the valid ones)."""
    if name not in _REGISTRY:
        raise NasgcnError(f"{where}: unknown sampler {name!r} (choose from {', '.join(_REGISTRY)})")
    bad = sorted(set(options or {}) - set(_PARAMS[name]))
    if bad:
        known = ", ".join(_PARAMS[name]) or "none"
        raise NasgcnError(f"{where}: sampler {name!r} takes no option(s) {', '.join(bad)} (its options: {known})")


class ArchSampler:
    """Base class: ``next_group(step, total_steps)`` -> list of paths for one optimizer step."""

    name = "base"

    def __init__(self, seed: int = 0, space: SpaceLike = "nb201") -> None:
        self.seed = seed
        self.space = get_space(space)
        self.num_slots, self.num_ops = self.space.num_slots, len(self.space.ops)
        self.rng = np.random.default_rng(seed)

    def next_group(self, step: int = 0, total_steps: int = 1) -> list[Path]:
        raise NotImplementedError

    # -- optional trainer hooks (defaults: a plain path sampler) ---------------------------
    def setup(self, trainer: Any) -> None:
        """Called once the trainer has built its model and data (before a resumed state loads)."""

    def forward(self, model: torch.nn.Module, x: torch.Tensor, path: Path) -> torch.Tensor:
        """Logits of ``path`` on ``x`` (strategies with a relaxed mixture override this)."""
        return model(x, path)

    def parameters(self) -> list[torch.Tensor]:
        """Learnable tensors the strategy owns besides the model's (gradients averaged over ranks)."""
        return []

    def regularizer(self) -> torch.Tensor | None:
        """A loss term added once per optimizer step (None: none)."""
        return None

    def zero_grad(self) -> None:
        """Clear the strategy's own gradients (before each step)."""

    def step(self) -> None:
        """Update the strategy's own parameters (after the model's optimizer step)."""

    def end_epoch(self, trainer: Any) -> list[str]:
        """After each epoch (before the checkpoint): adapt the strategy; returns lines to log."""
        return []

    def path_cost(self, path: Path) -> float:
        """Forward cost of ``path`` per image, in single-path units: computed (slot, op) pairs / slots.

        A single path is 1 (less where it uses an op that computes nothing); a mixture of k ops per
        slot is k. The trainer sums images × cost, so strategies can be compared at equal compute.
        """
        zero = list(sampling_of(self.space).zero_ops)
        a = np.asarray(path)
        if a.ndim == 2:
            keep = a.astype(bool).copy()
            keep[:, zero] = False
            return float(keep.sum()) / self.num_slots
        return float(np.sum(~np.isin(a, zero))) / self.num_slots

    def op_probs(self) -> np.ndarray | None:
        """Per (slot, op) probabilities to draw candidates from after training (None: no posterior)."""
        return None

    def summary(self) -> dict[str, Any]:
        """What the strategy learned, saved as ``strategy.json`` in the run folder (empty: nothing)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {"name": self.name, "seed": self.seed, "space": self.space.name, "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state.get("name") != self.name:
            raise NasgcnError(f"sampler state is for {state.get('name')!r}, not {self.name!r}")
        self.space.check_compatible(state.get("space", "nb201"), "sampler state")
        self.rng.bit_generator.state = state["rng"]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(seed={self.seed}, space={self.space.name!r})"


@register_sampler("uniform")
class UniformSampler(ArchSampler):
    """Uniform single path (SPOS): each slot's op drawn uniformly (one architecture per step)."""

    name = "uniform"

    def next_group(self, step: int = 0, total_steps: int = 1) -> list[Path]:
        return [tuple(int(i) for i in self.rng.integers(0, self.num_ops, self.num_slots))]


@register_sampler("balanced")
class BalancedSampler(ArchSampler):
    """Depth-balanced single path: uniform over depth groups, then uniform inside the group.

    Why: drawn uniformly, deep architectures are rare, so a uniform supernet trains them least
    and ranks them low, while stand-alone training ranks them high.

    * NB201 (registered groups, :mod:`supernet.sampling_nb201`): the cell's effective depth 0-1,
      2 and 3, each with probability 1/3; cut-off cells are never drawn. The idea is the
      "balanced" sampling of the few-shot NAS supernets in the reference data (Kendall tau
      0.64 -> 0.72 and 0.71 -> 0.74). On the small CIFAR-10 supernets of
      ``benchmarks/supernet_cifar_small.py`` it was steadier than uniform sampling (16 px, 90
      epochs, seeds 0 / 1: 0.420 / 0.451 against 0.424 / 0.203).
    * Chain spaces (a ``skip`` block): depth = number of non-skip layers, drawn uniformly in
      0..L; then which layers are non-skip (uniform subset) and their blocks (uniform over the
      non-skip blocks). Every architecture of a given depth is equally likely. Uniform sampling
      would concentrate on depths near ``L (n_ops - 1) / n_ops``.
    * Other spaces (no groups, no skip): uniform.
    """

    name = "balanced"

    def __init__(self, seed: int = 0, space: SpaceLike = "nb201") -> None:
        super().__init__(seed, space)
        groups = sampling_of(self.space).balanced_groups
        self.groups = groups(self.space) if groups is not None else None
        self.skip_op = getattr(self.space, "skip_op", None)
        self.others = np.array([o for o in range(self.num_ops) if o != self.skip_op], dtype=np.int64)

    def next_group(self, step: int = 0, total_steps: int = 1) -> list[Path]:
        if self.groups is not None:
            cells = self.groups[int(self.rng.integers(len(self.groups)))]
            return [tuple(int(i) for i in cells[int(self.rng.integers(len(cells)))])]
        if self.skip_op is None:
            return [tuple(int(i) for i in self.rng.integers(0, self.num_ops, self.num_slots))]
        depth = int(self.rng.integers(self.num_slots + 1))
        ids = np.full(self.num_slots, self.skip_op, dtype=np.int64)
        where = self.rng.choice(self.num_slots, depth, replace=False)
        ids[where] = self.others[self.rng.integers(0, len(self.others), depth)]
        return [tuple(int(i) for i in ids)]


@register_sampler("weighted")
class WeightedSampler(ArchSampler):
    """Single path with each slot's op drawn from fixed weights (default: parametric ops twice as often).

    Why: on the small CIFAR-10 supernets of ``benchmarks/supernet_cifar_small.py`` the uniform and
    depth-balanced supernets overrate the parameter-free ops and underrate the convolutions on
    almost every edge (parameter-free ops need no training; a convolution's weights only learn on
    the steps that draw it). Drawing the parametric ops more often gives their weights more of the
    training. ``weights`` are per op in ``space.ops`` order, normalized; by default 2 for ops with
    parameters (:func:`parametric_ops`) and 1 otherwise (NB201: 1, 1, 2, 2, 1). Every op keeps a
    positive probability so every path is still trained.
    """

    name = "weighted"

    def __init__(self, seed: int = 0, weights: tuple[float, ...] | None = None, space: SpaceLike = "nb201") -> None:
        super().__init__(seed, space)
        if weights is None:
            weights = tuple(np.where(parametric_ops(self.space), 2.0, 1.0))
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (self.num_ops,) or not np.all(np.isfinite(w)) or (w <= 0).any():
            raise NasgcnError(
                f"op weights must be {self.num_ops} positive numbers ({', '.join(self.space.ops)}), got {weights!r}"
            )
        self.probs = w / w.sum()

    def next_group(self, step: int = 0, total_steps: int = 1) -> list[Path]:
        return [tuple(int(i) for i in self.rng.choice(self.num_ops, self.num_slots, p=self.probs))]


@register_sampler("fair")
class FairSampler(ArchSampler):
    """FairNAS strict fairness: ``n_ops`` paths per step that use every op of every slot exactly once.

    An independent random permutation of the ops per slot; the group's paths are the
    columns. The trainer accumulates their gradients (on the same batch) into one step.
    """

    name = "fair"

    def next_group(self, step: int = 0, total_steps: int = 1) -> list[Path]:
        perms = np.stack([self.rng.permutation(self.num_ops) for _ in range(self.num_slots)])  # (slots, ops)
        return [tuple(int(i) for i in perms[:, j]) for j in range(self.num_ops)]


@register_sampler("dropout")
class DropoutSampler(ArchSampler):
    """Path dropout (Bender et al., 2018): the full mixture with ops dropped at a rising rate.

    Each step returns one ``(num_slots, n_ops)`` op mask: every op of every slot is kept
    independently with probability ``1 - p(t)``, where ``p`` ramps linearly from 0 to
    ``max_drop`` over training (``t = step / total_steps``). One mask per batch (not per
    example). Ops that compute nothing (NB201's ``none``) are never kept; on NB201 an edge with
    every op dropped is a ``none`` edge and a fully cut-off path simply trains the head. Spaces
    without such an op (chain spaces: a layer must compute something) keep one uniformly drawn
    op in a slot whose ops were all dropped.
    """

    name = "dropout"

    def __init__(self, seed: int = 0, max_drop: float = 0.5, space: SpaceLike = "nb201") -> None:
        super().__init__(seed, space)
        if not 0.0 <= max_drop < 1.0:
            raise NasgcnError(f"max_drop must be in [0, 1), got {max_drop}")
        self.max_drop = max_drop
        self.zero_ops = list(sampling_of(self.space).zero_ops)

    def drop_rate(self, step: int, total_steps: int) -> float:
        return self.max_drop * min(1.0, step / max(1, total_steps))

    def next_group(self, step: int = 0, total_steps: int = 1) -> list[Path]:
        keep = self.rng.random((self.num_slots, self.num_ops)) >= self.drop_rate(step, total_steps)
        if self.zero_ops:
            keep[:, self.zero_ops] = False  # a zero op contributes nothing
        else:
            empty = np.flatnonzero(~keep.any(1))
            if len(empty):
                keep[empty, self.rng.integers(0, self.num_ops, len(empty))] = True
        return [keep]


class SubspaceSampler(ArchSampler):
    """Restricts another sampler to a sub-space by fixing the op of some slots.

    ``fixed`` maps slot (0..num_slots-1) to op (id or name); e.g. ``{0: "nor_conv_3x3"}`` on NB201
    gives one few-shot sub-supernet of a split on edge 1<-0. Fixed slots are overwritten in
    every path of the wrapped sampler's group (so FairNAS fairness holds on free slots).
    """

    name = "subspace"

    def __init__(self, base: ArchSampler, fixed: Mapping[int, int | str]) -> None:
        self.base = base
        self.seed = base.seed
        self.space, self.num_slots, self.num_ops = base.space, base.num_slots, base.num_ops
        zero = set(sampling_of(self.space).zero_ops)
        self.fixed: dict[int, int] = {}
        ops = list(self.space.ops)
        for slot, op in fixed.items():
            slot = int(slot)
            if not 0 <= slot < self.num_slots:
                raise NasgcnError(f"slot must be in 0..{self.num_slots - 1} for space {self.space.name!r}, got {slot}")
            op_id = ops.index(op) if isinstance(op, str) and op in ops else op
            if not isinstance(op_id, (int, np.integer)) or not 0 <= int(op_id) < self.num_ops:
                raise NasgcnError(f"unknown op {op!r} for slot {slot} (ops: {', '.join(ops)})")
            self.fixed[slot] = int(op_id)
        self._zero = zero

    def _apply(self, path: Path) -> Path:
        if isinstance(path, np.ndarray) and path.shape == (self.num_slots, self.num_ops):
            mask = path.copy()
            for slot, op in self.fixed.items():
                mask[slot] = False
                mask[slot, op] = op not in self._zero
            return mask
        ids = list(path)
        for slot, op in self.fixed.items():
            ids[slot] = op
        return tuple(ids)

    def next_group(self, step: int = 0, total_steps: int = 1) -> list[Path]:
        return [self._apply(p) for p in self.base.next_group(step, total_steps)]

    def contains(self, ids: np.ndarray) -> np.ndarray:
        """Which rows of ``ids`` (n, num_slots) lie in the sub-space."""
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
        fixed = ", ".join(f"{self.space.slot_names[s]}={self.space.ops[o]}" for s, o in self.fixed.items())
        return f"SubspaceSampler({self.base!r}, {fixed})"


SAMPLERS = _REGISTRY  # name -> class (the registry itself; register with @register_sampler)


def make_sampler(
    name: str,
    seed: int = 0,
    fixed: Mapping[int, int | str] | None = None,
    space: SpaceLike = "nb201",
    **options: Any,
) -> ArchSampler:
    """Sampler by registered name (:func:`sampler_names`) for ``space``, with ``options`` from its
    registered parameters, optionally restricted to a sub-space (``fixed``: slot -> op)."""
    check_sampler(name, options)
    cls = _REGISTRY[name]
    if fixed and not getattr(cls, "supports_fixed", True):
        raise NasgcnError(
            f"sampler {name!r} cannot train a sub-space (--fix); use uniform, balanced, weighted, fair or dropout"
        )
    sampler = cls(seed, space=space, **options)
    return SubspaceSampler(sampler, fixed) if fixed else sampler


from .sampling_nb201 import ZERO_OPS, depth_groups, effective_depth  # noqa: E402  (effective_depth re-exported)

register_sampling("nb201", balanced_groups=depth_groups, zero_ops=ZERO_OPS)

from . import strategies  # noqa: E402, F401  (registers hopnas and pgnas)

__all__ = [
    "ArchSampler",
    "BalancedSampler",
    "DropoutSampler",
    "FairSampler",
    "SubspaceSampler",
    "UniformSampler",
    "WeightedSampler",
    "SAMPLERS",
    "check_sampler",
    "effective_depth",
    "make_sampler",
    "parametric_ops",
    "register_sampler",
    "register_sampling",
    "sampler_help",
    "sampler_names",
    "sampler_params",
]
