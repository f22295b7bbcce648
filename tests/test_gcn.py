"""GCNPredictor: dense == sparse path, reproducibility, every option changes behaviour, errors, save/load."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from predictor.errors import NasgcnError
from predictor.gcn import GCNPredictor
from predictor.kernels import HAVE_NUMBA
from predictor.nn import CellGCN, DirGCNConv, compact_plan, normalized_adjacency
from predictor.noisy import fit_noisy_accurate, mix_sources, select_for_retraining
from predictor.spaces import OPS_VIEW_ADJACENCY, get_space

SPACE = get_space("nb201")
TINY = dict(hidden=8, num_layers=2, epochs=4, batch_size=32, ensemble=1, random_state=0)


def synthetic(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels with structure a GCN can learn: more 3x3 convs and fewer 'none' is better."""
    rng = np.random.default_rng(seed)
    ids = SPACE.sample(n, rng, unique=True)
    y = 80 + 2.0 * (ids == 3).sum(1) + 1.0 * (ids == 2).sum(1) - 1.5 * (ids == 0).sum(1) + rng.normal(0, 0.3, n)
    return ids, y


@pytest.fixture(scope="module")
def data():
    return synthetic(120)


@pytest.fixture(scope="module")
def fitted(data):
    ids, y = data
    return GCNPredictor(**{**TINY, "ensemble": 2, "epochs": 6}).fit(ids, y)


def test_dense_and_sparse_layer_agree():
    torch.manual_seed(0)
    conv = DirGCNConv(5, 4)
    adj = normalized_adjacency(torch.as_tensor(OPS_VIEW_ADJACENCY))
    from torch_geometric.data import Batch

    from predictor.graphs import to_pyg

    ids = SPACE.sample(6, 1)
    batch = Batch.from_data_list([to_pyg(r) for r in ids])
    x = torch.randn(6, 8, 5)
    mask = (batch.node_type != 1).float()
    sparse = conv(x.reshape(-1, 5), batch.edge_index, mask)
    dense = conv.forward_dense(x.transpose(0, 1), adj, mask.reshape(6, 8).t())  # node-major
    torch.testing.assert_close(sparse, dense.transpose(0, 1).reshape(-1, 4), rtol=1e-5, atol=1e-5)


def test_dense_and_sparse_network_agree(fitted):
    ids = SPACE.sample(50, 3)
    torch.testing.assert_close(
        torch.as_tensor(fitted.predict_sparse(ids)), torch.as_tensor(fitted.predict(ids)), rtol=1e-5, atol=1e-4
    )


