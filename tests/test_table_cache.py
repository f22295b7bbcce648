"""The binary cache of checked tables (predictor.table_cache): a hit equals a fresh read, any change misses."""

from __future__ import annotations

import numpy as np
import pytest

from predictor import table, table_cache
from predictor.cli.main import main
from predictor.errors import LogFormatError, NasgcnError
from predictor.lookup import LookupTable
from predictor.spaces import get_space

SPACE = get_space("nb201")


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("NASGCN_CACHE_DIR", str(folder))
    monkeypatch.delenv("NASGCN_NO_CACHE", raising=False)
    return folder


def _frame(n: int = 300) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    ids = SPACE.all_ids()[rng.permutation(SPACE.size)[:n]]
    return {
        "arch_str": np.asarray(SPACE.decode(ids), dtype=object),
        "pred": rng.uniform(80, 94, n),
        "count": rng.integers(0, 9, n),
        "flag": rng.random(n) < 0.5,
        "note": np.asarray([f'row, {i}\n"quoted"' for i in range(n)], dtype=object),  # needs CSV quoting
        "lat": np.where(rng.random(n) < 0.2, np.nan, rng.uniform(1, 5, n)),
    }


def _write(path, frame, meta=None) -> None:
    table.write_csv(path, frame, {"space": "nb201", **(meta or {})})


def _never_parsed(monkeypatch) -> None:
    def boom(*args, **kwargs):
        raise AssertionError("the CSV was parsed although it is cached")

    monkeypatch.setattr(table, "_read_csv_lines", boom)


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert list(a) == list(b)
    for name in a:
        assert a[name].dtype == b[name].dtype, name
        if a[name].dtype.kind == "f":
            np.testing.assert_array_equal(a[name], b[name])
        else:
            assert a[name].tolist() == b[name].tolist(), name


def test_a_hit_equals_a_fresh_read_and_skips_parsing(tmp_path, cache, monkeypatch):
    path = tmp_path / "t.csv"
    _write(path, _frame(), {"units": {"lat": "ms"}})
    fresh, meta = table.read_keyed(path)
    assert len(list(cache.glob("*.tbl"))) == 1
    _never_parsed(monkeypatch)
    hit, meta2 = table.read_keyed(path)
    _same(fresh, hit)
    assert meta2 == meta and meta["units"] == {"lat": "ms"}
    hit["pred"][0] = -1.0  # a hit hands out writable arrays of its own
    again, _ = table.read_keyed(path)
    assert again["pred"][0] == fresh["pred"][0]


def test_an_edited_file_is_read_and_checked_again(tmp_path, cache):
    path = tmp_path / "t.csv"
    frame = _frame()
    _write(path, frame)
    table.read_keyed(path)
    frame["pred"] = frame["pred"] + 1.0
    _write(path, frame)
    assert table.read_keyed(path)[0]["pred"][0] == pytest.approx(frame["pred"][0])
    frame["arch_str"][1] = frame["arch_str"][0]  # a duplicate: the old cache entry must not hide it
    _write(path, frame)
    with pytest.raises(LogFormatError, match=r"t\.csv:4: architecture .* repeats line 2"):
        table.read_keyed(path)


def test_the_sidecar_is_still_checked_on_a_hit(tmp_path, cache):
    path = tmp_path / "t.csv"
    _write(path, _frame())
    table.read_keyed(path)
    text = path.read_text()
    path.write_text(text.replace("true", "TRUE", 1))  # same size, other content, sidecar not rewritten
    with pytest.raises(NasgcnError, match="same size, different content"):
        table.read_keyed(path)


def test_the_space_is_part_of_the_key(tmp_path, cache):
    path = tmp_path / "t.csv"
    _write(path, _frame())
    table.read_keyed(path, space="nb201")
    with pytest.raises(LogFormatError, match="t.csv:2"):
        table.read_keyed(path, space="nbmacro")


