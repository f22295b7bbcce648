"""Shared fixtures. Reference data lives outside the repo (see datasets/README.md)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def _private_table_cache(tmp_path_factory):
    """Every test (and the CLI processes tests start) caches tables in a temp folder, not ~/.cache."""
    old = os.environ.get("NASGCN_CACHE_DIR")
    os.environ["NASGCN_CACHE_DIR"] = str(tmp_path_factory.mktemp("table_cache"))
    yield
    if old is None:
        os.environ.pop("NASGCN_CACHE_DIR", None)
    else:
        os.environ["NASGCN_CACHE_DIR"] = old


def reference_dir() -> Path:
    """``$NASGCN_REFERENCE_DATA`` or ``../shared/data`` beside the checkout."""
    env = os.environ.get("NASGCN_REFERENCE_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def reference_data() -> Path:
    path = reference_dir()
    if not (path / "nb201_cifar10_ground_truth.csv").exists():
        pytest.skip(f"NAS-Bench-201 reference data not found at {path} (set NASGCN_REFERENCE_DATA)")
    return path


@pytest.fixture(scope="session")
def ground_truth(reference_data: Path):
    import pandas as pd

    return pd.read_csv(reference_data / "nb201_cifar10_ground_truth.csv")


@pytest.fixture(scope="session")
def nbmacro_data():
    """NAS-Bench-Macro's 6,561 rows (``arch`` read as a string: codes have leading zeros)."""
    import pandas as pd

    path = reference_dir() / "nasbench_macro_cifar10.csv"
    if not path.exists():
        pytest.skip(f"NAS-Bench-Macro reference data not found at {path} (set NASGCN_REFERENCE_DATA)")
    return pd.read_csv(path, dtype={"arch": str})


@pytest.fixture(scope="session")
def fbnet_latency():
    """HELP's FBNet-space latencies (5,000 rows; ``arch_ids`` read as a string)."""
    import pandas as pd

    path = reference_dir() / "fbnet_latency_help.csv"
    if not path.exists():
        pytest.skip(f"FBNet latency reference data not found at {path} (set NASGCN_REFERENCE_DATA)")
    return pd.read_csv(path, dtype={"arch_ids": str})
