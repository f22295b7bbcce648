"""PGNAS: learned keep probabilities, relaxed forward, posterior sampling, the posterior CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from predictor.errors import NasgcnError
from supernet.posterior import load_posterior, sample_posterior, surviving_ops
from supernet.samplers import make_sampler
from supernet.strategies.pgnas import PgnasSampler
from supernet.train import SupernetTrainer, TrainConfig, flat_weights, train_supernet


class Toy(torch.nn.Module):
    """nbmacro's 8 slots on vectors: op 0 of each slot adds fresh noise (harmful), ops 1 and 2 add the signal."""

    def __init__(self) -> None:
        super().__init__()
        self.head = torch.nn.Linear(4, 2)
        self.gen = torch.Generator().manual_seed(0)

    def forward(self, x: torch.Tensor, path: np.ndarray, op_weights: torch.Tensor) -> torch.Tensor:
        h = torch.zeros_like(x)
        for k in range(8):
            w = op_weights[k][:, :, None]  # (3, batch, 1)
            h = h + w[0] * torch.randn(x.shape, generator=self.gen) + (w[1] + w[2]) * x / 8
        return self.head(h)


def test_keep_logits_move_away_from_a_harmful_op() -> None:
    torch.manual_seed(0)
    s = PgnasSampler(seed=0, space="nbmacro", logit_lr=0.05, kl=0.001)
    model = Toy()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(256, 4)
    y = (x[:, 0] > 0).long()
    start = s.keep_probs().copy()
    for step in range(150):
        (path,) = s.next_group(step, 150)
        opt.zero_grad()
        s.zero_grad()
        loss = F.cross_entropy(s.forward(model, x, path), y) + s.regularizer()
        loss.backward()
        opt.step()
        s.step()
    keep = s.keep_probs()
    assert np.allclose(start, 0.5)
    assert (keep[:, 0] < 0.35).all() and (keep[:, 1:] > keep[:, :1]).all()  # every slot learned to drop op 0
    probs = s.op_probs()
    assert np.allclose(probs.sum(1), 1) and (probs[:, 0] < probs[:, 1]).all()


def test_concrete_masks_and_regularizer() -> None:
    s = PgnasSampler(seed=3, tau=0.5)
    w = s.sample_weights(1000)
    assert w.shape == (6, 5, 1000) and ((w >= 0) & (w <= 1)).all()
    assert abs(float((w > 0.5).float().mean()) - 0.5) < 0.02  # keep rate = init_keep
    with torch.no_grad():
        s.logits[0, 3] = 3.0
    assert float((s.sample_weights(2000)[0, 3] > 0.5).float().mean()) > 0.9
    assert float(PgnasSampler(prior=0.5, entropy=0.0).regularizer().detach()) == pytest.approx(
        0.0, abs=1e-6
    )  # at prior
    assert s.regularizer().requires_grad
    keep = s.keep_probs()
    assert np.allclose(keep[:, 0], 0.5)  # none: no output to mask, stays at the prior
    assert s.path_cost(s.next_group()[0]) == pytest.approx(4.0)
    for bad in ({"prior": 1.0}, {"tau": 0.0}, {"init_keep": 0.0}):
        with pytest.raises(NasgcnError, match="pgnas"):
            PgnasSampler(**bad)
    with pytest.raises(NasgcnError, match="sub-space"):
        make_sampler("pgnas", fixed={0: 1})


def test_posterior_sampling_respects_probabilities() -> None:
    probs = np.tile([0.0, 0.1, 0.2, 0.3, 0.4], (6, 1))
    ids = sample_posterior(probs, 400, seed=1)  # of 4,096 possible: few repeats to redraw
    assert ids.shape == (400, 6) and len({r.tobytes() for r in ids}) == 400  # distinct
    assert not (ids == 0).any()
    share = np.stack([(ids == o).mean(0) for o in range(5)])  # (ops, slots)
    np.testing.assert_allclose(share.mean(1), probs[0], atol=0.03)
    flat = sample_posterior(probs, 4000, seed=1)  # near the support size, repeats flatten the draw
    assert (flat == 1).mean() > (ids == 1).mean()
    np.testing.assert_array_equal(sample_posterior(probs, 50, seed=4), sample_posterior(probs, 50, seed=4))
    one = np.zeros((6, 5))
    one[:, 3] = 1.0
    assert sample_posterior(one, 1).tolist() == [[3] * 6]
    with pytest.raises(NasgcnError, match="only 1"):
        sample_posterior(one, 2)


def tiny(**kw) -> TrainConfig:
    base = dict(channels=4, cells=1, epochs=2, batch_size=32, limit_train_batches=3, progress=False, threads=1,
                sampler="pgnas")  # fmt: skip
    return TrainConfig(**{**base, **kw})


