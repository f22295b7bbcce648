"""HardwareTable: reading, units, NaN, isomorphic duplicates, registry, joins."""

from __future__ import annotations

import csv
import json
import sys

import numpy as np
import pytest

from predictor.errors import LogFormatError, NasgcnError
from predictor.hardware import HardwareTable, get_target, infer_unit, list_targets, register_target
from predictor.lookup import LookupTable
from predictor.readers import hint_style
from predictor.spaces import get_space

SPACE = get_space("nb201")


def _write_csv(path, header, rows):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def _latency_of(idx: np.ndarray) -> np.ndarray:
    """A known, index-dependent cost for join tests."""
    return 1.0 + (np.asarray(idx) % 97) / 10.0


# ----- units and registry ---------------------------------------------------------------
def test_unit_inference_from_suffix_and_override(tmp_path):
    assert infer_unit("foo_latency") == "ms"
    assert infer_unit("foo_energy") == "mJ"
    assert infer_unit("foo_latency_iqr") == "ms"
    assert infer_unit("foo_energy_std") == "mJ"
    assert infer_unit("eyeriss_arithmetic_intensity") == ""
    archs = SPACE.decode(SPACE.all_ids()[:3])
    path = _write_csv(tmp_path / "hw.csv", ["arch_str", "x_latency", "score"], [[a, 1.0, 2.0] for a in archs])
    hw = HardwareTable.read(path)
    assert hw.units == {"x_latency": "ms", "score": ""}
    hw2 = HardwareTable.read(path, units={"x_latency": "us"})
    assert hw2.units["x_latency"] == "us"


def test_registry_lists_hwnasbench_targets_and_accepts_new_ones():
    names = list_targets("*_latency")
    for dev in ("edgegpu", "raspi4", "edgetpu", "pixel3", "eyeriss", "fpga"):
        assert f"{dev}_latency" in names
    assert get_target("edgegpu_energy").unit == "mJ"
    assert get_target("pixel3_latency").measured and not get_target("fpga_latency").measured
    assert "local_cpu" in list_targets()
    t = register_target("test_npu_cycles", unit="cycles", description="test")
    assert infer_unit("test_npu_cycles") == "cycles" and t.column == "test_npu_cycles"
    with pytest.raises(NasgcnError, match="unknown hardware target"):
        get_target("no_such_device")


# ----- reading ----------------------------------------------------------------------------
def test_shuffled_file_joins_by_arch_str(tmp_path):
    rng = np.random.default_rng(0)
    idx = rng.permutation(SPACE.size)[:500]
    archs = SPACE.decode(SPACE.all_ids()[idx])
    archs[0] = " " + archs[0] + " "  # stray spaces are canonicalized
    path = _write_csv(
        tmp_path / "hw.csv",
        ["arch_str", "dev_latency"],
        [[a, v] for a, v in zip(archs, _latency_of(idx), strict=False)],
    )
    hw = HardwareTable.read(path)
    table = LookupTable.build(rng.random(SPACE.size)).join(hw)
    lat = table["dev_latency"]
    have = np.isin(table["index"], idx)
    assert have.sum() == 500
    np.testing.assert_allclose(lat[have], _latency_of(table["index"][have]))
    assert np.isnan(lat[~have]).all()
    assert table.meta["units"]["dev_latency"] == "ms"
    assert hw.join(LookupTable.build(np.zeros(SPACE.size)))["dev_latency"].shape == (SPACE.size,)


def test_bad_architecture_names_file_and_line(tmp_path):
    archs = SPACE.decode(SPACE.all_ids()[:3])
    rows = [[archs[0], 1.0], [archs[1], 2.0], ["|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", 3.0]]
    path = _write_csv(tmp_path / "bad.csv", ["arch_str", "x_latency"], rows)
    with pytest.raises(LogFormatError, match=r"bad\.csv:4: .*unknown op 'conv'") as err:
        HardwareTable.read(path)
    assert err.value.line == 4


