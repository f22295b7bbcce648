"""Chain-space networks (NAS-Bench-Macro, FBNet, custom specs): exact costs, supernet paths, registry."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from predictor.errors import ArchitectureError, NasgcnError
from predictor.spaces import ChainSpec, get_space, register_chain_space
from supernet.models import (
    ChainNetwork,
    ChainSupernet,
    NB201Supernet,
    build_network,
    build_supernet,
    recalibrate_bn,
    supernet_from_config,
)
from supernet.models.registry import network_option_names, space_of, supernet_option_names

torch.set_num_threads(1)

TINY = ChainSpec(
    name="tiny_chain_test",
    stem_channels=8,
    stage_layers=(1, 3),
    stage_channels=(8, 16),
    stage_strides=(1, 2),
    blocks=("k3_e1", "k3_e2_g2", "mb3_k5", "skip"),
    head_channels=32,
    skip_relu=True,
)


def _params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("name,n", [("nbmacro", 60), ("fbnet", 25)])
def test_parameter_count_equals_space_costs(name: str, n: int) -> None:
    sp = get_space(name)
    ids = sp.sample(n, np.random.default_rng(1))
    ids[0] = sp.skip_op  # every layer a skip: 1x1 convs at stage starts, identities elsewhere
    ids[1] = 1
    costs = sp.costs(ids)["params"]
    for row, expected in zip(ids, costs, strict=True):
        assert _params(ChainNetwork(sp, row)) == expected, sp.format(row)


def test_parameter_count_matches_nbmacro_data(nbmacro_data) -> None:
    rows = nbmacro_data.sample(40, random_state=0)
    for arch, params in zip(rows["arch"], rows["params"], strict=True):
        assert _params(build_network("nbmacro", arch)) == params, arch


@pytest.mark.parametrize("name", ["nbmacro", "fbnet"])
def test_macs_match_flop_counter(name: str) -> None:
    sp = get_space(name)
    ids = sp.sample(3, np.random.default_rng(2))
    macs = sp.costs(ids)["macs"]
    for row, expected in zip(ids, macs, strict=True):
        net = ChainNetwork(sp, row).eval()
        with FlopCounterMode(display=False) as fc, torch.no_grad():
            net(torch.zeros(1, 3, 32, 32))
        assert fc.get_total_flops() == 2 * expected  # the counter counts a multiply-accumulate as 2 FLOPs


def test_custom_spec_with_groups_exact_and_registered() -> None:
    sp = register_chain_space(TINY)
    ids = sp.all_ids()[::7]
    costs = sp.costs(ids)
    for row, p, m in zip(ids, costs["params"], costs["macs"], strict=True):
        net = build_network(TINY.name, tuple(row)).eval()
        assert _params(net) == p
        with FlopCounterMode(display=False) as fc, torch.no_grad():
            net(torch.zeros(1, 3, 32, 32))
        assert fc.get_total_flops() == 2 * m
    sn = build_supernet(TINY.name, num_classes=5)
    assert isinstance(sn, ChainSupernet) and sn(torch.randn(2, 3, 16, 16), "1203").shape == (2, 5)
    assert ChainNetwork(TINY, "0123").space.name == TINY.name  # a spec works unregistered too


def test_network_inputs_and_errors() -> None:
    sp = get_space("nbmacro")
    a, b = ChainNetwork("nbmacro", "22212220"), ChainNetwork(sp, (2, 2, 2, 1, 2, 2, 2, 0))
    assert a.ids == b.ids and a.arch_str == "22212220"
    assert ChainNetwork(sp, torch.tensor(a.ids)).ids == a.ids
    for bad in ("2221222", "22212223", (0, 1, 2)):
        with pytest.raises(ArchitectureError):
            ChainNetwork(sp, bad)
    with pytest.raises(NasgcnError, match="not a chain space"):
        ChainNetwork("nb201", "0" * 6)
    digits = ChainNetwork("fbnet", "0" * 22, num_classes=10, in_channels=1, width=0.25)
    assert digits(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    assert _params(ChainNetwork(sp, a.ids, width=0.5)) < _params(a)


@pytest.fixture()
def supernet() -> ChainSupernet:
    torch.manual_seed(0)
    return ChainSupernet("nbmacro", num_classes=7, width=0.25)


def test_supernet_forward_ids_strings_and_masks(supernet: ChainSupernet) -> None:
    x = torch.randn(4, 3, 16, 16)
    sp = get_space("nbmacro")
    ids = (2, 1, 0, 1, 2, 0, 1, 2)
    supernet.eval()
    out = supernet(x, ids)
    assert out.shape == (4, 7)
    assert torch.equal(out, supernet(x, sp.format(ids)))
    assert torch.equal(out, supernet(x, np.asarray(ids)))
    one_hot = np.eye(3, dtype=bool)[list(ids)]
    assert torch.allclose(out, supernet(x, one_hot), atol=1e-6)
    both = one_hot.copy()
    both[3] = True  # layer 3 runs all three blocks, summed
    assert not torch.allclose(out, supernet(x, both))
    with pytest.raises(ArchitectureError, match="no block in layer 2"):
        supernet(x, np.where(np.arange(8)[:, None] == 2, False, one_hot))
    with pytest.raises(ArchitectureError):
        supernet(x, np.ones((8, 4), dtype=bool))
    with pytest.raises(ArchitectureError):
        supernet(x, (0, 1))


def test_only_the_path_gets_gradients(supernet: ChainSupernet) -> None:
    ids = (1, 0, 2, 0, 1, 2, 2, 0)
    supernet(torch.randn(4, 3, 16, 16), ids).sum().backward()
    with_grad = {id(p) for p in supernet.parameters() if p.grad is not None}
    assert with_grad == {id(p) for p in supernet.path_parameters(ids)}
    assert len(with_grad) < len(list(supernet.parameters()))


@pytest.mark.parametrize("name", ["nbmacro", "fbnet"])
def test_subnet_equals_supernet_path_in_eval_mode(name: str) -> None:
    torch.manual_seed(0)
    sn = ChainSupernet(name, num_classes=5, width=0.25, affine=True, track_running_stats=True)
    sp = get_space(name)
    ids = tuple(int(i) for i in sp.sample(1, np.random.default_rng(3))[0])
    batches = [torch.randn(8, 3, 16, 16) for _ in range(2)]
    with torch.no_grad():  # random affine BN weights, so the comparison is not trivially 1/0
        for m in sn.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    recalibrate_bn(sn, ids, batches)
    sn.eval()
    net = sn.subnet(ids).eval()
    x = torch.randn(3, 3, 16, 16)
    assert torch.allclose(net(x), sn(x, ids), atol=1e-5)
    assert _params(net) == _params(ChainNetwork(sp, ids, 5, width=0.25))
    assert set(sn.subnet_state(ids)) <= set(net.state_dict())
    with pytest.raises(ArchitectureError, match="single path"):
        sn.subnet(np.ones((sp.num_slots, len(sp.ops)), dtype=bool))


def test_subnet_of_batch_statistics_supernet(supernet: ChainSupernet) -> None:
    x = torch.randn(5, 3, 16, 16)
    ids = (0, 2, 1, 1, 0, 2, 0, 1)
    supernet.eval()
    net = supernet.subnet(ids)
    net.train()  # batch statistics, like the supernet (no affine: weight 1, bias 0)
    assert torch.allclose(net(x), supernet(x, ids), atol=1e-5)


def test_channels_last_config_roundtrip_and_reset_classifier(supernet: ChainSupernet) -> None:
    x = torch.randn(4, 3, 16, 16)
    ids = "21012120"
    supernet.eval()
    ref = supernet(x, ids)
    supernet.use_channels_last()
    assert torch.allclose(ref, supernet(x, ids), atol=1e-5)
    cfg = supernet.config()
    assert cfg["space"] == "nbmacro" and cfg["width"] == 0.25
    clone = supernet_from_config(cfg)
    clone.load_state_dict(supernet.state_dict())
    clone.eval()
    assert torch.allclose(ref, clone(x, ids), atol=1e-5)
    supernet.reset_classifier(3)
    assert supernet(x, ids).shape == (4, 3) and supernet.num_classes == 3


def test_registry_dispatch_and_options() -> None:
    assert isinstance(supernet_from_config({"channels": 4, "cells": 1}), NB201Supernet)  # old files: nb201
    assert isinstance(build_supernet("fbnet", width=0.25), ChainSupernet)
    assert space_of(build_supernet("nb201", channels=4, cells=1)) == "nb201"
    assert space_of(build_supernet("fbnet", width=0.25)) == "fbnet"
    assert "width" in supernet_option_names("nbmacro") and "channels" not in supernet_option_names("nbmacro")
    assert {"channels", "cells"} <= network_option_names("nb201") and "width" not in network_option_names("nb201")
    with pytest.raises(NasgcnError, match="bad supernet option"):
        build_supernet("nbmacro", channels=8)
    g3 = ChainSpec(
        name="g3_chain_test",
        stem_channels=24,
        stage_layers=(1,),
        stage_channels=(48,),
        stage_strides=(1,),
        blocks=("k3_e1_g3", "skip"),
        head_channels=32,
    )
    assert _params(ChainNetwork(g3, "0")) == get_space(register_chain_space(g3)).costs([[0]])["params"][0]
    with pytest.raises(NasgcnError, match="not divisible"):
        ChainSupernet(g3, width=0.5)  # 16 channels cannot be split in 3 groups
    with pytest.raises(NasgcnError):
        get_space("no_such_space")


def test_space_without_models_is_a_clear_error() -> None:
    from predictor.spaces import NB201Space

    class Unregistered(NB201Space):
        name = "unregistered_test_space"

    with pytest.raises(NasgcnError, match="no registered supernet"):
        build_supernet(Unregistered())
    with pytest.raises(NasgcnError, match="no registered network"):
        build_network(Unregistered(), "0" * 6)
