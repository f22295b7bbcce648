"""Samplers: fairness, schedules, sub-spaces, and exact resume from state."""

from __future__ import annotations

import numpy as np
import pytest

from predictor.errors import NasgcnError
from predictor.spaces import get_space
from supernet.samplers import (
    BalancedSampler,
    DropoutSampler,
    FairSampler,
    SubspaceSampler,
    UniformSampler,
    WeightedSampler,
    effective_depth,
    make_sampler,
    register_sampler,
    sampler_names,
    sampler_params,
)


def test_fair_group_uses_every_op_of_every_edge_once() -> None:
    s = FairSampler(seed=3)
    for step in range(20):
        group = np.array(s.next_group(step, 20))
        assert group.shape == (5, 6)
        for edge in range(6):
            assert sorted(group[:, edge]) == [0, 1, 2, 3, 4]


def test_uniform_covers_ops_roughly_uniformly() -> None:
    s = UniformSampler(seed=0)
    ids = np.array([s.next_group()[0] for _ in range(2000)])
    counts = np.stack([(ids == o).sum(0) for o in range(5)])
    assert counts.min() > 300 and counts.max() < 500  # expected 400 per (op, edge)


def test_weighted_draws_convolutions_twice_as_often() -> None:
    s = WeightedSampler(seed=0)
    ids = np.array([s.next_group()[0] for _ in range(7000)])
    share = np.bincount(ids.ravel(), minlength=5) / ids.size  # expected 1/7, 1/7, 2/7, 2/7, 1/7
    assert np.allclose(share, np.array([1, 1, 2, 2, 1]) / 7, atol=0.01)
    only_conv = WeightedSampler(seed=0, weights=(1e-9, 1e-9, 1.0, 1.0, 1e-9))
    assert np.isin(np.array([only_conv.next_group()[0] for _ in range(50)]), (2, 3)).all()
    for bad in ((1, 1, 1, 1), (1, 1, 0, 1, 1), (1, 1, float("nan"), 1, 1)):
        with pytest.raises(NasgcnError, match="op weights"):
            WeightedSampler(weights=bad)


def test_same_seed_same_stream_and_state_resume() -> None:
    for name in sampler_names():
        a, b = make_sampler(name, seed=7), make_sampler(name, seed=7)
        for step in range(5):
            assert np.array_equal(np.array(a.next_group(step, 10)), np.array(b.next_group(step, 10)))
        state = a.state_dict()
        expected = [np.array(a.next_group(s, 10)) for s in range(5, 8)]
        c = make_sampler(name, seed=123)
        c.load_state_dict(state)
        assert all(np.array_equal(np.array(c.next_group(s, 10)), e) for s, e in zip(range(5, 8), expected, strict=True))
    assert not np.array_equal(make_sampler("uniform", 1).next_group(), make_sampler("uniform", 2).next_group())


def test_dropout_schedule_ramps_and_never_uses_none() -> None:
    s = DropoutSampler(seed=0, max_drop=0.6)
    assert s.drop_rate(0, 100) == 0.0 and s.drop_rate(100, 100) == pytest.approx(0.6)
    first = s.next_group(0, 100)[0]
    assert first.shape == (6, 5) and first[:, 1:].all() and not first[:, 0].any()
    late = np.mean([s.next_group(100, 100)[0][:, 1:].mean() for _ in range(300)])
    assert 0.35 < late < 0.45  # keep probability 0.4
    with pytest.raises(NasgcnError):
        DropoutSampler(max_drop=1.0)


def test_subspace_fixes_slots_for_every_sampler() -> None:
    for base in (UniformSampler(1), FairSampler(1), DropoutSampler(1)):
        s = SubspaceSampler(base, {0: "nor_conv_3x3", 5: 0})
        for step in range(5):
            for path in s.next_group(step, 5):
                p = np.asarray(path)
                if p.shape == (6, 5):
                    assert p[0].tolist() == [False, False, False, True, False] and not p[5].any()
                else:
                    assert p[0] == 3 and p[5] == 0
    s = make_sampler("fair", 0, fixed={2: "skip_connect"})
    assert s.contains(np.array([[0, 0, 1, 0, 0, 0], [0, 0, 2, 0, 0, 0]])).tolist() == [True, False]
    with pytest.raises(NasgcnError):
        make_sampler("fair", 0, fixed={6: 1})
    with pytest.raises(NasgcnError):
        make_sampler("fair", 0, fixed={0: "conv_7x7"})
    with pytest.raises(NasgcnError):
        make_sampler("greedy")


