"""Progress bars draw only on a terminal; one spelling of the switch (--quiet) on every command."""

from __future__ import annotations

import subprocess
import sys

import pytest

from predictor.cli.main import build_parser, main


def _log(tmp_path):
    path = tmp_path / "evals.csv"
    rows = [
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|,93.6",
        "|none~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|,90.6",
        "|none~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|,80.6",
        "|nor_conv_1x1~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|skip_connect~2|,85.1",
    ]
    path.write_text("arch_str,acc\n" + "\n".join(rows) + "\n")
    return path


def test_no_bar_in_a_log_file(tmp_path):
    """stderr to a file (not a TTY): the summary line, and not one carriage return."""
    log = _log(tmp_path)
    cmd = [
        sys.executable,
        "-m",
        "predictor.cli",
        "fit",
        str(log),
        "--target",
        "acc",
        "--epochs",
        "20",
        "--out",
        str(tmp_path / "m.pt"),
    ]
    with open(tmp_path / "stderr.txt", "w") as err, open(tmp_path / "stdout.txt", "w") as out:
        subprocess.run(cmd, stdout=out, stderr=err, check=True)
    text = (tmp_path / "stderr.txt").read_text() + (tmp_path / "stdout.txt").read_text()
    assert "\r" not in text and "fitted" in text
    assert "FutureWarning" not in text  # third-party deprecation chatter is hidden on the CLI


def test_progress_bar_is_disabled_off_a_terminal(capsys):
    from predictor.progress import progress_bar

    bar = progress_bar(range(3), desc="x")
    assert bar.disable  # pytest's captured stderr is not a TTY
    assert progress_bar(range(3), enabled=False).disable
    list(bar)
    assert "\r" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["fit", "L.csv", "--target", "acc", "--out", "m.pt"],
        ["supernet", "train", "--out", "r"],
        ["supernet", "eval", "r", "--sample", "5", "--out", "e.csv"],
        ["supernet", "retrain", "--archs", "a.csv", "--out", "r"],
        ["latency", "measure", "--out", "l.csv"],
        ["shift", "r", "--table", "t.csv", "--out", "s"],
        ["run", "c.toml", "--out", "r"],
    ],
)
def test_quiet_is_the_one_spelling_and_no_progress_still_works(argv):
    parser = build_parser()
    quiet = parser.parse_args([*argv, "--quiet"])
    legacy = parser.parse_args([*argv, "--no-progress"])
    dest = "quiet" if argv[0] == "fit" else "no_progress"
    assert getattr(quiet, dest) is True and getattr(legacy, dest) is True
    assert getattr(parser.parse_args(argv), dest) is False


def test_help_shows_only_quiet(capsys):
    with pytest.raises(SystemExit):
        main(["supernet", "train", "--help"])
    text = capsys.readouterr().out
    assert "--quiet" in text and "--no-progress" not in text
