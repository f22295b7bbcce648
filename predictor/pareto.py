"""Multi-objective search tools: non-dominated sorting, crowding, hypervolume and NSGA-II.

Every criterion is **minimized** here (pass ``-pred`` for an accuracy to maximize). All functions
take a criteria matrix ``F`` of shape ``(n, m)`` and are vectorized over rows.

* :func:`nondominated_sort` ranks rows into fronts (0 = the non-dominated ones);
  :func:`constrained_ranks` adds Deb's constraint domination (feasible before infeasible,
  infeasible by total violation).
* :func:`crowding_distance` is NSGA-II's diversity measure within each front.
* :func:`hypervolume` is the volume dominated by a set and bounded by a reference point: exact
  (a sweep in 2-D, slicing by the last criterion in 3-D or for small sets), otherwise a seeded
  Monte Carlo estimate (``method="mc"`` forces it).
* :func:`exact_front` is the non-dominated subset of a whole table (e.g. a tabulated space).
* :func:`nsga2` is the evolutionary engine over a search space: binary tournament on (rank,
  crowding), the space's ``crossover`` and ``mutate``, candidates deduplicated by isomorphism
  class so the budget counts distinct classes scored, (mu + lambda) survival by rank then crowding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import NasgcnError

#: ``evaluate(ids) -> (F, violation)``: criteria to minimize ``(n, m)`` and total constraint violation ``(n,)`` (0 = feasible).
Evaluator = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def _criteria(F: np.ndarray) -> np.ndarray:
    F = np.asarray(F, dtype=np.float64)
    if F.ndim != 2:
        raise NasgcnError(f"criteria must be a matrix (n, m), got shape {F.shape}")
    return F


def dominance_matrix(F: np.ndarray) -> np.ndarray:
    """``D[i, j]``: row ``i`` dominates row ``j`` (no worse everywhere, better somewhere)."""
    F = _criteria(F)
    le = (F[:, None, :] <= F[None, :, :]).all(axis=2)
    lt = (F[:, None, :] < F[None, :, :]).any(axis=2)
    return le & lt


def nondominated_sort(F: np.ndarray) -> np.ndarray:
    """Front index of each row (0 = non-dominated, 1 = non-dominated once front 0 is removed, ...).

    Rows with a NaN criterion are placed after every finite row (they compare as +inf).
    ``O(n^2 m)`` memory and time, fine for NSGA-II populations (a few thousand rows).
    """
    F = np.where(np.isnan(_criteria(F)), np.inf, F)
    n = F.shape[0]
    rank = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return rank
    D = dominance_matrix(F)
    count = D.sum(axis=0)  # how many rows dominate each row
    front = 0
    current = np.flatnonzero(count == 0)
    while current.size:
        rank[current] = front
        count = count - D[current].sum(axis=0)
        count[rank >= 0] = -1
        current = np.flatnonzero(count == 0)
        front += 1
    rank[rank < 0] = front  # only identical-to-inf leftovers (cannot happen for finite data)
    return rank


def constrained_ranks(F: np.ndarray, violation: np.ndarray | None = None) -> np.ndarray:
    """Deb's constraint domination as ranks: feasible rows by :func:`nondominated_sort`, then the
    infeasible ones, each distinct total violation its own (worse) rank."""
    F = _criteria(F)
    rank = np.zeros(F.shape[0], dtype=np.int64)
    viol = np.zeros(F.shape[0]) if violation is None else np.nan_to_num(np.asarray(violation, float), nan=np.inf)
    feas = viol <= 0
    if feas.any():
        rank[feas] = nondominated_sort(F[feas])
    if (~feas).any():
        base = int(rank[feas].max()) + 1 if feas.any() else 0
        _, dense = np.unique(viol[~feas], return_inverse=True)
        rank[~feas] = base + dense.ravel()
    return rank


def crowding_distance(F: np.ndarray, rank: np.ndarray | None = None) -> np.ndarray:
    """NSGA-II crowding distance of each row within its front (boundary rows: +inf).

    Per criterion the gap between a row's neighbours in its front, divided by the front's range;
    summed over criteria. Larger = a less crowded region, preferred to keep diversity.
    """
    F = np.where(np.isnan(_criteria(F)), np.inf, F)
    n, m = F.shape
    rank = np.zeros(n, dtype=np.int64) if rank is None else np.asarray(rank)
    dist = np.zeros(n)
    for r in np.unique(rank):
        idx = np.flatnonzero(rank == r)
        if idx.size <= 2:
            dist[idx] = np.inf
            continue
        for j in range(m):
            v = F[idx, j]
            order = np.argsort(v, kind="stable")
            sv = v[order]
            span = sv[-1] - sv[0]
            gap = np.full(idx.size, np.inf)
            if np.isfinite(span) and span > 0:
                gap[1:-1] = (sv[2:] - sv[:-2]) / span
            elif np.isfinite(span):
                gap[1:-1] = 0.0
            d = np.empty(idx.size)
            d[order] = gap
            dist[idx] += d
    return dist


def exact_front(F: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Row indices of the non-dominated rows of a whole table (NaN rows and ``~mask`` rows excluded).

    Uses the blocked sweep of :func:`predictor.query.pareto_front`, so a table of 10^5 rows takes
    milliseconds; duplicates of a front point are all kept.
    """
    from .query import _nondominated

    F = _criteria(F)
    ok = ~np.isnan(F).any(axis=1)
    if mask is not None:
        ok &= np.asarray(mask, dtype=bool)
    rows = np.flatnonzero(ok)
    if rows.size == 0:
        return rows
    return np.sort(rows[_nondominated(F[rows])])


