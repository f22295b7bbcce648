"""Benchmark: does Supernet Shifting improve the ranking of the top candidates?

On a small CPU supernet trained on the CIFAR-10 images of the reference folder
(``$NASGCN_REFERENCE_DATA`` or ``../shared/data``), measure

* Kendall tau between the supernet's scores and NAS-Bench-201's ``c10_test_acc``
  among the lookup table's top-N candidates under a budget, **before and after**
  shifting;
* the true accuracy (``c10_test_acc``) of the final pick of the shifted search versus
  the pick of the *same* evolutionary search on the unshifted supernet
  (``steps_per_candidate=0``: the baseline, run in the same process) and the pick of
  the lookup table alone.

    .venv/bin/python benchmarks/shifting_cifar_small.py --quick      # a few minutes
    .venv/bin/python benchmarks/shifting_cifar_small.py              # <= ~30 min on 2 cores

The supernet/label/fit/table/query stages run through the pipeline, cached under
``--out``: a rerun (or the full run after ``--quick``, for the stages they share)
reuses them. Only the reference data is read; nothing is copied into the repo.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

QUICK = {
    "data": {"limit_train": 4000, "input_size": 16},
    "supernet": {"channels": 8, "cells": 1, "epochs": 4, "batch_size": 128, "lr": 0.05},
    "label": {"num_archs": 120, "eval_images": 500},
    "fit": {"epochs": 80, "ensemble": 2, "refit": True},
    "shift": dict(
        population=8,
        keep=3,
        mutations=4,
        crossovers=3,
        generations=3,
        steps_per_candidate=4,
        lr=0.005,
        batch_size=128,
        eval_batches=1,
        eval_batch_size=500,
        final_top=5,
    ),
}
FULL = {
    "data": {"limit_train": 18000, "input_size": 16},
    "supernet": {"channels": 8, "cells": 1, "epochs": 12, "batch_size": 128, "lr": 0.05},
    "label": {"num_archs": 300, "eval_images": 1000},
    "fit": {"epochs": 150, "ensemble": 3, "refit": True},
    "shift": dict(
        population=16,
        keep=5,
        mutations=8,
        crossovers=7,
        generations=6,
        steps_per_candidate=10,
        lr=0.005,
        batch_size=128,
        eval_batches=2,
        eval_batch_size=500,
        final_top=5,
    ),
}


def _reference() -> Path:
    env = os.environ.get("NASGCN_REFERENCE_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a few-minute version")
    ap.add_argument("--out", default=None, help="work directory (default: runs/bench_shifting_{quick,full})")
    ap.add_argument("--top", type=int, default=50, help="candidates whose ranking is measured (50)")
    ap.add_argument("--max-flops", type=float, default=100.0, help="budget flops_m (NB201 CIFAR macro) (100)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shift-lr", type=float, help="override the shifting learning rate of the preset")
    ap.add_argument("--steps", type=int, help="override the shifting steps per candidate of the preset")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--progress", action="store_true")
    args = ap.parse_args(argv)

    import pandas as pd
    import torch

    from predictor.lookup import LookupTable
    from predictor.metrics import kendall_tau
    from supernet.data import Normalizer, load_data
    from supernet.pipeline import Pipeline, parse_config
    from supernet.shifting import ShiftingConfig, SupernetShifting, make_constraint
    from supernet.train import load_supernet

    torch.set_num_threads(args.threads)
    ref = _reference()
    if not (ref / "cifar10_train_part1.npz").exists():
        print(f"reference data not found at {ref}; set NASGCN_REFERENCE_DATA", file=sys.stderr)
        return 2
    preset = QUICK if args.quick else FULL
    preset = {**preset, "shift": dict(preset["shift"])}
    if args.shift_lr is not None:
        preset["shift"]["lr"] = args.shift_lr
    if args.steps is not None:
        preset["shift"]["steps_per_candidate"] = args.steps
    out = Path(args.out or f"runs/bench_shifting_{'quick' if args.quick else 'full'}")
    cfg = parse_config(
        {
            "run": {"name": "shifting benchmark", "seed": args.seed, "progress": args.progress},
            "data": {
                "dataset": "npz",
                "root": str(ref.resolve()),
                "val_fraction": 0.1,
                "augment": "on",
                **preset["data"],
            },
            "supernet": preset["supernet"],
            "label": preset["label"],
            "fit": preset["fit"],
            "query": {"top_k": args.top, "targets": [{"name": "budget", "max": {"flops_m": args.max_flops}}]},
            "shift": {"enabled": False},
            "retrain": {"enabled": False},
        },
        "<benchmark>",
    )
    t0 = time.perf_counter()
    pipe = Pipeline(cfg, out, progress=args.progress)
    for stage in ("supernet", "label", "fit", "table", "query"):
        pipe.run(only=stage)
    t_stages = time.perf_counter() - t0

    gt = pd.read_csv(ref / "nb201_cifar10_ground_truth.csv").set_index("arch_str")["c10_test_acc"]
    qdir = pipe.stage_dir("query")
    table = LookupTable.read_csv(qdir / "table.csv")
    cands = LookupTable.read_csv(qdir / "candidates-budget.csv")
    archs = list(cands["arch_str"])
    truth = gt.loc[archs].to_numpy(float)
    constraint = make_constraint({"flops_m": args.max_flops}, table=table)
    budget_ok = constraint(_ids(table["arch_str"]))
    oracle = float(gt.loc[list(table["arch_str"][budget_ok])].max())

    def search(steps: int, tag: str) -> dict:
        model, ckpt = load_supernet(pipe.stage_dir("supernet"), "cpu")
        c = ckpt["config"]
        data = load_data(
            c["dataset"],
            c["data_root"],
            False,
            c["val_fraction"],
            c["seed"],
            c["limit_train"],
            c["input_size"],
            c["augment"],
        )
        scfg = ShiftingConfig(**{**preset["shift"], "steps_per_candidate": steps})
        sh = SupernetShifting(
            model,
            data.train,
            data.val,
            scfg,
            constraint=constraint,
            run_dir=out
            / f"search-{tag}-{hashlib.sha256(json.dumps(scfg.to_dict(), sort_keys=True).encode()).hexdigest()[:8]}",
            random_state=args.seed,
            progress=args.progress,
            transform=Normalizer(data.mean, data.std),
        )
        t = time.perf_counter()
        before = sh.evaluate(archs)
        res = sh.run(seeds=archs[:10])
        after = sh.evaluate(archs)
        return {
            "before": before,
            "after": after,
            "pick": res.best_arch,
            "seconds": time.perf_counter() - t,
            "visited": sum(len(r["candidates"]) for r in res.trajectory),
        }

    base = search(0, "unshifted")
    shifted = search(preset["shift"]["steps_per_candidate"], "shifted")
    rows = [
        (f"Kendall tau vs c10_test_acc, top-{len(archs)} candidates", "", ""),
        ("  supernet before shifting", f"{kendall_tau(truth, base['before']):.3f}", ""),
        ("  supernet after shifting", f"{kendall_tau(truth, shifted['after']):.3f}", ""),
        ("  GCN prediction (lookup table)", f"{kendall_tau(truth, cands['pred']):.3f}", ""),
        ("true c10_test_acc of the final pick", "", ""),
        ("  lookup table alone", f"{gt.loc[archs[0]]:.2f}", archs[0]),
        ("  evolution, unshifted supernet (baseline)", f"{gt.loc[base['pick']]:.2f}", base["pick"]),
        ("  evolution with Supernet Shifting", f"{gt.loc[shifted['pick']]:.2f}", shifted["pick"]),
        ("  best under the budget (oracle)", f"{oracle:.2f}", ""),
    ]
    print()
    sc = preset["shift"]
    print(
        f"Shifting benchmark ({'quick' if args.quick else 'full'}), budget flops_m <= {args.max_flops:g}, seed "
        f"{args.seed}; search: population {sc['population']}, {sc['generations']} generations, "
        f"{sc['steps_per_candidate']} SGD steps at lr {sc['lr']:g} per shifted candidate (baseline: 0 steps)"
    )
    print(
        "protocol: supernet scores = top-1 % on the first "
        f"{preset['shift']['eval_batches'] * preset['shift']['eval_batch_size']} images of the validation split "
        "(10 % of the 20k CIFAR-10 train images, never trained on; the supernet trained on "
        f"{preset['data']['limit_train']} of the rest at {preset['data']['input_size']}px), "
        "eval() mode with batch-statistics BN; truth = NAS-Bench-201 c10_test_acc (200 epochs, mean over seeds)"
    )
    w = max(len(r[0]) for r in rows)
    for name, val, arch in rows:
        print(f"{name:<{w}}  {val:>7}  {arch}")
    print(
        f"time: stages {t_stages:.0f}s (cached on rerun), unshifted search {base['seconds']:.0f}s "
        f"({base['visited']} visits), shifted search {shifted['seconds']:.0f}s ({shifted['visited']} visits)"
    )
    summary = {
        "tau_before": kendall_tau(truth, base["before"]),
        "tau_after": kendall_tau(truth, shifted["after"]),
        "tau_pred": kendall_tau(truth, cands["pred"]),
        "acc_lookup": float(gt.loc[archs[0]]),
        "acc_unshifted": float(gt.loc[base["pick"]]),
        "acc_shifted": float(gt.loc[shifted["pick"]]),
        "oracle": oracle,
        "picks": {"lookup": archs[0], "unshifted": base["pick"], "shifted": shifted["pick"]},
    }
    summary["shift"] = sc
    (out / f"summary-lr{sc['lr']:g}-steps{sc['steps_per_candidate']}.json").write_text(json.dumps(summary, indent=2))
    return 0


def _ids(archs) -> np.ndarray:
    from predictor.spaces import get_space

    return get_space("nb201").encode(list(archs))


if __name__ == "__main__":
    sys.exit(main())
