"""Supernet Shifting: constraints, weight shifting, reproducibility, resume, transfer."""

from __future__ import annotations

import numpy as np
import pytest

from predictor.costs import MacroConfig, nb201_costs
from predictor.errors import NasgcnError
from predictor.spaces import get_space
from supernet.shifting import (
    EvolutionSearch,
    ShiftingConfig,
    SupernetShifting,
    make_constraint,
    read_trajectory,
    seed_from_table,
)

torch = pytest.importorskip("torch")

SPACE = get_space("nb201")
TINY = dict(
    population=6,
    keep=3,
    mutations=3,
    crossovers=2,
    generations=2,
    steps_per_candidate=2,
    batch_size=16,
    eval_batches=1,
    eval_batch_size=32,
    lr=0.05,
    final_top=3,
)


def _data(n: int = 96, classes: int = 4, seed: int = 0):
    from torch.utils.data import TensorDataset

    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, (n,), generator=g)
    x = torch.randn(n, 3, 8, 8, generator=g) + y.view(-1, 1, 1, 1).float()
    return TensorDataset(x, y)


def _supernet(classes: int = 4):
    from supernet.models import NB201Supernet

    torch.manual_seed(0)
    return NB201Supernet(channels=4, cells=1, num_classes=classes)


def _shifting(tmp_path=None, **kw):
    cfg = ShiftingConfig(**{**TINY, **kw.pop("config", {})})
    return SupernetShifting(_supernet(kw.pop("classes", 4)), _data(), _data(64, seed=1), cfg, run_dir=tmp_path, **kw)


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """Tiny models: one thread is faster than two fighting over a shared CPU."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# ---- the search core, without torch ------------------------------------------------
def _toy_search(constraint=None, seed=0, gens=3, **kw):
    cfg = ShiftingConfig(population=12, keep=4, mutations=6, crossovers=4, generations=gens, **kw)
    steps = []
    # score = number of 3x3 convs: an easy landscape the search should climb
    search = EvolutionSearch(
        cfg, step=steps.append, score=lambda ids: float((ids == 3).sum()), constraint=constraint, random_state=seed
    )
    return search, steps


def test_search_visits_only_allowed_architectures_and_trains_each_before_scoring():
    cfg = MacroConfig(channels=8, cells=1)
    limit = float(np.median(nb201_costs(SPACE.all_ids(), cfg)["flops_m"]))
    constraint = make_constraint({"flops_m": limit}, macro=cfg)
    search, steps = _toy_search(constraint)
    state = search.run()
    visited = SPACE.encode(state.visited)
    assert len(visited) == len(steps)  # one training call per candidate
    assert (nb201_costs(visited, cfg)["flops_m"] <= limit).all()
    assert not SPACE.is_dead(visited).any()
    assert len(set(SPACE.iso_class(visited).tolist())) == len(visited)  # unique by default
    # the toy landscape is climbed: best of the last generation beats the mean of the first
    assert state.trajectory[-1]["best_score"] >= state.trajectory[0]["mean_score"]
    origins = {c["origin"] for c in state.trajectory[1]["candidates"]}
    assert {"mutation", "crossover"} <= origins


def test_constraint_from_table_column_and_missing_column():
    table = {"arch_str": np.array(SPACE.decode(SPACE.all_ids()), dtype=object)}
    table["lat"] = np.arange(SPACE.size, dtype=float)
    allowed = make_constraint({"lat": 100.0}, table=table)
    ids = SPACE.all_ids()[[5, 100, 101, 15000]]
    assert allowed(ids).tolist() == [True, True, False, False]
    with pytest.raises(NasgcnError, match="latency|need a table"):
        make_constraint({"edgegpu_latency": 1.0})
    with pytest.raises(NasgcnError, match="no column 'energy'"):
        make_constraint({"energy": 1.0}, table=table)


def test_impossible_constraint_is_a_clear_error():
    search, _ = _toy_search(make_constraint({"params_m": 0.0}))
    with pytest.raises(NasgcnError, match="constraints"):
        search.run()


def test_seed_from_table_takes_best_valid_unique():
    ids = SPACE.all_ids()
    table = {"arch_str": np.array(SPACE.decode(ids), dtype=object), "pred": (ids == 3).sum(1).astype(float)}
    seeds = seed_from_table(table, 5, constraint=make_constraint({"params_m": 0.3}, macro=MacroConfig(cells=1)))
    assert len(seeds) == 5
    assert (nb201_costs(seeds, MacroConfig(cells=1))["params_m"] <= 0.3).all()
    assert len(set(SPACE.iso_class(seeds).tolist())) == 5
    best_allowed = table["pred"][make_constraint({"params_m": 0.3}, macro=MacroConfig(cells=1))(ids)].max()
    assert (seeds == 3).sum(1).max() == best_allowed


def test_initial_population_is_seeded_first():
    search, _ = _toy_search(gens=1)
    seeds = SPACE.encode(["|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"])
    state = search.run(seeds)
    first = state.trajectory[0]["candidates"][0]
    assert first["origin"] == "seed" and first["arch_str"] == SPACE.format(seeds[0])


def test_config_validation():
    with pytest.raises(NasgcnError, match="keep"):
        ShiftingConfig(population=4, keep=5)
    with pytest.raises(NasgcnError, match="unknown option"):
        ShiftingConfig.from_dict({"populaton": 3})
    assert ShiftingConfig().population == 50 and ShiftingConfig().steps_per_candidate == 20


# ---- the supernet binding ------------------------------------------------------------
def test_shifting_changes_supernet_weights_and_writes_trajectory(tmp_path):
    sh = _shifting(tmp_path)
    before = {k: v.clone() for k, v in sh.supernet.state_dict().items()}
    res = sh.run()
    after = sh.supernet.state_dict()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed, "no supernet weight moved"
    traj = read_trajectory(tmp_path)
    assert [r["generation"] for r in traj] == [0, 1]
    assert res.best_arch in {c["arch_str"] for r in traj for c in r["candidates"]}
    assert (tmp_path / "shifting_result.json").exists()


def test_zero_lr_leaves_weights_alone():
    sh = _shifting(config={"lr": 0.0, "generations": 1})
    before = {k: v.clone() for k, v in sh.supernet.state_dict().items()}
    sh.run()
    assert all(torch.equal(before[k], v) for k, v in sh.supernet.state_dict().items())


def test_seeded_runs_reproduce_and_seeds_differ():
    a = _shifting(random_state=3).run()
    b = _shifting(random_state=3).run()
    c = _shifting(random_state=4).run()
    assert _strip_time(a.trajectory) == _strip_time(b.trajectory)
    assert _strip_time(a.trajectory) != _strip_time(c.trajectory)


def _strip_time(traj):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in traj]


def test_resume_after_interruption_reproduces_uninterrupted_run(tmp_path):
    full = _shifting(tmp_path / "full", config={"generations": 3}).run()
    part = _shifting(tmp_path / "part", config={"generations": 3})
    first = part.run(stop_after=1)
    assert len(first.trajectory) == 1
    resumed = _shifting(tmp_path / "part", config={"generations": 3}).run()  # a fresh process would do this
    assert _strip_time(resumed.trajectory) == _strip_time(full.trajectory)
    assert resumed.ranking == full.ranking


def test_resume_refuses_a_different_config(tmp_path):
    _shifting(tmp_path, config={"generations": 2}).run(stop_after=1)
    with pytest.raises(NasgcnError, match="another shifting config"):
        _shifting(tmp_path, config={"generations": 2, "lr": 0.5}).run()


def test_transfer_resets_classifier_to_new_classes():
    from torch.utils.data import TensorDataset

    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 7, (64,), generator=g)
    new = TensorDataset(torch.randn(64, 3, 8, 8, generator=g), y)
    sh = SupernetShifting(
        _supernet(4), new, new, ShiftingConfig(**{**TINY, "generations": 1, "warmup_steps": 2}), new_num_classes=7
    )
    res = sh.run()
    assert sh.supernet.classifier.out_features == 7
    out = sh.supernet(torch.randn(2, 3, 8, 8), (3, 3, 3, 3, 3, 3))
    assert out.shape == (2, 7)
    # labels 4..6 exist only in the new task: the old 4-way head could never score them
    assert np.isfinite(res.best_score) and 0.0 <= res.best_score <= 100.0


# ---- every space: a tabulated chain space (nbmacro) and one that cannot be enumerated (fbnet) -------
def _digits():
    from supernet.data import Normalizer, load_data

    data = load_data("digits", val_fraction=0.2, seed=0, limit_train=256)
    return data, Normalizer(data.mean, data.std)


def _chain_shifting(space: str, tmp_path=None, classes: int = 10, **kw):
    chain = pytest.importorskip("supernet.models.chain")
    data, norm = _digits()
    torch.manual_seed(0)
    net = chain.ChainSupernet(space, num_classes=classes, in_channels=1, width=0.1)
    cfg = ShiftingConfig(**{**TINY, **kw.pop("config", {})})
    return SupernetShifting(net, data.train, data.val, cfg, run_dir=tmp_path, transform=norm, space=space, **kw)


@pytest.mark.parametrize("space", ["nbmacro", "fbnet"])
def test_shifting_runs_on_chain_spaces_and_shifts_weights(space, tmp_path, monkeypatch):
    sp = get_space(space)
    # the search must never list the space: all_ids / index_of would refuse (fbnet) or waste time (nbmacro)
    monkeypatch.setattr(type(sp), "all_ids", lambda self: pytest.fail("the search enumerated the space"))
    sh = _chain_shifting(space, tmp_path)
    before = {k: v.clone() for k, v in sh.supernet.state_dict().items()}
    res = sh.run()
    assert any(not torch.equal(before[k], v) for k, v in sh.supernet.state_dict().items())
    traj = read_trajectory(tmp_path)
    visited = sp.encode([c["arch_str"] for r in traj for c in r["candidates"]])
    assert visited.shape == (TINY["population"] * TINY["generations"], sp.num_slots)
    # one visit per isomorphism class (skip layers after a stage's first commute)
    assert len(np.unique(sp.canonical_ids(visited), axis=0)) == len(visited)
    assert len(res.best_arch) == sp.num_slots and res.space == space
    assert 0.0 <= res.best_score <= 100.0


def test_fbnet_constraint_and_hardware_lookup_by_arch_str():
    sp = get_space("fbnet")
    assert not sp.enumerable
    rng = np.random.default_rng(0)
    ids = sp.sample(50, rng)
    flops = sp.costs(ids)["flops_m"]
    limit = float(np.median(flops))
    ok = make_constraint({"flops_m": limit}, space="fbnet")(ids)
    assert ok.tolist() == (flops <= limit).tolist()
    # a measured latency for some architectures: the others (and NaN) fail, class members inherit
    table = {"arch_str": np.array(sp.decode(ids[:10]), dtype=object), "lat": np.arange(10, dtype=float)}
    table["lat"][3] = np.nan
    allowed = make_constraint({"lat": 5.0}, table=table, space="fbnet")
    assert allowed(ids[:10]).tolist() == [True] * 3 + [False] + [True, True] + [False] * 4
    assert not allowed(ids[10:]).any()
    canon = sp.canonical_ids(ids[:1])
    twin = canon.copy()
    skip = sp.skip_op
    twin[0, 1:5] = [0, skip, 0, 0]  # a skip after a stage's first layer commutes: class member 0 0 0 skip
    canon_twin = sp.canonical_ids(twin)
    assert sp.decode(canon_twin) != sp.decode(twin)
    table2 = {"arch_str": np.array(sp.decode(canon_twin), dtype=object), "lat": np.array([1.0])}
    assert make_constraint({"lat": 2.0}, table=table2, space="fbnet")(twin).tolist() == [True]
    with pytest.raises(NasgcnError, match="macro option"):
        make_constraint({"flops_m": 1.0}, macro={"channels": 4}, space="fbnet")


def test_fbnet_search_core_never_enumerates_and_dedupes_by_class(monkeypatch):
    sp = get_space("fbnet")
    monkeypatch.setattr(type(sp), "all_ids", lambda self: pytest.fail("the search enumerated the space"))
    cfg = ShiftingConfig(population=16, keep=4, mutations=8, crossovers=4, generations=3)
    search = EvolutionSearch(cfg, step=lambda ids: None, score=lambda ids: float((ids == 3).sum()), space="fbnet")
    state = search.run()
    visited = sp.encode(state.visited)
    assert len(np.unique(sp.canonical_ids(visited), axis=0)) == len(visited) == 48
    assert state.trajectory[-1]["best_score"] >= state.trajectory[0]["mean_score"]
    # seeds from a (partial) table: best first, one per class
    ids = sp.sample(20, 1)
    table = {"arch_str": np.array(sp.decode(ids), dtype=object), "pred": np.arange(20.0)}
    seeds = seed_from_table(table, 5, space="fbnet")
    assert sp.decode(seeds) == sp.decode(ids[::-1][:5])


def test_chain_transfer_resets_the_classifier():
    sh = _chain_shifting("nbmacro", classes=4, new_num_classes=10, config={"generations": 1, "warmup_steps": 2})
    res = sh.run()
    out = sh.supernet(torch.randn(2, 1, 8, 8), "22212220")
    assert out.shape == (2, 10)
    assert np.isfinite(res.best_score)


def test_supernet_of_another_space_is_refused(tmp_path):
    chain = pytest.importorskip("supernet.models.chain")
    data, _ = _digits()
    net = chain.ChainSupernet("nbmacro", num_classes=10, in_channels=1, width=0.1)
    with pytest.raises(NasgcnError, match="'nbmacro', not 'fbnet'"):
        SupernetShifting(net, data.train, data.val, ShiftingConfig(**TINY), space="fbnet")
    # a checkpoint of one space is not resumed by another
    _chain_shifting("nbmacro", tmp_path, config={"generations": 2}).run(stop_after=1)
    import torch as _t

    payload = _t.load(tmp_path / SupernetShifting.CKPT, weights_only=True)
    assert payload["space"] == "nbmacro"
    other = _chain_shifting("fbnet", tmp_path, config={"generations": 2})
    with pytest.raises(NasgcnError, match="shifting checkpoint .* is for search space 'nbmacro'"):
        other.run()


def test_cost_source_prices_any_architecture_of_a_large_space():
    class Dev:
        columns = ("dev_latency",)

        def predict(self, ids):
            return {"dev_latency": ((ids == 3).sum(1).astype(float), None)}

    sp = get_space("fbnet")
    ids = sp.sample(40, 3)
    allowed = make_constraint({"dev_latency": 2.0}, space="fbnet", sources=[Dev()])
    assert allowed(ids).tolist() == ((ids == 3).sum(1) <= 2).tolist()
    # a source wins over a table column of the same name; other columns still come from the table
    table = {"arch_str": np.array(sp.decode(ids), dtype=object), "dev_latency": np.zeros(40), "e": np.ones(40)}
    both = make_constraint({"dev_latency": 2.0, "e": 1.0}, table=table, space="fbnet", sources=[Dev()])
    assert both(ids).tolist() == allowed(ids).tolist()