def _hv2d(P: np.ndarray, ref: np.ndarray) -> float:
    """Exact 2-D hypervolume of points already inside the reference box."""
    order = np.lexsort((P[:, 1], P[:, 0]))
    P = P[order]
    best = np.minimum.accumulate(P[:, 1])
    keep = np.concatenate([[True], best[1:] < best[:-1]])  # the staircase: strictly better in f1
    x, y = P[keep, 0], best[keep]
    widths = np.diff(np.concatenate([x, [ref[0]]]))
    return float(np.sum(widths * (ref[1] - y)))


def _hv_exact(P: np.ndarray, ref: np.ndarray) -> float:
    """Exact hypervolume by slicing along the last criterion (HSO); 2-D base case is the sweep."""
    if P.shape[0] == 0:
        return 0.0
    if P.shape[1] == 1:
        return float(ref[0] - P[:, 0].min())
    if P.shape[1] == 2:
        return _hv2d(P, ref)
    order = np.argsort(P[:, -1], kind="stable")
    P = P[order]
    levels = np.concatenate([P[:, -1], [ref[-1]]])
    total = 0.0
    for i in range(P.shape[0]):
        h = levels[i + 1] - levels[i]
        if h > 0:
            total += h * _hv_exact(P[: i + 1, :-1], ref[:-1])
    return total


def hypervolume(
    F: np.ndarray,
    ref: np.ndarray | list[float],
    method: str = "auto",
    samples: int = 200_000,
    random_state: int | np.random.Generator | None = 0,
) -> float:
    """Volume dominated by the rows of ``F`` (all criteria minimized) inside the box up to ``ref``.

    Rows not strictly better than ``ref`` in every criterion contribute nothing. ``method``:
    ``"exact"``, ``"mc"`` (Monte Carlo with ``samples`` uniform points in the box spanned by the
    set's ideal point and ``ref``; seeded) or ``"auto"`` (exact in 2-D, in 3-D up to 3,000
    non-dominated points, and wherever ``front^(m-1) <= 2e7``; Monte Carlo otherwise).
    """
    F = _criteria(F)
    ref = np.asarray(ref, dtype=np.float64).reshape(-1)
    if ref.size != F.shape[1]:
        raise NasgcnError(f"reference point has {ref.size} values for {F.shape[1]} criteria")
    if method not in ("auto", "exact", "mc"):
        raise NasgcnError(f"hypervolume method must be auto, exact or mc, got {method!r}")
    inside = np.isfinite(F).all(axis=1) & (F < ref).all(axis=1)
    P = F[inside]
    if P.shape[0] == 0:
        return 0.0
    P = P[exact_front(P)]
    P = np.unique(P, axis=0)
    n, m = P.shape
    exact = method == "exact" or (method == "auto" and (m <= 2 or (m == 3 and n <= 3000) or float(n) ** (m - 1) <= 2e7))
    if exact:
        return _hv_exact(P, ref)
    rng = np.random.default_rng(random_state)
    lo = P.min(axis=0)
    box = float(np.prod(ref - lo))
    hit = 0
    for start in range(0, samples, 20_000):
        pts = lo + rng.random((min(20_000, samples - start), m)) * (ref - lo)
        dominated = np.zeros(pts.shape[0], dtype=bool)
        for s in range(0, n, 256):
            dominated |= (P[None, s : s + 256, :] <= pts[:, None, :]).all(axis=2).any(axis=1)
        hit += int(dominated.sum())
    return box * hit / samples