FUSED = [False, pytest.param(True, marks=pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed"))]


@pytest.mark.parametrize("fused", FUSED)
@pytest.mark.parametrize("mask_none", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_compact_and_dense_network_agree(mask_none, weighted, fused):
    """forward_compact (each node state once per local pattern) equals forward_dense, duplicates included.

    Both ways: torch ops over blocks, and the fused numba kernels (:mod:`predictor.kernels`).
    """
    torch.manual_seed(0)
    net = CellGCN(8, hidden=32, num_layers=3, num_global=3, mask_none=mask_none).eval()
    adj = normalized_adjacency(torch.as_tensor(OPS_VIEW_ADJACENCY))
    if weighted:  # unequal neighbour weights exercise the general (non-mean) aggregation
        adj = adj * torch.rand(adj.shape).add(0.5)
    for ids in (SPACE.unique_ids(), SPACE.sample(300, 5)):
        types = torch.as_tensor(SPACE.node_types(ids))
        glob = torch.randn(len(ids), 3)
        plan = compact_plan(types, adj, 3, net._mask(types, torch.float32))
        with torch.no_grad():
            ref = net.forward_dense(types, adj, glob)
            out = net.forward_compact(plan, glob, fused=fused)
        torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    first_layer_states = plan.layers[0].residual.numel()
    assert first_layer_states < 8 * len(ids)  # layer 1 is computed on fewer node states than the dense path


@pytest.mark.parametrize("fused", FUSED)
def test_compact_outputs_do_not_alias_reused_buffers(fused):
    """forward_compact reuses scratch buffers between calls: results of earlier calls must stay intact."""
    torch.manual_seed(1)
    nets = [CellGCN(8, hidden=16, num_layers=3).eval() for _ in range(2)]
    adj = normalized_adjacency(torch.as_tensor(OPS_VIEW_ADJACENCY))
    plans = []
    for ids in (SPACE.sample(500, 1), SPACE.sample(40, 2)):
        types = torch.as_tensor(SPACE.node_types(ids))
        plans.append((types, compact_plan(types, adj, 3, nets[0]._mask(types, torch.float32))))
    first = [net.forward_compact(plan, fused=fused) for net in nets for _, plan in plans]
    kept = [t.clone() for t in first]
    again = [net.forward_compact(plan, fused=fused) for net in nets for _, plan in plans]
    for a, b, k in zip(first, again, kept, strict=True):
        torch.testing.assert_close(a, k, rtol=0, atol=0)
        torch.testing.assert_close(b, k, rtol=0, atol=0)
    with torch.no_grad():
        ref = [net.forward_dense(types, adj) for net in nets for types, _ in plans]
    for out, r in zip(first, ref, strict=True):
        torch.testing.assert_close(out, r, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")
def test_fused_kernels_are_the_cpu_default_and_can_be_switched_off(monkeypatch):
    """By default the CPU compact path runs the fused kernels; NASGCN_NO_NUMBA=1 falls back to torch ops."""
    import predictor.kernels as kernels

    torch.manual_seed(2)
    net = CellGCN(8, hidden=16, num_layers=2).eval()
    adj = normalized_adjacency(torch.as_tensor(OPS_VIEW_ADJACENCY))
    types = torch.as_tensor(SPACE.node_types(SPACE.sample(64, 4)))
    plan = compact_plan(types, adj, 2, net._mask(types, torch.float32))
    calls = []
    real = kernels.gcn_layer
    monkeypatch.setattr(kernels, "gcn_layer", lambda *a: calls.append(1) or real(*a))
    fused = net.forward_compact(plan)
    assert len(calls) == 2  # one kernel call per layer
    monkeypatch.setenv("NASGCN_NO_NUMBA", "1")
    unfused = net.forward_compact(plan)
    assert len(calls) == 2
    torch.testing.assert_close(fused, unfused, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="fused=True needs"):
        net.forward_compact(plan, fused=True)  # asked for explicitly while switched off: say so


def _per_member_reference(est: GCNPredictor, ids: np.ndarray) -> np.ndarray:
    """Ensemble outputs computed member by member with forward_dense, without the estimator's prediction code."""
    from predictor.spaces.nb201 import OPS_VIEW_ADJACENCY as adjacency

    rep = SPACE.unique_ids()[SPACE.iso_class(ids)] if est.iso else ids
    types = torch.as_tensor(SPACE.node_types(rep))
    glob = None
    if est.global_features:
        from predictor.gcn import _global_features

        g = (_global_features(rep, est.global_features) - est.feat_mean_) / est.feat_std_
        glob = torch.as_tensor(g, dtype=torch.float32)
    adj = normalized_adjacency(torch.as_tensor(adjacency))
    with torch.no_grad():
        outs = [est._target(k, m.forward_dense(types, adj, glob), glob) for k, m in enumerate(est.members_)]
    return torch.stack(outs).double().numpy() * est.y_std_ + est.y_mean_


@pytest.mark.parametrize("sources", [1, 2])
def test_predict_matches_per_member_reference(data, sources):
    """Default-size ensemble (K=3, hidden 32, 3 layers, iso): predict_space equals the per-member dense path."""
    ids, y = data
    src = None if sources == 1 else (np.arange(len(y)) % 3 != 0).astype(int)  # anchor = source 1: calibration map
    # dead_value=None: the network's own outputs (the cut-off rule is tested in tests/test_bounds.py)
    est = GCNPredictor(epochs=2, random_state=0, dead_value=None).fit(ids, y, source=src)
    assert (est.ensemble, est.hidden, est.num_layers, est.iso) == (3, 32, 3, True)
    all_ids = SPACE.all_ids()
    ref = _per_member_reference(est, all_ids)
    mean, std = est.predict_space(return_std=True)
    np.testing.assert_allclose(mean, ref.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(std, ref.std(0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(
        est._member_outputs(all_ids, path="dense"), est._member_outputs(all_ids), rtol=1e-5, atol=1e-6
    )
    # The cached plan follows the queried ids and a refit.
    sub = SPACE.sample(40, 9)
    np.testing.assert_allclose(est.predict(sub), _per_member_reference(est, sub).mean(0), rtol=1e-5, atol=1e-6)
    est.fit(ids[::2], y[::2] + 1.0, source=None if src is None else src[::2])
    np.testing.assert_allclose(est.predict_space(), _per_member_reference(est, all_ids).mean(0), rtol=1e-5, atol=1e-6)
    est.set_params(mask_none=False, num_layers=2).fit(ids, y, source=src)
    np.testing.assert_allclose(est.predict_space(), _per_member_reference(est, all_ids).mean(0), rtol=1e-5, atol=1e-6)


def test_none_mask_blocks_messages():
    """With masking, changing a 'none' node's own state cannot change its neighbours' messages."""
    torch.manual_seed(0)
    net = CellGCN(7, hidden=6, num_layers=1, mask_none=True)
    adj = normalized_adjacency(torch.as_tensor(OPS_VIEW_ADJACENCY))
    types = torch.as_tensor(SPACE.node_types(np.array([[0, 3, 3, 3, 3, 3]])))
    conv = net.convs[0]
    h = torch.randn(8, 1, 6)  # node-major
    h2 = h.clone()
    h2[1, 0] += 5.0  # node 1 is the 'none' op
    mask = (types != 1).float().t()
    a, b = conv.forward_dense(h, adj, mask), conv.forward_dense(h2, adj, mask)
    torch.testing.assert_close(a[2:], b[2:])
    assert not torch.allclose(a[1], b[1])  # its own state still updates


def test_training_reduces_loss(data):
    ids, y = data
    est = GCNPredictor(**{**TINY, "epochs": 25, "loss": "mse"}).fit(ids, y)
    assert est.loss_curve_[-1] < 0.5 * est.loss_curve_[0]
    assert est.score(*synthetic(200, seed=5)) > 0.5


def test_seed_reproducible(data):
    ids, y = data
    p1 = GCNPredictor(**TINY).fit(ids, y).predict(ids)
    p2 = GCNPredictor(**TINY).fit(ids, y).predict(ids)
    p3 = GCNPredictor(**{**TINY, "random_state": 1}).fit(ids, y).predict(ids)
    np.testing.assert_array_equal(p1, p2)
    assert not np.allclose(p1, p3)


@pytest.mark.parametrize("change", [{"loss": "rank"}, {"loss": "mse"}, {"mask_none": False}, {"iso": False}])
def test_options_change_predictions(data, change):
    ids, y = data
    base = GCNPredictor(**{**TINY, "loss": "mix"}).fit(ids, y).predict(ids)
    other = GCNPredictor(**{**TINY, "loss": "mix", **change}).fit(ids, y).predict(ids)
    assert not np.allclose(base, other)


def test_ensemble_std(data, fitted):
    ids, y = data
    _, std = fitted.predict(ids[:20], return_std=True)
    assert np.all(std > 0)
    _, std1 = GCNPredictor(**TINY).fit(ids, y).predict(ids[:20], return_std=True)
    live = ~SPACE.is_dead(ids[:20])  # cut-off cells carry the spread of their training labels instead
    assert not live.all()
    np.testing.assert_array_equal(std1[live], 0)


def test_sample_weight_matters(data):
    ids, y = data
    w = np.where(np.arange(len(y)) < 60, 5.0, 0.2)
    a = GCNPredictor(**TINY).fit(ids, y).predict(ids)
    b = GCNPredictor(**TINY).fit(ids, y, sample_weight=w).predict(ids)
    assert not np.allclose(a, b)


def test_early_stopping_stops(data):
    ids, y = data
    est = GCNPredictor(**{**TINY, "epochs": 300, "early_stopping": True, "patience": 2, "lr": 0.05}).fit(ids, y)
    assert est.n_epochs_ < 300
    assert len(est.validation_scores_) == est.n_epochs_
    assert est.best_epoch_ == int(np.argmin(est.validation_scores_))


def test_isomorphic_cells_get_equal_predictions(fitted):
    # |none~0|+|skip~0|none~1|+... variants: node 1 unused when its outgoing edges are none
    a = "|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
    b = "|nor_conv_1x1~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
    assert SPACE.iso_class(SPACE.encode([a]))[0] == SPACE.iso_class(SPACE.encode([b]))[0]
    pa, pb = fitted.predict([a, b])
    assert pa == pb


def test_strings_and_ids_equivalent(fitted):
    ids = SPACE.sample(5, 7)
    np.testing.assert_array_equal(fitted.predict(ids), fitted.predict(SPACE.decode(ids)))


def test_predict_space_order(fitted):
    pred, std = fitted.predict_space(return_std=True)
    assert pred.shape == (SPACE.size,) and std.shape == (SPACE.size,)
    some = np.array([0, 777, 15624])
    np.testing.assert_allclose(pred[some], fitted.predict(SPACE.all_ids()[some]))


def test_sklearn_clone_and_params():
    est = GCNPredictor(hidden=16, loss="rank", random_state=3)
    c = clone(est)
    assert c.get_params() == est.get_params()
    assert c.set_params(hidden=4).hidden == 4


def test_errors(data):
    ids, y = data
    with pytest.raises(NotFittedError):
        GCNPredictor().predict(ids)
    with pytest.raises(NasgcnError, match="targets"):
        GCNPredictor(**TINY).fit(ids, y[:-1])
    bad = y.copy()
    bad[3] = np.nan
    with pytest.raises(NasgcnError, match="NaN"):
        GCNPredictor(**TINY).fit(ids, bad)
    with pytest.raises(NasgcnError):
        GCNPredictor(**TINY).fit(["|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|"] * 2, [1.0, 2.0])
    with pytest.raises(NasgcnError, match="loss"):
        GCNPredictor(**{**TINY, "loss": "l1"}).fit(ids, y)
    with pytest.raises(NasgcnError, match="sample_weight"):
        GCNPredictor(**TINY).fit(ids, y, sample_weight=-np.ones(len(y)))
    with pytest.raises(NasgcnError, match="source 0"):
        GCNPredictor(**TINY).fit(ids, y, source=np.ones(len(y), dtype=int))
    with pytest.raises(NasgcnError, match="CUDA"):
        if torch.cuda.is_available():
            pytest.skip("CUDA present")
        GCNPredictor(**{**TINY, "device": "cuda"}).fit(ids, y)


def test_save_load_roundtrip(tmp_path, fitted, data):
    ids, y = data
    fitted.target_ = "acc"
    path = tmp_path / "m.pt"
    fitted.save(path)
    cfg = json.loads((tmp_path / "m.pt.json").read_text())
    assert cfg["space"] == "nb201" and cfg["target"] == "acc" and cfg["n_train"] == len(y)
    assert len(cfg["data_sha256"]) == 64
    est = GCNPredictor.load(path)
    np.testing.assert_array_equal(est.predict(ids), fitted.predict(ids))
    assert est.get_params() == {**fitted.get_params(), "device": "cpu"}
    (tmp_path / "m.pt.json").unlink()
    with pytest.raises(NasgcnError, match="config"):
        GCNPredictor.load(path)
    (tmp_path / "x.pt").write_bytes(b"garbage")
    (tmp_path / "x.pt.json").write_text(json.dumps(cfg))
    with pytest.raises(NasgcnError, match="cannot read"):
        GCNPredictor.load(tmp_path / "x.pt")


def test_data_hash_tracks_data(data):
    ids, y = data
    a = GCNPredictor(**{**TINY, "epochs": 1}).fit(ids, y).data_hash_
    b = GCNPredictor(**{**TINY, "epochs": 1}).fit(ids, y + 0.01).data_hash_
    assert a != b


# ----- noisy + accurate ------------------------------------------------------------------------


def test_mix_sources_layout():
    ids, y = synthetic(30)
    mixed, yy, w, src = mix_sources(ids[:20], y[:20] - 20, ids[20:], y[20:], accurate_weight=4)
    assert mixed.shape == (30, 6) and list(np.bincount(src)) == [10, 20]
    assert np.all(w[src == 0] == 4) and np.all(w[src == 1] == 1)
    _, _, w_auto, _ = mix_sources(ids[:20], y[:20], ids[20:], y[20:])  # auto: 0.75 * 20 / 10
    assert np.all(w_auto[:10] == 1.5)
    with pytest.raises(NasgcnError, match="accurate_weight"):
        mix_sources(ids[:20], y[:20], ids[20:], y[20:], accurate_weight=0)
    _, _, _, src_only = mix_sources(ids, y)
    assert np.all(src_only == 0)
    with pytest.raises(NasgcnError, match="at least 2"):
        mix_sources(ids, y, ids[:1], y[:1])


def test_noisy_labels_are_calibrated_to_accurate_units():
    """Noisy labels 20 points low with a different scale: predictions come out in accurate units."""
    ids, y = synthetic(150, seed=2)
    noisy = 0.5 * (y - 20) + np.random.default_rng(0).normal(0, 0.5, len(y))
    est = fit_noisy_accurate(ids[:130], noisy[:130], ids[130:], y[130:], **{**TINY, "epochs": 30})
    pred = est.predict(ids)
    assert abs(pred.mean() - y.mean()) < abs(pred.mean() - noisy.mean()) / 5
    assert est.n_sources_ == 2 and est.calibration_.shape[:2] == (1, 2)


def test_calibration_feature_slopes_are_not_extrapolated(tmp_path):
    """Accurate labels from the top only, where fewer parameters happen to score better: the accurate
    source's feature slopes hold within the range of its labels, so the smallest cells do not become
    the predicted best (before the clipping, a sequential search's final table ranked the identity
    cell first once, Kendall tau -0.22)."""
    from predictor.gcn import _global_features

    rng = np.random.default_rng(3)
    ids = SPACE.sample(300, rng, unique=True)
    y = 80 + 2.0 * (ids == 3).sum(1) + 1.0 * (ids == 2).sum(1) - 1.5 * (ids == 0).sum(1) + rng.normal(0, 0.3, 300)
    log_params = _global_features(ids, ("log_params",))[:, 0]
    top = np.argsort(-y)[:12]
    acc = 94 - 0.5 * (log_params[top] - log_params[top].mean()) / log_params[top].std()
    est = fit_noisy_accurate(ids, y, ids[top], acc, **{**TINY, "epochs": 30})
    reps = SPACE.unique_ids()[SPACE.iso_class(ids[top])]  # training runs on class representatives
    glob = (_global_features(reps, est.global_features) - est.feat_mean_) / est.feat_std_
    np.testing.assert_allclose(est.feature_range_, np.stack([glob.min(0), glob.max(0)]), rtol=1e-5)
    all_params = _global_features(SPACE.all_ids(), ("log_params",))[:, 0]
    small = all_params <= np.quantile(all_params, 0.1)
    pred = est.predict_space()
    assert pred[small].max() < acc.max() and not small[np.argmax(pred)]
    est.save(tmp_path / "m.pt")
    again = GCNPredictor.load(tmp_path / "m.pt")
    np.testing.assert_array_equal(again.feature_range_, est.feature_range_)
    np.testing.assert_array_equal(again.predict_space(), pred)
    est.feature_range_ = None  # the old behaviour: the slopes run on and the smallest cells win
    assert est.predict_space()[small].max() > acc.max()


def test_select_for_retraining():
    pred = -np.arange(SPACE.size, dtype=float)  # best = lowest index
    pred[0] = 1e9  # index 0 is the all-'none' (dead) cell
    sel = select_for_retraining(pred, 10)
    assert len(sel) == 10 and 0 not in sel
    classes = SPACE.iso_class(SPACE.all_ids()[sel])
    assert len(np.unique(classes)) == 10
    assert not SPACE.is_dead(SPACE.all_ids()[sel]).any()
    again = select_for_retraining(pred, 5, exclude=SPACE.all_ids()[sel[:3]])
    assert not np.isin(SPACE.iso_class(SPACE.all_ids()[again]), classes[:3]).any()
    with pytest.raises(NasgcnError, match="one prediction per"):
        select_for_retraining(pred[:10], 3)


def test_real_labels_beat_param_count(ground_truth):
    """200 stand-alone labels: the GCN ranks all 15,625 cells better than the parameter count (0.58)."""
    from predictor.metrics import kendall_tau

    ids = SPACE.encode(ground_truth["arch_str"].tolist())
    y = ground_truth["c10valid_valid_acc"].to_numpy()
    tr = np.random.default_rng(0).choice(len(y), 200, replace=False)
    est = GCNPredictor(hidden=16, epochs=40, ensemble=1, random_state=0).fit(ids[tr], y[tr])
    assert kendall_tau(y, est.predict(ids)) > 0.62


def test_overlay_measured_and_model_keeps_labels(tmp_path):
    from predictor.noisy import overlay_measured

    ids, y = synthetic(60, seed=4)
    est = fit_noisy_accurate(ids[:50], y[:50] - 30, ids[50:], y[50:], **{**TINY, "epochs": 2})
    assert len(est.measured_["arch_str"]) == 10
    pred, std = est.predict_space(return_std=True)
    over, ostd, mask = overlay_measured(pred, std, est.measured_["arch_str"], est.measured_["y"])
    idx = SPACE.index_of(ids[50:])
    np.testing.assert_allclose(over[idx], y[50:])
    assert np.all(ostd[mask] == 0) and mask.sum() >= 10
    np.testing.assert_array_equal(over[~mask], pred[~mask])
    # the whole isomorphism class of a measured cell gets its value
    cls = SPACE.iso_class(SPACE.all_ids())
    assert np.all(mask == np.isin(cls, SPACE.iso_class(ids[50:])))
    est.save(tmp_path / "m.pt")
    assert GCNPredictor.load(tmp_path / "m.pt").measured_ == est.measured_


def test_batch_size_option(data):
    ids, y = data
    auto = GCNPredictor(**{**TINY, "batch_size": "auto"}).fit(ids, y).predict(ids)
    small = GCNPredictor(**{**TINY, "batch_size": 16}).fit(ids, y).predict(ids)
    assert not np.allclose(auto, small)
    with pytest.raises(NasgcnError, match="batch_size"):
        GCNPredictor(**{**TINY, "batch_size": "big"}).fit(ids, y)


def test_rank_loss_is_mapped_to_label_units(tmp_path, data):
    """A ``"rank"`` fit gets a strictly increasing map per member back to label units; save/load keeps it."""
    ids, y = data
    est = GCNPredictor(**{**TINY, "loss": "rank", "epochs": 20, "ensemble": 2}).fit(ids, y)
    assert len(est.output_map_) == 2
    pred = est.predict(ids)
    assert np.sqrt(np.mean((pred - y) ** 2)) < 0.5 * y.std()  # label units (a ranking alone is not)
    raw = torch.linspace(-200.0, 200.0, 40001, dtype=torch.float64)
    for rows in est.output_map_:
        mapped = est._apply_output_map(raw, rows)
        assert torch.all(torch.diff(mapped) > 0)  # keeps the member's ranking, also beyond the knots
    live = ~SPACE.is_dead(ids)  # cut-off cells are predicted from their labels (tests/test_bounds.py)
    np.testing.assert_allclose(pred[live], _per_member_reference(est, ids).mean(0)[live], rtol=1e-5)
    est.save(tmp_path / "r.pt")
    np.testing.assert_array_equal(GCNPredictor.load(tmp_path / "r.pt").predict(ids), pred)
    assert GCNPredictor(**TINY).fit(ids, y).output_map_ is None  # mse / mix outputs are already in label units
