"""FBNet latency from a few hundred measurements (issue 16, benchmark 3).

For each device column of HELP's FBNet file (5,000 architectures, 14 devices) fit on 100 / 300 /
900 random architectures and report, on all the others:

* ``w10``: share predicted within +-10 % of the measurement,
* ``tau``: Kendall tau between prediction and measurement,

for the plain additive per-(layer, block) least-squares table (``table``, the baseline) and for
:class:`predictor.latency_model.LatencyModel` with its defaults (``model``: structured table basis,
Huber fit, pair correction when cross-validation says so), in the same run, over ``--seeds`` seeds
(mean; min and max in the JSON). ``--variants`` adds ablations (``plain-huber``: robust fit without
the structured basis; ``lsq-structured``: structured basis, plain least squares; ``pairs``: the
pair correction forced on; ``gcn``: a GCN on the log-ratio of measured to table cost, per column).

Ceilings of an architecture-only model (the ``ceiling`` block, phones and CPUs):

* ``insample``: the default model fitted on all 5,000 and scored on the same 5,000;
* ``state_oracle``: that fit times the rolling median (51 rows, in file order) of measured /
  predicted, i.e. a model that also knew the device's state when each row was measured (the
  residuals are correlated in file order, lag-1 autocorrelation 0.5-0.7, and unpredictable from
  the architecture);
* ``rounded_perfect``: the share within +-10 % that the whole-millisecond rounded truth of that
  oracle reaches against the oracle itself (rounding alone: 1.0 means rounding costs nothing).

Usage::

    python benchmarks/latency_fbnet.py --data ../shared/data [--seeds 3] [--sizes 100,300,900] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau

from predictor.latency_model import LatencyModel, read_measured
from predictor.spaces import get_space

VARIANTS = {
    "table": dict(loss="lsq", structured=False, correction="none"),
    "model": dict(),
    "plain-huber": dict(loss="huber", structured=False, correction="none"),
    "lsq-structured": dict(loss="lsq", structured=True, correction="none"),
    "pairs": dict(correction="pairs"),
    "gcn": dict(correction="gcn"),
}
PHONES = ("pixel2_latency", "samsung_s7_latency")


def within(pred: np.ndarray, y: np.ndarray, tol: float = 0.1) -> float:
    return float(np.mean(np.abs(pred - y) <= tol * np.abs(y)))


def ceilings(ids: np.ndarray, cols: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    out = {}
    for c, y in cols.items():
        f = LatencyModel(space="fbnet", correction="none").fit(ids, {c: y}).predict(ids)[c][0]
        ratio = np.asarray(
            [np.median((y / f)[max(0, i - 25) : i + 26]) for i in range(len(y))]
        )  # device state, 51-row window
        oracle = f * ratio
        out[c] = {
            "insample": within(f, y),
            "state_oracle": within(oracle, y),
            "rounded_perfect": within(oracle, np.round(oracle)),
            "lag1_autocorr": float(np.corrcoef(np.log(y / f)[1:], np.log(y / f)[:-1])[0, 1]),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = os.environ.get("NASGCN_REFERENCE_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--data", default=default, help="folder with fbnet_latency_help.csv")
    ap.add_argument("--sizes", default="100,300,900")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--variants", default="table,model", help=f"comma list of {', '.join(VARIANTS)}")
    ap.add_argument("--columns", default="", help="comma list of columns (default: all 14)")
    ap.add_argument("--no-ceiling", action="store_true")
    ap.add_argument("--json", help="write all figures here")
    args = ap.parse_args(argv)
    path = Path(args.data) / "fbnet_latency_help.csv"
    if not path.exists():
        print(f"{path} not found (pass --data)", file=sys.stderr)
        return 2
    measured = read_measured(path, "fbnet", [c for c in args.columns.split(",") if c] or None)
    ids, cols = measured.ids, measured.columns
    sizes = [int(s) for s in args.sizes.split(",")]
    variants = [v for v in args.variants.split(",") if v]
    n_all = ids.shape[0]
    res: dict[str, dict] = {}
    t_fit: dict[str, float] = {v: 0.0 for v in variants}
    for seed in range(args.seeds):
        perm = np.random.default_rng(seed).permutation(n_all)
        for n in sizes:
            tr, te = perm[:n], perm[n:]
            for v in variants:
                t0 = time.perf_counter()
                model = LatencyModel(space="fbnet", random_state=seed, **VARIANTS[v]).fit(
                    ids[tr], {c: y[tr] for c, y in cols.items()}
                )
                t_fit[v] += time.perf_counter() - t0
                pred = model.predict(ids[te])
                for c, y in cols.items():
                    p = pred[c][0]
                    cell = (
                        res.setdefault(c, {}).setdefault(str(n), {}).setdefault(v, {"w10": [], "tau": [], "pairs": []})
                    )
                    cell["w10"].append(within(p, y[te]))
                    cell["tau"].append(float(kendalltau(p, y[te])[0]))
                    cell["pairs"].append(bool(model.meta["fit"][c]["pairs"]))
            print(f"seed {seed} n={n} done", file=sys.stderr, flush=True)
    # speed: 100,000 random architectures, all columns
    big = get_space("fbnet").sample(100_000, 0)
    t0 = time.perf_counter()
    model.predict(big)
    t_pred = time.perf_counter() - t0

    head = f"{'column':22s} " + " ".join(f"{'n=' + str(n):>{14 * len(variants)}s}" for n in sizes)
    sub = f"{'':22s} " + " ".join(" ".join(f"{v[:6] + ' w10/tau':>14s}" for v in variants) for _ in sizes)
    print(head)
    print(sub)
    for c in cols:
        row = f"{c:22s} "
        for n in sizes:
            for v in variants:
                cell = res[c][str(n)][v]
                row += f" {np.mean(cell['w10']):6.3f}/{np.mean(cell['tau']):6.3f}"
        print(row)
    print("fit time (all columns, all sizes and seeds): " + ", ".join(f"{v} {t:.1f} s" for v, t in t_fit.items()))
    print(f"predict 100,000 architectures x {len(cols)} columns: {t_pred * 1000:.0f} ms")
    ceil = {}
    if not args.no_ceiling:
        noisy = [c for c in cols if c in PHONES or "gold" in c or "silver" in c]
        ceil = ceilings(ids, {c: cols[c] for c in noisy})
        print("ceilings of an architecture-only model (share within +-10 %):")
        for c, d in ceil.items():
            print(
                f"  {c:22s} in-sample fit on all 5,000 {d['insample']:.3f}; knowing the device state "
                f"{d['state_oracle']:.3f}; rounded truth vs perfect {d['rounded_perfect']:.3f}; "
                f"lag-1 autocorrelation of log residuals {d['lag1_autocorr']:.2f}"
            )
    if args.json:
        summary = {
            c: {
                n: {
                    v: {
                        "w10_mean": float(np.mean(d["w10"])),
                        "w10_min": float(np.min(d["w10"])),
                        "w10_max": float(np.max(d["w10"])),
                        "tau_mean": float(np.mean(d["tau"])),
                        "pairs_kept": int(np.sum(d["pairs"])),
                        "seeds": len(d["w10"]),
                    }
                    for v, d in per_n.items()
                }
                for n, per_n in per_c.items()
            }
            for c, per_c in res.items()
        }
        Path(args.json).write_text(
            json.dumps({"results": summary, "ceilings": ceil, "fit_s": t_fit, "predict_100k_s": t_pred}, indent=2)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
