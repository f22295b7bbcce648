"""``nasgcn run`` configs fail at load, before any work: every key, type, range, choice and column.

Also: each stage is declared once (the CLI, the schema and the hashes derive from the
declaration), and ``root`` paths resolve against the config file's folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO

from predictor.cli.main import main
from predictor.errors import NasgcnError
from supernet.config_schema import check_data, load_config, parse_config, schema
from supernet.pipeline import DEPENDS, SECTIONS, STAGES, Pipeline, stage_hashes
from supernet.stage_engine import _REGISTRY, stage, stage_registry

SMALL = "[run]\nprogress = false\n\n[supernet]\nepochs = 1\n"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _refused(tmp_path: Path, text: str, capsys) -> str:
    """Run the CLI on ``text``: it must fail in one line and create no output folder."""
    cfg = _write(tmp_path / "config.toml", text)
    out = tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "config.toml" in err
    assert not out.exists(), "a folder was created before the config was validated"
    return err


# ---- empty and truncated files -------------------------------------------------------------
@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_config_is_an_error(tmp_path, capsys, text):
    err = _refused(tmp_path, text, capsys)
    assert "empty config" in err and "nasgcn demo --show-config" in err


def test_truncated_config_names_file_and_line(tmp_path, capsys):
    shipped = (REPO / "supernet" / "configs" / "demo.toml").read_text(encoding="utf-8")
    cut = shipped[: shipped.index("targets = [") + len("targets = [\n  { name = ")]
    err = _refused(tmp_path, cut, capsys)
    line = cut.count("\n") + 1
    assert f"config.toml:{line}:" in err and "not valid TOML" in err


def test_file_without_final_newline_is_flagged(tmp_path, caplog):
    path = _write(tmp_path / "c.toml", "[supernet]\nepochs = 2")
    with caplog.at_level("WARNING"):
        assert load_config(path)["supernet"]["epochs"] == 2
    assert any("does not end with a newline" in r.getMessage() for r in caplog.records)


# ---- keys, types, ranges, choices ----------------------------------------------------------
@pytest.mark.parametrize(
    "text, message",
    [
        ("[supernet]\nepochs = -3\n", "config.toml:2: [supernet] epochs = -3: must be ≥ 1"),
        ('[supernet]\nsampler = "unifrom"\n', '[supernet] sampler = "unifrom": must be one of uniform, balanced'),
        ("[supernet]\nepochz = 3\n", "[supernet] epochz = 3: unknown key (did you mean epochs?"),
        ("[suprenet]\nepochs = 3\n", "unknown section(s) [suprenet] (did you mean supernet?"),
        ('[supernet]\nsampler = "unifrom"\n', "(did you mean uniform?)"),
        ("[data]\nval_fraction = 1.0\n", "[data] val_fraction = 1.0: must be < 1"),
        ("[supernet]\nlr = 0\n", "[supernet] lr = 0.0: must be > 0"),
        ('[run]\ndevice = "gpu"\n', '[run] device = "gpu": must be cpu, cuda, cuda:N or mps'),
        ("[shift]\nmutation_prob = 1.5\n", "[shift] mutation_prob = 1.5: must be ≤ 1"),
        ("[fit]\nextra_logs = [3]\n", "[fit] extra_logs = [3]: item 0 must be a str"),
        ('[fit]\nloss = "mae"\n', '[fit] loss = "mae": must be one of mse, rank, mix (did you mean mse?)'),
        ('[retrain]\nsplit = "tset"\n', "did you mean test?"),
        ('[shift]\nnew_dataset = "digit"\n', "did you mean digits?"),
        ("[run]\nseed = -1\n", "[run] seed = -1: must be ≥ 0"),
        ("[report]\nhtml = 1\n", "[report] html = 1: must be true or false"),
        ("supernet = 3\n", "[supernet]: must be a table of options"),
    ],
)
def test_bad_values_fail_at_load_with_file_line_section_and_key(tmp_path, capsys, text, message):
    err = _refused(tmp_path, text, capsys)
    assert message in err


def test_line_numbers_point_at_the_key_inside_its_section(tmp_path):
    text = "[run]\nseed = 0\n\n[fit]\nepochs = 1\n\n[supernet]\nbatch_size = 64\nepochs = 0\n"
    with pytest.raises(NasgcnError, match=r"c.toml:9: \[supernet\] epochs = 0: must be ≥ 1"):
        load_config(_write(tmp_path / "c.toml", text))


def test_sampler_choices_come_from_the_sampler_registry(tmp_path):
    from supernet import samplers

    names = samplers.sampler_names() if hasattr(samplers, "sampler_names") else tuple(samplers.SAMPLERS)
    assert {"uniform", "balanced"} <= set(names)
    for name in names:
        assert parse_config({"supernet": {"sampler": name}})["supernet"]["sampler"] == name
    with pytest.raises(NasgcnError) as err:
        parse_config({"supernet": {"sampler": "nope"}}, "x.toml")
    assert all(n in str(err.value) for n in names)


def test_gcn_losses_match_the_predictor():
    pytest.importorskip("torch")
    from predictor.gcn import LOSSES

    assert tuple(schema()["fit"]["loss"].allowed()) == tuple(LOSSES)


# ---- columns and names later stages need ---------------------------------------------------
def test_unknown_shift_target_fails_before_any_stage(tmp_path, capsys):
    text = SMALL + '[query]\ntargets = [{ name = "mobile", max = { flops_m = 60.0 } }]\n\n[shift]\ntarget = "mobil"\n'
    err = _refused(tmp_path, text, capsys)
    assert '[shift] target = "mobil": not a [query] target; targets: mobile (did you mean mobile? name one' in err
    # without targets the query has one, "any"
    with pytest.raises(NasgcnError, match="targets: any"):
        parse_config({"shift": {"target": "small"}}, "x.toml")


def test_constraint_column_no_table_has_fails_before_any_stage(tmp_path, capsys):
    text = SMALL + '[query]\ntargets = [{ name = "fast", max = { flops = 60.0 } }]\n'
    err = _refused(tmp_path, text, capsys)
    assert "config.toml:7: [query] targets[0]: max column 'flops' of target 'fast' is not a column" in err
    assert "(did you mean flops_m? add a [query] hardware file that has it" in err
    # min bounds too, and a chain space's table (no index column there is fine)
    with pytest.raises(NasgcnError, match="min column 'latency'"):
        parse_config({"space": {"name": "fbnet"}, "query": {"targets": [{"name": "a", "min": {"latency": 1.0}}]}})


def test_hardware_columns_are_known_at_load(tmp_path, capsys):
    from predictor.spaces import get_space
    from predictor.table import write_csv

    sp = get_space("nb201")
    ids = sp.all_ids()[:50]
    write_csv(
        tmp_path / "dev.csv",
        {"arch_str": np.asarray(sp.decode(ids), dtype=object), "dev_latency": np.linspace(1, 2, 50)},
        {"space": "nb201"},
    )
    good = {"query": {"hardware": ["dev.csv"], "targets": [{"name": "d", "max": {"dev_latency": 1.5}}]}}
    cfg = parse_config(good, "x.toml", base_dir=tmp_path)  # relative to the config's folder
    assert cfg["query"]["targets"][0]["max"] == {"dev_latency": 1.5}
    bad = {"query": {"hardware": ["dev.csv"], "targets": [{"name": "d", "max": {"dev_latncy": 1.5}}]}}
    with pytest.raises(NasgcnError, match="did you mean dev_latency"):
        parse_config(bad, "x.toml", base_dir=tmp_path)
    err = _refused(tmp_path, SMALL + '[query]\nhardware = ["missing.csv"]\n', capsys)
    assert f'[query] hardware[0] = "missing.csv": points to {tmp_path / "missing.csv"}, which does not exist' in err


def test_extra_logs_must_exist(tmp_path, capsys):
    err = _refused(tmp_path, SMALL + '[fit]\nextra_logs = ["acc.csv"]\n', capsys)
    assert '[fit] extra_logs[0] = "acc.csv": points to' in err and "acc.csv, which does not exist" in err


# ---- data roots ----------------------------------------------------------------------------
def test_shipped_roots_resolve_against_the_config_folder_not_the_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("cifar10_small", "nbmacro_cifar10_small", "fbnet_cifar10_small"):
        cfg = load_config(REPO / "supernet" / "configs" / f"{name}.toml")
        assert cfg.resolve(cfg["data"]["root"]).resolve() == (REPO.parent / "shared" / "data").resolve()


def test_missing_data_folder_says_where_it_pointed_and_creates_nothing(tmp_path):
    cfg_path = _write(tmp_path / "c.toml", SMALL + '[data]\ndataset = "npz"\nroot = "../nowhere"\n')
    cfg = load_config(cfg_path)
    out = tmp_path / "out"
    with pytest.raises(NasgcnError) as err:
        Pipeline(cfg, out, log=lambda m: None).run()
    msg = str(err.value)
    assert msg.startswith(f"{cfg_path}:") and '[data] root = "../nowhere"' in msg
    assert f"points to {(tmp_path.parent / 'nowhere').resolve()}, which does not exist" in msg
    assert "edit [data] root" in msg and "--data-root DIR" in msg
    assert not out.exists()
    # a folder without training files
    (tmp_path / "empty").mkdir()
    cfg.sections["data"]["root"] = str(tmp_path / "empty")
    with pytest.raises(NasgcnError, match=r"has no \*train\*.npz file"):
        check_data(cfg)
    np.savez(tmp_path / "empty" / "my_train.npz", x=np.zeros((2, 8, 8, 1), np.uint8), y=np.zeros(2, np.int64))
    check_data(cfg)  # passes


def test_finished_run_needs_no_data(tmp_path):
    """A data check only for stages that will run: a cached run's data may have moved."""
    cfg = parse_config({"data": {"dataset": "npz", "root": str(tmp_path / "gone")}}, "x.toml")
    fns = {s: (lambda ctx: {}) for s in STAGES}
    out = tmp_path / "out"
    (tmp_path / "gone").mkdir()
    np.savez(tmp_path / "gone" / "train.npz", x=np.zeros((2, 8, 8, 1), np.uint8), y=np.zeros(2, np.int64))
    Pipeline(cfg, out, stage_fns=fns, log=lambda m: None).run()
    (tmp_path / "gone" / "train.npz").unlink()
    (tmp_path / "gone").rmdir()
    Pipeline(cfg, out, stage_fns=fns, log=lambda m: None).run()  # every stage cached: no data needed
    with pytest.raises(NasgcnError, match="does not exist"):
        Pipeline(cfg, out, stage_fns=fns, log=lambda m: None).run(force=["label"])


