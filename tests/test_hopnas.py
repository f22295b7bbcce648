"""HOPNAS: hierarchical pruning rule, schedule, sampling of the surviving space, exact resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from predictor.errors import NasgcnError
from supernet.samplers import make_sampler
from supernet.strategies.hopnas import HopnasSampler, op_families
from supernet.train import SupernetTrainer, TrainConfig, flat_weights, train_supernet


def synthetic(s: HopnasSampler, n: int, seed: int, worse: dict[int, tuple[int, ...]]) -> tuple[np.ndarray, np.ndarray]:
    """Uniform paths of the surviving space; accuracy 60% - 10 for each slot using one of its ``worse`` ops."""
    rng = np.random.default_rng(seed)
    ids = s.sample_paths(n)
    acc = 60.0 + rng.normal(0, 1.0, n)
    for slot, ops in worse.items():
        acc -= 10.0 * np.isin(ids[:, slot], ops)
    return ids, acc


def test_families_from_costs() -> None:
    fam, names = op_families(HopnasSampler().space)
    assert names == ["zero", "parameter-free", "parametric"] and fam.tolist() == [0, 1, 2, 2, 1]
    fam, names = op_families(make_sampler("uniform", space="nbmacro").space)
    assert names == ["parameter-free", "parametric"] and fam.tolist() == [0, 1, 1]


def test_prunes_a_clearly_worse_family_then_a_clearly_worse_op() -> None:
    s = HopnasSampler(seed=0, k=4.0)
    ids, acc = synthetic(s, 400, 0, {1: (1, 4)})  # slot 1: parameter-free ops (skip, pool) are worse
    lines = s.prune_round(ids, acc, "family", epoch=3)
    assert len(lines) == 1 and "skip_connect/avg_pool_3x3 (family parameter-free) on edge 2<-0" in lines[0]
    assert s.alive[1].tolist() == [True, False, True, True, False] and np.delete(s.alive, 1, 0).all()
    ids, _ = synthetic(s, 400, 1, {})
    assert not np.isin(ids[:, 1], (1, 4)).any()  # pruned ops are never drawn again
    for _ in range(50):
        mask = s.next_group(100, 100)[0]
        assert not (mask & ~s.alive).any()

    s = HopnasSampler(seed=1, k=4.0)
    ids, acc = synthetic(s, 400, 2, {0: (4,)})  # slot 0: avg_pool alone is worse
    lines = s.prune_round(ids, acc, "op", epoch=6)
    assert len(lines) == 1 and "avg_pool_3x3 (op avg_pool_3x3) on edge 1<-0" in lines[0]
    assert s.alive[0].tolist() == [True, True, True, True, False] and s.alive[1:].all()
    assert s.events[0]["level"] == "op" and s.events[0]["z"] > 4
    assert np.allclose(s.op_probs()[0], [0.25, 0.25, 0.25, 0.25, 0])


def test_schedule_and_bad_options() -> None:
    s = HopnasSampler(prune_start=0.3, fine_start=0.6)
    assert [s.level_at(e, 10) for e in range(1, 11)] == [None, None] + ["family"] * 3 + ["op"] * 4 + [None]
    with pytest.raises(NasgcnError, match="prune_start"):
        HopnasSampler(prune_start=0.8, fine_start=0.5)
    with pytest.raises(NasgcnError, match="sub-space"):
        make_sampler("hopnas", fixed={0: 1})


def cfg(**kw) -> TrainConfig:
    opts = {"prune_paths": 24, "prune_images": 64, "k": 0.5, "min_paths": 3}
    base = dict(channels=4, cells=1, epochs=3, batch_size=32, limit_train_batches=3, progress=False, threads=1,
                sampler="hopnas", sampler_options=opts)  # fmt: skip
    return TrainConfig(**{**base, **kw})


def test_training_prunes_logs_and_resumes_identically(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    full = train_supernet(cfg(progress=True), tmp_path / "full")
    assert "hopnas: epoch 1 pruned" in capsys.readouterr().out  # printed as it happens
    events = [line for h in full.history_ for line in h.get("events", [])]
    assert events and all(line.startswith("hopnas: epoch") for line in events)
    assert len(events) == len(full.sampler.events)  # one line per pruning event
    saved = json.loads((tmp_path / "full" / "strategy.json").read_text())
    assert saved["strategy"] == "hopnas" and np.array_equal(saved["alive"], full.sampler.alive.astype(int))
    assert (~full.sampler.alive).any() and full.sampler.alive.any(1).all()
    assert full.history_[-1]["forward_cost"] < full.history_[0]["forward_cost"]  # the mixture shrinks
    assert [h.get("eval_images", 0) for h in full.history_] == [24 * 64, 24 * 64, 0]  # rounds after epochs 1, 2
    for stop in (1, 2):  # killed after the first pruning round, and after the second
        part = tmp_path / f"part{stop}"
        SupernetTrainer(cfg(), part).fit(max_epochs=stop)
        resumed = SupernetTrainer(cfg(), part, resume=True).fit()
        np.testing.assert_array_equal(flat_weights(resumed.model), flat_weights(full.model))
        assert resumed.sampler.events == full.sampler.events
        np.testing.assert_array_equal(resumed.sampler.alive, full.sampler.alive)


def test_posterior_of_hopnas_run_samples_only_the_surviving_space(tmp_path: Path) -> None:
    from supernet.posterior import load_posterior, sample_posterior, surviving_ops

    trainer = train_supernet(cfg(epochs=2, sampler_options={"prune_start": 0.5, "fine_start": 0.5, "k": 0.1,
                                                            "prune_paths": 24, "prune_images": 64, "min_paths": 3}),
                             tmp_path / "run")  # fmt: skip
    probs, info = load_posterior(tmp_path / "run")
    alive = trainer.sampler.alive
    assert (~alive).any() and np.array_equal(probs > 0, alive) and "surviving" in info
    ids = sample_posterior(probs, 8, seed=0)
    assert alive[np.arange(6), ids].all()
    np.testing.assert_array_equal(surviving_ops(tmp_path / "run"), alive)


def test_min_ops_keeps_a_space_and_clearest_separations_go_first() -> None:
    s = HopnasSampler(seed=2, k=3.0)  # min_ops=2 by default
    ids, acc = synthetic(s, 400, 3, {0: (0, 1, 2)})
    acc -= 20.0 * (ids[:, 0] == 4)  # avg_pool is the clearest loser of slot 0
    s.prune_round(ids, acc, "op", epoch=6)
    assert s.alive[0].sum() == 2 and s.alive[0, 3] and not s.alive[0, 4]  # best + one; pool went first
    one = HopnasSampler(seed=2, k=3.0, min_ops=1)
    one.prune_round(ids, acc, "op", epoch=6)
    assert one.alive[0].tolist() == [False, False, False, True, False]
    with pytest.raises(NasgcnError, match="min_ops"):
        HopnasSampler(min_ops=0)


def test_family_rounds_draw_families_evenly() -> None:
    s = HopnasSampler(seed=0, space="fbnet")  # one skip among nine blocks
    uniform, even = s.sample_paths(900), s.sample_paths(900, by_family=True)
    skip = s.space.skip_op
    assert (uniform == skip).mean() == pytest.approx(1 / 9, abs=0.02)
    assert (even == skip).mean() == pytest.approx(1 / 2, abs=0.03)


def test_eval_surviving_scores_only_the_kept_space(tmp_path: Path, caplog, capsys) -> None:
    import logging

    from predictor.cli.main import main
    from predictor.logs import read_log
    from predictor.spaces import get_space

    opts = {"prune_start": 0.5, "fine_start": 0.5, "k": 0.1, "prune_paths": 24, "prune_images": 64, "min_paths": 3}
    alive = train_supernet(cfg(epochs=2, sampler_options=opts), tmp_path / "run").sampler.alive
    assert (~alive).any()
    sp = get_space("nb201")
    run, out = str(tmp_path / "run"), str(tmp_path / "evals.csv")
    common = ["--max-val-images", "32", "--batch-size", "32", "--quiet"]
    assert main(["supernet", "eval", run, "--surviving", "--sample", "6", "--out", out, *common]) == 0
    ids = sp.encode(read_log(out, metrics=["supernet_acc"]).arch_str.tolist())
    assert len(ids) == 6 and alive[np.arange(6), ids].all()
    outside = sp.all_ids()[~alive[np.arange(6), sp.all_ids()].all(1)][:2]
    (tmp_path / "out.txt").write_text("\n".join(sp.decode(outside)) + "\n")
    assert main(["supernet", "eval", run, "--surviving", "--archs", str(tmp_path / "out.txt"), "--out", out, *common])
    assert "lie outside the supernet's sub-space (the ops the run kept)" in capsys.readouterr().err
    with caplog.at_level(logging.INFO):  # without --surviving: the whole space, and a hint
        assert main(["supernet", "eval", run, "--archs", str(tmp_path / "out.txt"), "--out", out, *common]) == 0
    assert "--surviving evaluates only those" in caplog.text


def test_surviving_is_refused_on_a_run_that_prunes_nothing(tmp_path: Path, capsys) -> None:
    from predictor.cli.main import main

    train_supernet(cfg(epochs=1, sampler="uniform", sampler_options={}), tmp_path / "run")
    rc = main(
        ["supernet", "eval", str(tmp_path / "run"), "--surviving", "--sample", "3", "--out", str(tmp_path / "e.csv")]
    )
    assert rc != 0 and "--surviving needs a run that pruned ops" in capsys.readouterr().err


@pytest.mark.parametrize("space", ["nb201", "fbnet"])
def test_select_archs_within_allowed_ops(space: str) -> None:
    from predictor.spaces import get_space
    from supernet.evaluate import select_archs

    sp = get_space(space)
    allowed = np.ones((sp.num_slots, len(sp.ops)), dtype=bool)
    allowed[0, 0] = allowed[1, :-1] = False
    ids = select_archs("sample", 50, seed=1, space=sp, allowed=allowed)
    assert len(np.unique(ids, axis=0)) == 50 and allowed[np.arange(sp.num_slots), ids].all()
    with pytest.raises(NasgcnError, match="a .slots, ops. mask"):
        select_archs("sample", 5, space=sp, allowed=allowed[:, :1] & False)
