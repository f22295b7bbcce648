"""Honest numbers: predictions within the target's range, cut-off cells as what they are, extrapolation said."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from predictor.cli.main import main
from predictor.errors import NasgcnError
from predictor.gcn import GCNPredictor
from predictor.lookup import LookupTable
from predictor.spaces import get_space
from predictor.targets import chance_value, infer_range, metric_kind, parse_range

SPACE = get_space("nb201")
ALL = SPACE.all_ids()
DEAD = SPACE.is_dead(ALL)
SMALL = dict(hidden=8, num_layers=2, epochs=30, ensemble=2, random_state=0)
FAST = ["--epochs", "3", "--ensemble", "2", "--hidden", "8", "--layers", "2", "--quiet"]


def near_top(n: int = 150, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels near the top of their range, trained without the best cells: the network extrapolates above."""
    rng = np.random.default_rng(seed)
    ids = SPACE.sample(n, rng, unique=True)
    ids = ids[(ids == 3).sum(1) <= 3]
    y = 88 + 2.0 * (ids == 3).sum(1) - 1.5 * (ids == 0).sum(1) + rng.normal(0, 0.2, len(ids))
    y[SPACE.is_dead(ids)] = 10.0  # what NB201's cut-off cells score
    return ids, y


@pytest.fixture(scope="module")
def top_data():
    ids, y = near_top()
    assert SPACE.is_dead(ids).sum() >= 2
    return ids, y


def test_target_names_declare_ranges():
    assert infer_range("c10_test_acc") == (0.0, 100.0) and infer_range("supernet_acc") == (0.0, 100.0)
    assert infer_range("accuracy") == (0.0, 100.0) and metric_kind("valid_top1") == "accuracy"
    assert infer_range("supernet_loss") == (0.0, math.inf) and infer_range("-supernet_loss") == (-math.inf, 0.0)
    assert infer_range("pixel3_latency") == (0.0, math.inf) and infer_range("flops_m") == (0.0, math.inf)
    assert infer_range("naswot_score_v1") == (-math.inf, math.inf) and infer_range(None) == (-math.inf, math.inf)
    assert infer_range("-c10_test_acc") == (-100.0, 0.0)
    assert parse_range("0,") == (0.0, math.inf) and parse_range(",5") == (-math.inf, 5.0)
    assert parse_range([None, 3]) == (-math.inf, 3.0) and parse_range(None) is None
    for bad in ("5", "a,b", "3,1", "1,1,2"):
        with pytest.raises(NasgcnError, match="target-range"):
            parse_range(bad)
    assert chance_value("c10_test_acc", 10) == 10.0 and chance_value("acc", 10, percent=False) == 0.1
    assert chance_value("supernet_loss", 10) == pytest.approx(math.log(10))
    assert chance_value("-supernet_loss", 10) == pytest.approx(-math.log(10))
    assert chance_value("pixel3_latency", 10) is None and chance_value("acc", None) is None


def test_predictions_are_clipped_to_the_target_range(top_data, tmp_path):
    ids, y = top_data
    raw = GCNPredictor(**SMALL, target_range=(None, None)).fit(ids, y).predict_space()
    hi = float(y.max()) + 0.5
    assert raw.max() > hi  # without a bound the network extrapolates past anything the labels reached
    est = GCNPredictor(**SMALL, target_range=(0, hi)).fit(ids, y)
    pred, std = est.predict_space(return_std=True)
    assert pred.max() <= hi and pred.min() >= 0 and np.all(std >= 0)
    assert est.predict(ALL[:50]).max() <= hi
    est.save(tmp_path / "m.pt")  # the range is recorded in the model file and applied after loading
    cfg = json.loads((tmp_path / "m.pt.json").read_text())
    assert cfg["target_range"] == [0.0, hi] and cfg["params"]["target_range"] == [0.0, hi]
    assert cfg["label_range"] == [pytest.approx(float(y.min())), pytest.approx(float(y.max()))]
    back = GCNPredictor.load(tmp_path / "m.pt")
    np.testing.assert_array_equal(back.predict_space(), pred)
    # inferred from the target's name (what 'nasgcn fit' records): accuracy is at most 100
    inferred = GCNPredictor(**SMALL).fit(ids, y + (100 - hi))
    inferred.target_ = "c10_test_acc"
    assert inferred.target_bounds() == (0.0, 100.0) and inferred.predict_space().max() <= 100.0


def test_fit_refuses_labels_the_target_cannot_take(top_data):
    ids, y = top_data
    with pytest.raises(NasgcnError, match=r"outside the declared range \[0, 100\]"):
        GCNPredictor(**SMALL, target_range=(0, 100)).fit(ids, np.where(np.arange(len(y)) == 3, 101.0, y))
    with pytest.raises(NasgcnError, match="too large to standardize"):
        GCNPredictor(**SMALL).fit(ids, np.where(np.arange(len(y)) == 0, 1e308, y))
    with pytest.raises(NasgcnError, match="target_range"):
        GCNPredictor(**SMALL, target_range="9,1").fit(ids, y)
    with pytest.raises(NasgcnError, match="dead_value"):
        GCNPredictor(**SMALL, dead_value="chance").fit(ids, y)


