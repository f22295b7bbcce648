"""The stand-alone NB201 network agrees exactly with the analytic cost model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from predictor.costs import MacroConfig, nb201_costs
from predictor.spaces import get_space
from supernet.models import NB201Network

SPACE = get_space("nb201")


def _sample(n: int, seed: int) -> np.ndarray:
    ids = SPACE.sample(n, np.random.default_rng(seed))
    # Always include the extremes: all-none, all-conv3x3, and a cut-off cell with convs.
    extra = np.array([[0] * 6, [3] * 6, [3, 3, 3, 0, 0, 0]])
    return np.concatenate([extra, ids])


@pytest.mark.parametrize(
    "cfg",
    [MacroConfig(), MacroConfig(channels=8, cells=2), MacroConfig(channels=4, cells=1, num_classes=100, in_channels=1)],
)
def test_parameter_count_equals_cost_model(cfg: MacroConfig) -> None:
    ids = _sample(12, seed=cfg.channels)
    expected = nb201_costs(ids, cfg)["params"]
    for row, want in zip(ids, expected, strict=True):
        net = NB201Network(tuple(row), cfg.channels, cfg.cells, cfg.num_classes, cfg.in_channels)
        assert sum(p.numel() for p in net.parameters()) == want, SPACE.format(row)


def test_known_parameter_count_all_none() -> None:
    # The all-`none` cell holds no parameters: only stem, reductions and head remain.
    net = NB201Network("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    assert sum(p.numel() for p in net.parameters()) == 73_306


@pytest.mark.parametrize(
    "cfg", [MacroConfig(channels=8, cells=1, input_size=16), MacroConfig(channels=4, cells=2, input_size=8)]
)
def test_flops_equal_cost_model(cfg: MacroConfig) -> None:
    ids = _sample(2, seed=1)
    expected = nb201_costs(ids, cfg)["macs"]
    x = torch.randn(1, cfg.in_channels, cfg.input_size, cfg.input_size)
    for row, want in zip(ids, expected, strict=True):
        net = NB201Network(tuple(row), cfg.channels, cfg.cells, cfg.num_classes, cfg.in_channels).eval()
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            net(x)
        assert counter.get_total_flops() == 2 * int(want), SPACE.format(row)
