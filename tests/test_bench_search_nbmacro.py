"""``benchmarks/search_strategies_nbmacro.py`` runs end to end on small synthetic inputs (not its figures).

The inputs a user makes with ``nasgcn supernet eval`` / ``supernet cluster`` / ``latency measure``
are faked from NB-Macro's measured accuracies plus noise, so the script's sections, including the
prior under latency budgets, are exercised without a supernet.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import reference_dir

from predictor.spaces import get_space

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "search_strategies_nbmacro.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("search_strategies_nbmacro", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_quick_run_with_latency_budgets(bench, nbmacro_data, tmp_path, capsys):
    sp = get_space("nbmacro")
    rng = np.random.default_rng(0)
    d = nbmacro_data.drop_duplicates("arch")
    rows = d.sample(300, random_state=0)
    acc = rows["mean_acc"].to_numpy() * 0.4 + rng.normal(0, 0.5, len(rows))  # supernet-like: low and noisy
    with open(tmp_path / "evals.csv", "w") as fh:
        fh.write("arch_str,supernet_acc,supernet_loss\n")
        for a, v in zip(rows["arch"], acc, strict=True):
            fh.write(f"{a},{v:.4f},{3 - v / 25:.4f}\n")
    with open(tmp_path / "clusters.csv", "w") as fh:
        fh.write("arch_str,cluster\n")
        for i, a in enumerate(rows["arch"]):
            fh.write(f"{a},{i % 4}\n")
    flops = sp.costs(sp.encode(d["arch"].tolist()))["flops_m"]
    with open(tmp_path / "lat.csv", "w") as fh:
        fh.write("arch_str,cpu_latency\n")
        for a, f in zip(d["arch"], flops, strict=True):
            fh.write(f"{a},{0.05 * f + 1:.4f}\n")
    args = ["--data", str(reference_dir()), "--evals", str(tmp_path / "evals.csv")]
    args += ["--clusters", str(tmp_path / "clusters.csv"), "--latency", str(tmp_path / "lat.csv")]
    assert bench.main([*args, "--quick", "--epochs", "3", "--weights", "0,0.5"]) == 0
    out = capsys.readouterr().out
    assert "(c1) IRLAS prior" in out and "(c3) IRLAS prior under latency budgets" in out
    assert "W = 0.50: at the latency of its picks" in out
    assert "latency: cpu_latency of lat.csv (6561 architectures)" in out
    assert "prior faster on" in out and "corr(true, latency)" in out
    assert bench.main([*args, "--quick", "--epochs", "3", "--weights", "0,0.5", "--label", "mean_acc"]) == 0
    assert "(100 mean_acc labels)" in capsys.readouterr().out


def test_equal_prediction_diagnostic_is_exact_on_a_constructed_table(bench):
    """(c1)'s diagnostic partials the prediction out: a label that under-credits latency by exactly
    the latency gives corr(true, latency) = 1, and a reward of minus latency -1 with both."""
    import argparse

    rng = np.random.default_rng(0)
    n = bench.C1_POOL + 50
    pred, lat = rng.normal(size=n), rng.normal(size=n) + 5
    true = pred + 0.3 * lat
    args = argparse.Namespace(_latency=("ms", lat))
    t_l, r_t, r_l = bench._given_pred(args, pred, true, -lat, np.arange(n))
    assert t_l == pytest.approx(1.0) and r_t == pytest.approx(-1.0) and r_l == pytest.approx(-1.0)
    unrelated = bench._given_pred(args, pred, pred + rng.normal(size=n), rng.normal(size=n), np.arange(n))
    assert abs(unrelated[0]) < 0.2
