"""Whole-command wall time of the CLI (process start to output written), as ratios to ``import torch``.

Why: a user meets start-up before anything else; ``nasgcn table`` once took 14.5 s for a 0.08 s
prediction, almost all of it imports. Each command runs end to end in a fresh process, ``--repeat``
times (median reported), interleaved with the baseline ``python -c "import torch"`` measured in the
same run, so a loaded machine slows both alike. Targets (issue 17): ``table`` <= 1.5x the baseline,
``query`` <= 0.1x. Setup (not timed): a 1-epoch, 2-member NB201 model on 40 synthetic labels and its
table. Runs with one thread (``OMP_NUM_THREADS=1``)::

    .venv/bin/python benchmarks/cli_startup.py [--repeat 5] [--baseline-tree DIR]

Measured on the 2-core VM, median of 5 after a warm-up, ``--baseline-tree`` = an export of 6e4a4e6
(the commit before issue 17's work: ``git archive 6e4a4e6 predictor supernet | tar -x -C /tmp/base``),
the machine otherwise quiet (wall ~ CPU)::

    command         wall s  x torch  CPU s  x torch  target
    import torch      2.98     1.00   2.87     1.00
    query (base)      0.33     0.11   0.30     0.11
    table (base)      6.38     2.14   6.19     2.16

``table``: 2.14x -> 1.12x of ``import torch``, from dropping scikit-learn's import (scipy.stats
and pandas came with it; :mod:`predictor.estimator`), importing numba lazily and running one-shot
commands on the torch ops (:mod:`predictor.kernels`), and importing only the command's own module
(:mod:`predictor.cli.main`). What is left is torch itself (the weights are a torch file and the
compact forward pass uses torch ops). ``query`` imports no torch, scikit-learn, numba, pandas or
pyarrow (tested).

Then the table cache (:mod:`predictor.table_cache`: a checked table kept in a binary file keyed by
its sha256; ``nasgcn table`` primes it, ``--hardware`` files are cached on first read). Same
protocol, ``--baseline-tree`` = an export of 440f8cc's parent b836a78 (before the cache), two
benchmark processes sharing the cores (interleaved, so both sides see the same load)::

    command                       wall s  x torch  CPU s  x torch  target
    import torch                    2.87     1.00   2.77     1.00
    --help                          0.22     0.08   0.22     0.08
    space info                      0.21     0.07   0.21     0.08
    query                           0.21     0.07   0.21     0.08  <= 0.1
    table                           3.42     1.19   3.33     1.21  <= 1.5
    query --hardware                0.28     0.10   0.27     0.10
    query (no cache)                0.36     0.13   0.35     0.13
    query --hardware (no cache)     0.63     0.22   0.61     0.22
    query (base)                    0.33     0.11   0.32     0.12
    query --hardware (base)         0.62     0.21   0.61     0.22
    table (base)                    3.29     1.14   3.21     1.16

``query`` meets 0.1x (0.07x; ``space info``, start-up alone, takes as long); a first read without the
cache stays at 0.11-0.13x (parsing and checking 15,625 rows). ``table`` pays ~0.05x for priming the
cache (one read back of what it wrote). A query with a 15,625-row hardware file: 0.21x -> 0.10x.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {"table": 1.5, "query": 0.1}


def _nasgcn() -> list[str]:
    """The installed ``nasgcn`` script beside this interpreter, else ``python -m predictor.cli``."""
    script = Path(sys.executable).with_name("nasgcn")
    return [str(script)] if script.exists() else [sys.executable, "-m", "predictor.cli"]


def _wall(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child: user + system) of one run of ``cmd``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    took = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed (rc {done.returncode}): {done.stderr.strip()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return took, cpu


_MAKE_MODEL = """
import numpy as np
from predictor.gcn import GCNPredictor
from predictor.spaces import get_space
space = get_space("nb201")
rng = np.random.default_rng(0)
ids = space.all_ids()[rng.choice(space.size, 40, replace=False)]
est = GCNPredictor(epochs=1, ensemble=2, random_state=0).fit(ids, rng.uniform(60, 94, 40))
est.target_ = "acc"
est.save("m.pt")
cols = ["edgegpu_latency", "edgegpu_energy", "raspi4_latency", "pixel3_latency", "fpga_latency", "fpga_energy"]
with open("hw.csv", "w") as fh:  # the shape of HW-NAS-Bench's NB201 table: every architecture, 6 costs
    fh.write("arch_str," + ",".join(cols) + "\\n")
    for a, row in zip(space.decode(space.all_ids()), rng.uniform(0.5, 50, (space.size, len(cols))), strict=True):
        fh.write(a + "," + ",".join(f"{v:.6f}" for v in row) + "\\n")