@pytest.mark.parametrize(
    ("value", "match"),
    [("fast", "not a number"), ("-1.0", "negative cost"), ("inf", "infinite")],
)
def test_bad_values_name_file_and_line(tmp_path, value, match):
    archs = SPACE.decode(SPACE.all_ids()[:2])
    path = _write_csv(tmp_path / "bad.csv", ["arch_str", "x_latency"], [[archs[0], 1.0], [archs[1], value]])
    with pytest.raises(LogFormatError, match=rf"bad\.csv:3: .*{match}"):
        HardwareTable.read(path)


def test_missing_arch_column_truncated_line_and_unknown_format(tmp_path):
    path = _write_csv(tmp_path / "a.csv", ["arch", "x_latency"], [["x", 1.0]])
    with pytest.raises(LogFormatError, match="no 'arch_str' column"):
        HardwareTable.read(path)
    a = SPACE.format(SPACE.all_ids()[5])
    p2 = tmp_path / "t.csv"
    p2.write_text(f"arch_str,x_latency,y_latency\n{a},1.0,2.0\n{a}\n")
    with pytest.raises(LogFormatError, match=r"t\.csv:3: expected 3 fields"):
        HardwareTable.read(p2)
    p3 = tmp_path / "x.xlsx"
    p3.write_text("")
    with pytest.raises(NasgcnError, match="unsupported hardware file type"):
        HardwareTable.read(p3)
    with pytest.raises(FileNotFoundError):
        HardwareTable.read(tmp_path / "missing.csv")


def test_nan_means_cannot_run_and_fails_constraints(tmp_path):
    ids = SPACE.all_ids()[[100, 200, 300]]
    archs = SPACE.decode(ids)
    path = _write_csv(
        tmp_path / "hw.csv", ["arch_str", "tpu_latency"], [[archs[0], 1.0], [archs[1], ""], [archs[2], "nan"]]
    )
    hw = HardwareTable.read(path)
    assert np.isnan(hw["tpu_latency"]).sum() == 2
    table = LookupTable.build(np.arange(SPACE.size, dtype=float)).join(hw)
    res = table.query(constraints={"tpu_latency": 1e9}, top_k=10)
    assert list(res["arch_str"]) == [archs[0]]


def test_json_jsonl_and_column_layouts_match_csv(tmp_path):
    idx = np.array([7, 3000, 12000])
    archs = SPACE.decode(SPACE.all_ids()[idx])
    vals = [1.5, None, 3.25]
    csv_path = _write_csv(
        tmp_path / "hw.csv",
        ["arch_str", "d_energy"],
        [[a, "" if v is None else v] for a, v in zip(archs, vals, strict=False)],
    )
    (tmp_path / "hw.json").write_text(
        json.dumps([{"arch_str": a, "d_energy": v} for a, v in zip(archs, vals, strict=False)])
    )
    (tmp_path / "cols.json").write_text(
        json.dumps({"rows": {"arch_str": archs, "d_energy": vals}, "units": {"d_energy": "J"}})
    )
    (tmp_path / "hw.jsonl").write_text(
        "".join(json.dumps({"arch_str": a, "d_energy": v}) + "\n" for a, v in zip(archs, vals, strict=False))
    )
    ref = HardwareTable.read(csv_path)
    for name in ("hw.json", "hw.jsonl"):
        other = HardwareTable.read(tmp_path / name)
        assert list(other["arch_str"]) == list(ref["arch_str"])
        np.testing.assert_array_equal(other["d_energy"], ref["d_energy"])
        assert other.units == {"d_energy": "mJ"}
    # {"rows": <columns>, "units": ...}: embedded units win over the suffix rule
    cols = HardwareTable.read(tmp_path / "cols.json")
    np.testing.assert_array_equal(cols["d_energy"], ref["d_energy"])
    assert cols.units == {"d_energy": "J"}
    (tmp_path / "cols2.json").write_text(json.dumps({"arch_str": archs, "d_energy": vals}))
    np.testing.assert_array_equal(HardwareTable.read(tmp_path / "cols2.json")["d_energy"], ref["d_energy"])
    (tmp_path / "bad.jsonl").write_text(json.dumps({"arch_str": archs[0], "d_energy": 1}) + "\n{oops\n")
    with pytest.raises(LogFormatError, match=r"bad\.jsonl:2"):
        HardwareTable.read(tmp_path / "bad.jsonl")


