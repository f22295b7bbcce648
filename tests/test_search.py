"""Constrained search (predictor.search, ``nasgcn search``): exactness on nbmacro, constraints on fbnet."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from predictor.cli.main import main
from predictor.errors import NasgcnError
from predictor.hardware import HardwareTable
from predictor.query import pareto_front
from predictor.search import (
    ExactCosts,
    ModelCosts,
    TableCosts,
    exhaustive,
    is_cost_model_file,
    pareto_search,
    search,
)
from predictor.spaces import get_space

MACRO = get_space("nbmacro")
FBNET = get_space("fbnet")


def _synthetic(space, seed=0):
    """A deterministic, non-additive score over op ids (per-slot weights + neighbour interactions)."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(space.num_slots, len(space.ops)))
    pair = rng.normal(size=(space.num_slots - 1, len(space.ops), len(space.ops))) * 0.5
    slots = np.arange(space.num_slots)

    def score(ids):
        ids = space.canonical_ids(ids)  # a function of the class, like the GCN with iso=True
        s = w[slots, ids].sum(1) + pair[slots[:-1], ids[:, :-1], ids[:, 1:]].sum(1)
        return s, 0.05 * np.abs(s) + 0.01

    return score


def _dominates(a, b):
    """a dominates b: criteria are (objective to maximize, costs to minimize...)."""
    ge = a[0] >= b[0] and all(x <= y for x, y in zip(a[1:], b[1:], strict=True))
    gt = a[0] > b[0] or any(x < y for x, y in zip(a[1:], b[1:], strict=True))
    return ge and gt


# ----- the engine on synthetic scorers ----------------------------------------------------------
def test_search_matches_exhaustive_on_nbmacro_with_a_third_of_the_space():
    score = _synthetic(MACRO)
    flops = MACRO.costs(MACRO.unique_ids())["flops_m"]
    for q in (0.2, 0.5):
        bound = float(np.quantile(flops, q))
        exact = exhaustive(MACRO, score, constraints={"flops_m": bound}, top_k=5)
        assert exact.stats["exhausted"] and exact.n_scored == MACRO.num_unique
        got = search(MACRO, score, constraints={"flops_m": bound}, top_k=5, budget=1300, random_state=1)
        assert got.n_scored == 1300 and not got.stats["exhausted"]
        np.testing.assert_array_equal(got.ids[got.top[0]], exact.ids[exact.top[0]])
        assert got.pred[got.top] == pytest.approx(exact.pred[exact.top])


def test_exhaustive_top_equals_brute_force_over_all_6561():
    score = _synthetic(MACRO, seed=3)
    ids = MACRO.all_ids()
    pred, _ = score(ids)
    fl = MACRO.costs(ids)["flops_m"]
    bound = float(np.median(fl))
    ok = np.flatnonzero(fl <= bound)
    best = ok[np.argmax(pred[ok])]
    res = search(MACRO, score, constraints={"flops_m": bound}, budget=2000, random_state=0)
    assert MACRO.iso_class(res.ids[res.top[:1]])[0] == MACRO.iso_class(ids[[best]])[0]
    assert res.pred[res.top[0]] == pytest.approx(pred[best])