@pytest.mark.parametrize("damage", ["garbage", "truncate", "other-key"])
def test_a_damaged_cache_file_is_ignored_and_replaced(tmp_path, cache, damage):
    path = tmp_path / "t.csv"
    _write(path, _frame())
    fresh, _ = table.read_keyed(path)
    (entry,) = cache.glob("*.tbl")
    blob = entry.read_bytes()
    if damage == "garbage":
        entry.write_bytes(b"\x00junk" * 100)
    elif damage == "truncate":
        entry.write_bytes(blob[:-100])
    else:  # a valid file of another table under this table's name
        other = tmp_path / "o.csv"
        _write(other, _frame(50))
        table.read_keyed(other)
        entry.write_bytes(next(p for p in cache.glob("*.tbl") if p != entry).read_bytes())
    again, _ = table.read_keyed(path)
    _same(fresh, again)
    assert entry.read_bytes() == blob


def test_no_cache_and_clear(tmp_path, cache, monkeypatch):
    path = tmp_path / "t.csv"
    _write(path, _frame())
    monkeypatch.setenv("NASGCN_NO_CACHE", "1")
    table.read_keyed(path)
    assert not cache.exists() and table_cache.clear() == 0
    monkeypatch.delenv("NASGCN_NO_CACHE")
    table.read_keyed(path)
    assert table_cache.clear() == 1 and not list(cache.glob("*.tbl"))


def test_old_entries_are_pruned(tmp_path, cache, monkeypatch):
    monkeypatch.setattr(table_cache, "MAX_ENTRIES", 2)
    for i in range(4):
        path = tmp_path / f"t{i}.csv"
        _write(path, _frame(20 + i))
        table.read_keyed(path)
    assert len(list(cache.glob("*.tbl"))) == 2


def test_an_unwritable_cache_is_skipped(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("NASGCN_CACHE_DIR", str(blocker / "cache"))
    path = tmp_path / "t.csv"
    _write(path, _frame())
    assert len(table.read_keyed(path)[0]["arch_str"]) == 300


def test_table_primes_the_cache_and_query_answers_alike(tmp_path, cache, capsys, monkeypatch):
    from predictor.cli.predictor_cmd import _prime_cache

    rng = np.random.default_rng(3)
    path = tmp_path / "full.csv"
    LookupTable.build(rng.normal(90, 2, SPACE.size), np.full(SPACE.size, 0.25)).to_csv(path)
    _prime_cache(str(path))
    assert len(list(cache.glob("*.tbl"))) == 1
    argv = ["query", str(path), "--max", "flops_m=100", "--top", "7", "--json"]
    assert main(argv) == 0
    cached = capsys.readouterr().out
    monkeypatch.setenv("NASGCN_NO_CACHE", "1")
    assert main(argv) == 0
    assert capsys.readouterr().out == cached


def _hardware_csv(path, n: int = 400) -> None:
    rng = np.random.default_rng(2)
    idx = rng.permutation(SPACE.size)[:n]
    with open(path, "w") as fh:
        fh.write("arch_str,dev_latency,dev_energy\n")
        for i, a in zip(idx, SPACE.decode(SPACE.all_ids()[idx]), strict=True):
            fh.write(f"{a},{1 + i % 7 / 3:.4f},{'' if i % 5 == 0 else 2 + i % 3}\n")


def test_hardware_tables_are_cached_per_file_and_options(tmp_path, cache, monkeypatch):
    import json

    from predictor import hardware
    from predictor.hardware import HardwareTable

    path = tmp_path / "hw.csv"
    _hardware_csv(path)
    fresh = HardwareTable.read(path)
    assert len(list(cache.glob("*.tbl"))) == 1

    def boom(*args, **kwargs):
        raise AssertionError("parsed although cached")

    monkeypatch.setattr(hardware, "_read_records", boom)
    hit = HardwareTable.read(path)
    _same(fresh.columns, hit.columns)
    assert (hit.units, hit.meta, hit.space) == (fresh.units, fresh.meta, fresh.space)
    monkeypatch.undo()
    monkeypatch.setenv("NASGCN_CACHE_DIR", str(cache))
    mean = HardwareTable.read(path, iso="mean")  # other options: another entry
    assert len(mean) > len(fresh) and len(list(cache.glob("*.tbl"))) == 2  # every member of a measured class
    (tmp_path / "hw.csv.meta.json").write_text(json.dumps({"units": {"dev_energy": "mJ"}}))
    assert HardwareTable.read(path).units["dev_energy"] == "mJ"  # the sidecar is part of the key