@pytest.mark.parametrize("space", ["nb201", "nbmacro"])
def test_trainer_learns_logits_counts_cost_and_resumes(tmp_path: Path, space: str) -> None:
    kw = {"space": space, "channels": 16, "cells": 5, "width": 0.25} if space == "nbmacro" else {}
    full = train_supernet(tiny(**kw), tmp_path / "full")
    expect = {"nb201": 4.0, "nbmacro": 3.0}[space]  # every op that computes something, per slot
    assert all(h["forward_cost"] == pytest.approx(expect) for h in full.history_)
    assert full.history_[0]["compute_images"] == pytest.approx(expect * 3 * 32)
    assert not np.allclose(full.sampler.keep_probs()[:, full.sampler.live], 0.5)  # the logits trained
    saved = json.loads((tmp_path / "full" / "strategy.json").read_text())
    assert saved["strategy"] == "pgnas" and np.allclose(saved["keep_probs"], full.sampler.keep_probs(), atol=1e-5)
    part = SupernetTrainer(tiny(**kw), tmp_path / "part").fit(max_epochs=1)
    assert part.epoch == 1
    resumed = SupernetTrainer(tiny(**kw), tmp_path / "part", resume=True).fit()
    np.testing.assert_array_equal(flat_weights(resumed.model), flat_weights(full.model))
    np.testing.assert_array_equal(resumed.sampler.keep_probs(), full.sampler.keep_probs())


def test_posterior_cli_writes_a_log_that_fit_reads(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from predictor.cli.main import main

    run, log = tmp_path / "run", tmp_path / "post.csv"
    train = ["supernet", "train", "--dataset", "digits", "--channels", "4", "--cells", "1", "--epochs", "1",
             "--batch-size", "32", "--limit-train-batches", "3", "--threads", "1", "--no-progress"]  # fmt: skip
    assert main([*train, "--sampler", "pgnas", "--sampler-option", "logit_lr=0.1", "--out", str(run)]) == 0
    assert json.loads((run / "config.json").read_text())["sampler_options"] == {"logit_lr": 0.1}
    capsys.readouterr()
    assert main(["supernet", "posterior", str(run), "--show"]) == 0
    shown = capsys.readouterr().out
    assert "nor_conv_3x3" in shown and "edge 3<-2" in shown
    argv = ["supernet", "posterior", str(run), "--sample", "24", "--out", str(log), "--max-images", "64"]
    assert main([*argv, "--no-progress", "--seed", "2"]) == 0
    lines = log.read_text().splitlines()
    assert len(lines) == 25 and lines[0].startswith("arch_str,supernet_acc,supernet_loss,checkpoint")
    meta = json.loads(Path(str(log) + ".meta.json").read_text())
    probs, _ = load_posterior(run)
    assert meta["posterior"]["sampler"] == "pgnas" and np.allclose(meta["posterior"]["op_probs"], probs, atol=1e-5)
    assert len(meta["posterior_log_prob"]) == 24
    fast = ["--epochs", "3", "--ensemble", "2", "--hidden", "8", "--layers", "2", "--quiet"]
    assert main(["fit", str(log), "--target", "supernet_acc", "--out", str(tmp_path / "m.pt"), *fast]) == 0


def test_posterior_failure_paths(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from predictor.cli.main import main

    run = tmp_path / "uniform"
    train_supernet(tiny(sampler="uniform", epochs=1, limit_train_batches=1), run)
    assert surviving_ops(run) is None  # prunes nothing
    capsys.readouterr()
    assert main(["supernet", "posterior", str(run), "--sample", "4", "--out", str(tmp_path / "e.csv")]) == 1
    err = capsys.readouterr().err
    assert "'uniform'" in err and "--sampler pgnas" in err and "Traceback" not in err
    assert main(["supernet", "posterior", str(run), "--sample", "4"]) == 1
    assert "--out" in capsys.readouterr().err
    assert main(["supernet", "posterior", str(tmp_path / "nope"), "--show"]) == 1
    assert "no checkpoint" in capsys.readouterr().err
    assert main(["supernet", "train", "--sampler", "pgnas", "--sampler-option", "temperature=1", "--epochs", "1",
                 "--out", str(tmp_path / "x"), "--no-progress"]) == 1  # fmt: skip
    err = capsys.readouterr().err
    assert "temperature" in err and "tau" in err


@pytest.mark.slow
def test_two_gloo_processes_match_single_process(tmp_path: Path) -> None:
    """The concrete masks are drawn per global batch: 2 ranks = 2 micro-batches of one process."""
    if not torch.distributed.is_available():
        pytest.skip("torch.distributed not available")
    from supernet.train import load_supernet, train_supernet_parallel

    kw = {"channels_last": False, "epochs": 1}
    train_supernet_parallel(tiny(**kw), tmp_path / "ddp", 2)
    ddp_model, ckpt = load_supernet(tmp_path / "ddp")
    single = train_supernet(tiny(micro_batches=2, **kw), tmp_path / "single")
    np.testing.assert_allclose(flat_weights(ddp_model), flat_weights(single.model), rtol=1e-5, atol=1e-6)
    logits = torch.sigmoid(ckpt["sampler"]["logits"]).numpy()
    np.testing.assert_allclose(logits, single.sampler.keep_probs(), rtol=1e-5, atol=1e-6)