def reference_point(F: np.ndarray, margin: float = 0.1) -> np.ndarray:
    """The default reference point: the worst value of each criterion plus ``margin`` of its range.

    (With a range of 0, ``margin`` of the value's magnitude, at least ``margin``.) Computed on the
    points whose hypervolume is compared, e.g. the feasible candidates scored or an exact front.
    """
    F = _criteria(F)
    F = F[np.isfinite(F).all(axis=1)]
    if F.shape[0] == 0:
        raise NasgcnError("no finite point to place a hypervolume reference point by")
    hi, lo = F.max(axis=0), F.min(axis=0)
    span = hi - lo
    span = np.where(span > 0, span, np.maximum(np.abs(hi), 1.0))
    return hi + margin * span


# ----- NSGA-II ----------------------------------------------------------------------------------
@dataclass
class NSGA2Result:
    """Every distinct class scored by :func:`nsga2` (canonical ids, criteria, violation).

    ``population`` indexes the final population, ``front`` the non-dominated feasible rows of the
    whole archive (what a user wants: no scored point is lost by survival selection).
    """

    ids: np.ndarray
    F: np.ndarray
    violation: np.ndarray
    population: np.ndarray
    front: np.ndarray
    stats: dict[str, Any] = field(default_factory=dict)


def survivors(F: np.ndarray, violation: np.ndarray, n: int) -> np.ndarray:
    """NSGA-II survival: the ``n`` best rows by constrained rank, ties in the last front by crowding."""
    rank = constrained_ranks(F, violation)
    crowd = crowding_distance(F, rank)
    order = np.lexsort((-crowd, rank))
    return order[:n]