"""


def _setup(folder: Path, env: dict[str, str], cli: list[str]) -> None:
    """A tiny model and its table (the inputs of ``table`` and ``query``), made by the code under test."""
    folder.mkdir(parents=True, exist_ok=True)
    _wall([sys.executable, "-c", _MAKE_MODEL], env, folder)
    _wall([*cli, "table", "m.pt", "--out", "t.csv"], env, folder)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5, help="runs per command; the median is reported (default: 5)")
    ap.add_argument(
        "--baseline-tree",
        metavar="DIR",
        help="also time query and table from this source tree (PYTHONPATH=DIR), e.g. an export of the last commit",
    )
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="nasgcn-startup-"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    env["NASGCN_CACHE_DIR"] = str(root / "cache")  # the table cache (predictor.table_cache), fresh per run
    env.pop("NASGCN_NO_CACHE", None)
    here_env = {**env, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    try:
        _setup(root / "here", here_env, _nasgcn())
        here = {
            "import torch": [sys.executable, "-c", "import torch"],
            "--help": [*_nasgcn(), "--help"],
            "space info": [*_nasgcn(), "space", "info"],
            "query": [*_nasgcn(), "query", "t.csv", "--top", "5"],
            "table": [*_nasgcn(), "table", "m.pt", "--out", "t2.csv", "--threads", "1"],
        }
        here["query --hardware"] = [*here["query"], "--hardware", "hw.csv", "--max", "pixel3_latency=5"]
        commands = {name: (cmd, here_env, root / "here") for name, cmd in here.items()}
        # a table read for the first time (e.g. written by another tool): parsed and checked, no cache
        no_cache = {**here_env, "NASGCN_NO_CACHE": "1"}
        commands["query (no cache)"] = (here["query"], no_cache, root / "here")
        commands["query --hardware (no cache)"] = (here["query --hardware"], no_cache, root / "here")
        if args.baseline_tree:  # the same commands from another checkout (e.g. `git archive HEAD`), same run
            base_env = {**env, "PYTHONPATH": str(Path(args.baseline_tree).resolve())}
            base_cli = [sys.executable, "-m", "predictor.cli"]
            _setup(root / "base", base_env, base_cli)
            for name in ("query", "query --hardware", "table"):
                commands[f"{name} (base)"] = ([*base_cli, *here[name][1:]], base_env, root / "base")
        wall: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for cmd, cmd_env, cwd in commands.values():  # untimed warm-up: OS file cache, numba's on-disk cache
            _wall(cmd, cmd_env, cwd)
        for _ in range(args.repeat):  # interleaved: machine load hits every command alike
            for name, (cmd, cmd_env, cwd) in commands.items():
                w, c = _wall(cmd, cmd_env, cwd)
                wall[name].append(w)
                cpu[name].append(c)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    base_w, base_c = statistics.median(wall["import torch"]), statistics.median(cpu["import torch"])
    print(f"{'command':28s} {'wall s':>7s} {'x torch':>8s} {'CPU s':>6s} {'x torch':>8s} {'target':>7s}")
    for name in commands:
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        target = f"<= {TARGETS[name]}" if name in TARGETS else ""  # "(base)" rows: for comparison only
        flag = "  MISSED" if name in TARGETS and w / base_w > TARGETS[name] else ""
        print(f"{name:28s} {w:7.2f} {w / base_w:8.2f} {c:6.2f} {c / base_c:8.2f} {target:>7s}{flag}")


if __name__ == "__main__":
    main()
