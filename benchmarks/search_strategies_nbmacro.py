"""Search strategies on NAS-Bench-Macro (issue 19): DC-NAS selection and allocation, an IRLAS prior.

The NB-Macro half of ``benchmarks/search_strategies.py``. Inputs are a CPU NB-Macro supernet's
evaluation log (``--evals``: ``nasgcn supernet eval``; its ``supernet_acc`` are the "supernet
labels") and DC-NAS clusters of the same architectures (``--clusters``: ``nasgcn supernet
cluster``; several files, comma-separated, compare K in (a), the first is used in (b)). Truth:
``mean_acc`` of ``nasbench_macro_cifar10.csv`` (``--data``). Every section has its baseline in the
same run; ``--seeds`` seeds.

(a) **DC-NAS selection** on the supernet labels alone. Seed ``s`` draws ``--select-n`` of the
    evaluated architectures (what a user who evaluated that many would rank); the supernet's own
    ranking (one per isomorphism class) against :func:`supernet.cluster.select_by_cluster` with each
    merge rule: true accuracy of the top-1 and the best of the top 10.
(b) **DC-NAS budget allocation**: :func:`predictor.acquisition.sequential_search` at K = 20 (rounds
    of 5, ``mutate=3``, ``mutate_rule="untested"``) from ``--noisy-n`` supernet labels (seed ``s``
    draws them from the log and seeds the GCN), default against ``clusters=expand_clusters(...)``
    (``cluster_share=--cluster-share``); both start from the same noisy-only model. True accuracy
    of the pick (``res.best``) and the best of the 20 measured.
(c) **IRLAS prior** (:func:`predictor.prior.fit_prior`) from MobileNetV2-like experts
    (:data:`EXPERTS`). (c1) the top 5 of the noisy-only GCN table (the model of (b)) by
    ``pred + W * sd(pred) * reward``, against the top 5 at W = 0 and against prior-blind picks at **equal
    predicted accuracy** ("off": for each prior pick, the 10 other classes whose W = 0 prediction
    is nearest). W is in standard deviations of the table's predictions (the reward has sd 1), so
    it means the same for any supernet's accuracy scale. (c2) the sequential search of (b) with
    ``prior_bonus = W * sd(pred) * reward`` against the default search of (b) (prior off).
    Reported: true ``mean_acc``, exact FLOPs (MACs) and parameters (``sp.costs``); NB-Macro has no
    measured latency.

Experts: MobileNetV2 stacks inverted residuals of expansion 6 with 3x3 depthwise kernels in every
layer, expands at every stride-2 stage entry and repeats one block inside a stage. NB-Macro offers
``1`` MB3_K3 (expansion 3, kernel 3) and ``2`` MB6_K5 (expansion 6, kernel 5), no MB6_K3, so the
experts are the two uniform stacks (``22222222``: MobileNetV2's expansion, ``11111111``: its kernel)
and the regular stage pattern "MB6 at each stage entry, MB3_K3 after it" (``21211211``, stages of
2, 3, 3 layers). None has an identity layer (MobileNetV2 has no skipped block).

Usage (step 1 makes the inputs; see the settings below)::

    OMP_NUM_THREADS=1 python benchmarks/search_strategies_nbmacro.py --data ../shared/data \\
        --evals EVALS.csv --clusters CLUSTERS_K8.csv,CLUSTERS_K4.csv,CLUSTERS_K16.csv --seeds 0,1,2
    python benchmarks/search_strategies_nbmacro.py --quick ...   # 1 seed, (a) + (c1) only, 1-2 min

Step 1 (the inputs; 2-core VM shared by 9 agents, one thread, ``nice``; load average 4-12)::

    nasgcn supernet train --space nbmacro --dataset npz:../shared/data --val-fraction 0.1 \\
        --width 0.5 --epochs 5 --batch-size 128 --lr 0.1 --sampler weighted --seed 0 --threads 1 \\
        --quiet --out RUN                                   # 19 min; last train acc 39.2 %
    nasgcn supernet eval RUN --sample 1000 --seed 0 --max-val-images 250 --threads 1 --quiet \\
        --out EVALS.csv                                     # 12.4 min (1.4 archs/s)
    nasgcn supernet cluster RUN --k 8 --archs EVALS.csv --seed 0 --threads 1 --quiet \\
        --out CLUSTERS_K8.csv                               # 4.2 min; likewise --k 4, --k 16

The supernet is smaller than ``benchmarks/supernet_nbmacro.py``'s (5 epochs instead of 10, 250
validation images instead of 500) to fit 20 + 15 min of a loaded core. The K = 4 / 16 files were
written by :func:`supernet.cluster.cluster_features` on the same probe features (all layers, 64
probe images, k-means seed 0) to compute the features once; the CLI's K = 8 file is identical
(1,000 of 1,000 labels). Step 2: the usage line above with ``--seeds 0,1,2,3,4,5,6,7,8,9`` (680 s), and again
with ``--label neg_loss`` (minus the supernet's loss as the label).

Measured (label ``supernet_acc``, 10 seeds 0-9, mean ± sd over seeds; optimum 93.127, space mean
90.25). Supernet vs ``mean_acc`` on the 1,000: Kendall tau 0.460 (accuracy), 0.697 (minus loss).
Choice of K: size-weighted Kendall tau of the supernet accuracy *within* clusters 0.351 (K = 4),
0.356 (K = 8), 0.298 (K = 16), all *below* the global 0.460, so the DC-NAS premise (the supernet
ranks better within a cluster) does not hold for these features and this supernet; K = 8 was
chosen (the best within-cluster tau and, on seeds 0-2, the best best-of-10).

(a) selection, 500 of the 1,000 per seed::

    rule                              top-1             best of 10
    supernet ranking                  91.656 ± 0.233    92.417 ± 0.060
    K=8  merge=score                  91.656 ± 0.233    92.402 ± 0.072
    K=8  merge=cluster_mean           91.822 ± 0.269    92.402 ± 0.072
    K=8  merge=zscore                 91.656 ± 0.233    92.402 ± 0.072
    K=4  merge=score                  91.656 ± 0.233    92.378 ± 0.071
    K=4  merge=cluster_mean           91.854 ± 0.230    92.378 ± 0.071
    K=4  merge=zscore                 91.654 ± 0.232    92.378 ± 0.071
    K=16 merge=score                  91.656 ± 0.233    92.354 ± 0.107
    K=16 merge=cluster_mean           91.770 ± 0.201    92.354 ± 0.107
    K=16 merge=zscore                 91.710 ± 0.304    92.354 ± 0.107

``merge=score`` keeps the global top-1 by construction. ``cluster_mean`` raises the top-1 by
0.11-0.20 points (a region-level estimate beats one lucky score), but DC-NAS does not raise the
best of the top 10 at any K (-0.015 to -0.063).

(b) allocation and (c2) prior in the search (K = 20, 100 supernet labels per seed)::

    seed  default  MFLOPs  Mpar  clusters    W=0.5  MFLOPs  Mpar
       0   93.057    93.9  2.34    93.127   92.953   105.7  2.93
       1   93.127    85.2  1.99    93.127   93.010    92.5  2.10
       2   92.890    85.7  1.67    92.620   92.953   105.7  2.93
       3   92.853    73.4  1.39    92.853   93.010    92.5  2.10
       4   93.023    91.6  2.39    93.023   92.953   105.7  2.93
       5   92.907    80.7  1.51    92.907   93.010    92.5  2.10
       6   93.010    92.5  2.10    92.907   92.953   105.7  2.93
       7   93.053    98.4  2.82    92.907   93.047    91.6  2.39
       8   93.127    85.2  1.99    92.923   92.953   105.7  2.93
       9   92.750    78.4  1.56    92.787   92.750   100.7  2.77
    mean   92.980 ± 0.118 | 86.5 ± 7.3 MFLOPs, 1.98 ± 0.43 M | clusters 92.918 ± 0.145 |
           prior 92.959 ± 0.077, 99.8 ± 6.3 MFLOPs, 2.61 ± 0.37 M

Every pick is one of the 20 measured (pick = best of 20 in all 20 default and cluster
searches). DC-NAS allocation
(``cluster_share=1``: every model-chosen pick after round 1 from another cluster) lowers the mean
pick by 0.06 (better on 2 seeds, worse on 4, equal on 4): with the within-cluster ranking no
better than the global one, spreading the budget spends picks on worse regions. The prior
(W = 0.5 sd of the predictions) steers the search to the expert ``22222222`` itself (5 of 10
seeds; 92.953, the largest network of the space) or its neighbours ``22222202`` / ``22222220``
(93.010): the pick is as accurate (-0.02, smaller spread) but 15 % more FLOPs and 32 % more
parameters.

(c1) top 5 of the noisy-only table (mean over the 5 and the seeds)::

           W    pred   true             best5            MFLOPs          M params       reward
        0.00   44.80   92.102 ± 0.282   92.377 ± 0.265   63.43 ± 5.57    1.604 ± 0.187   0.81
        0.25   44.38   92.326 ± 0.187   92.545 ± 0.158   68.29 ± 4.79    1.820 ± 0.108   2.12
    0.25 off   44.28   92.098 ± 0.163   -                64.24 ± 4.19    1.675 ± 0.120   1.01
        0.50   44.21   92.308 ± 0.196   92.513 ± 0.174   67.62 ± 5.14    1.829 ± 0.121   2.26
    0.50 off   44.15   92.088 ± 0.173   -                64.27 ± 4.22    1.681 ± 0.119   1.00
        1.00   44.03   92.298 ± 0.151   92.519 ± 0.171   66.67 ± 4.43    1.810 ± 0.125   2.34
    1.00 off   43.98   92.068 ± 0.152   -                64.20 ± 4.05    1.691 ± 0.110   0.97

At equal predicted accuracy the prior's top 5 are truly more accurate (W = 0.25: 92.326 against
92.098 "off", +0.23; best of 5 +0.17 over W = 0) but *heavier* (68.3 against 64.2 MFLOPs, +6 %;
1.82 against 1.68 M parameters). The learned reward (largest weights: distinct ops -0.48, share of
MB3_K3 +0.33, parametric share +0.32, identity share -0.32, depth +0.32) rewards what the
MobileNetV2 experts have: no identity layer, uniform blocks. On NB-Macro dropping layers is the
only way to be cheap, so MobileNetV2-like experts cannot give "fast" picks here; the issue's
target (lower latency at no loss of accuracy) is met on accuracy, missed on cost.

Other experts (``--experts``; (c1) only, ``--sections prior --no-search``, 10 seeds, 40 s each):

    experts                 W     true              MFLOPs          "off" at equal pred: true, MFLOPs
    11111111 (MB3_K3 only)  0.25  91.644 ± 0.448    53.1 ± 5.8      92.116, 64.9
                            0.50  91.225 ± 0.547    47.4 ± 4.2      92.068, 64.4
                            1.00  90.431 ± 0.618    41.1 ± 2.7      91.932, 63.4
    11111111, 21211211      0.25  92.342 ± 0.182    69.1 ± 4.6      92.097, 64.0
                            0.50  92.395 ± 0.133    70.5 ± 3.8      92.096, 64.0
    21211211                0.25  92.374 ± 0.143    70.1 ± 3.8      92.116, 64.7
                            0.50  92.458 ± 0.116    73.5 ± 2.0      92.102, 64.3

The prior moves picks along NB-Macro's accuracy-cost trade-off, whatever the experts: the
light MobileNetV2-like stack (MB3_K3 everywhere) gives 18-35 % fewer FLOPs and 0.5-1.5 points less
true accuracy than prior-blind picks at equal prediction, every expert set with MB6 stage entries
gives 0.25-0.35 points more accuracy and 8-14 % more FLOPs. No set gives lower cost at no loss of
accuracy, the issue's target: in a chain space the topology features are op shares, kernels and
depth, which are the cost itself (NB201's cells, where the target is met, have topology beyond cost).

Same run with ``--label neg_loss`` (minus the supernet loss, tau 0.697; 580 s; 10 seeds).
Within-cluster tau 0.562 / 0.536 / 0.506 (K = 4 / 8 / 16), again below the global 0.697.

    (a)  supernet ranking top-1 92.429 ± 0.162, best of 10 92.790 ± 0.167; DC-NAS K=8: top-1
         92.429 (score) / 92.492 ± 0.162 (cluster_mean) / 92.096 ± 0.268 (zscore), best of 10
         92.526-92.537; K=4 best of 10 92.593-92.612, K=16 92.483-92.522 (all 0.18-0.31 lower)
    (b)  default 93.067 ± 0.101 (best of 20: 93.103 ± 0.021; seed 8 picks an unmeasured 92.770),
         clusters 93.079 ± 0.059 (+0.012: better on 4 seeds, worse on 4, equal on 2)
    (c2) W = 0.5: 93.059 ± 0.072 at 92.4 ± 7.0 MFLOPs, 2.44 ± 0.22 M against 93.067 at 95.5 ± 5.2
         MFLOPs, 2.45 ± 0.27 M (prior off)
    (c1) W = 0 / 0.25 / 0.5 / 1: true 92.576 / 92.569 / 92.550 / 92.512, MFLOPs 76.7 / 75.5 / 74.4
         / 74.5; "off" at equal prediction: 92.575 / 92.570 / 92.535, 77.2 / 77.3 / 76.5 MFLOPs

With the better-ranking label the prior-free top already carries the experts' topology (mean reward
1.98 at W = 0), so the prior changes little: 2-4 % fewer FLOPs than at equal prediction for
0.01-0.02 points of true accuracy.

Missing: cluster features other than "all layers" (``--layers last`` / ``logits``) and other
``cluster_share`` values were not measured; one supernet (seed 0) only, so the spread over seeds
is over label subsets and GCN seeds, not over supernets.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: MobileNetV2-like NB-Macro architectures (see the module docstring for the choice).
EXPERTS = ("22222222", "11111111", "21211211")
SPACE = "nbmacro"
#: GCN settings of every fit (``--epochs`` changes ``epochs`` for smoke tests only).
GCN: dict = {"space": SPACE, "n_threads": 1}


def default_data() -> Path:
    env = os.environ.get("NASGCN_REFERENCE_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


def load_truth(data: Path):
    """``(space, ids, mean_acc)`` in space order (the arch codes are read as text: leading zeros)."""
    import pandas as pd

    from predictor.spaces import get_space

    sp = get_space(SPACE)
    df = pd.read_csv(data / "nasbench_macro_cifar10.csv", dtype={"arch": str})
    order = sp.index_of(sp.encode(df["arch"].tolist()))
    y = np.full(sp.size, np.nan)
    y[order] = df["mean_acc"].to_numpy(dtype=np.float64)
    if np.isnan(y).any():
        raise SystemExit(f"{data}: expected every one of the {sp.size} NB-Macro architectures")
    return sp, sp.all_ids(), y


def read_table(path: Path, columns: list[str]):
    """``(space indices, {column: values})`` of a CSV log with ``arch_str`` (first row per architecture)."""
    import pandas as pd

    from predictor.spaces import get_space

    sp = get_space(SPACE)
    df = pd.read_csv(path, dtype={"arch_str": str}).drop_duplicates("arch_str")
    missing = [c for c in ["arch_str", *columns] if c not in df.columns]
    if missing:
        raise SystemExit(f"{path}: missing column(s) {', '.join(missing)}")
    idx = sp.index_of(sp.encode(df["arch_str"].tolist()))
    return idx, {c: df[c].to_numpy() for c in columns}


def one_per_class(sp, order: np.ndarray) -> np.ndarray:
    """The entries of ``order`` (space indices) whose isomorphism class is new, in order."""
    cls = sp.iso_class(sp.all_ids()[order])
    _, first = np.unique(cls, return_index=True)
    return order[np.sort(first)]


def costs(sp, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c = sp.costs(sp.all_ids()[np.asarray(idx, dtype=np.int64)])
    return c["flops_m"], c["params_m"]


def ms(v) -> str:
    """``mean ± sd`` over seeds."""
    v = np.asarray(v, dtype=np.float64)
    return f"{v.mean():.3f} ± {v.std():.3f}"


# ---------------------------------------------------------------------------------------------- (a)
def section_select(args, sp, y, ev_idx, label, cluster_sets) -> None:
    from supernet.cluster import MERGES, select_by_cluster

    print(
        f"\n## (a) DC-NAS selection on the supernet labels alone ({args.select_n} of {ev_idx.size} evaluated per seed)"
    )
    print("   true mean_acc of the top-1 and the best of the top 10; mean ± sd over seeds")
    opt = y[ev_idx].max()
    print(f"   (best true mean_acc among all {ev_idx.size} evaluated: {opt:.3f}; space optimum {y.max():.3f})")
    rows: dict[str, list[tuple[float, float]]] = {}
    for seed in args.seeds:
        sub = np.sort(np.random.default_rng(seed).choice(ev_idx.size, min(args.select_n, ev_idx.size), replace=False))
        idx, s = ev_idx[sub], label[sub]
        order = idx[np.argsort(-s, kind="stable")]
        top = one_per_class(sp, order)[:10]
        rows.setdefault("supernet ranking", []).append((y[top[0]], y[top].max()))
        keep = np.isin(idx, one_per_class(sp, order))  # one per class, as the supernet ranking gets
        for name, (cl_idx, cl_lab) in cluster_sets.items():
            pos = {int(i): int(c) for i, c in zip(cl_idx, cl_lab, strict=True)}
            c = np.array([pos.get(int(i), -1) for i in idx])
            for m in MERGES:
                pick = idx[select_by_cluster(np.where(keep, s, np.nan), c, top=10, merge=m)]
                rows.setdefault(f"{name} merge={m}", []).append((y[pick[0]], y[pick].max()))
    print(f"   {'rule':<44}{'top-1':>18}{'best of 10':>18}")
    for name, vals in rows.items():
        v = np.asarray(vals)
        print(f"   {name:<44}{ms(v[:, 0]):>18}{ms(v[:, 1]):>18}")
    sys.stdout.flush()


# ------------------------------------------------------------------------------------ (b) and (c2)
def search(sp, y, noisy_idx, noisy_y, seed, initial, **kw):
    from predictor.acquisition import sequential_search

    ids = sp.all_ids()
    res = sequential_search(
        ids[noisy_idx],
        noisy_y,
        lambda a: y[sp.index_of(sp.encode(a))],
        k=20,
        batch=5,
        mutate=3,
        mutate_rule="untested",
        random_state=seed,
        initial=initial,
        **GCN,
        **kw,
    )
    return res


def section_searches(args, sp, y, ev_idx, label, clusters, prior_r, weights) -> None:
    from predictor.noisy import fit_noisy_accurate

    do_alloc = "alloc" in args.sections
    do_prior = "prior" in args.sections
    print(f"\n## (b/c) sequential_search, K = 20 (rounds of 5, 3 untested mutations), {args.noisy_n} supernet labels")
    if do_alloc:
        print(f"   (b) default vs DC-NAS clusters (cluster_share {args.cluster_share}): true mean_acc of the pick")
    sw = [w for w in weights if w > 0]
    if do_prior:
        print(f"   (c2) prior_bonus = W * sd(pred) * reward, W in {sw}: pick's true mean_acc, MFLOPs, M params")
    head = f"   {'seed':>4} {'default':>8} {'best20':>7} {'MFLOPs':>7} {'Mpar':>5}"
    if do_alloc:
        head += f" {'clusters':>9} {'best20':>7}"
    for w in sw if do_prior else []:
        head += f" {'W=' + str(w):>8} {'MFLOPs':>7} {'Mpar':>5}"
    print(head + f" {'s':>5}")
    out = []
    tables = {}
    for seed in args.seeds:
        t0 = time.perf_counter()
        sub = np.random.default_rng(seed).choice(ev_idx.size, min(args.noisy_n, ev_idx.size), replace=False)
        n_idx, n_y = ev_idx[sub], label[sub]
        start = fit_noisy_accurate(sp.all_ids()[n_idx], n_y, random_state=seed, **GCN)
        tables[seed] = start.predict_space()
        rec = {"seed": seed}
        a = search(sp, y, n_idx, n_y, seed, start)
        f, p = costs(sp, [a.best])
        rec.update(default=y[a.best], default_best=np.nanmax(a.measured_y), default_flops=f[0], default_params=p[0])
        line = f"   {seed:>4} {y[a.best]:>8.3f} {np.nanmax(a.measured_y):>7.3f} {f[0]:>7.1f} {p[0]:>5.2f}"
        if do_alloc:
            b = search(sp, y, n_idx, n_y, seed, start, clusters=clusters, cluster_share=args.cluster_share)
            rec.update(clusters=y[b.best], clusters_best=np.nanmax(b.measured_y))
            line += f" {y[b.best]:>9.3f} {np.nanmax(b.measured_y):>7.3f}"
        for w in sw if do_prior else []:
            sd = float(np.nanstd(tables[seed]))
            c = search(sp, y, n_idx, n_y, seed, start, prior_bonus=w * sd * prior_r)
            f, p = costs(sp, [c.best])
            rec.update({f"prior{w}": y[c.best], f"prior{w}_flops": f[0], f"prior{w}_params": p[0]})
            line += f" {y[c.best]:>8.3f} {f[0]:>7.1f} {p[0]:>5.2f}"
        out.append(rec)
        print(line + f" {time.perf_counter() - t0:>5.0f}", flush=True)
    keys = [k for k in out[0] if k != "seed"]
    print("   mean ± sd over seeds:")
    for k in keys:
        print(f"   {k:<18} {ms([r[k] for r in out])}")
    args._tables = tables


# --------------------------------------------------------------------------------------------- (c1)
def section_prior_table(args, sp, y, prior, prior_r, weights) -> None:
    print(
        "\n## (c1) IRLAS prior on the noisy-only GCN table (100 supernet labels): top 5 by pred + W * sd(pred) * reward"
    )
    print(
        f"   experts {', '.join(args.experts)}; reward weights (largest): "
        + ", ".join(f"{n} {w:+.2f}" for n, w in prior.describe(6))
    )
    r_ex = prior.reward(sp.encode(list(args.experts)))
    print(f"   reward of the experts: {', '.join(f'{v:+.2f}' for v in r_ex)} (sd 1 over the space)")
    ids = sp.all_ids()
    flops, params = costs(sp, np.arange(sp.size))
    live = ~sp.is_dead(ids)
    reps = one_per_class(sp, np.flatnonzero(live))  # one architecture per class
    print(f"   {'W':>9} {'pred':>8} {'true':>16} {'best5':>16} {'MFLOPs':>16} {'M params':>14} {'reward':>7}")
    res: dict[str, list[tuple[float, ...]]] = {}
    for seed in args.seeds:
        pred = args._tables[seed] if seed in getattr(args, "_tables", {}) else None
        if pred is None:
            pred = noisy_table(args, sp, seed)
        sd = float(np.std(pred[reps]))
        for w in weights:
            score = pred + w * sd * prior_r
            top = reps[np.argsort(-score[reps], kind="stable")[:5]]
            res.setdefault(f"{w:.2f}", []).append(
                (
                    pred[top].mean(),
                    y[top].mean(),
                    y[top].max(),
                    flops[top].mean(),
                    params[top].mean(),
                    prior_r[top].mean(),
                )
            )
            if w > 0:  # prior-blind choices at the same predicted level
                near = []
                for t in top:
                    d = np.abs(pred[reps] - pred[t])
                    d[reps == t] = np.inf
                    near.extend(reps[np.argsort(d, kind="stable")[:10]].tolist())
                near = np.asarray(near)
                res.setdefault(f"{w:.2f} off", []).append(
                    (
                        pred[near].mean(),
                        y[near].mean(),
                        np.nan,
                        flops[near].mean(),
                        params[near].mean(),
                        prior_r[near].mean(),
                    )
                )
    for name, vals in res.items():
        v = np.asarray(vals)
        best5 = "-" if np.isnan(v[:, 2]).all() else ms(v[:, 2])
        print(
            f"   {name:>9} {v[:, 0].mean():>8.2f} {ms(v[:, 1]):>16} {best5:>16} {ms(v[:, 3]):>16} "
            f"{v[:, 4].mean():>6.3f} ± {v[:, 4].std():.3f} {v[:, 5].mean():>7.2f}"
        )
    sys.stdout.flush()


def noisy_table(args, sp, seed):
    from predictor.noisy import fit_noisy_accurate

    sub = np.random.default_rng(seed).choice(args._ev_idx.size, min(args.noisy_n, args._ev_idx.size), replace=False)
    m = fit_noisy_accurate(sp.all_ids()[args._ev_idx[sub]], args._label[sub], random_state=seed, **GCN)
    return m.predict_space()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=default_data(), help="folder with nasbench_macro_cifar10.csv")
    p.add_argument("--evals", type=Path, required=True, help="EVALS.csv of 'nasgcn supernet eval' (NB-Macro run)")
    p.add_argument("--label", default="supernet_acc", help="supernet label column (supernet_acc; or neg_loss)")
    p.add_argument(
        "--clusters", required=True, help="CLUSTERS.csv of 'nasgcn supernet cluster' (comma-separated: compare K)"
    )
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (0,1,2)")
    p.add_argument("--sections", default="select,alloc,prior", help="select, alloc, prior (default all)")
    p.add_argument("--select-n", type=int, default=500, help="(a): evaluated architectures ranked per seed (500)")
    p.add_argument("--noisy-n", type=int, default=100, help="(b/c): supernet labels per seed (100)")
    p.add_argument("--cluster-share", type=float, default=1.0, help="(b): share of the model's picks by clusters (1)")
    p.add_argument("--weights", default="0,0.25,0.5,1", help="(c1): prior weights W in sd of the predictions")
    p.add_argument(
        "--experts", default=",".join(EXPERTS), help="(c): expert architectures, comma-separated (default: EXPERTS)"
    )
    p.add_argument("--search-weights", default="0.5", help="(c2): prior weights of the searches (0.5)")
    p.add_argument("--no-search", action="store_true", help="skip the sequential searches ((b), (c2))")
    p.add_argument("--epochs", type=int, default=None, help="GCN epochs (default the estimator's; smoke tests)")
    p.add_argument("--quick", action="store_true", help="seed 0 only, no sequential searches")
    args = p.parse_args(argv)
    args.seeds = [int(s) for s in str(args.seeds).split(",")]
    if args.epochs is not None:
        GCN["epochs"] = args.epochs
    if args.quick:
        args.seeds, args.no_search = args.seeds[:1], True
    if not (args.data / "nasbench_macro_cifar10.csv").exists():
        print(f"reference data not found in {args.data} (pass --data ../shared/data)")
        return 1
    import torch

    torch.set_num_threads(1)
    from predictor.metrics import kendall_tau
    from predictor.prior import fit_prior
    from predictor.proposals import expand_clusters

    t_start = time.perf_counter()
    sp, ids, y = load_truth(args.data)
    cols = ["supernet_acc", "supernet_loss"]
    ev_idx, ev = read_table(args.evals, cols)
    label = -ev["supernet_loss"].astype(float) if args.label == "neg_loss" else ev[args.label].astype(float)
    args._ev_idx, args._label = ev_idx, label
    print(f"## NAS-Bench-Macro search strategies (issue 19); seeds {args.seeds}")
    print(
        f"   {ev_idx.size} supernet-evaluated architectures ({args.evals.name}), label {args.label}; Kendall tau vs "
        f"mean_acc: accuracy {kendall_tau(y[ev_idx], ev['supernet_acc'].astype(float)):.3f}, "
        f"-loss {kendall_tau(y[ev_idx], -ev['supernet_loss'].astype(float)):.3f}"
    )
    cluster_sets = {}
    for path in [Path(s) for s in args.clusters.split(",")]:
        c_idx, c = read_table(path, ["cluster"])
        c = c["cluster"].astype(np.int64)
        k = int(c.max()) + 1
        within = []
        for j in range(k):  # the DC-NAS premise: the supernet ranks better within a cluster
            m = np.isin(ev_idx, c_idx[c == j])
            if m.sum() >= 5:
                within.append((m.sum(), kendall_tau(y[ev_idx[m]], label[m])))
        w = np.asarray(within)
        tau_in = float((w[:, 0] * w[:, 1]).sum() / w[:, 0].sum()) if w.size else float("nan")
        sizes = np.bincount(c, minlength=k)
        name = f"K={k} ({path.name})"
        cluster_sets[name] = (c_idx, c)
        print(
            f"   clusters {name}: sizes {sizes.min()}-{sizes.max()}, size-weighted Kendall tau within clusters {tau_in:.3f}"
        )
    args.experts = [e.strip() for e in args.experts.split(",") if e.strip()]
    prior = fit_prior(args.experts, SPACE)
    prior_r = prior.reward(ids)
    weights = [float(w) for w in args.weights.split(",")]
    if "select" in args.sections:
        section_select(args, sp, y, ev_idx, label, cluster_sets)
    if not args.no_search and ("alloc" in args.sections or "prior" in args.sections):
        c_idx, c = next(iter(cluster_sets.values()))
        clusters = expand_clusters(ids[c_idx], c, SPACE)
        section_searches(
            args, sp, y, ev_idx, label, clusters, prior_r, [float(w) for w in args.search_weights.split(",")]
        )
    if "prior" in args.sections:
        section_prior_table(args, sp, y, prior, prior_r, weights)
    print(f"\ntotal {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