def test_effective_depth_known_cells() -> None:
    sp = get_space("nb201")
    cells = [
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",  # best
        "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
        "|nor_conv_3x3~0|+|none~0|none~1|+|nor_conv_1x1~0|nor_conv_3x3~1|none~2|",  # 3<-1<-0: 2 convs
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|none~1|none~2|",  # deep part cut off
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|none~2|",  # cut off
    ]
    assert effective_depth(sp.encode(cells)).tolist() == [3, 0, 2, 1, -1]
    ids = sp.all_ids()
    depth = effective_depth(ids)
    assert np.array_equal(depth == -1, sp.is_dead(ids))  # the 341 cut-off cells, and only those
    assert np.bincount(depth + 1).tolist() == [341, 1642, 7122, 5520, 1000]


def test_balanced_draws_depth_groups_equally_and_never_cut_off_cells() -> None:
    s = BalancedSampler(seed=0)
    ids = np.array([s.next_group()[0] for _ in range(3000)])
    depth = effective_depth(ids)
    assert (depth >= 0).all()
    share = np.array([np.isin(depth, g).mean() for g in ((0, 1), (2,), (3,))])
    assert np.all(np.abs(share - 1 / 3) < 0.04)  # uniform sampling would give 0.56 / 0.35 / 0.06
    assert len({tuple(r) for r in ids[depth == 3]}) > 500  # within a group: spread over its 1,000 cells


# ----- chain spaces (NB-Macro, FBNet): every sampler reads only the space contract ------------


@pytest.mark.parametrize("name", ["uniform", "balanced", "weighted", "fair", "dropout"])
def test_every_sampler_on_nbmacro(name: str) -> None:
    sp = get_space("nbmacro")
    s = make_sampler(name, space="nbmacro", seed=4)
    for step in range(20):
        group = s.next_group(step, 20)
        assert len(group) == (3 if name == "fair" else 1)
        for path in group:
            p = np.asarray(path)
            if name == "dropout":
                assert p.shape == (8, 3) and p.any(1).all()  # a chain layer always computes something
            else:
                assert p.shape == (8,) and sp.format(p)  # valid block ids
    state = s.state_dict()
    assert state.get("space", state.get("base", {}).get("space")) == "nbmacro"
    other = make_sampler(name, space="fbnet", seed=4)
    with pytest.raises(NasgcnError, match="nbmacro"):
        other.load_state_dict(state)


def test_chain_fair_weighted_and_dropout_generalize() -> None:
    group = np.array(make_sampler("fair", space="fbnet", seed=0).next_group())
    assert group.shape == (9, 22) and all(sorted(group[:, k]) == list(range(9)) for k in range(22))
    w = make_sampler("weighted", space="nbmacro", seed=0)
    assert np.allclose(w.probs, [0.2, 0.4, 0.4])  # identity has no parameters (beyond stage-start 1x1s)
    assert np.allclose(make_sampler("weighted", seed=0).probs, np.array([1, 1, 2, 2, 1]) / 7)  # NB201 unchanged
    with pytest.raises(NasgcnError, match="3 positive numbers"):
        WeightedSampler(weights=(1, 1, 1, 1, 1), space="nbmacro")
    d = DropoutSampler(seed=0, max_drop=0.9, space="fbnet")
    masks = np.array([d.next_group(100, 100)[0] for _ in range(200)])
    assert masks.any(2).all() and 0.1 < masks.mean() < 0.25


def test_balanced_on_chain_spaces_is_uniform_over_depth() -> None:
    for name, layers in (("nbmacro", 8), ("fbnet", 22)):
        sp = get_space(name)
        s = BalancedSampler(seed=0, space=name)
        ids = np.array([s.next_group()[0] for _ in range(4000)])
        depth = (ids != sp.skip_op).sum(1)
        share = np.bincount(depth, minlength=layers + 1) / len(ids)
        assert np.abs(share - 1 / (layers + 1)).max() < 0.03  # uniform would give ~0 for shallow depths
    uni = np.array([UniformSampler(seed=0, space="fbnet").next_group()[0] for _ in range(200)])
    assert (uni != 8).sum(1).min() > 10


