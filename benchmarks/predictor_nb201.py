"""GCN predictor on NAS-Bench-201: published protocol, noisy supernet labels, speed.

Sections (``--sections``, default all):

1. ``published`` — train on N random architectures' ``c10valid_valid_acc`` (NATS-Bench,
   ``cifar10-valid``, mean over seeds), Kendall tau against the same column over all 15,625,
   N in {78, 156, 469, 781, 1563}, mean ± std over ``--seeds`` seeds (seed s draws the training
   set and initializes the model). Printed beside PINAT (AAAI 2023), the best published row.
2. ``noisy`` — for each ``oneshot_baseline`` supernet run (``nb201_supernet_runs.csv``): the
   supernet's own Kendall tau against ``c10_test_acc_fewshotgt`` (all, true top 1 %, true top
   5 %) and the true accuracy of its top-1 pick; then the GCN table fitted on N in {100, 300, 1000}
   random supernet labels, and the same plus K in {10, 20, 50} accurate labels (ground truth
   standing for stand-alone retraining), chosen ``random`` (uniform), ``active`` (the K best
   architectures of the noisy-only table, one per isomorphism class, cut-off cells skipped:
   what one would retrain), ``hybrid`` (K/2 random + K/2 active), all at once, or
   ``sequential`` (:func:`predictor.acquisition.sequential_search`: rounds of ``--batch``, refit
   after each (``--round-epochs``, the last refit the default 150), the first batch the best of the
   noisy-only table, each later one ``--mutate`` picks by ``--mutate-rule`` (default: 3, the model's
   best cell for each (edge, op) no measured cell has) and the rest the predicted best).
   All metrics on all 15,625 architectures, for the table *with* the measured values overlaid
   (``nasgcn table`` default, :func:`predictor.noisy.overlay_measured`); ``pick(raw)`` is the
   top-1 of the raw predictions, ``pick(0)`` that of the table without the selection-bias shift
   (:func:`predictor.acquisition.selection_bias`; ``sequential`` only), ``pick(m)`` that with the
   mean overrating alone (no standard deviation added), ``best(K)`` the best true
   accuracy among the K measured. ``--ns``/``--ks`` choose N and K.
3. ``speed`` — fit time on 1,000 labels with the default estimator, and the time to predict all
   15,625 after fit: :meth:`GCNPredictor.predict_space` (compact plan, each node state computed
   once per distinct local pattern, each layer one fused numba loop: :mod:`predictor.kernels`)
   beside the same plan through torch ops (25.7 against 41.4 ms on the 2-core VM, one thread),
   the per-member dense ``forward_dense`` path it replaced (114 ms) and the PyG per-graph ``Batch`` + ``MessagePassing`` path (:meth:`GCNPredictor.predict_sparse`),
   median (and best) of ``--repeats``, same run, same threads. ``--device cuda`` runs it on a GPU,
   where ``predict_space`` takes the dense path: on one H200 (torch 2.11) it predicted all 15,625
   in 6.6 ms against 22.5 ms for the compact plan (launch-bound gathers) and 1.1 s for PyG; the
   fit on 1,000 labels took 21.7 s there, slower than on this CPU (small batches, launch-bound).
   On this CPU, running the 3 members side by side (``3 x hidden`` columns: one GEMM, embedding_bag
   and layer norm per block for all members) was slower than the per-member loop (64.7 against
   50.3 ms, blocks of 1,024 rows; 69.3 against 77.6 ms at 256): the time is arithmetic and memory
   traffic, not call overhead, so it was not kept.

Measured on the 2-core CPU VM (17 runs, K=20, ``sequential``; mean true accuracy of the table's
top-1 pick for ``--seed`` 0 / 1 / ...; target 94.2 on average). The defaults (``--mutate 3
--mutate-rule untested``), the code now:

    N=100   seeds 0-9: 94.18 / 94.12 / 94.05 / 94.33 / 94.19 / 94.33 / 94.37 / 94.29 / 94.28 / 94.14,
            mean 94.23 (122 of 170 runs >= 94.2); top-1 % Kendall tau over the supernet's +0.119 on
            average (+0.077 to +0.145); reproduced exactly with the fused kernels (predictor.kernels)
    N=300   seeds 0-6: 94.34 / 94.24 / 94.10 / 94.18 / 94.28 / 94.13 / 94.30, mean 94.22; top-1 % tau
            +0.160 on average (+0.137 to +0.189)
    N=1000  seeds 0-3: 94.11 / 94.25 / 94.29 / 94.21, mean 94.22; top-1 % tau +0.161

Seeds 5-9 were never used to choose between rules. Other settings (older code, before the
calibration fix of :mod:`predictor.gcn` and the shift's standard deviation, unless marked):

    N=100   greedy (--mutate 0) 94.04 / 94.17 (the code now: 94.14 / 94.10; hybrid 93.75 / 93.69)
            random mutations (--mutate 2 --mutate-rule random) 94.09 / 94.18
            --mutate 2 --mutate-rule novel, seeds 0-4: 94.25 / 94.14 / 93.96 / 94.30 / 94.25 (mean 94.18);
            the code now, seeds 5-9: 94.21 / 94.15 / 94.34 / 94.29 / 94.17 (mean 94.23; untested on
            the same seeds: 94.28)
    N=300   greedy 94.30 / 94.07 (now 94.30 / 94.01)   --mutate 2 novel, seeds 0-2: 94.25 / 94.07 / 94.16
    N=1000  greedy 94.18 / 94.22 (now 94.01 / 94.26)   --mutate 2 novel: 94.16 / 94.31

Only 14 of the 15,625 cells reach 94.2, so the target asks for one of them in most runs. The
outcome of a run is close to binary (it finds the 94.3-94.4 cells around ``skip_connect`` on edge
3<-0 or it stops at 93.76-93.78, the all-3x3 cell or one edit from it), so a mean over 17 runs
moves by about 0.1 between seeds, and the margin over the target (0.02-0.03) is within about one
standard error of the 4 to 10 seeds.
Usage::

    python benchmarks/predictor_nb201.py --data ../shared/data [--sections published,noisy,speed]
        [--seeds 5] [--runs 3] [--ns 100,300,1000] [--ks 10,20,50]
        [--strategies random,active,hybrid,sequential] [--batch 5] [--quick] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

PUBLISHED_N = (78, 156, 469, 781, 1563)
PINAT = (0.549, 0.631, 0.706, 0.761, 0.784)
TARGET = (0.70, 0.76, 0.82, 0.85, 0.88)
NOISY_N = (100, 300, 1000)
ACCURATE_K = (10, 20, 50)


def default_data() -> Path:
    env = os.environ.get("NASGCN_REFERENCE_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


def load(data: Path):
    import pandas as pd

    from predictor.spaces import get_space

    sp = get_space("nb201")
    gt = pd.read_csv(data / "nb201_cifar10_ground_truth.csv")
    order = sp.index_of(sp.encode(gt["arch_str"].tolist()))  # file row -> space index

    def in_space_order(values) -> np.ndarray:
        out = np.full(sp.size, np.nan)
        out[order] = np.asarray(values, dtype=np.float64)
        return out

    return sp, gt, order, in_space_order


def published(args, sp, gt, in_space_order) -> None:
    from predictor.gcn import GCNPredictor
    from predictor.metrics import kendall_tau

    y = in_space_order(gt["c10valid_valid_acc"])
    ids = sp.all_ids()
    ns = PUBLISHED_N[:2] if args.quick else PUBLISHED_N
    print("\n## 1. Published protocol: train on N random c10valid_valid_acc, Kendall tau on all 15,625")
    print(f"   GCNPredictor defaults, seeds 0..{args.seeds - 1}\n")
    print(f"{'N':>6} {'GCN (mean ± std)':>18} {'PINAT':>7} {'target':>7} {'fit s':>7}")
    for n, pinat, target in zip(ns, PINAT, TARGET, strict=False):
        taus, secs = [], []
        for seed in range(args.seeds):
            tr = np.random.default_rng(seed).choice(sp.size, n, replace=False)
            start = time.perf_counter()
            est = GCNPredictor(random_state=seed).fit(ids[tr], y[tr])
            secs.append(time.perf_counter() - start)
            taus.append(kendall_tau(y, est.predict_space()))
        print(f"{n:>6} {np.mean(taus):>10.3f} ± {np.std(taus):.3f} {pinat:>7.3f} {target:>7.2f} {np.mean(secs):>7.1f}")
        sys.stdout.flush()


def noisy(args, sp, gt, order, in_space_order, data: Path) -> None:
    import pandas as pd

    from predictor.acquisition import selection_bias, sequential_search
    from predictor.metrics import kendall_tau, top_kendall_tau
    from predictor.noisy import fit_noisy_accurate, overlay_measured, select_for_retraining

    truth = in_space_order(gt["c10_test_acc_fewshotgt"])
    runs = pd.read_csv(data / "nb201_supernet_runs.csv")
    acc = pd.read_csv(data / "nb201_supernet_acc.csv")
    names = runs.loc[runs["family"] == "oneshot_baseline", "run"].tolist()[args.first_run :][: args.runs]
    ids = sp.all_ids()
    ns = (300,) if args.quick else tuple(int(v) for v in args.ns.split(","))
    ks = (20,) if args.quick else tuple(int(v) for v in args.ks.split(","))
    strategies = args.strategies.split(",")
    print("\n## 2. Noisy supernet labels (oneshot_baseline runs) vs c10_test_acc_fewshotgt, all 15,625")
    print(
        f"   best true accuracy {np.nanmax(truth):.2f}; 'pick' = true accuracy of the table's top-1; seed {args.seed}\n"
    )
    head = (
        f"{'run':>42} {'N':>5} {'K':>3} {'labels':>10} {'tau':>6} {'top1%':>6} {'top5%':>6} {'pick':>6} "
        f"{'pick(raw)':>9} {'pick(0)':>9} {'pick(m)':>9} {'best(K)':>7} {'fit s':>6}"
    )
    print(head)
    rows = []

    def line(run, n, k, what, pred, raw=None, sel=None, secs=float("nan"), unshifted=None, mean_shift=None):
        raw = pred if raw is None else raw
        unshifted = pred if unshifted is None else unshifted
        mean_shift = pred if mean_shift is None else mean_shift
        r = {
            "run": run,
            "n": n,
            "k": k,
            "what": what,
            "tau": kendall_tau(truth, pred),
            "top1": top_kendall_tau(truth, pred, 0.01),
            "top5": top_kendall_tau(truth, pred, 0.05),
            "pick": truth[int(np.nanargmax(pred))],
            "pick_raw": truth[int(np.nanargmax(raw))],
            "pick_unshifted": truth[int(np.nanargmax(unshifted))],
            "pick_mean_shift": truth[int(np.nanargmax(mean_shift))],
            "best_k": float(np.nanmax(truth[sel])) if sel is not None and len(sel) else float("nan"),
            "secs": secs,
        }
        rows.append(r)
        print(
            f"{run[-42:]:>42} {n:>5} {k:>3} {what:>10} {r['tau']:>6.3f} {r['top1']:>6.3f} "
            f"{r['top5']:>6.3f} {r['pick']:>6.2f} {r['pick_raw']:>9.2f} {r['pick_unshifted']:>9.2f} {r['pick_mean_shift']:>9.2f} {r['best_k']:>7.2f} "
            f"{secs:>6.0f}"
        )
        sys.stdout.flush()

    for run in names:
        label = np.full(sp.size, np.nan)
        label[order] = acc[run].to_numpy(dtype=np.float64)
        line(run, 0, 0, "supernet", label)
        for n in ns:
            rng = np.random.default_rng(args.seed)
            tr = rng.choice(sp.size, n, replace=False)
            start = time.perf_counter()
            base_model = fit_noisy_accurate(ids[tr], label[tr], random_state=args.seed)
            base = base_model.predict_space()
            line(run, n, 0, "gcn", base, secs=time.perf_counter() - start)
            for k in ks:
                for strategy in strategies:
                    start = time.perf_counter()
                    rand = np.random.default_rng(1000 + k).choice(sp.size, k, replace=False)
                    if strategy == "sequential":
                        res = sequential_search(
                            ids[tr],
                            label[tr],
                            lambda archs: truth[sp.index_of(sp.encode(archs))],
                            k=k,
                            batch=args.batch,
                            beta=args.beta,
                            local=args.local,
                            mutate=args.mutate,
                            mutate_rule=args.mutate_rule,
                            round_epochs=args.round_epochs,
                            random_state=args.seed,
                            initial=base_model,
                        )
                        secs = time.perf_counter() - start
                        good = np.isfinite(res.measured_y)
                        unshifted, _, _ = overlay_measured(
                            res.raw_pred, None, ids[res.measured[good]], res.measured_y[good]
                        )
                        mean_shift, _, _ = overlay_measured(
                            res.raw_pred - selection_bias(res.history),
                            None,
                            ids[res.measured[good]],
                            res.measured_y[good],
                        )
                        line(run, n, k, strategy, res.pred, res.raw_pred, res.measured, secs, unshifted, mean_shift)
                        continue
                    if strategy == "random":
                        sel = rand
                    elif strategy == "active":
                        sel = select_for_retraining(base, k)
                    else:
                        half = rand[: k // 2]
                        sel = np.concatenate([half, select_for_retraining(base, k - k // 2, exclude=ids[half])])
                    est = fit_noisy_accurate(ids[tr], label[tr], ids[sel], truth[sel], random_state=args.seed)
                    raw, std = est.predict_space(return_std=True)
                    table, _, _ = overlay_measured(raw, std, ids[sel], truth[sel])
                    line(run, n, k, strategy, table, raw, sel, time.perf_counter() - start)

    print("\n   mean over runs")
    sup = [r for r in rows if r["what"] == "supernet"]
    sup_top1 = np.mean([r["top1"] for r in sup])
    print(
        f"{'supernet':>20} tau {np.mean([r['tau'] for r in sup]):.3f} top1% {sup_top1:.3f} "
        f"top5% {np.mean([r['top5'] for r in sup]):.3f} pick {np.mean([r['pick'] for r in sup]):.2f}"
    )
    for n in ns:
        for k, what in [(0, "gcn")] + [(k, s) for k in ks for s in strategies]:
            sel = [r for r in rows if r["n"] == n and r["k"] == k and r["what"] == what]
            if not sel:
                continue
            top1 = np.mean([r["top1"] for r in sel])
            picks = [r["pick"] for r in sel]
            print(
                f"{f'N={n} K={k} {what}':>22} tau {np.mean([r['tau'] for r in sel]):.3f} top1% {top1:.3f} "
                f"(supernet {top1 - sup_top1:+.3f}) top5% {np.mean([r['top5'] for r in sel]):.3f} "
                f"pick {np.mean(picks):.2f} (min {np.min(picks):.2f}, raw {np.mean([r['pick_raw'] for r in sel]):.2f}, "
                f"unshifted {np.mean([r['pick_unshifted'] for r in sel]):.2f}, "
                f"mean shift {np.mean([r['pick_mean_shift'] for r in sel]):.2f}, "
                f">= 94.2: {np.sum(np.asarray(picks) >= 94.2)}/{len(picks)}) best(K) {np.mean([r['best_k'] for r in sel]):.2f}"
            )
    print("   targets: pick >= 94.2 on average with K <= 20; top1% >= supernet + 0.1")


def speed(args, sp, gt, in_space_order) -> None:
    from predictor.gcn import GCNPredictor
    from predictor.kernels import fused_available

    y = in_space_order(gt["c10valid_valid_acc"])
    ids = sp.all_ids()
    tr = np.random.default_rng(0).choice(sp.size, 1000, replace=False)
    where = "CPU" if args.device == "cpu" else args.device
    print(f"\n## 3. Speed ({args.threads} torch thread(s), {where}, {args.repeats} repeats)\n")
    start, cpu = time.perf_counter(), time.process_time()
    est = GCNPredictor(random_state=0, device=args.device).fit(ids[tr], y[tr])
    fit_s, fit_cpu = time.perf_counter() - start, time.process_time() - cpu
    print(
        f"fit on 1,000 labels ({est.ensemble} members, {est.n_epochs_} epochs): {fit_s:.1f} s wall, "
        f"{fit_cpu:.1f} s CPU   (target <= 20 s)"
    )

    def timed(fn, repeats):
        """Median wall, best wall and median CPU seconds of ``repeats`` calls (the machine may be shared)."""
        fn()
        wall, cpu = [], []
        for _ in range(repeats):
            t, c = time.perf_counter(), time.process_time()
            fn()
            wall.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        return float(np.median(wall)), min(wall), float(np.median(cpu))

    def dense(model):
        """The per-member ``forward_dense`` path ``predict`` used before the compact plan (baseline)."""
        out = model._member_outputs(ids, path="dense").astype(np.float64) * model.y_std_ + model.y_mean_
        return out.mean(0), out.std(0)

    one = GCNPredictor(ensemble=1, epochs=1, random_state=0, device=args.device).fit(ids[tr], y[tr])
    sub = ids[:: max(1, sp.size // 2000)]
    scale = sp.size / len(sub)
    live = ~sp.is_dead(ids)  # cut-off cells are predicted at their real value (dead_value), not by the network
    fast = est.predict_space()
    assert np.allclose(dense(est)[0][live], fast[live], rtol=1e-5, atol=1e-6)
    k = est.ensemble
    print(f"{'path (all 15,625, incl. pred_std)':>44} {'wall ms (median)':>16} {'(best)':>8} {'CPU ms (median)':>15}")
    default = "dense" if args.device.startswith("cuda") else "compact"

    def torch_ops(model):
        """The compact plan through torch ops (``embedding_bag``, ``layer_norm`` …), as without numba."""
        old = os.environ.get("NASGCN_NO_NUMBA")
        os.environ["NASGCN_NO_NUMBA"] = "1"
        try:
            return model._grouped_outputs(None, "compact")
        finally:
            if old is None:
                del os.environ["NASGCN_NO_NUMBA"]
            else:
                os.environ["NASGCN_NO_NUMBA"] = old

    fused = "fused numba kernels" if fused_available() else "numba missing: torch ops"
    rows = [
        (f"predict_space, K={k} ({default}: default here)", timed(lambda: est.predict_space(True), args.repeats), 1),
        (f"compact plan, K={k} ({fused})", timed(lambda: est._grouped_outputs(None, "compact"), args.repeats), 1),
        (f"compact plan, K={k}, torch ops", timed(lambda: torch_ops(est), args.repeats), 1),
        (f"dense per-member forward_dense, K={k}", timed(lambda: dense(est), args.repeats), 1),
        ("predict_space, K=1", timed(lambda: one.predict_space(True), args.repeats), 1),
        (f"PyG Batch + MessagePassing, K={k}", timed(lambda: est.predict_sparse(sub), 1), scale),
    ]
    for name, (med, low, cpu), factor in rows:
        print(f"{name:>44} {med * factor * 1e3:>16.1f} {low * factor * 1e3:>8.1f} {cpu * factor * 1e3:>15.1f}")
    print(f"   (PyG path timed on {len(sub)} architectures and scaled; target for predict_space <= 50 ms on CPU)")
    print(f"   speed-up compact vs dense, K={k}: {rows[3][1][0] / rows[1][1][0]:.1f}x")
    print(f"   speed-up fused kernels vs torch ops, K={k}: {rows[2][1][0] / rows[1][1][0]:.1f}x")
    print(f"   speed-up predict_space vs PyG, K={k}: {rows[5][1][0] * scale / rows[0][1][0]:.0f}x")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=default_data(), help="reference data folder")
    p.add_argument("--sections", default="published,noisy,speed")
    p.add_argument("--seeds", type=int, default=5, help="seeds for the published protocol (5)")
    p.add_argument("--runs", type=int, default=3, help="oneshot_baseline runs to use (3; 17 exist)")
    p.add_argument("--first-run", type=int, default=0, help="skip the first runs (to split the work; 0)")
    p.add_argument(
        "--strategies",
        default="random,hybrid,sequential",
        help="accurate-label choice: random,active,hybrid,sequential (default random,hybrid,sequential)",
    )
    p.add_argument("--ns", default=",".join(map(str, NOISY_N)), help="noisy label counts N (100,300,1000)")
    p.add_argument("--ks", default=",".join(map(str, ACCURATE_K)), help="accurate label counts K (10,20,50)")
    p.add_argument("--batch", type=int, default=5, help="accurate labels per round for 'sequential' (5)")
    p.add_argument(
        "--seed", type=int, default=0, help="noisy section: draws the N labelled architectures and seeds the GCN (0)"
    )
    p.add_argument(
        "--local", type=int, default=0, help="'sequential': search near the LOCAL best measured cells (0: off)"
    )
    p.add_argument(
        "--mutate",
        type=int,
        default=3,
        help="'sequential': picks per later round chosen by --mutate-rule, not by the model alone (3)",
    )
    p.add_argument(
        "--mutate-rule",
        choices=("random", "novel", "untested"),
        default="untested",
        help="how --mutate picks: random one-edit neighbours of the best measured cell, the neighbours whose "
        "changed ops were measured least (novel), or the model's best cell for each untried (edge, op) "
        "(untested, the default)",
    )
    p.add_argument("--beta", type=float, default=0.0, help="UCB weight of pred_std for 'sequential' (0: greedy)")
    p.add_argument(
        "--round-epochs", type=int, default=60, help="epochs of the intermediate refits of 'sequential' (60)"
    )
    p.add_argument("--repeats", type=int, default=5, help="timing repeats (5)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1)")
    p.add_argument("--device", default="cpu", help="where the speed section fits and predicts: cpu or cuda[:N]")
    p.add_argument("--quick", action="store_true", help="reduced grid (N in {78, 156}; N=300, K=20)")
    args = p.parse_args(argv)
    if not (args.data / "nb201_cifar10_ground_truth.csv").exists():
        print(f"reference data not found at {args.data} (use --data or NASGCN_REFERENCE_DATA)", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(args.threads)
    sp, gt, order, in_space_order = load(args.data)
    sections = args.sections.split(",")
    if "published" in sections:
        published(args, sp, gt, in_space_order)
    if "noisy" in sections:
        noisy(args, sp, gt, order, in_space_order, args.data)
    if "speed" in sections:
        speed(args, sp, gt, in_space_order)
    return 0


if __name__ == "__main__":
    sys.exit(main())
