"""How well does a cost model trained on a few hundred measurements fill the whole space?

For each device column of HW-NAS-Bench (CIFAR-10, NB201) train :class:`CostModel`
on 100 / 300 / 900 random architectures and report, over all architectures that
are not cut off (dead) and that the device can run:

* the share predicted within ±10 % of the measurement (anchor: nn-Meter reports
  99 % on a mobile CPU; target here ≥ 95 % at 900 on the measured devices),
* Kendall tau between prediction and measurement,
* coverage of the safety margin: the share of true costs <= pred + 2 std.

A cell predicted "cannot run" (NaN) counts as a miss. For devices with NaN (the Edge TPU) a second
line gives the cannot-run classifier's share of the cells that cannot run it flags (``flagged``)
and of those that run it hides (``hidden``). ``additive`` uses the default
``runnable_threshold=0.3``; ``additive-strict`` 0.5 (the earlier default); ``additive-runall`` 0
(never NaN), i.e. the regression alone. The classifier cannot be exact: the device's NaN
pattern differs between isomorphic (identical) networks in 236 of the 1,350 multi-member
isomorphism classes.

Usage::

    python benchmarks/latency_nb201.py --data ../shared/data [--methods additive,additive-runall,additive-noboost] [--seeds 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau

from predictor.cost_model import CostModel
from predictor.hardware import HardwareTable, get_target
from predictor.spaces import get_space

DEVICES = (
    "edgegpu_latency",
    "raspi4_latency",
    "edgetpu_latency",
    "pixel3_latency",
    "eyeriss_latency",
    "fpga_latency",
    "edgegpu_energy",
)
VARIANTS = {
    "additive": dict(method="additive", pairwise="auto"),
    "additive-noboost": dict(method="additive", pairwise="auto", boost=False),  # before the boosted blend
    # never predict "cannot run": the regression alone, scored on the cells the device ran
    "additive-runall": dict(method="additive", pairwise="auto", runnable_threshold=0.0),
    "additive-strict": dict(method="additive", pairwise="auto", runnable_threshold=0.5),
    "additive-boost": dict(method="additive", pairwise="auto", boost=True),  # blend at every size
    "additive-pair": dict(method="additive", pairwise=True),
    "additive-nopair": dict(method="additive", pairwise=False),
    "additive-log": dict(method="additive", log=True),
    "gcn": dict(method="gcn", ensemble=3, epochs=150),
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = os.environ.get(
        "NASGCN_REFERENCE_DATA", str(Path(__file__).resolve().parents[1].parent / "shared" / "data")
    )
    ap.add_argument("--data", default=default, help="folder with hwnasbench_nb201_cifar10.csv")
    ap.add_argument(
        "--methods",
        default="additive,additive-strict,additive-runall,additive-noboost",
        help=f"comma list of {', '.join(VARIANTS)}",
    )
    ap.add_argument("--sizes", default="100,300,900")
    ap.add_argument("--devices", default=",".join(DEVICES))
    ap.add_argument("--seeds", type=int, default=3, help="random training sets per cell (mean reported)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    path = Path(args.data) / "hwnasbench_nb201_cifar10.csv"
    if not path.exists():
        print(f"reference data not found: {path}", file=sys.stderr)
        return 2
    hw = HardwareTable.read(path)
    space = get_space("nb201")
    ids = space.encode(list(hw["arch_str"]))
    dead = space.is_dead(ids)
    sizes = [int(s) for s in args.sizes.split(",")]
    methods = args.methods.split(",")
    print(f"HW-NAS-Bench NB201 CIFAR-10, {len(hw)} archs; evaluation over all non-dead archs the device runs")
    print(f"protocol: uniform random training sets (dead and NaN archs included in the draw), {args.seeds} seeds, mean")
    header = (
        f"{'device':<18}{'kind':<10}{'method':<17}"
        + "".join(f"{f'n={n} ±10%':>12}{'tau':>7}{'cov2σ':>7}" for n in sizes)
        + f"{'fit s':>7}"
    )
    print(header)
    print("-" * len(header))
    for col in args.devices.split(","):
        y = hw[col]
        target = get_target(col)
        ok = ~dead & ~np.isnan(y)
        cannot = ~dead & np.isnan(y)
        for method in methods:
            cells, flags, fit_time = [], [], 0.0
            for n in sizes:
                within, taus, cover, flagged, hidden = [], [], [], [], []
                for seed in range(args.seeds):
                    rng = np.random.default_rng(1000 * seed + n)
                    tr = rng.choice(len(y), size=n, replace=False)
                    t0 = time.perf_counter()
                    model = CostModel(**VARIANTS[method], random_state=seed).fit(ids[tr], y[tr])
                    pred, std = model.predict(ids, return_std=True)
                    fit_time += time.perf_counter() - t0
                    m = ok & ~np.isnan(pred)
                    within.append(np.mean(np.abs(pred[ok] - y[ok]) <= 0.1 * y[ok]))  # NaN pred counts as a miss
                    taus.append(kendalltau(pred[m], y[m])[0])
                    cover.append(np.mean(y[m] <= pred[m] + 2 * std[m]))
                    if cannot.any():
                        flagged.append(np.mean(np.isnan(pred[cannot])))
                        hidden.append(np.mean(np.isnan(pred[ok])))
                cells.append(f"{np.mean(within):>12.3f}{np.mean(taus):>7.3f}{np.mean(cover):>7.3f}")
                if flagged:
                    flags.append(f"{f'flagged {np.mean(flagged):.3f}':>19}{f'hidden {np.mean(hidden):.3f}':>14}")
            kind = "measured" if target.measured else "estimated"
            print(f"{col:<18}{kind:<10}{method:<17}" + "".join(cells) + f"{fit_time / (len(sizes) * args.seeds):>7.2f}")
            if flags:
                print(f"{'':<18}{'cannot':<10}{'run':<17}" + "".join(flags))
    return 0


if __name__ == "__main__":
    sys.exit(main())
