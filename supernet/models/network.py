"""The stand-alone NAS-Bench-201 network of one architecture (NB201's ``TinyNetwork``).

Used for retraining from scratch and for latency measurement. Its parameter count
equals :func:`predictor.costs.nb201_costs` exactly; ``none`` edges hold no module and
are not computed. Every other edge is computed, also in cells whose output is cut
off, so measured FLOPs match the cost model too.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from predictor.errors import ArchitectureError
from predictor.spaces import get_space
from predictor.spaces.nb201 import EDGES

from .ops import ResNetBasicBlock, head, make_op, stem
from .registry import register_network


def arch_ids(arch: str | Sequence[int] | torch.Tensor) -> tuple[int, ...]:
    """Op ids of ``arch`` (canonical string, 6 op ids or a (6,) tensor), validated."""
    space = get_space("nb201")
    if isinstance(arch, str):
        return tuple(int(i) for i in space.parse(arch))
    if isinstance(arch, torch.Tensor):
        arch = arch.detach().cpu().tolist()
    ids = tuple(int(i) for i in arch)
    if len(ids) != len(EDGES) or any(i < 0 or i > 4 for i in ids):
        raise ArchitectureError(f"expected 6 op ids in 0..4, got {ids}")
    return ids


class InferCell(nn.Module):
    """A fixed cell: node j = sum of its incoming edges' ops; output = node 3."""

    def __init__(self, ids: Sequence[int], channels: int, affine: bool = True, track_running_stats: bool = True):
        super().__init__()
        self.ids = tuple(ids)
        # Keys are slot numbers; `none` edges get no module.
        self.edges = nn.ModuleDict(
            {str(k): make_op(op, channels, affine, track_running_stats) for k, op in enumerate(self.ids) if op != 0}
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes: list[torch.Tensor | None] = [x, None, None, None]
        for k, (src, dst) in enumerate(EDGES):
            if self.ids[k] == 0 or nodes[src] is None:
                # A `none` input, or a source that is all zeros: nothing flows (but
                # compute the op anyway so FLOPs match the cost model).
                if self.ids[k] != 0 and nodes[src] is None:
                    out = self.edges[str(k)](torch.zeros_like(x))
                    nodes[dst] = out if nodes[dst] is None else nodes[dst] + out
                continue
            out = self.edges[str(k)](nodes[src])
            nodes[dst] = out if nodes[dst] is None else nodes[dst] + out
        return nodes[3] if nodes[3] is not None else torch.zeros_like(x)


class NB201Network(nn.Module):
    """Stand-alone NB201 network: stem, 3 stages of ``cells`` cells at C/2C/4C, 2 reductions, head.

    ``arch`` is an arch string or 6 op ids. BatchNorm is affine with running statistics.
    """

    space = "nb201"  # the search space (registry key) this model belongs to

    def __init__(
        self,
        arch: str | Sequence[int] | torch.Tensor,
        channels: int = 16,
        cells: int = 5,
        num_classes: int = 10,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        self.ids = arch_ids(arch)
        self.arch_str = get_space("nb201").format(self.ids)
        self.channels, self.cells, self.num_classes, self.in_channels = channels, cells, num_classes, in_channels
        self.stem = stem(in_channels, channels)
        layers: list[nn.Module] = []
        c = channels
        for stage in range(3):
            if stage > 0:
                layers.append(ResNetBasicBlock(c, 2 * c))
                c *= 2
            layers.extend(InferCell(self.ids, c) for _ in range(cells))
        self.layers = nn.Sequential(*layers)
        parts = head(c, num_classes)
        self.lastact = parts["lastact"]
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = parts["classifier"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.lastact(self.layers(self.stem(x)))
        return self.classifier(torch.flatten(self.global_pooling(out), 1))

    def extra_repr(self) -> str:
        return f"arch={self.arch_str!r}, channels={self.channels}, cells={self.cells}"


@register_network("nb201", options=("channels", "cells", "num_classes", "in_channels"))
def _build_network(space: object, arch: str | Sequence[int], **options: int) -> NB201Network:
    return NB201Network(arch, **options)