def test_parquet_without_pyarrow_says_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    p = tmp_path / "hw.parquet"
    p.write_bytes(b"PAR1")
    with pytest.raises(NasgcnError, match="pip install pyarrow"):
        HardwareTable.read(p)


def test_parquet_roundtrip_when_pyarrow_available(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    archs = SPACE.decode(SPACE.all_ids()[[1, 2]])
    pq.write_table(pa.table({"arch_str": archs, "x_latency": [1.0, 2.0]}), tmp_path / "hw.parquet")
    hw = HardwareTable.read(tmp_path / "hw.parquet")
    np.testing.assert_array_equal(hw["x_latency"], [1.0, 2.0])


# ----- isomorphic duplicates ------------------------------------------------------------
def _iso_class_members(min_size: int = 3) -> np.ndarray:
    iso = SPACE.iso_class(SPACE.all_ids())
    counts = np.bincount(iso)
    cls = int(np.flatnonzero(counts >= min_size)[5])
    return np.flatnonzero(iso == cls)


def test_iso_policies_keep_mean_median(tmp_path):
    members = _iso_class_members()
    assert members.size >= 3
    archs = SPACE.decode(SPACE.all_ids()[members[:3]])
    other = SPACE.format(SPACE.all_ids()[0])  # the all-none cell, its own class here
    rows = [[archs[0], 1.0], [archs[1], 2.0], [archs[2], 6.0], [other, 4.0]]
    path = _write_csv(tmp_path / "hw.csv", ["arch_str", "x_latency"], rows)
    keep = HardwareTable.read(path, iso="keep")
    assert len(keep) == 4
    np.testing.assert_array_equal(keep.values("x_latency", archs), [1.0, 2.0, 6.0])
    mean = HardwareTable.read(path, iso="mean")
    med = HardwareTable.read(path, iso="median")
    all_members = SPACE.decode(SPACE.all_ids()[members])
    np.testing.assert_allclose(mean.values("x_latency", all_members), 3.0)  # broadcast to every member
    np.testing.assert_allclose(med.values("x_latency", all_members), 2.0)
    iso0 = SPACE.iso_class(SPACE.all_ids()[[0]])[0]
    n0 = int((SPACE.iso_class(SPACE.all_ids()) == iso0).sum())
    assert len(mean) == members.size + n0
    assert mean.meta["iso_policy"] == "mean"
    with pytest.raises(NasgcnError, match="iso policy"):
        HardwareTable.read(path, iso="max")


def test_exact_duplicate_rows_rejected_under_keep(tmp_path):
    a = SPACE.format(SPACE.all_ids()[42])
    path = _write_csv(tmp_path / "dup.csv", ["arch_str", "x_latency"], [[a, 1.0], [a, 3.0]])
    with pytest.raises(LogFormatError, match=r"dup\.csv:3: .*repeats line 2"):
        HardwareTable.read(path)
    np.testing.assert_allclose(HardwareTable.read(path, iso="mean").values("x_latency", [a]), [2.0])


def test_iso_mean_ignores_nan_members(tmp_path):
    members = _iso_class_members()
    archs = SPACE.decode(SPACE.all_ids()[members[:2]])
    path = _write_csv(tmp_path / "hw.csv", ["arch_str", "x_latency"], [[archs[0], ""], [archs[1], 5.0]])
    np.testing.assert_allclose(HardwareTable.read(path, iso="mean").values("x_latency", archs), [5.0, 5.0])


# ----- output, settings columns, conflicts ---------------------------------------------
def test_csv_roundtrip_keeps_units_and_settings(tmp_path):
    archs = SPACE.decode(SPACE.all_ids()[[10, 20]])
    path = _write_csv(
        tmp_path / "m.csv",
        ["arch_str", "cpu_latency", "cpu_latency_iqr", "batch", "device", "note"],
        [[archs[0], 1.0, 0.1, 1, "cpu", "a"], [archs[1], 2.0, 0.2, 1, "cpu", "b"]],
    )
    hw = HardwareTable.read(path, units={"cpu_latency": "us", "cpu_latency_iqr": "us"})
    assert hw.metrics == ["cpu_latency", "cpu_latency_iqr"]  # settings and text are not costs
    assert hw.meta["batch"] == 1 and hw.meta["device"] == "cpu"
    hw.to_csv(tmp_path / "out.csv")
    back = HardwareTable.read(tmp_path / "out.csv")
    assert back.units == {"cpu_latency": "us", "cpu_latency_iqr": "us"}
    np.testing.assert_array_equal(back["cpu_latency"], hw["cpu_latency"])


def test_join_refuses_to_overwrite_existing_column(tmp_path):
    a = SPACE.format(SPACE.all_ids()[10])
    path = _write_csv(tmp_path / "hw.csv", ["arch_str", "flops_m", "pred", "x_latency"], [[a, 1.0, 5.0, 2.0]])
    table = LookupTable.build(np.zeros(SPACE.size))
    exact = table["flops_m"].copy()
    with pytest.raises(NasgcnError, match="'pred' is already in the lookup table"):
        table.join(HardwareTable.read(path))
    # the exact cost model's flops_m is kept unless the file's copy is asked for explicitly
    joined = table.join(HardwareTable.read(path), columns=["x_latency"])
    np.testing.assert_array_equal(joined["flops_m"], exact)
    with pytest.raises(NasgcnError, match="'flops_m' is already"):
        table.join(HardwareTable.read(path), columns=["flops_m"])
    joined = table.join(HardwareTable.read(path), columns=["flops_m"], overwrite=True)
    assert np.isnan(joined["flops_m"]).sum() == SPACE.size - 1


# ----- real reference data -----------------------------------------------------------------
def test_hwnasbench_file_reads_and_joins(reference_data):
    hw = HardwareTable.read(reference_data / "hwnasbench_nb201_cifar10.csv")
    assert len(hw) == 15625
    assert "nb201_index" not in hw.metrics
    assert hw.units["edgegpu_latency"] == "ms" and hw.units["fpga_energy"] == "mJ"
    assert int(np.isnan(hw["edgetpu_latency"]).sum()) == 4699
    row0 = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
    table = LookupTable.build(np.zeros(SPACE.size)).join(hw)
    at = int(np.flatnonzero(table["arch_str"] == row0)[0])
    assert table["edgegpu_latency"][at] == pytest.approx(5.807418537)
    assert table["pixel3_latency"][at] == pytest.approx(3.60585)
    assert table["fpga_latency"][at] == pytest.approx(2.57296)
    assert not np.isnan(table["pixel3_latency"]).any()


# ----- every space: nbmacro (enumerable) and fbnet (too large to enumerate) -------------------------
MACRO = get_space("nbmacro")
FBNET = get_space("fbnet")


def test_nbmacro_table_reads_records_space_and_joins(tmp_path):
    ids = MACRO.all_ids()
    lat = 1.0 + MACRO.index_of(ids) % 13 / 10
    order = np.random.default_rng(0).permutation(MACRO.size)[:3000]
    path = _write_csv(
        tmp_path / "m.csv",
        ["arch_str", "dev_latency"],
        [[f" {a} ", v] for a, v in zip(MACRO.decode(ids[order]), lat[order], strict=True)],
    )
    hw = HardwareTable.read(path, space="nbmacro")
    assert hw.space == "nbmacro" and hw.meta["space"] == "nbmacro" and len(hw) == 3000
    np.testing.assert_array_equal(hw.values("dev_latency", MACRO.decode(ids[order[:5]])), lat[order[:5]])
    table = LookupTable.build(np.zeros(MACRO.size), space="nbmacro").join(hw)
    found = ~np.isnan(table["dev_latency"])
    assert found.sum() == 3000
    np.testing.assert_array_equal(table["dev_latency"][found], lat[found])
    # the written table records its space; reading it back needs no --space, and a wrong one is refused
    hw.to_csv(tmp_path / "out.csv")
    back = HardwareTable.read(tmp_path / "out.csv")
    assert back.space == "nbmacro" and len(back) == 3000
    with pytest.raises(NasgcnError, match=r"out\.csv is for search space 'nbmacro', not 'fbnet'.*--space nbmacro"):
        HardwareTable.read(tmp_path / "out.csv", space="fbnet")
    with pytest.raises(NasgcnError, match="is for search space 'nbmacro' but the lookup table is for 'nb201'"):
        LookupTable.build(np.zeros(SPACE.size)).join(back)


def test_wrong_space_strings_name_line_and_the_space_they_fit(tmp_path):
    path = _write_csv(tmp_path / "m.csv", ["arch_str", "dev_latency"], [["00012220", 1.0]])
    # The Python API names the keyword; the CLI (hint_style("cli")) names the flag.
    with pytest.raises(LogFormatError, match=r"m\.csv:2: .*parses as a 'nbmacro' architecture: pass space='nbmacro'"):
        HardwareTable.read(path)  # no metadata: NB201 by default
    with hint_style("cli"), pytest.raises(LogFormatError, match=r"architecture: pass --space nbmacro \("):
        HardwareTable.read(path)
    bad = _write_csv(tmp_path / "b.csv", ["arch_str", "dev_latency"], [["00012220", 1.0], ["0001222", 2.0]])
    with pytest.raises(LogFormatError, match=r"b\.csv:3: .*expected 8 digits"):
        HardwareTable.read(bad, space="nbmacro")


def test_nbmacro_iso_mean_broadcasts_to_every_member(tmp_path):
    a, b = "11110101", "11101101"  # identities after the first layer of a stage commute
    assert MACRO.canonical(a) == MACRO.canonical(b)
    path = _write_csv(tmp_path / "m.csv", ["arch_str", "dev_latency"], [[a, 1.0], [b, 3.0]])
    mean = HardwareTable.read(path, space="nbmacro", iso="mean")
    all_ids = MACRO.all_ids()
    members = MACRO.decode(all_ids[MACRO.iso_class(all_ids) == MACRO.iso_class(MACRO.encode([a]))[0]])
    assert len(mean) == len(members) == 4  # stages 1 and 2 each have two orders
    np.testing.assert_allclose(mean.values("dev_latency", members), 2.0)


def test_fbnet_partial_table_keyed_by_string_with_class_aggregation(tmp_path):
    ids = FBNET.sample(300, 0)
    ids[:, 1:5] = [3, 8, 3, 2]
    twin = ids[:2].copy()
    twin[:, 1:5] = [3, 3, 8, 2]  # the same two classes, other members
    archs = FBNET.decode(np.concatenate([ids, twin]))
    lat = np.arange(302, dtype=float)
    path = _write_csv(
        tmp_path / "f.csv", ["arch_str", "dev_latency"], [[x, v] for x, v in zip(archs, lat, strict=True)]
    )
    keep = HardwareTable.read(path, space="fbnet")
    assert len(keep) == 302 and keep.space == "fbnet"
    np.testing.assert_array_equal(keep.values("dev_latency", archs), lat)
    assert np.isnan(keep.values("dev_latency", FBNET.decode(FBNET.sample(4, 1)))).all()
    mean = HardwareTable.read(path, space="fbnet", iso="mean")
    assert len(mean) == 300 and "canonical member" in mean.meta["iso_note"]
    got = mean.values("dev_latency", archs)  # any member of a class finds the class row
    np.testing.assert_allclose(got[:2], [(0 + 300) / 2, (1 + 301) / 2])
    np.testing.assert_allclose(got[300:], got[:2])
    np.testing.assert_allclose(got[2:300], lat[2:300])
    dup = _write_csv(
        tmp_path / "d.csv", ["arch_str", "dev_latency"], [[archs[5], 1.0], [archs[7], 1.0], [archs[5], 2.0]]
    )
    with pytest.raises(LogFormatError, match=r"d\.csv:4: .*repeats line 2"):
        HardwareTable.read(dup, space="fbnet")


def test_fbnet_lookup_of_100k_ids(tmp_path):
    """Correctness on a large probe; its speed is measured in benchmarks/, never in a timed test."""
    ids = FBNET.sample(5000, 0)
    path = _write_csv(
        tmp_path / "f.csv", ["arch_str", "dev_latency"], [[x, float(i)] for i, x in enumerate(FBNET.decode(ids))]
    )
    hw = HardwareTable.read(path, space="fbnet")
    probe = np.concatenate([FBNET.sample(95_000, 1), ids])
    hw.positions_of_ids(probe[:10])  # builds the index
    pos = hw.positions_of_ids(probe, by_class=True)
    np.testing.assert_array_equal(pos[-5000:], np.arange(5000))
    assert (pos[:95_000] == -1).mean() > 0.99
