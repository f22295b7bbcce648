"""Hardware-constrained search on NB201 via the lookup table: regret of the top pick.

Protocol
--------
For devices edgegpu, raspi4, edgetpu, pixel3, eyeriss, fpga (HW-NAS-Bench latency,
CIFAR-10) and a latency budget at the 10th, 25th and 50th percentile of each device
(over the architectures it can run), the predictor's best architecture under the
budget (``LookupTable.query(..., top_k=1, unique=True)``) is compared with the true
optimum under the same budget (``c10_test_acc``, NATS-Bench, mean over seeds):

* (a) GCN trained on the true ``c10_test_acc`` of 100 random architectures (``loss="rank"``, the
  better loss for the top of the ranking from few clean labels; ``--a-loss`` to compare);
* (b) GCN trained on the supernet accuracies of one ``oneshot_baseline`` run for
  1,000 random architectures plus the true accuracy of 20 (noisy + accurate API of
  :mod:`predictor.noisy`), the 20 chosen two ways:

  - ``b_once``: 20 random architectures, all at once, without regard to the budget
    (one model for every budget; the baseline);
  - ``b_seq``: budget-aware sequential search (:func:`predictor.acquisition.sequential_search`,
    ``feasible`` = measured latency <= budget): rounds of ``--batch``, refit after each, the
    next batch the predicted best feasible architectures (the first from the noisy-only model;
    intermediate refits ``--round-epochs``, the last one ``--epochs``).
    The user knows the budget before spending the stand-alone trainings, so this is a fair
    protocol; it costs one search (``20 / batch`` refits) per device and budget (18 searches:
    about 28 min per seed with the default ``--batch 10`` on one CPU thread of a loaded machine).

Regret = optimum - true accuracy of the pick (points). Random search with the same
number of true evaluations (100 for (a), 20 for (b)) picks the best feasible of
its samples (mean over 200 draws; a draw with no feasible sample scores 10 %,
chance level); ``random_feas`` draws the same number among the feasible ones only
(a budget-aware random search). ``verify5`` is the regret of the best of the top 5 picks after
evaluating them truly (5 extra evaluations), shown for reference.

Costs in the query are the **measured** HW-NAS-Bench values (so every pick satisfies
the true budget); with ``--predicted-costs`` the costs come instead from a
:class:`CostModel` trained on 900 measured architectures with safety margin ``--z``,
and the share of picks that violate the true budget is reported.

It also times the constrained query on the 15,625-row table: the vectorized
:func:`predictor.query.query` against a plain Python loop, in the same run.

Usage::

    python benchmarks/constrained_nb201.py --data ../shared/data [--seeds 3] [--predicted-costs]
        [--settings a,b_once,b_seq] [--devices edgegpu,...] [--batch 10]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import timeit
from pathlib import Path

import numpy as np

from predictor.hardware import HardwareTable
from predictor.lookup import LookupTable
from predictor.spaces import get_space

DEVICES = ("edgegpu", "raspi4", "edgetpu", "pixel3", "eyeriss", "fpga")
PERCENTILES = (10, 25, 50)


def _read_columns(path: Path, wanted: list[str]) -> dict[str, np.ndarray]:
    import pandas as pd

    df = pd.read_csv(path, usecols=["arch_str", *wanted])
    space = get_space("nb201")
    order = np.argsort(space.index_of(space.encode(list(df["arch_str"]))))
    return {c: df[c].to_numpy(dtype=float)[order] for c in wanted}  # space index order


def naive_query(rows: list[dict], budgets: dict[str, float]) -> int:
    """The slow reference: loop over row dicts, keep the best feasible."""
    best, best_i = -np.inf, -1
    for i, r in enumerate(rows):
        if all(r[c] <= b for c, b in budgets.items()) and r["pred"] > best:
            best, best_i = r["pred"], i
    return best_i


def time_queries(table: LookupTable) -> None:
    budgets = {"pixel3_latency": float(np.nanpercentile(table["pixel3_latency"], 25)), "flops_m": 100.0}
    rows = table.records(["pred", *budgets])
    for r in rows:  # NaN (None in records) never satisfies a bound
        for c in budgets:
            if r[c] is None:
                r[c] = np.inf
    fast = table.query(constraints=budgets, top_k=1)
    slow = naive_query(rows, budgets)
    assert fast["arch_str"][0] == table["arch_str"][slow], "vectorized and naive queries disagree"
    n = 200
    t_vec = min(timeit.repeat(lambda: table.query(constraints=budgets, top_k=10), number=n, repeat=3)) / n
    t_uni = min(timeit.repeat(lambda: table.query(constraints=budgets, top_k=10, unique=True), number=n, repeat=3)) / n
    t_naive = min(timeit.repeat(lambda: naive_query(rows, budgets), number=3, repeat=3)) / 3
    print(f"\nquery timing on {len(table):,} rows, 2 constraints (pixel3_latency, flops_m), best of 3:")
    print(f"  {'method':<34}{'ms/query':>10}{'speed-up':>10}")
    print(f"  {'naive Python loop (baseline)':<34}{t_naive * 1e3:>10.3f}{1.0:>10.1f}")
    print(f"  {'vectorized query, top 10':<34}{t_vec * 1e3:>10.3f}{t_naive / t_vec:>10.1f}")
    print(f"  {'vectorized query, top 10 unique':<34}{t_uni * 1e3:>10.3f}{t_naive / t_uni:>10.1f}")
    print(f"  target < 1 ms: {'met' if max(t_vec, t_uni) < 1e-3 else 'NOT met'}")


def fit_a(ids: np.ndarray, truth: np.ndarray, seed: int, args: argparse.Namespace) -> np.ndarray:
    from predictor.gcn import GCNPredictor

    rng = np.random.default_rng(seed)
    tr = rng.choice(len(truth), 100, replace=False)
    loss = getattr(args, "a_loss", "rank")  # ranking loss: better top of the ranking from few clean labels
    model = GCNPredictor(ensemble=args.ensemble, epochs=args.epochs, loss=loss, random_state=seed, device=args.device)
    return model.fit(ids[tr], truth[tr]).predict(ids)


def split_b(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Setting (b)'s 1,000 noisy-label architectures and its 20 random accurate ones (``b_once``)."""
    perm = np.random.default_rng(10_000 + seed).permutation(n)
    return perm[:1000], perm[1000:1020]


