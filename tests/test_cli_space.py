"""``nasgcn space info`` and ``nasgcn space list``, run in-process."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from predictor.cli.main import main
from predictor.costs import MacroConfig, nb201_costs
from predictor.spaces import EDGES, OPS, get_space

SPACE = get_space("nb201")


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_space_info_json(capsys):
    assert main(["space", "info", "--json"]) == 0
    out = capsys.readouterr().out
    info = json.loads(out)
    assert info["space"] == "nb201"
    assert info["size"] == 15_625 and info["unique"] == 6466
    assert info["ops"] == list(OPS)
    assert info["edges"] == [list(e) for e in EDGES]


def test_space_info_text(capsys):
    assert main(["space", "info", "--space", "nb201"]) == 0
    out = capsys.readouterr().out
    assert "15,625" in out and "6,466" in out and "nor_conv_3x3" in out


def test_space_list_whole_space(tmp_path, capsys):
    out = tmp_path / "space.csv"
    assert main(["space", "list", "--out", str(out)]) == 0
    assert "15,625" in capsys.readouterr().out
    rows = read_rows(out)
    assert len(rows) == 15_625
    assert {"arch_str", "index", "iso_class", "dead", "params_m", "flops_m"} <= set(rows[0])
    strings = [r["arch_str"] for r in rows]
    assert len(set(strings)) == 15_625
    ids = SPACE.encode(strings)
    np.testing.assert_array_equal([int(r["index"]) for r in rows], SPACE.index_of(ids))
    np.testing.assert_array_equal([int(r["iso_class"]) for r in rows], SPACE.iso_class(ids))
    assert sum(r["dead"] == "true" for r in rows) == 341
    costs = nb201_costs(ids)
    np.testing.assert_allclose([float(r["params_m"]) for r in rows], costs["params_m"], rtol=0, atol=1e-12)
    np.testing.assert_allclose([float(r["flops_m"]) for r in rows], costs["flops_m"], rtol=0, atol=1e-12)
    meta = json.loads((tmp_path / "space.csv.meta.json").read_text())
    assert meta["space"] == "nb201" and meta["macro"]["channels"] == 16


def test_space_list_unique_and_macro_options(tmp_path):
    out = tmp_path / "u.csv"
    assert (
        main(["space", "list", "--out", str(out), "--unique", "--channels", "8", "--cells", "1", "--classes", "100"])
        == 0
    )
    rows = read_rows(out)
    assert len(rows) == 6466
    assert sorted(int(r["iso_class"]) for r in rows) == list(range(6466))
    ids = SPACE.encode([r["arch_str"] for r in rows])
    np.testing.assert_array_equal(SPACE.iso_representative(ids), SPACE.index_of(ids))
    expected = nb201_costs(ids, MacroConfig(channels=8, cells=1, num_classes=100))["params_m"]
    np.testing.assert_allclose([float(r["params_m"]) for r in rows], expected, rtol=0, atol=1e-12)
    assert not np.allclose(expected, nb201_costs(ids)["params_m"])


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["space", "info", "--space", "nb101"], "unknown search space 'nb101'"),
        (["space", "list", "--out", "OUT", "--channels", "0"], "channels must be a positive integer"),
        (["space", "list", "--out", "OUT", "--input-size", "30"], "divisible by 4"),
    ],
)
def test_bad_options_exit_1_with_one_line(tmp_path, capsys, argv, fragment):
    argv = [str(tmp_path / "x.csv") if a == "OUT" else a for a in argv]
    assert main(argv) == 1
    captured = capsys.readouterr()
    err = captured.err
    assert err.count("\n") == 1 and err.startswith("nasgcn: error: ")
    assert fragment in err and "Traceback" not in err
    assert not (tmp_path / "x.csv").exists()


def test_debug_shows_the_exception(capsys):
    from predictor.errors import NasgcnError

    with pytest.raises(NasgcnError, match="unknown search space"):
        main(["--debug", "space", "info", "--space", "nb101"])


def test_usage_errors_come_from_argparse(capsys):
    with pytest.raises(SystemExit) as info:
        main(["space", "list"])  # --out is required
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--out" in err and "Traceback" not in err
