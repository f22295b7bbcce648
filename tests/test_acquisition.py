"""Sequential acquisition (:mod:`predictor.acquisition`) and ``nasgcn suggest``, with tiny models and synthetic oracles."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from predictor.acquisition import (
    _batches,
    acquire,
    explore,
    neighbourhood,
    novel_mutations,
    selection_bias,
    sequential_search,
    untested_pairs,
)
from predictor.cli.main import main
from predictor.errors import NasgcnError
from predictor.lookup import LookupTable
from predictor.spaces import get_space

SPACE = get_space("nb201")
IDS = SPACE.all_ids()
CLS = SPACE.iso_class(IDS)
DEAD = SPACE.is_dead(IDS)
TINY = {"epochs": 3, "ensemble": 2, "hidden": 8, "num_layers": 2}


def truth(ids: np.ndarray) -> np.ndarray:
    """A smooth synthetic accuracy: 3x3 convs good, ``none`` bad."""
    return 80 + 2.0 * (ids == 3).sum(1) + 1.0 * (ids == 2).sum(1) - 1.5 * (ids == 0).sum(1)


class Oracle:
    """Ground-truth lookup that records every call."""

    def __init__(self, fail: set[int] | None = None) -> None:
        self.calls: list[list[str]] = []
        self.fail = fail or set()

    def __call__(self, archs: list[str]) -> np.ndarray:
        self.calls.append(list(archs))
        idx = SPACE.index_of(SPACE.encode(archs))
        return np.array([np.nan if i in self.fail else v for i, v in zip(idx, truth(IDS[idx]), strict=True)])


@pytest.fixture(scope="module")
def noisy():
    ids = SPACE.sample(60, 0, unique=True)
    rng = np.random.default_rng(0)
    return ids, 0.5 * truth(ids) - 10 + rng.normal(0, 1.0, len(ids))


def test_batches():
    assert _batches(20, 5) == [5, 5, 5, 5]
    assert _batches(10, 4) == [4, 4, 2]
    assert _batches(5, 1) == [2, 1, 1, 1]
    assert sum(_batches(7, 20)) == 7
    with pytest.raises(NasgcnError):
        _batches(1, 5)


def test_acquire_skips_dead_measured_infeasible():
    pred = np.random.default_rng(0).normal(size=SPACE.size)
    pred[DEAD] = 100.0  # dead cells must never be chosen however good they look
    feasible = np.random.default_rng(1).random(SPACE.size) < 0.5
    exclude = IDS[np.argsort(-np.where(DEAD, -np.inf, pred))[:30]]
    got = acquire(pred, 25, exclude=exclude, feasible=feasible)
    assert got.size == 25
    assert np.unique(CLS[got]).size == 25
    assert feasible[got].all() and not DEAD[got].any()
    assert not np.isin(CLS[got], SPACE.iso_class(exclude)).any()
    allowed = feasible & ~DEAD & ~np.isin(CLS, SPACE.iso_class(exclude))
    assert pred[got[0]] == pred[allowed].max()
    assert np.all(np.diff(pred[got]) <= 0)


def test_acquire_ucb_prefers_uncertain():
    pred = np.zeros(SPACE.size)
    std = np.zeros(SPACE.size)
    pred[100], std[200] = 1.0, 5.0
    assert acquire(pred, 1, std, beta=0.0)[0] == 100
    assert acquire(pred, 1, std, beta=1.0)[0] == 200


def test_explore_pool_and_seed():
    pred = np.arange(SPACE.size, dtype=float)
    feasible = ~DEAD
    a = explore(pred, 10, np.random.default_rng(3), pool=0.05, feasible=feasible)
    b = explore(pred, 10, np.random.default_rng(3), pool=0.05, feasible=feasible)
    assert np.array_equal(a, b) and np.unique(CLS[a]).size == 10
    assert pred[a].min() >= np.quantile(pred[feasible], 0.94)
    with pytest.raises(NasgcnError):
        explore(pred, 3, np.random.default_rng(0), pool=0.0)


def test_neighbourhood():
    a = IDS[[1234]]
    near = neighbourhood(a, 1)
    mates = np.flatnonzero(CLS == CLS[1234])
    assert near[mates].all()  # the anchor and its isomorphic copies
    for m in mates:  # every single-op change of every copy
        assert ((IDS != IDS[m]).sum(1) == 1)[~near].sum() == 0
    assert neighbourhood(a, 2).sum() > near.sum()


def test_sequential_search_local(noisy):
    ids, y = noisy
    oracle = Oracle()
    res = sequential_search(ids, y, oracle, k=6, batch=3, local=1, radius=1, random_state=0, **TINY)
    first, second = res.measured[:3], res.measured[3:]
    anchor = first[np.argmax(res.measured_y[:3])]
    assert neighbourhood(IDS[[anchor]], 1)[second].all()  # round 2 walks around the best measured cell
    assert np.unique(CLS[res.measured]).size == 6


def test_sequential_search_mutate(noisy):
    ids, y = noisy
    feasible = (IDS == 3).sum(1) <= 4
    res = sequential_search(ids, y, Oracle(), k=9, batch=3, mutate=2, feasible=feasible, random_state=0, **TINY)
    for r in range(1, 3):  # every later round starts with 2 mutations of the best cell measured before it
        before = res.measured[: 3 * r]
        anchor = before[np.nanargmax(res.measured_y[: 3 * r])]
        mutants = res.measured[3 * r : 3 * r + 2]
        assert neighbourhood(IDS[[anchor]], 1)[mutants].all()
    assert feasible[res.measured].all() and np.unique(CLS[res.measured]).size == 9


def test_novel_mutations_prefer_ops_no_measurement_has_tried():
    inc = np.array(
        SPACE.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|")
    )
    # Measured so far: every op on every edge except skip_connect (1) on edge 3.
    tried = np.array([np.where(np.arange(6) == e, o, 3) for e in range(6) for o in range(5) if (e, o) != (3, 1)])
    near = neighbourhood(IDS[[SPACE.index_of(inc[None])[0]]], 1)
    got = novel_mutations(inc, 3, tried, np.random.default_rng(0), feasible=near)
    first = IDS[got[0]]
    assert (first != inc).sum() == 1 and first[3] == 1  # the one (edge, op) nobody measured
    assert np.unique(CLS[got]).size == 3 and near[got].all()
    # Ties are broken at random, and later picks avoid the changes just taken.
    picks = {
        tuple(IDS[novel_mutations(inc, 2, tried[:0], np.random.default_rng(s), feasible=near)[1]]) for s in range(6)
    }
    assert len(picks) > 1


def test_novel_mutations_break_ties_on_the_least_varied_edge():
    inc = np.full(6, 3)
    # Edge slot 0 carried conv3x3 in every measured cell; the other slots also saw none and skip.
    tried = np.array([[3, 3, 3, 3, 3, 3], [3, 0, 0, 0, 0, 0], [3, 1, 1, 1, 1, 1]])
    near = neighbourhood(IDS[[SPACE.index_of(inc[None])[0]]], 1)
    for seed in range(5):
        got = IDS[novel_mutations(inc, 2, tried, np.random.default_rng(seed), tried, near)]
        assert (got[:, 0] != 3).all() and (got[:, 1:] == 3).all()  # both unseen changes on slot 0 first


def test_sequential_search_novel_mutations(noisy):
    ids, y = noisy
    res = sequential_search(ids, y, Oracle(), k=9, batch=3, mutate=2, mutate_rule="novel", random_state=0, **TINY)
    for r in range(1, 3):
        before = res.measured[: 3 * r]
        anchor = before[np.nanargmax(res.measured_y[: 3 * r])]
        assert neighbourhood(IDS[[anchor]], 1)[res.measured[3 * r : 3 * r + 2]].all()
    with pytest.raises(NasgcnError, match="mutate_rule"):
        sequential_search(ids, y, Oracle(), k=3, mutate=1, mutate_rule="greedy", **TINY)


def test_untested_pairs_take_the_best_cell_for_each_untried_choice():
    pred = truth(IDS).astype(np.float64)
    tried = np.full((1, 6), 3)  # only the all-3x3 cell measured: 3x3 tried on every edge
    got = untested_pairs(pred, 4, tried)
    seen = np.zeros((6, 5), dtype=bool)
    seen[np.arange(6), tried[0]] = True
    ok = ~DEAD & (CLS != CLS[SPACE.index_of(tried)[0]])
    for j in got:
        eligible = ok & ~seen[np.arange(6), IDS].all(1)
        assert eligible[j] and pred[j] == pred[eligible].max()  # the model's best cell with a new choice
        seen[np.arange(6), IDS[j]] = True
        ok &= CLS != CLS[j]
    assert np.unique(CLS[got]).size == 4
    feasible = (IDS == 2).sum(1) == 0  # no 1x1 conv allowed, and 3x3 is tried: skip/none/pool only
    got = untested_pairs(pred, 3, tried, exclude=IDS[got], feasible=feasible)
    assert feasible[got].all() and not np.isin(CLS[got], CLS[untested_pairs(pred, 4, tried)]).any()
    every = np.array([np.full(6, o) for o in range(5)])  # every (edge, op) measured: nothing left to test
    assert untested_pairs(pred, 3, every).size == 0


def test_sequential_search_untested_rule(noisy):
    ids, y = noisy
    res = sequential_search(ids, y, Oracle(), k=9, batch=3, mutate=2, mutate_rule="untested", random_state=0, **TINY)
    for r in range(1, 3):  # each later round starts with 2 cells that bring an (edge, op) nobody measured
        before = IDS[res.measured[: 3 * r]]
        for j in res.measured[3 * r : 3 * r + 2]:
            assert not all((before[:, e] == IDS[j, e]).any() for e in range(6))
            before = np.vstack([before, IDS[j]])
    assert [h["model_chosen"] for h in res.history] == [3, 1, 1]


def test_sequential_search_budget_and_feasibility(noisy):
    ids, y = noisy
    feasible = (IDS == 3).sum(1) <= 3  # a "budget": at most three 3x3 convs
    oracle = Oracle()
    res = sequential_search(ids, y, oracle, k=7, batch=3, feasible=feasible, random_state=0, **TINY)
    chosen = [i for call in oracle.calls for i in SPACE.index_of(SPACE.encode(call))]
    assert [len(c) for c in oracle.calls] == [3, 3, 1] and len(res.history) == 3
    assert np.array_equal(res.measured, chosen)
    assert np.unique(CLS[res.measured]).size == 7  # never re-chosen, not even an isomorphic copy
    assert feasible[res.measured].all() and not DEAD[res.measured].any()
    assert feasible[res.best]
    assert np.allclose(res.measured_y, truth(IDS[res.measured]))
    assert np.allclose(res.pred[res.measured], res.measured_y) and np.all(res.pred_std[res.measured] == 0)
    assert res.model.measured_["y"] == pytest.approx(res.measured_y.tolist())


def test_sequential_search_reproducible_and_failures(noisy):
    ids, y = noisy
    first = sequential_search(ids, y, Oracle(), k=5, batch=2, random_state=1, **TINY)
    again = sequential_search(ids, y, Oracle(), k=5, batch=2, random_state=1, **TINY)
    assert np.array_equal(first.measured, again.measured)
    assert np.allclose(first.raw_pred, again.raw_pred)
    fail = {int(first.measured[1])}
    res = sequential_search(ids, y, Oracle(fail), k=5, batch=2, random_state=1, **TINY)
    assert res.measured.size == 5 and np.isnan(res.measured_y[1])
    assert len(res.model.measured_["y"]) == 4  # a failed evaluation is not fitted, but not retried either


def test_selection_bias():
    # round 1 (noisy-only model, other units) is ignored; mutations (listed first) are not the model's
    history = [
        {"predicted": [50.0, 50.0], "values": [90.0, 90.0], "model_chosen": 2},
        {"predicted": [99.0, 93.0, 92.0], "values": [80.0, 91.0, 91.0], "model_chosen": 2},
        {"predicted": [95.0, 94.0], "values": [np.nan, 91.0], "model_chosen": 2},
    ]
    assert selection_bias(history) == pytest.approx((2.0 + 1.0 + 3.0) / 3)
    history[2]["values"] = [np.nan, 97.0]  # underrated on average: no shift
    assert selection_bias(history) == 0.0
    assert selection_bias(history[:1]) == 0.0 and selection_bias([]) == 0.0
    history[2]["values"] = [np.nan, 91.0]
    gaps = np.array([2.0, 1.0, 3.0])
    assert selection_bias(history, spread=1.0) == pytest.approx(gaps.mean() + gaps.std())


def test_sequential_search_lowers_unmeasured_by_the_bias(noisy):
    ids, y = noisy
    res = sequential_search(ids, y, Oracle(), k=6, batch=2, random_state=0, **TINY)
    assert all("predicted" in h and h["model_chosen"] == 2 for h in res.history)
    assert res.bias == pytest.approx(selection_bias(res.history, 1.0)) and res.bias > 0  # the tiny model overrates
    mean_only = sequential_search(ids, y, Oracle(), k=6, batch=2, random_state=0, debias_spread=0.0, **TINY)
    assert mean_only.bias == pytest.approx(selection_bias(mean_only.history)) and mean_only.bias < res.bias
    unmeasured = np.ones(SPACE.size, dtype=bool)
    unmeasured[np.isin(CLS, CLS[res.measured])] = False
    assert np.allclose(res.pred[unmeasured], res.raw_pred[unmeasured] - res.bias)
    flat = sequential_search(ids, y, Oracle(), k=6, batch=2, random_state=0, debias=False, **TINY)
    assert flat.bias == 0.0 and np.allclose(flat.pred[unmeasured], flat.raw_pred[unmeasured])
    mutated = sequential_search(ids, y, Oracle(), k=9, batch=3, mutate=2, random_state=0, **TINY)
    assert [h["model_chosen"] for h in mutated.history] == [3, 1, 1]  # mutations are not the model's choice


def test_sequential_search_stops_when_nothing_left(noisy):
    ids, y = noisy
    feasible = np.zeros(SPACE.size, dtype=bool)
    feasible[np.flatnonzero(~DEAD)[:2]] = True  # one or two classes only
    res = sequential_search(ids, y, Oracle(), k=6, batch=2, feasible=feasible, **TINY)
    assert 1 <= res.measured.size <= 2 and feasible[res.best]


def write_log(path, archs, column=None, values=None):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["arch_str"] + ([column] if column else []))
        for i, a in enumerate(archs):
            w.writerow([a] + ([f"{values[i]:.3f}"] if column else []))
    return str(path)


def read_rows(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_cli_suggest_table(tmp_path, capsys):
    pred = truth(IDS) + np.random.default_rng(0).normal(0, 0.1, SPACE.size)
    table = tmp_path / "t.csv"
    LookupTable.build(pred, np.full(SPACE.size, 0.1)).to_csv(table)
    top = np.argsort(-np.where(DEAD, -np.inf, pred))[:4]
    done = write_log(tmp_path / "done.csv", SPACE.decode(IDS[top]))
    out = tmp_path / "next.csv"
    argv = ["suggest", str(table), "--k", "5", "--exclude", done, "--max", "params_m=1.0", "--out", str(out)]
    assert main(argv) == 0
    rows = read_rows(out)
    assert len(rows) == 5 and "wrote 5 suggestion(s)" in capsys.readouterr().out
    idx = np.array([int(r["index"]) for r in rows])
    frame = LookupTable.load(table)
    assert np.all(frame["params_m"][idx] <= 1.0)
    assert not np.isin(CLS[idx], CLS[top]).any() and np.unique(CLS[idx]).size == 5
    assert idx.tolist() == acquire(pred, 5, exclude=IDS[top], feasible=frame["params_m"] <= 1.0).tolist()
    assert main([*argv[:-1], str(tmp_path / "x.csv"), "--explore", "2", "--seed", "3"]) == 0
    assert [r["explore"] for r in read_rows(tmp_path / "x.csv")].count("true") == 2
    assert main(["suggest", str(table), "--k", "2", "--max", "nope=1", "--out", str(out)]) == 1


def test_cli_suggest_model_excludes_measured(tmp_path, noisy):
    ids, y = noisy
    noisy_log = write_log(tmp_path / "n.csv", SPACE.decode(ids), "supernet_acc", y)
    acc = SPACE.sample(6, 5, unique=True)
    acc_log = write_log(tmp_path / "a.csv", SPACE.decode(acc), "test_acc", truth(acc))
    model = str(tmp_path / "m.pt")
    fit = ["fit", noisy_log, "--target", "supernet_acc", "--accurate", acc_log, "--accurate-target", "test_acc"]
    fit += ["--out", model, "--epochs", "3", "--ensemble", "2", "--hidden", "8", "--layers", "2", "--quiet"]
    assert main(fit) == 0
    out = tmp_path / "next.csv"
    assert main(["suggest", model, "--k", "4", "--beta", "1", "--out", str(out)]) == 0
    idx = np.array([int(r["index"]) for r in read_rows(out)])
    assert idx.size == 4 and not np.isin(CLS[idx], SPACE.iso_class(acc)).any()
