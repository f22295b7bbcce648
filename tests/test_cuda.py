"""CUDA paths: the same models and commands on a GPU agree with the CPU.

Every test here needs a CUDA device and is skipped without one (CI has none); run them on
a GPU machine with ``python -m pytest tests/test_cuda.py``. TF32 is switched off so that
GPU and CPU results can be compared at float32 tolerances.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from predictor.cli.main import main
from predictor.gcn import GCNPredictor
from predictor.spaces import get_space

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none on CI)")

SPACE = get_space("nb201")
TINY = dict(hidden=16, num_layers=2, epochs=20, batch_size=32, ensemble=2, random_state=0)
TRAIN = ["supernet", "train", "--dataset", "digits", "--channels", "4", "--cells", "1", "--batch-size", "32"]
TRAIN += ["--limit-train-batches", "4", "--no-progress"]


@pytest.fixture(autouse=True)
def _no_tf32():
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def _synthetic(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = SPACE.sample(n, rng, unique=True)
    return ids, 2.0 * (ids == 3).sum(1) - 1.5 * (ids == 0).sum(1) + rng.normal(0, 0.3, n)


def test_gcn_fit_on_cuda_and_predict_matches_cpu(tmp_path: Path) -> None:
    ids, y = _synthetic(200)
    est = GCNPredictor(**TINY, device="cuda").fit(ids, y)
    test_ids, test_y = _synthetic(300, seed=1)
    assert est.score(test_ids, test_y) > 0.5  # it learned something on the GPU
    est.save(tmp_path / "m.pt")
    mean_gpu, std_gpu = est.predict(SPACE.all_ids(), return_std=True)
    cpu = GCNPredictor.load(tmp_path / "m.pt", device="cpu")
    mean_cpu, std_cpu = cpu.predict(SPACE.all_ids(), return_std=True)
    assert mean_gpu.shape == (SPACE.size,)
    np.testing.assert_allclose(mean_gpu, mean_cpu, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(std_gpu, std_cpu, rtol=1e-3, atol=1e-4)


def test_supernet_forward_on_cuda_matches_cpu() -> None:
    from supernet.models import NB201Supernet

    torch.manual_seed(0)
    net = NB201Supernet(channels=8, cells=2, num_classes=10).eval()
    x = torch.randn(16, 3, 16, 16)
    ids = SPACE.sample(8, np.random.default_rng(0), unique=True)
    with torch.no_grad():
        cpu = [net(x, row) for row in ids]
        net.cuda()
        gpu = [net(x.cuda(), row).cpu() for row in ids]
    for a, b in zip(cpu, gpu, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)


def test_supernet_train_resume_and_eval_on_cuda(tmp_path: Path) -> None:
    from supernet.train import SupernetTrainer, TrainConfig

    run = tmp_path / "run"
    cfg = TrainConfig(channels=4, cells=1, batch_size=32, limit_train_batches=4, epochs=2, progress=False)
    SupernetTrainer(cfg, run).fit(max_epochs=1)  # "killed" after epoch 1 (written on the CPU)
    assert main([*TRAIN, "--epochs", "2", "--device", "cuda", "--out", str(run), "--resume"]) == 0
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == [1, 2]
    evals = {}
    for device in ("cuda", "cpu"):
        out = tmp_path / f"{device}.csv"
        argv = ["supernet", "eval", str(run), "--sample", "6", "--max-images", "200", "--no-progress"]
        assert main([*argv, "--device", device, "--out", str(out)]) == 0
        evals[device] = np.genfromtxt(out, delimiter=",", names=True, dtype=None, encoding="utf-8")
    # A checkpoint written on the GPU evaluates the same on the CPU.
    assert list(evals["cuda"]["arch_str"]) == list(evals["cpu"]["arch_str"])
    np.testing.assert_allclose(evals["cuda"]["supernet_loss"], evals["cpu"]["supernet_loss"], rtol=1e-3)
    assert np.abs(evals["cuda"]["supernet_acc"] - evals["cpu"]["supernet_acc"]).max() <= 1.0  # ≤ 2 of 200 images


def test_retrain_on_cuda(tmp_path: Path) -> None:
    archs = tmp_path / "archs.txt"
    archs.write_text(
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|\n"
    )
    argv = ["supernet", "retrain", "--archs", str(archs), "--preset", "tiny", "--epochs", "1", "--limit-train", "128"]
    assert main([*argv, "--device", "cuda", "--out", str(tmp_path / "rt"), "--no-progress"]) == 0
    log = (tmp_path / "rt" / "retrain.csv").read_text().splitlines()
    assert len(log) == 2


def test_supernet_shifting_on_cuda() -> None:
    from torch.utils.data import TensorDataset

    from supernet.models import NB201Supernet
    from supernet.shifting import ShiftingConfig, SupernetShifting

    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 4, (96,), generator=g)
    data = TensorDataset(torch.randn(96, 3, 8, 8, generator=g) + y.view(-1, 1, 1, 1).float(), y)
    cfg = ShiftingConfig(
        population=6, keep=3, mutations=3, crossovers=2, generations=2, steps_per_candidate=2, batch_size=16,
        eval_batches=1, eval_batch_size=32, lr=0.05, final_top=3,
    )  # fmt: skip
    torch.manual_seed(0)
    sh = SupernetShifting(NB201Supernet(channels=4, cells=1, num_classes=4), data, data, cfg, device="cuda")
    before = {k: v.detach().cpu().clone() for k, v in sh.supernet.state_dict().items()}
    res = sh.run()
    assert next(sh.supernet.parameters()).is_cuda
    assert any(not torch.equal(before[k], v.cpu()) for k, v in sh.supernet.state_dict().items())
    assert SPACE.encode([res.best_arch]).shape == (1, 6)


def test_latency_measure_on_cuda(tmp_path: Path) -> None:
    from predictor.hardware import HardwareTable

    out = tmp_path / "lat.csv"
    argv = ["latency", "measure", "--out", str(out), "--sample", "3", "--channels", "4", "--cells", "1"]
    argv += ["--input-size", "8", "--repeats", "3", "--warmup", "1", "--device", "cuda", "--no-progress"]
    assert main(argv) == 0
    hw = HardwareTable.read(out)
    assert hw.metrics[0].endswith("_latency") and np.all(hw[hw.metrics[0]] > 0)
