"""Few-shot sub-supernets: split a trained supernet on a slot, fine-tune each part, route evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from predictor.errors import NasgcnError
from predictor.spaces import get_space
from supernet.evaluate import evaluate_run, select_archs
from supernet.fewshot import (
    FewShotTrainer,
    GroupSampler,
    Split,
    parse_slot,
    partition,
    plan_split,
    split_supernet,
    train_member,
    train_split,
)
from supernet.samplers import make_sampler
from supernet.train import TrainConfig, flat_weights, load_supernet, train_supernet


def tiny(**kw) -> TrainConfig:
    base = dict(channels=4, cells=1, epochs=2, batch_size=32, limit_train_batches=3, progress=False, threads=1)
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def parent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    run = tmp_path_factory.mktemp("oneshot") / "run"
    train_supernet(tiny(), run)
    return run


def test_slot_parsing_and_errors() -> None:
    nb = get_space("nb201")
    assert parse_slot(nb, "1<-0") == 0 and parse_slot(nb, "edge 3<-2") == 5 and parse_slot(nb, 2) == 2
    with pytest.raises(NasgcnError, match=r"valid: 0 \(edge 1<-0\)"):
        parse_slot(nb, "4<-0")
    with pytest.raises(NasgcnError, match="no such slot"):
        parse_slot(nb, 6)
    macro = get_space("nbmacro")
    assert parse_slot(macro, "3") == 3 and parse_slot(macro, "layer 3") == 3
    parts = partition(nb, [0, 1], 5)
    assert len(parts) == 5 and sum(len(p) for p in parts) == 25
    assert len({c for p in parts for c in p}) == 25  # a partition: every combination exactly once
    with pytest.raises(NasgcnError, match="--groups 6"):
        partition(nb, [0], 6)


def test_group_sampler_stays_in_its_group() -> None:
    combos = [(0, 1), (3, 3)]
    s = GroupSampler(make_sampler("uniform", 0), [2, 4], combos)
    paths = [p for step in range(50) for p in s.next_group(step, 50)]
    assert {(p[2], p[4]) for p in paths} == set(combos)
    assert len({p[0] for p in paths}) == 5  # free slots stay free
    masks = GroupSampler(make_sampler("dropout", 0), [1], [(3,), (4,)]).next_group(0, 10)
    assert masks[0][1].sum() == 1 and masks[0][1, 3:].any()
    state = s.state_dict()
    a = s.next_group(1, 50)
    t = GroupSampler(make_sampler("uniform", 5), [2, 4], combos)
    t.load_state_dict(state)
    assert t.next_group(1, 50) == a  # resumable through the wrapped sampler's state


def test_split_per_op_starts_from_parent_and_routes(parent: Path, tmp_path: Path) -> None:
    out = tmp_path / "split"
    # A vanishing learning rate keeps each member at its starting weights: the one-shot ones.
    split = split_supernet(parent, "1<-0", out, epochs=1, progress=False, threads=1,
                           overrides={"lr": 1e-12, "min_lr": 1e-12, "weight_decay": 0.0})  # fmt: skip
    assert [m["name"] for m in split.members] == [f"slot0-{op}" for op in get_space("nb201").ops]
    parent_model, _ = load_supernet(parent)
    for k in range(5):
        model, ckpt = load_supernet(split.member_dir(k))
        assert ckpt["config"]["fixed"] == {"0": get_space("nb201").ops[k]}
        assert ckpt["config"]["weight_decay"] == 0.0 and ckpt["config"]["nesterov"]
        np.testing.assert_allclose(flat_weights(model), flat_weights(parent_model), atol=1e-6)
    fresh = train_supernet(tiny(epochs=1, seed=3), tmp_path / "fresh").model
    assert not np.allclose(flat_weights(fresh), flat_weights(parent_model), atol=1e-3)

    ids = select_archs("sample", 12, seed=1)
    res = evaluate_run(out, ids, tmp_path / "evals.csv", 60, 30, progress=False)
    assert res.supernet == [split.members[int(op)]["dir"] for op in ids[:, 0]]
    k = int(ids[0, 0])
    rows = np.flatnonzero(ids[:, 0] == k)
    direct = evaluate_run(split.member_dir(k), ids[rows], None, 60, 30, progress=False)
    np.testing.assert_array_equal(res.acc[rows], direct.acc)
    lines = (tmp_path / "evals.csv").read_text().splitlines()
    assert lines[0].endswith(",source,supernet") and lines[1].endswith("," + res.supernet[0])
    assert f"{split.members[k]['dir']}@epoch1" in (tmp_path / "evals.csv").read_text()
    from predictor.logs import read_log

    log = read_log(tmp_path / "evals.csv")
    assert list(log.meta["supernet"]) == res.supernet


def test_fine_tuning_uses_recipe_and_changes_weights(parent: Path, tmp_path: Path) -> None:
    split = split_supernet(parent, 0, tmp_path / "s", epochs=1, groups=2, progress=False, threads=1)
    cfg = split.members[0]["config"]
    assert (cfg["lr"], cfg["min_lr"], cfg["weight_decay"], cfg["nesterov"]) == (0.025, 0.001, 1e-4, True)
    assert [len(m["combos"]) for m in split.members] == [3, 2] and cfg["fixed"] == {}
    a, _ = load_supernet(split.member_dir(0))
    b, _ = load_supernet(split.member_dir(1))
    p, _ = load_supernet(parent)
    assert not np.allclose(flat_weights(a), flat_weights(p)) and not np.allclose(flat_weights(a), flat_weights(b))
    assert Split.load(tmp_path / "s").route(np.array([[2, 0, 0, 0, 0, 0], [3, 1, 1, 1, 1, 1]])).tolist() == [0, 1]


def test_share_prefix_keeps_prefix_at_oneshot_weights(parent: Path, tmp_path: Path) -> None:
    split = split_supernet(parent, "2<-1", tmp_path / "s", epochs=1, groups=2, share_prefix=2, progress=False,
                           threads=1)  # fmt: skip
    p, _ = load_supernet(parent)
    m, _ = load_supernet(split.member_dir(1))
    for name in ("stem", "layers.0", "layers.1"):
        mod_p, mod_m = p.get_submodule(name), m.get_submodule(name)
        np.testing.assert_array_equal(flat_weights(mod_m), flat_weights(mod_p))
    assert not np.allclose(flat_weights(m.get_submodule("layers.2")), flat_weights(p.get_submodule("layers.2")))
    with pytest.raises(NasgcnError, match="share-prefix 99"):
        split_supernet(parent, 0, tmp_path / "bad", epochs=1, share_prefix=99, progress=False)


def test_member_resume_after_kill_equals_uninterrupted(parent: Path, tmp_path: Path) -> None:
    full = split_supernet(parent, 0, tmp_path / "full", epochs=2, groups=2, progress=False, threads=1)
    split = plan_split(parent, 0, tmp_path / "part", epochs=2, groups=2)
    m = split.members[1]
    cfg = TrainConfig.from_dict({**m["config"], "progress": False, "threads": 1})
    FewShotTrainer(cfg, split.member_dir(1), parent, split.manifest["slots"], m["combos"]).fit(max_epochs=1)
    assert split.unfinished() == [0, 1]
    assert train_split(tmp_path / "part", progress=False, threads=1) == [0, 1]
    assert split.unfinished() == [] and train_split(tmp_path / "part", progress=False) == []
    for k in range(2):
        a, _ = load_supernet(full.member_dir(k))
        b, _ = load_supernet(split.member_dir(k))
        np.testing.assert_array_equal(flat_weights(a), flat_weights(b))
    with pytest.raises(NasgcnError, match="different split"):
        plan_split(parent, 1, tmp_path / "part", epochs=2)
    with pytest.raises(NasgcnError, match="members 0..1"):
        train_member(tmp_path / "part", 2)
    with pytest.raises(NasgcnError, match="not a split folder"):
        Split.load(tmp_path)


@pytest.mark.slow
def test_jobs_train_members_in_processes_like_sequentially(parent: Path, tmp_path: Path) -> None:
    seq = split_supernet(parent, 1, tmp_path / "seq", epochs=1, groups=2, progress=False, threads=1)
    par = split_supernet(parent, 1, tmp_path / "par", epochs=1, groups=2, jobs=2, progress=False, threads=1)
    for k in range(2):
        a, _ = load_supernet(seq.member_dir(k))
        b, _ = load_supernet(par.member_dir(k))
        np.testing.assert_array_equal(flat_weights(a), flat_weights(b))


def test_cli_split_and_eval(parent: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from predictor.cli.main import main

    out = tmp_path / "split"
    base = ["supernet", "split", str(parent), "--out", str(out), "--epochs", "1", "--quiet", "--threads", "1"]
    assert main([*base, "--slot", "9<-9"]) != 0
    assert "valid: 0 (edge 1<-0)" in capsys.readouterr().err
    assert main([*base, "--slot", "3<-0", "--groups", "2", "--member", "1"]) == 0
    assert "1 unfinished: [0]" in capsys.readouterr().out
    assert main([*base, "--slot", "3<-0", "--groups", "2"]) == 0
    assert "0 unfinished" in capsys.readouterr().out
    manifest = json.loads((out / "split.json").read_text())
    assert manifest["slot_names"] == ["edge 3<-0"] and manifest["groups"] == 2
    log = tmp_path / "e.csv"
    args = ["--sample", "8", "--max-images", "40", "--batch-size", "20", "--quiet"]
    assert main(["supernet", "eval", str(out), *args, "--out", str(log)]) == 0
    rows = log.read_text().splitlines()[1:]
    assert len(rows) == 8 and {r.split(",")[-1] for r in rows} <= {"00-group0", "01-group1"}
    plain = tmp_path / "p.csv"
    assert main(["supernet", "eval", str(parent), *args, "--out", str(plain)]) == 0
    assert all(r.endswith(",run") for r in plain.read_text().splitlines()[1:])
