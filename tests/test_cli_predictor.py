"""``nasgcn fit`` / ``table`` / ``evaluate`` end to end on small logs written to a temp dir."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from predictor.cli.main import main
from predictor.spaces import get_space

SPACE = get_space("nb201")
FAST = ["--epochs", "3", "--ensemble", "2", "--hidden", "8", "--layers", "2", "--quiet"]


def labels(ids: np.ndarray) -> np.ndarray:
    return 80 + 2.0 * (ids == 3).sum(1) + 1.0 * (ids == 2).sum(1) - 1.5 * (ids == 0).sum(1)


def write_log(path, ids, column, values, extra_rows=()):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["arch_str", column])
        for s, v in zip(SPACE.decode(ids), values, strict=True):
            w.writerow([s, f"{v:.4f}"])
        for row in extra_rows:
            w.writerow(row)
    return str(path)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    ids = SPACE.sample(80, 0, unique=True)
    write_log(d / "noisy.csv", ids, "supernet_acc", labels(ids) * 0.5 - 10)
    acc = SPACE.sample(12, 1, unique=True)
    write_log(d / "acc.csv", acc, "test_acc", labels(acc))
    every = SPACE.all_ids()
    write_log(d / "truth.csv", every, "acc", labels(every))
    return d


def test_fit_table_evaluate(workdir, capsys):
    model = str(workdir / "m.pt")
    assert main(["fit", str(workdir / "noisy.csv"), "--target", "supernet_acc", "--out", model, *FAST]) == 0
    cfg = json.loads((workdir / "m.pt.json").read_text())
    assert cfg["target"] == "supernet_acc" and cfg["n_train"] == 80 and cfg["params"]["ensemble"] == 2
    out = str(workdir / "t.csv")
    assert main(["table", model, "--out", out]) == 0
    with open(out) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == SPACE.size
    for col in ("arch_str", "iso_class", "pred", "pred_std", "params_m", "flops_m"):
        assert col in rows[0]
    assert any(float(r["pred_std"]) > 0 for r in rows[:50])
    meta = json.loads((workdir / "t.csv.meta.json").read_text())
    assert meta["target"] == "supernet_acc" and meta["data_sha256"] == cfg["data_sha256"]
    capsys.readouterr()
    assert main(["evaluate", out, "--truth", str(workdir / "truth.csv"), "--column", "acc", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    for key in ("kendall_tau", "spearman", "top1pct_kendall_tau", "precision_at_10"):
        assert key in rep
    assert rep["n"] == SPACE.size and rep["kendall_tau"] > 0.3
    assert main(["evaluate", out, "--truth", str(workdir / "truth.csv"), "--column", "acc"]) == 0
    text = capsys.readouterr().out
    assert "protocol" in text and "Kendall tau" in text


def test_fit_noisy_with_accurate(workdir):
    model = str(workdir / "mix.pt")
    argv = ["fit", str(workdir / "noisy.csv"), "--target", "supernet_acc", "--out", model, *FAST]
    argv += ["--accurate", str(workdir / "acc.csv"), "--accurate-target", "test_acc", "--loss", "mse"]
    assert main(argv) == 0
    cfg = json.loads((workdir / "mix.pt.json").read_text())
    assert cfg["target"] == "test_acc" and cfg["n_sources"] == 2 and cfg["meta"]["n_accurate"] == 12
    assert cfg["n_train"] == 92
    table = str(workdir / "mix.csv")
    assert main(["table", model, "--out", table]) == 0
    with open(table) as fh:
        rows = {r["arch_str"]: r for r in csv.DictReader(fh)}
    with open(workdir / "acc.csv") as fh:
        measured = list(csv.DictReader(fh))
    for r in measured:  # measured cells carry their measurement, not a prediction
        assert float(rows[r["arch_str"]]["pred"]) == pytest.approx(float(r["test_acc"]), abs=1e-3)
        assert float(rows[r["arch_str"]]["pred_std"]) == 0 and rows[r["arch_str"]]["measured"].lower() == "true"
    assert main(["table", model, "--out", table, "--no-overlay"]) == 0
    with open(table) as fh:
        assert "measured" not in next(csv.DictReader(fh))


def test_fit_lower_is_better(tmp_path):
    ids = SPACE.sample(80, 0, unique=True)
    loss = write_log(tmp_path / "loss.csv", ids, "supernet_loss", 6.0 - 0.05 * labels(ids))  # a loss is >= 0
    model = str(tmp_path / "loss.pt")
    argv = ["fit", loss, "--target", "supernet_loss", "--lower-is-better", "--out", model, *FAST]
    assert main(argv + ["--epochs", "40"]) == 0
    assert json.loads((tmp_path / "loss.pt.json").read_text())["target"] == "-supernet_loss"
    table = str(tmp_path / "loss_table.csv")
    assert main(["table", model, "--out", table]) == 0
    with open(table) as fh:
        rows = list(csv.DictReader(fh))
    pred = np.array([float(r["pred"]) for r in rows])
    truth = labels(SPACE.encode([r["arch_str"] for r in rows]))
    assert np.corrcoef(pred, truth)[0, 1] > 0.5  # a low loss became a high prediction


def test_seed_makes_models_identical(workdir):
    paths = []
    for name in ("a", "b"):
        model = str(workdir / f"{name}.pt")
        assert main(["fit", str(workdir / "noisy.csv"), "--target", "supernet_acc", "--out", model, *FAST]) == 0
        assert main(["table", model, "--out", str(workdir / f"{name}.csv")]) == 0
        paths.append(workdir / f"{name}.csv")
    assert paths[0].read_text() == paths[1].read_text()


def test_errors_are_one_line(workdir, capsys, tmp_path):
    noisy = str(workdir / "noisy.csv")
    assert main(["fit", noisy, "--target", "nope", "--out", str(tmp_path / "x.pt"), *FAST]) == 1
    err = capsys.readouterr().err
    assert err.startswith("nasgcn: error:") and "nope" in err and "Traceback" not in err
    bad = write_log(tmp_path / "bad.csv", SPACE.sample(3, 0), "acc", [1.0, 2.0, 3.0], [["|conv~0|+|x|", "1.0"]])
    assert main(["fit", bad, "--target", "acc", "--out", str(tmp_path / "x.pt"), *FAST]) == 1
    assert "bad.csv:5" in capsys.readouterr().err
    assert main(["table", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "t.csv")]) == 1
    assert "not found" in capsys.readouterr().err
    argv = ["evaluate", str(workdir / "truth.csv"), "--truth", str(workdir / "truth.csv"), "--pred", "acc"]
    assert main([*argv, "--column", "zz"]) == 1
    assert "no column 'zz'" in capsys.readouterr().err


def test_evaluate_against_reference(reference_data, workdir, capsys):
    """A table scored against the real ground truth: the protocol joins by arch_str over all 15,625."""
    table = str(workdir / "ref.csv")
    model = str(workdir / "m2.pt")
    assert main(["fit", str(workdir / "noisy.csv"), "--target", "supernet_acc", "--out", model, *FAST]) == 0
    assert main(["table", model, "--out", table]) == 0
    capsys.readouterr()
    truth = str(reference_data / "nb201_cifar10_ground_truth.csv")
    assert main(["evaluate", table, "--truth", truth, "--column", "c10_test_acc", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["n_joined"] == SPACE.size and rep["n"] == SPACE.size
    assert -1 <= rep["kendall_tau"] <= 1 and rep["top1_true"] <= 94.3734


def test_help_documents_noisy_options(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    text = capsys.readouterr().out
    for opt in ("--target", "--out", "--epochs", "--ensemble", "--loss", "--seed", "--accurate", "--accurate-target"):
        assert opt in text


def test_evaluate_drops_nan_truth(workdir, tmp_path, capsys):
    ids = SPACE.all_ids()[:40]
    vals = labels(ids)
    vals[:5] = np.nan
    truth = write_log(tmp_path / "t.csv", ids, "acc", vals)
    table = write_log(tmp_path / "p.csv", ids, "pred", labels(ids) + np.linspace(0, 1, 40))
    assert main(["evaluate", table, "--truth", truth, "--column", "acc", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["n"] == 35 and rep["n_joined"] == 40


def test_evaluate_counts_measured_rows(workdir, capsys):
    model = str(workdir / "mixm.pt")
    argv = ["fit", str(workdir / "noisy.csv"), "--target", "supernet_acc", "--out", model, *FAST]
    assert main([*argv, "--accurate", str(workdir / "acc.csv"), "--accurate-target", "test_acc"]) == 0
    table = str(workdir / "mixm.csv")
    assert main(["table", model, "--out", table]) == 0
    with open(table) as fh:
        n_measured = sum(r["measured"].lower() == "true" for r in csv.DictReader(fh))
    assert n_measured >= 12
    capsys.readouterr()
    ev = ["evaluate", table, "--truth", str(workdir / "truth.csv"), "--column", "acc"]
    assert main([*ev, "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["n_measured"] == n_measured and rep["n"] == SPACE.size
    assert main(ev) == 0
    assert f"{n_measured:,} of these {SPACE.size:,} rows carry measured values" in capsys.readouterr().out
    assert main([*ev, "--json", "--predictions-only"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["n"] == SPACE.size - n_measured and rep["n_measured_dropped"] == n_measured
    # a table without a measured column: every row is a prediction
    truth = str(workdir / "truth.csv")
    assert main(["evaluate", truth, "--truth", truth, "--column", "acc", "--pred", "acc", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_measured"] == 0
