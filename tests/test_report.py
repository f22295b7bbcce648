"""The run report from small synthetic stage outputs: captions that state findings, units, accuracy
axes inside [0, 100], ties said as ties, escaped architecture strings, missing stages tolerated."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from predictor.spaces import get_space
from predictor.table import write_csv
from supernet import report_plots as rp
from supernet.report import write_report

EVIL = "<script>alert(1)</script>|x"


def _stage(root: Path, name: str, outputs: dict, sections: dict | None = None) -> tuple[Path, dict]:
    d = root / f"{name}-000"
    d.mkdir(parents=True, exist_ok=True)
    rec = {"stage": name, "seconds": 1.0, "resumed": False, "outputs": outputs, "inputs": {"sections": sections or {}}}
    (d / "done.json").write_text(json.dumps(rec))
    return d, rec


def _csv(path: Path, cols: dict) -> None:
    write_csv(path, {k: np.asarray(v, dtype=object if k == "arch_str" else np.float64) for k, v in cols.items()}, {})


@pytest.fixture(scope="module")
def stages(tmp_path_factory):
    """Stage folders like a finished run's, with what a real demo shows: predictions above 100 %, a front
    of one point under the pick, retrained accuracies that tie, a trajectory whose generation best drops."""
    sp = get_space("nb201")
    rng = np.random.default_rng(0)
    ids = sp.sample(300, rng, unique=True)
    archs = np.asarray(sp.decode(ids), dtype=object)
    c = sp.costs(ids)
    pred = 60 + 45 * rng.random(len(ids))  # up to 105 %: an extrapolating predictor
    root = tmp_path_factory.mktemp("run") / "stages"
    inputs = {}
    d, rec = _stage(root, "label", {"n": 60, "protocol": "top-1 %", "labels": "labels.csv"})
    _csv(d / "labels.csv", {"arch_str": archs[:60], "supernet_acc": 50 + 40 * rng.random(60)})
    inputs["label"] = (d, rec)
    d, rec = _stage(root, "fit", {"holdout_spearman": 0.8, "protocol": "held out"})
    y = 50 + 40 * rng.random(20)
    _csv(d / "holdout.csv", {"arch_str": archs[:20], "supernet_acc": y, "pred": y + rng.normal(0, 3, 20) + 8})
    inputs["fit"] = (d, rec)
    inputs["table"] = _stage(root, "table", {"kind": "full", "rows": len(ids)})
    best = int(np.argmax(np.where(c["flops_m"] <= 60, pred, -1)))
    best_row = {
        "arch_str": archs[best],
        "pred": float(pred[best]),
        "pred_std": 0.1,
        "flops_m": float(c["flops_m"][best]),
    }
    target = {
        "name": "mobile",
        "cost": "flops_m",
        "max": {"flops_m": 60.0},
        "min": {},
        "n_candidates": 5,
        "best": best_row,
        "pareto": "pareto-mobile.csv",
    }
    d, rec = _stage(root, "query", {"table": "table.csv", "targets": [target]})
    _csv(
        d / "table.csv",
        {
            "arch_str": archs,
            "params_m": c["params_m"],
            "flops_m": c["flops_m"],
            "pred": pred,
            "pred_std": np.full(len(ids), 0.5),
        },
    )
    _csv(d / "pareto-mobile.csv", {"arch_str": archs[[best]], "flops_m": c["flops_m"][[best]], "pred": pred[[best]]})
    inputs["query"] = (d, rec)
    traj = [
        {
            "generation": g,
            "best_score": b,
            "mean_score": b - 3,
            "candidates": [{"arch_str": archs[g], "score": b - k, "origin": "mutation"} for k in range(4)],
        }
        for g, b in enumerate([90.0, 93.0, 92.0, 95.0])
    ]
    d, rec = _stage(
        root,
        "shift",
        {
            "trajectory": "search/trajectory.jsonl",
            "ranking": "ranking.csv",
            "final": "final.csv",
            "target": "mobile",
            "best_arch": archs[1],
            "best_score": 95.0,
            "generations": 4,
            "visited": 16,
            "protocol": "top-1 %",
            "tau_pred_vs_before": 0.1,
            "tau_pred_vs_after": 0.3,
            "tau_before_vs_after": 0.5,
        },
        {"shift": {"steps_per_candidate": 5}},
    )
    (d / "search").mkdir()
    (d / "search" / "trajectory.jsonl").write_text("".join(json.dumps(r) + "\n" for r in traj))
    _csv(
        d / "ranking.csv",
        {
            "arch_str": archs[:10],
            "pred": pred[:10],
            "supernet_before": 80 + 10 * rng.random(10),
            "supernet_after": 90 + 9.9 * rng.random(10),
        },
    )
    _csv(d / "final.csv", {"arch_str": archs[1:4], "shifted_score": [95.0, 95.0, 94.0]})
    inputs["shift"] = (d, rec)
    results = [
        {"arch_str": archs[1], "origin": "shifting", "test_acc": 98.89, "split": "val", "epochs": 10},
        {"arch_str": EVIL, "origin": "shifting", "test_acc": 98.89, "split": "val", "epochs": 10},
        {"arch_str": archs[best], "origin": "lookup", "test_acc": 98.61, "split": "val", "epochs": 10},
    ]
    d, rec = _stage(root, "retrain", {"results": results, "log": "retrain.csv"})
    _csv(d / "retrain.csv", {"arch_str": archs[:3], "images": [720.0] * 3})
    inputs["retrain"] = (d, rec)
    return inputs


@pytest.fixture(scope="module")
def report(stages, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    paths = write_report(out, stages, {"run": {"name": "t", "seed": 0}, "space": {"name": "nb201"}}, html=True)
    return out, paths


def test_every_figure_has_a_caption_that_states_a_finding(report):
    out, paths = report
    html = (out / "report.html").read_text()
    figures = re.findall(r"<figure>.*?</figure>", html, flags=re.S)
    assert len(figures) == len(paths["figures"]) == 5
    for fig in figures:
        finding = re.search(r'<span class="finding">(.*?)</span>', fig, flags=re.S).group(1)
        assert len(finding) > 40 and re.search(r"\d", finding), finding  # a sentence with numbers in it
    for name in paths["figures"]:
        assert (out / name).stat().st_size > 1000
    md = (out / "report.md").read_text()
    assert md.count("![") == 5 and md.count("**") >= 10


def test_accuracy_axes_stay_inside_0_100_and_cost_axes_have_units(report):
    _, paths = report
    figs = paths["figures"]
    for name, fig in figs.items():
        acc = fig.xlim if name == "retrained.png" else fig.ylim
        assert 0.0 <= acc[0] < acc[1] <= 100.0, (name, acc)
        assert "%" in (fig.xlabel if name == "retrained.png" else fig.ylabel)
    assert figs["pareto_mobile.png"].xlabel == "FLOPs (M MACs)"
    assert figs["pareto_mobile.png"].clipped > 0  # predictions above 100 % drawn at the edge, and counted
    assert figs["pareto_mobile.png"].ylim[0] > 50  # zoomed on the region a user chooses from
    assert figs["predicted_vs_supernet.png"].xlim == figs["predicted_vs_supernet.png"].ylim
    retrained = figs["retrained.png"]
    assert retrained.xlim[1] - retrained.xlim[0] < 5  # a zoomed axis, not 0-100 for values near 98.9
    assert "images" in retrained.xlabel


def test_captions_say_ties_extrapolation_and_what_drops(report):
    out, _ = report
    md = (out / "report.md").read_text()
    assert "A tie at the top: #0 (shifting), #1 (shifting) both score 98.89 %" in md
    assert "(712 of 720 images)" in md
    assert "A tie: 2 of the 3 final candidates score 95.00 %" in md
    assert "an extrapolation" in md and "above 100 % it can only be read as a rank" in md
    assert "Front: one architecture" in md
    assert "a generation's best fell 1 time(s)" in md and "rose from 90.00 % (generation 0) to 95.00 %" in md
    assert "after 5 fine-tuning steps per candidate" in paths_ylabel(out)
    assert "| params_m | flops_m |" in md and "flops_m: FLOPs (M MACs)" in md


def paths_ylabel(out: Path) -> str:
    """The trajectory's y label, re-drawn from the same data (the plot functions are pure)."""
    traj = [{"generation": 0, "best_score": 1.0, "mean_score": 1.0, "candidates": []}]
    return rp.plot_trajectory(traj, out / "probe.png", steps=5).ylabel


