"""Exact parameter and FLOP counts of the NAS-Bench-201 macro network, vectorized.

NB201's own cost module, behind :meth:`NB201Space.costs`; every other layer asks
``space.costs(ids, macro)``. ``predictor.costs`` re-exports it for existing imports.

The macro network (NAS-Bench-201's ``TinyNetwork``): a 3×3 conv stem (3→C) with
BatchNorm; three stages of ``N`` cells at C, 2C and 4C channels, separated by two
residual reduction blocks (stride 2); a final BatchNorm + ReLU, global average
pooling and a linear classifier.

Cell ops are ReLU→Conv(no bias)→BN(affine) for ``nor_conv_1x1``/``nor_conv_3x3``;
``skip_connect``, ``avg_pool_3x3`` and ``none`` hold no parameters.

**FLOPs** here are multiply-accumulates (MACs) of convolutions and linear layers,
in millions: the convention of NAS-Bench-201 and HW-NAS-Bench. BatchNorm, ReLU,
pooling and additions are not counted. (``torch.utils.flop_counter`` reports
2 × this number.) Every cell is counted, also those whose output is cut off.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import NasgcnError
from .nb201 import EDGES

# Per-op (weights per C², extra per C, kernel area); index = op id.
_KERNEL = np.array([0, 0, 1, 9, 0], dtype=np.int64)


@dataclass(frozen=True)
class MacroConfig:
    """Shape of the NB201 macro network. Defaults are NAS-Bench-201's CIFAR-10 setting."""

    channels: int = 16
    cells: int = 5
    input_size: int = 32
    num_classes: int = 10
    in_channels: int = 3

    def __post_init__(self) -> None:
        for name in ("channels", "cells", "input_size", "num_classes", "in_channels"):
            if int(getattr(self, name)) < 1:
                raise NasgcnError(f"macro network option {name} must be a positive integer")
        if self.input_size % 4:
            raise NasgcnError(f"input size {self.input_size} must be divisible by 4 (two stride-2 reductions)")

    def stage_channels(self) -> tuple[int, int, int]:
        c = self.channels
        return (c, 2 * c, 4 * c)

    def stage_sizes(self) -> tuple[int, int, int]:
        h = self.input_size
        return (h, h // 2, h // 4)


def _fixed_costs(cfg: MacroConfig) -> tuple[int, int]:
    """Parameters and MACs of everything outside the cells (stem, reductions, head)."""
    c, h, k, cin = cfg.channels, cfg.input_size, cfg.num_classes, cfg.in_channels
    params = 9 * cin * c + 2 * c  # stem conv + BN
    macs = 9 * cin * c * h * h
    for c_in, hw in ((c, h // 2), (2 * c, h // 4)):
        c_out = 2 * c_in
        # conv_a (3×3, stride 2) + BN, conv_b (3×3) + BN, shortcut avgpool + 1×1 conv.
        params += 9 * c_in * c_out + 2 * c_out + 9 * c_out * c_out + 2 * c_out + c_in * c_out
        macs += (9 * c_in * c_out + 9 * c_out * c_out + c_in * c_out) * hw * hw
    c_last = 4 * c
    params += 2 * c_last + c_last * k + k  # final BN + classifier
    macs += c_last * k
    return params, macs


def cell_op_counts(op_ids: np.ndarray) -> np.ndarray:
    """``(n, num_ops)`` count of each op over the 6 edges."""
    ids = np.asarray(op_ids)
    return np.stack([(ids == o).sum(axis=1) for o in range(5)], axis=1)


def nb201_costs(op_ids: np.ndarray, cfg: MacroConfig | None = None) -> dict[str, np.ndarray]:
    """Exact ``params_m`` and ``flops_m`` (MACs) for each row of ``op_ids``.

    Vectorized: the cost of a cell is linear in its op counts, so the whole space
    is one small matrix product.
    """
    cfg = cfg or MacroConfig()
    ids = np.asarray(op_ids, dtype=np.int64)
    if ids.ndim != 2 or ids.shape[1] != len(EDGES):
        raise NasgcnError(f"expected op ids of shape (n, 6), got {ids.shape}")
    kernel = _KERNEL[ids]  # (n, 6) kernel area per edge, 0 for parameter-free ops
    has_bn = (kernel > 0).astype(np.int64)
    k_sum = kernel.sum(axis=1)
    bn_sum = has_bn.sum(axis=1)
    params = np.zeros(ids.shape[0], dtype=np.int64)
    macs = np.zeros(ids.shape[0], dtype=np.int64)
    for c, hw in zip(cfg.stage_channels(), cfg.stage_sizes(), strict=True):
        params += cfg.cells * (k_sum * c * c + bn_sum * 2 * c)
        macs += cfg.cells * k_sum * c * c * hw * hw
    fixed_p, fixed_m = _fixed_costs(cfg)
    params += fixed_p
    macs += fixed_m
    return {"params": params, "macs": macs, "params_m": params / 1e6, "flops_m": macs / 1e6}