def test_subspace_on_chain_space_by_name_and_id() -> None:
    s = make_sampler("uniform", 0, fixed={0: "mb6_k5", 7: 0}, space="nbmacro")
    for _ in range(10):
        (p,) = s.next_group()
        assert p[0] == 2 and p[7] == 0
    d = make_sampler("dropout", 0, fixed={1: "identity"}, space="nbmacro")
    assert d.next_group()[0][1].tolist() == [True, False, False]  # a chain op is never a zero op
    with pytest.raises(NasgcnError, match="0..7"):
        make_sampler("uniform", 0, fixed={8: 1}, space="nbmacro")
    with pytest.raises(NasgcnError, match="unknown op"):
        make_sampler("uniform", 0, fixed={0: "nor_conv_3x3"}, space="nbmacro")


def test_registry_drives_cli_choices_and_config_validation(tmp_path) -> None:
    """A sampler registered by decorator appears in ``--sampler`` and is accepted by the run config."""
    import argparse

    from supernet import cli
    from supernet import samplers as S
    from supernet.train import TrainConfig

    def choices() -> tuple[str, ...]:
        parser = argparse.ArgumentParser()
        cli.register(parser.add_subparsers())
        train = parser._subparsers._group_actions[0].choices["supernet"]._subparsers._group_actions[0].choices["train"]
        return tuple(next(a for a in train._actions if a.dest == "sampler").choices)

    assert {"uniform", "balanced", "weighted", "fair", "dropout", "hopnas", "pgnas"} <= set(sampler_names())
    assert choices() == sampler_names()
    assert sampler_params("dropout") == {"max_drop": 0.5} and "k" in sampler_params("hopnas")

    @register_sampler("every_other")
    class EveryOther(UniformSampler):
        """Test-only sampler."""

        def __init__(self, seed: int = 0, period: int = 2, space="nb201") -> None:
            super().__init__(seed, space)
            self.period = period

    try:
        assert "every_other" in choices()
        assert sampler_params("every_other") == {"period": 2}  # from the constructor's signature
        cfg = TrainConfig(sampler="every_other", sampler_options={"period": 3})
        cfg.validate()
        assert cfg.sampler_kwargs() == {"period": 3} and make_sampler("every_other", period=3).period == 3
        with pytest.raises(NasgcnError, match="takes no option.*period"):
            TrainConfig(sampler="every_other", sampler_options={"perod": 3}).validate()
    finally:
        del S._REGISTRY["every_other"], S._PARAMS["every_other"]
    assert "every_other" not in choices()
    with pytest.raises(TypeError, match="'period' needs a default"):

        @register_sampler("no_default")
        class NoDefault(UniformSampler):
            def __init__(self, seed: int, period: int, space="nb201") -> None:
                super().__init__(seed, space)

    assert "no_default" not in sampler_names()
    with pytest.raises(NasgcnError, match="unknown sampler 'greedy'.*hopnas.*pgnas"):
        TrainConfig(sampler="greedy").validate()
    with pytest.raises(NasgcnError, match="max_drop"):  # max_drop reaches only samplers that take it
        make_sampler("uniform", max_drop=0.3)
    assert TrainConfig(sampler="hopnas", max_drop=0.3).sampler_kwargs() == {"max_drop": 0.3}
    assert TrainConfig(sampler="uniform", max_drop=0.3).sampler_kwargs() == {}


def test_path_cost_counts_computed_ops() -> None:
    s = make_sampler("uniform")
    assert s.path_cost((0, 1, 2, 3, 4, 0)) == pytest.approx(4 / 6)  # none computes nothing
    mask = np.ones((6, 5), dtype=bool)
    assert s.path_cost(mask) == pytest.approx(4.0)
    assert make_sampler("uniform", space="nbmacro").path_cost(np.ones((8, 3), dtype=bool)) == pytest.approx(3.0)
