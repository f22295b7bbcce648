"""``nasgcn run``: all stages on a tiny config, caching by input hash, resume, config errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from predictor.cli.main import main
from predictor.errors import NasgcnError
from supernet.pipeline import STAGES, Pipeline, builtin_config, load_config, parse_config, stage_hashes

pytest.importorskip("torch")

TINY = """
[run]
name = "tiny"
seed = 0
progress = false

[data]
dataset = "digits"

[supernet]
channels = 4
cells = 1
epochs = 1
limit_train_batches = 4

[label]
num_archs = 24
eval_images = 64

[fit]
epochs = 4
ensemble = 1
hidden = 8
holdout = 0.25

[query]
top_k = 6
targets = [{ name = "small", max = { flops_m = 60.0 } }, { name = "any" }]

[shift]
target = "small"
seeds = 3
evaluate_top = 6
population = 4
keep = 2
mutations = 2
crossovers = 1
generations = 2
steps_per_candidate = 1
eval_batches = 1
eval_batch_size = 64

[retrain]
top = 1
epochs = 1
batch_size = 128

[report]
html = true
"""


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


class Log(list):
    def __call__(self, msg: str) -> None:
        self.append(msg)

    def status(self) -> dict[str, str]:
        """stage -> 'cached' | 'running' | 'resuming' from the pipeline's log lines."""
        out = {}
        for line in self:
            parts = line.split()
            if len(parts) >= 2 and parts[0].startswith("[") and parts[1] in ("cached", "running", "resuming"):
                out[parts[0].strip("[]")] = parts[1]
        return out


@pytest.fixture(scope="module")
def finished(tmp_path_factory, torch_single_thread) -> tuple[Path, Path]:
    """A complete tiny run, made through the CLI: (config path, output dir). Tests copy it before changing it."""
    root = tmp_path_factory.mktemp("pipe")
    cfg = _write(root / "tiny.toml", TINY)
    out = root / "out"
    assert main(["run", str(cfg), "--out", str(out), "--no-progress"]) == 0
    return cfg, out


@pytest.fixture(scope="module")
def torch_single_thread():
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _copy(finished, tmp_path: Path) -> tuple[Path, Path]:
    cfg, out = finished
    dst = tmp_path / "out"
    shutil.copytree(out, dst)
    return cfg, dst


@pytest.mark.slow  # shares one complete tiny run (~7 s)
def test_all_stages_run_and_write_their_outputs(finished):
    cfg, out = finished
    hashes = stage_hashes(load_config(cfg))
    for name in STAGES:
        d = out / "stages" / f"{name}-{hashes[name]}"
        rec = json.loads((d / "done.json").read_text())
        assert rec["stage"] == name and rec["hash"] == hashes[name]
    shift = json.loads((out / "stages" / f"shift-{hashes['shift']}" / "done.json").read_text())["outputs"]
    assert shift["generations"] == 2 and shift["best_arch"].startswith("|")
    report = (out / "report" / "report.md").read_text()
    for section in ("Predicted vs supernet", "Pareto", "Supernet Shifting", "stand-alone"):
        assert section in report
    html = (out / "report" / "report.html").read_text()
    assert "<td><code>|" in html and "<img" in html  # arch strings survive inside table cells
    pngs = {p.name for p in (out / "report").glob("*.png")}
    assert {"predicted_vs_supernet.png", "pareto_small.png", "shifting_trajectory.png", "retrained.png"} <= pngs


@pytest.mark.slow  # shares one complete tiny run (~7 s)
def test_shift_respects_the_target_constraint(finished):
    from predictor.costs import MacroConfig, nb201_costs
    from predictor.spaces import get_space
    from supernet.shifting import read_trajectory

    cfg, out = finished
    d = out / "stages" / f"shift-{stage_hashes(load_config(cfg))['shift']}"
    visited = [c["arch_str"] for r in read_trajectory(d / "search") for c in r["candidates"]]
    flops = nb201_costs(get_space().encode(visited), MacroConfig())["flops_m"]
    assert len(visited) == 8 and (flops <= 60.0).all()


@pytest.mark.slow  # shares one complete tiny run (~7 s)
def test_second_run_is_a_cache_hit(finished, tmp_path):
    cfg, out = _copy(finished, tmp_path)
    log = Log()
    before = {p: p.stat().st_mtime_ns for p in out.glob("stages/*/done.json")}
    Pipeline(load_config(cfg), out, log=log).run()
    assert set(log.status().values()) == {"cached"}
    assert before == {p: p.stat().st_mtime_ns for p in out.glob("stages/*/done.json")}


