"""Supernet training: loss goes down, exact resume, checkpoints, evaluation log, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from predictor.errors import NasgcnError
from supernet.data import augment_batch, epoch_batches, load_data
from supernet.evaluate import evaluate_run, read_arch_list, select_archs
from supernet.samplers import sampler_names
from supernet.train import SupernetTrainer, TrainConfig, flat_weights, load_supernet, train_supernet


def tiny(**kw) -> TrainConfig:
    base = dict(channels=4, cells=1, epochs=2, batch_size=32, limit_train_batches=4, progress=False, threads=1)
    return TrainConfig(**{**base, **kw})


@pytest.mark.parametrize("sampler", sampler_names())  # every registered sampler/strategy
def test_resume_equals_uninterrupted(tmp_path: Path, sampler: str) -> None:
    full = train_supernet(tiny(sampler=sampler), tmp_path / "full")
    part = SupernetTrainer(tiny(sampler=sampler), tmp_path / "part").fit(max_epochs=1)
    assert part.epoch == 1
    resumed = SupernetTrainer(tiny(sampler=sampler), tmp_path / "part", resume=True).fit()
    assert resumed.epoch == 2 and resumed.step == full.step
    np.testing.assert_array_equal(flat_weights(resumed.model), flat_weights(full.model))
    assert [h["train_loss"] for h in resumed.history_] == [h["train_loss"] for h in full.history_]


def test_run_dir_contents_and_checkpoint_loads(tmp_path: Path) -> None:
    run = tmp_path / "run"
    trainer = train_supernet(tiny(epochs=1), run)
    assert {p.name for p in run.iterdir()} >= {"checkpoint.pt", "config.json", "history.jsonl"}
    assert json.loads((run / "config.json").read_text())["channels"] == 4
    assert len((run / "history.jsonl").read_text().splitlines()) == 1
    model, ckpt = load_supernet(run)
    assert ckpt["checkpoint_id"] == "run@epoch1"
    np.testing.assert_array_equal(flat_weights(model), flat_weights(trainer.model))
    with pytest.raises(NasgcnError, match="--resume"):
        train_supernet(tiny(epochs=1), run)


def test_training_reduces_loss(tmp_path: Path) -> None:
    cfg = tiny(epochs=3, limit_train_batches=None, batch_size=64, lr=0.05, channels=8, seed=1)
    hist = train_supernet(cfg, tmp_path / "r").history_
    assert hist[-1]["train_loss"] < hist[0]["train_loss"] - 0.1


def test_options_change_behaviour(tmp_path: Path) -> None:
    a = train_supernet(tiny(epochs=1), tmp_path / "a").model
    b = train_supernet(tiny(epochs=1, seed=1), tmp_path / "b").model
    c = train_supernet(tiny(epochs=1, sampler="fair"), tmp_path / "c").model
    assert not np.array_equal(flat_weights(a), flat_weights(b))
    assert not np.array_equal(flat_weights(a), flat_weights(c))


def test_subspace_training_only_touches_fixed_op(tmp_path: Path) -> None:
    init = train_supernet(tiny(epochs=1, limit_train_batches=1, lr=1e-9, fixed={"0": 3}), tmp_path / "i")
    model = init.model
    # Edge slot 0 only ever ran nor_conv_3x3, so its nor_conv_1x1 got no gradient: weight decay is
    # applied only to parameters with gradients, so an untouched op keeps its initial weights.
    torch.manual_seed(0)
    fresh = type(model)(**model.config())
    w_untouched = model.layers[0].edges[0]["nor_conv_1x1"][1].weight
    assert torch.equal(w_untouched, fresh.layers[0].edges[0]["nor_conv_1x1"][1].weight)


def test_bad_config(tmp_path: Path) -> None:
    with pytest.raises(NasgcnError, match="unknown option"):
        TrainConfig.from_dict({"chanels": 3})
    with pytest.raises(NasgcnError, match="divisible"):
        train_supernet(tiny(batch_size=30, micro_batches=4), tmp_path / "x")
    with pytest.raises(NasgcnError, match="unknown dataset"):
        train_supernet(tiny(dataset="mnist"), tmp_path / "y")


def test_data_split_and_batches() -> None:
    d = load_data("digits", val_fraction=0.25, seed=0)
    assert len(d.train) + len(d.val) == 1797 and d.in_channels == 1 and d.input_size == 8 and d.num_classes == 10
    d2 = load_data("digits", val_fraction=0.25, seed=1)
    assert not torch.equal(d.val.y, d2.val.y)
    b1 = [y for _, y in epoch_batches(d.train, 100, seed=0, epoch=0)]
    b2 = [y for _, y in epoch_batches(d.train, 100, seed=0, epoch=0)]
    b3 = [y for _, y in epoch_batches(d.train, 100, seed=0, epoch=1)]
    assert all(torch.equal(a, b) for a, b in zip(b1, b2, strict=True))
    assert not torch.equal(b1[0], b3[0])
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.uint8).view(2, 3, 8, 8)
    out = augment_batch(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == torch.uint8


def test_npz_folder(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "train_a.npz", x=rng.integers(0, 255, (40, 8, 8, 3), dtype=np.uint8), y=rng.integers(0, 4, 40))
    np.savez(tmp_path / "test.npz", x=np.zeros((5, 8, 8, 3), np.uint8), y=np.zeros(5, np.int64))
    d = load_data(f"npz:{tmp_path}", val_fraction=0.25)
    assert len(d.train) == 30 and len(d.val) == 10 and d.in_channels == 3 and d.augment
    np.savez(tmp_path / "train_b.npz", x=np.zeros((4, 8, 8), np.float32), y=np.zeros(4, np.int64))
    with pytest.raises(NasgcnError, match="train_b.npz"):
        load_data(f"npz:{tmp_path}")
    with pytest.raises(NasgcnError, match="does not exist"):
        load_data(f"npz:{tmp_path / 'missing'}")


def test_evaluate_writes_log_readable_by_predictor(tmp_path: Path) -> None:
    run = tmp_path / "run"
    train_supernet(tiny(epochs=1), run)
    ids = select_archs("sample", 6, seed=0)
    res = evaluate_run(run, ids, tmp_path / "evals.csv", max_images=100, progress=False)
    assert res.acc.shape == (6,) and ((res.acc >= 0) & (res.acc <= 100)).all()
    again = evaluate_run(run, ids, None, max_images=100, progress=False)
    np.testing.assert_array_equal(res.acc, again.acc)  # fixed images, deterministic
    header = (tmp_path / "evals.csv").read_text().splitlines()[0]
    assert header == "arch_str,supernet_acc,supernet_loss,checkpoint,images,epoch,dataset,split,source,supernet"
    meta = json.loads((tmp_path / "evals.csv.meta.json").read_text())
    assert meta["images"] == 100 and "batch statistics" in meta["bn"] and "validation" in meta["split"]
    logs = pytest.importorskip("predictor.logs")
    log = logs.read_log(tmp_path / "evals.csv")
    np.testing.assert_allclose(log.metrics["supernet_acc"], res.acc, atol=1e-4)


def test_arch_list_errors(tmp_path: Path) -> None:
    f = tmp_path / "archs.txt"
    f.write_text("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|\n|bad~0|+|none~0|none~1|+|none~0|none~1|none~2|\n")
    with pytest.raises(NasgcnError, match="archs.txt:2"):
        read_arch_list(f)
    assert len(select_archs("unique")) == 6466


def test_evaluation_sharded_over_processes_matches_one_process(tmp_path: Path) -> None:
    run = tmp_path / "run"
    train_supernet(
        TrainConfig(channels=4, cells=1, batch_size=32, limit_train_batches=3, epochs=1, threads=1, progress=False), run
    )
    ids = select_archs("sample", 7, seed=3)
    one = evaluate_run(run, ids, tmp_path / "one.csv", 120, 50, progress=False)
    two = evaluate_run(run, ids, tmp_path / "two.csv", 120, 50, progress=False, jobs=2)
    np.testing.assert_array_equal(two.acc, one.acc)
    np.testing.assert_allclose(two.loss, one.loss, rtol=1e-6)
    assert two.protocol["processes"] == 2 and two.protocol["archs"] == 7
    assert (tmp_path / "two.csv").read_text().splitlines()[1:] == (tmp_path / "one.csv").read_text().splitlines()[1:]
    with pytest.raises(NasgcnError, match="jobs=2"):
        evaluate_run(run, ids, None, 120, 50, device="cuda", progress=False, jobs=2)


def test_cli_train_eval(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from predictor.cli.main import main

    run = tmp_path / "run"
    cfg = tmp_path / "c.toml"
    cfg.write_text("[supernet]\nchannels = 4\ncells = 1\nbatch_size = 32\nlimit_train_batches = 2\n")
    args = ["supernet", "train", "--dataset", "digits", "--config", str(cfg), "--epochs", "1", "--out", str(run)]
    assert main([*args, "--no-progress", "--sampler", "fair", "--threads", "1"]) == 0
    assert json.loads((run / "config.json").read_text())["sampler"] == "fair"
    out = tmp_path / "e.csv"
    assert (
        main(["supernet", "eval", str(run), "--sample", "3", "--out", str(out), "--max-images", "50", "--no-progress"])
        == 0
    )
    assert len(out.read_text().splitlines()) == 4
    capsys.readouterr()
    assert main(["supernet", "eval", str(tmp_path / "nope"), "--all", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "no checkpoint" in err and "Traceback" not in err


def test_cli_resume_refuses_options_that_differ_from_the_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from predictor.cli.main import main

    run = tmp_path / "run"
    base = ["supernet", "train", "--dataset", "digits", "--channels", "4", "--cells", "1", "--batch-size", "32"]
    base += ["--limit-train-batches", "2", "--threads", "1", "--no-progress", "--out", str(run)]
    SupernetTrainer(
        TrainConfig(channels=4, cells=1, batch_size=32, limit_train_batches=2, epochs=2, threads=1, progress=False),
        run,
    ).fit(max_epochs=1)  # "killed" after epoch 1
    capsys.readouterr()
    assert main([*base, "--epochs", "3", "--resume"]) == 1
    err = capsys.readouterr().err
    assert "epochs=3 (run: 2)" in err and "new --out" in err
    assert len((run / "history.jsonl").read_text().splitlines()) == 1  # nothing was trained
    assert main([*base, "--epochs", "2", "--resume", "--threads", "2"]) == 0  # runtime options may change
    assert len((run / "history.jsonl").read_text().splitlines()) == 2


def test_cli_augment_flag_reaches_config_and_training(tmp_path: Path) -> None:
    from predictor.cli.main import main

    base = ["supernet", "train", "--dataset", "digits", "--channels", "4", "--cells", "1", "--epochs", "1"]
    base += ["--batch-size", "32", "--limit-train-batches", "2", "--threads", "1", "--no-progress"]
    losses = {}
    for flag, expected in (("--augment", True), ("--no-augment", False)):
        run = tmp_path / flag.strip("-")
        assert main([*base, flag, "--out", str(run)]) == 0
        assert json.loads((run / "config.json").read_text())["augment"] is expected
        losses[flag] = json.loads((run / "history.jsonl").read_text().splitlines()[0])["train_loss"]
    assert losses["--augment"] != losses["--no-augment"]  # digits are not augmented by default


def test_subspace_run_cli_evaluates_inside_subspace(tmp_path: Path) -> None:
    from predictor.cli.main import main
    from predictor.logs import read_log
    from predictor.spaces import get_space

    run = tmp_path / "run"
    base = ["supernet", "train", "--channels", "4", "--cells", "1", "--epochs", "1", "--batch-size", "32"]
    assert (
        main([*base, "--limit-train-batches", "2", "--fix", "0=nor_conv_3x3", "--out", str(run), "--no-progress"]) == 0
    )
    out = tmp_path / "e.csv"
    assert (
        main(["supernet", "eval", str(run), "--sample", "5", "--out", str(out), "--max-images", "40", "--no-progress"])
        == 0
    )
    ids = get_space("nb201").encode(list(read_log(out).arch_str))
    assert (ids[:, 0] == 3).all()
    assert main([*base, "--fix", "zero", "--out", str(tmp_path / "bad")]) == 1
    assert select_archs("unique", fixed={0: 3}).shape[0] < 6466


def test_cli_config_file_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from predictor.cli.main import main

    bad = tmp_path / "c.json"
    bad.write_text('{"chanels": 4}')
    assert main(["supernet", "train", "--config", str(bad), "--out", str(tmp_path / "r")]) == 1
    assert "chanels" in capsys.readouterr().err
    broken = tmp_path / "c.toml"
    broken.write_text("channels = \n")
    assert main(["supernet", "train", "--config", str(broken), "--out", str(tmp_path / "r")]) == 1
    assert "cannot parse" in capsys.readouterr().err


# ----- chain spaces: the same trainer, evaluator and retraining on NB-Macro and FBNet ---------


@pytest.mark.parametrize("space", ["nbmacro", "fbnet"])
def test_chain_space_train_eval_retrain_via_cli(tmp_path: Path, space: str) -> None:
    from predictor.cli.main import main
    from predictor.logs import read_log
    from predictor.spaces import get_space

    sp = get_space(space)
    run = tmp_path / "run"
    base = ["supernet", "train", "--space", space, "--dataset", "digits", "--width", "0.25", "--epochs", "1"]
    base += ["--batch-size", "32", "--limit-train-batches", "2", "--threads", "1", "--no-progress"]
    assert main([*base, "--sampler", "fair", "--out", str(run)]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["space"] == space and config["width"] == 0.25
    model, ckpt = load_supernet(run)
    assert ckpt["space"] == space and model.space.name == space and model.num_classes == 10
    out = tmp_path / "evals.csv"
    argv = ["supernet", "eval", str(run), "--sample", "6", "--out", str(out), "--max-images", "40", "--no-progress"]
    assert main(argv) == 0
    log = read_log(out, space=space)
    ids = log.ids(space)
    assert ids.shape == (6, sp.num_slots) and len({tuple(r) for r in ids}) == 6
    assert json.loads(Path(str(out) + ".meta.json").read_text())["space"] == space
    archs = tmp_path / "archs.txt"
    archs.write_text("\n".join(log.arch_str[:2]) + "\n")
    assert main(["supernet", "eval", str(run), "--archs", str(archs), "--out", str(tmp_path / "l.csv"),
                 "--max-images", "40", "--no-progress"]) == 0  # fmt: skip
    retrain_log = tmp_path / "retrain.csv"
    argv = ["supernet", "retrain", "--space", space, "--arch", log.arch_str[0], "--preset", "tiny", "--dataset"]
    argv += ["digits", "--limit-train", "128", "--epochs", "1", "--out", str(tmp_path / "re"), "--log"]
    assert main([*argv, str(retrain_log), "--no-progress", "--threads", "1"]) == 0
    assert read_log(retrain_log, space=space).arch_str[0] == log.arch_str[0]
    with pytest.raises(NasgcnError, match=space):
        read_log(retrain_log)  # the log records its space
    assert json.loads((tmp_path / "re" / "retrain_config.json").read_text())["space"] == space


def test_chain_space_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from predictor.cli.main import main

    run = tmp_path / "run"
    train_supernet(tiny(space="nbmacro", channels=16, cells=5, width=0.25, epochs=1), run)
    # resuming with another space is refused (Python API and CLI)
    with pytest.raises(NasgcnError, match="nbmacro"):
        SupernetTrainer(tiny(epochs=2), run, resume=True).fit()
    with pytest.raises(NasgcnError, match="nbmacro"):
        load_supernet(run, space="nb201")
    base = ["supernet", "train", "--out", str(run), "--resume", "--no-progress", "--threads", "1"]
    assert main([*base, "--space", "fbnet"]) == 1
    assert "space" in capsys.readouterr().err
    assert main(["supernet", "eval", str(run), "--space", "nb201", "--sample", "2", "--out", str(tmp_path / "e.csv"),
                 "--no-progress"]) == 1  # fmt: skip
    assert "nbmacro" in capsys.readouterr().err
    # enumeration is refused on fbnet; model options of another space are refused
    with pytest.raises(NasgcnError, match="fbnet"):
        select_archs("all", space="fbnet")
    assert select_archs("sample", 5, space="fbnet", fixed={0: 8}).shape == (5, 22)
    with pytest.raises(NasgcnError, match="width"):
        train_supernet(tiny(width=0.5, epochs=1), tmp_path / "nb")
    with pytest.raises(NasgcnError, match="channels"):
        train_supernet(tiny(space="nbmacro", channels=8, cells=5, epochs=1), tmp_path / "nm")
    with pytest.raises(NasgcnError, match="no_such"):
        train_supernet(tiny(space="no_such", epochs=1), tmp_path / "x")
    bad = tmp_path / "bad.txt"
    bad.write_text("2221222\n")
    with pytest.raises(NasgcnError, match="bad.txt:1"):
        read_arch_list(bad, "nbmacro")


def test_resume_keeps_chain_space_via_cli(tmp_path: Path) -> None:
    from predictor.cli.main import main

    run = tmp_path / "run"
    base = ["supernet", "train", "--dataset", "digits", "--epochs", "1", "--batch-size", "32"]
    base += ["--limit-train-batches", "2", "--threads", "1", "--no-progress", "--out", str(run)]
    assert main([*base, "--space", "nbmacro", "--width", "0.25"]) == 0
    assert main([*base, "--resume"]) == 0  # no --space: the run's own space is kept
    assert json.loads((run / "config.json").read_text())["space"] == "nbmacro"
