"""predictor.prior: IRLAS topology features and the feature-expectation-matching reward."""

from __future__ import annotations

import numpy as np
import pytest

from predictor.errors import NasgcnError
from predictor.prior import IRLASPrior, feature_names, fit_prior, read_experts, topology_features
from predictor.spaces import get_space

NB = get_space("nb201")
RESNET = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
BOTTLENECK = "|nor_conv_1x1~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|nor_conv_1x1~2|"


def _feat(space, arch):
    sp = get_space(space)
    return dict(zip(feature_names(sp), topology_features(sp, sp.encode([arch]))[0], strict=True))


def test_topology_features_read_the_graph_view():
    f = _feat("nb201", RESNET)
    assert f["has_skip_path"] == 1 and f["log_paths"] == pytest.approx(np.log(3))  # skip + conv-conv-skip
    assert f["depth_max"] == pytest.approx(2 / 6) and f["depth_min"] == 0
    assert f["share_nor_conv_3x3"] == pytest.approx(2 / 6) and f["share_param"] == pytest.approx(2 / 6)
    dead = _feat("nb201", "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    assert dead["log_paths"] == 0 and dead["depth_max"] == 0 and dead["share_zero"] == 1
    plain = _feat("nb201", "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|nor_conv_3x3~2|")
    assert plain["has_skip_path"] == 0 and plain["depth_max"] == pytest.approx(3 / 6)
    # chain spaces: one path, depth = parametric layers, regularity within stages
    m = _feat("nbmacro", "11111111")
    assert m["depth_max"] == 1 and m["same_op_adjacent"] == 1 and m["distinct_ops"] == pytest.approx(1 / 3)
    assert m["mean_kernel"] == pytest.approx(3 / 5) and m["mean_expansion"] == pytest.approx(3 / 6)
    # chain spaces also describe where blocks sit: stage entries (stride, new width) against the rest
    v2 = _feat("nbmacro", "21211211")
    assert v2["entry_expansion"] == 1 and v2["inner_expansion"] == pytest.approx(3 / 6)
    assert v2["entry_kernel"] == 1 and v2["inner_kernel"] == pytest.approx(3 / 5)
    short = _feat("nbmacro", "20211200")  # stages of 2, 3, 3 layers
    assert (short["depth_stage0"], short["depth_stage1"], short["depth_stage2"]) == pytest.approx((0.5, 1, 1 / 3))
    assert short["inner_expansion"] == pytest.approx((0 + 3 + 3 + 0 + 0) / 5 / 6)
    assert not any(n.startswith(("entry_", "inner_", "depth_stage")) for n in feature_names(NB))  # cells: no stages
    mixed = _feat("nbmacro", "12121212")
    assert mixed["same_op_adjacent"] == 0 and mixed["op_entropy"] > m["op_entropy"]
    fb = get_space("fbnet")
    ids = fb.sample(50, 0)
    F = topology_features(fb, ids)
    assert F.shape == (50, len(feature_names(fb))) and np.isfinite(F).all()
    np.testing.assert_allclose(F[7], topology_features(fb, ids[7:8])[0])  # vectorized = per row


def test_irl_reward_prefers_the_experts_topology():
    prior = IRLASPrior(space="nb201").fit([RESNET, BOTTLENECK])
    assert prior.margins_[-1] < prior.margins_[0]  # the projection closes the gap to the experts
    assert np.linalg.norm(prior.weights_) == pytest.approx(1.0)
    r = prior.reward(NB.unique_ids())
    assert abs(r.mean()) < 1e-6 and r.std() == pytest.approx(1.0, rel=1e-6)
    exp = prior.reward(NB.encode([RESNET, BOTTLENECK]))
    assert (exp > np.quantile(r, 0.9)).all()
    names = [n for n, _ in prior.describe(20)]
    assert "has_skip_path" in names
    np.testing.assert_allclose(prior(NB.encode([RESNET])), exp[:1])
    with pytest.raises(NasgcnError, match="not fitted"):
        IRLASPrior().reward(NB.encode([RESNET]))
    with pytest.raises(NasgcnError, match="beta"):
        IRLASPrior(beta=0).fit([RESNET])


def test_experts_file_and_fit_prior_forms(tmp_path):
    path = tmp_path / "experts.txt"
    path.write_text(f"# ResNet-like cells\n{RESNET}\n\n{BOTTLENECK}  # bottleneck\n")
    ids = read_experts(path, "nb201")
    assert ids.shape == (2, 6)
    a = fit_prior(path, "nb201")
    b = fit_prior([RESNET, BOTTLENECK], "nb201")
    np.testing.assert_allclose(a.weights_, b.weights_)
    assert fit_prior(RESNET, "nb201").weights_.shape == a.weights_.shape
    chain = fit_prior(["3333333333333333333333"], "fbnet", n_candidates=512)
    assert chain.reward(get_space("fbnet").encode(["3333333333333333333333"]))[0] > 1
    path.write_text(f"{RESNET}\n|bad~0|\n")
    with pytest.raises(NasgcnError, match="experts.txt:2"):
        read_experts(path, "nb201")
    path.write_text("# nothing\n")
    with pytest.raises(NasgcnError, match="no expert"):
        read_experts(path, "nb201")
    with pytest.raises(NasgcnError, match="no such experts file"):
        read_experts(tmp_path / "missing.txt", "nb201")


def test_chain_space_prior_on_measured_nbmacro(nbmacro_data):
    """On NB-Macro's measured accuracies (issue 19): MobileNetV2-like experts give a reward that prefers
    the more accurate of equally costly networks; the stage pattern alone (MB6 at each stage entry)
    also prefers the cheaper of equally accurate ones; a lone big expert is imitated, not inverted."""
    d = nbmacro_data
    sp = get_space("nbmacro")
    ids = sp.encode(d["arch"].tolist())
    acc, flops = d["mean_acc"].to_numpy(), d["flops"].to_numpy() / 1e6
    top = acc >= np.median(acc)

    def partial(x, y, given):  # correlation of x and y after a cubic fit on `given`, top half
        x, y, given = x[top], y[top], given[top]
        res = [v - np.polyval(np.polyfit(given, v, 3), given) for v in (x, y)]
        return float(np.corrcoef(*res)[0, 1])

    mobilenet = fit_prior(["22222222", "11111111", "21211211"], sp).reward(ids)
    assert partial(mobilenet, acc, flops) > 0.5
    stages = fit_prior(["21211211"], sp).reward(ids)
    assert partial(stages, flops, acc) < -0.3 and partial(stages, acc, flops) > 0.5
    big = fit_prior(["22222222"], sp)
    assert np.corrcoef(big.reward(ids), flops)[0, 1] > 0.5  # one policy matches at once: keep its w
    assert big.policy_gap_ < 1e-3