def test_fbnet_constraints_margins_dedupe_front_and_seed():
    score = _synthetic(FBNET)
    bound = float(np.quantile(FBNET.costs(FBNET.sample(1000, 0))["flops_m"], 0.2))
    res = search(FBNET, score, constraints={"flops_m": bound}, minimums={"params_m": 0.5}, budget=6000, random_state=0)
    assert res.n_scored == 6000  # a huge space never runs out: the budget is spent exactly
    rows = res.top_records()
    assert len(rows) == 10
    ids = FBNET.encode([r["arch_str"] for r in rows])
    c = FBNET.costs(ids)
    assert np.all(c["flops_m"] <= bound) and np.all(c["params_m"] >= 0.5)
    np.testing.assert_array_equal(ids, FBNET.canonical_ids(ids))  # stored as canonical members
    assert len(set(FBNET.iso_hash(res.ids).tolist())) == res.n_scored  # every class scored once
    preds = [r["pred"] for r in rows]
    assert preds == sorted(preds, reverse=True)
    assert {"arch_str", "pred", "pred_std", "params_m", "flops_m"} <= set(rows[0])
    # the front: feasible, non-dominated among themselves and by any feasible candidate scored
    front = res.pareto
    assert front.size >= 2 and res.feasible[front].all()
    crit = np.column_stack([res.objective, res.costs["flops_m"]])
    for i in front:
        assert not any(_dominates(crit[j], crit[i]) for j in np.flatnonzero(res.feasible))
    # seeded: same seed, same answer; another seed searches differently
    again = search(
        FBNET, score, constraints={"flops_m": bound}, minimums={"params_m": 0.5}, budget=6000, random_state=0
    )
    np.testing.assert_array_equal(again.ids, res.ids)
    other = search(
        FBNET, score, constraints={"flops_m": bound}, minimums={"params_m": 0.5}, budget=6000, random_state=5
    )
    assert not np.array_equal(other.ids[:2000], res.ids[:2000])


class _ToyLatency:
    """A cost model with an uncertainty: latency = flops/10 + 1, std 10 % (ModelCosts protocol)."""

    columns = ("toy_latency",)
    space = "fbnet"

    def predict(self, ids):
        m = FBNET.costs(ids)["flops_m"] / 10 + 1
        return {"toy_latency": (m, 0.1 * m)}


def test_uncertainty_margin_and_kappa():
    score = _synthetic(FBNET, seed=2)
    src = ModelCosts(_ToyLatency())
    plain = search(FBNET, score, [src], constraints={"toy_latency": 6.0}, budget=3000, random_state=0)
    safe = search(FBNET, score, [src], constraints={"toy_latency": 6.0}, budget=3000, random_state=0, z=2.0)
    for r in safe.top_records():
        assert r["toy_latency"] + 2 * r["toy_latency_std"] <= 6.0
    assert any(r["toy_latency"] + 2 * r["toy_latency_std"] > 6.0 for r in plain.top_records())
    sure = search(FBNET, score, [src], constraints={"toy_latency": 6.0}, budget=3000, random_state=0, kappa=3.0)
    np.testing.assert_allclose(sure.objective, sure.pred - 3.0 * sure.pred_std)
    assert sure.objective[sure.top[0]] == sure.objective[sure.feasible].max()


def test_methods_errors_and_unknown_columns():
    score = _synthetic(FBNET)
    for method in ("evolution", "local"):
        res = search(FBNET, score, constraints={"flops_m": 60}, budget=1500, method=method, random_state=0)
        assert res.n_scored == 1500 and res.top.size == 10
        assert res.stats["local_steps" if method == "local" else "generations"] > 0
    with pytest.raises(NasgcnError, match="unknown cost column.*nope_latency.*flops_m"):
        search(FBNET, score, constraints={"nope_latency": 1.0}, budget=100)
    with pytest.raises(NasgcnError, match="method must be one of"):
        search(FBNET, score, budget=100, method="annealing")
    with pytest.raises(NasgcnError, match="budget"):
        search(FBNET, score, budget=0)
    with pytest.raises(NasgcnError, match="population must be >= 2"):
        search(FBNET, score, budget=10, population=1)
    with pytest.raises(NasgcnError, match=r"crossover_prob must be in \[0, 1\]"):
        search(FBNET, score, budget=10, crossover_prob=1.5)
    with pytest.raises(NasgcnError, match="search space 'fbnet', not 'nbmacro'"):
        search(MACRO, _synthetic(MACRO), [ModelCosts(_ToyLatency(), name="toy model")], budget=100)
    # nothing feasible: empty top, empty front, no crash
    res = search(FBNET, score, constraints={"flops_m": 0.001}, budget=500, random_state=0)
    assert res.top.size == 0 and res.pareto.size == 0 and res.top_records() == []


