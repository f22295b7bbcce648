"""Search strategies on NAS-Bench-201: the CLI loop, DC-NAS clusters, an IRLAS prior, diverse top 5.

Sections (``--sections``, default ``cli``):

1. ``cli`` — the loop a user runs, on the ``oneshot_baseline`` supernet runs of
   ``nb201_supernet_acc.csv`` (17): ``nasgcn fit`` on 100 random supernet labels (seed ``s`` draws
   them), then 4 rounds of ``nasgcn suggest MODEL --k 5 --exclude NEXT...`` (defaults: 3 untested
   mutations once accurate values are known), the suggestions "trained" by a ground-truth lookup
   (``c10_test_acc_fewshotgt``) and appended to the ``--accurate`` log of the next ``nasgcn fit``;
   after round 4 one more fit and ``suggest`` prints the current pick (measured values overlaid,
   unmeasured predictions lowered by the model's optimism on its earlier suggestions). Every command
   runs in-process through ``predictor.cli.main`` (the same code as the shell). ``--api`` runs
   :func:`predictor.acquisition.sequential_search` with the same settings beside it. Figures: true
   accuracy of the pick and the best of the 20 measured, mean over the runs. Target >= 94.2.
2. ``dcnas`` — DC-NAS as a selection rule on the supernet scores alone: clusters (``--clusters``,
   from ``nasgcn supernet cluster``; unlabelled architectures take their nearest labelled one's
   cluster) against the supernet's own ranking: true accuracy of the top-1 and the best of the top
   10; and as the budget allocation of the sequential search (``clusters=``, K = 20) against the
   default rule, ``--seeds`` seeds.
3. ``diverse`` — constrained lookup from 100 random true labels (``benchmarks/constrained_nb201.py``
   (a)): the best true accuracy among the top 5 a user would retrain, plain (one per isomorphism
   class) and spread over clusters (each of the 5 from another cluster), regret against the optimum
   under each HW-NAS-Bench device's 10/25/50th latency percentile.

Measured (2-core VM, one thread per process; clusters: ``nasgcn supernet cluster`` with K = 8 on all
6,466 classes of a CPU NB201 supernet trained for this, 20 epochs, 12k CIFAR-10 npz images, C=8,
N=1, 32 px, ``--sampler weighted``, validation acc 40 %; cluster sizes 657-1,060, 1,062-3,196 after
expansion to the 15,625 architectures):

1. CLI loop, all 17 runs (pick = true accuracy of the final ``suggest``'s "current pick"; it was the
   best measured cell in every run): seed 0 94.29 (13 of 17 runs >= 94.2), seed 1 94.13 (8/17),
   seed 2 94.09 (9/17): mean 94.17. With ``--api`` (seed 0), ``sequential_search`` chose the same
   20 cells in 17 of 17 runs and picked the same (94.29). Seeds 3-9 (a later run, same code path
   for these commands): 94.33 (16/17), 94.22 (13/17), 94.29 (15/17), 94.19 (11/17), 94.26 (13/17),
   94.07 (8/17), 94.29 (15/17): mean 94.24. Over the 10 seeds the default loop picks **94.22** on
   average (target 94.2 met; seeds 0-2 alone sit at the low end of the spread), as
   ``predictor_nb201.py`` measured the same rule through the API (94.23 over seeds 0-9).
   A min-distance rule for the model's picks of a round (each at least 2 edges from the others:
   94.19 / 94.13 on seeds 0 / 1 against 94.18 / 94.12 by default; also 2 edges from every measured
   cell: 94.16 / 94.02; a scratch run of ``sequential_search`` with 60-epoch intermediate refits)
   gained nothing, so it is not an option.
   With ``--cli-clusters`` (every ``suggest`` gets ``--clusters``: from round 2 on the model's two
   picks a round go one per cluster, full 150-epoch refits): seed 0 94.33 (15/17), seed 1 94.30
   (13/17), seed 2 94.26 (13/17; in one run the pick was not the best measured cell): mean 94.30,
   the target is met.
2. DC-NAS, 17 runs. (a) Selection on supernet scores alone: top-1 92.81 (supernet) vs 92.81 (merge
   ``score``, by construction) / 92.79 (``cluster_mean``) / 89.06 (``zscore``); best of the top 10
   93.47 (supernet's own top 10) vs 94.06 / 94.06 / 94.07 (the cluster winners).
   (b) Allocation (K = 20, rounds of 5, 3 untested mutations a round, intermediate refits 60
   epochs, the last 150, both arms from one noisy-only fit per run): default 94.18 / 94.12 / 94.05
   on seeds 0 / 1 / 2 (mean 94.12) against clusters 94.30 / 94.29 / 94.31 (mean 94.30): the
   allocation raises the mean pick on every seed; with clusters 14, 13 and 14 of the 17 runs end
   at >= 94.2 (default: 10, 10, 7). The default misses mostly by stopping at the all-3x3 cell (93.76-93.79); spreading
   the model's two picks a round over clusters reaches the skip_connect-on-edge-3<-0 cells.
3. Diverse top 5 (10 seeds 0-9, 6 devices x 3 budgets; the rules of ``nasgcn query``): mean regret
   of the best of the top 5: plain (one per isomorphism class) 0.304, ``--clusters`` (one per
   cluster first) 0.306, ``--min-distance 2`` (every pick at least 2 edges from every better one)
   **0.289**, below plain on 8 of 10 seeds; top-1 0.781. The target <= 0.30 is met by
   ``--min-distance 2`` only, by a small margin: two seeds whose GCN misranks the top (seed 0:
   plain 0.670, seed 8: 0.549) decide the mean, and on seeds 0-2 alone every rule is above it
   (plain 0.371, clusters 0.363, min-distance 0.335). Rules that force more diversity are worse
   (scratch run, same protocol: 3 edges apart 0.293; one pick per count of 3x3 convolutions 0.461;
   per op on edge 3<-0 0.424), and so is a portfolio that maximizes the ensemble's expected best of
   5 (0.331) or mixing in a ridge model's picks (0.345-0.391): the picks' quality is bounded by the
   GCN trained on 100 labels, not by how they are spread.

Usage::

    python benchmarks/search_strategies.py --data ../shared/data --sections cli --seeds 0 --api
    python benchmarks/search_strategies.py --data ../shared/data --sections dcnas,diverse \\
        --clusters clusters.csv --seeds 0,1,2
    python benchmarks/search_strategies.py --data ../shared/data --sections diverse \\
        --clusters clusters.csv --seeds 0,1,2,3,4,5,6,7,8,9      # the diverse table above, 3 min
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

DEVICES = ("edgegpu", "raspi4", "edgetpu", "pixel3", "eyeriss", "fpga")
PERCENTILES = (10, 25, 50)


def default_data() -> Path:
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


def load(data: Path):
    """Space, true accuracy (space order) and the supernet runs' labels (space order, by run name)."""
    import pandas as pd

    from predictor.spaces import get_space

    sp = get_space("nb201")
    gt = pd.read_csv(data / "nb201_cifar10_ground_truth.csv")
    order = sp.index_of(sp.encode(list(gt["arch_str"])))
    truth = np.full(sp.size, np.nan)
    truth[order] = gt["c10_test_acc_fewshotgt"].to_numpy(dtype=np.float64)
    runs = pd.read_csv(data / "nb201_supernet_runs.csv")
    acc = pd.read_csv(data / "nb201_supernet_acc.csv")
    acc_order = sp.index_of(sp.encode(list(acc["arch_str"])))
    labels = {}
    for run in runs.loc[runs["family"] == "oneshot_baseline", "run"]:
        lab = np.full(sp.size, np.nan)
        lab[acc_order] = acc[run].to_numpy(dtype=np.float64)
        labels[run] = lab
    return sp, truth, labels


