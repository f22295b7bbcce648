"""``query --prior``: rank a lookup table by ``pred + W * reward`` of an IRLAS topology prior."""

from __future__ import annotations

import json

import numpy as np
import pytest

from predictor.cli.main import main
from predictor.errors import NasgcnError
from predictor.lookup import LookupTable
from predictor.prior import fit_prior
from predictor.spaces import get_space

SPACE = get_space("nbmacro")
IDS = SPACE.all_ids()
EXPERTS = ["22222222", "11111111", "21211211"]


@pytest.fixture(scope="module")
def table() -> LookupTable:
    """Predictions that grow with the number of MB6 layers (the heavy op), plus noise."""
    rng = np.random.default_rng(0)
    pred = 85 + (IDS == 2).sum(1) * 0.5 + (IDS == 1).sum(1) * 0.3 + rng.normal(0, 0.2, SPACE.size)
    return LookupTable.build(pred, np.full(SPACE.size, 0.1), space="nbmacro")


@pytest.fixture(scope="module")
def prior():
    return fit_prior(EXPERTS, SPACE)


def test_prior_reranks_by_pred_plus_weighted_reward(table, prior):
    plain = table.query(top_k=5, unique=True)
    assert "prior" not in plain.columns
    assert table.query(top_k=5, unique=True, prior=prior, prior_weight=0).columns["arch_str"].tolist() == (
        plain.columns["arch_str"].tolist()
    )
    w = 1.5
    picked = table.query(top_k=5, unique=True, prior=prior, prior_weight=w)
    # the same rule written plainly: best pred + w * reward first, one per isomorphism class
    score = table.columns["pred"] + w * prior.reward(IDS)
    ref, seen = [], set()
    for r in np.argsort(-score, kind="stable"):
        c = table.columns["iso_class"][r]
        if c not in seen:
            seen.add(c)
            ref.append(table.columns["arch_str"][r])
        if len(ref) == 5:
            break
    assert picked.columns["arch_str"].tolist() == ref
    np.testing.assert_allclose(picked.columns["prior_score"], picked.columns["pred"] + w * picked.columns["prior"])
    assert picked.columns["arch_str"].tolist() != plain.columns["arch_str"].tolist()  # the prior changed the picks
    assert picked.meta["query"]["prior_weight"] == w
    assert "prior" not in table.columns  # the table itself is untouched


def test_prior_respects_budgets(table, prior):
    picked = table.query(top_k=8, constraints={"flops_m": 60}, prior=prior, prior_weight=3)
    assert len(picked) == 8 and (picked.columns["flops_m"] <= 60).all()


def test_prior_errors(table, prior):
    with pytest.raises(NasgcnError, match="without minimize"):
        table.query(maximize="flops_m", minimize=True, prior=prior, prior_weight=1)
    with pytest.raises(NasgcnError, match="one finite reward per row"):
        table.query(prior=lambda ids: np.zeros(3), prior_weight=1)


@pytest.fixture(scope="module")
def files(tmp_path_factory, table):
    folder = tmp_path_factory.mktemp("prior")
    table.to_csv(folder / "t.csv")
    (folder / "experts.txt").write_text("# MobileNetV2-like stacks\n" + "\n".join(EXPERTS) + "\n")
    return folder


def test_cli_query_prior(files, prior, capsys):
    t, ex = str(files / "t.csv"), str(files / "experts.txt")
    assert main(["query", t, "--top", "5", "--prior", ex, "--prior-weight", "1.5", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 5 and all({"prior", "prior_score", "rank"} <= set(r) for r in rows)
    scores = [r["prior_score"] for r in rows]
    ranks = [r["rank"] for r in rows]  # ranked by prior_score (ties at the digits shown share a rank)
    assert scores == sorted(scores, reverse=True) and ranks == sorted(ranks) and ranks[0] == 1
    np.testing.assert_allclose([r["prior"] for r in rows], prior.reward(SPACE.encode([r["arch_str"] for r in rows])))
    assert main(["query", t, "--top", "3", "--prior", ex, "--prior-weight", "1.5"]) == 0
    assert "prior_score" in capsys.readouterr().out.splitlines()[0]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--prior-weight", "1"], "--prior-weight needs --prior"),
        (["--prior", "EX", "--prior-weight", "-1"], "--prior-weight must be >= 0"),
        (["--prior", "EX", "--prior-weight", "1", "--pareto", "flops_m"], "takes no --min-distance, --clusters or"),
        (["--prior", "EX", "--prior-weight", "1", "--maximize", "flops_m", "--minimize"], "cannot be used with"),
        (["--prior", "missing.txt", "--prior-weight", "1"], "no such experts file"),
    ],
)
def test_cli_query_prior_refusals(files, capsys, extra, message):
    args = [str(files / "experts.txt") if a == "EX" else a for a in extra]
    assert main(["query", str(files / "t.csv"), *args]) != 0
    assert message in capsys.readouterr().err
