"""``nasgcn run`` on every search space: the shipped NB-Macro config end to end, FBNet (too large to
tabulate: the table stage searches the predictor), ``[space]`` validation and space-aware caching."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, reference_dir

from predictor.cli.main import main
from predictor.errors import NasgcnError
from predictor.spaces import get_space
from supernet.pipeline import (
    STAGES,
    Pipeline,
    builtin_config,
    label_archs,
    load_config,
    parse_config,
    search_predictor,
    space_table,
    stage_hashes,
)

torch = pytest.importorskip("torch")

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SHIPPED = REPO / "supernet" / "configs" / "nbmacro_cifar10_small.toml"

# Tiny overrides of the shipped config: every stage runs, in seconds.
TINY = {
    "run": {"progress": False, "threads": 1, "eval_jobs": 1},
    "data": {"limit_train": 256},
    "supernet": {"width": 0.1, "epochs": 1, "batch_size": 64, "limit_train_batches": 3},
    "label": {"num_archs": 20, "eval_images": 64},
    "fit": {"epochs": 4, "ensemble": 1, "hidden": 8, "holdout": 0.25},
    "query": {"top_k": 6},
    "shift": {
        "seeds": 3,
        "evaluate_top": 6,
        "population": 4,
        "keep": 2,
        "mutations": 2,
        "crossovers": 1,
        "generations": 2,
        "steps_per_candidate": 1,
        "batch_size": 32,
        "eval_batches": 1,
        "eval_batch_size": 64,
    },
    "retrain": {"top": 1, "epochs": 1, "batch_size": 64, "limit_train_batches": 2},
    "report": {"html": True},
}


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


def _write_config(path: Path, data: dict) -> Path:
    lines = []
    for sec, values in data.items():
        lines.append(f"[{sec}]")
        lines += [f"{k} = {_toml(v)}" for k, v in values.items()]
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _small_npz(folder: Path) -> Path | None:
    """A few hundred CIFAR-10 images from the reference npz files (a temporary folder, not the repo)."""
    ref = reference_dir()
    files = sorted(ref.glob("cifar10_*.npz"))
    if not any("train" in p.name for p in files) or not any("test" in p.name for p in files):
        return None
    folder.mkdir(parents=True, exist_ok=True)
    for kind, n in (("train", 400), ("test", 200)):
        with np.load(next(p for p in files if kind in p.name), allow_pickle=False) as f:
            np.savez(folder / f"cifar10_{kind}.npz", x=f["x"][:n], y=f["y"][:n])
    return folder


def _tiny_shipped(tmp: Path) -> Path:
    """The shipped NB-Macro config with tiny overrides; CIFAR-10 npz (subset) if present, else digits."""
    data = tomllib.loads(SHIPPED.read_text(encoding="utf-8"))
    for sec, values in TINY.items():
        data.setdefault(sec, {}).update(values)
    npz = _small_npz(tmp / "npz")
    if npz is None:
        data["data"].update(dataset="digits", root="", input_size=0, augment="off")
    else:
        data["data"]["root"] = str(npz)
    return _write_config(tmp / "nbmacro_tiny.toml", data)


@pytest.fixture(scope="module")
def single_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def macro_run(tmp_path_factory, single_thread) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("nbmacro")
    cfg = _tiny_shipped(root)
    out = root / "out"
    assert main(["run", str(cfg), "--out", str(out), "--no-progress"]) == 0
    return cfg, out


def _done(out: Path, cfg, stage: str) -> dict:
    h = stage_hashes(cfg)[stage]
    return json.loads((out / "stages" / f"{stage}-{h}" / "done.json").read_text())


def _dir(out: Path, cfg, stage: str) -> Path:
    return out / "stages" / f"{stage}-{stage_hashes(cfg)[stage]}"


# ---- the shipped NB-Macro config ------------------------------------------------------------
def test_shipped_nbmacro_config_resolves_space_data_and_macro():
    cfg = load_config(SHIPPED)
    assert cfg["space"]["name"] == "nbmacro" and cfg.space.name == "nbmacro"
    # root is relative to the config file: ../shared/data beside the checkout, like cifar10_small.toml
    assert cfg.resolve(cfg["data"]["root"]).resolve() == (REPO.parent / "shared" / "data").resolve()
    assert cfg["data"]["dataset"] == "npz"
    assert cfg["table"] == {"input_size": 32, "num_classes": 10}  # NB-Macro's network, no NB201 keys
    assert "channels" not in cfg["supernet"] and cfg["supernet"]["width"] == 0.25
    packaged = builtin_config("nbmacro_cifar10_small")
    assert stage_hashes(packaged) == stage_hashes(cfg)
    assert packaged.resolve(packaged["data"]["root"]).resolve() == cfg.resolve(cfg["data"]["root"]).resolve()


@pytest.mark.slow  # one complete tiny run shared by the tests below (~15 s)
def test_nbmacro_run_end_to_end(macro_run):
    path, out = macro_run
    cfg = load_config(path)
    sp = get_space("nbmacro")
    for name in STAGES:
        rec = _done(out, cfg, name)
        assert rec["stage"] == name and rec["inputs"]["sections"]["space"] == {"name": "nbmacro"}
    labels = (_dir(out, cfg, "label") / "labels.csv").read_text().splitlines()
    archs = [line.split(",")[0] for line in labels[1:]]
    ids = sp.encode(archs)
    assert len(archs) == 20 and len(np.unique(sp.canonical_ids(ids), axis=0)) == 20
    table = _done(out, cfg, "table")["outputs"]
    assert table["rows"] == sp.size == 6561 and table["kind"] == "full"
    meta = json.loads((_dir(out, cfg, "table") / "table.csv.meta.json").read_text())
    assert meta["space"] == "nbmacro" and meta["macro"] == {"input_size": 32, "num_classes": 10}
    shift = _done(out, cfg, "shift")["outputs"]
    assert shift["space"] == "nbmacro" and len(shift["best_arch"]) == 8
    from supernet.shifting import read_trajectory

    visited = [c["arch_str"] for r in read_trajectory(_dir(out, cfg, "shift") / "search") for c in r["candidates"]]
    assert len(visited) == 8
    assert (sp.costs(sp.encode(visited))["flops_m"] <= 50.0).all()  # the shipped target "flops50"
    rows = _done(out, cfg, "retrain")["outputs"]["results"]
    assert rows and all(len(r["arch_str"]) == 8 for r in rows)
    report = (out / "report" / "report.md").read_text()
    assert "Search space `nbmacro`: 6,561 architectures, 3,969 up to isomorphism" in report
    assert "| params_m | flops_m |" in report
    assert "<td><code>" + rows[0]["arch_str"] + "</code></td>" in (out / "report" / "report.html").read_text()


@pytest.mark.slow  # shares the tiny run
def test_nbmacro_shift_command_and_space_mismatch(macro_run, tmp_path, capsys):
    path, out = macro_run
    cfg = load_config(path)
    run_dir = _dir(out, cfg, "supernet")
    table = _dir(out, cfg, "table") / "table.csv"
    small = ["--population", "3", "--keep", "2", "--mutations", "1", "--crossovers", "1", "--generations", "1"]
    small += ["--steps-per-candidate", "1", "--eval-batches", "1", "--batch-size", "32", "--no-progress"]
    args = ["shift", str(run_dir), "--table", str(table), "--max", "params_m=1.0", "--out", str(tmp_path / "s")]
    assert main(args + small) == 0
    assert "space nbmacro" in capsys.readouterr().out
    res = json.loads((tmp_path / "s" / "shifting_result.json").read_text())
    assert (
        res["space"] == "nbmacro"
        and get_space("nbmacro")
        .costs(get_space("nbmacro").encode([r["arch_str"] for r in res["ranking"]]))["params_m"]
        .max()
        <= 1.0
    )
    assert main(["shift", str(run_dir), "--space", "fbnet", "--out", str(tmp_path / "t")] + small) == 1
    assert "'nbmacro', not 'fbnet'" in capsys.readouterr().err


@pytest.mark.slow  # shares the tiny run
def test_changing_only_the_space_reruns_every_stage(macro_run, tmp_path):
    path, _ = macro_run
    a = load_config(path)
    b = load_config(path, space="fbnet")  # --space on the command line
    ha, hb = stage_hashes(a), stage_hashes(b)
    assert all(ha[s] != hb[s] for s in STAGES)


# ---- FBNet: cannot be enumerated -------------------------------------------------------------
@pytest.mark.slow  # a complete tiny run (~12 s)
def test_fbnet_run_searches_instead_of_tabulating(tmp_path, monkeypatch, single_thread):
    sp = get_space("fbnet")
    monkeypatch.setattr(type(sp), "all_ids", lambda self: pytest.fail("a stage enumerated fbnet"))
    data = tomllib.loads(SHIPPED.read_text(encoding="utf-8"))
    for sec, values in TINY.items():
        data.setdefault(sec, {}).update(values)
    data["space"] = {"name": "fbnet"}
    data["data"].update(dataset="digits", root="", input_size=0, augment="off")
    data["table"] = {"input_size": 32}
    data["search"] = {"budget": 300, "rows": 20}
    # a latency model file (additive per-(layer, block) table) priced for any architecture
    from predictor.latency_model import LatencyModel

    train = sp.sample(200, 5)
    true_lat = sp.costs(train)["flops_m"] / 10.0 + (train == 3).sum(1)
    model_file = tmp_path / "dev_model.npz"
    LatencyModel("fbnet", loss="lsq", correction="none").fit(sp.decode(train), {"dev_latency": true_lat}).save(
        model_file
    )
    data["query"]["hardware"] = [str(model_file)]
    data["query"]["targets"] = [
        {"name": "flops65", "max": {"flops_m": 65.0}},
        {"name": "dev", "max": {"dev_latency": 7.0}},
    ]
    data["shift"]["target"] = "dev"
    path = _write_config(tmp_path / "fbnet.toml", data)
    out = tmp_path / "out"
    log: list[str] = []
    Pipeline(load_config(path), out, log=log.append).run()
    cfg = load_config(path)
    assert any("too many to tabulate" in line for line in log)
    table = _done(out, cfg, "table")
    assert table["outputs"]["kind"] == "search" and 20 <= table["outputs"]["rows"] <= table["outputs"]["scored"]
    assert table["outputs"]["scored"] <= 2 * 300  # two targets
    assert table["inputs"]["sections"]["search"]["budget"] == 300
    assert cfg["table"] == {"input_size": 32, "num_classes": 100}  # the space's default classes
    from predictor.lookup import LookupTable
    from predictor.search import load_cost_source
    from supernet.shifting import read_trajectory

    tab = LookupTable.read_csv(_dir(out, cfg, "table") / "table.csv")
    assert "dev_latency" in tab.columns and np.isfinite(tab["dev_latency"]).all()
    query = _done(out, cfg, "query")["outputs"]
    assert [t["n_candidates"] for t in query["targets"]] == [6, 6]
    shift = _done(out, cfg, "shift")["outputs"]
    assert len(shift["best_arch"]) == 22 and shift["target"] == "dev"
    visited = [c["arch_str"] for r in read_trajectory(_dir(out, cfg, "shift") / "search") for c in r["candidates"]]
    lat = load_cost_source(model_file, "fbnet").predict(sp.encode(visited))["dev_latency"][0]
    assert len(visited) == 8 and (lat <= 7.0).all()  # visited beyond the table: priced by the model
    assert "too large to tabulate" in (out / "report" / "report.md").read_text()
    # `nasgcn shift` with the latency model file as --hardware
    small = ["--population", "3", "--keep", "2", "--mutations", "1", "--crossovers", "1", "--generations", "1"]
    small += ["--steps-per-candidate", "1", "--eval-batches", "1", "--batch-size", "32", "--no-progress"]
    run_dir, s_out = _dir(out, cfg, "supernet"), tmp_path / "s"
    args = ["shift", str(run_dir), "--hardware", str(model_file), "--max", "dev_latency=6.5", "--out", str(s_out)]
    assert main(args + small) == 0
    visited = [c["arch_str"] for r in read_trajectory(s_out) for c in r["candidates"]]
    lat = load_cost_source(model_file, "fbnet").predict(sp.encode(visited))["dev_latency"][0]
    assert len(visited) == 3 and (lat <= 6.5).all()


def test_label_archs_on_a_space_too_large_to_list(monkeypatch):
    small = label_archs(get_space("nbmacro"), 10_000, True, seed=0)
    assert len(small) == 3969  # capped at the number of classes
    sp = get_space("fbnet")
    monkeypatch.setattr(type(sp), "all_ids", lambda self: pytest.fail("enumerated fbnet"))
    ids = label_archs(sp, 30, True, seed=0)
    assert ids.shape == (30, 22) and len(np.unique(sp.canonical_ids(ids), axis=0)) == 30
    assert np.array_equal(ids, label_archs(sp, 30, True, seed=0))


class _FakePredictor:
    """Scores an architecture by how many mb6_k5-like (id 7) blocks it has: a climbable landscape."""

    space = "fbnet"

    def predict(self, ids, return_std=False):
        p = (np.asarray(ids) == 7).sum(1).astype(float)
        return (p, np.zeros_like(p)) if return_std else p


def test_search_predictor_respects_exact_cost_bounds_and_improves():
    sp = get_space("fbnet")
    targets = [{"name": "cheap", "max": {"flops_m": 60.0}, "min": {}}, {"name": "any", "max": {}, "min": {}}]
    opts = {"budget": 2000, "rows": 25, "method": "both", "kappa": 0.0}
    ids, pred, std, scored = search_predictor(_FakePredictor(), sp, targets, {}, opts, seed=0)
    assert 1000 < scored <= 4000 and len(np.unique(sp.canonical_ids(ids), axis=0)) == len(ids)
    assert (np.diff(pred) <= 0).all()  # best first
    flops = sp.costs(ids)["flops_m"]
    assert (flops <= 60.0).sum() >= 25
    random_best = (sp.sample(2000, 0) == 7).sum(1).max()
    assert pred.max() > random_best  # the search climbed beyond random sampling at the same budget
    again = search_predictor(_FakePredictor(), sp, targets, {}, opts, seed=0)
    assert np.array_equal(again[0], ids)  # seeded


def test_space_table_matches_the_nb201_lookup_table():
    from predictor.lookup import LookupTable

    sp = get_space("nb201")
    pred = np.linspace(0, 1, sp.size)
    ref = LookupTable.build(pred, pred / 10, space="nb201", meta={"target": "t"})
    ours = space_table(sp, sp.all_ids(), pred, pred / 10, sp.macro_defaults(), {"target": "t"})
    assert list(ours.columns) == list(ref.columns)
    for k in ref.columns:
        assert np.array_equal(np.asarray(ours[k]), np.asarray(ref[k])), k
    assert ours.meta["space"] == ref.meta["space"] == "nb201"


# ---- [space] validation and caching --------------------------------------------------------------
@pytest.mark.parametrize(
    "text, message",
    [
        ('[space]\nname = "nope"\n', r"space\.name: unknown search space 'nope'; known spaces: .*nbmacro"),
        ("[space]\nname = 3\n", r"bad.toml:2: \[space\] name = 3: must be a string"),
        ('[space]\nnme = "nbmacro"\n', r"\[space\] nme = \"nbmacro\": unknown key \(did you mean name\?"),
        (
            '[space]\nname = "nbmacro"\n[supernet]\nchannels = 8\n',
            "supernet.channels does not apply to space 'nbmacro'",
        ),
        ('[space]\nname = "nbmacro"\n[retrain]\ncells = 2\n', "retrain.cells does not apply"),
        ("[supernet]\nwidth = 0.5\n", "supernet.width does not apply to space 'nb201'"),
        ('[space]\nname = "fbnet"\n[table]\ncells = 5\n', "table.cells is not a macro option of space 'fbnet'"),
        ('[space]\nname = "nbmacro"\n[table]\ninput_size = 0\n', r"bad.toml:4: \[table\] input_size = 0: must be ≥ 1"),
        ('[space]\nname = "nbmacro"\n[search]\nbudget = 10\n', r"\[search\] applies to spaces too large"),
        ('[space]\nname = "fbnet"\n[search]\nbudget = 0\n', r"\[search\] budget = 0: must be ≥ 1"),
        (
            '[space]\nname = "fbnet"\n[search]\nmethod = "annealing"\n',
            r"\[search\] method = \"annealing\": must be one of both",
        ),
    ],
)
def test_bad_space_config_is_refused_at_load_naming_file_and_key(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(NasgcnError, match=message) as err:
        load_config(path)
    assert "bad.toml" in str(err.value)


def test_cli_refuses_unknown_space_in_one_line(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text('[space]\nname = "nope"\n', encoding="utf-8")
    assert main(["run", str(path), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "c.toml" in err and "nope" in err and "Traceback" not in err
    good = tmp_path / "good.toml"
    good.write_text("[run]\nprogress = false\n", encoding="utf-8")
    assert main(["run", str(good), "--space", "nope", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "good.toml" in err and "space.name: unknown search space 'nope'" in err


def test_default_space_is_nb201_and_enters_every_stage_hash():
    base = parse_config({})
    assert base["space"] == {"name": "nb201"}
    assert base["table"] == {"channels": 16, "cells": 5, "input_size": 32, "num_classes": 10}
    macro = parse_config({"space": {"name": "nbmacro"}})
    hb, hm = stage_hashes(base), stage_hashes(macro)
    assert all(hb[s] != hm[s] for s in STAGES)
    assert stage_hashes(parse_config({"space": {"name": "NB201"}})) == hb  # names are case-insensitive


def test_stage_cache_is_invalidated_when_the_space_changes(tmp_path):
    calls: list[str] = []

    def stub(name):
        def fn(ctx):
            calls.append(f"{name}:{ctx.space.name}")
            return {"space": ctx.space.name}

        return fn

    fns = {s: stub(s) for s in STAGES}
    out = tmp_path / "out"
    for space in ("nb201", "nbmacro", "nb201", "nbmacro"):
        Pipeline(parse_config({"space": {"name": space}}), out, stage_fns=fns, log=lambda m: None).run()
    # each space ran every stage exactly once; switching back and forth is a cache hit
    assert calls == [f"{s}:nb201" for s in STAGES] + [f"{s}:nbmacro" for s in STAGES]
    recs = [json.loads(p.read_text()) for p in out.glob("stages/supernet-*/done.json")]
    assert sorted(r["outputs"]["space"] for r in recs) == ["nb201", "nbmacro"]


def test_space_override_drops_options_of_the_other_space_with_a_note():
    demo = builtin_config("demo")
    moved = builtin_config("demo", space="nbmacro")
    assert moved["space"]["name"] == "nbmacro" and demo["space"]["name"] == "nb201"
    assert "channels" not in moved["supernet"] and "cells" not in moved["table"]
    assert any("supernet.cells, supernet.channels does not apply" in n for n in moved.notes)
    assert not demo.notes
    # the file itself naming the space stays strict
    with pytest.raises(NasgcnError, match="supernet.channels"):
        parse_config({"space": {"name": "nbmacro"}, "supernet": {"channels": 4}}, "x.toml")


@pytest.mark.slow  # shares the tiny run; reruns query..report (~5 s)
def test_nbmacro_hardware_target_constrains_query_and_shift(macro_run, tmp_path):
    import shutil

    from predictor.table import write_csv
    from supernet.shifting import read_trajectory

    path, finished_out = macro_run
    out = tmp_path / "out"
    shutil.copytree(finished_out, out)
    sp = get_space("nbmacro")
    ids = sp.all_ids()
    lat = sp.costs(ids)["flops_m"] / 10.0 + (ids == 2).sum(1)  # a made-up device: FLOPs plus a per-block cost
    hw = tmp_path / "device.csv"
    write_csv(hw, {"arch_str": np.asarray(sp.decode(ids), dtype=object), "dev_latency": lat}, {"space": "nbmacro"})
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    data["query"]["hardware"] = [str(hw)]
    data["query"]["targets"] = [{"name": "dev", "max": {"dev_latency": 6.0}}]
    data["shift"]["target"] = "dev"
    changed = _write_config(tmp_path / "hw.toml", data)
    log: list[str] = []
    Pipeline(load_config(changed), out, log=log.append).run()
    cfg = load_config(changed)
    status = {line.split()[0].strip("[]"): line.split()[1] for line in log if line.split()[1] in ("cached", "running")}
    assert {s for s, v in status.items() if v == "cached"} == {"supernet", "label", "fit", "table"}
    visited = [c["arch_str"] for r in read_trajectory(_dir(out, cfg, "shift") / "search") for c in r["candidates"]]
    v = sp.encode(visited)
    assert len(visited) == 8 and (sp.costs(v)["flops_m"] / 10.0 + (v == 2).sum(1) <= 6.0).all()
    # a hardware file recorded for another space is refused, naming it
    write_csv(hw, {"arch_str": np.asarray(sp.decode(ids), dtype=object), "dev_latency": lat}, {"space": "fbnet"})
    with pytest.raises(NasgcnError, match="device.csv is for search space 'fbnet'"):
        Pipeline(load_config(changed), out, log=log.append).run(force=["query"])


def test_shipped_fbnet_config_loads():
    cfg = load_config(REPO / "supernet" / "configs" / "fbnet_cifar10_small.toml")
    assert cfg.space.name == "fbnet" and not cfg.space.enumerable
    assert cfg["table"] == {"input_size": 32, "num_classes": 100}
    assert cfg["search"]["budget"] == 20000
    assert cfg.resolve(cfg["data"]["root"]).resolve() == (REPO.parent / "shared" / "data").resolve()