def write_log(path: Path, archs: list[str], column: str, values) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["arch_str", column])
        for a, v in zip(archs, values, strict=True):
            w.writerow([a, repr(float(v))])


@contextlib.contextmanager
def quiet():
    """The commands' own output (one block per fit and suggestion) would drown the table."""
    logging.disable(logging.INFO)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logging.disable(logging.NOTSET)


def cli_loop(
    sp, truth, label, seed: int, workdir: Path, rounds: int = 4, k: int = 5, n_noisy: int = 100, clusters=None
) -> dict:
    """The user's loop through ``nasgcn fit`` / ``nasgcn suggest``; returns the pick and what was measured."""
    from predictor.cli.main import main
    from predictor.table import read_csv

    rng = np.random.default_rng(seed)
    tr = rng.choice(sp.size, n_noisy, replace=False)
    ids = sp.all_ids()
    noisy = workdir / "noisy.csv"
    write_log(noisy, sp.decode(ids[tr]), "supernet_acc", label[tr])
    acc_path = workdir / "accurate.csv"
    archs: list[str] = []
    values: list[float] = []
    nexts: list[str] = []
    model = str(workdir / "model.pt")

    def fit() -> None:
        argv = ["fit", str(noisy), "--target", "supernet_acc", "--seed", str(seed), "--out", model, "--quiet"]
        if archs:
            write_log(acc_path, archs, "test_acc", values)
            argv += ["--accurate", str(acc_path), "--accurate-target", "test_acc"]
        if main(argv) != 0:
            raise RuntimeError(f"nasgcn fit failed: {argv}")

    def suggest(n: int, out: Path) -> dict:
        argv = ["suggest", model, "--k", str(n), "--seed", str(seed), "--out", str(out)]
        if clusters is not None:
            argv += ["--clusters", str(clusters)]
        if nexts:
            argv += ["--exclude", *nexts]
        if main(argv) != 0:
            raise RuntimeError(f"nasgcn suggest failed: {argv}")
        return read_csv(out)

    for r in range(rounds):
        fit()
        out = workdir / f"next{r + 1}.csv"
        frame, _ = suggest(k, out)
        chosen = list(frame["arch_str"])
        archs += chosen
        values += truth[sp.index_of(sp.encode(chosen))].tolist()
        nexts.append(str(out))
    fit()
    _, meta = suggest(1, workdir / "final.csv")
    pick = meta["pick"]
    return {
        "pick": float(truth[sp.index_of(sp.encode([pick["arch_str"]]))[0]]),
        "pick_measured": bool(pick["measured"]),
        "best": float(np.max(values)),
        "archs": archs,
    }


