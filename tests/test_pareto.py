"""predictor.pareto: non-dominated sorting, crowding, hypervolume (exact and Monte Carlo), NSGA-II."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from predictor.errors import NasgcnError
from predictor.pareto import (
    constrained_ranks,
    crowding_distance,
    exact_front,
    hypervolume,
    nondominated_sort,
    nsga2,
    reference_point,
    survivors,
)
from predictor.query import pareto_front
from predictor.spaces import get_space

MACRO = get_space("nbmacro")


def _brute_nondominated(F):
    n = F.shape[0]
    return np.array(
        [not any((F[j] <= F[i]).all() and (F[j] < F[i]).any() for j in range(n) if j != i) for i in range(n)]
    )


def test_nondominated_sort_peels_fronts_like_brute_force():
    F = np.random.default_rng(0).integers(0, 6, size=(60, 3)).astype(float)  # many ties
    rank = nondominated_sort(F)
    left = np.arange(60)
    for r in range(rank.max() + 1):
        nd = left[_brute_nondominated(F[left])]
        assert set(np.flatnonzero(rank == r)) == set(nd)
        left = np.setdiff1d(left, nd)
    assert left.size == 0
    assert set(exact_front(F)) == set(np.flatnonzero(rank == 0))
    # the same front as nasgcn query's Pareto front (maximize o, minimize a and b)
    cols = {"o": -F[:, 0], "a": F[:, 1], "b": F[:, 2]}
    assert set(pareto_front(cols, "o", ["a", "b"]).tolist()) == set(exact_front(F).tolist())
    assert nondominated_sort(np.zeros((0, 2))).size == 0


def test_constraint_domination_and_crowding():
    F = np.array([[0.0, 3.0], [1.0, 2.0], [2.0, 1.0], [3.0, 0.0], [5.0, 5.0], [-9.0, -9.0], [-9.0, -8.0]])
    viol = np.array([0, 0, 0, 0, 0, 2.0, 0.5])
    rank = constrained_ranks(F, viol)
    assert list(rank[:5]) == [0, 0, 0, 0, 1]
    assert rank[6] < rank[5] and rank[6] > rank[4]  # infeasible after feasible, by violation
    crowd = crowding_distance(F[:4], np.zeros(4, dtype=int))
    assert np.isinf(crowd[0]) and np.isinf(crowd[3])
    assert crowd[1] == pytest.approx(2 / 3 + 2 / 3)  # neighbours 2 apart on a range of 3, two criteria
    keep = survivors(F, viol, 5)
    assert set(keep) == {0, 1, 2, 3, 4}


def test_hypervolume_exact_in_2d_3d_and_monte_carlo():
    P = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]])
    assert hypervolume(P, [4, 4]) == pytest.approx(3 + 2 + 1)
    assert hypervolume(np.vstack([P, [[3.5, 3.5], [9, 0]]]), [4, 4]) == pytest.approx(6)  # dominated / outside
    assert hypervolume(np.zeros((0, 2)), [1, 1]) == 0.0
    # 3-D against inclusion-exclusion over boxes
    Q = np.random.default_rng(1).random((6, 3))
    ref = np.ones(3)
    exact = 0.0
    for r in range(1, 7):
        for sub in itertools.combinations(range(6), r):
            exact += (-1) ** (r + 1) * np.prod(ref - Q[list(sub)].max(axis=0))
    assert hypervolume(Q, ref) == pytest.approx(exact)
    assert hypervolume(Q, ref, method="exact") == pytest.approx(exact)
    mc = hypervolume(Q, ref, method="mc", samples=200_000, random_state=3)
    assert mc == pytest.approx(exact, rel=0.02)
    assert mc == hypervolume(Q, ref, method="mc", samples=200_000, random_state=3)  # seeded
    with pytest.raises(NasgcnError, match="reference point has 2 values"):
        hypervolume(Q, [1, 1])
    with pytest.raises(NasgcnError, match="method"):
        hypervolume(Q, ref, method="fast")
    ref2 = reference_point(P)
    assert ref2 == pytest.approx([3.2, 3.2])


def _synthetic(space, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(space.num_slots, len(space.ops)))
    slots = np.arange(space.num_slots)
    return lambda ids: w[slots, space.canonical_ids(ids)].sum(1)


def test_nsga2_finds_the_exact_front_of_nbmacro_within_budget():
    score = _synthetic(MACRO)
    calls = []

    def evaluate(ids):
        calls.append(ids.shape[0])
        return np.column_stack([-score(ids), MACRO.costs(ids)["flops_m"]]), np.zeros(ids.shape[0])

    res = nsga2(MACRO, evaluate, budget=1200, population=60, random_state=0)
    assert sum(calls) == res.ids.shape[0] <= 1200
    assert np.unique(MACRO.iso_hash(res.ids)).size == res.ids.shape[0]  # one call per class
    u = MACRO.unique_ids()
    Fx = np.column_stack([-score(u), MACRO.costs(u)["flops_m"]])
    ex = exact_front(Fx)
    ref = reference_point(Fx[ex])
    assert hypervolume(res.F[res.front], ref) / hypervolume(Fx[ex], ref) >= 0.99
    again = nsga2(MACRO, evaluate, budget=1200, population=60, random_state=0)
    np.testing.assert_array_equal(again.ids, res.ids)


def test_nsga2_constraints_validity_and_errors():
    score = _synthetic(MACRO, 1)
    flops_all = MACRO.costs(MACRO.unique_ids())["flops_m"]
    bound = float(np.quantile(flops_all, 0.2))

    def evaluate(ids):
        f = MACRO.costs(ids)["flops_m"]
        return np.column_stack([-score(ids), f]), np.maximum(f - bound, 0) / bound

    dead = lambda ids: ids[:, 0] != 0  # noqa: E731 - "invalid" rows: first layer identity
    res = nsga2(MACRO, evaluate, budget=500, population=40, valid=dead, random_state=2)
    assert (res.ids[:, 0] != 0).all() and res.stats["invalid_skipped"] > 0
    assert res.front.size and (res.violation[res.front] == 0).all()
    assert (res.F[res.front, 1] <= bound).all()
    with pytest.raises(NasgcnError, match="budget"):
        nsga2(MACRO, evaluate, budget=0)
    with pytest.raises(NasgcnError, match="population"):
        nsga2(MACRO, evaluate, budget=10, population=2)
    with pytest.raises(NasgcnError, match="crossover_prob"):
        nsga2(MACRO, evaluate, budget=10, crossover_prob=1.5)
