"""Generate the example notebooks with nbformat and execute them (never edit the .ipynb JSON by hand).

    .venv/bin/python notebooks/make_notebooks.py [--no-execute] [--reference DIR] [NAME ...]

Each notebook is self-contained: it builds what it needs from the package and uses the reference
data only when ``$NASGCN_REFERENCE_DATA`` (or ``../../shared/data`` from this folder) holds the file
it needs (:data:`REFERENCE_FILE`); otherwise it runs on package-generated stand-ins. The committed
files are executed here (python3 kernel, one thread, fixed seeds, no timings or temporary paths
printed) so their figures are visible on GitHub; ``tests/test_notebooks.py`` checks that their cell
sources match this script and re-executes them with and without the reference data.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

#: The reference file whose presence switches each notebook from stand-in to real data.
REFERENCE_FILE = {
    "explore_lookup_table.ipynb": "nb201_cifar10_ground_truth.csv",
    "train_predictor_from_logs.ipynb": "nb201_cifar10_ground_truth.csv",
    "explore_chain_spaces.ipynb": "nasbench_macro_cifar10.csv",
}

#: Size ceiling of a committed notebook (figures are modest PNGs).
MAX_BYTES = 300_000


def setup(required: str) -> str:
    """First code cell: imports, inline figures at a modest dpi, one thread, where the data is."""
    return f"""\
%matplotlib inline
import os
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", category=FutureWarning)  # deprecation notices from torch's dependencies
warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm without ipywidgets
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from predictor.gcn import GCNPredictor  # noqa: E402, F401
from predictor.metrics import kendall_tau, top1_true, top_kendall_tau  # noqa: E402, F401
from predictor.spaces import get_space  # noqa: E402

plt.rcParams.update({{"figure.dpi": 90, "font.size": 9, "axes.grid": True, "grid.alpha": 0.3}})
torch.set_num_threads(1)
REF = Path(os.environ.get("NASGCN_REFERENCE_DATA", "../../shared/data"))
HAVE_REF = (REF / "{required}").exists()
print("reference data:", REF if HAVE_REF else "not found (running on package-generated data only)")"""


SYNTHETIC_ACCURACY = """\
space = get_space("nb201")


def synthetic_accuracy(ids, rng):
    # A stand-in for measured accuracy: convolutions help, 'none' hurts, cut-off cells score 10 %.
    conv3, conv1, none = (ids == 3).sum(1), (ids == 2).sum(1), (ids == 0).sum(1)
    acc = 70 + 3.0 * conv3 + 1.5 * conv1 - 2.0 * none + rng.normal(0, 1.0, len(ids))
    return np.where(space.is_dead(ids), 10.0, acc)

"""


def explore_lookup_table() -> nbformat.NotebookNode:
    cells = [
        new_markdown_cell(
            "# Exploring a lookup table\n\n"
            "A lookup table holds **every** NAS-Bench-201 architecture (15,625 rows) with the GCN's predicted "
            "accuracy (`pred`, `pred_std`) and exact costs of the deployment network (`params_m` in millions, "
            "`flops_m` in millions of multiply-accumulates, MMACs). Hardware tables (e.g. HW-NAS-Bench latencies) "
            "join by `arch_str`. Hardware-aware search then becomes a filter plus a sort: a query per target, and "
            "a Pareto front per cost."
        ),
        new_code_cell(setup(REFERENCE_FILE["explore_lookup_table.ipynb"])),
        new_markdown_cell(
            "## Build a table\n\nWe fit a small GCN on 200 labelled architectures. With the reference data the "
            "labels are real supernet accuracies (a one-shot supernet run of `nb201_supernet_acc.csv`, so `pred` "
            "is in *supernet* accuracy %, lower than stand-alone accuracy); without it, a synthetic stand-in, so "
            "the notebook runs anywhere."
        ),
        new_code_cell(
            SYNTHETIC_ACCURACY
            + """
from predictor.lookup import LookupTable  # noqa: E402

rng = np.random.default_rng(0)
ids = space.sample(200, rng, unique=True)
archs = space.decode(ids)
if HAVE_REF:
    import pandas as pd

    runs = pd.read_csv(REF / "nb201_supernet_runs.csv")
    run = runs.loc[runs["family"] == "oneshot_baseline", "run"].iloc[0]
    sn = pd.read_csv(REF / "nb201_supernet_acc.csv", usecols=["arch_str", run]).set_index("arch_str")
    y = sn.loc[archs, run].to_numpy(float)
    label_source = f"supernet run {run}"
else:
    y = synthetic_accuracy(ids, rng)
    label_source = "synthetic"
gcn = GCNPredictor(hidden=16, ensemble=2, epochs=40, random_state=0).fit(archs, y)
pred, std = gcn.predict_space(return_std=True)
table = LookupTable.build(pred, std, meta={"labels": label_source})
print(f"fitted on {len(y)} {label_source} labels and predicted all {len(table):,} architectures")
print(list(table.columns))"""
        ),
        new_markdown_cell("## Join hardware costs (when HW-NAS-Bench is available)"),
        new_code_cell(
            """\
