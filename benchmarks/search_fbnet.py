"""Speed and exactness of ``nasgcn search`` (issue 16, benchmark 4), one CPU thread.

Protocol
--------
1. **Baseline, same run**: ``GCNPredictor()`` (default settings) fitted on ``--n-train`` random NB201
   architectures, then ``predict_space`` over all 15,625 (median of ``--repeats``). Labels: the true
   ``c10_test_acc`` when ``--data`` holds the reference files, else a synthetic FLOPs-based target
   (speed does not depend on the labels).
2. **FBNet search**: the same predictor settings fitted on ``--n-train`` random FBNet architectures
   (synthetic target: no FBNet accuracies are public; the search cost does not depend on it), then
   :func:`predictor.search.search` with ``flops_m <= `` the ``--flops-quantile`` of random
   architectures, ``--budget`` (default 100,000) distinct candidates scored, top 10, default method
   (evolution + local search). Reported: wall and CPU time (median over ``--seeds`` seeds), the
   share spent scoring, candidates scored, and the time as a multiple of NB201's ``predict_space``.
   A second setting adds a latency bound at the median of a latency model's predictions, with
   margin ``--z``: the model is ``--cost-model FILE`` or, with ``--data``, a
   :class:`~predictor.latency_model.LatencyModel` fitted on 900 Pixel 3 rows of
   ``fbnet_latency_help.csv``.
3. **NB-Macro exactness**: a GCN fitted on ``--n-train`` architectures (``mean_acc`` of
   ``nasbench_macro_cifar10.csv`` when available, else synthetic), then for FLOPs budgets at the 10th,
   25th and 50th percentile the search's top-1 (budget ``--macro-budget`` classes, a fraction of
   the 3,969) against the exhaustive top-1 of ``predict_space`` under the same budget: same class?
   predicted-value gap, and the true ``mean_acc`` of both picks when the data is there.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/search_fbnet.py [--data ../shared/data] [--seeds 3]
        [--budget 100000] [--cost-model LAT.model]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def _setup_threads() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)


def _median_time(fn, repeats: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``fn()`` (CPU time is what a loaded shared VM distorts least)."""
    wall, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu)


def _nb201_baseline(args, data: Path | None) -> dict[str, float]:
    from predictor.gcn import GCNPredictor
    from predictor.spaces import get_space

    sp = get_space("nb201")
    rng = np.random.default_rng(0)
    idx = rng.choice(sp.size, args.n_train, replace=False)
    ids = sp.all_ids()[idx]
    gt = data / "nb201_cifar10_ground_truth.csv" if data else None
    if gt is not None and gt.exists():
        import csv

        with open(gt, newline="") as fh:
            acc = np.asarray([float(r["c10_test_acc"]) for r in csv.DictReader(fh)])
        y, label = acc[idx], "c10_test_acc"
    else:
        y, label = np.log1p(sp.costs(ids)["flops_m"]) + rng.normal(0, 0.1, idx.size), "synthetic"
    t = time.perf_counter()
    est = GCNPredictor(random_state=0).fit(ids, y)
    fit_s = time.perf_counter() - t
    est.predict_space(return_std=True)  # warm-up (kernel compilation, caches)
    pred_s, pred_cpu = _median_time(lambda: est.predict_space(return_std=True), args.repeats)
    return {"fit_s": fit_s, "predict_space_s": pred_s, "predict_space_cpu_s": pred_cpu, "label": label}


def _latency_source(args, data: Path | None):
    """A pixel3 latency model fitted on 900 HELP measurements (``--data``), or ``--cost-model``, or none."""
    from predictor.search import ModelCosts, load_cost_source

    if args.cost_model:
        return load_cost_source(args.cost_model, "fbnet"), f"--cost-model {args.cost_model}"
    path = data / "fbnet_latency_help.csv" if data else None
    if path is None or not path.exists():
        return None, "none (no --data)"
    try:
        from predictor.latency_model import LatencyModel
    except ImportError:
        return None, "none (predictor.latency_model missing)"
    import csv

    from predictor.spaces import get_space

    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))[:900]
    ids = get_space("fbnet").encode([r["arch_ids"] for r in rows])
    y = np.asarray([float(r["pixel3_latency_ms"]) for r in rows])
    model = LatencyModel(space="fbnet").fit(ids, {"pixel3_latency": y})
    return ModelCosts(model, name="pixel3 latency model"), "pixel3 latency model (900 HELP rows)"