def _full_table(path, space, seed=0, with_std=False, meta_space=None):
    """A full hardware table of a small space: latency additive in the op ids of the class, 5 % NaN classes."""
    rng = np.random.default_rng(seed)
    ids = space.all_ids()
    per_op = rng.uniform(0.1, 1.0, size=(space.num_slots, len(space.ops)))
    lat = per_op[np.arange(space.num_slots), space.canonical_ids(ids)].sum(1)
    lat[(rng.random(space.num_unique) < 0.05)[space.iso_class(ids)]] = np.nan
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["arch_str", "dev_latency", *(["dev_latency_std"] if with_std else [])])
        for a, v in zip(space.decode(ids), lat, strict=True):
            w.writerow([a, "" if np.isnan(v) else v, *([0.1] if with_std else [])])
    if meta_space:
        (path.parent / (path.name + ".meta.json")).write_text(json.dumps({"space": meta_space}))
    return lat


def test_table_costs_on_nbmacro_match_the_exhaustive_query(tmp_path):
    lat = _full_table(tmp_path / "hw.csv", MACRO, with_std=True)
    hw = HardwareTable.read(tmp_path / "hw.csv", space="nbmacro")
    src = TableCosts(hw)
    assert src.columns == ("dev_latency",) and hw.meta["space"] == "nbmacro"
    score = _synthetic(MACRO, seed=1)
    cons = {"dev_latency": float(np.nanmedian(lat)), "flops_m": 40.0}
    got = search(MACRO, score, [src], constraints=cons, budget=1500, random_state=0, z=1.0)
    ids = MACRO.all_ids()
    pred, _ = score(ids)
    ok = (lat + 0.1 <= cons["dev_latency"]) & (MACRO.costs(ids)["flops_m"] <= 40.0)  # NaN fails
    best = np.flatnonzero(ok)[np.argmax(pred[ok])]
    assert got.pred[got.top[0]] == pytest.approx(pred[best])
    for r in got.top_records():
        assert r["dev_latency"] is not None and r["dev_latency"] + r["dev_latency_std"] <= cons["dev_latency"]
    assert got.pareto_costs == ["dev_latency", "flops_m"]


def test_table_lookup_by_class_on_fbnet(tmp_path):
    """A partial fbnet table: lookups by architecture, then by any member of the class."""
    ids = FBNET.sample(50, 0)
    ids[:, 2:5] = [8, 3, 8]  # stage 1 (layers 1-4): skips after the first commute
    path = tmp_path / "fb.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["arch_str", "dev_latency"])
        w.writerows([a, float(i)] for i, a in enumerate(FBNET.decode(ids)))
    hw = HardwareTable.read(path, space="fbnet")
    assert len(hw) == 50
    np.testing.assert_array_equal(hw.positions_of_ids(ids), np.arange(50))
    swapped = ids.copy()
    swapped[:, 2:5] = [3, 8, 8]  # same classes, other members
    assert (hw.positions_of_ids(swapped) == -1).all()
    np.testing.assert_array_equal(hw.positions_of_ids(swapped, by_class=True), np.arange(50))
    vals = TableCosts(hw).predict(np.concatenate([swapped, FBNET.sample(3, 9)]))["dev_latency"][0]
    np.testing.assert_array_equal(vals[:50], np.arange(50.0))
    assert np.isnan(vals[50:]).all()


def _latency_model(space, path, seed=0):
    """A latency model file (predictor.latency_model) fitted on synthetic additive latencies."""
    from predictor.latency_model import LatencyModel

    ids = space.sample(200, seed, unique=True)
    rng = np.random.default_rng(seed)
    lat = 1.0 + space.costs(ids)["flops_m"] / 20 * rng.normal(1, 0.03, ids.shape[0])
    LatencyModel(space=space.name, loss="lsq", correction="none").fit(ids, {"toy_latency": lat}).save(path)
    return path


