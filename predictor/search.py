"""Constrained search over a predictor, for spaces too large to tabulate (and any other).

When the space can be listed, ``nasgcn table`` + ``nasgcn query`` answer a constrained question
exactly. FBNet's 9^22 architectures cannot be listed, so :func:`search` optimizes the predictor
instead: **regularized evolution** (a population that ages out its oldest members; tournament
selection; uniform crossover via ``space.crossover``; mutation via ``space.mutate``) interleaved
with **local search** (every one-slot edit, ``space.neighbours``, of the best unexpanded
candidates until none improves). It works on every space; on a small space its answer can be
checked against the full table.

Conventions, all explicit:

* Candidates are deduplicated by isomorphism class (``space.canonical_ids`` / ``space.iso_hash``)
  and stored as the class's canonical member, so the ``budget`` counts distinct classes scored
  and the top K are distinct classes.
* Scoring is vectorized: each generation (thousands of rows) is one call of ``score(ids)`` and
  one call per cost source, never a Python loop per architecture.
* **Feasibility with an uncertainty margin**: an upper bound ``COL <= V`` holds when
  ``mean + z * std <= V``, a lower bound ``COL >= V`` when ``mean - z * std >= V``; exact costs
  (``params_m``, ``flops_m``) have ``std = 0``. NaN (the target cannot run it, or a table lacks the
  architecture) fails every bound on that column.
* **Objective**: ``pred - kappa * pred_std`` (``kappa = 0`` by default: the plain ensemble mean;
  ``kappa > 0`` prefers architectures the predictor is sure about, a pessimistic lower bound).
* Selection ranks feasible candidates above infeasible ones; feasible ones by objective,
  infeasible ones by their total relative violation, so a search started far outside the budget
  walks into it.
* The **Pareto front** is taken over every feasible candidate scored: maximize the objective,
  minimize the ``--max`` columns (with their margins; ``flops_m`` when there are none).
* :func:`pareto_search` (``nasgcn search --pareto COL``) is the multi-objective engine: NSGA-II
  (:mod:`predictor.pareto`) on ``(-objective, costs...)`` with constraint domination, reporting the
  front's hypervolume. An optional IRLAS topology prior (:mod:`predictor.prior`) adds
  ``prior_weight * reward`` to the objective of either engine.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .errors import NasgcnError
from .spaces import SearchSpace, get_space

#: ``score(ids) -> (mean, std)``; ``std`` may be ``None`` (taken as 0).
Scorer = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]]
METHODS = ("both", "evolution", "local")


class CostSource(Protocol):
    """Anything that prices op-id rows: ``columns`` it provides, ``predict(ids) -> {col: (mean, std)}``."""

    columns: Sequence[str]

    def predict(self, ids: np.ndarray) -> Mapping[str, tuple[np.ndarray, np.ndarray | None]]: ...


class ExactCosts:
    """The space's exact ``params_m`` and ``flops_m`` (std 0), for a macro configuration."""

    columns = ("params_m", "flops_m")

    def __init__(self, space: SearchSpace | str, macro: Mapping[str, Any] | None = None) -> None:
        self._space = get_space(space)
        self.space = self._space.name
        self.macro = dict(macro or {}) or None
        self.name = f"exact costs of {self.space}"

    def predict(self, ids: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
        c = self._space.costs(ids, self.macro)
        return {
            "params_m": (np.asarray(c["params_m"], float), None),
            "flops_m": (np.asarray(c["flops_m"], float), None),
        }


class TableCosts:
    """Cost columns looked up in a :class:`~predictor.hardware.HardwareTable` (NaN where absent).

    Lookup is by architecture, then by isomorphism class (a class counts as measured when any
    member is: the members are the same network). ``<col>_std`` columns give the margins.
    """

    def __init__(self, table: Any, name: str = "hardware table") -> None:
        from .hardware import EXACT_COLUMNS

        self.table = table
        self.space = table.space
        self.units = dict(table.units)
        self.name = name
        metrics = list(table.metrics)
        self.columns = tuple(m for m in metrics if m not in EXACT_COLUMNS and not m.endswith(("_std", "_iqr")))

    def predict(self, ids: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
        pos = self.table.positions_of_ids(ids, by_class=True)
        found = pos >= 0
        safe = np.maximum(pos, 0)
        out: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
        for c in self.columns:
            mean = np.where(found, self.table[c].astype(np.float64)[safe], np.nan)
            std = None
            if f"{c}_std" in self.table.columns:
                std = np.where(found, self.table[f"{c}_std"].astype(np.float64)[safe], np.nan)
            out[c] = (mean, std)
        return out


class ModelCosts:
    """Wrap a cost model (``.columns``, ``.predict(ids) -> {col: (mean, std)}``), e.g. a latency model file."""

    def __init__(self, model: Any, name: str = "cost model") -> None:
        self.model = model
        self.space = getattr(model, "space", None)
        self.columns = tuple(model.columns)
        self.units = dict(getattr(model, "units", {}) or {})
        self.name = name

    def predict(self, ids: np.ndarray) -> Mapping[str, tuple[np.ndarray, np.ndarray | None]]:
        return self.model.predict(ids)


def is_cost_model_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a saved cost model (``nasgcn latency predict --save-model``) rather than a table.

    Hardware tables are CSV/JSON/Parquet rows keyed by ``arch_str``; latency model files are
    recognised by :func:`predictor.latency_model.is_cost_model_file` (an npz with nasgcn metadata).
    """
    try:
        from .latency_model import is_cost_model_file as _is_model
    except ImportError:  # pragma: no cover - installs without latency models: tables only
        return False
    return bool(_is_model(path))


def load_cost_source(path: str | os.PathLike, space: str, iso: str = "keep") -> Any:
    """A cost source for ``--hardware FILE``: a hardware table or a latency model file, for ``space``.

    The file type is checked, not guessed from the name. A file made for another space is
    refused, naming the file and the fix.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such hardware file")
    sp = get_space(space)
    if is_cost_model_file(p):
        from .latency_model import load_cost_model

        model = load_cost_model(p, space=sp.name)
        return ModelCosts(model, name=f"latency model {p}")
    from .hardware import HardwareTable

    return TableCosts(HardwareTable.read(p, iso=iso, space=sp.name), name=f"hardware table {p}")


@dataclass
class SearchResult:
    """Every candidate scored (canonical ids, predictions, costs), the top K and the Pareto front.

    ``top`` and ``pareto`` index the candidate arrays; ``records`` turns rows into dicts with the
    field names of ``nasgcn query`` (``arch_str``, ``pred``, ``pred_std``, cost columns, ``<col>_std``).
    """

    space: str
    ids: np.ndarray
    pred: np.ndarray
    pred_std: np.ndarray
    objective: np.ndarray
    feasible: np.ndarray
    top: np.ndarray
    pareto: np.ndarray
    constraints: dict[str, float]
    minimums: dict[str, float]
    pareto_costs: list[str]
    costs: dict[str, np.ndarray] = field(default_factory=dict)
    cost_std: dict[str, np.ndarray] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    _sources: list[Any] = field(default_factory=list, repr=False)
    #: standardized prior reward of each candidate (None: no prior was used)
    prior: np.ndarray | None = None

    @property
    def n_scored(self) -> int:
        return int(self.ids.shape[0])

    def columns(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """Columns of ``rows``: arch_str, pred, every cost column of every source, stds, ``iso_class``.

        Costs are recomputed for these rows from every source (the search itself only priced the
        constrained columns), so the output shows each cost column.
        """
        rows = np.asarray(rows, dtype=np.int64)
        sp = get_space(self.space)
        ids = self.ids[rows]
        out: dict[str, np.ndarray] = {
            "arch_str": np.asarray(sp.decode(ids) if rows.size else [], dtype=object),
            "pred": self.pred[rows],
        }
        stds: dict[str, np.ndarray] = {}
        for src in self._sources:
            values = src.predict(ids) if rows.size else {c: (np.zeros(0), None) for c in src.columns}
            for c in src.columns:
                if c in out:
                    continue
                mean, std = values[c]
                out[c] = np.asarray(mean, dtype=np.float64)
                if std is not None:
                    stds[f"{c}_std"] = np.asarray(std, dtype=np.float64)
        out.update(stds)
        out["pred_std"] = self.pred_std[rows]
        if self.prior is not None:
            out["prior"] = self.prior[rows]
        if sp.enumerable:  # as in `nasgcn query` rows: the class id in the space's table
            out["iso_class"] = sp.iso_class(ids) if rows.size else np.zeros(0, dtype=np.int64)
        return out

    def records(self, rows: np.ndarray) -> list[dict[str, Any]]:
        """Rows as dicts of plain values (NaN becomes None), for JSON."""
        cols = self.columns(rows)
        names = list(cols)
        lists = [np.asarray(cols[c]).tolist() for c in names]
        return [
            {n: (None if isinstance(v, float) and v != v else v) for n, v in zip(names, vals, strict=True)}
            for vals in zip(*lists, strict=True)
        ]

    def top_records(self) -> list[dict[str, Any]]:
        return self.records(self.top)

    def pareto_records(self) -> list[dict[str, Any]]:
        return self.records(self.pareto)


# ----- the engine ------------------------------------------------------------------------------
class _Archive:
    """Every scored candidate: numpy arrays grown by doubling, plus a sorted hash set for deduplication."""

    _FIELDS = ("pred", "std", "fit", "viol", "prior")

    def __init__(self, space: SearchSpace, columns: Sequence[str]) -> None:
        self.space = space
        self.n = 0
        self._ids = np.zeros((0, space.num_slots), dtype=np.int64)
        self._f = {name: np.zeros(0) for name in self._FIELDS}
        self._feas = np.zeros(0, dtype=bool)
        self._expanded = np.zeros(0, dtype=bool)
        self._cost = {c: np.zeros(0) for c in columns}
        self._cost_std = {c: np.zeros(0) for c in columns}
        self.seen = np.zeros(0, dtype=np.uint64)  # sorted class hashes

    def __len__(self) -> int:
        return self.n

    # views of the filled part
    ids = property(lambda self: self._ids[: self.n])
    pred = property(lambda self: self._f["pred"][: self.n])
    std = property(lambda self: self._f["std"][: self.n])
    fit = property(lambda self: self._f["fit"][: self.n])
    viol = property(lambda self: self._f["viol"][: self.n])
    prior = property(lambda self: self._f["prior"][: self.n])
    feas = property(lambda self: self._feas[: self.n])
    expanded = property(lambda self: self._expanded[: self.n])
    cost = property(lambda self: {c: v[: self.n] for c, v in self._cost.items()})
    cost_std = property(lambda self: {c: v[: self.n] for c, v in self._cost_std.items()})

    def new_only(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Canonical rows of ``ids`` whose class was never scored (first occurrence kept), with hashes."""
        canon = self.space.canonical_ids(ids)
        h = self.space.iso_hash(canon).astype(np.uint64)
        _, first = np.unique(h, return_index=True)
        first.sort()
        canon, h = canon[first], h[first]
        if self.seen.size:
            pos = np.searchsorted(self.seen, h)
            hit = self.seen[np.minimum(pos, self.seen.size - 1)] == h
            canon, h = canon[~hit], h[~hit]
        return canon, h

    @staticmethod
    def _grow(arr: np.ndarray, size: int) -> np.ndarray:
        if arr.shape[0] >= size:
            return arr
        out = np.zeros((max(size, 2 * arr.shape[0]), *arr.shape[1:]), dtype=arr.dtype)
        out[: arr.shape[0]] = arr
        return out

    def add(self, ids: np.ndarray, h: np.ndarray, scored: dict[str, Any]) -> np.ndarray:
        start, stop = self.n, self.n + ids.shape[0]
        self._ids = self._grow(self._ids, stop)
        self._ids[start:stop] = ids
        for name in self._FIELDS:
            self._f[name] = self._grow(self._f[name], stop)
            self._f[name][start:stop] = scored[name]
        self._feas = self._grow(self._feas, stop)
        self._feas[start:stop] = scored["feas"]
        self._expanded = self._grow(self._expanded, stop)
        self._expanded[start:stop] = False
        for store, key in ((self._cost, "cost"), (self._cost_std, "cost_std")):
            for c in store:
                store[c] = self._grow(store[c], stop)
                store[c][start:stop] = scored[key][c]
        # both parts sorted: a stable sort of their concatenation is a linear merge
        self.seen = np.sort(np.concatenate([self.seen, np.sort(h)]), kind="stable")
        self.n = stop
        return np.arange(start, stop)

    def best(self, m: int) -> np.ndarray:
        """Positions of the ``m`` best candidates, best first (partial sort when enough are feasible)."""
        feas = self.feas
        good = np.flatnonzero(feas)
        if good.size > m:
            fit = self.fit[good]
            part = good[np.argpartition(-fit, m - 1)[:m]]
            return part[np.lexsort((part, -self.fit[part]))]
        return _order(feas, self.fit, self.viol)[:m]


def _rank(feas: np.ndarray, fit: np.ndarray, viol: np.ndarray) -> np.ndarray:
    """Rank of each candidate (0 = best): feasible first by objective, then infeasible by violation."""
    order = np.lexsort((viol, -np.where(feas, fit, 0.0), ~feas))
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    return rank


def _order(feas: np.ndarray, fit: np.ndarray, viol: np.ndarray) -> np.ndarray:
    return np.lexsort((viol, -np.where(feas, fit, 0.0), ~feas))


def _resolve_sources(sources: Sequence[Any], needed: Sequence[str]) -> dict[str, Any]:
    """Which source prices each needed column; unknown or doubly provided columns are errors."""
    owner: dict[str, Any] = {}
    for src in sources:
        for c in src.columns:
            if c in owner:
                if c in needed:
                    raise NasgcnError(
                        f"cost column {c!r} is provided by both {owner[c].name} and {src.name}; "
                        "pass only one file with it"
                    )
                continue
            owner[c] = src
    missing = [c for c in needed if c not in owner]
    if missing:
        avail = ", ".join(owner) or "none"
        raise NasgcnError(f"unknown cost column(s) {missing}; available: {avail} (add a --hardware file that has them)")
    return {c: owner[c] for c in needed}


def _evaluator(
    score: Scorer,
    owner: Mapping[str, Any],
    needed: Sequence[str],
    upper: Mapping[str, float],
    lower: Mapping[str, float],
    z: float,
    kappa: float,
    timing: dict[str, float],
    prior: Callable[[np.ndarray], np.ndarray] | None = None,
    prior_weight: float = 0.0,
) -> Callable[[np.ndarray], dict[str, Any]]:
    """``evaluate(ids)``: predictions, needed costs, feasibility (with margins) and objective of rows.

    The objective is ``pred - kappa * pred_std + prior_weight * prior(ids)``; ``prior`` returns a
    standardized reward (mean 0, sd 1 over its reference set, e.g. :class:`predictor.prior.IRLASPrior`),
    so ``prior_weight`` is in the units of ``pred`` per standard deviation of the prior.
    """

    def evaluate(ids: np.ndarray) -> dict[str, Any]:
        t = time.perf_counter()
        mean, std = score(ids)
        mean = np.asarray(mean, dtype=np.float64).reshape(-1)
        std = np.zeros_like(mean) if std is None else np.asarray(std, dtype=np.float64).reshape(-1)
        if mean.shape[0] != ids.shape[0] or std.shape[0] != ids.shape[0]:
            raise NasgcnError(f"the scorer returned {mean.shape[0]} values for {ids.shape[0]} architectures")
        timing["score"] += time.perf_counter() - t
        t = time.perf_counter()
        values: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
        for src in {id(s): s for s in owner.values()}.values():
            got = src.predict(ids)
            values.update({c: got[c] for c in src.columns if c in owner and owner[c] is src})
        timing["costs"] += time.perf_counter() - t
        feas = np.isfinite(mean)
        viol = np.zeros(ids.shape[0])
        cost, cost_std = {}, {}
        for c in needed:
            m, s = values[c]
            m = np.asarray(m, dtype=np.float64)
            s = np.zeros_like(m) if s is None else np.nan_to_num(np.asarray(s, dtype=np.float64), nan=0.0)
            cost[c], cost_std[c] = m, s
            for bound, sign in ((upper.get(c), 1.0), (lower.get(c), -1.0)):
                if bound is None:
                    continue
                v = m + sign * z * s
                ok = sign * v <= sign * bound
                feas &= ok
                scale = max(abs(bound), 1e-12)
                excess = np.where(np.isnan(v), np.inf, np.maximum(sign * (v - bound), 0.0) / scale)
                viol += excess
        fit = mean - kappa * std
        prior_value = np.zeros_like(mean)
        if prior is not None and prior_weight:
            prior_value = np.asarray(prior(ids), dtype=np.float64).reshape(-1)
            fit = fit + prior_weight * prior_value
        return {
            "pred": mean, "std": std, "fit": fit, "feas": feas, "viol": viol, "cost": cost, "cost_std": cost_std,
            "prior": prior_value,
        }  # fmt: skip

    return evaluate


def search(
    space: SearchSpace | str,
    score: Scorer,
    costs: Sequence[Any] = (),
    constraints: Mapping[str, float] | None = None,
    minimums: Mapping[str, float] | None = None,
    top_k: int = 10,
    budget: int = 100_000,
    z: float = 0.0,
    kappa: float = 0.0,
    method: str = "both",
    population: int | None = None,
    batch: int | None = None,
    tournament: int | None = None,
    mutation_prob: float | None = None,
    crossover_prob: float = 0.5,
    local_share: float = 0.3,
    local_width: int | None = None,
    pareto_costs: Sequence[str] | None = None,
    init: np.ndarray | None = None,
    random_state: int | np.random.Generator | None = None,
    macro: Mapping[str, Any] | None = None,
    exclude_dead: bool = False,
    prior: Callable[[np.ndarray], np.ndarray] | None = None,
    prior_weight: float = 0.0,
) -> SearchResult:
    """The best ``top_k`` feasible classes (and the Pareto front) found scoring at most ``budget``.

    ``score(ids) -> (mean, std)`` is the accuracy predictor (e.g. ``lambda x: est.predict(x,
    return_std=True)``); ``costs`` are cost sources (:class:`TableCosts`, :class:`ModelCosts`);
    the space's exact ``params_m``/``flops_m`` are always available. ``constraints`` are upper
    bounds, ``minimums`` lower bounds, both with margin ``z`` (module docstring). ``method``:
    ``"both"`` (evolution, then local search on the best, alternating; the default),
    ``"evolution"`` or ``"local"`` (random starts + hill climbing). The search stops at ``budget``
    distinct classes scored, or earlier when a small space is exhausted. Seeded by ``random_state``.
    ``exclude_dead`` never returns architectures whose output is cut off (``space.is_dead``).
    ``prior`` / ``prior_weight``: an IRLAS topology prior added to the objective (see :func:`_evaluator`).
    """
    sp = get_space(space)
    if method not in METHODS:
        raise NasgcnError(f"search method must be one of {', '.join(METHODS)}, got {method!r}")
    if top_k < 1:
        raise NasgcnError(f"top_k must be >= 1, got {top_k}")
    if budget < 1:
        raise NasgcnError(f"the search budget must be >= 1 candidate, got {budget}")
    if not 0 <= local_share <= 1:
        raise NasgcnError(f"local_share must be in [0, 1], got {local_share}")
    for name, value, low in (
        ("population", population, 2),
        ("batch", batch, 1),
        ("tournament", tournament, 1),
        ("local_width", local_width, 1),
    ):
        if value is not None and value < low:
            raise NasgcnError(f"{name} must be >= {low}, got {value}")
    for name, value in (("mutation_prob", mutation_prob), ("crossover_prob", crossover_prob)):
        if value is not None and not 0 <= value <= 1:
            raise NasgcnError(f"{name} must be in [0, 1], got {value}")
    upper = {str(k): float(v) for k, v in (constraints or {}).items()}
    lower = {str(k): float(v) for k, v in (minimums or {}).items()}
    front_cols = list(pareto_costs) if pareto_costs else (list(upper) or ["flops_m"])
    sources: list[Any] = [ExactCosts(sp, macro)]
    for src in costs:
        recorded = getattr(src, "space", None)
        sp.check_compatible(recorded, getattr(src, "name", "a cost source"))
        sources.append(src)
    needed = list(dict.fromkeys([*upper, *lower, *front_cols]))
    owner = _resolve_sources(sources, needed)
    rng = np.random.default_rng(random_state)
    k = sp.num_slots
    n_classes = sp.num_unique if sp.enumerable else None
    cap = budget if n_classes is None else min(budget, n_classes)
    pop_size = int(population or max(64, min(3000, cap // 30)))  # 3,000 for 100k: steadier than 1,000 on fbnet
    batch_size = int(batch or max(64, min(4096, cap // 25)))
    tour = int(tournament or max(2, pop_size // 20))
    pmut = float(mutation_prob if mutation_prob is not None else 1.0 / k)
    width = int(local_width or max(2 * top_k, 16))
    t0 = time.perf_counter()
    timing = {"score": 0.0, "costs": 0.0}
    evaluate = _evaluator(score, owner, needed, upper, lower, z, kappa, timing, prior, prior_weight)

    arch = _Archive(sp, needed)
    n_dead = 0  # dead classes met (exclude_dead): marked seen, never scored

    def remaining() -> int:
        left = cap - len(arch)
        return left if n_classes is None else min(left, n_classes - n_dead - len(arch))

    def score_new(cands: np.ndarray) -> np.ndarray:
        canon, h = arch.new_only(cands)
        nonlocal n_dead
        if exclude_dead and canon.shape[0]:
            alive = ~sp.is_dead(canon)
            if not alive.all():
                n_dead += int((~alive).sum())
                arch.seen = np.sort(np.concatenate([arch.seen, np.sort(h[~alive])]), kind="stable")
                canon, h = canon[alive], h[alive]
        room = remaining()
        if canon.shape[0] > room:
            canon, h = canon[:room], h[:room]
        if canon.shape[0] == 0:
            return np.zeros(0, dtype=np.int64)
        return arch.add(canon, h, evaluate(canon))

    def random_batch(n: int) -> np.ndarray:
        if sp.enumerable:
            return sp.sample(min(n, sp.size), rng, unique=True)
        return sp.sample(n, rng)

    # initial population: given architectures first, then uniform samples
    starts = [sp.validate_ids(np.atleast_2d(init))] if init is not None and np.size(init) else []
    if n_classes is not None and budget >= n_classes:
        starts.append(sp.unique_ids())  # the budget covers the space: one exhaustive pass is cheapest
    starts.append(random_batch(pop_size))
    pop = score_new(np.concatenate(starts))
    generations = local_steps = restarts = stale = 0
    evo_target = cap if method == "evolution" else int(round(cap * (1.0 - local_share)))
    local_done = method == "evolution"

    def generation() -> np.ndarray:
        nonlocal pop
        rank = _rank(arch.feas[pop], arch.fit[pop], arch.viol[pop])
        n = batch_size
        ent_a = rng.integers(0, pop.size, size=(n, min(tour, pop.size)))
        ent_b = rng.integers(0, pop.size, size=(n, min(tour, pop.size)))
        pa = pop[ent_a[np.arange(n), np.argmin(rank[ent_a], axis=1)]]
        pb = pop[ent_b[np.arange(n), np.argmin(rank[ent_b], axis=1)]]
        children = arch.ids[pa].copy()
        cross = rng.random(n) < crossover_prob
        if cross.any():
            children[cross] = sp.crossover(arch.ids[pa[cross]], arch.ids[pb[cross]], rng)
        children = sp.mutate(children, pmut, rng)
        new = score_new(children)
        pop = np.concatenate([pop, new])[-pop_size:]  # aging: the oldest leave
        return new

    def local_step() -> bool:
        """Expand the best unexpanded candidates into all their one-slot neighbours."""
        order = arch.best(width)
        todo = order[~arch.expanded[order]]
        if todo.size == 0:
            return False
        arch._expanded[todo] = True
        nbrs = np.concatenate([sp.neighbours(arch.ids[i]) for i in todo])
        score_new(nbrs)
        return True

    while remaining() > 0:
        if method != "local" and (len(arch) < evo_target or local_done):
            new = generation()
            generations += 1
            local_done = method == "evolution"
        elif local_step():
            local_steps += 1
            continue
        else:
            local_done = True
            if method == "local":
                new = score_new(random_batch(pop_size))
                restarts += 1
            else:
                continue
        stale = 0 if new.size else stale + 1
        if stale >= 20:
            if not sp.enumerable:
                break
            # a small space the operators no longer reach: list the classes never scored
            score_new(sp.unique_ids()[rng.permutation(int(n_classes or 0))])
            stale = 0
            if remaining() > 0:  # every class is scored (or dead)
                break
    # a last hill-climbing pass within whatever budget is left (none: the loop used it all)
    while method != "evolution" and remaining() > 0 and local_step():
        local_steps += 1

    order = _order(arch.feas, arch.fit, arch.viol)
    top = order[arch.feas[order]][:top_k]
    pareto = _front(arch, front_cols, upper, z)
    stats = {
        "method": method,
        "budget": budget,
        "scored": len(arch),
        "feasible": int(arch.feas.sum()),
        "exhausted": n_classes is not None and len(arch) + n_dead >= n_classes,
        "dead_skipped": n_dead,
        "generations": generations,
        "local_steps": local_steps,
        "restarts": restarts,
        "population": pop_size,
        "batch": batch_size,
        "tournament": tour,
        "mutation_prob": pmut,
        "z": z,
        "kappa": kappa,
        "seconds": time.perf_counter() - t0,
        "score_seconds": timing["score"],
        "cost_seconds": timing["costs"],
    }
    return SearchResult(
        space=sp.name,
        ids=arch.ids,
        pred=arch.pred,
        pred_std=arch.std,
        objective=arch.fit,
        feasible=arch.feas,
        top=top,
        pareto=pareto,
        constraints=upper,
        minimums=lower,
        pareto_costs=front_cols,
        costs=arch.cost,
        cost_std=arch.cost_std,
        stats=stats,
        _sources=sources,
        prior=arch.prior if prior is not None and prior_weight else None,
    )


def pareto_search(
    space: SearchSpace | str,
    score: Scorer,
    costs: Sequence[Any] = (),
    pareto_costs: Sequence[str] = ("flops_m",),
    constraints: Mapping[str, float] | None = None,
    minimums: Mapping[str, float] | None = None,
    budget: int = 20_000,
    population: int | None = None,
    z: float = 0.0,
    kappa: float = 0.0,
    crossover_prob: float = 0.9,
    mutation_prob: float | None = None,
    init: np.ndarray | None = None,
    random_state: int | np.random.Generator | None = None,
    macro: Mapping[str, Any] | None = None,
    exclude_dead: bool = False,
    prior: Callable[[np.ndarray], np.ndarray] | None = None,
    prior_weight: float = 0.0,
    hv_reference: Sequence[float] | None = None,
    top_k: int = 10,
) -> SearchResult:
    """The Pareto set (maximize the objective, minimize ``pareto_costs``) found by NSGA-II.

    Criteria are ``(-objective, cost_1 + z*std_1, ...)`` with the objective of :func:`_evaluator`
    (``pred - kappa*pred_std [+ prior_weight*prior]``). ``constraints``/``minimums`` are handled by
    constraint domination (feasible first, infeasible by total relative violation; a NaN front cost,
    a target that cannot run it, is infeasible). At most ``budget`` distinct classes are scored, one
    vectorized predictor call per generation. ``result.pareto`` is the front of every feasible class
    scored; ``stats["hypervolume"]`` its hypervolume with the reference point ``stats["hv_reference"]``
    (default: worst feasible value scored of each criterion + 10 % of its range, objective negated;
    pass ``hv_reference`` in the same negated form to compare runs) and ``stats["hv_normalized"]``
    the same divided by the box between the ideal point scored and the reference.
    """
    from .pareto import hypervolume, nsga2, reference_point

    sp = get_space(space)
    cols = [str(c) for c in pareto_costs]
    if not cols:
        raise NasgcnError("a Pareto search needs at least one cost column (--pareto COL)")
    if budget < 1:
        raise NasgcnError(f"the search budget must be >= 1 candidate, got {budget}")
    upper = {str(k): float(v) for k, v in (constraints or {}).items()}
    lower = {str(k): float(v) for k, v in (minimums or {}).items()}
    sources: list[Any] = [ExactCosts(sp, macro)]
    for src in costs:
        sp.check_compatible(getattr(src, "space", None), getattr(src, "name", "a cost source"))
        sources.append(src)
    needed = list(dict.fromkeys([*upper, *lower, *cols]))
    owner = _resolve_sources(sources, needed)
    n_classes = sp.num_unique if sp.enumerable else None
    cap = budget if n_classes is None else min(budget, n_classes)
    pop_size = int(population or max(32, min(400, cap // 20)))
    t0 = time.perf_counter()
    timing = {"score": 0.0, "costs": 0.0}
    evaluate = _evaluator(score, owner, needed, upper, lower, z, kappa, timing, prior, prior_weight)
    arch = _Archive(sp, needed)

    def objectives(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        got = evaluate(ids)
        arch.add(ids, sp.iso_hash(ids).astype(np.uint64), got)
        F = np.column_stack([-got["fit"], *[got["cost"][c] + z * got["cost_std"][c] for c in cols]])
        bad = ~got["feas"] | ~np.isfinite(F).all(axis=1)
        viol = np.where(bad, np.maximum(got["viol"], 1e-9), 0.0)
        return np.nan_to_num(F, nan=np.inf), np.nan_to_num(viol, nan=np.inf)

    valid = (lambda ids: ~sp.is_dead(ids)) if exclude_dead else None
    res = nsga2(
        sp, objectives, cap, population=pop_size, init=init, crossover_prob=crossover_prob,
        mutation_prob=mutation_prob, valid=valid, random_state=random_state,
    )  # fmt: skip
    feas = arch.feas & np.isfinite(res.F).all(axis=1) if len(arch) else arch.feas
    pareto = _front(arch, cols, {}, z) if len(arch) else np.zeros(0, dtype=np.int64)
    pareto = pareto[feas[pareto]]
    hv = hv_norm = None
    ref: np.ndarray | None = None
    if feas.any():
        ref = np.asarray(hv_reference, float) if hv_reference is not None else reference_point(res.F[feas])
        hv = hypervolume(res.F[pareto], ref, random_state=0)
        ideal = res.F[feas].min(axis=0)
        box = float(np.prod(np.maximum(ref - ideal, 0.0)))
        hv_norm = hv / box if box > 0 else None
    order = _order(arch.feas, arch.fit, arch.viol)
    top = order[arch.feas[order]][:top_k]
    stats = {
        **res.stats,
        "method": "nsga2",
        "budget": budget,
        "feasible": int(arch.feas.sum()),
        "exhausted": n_classes is not None and len(arch) + res.stats["invalid_skipped"] >= n_classes,
        "dead_skipped": res.stats["invalid_skipped"],
        "z": z,
        "kappa": kappa,
        "prior_weight": prior_weight if prior is not None else 0.0,
        "criteria": ["-objective", *cols],
        "hypervolume": hv,
        "hv_reference": None if ref is None else [float(v) for v in ref],
        "hv_normalized": hv_norm,
        "seconds": time.perf_counter() - t0,
        "score_seconds": timing["score"],
        "cost_seconds": timing["costs"],
    }
    return SearchResult(
        space=sp.name, ids=arch.ids, pred=arch.pred, pred_std=arch.std, objective=arch.fit, feasible=arch.feas,
        top=top, pareto=pareto, constraints=upper, minimums=lower, pareto_costs=cols, costs=arch.cost,
        cost_std=arch.cost_std, stats=stats, _sources=sources,
        prior=arch.prior if prior is not None and prior_weight else None,
    )  # fmt: skip


def _front(arch: _Archive, cols: Sequence[str], upper: Mapping[str, float], z: float) -> np.ndarray:
    """Pareto front of the feasible candidates: maximize the objective, minimize ``cols`` (with margins)."""
    from .query import pareto_front

    columns: dict[str, np.ndarray] = {"objective": arch.fit}
    for c in cols:
        columns[c] = arch.cost[c]
        columns[f"{c}_std"] = arch.cost_std[c]
    return pareto_front(columns, "objective", list(cols), mask=arch.feas, z=z)


def exhaustive(
    space: SearchSpace | str,
    score: Scorer,
    costs: Sequence[Any] = (),
    constraints: Mapping[str, float] | None = None,
    minimums: Mapping[str, float] | None = None,
    top_k: int = 10,
    z: float = 0.0,
    kappa: float = 0.0,
) -> SearchResult:
    """The exact answer on an enumerable space: every class scored (a reference for :func:`search`)."""
    sp = get_space(space)
    sp.require_enumerable("an exhaustive scan")
    return search(
        sp, score, costs, constraints, minimums, top_k=top_k, budget=int(sp.num_unique or sp.size), z=z, kappa=kappa
    )