def api_loop(sp, truth, label, seed: int, n_noisy: int = 100, **kw) -> dict:
    """:func:`sequential_search` with the settings of the CLI loop."""
    from predictor.acquisition import sequential_search

    rng = np.random.default_rng(seed)
    tr = rng.choice(sp.size, n_noisy, replace=False)
    ids = sp.all_ids()
    res = sequential_search(
        ids[tr],
        label[tr],
        lambda a: truth[sp.index_of(sp.encode(a))],
        k=20,
        batch=5,
        mutate=kw.pop("mutate", 3),
        mutate_rule=kw.pop("mutate_rule", "untested"),
        random_state=seed,
        **kw,
    )
    return {
        "pick": float(truth[res.best]),
        "best": float(np.nanmax(res.measured_y)),
        "archs": sp.decode(ids[res.measured]),
    }


def section_cli(args, sp, truth, labels) -> None:
    extra = f" --clusters {args.cli_clusters.name}" if args.cli_clusters else ""
    print(f"\n## 1. The CLI loop: nasgcn fit (100 supernet labels) + 4 x nasgcn suggest --k 5{extra}, then the pick")
    print(f"   best true accuracy {np.nanmax(truth):.2f}; target: pick >= 94.2 on average\n")
    head = f"{'run':>42} {'seed':>4} {'cli pick':>8} {'cli best':>8} {'s':>5}"
    if args.api:
        head += f" {'api pick':>8} {'api best':>8} {'same archs':>10} {'s':>5}"
    print(head)
    rows = []
    names = list(labels)[args.first_run :][: args.runs]
    for seed in args.seeds:
        for run in names:
            with tempfile.TemporaryDirectory() as tmp, quiet():
                t0 = time.perf_counter()
                c = cli_loop(sp, truth, labels[run], seed, Path(tmp), clusters=args.cli_clusters)
                tc = time.perf_counter() - t0
            line = f"{run[-42:]:>42} {seed:>4} {c['pick']:>8.2f} {c['best']:>8.2f} {tc:>5.0f}"
            row = {"seed": seed, "cli_pick": c["pick"], "cli_best": c["best"]}
            if args.api:
                t0 = time.perf_counter()
                a = api_loop(sp, truth, labels[run], seed)
                ta = time.perf_counter() - t0
                same = a["archs"] == c["archs"]
                line += f" {a['pick']:>8.2f} {a['best']:>8.2f} {str(same):>10} {ta:>5.0f}"
                row.update(api_pick=a["pick"], api_best=a["best"], same=same)
            rows.append(row)
            print(line)
            sys.stdout.flush()
    print("\n   mean over runs")
    for seed in args.seeds:
        sel = [r for r in rows if r["seed"] == seed]
        text = (
            f"   seed {seed}: cli pick {np.mean([r['cli_pick'] for r in sel]):.2f} "
            f"(>= 94.2: {sum(r['cli_pick'] >= 94.2 for r in sel)}/{len(sel)}), best measured "
            f"{np.mean([r['cli_best'] for r in sel]):.2f}"
        )
        if args.api:
            text += (
                f"; api pick {np.mean([r['api_pick'] for r in sel]):.2f}, best "
                f"{np.mean([r['api_best'] for r in sel]):.2f}; same 20 architectures in "
                f"{sum(r['same'] for r in sel)}/{len(sel)} runs"
            )
        print(text)
    print(f"   all seeds: cli pick {np.mean([r['cli_pick'] for r in rows]):.2f} (target 94.2)")


