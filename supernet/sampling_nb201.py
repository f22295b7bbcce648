"""NB201-specific sampling knowledge: effective cell depth and the balanced sampler's groups.

Kept in NB201's own module so that :mod:`supernet.samplers` only reads the space contract;
:mod:`supernet.samplers` registers these with :func:`supernet.samplers.register_sampling`.
"""

from __future__ import annotations

import numpy as np

from predictor.spaces import SearchSpace
from predictor.spaces.nb201 import EDGES, OPS


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


def depth_groups(space: SearchSpace) -> list[np.ndarray]:
    """Cells of effective depth 0-1, 2 and 3 (cut-off cells are in no group)."""
    grid = space.all_ids()
    depth = effective_depth(grid)
    return [grid[np.isin(depth, d)] for d in ((0, 1), (2,), (3,))]


ZERO_OPS = (OPS.index("none"),)  # `none` computes nothing
