"""Vectorized constrained queries and Pareto fronts, checked against brute force."""

from __future__ import annotations

import numpy as np
import pytest

from predictor.errors import NasgcnError
from predictor.lookup import LookupTable
from predictor.query import feasible_mask, pareto_front, query
from predictor.spaces import get_space

SPACE = get_space("nb201")


def _columns(n: int = 400, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    lat = rng.uniform(1, 10, n)
    lat[rng.random(n) < 0.1] = np.nan  # cannot run
    return {
        "pred": rng.normal(90, 2, n),
        "lat": lat,
        "lat_std": rng.uniform(0, 1, n),
        "flops_m": rng.uniform(10, 200, n),
        "iso_class": rng.integers(0, n // 4, n),
    }


def _naive(cols, budget_lat, budget_flops, top_k, unique=False, z=0.0):
    """Loop over rows: the slow reference."""
    cand = []
    for i in range(len(cols["pred"])):
        lat = cols["lat"][i] + z * cols["lat_std"][i]
        if not (lat <= budget_lat) or not (cols["flops_m"][i] <= budget_flops):
            continue
        cand.append((-cols["pred"][i], i))
    cand.sort()
    out, seen = [], set()
    for _, i in cand:
        if unique:
            if cols["iso_class"][i] in seen:
                continue
            seen.add(cols["iso_class"][i])
        out.append(i)
        if len(out) == top_k:
            break
    return out


@pytest.mark.parametrize("unique", [False, True])
@pytest.mark.parametrize("z", [0.0, 2.0])
def test_query_matches_brute_force(unique, z):
    cols = _columns()
    for budget in (3.0, 6.0, 20.0):
        got = query(cols, "pred", {"lat": budget, "flops_m": 150}, top_k=12, unique=unique, z=z)
        assert got.tolist() == _naive(cols, budget, 150, 12, unique=unique, z=z)


def test_unique_keeps_best_member_of_each_class():
    cols = _columns()
    got = query(cols, "pred", None, top_k=None, unique=True)
    iso = cols["iso_class"][got]
    assert len(set(iso.tolist())) == len(iso) == len(np.unique(cols["iso_class"]))
    for i in got:
        same = cols["iso_class"] == cols["iso_class"][i]
        assert cols["pred"][i] == cols["pred"][same].max()


def test_nan_fails_every_bound_and_margin_tightens():
    cols = _columns()
    nan = np.isnan(cols["lat"])
    assert not feasible_mask(cols, {"lat": 1e9})[nan].any()
    assert not feasible_mask(cols, minimums={"lat": -1e9})[nan].any()
    m0 = feasible_mask(cols, {"lat": 5.0})
    m2 = feasible_mask(cols, {"lat": 5.0}, z=2.0)
    assert m2.sum() < m0.sum() and not (m2 & ~m0).any()
    assert np.all(cols["lat"][m2] + 2 * cols["lat_std"][m2] <= 5.0)
    # lower bounds shift the other way
    lo = feasible_mask(cols, minimums={"lat": 5.0}, z=1.0)
    assert np.all(cols["lat"][lo] - cols["lat_std"][lo] >= 5.0)


def test_query_orders_best_first_ties_by_row_and_minimize():
    cols = {"pred": np.array([1.0, 3.0, 3.0, 2.0, 3.0]), "c": np.zeros(5)}
    assert query(cols, "pred", top_k=4).tolist() == [1, 2, 4, 3]
    assert query(cols, "pred", top_k=2, minimize=True).tolist() == [0, 3]
    assert query(cols, "pred", {"c": -1}).size == 0
    assert query(cols, "pred", top_k=0).size == 0


def test_unknown_column_lists_available():
    cols = _columns(20)
    with pytest.raises(NasgcnError, match="unknown constraint column 'nope'.*available columns: pred, lat"):
        query(cols, "pred", {"nope": 1})
    with pytest.raises(NasgcnError, match="unknown objective column"):
        query(cols, "acc")
    with pytest.raises(NasgcnError, match="iso_class"):
        query({"pred": np.ones(3)}, unique=True)


def _dominated_naive(obj, costs, i):
    for j in range(len(obj)):
        ge = obj[j] >= obj[i] and all(c[j] <= c[i] for c in costs)
        gt = obj[j] > obj[i] or any(c[j] < c[i] for c in costs)
        if ge and gt:
            return True
    return False


@pytest.mark.parametrize("ncost", [1, 2, 3])
def test_pareto_front_matches_brute_force(ncost):
    rng = np.random.default_rng(3)
    n = 300
    cols = {
        "pred": rng.normal(size=n),
        "a": rng.integers(0, 30, n).astype(float),
        "b": rng.random(n),
        "c": rng.integers(0, 4, n).astype(float),
    }
    cols["a"][:5] = np.nan
    names = ["a", "b", "c"][:ncost]
    got = pareto_front(cols, "pred", names)
    ok = np.flatnonzero(~np.isnan(cols["a"]))
    obj = cols["pred"][ok]
    costs = [cols[c][ok] for c in names]
    want = {int(ok[i]) for i in range(len(ok)) if not _dominated_naive(obj, costs, i)}
    assert set(got.tolist()) == want
    assert np.all(np.diff(cols["a"][got]) >= 0)  # sorted by the first cost
    if ncost == 1:
        assert np.all(np.diff(cols["pred"][got]) > 0)  # more cost buys more accuracy
    with pytest.raises(NasgcnError, match="at least one cost"):
        pareto_front(cols, "pred", [])


def test_lookup_table_query_and_pareto_on_whole_space():
    rng = np.random.default_rng(1)
    table = LookupTable.build(rng.normal(90, 2, SPACE.size), np.full(SPACE.size, 0.5))
    res = table.query(constraints={"flops_m": 100}, top_k=10, unique=True)
    assert len(res) == 10
    assert np.all(res["flops_m"] <= 100)
    assert np.all(np.diff(res["pred"]) <= 0)
    assert len(set(res["iso_class"].tolist())) == 10
    feasible = table["pred"][table["flops_m"] <= 100]
    assert res["pred"][0] == feasible.max()
    assert res.meta["query"]["constraints"] == {"flops_m": 100}
    front = table.pareto(costs="flops_m", constraints={"flops_m": 150})
    assert front["pred"][-1] == table["pred"][table["flops_m"] <= 150].max()
    assert np.all(np.diff(front["flops_m"]) > 0)
    recs = res.records(["arch_str", "pred"])
    assert recs[0]["arch_str"] == res["arch_str"][0] and isinstance(recs[0]["pred"], float)


def test_infinite_objective_is_refused_not_ranked():
    cols = {"pred": np.array([1.0, -np.inf, 2.0]), "flops_m": np.ones(3), "iso_class": np.arange(3)}
    with pytest.raises(NasgcnError, match="infinite"):
        query(cols, "pred")
    with pytest.raises(NasgcnError, match="infinite"):
        pareto_front(cols, "pred", ["flops_m"])
    cols["pred"] = np.array([1.0, np.nan, 2.0])  # NaN is missing: excluded, not refused
    assert query(cols, "pred").tolist() == [2, 0]