def _fbnet_search(args, data: Path | None) -> dict[str, object]:
    from predictor.gcn import GCNPredictor
    from predictor.search import search
    from predictor.spaces import get_space

    sp = get_space("fbnet")
    rng = np.random.default_rng(0)
    ids = sp.sample(args.n_train, rng)
    c = sp.costs(ids)
    y = np.log1p(c["flops_m"]) - 0.5 * c["params_m"] + rng.normal(0, 0.05, ids.shape[0])  # synthetic target
    t = time.perf_counter()
    est = GCNPredictor(space="fbnet", random_state=0).fit(ids, y)
    fit_s = time.perf_counter() - t
    est.predict(sp.sample(256, 1), return_std=True)  # warm-up
    bound = float(np.quantile(sp.costs(sp.sample(5000, 2))["flops_m"], args.flops_quantile))
    src, src_name = _latency_source(args, data)
    settings = [("flops_m", {"flops_m": bound}, [], 0.0)]
    if src is not None:
        col = src.columns[0]
        lat = float(np.nanmedian(src.predict(sp.sample(5000, 3))[col][0]))
        settings.append((f"flops_m + {col} (z={args.z:g})", {"flops_m": bound, col: lat}, [src], args.z))
    out = {"fit_s": fit_s, "source": src_name, "runs": []}
    for name, cons, sources, z in settings:
        wall, cpu, scored, score_s, best, front = [], [], [], [], [], []
        for seed in range(args.seeds):
            t, c0 = time.perf_counter(), time.process_time()
            res = search(
                sp, _scorer(est), sources, constraints=cons, top_k=10, budget=args.budget, z=z, random_state=seed
            )
            wall.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c0)
            scored.append(res.n_scored)
            score_s.append(res.stats["score_seconds"])
            best.append(float(res.pred[res.top[0]]) if res.top.size else float("nan"))
            front.append(int(res.pareto.size))
            assert res.top.size == 10, "fewer than 10 feasible architectures found"
        out["runs"].append(
            {
                "name": name,
                "constraints": cons,
                "wall_s": statistics.median(wall),
                "wall_max_s": max(wall),
                "cpu_s": statistics.median(cpu),
                "score_s": statistics.median(score_s),
                "scored": min(scored),
                "best": best,
                "front": front,
            }
        )
    return out


def _scorer(est):
    return lambda x: est.predict(x, return_std=True)