def gcn_params(args: argparse.Namespace, seed: int) -> dict:
    """The GCNPredictor settings every (b) fit shares."""
    return dict(ensemble=args.ensemble, epochs=args.epochs, random_state=seed, device=args.device)


def fit_b(ids: np.ndarray, truth: np.ndarray, noisy: np.ndarray, seed: int, args: argparse.Namespace) -> np.ndarray:
    from predictor.noisy import fit_noisy_accurate

    noisy_idx, acc_idx = split_b(len(truth), seed)
    model = fit_noisy_accurate(
        ids[noisy_idx],
        noisy[noisy_idx],
        ids[acc_idx],
        truth[acc_idx],
        **gcn_params(args, seed),
    )
    return model.predict(ids)


def fit_b_noisy(ids: np.ndarray, noisy: np.ndarray, seed: int, args: argparse.Namespace):
    """The noisy-only model ``b_seq`` starts every search from (fitted once per seed)."""
    from predictor.noisy import fit_noisy_accurate

    noisy_idx, _ = split_b(len(noisy), seed)
    return fit_noisy_accurate(
        ids[noisy_idx],
        noisy[noisy_idx],
        **gcn_params(args, seed),
    )


def search_b(
    ids: np.ndarray, truth: np.ndarray, noisy: np.ndarray, feasible: np.ndarray, start, seed: int, args
) -> np.ndarray:
    """``b_seq``: 20 accurate labels spent by budget-aware sequential search; the final table."""
    from predictor.acquisition import sequential_search

    space = get_space("nb201")
    noisy_idx, _ = split_b(len(truth), seed)
    res = sequential_search(
        ids[noisy_idx],
        noisy[noisy_idx],
        lambda archs: truth[space.index_of(space.encode(archs))],
        k=20,
        batch=args.batch,
        round_epochs=args.round_epochs,
        feasible=feasible,
        random_state=seed,
        initial=start,
        ensemble=args.ensemble,
        epochs=args.epochs,
        device=args.device,
    )
    return res.pred


def predictions(
    s: str,
    seed: int,
    args: argparse.Namespace,
    arrays: tuple[np.ndarray, np.ndarray, np.ndarray],
    feasible: np.ndarray | None = None,
    tag: str = "",
    starts: dict | None = None,
) -> np.ndarray:
    """Whole-space predictions of setting ``s`` (cached in ``--cache`` if given; ``tag`` names a budget)."""
    ids, truth, noisy = arrays
    name = f"pred_{s}{'_' + tag if tag else ''}_{seed}_{args.ensemble}_{args.epochs}.npy"
    cache = Path(args.cache) / name if args.cache else None
    if cache is not None and cache.exists():
        return np.load(cache)
    if s == "a":
        pred = fit_a(ids, truth, seed, args)
    elif s == "b_once":
        pred = fit_b(ids, truth, noisy, seed, args)
    else:
        starts = {} if starts is None else starts
        if seed not in starts:
            starts[seed] = fit_b_noisy(ids, noisy, seed, args)
        pred = search_b(ids, truth, noisy, feasible, starts[seed], seed, args)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, pred)
    return pred