@pytest.mark.slow  # shares one complete tiny run (~7 s)
def test_changing_a_section_reruns_that_stage_and_downstream_only(finished, tmp_path):
    cfg, out = _copy(finished, tmp_path)
    changed = _write(tmp_path / "changed.toml", TINY.replace("top_k = 6", "top_k = 5"))
    log = Log()
    Pipeline(load_config(changed), out, log=log).run()
    status = log.status()
    assert {s for s, v in status.items() if v == "cached"} == {"supernet", "label", "fit", "table"}
    assert {s for s, v in status.items() if v == "running"} == {"query", "shift", "retrain", "report"}


@pytest.mark.slow  # shares one complete tiny run (~7 s)
def test_killed_stage_without_marker_is_resumed(finished, tmp_path):
    cfg, out = _copy(finished, tmp_path)
    c = load_config(cfg)
    hashes = stage_hashes(c)
    shift_dir = out / "stages" / f"shift-{hashes['shift']}"
    done = json.loads((shift_dir / "done.json").read_text())
    (shift_dir / "done.json").unlink()  # as if killed after its last checkpoint
    log = Log()
    rec = Pipeline(c, out, log=log).run()
    assert log.status()["shift"] == "resuming" and log.status()["label"] == "cached"
    assert rec["shift"]["outputs"]["best_arch"] == done["outputs"]["best_arch"]
    assert rec["shift"]["resumed"] is True


@pytest.mark.slow  # shares one complete tiny run (~7 s)
def test_failing_stage_leaves_no_marker_and_is_redone(finished, tmp_path):
    from supernet.pipeline import STAGE_FUNCTIONS

    cfg, out = _copy(finished, tmp_path)
    c = load_config(cfg)
    shutil.rmtree(out / "stages" / f"report-{stage_hashes(c)['report']}")

    def boom(ctx):
        (ctx.dir / "partial.txt").write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        Pipeline(c, out, stage_fns={**STAGE_FUNCTIONS, "report": boom}, log=Log()).run()
    d = out / "stages" / f"report-{stage_hashes(c)['report']}"
    assert (d / "partial.txt").exists() and not (d / "done.json").exists()
    log = Log()
    Pipeline(c, out, log=log).run()
    assert log.status()["report"] == "resuming" and (d / "done.json").exists()


@pytest.mark.slow  # shares one complete tiny run (~7 s)
def test_only_needs_upstream_and_force_reruns(finished, tmp_path):
    cfg, out = _copy(finished, tmp_path)
    log = Log()
    Pipeline(load_config(cfg), out, log=log).run(only="query", force=["query"])
    assert log.status() == {"query": "running"}
    with pytest.raises(NasgcnError, match="needs supernet done first"):
        Pipeline(load_config(cfg), tmp_path / "empty", log=Log()).run(only="label")
    with pytest.raises(NasgcnError, match="unknown stage"):
        Pipeline(load_config(cfg), out, log=Log()).run(only="bogus")


@pytest.mark.slow  # shares one complete tiny run (~7 s)
def test_label_stage_in_two_processes_gives_the_same_labels(finished, tmp_path):
    cfg, out = _copy(finished, tmp_path)
    conf = load_config(cfg)
    label_dir = out / "stages" / f"label-{stage_hashes(conf)['label']}"
    before = (label_dir / "labels.csv").read_text()
    two = _write(
        tmp_path / "two.toml", Path(cfg).read_text().replace("progress = false", "progress = false\neval_jobs = 2")
    )
    assert stage_hashes(load_config(two)) == stage_hashes(conf)  # a runtime option: same cached stages
    log = Log()
    Pipeline(load_config(two), out, log=log).run(only="label", force=["label"])
    assert log.status() == {"label": "running"}
    assert (label_dir / "labels.csv").read_text() == before
    assert json.loads((label_dir / "labels.csv.meta.json").read_text())["processes"] == 2


