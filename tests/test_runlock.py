"""Run folders have one writer: a second process into the same ``--out`` fails fast, naming the first."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from predictor.cli.main import main
from supernet.runlock import LOCK_NAME, RunFolderBusy, RunLock

HOLD = """
import sys
from supernet.runlock import RunLock
with RunLock(sys.argv[1], "holder test"):
    print("locked", flush=True)
    sys.stdin.read()  # hold until the test closes our stdin
"""


@pytest.fixture
def holder(tmp_path):
    """Start another process that holds a lock on a folder; yields (folder, process)."""
    procs = []

    def start(folder: Path) -> subprocess.Popen:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        p = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(folder)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        procs.append(p)
        assert p.stdout.readline().strip() == "locked"
        return p

    yield start
    for p in procs:
        p.stdin.close()
        p.wait(timeout=30)


def test_second_process_fails_fast_naming_the_holder(tmp_path, holder):
    folder = tmp_path / "run"
    p = holder(folder)
    t0 = time.perf_counter()
    with pytest.raises(RunFolderBusy) as err:
        RunLock(folder, "second").acquire()
    assert time.perf_counter() - t0 < 20.0  # fails instead of waiting (a blocking lock would hang forever)
    msg = str(err.value)
    assert f"pid {p.pid} on host {socket.gethostname()}" in msg and "started 20" in msg and "(holder test)" in msg
    assert "pick another --out" in msg
    p.stdin.close()
    p.wait(timeout=30)
    with RunLock(folder, "third") as lock:  # released at exit: the folder is free again
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()
    assert not (folder / LOCK_NAME).exists()  # nothing left behind


def test_stale_lock_of_a_dead_process_is_taken_over_with_a_log_line(tmp_path, caplog):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    folder = tmp_path / "run"
    folder.mkdir()
    info = {"pid": dead.pid, "host": socket.gethostname(), "started": time.time() - 60, "command": "killed run"}
    (folder / LOCK_NAME).write_text(json.dumps(info))
    with caplog.at_level(logging.WARNING, logger="supernet.runlock"):
        with RunLock(folder, "new") as lock:
            assert json.loads(lock.path.read_text())["pid"] == os.getpid()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "stale lock" in lines[0] and f"pid {dead.pid}" in lines[0] and "killed run" in lines[0]


def test_lock_is_reentrant_in_one_process_and_released_by_the_outermost(tmp_path):
    folder = tmp_path / "run"
    with RunLock(folder, "outer"):
        with RunLock(folder, "inner"):
            pass
        assert (folder / LOCK_NAME).exists()  # still held by the outer one
    assert not (folder / LOCK_NAME).exists()
    with RunLock(tmp_path / "off", enabled=False):  # the non-zero ranks of a data-parallel run
        assert not (tmp_path / "off").exists()


def test_lock_on_a_file_is_one_clear_error(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(Exception, match="not a folder"):
        RunLock(f).acquire()


def test_supernet_train_into_a_busy_folder_fails_before_training(tmp_path, holder, capsys):
    pytest.importorskip("torch")
    run = tmp_path / "run"
    p = holder(run)
    args = ["supernet", "train", "--dataset", "digits", "--channels", "4", "--cells", "1", "--epochs", "1"]
    args += ["--batch-size", "32", "--limit-train-batches", "2", "--threads", "1", "--no-progress", "--out", str(run)]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert f"pid {p.pid}" in err and "run folder in use" in err and "Traceback" not in err
    assert sorted(x.name for x in run.iterdir()) == [LOCK_NAME]  # the second trainer wrote nothing


def test_nasgcn_run_into_a_busy_folder_fails_before_any_stage(tmp_path, holder):
    from supernet.pipeline import STAGES, Pipeline, parse_config

    out = tmp_path / "out"
    p = holder(out)
    calls = []
    fns = {s: (lambda ctx, _s=s: calls.append(_s) or {}) for s in STAGES}
    with pytest.raises(RunFolderBusy, match=f"pid {p.pid}"):
        Pipeline(parse_config({}), out, stage_fns=fns, log=lambda m: None).run()
    assert calls == [] and sorted(x.name for x in out.iterdir()) == [LOCK_NAME]
    p.stdin.close()
    p.wait(timeout=30)
    Pipeline(parse_config({}), out, stage_fns=fns, log=lambda m: None).run()
    assert calls == list(STAGES) and not (out / LOCK_NAME).exists()