def nsga2(
    space: Any,
    evaluate: Evaluator,
    budget: int,
    population: int = 100,
    init: np.ndarray | None = None,
    crossover_prob: float = 0.9,
    mutation_prob: float | None = None,
    valid: Callable[[np.ndarray], np.ndarray] | None = None,
    random_state: int | np.random.Generator | None = None,
    max_stale: int = 20,
) -> NSGA2Result:
    """NSGA-II over ``space``, scoring at most ``budget`` distinct isomorphism classes.

    ``evaluate(ids)`` is called once per generation on new canonical rows only, and returns the
    criteria to minimize and the total constraint violation (0 = feasible). ``valid(ids)`` may
    exclude rows before scoring (never counted against the budget). The search stops when the
    budget is spent, or after ``max_stale`` generations without a new class (a small space is
    exhausted). Parents: binary tournaments on (constrained rank, crowding); children: uniform
    crossover with probability ``crossover_prob``, then ``space.mutate`` (default rate 1/slots).
    """
    from .spaces import get_space

    sp = get_space(space)
    if budget < 1:
        raise NasgcnError(f"the NSGA-II budget must be >= 1 candidate, got {budget}")
    if population < 4:
        raise NasgcnError(f"the NSGA-II population must be >= 4, got {population}")
    for name, value in (("crossover_prob", crossover_prob), ("mutation_prob", mutation_prob)):
        if value is not None and not 0 <= value <= 1:
            raise NasgcnError(f"{name} must be in [0, 1], got {value}")
    rng = np.random.default_rng(random_state)
    pmut = float(mutation_prob if mutation_prob is not None else 1.0 / sp.num_slots)
    seen: set[int] = set()
    chunks_ids: list[np.ndarray] = []
    chunks_F: list[np.ndarray] = []
    chunks_v: list[np.ndarray] = []
    n_scored = 0
    n_invalid = 0

    def score_new(cands: np.ndarray) -> np.ndarray:
        """Positions (in the archive) of the newly scored classes among ``cands``."""
        nonlocal n_scored, n_invalid
        if cands.shape[0] == 0:
            return np.zeros(0, dtype=np.int64)
        canon = sp.canonical_ids(cands)
        h = sp.iso_hash(canon).astype(np.uint64)
        _, first = np.unique(h, return_index=True)
        first.sort()
        new = np.asarray([i for i in first.tolist() if int(h[i]) not in seen], dtype=np.int64)
        if new.size == 0:
            return new
        canon, h = canon[new], h[new]
        seen.update(int(x) for x in h.tolist())
        if valid is not None:
            ok = np.asarray(valid(canon), dtype=bool)
            n_invalid += int((~ok).sum())
            canon = canon[ok]
        canon = canon[: max(0, budget - n_scored)]
        if canon.shape[0] == 0:
            return np.zeros(0, dtype=np.int64)
        F, viol = evaluate(canon)
        F = np.asarray(F, dtype=np.float64).reshape(canon.shape[0], -1)
        viol = np.asarray(viol, dtype=np.float64).reshape(-1)
        if viol.shape[0] != canon.shape[0]:
            raise NasgcnError(f"the evaluator returned {viol.shape[0]} violations for {canon.shape[0]} rows")
        chunks_ids.append(canon)
        chunks_F.append(F)
        chunks_v.append(viol)
        pos = np.arange(n_scored, n_scored + canon.shape[0])
        n_scored += canon.shape[0]
        return pos

    def archive() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if len(chunks_ids) > 1:  # keep one array per field (cheap: the archive is small)
            chunks_ids[:] = [np.concatenate(chunks_ids)]
            chunks_F[:] = [np.concatenate(chunks_F)]
            chunks_v[:] = [np.concatenate(chunks_v)]
        return chunks_ids[0], chunks_F[0], chunks_v[0]

    def random_batch(n: int) -> np.ndarray:
        if sp.enumerable:
            return sp.sample(min(n, sp.size), rng, unique=True)
        return sp.sample(n, rng)

    starts = [sp.validate_ids(np.atleast_2d(init))] if init is not None and np.size(init) else []
    starts.append(random_batch(population))
    pop = score_new(np.concatenate(starts))
    tries = 0
    while pop.size < min(population, budget) and tries < max_stale:  # a dead-heavy or tiny space: top up
        pop = np.concatenate([pop, score_new(random_batch(population))])
        tries += 1
    generations = stale = 0
    while n_scored < budget and pop.size >= 2 and stale < max_stale:
        ids, F, viol = archive()
        rank = constrained_ranks(F[pop], viol[pop])
        crowd = crowding_distance(F[pop], rank)
        a = rng.integers(0, pop.size, size=(2, population))
        b = rng.integers(0, pop.size, size=(2, population))
        better = (rank[a] < rank[b]) | ((rank[a] == rank[b]) & (crowd[a] >= crowd[b]))
        parents = pop[np.where(better, a, b)]
        children = ids[parents[0]].copy()
        cross = rng.random(population) < crossover_prob
        if cross.any():
            children[cross] = sp.crossover(ids[parents[0, cross]], ids[parents[1, cross]], rng)
        children = sp.mutate(children, pmut, rng)
        new = score_new(children)
        generations += 1
        stale = 0 if new.size else stale + 1
        if new.size == 0:
            continue
        ids, F, viol = archive()
        both = np.concatenate([pop, new])
        pop = both[survivors(F[both], viol[both], population)]
    ids, F, viol = (
        archive() if chunks_ids else (np.zeros((0, sp.num_slots), dtype=np.int64), np.zeros((0, 0)), np.zeros(0))
    )
    front = exact_front(F, mask=viol <= 0) if ids.shape[0] else np.zeros(0, dtype=np.int64)
    stats = {
        "engine": "nsga2",
        "scored": int(n_scored),
        "generations": generations,
        "population": population,
        "crossover_prob": crossover_prob,
        "mutation_prob": pmut,
        "invalid_skipped": n_invalid,
        "exhausted": bool(stale >= max_stale),
    }
    return NSGA2Result(ids=ids, F=F, violation=viol, population=pop, front=front, stats=stats)
