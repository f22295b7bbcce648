"""Generate the example notebooks with nbformat (never edit the .ipynb JSON by hand).

    .venv/bin/python notebooks/make_notebooks.py

Both notebooks are self-contained: they build what they need from the package and
use the NAS-Bench-201 reference data only when ``$NASGCN_REFERENCE_DATA`` (or
``../../shared/data`` from this folder) exists. ``tests/test_notebooks.py`` runs them.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SETUP = """\
import os
import tempfile
import time  # noqa: F401
from pathlib import Path

import matplotlib
import numpy as np
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from predictor.gcn import GCNPredictor  # noqa: E402
from predictor.logs import EvaluationLog, read_log, write_log  # noqa: E402, F401
from predictor.lookup import LookupTable  # noqa: E402
from predictor.spaces import get_space  # noqa: E402

torch.set_num_threads(1)
REF = Path(os.environ.get("NASGCN_REFERENCE_DATA", "../../shared/data"))
HAVE_REF = (REF / "nb201_cifar10_ground_truth.csv").exists()
print("reference data:", REF if HAVE_REF else "not found (running on package-generated data only)")"""

SYNTHETIC_LOG = """\
space = get_space("nb201")
rng = np.random.default_rng(0)


def synthetic_accuracy(ids, rng):
    # A stand-in for supernet labels: convolutions help, 'none' hurts, cut-off cells score 10 %.
    conv3, conv1, none = (ids == 3).sum(1), (ids == 2).sum(1), (ids == 0).sum(1)
    acc = 70 + 3.0 * conv3 + 1.5 * conv1 - 2.0 * none + rng.normal(0, 1.0, len(ids))
    return np.where(space.is_dead(ids), 10.0, acc)

"""


def explore_lookup_table() -> nbformat.NotebookNode:
    cells = [
        new_markdown_cell(
            "# Exploring a lookup table\n\n"
            "A lookup table holds **every** NAS-Bench-201 architecture (15,625 rows) with the GCN's predicted "
            "accuracy (`pred`, `pred_std`) and exact costs of the deployment network (`params_m`, `flops_m` in "
            "MACs). Hardware tables (e.g. HW-NAS-Bench latencies) join by `arch_str`. Hardware-aware search then "
            "becomes a filter plus a sort: a query per target, and a Pareto front per cost."
        ),
        new_code_cell(SETUP),
        new_markdown_cell(
            "## Build a table\n\nWe fit a small GCN on 200 labelled architectures. With the reference data the "
            "labels are real supernet accuracies (one column of `nb201_supernet_acc.csv`); without it, a synthetic "
            "stand-in, so the notebook runs anywhere."
        ),
        new_code_cell(
            SYNTHETIC_LOG
            + """
ids = space.sample(200, rng, unique=True)
archs = space.decode(ids)
if HAVE_REF:
    import pandas as pd

    sn = pd.read_csv(REF / "nb201_supernet_acc.csv").set_index("arch_str")
    y = sn.loc[archs, sn.columns[-1]].to_numpy(float)
    label_source = f"supernet run {sn.columns[-1]}"
else:
    y = synthetic_accuracy(ids, rng)
    label_source = "synthetic"
t0 = time.perf_counter()
gcn = GCNPredictor(hidden=16, ensemble=2, epochs=40, random_state=0).fit(archs, y)
pred, std = gcn.predict_space(return_std=True)
table = LookupTable.build(pred, std, meta={"labels": label_source})
print(f"fitted on {len(y)} {label_source} labels and predicted the space in {time.perf_counter() - t0:.1f}s:", table)"""
        ),
        new_markdown_cell("## Join hardware costs (when HW-NAS-Bench is available)"),
        new_code_cell(
            """\
from predictor.hardware import HardwareTable  # noqa: E402

