"""Proposal strategies (:mod:`predictor.proposals`) and the options ``nasgcn suggest`` takes from them."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from predictor.acquisition import acquire, untested_pairs
from predictor.cli.main import main
from predictor.errors import NasgcnError
from predictor.lookup import LookupTable
from predictor.proposals import (
    ClusterSpread,
    Explore,
    Greedy,
    Mutations,
    Pool,
    Step,
    expand_clusters,
    propose_round,
    propose_round_sources,
    round_plan,
)
from predictor.spaces import get_space

SPACE = get_space("nb201")
IDS = SPACE.all_ids()
CLS = SPACE.iso_class(IDS)
DEAD = SPACE.is_dead(IDS)


def truth(ids: np.ndarray) -> np.ndarray:
    return 80 + 2.0 * (ids == 3).sum(1) + 1.0 * (ids == 2).sum(1) - 1.5 * (ids == 0).sum(1)


PRED = truth(IDS) + np.random.default_rng(0).normal(0, 0.1, SPACE.size)


def test_greedy_step_is_acquire_and_bonus_moves_it():
    pool = Pool("nb201", PRED)
    got, n_other = propose_round(pool, 5, [Step(Greedy())])
    assert got.tolist() == acquire(PRED, 5).tolist() and n_other == 0
    bonus = np.where((IDS == 1).sum(1) == 2, 100.0, 0.0)  # a prior that loves two skips
    got = propose_round(Pool("nb201", PRED, bonus=bonus), 5, [Step(Greedy())])[0]
    assert ((IDS[got] == 1).sum(1) == 2).all()


def test_steps_avoid_each_other_and_count_non_model_picks():
    measured = acquire(PRED, 3)
    pool = Pool("nb201", PRED, measured=measured, values=truth(IDS[measured]), rng=np.random.default_rng(1))
    steps = round_plan(False, 6, mutate=2, mutate_rule="untested")
    chosen, n_other = propose_round(pool, 6, steps)
    assert chosen.size == 6 and np.unique(CLS[chosen]).size == 6 and n_other == 2
    assert not np.isin(CLS[chosen], CLS[measured]).any()
    assert chosen[:2].tolist() == untested_pairs(PRED, 2, IDS[measured], IDS[measured]).tolist()
    _, src = propose_round_sources(pool, 6, steps)
    assert src.tolist() == [0, 0, 1, 1, 1, 1]


def test_mutations_need_a_measured_value_and_a_valid_rule():
    assert Mutations("novel").propose(Pool("nb201", PRED), 3, None).size == 0
    with pytest.raises(NasgcnError, match="mutation rule"):
        Mutations("greedy")
    with pytest.raises(NasgcnError, match="mutate_rule"):
        round_plan(False, 5, mutate_rule="nope")
    with pytest.raises(NasgcnError, match="one per architecture"):
        Pool("nb201", PRED[:10])


def test_first_round_plan_explores_then_takes_the_best():
    pool = Pool("nb201", PRED, rng=np.random.default_rng(0))
    steps = round_plan(True, 5, explore_share=0.4)
    assert isinstance(steps[0].proposal, Explore) and steps[0].n == 2
    chosen, n_other = propose_round(pool, 5, steps)
    assert n_other == 2 and chosen.size == 5
    assert round_plan(True, 4, has_model=False)[0].n == 4


def test_cluster_spread_takes_one_per_cluster_least_measured_first():
    clusters = (IDS[:, 0] + 5 * (IDS[:, 1] > 2)).astype(np.int64)  # 10 clusters by two slots
    measured = np.flatnonzero(clusters == 3)[:4]
    pool = Pool("nb201", PRED, measured=measured, values=truth(IDS[measured]))
    got = ClusterSpread(clusters).propose(pool, 9, None)
    assert got.size == 9 and np.unique(clusters[got]).size == 9 and 3 not in clusters[got]  # cluster 3 was measured
    for i in got:  # each pick is its cluster's best unmeasured live cell
        ok = (clusters == clusters[i]) & ~DEAD & ~np.isin(CLS, CLS[measured])
        assert PRED[i] == PRED[ok].max()
    again = ClusterSpread(clusters).propose(pool, 11, None)
    assert clusters[again[-1]] in clusters[again[:-1]]  # an 11th pick goes back to a cluster (the 10th is cluster 3)
    with pytest.raises(NasgcnError, match="one per architecture"):
        ClusterSpread(clusters[:5]).propose(pool, 2, None)


def test_expand_clusters_by_class_then_nearest():
    lab_ids = IDS[[0, SPACE.size - 1]]
    got = expand_clusters(lab_ids, np.array([7, 9]), "nb201")
    assert got.shape == (SPACE.size,) and set(np.unique(got)) <= {7, 9}
    d0 = (IDS != lab_ids[0]).sum(1)
    d1 = (IDS != lab_ids[1]).sum(1)
    same_cls = np.isin(CLS, SPACE.iso_class(lab_ids))
    assert np.all(got[(d0 < d1) & ~same_cls] == 7) and np.all(got[(d1 < d0) & ~same_cls] == 9)
    assert np.all(got[CLS == SPACE.iso_class(lab_ids[:1])[0]] == 7)
    with pytest.raises(NasgcnError):
        expand_clusters(lab_ids, np.array([1]), "nb201")


def _rows(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_cli_suggest_rules_clusters_and_pick(tmp_path, capsys):
    table = tmp_path / "t.csv"
    measured = acquire(PRED, 3)
    overlay = PRED.copy()
    overlay[measured] = truth(IDS[measured])
    t = LookupTable.build(overlay, np.full(SPACE.size, 0.1))
    t.columns["measured"] = np.isin(np.arange(SPACE.size), measured)
    t.to_csv(table)
    out = tmp_path / "next.csv"
    assert main(["suggest", str(table), "--k", "5", "--out", str(out)]) == 0  # defaults: 3 untested mutations
    rows = _rows(out)
    assert [r["rule"] for r in rows] == ["mutation"] * 3 + ["greedy"] * 2
    assert [r["model_chosen"] for r in rows] == ["false"] * 3 + ["true"] * 2
    text = capsys.readouterr().out
    assert "current pick:" in text and "(mutation)" in text
    assert main(["suggest", str(table), "--k", "5", "--mutate", "0", "--out", str(out)]) == 0
    assert {r["rule"] for r in _rows(out)} == {"greedy"}
    labelled = SPACE.sample(50, 1)
    with open(tmp_path / "clusters.csv", "w") as fh:
        fh.write("arch_str,cluster\n")
        for s, c in zip(SPACE.decode(labelled), np.arange(50) % 4, strict=True):
            fh.write(f"{s},{c}\n")
    argv = ["suggest", str(table), "--k", "4", "--mutate", "0", "--clusters", str(tmp_path / "clusters.csv")]
    assert main([*argv, "--out", str(out)]) == 0
    rows = _rows(out)
    whole = expand_clusters(labelled, np.arange(50) % 4, "nb201")
    fresh = sorted(set(range(4)) - set(whole[measured].tolist()))  # clusters nothing was measured in go first
    assert {r["rule"] for r in rows} == {"cluster"}
    assert sorted(int(r["cluster"]) for r in rows[: len(fresh)]) == fresh
    with open(tmp_path / "bad.csv", "w") as fh:
        fh.write(f"arch_str,cluster\n{SPACE.decode(labelled[:1])[0]},-1\n")
    assert main(["suggest", str(table), "--k", "2", "--clusters", str(tmp_path / "bad.csv"), "--out", str(out)]) == 1
    assert main(["suggest", str(table), "--k", "2", "--mutate", "-1", "--out", str(out)]) == 1


def test_cli_suggest_pick_lowers_unmeasured_by_earlier_optimism(tmp_path, capsys):
    """Two rounds: the first suggestion file records predictions that came out 5 points too high."""
    table = tmp_path / "t.csv"
    first = acquire(PRED, 2)
    overlay = PRED.copy()
    overlay[first] = truth(IDS[first])
    t = LookupTable.build(overlay, np.full(SPACE.size, 0.1))
    t.columns["measured"] = np.isin(np.arange(SPACE.size), first)
    t.to_csv(table)
    nxt = tmp_path / "next1.csv"
    assert main(["suggest", str(table), "--k", "3", "--mutate", "0", "--out", str(nxt)]) == 0
    picked = np.array([int(r["index"]) for r in _rows(nxt)])
    # they are measured 5 points below what was predicted; a new table overlays them
    overlay2 = overlay.copy()
    overlay2[picked] = PRED[picked] - 5.0
    t2 = LookupTable.build(overlay2, np.full(SPACE.size, 0.1))
    t2.columns["measured"] = np.isin(np.arange(SPACE.size), np.r_[first, picked])
    t2.to_csv(tmp_path / "t2.csv")
    capsys.readouterr()
    out = tmp_path / "next2.csv"
    assert main(["suggest", str(tmp_path / "t2.csv"), "--k", "2", "--exclude", str(nxt), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "optimism from 3 earlier suggestion(s)" in text
    from predictor.table import read_csv

    meta = read_csv(out)[1]
    assert meta["kind"] == "suggest" and meta["calibrated"]
    assert meta["selection_bias"] == pytest.approx(5.0, abs=1e-6)  # three gaps of exactly 5: no spread
    assert not meta["pick"]["measured"] or meta["pick"]["value"] <= overlay2.max()


def test_cli_suggest_prior_pulls_picks_toward_the_experts(tmp_path):
    table = tmp_path / "t.csv"
    LookupTable.build(PRED, np.full(SPACE.size, 0.1)).to_csv(table)
    experts = tmp_path / "experts.txt"
    resnet_like = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|"
    experts.write_text(
        resnet_like + "\n" + "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|\n"
    )
    base, pulled = tmp_path / "a.csv", tmp_path / "b.csv"
    assert main(["suggest", str(table), "--k", "5", "--out", str(base)]) == 0
    argv = ["suggest", str(table), "--k", "5", "--prior", str(experts), "--prior-weight", "20", "--out", str(pulled)]
    assert main(argv) == 0
    from predictor.prior import fit_prior

    prior = fit_prior(experts, "nb201")
    r_base = prior.reward(SPACE.encode([r["arch_str"] for r in _rows(base)])).mean()
    r_pull = prior.reward(SPACE.encode([r["arch_str"] for r in _rows(pulled)])).mean()
    assert r_pull > r_base + 0.5
    assert main(["suggest", str(table), "--k", "2", "--prior-weight", "1", "--out", str(base)]) == 1  # no --prior


def test_sequential_search_spreads_over_clusters_and_takes_a_prior():
    from predictor.acquisition import sequential_search

    ids = SPACE.sample(60, 0, unique=True)
    y = 0.5 * truth(ids) - 10 + np.random.default_rng(0).normal(0, 1.0, len(ids))
    tiny = {"epochs": 3, "ensemble": 2, "hidden": 8, "num_layers": 2}
    clusters = IDS[:, 3].astype(np.int64)  # 5 clusters: the op on one edge

    def oracle(a):
        return truth(SPACE.encode(a))

    res = sequential_search(ids, y, oracle, k=9, batch=3, clusters=clusters, random_state=0, **tiny)
    for h in res.history[1:]:  # later rounds: every pick from another cluster while unmeasured clusters remain
        got = clusters[np.asarray(h["chosen"])]
        assert np.unique(got).size == got.size
    bonus = np.where(IDS[:, 0] == 1, 50.0, 0.0)  # a prior that insists on skip_connect on edge 1<-0
    res = sequential_search(ids, y, oracle, k=6, batch=3, prior_bonus=bonus, random_state=0, **tiny)
    assert (IDS[res.measured, 0] == 1).all()
    with pytest.raises(NasgcnError, match="cluster_share"):
        sequential_search(ids, y, oracle, k=4, clusters=clusters, cluster_share=2.0, **tiny)


def test_cli_suggest_round_one_is_the_predicted_best_even_with_clusters(tmp_path, capsys):
    """As in sequential_search: before any accurate value, the noisy-only model's best; clusters later."""
    table = tmp_path / "t.csv"
    LookupTable.build(PRED, np.full(SPACE.size, 0.1)).to_csv(table)
    labelled = SPACE.sample(40, 2)
    with open(tmp_path / "clusters.csv", "w") as fh:
        fh.write("arch_str,cluster\n")
        for s, c in zip(SPACE.decode(labelled), np.arange(40) % 4, strict=True):
            fh.write(f"{s},{c}\n")
    out = tmp_path / "next.csv"
    assert (
        main(["suggest", str(table), "--k", "4", "--clusters", str(tmp_path / "clusters.csv"), "--out", str(out)]) == 0
    )
    rows = _rows(out)
    assert {r["rule"] for r in rows} == {"greedy"}
    assert [int(r["index"]) for r in rows] == acquire(PRED, 4).tolist()
    assert "spreads the picks from the next round on" in capsys.readouterr().out