def test_cut_off_cells_are_predicted_as_what_they_are(top_data):
    ids, y = top_data
    dead_tr = SPACE.is_dead(ids)
    y = y.copy()
    y[dead_tr] = 10.0 + 0.1 * np.arange(dead_tr.sum())  # their labels' median and spread are used
    est = GCNPredictor(**SMALL).fit(ids, y)
    raw = GCNPredictor(**SMALL, dead_value=None).fit(ids, y).predict_space()
    pred, std = est.predict_space(return_std=True)
    assert np.all(pred[DEAD] == pytest.approx(np.median(y[dead_tr])))
    assert np.all(std[DEAD] == pytest.approx(y[dead_tr].std()))
    assert np.abs(raw[DEAD] - np.median(y[dead_tr])).max() > 1.0  # the network alone does not get there
    np.testing.assert_allclose(pred[~DEAD], raw[~DEAD])  # every other cell is predicted as before
    assert est.dead_prediction()[2].startswith("median of")
    # a declared value, and no rule at all
    fixed = GCNPredictor(**SMALL, dead_value=12.5).fit(ids, y)
    p2, s2 = fixed.predict(ALL[DEAD][:20], return_std=True)
    assert np.all(p2 == 12.5) and np.all(s2 == 0)
    # no dead training labels: chance level for an accuracy target (std 0), nothing for a latency
    live = ~dead_tr
    est = GCNPredictor(**SMALL).fit(ids[live], y[live])
    assert est.dead_prediction() is None  # no name, no range: the network's output stays
    est.target_ = "c10_test_acc"
    assert est.dead_prediction()[:2] == (10.0, 0.0)
    p3, s3 = est.predict(ALL[DEAD], return_std=True)
    assert np.all(p3 == 10.0) and np.all(s3 == 0.0)
    est.target_ = "pixel3_latency"
    assert est.dead_prediction() is None


def test_extrapolation_is_marked(top_data):
    ids, y = top_data
    est = GCNPredictor(**SMALL, target_range=(0, 100)).fit(ids, y)
    pred = est.predict_space()
    ext = est.extrapolated(pred=pred)
    assert ext.shape == pred.shape and ext.dtype == bool
    assert ext[pred > y.max()].all() and ext[np.argmax(pred)]  # the predicted top rests on extrapolation
    assert not ext[DEAD].any()  # cut-off cells are predicted from their labels, not extrapolated
    trained = SPACE.index_of(ids[~SPACE.is_dead(ids)])
    inside = (pred[trained] <= y.max()) & (pred[trained] >= y.min())
    assert not ext[trained][inside].any()  # a training cell predicted within the labels is not
    np.testing.assert_array_equal(est.extrapolated(ALL[:300]), ext[:300])


def test_nb201_cut_off_cells_score_chance_and_are_predicted_so(ground_truth):
    """Truth: all 341 cut-off cells score exactly 10 % on CIFAR-10 test; a fit on 100 true labels says so."""
    ids = SPACE.encode(ground_truth["arch_str"].tolist())
    dead = SPACE.is_dead(ids)
    truth = ground_truth["c10_test_acc"].to_numpy()
    assert dead.sum() == 341 and np.all(truth[dead] == 10.0) and truth[~dead].min() > 40
    rng = np.random.default_rng(0)
    tr = rng.choice(len(truth), 100, replace=False)
    est = GCNPredictor(hidden=16, num_layers=2, epochs=40, ensemble=2, random_state=0, dead_value=None)
    est.fit(ids[tr], truth[tr])
    assert np.abs(est.predict(ids[dead]) - 10.0).min() > 5  # what the network alone predicts for them
    est.set_params(dead_value="auto")
    est.target_ = "c10_test_acc"
    pred, std = est.predict(ids, return_std=True)
    np.testing.assert_array_equal(pred[dead], 10.0)
    np.testing.assert_array_equal(std[dead], 0.0)
    assert pred.max() <= 100.0


# ----- command line -----------------------------------------------------------------------------------
def write_log(path, ids, column, values):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["arch_str", column])
        for s, v in zip(SPACE.decode(ids), values, strict=True):
            w.writerow([s, repr(float(v))])
    return str(path)


@pytest.fixture(scope="module")
def fitted_cli(tmp_path_factory, top_data):
    d = tmp_path_factory.mktemp("bounds")
    ids, y = top_data
    log = write_log(d / "acc.csv", ids, "test_acc", y)
    model = str(d / "m.pt")
    assert main(["fit", log, "--target", "test_acc", "--out", model, *FAST]) == 0
    table = str(d / "t.csv")
    assert main(["table", model, "--out", table]) == 0
    return d, model, table


def test_cli_fit_records_range_and_table_marks_extrapolation(fitted_cli, caplog):
    d, model, table = fitted_cli
    cfg = json.loads(open(model + ".json").read())
    assert cfg["target_range"] == [0.0, 100.0] and cfg["dead_labels"]["n"] >= 2
    t = LookupTable.load(table)
    assert t.meta["target_range"] == [0.0, 100.0] and t.meta["dead"]["value"] == 10.0
    assert t["pred"].max() <= 100 and np.all(t["pred"][DEAD] == 10.0)
    assert t["extrapolated"].dtype == bool and t["extrapolated"].any() and not t["extrapolated"].all()
    with caplog.at_level("INFO"):
        assert main(["table", model, "--out", str(d / "t2.csv")]) == 0
    assert "rest on extrapolation" in caplog.text


