"""Exact parameter and MAC counts: by hand, against an independent torch model, against NAS-Bench-201."""

from __future__ import annotations

import numpy as np
import pytest

from predictor.costs import MacroConfig, cell_op_counts, nb201_costs
from predictor.errors import NasgcnError
from predictor.spaces import OPS, get_space

SPACE = get_space("nb201")
NONE_CELL = np.zeros((1, 6), dtype=np.int64)

# Hand count of the all-`none` network at C=16, N=5, 32x32 input, 10 classes (cells hold nothing).
STEM = 9 * 3 * 16 + 2 * 16  # 3x3 conv 3->16, BN
RED1 = 9 * 16 * 32 + 2 * 32 + 9 * 32 * 32 + 2 * 32 + 16 * 32  # conv_a, BN, conv_b, BN, 1x1 shortcut
RED2 = 9 * 32 * 64 + 2 * 64 + 9 * 64 * 64 + 2 * 64 + 32 * 64
HEAD = 2 * 64 + 64 * 10 + 10  # final BN, linear
NONE_PARAMS = STEM + RED1 + RED2 + HEAD
NONE_MACS = 9 * 3 * 16 * 32 * 32 + (9 * 16 * 32 + 9 * 32 * 32 + 16 * 32) * 16 * 16
NONE_MACS += (9 * 32 * 64 + 9 * 64 * 64 + 32 * 64) * 8 * 8 + 64 * 10
# One conv op on one edge of every cell: 5 cells per stage at 16, 32, 64 channels (+ its BN).
CONV1X1_PARAMS = 5 * (16 * 16 + 32 * 32 + 64 * 64) + 5 * 2 * (16 + 32 + 64)
CONV3X3_PARAMS = 5 * 9 * (16 * 16 + 32 * 32 + 64 * 64) + 5 * 2 * (16 + 32 + 64)


def test_hand_counted_network():
    assert NONE_PARAMS == 73_306 and CONV1X1_PARAMS == 28_000 and CONV3X3_PARAMS == 243_040
    c = nb201_costs(NONE_CELL)
    assert c["params"].tolist() == [NONE_PARAMS]
    assert c["macs"].tolist() == [NONE_MACS]
    assert c["params_m"][0] == pytest.approx(0.073306, abs=1e-12)
    assert c["flops_m"][0] == pytest.approx(NONE_MACS / 1e6, abs=1e-12)


@pytest.mark.parametrize("op, params, macs_per_cell_pixel", [(2, 28_000, 1), (3, 243_040, 9)])
def test_each_conv_edge_adds_a_fixed_cost(op, params, macs_per_cell_pixel):
    for slot in range(6):
        ids = NONE_CELL.copy()
        ids[0, slot] = op
        c = nb201_costs(ids)
        assert c["params"][0] - NONE_PARAMS == params
        stage_macs = 16 * 16 * 32 * 32 + 32 * 32 * 16 * 16 + 64 * 64 * 8 * 8
        assert c["macs"][0] - NONE_MACS == 5 * macs_per_cell_pixel * stage_macs
    # Parameter-free ops cost nothing; costs add up over edges.
    for free in (1, 4):
        assert nb201_costs(np.full((1, 6), free))["params"][0] == NONE_PARAMS
    all3 = nb201_costs(np.full((1, 6), 3))["params"][0]
    assert all3 == NONE_PARAMS + 6 * CONV3X3_PARAMS


def test_costs_depend_only_on_op_counts():
    ids = SPACE.all_ids()
    c = nb201_costs(ids)
    counts = cell_op_counts(ids)
    assert (counts.sum(axis=1) == 6).all()
    expected = NONE_PARAMS + counts[:, 2] * CONV1X1_PARAMS + counts[:, 3] * CONV3X3_PARAMS
    np.testing.assert_array_equal(c["params"], expected)
    assert c["params_m"].min() == pytest.approx(0.073306) and c["params_m"].max() == pytest.approx(1.531546)


@pytest.mark.parametrize("channels, cells", [(8, 1), (16, 5), (24, 3), (5, 2)])
def test_scaling_with_channels_and_cells(channels, cells):
    cfg = MacroConfig(channels=channels, cells=cells)
    ids = SPACE.encode(["|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|"])
    extra = nb201_costs(ids, cfg)["params"][0] - nb201_costs(NONE_CELL, cfg)["params"][0]
    c = channels
    assert extra == cells * (9 * (c * c + 4 * c * c + 16 * c * c) + 2 * (c + 2 * c + 4 * c))
    # Cells add nothing when every op is parameter-free, whatever N is.
    base = nb201_costs(NONE_CELL, cfg)["params"][0]
    assert base == nb201_costs(NONE_CELL, MacroConfig(channels=channels, cells=cells + 4))["params"][0]


def test_scaling_with_classes_and_input_size():
    ids = SPACE.sample(64, 0)
    base = nb201_costs(ids)
    more = nb201_costs(ids, MacroConfig(num_classes=100))
    np.testing.assert_array_equal(more["params"] - base["params"], 90 * (64 + 1))
    np.testing.assert_array_equal(more["macs"] - base["macs"], 90 * 64)
    big = nb201_costs(ids, MacroConfig(input_size=64))
    np.testing.assert_array_equal(big["params"], base["params"])
    head = 64 * 10
    np.testing.assert_array_equal(big["macs"] - head, 4 * (base["macs"] - head))