def test_cost_model_file_detection_and_loading(tmp_path):
    from predictor.search import load_cost_source

    _full_table(tmp_path / "t.csv", MACRO)
    assert not is_cost_model_file(tmp_path / "t.csv")
    model = _latency_model(FBNET, tmp_path / "lat.npz")
    assert is_cost_model_file(model)
    src = load_cost_source(model, "fbnet")
    assert isinstance(src, ModelCosts) and src.columns == ("toy_latency",)
    assert isinstance(load_cost_source(tmp_path / "t.csv", "nbmacro"), TableCosts)
    with pytest.raises(NasgcnError, match="is for search space 'fbnet', not 'nbmacro'"):
        load_cost_source(model, "nbmacro")
    with pytest.raises(FileNotFoundError):
        load_cost_source(tmp_path / "nope.csv", "fbnet")


# ----- end to end with fitted GCNs -------------------------------------------------------------
@pytest.fixture(scope="module")
def macro_model(tmp_path_factory):
    import torch

    from predictor.gcn import GCNPredictor

    torch.set_num_threads(1)
    ids = MACRO.sample(60, 0)
    score = _synthetic(MACRO, seed=4)
    y = score(ids)[0]
    est = GCNPredictor(space="nbmacro", ensemble=2, epochs=40, random_state=0).fit(ids, y)
    path = tmp_path_factory.mktemp("m") / "macro.pt"
    est.save(path)
    return path, est


@pytest.fixture(scope="module")
def fbnet_model(tmp_path_factory):
    import torch

    from predictor.gcn import GCNPredictor

    torch.set_num_threads(1)
    ids = FBNET.sample(60, 0)
    y = _synthetic(FBNET, seed=4)(ids)[0]
    est = GCNPredictor(space="fbnet", ensemble=2, epochs=30, random_state=0).fit(ids, y)
    path = tmp_path_factory.mktemp("f") / "fbnet.pt"
    est.save(path)
    return path, est