targets = {"mobile (flops)": {"flops_m": 60.0}, "tiny (params)": {"params_m": 0.4}}
hw_file = REF / "hwnasbench_nb201_cifar10.csv"
if hw_file.exists():
    hw = HardwareTable.read(hw_file)
    table = hw.join(table)
    targets["Pixel 3 <= 4 ms"] = {"pixel3_latency": 4.0}
    targets["Jetson TX2 <= 5 ms"] = {"edgegpu_latency": 5.0}
    print("joined:", [c for c in hw.metrics][:6], "...")
print(list(table.columns))"""
        ),
        new_markdown_cell("## One query per hardware target\n\nBest 5 per target, one per isomorphism class."),
        new_code_cell(
            """\
for name, budget in targets.items():
    t0 = time.perf_counter()
    top = table.query("pred", constraints=budget, top_k=5, unique=True, exclude_dead=True)
    ms = 1000 * (time.perf_counter() - t0)
    print(f"{name}: {budget} -> {len(top)} rows in {ms:.2f} ms")
    for r in top.records(["arch_str", "pred", *budget]):
        print("   ", r)
    assert all((top[c] <= v).all() for c, v in budget.items())"""
        ),
        new_markdown_cell("## Pareto fronts: predicted accuracy vs each cost"),
        new_code_cell(
            """\
costs = [c for c in ("flops_m", "params_m", "pixel3_latency", "edgegpu_latency") if c in table]
fig, axes = plt.subplots(1, len(costs), figsize=(4.2 * len(costs), 3.4))
for ax, cost in zip(np.atleast_1d(axes), costs, strict=True):
    front = table.pareto("pred", costs=[cost], unique=True)
    ok = np.isfinite(table[cost])
    ax.scatter(table[cost][ok], table["pred"][ok], s=2, color="lightgrey")
    ax.plot(front[cost], front["pred"], "o-", ms=3)
    ax.set_xlabel(cost)
    ax.set_ylabel("predicted accuracy")
    ax.set_title(f"{len(front)} Pareto-optimal cells")
fig.tight_layout()
plt.close(fig)
print("front sizes:", {c: len(table.pareto("pred", costs=[c], unique=True)) for c in costs})"""
        ),
        new_markdown_cell("## Save and reload\n\nCSV plus a `.meta.json` sidecar (units, macro network, provenance)."),
        new_code_cell(
            """\
path = Path(tempfile.mkdtemp()) / "table.csv"
table.to_csv(path)
again = LookupTable.read_csv(path)
assert len(again) == 15625 and list(again["arch_str"][:3]) == list(table["arch_str"][:3])
print(path, again.meta.get("labels"))"""
        ),
    ]
    return new_notebook(cells=cells, metadata=_meta())


def train_predictor_from_logs() -> nbformat.NotebookNode:
    cells = [
        new_markdown_cell(
            "# Training a predictor from logged evaluations\n\n"
            "An evaluation log is a CSV (or JSONL) with an `arch_str` column and metric columns: what a supernet "
            "(`nasgcn supernet eval`) or stand-alone training (`nasgcn supernet retrain`) measured. Here we write "
            "one, read it back with validation, fit the GCN predictor on noisy labels mixed with a few accurate "
            "ones, and check the ranking with Kendall tau (the protocol is printed next to it)."
        ),
        new_code_cell(SETUP),
        new_markdown_cell("## A log of evaluations"),
        new_code_cell(
            SYNTHETIC_LOG
            + """
work = Path(tempfile.mkdtemp())
ids = space.sample(300, rng, unique=True)
archs = space.decode(ids)
if HAVE_REF:
    import pandas as pd

    gt = pd.read_csv(REF / "nb201_cifar10_ground_truth.csv").set_index("arch_str")
    sn = pd.read_csv(REF / "nb201_supernet_acc.csv").set_index("arch_str")
    noisy = sn.loc[archs, sn.columns[-1]].to_numpy(float)
    truth = gt.loc[archs, "c10_test_acc"].to_numpy(float)
    protocol = f"noisy = supernet run {sn.columns[-1]}; truth = NAS-Bench-201 c10_test_acc"
