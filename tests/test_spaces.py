"""The NB201 space: strings, encodings, enumeration, random operators, isomorphism, dead cells."""

from __future__ import annotations

import numpy as np
import pytest

from predictor.errors import ArchitectureError, NasgcnError
from predictor.spaces import EDGES, NODE_TYPES, OPS, NB201Space, get_space, list_spaces

SPACE = get_space("nb201")
BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def test_registry_and_basic_facts():
    assert "nb201" in list_spaces()
    assert get_space("NB201") is SPACE and get_space(SPACE) is SPACE
    assert isinstance(SPACE, NB201Space)
    assert SPACE.size == 5**6 == 15_625
    assert SPACE.num_slots == 6 and SPACE.ops == OPS and len(OPS) == 5
    assert EDGES == ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
    with pytest.raises(NasgcnError, match="unknown search space 'nb101'.*nb201"):
        get_space("nb101")


# ----- strings -----------------------------------------------------------------------------


def test_parse_and_format_known_string():
    ids = SPACE.parse(BEST)
    assert ids == (3, 3, 3, 1, 3, 3)
    assert SPACE.format(ids) == BEST
    assert SPACE.format(np.asarray(ids)) == BEST


def test_all_strings_round_trip():
    ids = SPACE.all_ids()
    strings = SPACE.decode(ids)
    assert len(set(strings)) == 15_625
    np.testing.assert_array_equal(SPACE.encode(strings), ids)
    assert all(SPACE.format(SPACE.parse(s)) == s for s in strings)
    assert strings[:3] == [SPACE.format(row) for row in ids[:3]]  # vectorized decode = format


def test_reference_strings_round_trip(ground_truth):
    strings = ground_truth["arch_str"].tolist()
    assert SPACE.decode(SPACE.encode(strings)) == strings


def test_parse_tolerates_surrounding_whitespace():
    assert SPACE.parse(f"  {BEST}\n") == SPACE.parse(BEST)


