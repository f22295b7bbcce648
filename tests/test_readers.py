"""One reading layer: every table reader meets binary files, BOMs, blank lines, empty tables, junk,
duplicates, unknown ops and out-of-range numbers the same way, and every writer refuses what the
readers would refuse. Fix hints name ``--flags`` on the CLI and keywords in Python."""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import pytest

from predictor import readers
from predictor.cli.main import main
from predictor.errors import LogFormatError, NasgcnError
from predictor.hardware import HardwareTable
from predictor.latency_model import read_measured
from predictor.logs import EvaluationLog, read_log, write_log
from predictor.lookup import LookupTable
from predictor.readers import MAX_BAD_ROWS, MAX_LINE_CHARS, hint_style, metric_range, option
from predictor.spaces import get_space
from predictor.table import read_csv, read_keyed, write_csv, write_parquet

SPACE = get_space("nb201")
A, B, C = SPACE.decode(SPACE.all_ids()[[10, 20, 30]])
LOOKUP_HEADER = "arch_str,iso_class,pred,pred_std,params_m,flops_m"


def _lookup_row(arch: str, pred: str = "90.0") -> str:
    return f"{arch},0,{pred},0.5,1.0,10.0"


# Each reader, called on a CSV path; all must fail or succeed alike.
READERS = {
    "log": lambda p: read_log(p),
    "lookup": lambda p: LookupTable.load(p),
    "hardware": lambda p: HardwareTable.read(p),
    "table": lambda p: read_csv(p),
}
GOOD = {
    "log": f"arch_str,acc\n{A},90.5\n{B},80.0\n",
    "lookup": f"{LOOKUP_HEADER}\n{_lookup_row(A)}\n{_lookup_row(B)}\n",
    "hardware": f"arch_str,dev_latency\n{A},1.5\n{B},2.5\n",
    "table": f"arch_str,x\n{A},1.5\n{B},2.5\n",
}


def _rows(kind: str, obj) -> int:
    if isinstance(obj, tuple):
        return len(obj[0]["arch_str"])
    return len(obj)


# ----- text-level problems, the same for every reader -------------------------------------------------


@pytest.mark.parametrize("kind", sorted(READERS))
def test_binary_file_names_the_file_not_unicode_decode_error(tmp_path, kind):
    path = tmp_path / "t.csv"
    path.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(LogFormatError, match=rf"{path}: a binary file, not text"):
        READERS[kind](path)
    # No NUL bytes but not UTF-8 either: the file and (about) the line are named.
    path.write_bytes(GOOD[kind].encode() + b"\xff\xfe\xe9junk\n")
    with pytest.raises(LogFormatError, match=rf"{path}:\d+: not UTF-8 text"):
        READERS[kind](path)


@pytest.mark.parametrize("kind", sorted(READERS))
def test_bom_and_trailing_blank_lines_are_fine(tmp_path, kind):
    path = tmp_path / "t.csv"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD[kind].encode() + b"\n\n  \n\r\n")
    assert _rows(kind, READERS[kind](path)) == 2  # the arch_str column is found behind the BOM


@pytest.mark.parametrize("kind", ["log", "lookup", "hardware"])
def test_header_only_table_says_no_rows(tmp_path, kind):
    path = tmp_path / "t.csv"
    path.write_text(GOOD[kind].splitlines()[0] + "\n\n")
    with pytest.raises(LogFormatError, match="header but no rows"):
        READERS[kind](path)


def test_header_only_lookup_table_fails_query_clearly(tmp_path, capsys):
    path = tmp_path / "t.csv"
    path.write_text(LOOKUP_HEADER + "\n")
    assert len(LookupTable.read_csv(path, allow_empty=True)) == 0  # "no candidates" is an answer there
    assert main(["query", str(path), "--top", "3"]) == 1
    err = capsys.readouterr().err
    assert "header but no rows" in err and "satisfies" not in err


@pytest.mark.parametrize("kind", sorted(READERS))
def test_missing_file_is_a_clear_error_and_a_file_not_found_error(tmp_path, kind):
    with pytest.raises(FileNotFoundError, match="no such file"):
        READERS[kind](tmp_path / "nope.csv")


# ----- bounded time and memory on junk ----------------------------------------------------------------


@pytest.fixture
def line_counter(monkeypatch):
    """Counts the lines the reading layer pulls from disk."""
    count = {"lines": 0}
    original = readers.TextFile.lines

    def counting(self):
        for line in original(self):
            count["lines"] += 1
            yield line

    monkeypatch.setattr(readers.TextFile, "lines", counting)
    return count


