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
    (:data:`EXPERTS`, or ``--experts``). (c1) the top 5 of the noisy-only GCN table (the model of
    (b)) by ``pred + W * sd(pred) * reward``, against the top 5 at W = 0 and against prior-blind
    picks at **equal predicted accuracy** ("off": for each prior pick, the 10 other classes whose
    W = 0 prediction is nearest). W is in standard deviations of the table's predictions (the
    reward has sd 1), so it means the same for any supernet's accuracy scale; it also counts the
    seeds where the prior's top 5 are faster / as accurate as "off", and, among the 300
    best-predicted classes with the prediction partialled out, how true accuracy, latency and the
    reward move together (why a prior can or cannot lower latency at equal prediction). (c2) the
    sequential search of (b) with ``prior_bonus = W * sd(pred) * reward`` against the default
    search of (b) (prior off). (c3, with ``--latency``) the top 5 under latency budgets (20/35/50/65/80/100 %
    quantiles of the classes' latency), prior on against off at each budget, and against prior-off's
    whole accuracy-latency trade-off curve: its accuracy at the same latency and the latency it
    needs for the same accuracy. Reported: true ``mean_acc``, exact FLOPs (MACs) and parameters
    (``sp.costs``), and latency on this machine (NB-Macro has no HW-NAS-Bench table): ``--latency``
    is a ``nasgcn latency measure`` / ``latency predict`` file (step 1).

Experts: MobileNetV2 stacks inverted residuals of expansion 6 with 3x3 depthwise kernels in every
layer, expands at every stride-2 stage entry and repeats one block inside a stage. NB-Macro offers
``1`` MB3_K3 (expansion 3, kernel 3) and ``2`` MB6_K5 (expansion 6, kernel 5), no MB6_K3, so the
experts are the two uniform stacks (``22222222``: MobileNetV2's expansion, ``11111111``: its kernel)
and the regular stage pattern "MB6 at each stage entry, MB3_K3 after it" (``21211211``, stages of
2, 3, 3 layers). None has an identity layer (MobileNetV2 has no skipped block).

Usage (step 1 makes the inputs; see the settings below)::

    OMP_NUM_THREADS=1 python benchmarks/search_strategies_nbmacro.py --data ../shared/data \\
        --evals EVALS.csv --clusters CLUSTERS_K8.csv,CLUSTERS_K4.csv,CLUSTERS_K16.csv \\
        --latency CPU_MODEL.csv --seeds 0,1,2
    python benchmarks/search_strategies_nbmacro.py --quick ...   # 1 seed, (a) + (c1) only, 1-2 min

Step 1 (the inputs; 2-core VM shared by 9 agents, one thread, ``nice``; load average 4-12)::

    nasgcn supernet train --space nbmacro --dataset npz:../shared/data --val-fraction 0.1 \\
        --width 0.5 --epochs 5 --batch-size 128 --lr 0.1 --sampler weighted --seed 0 --threads 1 \\
        --quiet --out RUN                                   # 19 min; last train acc 39.2 %
    nasgcn supernet eval RUN --sample 1000 --seed 0 --max-val-images 250 --threads 1 --quiet \\
        --out EVALS.csv                                     # 12.4 min (1.4 archs/s)
    nasgcn supernet cluster RUN --k 8 --archs EVALS.csv --seed 0 --threads 1 --quiet \\
        --out CLUSTERS_K8.csv                               # 4.2 min; likewise --k 4, --k 16
    nasgcn latency measure --space nbmacro --all --threads 1 --quiet --out CPU.csv   # 17 min
    nasgcn latency predict CPU.csv --space nbmacro --column cpu_latency --out CPU_MODEL.csv

The supernet is smaller than ``benchmarks/supernet_nbmacro.py``'s (5 epochs instead of 10, 250
validation images instead of 500) to fit 20 + 15 min of a loaded core. The K = 4 / 16 files were
written by :func:`supernet.cluster.cluster_features` on the same probe features (all layers, 64
probe images, k-means seed 0) to compute the features once; the CLI's K = 8 file is identical
(1,000 of 1,000 labels). On a quieter VM the same train and eval took 5.4 and 5.5 min (6.6 and
5.5 min when rebuilt beside the latency measurement) and gave the same supernet each time (last
train acc 39.17 %, the same 1,000 labels and taus). Latency: batch 1, one thread; two whole-space
measurements (one beside other jobs, one on an idle VM) agreed only at Pearson 0.61 class by class
(the VM's speed drifts), while the additive per-(layer, block) models fitted to each agreed at
0.998, so ``CPU_MODEL.csv`` (the model) is the latency used below; it correlates 0.96 with FLOPs.
The figures below come from a third measurement (9.4 min beside the supernet training; scratch
files do not survive between sessions); its model's ms run about 6 % above the idle VM's, so
compare latencies within a table, not across notes. Step 2: the usage line above with
``--seeds 0,1,2,3,4,5,6,7,8,9`` (565 s), and again with ``--label neg_loss`` (minus the supernet's
loss as the label) and ``--label mean_acc`` (the true accuracy of the same architectures: a log of
stand-alone results, the setting of ``benchmarks/prior_nb201.py``).

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

(b) allocation and (c2) prior in the search (K = 20, 100 supernet labels per seed; latency ms)::

    seed  default  MFLOPs  Mpar  clusters    W=0.5  MFLOPs  Mpar
       0   93.057    93.9  2.34    93.127   93.053    98.4  2.82
       1   93.127    85.2  1.99    93.127   93.080    79.3  1.27
       2   92.890    85.7  1.67    92.620   93.107    98.9  2.50
       3   92.853    73.4  1.39    92.853   93.107    98.9  2.50
       4   93.023    91.6  2.39    93.023   93.080    79.3  1.27
       5   92.907    80.7  1.51    92.907   93.107    98.9  2.50
       6   93.010    92.5  2.10    92.907   93.107    98.9  2.50
       7   93.053    98.4  2.82    92.907   93.010    92.5  2.10
       8   93.127    85.2  1.99    92.923   93.107    98.9  2.50
       9   92.750    78.4  1.56    92.787   93.080    79.3  1.27
    mean   92.980 ± 0.118 | 86.5 ± 7.3 MFLOPs, 1.98 ± 0.43 M, 6.37 ± 0.58 ms | clusters 92.918 ± 0.145 |
           prior 93.084 ± 0.030, 92.3 ± 8.7 MFLOPs, 2.13 ± 0.58 M, 6.62 ± 0.88 ms

Every pick is one of the 20 measured (pick = best of 20 in all 20 default and cluster
searches). DC-NAS allocation
(``cluster_share=1``: every model-chosen pick after round 1 from another cluster) lowers the mean
pick by 0.06 (better on 2 seeds, worse on 4, equal on 4): with the within-cluster ranking no
better than the global one, spreading the budget spends picks on worse regions. The prior
(W = 0.5 sd of the predictions) raises the pick by 0.10 (better on 6 seeds, worse on 4) with a
quarter of the spread, for 7 % more FLOPs and 4 % more latency: it steers to ``22222221`` (93.107,
5 seeds) and ``22222200`` (93.080, 3 seeds), MB6 stacks whose last stage is cut short.

(c1) top 5 of the noisy-only table (mean over the 5 and the seeds; latency of ``CPU_MODEL.csv``;
"faster" / "as accurate": seeds where the prior's top 5 beat "off" at equal prediction)::

           W     pred             true            best5           MFLOPs       M params  reward       latency ms
        0.00    44.80   92.102 ± 0.282   92.377 ± 0.265   63.431 ± 5.569  1.604 ± 0.187    1.16    5.264 ± 0.411
        0.25    44.44   92.328 ± 0.174   92.588 ± 0.193   67.810 ± 5.279  1.791 ± 0.102    2.28    5.794 ± 0.250
    0.25 off    44.30   92.106 ± 0.175                -   64.470 ± 4.468  1.699 ± 0.147    1.34    5.408 ± 0.255
        0.50    44.10   92.389 ± 0.162   92.650 ± 0.154   67.728 ± 5.031  1.792 ± 0.107    2.59    5.862 ± 0.239
    0.50 off    44.05   92.064 ± 0.163                -   64.254 ± 3.481  1.689 ± 0.115    1.26    5.384 ± 0.217
        1.00    43.65   92.375 ± 0.143   92.665 ± 0.167   66.040 ± 4.821  1.774 ± 0.106    2.76    5.822 ± 0.223
    1.00 off    43.62   92.059 ± 0.168                -   64.698 ± 3.164  1.719 ± 0.109    1.23    5.415 ± 0.205
    prior faster on 1/10, 0/10, 0/10 seeds (W = 0.25, 0.5, 1), as accurate or more on 9/10, 10/10, 10/10
    at equal prediction (top 300 by pred, pred partialled out): corr(true, latency) +0.65,
    corr(reward, true) +0.66, corr(reward, latency) +0.62

The reward now sees where blocks sit in a stage (``entry_expansion`` +0.49, ``entry_kernel``
+0.42, ``inner_expansion`` -0.23: the MobileNetV2 pattern of expanding at the stride-2 entry) and
is the reward whose own policy best matches the experts (before, a near-exact match left a
residual whose direction was noise: ``22222222`` alone gave a reward *anti*-correlated with FLOPs,
-0.86). At equal predicted accuracy the prior's top 5 are truly more accurate (W = 0.5: 92.389
against 92.064, on 10 of 10 seeds) but 9 % slower (5.86 against 5.38 ms, on 10 of 10). The last
line says why: with supernet-accuracy labels, among networks the GCN predicts equally well the
truly better ones are the slower ones (+0.65; weight sharing under-credits big networks), so a
reward that finds the truly better ones (+0.66) finds slower ones too (+0.62). A prior lowers
latency at equal prediction with no loss only where it moves with true accuracy and against
latency there; with these labels none of the expert sets below does.

(c3) under latency budgets, default experts (ms of ``CPU_MODEL.csv``)::

    budget     W   mean of 5 true   best of 5 true      ms of the 5  vs W=0  wins @same ms W=0 needs
      3.89  0.00   90.412 ± 0.646   91.347 ± 0.346    3.719 ± 0.064
      3.89  0.50   90.792 ± 0.423   91.584 ± 0.199    3.715 ± 0.053  +0.380  9/10        -      3.92
      4.43  0.00   91.375 ± 0.150   91.966 ± 0.272    4.227 ± 0.093
      4.43  0.50   91.424 ± 0.234   91.960 ± 0.309    4.193 ± 0.047  +0.049  7/10   +0.116      4.27
      4.86  0.00   91.745 ± 0.145   92.167 ± 0.121    4.539 ± 0.079
      4.86  0.50   91.697 ± 0.130   92.127 ± 0.167    4.591 ± 0.078  -0.048  3/10   -0.085      4.50
      5.29  0.00   91.984 ± 0.209   92.309 ± 0.116    4.872 ± 0.143
      5.29  0.50   91.945 ± 0.139   92.269 ± 0.174    5.044 ± 0.093  -0.039  3/10   -0.085      4.82
      5.75  0.00   92.051 ± 0.236   92.325 ± 0.198    5.121 ± 0.270
      5.75  0.50   92.143 ± 0.106   92.360 ± 0.063    5.494 ± 0.090  +0.092  6/10   +0.041     never
      7.70  0.00   92.102 ± 0.282   92.377 ± 0.265    5.264 ± 0.411
      7.70  0.50   92.389 ± 0.162   92.650 ± 0.154    5.862 ± 0.239  +0.287 10/10   +0.287     never

("vs W=0": paired by seed at the same budget; "@same ms": against prior-off's trade-off curve at
the same latency, "-" below its fastest point; "W=0 needs": the latency on that curve for the same
accuracy.) With these experts the prior is worth +0.38 at the tightest budget and reaches
accuracies prior-off never does at the loosest (+0.29, at 11 % more latency), but in between it is
even or slightly worse (-0.09 to +0.12 at equal latency): W = 0.25 / 0.5 / 1 are as accurate or
more at equal latency at 3 / 3 / 3 of the 5 budgets where the curve is defined, and save 1.1 / 0.2 /
0.1 % latency at equal accuracy.

Expert sets (``--experts``, ``--sections prior --no-search``, 10 seeds, 70 s each). (c1) at
W = 0.5: true accuracy and latency of the top 5 against "off" at equal prediction; (c3): budgets
(of those where prior-off's curve is defined) at which the prior is as accurate or more at equal
latency, and the latency prior-off needs for the same accuracy, W = 0.25 / 0.5 / 1::

    experts                      (c1) true, ms vs off            (c3) >= at equal ms   W=0 needs more latency
    22222222,11111111,21211211   92.389, 5.86 vs 92.064, 5.38    3/5, 3/5, 3/5         +1.1, +0.2, +0.1 %
    21211211 (stage pattern)     92.357, 5.78 vs 92.088, 5.41    4/5, 5/5, 5/5         +1.8, +3.6, +3.7 %
    20211211 (MobileNetV2 depths) 92.108, 5.35 vs 92.132, 5.43   3/6, 2/5, 2/6         -0.1, +0.9, -0.2 %
    22222222 (MB6 stack)         92.671, 6.66 vs 91.942, 5.38    3/6, 3/6, 3/6         -0.6, -1.6, -2.0 %
    11111111 (MB3_K3 stack)      92.114, 5.50 vs 92.018, 5.41    1/5, 1/5, 1/6         -5.1, -5.6, -5.9 %

(``20211211`` adds MobileNetV2's "fewer blocks at high resolution": one block in the 32 px stage;
in (c1) it is 1.5 % faster than "off" but 0.02 points less accurate, even within the spread.)
Only the stage-pattern expert ``21211211`` (MobileNetV2's "expand at every stage entry, lighter
blocks after") gives picks that are at least as accurate at equal latency at every budget (W = 0.5
and 1): at the tightest budget +0.49 points at 1 % less latency (3.69 against 3.72 ms; prior-off
needs 3.98 ms for that accuracy), and 1.8-3.7 % less latency than prior-off for the same accuracy
on average, plus accuracies prior-off reaches at no budget. The margins are small against the
spread over seeds (0.1-0.2 points). The uniform MB3_K3 stack steers to networks that are worse at
equal latency; the MB6 stack buys accuracy with latency. In the sequential search (c2, W = 0.5) the
stage-pattern prior is too strong: all 10 seeds end on one network, ``21211212`` (92.860,
76.0 MFLOPs, 6.48 ms), 0.12 below the prior-off pick (92.980 at 6.37 ms); the default set's prior
gains 0.10 there (above). Lower weights (``--search-weights 0.1,0.25``, same seeds): the stage
pattern gives 92.830 / 92.868 at 6.57 / 6.61 ms (still below prior-off, and no faster); the default
set 93.031 / 93.090 ± 0.023 at 7.22 / 6.86 ms (more accurate, 8-13 % slower). So with
supernet-accuracy labels no expert set gives lower latency at no loss in (c1) or (c2), for the
reason (c1)'s last line gives.

Same run with ``--label neg_loss`` (minus the supernet loss, tau 0.697; 10 seeds).
Within-cluster tau 0.562 / 0.536 / 0.506 (K = 4 / 8 / 16), again below the global 0.697.

    (a)  supernet ranking top-1 92.429 ± 0.162, best of 10 92.790 ± 0.167; DC-NAS K=8: top-1
         92.429 (score) / 92.492 ± 0.162 (cluster_mean) / 92.096 ± 0.268 (zscore), best of 10
         92.526-92.537; K=4 best of 10 92.593-92.612, K=16 92.483-92.522 (all 0.18-0.31 lower)
    (b)  default 93.067 ± 0.101 at 7.10 ms (best of 20: 93.103 ± 0.021; seed 8 picks an unmeasured
         92.770), clusters 93.079 ± 0.059 (+0.012: better on 4 seeds, worse on 4, equal on 2)
    (c2) expert 21211211, W = 0.25 / 0.5: 93.063 ± 0.070 / 93.048 ± 0.066 at 6.93 / 6.95 ms and
         92.4 / 92.4 MFLOPs, against 93.067 ± 0.101 at 7.10 ms and 95.5 MFLOPs (prior off):
         2-2.5 % lower latency, -0.004 / -0.019 points (better on 4 seeds, worse on 5 at W = 0.25)
    (c1) default experts, W = 0.25 / 0.5 / 1: true 92.622 / 92.609 / 92.561 at 6.29 / 6.27 / 6.25 ms;
         "off" at equal prediction 92.571 / 92.562 / 92.485 at 6.24 / 6.24 / 6.16 ms (W = 0: 92.576,
         6.24 ms; prior faster on 4 / 5 / 3 of 10 seeds); (c3) as accurate or more at equal
         latency at 2 / 2 / 0 of 5 budgets
    (c1) expert 21211211, W = 0.25 / 0.5 / 1: true 92.598 / 92.592 / 92.581 at 6.19 / 6.12 / 6.05 ms
         and 73.6 / 71.6 / 70.1 MFLOPs; "off" 92.567 / 92.556 / 92.542 at 6.24 / 6.23 / 6.22 ms and
         77.0 / 76.9 / 76.9 MFLOPs; prior faster on 5 / 6 / 8 of 10 seeds, as accurate or more on
         7 / 8 / 9; equal-prediction correlations: true-latency +0.67, reward-true +0.25,
         reward-latency +0.07; (c3) at 4 / 3 / 3 of 5 budgets (+0.02 to +0.03 points)

With the better-ranking label the prior-free top already carries much of the experts' topology
(mean reward 2.0-2.3 at W = 0), so the prior changes less, and the stage-pattern reward no longer
moves with latency at equal prediction (+0.07 against +0.29 with accuracy labels) while it still
moves with true accuracy (+0.25). So it meets the issue's comparison as stated: at equal predicted
score 0.8-2.7 % lower latency (4-9 % fewer FLOPs) at +0.03-0.04 points of true accuracy (at W = 1 on 8
and 9 of 10 seeds), and in the search (c2) 2-2.5 % lower latency at the same pick accuracy within
0.02 points; the default set does not (equal latency, +0.05).

Same run with ``--label mean_acc`` (100 true accuracies per seed, the setting of
``benchmarks/prior_nb201.py``; ``--sections prior --no-search``). The prior-free top 5 is already
92.930 ± 0.041 (optimum 93.127), and at equal prediction true accuracy and latency barely move
together (+0.10), so there is little for a prior to correct. Expert 21211211, W = 0.25 / 0.5 / 1:
true 92.749 / 92.707 / 92.705 at 6.47 / 6.33 / 6.31 ms against "off" 92.734 / 92.669 / 92.652 at
6.51 / 6.36 / 6.30 ms (faster on 6 / 4 / 4 of 10 seeds): even, within the spread. The default set:
at 0.13-0.45 ms more latency (slower on 10 of 10 seeds). Under budgets (c3) both lose 0.1-0.5
points at equal latency: an accurate table needs no prior.

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


def read_latency(path: Path, sp) -> tuple[str, np.ndarray]:
    """``(column, values)``: ``<name>_latency`` of a ``nasgcn latency measure`` / ``latency predict`` CSV
    in space order (NaN where missing)."""
    import pandas as pd

    df = pd.read_csv(path, dtype={"arch_str": str})
    col = next((c for c in df.columns if c.endswith("_latency")), None)
    if col is None:
        raise SystemExit(f"{path}: no <name>_latency column (write it with 'nasgcn latency measure')")
    lat = np.full(sp.size, np.nan)
    lat[sp.index_of(sp.encode(df["arch_str"].tolist()))] = df[col].to_numpy(dtype=np.float64)
    return col, lat


def latency(args, idx) -> np.ndarray:
    """Latency (ms) of space indices ``idx`` from ``--latency``; NaN without it."""
    if args._latency is None:
        return np.full(np.size(idx), np.nan)
    return args._latency[1][np.asarray(idx, dtype=np.int64)]


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
    for seed in args.seeds:
        t0 = time.perf_counter()
        sub = np.random.default_rng(seed).choice(ev_idx.size, min(args.noisy_n, ev_idx.size), replace=False)
        n_idx, n_y = ev_idx[sub], label[sub]
        start = fit_noisy_accurate(sp.all_ids()[n_idx], n_y, random_state=seed, **GCN)
        args._tables[seed] = start.predict_space()  # the model noisy_table(args, sp, seed) would fit
        rec = {"seed": seed}
        a = search(sp, y, n_idx, n_y, seed, start)
        f, p = costs(sp, [a.best])
        rec.update(default=y[a.best], default_best=np.nanmax(a.measured_y), default_flops=f[0], default_params=p[0])
        rec.update(default_ms=latency(args, [a.best])[0])
        line = f"   {seed:>4} {y[a.best]:>8.3f} {np.nanmax(a.measured_y):>7.3f} {f[0]:>7.1f} {p[0]:>5.2f}"
        if do_alloc:
            b = search(sp, y, n_idx, n_y, seed, start, clusters=clusters, cluster_share=args.cluster_share)
            rec.update(clusters=y[b.best], clusters_best=np.nanmax(b.measured_y))
            line += f" {y[b.best]:>9.3f} {np.nanmax(b.measured_y):>7.3f}"
        for w in sw if do_prior else []:
            sd = float(np.nanstd(args._tables[seed]))
            c = search(sp, y, n_idx, n_y, seed, start, prior_bonus=w * sd * prior_r)
            f, p = costs(sp, [c.best])
            rec.update({f"prior{w}": y[c.best], f"prior{w}_flops": f[0], f"prior{w}_params": p[0]})
            rec[f"prior{w}_ms"] = latency(args, [c.best])[0]
            line += f" {y[c.best]:>8.3f} {f[0]:>7.1f} {p[0]:>5.2f}"
        out.append(rec)
        print(line + f" {time.perf_counter() - t0:>5.0f}", flush=True)
    keys = [k for k in out[0] if k != "seed"]
    print("   mean ± sd over seeds:")
    for k in keys:
        print(f"   {k:<18} {ms([r[k] for r in out])}")


# --------------------------------------------------------------------------------------------- (c1)
def section_prior_table(args, sp, y, prior, prior_r, weights) -> None:
    print(
        f"\n## (c1) IRLAS prior on the GCN table ({args.noisy_n} {args.label} labels): top 5 by pred + W * sd(pred) * reward"
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
    print(
        f"   {'W':>9} {'pred':>8} {'true':>16} {'best5':>16} {'MFLOPs':>16} {'M params':>14} {'reward':>7}"
        f" {'latency ms':>16}"
    )
    res: dict[str, list[tuple[float, ...]]] = {}
    given_pred: list[tuple[float, float, float]] = []
    for seed in args.seeds:
        pred = noisy_table(args, sp, seed)
        sd = float(np.std(pred[reps]))
        given_pred.append(_given_pred(args, pred, y, prior_r, reps))
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
                    latency(args, top).mean(),
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
                        latency(args, near).mean(),
                    )
                )
    for name, vals in res.items():
        v = np.asarray(vals)
        best5 = "-" if np.isnan(v[:, 2]).all() else ms(v[:, 2])
        line = (
            f"   {name:>9} {v[:, 0].mean():>8.2f} {ms(v[:, 1]):>16} {best5:>16} {ms(v[:, 3]):>16} "
            f"{v[:, 4].mean():>6.3f} ± {v[:, 4].std():.3f} {v[:, 5].mean():>7.2f} {ms(v[:, 6]):>16}"
        )
        if name.endswith(" off"):  # paired by seed: the prior's picks against these
            on = np.asarray(res[name[: -len(" off")]])
            faster, as_good = int((on[:, 6] < v[:, 6]).sum()), int((on[:, 1] >= v[:, 1]).sum())
            line += f"   prior faster on {faster}/{len(v)} seeds, as accurate or more on {as_good}/{len(v)}"
        print(line)
    g = np.asarray(given_pred)
    print(
        f"   at equal prediction (top {C1_POOL} classes by pred, residuals of a linear fit on pred; mean over seeds): "
        f"corr(true, latency) {g[:, 0].mean():+.2f}, corr(reward, true) {g[:, 1].mean():+.2f}, "
        f"corr(reward, latency) {g[:, 2].mean():+.2f}"
    )
    sys.stdout.flush()


#: classes at the top of the table on which (c1) measures what the prediction leaves to the prior
C1_POOL = 300


def _given_pred(args, pred, y, prior_r, reps) -> tuple[float, float, float]:
    """Among the ``C1_POOL`` best-predicted classes, with the prediction partialled out: how true
    accuracy and latency move together (a size-biased label ties them), and how the reward moves
    with each. A prior can lower latency at equal prediction with no loss only if it moves with
    true accuracy and against latency there."""
    top = reps[np.argsort(-pred[reps], kind="stable")[:C1_POOL]]
    lat = latency(args, top)  # NaN without --latency

    def resid(v):
        return v - np.polyval(np.polyfit(pred[top], v, 1), pred[top])

    t, r = resid(y[top]), resid(prior_r[top])
    if not np.isfinite(lat).all():
        return (np.nan, float(np.corrcoef(r, t)[0, 1]), np.nan)
    la = resid(lat)
    return (float(np.corrcoef(t, la)[0, 1]), float(np.corrcoef(r, t)[0, 1]), float(np.corrcoef(r, la)[0, 1]))


# --------------------------------------------------------------------------------------------- (c3)
def section_prior_budgets(args, sp, y, prior_r, weights) -> None:
    """Top 5 under latency budgets with the prior on and off: the "best under X ms" a user asks."""
    name, lat = args._latency
    ids = sp.all_ids()
    reps = one_per_class(sp, np.flatnonzero(~sp.is_dead(ids) & np.isfinite(lat)))
    budgets = np.quantile(lat[reps], [0.2, 0.35, 0.5, 0.65, 0.8, 1.0])
    print(
        f"\n## (c3) IRLAS prior under latency budgets ({name}, ms; budgets = 20/35/50/65/80/100 % "
        "quantiles of the classes' latency): top 5 by pred + W * sd(pred) * reward among those within budget"
    )
    res: dict[tuple[float, float], list[tuple[float, float, float, float]]] = {}
    for seed in args.seeds:
        pred = noisy_table(args, sp, seed)
        sd = float(np.std(pred[reps]))
        for b in budgets:
            ok = reps[lat[reps] <= b]
            for w in weights:
                top = ok[np.argsort(-(pred[ok] + w * sd * prior_r[ok]), kind="stable")[:5]]
                res.setdefault((b, w), []).append((y[top[0]], y[top].mean(), y[top].max(), lat[top].mean()))
    print(
        f"   {'budget':>7} {'W':>5} {'top-1 true':>16} {'mean of 5 true':>16} {'best of 5 true':>16} {'ms of the 5':>16}"
        f" {'vs W=0':>7} {'wins':>5} {'@same ms':>8} {'W=0 needs':>9}"
    )
    off = {b: np.asarray(res[(b, 0.0)]) for b in budgets} if 0.0 in weights else {}
    # prior-off's trade-off curve: mean latency of its top 5 against their mean true accuracy, best so far
    pts = sorted((v[:, 3].mean(), v[:, 1].mean()) for v in off.values())
    curve_ms = np.array([p[0] for p in pts])
    curve_acc = np.maximum.accumulate(np.array([p[1] for p in pts]))
    summary: dict[float, list[tuple[float, float]]] = {}
    for (b, w), vals in res.items():
        v = np.asarray(vals)
        line = f"   {b:>7.2f} {w:>5.2f} {ms(v[:, 0]):>16} {ms(v[:, 1]):>16} {ms(v[:, 2]):>16} {ms(v[:, 3]):>16}"
        if w > 0 and off:
            d = v[:, 1] - off[b][:, 1]  # paired by seed, same budget
            lat_on, acc_on = v[:, 3].mean(), v[:, 1].mean()
            # prior-off's accuracy at the same latency, and the latency it needs for this accuracy
            # (linear between its budgets; below its fastest point it is not extrapolated)
            same = float(np.interp(lat_on, curve_ms, curve_acc)) if lat_on >= curve_ms[0] else np.nan
            need = float(np.interp(acc_on, curve_acc, curve_ms)) if acc_on <= curve_acc[-1] else np.inf
            gain = acc_on - same
            saving = need / lat_on - 1 if np.isfinite(need) else np.nan
            summary.setdefault(w, []).append((gain, saving))
            needs = f"{need:.2f}" if np.isfinite(need) else "never"
            line += f" {d.mean():>+7.3f} {int((d >= 0).sum()):>2}/{len(d):<2} {gain:>+8.3f} {needs:>9}"
        print(line)
    print(
        "   vs W=0: mean of 5 minus W = 0's at the same budget (paired by seed); wins: seeds where it is >= 0;\n"
        "   @same ms: mean of 5 minus W = 0's trade-off curve (best mean of 5 against mean latency of the 5,\n"
        "   linear between budgets) at the same latency; W=0 needs: latency on that curve for the same accuracy"
    )
    for w, rows in summary.items():
        g = np.array([r[0] for r in rows])
        sv = np.array([r[1] for r in rows])
        ok = np.isfinite(g)
        print(
            f"   W = {w:.2f}: at the latency of its picks, as accurate or more at {int((g[ok] >= 0).sum())}/{ok.sum()} "
            f"budgets (mean {np.nanmean(g):+.3f} points); where W = 0 reaches its accuracy, W = 0 needs "
            f"{100 * np.nanmean(sv):+.1f} % more latency on average; W = 0 never reaches it at "
            f"{int(np.isnan(sv).sum())} budgets"
        )
    sys.stdout.flush()


def noisy_table(args, sp, seed):
    """The noisy-only GCN's predictions over the space for ``seed``, fitted once: (b), (c1), (c3) share it."""
    from predictor.noisy import fit_noisy_accurate

    if seed not in args._tables:
        n = min(args.noisy_n, args._ev_idx.size)
        sub = np.random.default_rng(seed).choice(args._ev_idx.size, n, replace=False)
        m = fit_noisy_accurate(sp.all_ids()[args._ev_idx[sub]], args._label[sub], random_state=seed, **GCN)
        args._tables[seed] = m.predict_space()
    return args._tables[seed]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=default_data(), help="folder with nasbench_macro_cifar10.csv")
    p.add_argument("--evals", type=Path, required=True, help="EVALS.csv of 'nasgcn supernet eval' (NB-Macro run)")
    p.add_argument(
        "--label",
        default="supernet_acc",
        help="label column: supernet_acc (default), neg_loss (minus the supernet loss) or mean_acc (the truth, "
        "stand-alone accuracy of the same architectures: the setting of benchmarks/prior_nb201.py)",
    )
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
    p.add_argument(
        "--latency", type=Path, default=None, help="(c): 'nasgcn latency measure --space nbmacro --all' CSV (ms)"
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
    args._tables = {}
    args._latency = read_latency(args.latency, sp) if args.latency is not None else None
    if args._latency is not None:
        name, lat = args._latency
        print(f"   latency: {name} of {args.latency.name} ({np.isfinite(lat).sum()} architectures)")
    cols = ["supernet_acc", "supernet_loss"]
    ev_idx, ev = read_table(args.evals, cols)
    if args.label == "neg_loss":
        label = -ev["supernet_loss"].astype(float)
    elif args.label == "mean_acc":  # logged stand-alone evaluations instead of supernet scores
        label = y[ev_idx].astype(float)
    else:
        label = ev[args.label].astype(float)
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
        if args._latency is not None:
            section_prior_budgets(args, sp, y, prior_r, weights)
    print(f"\ntotal {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