@pytest.mark.parametrize(
    "bad, fragment",
    [
        ("|nor_conv_3x3~0|+|none~0|none~1|", "expected 3 node groups"),
        (BEST + "+|none~0|", "expected 3 node groups"),
        ("nor_conv_3x3~0+|none~0|none~1|+|none~0|none~1|none~2|", "must look like |op~j|"),
        ("|nor_conv_3x3~0|+|none~0|+|none~0|none~1|none~2|", "node 2 needs 2 input edge(s), got 1"),
        ("|nor_conv_3x3~0|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "node 1 needs 1 input edge(s), got 2"),
        ("|nor_conv_3x3~1|+|none~0|none~1|+|none~0|none~1|none~2|", "must be written 'op~0'"),
        ("|nor_conv_3x3|+|none~0|none~1|+|none~0|none~1|none~2|", "must be written 'op~0'"),
        ("|nor_conv_3x3~0|+|none~1|none~0|+|none~0|none~1|none~2|", "must be written 'op~0'"),
        ("|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op 'conv_5x5'"),
        ("|Nor_Conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op 'Nor_Conv_3x3'"),
        ("", "expected 3 node groups"),
    ],
)
def test_parse_errors(bad, fragment):
    with pytest.raises(ArchitectureError) as info:
        SPACE.parse(bad)
    assert fragment in str(info.value)
    assert isinstance(info.value, NasgcnError)


def test_parse_rejects_non_strings_and_format_rejects_bad_ids():
    with pytest.raises(ArchitectureError, match="must be a string"):
        SPACE.parse(42)  # type: ignore[arg-type]
    for bad in ([0, 1, 2], [0, 0, 0, 0, 0, 5], [-1, 0, 0, 0, 0, 0]):
        with pytest.raises(ArchitectureError, match="6 op ids in 0..4"):
            SPACE.format(bad)


def test_unknown_op_message_lists_ops():
    with pytest.raises(ArchitectureError) as info:
        SPACE.parse(BEST.replace("skip_connect", "identity"))
    assert ", ".join(OPS) in str(info.value)


# ----- encodings and enumeration -----------------------------------------------------------


def test_all_ids_index_order():
    ids = SPACE.all_ids()
    assert ids.shape == (15_625, 6) and ids.dtype == np.int64
    assert ids[0].tolist() == [0] * 6 and ids[-1].tolist() == [4] * 6
    assert ids[1].tolist() == [0, 0, 0, 0, 0, 1] and ids[5].tolist() == [0, 0, 0, 0, 1, 0]
    np.testing.assert_array_equal(SPACE.index_of(ids), np.arange(15_625))
    assert SPACE.index_of(np.asarray(SPACE.parse(BEST))).tolist() == [
        3 * 5**5 + 3 * 5**4 + 3 * 5**3 + 1 * 25 + 3 * 5 + 3
    ]


def test_encode_decode_index_round_trip():
    rng = np.random.default_rng(1)
    ids = SPACE.sample(200, rng)
    strings = SPACE.decode(ids)
    np.testing.assert_array_equal(SPACE.encode(strings), ids)
    np.testing.assert_array_equal(SPACE.all_ids()[SPACE.index_of(ids)], ids)
    assert SPACE.encode(BEST).shape == (1, 6)
    assert SPACE.encode([]).shape == (0, 6)
    assert SPACE.encode(ids) is not None and (SPACE.encode(ids) == ids).all()  # matrices pass through


@pytest.mark.parametrize(
    "bad", [np.zeros((3, 5), dtype=int), np.full((2, 6), 5), np.full((1, 6), -1), np.zeros(6)[None, None]]
)
def test_validate_ids_errors(bad):
    with pytest.raises(NasgcnError):
        SPACE.index_of(bad)


# ----- random operators --------------------------------------------------------------------


def test_sample_shapes_determinism_and_uniqueness():
    a = SPACE.sample(1000, 7)
    assert a.shape == (1000, 6) and a.min() >= 0 and a.max() <= 4
    np.testing.assert_array_equal(a, SPACE.sample(1000, 7))
    assert not np.array_equal(a, SPACE.sample(1000, 8))
    u = SPACE.sample(3000, np.random.default_rng(0), unique=True)
    assert len(np.unique(SPACE.index_of(u))) == 3000
    assert len(np.unique(SPACE.index_of(SPACE.sample(15_625, 0, unique=True)))) == 15_625
    with pytest.raises(NasgcnError, match="cannot sample 15626 distinct"):
        SPACE.sample(15_626, 0, unique=True)
    # Uniform over ops: each op id appears about 1/5 of the time in every slot.
    freq = np.stack([(a == o).mean(axis=0) for o in range(5)])
    assert np.all(np.abs(freq - 0.2) < 0.06)


def test_mutate_changes_at_least_one_slot():
    parents = SPACE.sample(2000, 3)
    for prob in (0.0, 0.2, 1.0):
        child = SPACE.mutate(parents, prob, 4)
        changed = (child != parents).sum(axis=1)
        assert changed.min() >= 1
        assert child.min() >= 0 and child.max() <= 4
        if prob == 0.0:
            assert (changed == 1).all()
        if prob == 1.0:
            assert (changed == 6).all()
    # Expected changed slots: 6p, plus one forced slot when none was drawn ((1-p)^6).
    p = 0.3
    changed = (SPACE.mutate(parents, p, 5) != parents).sum(axis=1)
    assert abs(changed.mean() - (6 * p + (1 - p) ** 6)) < 0.15
    np.testing.assert_array_equal(SPACE.mutate(parents, p, 5), SPACE.mutate(parents, p, 5))
    assert SPACE.mutate(np.asarray(SPACE.parse(BEST)), 0.1, 0).shape == (1, 6)


def test_crossover_takes_each_slot_from_a_parent():
    a = SPACE.sample(500, 1)
    b = (a + 1 + SPACE.sample(500, 2) % 4) % 5  # differs from a in every slot
    child = SPACE.crossover(a, b, 3)
    assert ((child == a) | (child == b)).all()
    from_a = (child == a).mean()
    assert 0.4 < from_a < 0.6
    same = SPACE.crossover(a, a, 3)
    np.testing.assert_array_equal(same, a)
    with pytest.raises(NasgcnError, match="differ in shape"):
        SPACE.crossover(a, b[:10], 0)


# ----- isomorphism and dead cells ----------------------------------------------------------


def test_iso_classes_structure():
    ids = SPACE.all_ids()
    cls = SPACE.iso_class(ids)
    assert SPACE.num_unique == 6466 and len(np.unique(cls)) == 6466
    assert cls.min() == 0 and cls.max() == 6465
    # Classes are numbered in order of their first (smallest-index) member.
    _, first = np.unique(cls, return_index=True)
    assert (np.diff(first) > 0).all()
    rep = SPACE.iso_representative(ids)
    assert (rep <= np.arange(15_625)).all()
    np.testing.assert_array_equal(cls[rep], cls)
    np.testing.assert_array_equal(SPACE.index_of(SPACE.unique_ids()), np.sort(np.unique(rep)))
    np.testing.assert_array_equal(SPACE.iso_hash(ids), cls.astype(np.uint64))


def test_canonical_picks_smallest_member_and_is_idempotent():
    dangling_a = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
    dangling_b = "|avg_pool_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
    canon = SPACE.canonical(dangling_a)
    assert canon == SPACE.canonical(dangling_b) == "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
    assert SPACE.canonical(canon) == canon
    # A cell whose every op matters is alone in its class.
    assert SPACE.canonical(BEST) == BEST


def test_skip_makes_edges_interchangeable():
    # Node 1 is a copy of the input, so a 1x1 conv from node 1 equals one from node 0 (or via node 2).
    x = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|nor_conv_1x1~1|skip_connect~2|"
    y = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
    z = "|skip_connect~0|+|nor_conv_1x1~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
    w = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|nor_conv_3x3~0|skip_connect~1|skip_connect~2|"
    cls = SPACE.iso_class(SPACE.encode([x, y, z, w]))
    assert cls[0] == cls[1] == cls[2] != cls[3]


def test_nb201_zero_term_convention_is_reproduced():
    # conv3(in) + conv1(in) reached through nodes 1 and 2 in either order: equal as functions, but
    # NAS-Bench-201 keeps the zero term of node 2 inside the key, so it counts them as two classes.
    # The reference partition (test below) depends on reproducing exactly this.
    x = "|nor_conv_3x3~0|+|nor_conv_1x1~0|none~1|+|none~0|skip_connect~1|skip_connect~2|"
    y = "|nor_conv_1x1~0|+|nor_conv_3x3~0|none~1|+|none~0|skip_connect~1|skip_connect~2|"
    cls = SPACE.iso_class(SPACE.encode([x, y]))
    assert cls[0] != cls[1]


def test_partition_equals_reference_iso_rep_index(ground_truth):
    ids = SPACE.encode(ground_truth["arch_str"].tolist())
    ours = SPACE.iso_class(ids)
    theirs = ground_truth["iso_rep_index"].to_numpy()
    assert len(np.unique(theirs)) == 6466
    pairs = np.unique(np.stack([ours, theirs], axis=1), axis=0)
    # One reference class per class of ours and vice versa: the same partition.
    assert len(pairs) == 6466
    assert len(np.unique(pairs[:, 0])) == 6466 and len(np.unique(pairs[:, 1])) == 6466
    # Each row's reference representative (a NAS-Bench-201 row index) lies in the row's class of ours.
    np.testing.assert_array_equal(ground_truth["nb201_index"].to_numpy(), np.arange(15_625))
    np.testing.assert_array_equal(ours[theirs], ours)


def test_dead_cells_match_reference(ground_truth):
    ids = SPACE.encode(ground_truth["arch_str"].tolist())
    dead = SPACE.is_dead(ids)
    assert dead.sum() == 341
    np.testing.assert_array_equal(dead, ground_truth["c10_test_acc"].to_numpy() == 10.0)
    np.testing.assert_array_equal(dead, ground_truth["naswot_score_v1"].isna().to_numpy())


def test_dead_cells_by_hand():
    dead = SPACE.encode(
        [
            "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
            "|nor_conv_3x3~0|+|skip_connect~0|skip_connect~1|+|none~0|none~1|none~2|",
            "|none~0|+|none~0|nor_conv_3x3~1|+|none~0|skip_connect~1|skip_connect~2|",
        ]
    )
    alive = SPACE.encode(
        [
            "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|",
            "|nor_conv_1x1~0|+|none~0|none~1|+|none~0|avg_pool_3x3~1|none~2|",
        ]
    )
    assert SPACE.is_dead(dead).all() and not SPACE.is_dead(alive).any()
    assert SPACE.is_dead(SPACE.all_ids()).sum() == 341


def test_node_types():
    types = SPACE.node_types(np.asarray(SPACE.parse(BEST)))
    assert types.shape == (1, 8)
    assert [NODE_TYPES[t] for t in types[0]] == ["input", *[OPS[i] for i in SPACE.parse(BEST)], "output"]
    assert SPACE.node_types(SPACE.all_ids()).shape == (15_625, 8)