from predictor.hardware import HardwareTable  # noqa: E402

targets = {"mobile (<= 60 MMACs)": {"flops_m": 60.0}, "tiny (<= 0.4 M params)": {"params_m": 0.4}}
hw_file = REF / "hwnasbench_nb201_cifar10.csv"
if hw_file.exists():
    hw = HardwareTable.read(hw_file)
    table = hw.join(table)
    targets["Pixel 3 <= 4 ms"] = {"pixel3_latency": 4.0}
    targets["Jetson TX2 <= 5 ms"] = {"edgegpu_latency": 5.0}
    print("joined:", [c for c in hw.metrics][:6], "...")
else:
    print("no hardware table: costs are the exact parameters and MACs only")"""
        ),
        new_markdown_cell(
            "## One query per hardware target\n\nBest 5 per target, one per isomorphism class, cut-off cells "
            "excluded. Each query is a vectorized filter and partial sort over the 15,625 rows."
        ),
        new_code_cell(
            """\
for name, budget in targets.items():
    top = table.query("pred", constraints=budget, top_k=5, unique=True, exclude_dead=True)
    print(f"{name}: {budget} -> {len(top)} rows")
    for r in top.records(["arch_str", "pred", *budget]):
        print("   ", {k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()})
    assert all((top[c] <= v).all() for c, v in budget.items())"""
        ),
        new_markdown_cell(
            "## Pareto fronts: what does each unit of cost buy?\n\n"
            "Grey: every architecture; blue: the predicted Pareto front (one per isomorphism class). Each panel's "
            "title states the best predicted accuracy and the cost at which the front gets within 0.5 points of "
            "it: spending more than that buys almost nothing."
        ),
        new_code_cell(
            """\
units = {"flops_m": "FLOPs (MMACs)", "params_m": "parameters (M)", "pixel3_latency": "Pixel 3 latency (ms)",
         "edgegpu_latency": "Jetson TX2 latency (ms)"}
costs = [c for c in units if c in table]
fig, axes = plt.subplots(1, len(costs), figsize=(2.6 * len(costs), 2.6), sharey=True)
live = ~table["dead"].astype(bool)
for ax, cost in zip(np.atleast_1d(axes), costs, strict=True):
    front = table.pareto("pred", costs=[cost], unique=True, exclude_dead=True)
    ok = live & np.isfinite(table[cost])
    ax.scatter(table[cost][ok], table["pred"][ok], s=1, color="lightgrey", rasterized=True)
    ax.plot(front[cost], front["pred"], "o-", ms=2.5, lw=1)
    near = front[cost][np.argmax(front["pred"] >= front["pred"].max() - 0.5)]
    ax.set_xlabel(units[cost])
    ax.set_title(f"best {front['pred'].max():.1f} %; within 0.5 of it at {near:.3g}", fontsize=8)
lo = np.percentile(table["pred"][live], 10)
np.atleast_1d(axes)[0].set_ylim(lo, table["pred"].max() + 0.5)
np.atleast_1d(axes)[0].set_ylabel(f"predicted accuracy (%)\\n{'supernet units' if HAVE_REF else 'synthetic'}")
fig.suptitle("Predicted accuracy against each cost (cut-off cells and the bottom 10 % not shown)", fontsize=9)
fig.tight_layout()"""
        ),
        new_markdown_cell("## Save and reload\n\nCSV plus a `.meta.json` sidecar (units, macro network, provenance)."),
        new_code_cell(
            """\
import tempfile  # noqa: E402

path = Path(tempfile.mkdtemp()) / "table.csv"
table.to_csv(path)
again = LookupTable.read_csv(path)
assert len(again) == 15625 and list(again["arch_str"][:3]) == list(table["arch_str"][:3])
print("reloaded", len(again), "rows; labels:", again.meta.get("labels"))"""
        ),
    ]
    return new_notebook(cells=cells, metadata=_meta())


def train_predictor_from_logs() -> nbformat.NotebookNode:
    cells = [
        new_markdown_cell(
            "# Training a predictor from logged evaluations: many noisy labels plus a few accurate ones\n\n"
            "An evaluation log is a CSV (or JSONL) with an `arch_str` column and metric columns: what a supernet "
            "(`nasgcn supernet eval`) or stand-alone training (`nasgcn supernet retrain`) measured. Supernet "
            "accuracies are cheap (thousands per GPU hour) but noisy and biased; stand-alone results are accurate "
            "but cost a full training each. This notebook writes both kinds of log, reads them back with "
            "validation, and asks the question that decides how to spend a budget: **does a GCN fitted on many "
            "noisy labels plus a few accurate ones rank the space better than either kind of label alone?** "
            "It is measured on all 15,625 NAS-Bench-201 cells against stand-alone accuracy, over several seeds."
        ),
        new_code_cell(setup(REFERENCE_FILE["train_predictor_from_logs.ipynb"])),
        new_markdown_cell(
            "## The labels\n\n"
            "With the reference data: *noisy* = the first one-shot supernet run of `nb201_supernet_acc.csv` (real "
            "weight-sharing accuracies), *accurate* = `c10_test_acc_fewshotgt` (stand-alone training, the ground "
            "truth those runs are compared with). Without it: a synthetic accuracy from op counts, and a "
            "package-generated supernet proxy with what real supernets show: a compressed scale, a systematic bias "
            "against large cells (they train slowest under weight sharing) and per-cell noise."
        ),
        new_code_cell(
            SYNTHETIC_ACCURACY
            + """
