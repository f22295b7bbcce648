"""Atomic writes and output-path checks (predictor.io)."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from predictor.errors import NasgcnError
from predictor.io import atomic_path, check_not_input, check_output_path, check_suffix, write_text_atomic


def test_atomic_write_honours_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "a.txt", "x\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644


def test_failed_write_leaves_old_file_and_no_temp(tmp_path):
    target = tmp_path / "t.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]


def test_temp_of_a_killed_writer_is_removed_on_the_next_write(tmp_path):
    target = tmp_path / "t.csv"
    # a process that starts a write and is killed before it renames
    code = (
        "import os, sys; from predictor.io import atomic_path\n"
        f"cm = atomic_path({str(target)!r}); tmp = cm.__enter__(); tmp.write_text('partial'); os._exit(9)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=False)
    assert any(".nasgcn-tmp-" in p.name for p in tmp_path.iterdir())
    write_text_atomic(target, "new\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]


@pytest.mark.parametrize("make, match", [("", "is empty"), ("dir", "is a directory"), ("under-file", "is a file")])
def test_bad_output_paths_get_one_clear_line(tmp_path, make, match):
    if make == "":
        path = ""
    elif make == "dir":
        path = tmp_path
    else:
        (tmp_path / "f").write_text("x")
        path = tmp_path / "f" / "out.csv"
    with pytest.raises(NasgcnError, match=match):
        check_output_path(path)
    with pytest.raises(NasgcnError, match=match):
        write_text_atomic(path, "x")


def test_output_that_is_an_input_is_refused(tmp_path):
    src = tmp_path / "log.csv"
    src.write_text("a\n")
    with pytest.raises(NasgcnError, match="one of the inputs"):
        check_not_input(src, [src])
    with pytest.raises(NasgcnError, match="one of the inputs"):
        check_not_input(tmp_path / "." / "log.csv", [None, src])
    with pytest.raises(NasgcnError, match="one of the inputs"):  # the model's sidecar JSON
        check_not_input(tmp_path / "m.pt.json", [tmp_path / "m.pt"])
    check_not_input(tmp_path / "other.csv", [src])


def test_suffix_check():
    check_suffix("a.CSV", [".csv"])
    with pytest.raises(NasgcnError, match="cannot write .parquet"):
        check_suffix("a.parquet", [".csv"])


def test_fit_and_table_refuse_to_overwrite_their_inputs(tmp_path, capsys):
    from predictor.cli.main import main

    log = tmp_path / "g.csv"
    log.write_text(
        "arch_str,acc\n"
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|,93.6\n"
        "|none~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|,90.6\n"
        "|none~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|,80.6\n"
    )
    before = log.read_bytes()
    assert main(["fit", str(log), "--target", "acc", "--out", str(log), "--quiet"]) == 1
    err = capsys.readouterr().err  # refused before any work: a CSV is no model file, and it is an input
    assert "is the input LOG" in err and log.read_bytes() == before
    model = tmp_path / "m.pt"
    assert main(["fit", str(log), "--target", "acc", "--epochs", "3", "--out", str(model), "--quiet"]) == 0
    weights = model.read_bytes()
    capsys.readouterr()
    for out in (model, tmp_path / "m.pt.json"):
        assert main(["table", str(model), "--out", str(out)]) == 1
        err = capsys.readouterr().err
        assert "is the input MODEL" in err
    assert model.read_bytes() == weights


def test_suffix_check_accepts_no_suffix_only_when_allowed():
    check_suffix("table", [".csv", ""])
    with pytest.raises(NasgcnError, match="without a suffix"):
        check_suffix("table", [".csv"])


def test_output_dir_check(tmp_path):
    from predictor.io import check_output_dir

    (tmp_path / "f").write_text("x")
    check_output_dir(tmp_path / "new" / "run")
    check_output_dir(tmp_path)
    with pytest.raises(NasgcnError, match="is a file, not a folder"):
        check_output_dir(tmp_path / "f")
    with pytest.raises(NasgcnError, match="is a file, not a folder"):
        check_output_dir(tmp_path / "f" / "run")
    with pytest.raises(NasgcnError, match="empty"):
        check_output_dir("")


# ----- outputs through the CLI: one line, before any work -------------------------------------------------


@pytest.mark.parametrize(
    "argv, match",
    [
        (["space", "list", "--out", "s.tsv"], "--out s.tsv: this command cannot write .tsv"),
        (["space", "list", "--out", "DIR"], "--out DIR is a directory"),
        (["space", "list", "--out", "FILE/x.csv"], "FILE is a file, not a folder"),
        (["space", "list", "--out", ""], "--out: the path is empty"),
        (["table", "m.pt", "--out", "t.json"], "cannot write .json"),
        (["query", "t.csv", "--plot", "x.svg"], "--plot x.svg: this command cannot write .svg files (use .png)"),
        (["supernet", "train", "--out", "FILE"], "--out FILE is a file, not a folder"),
        (["supernet", "eval", "r", "--sample", "2", "--out", "e.parquet"], "cannot write .parquet"),
        (
            ["latency", "predict", "m.csv", "--save-model", "m.csv"],
            "--save-model m.csv: this command cannot write .csv",
        ),
        (["search", "m.pt", "--pareto-out", "DIR"], "--pareto-out DIR is a directory"),
    ],
)
def test_cli_refuses_bad_outputs_in_one_line(tmp_path, monkeypatch, capsys, argv, match):
    from predictor.cli.main import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "FILE").write_text("x")
    (tmp_path / "DIR").mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and match in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written, not even a temp file


def test_space_list_writes_real_parquet(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    from predictor.cli.main import main

    out = tmp_path / "s.parquet"
    assert main(["space", "list", "--space", "nbmacro", "--unique", "--out", str(out)]) == 0
    table = pq.read_table(out)
    assert table.num_rows > 0 and "arch_str" in table.schema.names


# ----- a CSV and its sidecar stay consistent ---------------------------------------------------------------


def _frame():
    import numpy as np

    return {"arch_str": np.asarray(["a", "b"], dtype=object), "acc": np.asarray([1.5, 2.5])}


def test_sidecar_records_the_csv_and_is_checked_on_read(tmp_path):
    import json

    from predictor.io import DATA_KEY, check_sidecar, sidecar_path
    from predictor.table import write_csv

    out = tmp_path / "t.csv"
    write_csv(out, _frame(), {"space": "nb201", "units": {"acc": "%"}})
    side = json.loads(sidecar_path(out).read_text())
    assert side[DATA_KEY]["name"] == "t.csv" and side[DATA_KEY]["bytes"] == out.stat().st_size
    assert check_sidecar(out, side) == {"space": "nb201", "units": {"acc": "%"}}  # the record is not metadata
    assert b"\r" not in out.read_bytes() and out.read_bytes().endswith(b"\n")
    out.write_text(out.read_text().replace("1.5", "9.5"))  # edited by hand: same size, other content
    with pytest.raises(NasgcnError, match=r"t\.csv: does not match its metadata .*t\.csv\.meta\.json.*same size"):
        check_sidecar(out, side)
    out.write_text("arch_str,acc\na,1\n")
    with pytest.raises(NasgcnError, match="bytes, the sidecar describes"):
        check_sidecar(out, side)
    old = {k: v for k, v in side.items() if k != DATA_KEY}  # sidecars of older versions: accepted as they are
    assert check_sidecar(out, old) == old


def test_crash_between_the_two_renames_is_detected(tmp_path, monkeypatch):
    """The sidecar goes first; if the CSV's rename never happens, the reader says so instead of mixing them."""
    from predictor import io as pio
    from predictor.io import sidecar_path
    from predictor.table import write_csv

    out = tmp_path / "t.csv"
    write_csv(out, _frame(), {"run": 1})
    real = os.replace

    def crash(src, dst):
        if str(dst) == str(out):
            raise KeyboardInterrupt  # killed after the sidecar was renamed, before the CSV was
        return real(src, dst)

    monkeypatch.setattr(pio.os, "replace", crash)
    frame = _frame()
    frame["acc"] = frame["acc"] * 10
    with pytest.raises(KeyboardInterrupt):
        write_csv(out, frame, {"run": 2})
    monkeypatch.setattr(pio.os, "replace", real)
    assert '"run": 2' in sidecar_path(out).read_text()  # new sidecar, old CSV
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv", "t.csv.meta.json"]  # no temp file left
    from predictor.table import read_table

    with pytest.raises(NasgcnError, match="does not match its metadata"):
        read_table(out)