def random_search_regret(
    truth: np.ndarray, feasible: np.ndarray, optimum: float, n_eval: int, draws: int, seed: int
) -> float:
    """Mean regret of: evaluate n_eval random archs truly, keep the best feasible one."""
    rng = np.random.default_rng(seed)
    regrets = []
    for _ in range(draws):
        s = rng.choice(len(truth), n_eval, replace=False)
        ok = s[feasible[s]]
        best = truth[ok].max() if ok.size else 10.0
        regrets.append(optimum - best)
    return float(np.mean(regrets))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = os.environ.get(
        "NASGCN_REFERENCE_DATA", str(Path(__file__).resolve().parents[1].parent / "shared" / "data")
    )
    ap.add_argument("--data", default=default)
    ap.add_argument("--seeds", type=int, default=3, help="training sets per setting (a) and (b)")
    ap.add_argument("--ensemble", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--run", default=None, help="supernet run for (b) (default: first oneshot_baseline run)")
    ap.add_argument("--settings", default="a,b_once,b_seq", help="a, b_once, b_seq ('b' = b_once,b_seq)")
    ap.add_argument("--devices", default=",".join(DEVICES), help="devices to evaluate (default: all six)")
    ap.add_argument("--batch", type=int, default=10, help="accurate labels per round in b_seq (10: 2 rounds)")
    ap.add_argument("--round-epochs", type=int, default=60, help="epochs of b_seq's intermediate refits (60)")
    ap.add_argument("--predicted-costs", action="store_true", help="also query on predicted costs (CostModel, 900)")
    ap.add_argument("--z", type=float, default=2.0, help="safety margin for predicted costs")
    ap.add_argument("--cache", default=None, help="folder to cache predictions between runs (outside the repo)")
    ap.add_argument("--draws", type=int, default=200, help="random-search draws per cell")
    ap.add_argument("--a-loss", default="rank", choices=("mse", "rank", "mix"), help="GCNPredictor loss of (a) (rank)")
    args = ap.parse_args(argv)
    import pandas as pd
    import torch

    torch.set_num_threads(args.threads)
    data = Path(args.data)
    if not (data / "hwnasbench_nb201_cifar10.csv").exists():
        print(f"reference data not found in {data}", file=sys.stderr)
        return 2
    space = get_space("nb201")
    ids = space.all_ids()
    truth = _read_columns(data / "nb201_cifar10_ground_truth.csv", ["c10_test_acc"])["c10_test_acc"]
    runs = pd.read_csv(data / "nb201_supernet_runs.csv")
    run = args.run or runs.loc[runs["family"] == "oneshot_baseline", "run"].iloc[0]
    noisy = _read_columns(data / "nb201_supernet_acc.csv", [run])[run]
    hw = HardwareTable.read(data / "hwnasbench_nb201_cifar10.csv")
    base = LookupTable.build(np.zeros(space.size)).join(hw, columns=[f"{d}_latency" for d in DEVICES])

    time_queries(LookupTable({**base.columns, "pred": truth}, base.meta))

    cost_tables: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if args.predicted_costs:
        from predictor.cost_model import CostModel

        for d in DEVICES:
            y = base[f"{d}_latency"]
            tr = np.random.default_rng(7).choice(space.size, 900, replace=False)
            cost_tables[d] = CostModel(random_state=0).fit(ids[tr], y[tr]).predict(ids, return_std=True)

    settings = [x for s in args.settings.split(",") if s for x in (("b_once", "b_seq") if s == "b" else (s,))]
    devices = [d for d in args.devices.split(",") if d]
    unknown = [s for s in settings if s not in ("a", "b_once", "b_seq")] + [d for d in devices if d not in DEVICES]
    if unknown:
        print(f"unknown setting(s)/device(s): {unknown}", file=sys.stderr)
        return 2
    print(f"\nsetting (a): GCN on true c10_test_acc of 100 random archs; (b): GCN on supernet run {run!r} labels of")
    print("1,000 random archs + true acc of 20: random, all at once (b_once), or by budget-aware sequential search")
    print(f"in rounds of {args.batch} (b_seq). Truth: c10_test_acc (NATS-Bench, CIFAR-10 test, mean over seeds).")
    print(
        f"GCNPredictor(ensemble={args.ensemble}, epochs={args.epochs}), (a) loss={args.a_loss}, {args.seeds} seeds; "
        "picks: top-1 unique."
    )
    results: dict[str, list[dict]] = {s: [] for s in settings}
    data_arrays = (ids, truth, noisy)
    for s in settings:
        for seed in range(args.seeds):
            t0 = time.perf_counter()
            starts: dict = {}  # b_seq: the noisy-only model, fitted once per seed
            if s != "b_seq":
                table = LookupTable({**base.columns, "pred": predictions(s, seed, args, data_arrays)}, base.meta)
            for d in devices:
                col = f"{d}_latency"
                lat = base[col]
                for p in PERCENTILES:
                    budget = float(np.nanpercentile(lat, p))
                    feasible = lat <= budget
                    optimum = float(truth[feasible].max())
                    if s == "b_seq":  # one search per budget: the accurate labels go to feasible cells
                        pred = predictions(s, seed, args, data_arrays, feasible, f"{d}_{p}_b{args.batch}", starts)
                        table = LookupTable({**base.columns, "pred": pred}, base.meta)
                    pick = table.query(constraints={col: budget}, top_k=1, unique=True)
                    i = int(pick["index"][0])
                    rec = {
                        "device": d,
                        "pct": p,
                        "budget": budget,
                        "optimum": optimum,
                        "pick_acc": float(truth[i]),
                        "regret": optimum - float(truth[i]),
                        "ok": bool(lat[i] <= budget),
                    }
                    top5 = table.query(constraints={col: budget}, top_k=5, unique=True)["index"]
                    rec["verify5"] = optimum - float(truth[top5].max())  # 5 extra true evaluations
                    n_eval = 100 if s == "a" else 20
                    rec["random"] = random_search_regret(truth, feasible, optimum, n_eval, args.draws, seed)
                    sub = np.flatnonzero(feasible)
                    rec["random_feas"] = random_search_regret(
                        truth[sub], np.ones(sub.size, dtype=bool), optimum, n_eval, args.draws, seed
                    )
                    if d in cost_tables:
                        mean, std = cost_tables[d]
                        ptab = LookupTable({**table.columns, col: mean, f"{col}_std": std}, table.meta)
                        for z in (0.0, args.z):
                            pp = ptab.query(constraints={col: budget}, top_k=1, unique=True, z=z)
                            j = int(pp["index"][0])
                            rec[f"pc_regret_z{z:g}"] = optimum - float(truth[j])
                            rec[f"pc_ok_z{z:g}"] = bool(lat[j] <= budget)
                    results[s].append(rec)
            print(f"  fitted ({s}) seed {seed} in {time.perf_counter() - t0:.1f} s", flush=True)

    for s in settings:
        recs = results[s]
        df = pd.DataFrame(recs)
        n_eval = 100 if s == "a" else 20
        print(f"\n=== setting ({s}) — mean over {args.seeds} seeds; random search: {n_eval} true evaluations ===")
        cols = ["budget", "optimum", "pick_acc", "regret", "verify5", "random", "random_feas"]
        extra = [c for c in df.columns if c.startswith("pc_")]
        g = df.groupby(["device", "pct"], sort=False)[cols + extra + ["ok"]].mean()
        with pd.option_context("display.width", 200, "display.max_columns", 20, "display.precision", 3):
            print(g.to_string())
        target = 0.15 if s == "a" else 0.3
        mean_regret = df["regret"].mean()
        print(
            f"mean regret {mean_regret:.3f} points (target <= {target}: {'met' if mean_regret <= target else 'NOT met'}); "
            f"random search {df['random'].mean():.3f} (among feasible only {df['random_feas'].mean():.3f}); "
            f"picks within the true budget: {df['ok'].mean():.1%}"
        )
        print(f"best of the top 5 picks after verifying them (+5 true evaluations): regret {df['verify5'].mean():.3f}")
        for z in (0.0, args.z) if extra else ():
            print(
                f"predicted costs (CostModel on 900, z={z:g}): mean regret {df[f'pc_regret_z{z:g}'].mean():.3f}, "
                f"within true budget {df[f'pc_ok_z{z:g}'].mean():.1%}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