def whole_space_clusters(path: Path, sp) -> np.ndarray:
    """Cluster labels for every architecture from a CLUSTERS.csv (what ``--clusters`` reads)."""
    from predictor.proposals import read_clusters

    return read_clusters(str(path), sp.name)


def section_dcnas(args, sp, truth, labels) -> None:
    from supernet.cluster import MERGES, select_by_cluster

    clusters = whole_space_clusters(args.clusters, sp)
    k = int(clusters.max()) + 1
    sizes = np.bincount(clusters, minlength=k)
    print(f"\n## 2. DC-NAS: {k} clusters from {args.clusters.name} (sizes {sizes.min()}-{sizes.max()}), 17 runs")
    print("   (a) selection on the supernet scores alone: true accuracy of the top-1 and the best of the top 10")
    dead = sp.is_dead(sp.all_ids())
    names = list(labels)[args.first_run :][: args.runs]
    rows = {m: [] for m in ("supernet", *MERGES)}
    for run in names:
        score = np.where(dead, np.nan, labels[run])
        order = np.argsort(-np.nan_to_num(score, nan=-np.inf), kind="stable")
        cls = sp.iso_class(sp.all_ids())
        _, first = np.unique(cls[order], return_index=True)
        top = order[np.sort(first)][:10]  # the supernet's own top 10, one per isomorphism class
        rows["supernet"].append((truth[top[0]], truth[top].max()))
        for m in MERGES:
            one = np.where(np.isin(np.arange(sp.size), order[np.sort(first)]), score, np.nan)  # one per class
            pick = select_by_cluster(one, clusters, top=10, merge=m)
            rows[m].append((truth[pick[0]], truth[pick].max()))
    print(f"   {'rule':<22}{'top-1':>8}{'best of 10':>12}{'min top-1':>11}")
    for m, vals in rows.items():
        v = np.asarray(vals)
        name = "supernet ranking" if m == "supernet" else f"DC-NAS, merge={m}"
        print(f"   {name:<22}{v[:, 0].mean():>8.2f}{v[:, 1].mean():>12.2f}{v[:, 0].min():>11.2f}")
    if args.no_alloc:
        return
    print("\n   (b) budget allocation of the sequential search (K = 20, rounds of 5, 3 untested mutations a round):")
    print("       the rest of each later round by the model (default) or spread over clusters (clusters=);")
    print(f"       intermediate refits {args.round_epochs or 150} epochs, the last 150; both from one noisy-only fit")
    print(f"   {'run':>42} {'seed':>4} {'default':>8} {'clusters':>9}")
    res = []
    from predictor.noisy import fit_noisy_accurate

    for seed in args.seeds:
        for run in names:
            rng = np.random.default_rng(seed)
            tr = rng.choice(sp.size, 100, replace=False)
            start = fit_noisy_accurate(sp.all_ids()[tr], labels[run][tr], random_state=seed)
            kw = {"initial": start, "round_epochs": args.round_epochs}
            a = api_loop(sp, truth, labels[run], seed, **kw)
            b = api_loop(sp, truth, labels[run], seed, clusters=clusters, cluster_share=args.cluster_share, **kw)
            res.append((seed, a["pick"], b["pick"]))
            print(f"   {run[-42:]:>42} {seed:>4} {a['pick']:>8.2f} {b['pick']:>9.2f}", flush=True)
    r = np.asarray(res)
    for seed in args.seeds:
        sel = r[r[:, 0] == seed]
        print(f"   seed {seed}: default {sel[:, 1].mean():.2f}, clusters {sel[:, 2].mean():.2f}")
    print(f"   all: default {r[:, 1].mean():.2f}, clusters {r[:, 2].mean():.2f} (target: clusters raise the mean pick)")


