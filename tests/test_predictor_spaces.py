"""The predictor layer on every space: GCN, lookup table, CLI fit/table/evaluate/suggest, sequential search.

NB-Macro (6,561 architectures) is tabulated; FBNet (9^22) is not, and every whole-space path says
so clearly. Small settings: each test runs in seconds.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from predictor.acquisition import sequential_search
from predictor.cli.main import main
from predictor.errors import NasgcnError
from predictor.gcn import GCNPredictor
from predictor.logs import read_log
from predictor.lookup import LookupTable
from predictor.spaces import get_space

MACRO = get_space("nbmacro")
FB = get_space("fbnet")
TINY = dict(epochs=4, ensemble=2, hidden=8, num_layers=2, random_state=0)
FAST = ["--epochs", "3", "--ensemble", "2", "--hidden", "8", "--layers", "2", "--quiet"]


def macro_labels(ids: np.ndarray) -> np.ndarray:
    """A synthetic accuracy that depends on the ops and their position (not a function of costs alone)."""
    w = np.linspace(1.0, 2.0, ids.shape[1])
    return 80 + ((ids == 2) * w).sum(1) + 0.5 * ((ids == 1) * w[::-1]).sum(1)


def write_log(path, strings, column, values, arch_column="arch_str"):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([arch_column, column])
        for s, v in zip(strings, values, strict=True):
            w.writerow([s, f"{v:.4f}"])
    return str(path)


@pytest.fixture(scope="module")
def macro_model():
    ids = MACRO.sample(60, 0, unique=True)
    return GCNPredictor(space="nbmacro", **TINY).fit(ids, macro_labels(ids))


# ----- GCN ---------------------------------------------------------------------------------
def test_gcn_nbmacro_fit_predict_save_load(macro_model, tmp_path):
    pred, std = macro_model.predict_space(return_std=True)
    assert pred.shape == std.shape == (MACRO.size,) and np.all(np.isfinite(pred)) and std.max() > 0
    some = MACRO.sample(50, 3)
    assert np.allclose(macro_model.predict(some), pred[MACRO.index_of(some)], atol=1e-5)
    assert np.allclose(macro_model.predict(MACRO.decode(some)), pred[MACRO.index_of(some)], atol=1e-5)
    assert np.allclose(macro_model.predict_sparse(some), macro_model.predict(some), atol=1e-4)
    path = tmp_path / "m.pt"
    macro_model.save(path)
    assert json.loads((tmp_path / "m.pt.json").read_text())["space"] == "nbmacro"
    back = GCNPredictor.load(path)
    assert back.space == "nbmacro"
    assert np.allclose(back.predict_space(), pred, atol=1e-6)
    with pytest.raises(NasgcnError, match="nbmacro"):
        GCNPredictor.load(path, space="nb201")


def test_gcn_nbmacro_isomorphic_archs_predict_the_same(macro_model):
    # Stage 2 is layers 2-4: identity (0) after its first layer is a no-op and commutes.
    a, b, c = "11101222", "11110222", "11011222"
    assert MACRO.canonical(a) == MACRO.canonical(b) != MACRO.canonical(c)
    pa, pb, pc = macro_model.predict([a, b, c])
    assert pa == pb and pa != pc
    # Every class gets one value over the whole space.
    pred = macro_model.predict_space()
    cls = MACRO.iso_class(MACRO.all_ids())
    spread = np.zeros(MACRO.num_unique)
    np.maximum.at(spread, cls, pred - macro_model.predict(MACRO.unique_ids())[cls])
    assert np.abs(spread).max() == 0


def test_gcn_fbnet_fit_predict_save_load(tmp_path):
    ids = FB.sample(40, 0, unique=True)
    y = 60 + (ids == 7).sum(1) - 0.5 * (ids == 8).sum(1)
    est = GCNPredictor(space="fbnet", **TINY).fit(ids, y)
    test = FB.sample(200, 1)
    pred, std = est.predict(test, return_std=True)
    assert pred.shape == (200,) and np.all(np.isfinite(pred)) and np.all(std >= 0)
    # isomorphic copies (skips after a stage's first layer commute) predict the same
    assert np.array_equal(est.predict(FB.canonical_ids(test)), pred)
    est.save(tmp_path / "fb.pt")
    back = GCNPredictor.load(tmp_path / "fb.pt", space="fbnet")
    assert np.allclose(back.predict(test), pred, atol=1e-6)
    with pytest.raises(NasgcnError, match="cannot be enumerated"):
        est.predict_space()


# ----- lookup table ------------------------------------------------------------------------
def test_table_nbmacro_rows_costs_and_round_trip(macro_model, tmp_path):
    pred, std = macro_model.predict_space(return_std=True)
    table = LookupTable.build(pred, std, space="nbmacro")
    assert len(table) == MACRO.size == 6561 and table.meta["space"] == "nbmacro"
    ids = MACRO.all_ids()
    costs = MACRO.costs(ids)
    assert np.array_equal(table["params_m"], costs["params_m"]) and np.array_equal(table["flops_m"], costs["flops_m"])
    assert np.array_equal(table["iso_class"], MACRO.iso_class(ids)) and np.unique(table["iso_class"]).size == 3969
    assert table["arch_str"][0] == "00000000"
    table.save(tmp_path / "t.csv")
    back = LookupTable.load(tmp_path / "t.csv")
    assert back["arch_str"][0] == "00000000" and back["arch_str"].dtype == object  # leading zeros kept
    assert back.space == "nbmacro"
    with pytest.raises(NasgcnError, match="nbmacro"):
        back.check_space("nb201")
    with pytest.raises(NasgcnError, match="cannot be enumerated"):
        LookupTable.build(np.zeros(3), space="fbnet")


# ----- CLI ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cli_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("spaces_cli")
    ids = MACRO.sample(60, 0, unique=True)
    ids[0] = [0, 0, 0, 1, 2, 2, 2, 2]  # a leading-zero code must survive the CSV round trip
    strings = MACRO.decode(ids)
    write_log(d / "macro.csv", strings, "mean_acc", macro_labels(ids))
    write_log(d / "macro_arch.csv", strings, "mean_acc", macro_labels(ids), arch_column="arch")
    every = MACRO.all_ids()
    write_log(d / "truth.csv", MACRO.decode(every), "mean_acc", macro_labels(every), arch_column="arch")
    model = str(d / "m.pt")
    assert main(["fit", str(d / "macro.csv"), "--space", "nbmacro", "--target", "mean_acc", "--out", model, *FAST]) == 0
    return d


def test_cli_fit_digit_codes_with_leading_zeros(cli_dir):
    log = read_log(cli_dir / "macro.csv", space="nbmacro", metrics=["mean_acc"])
    assert log.arch_str[0] == "00012222"
    cfg = json.loads((cli_dir / "m.pt.json").read_text())
    assert cfg["space"] == "nbmacro" and cfg["n_train"] == 60
    # an `arch` column (the NAS-Bench-Macro file's name) is read as arch_str
    alias = str(cli_dir / "m_arch.pt")
    assert main(["fit", str(cli_dir / "macro_arch.csv"), "--space", "nbmacro", "--target", "mean_acc",
                 "--out", alias, *FAST]) == 0  # fmt: skip
    assert json.loads((cli_dir / "m_arch.pt.json").read_text())["data_sha256"] == cfg["data_sha256"]


def test_cli_table_evaluate_suggest_nbmacro(cli_dir, capsys):
    out = str(cli_dir / "t.csv")
    assert main(["table", str(cli_dir / "m.pt"), "--out", out]) == 0
    with open(out) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6561 and rows[0]["arch_str"] == "00000000"
    assert json.loads((cli_dir / "t.csv.meta.json").read_text())["space"] == "nbmacro"
    capsys.readouterr()
    assert main(["evaluate", out, "--truth", str(cli_dir / "truth.csv"), "--column", "mean_acc", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["space"] == "nbmacro" and report["n"] == 6561
    from predictor.metrics import kendall_tau

    pred = np.array([float(r["pred"]) for r in rows])
    truth = np.round(macro_labels(MACRO.encode([r["arch_str"] for r in rows])), 4)  # as written
    assert report["kendall_tau"] == pytest.approx(kendall_tau(truth, pred))  # joined row by row
    nxt = str(cli_dir / "next.csv")
    assert main(["suggest", str(cli_dir / "m.pt"), "--k", "4", "--out", nxt,
                 "--exclude", str(cli_dir / "macro.csv")]) == 0  # fmt: skip
    with open(nxt) as fh:
        picked = list(csv.DictReader(fh))
    assert len(picked) == 4 and len({r["iso_class"] for r in picked}) == 4
    measured = {MACRO.canonical(s) for s in read_log(cli_dir / "macro.csv", space="nbmacro").arch_str}
    assert not {MACRO.canonical(r["arch_str"]) for r in picked} & measured
    assert main(["suggest", out, "--k", "2", "--out", nxt]) == 0  # from the table: its space is recorded


def test_cli_table_on_fbnet_fails_in_one_line(tmp_path, capsys):
    ids = FB.sample(30, 0, unique=True)
    log = write_log(tmp_path / "fb.csv", FB.decode(ids), "acc", 60 + (ids == 3).sum(1))
    model = str(tmp_path / "fb.pt")
    assert main(["fit", log, "--space", "fbnet", "--target", "acc", "--out", model, *FAST]) == 0
    capsys.readouterr()
    assert main(["table", model, "--out", str(tmp_path / "t.csv")]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "fbnet" in err and "nasgcn search" in err
    assert not (tmp_path / "t.csv").exists()
    assert main(["suggest", model, "--k", "2", "--out", str(tmp_path / "n.csv")]) == 1
    assert "nasgcn search" in capsys.readouterr().err


def test_cli_refuses_a_space_mismatch(cli_dir, tmp_path, capsys):
    model = str(cli_dir / "m.pt")
    # a model for nbmacro used as nb201
    assert main(["suggest", model, "--space", "nb201", "--k", "2", "--out", str(tmp_path / "n.csv")]) == 1
    assert "'nbmacro', not 'nb201'" in capsys.readouterr().err
    # an nb201 table with --space nbmacro
    nb = get_space("nb201")
    LookupTable.build(np.zeros(nb.size)).to_csv(tmp_path / "nb.csv")
    assert main(["suggest", str(tmp_path / "nb.csv"), "--space", "nbmacro", "--k", "2",
                 "--out", str(tmp_path / "n.csv")]) == 1  # fmt: skip
    assert "'nb201', not 'nbmacro'" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "nb.csv"), "--space", "nbmacro", "--truth",
                 str(cli_dir / "truth.csv"), "--column", "mean_acc"]) == 1  # fmt: skip
    assert "'nb201', not 'nbmacro'" in capsys.readouterr().err
    # a log recorded (LOG.meta.json) for nb201, fitted as nbmacro; and excluded in a nbmacro suggest
    nb_log = write_log(tmp_path / "nb_log.csv", nb.decode(nb.sample(5, 0)), "acc", np.arange(5.0))
    (tmp_path / "nb_log.csv.meta.json").write_text(json.dumps({"space": "nb201"}))
    assert main(["fit", nb_log, "--space", "nbmacro", "--target", "acc", "--out", str(tmp_path / "x.pt"), *FAST]) == 1
    assert "log" in (err := capsys.readouterr().err) and "'nb201', not 'nbmacro'" in err
    assert main(["suggest", model, "--k", "2", "--out", str(tmp_path / "n.csv"), "--exclude", nb_log]) == 1
    assert "'nb201', not 'nbmacro'" in capsys.readouterr().err


# ----- sequential search ------------------------------------------------------------------
def test_sequential_search_nbmacro():
    all_ids = MACRO.all_ids()
    truth = macro_labels(all_ids)
    noisy = MACRO.sample(40, 0, unique=True)
    noisy_y = macro_labels(noisy) + np.random.default_rng(0).normal(0, 1.0, 40)
    res = sequential_search(
        noisy,
        noisy_y,
        lambda archs: truth[MACRO.index_of(MACRO.encode(archs))],
        k=4,
        batch=2,
        random_state=0,
        space="nbmacro",
        epochs=4,
        ensemble=2,
        hidden=8,
        num_layers=2,
    )
    assert res.measured.size == 4 and np.unique(MACRO.iso_class(all_ids[res.measured])).size == 4
    assert np.allclose(res.measured_y, truth[res.measured])
    assert res.pred.shape == (MACRO.size,) and np.isfinite(res.pred[res.best])
    assert np.allclose(res.pred[res.measured], res.measured_y)  # measurements overlaid
    with pytest.raises(NasgcnError, match="cannot be enumerated"):
        sequential_search(FB.sample(5, 0), np.arange(5.0), lambda a: np.zeros(len(a)), k=2, space="fbnet")


def test_sequential_search_without_noisy_labels():
    all_ids = MACRO.all_ids()
    truth = macro_labels(all_ids)
    calls: list[int] = []

    def oracle(archs):
        calls.append(len(archs))
        return truth[MACRO.index_of(MACRO.encode(archs))]

    res = sequential_search(
        None, None, oracle, k=5, batch=2, first_batch=3, random_state=1, space="nbmacro", **{
            k: v for k, v in TINY.items() if k != "random_state"}
    )  # fmt: skip
    assert calls == [3, 2] and res.measured.size == 5
    assert res.history[0]["model_chosen"] == 0 and res.history[1]["model_chosen"] == 2
    assert res.model.n_sources_ == 1 and res.model.n_train_ == 5  # fitted on the true values alone
    assert res.pred[res.best] >= res.measured_y.max()  # the pick is the best measured or rated above it
