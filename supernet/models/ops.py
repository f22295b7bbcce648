"""Candidate operations of the NAS-Bench-201 cell and the residual reduction block.

Every op maps ``C`` channels to ``C`` channels at stride 1 inside a cell. BatchNorm
flags are explicit because the stand-alone network (``affine`` + running stats) and
the supernet (no affine, batch statistics) differ only there.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from predictor.spaces.nb201 import OPS


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv (no bias) -> BatchNorm, NAS-Bench-201's convolution block."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel_size: int,
        stride: int = 1,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(c_out, affine=affine, track_running_stats=track_running_stats),
        )


class Pooling(nn.AvgPool2d):
    """3×3 average pooling, stride 1, padding excluded from the mean (NB201's ``avg_pool_3x3``)."""

    def __init__(self) -> None:
        super().__init__(3, stride=1, padding=1, count_include_pad=False)


def _box_sum(x: torch.Tensor, ones: torch.Tensor) -> torch.Tensor:
    """3×3 box sum with zero padding.

    Channels-last: a depthwise convolution with ``ones`` (oneDNN, ~5× faster than slicing there).
    Otherwise two separable slice-and-add passes, whose rounding does not depend on the batch
    size (oneDNN's NCHW depthwise kernels do, which would break the DDP = single-process check).
    """
    if x.dim() == 4 and x.shape[1] > 1 and x.is_contiguous(memory_format=torch.channels_last):
        return nn.functional.conv2d(x, ones, padding=1, groups=x.shape[1])
    p = nn.functional.pad(x, (1, 1, 1, 1))
    rows = p[..., :, :-2] + p[..., :, 1:-1]
    rows += p[..., :, 2:]
    box = rows[..., :-2, :] + rows[..., 1:-1, :]
    box += rows[..., 2:, :]
    return box


class _BoxMean(torch.autograd.Function):
    """``box_sum(x) * inv`` with a hand-written backward.

    The zero-padded box sum is self-adjoint, so the input gradient is ``box_sum(grad * inv)``; the
    ones need no gradient. Autograd through the slices would instead allocate a zero-filled
    full-size tensor per slice (a fifth of a training step's time in profiles).
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, ones: torch.Tensor, inv: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(ones, inv)
        return _box_sum(x, ones).mul_(inv)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        ones, inv = ctx.saved_tensors
        return _box_sum(grad * inv, ones), None, None


class BoxPooling(nn.Module):
    """``avg_pool_3x3`` computed as a 3×3 box sum times 1/count (padding excluded).

    The same function as :class:`Pooling` (to float rounding) but faster on CPU, where the
    pooling kernels are slow for small images; used by the supernet only (the stand-alone
    network keeps the standard op, whose latency is what deployments see).
    """

    def __init__(self) -> None:
        super().__init__()
        self._consts: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def _constants(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Depthwise ones kernel and the ``(1, 1, H, W)`` inverse counts, cached per shape/device/dtype."""
        key = (x.shape[1], x.shape[-2], x.shape[-1], x.device, x.dtype)
        hit = self._consts.get(key)
        if hit is None:
            # Normal (non-inference) constants, so a cache filled under inference_mode also serves training.
            with torch.inference_mode(False), torch.no_grad():
                ones = torch.ones(x.shape[1], 1, 3, 3, device=x.device, dtype=x.dtype)
                count = torch.ones(1, 1, x.shape[-2], x.shape[-1], device=x.device, dtype=x.dtype)
                inv = 1.0 / nn.functional.avg_pool2d(count, 3, 1, 1, divisor_override=1)
            hit = self._consts[key] = (ones, inv)
        return hit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] * x.shape[-2] <= 16:  # tiny maps: the native kernel wins
            return nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
        return _BoxMean.apply(x, *self._constants(x))


class Zero(nn.Module):
    """The ``none`` op. Cells skip it (it adds nothing); kept for completeness."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


def make_op(
    op: int | str, channels: int, affine: bool = True, track_running_stats: bool = True, fast_pool: bool = False
) -> nn.Module:
    """Module for one NB201 op (id or name) on ``channels`` channels (``fast_pool``: :class:`BoxPooling`)."""
    name = OPS[op] if isinstance(op, int) else op
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, affine=affine, track_running_stats=track_running_stats)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, affine=affine, track_running_stats=track_running_stats)
    if name == "avg_pool_3x3":
        return BoxPooling() if fast_pool else Pooling()
    raise ValueError(f"unknown NB201 op {op!r}")


class ResNetBasicBlock(nn.Module):
    """Stride-2 residual reduction block between stages (as in NAS-Bench-201).

    ``conv_b(conv_a(x)) + conv1x1(avgpool(x))``; the shortcut conv has no BatchNorm.
    """

    def __init__(self, c_in: int, c_out: int, affine: bool = True, track_running_stats: bool = True) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2, affine=affine, track_running_stats=track_running_stats)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, stride=1, affine=affine, track_running_stats=track_running_stats)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(c_in, c_out, 1, stride=1, padding=0, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_b(self.conv_a(x)) + self.downsample(x)


def stem(in_channels: int, channels: int, affine: bool = True, track_running_stats: bool = True) -> nn.Sequential:
    """3×3 conv + BatchNorm stem."""
    return nn.Sequential(
        nn.Conv2d(in_channels, channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(channels, affine=affine, track_running_stats=track_running_stats),
    )


def head(channels: int, num_classes: int, affine: bool = True, track_running_stats: bool = True) -> nn.ModuleDict:
    """Final BN + ReLU, global pooling and classifier (pieces used by both networks)."""
    return nn.ModuleDict(
        {
            "lastact": nn.Sequential(
                nn.BatchNorm2d(channels, affine=affine, track_running_stats=track_running_stats), nn.ReLU(inplace=True)
            ),
            "classifier": nn.Linear(channels, num_classes),
        }
    )
