"""Chain spaces (NAS-Bench-Macro, FBNet, user specs): strings, exact costs, isomorphism, registry."""

from __future__ import annotations

import json

import numpy as np
import pytest

from predictor.cli.main import main
from predictor.errors import ArchitectureError, NasgcnError
from predictor.spaces import ChainSpace, ChainSpec, get_space, list_spaces, register_chain_space


def test_builtin_spaces_are_registered():
    assert {"nb201", "nbmacro", "fbnet"} <= set(list_spaces())
    assert isinstance(get_space("nbmacro"), ChainSpace)
    assert get_space("NBMacro") is get_space("nbmacro")


def test_nbmacro_size_and_classes():
    sp = get_space("nbmacro")
    assert sp.size == 6561 and sp.num_slots == 8 and sp.ops == ("identity", "mb3_k3", "mb6_k5")
    assert sp.num_unique == 3969
    # stage of 2: 9 choices; stage of 3: 3 * (1 + 2 + 4) = 21 classes; 9 * 21 * 21 = 3969
    assert sp.unique_ids().shape == (3969, 8)


def test_nbmacro_costs_equal_the_benchmark(nbmacro_data):
    sp = get_space("nbmacro")
    ids = sp.encode(nbmacro_data["arch"].tolist())
    costs = sp.costs(ids)
    np.testing.assert_array_equal(costs["params"], nbmacro_data["params"].to_numpy())
    np.testing.assert_array_equal(costs["macs"], nbmacro_data["flops"].to_numpy())


def test_nbmacro_results_identical_within_every_class(nbmacro_data):
    sp = get_space("nbmacro")
    cls = sp.iso_class(sp.encode(nbmacro_data["arch"].tolist()))
    assert np.unique(cls).size == 3969
    per_class = nbmacro_data.groupby(cls)["mean_acc"].agg(["min", "max"])
    np.testing.assert_array_equal(per_class["min"].to_numpy(), per_class["max"].to_numpy())
    # and results differ between classes that differ in more than skip placement
    assert nbmacro_data.groupby(cls)["mean_acc"].first().nunique() > 1500  # (values are rounded, some tie)


def test_nbmacro_known_best_and_worst(nbmacro_data):
    best = nbmacro_data.loc[nbmacro_data["mean_acc"].idxmax()]
    assert best["mean_acc"] == pytest.approx(93.127, abs=1e-3)
    sp = get_space("nbmacro")
    # the tied best (22212220, 22212202) are one class: the trailing identity commutes
    assert sp.canonical("22212202") == sp.canonical("22212220")
    assert sp.canonical("00000000") == "00000000"


def test_chain_canonical_moves_later_skips_to_the_stage_end():
    sp = get_space("nbmacro")
    # stage 1 = layers 2..4: "0" at layer 3 moves behind the "1" of layer 4; layer 2 (stage start) stays
    assert sp.format(sp.canonical_ids(np.array([sp.parse("22201220")]))[0]) == "22210220"
    assert sp.format(sp.canonical_ids(np.array([sp.parse("00000000")]))[0]) == "00000000"
    # a skip at a stage's first layer is a real 1x1 conv: not a no-op
    assert sp.canonical("20212220") != sp.canonical("22012220")


def test_fbnet_size_is_exact_and_not_enumerable():
    sp = get_space("fbnet")
    assert sp.size == 9**22 == 984770902183611232881
    assert sp.num_slots == 22 and len(sp.ops) == 9 and sp.ops[8] == "skip" and sp.ops[1] == "k3_e1_g2"
    assert not sp.enumerable and sp.num_unique is None
    with pytest.raises(NasgcnError, match="cannot be enumerated"):
        sp.all_ids()
    with pytest.raises(NasgcnError, match="nasgcn search"):
        sp.iso_class(np.zeros((1, 22), dtype=np.int64))


def test_fbnet_sampling_canonical_and_hash():
    sp = get_space("fbnet")
    ids = sp.sample(1000, rng=0, unique=True)
    assert ids.shape == (1000, 22) and np.unique(ids, axis=0).shape[0] == 1000
    # stage 1 is layers 1..4: a skip in layers 2..4 commutes, one at layer 1 (16 -> 24 channels) does not
    a = sp.parse("0" + "1823" + "0" * 17)
    b = sp.parse("0" + "1283" + "0" * 17)
    h = sp.iso_hash(np.array([a, b, sp.parse("0" + "8123" + "0" * 17)]))
    assert h[0] == h[1] != h[2]
    assert sp.canonical("0" + "1823" + "0" * 17) == "0" + "1238" + "0" * 17


def test_fbnet_costs_are_additive_and_positive():
    sp = get_space("fbnet")
    ids = sp.sample(50, rng=1)
    c = sp.costs(ids)
    p, m, fixed_p, fixed_m = sp.cost_tables()
    rows = np.arange(22)
    np.testing.assert_array_equal(c["params"], p[rows, ids].sum(1) + fixed_p)
    assert (c["macs"] > fixed_m).all()
    # all-skip network: stem + the stage-start 1x1 convs that change shape + head
    skip = sp.costs(np.full((1, 22), 8))["params"][0]
    assert skip < c["params"].min()


@pytest.mark.parametrize(
    "bad, match",
    [
        ("2221222", "expected 8 digits"),
        ("222122203", "expected 8 digits"),
        ("2221222x", "expected 8 digits"),
        ("22212223", "unknown block id 3 at layer 7"),
        (22212220, "must be a string"),
    ],
)
def test_chain_parse_errors_say_what_to_write(bad, match):
    with pytest.raises(ArchitectureError, match=match):
        get_space("nbmacro").parse(bad)


