"""NAS-Bench-Macro (Su et al., CVPR 2021): an 8-layer MobileNetV2-style chain on CIFAR-10.

3 blocks (``0`` identity, ``1`` MB3_K3, ``2`` MB6_K5) on 8 layers in stages of [2, 3, 3]:
6,561 architectures, 3,969 up to isomorphism (identity layers after the first of a stage are
no-ops and commute). Stem conv3x3 3->32 + BN + ReLU; each stage's first layer has stride 2
and doubles the channels (64, 128, 256), where "identity" is a 1x1 stride-2 conv + BN; head
1x1 conv 256->1280 + BN + ReLU, global pool, Linear(1280, 10). The exact costs equal the
benchmark's ``params`` and ``flops`` columns for all 6,561 architectures (tested).
"""

from __future__ import annotations

from .base import register_space
from .chain import ChainSpace, ChainSpec

NBMACRO = ChainSpec(
    name="nbmacro",
    stem_channels=32,
    stage_layers=(2, 3, 3),
    stage_channels=(64, 128, 256),
    stage_strides=(2, 2, 2),
    blocks=("identity", "mb3_k3", "mb6_k5"),
    head_channels=1280,
    num_classes=10,
    input_size=32,
    skip_relu=False,
    description="NAS-Bench-Macro: stem 32, stages [2, 3, 3] x [64, 128, 256] (stride 2 each), head 1280, CIFAR-10",
)


@register_space("nbmacro")
def _nbmacro() -> ChainSpace:
    return ChainSpace(NBMACRO)