def supernet_proxy(ids, truth, rng):
    # A stand-in for supernet accuracy: compressed scale, bias against many parameters, per-cell noise.
    log_params = np.log(space.costs(ids)["params_m"])
    bias = -2.0 * (log_params - log_params.mean()) / log_params.std()
    return np.where(space.is_dead(ids), 10.0, 0.6 * truth + 20 + bias + rng.normal(0, 1.5, len(ids)))


ALL = space.all_ids()
ARCHS = np.array(space.decode(ALL), dtype=object)
if HAVE_REF:
    import pandas as pd

    runs = pd.read_csv(REF / "nb201_supernet_runs.csv")
    run = runs.loc[runs["family"] == "oneshot_baseline", "run"].iloc[0]
    sn = pd.read_csv(REF / "nb201_supernet_acc.csv", usecols=["arch_str", run]).set_index("arch_str")
    gt = pd.read_csv(REF / "nb201_cifar10_ground_truth.csv").set_index("arch_str")
    noisy_all = sn.loc[ARCHS, run].to_numpy(float)
    truth_all = gt.loc[ARCHS, "c10_test_acc_fewshotgt"].to_numpy(float)
    protocol = f"noisy = supernet run {run}; accurate = c10_test_acc_fewshotgt"
else:
    truth_all = synthetic_accuracy(ALL, np.random.default_rng(1))
    noisy_all = supernet_proxy(ALL, truth_all, np.random.default_rng(2))
    protocol = "synthetic: accurate from op counts, noisy = biased, compressed, noisy proxy"
print(protocol)
print(f"the noisy labels of all {len(ALL):,} cells against the accurate ones: Kendall tau "
      f"{kendall_tau(truth_all, noisy_all):.3f}, among the true top 5 % {top_kendall_tau(truth_all, noisy_all, 0.05):.3f}")"""
        ),
        new_markdown_cell(
            "## Logs: write, read back with validation\n\n"
            "Budget per experiment: `N_NOISY` supernet labels and `K_ACCURATE` stand-alone labels on random "
            "architectures. Logs are read strictly; a typo in an op name or a missing value is an error with the "
            "fix, not a silently dropped row."
        ),
        new_code_cell(
            """\
import tempfile  # noqa: E402

from predictor.errors import LogFormatError  # noqa: E402
from predictor.logs import EvaluationLog, read_log, write_log  # noqa: E402

N_NOISY, K_ACCURATE, SEEDS = 300, 20, (0, 1, 2, 3)


def draw(seed):
    rng = np.random.default_rng(seed)
    return rng.choice(len(ALL), N_NOISY, replace=False), rng.choice(len(ALL), K_ACCURATE, replace=False)


work = Path(tempfile.mkdtemp())
noisy_idx, acc_idx = draw(SEEDS[0])
write_log(work / "supernet.csv", EvaluationLog(ARCHS[noisy_idx], {"supernet_acc": noisy_all[noisy_idx]}))
write_log(work / "accurate.csv", EvaluationLog(ARCHS[acc_idx], {"test_acc": truth_all[acc_idx]}))
print(*(work / "supernet.csv").read_text().splitlines()[:3], sep="\\n")

bad = work / "broken.csv"
bad.write_text(
    "arch_str,supernet_acc\\n" + ARCHS[0] + ",71.2\\n|nor_conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|,70\\n"
)
try:
    read_log(bad)
except LogFormatError as err:
    print("error:", str(err).replace(str(work), "<work>"))