def section_diverse(args, sp, truth_fewshot, data: Path) -> None:
    """Constrained lookup from 100 random true labels: best of the top 5, plain, one per cluster, or spread apart.

    The three rules are those of ``nasgcn query`` (:func:`predictor.query.query`): one row per isomorphism
    class (the default), ``--clusters`` (each cluster's best first) and ``--min-distance 2``.
    """
    import pandas as pd

    from predictor.gcn import GCNPredictor
    from predictor.query import query

    gt = pd.read_csv(data / "nb201_cifar10_ground_truth.csv")
    order = sp.index_of(sp.encode(list(gt["arch_str"])))
    truth = np.full(sp.size, np.nan)
    truth[order] = gt["c10_test_acc"].to_numpy(dtype=np.float64)
    hw = pd.read_csv(data / "hwnasbench_nb201_cifar10.csv")
    hw_order = sp.index_of(sp.encode(list(hw["arch_str"])))
    clusters = whole_space_clusters(args.clusters, sp)
    print("\n## 3. Constrained lookup from 100 random true labels (constrained_nb201.py (a)): best of the top 5")
    print("   regret = optimum under the budget - best true c10_test_acc among the 5 picks (points)")
    print(f"   {'device':>8} {'pct':>4} {'plain top-5':>12} {'clusters':>9} {'min-dist 2':>11} {'top-1':>7}")
    out = []
    ids = sp.all_ids()
    iso = sp.iso_class(ids)
    for seed in args.seeds:
        tr = np.random.default_rng(seed).choice(sp.size, 100, replace=False)
        model = GCNPredictor(loss="rank", random_state=seed).fit(ids[tr], truth[tr])
        pred = model.predict(ids)
        for d in DEVICES:
            lat = np.full(sp.size, np.nan)
            lat[hw_order] = hw[f"{d}_latency"].to_numpy(dtype=np.float64)
            cols = {"pred": pred, "lat": lat, "iso_class": iso}
            for p in PERCENTILES:
                budget = float(np.nanpercentile(lat, p))
                optimum = float(truth[lat <= budget].max())
                kw = {"constraints": {"lat": budget}, "top_k": 5, "unique": True}
                plain = query(cols, **kw)
                spread = query(cols, groups=clusters, **kw)
                apart = query(cols, min_distance=2, ops=ids, **kw)
                regret = [optimum - truth[r].max() for r in (plain, spread, apart)]
                out.append((seed, d, p, *regret, optimum - truth[plain[0]]))
    df = pd.DataFrame(out, columns=["seed", "device", "pct", "plain", "clusters", "apart", "top1"])
    g = df.groupby(["device", "pct"], sort=False)[["plain", "clusters", "apart", "top1"]].mean()
    for (d, p), row in g.iterrows():
        print(
            f"   {d:>8} {p:>4} {row['plain']:>12.3f} {row['clusters']:>9.3f} {row['apart']:>11.3f} {row['top1']:>7.3f}"
        )
    per_seed = df.groupby("seed")[["plain", "clusters", "apart", "top1"]].mean()
    print("   per seed (mean over devices and budgets):")
    for seed, row in per_seed.iterrows():
        print(
            f"   seed {seed:>3} {row['plain']:>12.3f} {row['clusters']:>9.3f} {row['apart']:>11.3f} {row['top1']:>7.3f}"
        )
    print(
        f"   mean over devices, budgets and {len(args.seeds)} seed(s): plain top-5 {df['plain'].mean():.3f}, "
        f"clusters {df['clusters'].mean():.3f}, min-distance 2 {df['apart'].mean():.3f}, "
        f"top-1 {df['top1'].mean():.3f} (target <= 0.30); min-distance 2 below plain on "
        f"{int((per_seed['apart'] < per_seed['plain']).sum())} of {len(per_seed)} seeds"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=default_data(), help="folder with the NB201 reference files")
    p.add_argument("--sections", default="cli", help="comma-separated: cli, dcnas, diverse (default cli)")
    p.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    p.add_argument("--runs", type=int, default=17, help="how many oneshot_baseline runs (default all 17)")
    p.add_argument("--first-run", type=int, default=0, help="skip the first N runs (default 0)")
    p.add_argument("--api", action="store_true", help="cli: run sequential_search beside the CLI loop")
    p.add_argument("--clusters", type=Path, help="dcnas/diverse: CLUSTERS.csv from 'nasgcn supernet cluster'")
    p.add_argument("--cli-clusters", type=Path, help="cli: pass --clusters CLUSTERS.csv to every suggest")
    p.add_argument("--cluster-share", type=float, default=1.0, help="dcnas (b): share of the model's picks by clusters")
    p.add_argument("--no-alloc", action="store_true", help="dcnas: the selection rule only (no sequential searches)")
    p.add_argument("--round-epochs", type=int, default=None, help="dcnas (b): epochs of the intermediate refits (150)")
    args = p.parse_args(argv)
    args.seeds = [int(s) for s in str(args.seeds).split(",")]
    if not (args.data / "nb201_supernet_acc.csv").exists():
        print(f"reference data not found in {args.data} (pass --data ../shared/data)")
        return 1
    import torch

    torch.set_num_threads(1)
    sp, truth, labels = load(args.data)
    sections = args.sections.split(",")
    if "cli" in sections:
        section_cli(args, sp, truth, labels)
    if ("dcnas" in sections or "diverse" in sections) and args.clusters is None:
        print("dcnas/diverse need --clusters CLUSTERS.csv (nasgcn supernet cluster RUN --k K --out CLUSTERS.csv)")
        return 1
    if "dcnas" in sections:
        section_dcnas(args, sp, truth, labels)
    if "diverse" in sections:
        section_diverse(args, sp, truth, args.data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