def test_data_root_option_overrides_the_config(tmp_path, capsys):
    cfg = _write(tmp_path / "c.toml", SMALL + '[data]\ndataset = "npz"\nroot = "nowhere"\n')
    assert main(["run", str(cfg), "--out", str(tmp_path / "o"), "--data-root", str(tmp_path / "else")]) == 1
    err = capsys.readouterr().err
    assert f"--data-root {tmp_path / 'else'}: points to {tmp_path / 'else'}, which does not exist" in err
    assert not (tmp_path / "o").exists()


# ---- one declaration per stage -------------------------------------------------------------
def test_stage_tables_cli_and_schema_derive_from_the_declarations():
    reg = stage_registry()
    assert STAGES == tuple(reg) == ("supernet", "label", "fit", "table", "query", "shift", "retrain", "report")
    assert DEPENDS == {n: s.depends for n, s in reg.items()}
    assert SECTIONS["supernet"] == ("space", "data", "supernet") and SECTIONS["report"] == ("space", "report")
    assert {s.section for s in reg.values()} <= set(schema())
    from predictor.cli.main import build_parser

    run = build_parser()._subparsers._group_actions[0].choices["run"]
    only = next(a for a in run._actions if a.dest == "only")
    assert tuple(only.choices) == STAGES


def test_a_stage_must_be_declared_after_what_it_reads():
    with pytest.raises(ValueError, match="must be declared before it"):
        stage("late", depends=("nonexistent",))(lambda ctx: {})
    with pytest.raises(ValueError, match="declared twice"):
        stage("fit")(lambda ctx: {})
    assert "late" not in _REGISTRY


def test_stage_hashes_did_not_change_in_the_refactor():
    """Cached runs stay cached: the defaults' hashes as they were before the stage registry.

    Update these only with a deliberate change of a stage's inputs (existing runs then rerun).
    """
    assert stage_hashes(parse_config({})) == {
        "supernet": "30a9d9ba89d7",
        "label": "189741177941",
        "fit": "41e16d0aea78",
        "table": "93574dd36a44",
        "query": "e82e42d9bc60",
        "shift": "3818626ca6da",
        "retrain": "440ea3e96273",
        "report": "e54c76ce3891",
    }


def test_valid_config_round_trips_and_is_recorded(tmp_path):
    fns = {s: (lambda ctx: {}) for s in STAGES}
    cfg = load_config(_write(tmp_path / "c.toml", SMALL))
    Pipeline(cfg, tmp_path / "out", stage_fns=fns, log=lambda m: None).run()
    rec = json.loads((tmp_path / "out" / "pipeline.json").read_text())
    assert rec["config"]["supernet"]["epochs"] == 1 and set(rec["stages"]) == set(STAGES)
    assert os.path.basename(rec["config_path"]) == "c.toml"
