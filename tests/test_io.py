"""Atomic writes and output-path checks (predictor.io)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

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
    assert "one of the inputs" in capsys.readouterr().err and log.read_bytes() == before
    model = tmp_path / "m.pt"
    assert main(["fit", str(log), "--target", "acc", "--epochs", "3", "--out", str(model), "--quiet"]) == 0
    weights = model.read_bytes()
    capsys.readouterr()
    for out in (model, tmp_path / "m.pt.json"):
        assert main(["table", str(model), "--out", str(out)]) == 1
        assert "one of the inputs" in capsys.readouterr().err
    assert model.read_bytes() == weights