def _macro_exactness(args, data: Path | None) -> list[dict[str, object]]:
    from predictor.gcn import GCNPredictor
    from predictor.search import search
    from predictor.spaces import get_space

    sp = get_space("nbmacro")
    ids_all = sp.all_ids()
    truth = None
    path = data / "nasbench_macro_cifar10.csv" if data else None
    if path is not None and path.exists():
        import csv

        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
        order = sp.index_of(sp.encode([r["arch"] for r in rows]))
        truth = np.empty(sp.size)
        truth[order] = [float(r["mean_acc"]) for r in rows]
    flops = sp.costs(ids_all)["flops_m"]
    out = []
    for seed in range(args.seeds):
        rng = np.random.default_rng(100 + seed)
        idx = rng.choice(sp.size, args.n_train, replace=False)
        y = truth[idx] if truth is not None else np.log1p(flops[idx]) + rng.normal(0, 0.05, idx.size)
        est = GCNPredictor(space="nbmacro", random_state=seed).fit(ids_all[idx], y)
        pred, _ = est.predict_space(return_std=True)
        score = _scorer(est)
        for q in (0.1, 0.25, 0.5):
            bound = float(np.quantile(flops, q))
            ok = np.flatnonzero(flops <= bound)
            best = ok[np.argmax(pred[ok])]
            res = search(sp, score, constraints={"flops_m": bound}, budget=args.macro_budget, random_state=seed)
            pick = int(sp.index_of(res.ids[res.top[:1]])[0])
            out.append(
                {
                    "seed": seed,
                    "quantile": q,
                    "same_class": bool(sp.iso_class(ids_all[[pick]])[0] == sp.iso_class(ids_all[[best]])[0]),
                    "pred_gap": float(pred[best] - res.pred[res.top[0]]),
                    "true_search": float(truth[pick]) if truth is not None else float("nan"),
                    "true_exhaustive": float(truth[best]) if truth is not None else float("nan"),
                    "scored": res.n_scored,
                }
            )
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=None, help="reference data folder (../shared/data); optional")
    p.add_argument("--n-train", type=int, default=100, help="labelled architectures per predictor (default 100)")
    p.add_argument("--budget", type=int, default=100_000, help="fbnet candidates to score (default 100,000)")
    p.add_argument("--seeds", type=int, default=3, help="search seeds (default 3)")
    p.add_argument("--repeats", type=int, default=5, help="repeats of the NB201 predict_space timing (default 5)")
    p.add_argument("--flops-quantile", type=float, default=0.25, help="fbnet FLOPs budget quantile (default 0.25)")
    p.add_argument("--cost-model", default=None, help="fbnet latency model file to add a latency bound")
    p.add_argument("--z", type=float, default=1.0, help="margin for the latency bound (default 1)")
    p.add_argument("--macro-budget", type=int, default=1000, help="nbmacro classes scored per search (default 1000)")
    p.add_argument("--skip-macro", action="store_true", help="skip the NB-Macro exactness part")
    args = p.parse_args(argv)
    _setup_threads()
    data = args.data if args.data and args.data.exists() else None

    base = _nb201_baseline(args, data)
    fb = _fbnet_search(args, data)
    ps, pc = base["predict_space_s"], base["predict_space_cpu_s"]
    print(f"one thread; NB201 labels: {base['label']}; fbnet latency source: {fb['source']}")
    print(f"{'what':<62} {'wall s':>8} {'CPU s':>8} {'x predict_space wall':>21} {'CPU':>6}")
    rows = [
        (f"NB201 GCNPredictor().fit (n={args.n_train})", base["fit_s"], None),
        ("NB201 predict_space (15,625 archs, median)", ps, pc),
        (f"FBNet GCNPredictor().fit (n={args.n_train})", fb["fit_s"], None),
    ]
    for run in fb["runs"]:
        rows += [
            (f"FBNet search [{run['name']}], {run['scored']:,} scored", run["wall_s"], run["cpu_s"]),
            ("  of which scoring (GCN predict)", run["score_s"], None),
            ("  slowest seed", run["wall_max_s"], None),
        ]
    for name, sec, cpu in rows:
        cpu_txt = f"{cpu:>8.3f}" if cpu is not None else f"{'':>8}"
        ratio_cpu = f"{cpu / pc:>6.1f}" if cpu is not None else f"{'':>6}"
        print(f"{name:<62} {sec:>8.3f} {cpu_txt} {sec / ps:>21.1f} {ratio_cpu}")
    for run in fb["runs"]:
        print(
            f"[{run['name']}] constraints {run['constraints']}: within 10 s: "
            f"{'yes' if run['wall_max_s'] <= 10 else 'NO'}; best pred per seed {np.round(run['best'], 4).tolist()}; "
            f"Pareto front sizes {run['front']}"
        )
    if not args.skip_macro:
        res = _macro_exactness(args, data)
        print(f"\nNB-Macro: search ({args.macro_budget} of 3,969 classes) vs exhaustive top-1 under a FLOPs budget")
        print(f"{'seed':>4} {'quantile':>8} {'same':>5} {'pred gap':>9} {'true search':>12} {'true exhaustive':>16}")
        for r in res:
            print(
                f"{r['seed']:>4} {r['quantile']:>8.2f} {str(r['same_class']):>5} {r['pred_gap']:>9.4f} "
                f"{r['true_search']:>12.3f} {r['true_exhaustive']:>16.3f}"
            )
        print(f"same top-1 class: {sum(r['same_class'] for r in res)}/{len(res)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