log, acc = read_log(work / "supernet.csv"), read_log(work / "accurate.csv")
print(len(log), "noisy labels,", len(acc), "accurate labels")"""
        ),
        new_markdown_cell(
            "## Four predictors per seed, scored on the whole space\n\n"
            "* **noisy only**: the GCN on the `N_NOISY` supernet labels (its predictions are in supernet units);\n"
            "* **accurate only**: the GCN on the `K_ACCURATE` stand-alone labels;\n"
            "* **noisy + accurate**: one fit on both, `GCNPredictor.fit(ids, y, sample_weight=w, source=src)` with "
            "`source=0` for the accurate labels (the units predictions are reported in) and `source=1` for the "
            "noisy ones, which the model maps onto source 0 through a learned affine map plus a parameter/FLOPs "
            "term (`predictor.noisy.mix_sources` builds the arrays; each accurate label weighs "
            "`0.75 N / K` noisy ones), the accurate labels on random cells;\n"
            "* **noisy + targeted**: the same fit, but half of the accurate labels go to the best cells of the "
            "noisy-only table (`predictor.noisy.select_for_retraining`, one per isomorphism class): what one would "
            "retrain after a first noisy fit.\n\n"
            "Scores on all 15,625 cells against the accurate accuracy: Kendall tau (`tau`), Kendall tau among the "
            "true top 5 % (`top5`: does it order the cells worth deploying?) and the true accuracy of the "
            "predicted best cell (`pick`, %). The supernet's own ranking of every cell is printed for reference; "
            "evaluating all 15,625 on a supernet is what the fitted predictors avoid."
        ),
        new_code_cell(
            """\
from predictor.noisy import mix_sources, select_for_retraining  # noqa: E402

PARAMS = dict(hidden=16, ensemble=2, epochs=60)  # small, so the notebook runs in about a minute on one core
METRICS = ("tau", "top5", "pick")
LABELS = ("noisy only", "accurate only", "noisy + accurate", "noisy + targeted")


def score(pred):
    return {"tau": kendall_tau(truth_all, pred), "top5": top_kendall_tau(truth_all, pred, 0.05),
            "pick": top1_true(truth_all, pred)}


def mixed_fit(seed, noisy_idx, acc_idx):
    ids, y, w, src = mix_sources(ALL[noisy_idx], noisy_all[noisy_idx], ALL[acc_idx], truth_all[acc_idx])
    return GCNPredictor(random_state=seed, **PARAMS).fit(ids, y, sample_weight=w, source=src)


