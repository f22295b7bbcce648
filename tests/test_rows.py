"""predictor.rows.unique_rows gives exactly NumPy's unique-rows answer."""

from __future__ import annotations

import numpy as np
import pytest

from predictor.rows import unique_rows


@pytest.mark.parametrize("shape, high", [((5000, 22), 9), ((6561, 8), 3), ((300, 3), 100_000), ((1, 4), 2)])
def test_matches_numpy(shape, high):
    rng = np.random.default_rng(0)
    m = rng.integers(0, high, shape)
    m[: shape[0] // 3] = m[shape[0] // 3 : 2 * (shape[0] // 3)]  # duplicates
    want = np.unique(m, axis=0, return_index=True, return_inverse=True)
    got = unique_rows(m)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w.reshape(g.shape))
    cols = unique_rows([m[:, k] for k in range(shape[1])])  # the column-list form
    np.testing.assert_array_equal(cols[2], got[2])
