"""The whole argparse tree: every option has help, shared options agree, help texts render cleanly."""

from __future__ import annotations

import argparse
import re

import pytest

from predictor.cli.main import build_parser
from predictor.cli.options import device_type


def _walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ("nasgcn",)):
    """(path, parser) for the parser and every sub-parser below it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, (*path, name))


@pytest.fixture(scope="module")
def tree():
    return list(_walk(build_parser()))


def _options(parser: argparse.ArgumentParser, flag: str) -> list[argparse.Action]:
    return [a for a in parser._actions if flag in a.option_strings]


def test_every_option_and_positional_has_help(tree):
    missing = []
    for path, parser in tree:
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            if action.help == argparse.SUPPRESS:
                continue
            if not (action.help or "").strip():
                missing.append(f"{' '.join(path)} {'/'.join(action.option_strings) or action.dest}")
    assert not missing, "options without help: " + ", ".join(missing)
    assert len(tree) > 20  # the walk really reached the subcommands


def test_rendered_help_has_no_doubled_percent_and_no_unknown_commands(tree):
    commands = set(_walk_commands(tree))
    bad_percent, unknown = [], []
    for path, parser in tree:
        text = parser.format_help()
        if "%%" in text:
            bad_percent.append(" ".join(path))
        for word in re.findall(r"\bnasgcn ([a-z][a-z-]*)", text):
            if word not in commands:
                unknown.append(f"{' '.join(path)}: nasgcn {word}")
    assert not bad_percent, f"'%%' shown in the help of: {bad_percent}"
    assert not unknown, f"help texts name commands that do not exist: {unknown}"


def _walk_commands(tree):
    for path, _ in tree:
        if len(path) == 2:
            yield path[1]


def test_evaluate_help_says_top_1_percent(tree):
    text = dict(tree)[("nasgcn", "evaluate")].format_help()
    assert "top 1 % and" in " ".join(text.split())


@pytest.mark.parametrize("flag", ["--threads", "--device", "--seed", "--quiet"])
def test_shared_options_are_declared_by_the_helpers(tree, flag):
    """Same name, check, metavar and help pattern wherever the option appears."""
    seen = 0
    for path, parser in tree:
        for action in _options(parser, flag):
            seen += 1
            where = " ".join(path)
            assert action.help and action.help != argparse.SUPPRESS, where
            if flag == "--threads":
                assert action.metavar == "N" and action.help.startswith("torch CPU threads (default: "), where
            elif flag == "--device":
                assert action.type is device_type and "cpu, cuda or cuda:N (default: " in action.help, where
            elif flag == "--seed":
                assert action.metavar == "S" and "(default: " in action.help, where
            else:
                assert isinstance(action, argparse._StoreTrueAction), where
    assert seen >= 3, f"{flag} found in only {seen} commands"


def test_max_images_is_one_name_per_meaning(tree):
    visible = {}
    for path, parser in tree:
        for action in parser._actions:
            for flag in action.option_strings:
                if flag.startswith("--max-") and "images" in flag and action.help != argparse.SUPPRESS:
                    visible.setdefault(flag, set()).add(action.dest)
                    assert (flag == "--max-train-images") == (action.dest == "limit_train"), (path, flag)
    assert "--max-images" not in visible  # only as a hidden alias
    assert {"--max-train-images", "--max-val-images"} <= set(visible)


def test_old_spellings_still_parse():
    parser = build_parser()
    train = parser.parse_args(["supernet", "train", "--out", "r", "--max-images", "64"])
    assert train.limit_train == 64
    train = parser.parse_args(["supernet", "train", "--out", "r", "--limit-train", "32"])
    assert train.limit_train == 32
    train = parser.parse_args(["supernet", "train", "--out", "r", "--max-train-images", "16"])
    assert train.limit_train == 16
    assert parser.parse_args(["supernet", "train", "--out", "r"]).limit_train is None
    ev = ["supernet", "eval", "run", "--sample", "3", "--out", "e.csv"]
    assert parser.parse_args(ev).max_images == 1000
    assert parser.parse_args([*ev, "--max-images", "7"]).max_images == 7
    assert parser.parse_args([*ev, "--max-val-images", "0"]).max_images == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["table", "m.pt", "--out", "t.csv", "--threads", "0"],
        ["table", "m.pt", "--out", "t.csv", "--device", "gpu"],
        ["fit", "l.csv", "--target", "a", "--seed", "x"],
        ["supernet", "eval", "run", "--sample", "3", "--out", "e.csv", "--max-val-images", "-1"],
    ],
)
def test_bad_shared_values_fail_at_parse_time(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "expected" in err or "invalid int value" in err
