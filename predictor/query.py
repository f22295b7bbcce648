"""Constrained top-k queries and Pareto fronts over numpy columns, fully vectorized.

The lookup table holds every architecture of the space, so a hardware-aware search
is a filter plus a partial sort: well under a millisecond for NB201's 15,625 rows.

* ``constraints`` are upper bounds ``{column: budget}``; ``minimums`` lower bounds.
* NaN never satisfies a constraint: a target that cannot run an architecture
  excludes it.
* Safety margin: when a constrained column ``c`` has a ``c_std`` column (a predicted
  cost with its uncertainty) the bound is applied to ``c + z * c_std`` (upper) or
  ``c - z * c_std`` (lower), so ``z=2`` keeps picks under budget with ~97.7 %
  one-sided confidence under a Gaussian error model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .errors import NasgcnError

Columns = Mapping[str, np.ndarray]


def _column(columns: Columns, name: str, role: str) -> np.ndarray:
    if name not in columns:
        raise NasgcnError(f"unknown {role} column {name!r}; available columns: {', '.join(columns)}")
    col = np.asarray(columns[name])
    if col.dtype.kind not in "fiub":
        raise NasgcnError(f"{role} column {name!r} is not numeric")
    return col.astype(np.float64, copy=False)


def _finite_objective(score: np.ndarray, name: str) -> None:
    """Infinite scores (a broken model predicts ``-inf`` everywhere) must never rank as the best picks."""
    bad = np.isinf(score)
    if bad.any():
        raise NasgcnError(
            f"objective column {name!r} holds {int(bad.sum()):,} infinite value(s) (e.g. row {int(np.flatnonzero(bad)[0])}); "
            "the table comes from a broken model or file: rebuild it (NaN, not inf, marks a missing value)"
        )


def margin_values(
    columns: Columns, name: str, z: float = 0.0, upper: bool = True, role: str = "constraint"
) -> np.ndarray:
    """``name`` shifted by ``z`` standard deviations towards the unsafe side (if ``name_std`` exists)."""
    v = _column(columns, name, role)
    std_name = f"{name}_std"
    if z and std_name in columns:
        std = np.asarray(columns[std_name], dtype=np.float64)
        v = v + z * std if upper else v - z * std
    return v


def feasible_mask(
    columns: Columns,
    constraints: Mapping[str, float] | None = None,
    minimums: Mapping[str, float] | None = None,
    z: float = 0.0,
    exclude_dead: bool = False,
) -> np.ndarray:
    """Boolean mask of rows satisfying every bound (NaN fails)."""
    n = len(next(iter(columns.values())))
    mask = np.ones(n, dtype=bool)
    for name, budget in (constraints or {}).items():
        mask &= margin_values(columns, name, z, upper=True) <= float(budget)
    for name, floor in (minimums or {}).items():
        mask &= margin_values(columns, name, z, upper=False) >= float(floor)
    if exclude_dead and "dead" in columns:
        mask &= ~np.asarray(columns["dead"], dtype=bool)
    return mask


def query(
    columns: Columns,
    maximize: str = "pred",
    constraints: Mapping[str, float] | None = None,
    minimums: Mapping[str, float] | None = None,
    top_k: int | None = 10,
    unique: bool = False,
    z: float = 0.0,
    exclude_dead: bool = False,
    minimize: bool = False,
    iso_column: str = "iso_class",
    min_distance: int = 0,
    ops: np.ndarray | None = None,
    groups: np.ndarray | None = None,
) -> np.ndarray:
    """Row indices of the best ``top_k`` feasible rows, best first.

    ``unique`` keeps one row per isomorphism class (its best member). Ties break by
    row order. ``minimize=True`` ranks ascending (e.g. the fastest architectures).

    Diverse top-k (a short list to retrain should not hold near-copies of one cell):
    ``min_distance=D`` keeps a row only if its op ids (``ops``, one row of slot ids per
    table row) differ in at least ``D`` slots from every row kept before it; ``groups``
    (one label per row, e.g. DC-NAS clusters; negative = none) takes each group's best
    first, best group first, then each group's second best, and so on.
    """
    score = _column(columns, maximize, "objective")
    _finite_objective(score, maximize)
    if minimize:
        score = -score
    mask = feasible_mask(columns, constraints, minimums, z, exclude_dead) & ~np.isnan(score)
    rows = np.flatnonzero(mask)
    if rows.size == 0:
        return rows
    k = rows.size if top_k is None else int(top_k)
    if k <= 0:
        return rows[:0]
    if min_distance > 0 or groups is not None:
        for name, arr in (("ops", ops), ("groups", groups)):
            if arr is not None and len(arr) != len(score):
                raise NasgcnError(f"{name} has {len(arr)} rows, expected one per table row ({len(score)})")
        iso = np.asarray(columns[iso_column]) if unique and iso_column in columns else None
        if unique and iso is None:
            raise NasgcnError(f"unique=True needs an {iso_column!r} column; available: {', '.join(columns)}")
        return _diverse(rows, score[rows], k, iso, ops, min_distance, groups)
    s = score[rows]
    if unique:
        if iso_column not in columns:
            raise NasgcnError(f"unique=True needs an {iso_column!r} column; available: {', '.join(columns)}")
        iso = np.asarray(columns[iso_column])[rows]
        m = min(rows.size, max(4 * k, 64))
        while True:  # widen the partial sort until it holds k distinct classes
            cand = _top(s, m)
            _, first = np.unique(iso[cand], return_index=True)
            if first.size >= k or m >= rows.size:
                return rows[cand[np.sort(first)][:k]]
            m = min(rows.size, 4 * m)
    return rows[_top(s, min(k, rows.size))]


def _diverse(
    rows: np.ndarray,
    s: np.ndarray,
    k: int,
    iso: np.ndarray | None,
    ops: np.ndarray | None,
    min_distance: int,
    groups: np.ndarray | None,
) -> np.ndarray:
    """The greedy diverse top ``k`` of ``rows`` (scores ``s``): see :func:`query`."""
    order = rows[np.lexsort((rows, -s))]  # best first, ties by row
    if iso is not None:  # each class's best member only
        _, first = np.unique(iso[order], return_index=True)
        order = order[np.sort(first)]
    if groups is not None:
        g = np.asarray(groups, dtype=np.int64).reshape(-1)[order]
        order, g = order[g >= 0], g[g >= 0]
        # rank within the group (0 = its best), then by score: each group's best, best group first
        by_group = np.lexsort((np.arange(order.size), g))
        starts = np.r_[0, np.flatnonzero(np.diff(g[by_group])) + 1]
        rank_in = np.empty(order.size, dtype=np.int64)
        rank_in[by_group] = np.arange(order.size) - np.repeat(starts, np.diff(np.r_[starts, order.size]))
        order = order[np.lexsort((np.arange(order.size), rank_in))]
    if min_distance <= 0:
        return order[:k]
    if ops is None:
        raise NasgcnError("min_distance needs the op ids of the rows (ops)")
    ops = np.asarray(ops)
    chosen: list[int] = []
    for r in order:  # k kept rows at most: each candidate is one (k, slots) comparison
        if not chosen or ((ops[chosen] != ops[r]).sum(1) >= min_distance).all():
            chosen.append(int(r))
            if len(chosen) == k:
                break
    return np.asarray(chosen, dtype=np.int64)


def _top(score: np.ndarray, m: int) -> np.ndarray:
    """Positions of the ``m`` largest scores, sorted descending (ties: lower position first)."""
    if m < score.size:
        part = np.argpartition(-score, m - 1)[:m]
        # include every row tied with the m-th so the tie-break is by position
        thresh = score[part].min()
        part = np.flatnonzero(score >= thresh)
    else:
        part = np.arange(score.size)
    order = np.lexsort((part, -score[part]))
    return part[order][:m]


def pareto_front(
    columns: Columns,
    objective: str = "pred",
    costs: Sequence[str] = ("flops_m",),
    mask: np.ndarray | None = None,
    z: float = 0.0,
) -> np.ndarray:
    """Row indices of the Pareto front: maximize ``objective``, minimize one or more ``costs``.

    A row is on the front when no other row is at least as good in every criterion
    and strictly better in one. Sorted by the first cost ascending. Rows with a NaN
    criterion are excluded; ``z`` applies the safety margin to predicted costs.
    """
    costs = list(costs)
    if not costs:
        raise NasgcnError("a Pareto front needs at least one cost column")
    obj = _column(columns, objective, "objective")
    _finite_objective(obj, objective)
    cvals = [margin_values(columns, c, z, upper=True, role="cost") for c in costs]
    ok = ~np.isnan(obj)
    for c in cvals:
        ok &= ~np.isnan(c)
    if mask is not None:
        ok &= np.asarray(mask, dtype=bool)
    rows = np.flatnonzero(ok)
    if rows.size == 0:
        return rows
    o = obj[rows]
    c1 = cvals[0][rows]
    if len(costs) == 1:
        order = np.lexsort((-o, c1))  # by cost, best objective first among equal costs
        o_sorted = o[order]
        best_before = np.concatenate([[-np.inf], np.maximum.accumulate(o_sorted)[:-1]])
        keep = o_sorted > best_before
        return rows[order[keep]]
    crit = np.column_stack([-o] + [c[rows] for c in cvals])  # every criterion minimized
    front = _nondominated(crit)
    sel = rows[front]
    return sel[np.lexsort((-obj[sel], cvals[0][sel]))]


def _nondominated(crit: np.ndarray, block: int = 512) -> np.ndarray:
    """Positions of the non-dominated rows of ``crit`` (all criteria minimized), any number of columns.

    After a lexicographic sort a row can only be dominated by rows before it, so rows are swept
    in blocks: first against the front found so far (small), then the survivors among themselves.
    ``O(n * front)`` work in practice, not ``O(n^2)`` (a 100,000-row search archive: milliseconds).
    """
    order = np.lexsort(crit.T[::-1])
    c = crit[order]
    front = np.zeros((0, c.shape[1]))
    kept: list[np.ndarray] = []

    def dominated_by(f: np.ndarray, b: np.ndarray) -> np.ndarray:
        """[i]: some row of ``f`` is at least as good as ``b[i]`` everywhere and better somewhere."""
        out = np.zeros(b.shape[0], dtype=bool)
        for fs in range(0, f.shape[0], block):
            g = f[fs : fs + block]
            le = (g[None, :, :] <= b[:, None, :]).all(axis=2)
            lt = (g[None, :, :] < b[:, None, :]).any(axis=2)
            out |= (le & lt).any(axis=1)
        return out

    for start in range(0, c.shape[0], block):
        b = c[start : start + block]
        pos = start + np.arange(b.shape[0])
        if front.shape[0]:
            alive = ~dominated_by(front, b)
            b, pos = b[alive], pos[alive]
        if b.shape[0] > 1:
            alive = ~dominated_by(b, b)
            b, pos = b[alive], pos[alive]
        if b.shape[0]:
            kept.append(pos)
            front = np.concatenate([front, b])
    return order[np.concatenate(kept)] if kept else order[:0]
