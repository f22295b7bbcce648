"""Diverse top-k: ``min_distance`` (edit distance between picks) and ``clusters`` (DC-NAS, one per cluster first)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from predictor.cli.main import main
from predictor.errors import NasgcnError
from predictor.lookup import LookupTable
from predictor.query import query
from predictor.spaces import get_space

SPACE = get_space("nb201")
IDS = SPACE.all_ids()


@pytest.fixture(scope="module")
def table() -> LookupTable:
    """Predictions that favour near-copies: a smooth function of the ops plus small noise."""
    rng = np.random.default_rng(0)
    pred = 80 + (IDS == 3).sum(1) * 2.0 + (IDS == 2).sum(1) * 1.0 + rng.normal(0, 0.3, SPACE.size)
    return LookupTable.build(pred, np.full(SPACE.size, 0.2))


def _reference(order: np.ndarray, iso: np.ndarray, k: int, d: int) -> list[int]:
    """The greedy rule written plainly: best first, one per class, at least d slots from every kept row."""
    kept: list[int] = []
    seen: set[int] = set()
    for r in order:
        if iso[r] in seen:
            continue
        seen.add(iso[r])
        if all((IDS[r] != IDS[j]).sum() >= d for j in kept):
            kept.append(int(r))
        if len(kept) == k:
            break
    return kept


@pytest.mark.parametrize("d", [1, 2, 3])
def test_min_distance_is_the_greedy_rule(table, d):
    picks = table.query(constraints={"flops_m": 60}, top_k=8, unique=True, min_distance=d)
    rows = SPACE.index_of(SPACE.encode(picks["arch_str"].tolist()))
    feasible = np.flatnonzero(table["flops_m"] <= 60)
    order = feasible[np.lexsort((feasible, -table["pred"][feasible]))]
    assert rows.tolist() == _reference(order, table["iso_class"], 8, d)
    ops = IDS[rows]
    dist = (ops[:, None, :] != ops[None, :, :]).sum(2)
    assert (dist[np.triu_indices(len(rows), 1)] >= d).all()
    plain = table.query(constraints={"flops_m": 60}, top_k=1, unique=True)
    assert picks["arch_str"][0] == plain["arch_str"][0]
    if d >= 2:  # the plain top 8 holds near-copies here, the diverse one does not
        top = IDS[SPACE.index_of(SPACE.encode(table.query(top_k=8, unique=True)["arch_str"].tolist()))]
        assert ((top[:, None, :] != top[None, :, :]).sum(2) < d)[np.triu_indices(8, 1)].any()


def test_clusters_take_each_best_first(table):
    labels = IDS[:, 3].copy()  # 5 "clusters": the op on edge 3<-0
    labels[IDS[:, 0] == 0] = -1  # and some architectures in none
    picks = table.query(top_k=7, unique=True, clusters=labels)
    rows = SPACE.index_of(SPACE.encode(picks["arch_str"].tolist()))
    got = labels[rows]
    assert (got >= 0).all()
    assert sorted(got[:5].tolist()) == [0, 1, 2, 3, 4]
    ok = labels >= 0
    bests = [np.flatnonzero(ok & (labels == c))[np.argmax(table["pred"][ok & (labels == c)])] for c in got[:5]]
    assert table["pred"][rows[:5]].tolist() == sorted(table["pred"][bests].tolist(), reverse=True)
    assert np.allclose(table["pred"][rows[:5]], table["pred"][bests])
    # then each cluster's second best (class-distinct), best first
    assert got[5] == got[0] and picks["pred"][5] <= picks["pred"][0]


def test_bad_arguments_are_refused(table):
    with pytest.raises(NasgcnError, match="needs the op ids"):
        query(table.columns, min_distance=2)
    with pytest.raises(NasgcnError, match="ops has 3 rows"):
        query(table.columns, min_distance=2, ops=IDS[:3])
    with pytest.raises(NasgcnError, match="expected one per architecture"):
        table.query(clusters=np.zeros(10))


@pytest.fixture(scope="module")
def files(tmp_path_factory, table):
    folder = tmp_path_factory.mktemp("diverse")
    table.to_csv(folder / "t.csv")
    rng = np.random.default_rng(1)
    idx = rng.choice(SPACE.size, 60, replace=False)
    with open(folder / "clusters.csv", "w") as fh:
        fh.write("arch_str,cluster\n")
        for i, a in zip(idx, SPACE.decode(IDS[idx]), strict=True):
            fh.write(f"{a},{i % 4}\n")
    return folder


def test_cli_min_distance_and_clusters(files, capsys):
    t = str(files / "t.csv")
    assert main(["query", t, "--top", "5", "--min-distance", "3", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    ops = SPACE.encode([r["arch_str"] for r in rows])
    assert len(rows) == 5 and ((ops[:, None] != ops[None]).sum(2)[np.triu_indices(5, 1)] >= 3).all()
    assert main(["query", t, "--top", "4", "--clusters", str(files / "clusters.csv"), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(r["cluster"] for r in rows) == [0, 1, 2, 3]
    assert main(["query", t, "--top", "4", "--clusters", str(files / "clusters.csv")]) == 0
    assert "cluster" in capsys.readouterr().out.splitlines()[0]


def test_cli_refuses_what_it_cannot_honour(files, capsys):
    t = str(files / "t.csv")
    assert main(["query", t, "--pareto", "flops_m", "--min-distance", "2"]) != 0
    assert "takes no --min-distance" in capsys.readouterr().err
    assert main(["query", t, "--min-distance", "-1"]) != 0
    assert "--min-distance must be >= 0" in capsys.readouterr().err
    bad = files / "bad_clusters.csv"
    bad.write_text("arch_str,cluster\n" + SPACE.decode(IDS[:1])[0] + ",1.5\n")
    assert main(["query", t, "--clusters", str(bad)]) != 0
    assert "non-negative integers" in capsys.readouterr().err
