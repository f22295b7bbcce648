"""Sharded evaluation under torchrun: 2 gloo ranks write the same log as one process, resumably per shard."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from predictor.cli.main import main
from supernet.distributed import spawn_local
from supernet.evaluate import shard_path, shard_slices
from supernet.fewshot import split_supernet
from supernet.train import TrainConfig, train_supernet

pytestmark = pytest.mark.slow

EVAL = ["--sample", "9", "--seed", "4", "--max-images", "60", "--batch-size", "30", "--chunk", "2", "--quiet"]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not torch.distributed.is_available():
        pytest.skip("torch.distributed not available")
    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("sharded") / "run"
    cfg = TrainConfig(channels=4, cells=1, epochs=1, batch_size=32, limit_train_batches=3, progress=False, threads=1)
    train_supernet(cfg, path)
    return path


def _eval_args(target: Path, out: Path) -> list[str]:
    return ["supernet", "eval", str(target), *EVAL, "--threads", "1", "--out", str(out)]


def test_shard_slices_cover_rows_in_order() -> None:
    parts = shard_slices(9, 2)
    assert parts == [slice(0, 5), slice(5, 9)]
    assert np.concatenate([np.arange(9)[p] for p in shard_slices(9, 4)]).tolist() == list(range(9))
    assert [p.stop - p.start for p in shard_slices(2, 3)] == [1, 1, 0]


def test_two_gloo_ranks_match_one_process_and_resume_per_shard(run: Path, tmp_path: Path) -> None:
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    assert main(_eval_args(run, one)) == 0
    spawn_local(2, main, _eval_args(run, two))
    assert two.read_text() == one.read_text()  # same rows, same order, same values
    shards = [shard_path(two, r, 2) for r in range(2)]
    assert [len(s.read_text().splitlines()) - 1 for s in shards] == [5, 4]

    # A "killed" run: shard 0 finished (one of its rows marked so a recomputation would show),
    # shard 1 holds only its first row, no merged log yet.
    lines0 = shards[0].read_text().splitlines()
    marked = lines0[2].split(",")
    marked[1] = "99.0000"
    shards[0].write_text("\n".join([*lines0[:2], ",".join(marked), *lines0[3:]]) + "\n")
    shards[1].write_text("\n".join(shards[1].read_text().splitlines()[:2]) + "\n")
    two.unlink()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun), "--standalone", "--nproc-per-node", "2", "-m", "predictor.cli", *_eval_args(run, two)]
    if not torchrun.exists():
        pytest.skip("torchrun not installed next to the interpreter")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    got, want = two.read_text().splitlines(), one.read_text().splitlines()
    assert got[2] == ",".join(marked)  # shard 0 was not recomputed
    assert got[:2] + got[3:] == want[:2] + want[3:]  # shard 1's missing rows were, identically
    assert "wrote 9 evaluations" in done.stdout


def test_sharded_split_folder_matches_one_process(run: Path, tmp_path: Path) -> None:
    split = split_supernet(run, "1<-0", tmp_path / "split", epochs=1, groups=2, progress=False, threads=1)
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    assert main(_eval_args(split.root, one)) == 0
    spawn_local(2, main, _eval_args(split.root, two))
    assert two.read_text() == one.read_text()
    assert {r.split(",")[-1] for r in one.read_text().splitlines()[1:]} == {"00-group0", "01-group1"}
