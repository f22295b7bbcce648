"""HW-NAS-Bench's FBNet space for CIFAR-100: 22 layers, 9 blocks, 9^22 (about 10^21) architectures.

Too large to enumerate: it is searched (``nasgcn search``), never tabulated. Stem conv3x3 3->16
(stride 1) + BN + ReLU; stages of [1, 4, 4, 4, 4, 4, 1] layers with [16, 24, 32, 64, 112, 184, 352]
channels and strides [1, 1, 2, 2, 1, 2, 1] (stride and channels change in a stage's first layer);
head 1x1 conv 352->1504 + BN + ReLU, global pool, Linear(1504, 100). Block ids as in HW-NAS-Bench:
0 k3_e1, 1 k3_e1_g2, 2 k3_e3, 3 k3_e6, 4 k5_e1, 5 k5_e1_g2, 6 k5_e3, 7 k5_e6, 8 skip. A ``skip`` at a
stage's first layer with a shape change is a 1x1 conv + BN + ReLU (FBNet's convention); later skips
in a stage are identities and commute.
"""

from __future__ import annotations

from .base import register_space
from .chain import ChainSpace, ChainSpec

FBNET = ChainSpec(
    name="fbnet",
    stem_channels=16,
    stage_layers=(1, 4, 4, 4, 4, 4, 1),
    stage_channels=(16, 24, 32, 64, 112, 184, 352),
    stage_strides=(1, 1, 2, 2, 1, 2, 1),
    blocks=("k3_e1", "k3_e1_g2", "k3_e3", "k3_e6", "k5_e1", "k5_e1_g2", "k5_e3", "k5_e6", "skip"),
    head_channels=1504,
    num_classes=100,
    input_size=32,
    skip_relu=True,
    description="HW-NAS-Bench FBNet (CIFAR-100): stem 16, 22 layers in 7 stages, head 1504, 100 classes",
)


@register_space("fbnet")
def _fbnet() -> ChainSpace:
    return ChainSpace(FBNET)