def _junk(path, n_lines: int = 200_000) -> int:
    rng = np.random.default_rng(0)
    letters = np.frombuffer(b"abcdefghij,;|~+ 0123456789", dtype=np.uint8)
    body = letters[rng.integers(0, letters.size, size=(n_lines, 30))]
    text = b"arch_str,acc\n" + b"\n".join(bytes(r) for r in body) + b"\n"
    path.write_bytes(text)
    return len(text)


@pytest.mark.parametrize("kind", sorted(READERS))
def test_junk_file_errors_at_the_first_bad_lines(tmp_path, kind, line_counter):
    path = tmp_path / "junk.csv"
    size = _junk(path)
    assert size > 5_000_000
    with pytest.raises(LogFormatError, match=rf"{path}:[23]: "):
        READERS[kind](path)
    assert line_counter["lines"] <= 4  # stopped at the first bad lines, the file was not read


def test_junk_log_with_skip_stops_once_bad_rows_dominate(tmp_path, line_counter):
    path = tmp_path / "junk.csv"
    _junk(path)
    with pytest.raises(LogFormatError, match="stopped reading: 21 bad rows and only 0 good"):
        read_log(path, on_error="skip")
    assert line_counter["lines"] <= MAX_BAD_ROWS + 3


def test_a_file_without_newlines_stops_after_one_long_line(tmp_path):
    path = tmp_path / "one.csv"
    path.write_bytes(b"x" * (3 * MAX_LINE_CHARS))
    for reader in READERS.values():
        with pytest.raises(LogFormatError, match=r"one\.csv:1: a line longer than"):
            reader(path)


# ----- schema: duplicates, unknown ops, ranges ---------------------------------------------------------