def _json(capsys, argv):
    assert main(argv) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_cli_search_on_nbmacro_finds_the_exhaustive_best(macro_model, capsys):
    path, est = macro_model
    pred, std = est.predict_space(return_std=True)
    ids = MACRO.all_ids()
    fl = MACRO.costs(ids)["flops_m"]
    bound = float(np.quantile(fl, 0.3))
    ok = np.flatnonzero(fl <= bound)
    best = ok[np.argmax(pred[ok])]
    argv = ["search", str(path), "--max", f"flops_m={bound}", "--budget", "1500", "--json", "--top", "3"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    rows = json.loads(captured.out)
    assert isinstance(rows, list) and len(rows) == 3 and "1,500 candidates scored" in captured.err
    top = rows[0]
    assert top["iso_class"] == MACRO.iso_class(ids[[best]])[0]  # same field names as `nasgcn query --json`
    assert MACRO.iso_class(MACRO.encode([top["arch_str"]]))[0] == top["iso_class"]
    assert top["pred"] == pytest.approx(pred[best], rel=1e-6)
    assert top["flops_m"] <= bound and top["pred_std"] == pytest.approx(std[best], rel=1e-5, abs=1e-9)
    # the same answer from the full table: nasgcn table + nasgcn query
    table = path.parent / "macro_table.csv"
    assert main(["table", str(path), "--out", str(table)]) == 0
    capsys.readouterr()
    q = _json(capsys, ["query", str(table), "--max", f"flops_m={bound}", "--top", "3", "--unique", "--json"])
    assert [r["iso_class"] for r in q] == [r["iso_class"] for r in rows]
    assert [r["pred"] for r in q] == pytest.approx([r["pred"] for r in rows], rel=1e-6)


def test_cli_search_on_fbnet_respects_flops_and_front(fbnet_model, tmp_path, capsys):
    path, _ = fbnet_model
    argv = ["search", str(path), "--max", "flops_m=45", "--budget", "3000", "--seed", "1"]
    rows = _json(
        capsys, [*argv, "--json", "--out", str(tmp_path / "top.csv"), "--pareto-out", str(tmp_path / "pf.csv")]
    )
    front = _json(capsys, [*argv, "--json", "--pareto", "flops_m"])
    assert len(rows) == 10
    for r in rows + front:
        flops = FBNET.costs(FBNET.encode([r["arch_str"]]))["flops_m"][0]
        assert flops <= 45 and r["flops_m"] == pytest.approx(flops)
    crit = [(r["pred"], r["flops_m"]) for r in front]
    assert len(front) >= 2 and not any(_dominates(a, b) for a in crit for b in crit)
    assert [r["flops_m"] for r in front] == sorted(r["flops_m"] for r in front)
    with open(tmp_path / "top.csv") as fh:
        assert [r["arch_str"] for r in csv.DictReader(fh)] == [r["arch_str"] for r in rows]
    meta = json.loads((tmp_path / "pf.csv.meta.json").read_text())
    assert meta["space"] == "fbnet" and meta["constraints"] == {"flops_m": 45.0}
    assert main(argv) == 0  # text output
    text = capsys.readouterr().out
    assert "flops_m [M MACs]" in text and "top 10 of 3,000 candidates scored" in text and "Pareto front" in text


def test_cli_search_refuses_other_spaces_and_bad_options(fbnet_model, macro_model, tmp_path, capsys):
    path, _ = fbnet_model
    _full_table(tmp_path / "macro_hw.csv", MACRO, meta_space="nbmacro")
    assert main(["search", str(path), "--hardware", str(tmp_path / "macro_hw.csv"), "--budget", "50"]) == 1
    err = capsys.readouterr().err
    assert "macro_hw.csv is for search space 'nbmacro', not 'fbnet'" in err and "Traceback" not in err
    _full_table(tmp_path / "bare.csv", MACRO)  # no metadata: the strings themselves are refused
    assert main(["search", str(path), "--hardware", str(tmp_path / "bare.csv"), "--budget", "50"]) == 1
    assert "bare.csv:2" in capsys.readouterr().err
    assert main(["search", str(path), "--space", "nbmacro", "--budget", "50"]) == 1
    assert "is for search space 'fbnet', not 'nbmacro'" in capsys.readouterr().err
    assert main(["search", str(path), "--max", "nope_latency=3", "--budget", "50"]) == 1
    assert "unknown cost column" in capsys.readouterr().err
    assert main(["search", str(path), "--top", "0"]) == 1
    assert "--top" in capsys.readouterr().err
    # a full nbmacro hardware table works with the nbmacro model
    mpath, _ = macro_model
    out = _json(
        capsys,
        [
            "search",
            str(mpath),
            "--hardware",
            str(tmp_path / "macro_hw.csv"),
            "--max",
            "dev_latency=3.0",
            "--budget",
            "400",
            "--json",
            "--top",
            "2",
        ],
    )
    assert len(out) == 2 and all(r["dev_latency"] is not None and r["dev_latency"] <= 3.0 for r in out)


def test_cli_search_with_a_latency_model_and_margin(fbnet_model, tmp_path, capsys):
    from predictor.latency_model import load_cost_model

    path, _ = fbnet_model
    lat = _latency_model(FBNET, tmp_path / "lat.npz")
    model = load_cost_model(lat)
    base = ["search", str(path), "--hardware", str(lat), "--max", "toy_latency=3.5", "--budget", "2000", "--json"]
    plain = _json(capsys, base)
    safe = _json(capsys, [*base, "--z", "2"]) + _json(capsys, [*base, "--z", "2", "--pareto", "toy_latency"])
    for r in safe:
        mean, std = (v[0] for v in model.predict(FBNET.encode([r["arch_str"]]))["toy_latency"])
        assert r["toy_latency"] == pytest.approx(mean) and r["toy_latency_std"] == pytest.approx(std)
        assert mean + 2 * std <= 3.5
    assert any(r["toy_latency"] + 2 * r["toy_latency_std"] > 3.5 for r in plain)
    macro_lat = _latency_model(MACRO, tmp_path / "macro_lat.npz")
    assert main(["search", str(path), "--hardware", str(macro_lat), "--budget", "50"]) == 1
    assert "is for search space 'nbmacro', not 'fbnet'" in capsys.readouterr().err


def test_cli_search_help_documents_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["search", "--help"])
    text = capsys.readouterr().out
    for opt in (
        "--hardware",
        "--max",
        "--min",
        "--top",
        "--json",
        "--z",
        "--kappa",
        "--budget",
        "--seed",
        "--out",
        "--pareto-out",
        "--method",
        "--space",
        "--threads",
        "--iso",
        "--pareto",
        "--prior",
        "--prior-weight",
        "--population",
    ):
        assert opt in text


