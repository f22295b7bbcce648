"""Time and memory until the error, for every table reader, on a junk file (issue 17, "bounded memory").

Generates a junk text file (``--mb``, default 200 MB: random letters, commas and ``|~+`` in 30-character
lines under an ``arch_str,acc`` header), then times each reader until its ``file:line`` error and records
the peak Python allocation (tracemalloc). The baseline, measured in the same run, is one pass over the
file's lines (``for line in open(f)``): the least any reader that reads to the end must spend.

Measured on the 2-core reference machine (heavily loaded by other jobs), ``--mb 200`` (205 MB)::

    reader                       seconds  peak MiB  x baseline   error
    baseline: scan every line    15.5235       0.0      1.0000   -
    read_log                      0.3907       6.2      0.0252   junk.csv:2: malformed NB201 architecture ...
    read_log on_error=skip        0.0066       0.1      0.0004   junk.csv:22: stopped reading: 21 bad rows ...
    LookupTable.load              0.0008       0.0      0.0001   junk.csv:2: malformed NB201 architecture ...
    HardwareTable.read            0.0007       0.0      0.0000   junk.csv:2: malformed NB201 architecture ...
    read_csv (plain table)        0.0003       0.0      0.0000   junk.csv:3: expected 2 fields, found 3 ...

(read_log's 0.39 s and 6 MiB are the one-off index of NB201's 15,625 canonical strings.)

Before (issue 17): 76 s and 5.1 GB for the same kind of file. Run:
``OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/junk_reading.py --mb 200``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np


def make_junk(path: Path, mb: int) -> int:
    rng = np.random.default_rng(0)
    letters = np.frombuffer(b"abcdefghij,;|~+ 0123456789", dtype=np.uint8)
    rows_per_chunk = 330_000  # ~10 MB
    with open(path, "wb") as fh:
        fh.write(b"arch_str,acc\n")
        while fh.tell() < mb * 1_000_000:
            body = letters[rng.integers(0, letters.size, size=(rows_per_chunk, 30))]
            fh.write(b"\n".join(bytes(r) for r in body) + b"\n")
    return path.stat().st_size


def measure(fn, path: Path) -> tuple[float, float, str]:
    tracemalloc.start()
    t = time.perf_counter()
    msg = "-"
    try:
        fn(path)
    except Exception as err:  # noqa: BLE001 - the error is what we measure
        msg = str(err).replace(str(path.parent) + "/", "")
    dt = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return dt, peak, msg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=200, help="size of the junk file in MB (default 200)")
    args = ap.parse_args()

    from predictor.hardware import HardwareTable
    from predictor.logs import read_log
    from predictor.lookup import LookupTable
    from predictor.table import read_csv

    def scan(p: Path) -> None:
        with open(p, encoding="utf-8") as fh:
            for _ in fh:
                pass

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "junk.csv"
        size = make_junk(path, args.mb)
        print(f"junk file: {size / 1e6:.0f} MB")
        base, _, _ = measure(scan, path)
        print(f"{'reader':26s} {'seconds':>9s} {'peak MiB':>9s} {'x baseline':>11s}   error")
        print(f"{'baseline: scan every line':26s} {base:9.4f} {0.0:9.1f} {1.0:11.4f}   -")
        for name, fn in (
            ("read_log", read_log),
            ("read_log on_error=skip", lambda p: read_log(p, on_error="skip")),
            ("LookupTable.load", LookupTable.load),
            ("HardwareTable.read", HardwareTable.read),
            ("read_csv (plain table)", read_csv),
        ):
            dt, peak, msg = measure(fn, path)
            print(f"{name:26s} {dt:9.4f} {peak:9.1f} {dt / base:11.4f}   {msg[:60]}")


if __name__ == "__main__":
    main()
