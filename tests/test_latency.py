"""Latency measurement (timing, resumable output) and the cost model."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from torch import nn

from predictor.cost_model import CostModel, compute_features, cost_features, live_edges
from predictor.costs import MacroConfig, nb201_costs
from predictor.errors import NasgcnError
from predictor.hardware import HardwareTable
from predictor.spaces import get_space
from predictor.targets import clip_costs
from supernet.latency import MeasureConfig, measure_space, plan_classes, time_model

SPACE = get_space("nb201")
TINY = dict(channels=4, cells=1, input_size=8, warmup=1, repeats=2, threads=1)


def _fake_builder(arch: str) -> nn.Module:
    """A tiny stand-in network whose size depends on the architecture (fast, deterministic)."""
    width = 1 + sum(SPACE.parse(arch))
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, width), nn.ReLU(), nn.Linear(width, 10))


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_time_model_reports_median_and_spread():
    med, iqr, times = time_model(nn.Linear(8, 8), torch.randn(2, 8), warmup=1, repeats=7)
    assert times.shape == (7,) and np.all(times > 0)
    assert med == pytest.approx(np.median(times)) and iqr >= 0


def test_measure_writes_every_member_and_resumes(tmp_path):
    out = tmp_path / "lat.csv"
    cfg = MeasureConfig(name="toy", **TINY)
    s1 = measure_space(out, cfg, sample=4, seed=3, progress=False, builder=_fake_builder)
    assert s1["measured"] == 4 and s1["skipped"] == 0
    rows = _rows(out)
    assert list(rows[0]) == [
        "arch_str",
        "toy_latency",
        "toy_latency_iqr",
        "iso_rep",
        "batch",
        "threads",
        "device",
        "repeats",
    ]
    plan = plan_classes(4, seed=3)
    iso = SPACE.iso_class(SPACE.all_ids())
    assert len(rows) == int(np.isin(iso, plan).sum())  # all members of the 4 classes
    for r in rows:  # members share the representative's measurement
        assert (
            SPACE.iso_class(np.asarray([SPACE.parse(r["arch_str"])]))[0]
            == SPACE.iso_class(np.asarray([SPACE.parse(r["iso_rep"])]))[0]
        )
    # a kill mid-line leaves a partial last line: it is dropped, finished classes skipped
    with open(out, "a") as fh:
        fh.write("|nor_conv_3x3~0|+|none~0|no")
    s2 = measure_space(out, cfg, sample=6, seed=3, progress=False, builder=_fake_builder)
    assert s2["skipped"] == 4 and s2["measured"] == 2
    hw = HardwareTable.read(out)  # the resumed file is clean
    assert len(hw) == int(np.isin(iso, plan_classes(6, seed=3)).sum())
    assert hw.units["toy_latency"] == "ms" and hw.meta["batch"] == 1 and hw.meta["device"] == "cpu"
    assert np.all(hw["toy_latency"] > 0)


def test_resume_refuses_other_settings_and_validates(tmp_path):
    out = tmp_path / "lat.csv"
    measure_space(out, MeasureConfig(**TINY), sample=1, progress=False, builder=_fake_builder)
    with pytest.raises(NasgcnError, match="other settings"):
        measure_space(out, MeasureConfig(**{**TINY, "channels": 8}), sample=1, progress=False, builder=_fake_builder)
    with pytest.raises(NasgcnError, match="must be a positive integer"):
        MeasureConfig(repeats=0)
    with pytest.raises(NasgcnError, match="sample"):
        plan_classes(0)


def test_representatives_only(tmp_path):
    out = tmp_path / "reps.csv"
    measure_space(
        out, MeasureConfig(**TINY), sample=5, representatives_only=True, progress=False, builder=_fake_builder
    )
    rows = _rows(out)
    assert len(rows) == 5 and all(r["arch_str"] == r["iso_rep"] for r in rows)
    # iso="mean" broadcasts each representative's value to its whole class
    hw = HardwareTable.read(out, iso="mean")
    iso = SPACE.iso_class(SPACE.all_ids())
    assert len(hw) == int(np.isin(iso, plan_classes(5)).sum())


def test_cli_measures_the_real_network(tmp_path, capsys):
    pytest.importorskip("supernet.models")
    from predictor.cli.main import main

    out = tmp_path / "cpu.csv"
    argv = ["latency", "measure", "--out", str(out), "--sample", "3", "--channels", "4", "--cells", "1"]
    argv += ["--input-size", "8", "--repeats", "2", "--warmup", "1", "--threads", "1", "--no-progress"]
    assert main(argv) == 0
    assert "measured 3 isomorphism classes" in capsys.readouterr().out
    hw = HardwareTable.read(out)
    assert hw.metrics == ["cpu_latency", "cpu_latency_iqr"] and np.all(hw["cpu_latency"] > 0)
    assert main(argv) == 0  # rerun: nothing left to do
    assert "measured 0 isomorphism classes (3 already" in capsys.readouterr().out
    assert main([*argv[:-1], "--device", "cuda:99"]) == 1 or torch.cuda.is_available()


# ----- cost model ------------------------------------------------------------------------
def test_live_edges_and_features():
    ids = np.array([[3, 0, 0, 0, 0, 3], [3, 3, 3, 3, 3, 3], [0, 0, 0, 0, 0, 0]])
    live = live_edges(ids)
    # node 1 is fed but feeds nothing that reaches the output; edge 2->3 has a zero input
    assert live[0].tolist() == [False] * 6
    assert live[1].all() and not live[2].any()
    assert cost_features(ids, pairwise=False).shape == (3, 60)
    assert cost_features(ids, pairwise=True).shape == (3, 60 + 15 * 25)


def test_compute_features_describe_the_computation():
    ids = np.array([[3, 0, 0, 0, 0, 3], [3, 3, 3, 3, 3, 3], [2, 1, 3, 0, 0, 1]])
    f = compute_features(ids)
    costs = nb201_costs(ids, MacroConfig())
    np.testing.assert_allclose(f[:, 0], costs["flops_m"])
    np.testing.assert_allclose(f[:, 1], costs["params_m"])
    assert f[:, 2:7].tolist() == [[4, 0, 0, 2, 0], [0, 0, 0, 6, 0], [2, 2, 1, 1, 0]]  # ops on all edges
    assert f[:, 7:12].tolist() == [[6, 0, 0, 0, 0], [0, 0, 0, 6, 0], [2, 2, 1, 1, 0]]  # ops on live edges
    # live in-degree of nodes 1..3, deepest conv chain, live edges (row 3: conv 0->1->2 then skip to 3)
    assert f[:, 12:].tolist() == [[0, 0, 0, 0, 0], [1, 2, 3, 3, 6], [1, 2, 1, 2, 4]]


def _synthetic(n, seed, noise=0.02):
    rng = np.random.default_rng(seed)
    op_cost = np.array([0.0, 0.1, 0.5, 1.5, 0.3])
    all_ids = SPACE.all_ids()
    truth = 1.0 + op_cost[all_ids].sum(1)
    truth[SPACE.is_dead(all_ids)] = 0.05  # a compiler pruned the cut-off cells
    idx = rng.choice(SPACE.size, n, replace=False)
    y = truth[idx] * rng.normal(1, noise, n)
    return idx, y, truth


def test_cost_model_fills_the_space_with_uncertainty():
    idx, y, truth = _synthetic(300, 0)
    all_ids = SPACE.all_ids()
    model = CostModel(ensemble=4, random_state=0).fit(all_ids[idx], y)
    pred, std = model.predict(all_ids, return_std=True)
    dead = SPACE.is_dead(all_ids)
    assert np.mean(np.abs(pred[~dead] - truth[~dead]) <= 0.1 * truth[~dead]) > 0.97
    assert np.all(std[~dead] > 0)
    assert np.mean(truth[~dead] <= pred[~dead] + 2 * std[~dead]) > 0.9  # the margin covers the truth
    if (SPACE.is_dead(all_ids[idx])).any():
        np.testing.assert_allclose(pred[dead], np.median(y[SPACE.is_dead(all_ids[idx])]))
    again = CostModel(ensemble=4, random_state=0).fit(all_ids[idx], y).predict(all_ids[:50])
    np.testing.assert_array_equal(again, pred[:50])  # seeded


def test_cost_model_learns_which_archs_cannot_run():
    idx, y, _ = _synthetic(400, 1)
    ids = SPACE.all_ids()[idx]
    y = np.where(ids[:, 5] == 4, np.nan, y)  # the device cannot run pooling on edge 2->3
    model = CostModel(ensemble=2).fit(ids, y)
    pred = model.predict(SPACE.all_ids())
    cannot = SPACE.all_ids()[:, 5] == 4
    assert np.isnan(pred[cannot]).mean() > 0.95 and np.isnan(pred[~cannot]).mean() < 0.05
    proba = model.runnable_proba(SPACE.all_ids())
    assert proba[cannot].mean() < 0.1 and proba[~cannot].mean() > 0.9
    # threshold 0: never "cannot run", every value is the regression's; 1: only certain cells run
    model.runnable_threshold = 0.0
    assert not np.isnan(model.predict(SPACE.all_ids())).any()
    model.runnable_threshold = 1.0
    assert np.isnan(model.predict(SPACE.all_ids())).sum() >= np.isnan(pred).sum()
    assert CostModel(ensemble=1).fit(ids[~np.isnan(y)], y[~np.isnan(y)]).runnable_proba(ids[:3]).tolist() == [1, 1, 1]


def test_cost_model_options_change_behaviour_and_errors():
    idx, y, _ = _synthetic(200, 2)
    ids = SPACE.all_ids()[idx]
    lin = CostModel(pairwise=False, ensemble=1).fit(ids, y)
    log = CostModel(pairwise=False, ensemble=1, log=True).fit(ids, y)
    pw = CostModel(pairwise=True, ensemble=1).fit(ids, y)
    p = [m.predict(SPACE.all_ids()[:200]) for m in (lin, log, pw)]
    assert not np.allclose(p[0], p[1]) and not np.allclose(p[0], p[2])
    assert pw.pairwise_ is True and lin.pairwise_ is False
    with pytest.raises(NasgcnError, match="not fitted"):
        CostModel().predict(ids)
    with pytest.raises(NasgcnError, match="method"):
        CostModel(method="forest").fit(ids, y)
    with pytest.raises(NasgcnError, match="at least 10"):
        CostModel().fit(ids[:5], y[:5])


def test_boosted_blend_learns_non_additive_costs():
    # a device whose cost grows with the square of the longest conv chain (not a sum over edges)
    all_ids = SPACE.all_ids()
    feats = compute_features(all_ids)
    truth = 1.0 + 0.2 * feats[:, 0] / 100 + 0.5 * feats[:, 15] ** 2
    rng = np.random.default_rng(3)
    idx = rng.choice(SPACE.size, 300, replace=False)
    y = truth[idx] * rng.normal(1, 0.01, 300)
    test = rng.choice(SPACE.size, 3000, replace=False)
    test = test[~SPACE.is_dead(all_ids[test])]
    hits = {}
    for boost in (False, True):
        model = CostModel(boost=boost, ensemble=1, random_state=0).fit(all_ids[idx], y)
        assert (model.booster_ is not None) == boost
        pred = model.predict(all_ids[test])
        hits[boost] = np.mean(np.abs(pred - truth[test]) <= 0.1 * truth[test])
    assert hits[True] > hits[False] + 0.1
    # "auto" blends only from boost_min samples on
    assert CostModel(ensemble=1, boost_min=301).fit(all_ids[idx], y).booster_ is None
    # ... and only for a cost the ridge does not already fit (an additive one keeps the ridge alone)
    idx, y, _ = _synthetic(300, 4, noise=0.005)
    assert CostModel(ensemble=1, boost_min=100).fit(all_ids[idx], y).booster_ is None


# ----- other spaces -------------------------------------------------------------------------
def test_cli_measures_nbmacro_and_fbnet_networks(tmp_path, capsys):
    from predictor.cli.main import main

    out = tmp_path / "nbmacro.csv"
    argv = ["latency", "measure", "--space", "nbmacro", "--out", str(out), "--sample", "3", "--width", "0.25"]
    argv += ["--input-size", "16", "--repeats", "2", "--warmup", "1", "--threads", "1", "--no-progress"]
    assert main(argv) == 0
    assert "measured 3 isomorphism classes" in capsys.readouterr().out
    sp = get_space("nbmacro")
    rows = _rows(out)
    ids = sp.encode([r["arch_str"] for r in rows])
    assert len(rows) >= 3 and all(float(r["cpu_latency"]) > 0 for r in rows)
    # every member of a class carries its representative's time
    assert np.array_equal(sp.iso_class(ids), sp.iso_class(sp.encode([r["iso_rep"] for r in rows])))
    meta = __import__("json").loads((tmp_path / "nbmacro.csv.meta.json").read_text())
    assert meta["space"] == "nbmacro" and meta["config"]["num_classes"] == 10
    assert main(argv) == 0 and "measured 0 isomorphism classes" in capsys.readouterr().out
    fb = tmp_path / "fbnet.csv"
    argv = ["latency", "measure", "--space", "fbnet", "--out", str(fb), "--sample", "2", "--width", "0.25"]
    argv += ["--input-size", "8", "--repeats", "2", "--warmup", "1", "--threads", "1", "--no-progress"]
    assert main(argv) == 0
    rows = _rows(fb)
    assert len(rows) == 2 and all(len(r["arch_str"]) == 22 for r in rows)
    assert __import__("json").loads((tmp_path / "fbnet.csv.meta.json").read_text())["config"]["num_classes"] == 100
    assert main([*argv[:6], "--all", *argv[8:]]) == 1
    assert "fbnet" in capsys.readouterr().err


def test_measure_config_checks_space_and_width():
    with pytest.raises(NasgcnError):
        MeasureConfig(space="no_such_space")
    with pytest.raises(NasgcnError, match="width"):
        MeasureConfig(space="nbmacro", width=0)
    with pytest.raises(NasgcnError):
        plan_classes(3, space="fbnet")
    assert len(plan_classes(None, space="nbmacro")) == 3969


# ----- latency predict: any space, --archs, --save-model ------------------------------------------
def _fbnet_measured(tmp_path, n=300):
    fb = get_space("fbnet")
    ids = fb.sample(n, 0, unique=True)
    ids[0] = 0
    table = np.random.default_rng(1).uniform(0.1, 2.0, size=(fb.num_slots, len(fb.ops)))
    y = table[np.arange(fb.num_slots), ids].sum(axis=1) + 2.0
    lines = ["arch_ids,dev_latency_ms,gpu_32_latency_ms"]
    lines += [f"{s},{v:.10f},{3 * v:.10f}" for s, v in zip(fb.decode(ids), y, strict=True)]
    path = tmp_path / "measured.csv"
    path.write_text("\n".join(lines) + "\n")
    return path, fb, table


def test_cli_latency_predict_archs_on_fbnet(tmp_path, capsys):
    from predictor.cli.main import main
    from predictor.latency_model import load_cost_model
    from predictor.table import read_csv

    measured, fb, table = _fbnet_measured(tmp_path)
    want = fb.sample(7, 5)
    want[3] = 0
    (tmp_path / "archs.csv").write_text("arch_str\n" + "\n".join(fb.decode(want)) + "\n")
    out, model = tmp_path / "pred.csv", tmp_path / "lat.npz"
    argv = ["latency", "predict", str(measured), "--space", "fbnet", "--out", str(out)]
    assert main([*argv, "--archs", str(tmp_path / "archs.csv"), "--save-model", str(model)]) == 0
    frame, meta = read_csv(out)
    assert list(frame) == ["arch_str", "dev_latency", "dev_latency_std", "gpu_32_latency", "gpu_32_latency_std"]
    assert [str(a).zfill(22) for a in frame["arch_str"]] == fb.decode(want)  # file order, leading zeros
    with open(out) as fh:
        assert fh.read().splitlines()[4].startswith("0" * 22 + ",")
    truth = table[np.arange(fb.num_slots), want].sum(axis=1) + 2.0
    np.testing.assert_allclose(np.asarray(frame["dev_latency"], dtype=float), truth, rtol=1e-5)
    assert meta["space"] == "fbnet" and meta["units"]["dev_latency_std"] == "ms"
    loaded = load_cost_model(model)
    assert loaded.space == "fbnet" and loaded.columns == ["dev_latency", "gpu_32_latency"]
    assert loaded.meta["batch"]["gpu_32_latency"] == 32
    np.testing.assert_allclose(loaded.predict(want)["gpu_32_latency"][0], np.asarray(frame["gpu_32_latency"], float))
    # the whole space cannot be listed: one line saying what to pass
    capsys.readouterr()
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "pass --archs" in err and "--save-model" in err
    # --save-model alone is fine; outputs never overwrite inputs
    assert (
        main(["latency", "predict", str(measured), "--space", "fbnet", "--save-model", str(tmp_path / "m2.npz")]) == 0
    )
    assert main([*argv[:-1], str(measured), "--archs", str(tmp_path / "archs.csv")]) == 1
    assert "is the input FILE" in capsys.readouterr().err
    assert main([*argv, "--archs", str(tmp_path / "archs.csv"), "--save-model", str(tmp_path / "archs.csv")]) == 1
    assert "is the input --archs" in capsys.readouterr().err
    assert main(["latency", "predict", str(measured), "--space", "fbnet"]) == 1
    assert "give --out" in capsys.readouterr().err
    # wrong space: the digit codes are not NB-Macro architectures
    assert main(["latency", "predict", str(measured), "--space", "nbmacro", "--out", str(tmp_path / "x.csv")]) == 1
    assert "measured.csv:2:" in capsys.readouterr().err


def test_cli_latency_predict_small_spaces(tmp_path, capsys):
    from predictor.cli.main import main
    from predictor.table import read_csv

    # nbmacro: no --archs -> every architecture of the space
    nbm = get_space("nbmacro")
    ids = nbm.all_ids()[::40]
    y = 1.0 + (ids * np.arange(1, 9)).sum(axis=1) / 10
    (tmp_path / "m.csv").write_text(
        "arch,x_latency\n" + "\n".join(f"{s},{v}" for s, v in zip(nbm.decode(ids), y, strict=True))
    )
    assert (
        main(["latency", "predict", str(tmp_path / "m.csv"), "--space", "nbmacro", "--out", str(tmp_path / "o.csv")])
        == 0
    )
    frame, meta = read_csv(tmp_path / "o.csv")
    assert len(frame["arch_str"]) == nbm.size and meta["space"] == "nbmacro"
    np.testing.assert_allclose(
        np.asarray(frame["x_latency"], float), 1.0 + (nbm.all_ids() * np.arange(1, 9)).sum(axis=1) / 10, rtol=1e-6
    )
    # nb201 with --archs: the ridge/boosted cost model as before, one row per listed architecture
    nb_ids = SPACE.sample(60, 0, unique=True)
    cost = 1.0 + (nb_ids == 3).sum(axis=1)
    rows = "\n".join(f"{s},{v}" for s, v in zip(SPACE.decode(nb_ids), cost, strict=True))
    (tmp_path / "nb.csv").write_text("arch_str,dev_latency\n" + rows + "\n")
    (tmp_path / "a.csv").write_text("arch_str\n" + "\n".join(SPACE.decode(nb_ids[:4])) + "\n")
    argv = ["latency", "predict", str(tmp_path / "nb.csv"), "--out", str(tmp_path / "p.csv"), "--ensemble", "1"]
    assert main([*argv, "--archs", str(tmp_path / "a.csv")]) == 0
    frame, meta = read_csv(tmp_path / "p.csv")
    assert list(frame) == ["arch_str", "dev_latency", "dev_latency_std"] and len(frame["arch_str"]) == 4
    assert meta["models"]["dev_latency"]["method"] == "additive" and meta["space"] == "nb201"
    assert main([*argv, "--save-model", str(tmp_path / "nb.npz"), "--method", "additive"]) == 1
    assert "cannot be saved" in capsys.readouterr().err


def test_cost_model_reads_the_space():
    # NB-Macro: features come from the space (canonical ids, adjacent pairs, per-stage MACs)
    nbm = get_space("nbmacro")
    ids = nbm.all_ids()
    f = compute_features(ids, "nbmacro")
    np.testing.assert_allclose(f[:, 0], nbm.costs(ids)["flops_m"])
    assert f.shape == (nbm.size, 2 + 2 * 3 + 3 + 1)
    assert cost_features(ids[:4], True, "nbmacro").shape == (4, 2 * 8 * 3 + 7 * 9)
    assert live_edges(ids[:4], "nbmacro").all()
    rng = np.random.default_rng(0)
    idx = rng.choice(nbm.size, 400, replace=False)
    y = 1.0 + f[:, 0] / 100
    model = CostModel(ensemble=2, space="nbmacro").fit(ids[idx], y[idx] * rng.normal(1, 0.01, 400))
    pred = model.predict(ids)
    assert np.mean(np.abs(pred - y) <= 0.05 * y) > 0.95


def test_cost_predictions_are_never_negative(caplog):
    """A linear fit on a few cells extrapolates: cells with many skips would be predicted below 0 ms.

    The README's own tour hit this (30 noisy timings, ``latency predict`` then refused to write the
    file). Costs are clipped at 0, with one log line; NaN ("cannot run") stays NaN.
    """
    import logging

    all_ids = SPACE.all_ids()
    n_skip = (all_ids == 1).sum(1)
    few = np.flatnonzero((n_skip <= 2) & ~SPACE.is_dead(all_ids))[:200]
    y = 6.0 - 2.0 * n_skip[few] + np.random.default_rng(0).normal(0, 0.05, few.size)  # 2-6 ms
    model = CostModel(pairwise=False, ensemble=2, boost=False, random_state=0).fit(all_ids[few], y)
    with caplog.at_level(logging.INFO, logger="predictor.targets"):
        pred, std = model.predict(all_ids, return_std=True)
    assert (pred >= 0).all() and (pred[n_skip == 6] == 0).all() and np.isfinite(std).all()
    assert "predicted costs were below 0 and are clipped to 0" in caplog.text
    assert np.isnan(clip_costs(np.array([np.nan, -1.0, 2.0]), "x")).tolist() == [True, False, False]
    np.testing.assert_array_equal(clip_costs(np.array([-1.0, 2.0]), "x"), [0.0, 2.0])
