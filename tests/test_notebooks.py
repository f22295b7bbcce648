"""The example notebooks are up to date, committed executed with their figures, and run top to bottom.

Executed with and without the reference data (each notebook falls back to package-generated
stand-ins); the committed outputs are what ``notebooks/make_notebooks.py`` produced.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NB_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = ["explore_lookup_table.ipynb", "train_predictor_from_logs.ipynb", "explore_chain_spaces.ipynb"]


def _generator():
    spec = importlib.util.spec_from_file_location("make_notebooks", NB_DIR / "make_notebooks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _images(nb) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))


def _streams(nb, name: str) -> str:
    return "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.get("name") == name)


def test_generator_lists_every_notebook():
    gen = _generator()
    assert sorted(gen.NOTEBOOKS) == sorted(NOTEBOOKS) == sorted(gen.REFERENCE_FILE)
    assert sorted(p.name for p in NB_DIR.glob("*.ipynb")) == sorted(NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_matches_its_generator(name):
    """The committed .ipynb has the cells make_notebooks.py writes (edit the script, not the JSON)."""
    built = _generator().build(name)
    on_disk = nbformat.read(NB_DIR / name, as_version=4)
    assert [c.cell_type for c in on_disk.cells] == [c.cell_type for c in built.cells]
    assert [c.source for c in on_disk.cells] == [c.source for c in built.cells]
    assert [c.get("id") for c in on_disk.cells] == [c.get("id") for c in built.cells]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_committed_executed_and_small(name):
    """Every code cell ran in order, no cell failed or warned, figures are inline, the file stays small."""
    gen = _generator()
    path = NB_DIR / name
    assert path.stat().st_size < gen.MAX_BYTES, f"{name} is {path.stat().st_size} bytes: lower dpi or figure sizes"
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), "run make_notebooks.py (not executed)"
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    assert _streams(nb, "stderr") == "", "a warning or error reached the committed outputs"
    assert _images(nb) >= 1, "no figure is shown"
    assert all("execution" not in c.metadata for c in code), "timing metadata makes regenerating churn"
    assert "/tmp" not in _streams(nb, "stdout"), "temporary paths make outputs non-deterministic"


@pytest.mark.slow
@pytest.mark.parametrize("with_reference", [True, False], ids=["reference-data", "no-reference-data"])
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_executes(name, with_reference, tmp_path, monkeypatch):
    if with_reference:
        from conftest import reference_dir

        needed = _generator().REFERENCE_FILE[name]
        if not (reference_dir() / needed).exists():
            pytest.skip(f"reference file {needed} not found (the no-reference variant still runs)")
        monkeypatch.setenv("NASGCN_REFERENCE_DATA", str(reference_dir()))
    else:
        monkeypatch.setenv("NASGCN_REFERENCE_DATA", str(tmp_path))  # an empty folder: no reference data
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    nb = nbformat.read(NB_DIR / name, as_version=4)
    for cell in nb.cells:  # run from a clean slate, not on top of the committed outputs
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
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
    assert _images(nb) >= 1, "the executed notebook showed no figure"
