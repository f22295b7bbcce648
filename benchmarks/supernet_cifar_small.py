"""Benchmark 2: a CPU-scale supernet on real CIFAR-10 images, ranked against NAS-Bench-201.

Trains the supernet on the 20k CIFAR-10 training images in ``cifar10_train_part*.npz``
(a seeded 10 % validation split of them is held out; the test file is never used), with
reduced settings (C=8 channels, N=1 cell per stage, 32x32 px, 45 epochs), for the weighted
(convolutions drawn twice as often), uniform (SPOS) and FairNAS samplers (``--samplers``; also
``balanced``), side by side in ``--jobs`` worker processes;
evaluates the same 1,000 sampled architectures with inherited weights on all 2,000
validation images; and reports Kendall tau against NAS-Bench-201's ``c10_test_acc`` of two
supernet scores (accuracy, and minus the cross-entropy loss, which is less quantised) next
to the tau of the parameter count alone, with the wall time of each stage.

    python benchmarks/supernet_cifar_small.py --data ../shared/data            # ~25 min per supernet and core
    python benchmarks/supernet_cifar_small.py --data ../shared/data --quick    # a few minutes
    python benchmarks/supernet_cifar_small.py --data ../shared/data --samplers balanced --ddp 2 --epochs 90
    bash benchmarks/device_check.sh    # on a GPU machine: full-size supernets (C=16, N=5), see below

Runs resume: rerunning with the same ``--out`` reuses finished supernets. FairNAS runs
5 paths per batch, so by default it gets 1/5 of the epochs (equal compute: the same number
of path updates); ``--fair-epochs`` overrides. Each supernet (training ~12-14 min, evaluation
~11-13 min at ~1,000 / ~2,700 img/s) fits in 30 minutes on one core of this 2-core machine.

Measured (1 thread per run, this 2-core VM; tau (acc) / tau (-loss); parameter count 0.567
on the seed-0 archs, 0.563 on the seed-1 archs, 0.577 on the seed-2 archs; the seed draws the
split, the supernet and the 1,000 archs):

    32 px, 45 epochs  weighted   seed 0: 0.596 / 0.638   seed 1: 0.547 / 0.571   seed 2: 0.620 / 0.607
                                 (mean 0.588 / 0.605 against 0.569 for the parameter count; 819-877 s
                                 training + 570-766 s evaluation = 23-27 min per supernet and core)
                      uniform    seed 2: 0.300 / 0.309
                      balanced   seed 0: 0.581 / 0.504   seed 1: 0.446 / 0.420
                      uniform    seed 0: 0.545 / 0.527
                      FairNAS    seed 0: 0.366 / 0.362   (9 epochs: equal compute)
    32 px, 30 epochs  balanced   seed 0: 0.461 / 0.566   seed 1: 0.457 / 0.526
                      uniform    seed 0: 0.366 / 0.368
    16 px, 90 epochs  balanced   seed 0: 0.420 / 0.425   seed 1: 0.451 / 0.452
                      uniform    seed 0: 0.424 / 0.434   seed 1: 0.203 / 0.160
    16 px, 18 epochs  FairNAS    seed 0: 0.338 / 0.465
    16 px, 60 epochs  balanced, N=2 cells, seed 0: 0.393 / 0.493
    32 px, 90 epochs  balanced   seed 0: 0.565 / 0.509   (--ddp 2: 2 gloo ranks x 1 thread, 1,054 s
                                 training at ~1,600 img/s, 352 s evaluation in 2 processes; 23.4 min)
                      uniform    seed 0: 0.486 / 0.439   (--ddp 2: 833 s + 317 s, 19.2 min)

Doubling the epochs with both cores (``--ddp 2``, still under 30 minutes) did not help: 0.565
against 0.581 at 45 epochs on the same seed (uniform: 0.486 against 0.545), with the parameter
count at 0.567. Training accuracy rose from 64.8 % to 70.5 % (balanced; mean validation accuracy
of the paths from 59.4 % to 64.2 %); the ranking did not.

The GCN table fitted on a supernet's 1,000 accuracies (column ``tau (gcn)``, what nasgcn does
with such labels) ranks at least as well as the supernet itself every time, by +0.00 to +0.05 on
the same archs (weighted seeds 0 / 1 / 2: 0.625 / 0.578 / 0.657; balanced 45 epochs seed 0:
0.615, seed 1: 0.479; balanced 90 epochs: 0.578; uniform 45 epochs: 0.590 (seed 0), 0.304
(seed 2), 90 epochs: 0.498; FairNAS: 0.382).

Full size on a GPU (``device_check.sh``, one H200, C=16, N=5, 32 px, batch 256, lr 0.1, three
supernets sharing the GPU, ~110 s of training each): balanced 37 epochs 0.128 / 0.204, uniform
37 epochs -0.036 / 0.039, FairNAS 7 epochs -0.015 / 0.057, training accuracy 26-27 %. A
full-size supernet is nowhere near converged after 2,590 steps (the reference runs take
250-1,000 epochs at batch 64-128); one process for 80 epochs (4,960 steps, 7 min at 11,300-11,700
img/s) reached only 31 % training accuracy. A fixed single path of the same supernet trains as
fast as the stand-alone network (C=8, N=5, 16 px: 24.4 / 36.0 / 40.8 % vs 27.7 / 36.5 / 41.8 %
after 1-3 epochs), so the slowness is the weight sharing over random paths, not the model.

With the uniform, FairNAS and depth-balanced samplers the supernet beat the parameter count once
(balanced, 45 epochs, seed 0: 0.581) and not on average: the spread between seeds (up to 0.2) is
as large as the gains. Their rankings overrate ``skip_connect`` and ``avg_pool_3x3`` and underrate
the convolutions on almost every edge (mean rank residual per edge and op), so the ``weighted``
sampler draws each convolution with probability 2/7 and each parameter-free op with 1/7: the
convolutions' weights get more of the training. It beats the parameter count on average over
three seeds, by the loss on every seed and by the accuracy on two of three (table above); its
remaining bias is mostly on edge 3<-0, where the truth favours ``skip_connect`` (the cell-wide
residual of NB201's best cells) and the supernet still prefers convolutions. Two independent
16 px supernets (balanced, seeds 0 and 1, on the same 1,000 archs) agree with each other
at tau 0.74 (loss) but with NAS-Bench-201 only at 0.42-0.45, so the gap is a systematic bias
of the small proxy, not evaluation noise: short small-scale training overrates skip
connections and pooling and underrates 3x3 convolutions, while the full-scale supernets in
``nb201_supernet_acc.csv`` (N=5 cells, 250-1,000 GPU epochs) reach 0.59-0.74 and rate 3x3
convolutions highest. Deeper proxies do not train within the budget (C=4, N=5, 16 px:
18 % training accuracy after 16 epochs). Fine-tuning each path before evaluating did not
help (16 px balanced, 300 archs: 0.392 / 0.433 as is; 0.229 / 0.231, 0.218 / 0.104 and
0.426 / 0.304 after 10, 30 and 100 SGD steps). Without random crop + flip tau was 0.21
(16 px, uniform).
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
from predictor.gcn import GCNPredictor
from predictor.spaces import get_space
from supernet.evaluate import evaluate_run
from supernet.train import TrainConfig, train_supernet_parallel


def default_data() -> str:
    env = os.environ.get("NASGCN_REFERENCE_DATA")
    return env or str(Path(__file__).resolve().parents[1].parent / "shared" / "data")


def train_and_evaluate(args: argparse.Namespace, cfg: TrainConfig, run: Path, ids: np.ndarray):
    """(history, EvalResult): ``--ddp`` gloo ranks train, as many processes evaluate."""
    history = train_supernet_parallel(cfg, run, args.ddp, resume=True)
    res = evaluate_run(
        run, ids, run / "evals.csv", args.eval_images or None, 500, device=args.device, progress=args.progress,
        jobs=args.ddp,
    )  # fmt: skip
    return history, res


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
        device=args.device,
    )
    ddp = f"-ddp{args.ddp}" if args.ddp > 1 else ""
    run = Path(args.out) / f"{sampler}-e{epochs}-c{args.channels}-n{args.cells}-s{args.input_size}{ddp}"
    t0 = time.perf_counter()
    history, res = train_and_evaluate(args, cfg, run, ids)
    train_s = sum(h["seconds"] for h in history)
    eval_s = res.protocol["seconds"]
    tau = kendalltau(res.acc, y).statistic
    tau_loss = kendalltau(-res.loss, y).statistic
    print(
        f"[{sampler}] done in {time.perf_counter() - t0:.0f}s: tau (acc) {tau:.3f}, tau (-loss) {tau_loss:.3f}; "
        f"protocol: {res.protocol}",
        flush=True,
    )
    # What nasgcn does with such labels: a GCN table fitted on them (scored on the same archs).
    gcn = GCNPredictor(random_state=args.seed).fit(ids, res.acc)
    tau_gcn = kendalltau(gcn.predict(ids), y).statistic
    row = (sampler, epochs, history[-1]["train_acc"], res.acc.mean(), tau, tau_loss, tau_gcn, train_s, eval_s)
    return row, res.protocol["images"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=default_data(), help="folder with cifar10_train_part*.npz and the ground truth")
    ap.add_argument("--out", default="bench_cifar_small", help="run folder (resumable)")
    ap.add_argument("--samplers", default="weighted,uniform,fair", help="comma-separated (weighted,uniform,fair)")
    ap.add_argument("--channels", type=int, default=8)
    ap.add_argument("--cells", type=int, default=1)
    ap.add_argument("--input-size", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=45, help="epochs of the single-path samplers (45)")
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
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N] (jobs share the device)")
    ap.add_argument(
        "--ddp",
        type=int,
        default=1,
        help="train each supernet as N gloo ranks and evaluate it in N processes (CPU; samplers then run one "
        "after another)",
    )
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
    if args.jobs > 1 and len(samplers) > 1 and args.ddp <= 1:
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
        f"statistics, {args.jobs if args.ddp <= 1 else 1} job(s) x {max(1, args.ddp)} process(es) x "
        f"{args.threads} thread(s) on {args.device}. Kendall tau-b vs NB201 c10_test_acc on the "
        "same archs."
    )
    print(
        "tau (acc): supernet accuracy as the score; tau (-loss): minus the supernet's validation loss; "
        "tau (gcn): a GCNPredictor fitted on the supernet accuracies (not the supernet itself)."
    )
    head = f"{'ranker':<22} {'epochs':>6} {'train acc':>9} {'mean acc':>8} {'tau (acc)':>9} {'tau (-loss)':>11}"
    print(f"{head} {'tau (gcn)':>9} {'train s':>8} {'eval s':>7} {'total s':>7}")
    for s, e, tr, m, t, tl, tg, ts, es in rows:
        print(
            f"{'supernet ' + s:<22} {e:>6} {tr:>9.2f} {m:>8.2f} {t:>9.3f} {tl:>11.3f} {tg:>9.3f} {ts:>8.0f} "
            f"{es:>7.0f} {ts + es:>7.0f}"
        )
    print(f"{'parameter count':<22} {'':>6} {'':>9} {'':>8} {tau_params:>9.3f}")


if __name__ == "__main__":
    main()