def test_rewrite_without_metadata_removes_the_stale_sidecar(tmp_path):
    from predictor.io import sidecar_path
    from predictor.table import read_table, write_csv

    out = tmp_path / "t.csv"
    write_csv(out, _frame(), {"space": "nb201"})
    write_csv(out, _frame(), None)
    assert not sidecar_path(out).exists()
    assert read_table(out)[1] == {}


def test_query_names_both_files_when_they_disagree(tmp_path, capsys):
    import numpy as np

    from predictor.cli.main import main
    from predictor.lookup import LookupTable

    out = tmp_path / "t.csv"
    pred = np.linspace(70, 94, 15_625)
    LookupTable.build(pred, np.zeros_like(pred), space="nb201").save(out)
    assert main(["query", str(out), "--top", "1"]) == 0
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:-1]))  # one row lost, the sidecar still describes all of them
    capsys.readouterr()
    assert main(["query", str(out), "--top", "1"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "t.csv: does not match its metadata" in err and "t.csv.meta.json" in err


def test_every_csv_writer_ends_lines_with_newline():
    """csv.writer's default line end is \\r\\n; every writer in the package must ask for \\n."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    offenders = []
    for path in [*root.joinpath("predictor").rglob("*.py"), *root.joinpath("supernet").rglob("*.py")]:
        for m in re.finditer(r"csv\.(writer|DictWriter)\(([^)]*)\)", path.read_text(encoding="utf-8")):
            if 'lineterminator="\\n"' not in m.group(2):
                offenders.append(f"{path.relative_to(root)}: {m.group(0)}")
    assert not offenders, offenders


# ----- malformed model files: one line naming the file, no table -------------------------------------------


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    import numpy as np

    from predictor.gcn import GCNPredictor
    from predictor.spaces import get_space

    folder = tmp_path_factory.mktemp("model")
    space = get_space("nb201")
    rng = np.random.default_rng(0)
    ids = space.all_ids()[rng.choice(space.size, 24, replace=False)]
    est = GCNPredictor(hidden=8, num_layers=2, ensemble=1, epochs=2, random_state=0).fit(ids, rng.uniform(60, 90, 24))
    est.save(folder / "m.pt")
    return folder / "m.pt"


def _edit_config(src, dst, change):
    import json
    import shutil

    shutil.copy(src, dst)
    cfg = json.loads(Path(str(src) + ".json").read_text())
    Path(str(dst) + ".json").write_text(json.dumps(change(cfg)))


def _nan_weights(src, dst):
    import shutil

    import torch

    shutil.copy(str(src) + ".json", str(dst) + ".json")
    state = torch.load(src, weights_only=True)
    state["calibration"] = state["calibration"] * float("nan")
    torch.save(state, dst)


@pytest.mark.parametrize(
    "case, match",
    [
        ("list-config", r"m2\.pt\.json: expected a JSON object .* got a list"),
        ("edited-shape", r"m2\.pt: its tensors do not fit the network described by .*m2\.pt\.json"),
        ("nan-statistics", r"m2\.pt\.json: 'source_mean' holds a non-finite value"),
        ("missing-key", r"m2\.pt\.json: 'n_train' must be an integer"),
        ("unknown-param", r"m2\.pt\.json: unknown parameter\(s\) colour"),
        ("binary-config", r"m2\.pt\.json: not (a text file|valid JSON)"),
        ("list-weights", r"m2\.pt: not a model weights file written by 'nasgcn fit'"),
        ("nan-weights", r"m2\.pt: tensor 'calibration' holds non-finite values"),
    ],
)
def test_malformed_model_gives_one_line_and_no_table(tiny_model, tmp_path, capsys, case, match):
    import shutil

    from predictor.cli.main import main

    bad = tmp_path / "m2.pt"
    if case == "list-config":
        shutil.copy(tiny_model, bad)
        Path(str(bad) + ".json").write_text("[1, 2, 3]")
    elif case == "edited-shape":
        _edit_config(tiny_model, bad, lambda c: {**c, "params": {**c["params"], "hidden": 16}})
    elif case == "nan-statistics":
        _edit_config(tiny_model, bad, lambda c: {**c, "source_mean": [float("nan")]})
    elif case == "missing-key":
        _edit_config(tiny_model, bad, lambda c: {k: v for k, v in c.items() if k != "n_train"})
    elif case == "unknown-param":
        _edit_config(tiny_model, bad, lambda c: {**c, "params": {**c["params"], "colour": "red"}})
    elif case == "binary-config":
        shutil.copy(tiny_model, bad)
        Path(str(bad) + ".json").write_bytes(b"\x80\x81\xfe\x00garbage")
    elif case == "list-weights":
        shutil.copy(str(tiny_model) + ".json", str(bad) + ".json")
        bad.write_text("[1, 2, 3]\n")
    else:
        _nan_weights(tiny_model, bad)
    out = tmp_path / "t.csv"
    assert main(["table", str(bad), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and re.search(match, err), err
    assert "weights_only" not in err and "Traceback" not in err
    assert not out.exists()


def test_good_model_still_loads(tiny_model, tmp_path, capsys):
    from predictor.cli.main import main

    assert main(["table", str(tiny_model), "--out", str(tmp_path / "t.csv")]) == 0
    assert (tmp_path / "t.csv").exists()


def test_torchs_weights_only_advice_is_never_shown(tmp_path, capsys):
    """Any loader's error that carries torch's advice prints without it (main's last line of defence)."""
    import torch

    from predictor.model_file import strip_weights_only_advice

    junk = tmp_path / "c.pt"
    junk.write_text("[1, 2]")
    with pytest.raises(Exception) as exc:
        torch.load(junk, weights_only=True)
    msg = strip_weights_only_advice(f"{junk}: cannot read the checkpoint ({exc.value}); delete it to start over")
    assert "Weights only load failed" not in msg and "set to `False`" not in msg and "Re-running" not in msg
    assert msg.startswith(f"{junk}: cannot read the checkpoint") and msg.endswith("; delete it to start over")
    assert strip_weights_only_advice("plain message") == "plain message"


def test_any_output_that_is_an_input_is_refused_before_work(tmp_path, monkeypatch, capsys):
    """The CLI checks every output option against every file argument, for every command."""
    from predictor.cli.main import main

    monkeypatch.chdir(tmp_path)
    Path("t.csv").write_text("arch_str,pred\n")
    Path("lat.csv").write_text("arch_str,x_latency\n")
    cases = [
        (["query", "t.csv", "--plot", "t.csv"], "--plot t.csv is the input TABLE.csv"),
        (["query", "t.csv", "--plot", "t.csv.meta.json"], "is the input TABLE.csv's sidecar"),
        (["latency", "predict", "lat.csv", "--out", "lat.csv"], "--out lat.csv is the input FILE"),
        (["space", "list", "--out", "t.csv"], None),  # no inputs: replacing an old file is the point
    ]
    for argv, match in cases:
        rc = main(argv)
        err = capsys.readouterr().err
        if match is None:
            assert rc == 0, err
        else:
            assert rc == 1 and match in err and err.count("\n") == 1, err
    assert Path("lat.csv").read_text() == "arch_str,x_latency\n"


def test_weights_and_config_of_two_saves_are_not_mixed(tiny_model, tmp_path, capsys):
    """Same shapes, other weights: the config's record of the weights' hash catches it (one line)."""
    import shutil

    import numpy as np

    from predictor.cli.main import main
    from predictor.gcn import GCNPredictor
    from predictor.spaces import get_space

    space = get_space("nb201")
    rng = np.random.default_rng(1)
    ids = space.all_ids()[rng.choice(space.size, 24, replace=False)]
    other = GCNPredictor(hidden=8, num_layers=2, ensemble=1, epochs=2, random_state=1).fit(ids, rng.uniform(60, 90, 24))
    other.save(tmp_path / "other.pt")
    shutil.copy(str(tiny_model) + ".json", tmp_path / "m.pt.json")
    shutil.copy(tmp_path / "other.pt", tmp_path / "m.pt")  # e.g. a save killed between its two renames
    assert main(["table", str(tmp_path / "m.pt"), "--out", str(tmp_path / "t.csv")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "m.pt: does not match its metadata" in err and "m.pt.json" in err
    assert GCNPredictor.load(tmp_path / "other.pt").predict(ids[:3]).shape == (3,)
