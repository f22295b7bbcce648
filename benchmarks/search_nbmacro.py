"""Search on NAS-Bench-Macro: true ``mean_acc`` of the pick after K = 20 true evaluations.

Protocol (issue 16, benchmark 2): :func:`predictor.acquisition.sequential_search` with the GCN
(``space="nbmacro"``) spends K true evaluations (the oracle looks ``mean_acc`` up in the benchmark
file, standing for stand-alone training) in rounds of ``--batch``, refitting after each round; the
pick is the top-1 of its final table (measured values overlaid, unmeasured predictions lowered by
the model's measured optimism), and we report its true ``mean_acc``, mean over ``--seeds`` seeds
(seed s draws the first round and initializes the GCN), beside ``best(K)``, the best true value
among the K measured.

* ``without`` noisy labels: round 1 is ``--first`` random architectures, every fit uses the true
  evaluations alone (``sequential_search(None, None, ...)``).
* ``with`` noisy labels (``--noisy FILE``: a CSV/JSONL log with ``arch_str`` and ``--noisy-column``,
  e.g. accuracies of a CPU-trained NB-Macro supernet): ``--noisy-n`` of them (a random subset per
  seed, all if 0) are the noisy source, round 1 is the best of the noisy-only table.

Baselines in the same run: random search (expected best true ``mean_acc`` of K distinct random
architectures, 10,000 draws) with 20 and 100 evaluations, and the supernet's own top-1 pick.
Optimum 93.127; the issue measured random search at 92.61 (20) and 92.87 (100). Target: >= 93.05
on average over 10 seeds.

Settings. Without noisy labels: 10 random, then rounds of 2 by ``pred + 1 * pred_std`` (UCB on the
ensemble spread). Chosen on seeds 0-4 (mean pick, 2-core VM): rounds of 5 after 10 random 92.978,
rounds of 5 after 5 random 92.937, rounds of 2 after 10 random 93.003 (after 6: 92.991), the same
with ``loss="rank"`` 92.950, with ``local=2`` (rounds of 3) 92.919, with ``mutate=2`` (untested)
92.978, with ``beta=1`` 93.035 (rounds of 1 with ``beta=1``: 93.018). With noisy labels: the
defaults of the NB201 benchmark (greedy rounds of 5), not tuned here.

Measured (2-core VM, one thread, shared; 10 seeds 0-9):

* without noisy labels: mean pick 93.047 (6 of 10 >= 93.05; min 92.933), mean best(K) 93.059; the
  held-out seeds 5-9 alone: 93.060. One pick (seed 0) is an unmeasured architecture the final table
  rated above the best measured one (92.933 against 93.053 measured).
* with 100 noisy labels (H2's CPU supernet: 10 epochs, width 0.5, 500 validation images; Kendall
  tau 0.527 against ``mean_acc``; its own top-1 scores 91.013): mean pick 93.079 (9 of 10 >= 93.05).
  With 800 labels of the same supernet (tau 0.504; its top-1 92.777), 200 drawn per seed
  (``--noisy-n 200``): mean pick 93.072 (9 of 10 >= 93.05, min 92.973).
* random search in the same run: 92.613 (20 evaluations), 92.867 (100).

Run: ``OMP_NUM_THREADS=1 python benchmarks/search_nbmacro.py [--seeds 10] [--noisy FILE [--noisy-n N]]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from predictor_nbmacro import default_data, load_truth  # noqa: E402

TARGET = 93.05


def random_search(y: np.ndarray, k: int, draws: int = 10_000, seed: int = 12345) -> float:
    """Expected best of ``k`` distinct uniformly random architectures (Monte Carlo)."""
    rng = np.random.default_rng(seed)
    keys = rng.random((draws, y.size))
    picks = np.argpartition(keys, k, axis=1)[:, :k]
    return float(y[picks].max(1).mean())


def run(args, sp, ids, y, noisy_ids=None, noisy_y=None, label="without") -> list[dict]:
    from predictor.acquisition import sequential_search

    def oracle(archs):
        return y[sp.index_of(sp.encode(archs))]

    rows = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        n_ids = n_y = None
        if noisy_ids is not None:
            sub = np.arange(noisy_ids.shape[0])
            if args.noisy_n and args.noisy_n < sub.size:
                sub = np.random.default_rng(seed).choice(sub.size, args.noisy_n, replace=False)
            n_ids, n_y = noisy_ids[sub], noisy_y[sub]
        start = time.perf_counter()
        res = sequential_search(
            n_ids,
            n_y,
            oracle,
            k=args.k,
            batch=args.batch if noisy_ids is None else args.noisy_batch,
            first_batch=args.first if noisy_ids is None else None,
            mutate=args.mutate,
            mutate_rule=args.mutate_rule,
            local=args.local,
            beta=args.beta if noisy_ids is None else args.noisy_beta,
            random_state=seed,
            space="nbmacro",
            n_threads=args.threads,
            **({} if args.loss is None else {"loss": args.loss}),
        )
        r = {
            "seed": seed,
            "pick": float(y[res.best]),
            "best_k": float(np.nanmax(res.measured_y)),
            "raw": float(y[int(np.argmax(res.raw_pred))]),
            "secs": time.perf_counter() - start,
        }
        rows.append(r)
        print(
            f"{label:>8} seed {seed:>2}: pick {r['pick']:.3f}  best(K) {r['best_k']:.3f}  "
            f"pick(raw) {r['raw']:.3f}  {sp.format(ids[res.best])}  {r['secs']:.0f} s"
        )
        sys.stdout.flush()
    picks = [r["pick"] for r in rows]
    print(
        f"{label:>8} mean pick {np.mean(picks):.3f} (min {np.min(picks):.3f}, >= {TARGET}: "
        f"{sum(p >= TARGET for p in picks)}/{len(picks)}), mean best(K) {np.mean([r['best_k'] for r in rows]):.3f}\n"
    )
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=default_data(), help="reference data folder")
    p.add_argument("--seeds", type=int, default=10, help="seeds (10)")
    p.add_argument("--first-seed", type=int, default=0, help="first seed (0)")
    p.add_argument("--k", type=int, default=20, help="true evaluations (20)")
    p.add_argument("--batch", type=int, default=2, help="without noisy labels: evaluations per round (2)")
    p.add_argument("--noisy-batch", type=int, default=5, help="with noisy labels: evaluations per round (5)")
    p.add_argument("--first", type=int, default=10, help="without noisy labels: random first round (10)")
    p.add_argument("--mutate", type=int, default=0, help="sequential_search mutate (0)")
    p.add_argument("--mutate-rule", default="untested", help="sequential_search mutate_rule (untested)")
    p.add_argument("--local", type=int, default=0, help="sequential_search local (0)")
    p.add_argument("--beta", type=float, default=1.0, help="without noisy labels: UCB weight of pred_std (1)")
    p.add_argument("--noisy-beta", type=float, default=0.0, help="with noisy labels: UCB weight of pred_std (0)")
    p.add_argument("--loss", default=None, help="GCN loss (default: the estimator's)")
    p.add_argument("--noisy", type=Path, default=None, help="log of noisy labels (arch_str + --noisy-column)")
    p.add_argument("--noisy-column", default="supernet_acc", help="metric column of --noisy (supernet_acc)")
    p.add_argument("--noisy-n", type=int, default=0, help="noisy labels used per seed (random subset; 0 = all)")
    p.add_argument("--sections", default="without,with", help="without,with (with needs --noisy)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1)")
    args = p.parse_args(argv)

    import torch

    from predictor.logs import aggregate, read_log
    from predictor.metrics import kendall_tau, top_kendall_tau

    torch.set_num_threads(args.threads)
    sp, ids, y = load_truth(args.data)
    print(f"## NAS-Bench-Macro search: true mean_acc of the pick after K = {args.k} true evaluations")
    print(
        f"   optimum {np.max(y):.3f}; without noisy labels: first {args.first} random, then rounds of {args.batch}, "
        f"beta {args.beta}; with: rounds of {args.noisy_batch}, beta {args.noisy_beta}; mutate {args.mutate} "
        f"({args.mutate_rule}), local {args.local}, loss {args.loss or 'default'}; seeds {args.first_seed}.."
        f"{args.first_seed + args.seeds - 1}; target >= {TARGET} on average\n"
    )
    for k in (20, 100):
        print(f"random search, {k:>3} evaluations: expected best {random_search(y, k):.3f}")
    print("(issue: 92.61 with 20, 92.87 with 100)\n")
    sections = args.sections.split(",")
    summary = {}
    if "without" in sections:
        rows = run(args, sp, ids, y)
        summary["without"] = np.mean([r["pick"] for r in rows])
    if "with" in sections and args.noisy is not None:
        log = aggregate(read_log(args.noisy, space="nbmacro", metrics=[args.noisy_column]), space="nbmacro")
        n_ids, n_y = log.ids("nbmacro"), log.metrics[args.noisy_column]
        truth = y[sp.index_of(n_ids)]
        top = int(np.argmax(n_y))
        print(
            f"noisy labels: {len(n_y)} architectures from {args.noisy}; Kendall tau vs mean_acc {kendall_tau(truth, n_y):.3f} "
            f"(top 1 % {top_kendall_tau(truth, n_y, 0.01):.3f}); the supernet's own top-1 {sp.format(n_ids[top])} "
            f"has mean_acc {truth[top]:.3f}; using {args.noisy_n or len(n_y)} per seed"
        )
        rows = run(args, sp, ids, y, n_ids, n_y, label="with")
        summary["with"] = np.mean([r["pick"] for r in rows])
    for name, value in summary.items():
        print(f"summary {name:>8} noisy labels: mean pick {value:.3f} (target {TARGET})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
