"""Benchmark (issue 18): supernet training strategies at equal training compute, NB201 and NB-Macro.

For each space and seed, on the CIFAR-10 npz training images (a seeded 10 % validation split held
out; the test file is never used), trains one supernet per strategy with the same budget of
**images through the network** (``images x forward cost``, single-path units: a path that uses
NB201's ``none`` costs less than 1, a mixture of k ops per slot costs k; each strategy's steps per
epoch are scaled by its measured mean cost, and the table prints the compute the histories count):

* ``uniform``, ``weighted`` (single path; weighted draws ops with parameters twice as often);
* ``fewshot`` (few-shot NAS, :mod:`supernet.fewshot`): a uniform one-shot supernet on ``--oneshot-share``
  of the budget, split on the slot whose op explains most of the one-shot supernet's own score
  variance (eta^2 of its scores by that slot's op, measured on the evaluated architectures, no
  ground truth used), one sub-supernet per op fine-tuned on the rest of the budget (split evenly;
  SGD Nesterov, lr 0.025 cosine to 0.001, wd 1e-4). ``fewshot-e0``: the same one-shot supernet
  split on slot 0 (NB201's edge 1<-0, as published). ``oneshot-half``: that one-shot supernet itself;
* ``hopnas`` and ``pgnas`` (:mod:`supernet.strategies`), with their default options.

Each supernet scores ``--archs`` sampled architectures (seed-dependent) with inherited weights
(``supernet eval``; a split folder routes each to its sub-supernet). Columns: Kendall tau of the
supernet accuracy against stand-alone accuracy (NB201: ``c10_test_acc``; NB-Macro: ``mean_acc``)
over all evaluated architectures and over the true top 5 % of them; the true accuracy of the
supernet's own top-1 (accuracy, ties by loss); and of the pick of
:func:`predictor.acquisition.sequential_search` after fitting the GCN on the supernet's labels plus
``--k`` accurate labels (rounds of ``--search-batch``). Mean ± standard deviation over seeds.

    python benchmarks/supernet_strategies.py --data ../shared/data                 # full: hours per space
    python benchmarks/supernet_strategies.py --data ../shared/data --reduced       # the run below
    python benchmarks/supernet_strategies.py --data ../shared/data --quick         # smoke test, minutes

Full settings (the small CPU settings of ``supernet_cifar_small.py`` / ``supernet_nbmacro.py``):
NB201 C=8 N=1 32 px, batch 64, lr 0.05, a budget of 45 epochs of the 18k training images;
NB-Macro width 0.5, 32 px, batch 128, lr 0.1, 10 epochs; 1,000 architectures on 2,000 (NB201) /
500 (NB-Macro) validation images; 3 seeds; GCN defaults, rounds of 5. Those take ~25 min per
supernet per core; results are cached per (space, seed, strategy) in ``OUT/results.jsonl`` and
every run folder resumes, so a stopped run continues.

Measured (``--reduced``, one run, 2-core VM shared by 9 agents, 1 thread under ``nice``, ~33 min for
both spaces and 3 seeds, in two calls: the first, stopped to fix the budget of strategies with cost < 1,
left results of the others that the second reused; seeds 0, 1, 2 draw the split, the supernets and the 300 architectures).
Reduced settings, far below the full ones: 3,000 training images (the validation split is taken from all 20k first),
16 px, 200 validation images per architecture, 300 architectures (top 5 % = 15), GCN 30 epochs x 1
member, the 20 accurate labels in one round. NB201 C=8 N=1, batch 64, lr 0.05, budget 4 epochs
(184 steps = 11.8k images through the network); NB-Macro width 0.25, batch 128, lr 0.1, budget 2
epochs (46 steps = 5.9k images). Mean ± sd over the 3 seeds (tau per seed in brackets):

    NB201          compute  tau             tau(-loss)      tau top 5 %     top-1 acc      GCN+20 pick
    uniform        11.8k   -0.138 ± 0.086  -0.186 ± 0.032   0.285 ± 0.202  91.14 ± 1.93   89.01 ± 2.95  [-0.226 -0.055 -0.134]
    weighted       11.8k   -0.033 ± 0.187   0.088 ± 0.220   0.254 ± 0.087  87.79 ± 9.40   81.52 ± 19.62 [0.131 0.008 -0.237]
    oneshot-half    5.9k   -0.192 ± 0.043  -0.249 ± 0.056   0.440 ± 0.222  89.05 ± 3.05   81.77 ± 8.37  [-0.144 -0.204 -0.227]
    fewshot        12.3k   -0.142 ± 0.010  -0.164 ± 0.091   0.296 ± 0.010  90.10 ± 2.32   85.57 ± 1.24  [-0.135 -0.138 -0.153]
    fewshot-e0     12.2k   -0.164 ± 0.020  -0.218 ± 0.050   0.348 ± 0.116  82.86 ± 9.01   83.97 ± 4.18  [-0.152 -0.153 -0.188]
    hopnas         10.1k   -0.304 ± 0.016  -0.309 ± 0.022   0.350 ± 0.230  88.99 ± 3.02   70.52 ± 8.70  [-0.318 -0.287 -0.307]
    pgnas          12.3k   -0.252 ± 0.099  -0.284 ± 0.044   0.384 ± 0.141  89.40 ± 2.72   88.36 ± 0.95  [-0.248 -0.155 -0.353]
    (few-shot split on edge 3<-0, chosen by eta^2 on all 3 seeds; fewshot-e0 splits edge 1<-0)

    NB-Macro       compute  tau             tau(-loss)      tau top 5 %     top-1 acc      GCN+20 pick
    uniform         5.9k    0.052 ± 0.084   0.094 ± 0.074  -0.278 ± 0.095  89.73 ± 4.38   92.65 ± 0.50  [0.142 -0.023 0.036]
    weighted        5.9k    0.114 ± 0.034   0.159 ± 0.098  -0.019 ± 0.259  91.84 ± 0.56   92.76 ± 0.24  [0.143 0.123 0.077]
    oneshot-half    3.1k    0.138 ± 0.018   0.085 ± 0.047   0.047 ± 0.258  91.75 ± 0.45   92.94 ± 0.19  [0.126 0.159 0.130]
    fewshot         6.1k    0.132 ± 0.006   0.123 ± 0.044   0.143 ± 0.294  91.52 ± 0.68   92.76 ± 0.56  [0.138 0.131 0.126]
    hopnas          5.8k    0.065 ± 0.085   0.097 ± 0.129  -0.211 ± 0.133  91.41 ± 0.75   92.47 ± 0.08  [0.156 0.051 -0.013]
    pgnas           6.1k   -0.081 ± 0.024  -0.045 ± 0.074   0.198 ± 0.239  90.02 ± 1.29   91.71 ± 0.59  [-0.069 -0.065 -0.109]
    (few-shot split on layer 5 or 6, stage 2, by eta^2)

The same with 3x the budget (``--reduced --epochs 12 --spaces nb201``: 552 steps = 35k images,
10 min for 3 seeds):

    NB201          compute  tau             tau(-loss)      tau top 5 %     top-1 acc      GCN+20 pick
    uniform        35.2k   -0.066 ± 0.120  -0.134 ± 0.098   0.140 ± 0.383  86.93 ± 8.79   86.83 ± 11.01 [0.011 -0.205 -0.005]
    weighted       35.0k    0.186 ± 0.087   0.349 ± 0.126   0.007 ± 0.066  91.83 ± 0.72   93.56 ± 0.02  [0.213 0.257 0.088]
    oneshot-half   18.0k   -0.170 ± 0.066  -0.147 ± 0.079   0.075 ± 0.183  89.72 ± 1.52   80.99 ± 15.50 [-0.183 -0.098 -0.227]
    fewshot        36.6k   -0.141 ± 0.018  -0.071 ± 0.102  -0.057 ± 0.259  92.36 ± 0.35   89.85 ± 2.97  [-0.142 -0.158 -0.122]
    fewshot-e0     36.7k   -0.110 ± 0.020  -0.098 ± 0.063   0.054 ± 0.112  92.99 ± 0.84   91.33 ± 2.71  [-0.133 -0.097 -0.101]
    hopnas         25.3k   -0.327 ± 0.021  -0.312 ± 0.044   0.336 ± 0.124  83.24 ± 6.41   74.81 ± 16.05 [-0.335 -0.343 -0.304]
    pgnas          36.9k   -0.249 ± 0.019  -0.236 ± 0.018   0.219 ± 0.135  78.25 ± 21.89  75.90 ± 11.08 [-0.269 -0.248 -0.232]
    (few-shot split on edge 3<-0 by eta^2 on all 3 seeds)

NB-Macro with 3x the budget (``--reduced --epochs 6 --spaces nbmacro``: 138 steps = 17.7k images,
8 min for 3 seeds):

    NB-Macro       compute  tau             tau(-loss)      tau top 5 %     top-1 acc      GCN+20 pick
    uniform        17.7k    0.081 ± 0.051   0.110 ± 0.147   0.140 ± 0.188  91.07 ± 1.82   92.75 ± 0.20  [0.036 0.070 0.137]
    weighted       17.7k    0.264 ± 0.067   0.434 ± 0.103   0.071 ± 0.120  88.63 ± 6.98   92.79 ± 0.09  [0.197 0.331 0.264]
    oneshot-half    9.2k    0.089 ± 0.039   0.092 ± 0.069   0.065 ± 0.079  91.01 ± 1.51   92.90 ± 0.24  [0.134 0.060 0.073]
    fewshot        18.4k    0.109 ± 0.020   0.186 ± 0.030   0.033 ± 0.107  91.28 ± 1.94   92.66 ± 0.27  [0.124 0.087 0.117]
    hopnas         16.4k    0.294 ± 0.020   0.362 ± 0.010   0.117 ± 0.182  91.28 ± 1.22   92.78 ± 0.36  [0.284 0.316 0.281]
    pgnas          18.4k    0.038 ± 0.054   0.047 ± 0.102   0.006 ± 0.125  90.72 ± 2.16   92.87 ± 0.14  [-0.009 0.097 0.027]
    (few-shot split on layer 1 (stage 0) or layer 2 (stage 1) by eta^2)

Compute is what the histories count (images x forward cost); HOPNAS lands below the budget because
its pruning makes paths cheaper than the unpruned estimate its steps were set from, and its pruning
rounds also ran 25.6k or more forward-only validation images (100 paths x 256 per round), not counted here.

At these settings the NB201 supernets are far from trained (a few hundred steps; every ranking is
below chance, the parameter count alone reaches ~0.57 on such samples, see ``supernet_cifar_small.py``),
so the NB201 tables say little about the methods: few-shot does **not** beat one-shot tau at equal
compute there (4 epochs: -0.142 against -0.138 for uniform, edge 1<-0 -0.164; 12 epochs: -0.141 and
-0.110 against -0.066), though it has the smallest spread over seeds and its sub-supernets improve
on their own one-shot half (-0.170 -> -0.141 / -0.110 at 12 epochs); only ``weighted`` becomes
positive with more budget (0.186, GCN+20 pick 93.56 ± 0.02, the best of every table). On NB-Macro few-shot beats uniform (0.132 ± 0.006 against 0.052 ±
0.084) and weighted (0.114), but no more than its own one-shot half (0.138): the split kept the
one-shot ranking rather than improving it. With 3x the budget on NB-Macro few-shot beats uniform
again (0.109 ± 0.020 against 0.081 ± 0.051) and now also its one-shot half (0.089), so there it
does beat one-shot tau at equal compute, by less than the seed spread of uniform; HOPNAS ranks best
(0.294 ± 0.020, above weighted 0.264) and PGNAS worst (0.038). Of the new strategies on the GCN+20 pick, few-shot (85.57)
and PGNAS (88.36) beat weighted (81.52, one bad seed) on NB201's mean at 4 epochs, none does at 12
epochs (weighted 93.56; few-shot edge 1<-0 91.33); on NB-Macro at 2 epochs none beats it (few-shot ties at
92.76); at 6 epochs PGNAS (92.87 ± 0.14) does, by less than the spread, HOPNAS ties (92.78 against 92.79). HOPNAS and PGNAS rank worst on NB201 at both budgets: their mixtures (3-4 ops per slot per
image) get 3-4x fewer steps at equal compute, too few here. The full settings need ~25 min per supernet per core (hours per space).

With 9x the budget (``--reduced --epochs 36 --spaces nb201``: 1,656 steps = 106k images, 12 min
for 3 seeds; ``--reduced --epochs 18 --spaces nbmacro``: 414 steps = 53k images, 19 min; both on
a VM shared with another benchmark):

    NB201          compute  tau             tau(-loss)      tau top 5 %     top-1 acc      GCN+20 pick
    uniform        105.8k   0.078 ± 0.211  -0.016 ± 0.178  -0.150 ± 0.301  91.84 ± 0.43   91.66 ± 2.94  [-0.118 0.051 0.302]
    weighted       104.8k   0.338 ± 0.073   0.397 ± 0.083  -0.027 ± 0.202  92.28 ± 0.20   94.10 ± 0.34  [0.258 0.356 0.400]
    oneshot-half    53.2k  -0.029 ± 0.206  -0.087 ± 0.106   0.026 ± 0.211  90.11 ± 1.13   92.43 ± 1.33  [-0.104 -0.187 0.204]
    fewshot        108.5k   0.020 ± 0.092   0.057 ± 0.127  -0.232 ± 0.163  91.44 ± 1.04   92.10 ± 0.68  [-0.013 -0.051 0.124]
    fewshot-e0     108.8k  -0.098 ± 0.129  -0.045 ± 0.153   0.072 ± 0.233  84.17 ± 12.46  91.48 ± 2.84  [-0.093 -0.229 0.028]
    hopnas          72.5k  -0.244 ± 0.085  -0.190 ± 0.082   0.186 ± 0.157  89.97 ± 2.71   87.17 ± 6.53  [-0.297 -0.289 -0.146]
    pgnas          110.6k  -0.203 ± 0.064  -0.065 ± 0.127   0.152 ± 0.226  88.19 ± 2.18   84.66 ± 6.60  [-0.274 -0.181 -0.153]
    (few-shot split on edge 3<-0 by eta^2 on all 3 seeds)

    NB-Macro       compute  tau             tau(-loss)      tau top 5 %     top-1 acc      GCN+20 pick
    uniform         53.0k   0.148 ± 0.079   0.330 ± 0.040  -0.021 ± 0.401  91.74 ± 0.61   92.08 ± 0.60  [0.084 0.124 0.236]
    weighted        53.0k   0.343 ± 0.162   0.538 ± 0.083  -0.163 ± 0.091  91.56 ± 0.77   92.74 ± 0.34  [0.176 0.498 0.354]
    oneshot-half    27.6k   0.125 ± 0.069   0.238 ± 0.030   0.193 ± 0.125  91.90 ± 0.28   92.83 ± 0.25  [0.051 0.136 0.189]
    fewshot         55.3k   0.173 ± 0.061   0.301 ± 0.063   0.056 ± 0.097  91.70 ± 0.09   92.79 ± 0.07  [0.118 0.161 0.239]
    hopnas          46.7k   0.448 ± 0.110   0.507 ± 0.134  -0.007 ± 0.090  92.27 ± 0.12   92.67 ± 0.16  [0.338 0.557 0.449]
    pgnas           55.3k   0.123 ± 0.040   0.115 ± 0.066   0.059 ± 0.104  91.86 ± 0.48   92.95 ± 0.17  [0.165 0.118 0.085]
    (few-shot split on layer 0, 5 or 6 by eta^2)

With more budget every NB201 ranking rises (uniform -0.138 -> -0.066 -> 0.078 at 1x / 3x / 9x), and
``weighted`` stays the best (0.338, GCN+20 pick 94.10 ± 0.34). Few-shot improves on its own one-shot
half at every budget (9x: 0.020 against -0.029) but still not on uniform at equal compute (0.078,
whose spread over seeds is 0.21). On NB-Macro at 9x both targets hold, by less than the spreads:
few-shot beats one-shot tau at equal compute (0.173 ± 0.061 against uniform 0.148 ± 0.079 and its
one-shot half 0.125), HOPNAS ranks best of all (0.448 ± 0.110, above weighted 0.343), and on the
GCN+20 pick PGNAS (92.95 ± 0.17) and few-shot (92.79 ± 0.07) beat weighted (92.74 ± 0.34).

Closer to the full NB201 settings: 32 px, 6,000 training images, a 30-epoch budget (~2,800
steps = 177k images, 22 % of the full budget), 500 validation images, 300 architectures
(``--reduced --input-size 32 --limit-train 6000 --epochs 30 --eval-images 500 --spaces nb201``;
67 min for 3 seeds on one core, beside other benchmarks):

    NB201          compute  tau             tau(-loss)      tau top 5 %     top-1 acc      GCN+20 pick
    uniform        177.8k   0.032 ± 0.036  -0.015 ± 0.091   0.064 ± 0.321  92.21 ± 0.39   88.84 ± 7.24  [0.061 0.045 -0.009]
    weighted       175.7k   0.335 ± 0.149   0.461 ± 0.100   0.101 ± 0.175  92.50 ± 0.51   93.45 ± 0.80  [0.215 0.288 0.502]
    oneshot-half    88.8k  -0.019 ± 0.097  -0.140 ± 0.048   0.183 ± 0.076  89.47 ± 2.48   91.88 ± 3.33  [-0.109 -0.030 0.083]
    fewshot        181.5k  -0.042 ± 0.089  -0.106 ± 0.044   0.052 ± 0.171  88.05 ± 7.26   92.12 ± 0.79  [-0.143 0.024 -0.009]
    fewshot-e0     181.8k  -0.034 ± 0.086  -0.143 ± 0.058   0.228 ± 0.133  91.00 ± 2.30   92.55 ± 0.46  [-0.133 0.025 0.005]
    hopnas         125.3k  -0.317 ± 0.040  -0.245 ± 0.042   0.242 ± 0.093  76.52 ± 16.48  70.55 ± 12.42 [-0.342 -0.339 -0.271]
    pgnas          176.6k  -0.129 ± 0.095   0.004 ± 0.101   0.239 ± 0.168  89.02 ± 1.11   77.43 ± 13.25 [-0.160 -0.022 -0.205]
    (few-shot split on edge 3<-0 by eta^2 on all 3 seeds)

At 32 px the NB201 picture is the 16 px one: ``weighted`` ranks best by far (0.335, GCN+20 pick
93.45) and few-shot does not beat one-shot at equal compute (-0.042 / -0.034 against uniform
0.032), nor its own one-shot half this time; HOPNAS and PGNAS remain the worst rankings on NB201.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from predictor.metrics import kendall_tau, top_kendall_tau  # noqa: E402
from predictor.spaces import get_space  # noqa: E402
from supernet.data import load_data_from, num_batches  # noqa: E402
from supernet.evaluate import evaluate_run  # noqa: E402
from supernet.fewshot import Split, split_supernet  # noqa: E402
from supernet.samplers import make_sampler  # noqa: E402
from supernet.train import TrainConfig, load_checkpoint, train_supernet  # noqa: E402

STRATEGIES = ("uniform", "weighted", "oneshot-half", "fewshot", "fewshot-e0", "hopnas", "pgnas")


def default_data() -> str:
    import os

    env = os.environ.get("NASGCN_REFERENCE_DATA")
    return env or str(Path(__file__).resolve().parents[1].parent / "shared" / "data")


def load_truth(data: Path, space: str) -> np.ndarray:
    """Stand-alone accuracy of every architecture of ``space``, in space order."""
    import pandas as pd

    sp = get_space(space)
    if space == "nb201":
        df = pd.read_csv(data / "nb201_cifar10_ground_truth.csv", usecols=["arch_str", "c10_test_acc"])
        archs, vals = df["arch_str"].tolist(), df["c10_test_acc"].to_numpy(np.float64)
    else:
        df = pd.read_csv(data / "nasbench_macro_cifar10.csv", dtype={"arch": str})
        archs, vals = df["arch"].tolist(), df["mean_acc"].to_numpy(np.float64)
    y = np.full(sp.size, np.nan)
    y[sp.index_of(sp.encode(archs))] = vals
    return y


def space_config(args: argparse.Namespace, space: str, seed: int) -> TrainConfig:
    """The strategy-independent part of every run's config (data, model, optimiser)."""
    s = args.settings[space]
    return TrainConfig(
        space=space,
        dataset=f"npz:{args.data}",
        val_fraction=0.1,
        limit_train=args.limit_train,
        input_size=s["input_size"] if s["input_size"] != 32 else None,
        **({"channels": s["channels"], "cells": s["cells"]} if space == "nb201" else {"width": s["width"]}),
        epochs=s["epochs"],
        batch_size=s["batch_size"],
        lr=s["lr"],
        seed=seed,
        threads=args.threads,
        progress=False,
    )


