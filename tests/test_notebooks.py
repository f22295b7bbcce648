"""The example notebooks run top to bottom (with or without the reference data) and are up to date."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NB_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = ["explore_lookup_table.ipynb", "train_predictor_from_logs.ipynb"]


def _generator():
    spec = importlib.util.spec_from_file_location("make_notebooks", NB_DIR / "make_notebooks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_matches_its_generator(name):
    """The committed .ipynb is what make_notebooks.py writes (edit the script, not the JSON)."""
    built = _generator().NOTEBOOKS[name]()
    on_disk = nbformat.read(NB_DIR / name, as_version=4)
    assert [c.source for c in on_disk.cells] == [c.source for c in built.cells]


@pytest.mark.slow
@pytest.mark.parametrize("with_reference", [True, False], ids=["reference-data", "no-reference-data"])
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_executes(name, with_reference, tmp_path, monkeypatch):
    if with_reference:
        from conftest import reference_dir

        if not (reference_dir() / "nb201_cifar10_ground_truth.csv").exists():
            pytest.skip("reference data not found (the no-reference variant still runs)")
        monkeypatch.setenv("NASGCN_REFERENCE_DATA", str(reference_dir()))
    else:
        monkeypatch.setenv("NASGCN_REFERENCE_DATA", str(tmp_path))  # an empty folder: no reference data
    nb = nbformat.read(NB_DIR / name, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NB_DIR)}}
    )
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as err:  # show the failing cell's traceback
        pytest.fail(f"{name} failed:\n{err}")
    text = "".join(o.get("text", "") for o in nb.cells[1].get("outputs", []))
    line = next(x for x in text.splitlines() if x.startswith("reference data:"))
    assert ("not found" in line) != with_reference
