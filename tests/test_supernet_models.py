"""Supernet and stand-alone network: shapes, single-path execution, weight inheritance, BN modes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from predictor.errors import ArchitectureError
from predictor.spaces import get_space
from supernet.models import NB201Network, NB201Supernet
from supernet.models.supernet import path_ops, recalibrate_bn

SPACE = get_space("nb201")
ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"


@pytest.fixture()
def supernet() -> NB201Supernet:
    torch.manual_seed(0)
    return NB201Supernet(channels=4, cells=1, num_classes=7, in_channels=3)


def test_network_accepts_string_ids_and_tensor() -> None:
    ids = SPACE.parse(ARCH)
    a, b, c = NB201Network(ARCH, 4, 1), NB201Network(ids, 4, 1), NB201Network(torch.tensor(ids), 4, 1)
    assert a.arch_str == b.arch_str == c.arch_str == ARCH
    assert a(torch.randn(2, 3, 16, 16)).shape == (2, 10)
    with pytest.raises(ArchitectureError):
        NB201Network((0, 1, 2, 3, 4, 5))
    with pytest.raises(ArchitectureError):
        NB201Network("|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|")


def test_network_skips_none_edges() -> None:
    net = NB201Network(ARCH, 4, 1)
    cell = net.layers[0]
    assert sorted(cell.edges.keys()) == ["0", "1", "2", "3", "5"]  # slot 4 is `none`


def test_supernet_output_and_path_only_gradients(supernet: NB201Supernet) -> None:
    x = torch.randn(4, 3, 8, 8)
    ids = SPACE.parse(ARCH)
    out = supernet(x, ids)
    assert out.shape == (4, 7)
    out.sum().backward()
    used = {id(p) for p in supernet.path_parameters(ids)}
    for p in supernet.parameters():
        assert (p.grad is not None) == (id(p) in used)
    # Arch given as string, tensor or numpy row gives the same output.
    for arch in (ARCH, torch.tensor(ids), np.array(ids)):
        assert torch.equal(supernet(x, arch), out)


def test_supernet_runs_only_the_chosen_ops(supernet: NB201Supernet) -> None:
    calls: list[str] = []
    for name, mod in supernet.named_modules():
        if isinstance(mod, nn.Conv2d) and ".edges." in name:
            mod.register_forward_hook(lambda m, i, o, name=name: calls.append(name))
    supernet(torch.randn(2, 3, 8, 8), SPACE.parse(ARCH))
    # 3 stages × 1 cell × 3 conv edges (slots 0, 1, 5).
    assert len(calls) == 9
    assert all(".nor_conv_3x3." in c or ".nor_conv_1x1." in c for c in calls)


def test_dead_architecture_and_mask(supernet: NB201Supernet) -> None:
    x = torch.randn(3, 3, 8, 8)
    dead = supernet(x, (0,) * 6)  # every cell outputs zeros: logits = classifier bias
    assert torch.allclose(dead, supernet.classifier.bias.expand(3, -1))
    mask = np.zeros((6, 5), dtype=bool)
    mask[:, 3] = True
    assert torch.equal(supernet(x, mask), supernet(x, (3,) * 6))
    mask[0, 2] = True  # two ops on one edge are summed
    assert path_ops(mask)[0] == (2, 3)
    with pytest.raises(ArchitectureError):
        supernet(x, (1, 2, 3))


def test_subnet_inherits_weights_and_matches_supernet(supernet: NB201Supernet) -> None:
    x = torch.randn(5, 3, 8, 8)
    ids = SPACE.parse(ARCH)
    supernet.eval()
    net = supernet.subnet(ids)
    net.train()  # batch statistics, like the supernet
    assert torch.allclose(net(x), supernet(x, ids), atol=1e-6)
    assert sum(p.numel() for p in net.parameters()) == sum(p.numel() for p in NB201Network(ids, 4, 1, 7).parameters())


def test_batch_statistics_by_default_and_recalibration() -> None:
    torch.manual_seed(0)
    sn = NB201Supernet(4, 1, track_running_stats=False)
    assert all(not m.track_running_stats for m in sn.modules() if isinstance(m, nn.BatchNorm2d))
    assert all(not m.affine for n, m in sn.named_modules() if isinstance(m, nn.BatchNorm2d) and ".edges." in n)
    tracked = NB201Supernet(4, 1, track_running_stats=True)
    ids = (3, 3, 3, 3, 3, 3)
    batches = [torch.randn(8, 3, 8, 8) * 3 + 1 for _ in range(3)]
    recalibrate_bn(tracked, ids, batches)
    bn = tracked.stem[1]
    assert int(bn.num_batches_tracked) == 3
    stem_out = torch.cat([tracked.stem[0](b) for b in batches])
    assert torch.allclose(bn.running_mean, stem_out.mean(dim=(0, 2, 3)), atol=1e-4)


def test_reset_classifier(supernet: NB201Supernet) -> None:
    supernet.reset_classifier(3)
    assert supernet(torch.randn(2, 3, 8, 8), (1,) * 6).shape == (2, 3)
    assert supernet.config()["num_classes"] == 3


def test_dead_branches_are_pruned_without_changing_output(supernet: NB201Supernet) -> None:
    # Node 1 only feeds `none` edges (slots 2 and 4), so the conv on edge 1<-0 is dead.
    ids = (3, 3, 0, 3, 0, 3)
    assert path_ops(ids)[0] == () and path_ops(ids, prune=False)[0] == (3,)
    # Node 2 has only `none` inputs: the conv on edge 3<-2 reads zeros and is dropped too.
    assert path_ops((3, 0, 0, 3, 3, 3))[5] == ()
    x = torch.randn(4, 3, 8, 8)
    out = supernet(x, ids)
    net = supernet.subnet(ids).train()  # computes every non-none edge
    assert torch.allclose(net(x), out, atol=1e-6)
    out.sum().backward()
    assert supernet.layers[0].edges[0]["nor_conv_3x3"][1].weight.grad is None
    assert supernet.layers[0].edges[1]["nor_conv_3x3"][1].weight.grad is not None


@pytest.mark.parametrize("size", [(4, 4), (8, 8), (5, 7)])
def test_box_pooling_equals_avg_pool(size: tuple[int, int]) -> None:
    from supernet.models.ops import BoxPooling, Pooling

    x = torch.randn(2, 3, *size, requires_grad=True)
    a, b = BoxPooling()(x), Pooling()(x)
    assert torch.allclose(a, b, atol=1e-6)
    (ga,) = torch.autograd.grad(a.square().sum(), x)
    (gb,) = torch.autograd.grad(b.square().sum(), x)
    assert torch.allclose(ga, gb, atol=1e-5)
    # channels-last input (what the trainer runs), and the hand-written backward in double precision
    xc = x.detach().to(memory_format=torch.channels_last).requires_grad_()
    (gc,) = torch.autograd.grad(BoxPooling()(xc).square().sum(), xc)
    assert torch.allclose(gc, gb, atol=1e-5)
    xd = torch.randn(1, 2, *size, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(BoxPooling(), (xd,))


def test_training_after_inference_mode(supernet: NB201Supernet) -> None:
    x = torch.randn(2, 3, 8, 8)
    ids = (4, 4, 4, 4, 4, 4)
    with torch.inference_mode():
        supernet(x, ids)
    supernet(x, ids).sum().backward()  # caches filled under inference_mode must not break autograd


def test_channels_last_is_the_same_function(supernet: NB201Supernet) -> None:
    x = torch.randn(4, 3, 8, 8)
    ids = SPACE.parse(ARCH)
    ref = supernet(x, ids)
    state = {k: v.clone() for k, v in supernet.state_dict().items()}
    supernet.use_channels_last()
    assert supernet.stem[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(supernet(x, ids), ref, atol=1e-5)
    fresh = NB201Supernet(4, 1, 7, 3)
    fresh.load_state_dict(supernet.state_dict())  # channels-last weights load into NCHW
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in state.items())