def test_architecture_strings_are_escaped_and_wrap(report):
    out, _ = report
    html = (out / "report.html").read_text()
    assert "<script>" not in html
    assert "<td><code>&lt;script&gt;alert(1)&lt;/script&gt;|x</code></td>" in html
    assert "word-break: break-all" in html and "overflow-x: auto" in html
    md = (out / "report.md").read_text()
    assert "`<script>alert(1)</script>\\|x`" in md  # Markdown table cell: the pipe escaped


def test_missing_stages_say_so(tmp_path):
    paths = write_report(tmp_path, {}, {}, html=True)
    md = (tmp_path / "report.md").read_text()
    for text in ("Too few labels", "The query stage did not run", "Shifting was disabled", "Retraining was disabled"):
        assert text in md
    assert paths["figures"] == {} and (tmp_path / "report.html").exists()


@pytest.mark.parametrize(
    ("values", "lo", "hi"),
    [([98.9, 98.9], 98.0, 100.0), ([99.4, 100.8], 90.0, 100.0), ([-3.0, 40.0], 0.0, 50.0), ([55.0, 56.0], 54.0, 57.0)],
)
def test_accuracy_limits_fit_the_data_inside_0_100(values, lo, hi):
    a, b = rp.accuracy_limits(values)
    assert lo <= a < min(values + [100.0]) or a == 0.0
    assert max(min(values), 0) >= a and b <= hi and b <= 100.0
    assert b - a >= 1.0


def test_cost_labels_have_units():
    assert rp.cost_label("flops_m") == "FLOPs (M MACs)"
    assert rp.cost_label("params_m") == "parameters (M)"
    assert rp.cost_label("pixel3_latency") == "pixel3 latency (ms)"
    assert rp.cost_unit("flops_m") == "M MACs"