def test_cli_fit_target_range_option(fitted_cli, tmp_path, capsys):
    d, _, _ = fitted_cli
    ids, y = near_top(60, 3)
    log = write_log(tmp_path / "score.csv", ids, "score", y)
    model = str(tmp_path / "s.pt")
    assert main(["fit", log, "--target", "score", "--target-range", "0,95", "--out", model, *FAST]) == 0
    assert json.loads(open(model + ".json").read())["target_range"] == [0.0, 95.0]
    assert main(["fit", log, "--target", "score", "--target-range", "0,90", "--out", model, *FAST]) == 1
    err = capsys.readouterr().err
    assert "outside [0, 90]" in err and "--target-range" in err and "Traceback" not in err
    assert main(["fit", log, "--target", "score", "--target-range", "x", "--out", model, *FAST]) == 1
    assert "--target-range" in capsys.readouterr().err
    neg = write_log(tmp_path / "lat.csv", ids, "dev_latency", y - 100)  # a negative latency is refused
    assert main(["fit", neg, "--target", "dev_latency", "--out", model, *FAST]) == 1
    err = capsys.readouterr().err  # refused by the reader or by fit, with the range and the column
    assert "dev_latency" in err and "outside [0," in err


def test_cli_never_writes_or_ranks_non_finite_predictions(fitted_cli, tmp_path, capsys, monkeypatch):
    d, model, table = fitted_cli
    ids, y = near_top(60, 4)
    huge = write_log(tmp_path / "huge.csv", ids, "score", np.where(np.arange(len(y)) == 0, 1e308, y))
    assert main(["fit", huge, "--target", "score", "--out", str(tmp_path / "h.pt"), *FAST]) == 1
    capsys.readouterr()

    def broken(self, return_std=False):
        pred = np.full(SPACE.size, -np.inf)
        return (pred, np.zeros(SPACE.size)) if return_std else pred

    monkeypatch.setattr(GCNPredictor, "predict_space", broken)
    assert main(["table", model, "--out", str(tmp_path / "bad.csv")]) == 1
    err = capsys.readouterr().err
    assert "not finite" in err and "refit" in err
    assert not (tmp_path / "bad.csv").exists()
    with pytest.raises(NasgcnError, match="not finite"):
        LookupTable.build(np.full(SPACE.size, np.nan))
    # a table edited (or written by an older version) with -inf predictions: query refuses it
    rows = list(csv.DictReader(open(table)))
    bad = tmp_path / "inf.csv"
    with open(bad, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({**r, "pred": "-inf"})
    assert main(["query", str(bad), "--top", "3", "--json"]) == 1
    out = capsys.readouterr()
    assert "-inf" not in out.out and "pred" in out.err and "Traceback" not in out.err


def test_cli_query_marks_extrapolated_picks(fitted_cli, capsys, caplog):
    _, _, table = fitted_cli
    with caplog.at_level("INFO"):
        assert main(["query", table, "--top", "5", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    t = LookupTable.load(table)
    where = {a: bool(e) for a, e in zip(t["arch_str"].tolist(), t["extrapolated"], strict=True)}
    assert [r["extrapolated"] for r in rows] == [where[r["arch_str"]] for r in rows]
    assert any(r["extrapolated"] for r in rows) and "rest on extrapolation" in caplog.text


# ----- ties in the supernet summaries ---------------------------------------------------------------
def test_shifting_summary_reports_ties():
    from types import SimpleNamespace

    from supernet.shifting import SearchState, SupernetShifting

    scores = {"a": 98.607, "b": 98.5, "c": 98.607, "d": 98.607, "e": 98.607}
    fake = SimpleNamespace(
        config=SimpleNamespace(final_top=5, generations=1),
        evaluate=lambda archs: np.array([scores[a] for a in archs]),
        run_dir=None,
        space="nb201",
    )
    state = SearchState(generation=1, parents=[(a, 0.0) for a in scores])
    res = SupernetShifting._result(fake, state)
    top4 = [r for r in res.ranking if r["score"] == 98.607]
    assert [r["rank"] for r in top4] == [1] * 4 and all(r["tied_with"] == 3 for r in top4)
    assert res.ranking[-1] == {"arch_str": "b", "score": 98.5, "rank": 5, "tied_with": 0}
    assert res.best_tied_with == 3 and res.to_dict()["best_tied_with"] == 3


def test_retrain_records_report_ties():
    from supernet.retrain import _mark_ties

    recs = [{"acc": 98.89}, {"acc": 98.8900}, {"acc": 97.5}, {"acc": 98.89000001}]
    _mark_ties(recs)
    assert [r["rank"] for r in recs] == [1, 1, 4, 1] and [r["tied_with"] for r in recs] == [2, 2, 0, 2]
    _mark_ties([])