results = {name: [] for name in LABELS}
models = {}
for seed in SEEDS:
    noisy_idx, acc_idx = draw(seed)
    fits = {
        "noisy only": GCNPredictor(random_state=seed, **PARAMS).fit(ALL[noisy_idx], noisy_all[noisy_idx]),
        "accurate only": GCNPredictor(random_state=seed, **PARAMS).fit(ALL[acc_idx], truth_all[acc_idx]),
        "noisy + accurate": mixed_fit(seed, noisy_idx, acc_idx),
    }
    preds = {name: model.predict_space() for name, model in fits.items()}
    half = acc_idx[: K_ACCURATE // 2]
    best_noisy = select_for_retraining(preds["noisy only"], K_ACCURATE - len(half), exclude=ALL[half])
    fits["noisy + targeted"] = mixed_fit(seed, noisy_idx, np.concatenate([half, best_noisy]))
    preds["noisy + targeted"] = fits["noisy + targeted"].predict_space()
    for name in LABELS:
        results[name].append(score(preds[name]))
    if seed == SEEDS[0]:
        models = fits
supernet = score(noisy_all)
best = np.nanmax(truth_all)
print(f"{protocol}; N_NOISY={N_NOISY}, K_ACCURATE={K_ACCURATE}, seeds {list(SEEDS)}; best cell {best:.2f} %")
print(f"{'labels':>18} " + " ".join(f"{m:>13}" for m in METRICS))
print(f"{'supernet (all)':>18} " + " ".join(f"{supernet[m]:>13.3f}" for m in METRICS))
for name in LABELS:
    vals = {m: np.array([r[m] for r in results[name]]) for m in METRICS}
    print(f"{name:>18} " + " ".join(f"{vals[m].mean():>7.3f} ± {vals[m].std():.3f}" for m in METRICS))"""
        ),
        new_markdown_cell(
            "## The verdict, computed\n\n"
            "Paired differences per seed (the same noisy labels and the same random accurate cells for all): mean "
            "difference and how many seeds favour the first of each pair. Printed from the numbers, not written "
            "by hand."
        ),
        new_code_cell(
            """\
def paired(a, b, m):
    d = np.array([ra[m] - rb[m] for ra, rb in zip(results[a], results[b], strict=True)])
    return d.mean(), int((d > 0).sum()), int((d < 0).sum())


PAIRS = [("noisy + accurate", "noisy only"), ("noisy + accurate", "accurate only"),
         ("noisy + targeted", "noisy + accurate"), ("noisy + targeted", "noisy only")]
for first, other in PAIRS:
    parts = []
    for m in METRICS:
        mean, wins, losses = paired(first, other, m)
        parts.append(f"{m} {mean:+.3f} ({wins} better, {losses} worse)")
    print(f"{first} vs {other}, {len(SEEDS)} seeds: " + "; ".join(parts))


def verdict(first, other, m="tau"):
    # A plain-language line from the paired differences: "helps" only when the mean gain is positive
    # and at least 3 of 4 seeds agree; "hurts" symmetrically; otherwise the seeds disagree.
    mean, wins, losses = paired(first, other, m)
    need = (3 * len(SEEDS) + 3) // 4
    word = "helps" if mean > 0 and wins >= need else "hurts" if mean < 0 and losses >= need else "is not resolved"
    return f"{first} vs {other} on {m}: {word} ({mean:+.3f}, {wins} of {len(SEEDS)} seeds better)"


print()
print("Verdict (computed):")
for first, other in PAIRS[:2]:
    print(" ", verdict(first, other, "tau"), "| top5:", verdict(first, other, "top5").split(": ", 1)[1])
print(" ", verdict("noisy + targeted", "noisy + accurate", "pick"))

fig, axes = plt.subplots(1, 3, figsize=(9.6, 2.8))
titles = {"tau": "Kendall tau, all 15,625", "top5": "Kendall tau, true top 5 %", "pick": "true accuracy of top pick (%)"}
for ax, m in zip(axes, METRICS, strict=True):
    for i, name in enumerate(LABELS):
        vals = [r[m] for r in results[name]]
        ax.bar(i, np.mean(vals), color=f"C{i}", alpha=0.6)
        ax.plot([i] * len(vals), vals, "k.", ms=4)
    ax.axhline(supernet[m], color="grey", ls="--", lw=1)
    if m == "pick":
        ax.axhline(best, color="k", ls=":", lw=1)
        lo = min(min(r[m] for rs in results.values() for r in rs), supernet[m])
        ax.set_ylim(lo - 0.5, best + 0.4)
    ax.set_xticks(range(len(LABELS)), [name.replace(" ", "\\n", 1) for name in LABELS], fontsize=8)
    ax.set_title(titles[m], fontsize=9)
mean_tau = {name: np.mean([r["tau"] for r in results[name]]) for name in LABELS}
fig.suptitle("Whole-space Kendall tau: " + ", ".join(f"{name} {v:.2f}" for name, v in mean_tau.items()) + "\\n"
             f"bars: mean over {len(SEEDS)} seeds, dots: each seed; dashed: the supernet itself on all cells; "
             "dotted: the best cell", fontsize=9)
fig.tight_layout()"""
        ),
        new_markdown_cell(
            "**How to read it.** The verdict lines above are computed from the paired differences, so they say "
            "what this run measured, whichever way it went: a mix *helps* only when its mean gain is positive and "
            "at least 3 of the 4 seeds agree. With the reference data the mixed fit beats noisy only on whole-space "
            "Kendall tau in every seed (a few accurate labels re-weigh the parameter count the supernet is biased "
            "on, and fix the scale) and beats accurate only (300 labels cover the space that 20 cannot); an "
            "earlier single-seed version of this notebook showed 0.723 against 0.730 for noisy only, which one seed "
            "with 20 random accurate labels cannot resolve. The top of the ranking is the hard part: 20 *random* "
            "accurate labels rarely include one of the best cells, so the top-5 % tau and the top pick move less "
            "and vary between seeds. The fourth bar measures what spending half of them on the noisy-only table's "
            "best cells changes there. Rounds of measuring the predicted best and refitting (`nasgcn suggest`, "
            "`predictor.acquisition.sequential_search`) spend the same budget more adaptively; "
            "`benchmarks/predictor_nb201.py` compares the strategies at full size."
        ),
        new_markdown_cell(
            "## Where the predictions land (seed 0)\n\n"
            "Predicted against accurate accuracy for every cell above 80 % (cut-off and very poor cells left out "
            "so the range that matters is readable). The noisy-only model predicts in supernet units; the mixed "
            "model predicts in stand-alone units because its source 0 is the accurate labels."
        ),
        new_code_cell(
            """\
keep = truth_all >= 80
fig, axes = plt.subplots(1, 2, figsize=(7.2, 3.0))
for ax, name in zip(axes, ("noisy only", "noisy + accurate"), strict=True):
    pred = models[name].predict_space()
    ax.hexbin(truth_all[keep], pred[keep], gridsize=30, bins="log", mincnt=1, cmap="viridis")
    ax.set_xlabel("accurate (stand-alone) accuracy (%)")
    ax.set_ylabel(f"predicted ({'supernet' if name == 'noisy only' else 'stand-alone'} units, %)")
    ax.set_title(f"{name}: tau {kendall_tau(truth_all[keep], pred[keep]):.3f}", fontsize=9)
fig.suptitle(f"The {keep.sum():,} cells with accurate accuracy >= 80 % (colour: log count)", fontsize=9)
fig.tight_layout()"""
        ),
        new_markdown_cell(
            "## Save, reload, and build the lookup table\n\nThe mixed model of seed 0; `pred` is in stand-alone "
            "accuracy % (source 0). The best three under 60 MMACs are printed beside their true accuracy: with only "
            "20 accurate labels, the predicted scale at the very top is an extrapolation, so read `pred` as a "
            "ranking and `pred_std` as a lower bound on its uncertainty."
        ),
        new_code_cell(
            """\
from predictor.lookup import LookupTable  # noqa: E402

mixed = models["noisy + accurate"]
mixed.save(work / "gcn.pt")
again = GCNPredictor.load(work / "gcn.pt")
assert np.allclose(again.predict(ARCHS[:20]), mixed.predict(ARCHS[:20]), atol=1e-5)
pred, std = again.predict_space(return_std=True)
table = LookupTable.build(pred, std)
best3 = table.query("pred", constraints={"flops_m": 60.0}, top_k=3, unique=True, exclude_dead=True)
for r in best3.records(["arch_str", "pred", "pred_std", "flops_m"]):
    true = truth_all[list(ARCHS).index(r["arch_str"])]
    print(f"{r['arch_str']}  predicted {r['pred']:.2f} ± {r['pred_std']:.2f} %, true {true:.2f} %, {r['flops_m']:.1f} MMACs")"""
        ),
    ]
    return new_notebook(cells=cells, metadata=_meta())


def explore_chain_spaces() -> nbformat.NotebookNode:
    cells = [
        new_markdown_cell(
            "# Chain search spaces: NAS-Bench-Macro and FBNet\n\n"
            "Besides NAS-Bench-201's cell, nasgcn knows two MobileNet-style chain spaces, each a layer-by-layer "
            "choice of block: `nbmacro` (NAS-Bench-Macro, 8 layers x 3 blocks, small enough to tabulate) and "
            "`fbnet` (HW-NAS-Bench's FBNet space, 22 layers x 9 blocks, about 10^21 architectures). Both come "
            "from `predictor.spaces.get_space`; an architecture is the data files' digit code (`22212220`). "
            "This notebook checks what the space knows (size, isomorphism, exact costs) against NAS-Bench-Macro, "
            "then fits the GCN on 100 labels and asks how close its Pareto front comes to the true one."
        ),
        new_code_cell(setup(REFERENCE_FILE["explore_chain_spaces.ipynb"])),
        new_markdown_cell("## The two spaces"),
        new_code_cell(
            """\
from predictor.errors import NasgcnError  # noqa: E402

macro, fbnet = get_space("nbmacro"), get_space("fbnet")
for sp in (macro, fbnet):
    spec = sp.spec
    classes = f"{sp.num_unique:,}" if sp.num_unique else "not enumerated"
    print(f"{sp.name}: {sp.num_slots} layers in stages {list(spec.stage_layers)} with channels "
          f"{list(spec.stage_channels)}; blocks {list(sp.ops)}")
    print(f"    size {sp.size:,} ({len(sp.ops)}^{sp.num_slots}); isomorphism classes {classes}; "
          f"enumerable {sp.enumerable}")
try:
    fbnet.require_enumerable("a lookup table")
except NasgcnError as err:
    print("fbnet:", err)"""
        ),
        new_markdown_cell(
            "## Isomorphism\n\n"
            "An identity (or `skip`) layer after the first layer of a stage changes nothing but its position, so "
            "codes that differ only in where such layers sit within a stage are the same network. The canonical "
            "form moves them to the stage's end; NAS-Bench-Macro trained one network per class, so its results "
            "must be identical within every class."
        ),
        new_code_cell(
            """\
ids = macro.all_ids()
cls = macro.iso_class(ids)
print("22212220 and 22212202 ->", macro.canonical("22212220"), macro.canonical("22212202"))
print(f"{macro.size:,} codes form {len(np.unique(cls)):,} classes")
f_ids = fbnet.sample(20_000, np.random.default_rng(0))
moved = (fbnet.canonical_ids(f_ids) != f_ids).any(1).mean()
print(f"fbnet: {moved:.0%} of 20,000 random codes are not in canonical form (a later skip can move)")
if HAVE_REF:
    import pandas as pd

    df = pd.read_csv(REF / "nasbench_macro_cifar10.csv", dtype={"arch": str})  # codes keep leading zeros
    rows = macro.index_of(macro.encode(list(df["arch"])))
    truth = np.full(macro.size, np.nan)
    truth[rows] = df["mean_acc"].to_numpy(float)
    spread = pd.Series(truth).groupby(cls).agg(lambda v: v.max() - v.min())
    print(f"classes whose members' mean_acc differ: {(spread > 0).sum()} of {len(spread):,}")
    target = "NAS-Bench-Macro mean_acc (%)"
else:
    # A synthetic accuracy from the exact costs: log FLOPs help, a 1x1 "identity" downsampling at a stage's
    # first layer hurts; one noise value per isomorphism class, as in the real benchmark.
    lf = np.log(macro.costs(ids)["flops_m"])
    cheap_downsampling = (ids[:, [0, 2, 5]] == 0).sum(1)
    noise = np.random.default_rng(0).normal(0, 0.3, macro.size)[cls]
    truth = 80.0 + 5.0 * (lf - lf.min()) - 1.5 * cheap_downsampling + noise
    target = "synthetic accuracy (%)"
print("target:", target)"""
        ),
        new_markdown_cell(
            "## Exact costs\n\n"
            "`space.costs(ids)` counts parameters (BatchNorm included) and multiply-accumulates of the convolutions "
            "and the linear layer, from the chain's spec alone. With the reference data they are compared with "
            "NAS-Bench-Macro's own `params` and `flops` columns for all 6,561 codes."
        ),
        new_code_cell(
            """\
costs = macro.costs(ids)
if HAVE_REF:
    for col, ours in (("params", costs["params"]), ("flops", costs["macs"])):
        theirs = np.zeros(macro.size, dtype=np.int64)
        theirs[rows] = df[col].to_numpy(np.int64)
        print(f"{col}: {(ours == theirs).sum():,} of {macro.size:,} equal, max difference {np.abs(ours - theirs).max()}")
for sp, c in ((macro, costs), (fbnet, fbnet.costs(f_ids))):
    what = "all" if sp is macro else "20,000 random"
    print(f"{sp.name} ({what}): {c['params_m'].min():.2f}-{c['params_m'].max():.2f} M parameters, "
          f"{c['flops_m'].min():.1f}-{c['flops_m'].max():.1f} MMACs")"""
        ),
        new_markdown_cell(
            "## What FLOPs budget is realistic in FBNet?\n\n"
            "FBNet cannot be tabulated, so a budget has to be chosen from samples. The histogram shows where random "
            "architectures fall against the smallest (all `skip`) and largest (all `k5_e6`) members. With "
            "HELP's measurements (`fbnet_latency_help.csv`) the right panel asks whether FLOPs can stand in for "
            "latency on a GPU and a phone (title: Kendall tau of FLOPs against each)."
        ),
        new_code_cell(
            """\
f_costs = fbnet.costs(f_ids)
ends = fbnet.costs(np.array([[fbnet.skip_op] * fbnet.num_slots, [fbnet.ops.index("k5_e6")] * fbnet.num_slots]))
help_file = REF / "fbnet_latency_help.csv"
fig, axes = plt.subplots(1, 2 if help_file.exists() else 1, figsize=(7.6 if help_file.exists() else 4, 2.8))
ax = np.atleast_1d(axes)[0]
ax.hist(f_costs["flops_m"], bins=60, color="C0")
for v, name, side in zip(ends["flops_m"], (" all skip", "all k5_e6 "), ("left", "right"), strict=True):
    ax.axvline(v, color="k", ls=":", lw=1)
    ax.annotate(name, (v, ax.get_ylim()[1] * 0.9), fontsize=7, ha=side)
p5, p95 = np.percentile(f_costs["flops_m"], [5, 95])
ax.set_xlabel("FLOPs (MMACs, 32x32 input)")
ax.set_ylabel("random architectures")
ax.set_title(f"90 % of random FBNet nets: {p5:.0f}-{p95:.0f} MMACs", fontsize=9)
if help_file.exists():
    import pandas as pd

    lat = pd.read_csv(help_file, dtype={"arch_ids": str})
    h_flops = fbnet.costs(fbnet.encode(list(lat["arch_ids"])))["flops_m"]
    ax = axes[1]
    taus = []
    for col, name, color in (("1080ti_1_latency_ms", "GTX 1080 Ti", "C1"), ("pixel2_latency_ms", "Pixel 2", "C2")):
        ax.scatter(h_flops, lat[col] / lat[col].median(), s=1, alpha=0.4, color=color, label=name, rasterized=True)
        taus.append(f"{name} {kendall_tau(lat[col].to_numpy(float), h_flops):.2f}")
    ax.set_xlabel("FLOPs (MMACs)")
    ax.set_ylabel("latency / the device's median")
    ax.set_ylim(0.5, 2.0)
    ax.legend(fontsize=7, markerscale=6, loc="upper left")
    ax.set_title("Kendall tau of FLOPs vs latency: " + ", ".join(taus), fontsize=9)
fig.tight_layout()"""
        ),
        new_markdown_cell(
            "## A GCN on 100 NAS-Bench-Macro labels\n\n"
            "`GCNPredictor(space=\"nbmacro\")` on 100 random architectures' accuracy, then every one of the 6,561 "
            "predicted (one prediction per isomorphism class). Scored by Kendall tau on all and among the true "
            "top 5 %, beside FLOPs alone as a predictor."
        ),
        new_code_cell(
            """\
train = np.random.default_rng(0).choice(macro.size, 100, replace=False)
gcn = GCNPredictor(space="nbmacro", random_state=0).fit(ids[train], truth[train])
pred, pred_std = gcn.predict_space(return_std=True)
tau, tau5 = kendall_tau(truth, pred), top_kendall_tau(truth, pred, 0.05)
tau_flops = kendall_tau(truth, costs["flops_m"])
print(f"GCN (100 labels): Kendall tau {tau:.3f} on all {macro.size:,}, {tau5:.3f} among the true top 5 %; "
      f"FLOPs alone {tau_flops:.3f}")
print(f"predicted best {macro.format(ids[np.argmax(pred)])}: true {truth[np.argmax(pred)]:.2f} % "
      f"(best in the space {np.nanmax(truth):.2f} %)")

fig, ax = plt.subplots(figsize=(3.6, 3.3))
ax.scatter(truth, pred, s=2, alpha=0.3, rasterized=True, label="all 6,561")
ax.scatter(truth[train], pred[train], s=8, color="C3", label="the 100 labelled")
lims = [np.percentile(truth, 2), np.nanmax(truth) + 0.5]
ax.plot(lims, lims, "k:", lw=1)
ax.set_xlim(lims)
ax.set_ylim(lims)
ax.set_xlabel(f"true: {target}")
ax.set_ylabel("predicted accuracy (%)")
ax.set_title(f"Kendall tau {tau:.3f} on all 6,561 (FLOPs alone {tau_flops:.3f})\\nbottom 2 % not shown", fontsize=9)
ax.legend(fontsize=7, markerscale=2)
fig.tight_layout()"""
        ),
        new_markdown_cell(
            "## Accuracy against FLOPs, and how close the predicted Pareto front gets\n\n"
            "Grey: every architecture at its true accuracy. Black: the true Pareto front (best accuracy for each "
            "FLOPs budget). Orange: the architectures on the *predicted* front, plotted at their true accuracy. "
            "The title gives the mean shortfall of the predicted front against the best the budget allows."
        ),
        new_code_cell(
            """\
def pareto_front(cost, value):
    # Rows that no cheaper-or-equal row beats, by increasing cost.
    order = np.lexsort((-value, cost))
    best_so_far = np.maximum.accumulate(value[order])
    keep = np.r_[True, best_so_far[1:] > best_so_far[:-1]]
    return order[keep]


flops = costs["flops_m"]
true_front, pred_front = pareto_front(flops, truth), pareto_front(flops, pred)
order = np.argsort(flops, kind="stable")
best_within = np.empty(macro.size)
best_within[order] = np.maximum.accumulate(truth[order])  # best true accuracy at or below each cost
shortfall = best_within[pred_front] - truth[pred_front]
print(f"true front {len(true_front)} architectures, predicted front {len(pred_front)}; "
      f"shortfall mean {shortfall.mean():.2f}, max {shortfall.max():.2f} points")

fig, ax = plt.subplots(figsize=(5.4, 3.2))
ax.scatter(flops, truth, s=2, color="lightgrey", rasterized=True)
ax.step(flops[true_front], truth[true_front], where="post", color="k", lw=1, label="true front")
ax.plot(flops[pred_front], truth[pred_front], "o", ms=4, color="C1", label="predicted front (true accuracy)")
ax.set_ylim(np.percentile(truth, 2), np.nanmax(truth) + 0.5)
ax.set_xlabel("FLOPs (MMACs, 32x32 input)")
ax.set_ylabel(target)
ax.set_title(f"Predicted front falls {shortfall.mean():.2f} points short of the true one on average "
             f"(bottom 2 % cut)", fontsize=9)
ax.legend(fontsize=7, loc="lower right")
fig.tight_layout()"""
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
    "explore_chain_spaces.ipynb": explore_chain_spaces,
}


def build(name: str) -> nbformat.NotebookNode:
    """The notebook ``name`` with stable cell ids (so regenerating does not churn the JSON)."""
    nb = NOTEBOOKS[name]()
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{Path(name).stem.replace('_', '-')}-{i:02d}"
    nbformat.validate(nb)
    return nb


def execute(nb: nbformat.NotebookNode, timeout: int = 600) -> nbformat.NotebookNode:
    """Run ``nb`` in a python3 kernel in this folder, one thread, no timing metadata."""
    import nbclient

    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = "1"
    os.environ["PYTHONHASHSEED"] = "0"
    client = nbclient.NotebookClient(
        nb, timeout=timeout, kernel_name="python3", record_timing=False, resources={"metadata": {"path": str(HERE)}}
    )
    client.execute()
    nb.metadata = nbformat.from_dict(_meta())  # drop the kernel's version details
    return nb


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", help=f"notebooks to write (default all: {', '.join(NOTEBOOKS)})")
    p.add_argument("--no-execute", action="store_true", help="write the cells without running them (no outputs)")
    p.add_argument("--reference", help="reference data folder (default $NASGCN_REFERENCE_DATA or ../../shared/data)")
    args = p.parse_args(argv)
    if args.reference:
        os.environ["NASGCN_REFERENCE_DATA"] = str(Path(args.reference).resolve())
    for name in args.names or list(NOTEBOOKS):
        if name not in NOTEBOOKS:
            p.error(f"unknown notebook {name!r}; choose from {', '.join(NOTEBOOKS)}")
        nb = build(name)
        if not args.no_execute:
            execute(nb)
        nbformat.write(nb, HERE / name)
        size = (HERE / name).stat().st_size
        print(f"wrote {HERE / name} ({size / 1000:.0f} KB{', over the limit' if size > MAX_BYTES else ''})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