@pytest.mark.parametrize(
    "text, message",
    [
        ("[fit]\nepochz = 3\n", r"bad.toml:2: \[fit\] epochz = 3: unknown key \(did you mean epochs\?"),
        ("[bogus]\nx = 1\n", r"bad.toml:1: unknown section\(s\) \[bogus\]"),
        ("[fit]\nepochs = 'ten'\n", r'bad.toml:2: \[fit\] epochs = "ten": must be an integer'),
        ("[data]\ndataset = 'imagenet'\n", r'\[data\] dataset = "imagenet": must be one of digits'),
        ("[shift]\nkeep = 99\n", r"\[shift\] keep = 99: must be ≤ \[shift\] population \(10\)"),
        ("[query]\ntargets = [{ name = 'a', max = { flops_m = 'x' } }]\n", "must map column names to numbers"),
        ("[run\n", r"bad.toml:1:5: not valid TOML"),
        ("[run]\neval_jobs = 0\n", r"bad.toml:2: \[run\] eval_jobs = 0: must be ≥ 1"),
    ],
)
def test_bad_config_is_a_clear_error_naming_file_and_key(tmp_path, text, message):
    path = _write(tmp_path / "bad.toml", text)
    with pytest.raises(NasgcnError, match=message) as err:
        load_config(path)
    assert "bad.toml" in str(err.value)


def test_cli_reports_config_errors_in_one_line(tmp_path, capsys):
    path = _write(tmp_path / "bad.toml", "[supernet]\nchanels = 4\n")
    assert main(["run", str(path), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "[supernet] chanels" in err and "did you mean channels?" in err and "bad.toml:2" in err
    assert "Traceback" not in err and not (tmp_path / "o").exists()


def test_builtin_demo_config_loads_and_hashes_are_stable():
    a, b = builtin_config("demo"), builtin_config("demo")
    assert stage_hashes(a) == stage_hashes(b)
    assert a["data"]["dataset"] == "digits"
    c = parse_config({"run": {"seed": 1}})
    h0, h1 = stage_hashes(parse_config({})), stage_hashes(c)
    assert all(h0[s] != h1[s] for s in STAGES)  # the seed enters every stage


@pytest.mark.slow  # shares one complete tiny run (~7 s)
def test_shift_command_on_a_trained_run(finished, tmp_path, capsys):
    from predictor.costs import MacroConfig, nb201_costs
    from predictor.spaces import get_space
    from supernet.shifting import read_trajectory

    cfg, out = finished
    h = stage_hashes(load_config(cfg))
    small = ["--population", "3", "--keep", "2", "--mutations", "1", "--crossovers", "1", "--generations", "2"]
    small += ["--steps-per-candidate", "1", "--eval-batches", "1", "--batch-size", "32", "--no-progress"]
    table = out / "stages" / f"table-{h['table']}" / "table.csv"
    run_dir = out / "stages" / f"supernet-{h['supernet']}"
    args = ["shift", str(run_dir), "--table", str(table), "--max", "params_m=0.5", "--out", str(tmp_path / "s")]
    assert main(args + small) == 0
    assert "best:" in capsys.readouterr().out
    visited = [c["arch_str"] for r in read_trajectory(tmp_path / "s") for c in r["candidates"]]
    assert len(visited) == 6
    assert (nb201_costs(get_space().encode(visited), MacroConfig())["params_m"] <= 0.5).all()
    # transfer: a new dataset (here digits again, as a stand-in) resets the classifier
    assert main(["shift", str(run_dir), "--new-dataset", "digits", "--out", str(tmp_path / "t")] + small) == 0
    assert main(["shift", str(run_dir), "--max", "flops_m", "--out", str(tmp_path / "u")] + small) == 1
    assert "expected COLUMN=NUMBER" in capsys.readouterr().err


@pytest.mark.slow  # shares one complete tiny run (~7 s)
def test_nb201_is_the_default_space_and_is_recorded(finished):
    cfg, out = finished
    conf = load_config(cfg)
    assert conf["space"] == {"name": "nb201"}
    assert "width" not in conf["supernet"]  # a chain-space option: not part of an NB201 run
    for name in STAGES:
        rec = json.loads((out / "stages" / f"{name}-{stage_hashes(conf)[name]}" / "done.json").read_text())
        assert rec["inputs"]["sections"]["space"] == {"name": "nb201"}
    shift = json.loads((out / "stages" / f"shift-{stage_hashes(conf)['shift']}" / "done.json").read_text())
    assert shift["outputs"]["space"] == "nb201"
    table_meta = json.loads(
        (out / "stages" / f"table-{stage_hashes(conf)['table']}" / "table.csv.meta.json").read_text()
    )
    assert table_meta["space"] == "nb201" and table_meta["macro"]["cells"] == 5