def test_macro_config_validation():
    for bad in ({"channels": 0}, {"cells": -1}, {"num_classes": 0}, {"input_size": 30}):
        with pytest.raises(NasgcnError):
            MacroConfig(**bad)
    with pytest.raises(NasgcnError, match=r"shape \(n, 6\)"):
        nb201_costs(np.zeros((2, 5), dtype=np.int64))
    assert MacroConfig().stage_channels() == (16, 32, 64) and MacroConfig().stage_sizes() == (32, 16, 8)


# ----- against an independent torch implementation ------------------------------------------


def _torch_net(ids, cfg: MacroConfig):
    """A from-scratch NB201 macro network (test oracle only)."""
    import torch
    from torch import nn

    def rcb(cin, cout, k, stride=1):
        return nn.Sequential(
            nn.ReLU(), nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout, affine=True)
        )

    class Zero(nn.Module):
        def forward(self, x):
            return x * 0.0

    def op(name, c):
        return {
            "none": Zero,
            "skip_connect": nn.Identity,
            "nor_conv_1x1": lambda: rcb(c, c, 1),
            "nor_conv_3x3": lambda: rcb(c, c, 3),
            "avg_pool_3x3": lambda: nn.AvgPool2d(3, 1, 1, count_include_pad=False),
        }[name]()

    class Cell(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.ops = nn.ModuleList(op(OPS[i], c) for i in ids)

        def forward(self, x):
            nodes = [x]
            k = 0
            for dst in (1, 2, 3):
                total = 0
                for src in range(dst):
                    total = total + self.ops[k](nodes[src])
                    k += 1
                nodes.append(total)
            return nodes[3]

    class Reduction(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.a, self.b = rcb(cin, cout, 3, 2), rcb(cout, cout, 3)
            self.short = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(cin, cout, 1, bias=False))

        def forward(self, x):
            return self.b(self.a(x)) + self.short(x)

    c = cfg.channels
    layers = [nn.Conv2d(cfg.in_channels, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)]
    for stage, width in enumerate(cfg.stage_channels()):
        if stage:
            layers.append(Reduction(width // 2, width))
        layers += [Cell(width) for _ in range(cfg.cells)]
    layers += [
        nn.BatchNorm2d(4 * c),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4 * c, cfg.num_classes),
    ]
    return torch.nn.Sequential(*layers)


@pytest.mark.parametrize(
    "cfg, n_forward",
    [(MacroConfig(), 1), (MacroConfig(channels=4, cells=2, input_size=8, num_classes=7), 5)],
)
def test_matches_torch_model_params_and_flop_counter(cfg, n_forward):
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    ids = np.concatenate([np.full((1, 6), 3), SPACE.sample(3, 11), NONE_CELL])
    costs = nb201_costs(ids, cfg)
    for i, (row, params, macs) in enumerate(zip(ids, costs["params"], costs["macs"], strict=True)):
        net = _torch_net(row.tolist(), cfg).eval()
        assert sum(p.numel() for p in net.parameters()) == params
        if i < n_forward:  # a forward pass at full size is slow on a shared CPU: one is enough
            counter = FlopCounterMode(display=False)
            with counter, torch.no_grad():
                net(torch.zeros(1, cfg.in_channels, cfg.input_size, cfg.input_size))
            assert counter.get_total_flops() == 2 * macs  # torch counts a MAC as two FLOPs


# ----- against NAS-Bench-201 ---------------------------------------------------------------


def test_params_match_nas_bench_201(ground_truth):
    """Exact on 15,421 rows; the other 204 published values are averages that include a foreign record.

    NAS-Bench-201's ``params_mb`` for those rows averages 2-3 training records, one of which
    was made with a different cell (mostly an isomorphic one). So the published number is
    ``((k-1) * ours + other) / k`` for k = 2 or 3, where ``other`` is the exact count of some
    architecture of the space; the gap is a multiple of a third of one 1x1-conv edge (28,000
    parameters over the network) or of one 3x3-conv edge (243,040), never a mix.
    """
    ids = SPACE.encode(ground_truth["arch_str"].tolist())
    ours = nb201_costs(ids)["params"]
    published = ground_truth["params_mb"].to_numpy() * 1e6
    diff = published - ours
    mismatch = np.abs(diff) >= 1.0  # published values have 1e-6 M = 1 parameter resolution
    assert np.abs(diff[~mismatch]).max() < 1e-3  # the rest agree exactly
    assert (~mismatch).sum() >= 15_421 and mismatch.sum() <= 204
    six = 6 * diff[mismatch]
    for unit in (CONV1X1_PARAMS, CONV3X3_PARAMS):
        other = CONV3X3_PARAMS if unit == CONV1X1_PARAMS else CONV1X1_PARAMS
        # Rows whose gap is in this unit: an integer multiple (2..4) of unit, none of the other.
        mult = six / unit
        in_unit = np.abs(mult - np.round(mult)) < 1e-6
        assert np.all((np.abs(np.round(mult[in_unit])) >= 2) & (np.abs(np.round(mult[in_unit])) <= 4))
        assert not np.any(in_unit & (np.abs(six / other - np.round(six / other)) < 1e-6))
    in_any = np.zeros(six.shape, dtype=bool)
    for unit in (CONV1X1_PARAMS, CONV3X3_PARAMS):
        in_any |= np.abs(six / unit - np.round(six / unit)) < 1e-6
    assert in_any.all()
    # ... and the foreign record is the exact count of a real architecture of the space.
    exact_counts = set(nb201_costs(SPACE.all_ids())["params"].tolist())
    for pub, own in zip(published[mismatch], ours[mismatch], strict=True):
        candidates = [k * pub - (k - 1) * own for k in (2, 3)]
        assert any(abs(q - round(q)) < 1e-2 and round(q) in exact_counts for q in candidates)