def test_exact_costs_source_and_front_on_three_costs():
    src = ExactCosts(FBNET)
    ids = FBNET.sample(5, 0)
    got = src.predict(ids)
    np.testing.assert_allclose(got["flops_m"][0], FBNET.costs(ids)["flops_m"])
    # pareto_front on more than two costs (the search's front can have several --max columns)
    rng = np.random.default_rng(0)
    cols = {"o": rng.normal(size=400), "a": rng.random(400), "b": rng.random(400), "c": rng.integers(0, 5, 400) * 1.0}
    front = set(pareto_front(cols, "o", ["a", "b", "c"]).tolist())
    crit = np.column_stack([cols["o"], cols["a"], cols["b"], cols["c"]])
    want = {i for i in range(400) if not any(_dominates(crit[j], crit[i]) for j in range(400))}
    assert front == want


def test_nondominated_sweep_across_blocks_matches_brute_force():
    from predictor.query import _nondominated

    rng = np.random.default_rng(1)
    crit = np.column_stack([rng.integers(0, 6, 300), rng.integers(0, 6, 300), rng.random(300) < 0.5]).astype(float)
    got = set(_nondominated(crit, block=16).tolist())

    def dom(a, b):  # all minimized
        return bool((a <= b).all() and (a < b).any())

    want = {i for i in range(300) if not any(dom(crit[j], crit[i]) for j in range(300))}
    assert got == want and len(want) > 1  # equal rows are all kept


def test_nb201_budget_beyond_the_classes_is_exhaustive_and_dead_cells_can_be_excluded():
    nb = get_space("nb201")
    score = _synthetic(nb, seed=2)
    exact = exhaustive(nb, score, constraints={"flops_m": 100.0})
    full = search(nb, score, constraints={"flops_m": 100.0}, budget=10**6, random_state=0)
    assert full.stats["exhausted"] and full.n_scored == nb.num_unique
    np.testing.assert_array_equal(full.ids[full.top], exact.ids[exact.top])
    alive = search(nb, score, budget=10**6, random_state=0, exclude_dead=True)
    assert alive.stats["exhausted"] and not nb.is_dead(alive.ids).any()
    assert alive.n_scored + alive.stats["dead_skipped"] == nb.num_unique


# ----- NSGA-II (--pareto) and the IRLAS prior (issue 19) ---------------------------------------
def test_pareto_search_matches_the_exact_front_on_nbmacro_and_reports_hypervolume():
    from predictor.pareto import exact_front, hypervolume

    score = _synthetic(MACRO, seed=5)
    res = pareto_search(MACRO, score, pareto_costs=["flops_m", "params_m"], budget=1500, random_state=0)
    assert res.n_scored <= 1500 and res.stats["method"] == "nsga2"
    crit = np.column_stack([-res.pred[res.pareto], res.costs["flops_m"][res.pareto], res.costs["params_m"][res.pareto]])
    assert not any(_dominates((-a[0], *a[1:]), (-b[0], *b[1:])) for a in crit for b in crit)
    u = MACRO.unique_ids()
    c = MACRO.costs(u)
    Fx = np.column_stack([-score(u)[0], c["flops_m"], c["params_m"]])
    ref = res.stats["hv_reference"]
    assert res.stats["hypervolume"] == pytest.approx(hypervolume(crit, ref))
    assert res.stats["hypervolume"] / hypervolume(Fx[exact_front(Fx)], ref) >= 0.99
    assert 0 < res.stats["hv_normalized"] <= 1
    # bounds by constraint domination: every front row is feasible
    bound = float(np.quantile(c["flops_m"], 0.3))
    con = pareto_search(
        MACRO, score, pareto_costs=["params_m"], constraints={"flops_m": bound}, budget=800, random_state=1
    )
    assert con.pareto.size and (con.costs["flops_m"][con.pareto] <= bound).all()
    with pytest.raises(NasgcnError, match="at least one cost"):
        pareto_search(MACRO, score, pareto_costs=[])
    with pytest.raises(NasgcnError, match="unknown cost column"):
        pareto_search(MACRO, score, pareto_costs=["nope"])


