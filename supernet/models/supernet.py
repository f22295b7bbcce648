"""The NB201 weight-sharing supernet: every candidate op on every edge of every cell.

``forward(x, arch)`` runs one architecture's path only: ``arch`` is 6 op ids (a tuple,
list, numpy row or tensor), an arch string, or a ``(6, 5)`` boolean mask of ops per
edge (the path-dropout sampler's mixture; several ops on an edge are summed). ``none``
edges are never computed. Sampling never happens inside ``forward``: the caller (a
sampler with its own generator) chooses the architecture. ``op_weights`` (a ``(6, 5)`` or
``(6, 5, batch)`` tensor) scales each op's output before the sum: PGNAS's relaxed
(concrete) dropout masks, per example when the last dimension is the batch.

BatchNorm follows NB201 supernets: the cells' BN has no affine parameters and, by
default, uses batch statistics in training and evaluation (``track_running_stats=
False``), so no statistics are shared between paths. With ``track_running_stats=True``
:func:`recalibrate_bn` re-estimates them for one architecture before evaluating it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from predictor.errors import ArchitectureError
from predictor.spaces import get_space
from predictor.spaces.nb201 import EDGES, OPS

from .network import NB201Network
from .ops import ResNetBasicBlock, head, make_op, stem
from .registry import register_supernet

ArchLike = str | Sequence[int] | np.ndarray | torch.Tensor
EdgeOps = tuple[tuple[int, ...], ...]  # per edge, the op ids (never 0) whose outputs are summed

_PATH_CACHE: dict[tuple, EdgeOps] = {}
_CONV_OPS = frozenset(i for i, op in enumerate(OPS) if op.startswith("nor_conv"))


def _prune(ops: EdgeOps) -> EdgeOps:
    """Drop edges whose output cannot reach the cell output or whose input is always zero."""
    reach = [True, False, False, False]  # nodes carrying a non-zero signal from the input
    for k, (src, dst) in enumerate(EDGES):  # EDGES is in topological order of dst
        if ops[k] and reach[src]:
            reach[dst] = True
    useful = [False, False, False, True]  # nodes whose value reaches the output
    for k in range(len(EDGES) - 1, -1, -1):
        src, dst = EDGES[k]
        if ops[k] and useful[dst]:
            useful[src] = True
    return tuple(o if (o and reach[EDGES[k][0]] and useful[EDGES[k][1]]) else () for k, o in enumerate(ops))


def path_ops(arch: ArchLike, prune: bool = True) -> EdgeOps:
    """Normalise ``arch`` to the non-``none`` op ids to compute on each of the 6 edges.

    With ``prune`` (what ``forward`` runs), edges that cannot affect the output (their
    target node feeds only ``none`` edges, or their source is always zero) are dropped
    too: the output is the same, and their ops get no gradient instead of a zero one.
    """
    if isinstance(arch, str):
        arch = get_space("nb201").parse(arch)
    if isinstance(arch, torch.Tensor):
        arch = arch.detach().cpu().numpy()
    a = np.asarray(arch)
    if a.shape == (len(EDGES),):
        key = (tuple(int(i) for i in a), prune)
        hit = _PATH_CACHE.get(key)
        if hit is not None:
            return hit
        if any(i < 0 or i >= len(OPS) for i in key[0]):
            raise ArchitectureError(f"op ids must be in 0..{len(OPS) - 1}, got {key[0]}")
        ops = tuple((i,) if i != 0 else () for i in key[0])
        ops = _prune(ops) if prune else ops
        _PATH_CACHE[key] = ops
        return ops
    if a.shape == (len(EDGES), len(OPS)):
        ops = tuple(tuple(int(o) for o in np.flatnonzero(row) if o != 0) for row in a.astype(bool))
        return _prune(ops) if prune else ops
    raise ArchitectureError(f"expected 6 op ids or a (6, {len(OPS)}) op mask, got shape {a.shape}")


def _scale(w: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """An op weight (scalar or one per example) shaped to broadcast over ``out`` (N, C, H, W)."""
    return w.reshape(-1, *([1] * (out.dim() - 1))) if w.dim() else w


class SearchCell(nn.Module):
    """A cell holding all 4 parametric/parameter-free ops on each edge (``none`` is implicit)."""

    def __init__(self, channels: int, affine: bool = False, track_running_stats: bool = False) -> None:
        super().__init__()
        self.edges = nn.ModuleList(
            nn.ModuleDict(
                {OPS[o]: make_op(o, channels, affine, track_running_stats, fast_pool=True) for o in range(1, len(OPS))}
            )
            for _ in EDGES
        )
        # Plain (unregistered) lookup by op id, avoiding string keys in the hot loop.
        self._ops = [[None] + [edge[OPS[o]] for o in range(1, len(OPS))] for edge in self.edges]

    def forward(self, x: torch.Tensor, ops: EdgeOps, weights: torch.Tensor | None = None) -> torch.Tensor:
        nodes: list[torch.Tensor | None] = [x, None, None, None]
        owned = [False, False, False, False]  # node tensor is a fresh sum we may add into in place
        relu: list[torch.Tensor | None] = [None, None, None, None]  # ReLU of a node, shared by its convs
        for k, (src, dst) in enumerate(EDGES):
            inp = nodes[src]
            if inp is None:  # a zero input contributes nothing
                continue
            for o in ops[k]:
                op = self._ops[k][o]
                if o in _CONV_OPS:
                    if relu[src] is None:
                        relu[src] = F.relu(inp)
                    out = op[2](op[1](relu[src]))
                else:
                    out = op(inp)
                if weights is not None:
                    out = out * _scale(weights[k, o], out)
                acc = nodes[dst]
                if acc is None:
                    nodes[dst] = out
                elif owned[dst]:
                    acc.add_(out)  # no backward of the ops here needs its own output
                else:
                    nodes[dst], owned[dst] = acc + out, True
        out = nodes[3]
        return out if out is not None else torch.zeros_like(x)


class NB201Supernet(nn.Module):
    """Weight-sharing NB201 supernet (stem, 3 stages of ``cells`` search cells, 2 reductions, head).

    ``affine``/``track_running_stats`` set the BatchNorm of the cells (defaults: no affine,
    batch statistics); the stem, reduction blocks and head keep affine BN and follow
    ``track_running_stats`` too, so the whole network uses one BN mode.
    """

    space = "nb201"  # the search space (registry key) this model belongs to

    def __init__(
        self,
        channels: int = 16,
        cells: int = 5,
        num_classes: int = 10,
        in_channels: int = 3,
        affine: bool = False,
        track_running_stats: bool = False,
    ) -> None:
        super().__init__()
        self.channels, self.cells, self.num_classes, self.in_channels = channels, cells, num_classes, in_channels
        self.affine, self.track_running_stats = affine, track_running_stats
        self.stem = stem(in_channels, channels, True, track_running_stats)
        layers: list[nn.Module] = []
        c = channels
        for stage in range(3):
            if stage > 0:
                layers.append(ResNetBasicBlock(c, 2 * c, True, track_running_stats))
                c *= 2
            layers.extend(SearchCell(c, affine, track_running_stats) for _ in range(cells))
        self.layers = nn.ModuleList(layers)
        parts = head(c, num_classes, True, track_running_stats)
        self.lastact = parts["lastact"]
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = parts["classifier"]
        self.channels_last = False

    def use_channels_last(self, enabled: bool = True) -> NB201Supernet:
        """Store weights and run activations in channels-last (NHWC) memory format.

        Same function, faster convolutions on CPU (oneDNN); the trainer and evaluator turn it on
        for CPU runs. Saved state dicts load into either format.
        """
        self.channels_last = enabled
        return self.to(memory_format=torch.channels_last if enabled else torch.contiguous_format)

    def config(self) -> dict:
        """Constructor arguments (stored in checkpoints so a run can be rebuilt)."""
        return {
            "channels": self.channels,
            "cells": self.cells,
            "num_classes": self.num_classes,
            "in_channels": self.in_channels,
            "affine": self.affine,
            "track_running_stats": self.track_running_stats,
        }

    def forward_from_stem(
        self, h: torch.Tensor, arch: ArchLike, op_weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits from the stem's output (the evaluator computes the stem once per batch)."""
        ops = path_ops(arch)
        for layer in self.layers:
            h = layer(h, ops, op_weights) if isinstance(layer, SearchCell) else layer(h)
        return self.classifier(torch.flatten(self.global_pooling(self.lastact(h)), 1))

    def forward(self, x: torch.Tensor, arch: ArchLike, op_weights: torch.Tensor | None = None) -> torch.Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.forward_from_stem(self.stem(x), arch, op_weights)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier with a fresh one for ``num_classes`` (transfer to a new task)."""
        old = self.classifier
        self.classifier = nn.Linear(old.in_features, num_classes).to(old.weight.device, old.weight.dtype)
        self.num_classes = num_classes

    def path_parameters(self, arch: ArchLike) -> Iterable[nn.Parameter]:
        """Parameters used by ``arch`` (shared blocks + the chosen ops)."""
        ops = path_ops(arch)
        yield from self.stem.parameters()
        for layer in self.layers:
            if isinstance(layer, SearchCell):
                for k in range(len(EDGES)):
                    for o in ops[k]:
                        yield from layer._ops[k][o].parameters()
            else:
                yield from layer.parameters()
        yield from self.lastact.parameters()
        yield from self.classifier.parameters()

    def subnet(self, arch: ArchLike) -> NB201Network:
        """A stand-alone :class:`NB201Network` initialised with the weights ``arch`` inherits.

        Cell BN without affine maps to weight 1 / bias 0; running statistics are copied
        where the supernet tracks them (otherwise left at their defaults: recalibrate).
        """
        ops = path_ops(arch, prune=False)
        if any(len(e) > 1 for e in ops):
            raise ArchitectureError("subnet() needs a single path (one op per edge)")
        ids = tuple(e[0] if e else 0 for e in ops)
        net = NB201Network(ids, self.channels, self.cells, self.num_classes, self.in_channels)
        net = net.to(self.classifier.weight.device)
        src = self.subnet_state(ids)
        missing = {k: v for k, v in net.state_dict().items() if k not in src}
        net.load_state_dict({**missing, **src})
        return net

    def subnet_state(self, arch: ArchLike) -> dict[str, torch.Tensor]:
        """State-dict entries of ``NB201Network(arch)`` that the supernet holds (names translated)."""
        ops = path_ops(arch, prune=False)
        state = self.state_dict()
        out: dict[str, torch.Tensor] = {}
        for name, value in state.items():
            parts = name.split(".")
            if parts[0] == "layers" and parts[2] == "edges":
                # layers.{i}.edges.{k}.{opname}.rest  ->  layers.{i}.edges.{k}.rest
                k, op = int(parts[3]), OPS.index(parts[4])
                if op not in ops[k]:
                    continue
                name = ".".join(parts[:4] + parts[5:])
            out[name] = value
        return out


@torch.no_grad()
def recalibrate_bn(
    model: NB201Supernet, arch: ArchLike, batches: Iterable[torch.Tensor], device: torch.device | str | None = None
) -> None:
    """Re-estimate running BN statistics of ``arch``'s path from ``batches`` (cumulative average).

    Like :func:`torch.optim.swa_utils.update_bn`, but passing ``arch`` to ``forward``. A no-op
    for BN layers with batch statistics only.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not bns:
        return
    momenta = {bn: bn.momentum for bn in bns}
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    was_training = model.training
    model.train()
    for x in batches:
        if isinstance(x, (list, tuple)):
            x = x[0]
        model(x.to(device) if device is not None else x, arch)
    for bn, m in momenta.items():
        bn.momentum = m
    model.train(was_training)


@register_supernet(
    "nb201", options=("channels", "cells", "num_classes", "in_channels", "affine", "track_running_stats")
)
def _build_supernet(space: object, **config: int | bool) -> NB201Supernet:
    return NB201Supernet(**config)  # type: ignore[arg-type]
