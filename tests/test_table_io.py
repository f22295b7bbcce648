"""Lookup tables round-trip through CSV and Parquet with their metadata."""

from __future__ import annotations

import numpy as np
import pytest

from predictor.errors import NasgcnError
from predictor.lookup import LookupTable
from predictor.table import read_csv, write_csv


@pytest.fixture(scope="module")
def table() -> LookupTable:
    rng = np.random.default_rng(0)
    return LookupTable.build(rng.normal(size=15625), np.abs(rng.normal(size=15625)), meta={"target": "acc"})


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_save_load_round_trip(tmp_path, table, suffix):
    pytest.importorskip("pyarrow") if suffix == ".parquet" else None
    path = tmp_path / f"table{suffix}"
    table.save(path)
    back = LookupTable.load(path)
    assert list(back.columns) == list(table.columns)
    assert back.meta["target"] == "acc"
    assert list(back["arch_str"]) == list(table["arch_str"])
    np.testing.assert_allclose(back["pred"], table["pred"])
    np.testing.assert_array_equal(back["dead"], table["dead"])
    np.testing.assert_array_equal(back["iso_class"], table["iso_class"])
    assert not list(tmp_path.glob(".*tmp*")), "atomic write left a temporary file"


def test_csv_nan_and_types(tmp_path):
    path = tmp_path / "t.csv"
    write_csv(
        path, {"arch_str": np.array(["a", "b"], dtype=object), "x": np.array([1.5, np.nan]), "k": np.array([1, 2])}
    )
    frame, _ = read_csv(path)
    assert np.isnan(frame["x"][1]) and frame["x"][0] == 1.5
    assert frame["k"].dtype == np.int64


def test_truncated_csv_names_the_line(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("arch_str,x\na,1\nb\n")
    with pytest.raises(NasgcnError, match=r"t\.csv:3"):
        read_csv(path)


def test_load_rejects_a_table_without_arch_str(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("x\n1\n")
    with pytest.raises(NasgcnError, match="arch_str"):
        LookupTable.load(path)
