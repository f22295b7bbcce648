"""``nasgcn query`` and ``nasgcn latency predict`` end to end."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from predictor.cli.main import main
from predictor.lookup import LookupTable
from predictor.spaces import get_space

SPACE = get_space("nb201")


@pytest.fixture(scope="module")
def table_csv(tmp_path_factory):
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("q") / "table.csv"
    LookupTable.build(rng.normal(90, 2, SPACE.size), np.full(SPACE.size, 0.25)).to_csv(path)
    return path


@pytest.fixture(scope="module")
def hw_csv(tmp_path_factory):
    """A device that runs every third architecture (others missing or NaN); rows shuffled."""
    rng = np.random.default_rng(1)
    idx = rng.permutation(SPACE.size)[:6000]
    path = tmp_path_factory.mktemp("hw") / "dev.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["arch_str", "dev_latency"])
        for i, a in zip(idx, SPACE.decode(SPACE.all_ids()[idx]), strict=False):
            w.writerow([a, "" if i % 3 else 1.0 + (i % 50) / 10])
    return path


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_json_rows_best_first_with_constrained_columns(table_csv, capsys):
    rows = _json(
        capsys, ["query", str(table_csv), "--max", "flops_m=100", "--max", "params_m=1.0", "--top", "5", "--json"]
    )
    assert len(rows) == 5
    for r in rows:
        assert {"arch_str", "pred", "flops_m", "params_m", "pred_std", "iso_class"} <= set(r)
        assert r["flops_m"] <= 100 and r["params_m"] <= 1.0
    preds = [r["pred"] for r in rows]
    assert preds == sorted(preds, reverse=True)
    table = LookupTable.read_csv(table_csv)
    ok = (table["flops_m"] <= 100) & (table["params_m"] <= 1.0)
    assert preds[0] == pytest.approx(table["pred"][ok].max())


def test_hardware_join_unique_and_nan(table_csv, hw_csv, capsys):
    rows = _json(
        capsys,
        [
            "query",
            str(table_csv),
            "--hardware",
            str(hw_csv),
            "--max",
            "dev_latency=2.0",
            "--top",
            "20",
            "--unique",
            "--json",
        ],
    )
    assert rows and all(r["dev_latency"] is not None and r["dev_latency"] <= 2.0 for r in rows)
    assert len({r["iso_class"] for r in rows}) == len(rows)
    # each value really belongs to its architecture (the file was shuffled)
    for r in rows:
        i = int(SPACE.index_of(np.asarray([SPACE.parse(r["arch_str"])]))[0])
        assert i % 3 == 0 and r["dev_latency"] == pytest.approx(1.0 + (i % 50) / 10)


def test_text_output_pareto_and_plot(table_csv, tmp_path, capsys):
    assert main(["query", str(table_csv), "--max", "flops_m=50", "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert "flops_m [M MACs]" in out and out.count("|+|") == 6  # two per arch string, 3 rows
    assert "top 3 of 15,625 architectures" in out
    rows = _json(capsys, ["query", str(table_csv), "--pareto", "flops_m", "--json"])
    flops = [r["flops_m"] for r in rows]
    preds = [r["pred"] for r in rows]
    assert flops == sorted(flops) and preds == sorted(preds)
    png = tmp_path / "front.png"
    assert main(["query", str(table_csv), "--max", "flops_m=100", "--top", "5", "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_errors_are_one_line(table_csv, capsys):
    assert main(["query", str(table_csv), "--max", "nope=1"]) == 1
    err = capsys.readouterr().err
    assert "unknown column 'nope'" in err and "flops_m" in err and "Traceback" not in err
    assert main(["query", str(table_csv), "--top", "0"]) == 1
    assert "--top" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["query", str(table_csv), "--max", "flops_m"])
    assert "COL=VALUE" in capsys.readouterr().err


def test_latency_targets_lists_registry(capsys):
    assert main(["latency", "targets"]) == 0
    out = capsys.readouterr().out
    assert "pixel3_latency" in out and "ms" in out and "measured" in out
    rows = _json(capsys, ["latency", "targets", "--json"])
    assert {r["name"] for r in rows} >= {"edgegpu_latency", "fpga_energy", "local_cpu"}


def test_query_path_imports_no_torch_or_pandas(table_csv):
    code = (
        "import sys; from predictor.cli.main import main; "
        f"rc = main(['query', {str(table_csv)!r}, '--max', 'flops_m=100', '--top', '2', '--json']); "
        "heavy = [m for m in ('torch', 'pandas', 'torch_geometric', 'sklearn') if m in sys.modules]; "
        "print('HEAVY', heavy, file=sys.stderr); sys.exit(rc)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "HEAVY []" in res.stderr


def test_latency_predict_then_query_with_margin(table_csv, tmp_path, capsys):
    """Fit on 150 synthetic additive latencies, write the space, constrain with z."""
    rng = np.random.default_rng(2)
    op_cost = np.array([0.0, 0.05, 0.4, 1.0, 0.2])
    idx = rng.choice(SPACE.size, 150, replace=False)
    ids = SPACE.all_ids()[idx]
    lat = 2.0 + op_cost[ids].sum(1) * rng.normal(1, 0.02, len(idx))
    measured = tmp_path / "m.csv"
    with open(measured, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["arch_str", "toy_latency"])
        w.writerows(zip(SPACE.decode(ids), lat, strict=False))
    out = tmp_path / "pred.csv"
    assert main(["latency", "predict", str(measured), "--out", str(out), "--ensemble", "3"]) == 0
    capsys.readouterr()
    full = LookupTable.read_csv(out)
    assert len(full) == SPACE.size and {"toy_latency", "toy_latency_std"} <= set(full.columns)
    truth = 2.0 + op_cost[SPACE.all_ids()].sum(1)
    alive = ~SPACE.is_dead(SPACE.all_ids())
    rel = np.abs(full["toy_latency"] - truth) / truth
    assert np.mean(rel[alive] <= 0.1) > 0.95
    assert np.all(full["toy_latency_std"][alive] > 0)
    base = ["query", str(table_csv), "--hardware", str(out), "--max", "toy_latency=4.0", "--top", "50", "--json"]
    plain = _json(capsys, base)
    safe = _json(capsys, [*base, "--z", "3"])
    assert all(r["toy_latency"] + 3 * r["toy_latency_std"] <= 4.0 for r in safe)
    assert any(r["toy_latency"] + 3 * r["toy_latency_std"] > 4.0 for r in plain)


def test_latency_predict_writes_run_probability_and_threshold(table_csv, tmp_path, capsys):
    """A device that cannot run pooling on edge 2->3: <col> is NaN there, <col>_runnable says how sure."""
    rng = np.random.default_rng(3)
    idx = rng.choice(SPACE.size, 400, replace=False)
    ids = SPACE.all_ids()[idx]
    lat = 2.0 + np.array([0.0, 0.05, 0.4, 1.0, 0.2])[ids].sum(1)
    lat[ids[:, 5] == 4] = np.nan
    measured = tmp_path / "m.csv"
    with open(measured, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["arch_str", "toy_latency"])
        w.writerows([a, "" if np.isnan(v) else v] for a, v in zip(SPACE.decode(ids), lat, strict=True))
    out = tmp_path / "pred.csv"
    assert main(["latency", "predict", str(measured), "--out", str(out), "--ensemble", "2"]) == 0
    full = LookupTable.read_csv(out)
    cannot = SPACE.all_ids()[:, 5] == 4
    proba = np.asarray(full["toy_latency_runnable"])
    assert proba[cannot].mean() < 0.1 and proba[~cannot].mean() > 0.9
    assert np.isnan(full["toy_latency"][cannot]).mean() > 0.95
    assert not np.isnan(full["toy_latency"][~cannot & (proba >= 0.3)]).any()
    # threshold 0: every cell gets the regression's cost; the probability column still filters
    every = tmp_path / "every.csv"
    argv = ["latency", "predict", str(measured), "--out", str(every), "--ensemble", "2", "--runnable-threshold", "0"]
    assert main(argv) == 0
    capsys.readouterr()
    assert not np.isnan(LookupTable.read_csv(every)["toy_latency"]).any()
    base = ["query", str(table_csv), "--hardware", str(every), "--max", "toy_latency=9", "--top", "200", "--json"]
    loose = _json(capsys, base)
    strict = _json(capsys, [*base, "--min", "toy_latency_runnable=0.9"])
    assert any(SPACE.encode([r["arch_str"]])[0, 5] == 4 for r in loose)
    assert all(SPACE.encode([r["arch_str"]])[0, 5] != 4 for r in strict) and len(strict) == 200
    assert main(["latency", "predict", str(measured), "--out", str(every), "--runnable-threshold", "2"]) == 1
    assert "--runnable-threshold must be in [0, 1]" in capsys.readouterr().err


# ----- other spaces ---------------------------------------------------------------------------------
MACRO = get_space("nbmacro")


@pytest.fixture(scope="module")
def macro_files(tmp_path_factory):
    """An nbmacro lookup table and a full nbmacro hardware table (latency = f(index), rows shuffled)."""
    d = tmp_path_factory.mktemp("macro")
    rng = np.random.default_rng(4)
    LookupTable.build(rng.normal(90, 2, MACRO.size), np.full(MACRO.size, 0.1), space="nbmacro").to_csv(d / "t.csv")
    ids = MACRO.all_ids()
    order = rng.permutation(MACRO.size)
    with open(d / "hw.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["arch_str", "dev_latency"])
        for i, a in zip(order, MACRO.decode(ids[order]), strict=True):
            w.writerow([a, 1.0 + (i % 40) / 10])
    return d / "t.csv", d / "hw.csv"


def test_query_nbmacro_table_with_hardware_from_its_metadata(macro_files, capsys):
    table_csv, hw = macro_files
    argv = [
        "query",
        str(table_csv),
        "--hardware",
        str(hw),
        "--max",
        "dev_latency=1.5",
        "--max",
        "flops_m=30",
        "--top",
        "5",
        "--unique",
        "--json",
    ]
    rows = _json(capsys, argv)
    assert len(rows) == 5 and len({r["iso_class"] for r in rows}) == 5
    table = LookupTable.read_csv(table_csv)
    idx = MACRO.index_of(MACRO.encode([r["arch_str"] for r in rows]))
    for r, i in zip(rows, idx, strict=True):
        assert len(r["arch_str"]) == 8 and r["dev_latency"] <= 1.5
        assert r["dev_latency"] == pytest.approx(1.0 + (i % 40) / 10)
        assert r["flops_m"] <= 30
    lat = 1.0 + (np.arange(MACRO.size) % 40) / 10
    ok = (lat <= 1.5) & (table["flops_m"] <= 30)
    assert rows[0]["pred"] == pytest.approx(table["pred"][ok].max())
    assert _json(capsys, [*argv, "--space", "nbmacro"]) == rows


def test_query_refuses_a_mismatched_space(macro_files, table_csv, capsys):
    macro_table, hw = macro_files
    assert main(["query", str(macro_table), "--space", "fbnet"]) == 1
    err = capsys.readouterr().err
    assert "t.csv is for search space 'nbmacro', not 'fbnet'" in err and "Traceback" not in err
    assert main(["query", str(table_csv), "--hardware", str(hw)]) == 1  # nbmacro strings, nb201 table
    assert "hw.csv:2" in capsys.readouterr().err


def test_query_nbmacro_imports_no_torch_or_pandas(macro_files):
    table_csv, hw = macro_files
    code = (
        "import sys; from predictor.cli.main import main; "
        f"rc = main(['query', {str(table_csv)!r}, '--hardware', {str(hw)!r}, '--max', 'dev_latency=2', '--json']); "
        "heavy = [m for m in ('torch', 'pandas', 'torch_geometric', 'sklearn') if m in sys.modules]; "
        "print('HEAVY', heavy, file=sys.stderr); sys.exit(rc)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "HEAVY []" in res.stderr


@pytest.fixture(scope="module")
def class_table(tmp_path_factory):
    """Predictions per isomorphism class (members share them, as a GCN's do), rounded so that ties occur."""
    rng = np.random.default_rng(5)
    cls = SPACE.iso_class(SPACE.all_ids())
    per_class = np.round(rng.normal(90, 2, cls.max() + 1), 1)
    path = tmp_path_factory.mktemp("cls") / "table.csv"
    LookupTable.build(per_class[cls], np.full(SPACE.size, 0.1)).to_csv(path)
    return path


def test_query_is_one_row_per_class_by_default(class_table, capsys):
    rows = _json(capsys, ["query", str(class_table), "--top", "10", "--json"])
    assert len(rows) == 10 and len({r["iso_class"] for r in rows}) == 10
    assert _json(capsys, ["query", str(class_table), "--top", "10", "--unique", "--json"]) == rows  # alias
    every = _json(capsys, ["query", str(class_table), "--top", "10", "--all-members", "--json"])
    assert len(every) == 10 and len({r["iso_class"] for r in every}) < 10  # copies of one class


def test_query_reports_ties_as_ties(class_table, capsys):
    rows = _json(capsys, ["query", str(class_table), "--top", "30", "--json"])
    preds = [r["pred"] for r in rows]
    for r in rows:
        assert r["rank"] == 1 + sum(p > r["pred"] for p in preds)  # shared competition rank
        assert r["tied"] == preds.count(r["pred"])
    assert any(r["tied"] > 1 for r in rows)
    assert main(["query", str(class_table), "--top", "30"]) == 0
    text = capsys.readouterr().out
    tied_rank = next(r["rank"] for r in rows if r["tied"] > 1)
    assert f"\n{tied_rank}= " in text and text.splitlines()[0].startswith("rank")


def test_query_refuses_unknown_columns(table_csv, capsys):
    assert main(["query", str(table_csv), "--columns", "nope,flops_m"]) == 1
    err = capsys.readouterr().err
    assert "unknown --columns 'nope'" in err and "available columns" in err and "params_m" in err
    rows = _json(capsys, ["query", str(table_csv), "--columns", "dead", "--top", "2", "--json"])
    assert all("dead" in r for r in rows)
