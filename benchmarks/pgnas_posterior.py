"""PGNAS on a small CPU task: forward cost of the relaxed mixture, and what its posterior samples score.

Trains a uniform single-path supernet (the baseline) and a PGNAS supernet with the same epochs,
then a uniform one given the PGNAS run's compute (images x forward cost, the trainer's
``compute_images``). Scores, with each supernet's weights on the same validation images: ``C``
architectures drawn from the PGNAS posterior and ``C`` uniformly drawn ones. Prints, per run:
seconds per step, forward cost (single-path units), mean and best supernet accuracy of the
samples. There is no stand-alone ground truth here (``benchmarks/supernet_strategies.py`` has
it); this measures the cost and whether the posterior concentrates on architectures the supernet
itself scores higher. Run::

    OMP_NUM_THREADS=1 python benchmarks/pgnas_posterior.py [--space nb201] [--epochs 6] [--sample 100]

MEASURED (digits, seed 0, 1 thread on a shared 2-core machine; NB201 C=8 N=1, NB-Macro width 0.25;
batch 64, lr 0.05; 100 draws each, 300 validation images; accuracies in %):

    nb201: posterior entropy 1.547 of 1.609 nats; keep probs 0.114-0.936
    run            epochs s/step fwd cost compute post mean post best unif mean unif best
    uniform             6  0.192     0.77    6763     62.26     80.67     54.85     81.00
    pgnas               6  0.199     4.00   33792     45.16     91.67     36.10     91.67
    uniform x30ep      30  0.053     0.76   33728     94.70     98.33     90.91     98.33

    nbmacro: posterior entropy 1.098 of 1.099 nats; keep probs 0.791-0.913
    uniform             6  0.425     1.00    8448     37.70     76.67     37.95     78.67
    pgnas               6  0.413     3.00   25344     60.12     80.33     59.62     80.67
    uniform x18ep      18  0.120     1.00   25344     87.56     93.33     86.41     92.67
    (--option kl=0.05 --option entropy=0.1: entropy 1.097, keep 0.671-0.889, pgnas 57.79 / 56.18)

(The first run's s/step includes loading; compare the equal-compute rows.) On NB201 the posterior
draws score higher than uniform draws with all three supernets; on NB-Macro the posterior stays
flat. PGNAS's own single-path scores are low at equal compute (mixture training).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np
import torch

from supernet.evaluate import evaluate_archs
from supernet.posterior import sample_posterior
from supernet.train import TrainConfig, train_supernet


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--space", default="nb201")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--sample", type=int, default=100)
    ap.add_argument("--images", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--option", action="append", default=[], metavar="K=V", help="a pgnas sampler option (JSON value)")
    args = ap.parse_args()
    options = {k: json.loads(v) for k, _, v in (o.partition("=") for o in args.option)}
    torch.set_num_threads(1)
    model_kw = {"channels": 8, "cells": 1} if args.space == "nb201" else {"width": 0.25}
    base = dict(space=args.space, batch_size=64, lr=0.05, seed=args.seed, progress=False, threads=1, **model_kw)
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, sampler, epochs in (("uniform", "uniform", args.epochs), ("pgnas", "pgnas", args.epochs)):
            t0 = time.perf_counter()
            opts = options if sampler == "pgnas" else {}
            cfg = TrainConfig(sampler=sampler, epochs=epochs, sampler_options=opts, **base)
            runs[name] = (train_supernet(cfg, f"{tmp}/{name}"), time.perf_counter() - t0)
        pg = runs["pgnas"][0]
        ratio = sum(h["compute_images"] for h in pg.history_) / sum(
            h["compute_images"] for h in runs["uniform"][0].history_
        )
        eq = max(1, round(args.epochs * ratio))
        t0 = time.perf_counter()
        runs[f"uniform x{eq}ep"] = (
            train_supernet(TrainConfig(sampler="uniform", epochs=eq, **base), f"{tmp}/eq"),
            time.perf_counter() - t0,
        )
        space = pg.sampler.space
        rng = np.random.default_rng(1000 + args.seed)
        post = sample_posterior(pg.sampler.op_probs(), args.sample, seed=args.seed)
        unif = space.sample(args.sample, rng, unique=True)
        print(f"{args.space}: posterior entropy per slot vs uniform: "
              f"{float(-(pg.sampler.op_probs() * np.log(pg.sampler.op_probs())).sum(1).mean()):.3f} vs "
              f"{np.log(len(space.ops)):.3f} nats; keep probs min/max "
              f"{pg.sampler.keep_probs()[:, pg.sampler.live].min():.3f}/"
              f"{pg.sampler.keep_probs()[:, pg.sampler.live].max():.3f}")  # fmt: skip
        print(f"{'run':<16}{'epochs':>7}{'s/step':>8}{'fwd cost':>9}{'compute':>10}"
              f"{'post mean':>10}{'post best':>10}{'unif mean':>10}{'unif best':>10}")  # fmt: skip
        for name, (tr, secs) in runs.items():
            val = tr.data.val.subset(slice(0, args.images))
            a_post, _ = evaluate_archs(tr.model, post, val, tr.normalize, progress=False)
            a_unif, _ = evaluate_archs(tr.model, unif, val, tr.normalize, progress=False)
            compute = sum(h["compute_images"] for h in tr.history_)
            print(f"{name:<16}{tr.epoch:>7}{secs / tr.step:>8.3f}{tr.history_[-1]['forward_cost']:>9.2f}"
                  f"{compute:>10.0f}{a_post.mean():>10.2f}{a_post.max():>10.2f}{a_unif.mean():>10.2f}"
                  f"{a_unif.max():>10.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
