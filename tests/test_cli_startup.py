"""Start-up: what each command imports (fast commands stay free of torch, scikit-learn, numba...).

Wall times are measured by ``benchmarks/cli_startup.py``, never here; these tests check the causes
(which modules a command loads), which do not depend on how busy the machine is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HEAVY = ("torch", "torch_geometric", "sklearn", "scipy", "numba", "pandas", "pyarrow", "matplotlib")
ROOT = Path(__file__).resolve().parents[1]


def _loaded_after(code: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[set[str], str]:
    """Run ``code`` in a fresh interpreter; the heavy top-level packages it left in ``sys.modules``."""
    probe = (
        "import json, sys\n"
        f"{code}\n"
        f"print('\\nMODULES=' + json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({list(HEAVY)!r}))))\n"
    )
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), **(env or {})}
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    line = [x for x in done.stdout.splitlines() if x.startswith("MODULES=")][-1]
    return set(json.loads(line[len("MODULES=") :])), done.stdout


def _cli(argv: list[str]) -> str:
    return (
        "from predictor.cli.main import main\n"
        "try:\n"
        f"    rc = main({argv!r})\n"
        "except SystemExit as exc:\n"
        "    rc = exc.code\n"
        "assert rc in (0, None), rc\n"
    )


@pytest.fixture(scope="module")
def small_table(tmp_path_factory) -> Path:
    """A whole-space NB201 lookup table with made-up predictions (no model needed)."""
    from predictor.lookup import LookupTable

    folder = tmp_path_factory.mktemp("startup")
    rng = np.random.default_rng(0)
    pred = rng.uniform(70, 94, 15_625)
    LookupTable.build(pred, np.full_like(pred, 0.5), space="nb201", meta={"target": "acc"}).save(folder / "t.csv")
    return folder / "t.csv"


def test_help_imports_nothing_heavy(tmp_path):
    loaded, out = _loaded_after(_cli(["--help"]), tmp_path)
    assert "COMMAND" in out
    assert loaded == set(), f"nasgcn --help imported {sorted(loaded)}"


@pytest.mark.parametrize("argv", [["query", "--help"], ["space", "info"], ["table", "--help"], ["supernet", "--help"]])
def test_light_commands_import_nothing_heavy(tmp_path, argv):
    loaded, _ = _loaded_after(_cli(argv), tmp_path)
    assert loaded == set(), f"nasgcn {' '.join(argv)} imported {sorted(loaded)}"


def test_query_on_a_csv_table_imports_no_torch_sklearn_numba_or_pandas(tmp_path, small_table):
    loaded, out = _loaded_after(_cli(["query", str(small_table), "--top", "3"]), tmp_path)
    assert "top 3" in out
    assert loaded == set(), f"nasgcn query imported {sorted(loaded)}"


def test_the_predictor_loads_without_sklearn_scipy_pandas_or_numba(tmp_path):
    """``nasgcn table`` needs torch (the weights are a torch file) and nothing else heavy."""
    loaded, _ = _loaded_after("import predictor.gcn, predictor.lookup, predictor.kernels", tmp_path)
    assert loaded == {"torch"}, sorted(loaded)


def test_cli_predicts_without_numba_and_restores_the_setting(monkeypatch):
    """One-shot commands skip numba (about 1 s of loading for ~10 ms saved); the caller's setting is kept."""
    import importlib

    cli_main = importlib.import_module("predictor.cli.main")  # the module (the package exports the function)
    seen = {}

    def fake(args):
        seen["value"] = os.environ.get("NASGCN_NO_NUMBA")
        return 0

    monkeypatch.delenv("NASGCN_NO_NUMBA", raising=False)
    monkeypatch.setattr(cli_main, "_main", lambda argv: fake(argv))
    assert cli_main.main(["space", "info"]) == 0
    assert seen["value"] == "1"
    assert "NASGCN_NO_NUMBA" not in os.environ
    monkeypatch.setenv("NASGCN_NO_NUMBA", "0")  # a user who wants the kernels gets them
    cli_main.main(["space", "info"])
    assert seen["value"] == "0"


def test_command_table_matches_the_modules():
    """``COMMANDS`` (which module to import for a command) must list exactly what each module registers."""
    import argparse
    import importlib

    from predictor.cli.main import COMMAND_MODULES, COMMANDS

    registered = {}
    for name in COMMAND_MODULES:
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(name).register(sub)
        registered.update(dict.fromkeys(sub.choices, name))
    assert registered == COMMANDS


def test_unknown_command_still_lists_every_command(capsys):
    from predictor.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(["nosuchcommand"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice" in err and "query" in err and "supernet" in err