def test_lookup_table_refuses_duplicates_and_unknown_ops_with_lines(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("\n".join([LOOKUP_HEADER, _lookup_row(A), _lookup_row(B), _lookup_row(A)]) + "\n")
    with pytest.raises(LogFormatError, match=r"t\.csv:4: architecture .* repeats line 2"):
        LookupTable.load(path)
    bad = "|conv_9x9~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    path.write_text("\n".join([LOOKUP_HEADER, _lookup_row(A), _lookup_row(bad)]) + "\n")
    with pytest.raises(LogFormatError, match=r"t\.csv:3: .*unknown op"):
        LookupTable.read_csv(path)


def test_lookup_table_spelling_variants_are_duplicates_too(tmp_path):
    path = tmp_path / "t.csv"
    spaced = " " + A.replace("|", " | ") + " "
    path.write_text("\n".join([LOOKUP_HEADER, _lookup_row(A), _lookup_row(f'"{spaced}"')]) + "\n")
    with pytest.raises(LogFormatError, match=r"t\.csv:3: .*repeats line 2"):
        read_keyed(path)


def test_hardware_duplicates_follow_the_iso_policy(tmp_path):
    path = tmp_path / "hw.csv"
    path.write_text(f"arch_str,dev_latency\n{A},1.0\n{B},2.0\n{A},3.0\n")
    with pytest.raises(LogFormatError, match=r"hw\.csv:4: architecture .* repeats line 2 .*pass iso='mean'"):
        HardwareTable.read(path)
    assert len(HardwareTable.read(path, iso="mean")) > 0  # the documented way to aggregate repeats


@pytest.mark.parametrize("value", ["1e308", "inf", "-inf", "nan", "101", "-0.5"])
def test_log_labels_out_of_range_are_refused(tmp_path, value):
    path = tmp_path / "e.csv"
    path.write_text(f"arch_str,acc\n{A},90\n{B},{value}\n")
    with pytest.raises(LogFormatError, match=r"e\.csv:3: .*'acc'"):
        read_log(path)


def test_1e308_in_any_metric_is_refused_and_ranges_are_declared_once(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text(f"arch_str,score\n{A},-5\n{B},1e308\n")
    with pytest.raises(LogFormatError, match=r"e\.csv:3: 1e\+308 in column 'score' is outside"):
        read_log(path)
    assert metric_range("c10_test_acc").high == 100 and metric_range("supernet_loss").low == 0
    assert metric_range("pixel3_latency").low == 0 and metric_range("naswot_score").low < 0


@pytest.mark.parametrize(("value", "match"), [("1e308", "outside"), ("inf", "infinite"), ("-3", "negative cost")])
def test_hardware_and_latency_costs_out_of_range_are_refused(tmp_path, value, match):
    path = tmp_path / "hw.csv"
    path.write_text(f"arch_str,dev_latency\n{A},1.0\n{B},{value}\n")
    with pytest.raises(LogFormatError, match=rf"hw\.csv:3: .*{match}"):
        HardwareTable.read(path)
    m = tmp_path / "m.csv"
    m.write_text(f"arch_ids,dev_latency_ms\n{'0' * 22},1.0\n{'1' * 22},{value}\n")
    with pytest.raises(NasgcnError, match=r"m\.csv:3: "):
        read_measured(m, "fbnet")


def test_hardware_nan_still_means_cannot_run(tmp_path):
    path = tmp_path / "hw.csv"
    path.write_text(f"arch_str,dev_latency\n{A},1.0\n{B},\n{C},nan\n")
    assert np.isnan(HardwareTable.read(path)["dev_latency"]).sum() == 2


def test_lookup_table_values_are_checked(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("\n".join([LOOKUP_HEADER, _lookup_row(A), _lookup_row(B, "1e308")]) + "\n")
    with pytest.raises(LogFormatError, match=r"t\.csv:3: .*'pred'"):
        LookupTable.load(path)
    path.write_text("\n".join([LOOKUP_HEADER, _lookup_row(A), _lookup_row(B, "-inf")]) + "\n")
    with pytest.raises(LogFormatError, match=r"t\.csv:3: infinite"):
        LookupTable.load(path)


# ----- writers refuse what readers refuse ----------------------------------------------------------


def test_write_csv_refuses_inf_and_keeps_nan_as_missing(tmp_path):
    frame = {"arch_str": np.array([A, B], dtype=object), "dev_latency": np.array([1.0, np.inf])}
    with pytest.raises(LogFormatError, match="refusing to write row 2: infinite"):
        write_csv(tmp_path / "t.csv", frame)
    assert not (tmp_path / "t.csv").exists()
    frame["dev_latency"] = np.array([1.0, np.nan])
    write_csv(tmp_path / "t.csv", frame)
    assert (tmp_path / "t.csv").read_bytes().endswith(b",\n")  # NaN = empty cell; lines end with \n
    back, _ = read_csv(tmp_path / "t.csv")
    assert np.isnan(back["dev_latency"][1]) and back["dev_latency"][0] == 1.0


def test_write_parquet_refuses_inf(tmp_path):
    pytest.importorskip("pyarrow")
    frame = {"arch_str": np.array([A], dtype=object), "x": np.array([-np.inf])}
    with pytest.raises(LogFormatError, match="infinite"):
        write_parquet(tmp_path / "t.parquet", frame)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_write_log_refuses_non_finite_and_out_of_range(tmp_path, suffix):
    for bad in (np.nan, np.inf, 1e308, 150.0):
        log = EvaluationLog(np.array([A, B], dtype=object), {"acc": np.array([90.0, bad])})
        with pytest.raises(LogFormatError, match="refusing to write row 2"):
            write_log(tmp_path / f"e{suffix}", log)
    log = EvaluationLog(np.array([A, B], dtype=object), {"acc": np.array([90.0, 12.5])})
    write_log(tmp_path / f"e{suffix}", log)
    assert read_log(tmp_path / f"e{suffix}").metrics["acc"].tolist() == [90.0, 12.5]


# ----- hints and messages: --flags on the CLI, keywords in Python ------------------------------------


def test_option_spelling_follows_the_hint_style():
    assert option("on_error", "skip") == "on_error='skip'"
    with hint_style("cli"):
        assert option("on_error", "skip") == "--on-error skip"
    assert option("on_error", "skip") == "on_error='skip'"  # restored after the block


def test_python_api_hint_names_the_keyword(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text(f"arch_str,acc\n{A},90\n|bad|,80\n")
    with pytest.raises(LogFormatError, match=r"e\.csv:3: .*on_error='skip'") as info:
        read_log(path)
    assert "--on-error" not in str(info.value)


def test_cli_hint_names_the_flag_and_skipped_rows_are_clean_log_lines(tmp_path, capsys, recwarn):
    hw = tmp_path / "hw.csv"
    hw.write_text(f"arch_str,dev_latency\n{A},1.0\n{A},2.0\n")
    table = tmp_path / "t.csv"
    LookupTable.build(np.zeros(SPACE.size)).to_csv(table)
    assert main(["query", str(table), "--hardware", str(hw)]) == 1
    err = capsys.readouterr().err
    assert "pass --iso mean" in err and "iso='mean'" not in err
    # A bad log read through the package while the CLI hint style is on
    log = tmp_path / "e.csv"
    log.write_text(f"arch_str,acc\n{A},90\n" + "".join(f"|bad{i}|,1\n" for i in range(12)) + f"{B},50\n")
    logger = logging.getLogger("predictor.logs")
    with hint_style("cli"):
        with pytest.raises(LogFormatError, match=r"pass --on-error skip\)"):
            read_log(log)
        records: list[logging.LogRecord] = []
        handler = logging.Handler()
        handler.emit = records.append  # type: ignore[method-assign]
        logger.addHandler(handler)
        try:
            assert len(read_log(log, on_error="skip")) == 2
        finally:
            logger.removeHandler(handler)
    lines = [r.getMessage() for r in records]
    assert len(lines) == 10 + 2  # ten problems, "... and 2 more", the summary
    assert lines[-2].endswith("... and 2 more bad rows skipped")
    assert lines[-1] == f"{log}: skipped 12 of 14 rows (2 kept)"
    assert not [w for w in recwarn.list if "row skipped" in str(w.message)]


def test_fit_refuses_a_1e308_label_on_the_cli(tmp_path, capsys):
    log = tmp_path / "e.csv"
    rows = [f"{a},{50 + i}" for i, a in enumerate(SPACE.decode(SPACE.all_ids()[:8]))]
    rows[3] = rows[3].rsplit(",", 1)[0] + ",1e308"
    log.write_text("arch_str,acc\n" + "\n".join(rows) + "\n")
    rc = main(["fit", str(log), "--target", "acc", "--out", str(tmp_path / "m.pt"), "--threads", "1"])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert f"{log}:5: 1e+308 in column 'acc' is outside [0, 100]" in err and "--on-error skip" in err
    assert not (tmp_path / "m.pt").exists()


def test_sidecar_json_problems_name_the_sidecar(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(GOOD["table"])
    (tmp_path / "t.csv.meta.json").write_text("{not json")
    with pytest.raises(LogFormatError, match=r"t\.csv\.meta\.json:1: invalid JSON"):
        read_csv(path)
    (tmp_path / "t.csv.meta.json").write_text(json.dumps([1, 2, 3]))
    with pytest.raises(LogFormatError, match="expected a JSON object"):
        read_csv(path)
    os.remove(tmp_path / "t.csv.meta.json")
    assert read_csv(path)[1] == {}


def test_arch_lists_use_the_same_reader(tmp_path):
    from supernet.evaluate import read_arch_list

    path = tmp_path / "archs.csv"
    path.write_bytes(b"\xef\xbb\xbfarch_str,note\n" + f"{A},x\n\n{B},y\n\n".encode())
    np.testing.assert_array_equal(read_arch_list(path), SPACE.encode([A, B]))
    txt = tmp_path / "archs.txt"
    txt.write_text(f"# picks\n{A}\n\n{B}\n|bad~0|+|none~0|none~1|+|none~0|none~1|none~2|\n")
    with pytest.raises(NasgcnError, match=r"archs\.txt:5: "):
        read_arch_list(txt)
    txt.write_bytes(b"\x00\x01" * 100)
    with pytest.raises(LogFormatError, match="binary file"):
        read_arch_list(txt)
    txt.write_text("# nothing\n\n")
    with pytest.raises(LogFormatError, match="no architectures found"):
        read_arch_list(txt)


def test_supernet_eval_log_writer_refuses_what_read_log_refuses(tmp_path):
    from supernet.evaluate import EvalResult, write_eval_log

    ids = SPACE.all_ids()[:2]
    for acc, loss in (([50.0, np.nan], [1.0, 1.0]), ([50.0, 60.0], [1.0, np.inf]), ([50.0, 1e308], [1.0, 1.0])):
        res = EvalResult(ids, np.asarray(acc), np.asarray(loss), {})
        with pytest.raises(LogFormatError, match="refusing to write row 2"):
            write_eval_log(tmp_path / "e.csv", res, {})
        assert not (tmp_path / "e.csv").exists()
    write_eval_log(tmp_path / "e.csv", EvalResult(ids, np.asarray([50.0, 60.0]), np.asarray([1.0, 2.0]), {}), {})
    assert read_log(tmp_path / "e.csv").metrics["supernet_acc"].tolist() == [50.0, 60.0]
