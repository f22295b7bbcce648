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
