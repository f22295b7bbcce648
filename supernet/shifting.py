"""Supernet Shifting: an evolutionary search that keeps training the supernet it searches with.

Why: a supernet trained with uniform path sampling ranks the *good* architectures
poorly (its Kendall tau among the top 1 % is near zero). Supernet Shifting
(Zhang et al., CVPR 2024) runs the usual SPOS evolution (population, top-k
parents, mutation, crossover) but back-propagates every visited candidate's
training loss into the shared weights for a few SGD steps before evaluating it,
so the weights drift ("shift") toward the region the search is exploring and the
ranking sharpens where it matters. With a new dataset the classifier is reset and
trained on the fly (transfer).

Two layers:

* :class:`EvolutionSearch` is the search loop written against two small callables
  (``step(arch_ids)`` trains, ``score(arch_ids)`` evaluates) and a constraint
  predicate; it knows nothing about torch, checkpoints its state per generation and
  resumes exactly.
* :class:`SupernetShifting` binds it to a supernet (``forward(x, arch)``), a
  training and a validation dataset, an SGD optimizer and a run directory.

Every space works: architectures are asked of the space (``sample``, ``mutate``,
``crossover``, ``canonical_ids`` for one visit per isomorphism class, ``costs`` for
exact FLOPs/params bounds), never listed, so a space of 10^21 architectures (fbnet) is
searched like NB201's 15,625. Hardware bounds come from tables (matched by ``arch_str``)
or from cost models that price any architecture (latency model files).

Randomness is derived from ``(random_state, generation)`` so a run resumed after a
kill reproduces the uninterrupted run exactly on the same machine.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np

from predictor.errors import NasgcnError
from predictor.io import atomic_path, dumps, write_json_atomic, write_text_atomic
from predictor.metrics import tie_ranks
from predictor.spaces import SearchSpace, get_space

ArchIds = np.ndarray  # (num_slots,) int64 op ids of one architecture of the space
Constraint = Callable[[np.ndarray], np.ndarray]  # (n, num_slots) ids -> (n,) bool "allowed"

#: Columns every space computes exactly (``space.costs``); others come from tables.
COST_COLUMNS = ("params_m", "flops_m", "params", "macs")


# ----------------------------------------------------------------------------------
# configuration
# ----------------------------------------------------------------------------------
@dataclass
class ShiftingConfig:
    """Search and shifting hyperparameters; defaults are the published proportions.

    ``keep`` parents are chosen each generation from the candidates evaluated in it
    plus the previous parents (SPOS-style top-k memory); ``mutations`` children come
    from mutating parents slot-wise with ``mutation_prob`` and ``crossovers`` from
    uniform crossover of two parents; the population is topped up with random valid
    architectures. Every candidate gets ``steps_per_candidate`` SGD steps on its own
    training loss (lr ``lr``) and is then scored on ``eval_batches`` fixed validation
    batches. ``warmup_steps`` (transfer only) train the new classifier first.
    """

    population: int = 50
    keep: int = 10
    mutations: int = 25
    mutation_prob: float = 0.1
    crossovers: int = 25
    generations: int = 20
    steps_per_candidate: int = 20
    lr: float = 1e-4
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 64
    eval_batches: int = 4
    eval_batch_size: int = 256
    warmup_steps: int = 0
    unique: bool = True
    exclude_dead: bool = True
    max_tries: int = 100
    final_top: int = 10

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if f.type in ("int", int) and (not isinstance(v, (int, np.integer)) or isinstance(v, bool)):
                raise NasgcnError(f"shifting option {f.name} must be an integer, got {v!r}")
        positive = ("population", "keep", "generations", "batch_size", "eval_batches", "eval_batch_size", "max_tries")
        for name in positive:
            if getattr(self, name) < 1:
                raise NasgcnError(f"shifting option {name} must be >= 1, got {getattr(self, name)}")
        for name in ("mutations", "crossovers", "steps_per_candidate", "warmup_steps", "final_top"):
            if getattr(self, name) < 0:
                raise NasgcnError(f"shifting option {name} must be >= 0, got {getattr(self, name)}")
        if self.keep > self.population:
            raise NasgcnError(f"shifting keep ({self.keep}) cannot exceed population ({self.population})")
        if not 0.0 <= self.mutation_prob <= 1.0:
            raise NasgcnError(f"shifting mutation_prob must lie in [0, 1], got {self.mutation_prob}")
        if self.lr < 0:
            raise NasgcnError(f"shifting lr must be >= 0, got {self.lr}")

    @classmethod
    def cpu(cls, **overrides: Any) -> "ShiftingConfig":
        """The published proportions scaled down (about 1/5) for a CPU run of a few minutes."""
        base = dict(
            population=10,
            keep=4,
            mutations=5,
            crossovers=5,
            generations=4,
            steps_per_candidate=4,
            lr=1e-3,
            batch_size=64,
            eval_batches=2,
            final_top=5,
        )
        base.update(overrides)
        return cls(**base)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], where: str = "shift") -> "ShiftingConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise NasgcnError(f"[{where}]: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**dict(values))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ----------------------------------------------------------------------------------
# constraints
# ----------------------------------------------------------------------------------
def _macro_dict(macro: Any) -> dict[str, Any] | None:
    """Macro-network options as a plain mapping (a dataclass such as a space's config, or a dict)."""
    if macro is None:
        return None
    if is_dataclass(macro) and not isinstance(macro, type):
        return dict(asdict(macro))
    if isinstance(macro, Mapping):
        return dict(macro)
    raise NasgcnError(f"macro options must be a mapping, got {type(macro).__name__}")


class _ColumnLookup:
    """Values of one table column for op-id rows, matched by ``arch_str``.

    Why two modes: a table of a small space is matched exactly through a vector indexed
    by :meth:`SearchSpace.index_of` (a whole population at once); a large space (fbnet)
    cannot be indexed, so rows are matched by string, falling back to the canonical
    member of their isomorphism class (a chain's commuting identity layers cost nothing,
    so equivalent architectures run the same network).
    """

    def __init__(self, sp: SearchSpace, archs: Sequence[str], values: np.ndarray) -> None:
        self.sp = sp
        ids = sp.encode(list(archs))
        vals = np.asarray(values, dtype=np.float64)
        if sp.enumerable:
            self.dense: np.ndarray | None = np.full(sp.size, np.nan)
            self.dense[sp.index_of(ids)] = vals
            self.by_str: dict[str, float] = {}
        else:
            self.dense = None
            self.by_str = dict(zip(sp.decode(ids), vals.tolist(), strict=True))
            for a, v in zip(sp.decode(sp.canonical_ids(ids)), vals.tolist(), strict=True):
                self.by_str.setdefault("~" + a, v)

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        sp = self.sp
        if self.dense is not None:
            return self.dense[sp.index_of(ids)]
        canon = sp.decode(sp.canonical_ids(ids))
        return np.array(
            [self.by_str.get(a, self.by_str.get("~" + c, np.nan)) for a, c in zip(sp.decode(ids), canon, strict=True)],
            dtype=np.float64,
        )


def make_constraint(
    max_values: Mapping[str, float] | None = None,
    table: Any | None = None,
    macro: Mapping[str, Any] | Any | None = None,
    min_values: Mapping[str, float] | None = None,
    space: str | SearchSpace = "nb201",
    sources: Sequence[Any] = (),
) -> Constraint:
    """A vectorized predicate ``ids -> allowed`` from column bounds.

    ``params_m``/``flops_m`` (and ``params``/``macs``) are computed exactly by the
    space (:meth:`SearchSpace.costs`) for the macro network ``macro`` (a mapping of
    the space's macro options, or a dataclass of them); any other column (a latency,
    an energy, ``pred``) is looked up by ``arch_str`` in ``table`` (a
    :class:`~predictor.lookup.LookupTable`, a ``HardwareTable`` or anything with
    ``columns`` / ``__getitem__`` and an ``arch_str`` column). Architectures missing
    from the table (and from their class) or with NaN values are rejected. ``sources`` are
    cost models that price any architecture (``columns`` and ``predict(ids) -> {col: (mean,
    std)}``, e.g. :func:`predictor.search.load_cost_source` of a latency model file): on a space
    too large to tabulate they bound columns no table can cover; they win over ``table``.
    """
    sp = get_space(space)
    owner = {c: src for src in reversed(list(sources)) for c in src.columns}
    bounds: list[tuple[str, float, bool]] = []  # (column, value, is_max)
    for col, v in (max_values or {}).items():
        bounds.append((col, float(v), True))
    for col, v in (min_values or {}).items():
        bounds.append((col, float(v), False))
    lookups: dict[str, _ColumnLookup] = {}
    table_cols = _table_columns(table) if table is not None else {}
    if any(col not in COST_COLUMNS and col not in owner for col, _, _ in bounds):
        if table is None:
            cols = [c for c, _, _ in bounds if c not in COST_COLUMNS and c not in owner]
            raise NasgcnError(
                f"constraint column(s) {', '.join(cols)} need a table (lookup or hardware table); "
                f"only {', '.join(COST_COLUMNS)} are computed exactly"
            )
        if "arch_str" not in table_cols:
            raise NasgcnError("the constraint table has no 'arch_str' column")
    for col, _, _ in bounds:
        if col in COST_COLUMNS or col in lookups or col in owner:
            continue
        if col not in table_cols:
            raise NasgcnError(f"no column {col!r} to constrain; the table has: {', '.join(table_cols)}")
        lookups[col] = _ColumnLookup(sp, list(table_cols["arch_str"]), table_cols[col])
    cfg = _macro_dict(macro)
    if any(c in COST_COLUMNS for c, _, _ in bounds):
        sp.costs(sp.sample(1, 0), cfg)  # refuse options the space does not know, now rather than mid-search

    def allowed(ids: np.ndarray) -> np.ndarray:
        ids = sp.validate_ids(np.atleast_2d(ids))
        ok = np.ones(len(ids), dtype=bool)
        if not bounds or not len(ids):
            return ok
        costs = sp.costs(ids, cfg) if any(c in COST_COLUMNS for c, _, _ in bounds) else {}
        priced: dict[int, Mapping[str, Any]] = {}
        for col, v, is_max in bounds:
            if col in COST_COLUMNS:
                vals = np.asarray(costs[col], dtype=np.float64)
            elif col in owner:
                src = owner[col]
                if id(src) not in priced:
                    priced[id(src)] = src.predict(ids)
                vals = np.asarray(priced[id(src)][col][0], dtype=np.float64).reshape(-1)
            else:
                vals = lookups[col](ids)
            with np.errstate(invalid="ignore"):
                ok &= (vals <= v) if is_max else (vals >= v)
            ok &= ~np.isnan(vals)
        return ok

    allowed.bounds = {c: ("<=" if m else ">=", v) for c, v, m in bounds}  # type: ignore[attr-defined]
    return allowed


def _table_columns(table: Any) -> Mapping[str, np.ndarray]:
    if isinstance(table, Mapping):
        return table
    cols = getattr(table, "columns", None)
    if isinstance(cols, Mapping):
        return cols
    if hasattr(cols, "__iter__") and hasattr(table, "__getitem__"):  # a pandas DataFrame
        return {str(c): np.asarray(table[c]) for c in cols}
    raise NasgcnError(f"cannot read columns from a {type(table).__name__}")


def seed_from_table(
    table: Any,
    n: int,
    constraint: Constraint | None = None,
    column: str = "pred",
    unique: bool = True,
    exclude_dead: bool = True,
    space: str | SearchSpace = "nb201",
) -> np.ndarray:
    """The ``n`` best architectures of a table by ``column`` that satisfy ``constraint``.

    One per isomorphism class (:meth:`SearchSpace.canonical_ids`, so any space, also one
    too large to enumerate) when ``unique``. Returns op ids ``(m, num_slots)``, ``m <= n``.
    """
    sp = get_space(space)
    cols = _table_columns(table)
    if column not in cols:
        raise NasgcnError(f"the seed table has no column {column!r}; columns: {', '.join(cols)}")
    ids = sp.encode(list(cols["arch_str"]))
    score = np.asarray(cols[column], dtype=np.float64)
    ok = ~np.isnan(score)
    if constraint is not None:
        ok &= constraint(ids)
    if exclude_dead:
        ok &= ~sp.is_dead(ids)
    order = np.argsort(-np.where(ok, score, -np.inf), kind="stable")
    order = order[ok[order]]
    if unique and len(order):
        _, first = np.unique(sp.canonical_ids(ids[order]), axis=0, return_index=True)
        order = order[np.sort(first)]
    return ids[order[:n]]


# ----------------------------------------------------------------------------------
# the search loop
# ----------------------------------------------------------------------------------
@dataclass
class Candidate:
    """One evaluated architecture of one generation."""

    arch_str: str
    score: float
    origin: str  # seed | random | mutation | crossover
    generation: int
    loss: float = float("nan")


@dataclass
class SearchState:
    """Everything needed to resume: next generation, parents (top-k memory), visits."""

    generation: int = 0
    parents: list[tuple[str, float]] = field(default_factory=list)
    visited: list[str] = field(default_factory=list)
    trajectory: list[dict[str, Any]] = field(default_factory=list)
    warmed_up: bool = False


class EvolutionSearch:
    """SPOS-style evolution over a space's op-id vectors with an injected train/score pair.

    Everything about architectures is asked of the space (``sample``, ``mutate``,
    ``crossover``, ``canonical_ids``, ``is_dead``), so it runs on spaces far too large to
    enumerate. ``step(ids)`` is called once per candidate before ``score(ids)`` (that is
    the shifting); both receive a ``(num_slots,)`` int array. ``score`` returns higher-is-better
    (accuracy) or a ``(score, loss)`` pair. ``on_generation(state)`` runs after
    each generation (checkpointing). ``constraint`` rejects candidates before any
    training is spent on them.
    """

    def __init__(
        self,
        config: ShiftingConfig,
        step: Callable[[np.ndarray], Any],
        score: Callable[[np.ndarray], float | tuple[float, float]],
        constraint: Constraint | None = None,
        random_state: int = 0,
        space: str | SearchSpace = "nb201",
        on_generation: Callable[[SearchState], None] | None = None,
        progress: bool = False,
    ) -> None:
        self.config = config
        self.step = step
        self.score = score
        self.constraint = constraint
        self.random_state = random_state
        self.space = space
        self.on_generation = on_generation
        self.progress = progress

    # --- helpers ---------------------------------------------------------------------
    def _sp(self):
        return get_space(self.space)

    def _valid(self, ids: np.ndarray) -> np.ndarray:
        sp = self._sp()
        ok = np.ones(len(ids), dtype=bool)
        if self.config.exclude_dead:
            ok &= ~sp.is_dead(ids)
        if self.constraint is not None and len(ids):
            ok &= np.asarray(self.constraint(ids), dtype=bool)
        return ok

    def _key(self, ids: np.ndarray) -> list[bytes]:
        """Visit keys: the canonical member of each row's class (``unique``) or the row itself.

        Bytes of op-id rows, so exact on any space (no index or class table needed).
        """
        ids = self._sp().canonical_ids(ids) if self.config.unique else np.atleast_2d(ids)
        return [row.tobytes() for row in np.ascontiguousarray(ids, dtype=np.int64)]

    def _take_new(
        self, make: Callable[[int], np.ndarray], n: int, seen: set[bytes], origin: str
    ) -> list[tuple[np.ndarray, str]]:
        """Draw batches from ``make`` until ``n`` valid, unseen candidates (or ``max_tries`` draws)."""
        out: list[tuple[np.ndarray, str]] = []
        tries = 0
        while len(out) < n and tries < self.config.max_tries:
            tries += 1
            batch = make(max(2 * (n - len(out)), 8))  # oversample: constraints reject some
            if not len(batch):
                break
            batch = batch[self._valid(batch)]
            for row, key in zip(batch, self._key(batch), strict=True):
                if key in seen:
                    continue
                seen.add(key)
                out.append((row, origin))
                if len(out) == n:
                    break
        return out

    def initial_population(self, seeds: np.ndarray | None, rng: np.random.Generator, seen: set[bytes]):
        """Seeds first, then random architectures drawn with ``space.sample`` (never the whole space)."""
        sp = self._sp()
        pop: list[tuple[np.ndarray, str]] = []
        if seeds is not None and len(seeds):
            seeds = sp.validate_ids(np.atleast_2d(np.asarray(seeds)))
            chunks = iter(np.array_split(seeds, max(1, -(-len(seeds) // self.config.population))))
            pop += self._take_new(lambda k: next(chunks, seeds[:0]), self.config.population, seen, "seed")
        pop += self._take_new(lambda k: sp.sample(k, rng), self.config.population - len(pop), seen, "random")
        return pop

    def next_population(self, parents: np.ndarray, rng: np.random.Generator, seen: set[bytes]):
        """Mutants and crossovers of the parents (``space.mutate`` / ``space.crossover``), topped up at random."""
        sp, cfg = self._sp(), self.config

        def mutants(k: int) -> np.ndarray:
            pick = parents[rng.integers(0, len(parents), size=k)]
            return sp.mutate(pick, cfg.mutation_prob, rng)

        def children(k: int) -> np.ndarray:
            a = parents[rng.integers(0, len(parents), size=k)]
            b = parents[rng.integers(0, len(parents), size=k)]
            return sp.crossover(a, b, rng)

        pop = self._take_new(mutants, cfg.mutations, seen, "mutation")
        if len(parents) > 1:
            pop += self._take_new(children, cfg.crossovers, seen, "crossover")
        pop += self._take_new(lambda k: sp.sample(k, rng), cfg.population - len(pop), seen, "random")
        return pop

    # --- main loop ---------------------------------------------------------------------
    def run(self, seeds: np.ndarray | None = None, state: SearchState | None = None) -> SearchState:
        """Run (or resume from ``state``) until ``config.generations`` are done."""
        from predictor.progress import progress_bar

        sp, cfg = self._sp(), self.config
        state = state or SearchState()
        total = cfg.generations * cfg.population
        bar = progress_bar(
            total=total, initial=state.generation * cfg.population, enabled=self.progress, desc="shifting"
        )
        try:
            while state.generation < cfg.generations:
                g = state.generation
                t0 = time.perf_counter()
                rng = np.random.default_rng([int(self.random_state), g])
                seen = set(self._key(sp.encode(state.visited))) if state.visited else set()
                if g == 0 or not state.parents:
                    pop = self.initial_population(seeds, rng, seen)
                else:
                    parents = sp.encode([a for a, _ in state.parents])
                    pop = self.next_population(parents, rng, seen)
                if not pop:
                    raise NasgcnError(
                        "no architecture satisfies the constraints (or every valid one was visited); loosen them"
                    )
                cands: list[Candidate] = []
                for ids, origin in pop:
                    self.step(ids)
                    res = self.score(ids)
                    s, loss = res if isinstance(res, tuple) else (res, float("nan"))
                    cands.append(Candidate(sp.format(ids), float(s), origin, g, float(loss)))
                    bar.update(1)
                pool = {a: s for a, s in state.parents}
                pool.update({c.arch_str: c.score for c in cands})
                ranked = sorted(pool.items(), key=lambda kv: -kv[1])
                state.parents = [(a, float(s)) for a, s in ranked[: cfg.keep]]
                state.visited += [c.arch_str for c in cands]
                scores = np.array([c.score for c in cands])
                best = cands[int(np.argmax(scores))]
                state.trajectory.append(
                    {
                        "generation": g,
                        "best_score": float(scores.max()),
                        "mean_score": float(scores.mean()),
                        "best_arch": best.arch_str,
                        "parents": [{"arch_str": a, "score": s} for a, s in state.parents],
                        "candidates": [asdict(c) for c in cands],
                        "seconds": round(time.perf_counter() - t0, 3),
                    }
                )
                state.generation = g + 1
                bar.set_postfix(gen=g, best=f"{scores.max():.3g}")
                if self.on_generation is not None:
                    self.on_generation(state)
        finally:
            bar.close()
        return state


# ----------------------------------------------------------------------------------
# the supernet binding
# ----------------------------------------------------------------------------------
@dataclass
class ShiftingResult:
    """Outcome of a shifting run: the best architecture and the final ranking."""

    best_arch: str
    best_score: float
    ranking: list[dict[str, Any]]  # final top candidates re-scored with the shifted supernet
    trajectory: list[dict[str, Any]]
    run_dir: str | None = None
    space: str = "nb201"
    best_tied_with: int = 0  # other final candidates with exactly the best score (a tie, not a win)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SupernetShifting:
    """Supernet Shifting on a weight-sharing supernet (``forward(x, arch_ids)``).

    Parameters
    ----------
    supernet : torch.nn.Module with ``forward(x, arch)`` taking a tuple of op ids
        (and ``reset_classifier(k)`` for transfer): NB201's or a chain space's supernet.
    train_data, val_data : datasets (or DataLoaders, whose ``dataset`` is used) of
        ``(x, y)`` pairs; training batches are reshuffled per generation by a seeded
        generator, validation uses the first ``eval_batches`` batches in order.
    config : :class:`ShiftingConfig`.
    constraint : predicate on op ids (see :func:`make_constraint`), or None.
    new_num_classes : when set, the classifier is reset to this many classes before
        the search (transfer to a new dataset) and trained during it.
    transform : applied to each input batch on the device (e.g. uint8 -> normalised
        float, :class:`supernet.data.Normalizer`).
    run_dir : where ``shifting_ckpt.pt`` (per generation, atomic) and
        ``trajectory.jsonl`` go; a run with the same directory resumes (a checkpoint
        of another space or config is refused).
    space : the search space; default the one the supernet records (``space``
        attribute of chain supernets), else ``nb201``. A supernet recorded for another
        space is refused. Transfer (``new_num_classes``) works for every supernet with
        ``reset_classifier``.
    """

    CKPT = "shifting_ckpt.pt"
    TRAJ = "trajectory.jsonl"
    RESULT = "shifting_result.json"

    def __init__(
        self,
        supernet: Any,
        train_data: Any,
        val_data: Any,
        config: ShiftingConfig | None = None,
        constraint: Constraint | None = None,
        new_num_classes: int | None = None,
        run_dir: str | os.PathLike | None = None,
        device: str = "cpu",
        random_state: int = 0,
        progress: bool = False,
        space: str | SearchSpace | None = None,
        transform: Callable[[Any], Any] | None = None,
    ) -> None:
        recorded = _supernet_space(supernet)
        sp = get_space(space if space is not None else (recorded or "nb201"))
        sp.check_compatible(recorded, f"the supernet ({type(supernet).__name__})")
        self.supernet = supernet
        self.transform = transform
        self.train_data = train_data
        self.val_data = val_data
        self.config = config or ShiftingConfig()
        self.constraint = constraint
        self.new_num_classes = new_num_classes
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.device = device
        self.random_state = random_state
        self.progress = progress
        self.space = sp.name

    # --- data ------------------------------------------------------------------------
    @staticmethod
    def _dataset(data: Any) -> Any:
        """A map-style dataset from a Dataset, a DataLoader or an in-memory ``x``/``y`` set."""
        data = getattr(data, "dataset", data)
        if hasattr(data, "x") and hasattr(data, "y") and not hasattr(data, "__getitem__"):
            from torch.utils.data import TensorDataset

            return TensorDataset(data.x, data.y)
        return data

    def _prep(self, x: Any, y: Any) -> tuple[Any, Any]:
        x, y = x.to(self.device), y.to(self.device)
        return (self.transform(x) if self.transform is not None else x), y

    def _train_batches(self, generation: int) -> Iterator[tuple[Any, Any]]:
        """An endless, seeded stream of training batches for one generation."""
        import torch
        from torch.utils.data import DataLoader

        g = torch.Generator()
        g.manual_seed(int(self.random_state) * 1_000_003 + generation)
        loader = DataLoader(
            self._dataset(self.train_data), batch_size=self.config.batch_size, shuffle=True, generator=g, drop_last=True
        )
        if len(loader) == 0:
            loader = DataLoader(
                self._dataset(self.train_data), batch_size=self.config.batch_size, shuffle=True, generator=g
            )
        while True:
            yield from loader

    def _val_batches(self) -> list[tuple[Any, Any]]:
        from torch.utils.data import DataLoader

        if getattr(self, "_val_cache", None) is None:
            loader = DataLoader(self._dataset(self.val_data), batch_size=self.config.eval_batch_size, shuffle=False)
            out = []
            for i, (x, y) in enumerate(loader):
                if i >= self.config.eval_batches:
                    break
                out.append(self._prep(x, y))
            if not out:
                raise NasgcnError("the validation data of the shifting search is empty")
            self._val_cache = out
        return self._val_cache

    # --- train/score -----------------------------------------------------------------
    def _arch(self, ids: np.ndarray) -> tuple[int, ...]:
        return tuple(int(v) for v in ids)

    def _make_step(self, optimizer: Any, stream: dict[str, Iterator]) -> Callable[[np.ndarray], float]:
        import torch.nn.functional as F

        def step(ids: np.ndarray) -> float:
            arch = self._arch(ids)
            self.supernet.train()
            last = float("nan")
            for _ in range(self.config.steps_per_candidate):
                x, y = self._prep(*next(stream["it"]))
                optimizer.zero_grad(set_to_none=True)
                loss = F.cross_entropy(self.supernet(x, arch), y)
                loss.backward()
                optimizer.step()
                last = float(loss.detach())
            return last

        return step

    def evaluate(self, archs: Sequence[str] | np.ndarray) -> np.ndarray:
        """Validation accuracy (%) of each architecture with the current (inherited) weights.

        Protocol: ``eval()`` mode, the first ``eval_batches`` x ``eval_batch_size``
        validation images in order, no BN recalibration (the supernet's BN defines it).
        """
        sp = get_space(self.space)
        ids = sp.encode(list(archs)) if not isinstance(archs, np.ndarray) else sp.validate_ids(np.atleast_2d(archs))
        return np.array([self._score(row)[0] for row in ids])

    def _score(self, ids: np.ndarray) -> tuple[float, float]:
        return path_accuracy(self.supernet, self._arch(ids), self._val_batches())

    def _optimizer(self) -> Any:
        import torch

        c = self.config
        return torch.optim.SGD(self.supernet.parameters(), lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)

    def _warmup(self, optimizer: Any) -> None:
        """Transfer: train the new classifier (and the rest) on random valid paths first."""
        if not self.config.warmup_steps:
            return
        import torch.nn.functional as F

        sp = get_space(self.space)
        rng = np.random.default_rng([int(self.random_state), 10**6])
        stream = self._train_batches(10**6)
        self.supernet.train()
        archs = sp.sample(self.config.warmup_steps, rng)
        for ids in archs:
            x, y = self._prep(*next(stream))
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(self.supernet(x, self._arch(ids)), y).backward()
            optimizer.step()

    # --- checkpoints -----------------------------------------------------------------
    def _save(self, optimizer: Any, state: SearchState) -> None:
        if self.run_dir is None:
            return
        import torch

        payload = {
            "supernet": self.supernet.state_dict(),
            "optimizer": optimizer.state_dict(),
            "state": json.loads(dumps(asdict(state))),
            "config": self.config.to_dict(),
            "random_state": int(self.random_state),
            "new_num_classes": self.new_num_classes,
            "space": self.space,
        }
        with atomic_path(self.run_dir / self.CKPT) as tmp:
            torch.save(payload, tmp)
        lines = "".join(dumps(row, sort_keys=True) + "\n" for row in state.trajectory)
        write_text_atomic(self.run_dir / self.TRAJ, lines)

    def _load(self, optimizer: Any) -> SearchState | None:
        if self.run_dir is None or not (self.run_dir / self.CKPT).exists():
            return None
        import torch

        path = self.run_dir / self.CKPT
        try:
            payload = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as err:  # noqa: BLE001 - a broken checkpoint is a user-visible problem
            raise NasgcnError(f"{path}: cannot read the shifting checkpoint ({err}); delete it to start over") from err
        get_space(self.space).check_compatible(payload.get("space", "nb201"), f"shifting checkpoint {path}")
        if payload.get("config") != self.config.to_dict() or payload.get("random_state") != int(self.random_state):
            raise NasgcnError(
                f"{path}: checkpoint was written with another shifting config or seed; use a new directory or delete it"
            )
        self.supernet.load_state_dict(payload["supernet"])
        optimizer.load_state_dict(payload["optimizer"])
        st = payload["state"]
        return SearchState(
            generation=int(st["generation"]),
            parents=[(str(a), float(s)) for a, s in st["parents"]],
            visited=list(st["visited"]),
            trajectory=list(st["trajectory"]),
            warmed_up=bool(st.get("warmed_up", False)),
        )

    # --- run -------------------------------------------------------------------------
    def run(self, seeds: np.ndarray | Sequence[str] | None = None, stop_after: int | None = None) -> ShiftingResult:
        """Search (resuming from ``run_dir`` if a checkpoint is there) and return the result.

        ``seeds``: initial candidates (op ids or strings), e.g. :func:`seed_from_table`.
        ``stop_after``: stop after this many generations *in this call* (for tests
        and time-sliced runs); the checkpoint lets a later call continue. ``run_dir`` is locked
        meanwhile (:mod:`supernet.runlock`): a second search into it stops at once.
        """
        if self.run_dir is None:
            return self._run(seeds, stop_after)
        from .runlock import RunLock

        with RunLock(self.run_dir, "supernet shifting"):
            return self._run(seeds, stop_after)

    def _run(self, seeds: np.ndarray | Sequence[str] | None, stop_after: int | None) -> ShiftingResult:
        import torch

        sp = get_space(self.space)
        if seeds is not None and not isinstance(seeds, np.ndarray):
            seeds = sp.encode(list(seeds))
        if self.new_num_classes is not None:
            if not hasattr(self.supernet, "reset_classifier"):
                raise NasgcnError("transfer to a new dataset needs a supernet with reset_classifier(num_classes)")
            self.supernet.reset_classifier(int(self.new_num_classes))
        self.supernet.to(self.device)
        optimizer = self._optimizer()
        state = self._load(optimizer)
        if state is None:
            state = SearchState()
        torch.manual_seed(int(self.random_state))
        if not state.warmed_up:
            self._warmup(optimizer)
            state.warmed_up = True
        stream: dict[str, Iterator] = {}
        done_here = {"n": 0}

        class _Stop(Exception):
            pass

        def on_generation(st: SearchState) -> None:
            self._save(optimizer, st)
            done_here["n"] += 1
            if st.generation < self.config.generations:
                stream["it"] = self._train_batches(st.generation)
                torch.manual_seed(int(self.random_state) * 7919 + st.generation)
            if stop_after is not None and done_here["n"] >= stop_after:
                raise _Stop

        stream["it"] = self._train_batches(state.generation)
        torch.manual_seed(int(self.random_state) * 7919 + state.generation)
        search = EvolutionSearch(
            self.config,
            step=self._make_step(optimizer, stream),
            score=self._score,
            constraint=self.constraint,
            random_state=self.random_state,
            space=self.space,
            on_generation=on_generation,
            progress=self.progress,
        )
        try:
            state = search.run(seeds, state)
        except _Stop:
            pass
        return self._result(state)

    def _result(self, state: SearchState) -> ShiftingResult:
        """Re-score the final parents with the final weights (they were scored at different times)."""
        top = [a for a, _ in state.parents][: max(self.config.final_top, 1)]
        scores = self.evaluate(top) if top else np.array([])
        order = np.argsort(-scores, kind="stable")
        # Equal scores are ties (a few hundred validation images give few distinct accuracies): they share
        # a rank, and ``tied_with`` counts the other candidates with the same score.
        rank, tied = tie_ranks(scores[order]) if top else (np.zeros(0, int), np.zeros(0, int))
        ranking = [
            {"arch_str": top[i], "score": float(scores[i]), "rank": int(rank[r]), "tied_with": int(tied[r]) - 1}
            for r, i in enumerate(order)
        ]
        best = ranking[0] if ranking else {"arch_str": "", "score": float("nan"), "tied_with": 0}
        result = ShiftingResult(
            best["arch_str"],
            float(best["score"]),
            ranking,
            state.trajectory,
            str(self.run_dir) if self.run_dir else None,
            self.space,
            int(best["tied_with"]),
        )
        if self.run_dir is not None and state.generation >= self.config.generations:
            write_json_atomic(
                self.run_dir / self.RESULT, {k: v for k, v in result.to_dict().items() if k != "trajectory"}
            )
        return result


def _supernet_space(supernet: Any) -> str | None:
    """The space name a supernet records (``space`` attribute: a name or a space), if any."""
    rec = getattr(supernet, "space", None)
    if isinstance(rec, SearchSpace):
        return rec.name
    return rec if isinstance(rec, str) else None


def path_accuracy(model: Any, arch: Sequence[int], batches: Sequence[tuple[Any, Any]]) -> tuple[float, float]:
    """Top-1 accuracy (%) and mean cross-entropy of one path over ready-made device batches.

    ``eval()`` mode, no gradient: with the supernet's default batch-statistics
    BatchNorm each batch normalises itself, so no recalibration is needed.
    """
    import torch
    import torch.nn.functional as F

    model.eval()
    correct, total, loss_sum = 0, 0, 0.0
    with torch.no_grad():
        for x, y in batches:
            out = model(x, tuple(int(v) for v in arch))
            loss_sum += float(F.cross_entropy(out, y, reduction="sum"))
            correct += int((out.argmax(1) == y).sum())
            total += int(y.numel())
    if not total:
        raise NasgcnError("no validation images to evaluate on")
    return 100.0 * correct / total, loss_sum / total


def read_trajectory(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The per-generation records of a ``trajectory.jsonl``."""
    p = Path(path)
    if p.is_dir():
        p = p / SupernetShifting.TRAJ
    from predictor.readers import RowProblem, jsonl_lines, parse_json_line  # the package's one reader

    rows = []
    for n, text, is_last in jsonl_lines(p, "a search trajectory (JSONL)"):
        try:
            rows.append(parse_json_line(text, is_last))
        except RowProblem as err:
            raise err.error(p, n) from None
    return rows
