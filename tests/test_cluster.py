"""DC-NAS (supernet.cluster, ``nasgcn supernet cluster``): probe features, k-means, selection."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from predictor.cli.main import main
from predictor.errors import NasgcnError
from predictor.spaces import get_space
from supernet.cluster import cluster_architectures, cluster_features, probe_features, select_by_cluster
from supernet.train import TrainConfig, train_supernet

NB = get_space("nb201")


def test_select_by_cluster_merges_the_cluster_winners():
    scores = np.array([90.0, 91.0, 85.0, 70.0, 89.0, np.nan, 88.0, 99.0])
    clusters = np.array([0, 0, 1, 2, 1, 1, 2, -1])
    # winners: cluster 0 -> 1 (91), cluster 1 -> 4 (89), cluster 2 -> 6 (88); then 0 (90), 2 (85), 3 (70)
    assert select_by_cluster(scores, clusters, top=10).tolist() == [1, 4, 6, 0, 2, 3]
    assert select_by_cluster(scores, clusters, top=2).tolist() == [1, 4]
    assert select_by_cluster(scores, np.zeros(8, dtype=int), top=3).tolist() == [7, 1, 0]  # one cluster: global
    with pytest.raises(NasgcnError, match="differ in length"):
        select_by_cluster(scores, clusters[:3])
    with pytest.raises(NasgcnError, match="top"):
        select_by_cluster(scores, clusters, top=0)


def test_cluster_features_recovers_blobs_and_checks_k():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(c, 0.05, size=(20, 4)) for c in (0.0, 1.0, 3.0)])
    labels, dist, inertia = cluster_features(X, 3, seed=0)
    assert len({tuple(labels[i : i + 20]) for i in (0, 20, 40)}) == 3
    assert all(len(set(labels[i : i + 20])) == 1 for i in (0, 20, 40))
    assert (dist >= 0).all() and inertia == pytest.approx((dist**2).sum())
    with pytest.raises(NasgcnError, match="--k must be between 1"):
        cluster_features(X, 61)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    run = tmp_path_factory.mktemp("dcnas") / "run"
    cfg = TrainConfig(channels=4, cells=1, epochs=1, batch_size=32, limit_train_batches=4, progress=False, threads=1)
    train_supernet(cfg, run)
    return run


def test_cluster_architectures_on_a_tiny_supernet(tiny_run):
    from supernet.cluster import load_probe

    ids = NB.sample(24, 0)
    res = cluster_architectures(tiny_run, ids, 4, probe=16, keep_features=True)
    assert res.labels.shape == (24,) and set(res.labels) <= set(range(4)) and len(set(res.labels)) == 4
    assert (res.distance >= 0).all() and res.protocol["probe_images"] == 16
    again = cluster_architectures(tiny_run, ids, 4, probe=16, keep_features=True)
    np.testing.assert_array_equal(res.labels, again.labels)
    np.testing.assert_allclose(res.features, again.features)
    run = load_probe(tiny_run, probe=16)
    last = probe_features(run["model"], ids[:3], run["x"], "last")
    logits = probe_features(run["model"], ids[:3], run["x"], "logits")
    assert last.shape[1] < res.features.shape[1] and logits.shape == (3, 16 * 10)
    # every chosen layer block has unit norm: concatenated vectors have norm 1
    np.testing.assert_allclose(np.linalg.norm(res.features, axis=1), 1.0, atol=1e-5)
    two = probe_features(run["model"], ids[[5, 5]], run["x"], "0,-1")
    np.testing.assert_allclose(two[0], two[1])
    with pytest.raises(NasgcnError, match="out of range"):
        probe_features(run["model"], ids[:1], run["x"], "0,99")
    with pytest.raises(NasgcnError, match="feature layers must be"):
        probe_features(run["model"], ids[:1], run["x"], "middle")
    with pytest.raises(NasgcnError, match="--probe"):
        load_probe(tiny_run, probe=1)


def test_cli_supernet_cluster_writes_clusters(tiny_run, tmp_path, capsys):
    out = tmp_path / "clusters.csv"
    argv = ["supernet", "cluster", str(tiny_run), "--k", "3", "--sample", "15", "--out", str(out), "--probe", "16"]
    assert main([*argv, "--quiet"]) == 0
    assert "in 3 clusters" in capsys.readouterr().out
    with open(out) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 15 and set(rows[0]) == {"arch_str", "cluster", "distance"}
    assert {int(r["cluster"]) for r in rows} == {0, 1, 2}
    NB.encode([r["arch_str"] for r in rows])  # valid architecture strings
    meta = json.loads((tmp_path / "clusters.csv.meta.json").read_text())
    assert meta["k"] == 3 and meta["layers"] == "all" and meta["source"] == "nasgcn supernet cluster"
    archs = tmp_path / "archs.txt"
    archs.write_text("\n".join(r["arch_str"] for r in rows[:6]) + "\n")
    assert main(["supernet", "cluster", str(tiny_run), "--k", "2", "--archs", str(archs), "--out", str(out),
                 "--layers", "last", "--quiet"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["supernet", "cluster", str(tiny_run), "--k", "9", "--archs", str(archs), "--out", str(out)]) == 1
    assert "--k must be between 1 and the number of architectures (6)" in capsys.readouterr().err
    assert main(["supernet", "cluster", str(tiny_run), "--k", "2", "--sample", "4", "--out", str(out),
                 "--space", "nbmacro"]) == 1  # fmt: skip
    assert "not 'nbmacro'" in capsys.readouterr().err


def test_select_by_cluster_merge_rules():
    scores = np.array([95.0, 60.0, 61.0, 80.0, 81.0, 82.0])
    clusters = np.array([0, 0, 0, 1, 1, 1])
    assert select_by_cluster(scores, clusters, top=2).tolist() == [0, 5]
    # cluster 1's mean (81) beats cluster 0's (72): its winner comes first
    assert select_by_cluster(scores, clusters, top=2, merge="cluster_mean").tolist() == [5, 0]
    # 95 stands out in its cluster far more than 82 in its own
    assert select_by_cluster(scores, clusters, top=2, merge="zscore").tolist() == [0, 5]
    with pytest.raises(NasgcnError, match="merge must be one of"):
        select_by_cluster(scores, clusters, merge="best")
