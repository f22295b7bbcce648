"""Torch networks of chain search spaces (NAS-Bench-Macro, FBNet, user-declared ``ChainSpec`` s).

:class:`ChainNetwork` is the stand-alone network of one architecture; at ``width=1`` its
parameter count equals ``space.costs(ids)["params"]`` exactly and its convolution/linear MACs
equal ``costs["macs"]`` (tested). :class:`ChainSupernet` holds every candidate block of every
layer; ``forward(x, arch)`` runs one path (``arch``: ``L`` block ids, a digit string, or an
``(L, n_ops)`` 0/1 mask whose chosen blocks are summed, for path dropout / FairNAS mixtures).

Block definitions follow :mod:`predictor.spaces.chain`: a skip is the identity, or, where the
shape changes at a stage start, a 1x1 convolution (layer stride) + BN (+ ReLU when the spec
says ``skip_relu``); an inverted residual ``kK_eE[_gG]`` is a 1x1 expand (groups G) + BN +
ReLU, a channel shuffle when G > 1, a KxK depthwise convolution (layer stride) + BN + ReLU and
a 1x1 projection (groups G) + BN, with a residual when input and output shapes match.

``width`` scales every channel count (stem, stages, head; rounded to a multiple of 8) to make
CPU-scale proxies; costs then no longer match the space's tables, which describe ``width=1``.
BatchNorm of the searchable blocks follows ``affine`` / ``track_running_stats`` in the
supernet (defaults as NB201's supernet: no affine, batch statistics); the stem and the head
keep affine BN, like NB201's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from predictor.errors import ArchitectureError, NasgcnError
from predictor.spaces import ChainSpace, ChainSpec, get_space
from predictor.spaces.chain import Block

from .registry import CHAIN, register_network, register_supernet

ArchLike = str | Sequence[int] | np.ndarray | torch.Tensor


def scaled(channels: int, width: float) -> int:
    """Channel count at width multiplier ``width`` (exact at 1; else a multiple of 8, at least 8)."""
    if width == 1.0:
        return int(channels)
    return max(8, int(round(channels * width / 8.0)) * 8)


def resolve_space(space: str | ChainSpace | ChainSpec) -> ChainSpace:
    """The :class:`ChainSpace` of a name, a space or a spec (a spec need not be registered)."""
    if isinstance(space, ChainSpec):
        return ChainSpace(space)
    sp = get_space(space) if isinstance(space, str) else space
    if not isinstance(sp, ChainSpace):
        raise NasgcnError(f"space {sp.name!r} is not a chain space; chain networks need a ChainSpec-based space")
    return sp


def chain_ids(space: ChainSpace, arch: ArchLike) -> tuple[int, ...]:
    """Validated block ids of ``arch`` (digit string, ids, or a numpy/tensor row)."""
    if isinstance(arch, str):
        return tuple(int(i) for i in space.parse(arch))
    if isinstance(arch, torch.Tensor):
        arch = arch.detach().cpu().tolist()
    ids = tuple(int(i) for i in np.asarray(arch).reshape(-1))
    if len(ids) != space.num_slots or any(i < 0 or i >= len(space.ops) for i in ids):
        raise ArchitectureError(
            f"a {space.name} architecture is {space.num_slots} block ids in 0..{len(space.ops) - 1}, got {list(ids)}"
        )
    return ids


def layer_choices(space: ChainSpace, arch: ArchLike) -> tuple[tuple[int, ...], ...]:
    """Per layer, the block ids to run (one for a path; several, summed, for an ``(L, n_ops)`` mask)."""
    if isinstance(arch, torch.Tensor):
        arch = arch.detach().cpu().numpy()
    a = np.asarray(arch) if not isinstance(arch, str) else None
    if a is not None and a.ndim == 2:
        if a.shape != (space.num_slots, len(space.ops)):
            raise ArchitectureError(
                f"a {space.name} block mask has shape ({space.num_slots}, {len(space.ops)}), got {a.shape}"
            )
        out = tuple(tuple(int(o) for o in np.flatnonzero(row)) for row in a.astype(bool))
        empty = [k for k, row in enumerate(out) if not row]
        if empty:
            raise ArchitectureError(f"block mask selects no block in layer {empty[0]} (a chain layer needs one)")
        return out
    return tuple((i,) for i in chain_ids(space, arch))


def _bn(c: int, affine: bool = True, track: bool = True) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, affine=affine, track_running_stats=track)


class ChannelShuffle(nn.Module):
    """ShuffleNet's channel shuffle between grouped convolutions."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        fmt = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) and c > 1 else None
        out = x.view(n, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(n, c, h, w)
        return out.contiguous(memory_format=fmt) if fmt is not None else out


class SkipConv(nn.Module):
    """A skip layer that changes shape: 1x1 convolution with the layer stride + BN (+ ReLU)."""

    def __init__(self, c_in: int, c_out: int, stride: int, relu: bool, affine: bool = True, track: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False)
        self.bn = _bn(c_out, affine, track)
        self.relu = nn.ReLU(inplace=True) if relu else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class InvertedResidual(nn.Module):
    """MobileNetV2 inverted residual with optional grouped 1x1 convolutions (FBNet's ``_gG``)."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        stride: int,
        kernel: int,
        expansion: int,
        groups: int = 1,
        affine: bool = True,
        track: bool = True,
    ) -> None:
        super().__init__()
        mid = c_in * expansion
        self.expand = nn.Conv2d(c_in, mid, 1, groups=groups, bias=False)
        self.bn1 = _bn(mid, affine, track)
        self.shuffle = ChannelShuffle(groups) if groups > 1 else nn.Identity()
        self.depthwise = nn.Conv2d(mid, mid, kernel, stride=stride, padding=kernel // 2, groups=mid, bias=False)
        self.bn2 = _bn(mid, affine, track)
        self.project = nn.Conv2d(mid, c_out, 1, groups=groups, bias=False)
        self.bn3 = _bn(c_out, affine, track)
        self.act = nn.ReLU(inplace=True)
        self.residual = c_in == c_out and stride == 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.shuffle(self.act(self.bn1(self.expand(x))))
        out = self.bn3(self.project(self.act(self.bn2(self.depthwise(out)))))
        return out + x if self.residual else out


def make_block(
    block: Block, lay: dict[str, int], skip_relu: bool, affine: bool = True, track: bool = True
) -> nn.Module:
    """The module of ``block`` at layer geometry ``lay`` (``c_in``, ``c_out``, ``stride``)."""
    c_in, c_out, stride = lay["c_in"], lay["c_out"], lay["stride"]
    if block.kind == "skip":
        if c_in == c_out and stride == 1:
            return nn.Identity()
        return SkipConv(c_in, c_out, stride, skip_relu, affine, track)
    return InvertedResidual(c_in, c_out, stride, block.kernel, block.expansion, block.groups, affine, track)


def _geometry(spec: ChainSpec, width: float) -> list[dict[str, int]]:
    layers = spec.layers()
    for lay in layers:
        lay["c_in"], lay["c_out"] = scaled(lay["c_in"], width), scaled(lay["c_out"], width)
    for b in spec.block_info:
        if b.groups > 1 and any(lay["c_out"] % b.groups or lay["c_in"] % b.groups for lay in layers):
            raise NasgcnError(f"width {width} gives channels not divisible by {b.name}'s {b.groups} groups")
    return layers


def _stem(spec: ChainSpec, in_channels: int, c: int, track: bool = True) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, c, 3, stride=spec.stem_stride, padding=1, bias=False),
        _bn(c, True, track),
        nn.ReLU(inplace=True),
    )


def _head(c_in: int, c_head: int, track: bool = True) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_head, 1, bias=False), _bn(c_head, True, track), nn.ReLU(inplace=True))


class ChainNetwork(nn.Module):
    """Stand-alone network of one chain architecture: stem, one block per layer, head, classifier."""

    def __init__(
        self,
        space: str | ChainSpace | ChainSpec,
        arch: ArchLike,
        num_classes: int | None = None,
        in_channels: int | None = None,
        width: float = 1.0,
    ) -> None:
        super().__init__()
        self.space = resolve_space(space)
        spec = self.space.spec
        self.ids = chain_ids(self.space, arch)
        self.arch_str = self.space.format(self.ids)
        self.num_classes = int(num_classes or spec.num_classes)
        self.in_channels = int(in_channels or spec.in_channels)
        self.width = float(width)
        geo = _geometry(spec, self.width)
        self.stem = _stem(spec, self.in_channels, scaled(spec.stem_channels, self.width))
        self.layers = nn.ModuleList(
            make_block(spec.block_info[i], lay, spec.skip_relu) for i, lay in zip(self.ids, geo, strict=True)
        )
        c_head = scaled(spec.head_channels, self.width)
        self.head = _head(geo[-1]["c_out"], c_head)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_head, self.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.stem(x)
        for layer in self.layers:
            out = layer(out)
        return self.classifier(torch.flatten(self.global_pooling(self.head(out)), 1))

    def extra_repr(self) -> str:
        return f"space={self.space.name!r}, arch={self.arch_str!r}, width={self.width}"


class ChainLayer(nn.Module):
    """All candidate blocks of one layer; runs (and sums) the chosen ones."""

    def __init__(self, blocks: Iterable[nn.Module]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor, choice: tuple[int, ...], weights: torch.Tensor | None = None) -> torch.Tensor:
        """Sum of the chosen blocks' outputs, each scaled by ``weights[o]`` (scalar or per example) if given."""
        out = None
        for o in choice:
            y = self.blocks[o](x)
            if weights is not None:
                w = weights[o]
                y = y * (w.reshape(-1, *([1] * (y.dim() - 1))) if w.dim() else w)
            out = y if out is None else out + y
        return out


class ChainSupernet(nn.Module):
    """Weight-sharing supernet of a chain space (same interface as the NB201 supernet)."""

    def __init__(
        self,
        space: str | ChainSpace = "nbmacro",
        num_classes: int | None = None,
        in_channels: int | None = None,
        affine: bool = False,
        track_running_stats: bool = False,
        width: float = 1.0,
    ) -> None:
        super().__init__()
        self.space = resolve_space(space)
        spec = self.space.spec
        self.num_classes = int(num_classes or spec.num_classes)
        self.in_channels = int(in_channels or spec.in_channels)
        self.affine, self.track_running_stats, self.width = affine, track_running_stats, float(width)
        geo = _geometry(spec, self.width)
        self.stem = _stem(spec, self.in_channels, scaled(spec.stem_channels, self.width), track_running_stats)
        self.layers = nn.ModuleList(
            ChainLayer(make_block(b, lay, spec.skip_relu, affine, track_running_stats) for b in spec.block_info)
            for lay in geo
        )
        c_head = scaled(spec.head_channels, self.width)
        self.head = _head(geo[-1]["c_out"], c_head, track_running_stats)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_head, self.num_classes)
        self.channels_last = False

    def use_channels_last(self, enabled: bool = True) -> ChainSupernet:
        """Channels-last (NHWC) weights and activations: faster oneDNN convolutions on CPU."""
        self.channels_last = enabled
        return self.to(memory_format=torch.channels_last if enabled else torch.contiguous_format)

    def config(self) -> dict[str, Any]:
        """Constructor arguments (stored in checkpoints so a run can be rebuilt)."""
        return {
            "space": self.space.name,
            "num_classes": self.num_classes,
            "in_channels": self.in_channels,
            "affine": self.affine,
            "track_running_stats": self.track_running_stats,
            "width": self.width,
        }

    def forward_from_stem(
        self, h: torch.Tensor, arch: ArchLike, op_weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits from the stem's output (the evaluator computes the stem once per batch).

        ``op_weights`` (``(L, n_ops)`` or ``(L, n_ops, batch)``) scales each chosen block's output
        (PGNAS's relaxed dropout masks).
        """
        for k, (layer, choice) in enumerate(zip(self.layers, layer_choices(self.space, arch), strict=True)):
            h = layer(h, choice, None if op_weights is None else op_weights[k])
        return self.classifier(torch.flatten(self.global_pooling(self.head(h)), 1))

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
        """Parameters used by ``arch`` (stem, chosen blocks, head, classifier)."""
        yield from self.stem.parameters()
        for layer, choice in zip(self.layers, layer_choices(self.space, arch), strict=True):
            for o in choice:
                yield from layer.blocks[o].parameters()
        yield from self.head.parameters()
        yield from self.classifier.parameters()

    def _single(self, arch: ArchLike) -> tuple[int, ...]:
        choice = layer_choices(self.space, arch)
        if any(len(c) > 1 for c in choice):
            raise ArchitectureError("subnet() needs a single path (one block per layer)")
        return tuple(c[0] for c in choice)

    def subnet(self, arch: ArchLike) -> ChainNetwork:
        """A stand-alone :class:`ChainNetwork` with the weights ``arch`` inherits.

        BN without affine maps to weight 1 / bias 0; running statistics are copied where the
        supernet tracks them (otherwise left at their defaults: recalibrate before use).
        """
        ids = self._single(arch)
        net = ChainNetwork(self.space, ids, self.num_classes, self.in_channels, self.width)
        net = net.to(self.classifier.weight.device)
        src = self.subnet_state(ids)
        own = net.state_dict()
        unknown = sorted(set(src) - set(own))
        if unknown:  # a naming mismatch would silently drop weights
            raise NasgcnError(f"internal: supernet state {unknown[:3]} has no place in the subnet")
        net.load_state_dict({**own, **src})
        return net

    def subnet_state(self, arch: ArchLike) -> dict[str, torch.Tensor]:
        """State-dict entries of ``ChainNetwork(arch)`` the supernet holds (names translated)."""
        ids = self._single(arch)
        out: dict[str, torch.Tensor] = {}
        for name, value in self.state_dict().items():
            parts = name.split(".")
            if parts[0] == "layers":
                # layers.{k}.blocks.{j}.rest -> layers.{k}.rest (only the chosen block j)
                if int(parts[3]) != ids[int(parts[1])]:
                    continue
                name = ".".join(parts[:2] + parts[4:])
            out[name] = value
        return out


@register_network(CHAIN, options=("num_classes", "in_channels", "width"))
def _build_network(space: ChainSpace, arch: ArchLike, **options: Any) -> ChainNetwork:
    return ChainNetwork(space, arch, **options)


@register_supernet(CHAIN, options=("num_classes", "in_channels", "affine", "track_running_stats", "width"))
def _build_supernet(space: ChainSpace, **config: Any) -> ChainSupernet:
    return ChainSupernet(space, **config)
