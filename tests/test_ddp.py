"""Data-parallel training: 2 gloo processes on CPU match one process with the same global batch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from supernet.train import TrainConfig, flat_weights, load_supernet, train_supernet, train_supernet_parallel


def _cfg(**kw) -> TrainConfig:
    # NCHW: the oneDNN channels-last kernels round differently for different batch splits.
    base = dict(
        channels=4,
        cells=1,
        epochs=2,
        batch_size=32,
        limit_train_batches=3,
        progress=False,
        threads=1,
        channels_last=False,
    )
    return TrainConfig(**{**base, **kw})


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["fair"])
def test_two_gloo_processes_match_single_process(tmp_path: Path, sampler: str) -> None:
    if not torch.distributed.is_available():
        pytest.skip("torch.distributed not available")
    ddp_dir = tmp_path / "ddp"
    history = train_supernet_parallel(_cfg(sampler=sampler), ddp_dir, 2)
    ddp_model, ckpt = load_supernet(ddp_dir)
    assert [h["epoch"] for h in history] == [1, 2]
    # BatchNorm uses per-device batch statistics (as DDP without SyncBN), so the single-process
    # equivalent splits each global batch into 2 gradient-accumulated micro-batches.
    single = train_supernet(_cfg(sampler=sampler, micro_batches=2), tmp_path / "single")
    assert ckpt["step"] == single.step == 6
    np.testing.assert_allclose(flat_weights(ddp_model), flat_weights(single.model), rtol=1e-5, atol=1e-6)
    # And it differs from a run that saw the batch as a whole (the test can fail).
    whole = train_supernet(_cfg(sampler=sampler), tmp_path / "whole")
    assert not np.allclose(flat_weights(whole.model), flat_weights(single.model), atol=1e-6)
