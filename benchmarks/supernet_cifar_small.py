"""Benchmark 2: a CPU-scale supernet on real CIFAR-10 images, ranked against NAS-Bench-201.

Trains the supernet on the 20k CIFAR-10 training images in ``cifar10_train_part*.npz``
(a seeded 10 % validation split of them is held out; the test file is never used), with
reduced settings (C=8 channels, N=1 cell per stage, 16×16 px), for the uniform (SPOS)
and FairNAS samplers; evaluates the same 1,000 sampled architectures with inherited
weights on all 2,000 validation images; and reports Kendall tau against NAS-Bench-201's
``c10_test_acc`` of two supernet scores (accuracy, and minus the cross-entropy loss,
which is less quantised) next to the tau of the parameter count alone, with the wall
time of each stage.

    python benchmarks/supernet_cifar_small.py --data ../shared/data            # full (~20-30 min on 2 cores)
    python benchmarks/supernet_cifar_small.py --data ../shared/data --quick    # a few minutes

Runs resume: rerunning with the same ``--out`` reuses finished supernets. FairNAS runs
5 paths per batch, so by default it gets 1/5 of the uniform epochs (equal compute:
the same number of path updates); ``--fair-epochs`` overrides.

Measured with these defaults (1 thread each, on a shared 2-core machine; one run, seed
0): uniform 90 epochs tau 0.424 (acc) / 0.434 (-loss), FairNAS 18 epochs 0.338 / 0.465,
parameter count 0.567: the supernet does not beat the parameter count at this budget. Seed 1
(another split, supernet and 1,000 archs): uniform 90 epochs 0.203 / 0.160, parameter count 0.563,
so one seed says little: the spread between seeds is about 0.2. Full 32×32 px (seed 0, same
1,000 archs): C=8 for 30 epochs 0.366 / 0.368, C=4 for 60 epochs 0.189 / 0.360 (~18 min each on a
shared core, evaluation included).
On an idle core training runs at ~3,800 img/s per thread (each supernet ~7 min, each
evaluation of 1,000 archs ~2-3 min). Other settings, same 1,000 archs: uniform 150 epochs
0.319 / 0.284, FairNAS 30 epochs 0.326 / 0.374 (longer is not better: run-to-run spread
is large), uniform 90 epochs without random crop + flip 0.213 / 0.176. 300-arch probes:
uniform 30 epochs 0.03-0.09 / 0.13, N=2 cells at 30 epochs below 0. Short training
overrates skip-connections and underrates 3×3 convolutions relative to NAS-Bench-201.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import kendalltau

from predictor.costs import nb201_costs
from predictor.spaces import get_space
from supernet.evaluate import evaluate_run
from supernet.train import TrainConfig, train_supernet


def default_data() -> str:
    env = os.environ.get("NASGCN_REFERENCE_DATA")
    return env or str(Path(__file__).resolve().parents[1].parent / "shared" / "data")


def run_sampler(args: argparse.Namespace, sampler: str, ids: np.ndarray, y: np.ndarray) -> tuple:
    """Train (or resume) one supernet and evaluate ``ids``; one table row. Runs in a worker process."""
    torch.set_num_threads(args.threads)
    epochs = args.epochs if sampler != "fair" else (args.fair_epochs or max(1, args.epochs // 5))
    cfg = TrainConfig(
        dataset=f"npz:{args.data}",
        sampler=sampler,
        channels=args.channels,
        cells=args.cells,
        input_size=args.input_size,
        epochs=epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        val_fraction=args.val_fraction,
        limit_train=args.limit_train,
        seed=args.seed,
        threads=args.threads,
        progress=args.progress,
    )
    run = Path(args.out) / f"{sampler}-e{epochs}-c{args.channels}-n{args.cells}-s{args.input_size}"
    t0 = time.perf_counter()
    trainer = train_supernet(cfg, run, resume=True)
    train_s = sum(h["seconds"] for h in trainer.history_)
    t1 = time.perf_counter()
    res = evaluate_run(run, ids, run / "evals.csv", args.eval_images or None, 500, progress=args.progress)
    eval_s = time.perf_counter() - t1
    tau = kendalltau(res.acc, y).statistic
    tau_loss = kendalltau(-res.loss, y).statistic
    print(f"[{sampler}] done in {time.perf_counter() - t0:.0f}s; protocol: {res.protocol}", flush=True)
    row = (sampler, epochs, trainer.history_[-1]["train_acc"], res.acc.mean(), tau, tau_loss, train_s, eval_s)
    return row, res.protocol["images"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=default_data(), help="folder with cifar10_train_part*.npz and the ground truth")
    ap.add_argument("--out", default="bench_cifar_small", help="run folder (resumable)")
    ap.add_argument("--samplers", default="uniform,fair,balanced")
    ap.add_argument("--channels", type=int, default=8)
    ap.add_argument("--cells", type=int, default=1)
    ap.add_argument("--input-size", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=30, help="uniform/balanced-sampler epochs")
    ap.add_argument("--fair-epochs", type=int, help="FairNAS epochs (default epochs/5: equal compute)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--val-fraction", type=float, default=0.1)
    ap.add_argument("--limit-train", type=int)
    ap.add_argument("--archs", type=int, default=1000)
    ap.add_argument("--eval-images", type=int, default=0, help="validation images per arch (0: all 2,000)")
    ap.add_argument("--jobs", type=int, default=2, help="samplers run side by side in worker processes (2)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per job (1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="2 epochs at 16 px, 300 archs, 500 images")
    ap.add_argument("--progress", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.epochs, args.archs, args.eval_images, args.input_size = 2, 300, 500, 16
        args.limit_train = args.limit_train or 10_000
    data = Path(args.data)
    args.data = str(data)
    gt = pd.read_csv(data / "nb201_cifar10_ground_truth.csv", usecols=["arch_str", "c10_test_acc"])
    truth = dict(zip(gt["arch_str"], gt["c10_test_acc"], strict=True))
    space = get_space("nb201")
    ids = space.sample(args.archs, np.random.default_rng(args.seed + 1), unique=True)
    archs = space.decode(ids)
    y = np.array([truth[a] for a in archs])
    params = nb201_costs(ids)["params"]
    tau_params = kendalltau(params, y).statistic
    samplers = args.samplers.split(",")
    if args.jobs > 1 and len(samplers) > 1:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(min(args.jobs, len(samplers)), mp_context=ctx) as pool:
            done = list(pool.map(run_sampler, *zip(*[(args, s, ids, y) for s in samplers], strict=True)))
    else:
        done = [run_sampler(args, s, ids, y) for s in samplers]
    rows = [row for row, _ in done]
    images = done[-1][1]
    print()
    print(
        f"setup: CIFAR-10 npz train images (val split {args.val_fraction}, seed {args.seed}; test file unused), "
        f"C={args.channels} N={args.cells} {args.input_size}x{args.input_size}px, batch {args.batch_size}, "
        f"lr {args.lr}, {args.archs} archs evaluated on {images} validation images each, BN batch "
        f"statistics, {args.jobs} job(s) x {args.threads} thread(s). Kendall tau-b vs NB201 c10_test_acc on the "
        "same archs."
    )
    print("tau (acc): supernet accuracy as the score; tau (-loss): minus the supernet's validation loss.")
    head = f"{'ranker':<22} {'epochs':>6} {'train acc':>9} {'mean acc':>8} {'tau (acc)':>9} {'tau (-loss)':>11}"
    print(f"{head} {'train s':>8} {'eval s':>7} {'total s':>7}")
    for s, e, tr, m, t, tl, ts, es in rows:
        print(
            f"{'supernet ' + s:<22} {e:>6} {tr:>9.2f} {m:>8.2f} {t:>9.3f} {tl:>11.3f} {ts:>8.0f} {es:>7.0f} "
            f"{ts + es:>7.0f}"
        )
    print(f"{'parameter count':<22} {'':>6} {'':>9} {'':>8} {tau_params:>9.3f}")


if __name__ == "__main__":
    main()
