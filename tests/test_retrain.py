"""Stand-alone retraining: presets, resume, the appended evaluation log, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from predictor.errors import NasgcnError
from supernet.retrain import PRESETS, append_log_row, preset, retrain

ARCHS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|",
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
]


def _cfg(**kw):
    return preset("tiny", progress=False, limit_train=256, **kw)


def test_presets() -> None:
    nb = preset("nb201")
    assert (nb.epochs, nb.batch_size, nb.lr, nb.weight_decay, nb.nesterov) == (200, 256, 0.1, 5e-4, True)
    assert (nb.channels, nb.cells) == (16, 5)
    assert set(PRESETS) == {"nb201", "cpu-small", "tiny"}
    assert preset("cpu-small", epochs=3).epochs == 3
    with pytest.raises(NasgcnError):
        preset("huge")


def test_retrain_appends_log_and_resumes(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    log = tmp_path / "evals.csv"
    recs = retrain(ARCHS, _cfg(), tmp_path / "out", log)
    lines = log.read_text().splitlines()
    assert lines[0] == "arch_str,val_acc,val_loss,epochs,seed,dataset,split,source,checkpoint,images"
    assert len(lines) == 3 and all(",retrain," in line for line in lines[1:])
    assert recs[1]["params"] < recs[0]["params"]
    # A dead cell predicts a constant class: its accuracy is one class's share of the split.
    assert recs[1]["acc"] < 25.0
    # Rerunning resumes from the finished checkpoints: same results, no duplicate rows.
    again = retrain(ARCHS, _cfg(), tmp_path / "out", log)
    assert [r["acc"] for r in again] == [r["acc"] for r in recs]
    assert len(log.read_text().splitlines()) == 3
    logs = pytest.importorskip("predictor.logs")
    read = logs.read_log(log)
    np.testing.assert_allclose(read.metrics["val_acc"], [r["acc"] for r in recs], atol=1e-4)


def test_interrupted_retrain_resumes_to_same_weights(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    full = retrain(ARCHS[:1], _cfg(epochs=2), tmp_path / "full")
    assert retrain(ARCHS[:1], _cfg(epochs=2), tmp_path / "part", max_epochs=1) == []  # "killed" after epoch 1
    assert not (tmp_path / "part" / "retrain.csv").exists()
    with pytest.raises(NasgcnError, match="different recipe"):
        retrain(ARCHS[:1], _cfg(epochs=3), tmp_path / "part")
    resumed = retrain(ARCHS[:1], _cfg(epochs=2), tmp_path / "part")
    assert resumed[0]["acc"] == full[0]["acc"]
    assert resumed[0]["history"] == full[0]["history"]


def test_log_column_mismatch(tmp_path: Path) -> None:
    log = tmp_path / "supernet.csv"
    log.write_text("arch_str,supernet_acc\n" + ARCHS[0] + ",50\n")
    with pytest.raises(NasgcnError, match="separate --log"):
        append_log_row(log, ["arch_str", "val_acc"], [ARCHS[0], 1.0])
    with pytest.raises(NasgcnError, match="no test split"):
        retrain(ARCHS[:1], _cfg(split="test"), tmp_path / "o")


def test_cli_retrain(tmp_path: Path) -> None:
    from predictor.cli.main import main

    archs = tmp_path / "archs.txt"
    archs.write_text(ARCHS[0] + "\n")
    out = tmp_path / "rt"
    code = main(
        [
            "supernet",
            "retrain",
            "--archs",
            str(archs),
            "--preset",
            "tiny",
            "--epochs",
            "1",
            "--limit-train",
            "128",
            "--out",
            str(out),
            "--no-progress",
            "--threads",
            "1",
            "--augment",
        ]
    )
    assert code == 0
    assert len((out / "retrain.csv").read_text().splitlines()) == 2
    assert json.loads((out / "retrain_config.json").read_text())["augment"] is True


def test_retrain_chain_spaces(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    from supernet.models import ChainNetwork

    archs = ["22212220", "00000000"]
    recs = retrain(archs, _cfg(space="nbmacro", epochs=1), tmp_path / "m", tmp_path / "m.csv")
    assert [r["arch_str"] for r in recs] == archs
    assert recs[0]["params"] == sum(p.numel() for p in ChainNetwork("nbmacro", archs[0], 10, 1, 0.25).parameters())
    assert recs[1]["params"] < recs[0]["params"]
    with pytest.raises(NasgcnError, match="nbmacro"):  # a log of another space is refused
        retrain(ARCHS[:1], _cfg(epochs=1), tmp_path / "nb", tmp_path / "m.csv")
    fb = "0123456780123456780123"
    (rec,) = retrain([fb], _cfg(space="fbnet", epochs=1, width=0.25), tmp_path / "f")
    assert rec["arch_str"] == fb and (tmp_path / "f" / fb / "checkpoint.pt").exists()  # not enumerable: named by arch
    with pytest.raises(NasgcnError):
        retrain(["0123"], _cfg(space="fbnet", epochs=1), tmp_path / "f2")
