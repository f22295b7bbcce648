"""Which op choices does a path-dropout supernet already separate reliably? (HOPNAS's pruning order)

Trains a path-dropout supernet (the ``dropout`` sampler, the training HOPNAS starts from) on a
small CPU task, draws two independent sets of uniformly sampled single paths, scores both on
the same validation images (``supernet eval``'s scoring) and, per slot, compares the marginal
mean accuracy of every pair of op choices in the two halves. A difference is *reliable* when
both halves give it the same sign; ``|z|`` is the difference over its standard error in the
first half. Pairs are grouped into *cross-family* (zero op / parameter-free / parametric:
:func:`supernet.strategies.hopnas.op_families`) and *within-family*. Run::

    OMP_NUM_THREADS=1 python benchmarks/hopnas_separation.py [--space nb201] [--epochs 10] [--paths 200]

MEASURED (digits, 1 thread on a shared 2-core machine, ``--epochs 10 --seeds 2``; NB201 C=8 N=1,
NB-Macro width 0.25; batch 64, lr 0.05, dropout max_drop 0.5; 30-75 s of training per seed):

    space     pairs            n  median |z|   agree  agree |z|>2  n |z|>2
    nb201     cross-family    96        1.63    0.85         0.95       41
              within-family   24        1.11    0.79         0.75        4
    nbmacro   cross-family    32        1.85    0.72         1.00       15
              within-family   16        1.42    1.00         1.00        4

Cross-family differences are larger and, beyond 2 standard errors, replicate: HOPNAS therefore
prunes families first, then single ops (:mod:`supernet.strategies.hopnas`).
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch

from supernet.evaluate import evaluate_archs
from supernet.strategies.hopnas import marginals, op_families
from supernet.train import TrainConfig, train_supernet


def pair_table(ids_a, acc_a, ids_b, acc_b, fam, n_ops, zero_ops):
    """Per slot and op pair: (cross-family?, z in half a, same sign in half b?)."""
    groups = np.arange(n_ops)
    ma, sa, ca = marginals(ids_a, acc_a, groups, n_ops)
    mb, _, cb = marginals(ids_b, acc_b, groups, n_ops)
    rows = []
    for s in range(ids_a.shape[1]):
        for i in range(n_ops):
            for j in range(i + 1, n_ops):
                if min(ca[s, i], ca[s, j], cb[s, i], cb[s, j]) < 3:
                    continue
                da, db = ma[s, i] - ma[s, j], mb[s, i] - mb[s, j]
                z = da / max(np.hypot(sa[s, i], sa[s, j]), 1e-9)
                rows.append((fam[i] != fam[j], abs(z), np.sign(da) == np.sign(db), s))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--space", default="nb201")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--paths", type=int, default=200)
    ap.add_argument("--images", type=int, default=300)
    ap.add_argument("--seeds", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(1)
    model_kw = {"channels": 8, "cells": 1} if args.space == "nb201" else {"width": 0.25}
    rows = []
    for seed in range(args.seeds):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            cfg = TrainConfig(space=args.space, sampler="dropout", epochs=args.epochs, batch_size=64, lr=0.05,
                              seed=seed, progress=False, threads=1, **model_kw)  # fmt: skip
            tr = train_supernet(cfg, tmp)
            train_s = time.perf_counter() - t0
            space = tr.sampler.space
            fam, names = op_families(space)
            rng = np.random.default_rng(100 + seed)
            val = tr.data.val.subset(slice(0, args.images))
            halves = []
            for _ in range(2):
                ids = space.sample(args.paths, rng)
                acc, _ = evaluate_archs(tr.model, ids, val, tr.normalize, progress=False)
                halves.append((ids, acc))
            print(f"seed {seed}: trained {train_s:.0f}s, final train acc {tr.history_[-1]['train_acc']:.1f}%, "
                  f"path acc mean {halves[0][1].mean():.1f}% sd {halves[0][1].std():.1f}")  # fmt: skip
            rows += pair_table(*halves[0], *halves[1], fam, len(space.ops), ())
    rows_a = np.array([(c, z, ok) for c, z, ok, _ in rows], dtype=float)
    print(f"{'pairs':<14}{'n':>5}{'median |z|':>12}{'agree':>8}{'agree |z|>2':>13}{'n |z|>2':>9}")
    for label, sel in (("cross-family", rows_a[:, 0] == 1), ("within-family", rows_a[:, 0] == 0)):
        r = rows_a[sel]
        if not len(r):
            continue
        big = r[r[:, 1] > 2]
        agree_big = f"{big[:, 2].mean():.2f}" if len(big) else "-"
        print(f"{label:<14}{len(r):>5}{np.median(r[:, 1]):>12.2f}{r[:, 2].mean():>8.2f}{agree_big:>13}{len(big):>9}")


if __name__ == "__main__":
    main()