else:
    truth = synthetic_accuracy(ids, np.random.default_rng(1))
    noisy = truth + rng.normal(0, 4.0, len(truth))
    protocol = "synthetic: truth from op counts, noisy = truth + N(0, 4)"
write_log(work / "supernet.csv", EvaluationLog(archs, {"supernet_acc": noisy}))
write_log(work / "accurate.csv", EvaluationLog(archs[:30], {"test_acc": truth[:30]}))
print((work / "supernet.csv").read_text().splitlines()[:3])"""
        ),
        new_markdown_cell(
            "## Validation: a broken row names its file and line\n\nLogs are read strictly; a typo in an "
            "op name or a missing value is an error with the fix, not a silently dropped row."
        ),
        new_code_cell(
            """\
from predictor.errors import LogFormatError  # noqa: E402

bad = work / "broken.csv"
bad.write_text(
    "arch_str,supernet_acc\\n" + archs[0] + ",71.2\\n|nor_conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|,70\\n"
)
try:
    read_log(bad)
except LogFormatError as err:
    print("error:", err)
log = read_log(work / "supernet.csv")
acc = read_log(work / "accurate.csv")
print(len(log), "noisy labels,", len(acc), "accurate labels")"""
        ),
        new_markdown_cell(
            "## Fit on noisy labels, then noisy + accurate\n\nThe accurate labels are a second source "
            "(`source=1`) with a larger weight; predictions are in the units of source 0."
        ),
        new_code_cell(
            """\
from predictor.metrics import kendall_tau  # noqa: E402

train, test = np.arange(0, 240), np.arange(240, 300)
params = dict(hidden=16, ensemble=2, epochs=40, random_state=0)
only_noisy = GCNPredictor(**params).fit(log.arch_str[train], log.metrics["supernet_acc"][train])
x = list(log.arch_str[train]) + list(acc.arch_str)
y = list(log.metrics["supernet_acc"][train]) + list(acc.metrics["test_acc"])
src = [0] * len(train) + [1] * len(acc)
w = [1.0] * len(train) + [5.0] * len(acc)
mixed = GCNPredictor(**params).fit(x, y, sample_weight=w, source=src)
for name, model in (("noisy only", only_noisy), ("noisy + accurate", mixed)):
    tau = kendall_tau(truth[test], model.predict(log.arch_str[test]))
    print(f"{name:>17}: Kendall tau vs truth on {len(test)} held-out archs = {tau:.3f}  ({protocol})")"""
        ),
        new_markdown_cell("## Save, reload, and build the lookup table"),
        new_code_cell(
            """\
mixed.save(work / "gcn.pt")
again = GCNPredictor.load(work / "gcn.pt")
assert np.allclose(again.predict(archs[:20]), mixed.predict(archs[:20]), atol=1e-5)
pred, std = again.predict_space(return_std=True)
table = LookupTable.build(pred, std)
best = table.query("pred", constraints={"flops_m": 60.0}, top_k=3, unique=True, exclude_dead=True)
print(best.records(["arch_str", "pred", "pred_std", "flops_m"]))
fig, ax = plt.subplots(figsize=(4, 3.4))
ax.scatter(truth[test], again.predict(log.arch_str[test]), s=10)
ax.set_xlabel("truth")
ax.set_ylabel("prediction")
plt.close(fig)"""
        ),
    ]
    return new_notebook(cells=cells, metadata=_meta())


def _meta() -> dict:
    return {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }


NOTEBOOKS = {
    "explore_lookup_table.ipynb": explore_lookup_table,
    "train_predictor_from_logs.ipynb": train_predictor_from_logs,
}


def main() -> None:
    for name, build in NOTEBOOKS.items():
        nb = build()
        nbformat.validate(nb)
        nbformat.write(nb, HERE / name)
        print("wrote", HERE / name)


if __name__ == "__main__":
    main()