def test_chain_encode_fast_path_agrees_and_falls_back_with_errors():
    sp = get_space("fbnet")
    ids = sp.sample(300, rng=2)
    strings = sp.decode(ids)
    np.testing.assert_array_equal(sp.encode(strings), ids)
    with pytest.raises(ArchitectureError, match="unknown block id 9"):
        sp.encode(strings[:3] + ["9" * 22])


def test_neighbours_are_all_one_slot_edits():
    sp = get_space("nbmacro")
    row = np.array(sp.parse("01201201"))
    nb = sp.neighbours(row)
    assert nb.shape == (8 * 2, 8)
    assert ((nb != row).sum(1) == 1).all() and np.unique(nb, axis=0).shape[0] == 16


def test_custom_chain_space_from_a_spec(tmp_path):
    spec = ChainSpec(
        name="tinychain",
        stem_channels=8,
        stage_layers=(2, 2),
        stage_channels=(16, 32),
        stage_strides=(2, 2),
        blocks=("skip", "k3_e3", "k5_e6"),
        head_channels=64,
    )
    sp = register_chain_space(spec)
    assert get_space("tinychain") is sp and sp.size == 81 and sp.num_unique == 81  # no stage of 3+
    assert sp.costs(np.zeros((1, 4), dtype=np.int64))["params"][0] > 0
    # the same space from a TOML file, usable by name on the CLI
    toml = tmp_path / "mine.toml"
    toml.write_text(
        '[space]\nname = "mychain"\nstem_channels = 8\nstage_layers = [3]\nstage_channels = [16]\n'
        'stage_strides = [1]\nblocks = ["identity", "mb3_k3"]\nhead_channels = 32\nnum_classes = 5\n'
    )
    mine = get_space(str(toml))
    assert mine.name == "mychain" and mine.size == 8 and mine.num_unique == 6  # 2 x (1 + 1 + 1)
    assert get_space(str(toml)) is mine


def test_bad_specs_are_refused(tmp_path):
    with pytest.raises(NasgcnError, match="unknown chain block"):
        ChainSpec("x1", 8, (1,), (8,), (1,), ("skip", "conv7"), 16)
    with pytest.raises(NasgcnError, match="one entry per stage"):
        ChainSpec("x2", 8, (1, 2), (8,), (1,), ("skip", "k3_e1"), 16)
    with pytest.raises(NasgcnError, match="already registered"):
        register_chain_space(ChainSpec("nbmacro", 8, (1,), (8,), (1,), ("skip", "k3_e1"), 16))
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x3"\nstem_channels = 8\n')
    with pytest.raises(NasgcnError, match="lacks"):
        get_space(str(bad))
    with pytest.raises(NasgcnError, match="not found"):
        get_space(str(tmp_path / "missing.toml"))
    with pytest.raises(NasgcnError, match="unknown search space"):
        get_space("nb202")


def test_space_info_cli_contract(capsys):
    assert main(["space", "info", "--space", "nbmacro", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["size"] == 6561 and info["unique"] == 3969
    assert main(["space", "info", "--space", "fbnet", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["size"] == 984770902183611232881 and info["unique"] is None


def test_space_list_on_chain_spaces(tmp_path, capsys):
    out = tmp_path / "m.csv"
    assert main(["space", "list", "--space", "nbmacro", "--unique", "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 3970 and lines[1].startswith("00000000,")
    assert main(["space", "list", "--space", "fbnet", "--out", str(out)]) == 1
    assert "cannot be enumerated" in capsys.readouterr().err
    assert main(["space", "list", "--space", "nbmacro", "--cells", "3", "--out", str(out)]) == 1
    assert "--cells does not apply" in capsys.readouterr().err


def test_check_compatible_names_the_fix():
    with pytest.raises(NasgcnError, match="pass --space nbmacro"):
        get_space("nb201").check_compatible("nbmacro", "model m.pt")
    get_space("nb201").check_compatible(None, "old file")
    get_space("nb201").check_compatible("NB201", "file")


def test_readme_custom_space_example_runs(tmp_path):
    """The worked example in the README declares a space that loads and has the size it claims."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```toml\n# myspace.toml\n(.*?)```", readme, re.S)
    assert block, "README lost its custom-space example"
    spec = tmp_path / "myspace.toml"
    spec.write_text(block.group(1).replace('name = "myspace"', 'name = "readme-space"'))
    sp = get_space(str(spec))
    assert sp.size == 6561 and sp.num_unique == 3969
    assert "6,561 architectures, 3,969 up to isomorphism" in readme


def test_model_of_a_custom_space_loads_in_a_fresh_process(tmp_path):
    """The model file carries the chain spec, so a new process needs no registration to use it."""
    import subprocess
    import sys

    from predictor.gcn import GCNPredictor

    register_chain_space(
        ChainSpec("savedchain", 8, (1, 3), (8, 16), (1, 2), ("skip", "k3_e1", "k5_e3"), 32, num_classes=4)
    )
    sp = get_space("savedchain")
    ids = sp.unique_ids()
    y = np.log(sp.costs(ids)["flops_m"])
    est = GCNPredictor(space="savedchain", ensemble=1, epochs=5, random_state=0).fit(ids, y)
    est.save(tmp_path / "m.pt")
    code = (
        "import numpy as np; from predictor.gcn import GCNPredictor\n"
        f"m = GCNPredictor.load({str(tmp_path / 'm.pt')!r}); print(m.space, m.predict(['0120']).round(6)[0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "savedchain" and float(out[1]) == pytest.approx(float(est.predict(["0120"])[0]), abs=1e-5)
