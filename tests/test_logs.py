"""Evaluation logs: round trips, strict validation (every bad-input path), skipping, aggregation."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from predictor.errors import LogFormatError, NasgcnError
from predictor.logs import (
    META_COLUMNS,
    EvaluationLog,
    aggregate,
    read_log,
    read_logs,
    write_log,
)
from predictor.readers import MAX_SHOWN_PROBLEMS
from predictor.spaces import get_space

SPACE = get_space("nb201")
A = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
B = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
C = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
# Same cell as A written with spaces: must be stored (and grouped) as A.
A_SPACED = (
    " | nor_conv_3x3~0 |+| nor_conv_3x3~0 | avg_pool_3x3~1 |+| skip_connect~0 | nor_conv_3x3~1 | skip_connect~2 | "
)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def csv_text(*rows: str, header: str = "arch_str,acc,seed") -> str:
    return "\n".join([header, *rows]) + "\n"


# ----- round trips -----------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_write_read_round_trip_is_exact(tmp_path, suffix):
    rng = np.random.default_rng(0)
    ids = SPACE.sample(50, rng, unique=True)
    log = EvaluationLog(
        SPACE.decode(ids),
        {"acc": rng.random(50) * 100, "latency_ms": rng.random(50) / 3},
        {"seed": np.arange(50) % 3, "source": np.asarray(["run-a", "run,b"] * 25, dtype=object)},
    )
    path = tmp_path / f"log{suffix}"
    write_log(path, log)
    back = read_log(path)
    assert len(back) == 50
    assert back.columns == ["arch_str", "acc", "latency_ms", "seed", "source"]
    assert list(back.arch_str) == list(log.arch_str)
    for k in log.metrics:
        np.testing.assert_array_equal(back.metrics[k], log.metrics[k])
    assert back.meta["seed"].dtype == np.int64
    np.testing.assert_array_equal(back.meta["seed"], log.meta["seed"])
    assert list(back.meta["source"]) == list(log.meta["source"])
    assert not list(tmp_path.glob(".*"))  # the atomic writer leaves no temp file


def test_whole_space_csv_round_trip(tmp_path):
    ids = SPACE.all_ids()
    acc = np.linspace(10, 95, len(ids))
    path = tmp_path / "all.csv"
    write_log(path, EvaluationLog(SPACE.decode(ids), {"acc": acc}))
    back = read_log(path)
    assert len(back) == 15_625
    np.testing.assert_array_equal(back.ids(), ids)
    np.testing.assert_array_equal(back.metrics["acc"], acc)


def test_strings_are_normalized_unless_disabled(tmp_path):
    path = write(tmp_path / "e.csv", csv_text(f'"{A_SPACED}",90.5,1', f"{B},80,2"))
    assert list(read_log(path).arch_str) == [A, B]
    assert list(read_log(path, canonicalize=False).arch_str) == [A_SPACED, B]


def test_metadata_and_metric_columns(tmp_path):
    header = "arch_str,acc,seed,epoch,dataset,loss,note"
    path = write(
        tmp_path / "e.csv", csv_text(f"{A},90,1,200,cifar10,0.3,", f"{B},80,2,100,cifar10,0.5,hi", header=header)
    )
    log = read_log(path)
    assert list(log.metrics) == ["acc", "loss"]
    assert list(log.meta) == ["seed", "epoch", "dataset", "note"]
    assert log.meta["epoch"].tolist() == [200, 100]
    assert log.meta["dataset"].tolist() == ["cifar10", "cifar10"]
    assert log.meta["note"].tolist() == ["", "hi"]  # metadata may be empty
    assert set(log.to_frame()) == {"arch_str", "acc", "loss", "seed", "epoch", "dataset", "note"}
    assert {"source", "seed", "epoch", "dataset", "checkpoint"} <= set(META_COLUMNS)


def test_only_counter_metadata_becomes_integer(tmp_path):
    header = "arch_str,acc,checkpoint,seed,run"
    path = write(tmp_path / "e.csv", csv_text(f"{A},90,007,1,3", f"{B},80,120,2,run-b", header=header))
    log = read_log(path)
    assert log.meta["checkpoint"].tolist() == ["007", "120"]  # ids keep their leading zeros
    assert log.meta["seed"].dtype == np.int64 and log.meta["run"].tolist() == ["3", "run-b"]


def test_metrics_option_reads_only_those_columns(tmp_path):
    header = "arch_str,acc,model,lat"
    path = write(tmp_path / "e.csv", csv_text(f"{A},90,resnet-ish,3.5", f"{B},80,other,", header=header))
    with pytest.raises(LogFormatError, match="non-numeric value 'resnet-ish' in metric column 'model'"):
        read_log(path)
    log = read_log(path, metrics=["acc"])  # the text column and the missing latency are ignored
    assert list(log.metrics) == ["acc"] and log.metrics["acc"].tolist() == [90.0, 80.0]
    log = read_log(path, metrics="acc", meta_columns=["model"])
    assert log.meta["model"].tolist() == ["resnet-ish", "other"]


def test_jsonl_meta_values_and_blank_lines(tmp_path):
    text = (
        f'{{"arch_str": "{A}", "acc": 91, "seed": 0, "dataset": "c10"}}\n\n'
        f'{{"arch_str": "{B}", "acc": "80.5", "seed": null, "dataset": "c10"}}\n'
    )
    log = read_log(write(tmp_path / "e.ndjson", text))
    assert log.metrics["acc"].tolist() == [91.0, 80.5]
    assert log.meta["seed"].tolist() == ["0", ""]  # a missing seed keeps the column as text
    assert log.meta["dataset"].tolist() == ["c10", "c10"]


def test_csv_without_final_newline_and_with_bom_is_fine(tmp_path):
    path = tmp_path / "e.csv"
    path.write_bytes(("\ufeff" + csv_text(f"{A},90,1", f"{B},80,2").rstrip("\n")).encode("utf-8"))
    log = read_log(path)
    assert log.columns == ["arch_str", "acc", "seed"] and len(log) == 2


# ----- every bad-input path --------------------------------------------------------------

BAD_CSV = {
    # name: (file text, line, fragment of the message)
    "malformed": (csv_text(f"{A},90,1", "|nor_conv_3x3~0|+|none~0|,80,2"), 3, "expected 3 node groups"),
    "bad_edge": (csv_text("|nor_conv_3x3~1|+|none~0|none~1|+|none~0|none~1|none~2|,80,2"), 2, "must be written 'op~0'"),
    "unknown_op": (
        csv_text(f"{A},90,1", f"{B},91,1", A.replace("avg_pool_3x3", "conv_5x5") + ",80,2"),
        4,
        "unknown op 'conv_5x5'",
    ),
    "missing_arch": (csv_text(f"{A},90,1", ",80,2"), 3, "missing arch_str value"),
    "missing_value": (csv_text(f"{A},,1"), 2, "missing value in metric column 'acc'"),
    "non_numeric": (csv_text(f"{A},90,1", f"{B},high,2"), 3, "non-numeric value 'high' in metric column 'acc'"),
    "nan": (csv_text(f"{A},nan,1"), 2, "'nan' in metric column 'acc' is not a finite number"),
    "inf": (csv_text(f"{A},90,1", f"{B},-inf,1"), 3, "'-inf' in metric column 'acc' is not a finite number"),
    "too_many_fields": (csv_text(f"{A},90,1,7", f"{B},80,2"), 2, "expected 3 fields, found 4"),
    "too_few_fields_mid": (csv_text(f"{A},90", f"{B},80,2"), 2, "expected 3 fields, found 2"),
    "truncated_last_line": (csv_text(f"{A},90,1", f"{B},80,2") + f"{C},7", 4, "truncated last line"),
    "unterminated_quote": (csv_text(f"{A},90,1") + f'"{B},80,2\n', 3, "unreadable CSV"),
    "duplicate_header": (csv_text(f"{A},90,1", header="arch_str,acc,acc"), 1, "duplicate column name 'acc'"),
    "no_arch_column": (csv_text(f"{A},90,1", header="arch,acc,seed"), 1, "no 'arch_str' column"),
    "header_only": ("arch_str,acc\n", None, "header but no rows"),
    "empty": ("", None, "the file is empty"),
    "blank_lines_only": ("\n  \n\n", None, "the file is empty"),
}


@pytest.mark.parametrize("case", sorted(BAD_CSV))
def test_bad_csv_names_file_line_and_fix(tmp_path, case):
    text, line, fragment = BAD_CSV[case]
    path = write(tmp_path / "evals.csv", text)
    with pytest.raises(LogFormatError) as info:
        read_log(path)
    err = info.value
    assert isinstance(err, NasgcnError) and isinstance(err, ValueError)
    assert err.path == str(path) and err.line == line
    msg = str(err)
    assert fragment in msg
    assert msg.startswith(f"{path}:{line}: " if line else f"{path}: ")
    assert "(" in msg and msg.endswith(")")  # every message carries a fix
    assert "\n" not in msg


def test_unknown_op_message_lists_ops_and_skip_option(tmp_path):
    path = write(tmp_path / "evals.csv", BAD_CSV["unknown_op"][0])
    with pytest.raises(LogFormatError) as info:
        read_log(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}:4: unknown op 'conv_5x5' in '|nor_conv_3x3~0|+|nor_conv_3x3~0|conv_5x5~1|")
    assert "none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3" in msg
    assert "on_error='skip'" in msg


def test_first_problem_in_file_order_is_reported(tmp_path):
    # A bad value on line 3 is found before the bad string on line 4, whatever the checking order.
    path = write(tmp_path / "evals.csv", csv_text(f"{A},90,1", f"{B},9O,2", "|x|,80,3", f"{C},nan,4"))
    with pytest.raises(LogFormatError) as info:
        read_log(path)
    assert info.value.line == 3 and "non-numeric value '9O'" in str(info.value)


def test_requested_metric_missing(tmp_path):
    path = write(tmp_path / "evals.csv", csv_text(f"{A},90,1"))
    with pytest.raises(LogFormatError, match=r"evals.csv:1: requested metric column\(s\) 'latency' not found"):
        read_log(path, metrics=["acc", "latency"])
    with pytest.raises(NasgcnError, match="not a metric column"):
        read_log(path, metrics=["seed"])


BAD_JSONL = {
    "truncated_last_line": (f'{{"arch_str": "{A}", "acc": 90}}\n{{"arch_str": "{B}", "ac', 2, "truncated last line"),
    "invalid_mid_line": (
        f'{{"arch_str": "{A}", "acc": 90}}\n{{oops}}\n{{"arch_str": "{B}", "acc": 1}}\n',
        2,
        "invalid JSON",
    ),
    "not_object": (f'{{"arch_str": "{A}", "acc": 90}}\n[1, 2]\n', 2, "expected a JSON object, got list"),
    "unknown_op": (
        f'{{"arch_str": "{A}", "acc": 90}}\n\n{{"arch_str": "{A.replace("skip_connect", "identity")}", "acc": 1}}\n',
        3,
        "unknown op 'identity'",
    ),
    "missing_value": (
        f'{{"arch_str": "{A}", "acc": 90}}\n{{"arch_str": "{B}"}}\n',
        2,
        "missing value in metric column 'acc'",
    ),
    "null_value": (f'{{"arch_str": "{A}", "acc": null}}\n', 1, "missing value in metric column 'acc'"),
    "non_numeric": (f'{{"arch_str": "{A}", "acc": [90]}}\n', 1, "non-numeric value [90]"),
    "bool_value": (f'{{"arch_str": "{A}", "acc": true}}\n', 1, "non-numeric value True"),
    "nan": (f'{{"arch_str": "{A}", "acc": NaN}}\n', 1, "is not a finite number"),
    "arch_not_string": ('{"arch_str": 17, "acc": 1}\n', 1, "arch_str must be a string"),
    "extra_key": (
        f'{{"arch_str": "{A}", "acc": 90}}\n{{"arch_str": "{B}", "acc": 1, "lat": 2}}\n',
        2,
        "'lat' not in the first record",
    ),
    "duplicate_key": (f'{{"arch_str": "{A}", "acc": 90, "acc": 91}}\n', 1, "duplicate key 'acc'"),
    "no_arch_key": ('{"arch": "x", "acc": 90}\n', 1, "no 'arch_str' column"),
    "empty": ("\n\n", None, "the file is empty"),
}


@pytest.mark.parametrize("case", sorted(BAD_JSONL))
def test_bad_jsonl_names_file_line_and_fix(tmp_path, case):
    text, line, fragment = BAD_JSONL[case]
    path = write(tmp_path / "evals.jsonl", text)
    with pytest.raises(LogFormatError) as info:
        read_log(path)
    assert info.value.line == line
    assert fragment in str(info.value)
    assert str(info.value).startswith(f"{path}:{line}: " if line else f"{path}: ")


def test_file_level_errors(tmp_path):
    with pytest.raises(LogFormatError, match="no such file"):
        read_log(tmp_path / "missing.csv")
    with pytest.raises(LogFormatError, match="is a directory"):
        (tmp_path / "d.csv").mkdir()
        read_log(tmp_path / "d.csv")
    with pytest.raises(LogFormatError, match="unknown log format '.txt'"):
        read_log(write(tmp_path / "e.txt", csv_text(f"{A},1,1")))
    bad = tmp_path / "latin1.csv"
    bad.write_bytes(csv_text(f"{A},1,1", header="arch_str,acc,note").replace(",1\n", ",\xe9\n").encode("latin-1"))
    with pytest.raises(LogFormatError, match="not UTF-8"):
        read_log(bad)
    with pytest.raises(NasgcnError, match="on_error"):
        read_log(write(tmp_path / "ok.csv", csv_text(f"{A},1,1")), on_error="ignore")


# ----- skipping bad rows -----------------------------------------------------------------


def _skip_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "predictor.logs"]


def test_skip_logs_one_clean_line_per_bad_row_and_keeps_good_rows(tmp_path, caplog, recwarn):
    text = csv_text(f"{A},90,1", "|bad|,80,2", f"{B},nan,3", f"{C},10,4") + f"{A},5"
    path = write(tmp_path / "evals.csv", text)
    with caplog.at_level(logging.WARNING, logger="predictor.logs"):
        log = read_log(path, on_error="skip")
    assert list(log.arch_str) == [A, C] and log.metrics["acc"].tolist() == [90.0, 10.0]
    messages = _skip_lines(caplog)
    assert [m.split(": ")[0] for m in messages[:3]] == [f"{path}:3", f"{path}:4", f"{path}:6"]
    assert all(m.endswith("row skipped") for m in messages[:3])
    assert messages[3] == f"{path}: skipped 3 of 5 rows (2 kept)"
    assert len(messages) == 4 and not recwarn.list  # logging, not warnings with source paths
    assert all("\n" not in m and "logs.py" not in m for m in messages)


def test_skip_jsonl_truncated_last_line(tmp_path, caplog):
    path = write(tmp_path / "e.jsonl", f'{{"arch_str": "{A}", "acc": 90}}\n{{"arch_str": "{B}", "acc": 8')
    with caplog.at_level(logging.WARNING, logger="predictor.logs"):
        log = read_log(path, on_error="skip")
    assert list(log.arch_str) == [A]
    assert "e.jsonl:2: truncated last line" in _skip_lines(caplog)[0]


def test_skip_caps_lines_and_refuses_all_bad(tmp_path, caplog):
    rows = [f"{A},90,1"] + [f"{B},x,{i}" for i in range(MAX_SHOWN_PROBLEMS + 5)]
    path = write(tmp_path / "e.csv", csv_text(*rows))
    with caplog.at_level(logging.WARNING, logger="predictor.logs"):
        assert len(read_log(path, on_error="skip")) == 1
    messages = _skip_lines(caplog)
    assert len(messages) == MAX_SHOWN_PROBLEMS + 2
    assert messages[-2] == f"{path}: ... and 5 more bad rows skipped"
    assert messages[-1] == f"{path}: skipped {MAX_SHOWN_PROBLEMS + 5} of {MAX_SHOWN_PROBLEMS + 6} rows (1 kept)"
    path = write(tmp_path / "bad.csv", csv_text(f"{B},x,1", f"{B},,2"))
    with pytest.raises(LogFormatError, match="every row was skipped"):
        read_log(path, on_error="skip")


def test_skip_does_not_hide_file_level_errors(tmp_path):
    path = write(tmp_path / "e.csv", csv_text(f"{A},90,1", header="arch,acc,seed"))
    with pytest.raises(LogFormatError, match="no 'arch_str' column"):
        read_log(path, on_error="skip")


# ----- several files ---------------------------------------------------------------------


def test_read_logs_adds_source_and_checks_metrics(tmp_path):
    a = write(tmp_path / "a.csv", csv_text(f"{A},90,1", f"{B},80,1"))
    b = write(tmp_path / "b.jsonl", f'{{"arch_str": "{C}", "acc": 10, "source": "supernet"}}\n')
    log = read_logs([a, b])
    assert list(log.arch_str) == [A, B, C]
    assert log.meta["source"].tolist() == ["a.csv", "a.csv", "supernet"]
    assert log.meta["seed"].tolist() == ["1", "1", ""]  # absent in b: left empty
    c = write(tmp_path / "c.csv", csv_text(f"{A},90,1", header="arch_str,top1,seed"))
    with pytest.raises(NasgcnError, match="different metric columns"):
        read_logs([a, c])
    with pytest.raises(NasgcnError, match="no log files"):
        read_logs([])


# ----- aggregation -----------------------------------------------------------------------


def dup_log() -> EvaluationLog:
    return EvaluationLog(
        [A, B, A, C, A, B],
        {"acc": [90.0, 80.0, 94.0, 10.0, 92.5, 70.0], "lat": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]},
        {"dataset": np.asarray(["c10"] * 6, dtype=object), "seed": np.asarray([0, 0, 1, 0, 2, 1])},
    )


@pytest.mark.parametrize(
    "rule, acc_a, acc_b",
    [
        ("mean", 92.1666666666666, 75.0),
        ("median", 92.5, 75.0),
        ("max", 94.0, 80.0),
        ("min", 90.0, 70.0),
        ("last", 92.5, 70.0),
    ],
)
def test_aggregate_by_arch_rules(rule, acc_a, acc_b):
    agg = aggregate(dup_log(), rule=rule)
    assert list(agg.arch_str) == [A, B, C]  # order of first appearance
    assert agg.meta["count"].tolist() == [3, 2, 1]
    np.testing.assert_allclose(agg.metrics["acc"], [acc_a, acc_b, 10.0])
    assert agg.meta["dataset"].tolist() == ["c10"] * 3  # constant within groups: kept
    assert ("seed" in agg.meta) == (rule == "last")  # varies within a group: dropped unless 'last'
    if rule == "last":
        assert agg.meta["seed"].tolist() == [2, 1, 0]


def test_aggregate_median_of_even_group_and_mean_default():
    log = EvaluationLog([A, A, A, A], {"acc": [1.0, 9.0, 3.0, 4.0]})
    assert aggregate(log, rule="median").metrics["acc"].tolist() == [3.5]
    assert aggregate(log).metrics["acc"].tolist() == [4.25]


def test_aggregate_groups_whitespace_variants(tmp_path):
    path = write(tmp_path / "e.csv", csv_text(f"{A},90,1", f'"{A_SPACED}",80,2'))
    agg = aggregate(read_log(path, canonicalize=False))
    assert list(agg.arch_str) == [A] and agg.metrics["acc"].tolist() == [85.0]


def test_aggregate_by_iso_uses_class_representatives():
    # Node 1 feeds nothing that reaches the output, so its op does not matter.
    x = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
    y = "|nor_conv_1x1~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
    cls = SPACE.iso_class(SPACE.encode([x, y, A]))
    assert cls[0] == cls[1] != cls[2]
    log = EvaluationLog([x, A, y], {"acc": [60.0, 90.0, 70.0]})
    by_arch = aggregate(log, by="arch")
    assert len(by_arch) == 3
    by_iso = aggregate(log, by="iso")
    assert len(by_iso) == 2
    assert list(by_iso.arch_str) == [SPACE.canonical(x), SPACE.canonical(A)]
    assert by_iso.metrics["acc"].tolist() == [65.0, 90.0] and by_iso.meta["count"].tolist() == [2, 1]


def test_aggregate_whole_space_by_iso_gives_6466_rows():
    ids = SPACE.all_ids()
    log = EvaluationLog(SPACE.decode(ids), {"acc": SPACE.iso_class(ids).astype(float)})
    agg = aggregate(log, by="iso")
    assert len(agg) == 6466 and agg.meta["count"].sum() == 15_625
    # A class-constant metric survives every rule unchanged.
    np.testing.assert_array_equal(agg.metrics["acc"], np.arange(6466.0))
    np.testing.assert_array_equal(SPACE.iso_representative(agg.ids()), SPACE.index_of(agg.ids()))


def test_reaggregation_weights_by_count():
    agg = aggregate(dup_log())
    again = aggregate(EvaluationLog.concat([agg, agg.select([0])]))
    assert again.meta["count"].tolist() == [6, 2, 1]
    np.testing.assert_allclose(again.metrics["acc"], aggregate(dup_log()).metrics["acc"])


def test_aggregate_round_trips_count_as_metadata(tmp_path):
    agg = aggregate(dup_log())
    write_log(tmp_path / "agg.csv", agg)
    back = read_log(tmp_path / "agg.csv")
    assert "count" in back.meta and list(back.metrics) == ["acc", "lat"]


def test_aggregate_bad_options():
    with pytest.raises(NasgcnError, match="unknown aggregation rule 'mode'"):
        aggregate(dup_log(), rule="mode")
    with pytest.raises(NasgcnError, match="by must be"):
        aggregate(dup_log(), by="cell")


def test_log_container_checks_shapes():
    with pytest.raises(NasgcnError, match="shape"):
        EvaluationLog([A, B], {"acc": [1.0]})
    with pytest.raises(NasgcnError, match="unique"):
        EvaluationLog([A], {"seed": [1.0]}, {"seed": [1]})
    log = dup_log()
    assert len(log.select(log.metrics["acc"] > 85)) == 3


# ----- real data -------------------------------------------------------------------------


def test_reference_table_read_as_a_log(reference_data, ground_truth):
    path = reference_data / "nb201_cifar10_ground_truth.csv"
    log = read_log(path, metrics=["c10_test_acc", "params_mb"])
    assert len(log) == 15_625
    assert list(log.arch_str) == ground_truth["arch_str"].tolist()
    np.testing.assert_array_equal(log.metrics["c10_test_acc"], ground_truth["c10_test_acc"].to_numpy())
    # By default every numeric column is a metric: the NaN NASWOT scores of dead cells stop the read.
    first_nan = int(np.flatnonzero(ground_truth["naswot_score_v1"].isna().to_numpy())[0])
    with pytest.raises(LogFormatError, match="naswot_score_v1") as info:
        read_log(path)
    assert info.value.line == first_nan + 2  # header is line 1
    alive = read_log(path, on_error="skip")
    assert len(alive) == 15_625 - 341
    assert (alive.metrics["c10_test_acc"] > 10.0).all()
