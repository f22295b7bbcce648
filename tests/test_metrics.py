"""Ranking metrics: exact small cases, brute-force cross-checks, failure paths, one real-data fact."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from predictor.errors import NasgcnError
from predictor.metrics import (
    kendall_tau,
    ndcg,
    precision_at_k,
    ranking_report,
    regret,
    round_significant,
    spearman,
    tie_ranks,
    top1_true,
    top_kendall_tau,
)


def brute_kendall(t: np.ndarray, p: np.ndarray) -> float:
    """Tau-a by counting pairs (equals tau-b without ties)."""
    s = 0
    for i, j in itertools.combinations(range(len(t)), 2):
        s += np.sign(t[i] - t[j]) * np.sign(p[i] - p[j])
    return s / (len(t) * (len(t) - 1) / 2)


def test_kendall_matches_pair_count():
    rng = np.random.default_rng(0)
    t, p = rng.normal(size=40), rng.normal(size=40)
    assert kendall_tau(t, p) == pytest.approx(brute_kendall(t, p))
    assert kendall_tau(t, t * 3 + 1) == pytest.approx(1.0)
    assert kendall_tau(t, -t) == pytest.approx(-1.0)


def test_spearman_is_pearson_of_ranks():
    rng = np.random.default_rng(1)
    t, p = rng.normal(size=50), rng.normal(size=50)
    rt, rp = np.argsort(np.argsort(t)), np.argsort(np.argsort(p))
    assert spearman(t, p) == pytest.approx(np.corrcoef(rt, rp)[0, 1])
    assert spearman(t, np.exp(t)) == pytest.approx(1.0)


def test_top_kendall_only_sees_true_top():
    rng = np.random.default_rng(2)
    t = rng.normal(size=200)
    p = t + rng.normal(scale=0.5, size=200)
    top = np.argsort(-t)[:20]  # top 10 %
    rest = np.setdiff1d(np.arange(200), top)
    p2 = p.copy()
    p2[rest] = rng.normal(size=rest.size) * 100  # scrambling the rest changes nothing
    assert top_kendall_tau(t, p, 0.1) == pytest.approx(top_kendall_tau(t, p2, 0.1))
    assert top_kendall_tau(t, p, 0.1) == pytest.approx(kendall_tau(t[top], p[top]))
    assert kendall_tau(t, p) != pytest.approx(kendall_tau(t, p2))


def test_precision_at_k_hand_example():
    t = np.array([5, 4, 3, 2, 1.0])
    p = np.array([5, 1, 4, 3, 2.0])  # predicted top 2: items 0, 2; true top 2: items 0, 1
    assert precision_at_k(t, p, 2) == pytest.approx(0.5)
    assert precision_at_k(t, t, 3) == pytest.approx(1.0)
    assert precision_at_k(t, -t, 2) == pytest.approx(0.0)


def test_regret_and_top1():
    t = np.array([90.0, 94.0, 92.0])
    p = np.array([0.1, 0.2, 0.9])
    assert top1_true(t, p) == 92.0
    assert regret(t, p) == pytest.approx(2.0)
    assert regret(t, t) == 0.0


def test_ndcg_perfect_and_worse():
    rng = np.random.default_rng(3)
    t = rng.uniform(80, 95, size=100)
    assert ndcg(t, t, k=10) == pytest.approx(1.0)
    assert ndcg(t, -t, k=10) < 0.5


def test_nan_pairs_are_dropped():
    t = np.array([1.0, 2.0, np.nan, 4.0])
    p = np.array([1.0, 2.0, 3.0, np.nan])
    assert kendall_tau(t, p) == pytest.approx(1.0)
    assert ranking_report(np.arange(30.0), np.arange(30.0))["n"] == 30


def test_errors():
    with pytest.raises(NasgcnError, match="differ in length"):
        kendall_tau([1, 2, 3], [1, 2])
    with pytest.raises(NasgcnError, match="at least 2"):
        spearman([1.0, np.nan], [1.0, 2.0])
    with pytest.raises(NasgcnError, match="fraction"):
        top_kendall_tau(np.arange(5.0), np.arange(5.0), 0.0)


def test_report_fields():
    rng = np.random.default_rng(4)
    t = rng.normal(size=300)
    rep = ranking_report(t, t + rng.normal(size=300))
    for key in ("kendall_tau", "spearman", "top1pct_kendall_tau", "precision_at_10", "regret_top1", "ndcg_at_10"):
        assert key in rep
    assert 0 < rep["kendall_tau"] < 1 and rep["regret_top1"] >= 0


def test_param_count_floor_on_real_data(ground_truth):
    """The issue quotes Kendall tau 0.577 of the parameter count over all architectures."""
    tau = kendall_tau(ground_truth["c10_test_acc_fewshotgt"], ground_truth["params_mb"])
    assert tau == pytest.approx(0.577, abs=0.005)


def test_tie_ranks_share_ranks_at_the_shown_precision():
    rank, tied = tie_ranks(np.array([98.607, 98.5, 98.607, 98.607, 98.607, np.nan, 97.0]))
    assert rank.tolist() == [1, 5, 1, 1, 1, 7, 6] and tied.tolist() == [4, 1, 4, 4, 4, 1, 1]
    rank, tied = tie_ranks(np.array([94.3712, 94.37, 94.3, 0.001234]), significant=4)
    assert rank.tolist() == [1, 1, 3, 4] and tied.tolist() == [2, 2, 1, 1]
    rank, _ = tie_ranks(np.array([1.0, 2.0, 2.0, 3.0]), descending=False)
    assert rank.tolist() == [1, 2, 2, 4]
    rank, tied = tie_ranks(np.array([98.891, 98.889, 98.89]), decimals=2)
    assert rank.tolist() == [1, 1, 1] and tied.tolist() == [3, 3, 3]
    values = np.array([94.37123, -0.012345, 123456.0, 0.0, np.inf])
    assert [f"{v:.4g}" for v in round_significant(values, 4)] == [f"{v:.4g}" for v in values]
    assert tie_ranks(np.zeros(0))[0].size == 0