def mean_cost(sampler: str, space: str, seed: int, steps: int = 400) -> float:
    """Mean forward cost per image of a strategy's paths over a run (no pruning: an upper bound for HOPNAS)."""
    s = make_sampler(sampler, seed, space=space)
    groups = [s.next_group(t, steps) for t in range(0, steps, 4)]
    return float(np.mean([sum(s.path_cost(p) for p in g) for g in groups]))


def compute_of(run: Path) -> float:
    """Images x forward cost that a run's history counts (single-path units)."""
    ckpt = load_checkpoint(run)
    hist = [json.loads(h) for h in ckpt["history"]]
    return float(sum(h.get("compute_images", h.get("images_per_s", 0) * h.get("seconds", 0)) for h in hist))


def schedule(total_steps: float, epochs: int, spe: int) -> tuple[int, int]:
    """(epochs, steps per epoch) for ``total_steps``: the budget's epochs with fewer steps each, or more
    epochs where a cheap strategy (cost < 1) needs more steps than an epoch holds."""
    total = max(1, round(total_steps))
    if total > epochs * spe:
        epochs = -(-total // spe)
    return epochs, max(1, round(total / epochs))


def train_strategy(cfg: TrainConfig, run: Path, sampler: str, total_steps: float, spe: int) -> float:
    cfg.epochs, cfg.limit_train_batches = schedule(total_steps, cfg.epochs, spe)
    cfg.sampler = sampler
    train_supernet(cfg, run, resume=True)
    return compute_of(run)


def slot_importance(ids: np.ndarray, scores: np.ndarray, n_ops: int) -> np.ndarray:
    """eta^2 per slot: share of the score variance explained by that slot's op."""
    total = np.var(scores) * len(scores)
    out = []
    for s in range(ids.shape[1]):
        between = sum(
            (ids[:, s] == o).sum() * (scores[ids[:, s] == o].mean() - scores.mean()) ** 2
            for o in range(n_ops)
            if (ids[:, s] == o).any()
        )
        out.append(between / max(total, 1e-12))
    return np.array(out)


def metrics(args: argparse.Namespace, space: str, seed: int, ids: np.ndarray, res: Any, truth: np.ndarray) -> dict:
    from predictor.acquisition import sequential_search

    sp = get_space(space)
    y = truth[sp.index_of(ids)]
    order = np.lexsort((res.loss, -res.acc))  # accuracy, ties by loss
    t0 = time.perf_counter()
    search = sequential_search(
        ids, res.acc, lambda archs: truth[sp.index_of(sp.encode(archs))], k=args.k, batch=args.search_batch,
        random_state=seed, space=space, epochs=args.gcn_epochs, ensemble=args.gcn_ensemble, n_threads=args.threads,
    )  # fmt: skip
    return {
        "tau": kendall_tau(y, res.acc),
        "tau_loss": kendall_tau(y, -res.loss),
        "tau_top5": top_kendall_tau(y, res.acc, 0.05),
        "top1": float(y[order[0]]),
        "gcn20": float(truth[search.best]),
        "search_s": time.perf_counter() - t0,
    }


def run_cell(args: argparse.Namespace, space: str, seed: int, truth: np.ndarray, done: dict) -> None:
    """All strategies of one (space, seed); results appended to OUT/results.jsonl as they finish."""
    sp = get_space(space)
    root = Path(args.out) / f"{space}-s{seed}"
    ids = sp.sample(args.archs, np.random.default_rng(seed + 1), unique=True)
    base = space_config(args, space, seed)
    n_train = len(load_data_from(base, download=False).train)
    spe = num_batches(n_train, base.batch_size)
    budget = base.epochs * spe  # steps of a cost-1 strategy: the budget (x batch = images through the network)
    evaluate = lambda target: evaluate_run(target, ids, None, args.eval_images or None, 500, progress=False)  # noqa: E731
    strategies = [s for s in args.strategies if not (s == "fewshot-e0" and space != "nb201")]

    def record(name: str, res: Any, compute: float, extra: dict | None = None, secs: float = 0.0) -> None:
        row = {"space": space, "seed": seed, "strategy": name, "compute": compute, "train_eval_s": secs,
               **metrics(args, space, seed, ids, res, truth), **(extra or {})}  # fmt: skip
        done[(space, seed, name)] = row
        with open(Path(args.out) / "results.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)

    for name in ("uniform", "weighted", "hopnas", "pgnas"):
        if name not in strategies or (space, seed, name) in done:
            continue
        t0 = time.perf_counter()
        cost = mean_cost(name, space, seed)
        compute = train_strategy(space_config(args, space, seed), root / name, name, budget / cost, spe)
        extra = {"cost": cost}
        strategy = root / name / "strategy.json"
        if strategy.exists():  # HOPNAS: forward-only images of its pruning rounds (not training compute)
            extra["prune_eval_images"] = json.loads(strategy.read_text()).get("eval_images", 0)
        record(name, evaluate(root / name), compute, extra, time.perf_counter() - t0)

    few = [s for s in ("oneshot-half", "fewshot", "fewshot-e0") if s in strategies]
    if not few or all((space, seed, s) in done for s in few):
        return
    t0 = time.perf_counter()
    cost = mean_cost("uniform", space, seed)
    one = root / "oneshot"
    one_compute = train_strategy(
        space_config(args, space, seed), one, "uniform", args.oneshot_share * budget / cost, spe
    )
    one_res = evaluate(one)
    eta = slot_importance(ids, one_res.acc, len(sp.ops))
    best = int(np.argmax(eta))
    if "oneshot-half" in strategies and (space, seed, "oneshot-half") not in done:
        record("oneshot-half", one_res, one_compute, {"eta2": eta.round(3).tolist()}, time.perf_counter() - t0)
    for name, slot in (("fewshot", best), ("fewshot-e0", 0)):
        if name not in strategies or (space, seed, name) in done:
            continue
        t1 = time.perf_counter()
        k = len(sp.ops)
        epochs, steps = schedule((1 - args.oneshot_share) * budget / (k * cost), base.epochs, spe)
        split = split_supernet(one, slot, root / f"split-slot{slot}", epochs=epochs, progress=False,
                               threads=args.threads, overrides={"limit_train_batches": steps})  # fmt: skip
        compute = one_compute + sum(compute_of(split.member_dir(m)) for m in range(len(split.members)))
        record(name, evaluate(split.root), compute,
               {"slot": sp.slot_names[slot], "members": len(Split.load(split.root).members)},
               time.perf_counter() - t1)  # fmt: skip


def summarize(args: argparse.Namespace, done: dict) -> None:
    cols = [("tau", "tau"), ("tau_loss", "tau(-loss)"), ("tau_top5", "tau top5%"), ("top1", "top-1 acc"),
            ("gcn20", "GCN+20 pick")]  # fmt: skip
    for space in args.spaces:
        rows = [r for r in done.values() if r["space"] == space]
        if not rows:
            continue
        seeds = sorted({r["seed"] for r in rows})
        print(f"\n{space}: {len(seeds)} seed(s) {seeds}; mean ± sd over seeds (per seed in brackets for tau)")
        print(f"{'strategy':<13} {'compute (k img)':>15} " + " ".join(f"{h:>16}" for _, h in cols) + "  tau per seed")
        for name in STRATEGIES:
            rs = sorted((r for r in rows if r["strategy"] == name), key=lambda r: r["seed"])
            if not rs:
                continue
            cells = []
            for key, _ in cols:
                v = np.array([r[key] for r in rs], dtype=np.float64)
                sd = v.std(ddof=1) if len(v) > 1 else float("nan")
                cells.append(
                    f"{v.mean():>8.3f} ± {sd:<5.3f}" if key.startswith("tau") else f"{v.mean():>8.2f} ± {sd:<5.2f}"
                )
            comp = np.mean([r["compute"] for r in rs]) / 1e3
            per = " ".join(f"{r['tau']:.3f}" for r in rs)
            print(f"{name:<13} {comp:>15.1f} " + " ".join(f"{c:>16}" for c in cells) + f"  [{per}]")
        slots = sorted({r.get("slot") for r in rows if r["strategy"] == "fewshot"} - {None})
        if slots:
            print(f"fewshot split slot(s) chosen by eta^2 of the one-shot scores: {', '.join(slots)}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=default_data(), help="folder with cifar10_train_part*.npz and ground truths")
    p.add_argument("--out", default="runs/bench_supernet_strategies", help="run folder (resumable)")
    p.add_argument("--spaces", default="nb201,nbmacro")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--strategies", default=",".join(STRATEGIES))
    p.add_argument("--archs", type=int, default=1000)
    p.add_argument("--eval-images", type=int, default=0, help="validation images per arch (0: all)")
    p.add_argument("--limit-train", type=int, help="use only N training images (after the validation split)")
    p.add_argument("--epochs", type=int, help="budget in epochs of a cost-1 strategy (45 NB201, 10 NB-Macro)")
    p.add_argument("--input-size", type=int, help="image side (32)")
    p.add_argument("--oneshot-share", type=float, default=0.5, help="few-shot: share of the budget one-shot (0.5)")
    p.add_argument("--k", type=int, default=20, help="accurate labels of the sequential search (20)")
    p.add_argument("--search-batch", type=int, default=5, help="rounds of the sequential search (5)")
    p.add_argument("--gcn-epochs", type=int, default=150)
    p.add_argument("--gcn-ensemble", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--reduced", action="store_true", help="the reduced settings of the measured table")
    p.add_argument("--quick", action="store_true", help="smoke test: tiny everything")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.data = str(Path(args.data).resolve())
    args.spaces = args.spaces.split(",")
    args.strategies = args.strategies.split(",")
    bad = set(args.strategies) - set(STRATEGIES)
    if bad:
        p.error(f"unknown strategies {sorted(bad)} (choose from {', '.join(STRATEGIES)})")
    settings = {
        "nb201": {"channels": 8, "cells": 1, "input_size": 32, "batch_size": 64, "lr": 0.05, "epochs": 45},
        "nbmacro": {"width": 0.5, "input_size": 32, "batch_size": 128, "lr": 0.1, "epochs": 10},
    }
    if args.reduced:
        args.limit_train = args.limit_train or 3000
        args.archs, args.eval_images = 300, args.eval_images or 200
        args.search_batch, args.gcn_epochs, args.gcn_ensemble = 20, 30, 1
        settings["nb201"].update(input_size=16, epochs=4)
        settings["nbmacro"].update(width=0.25, input_size=16, epochs=2)
    if args.quick:
        args.limit_train = args.limit_train or 800
        args.archs, args.eval_images = 40, args.eval_images or 64
        args.search_batch, args.gcn_epochs, args.gcn_ensemble = 20, 5, 1
        settings["nb201"].update(input_size=16, epochs=2, channels=4)
        settings["nbmacro"].update(width=0.25, input_size=16, epochs=2)
    for s in settings.values():
        s["epochs"] = args.epochs or s["epochs"]
        s["input_size"] = args.input_size or s["input_size"]
    args.settings = settings
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    done: dict = {}
    results = out / "results.jsonl"
    if results.exists():
        for line in results.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                done[(r["space"], r["seed"], r["strategy"])] = r
    print(f"settings: {json.dumps(settings)}; archs {args.archs}, eval images {args.eval_images or 'all'}, "
          f"limit_train {args.limit_train}, GCN epochs {args.gcn_epochs} x{args.gcn_ensemble}, k {args.k} "
          f"in rounds of {args.search_batch}", flush=True)  # fmt: skip
    t0 = time.perf_counter()
    truths = {space: load_truth(Path(args.data), space) for space in args.spaces}
    for seed in (int(s) for s in args.seeds.split(",")):  # seed-major: every space gets seeds early
        for space in args.spaces:
            run_cell(args, space, seed, truths[space], done)
            summarize(args, done)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s this call")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