def test_prior_weight_shifts_the_objective():
    score = _synthetic(MACRO, seed=6)
    prior = lambda ids: (ids == 0).sum(1).astype(float)  # noqa: E731 - rewards identity layers
    off = search(MACRO, score, top_k=5, budget=800, random_state=0)
    on = search(MACRO, score, top_k=5, budget=800, random_state=0, prior=prior, prior_weight=5.0)
    assert off.prior is None and on.prior is not None
    assert (on.ids[on.top] == 0).sum() > (off.ids[off.top] == 0).sum()
    np.testing.assert_allclose(on.objective, on.pred + 5.0 * on.prior)
    assert "prior" in on.top_records()[0]


def test_cli_search_pareto_is_nsga2_with_hypervolume_and_prior(macro_model, fbnet_model, tmp_path, capsys):
    path, est = macro_model
    argv = ["search", str(path), "--pareto", "flops_m", "--budget", "600", "--json", "--seed", "2"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    front = json.loads(captured.out)
    assert "NSGA-II hypervolume" in captured.err and "reference point" in captured.err
    assert {"arch_str", "pred", "flops_m"} <= set(front[0])
    crit = [(r["pred"], r["flops_m"]) for r in front]
    assert len(front) >= 2 and not any(_dominates(a, b) for a in crit for b in crit)
    # the NSGA-II front is the exact front of the model's table when the budget covers the space
    pred = est.predict(MACRO.unique_ids())
    fl = MACRO.costs(MACRO.unique_ids())["flops_m"]
    exact = pareto_front({"pred": pred, "flops_m": fl}, "pred", ["flops_m"])
    full = _json(capsys, ["search", str(path), "--pareto", "flops_m", "--budget", "5000", "--json"])
    assert [r["flops_m"] for r in full] == pytest.approx(fl[exact].tolist())
    # fbnet: a space too large to tabulate, a bound and a text table
    fpath, _ = fbnet_model
    fargv = ["search", str(fpath), "--pareto", "params_m", "--max", "flops_m=45", "--budget", "1500"]
    ff = _json(capsys, [*fargv, "--json"])
    assert ff and all(r["flops_m"] <= 45 for r in ff)
    assert main([*fargv, "--pareto-out", str(tmp_path / "pf.csv")]) == 0
    assert "Pareto set of" in capsys.readouterr().out
    meta = json.loads((tmp_path / "pf.csv.meta.json").read_text())
    assert meta["stats"]["hypervolume"] > 0 and meta["stats"]["method"] == "nsga2"
    # IRLAS prior from an experts file
    experts = tmp_path / "experts.txt"
    experts.write_text("# MobileNetV2-like stacks\n11111111\n11211121\n")
    rows = _json(
        capsys,
        [
            "search",
            str(path),
            "--prior",
            str(experts),
            "--prior-weight",
            "1",
            "--budget",
            "300",
            "--json",
            "--top",
            "3",
        ],
    )
    assert len(rows) == 3 and all("prior" in r for r in rows)
    assert main(["search", str(path), "--prior-weight", "1"]) == 1
    assert "--prior-weight needs --prior" in capsys.readouterr().err
    experts.write_text("11111111\n1234\n")
    assert main(["search", str(path), "--prior", str(experts), "--prior-weight", "1", "--budget", "50"]) == 1
    assert "experts.txt:2" in capsys.readouterr().err
