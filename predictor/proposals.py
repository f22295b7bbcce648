"""Proposal strategies: how one round of sequential search chooses what to measure next.

Why a module of its own: the Python loop (:func:`predictor.acquisition.sequential_search`) and the
command line (``nasgcn suggest``, one round at a time) must choose alike, or the figures measured
for one do not hold for the other. Both build a :class:`Pool` (the whole space's predictions, what
was measured and what it measured, the budgets) and a list of :class:`Step` (a proposal and how many
picks it gets), and call :func:`propose_round`.

Proposals (each returns space indices of distinct, unmeasured, allowed isomorphism classes):

* :class:`Greedy` — the best by ``pred + beta * pred_std`` (plus a prior's bonus, if the pool has one).
* :class:`Explore` — at random among the best ``pool`` fraction (calibrates noisy labels).
* :class:`Mutations` — near the best measured architecture: ``random`` one-edit mutations, or
  ``novel`` ones (the changes the accurate labels tried least), or ``untested`` (anywhere: the model's
  best cell for each (slot, op) no measured cell carries).
* :class:`Local` — greedy among the architectures near the best measured ones.
* :class:`ClusterSpread` — DC-NAS's allocation: one pick per cluster, the clusters with the fewest
  measured architectures first, each its own best by score (so a budget is not spent on near-copies).

A prior (IRLAS, :mod:`predictor.prior`) enters as ``Pool.bonus``: an additive term on the score the
model-based proposals rank by; the recorded predictions stay the model's own (they estimate the
selection bias, :func:`predictor.acquisition.selection_bias`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from .errors import NasgcnError

__all__ = [
    "Pool",
    "Step",
    "Proposal",
    "Greedy",
    "Explore",
    "Mutations",
    "Local",
    "ClusterSpread",
    "propose_round",
    "propose_round_sources",
    "step_name",
    "expand_clusters",
    "round_plan",
    "MUTATION_RULES",
]

MUTATION_RULES = ("random", "novel", "untested")


@dataclass
class Pool:
    """What a round chooses from, in space order.

    ``pred``/``std``: the model's whole-space predictions (``None`` before any model: random picks
    only); ``measured``: space indices already evaluated, ``values``: what they measured (NaN =
    failed); ``scheduled``: further space indices to avoid (chosen elsewhere, not measured yet);
    ``feasible``: boolean budget mask; ``bonus``: a prior's additive score term.
    """

    space: str
    pred: np.ndarray | None
    std: np.ndarray | None = None
    measured: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    values: np.ndarray = field(default_factory=lambda: np.zeros(0))
    scheduled: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    feasible: np.ndarray | None = None
    bonus: np.ndarray | None = None
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))

    def __post_init__(self) -> None:
        from .spaces import get_space

        self.sp = get_space(self.space)
        self.all_ids = self.sp.all_ids()
        self.measured = np.asarray(self.measured, dtype=np.int64).reshape(-1)
        self.values = np.asarray(self.values, dtype=np.float64).reshape(-1)
        self.scheduled = np.asarray(self.scheduled, dtype=np.int64).reshape(-1)
        if self.measured.shape != self.values.shape:
            raise NasgcnError(f"{self.measured.size} measured architectures but {self.values.size} values")
        for name in ("pred", "std", "bonus", "feasible"):
            arr = getattr(self, name)
            if arr is not None and np.asarray(arr).reshape(-1).shape[0] != self.sp.size:
                raise NasgcnError(
                    f"{name} has {np.asarray(arr).size} entries, expected one per architecture ({self.sp.size})"
                )

    def score(self, beta: float = 0.0) -> np.ndarray:
        """What model-based proposals rank by: ``pred + beta * std + bonus``."""
        if self.pred is None:
            raise NasgcnError("this proposal needs the model's predictions (none yet: round 1 without noisy labels)")
        s = np.asarray(self.pred, dtype=np.float64).reshape(-1)
        if beta and self.std is not None:
            s = s + float(beta) * np.asarray(self.std, dtype=np.float64).reshape(-1)
        if self.bonus is not None:
            s = s + np.asarray(self.bonus, dtype=np.float64).reshape(-1)
        return s

    @property
    def has_values(self) -> bool:
        return bool(np.isfinite(self.values).any())

    def best_measured(self, n: int = 1) -> np.ndarray:
        """Space indices of the ``n`` best measured architectures (failed ones last)."""
        vals = np.where(np.isfinite(self.values), self.values, -np.inf)
        return self.measured[np.argsort(-vals, kind="stable")[:n]]

    def near(self, anchors: np.ndarray, radius: int) -> np.ndarray:
        """Feasible architectures within ``radius`` op changes of the ``anchors`` (space indices)."""
        from .acquisition import neighbourhood

        mask = neighbourhood(self.all_ids[anchors], radius, self.space)
        return mask if self.feasible is None else mask & np.asarray(self.feasible, dtype=bool)


class Proposal(Protocol):
    """Chooses up to ``n`` space indices avoiding the classes of ``done`` (op-id rows or None)."""

    model_based: bool

    def propose(self, pool: Pool, n: int, done: np.ndarray | None) -> np.ndarray: ...


@dataclass
class Greedy:
    """The ``n`` best by ``pred + beta * pred_std`` (+ the pool's prior bonus), one per class."""

    beta: float = 0.0
    model_based: bool = True

    def propose(self, pool: Pool, n: int, done: np.ndarray | None) -> np.ndarray:
        from .acquisition import acquire

        return acquire(pool.score(self.beta), n, None, 0.0, done, pool.feasible, pool.space)


@dataclass
class Explore:
    """``n`` at random among the best ``pool_share`` of the predictions (``1.0``: uniform)."""

    pool_share: float = 1.0
    model_based: bool = False

    def propose(self, pool: Pool, n: int, done: np.ndarray | None) -> np.ndarray:
        from .acquisition import explore

        pred = None if pool.pred is None else pool.score(0.0)
        return explore(pred, n, pool.rng, self.pool_share, done, pool.feasible, pool.space)


@dataclass
class Mutations:
    """Picks that do not follow the model alone, around (or, ``untested``, beyond) the best measured."""

    rule: str = "untested"
    radius: int = 1
    model_based: bool = False

    def __post_init__(self) -> None:
        if self.rule not in MUTATION_RULES:
            raise NasgcnError(f"mutation rule must be one of {', '.join(MUTATION_RULES)}, got {self.rule!r}")

    def propose(self, pool: Pool, n: int, done: np.ndarray | None) -> np.ndarray:
        from .acquisition import explore, novel_mutations, untested_pairs

        if not pool.has_values:
            return np.zeros(0, dtype=np.int64)
        best = pool.best_measured(1)
        tried = pool.all_ids[pool.measured]
        if self.rule == "untested":
            return untested_pairs(pool.score(0.0), n, tried, done, pool.feasible, pool.space)
        near = pool.near(best, self.radius)
        if self.rule == "novel":
            return novel_mutations(pool.all_ids[best[0]], n, tried, pool.rng, done, near, pool.space)
        return explore(None, n, pool.rng, 1.0, done, near, pool.space)


@dataclass
class Local:
    """Greedy among the feasible architectures within ``radius`` edits of the ``anchors`` best measured."""

    anchors: int = 1
    radius: int = 1
    beta: float = 0.0
    model_based: bool = True

    def propose(self, pool: Pool, n: int, done: np.ndarray | None) -> np.ndarray:
        from .acquisition import acquire

        if self.anchors < 1 or not pool.has_values:
            return np.zeros(0, dtype=np.int64)
        near = pool.near(pool.best_measured(self.anchors), self.radius)
        return acquire(pool.score(self.beta), n, None, 0.0, done, near, pool.space)


@dataclass
class ClusterSpread:
    """DC-NAS allocation: each pick from a different cluster, least-measured clusters first.

    ``clusters``: one label per architecture (space order; negative = no cluster, never chosen).
    Within a cluster the best by score wins; among clusters equally often measured, the one whose
    best score is highest goes first. Why: one global ranking spends the budget on near-copies of
    one cell, while the winners of unlike clusters are where the ranking is least sure.
    """

    clusters: np.ndarray
    beta: float = 0.0
    model_based: bool = True

    def propose(self, pool: Pool, n: int, done: np.ndarray | None) -> np.ndarray:
        from .acquisition import _candidates

        labels = np.asarray(self.clusters, dtype=np.int64).reshape(-1)
        if labels.shape[0] != pool.sp.size:
            raise NasgcnError(f"clusters has {labels.shape[0]} labels, expected one per architecture ({pool.sp.size})")
        ok, cls = _candidates(pool.space, done, pool.feasible)
        score = pool.score(self.beta)
        ok &= np.isfinite(score) & (labels >= 0)
        n_clusters = int(labels.max()) + 1 if labels.size and labels.max() >= 0 else 0
        counts = np.bincount(labels[pool.measured][labels[pool.measured] >= 0], minlength=n_clusters)
        counts = counts.astype(np.float64)
        chosen: list[int] = []
        while len(chosen) < n and ok.any():
            idx = np.flatnonzero(ok)
            order = idx[np.lexsort((-score[idx], labels[idx]))]  # by cluster, best first
            first = order[np.r_[True, labels[order][1:] != labels[order][:-1]]]  # each cluster's best
            pick = int(first[np.lexsort((-score[first], counts[labels[first]]))[0]])
            chosen.append(pick)
            counts[labels[pick]] += 1
            ok &= cls != cls[pick]
        return np.asarray(chosen, dtype=np.int64)


@dataclass
class Step:
    """One proposal of a round and its share: ``n`` picks (``None``: whatever the round has left)."""

    proposal: Proposal
    n: int | None = None


def propose_round(pool: Pool, size: int, steps: Sequence[Step]) -> tuple[np.ndarray, int]:
    """Run ``steps`` in order until ``size`` picks; returns ``(chosen, n_not_model)``.

    Every step avoids the classes measured, scheduled and chosen by the steps before it. The
    picks of proposals that are not model-based are counted (they come first in ``chosen`` when
    the plan lists them first), so that the selection bias is estimated on the model's own choices.
    """
    chosen, sources = propose_round_sources(pool, size, steps)
    return chosen, int(sum(not steps[i].proposal.model_based for i in sources))


def propose_round_sources(pool: Pool, size: int, steps: Sequence[Step]) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`propose_round`, with the index (into ``steps``) of the step behind each pick."""
    taken = np.concatenate([pool.measured, pool.scheduled])
    done = pool.all_ids[taken] if taken.size else None
    chosen = np.zeros(0, dtype=np.int64)
    sources = np.zeros(0, dtype=np.int64)
    for i, step in enumerate(steps):
        left = size - chosen.size
        if left <= 0:
            break
        want = left if step.n is None else max(0, min(int(step.n), left))
        got = np.asarray(step.proposal.propose(pool, want, done), dtype=np.int64)[:want]
        if got.size:
            chosen = np.concatenate([chosen, got])
            sources = np.concatenate([sources, np.full(got.size, i, dtype=np.int64)])
            done = pool.all_ids[got] if done is None else np.concatenate([done, pool.all_ids[got]])
    return chosen, sources


def step_name(step: Step) -> str:
    """A short name for output columns: ``explore``, ``mutation``, ``local``, ``cluster`` or ``greedy``."""
    return {Explore: "explore", Mutations: "mutation", Local: "local", ClusterSpread: "cluster"}.get(
        type(step.proposal), "greedy"
    )


def round_plan(
    first: bool,
    size: int,
    *,
    has_model: bool = True,
    beta: float = 0.0,
    explore_share: float = 0.0,
    explore_pool: float = 1.0,
    explore_n: int | None = None,
    local: int = 0,
    radius: int = 1,
    mutate: int = 0,
    mutate_rule: str = "untested",
    clusters: np.ndarray | None = None,
    cluster_share: float = 1.0,
) -> list[Step]:
    """The steps of one round, as :func:`predictor.acquisition.sequential_search` takes them.

    Round 1 (``first``): without a model, ``size`` random picks; else ``explore_n`` (default
    ``round(explore_share * size)``) random ones among the best ``explore_pool`` and the predicted
    best (greedy, ``beta`` ignored: the noisy-only model's spread says nothing about the accurate
    target). Later rounds: ``mutate`` mutations by ``mutate_rule``, then ``local`` (greedy near the
    best measured ones), then — with ``clusters`` — ``cluster_share`` of the rest spread over clusters,
    then the best by ``pred + beta * std``.
    """
    if mutate_rule not in MUTATION_RULES:
        raise NasgcnError(f"mutate_rule must be one of {', '.join(map(repr, MUTATION_RULES))}, got {mutate_rule!r}")
    if not 0 <= explore_share <= 1:
        raise NasgcnError(f"explore_share must be in [0, 1], got {explore_share}")
    if not 0 <= cluster_share <= 1:
        raise NasgcnError(f"cluster_share must be in [0, 1], got {cluster_share}")
    if not has_model:
        return [Step(Explore(1.0), size)]
    if first:
        n_explore = int(round(explore_share * size)) if explore_n is None else int(explore_n)
        return [Step(Explore(explore_pool), n_explore), Step(Greedy(0.0))]
    steps: list[Step] = []
    if mutate > 0:
        steps.append(Step(Mutations(mutate_rule, radius), mutate))
    if local > 0:
        steps.append(Step(Local(local, radius, beta)))
    if clusters is not None and cluster_share > 0:
        n_rest = max(0, size - (mutate if mutate > 0 else 0))
        steps.append(Step(ClusterSpread(clusters, beta), int(np.ceil(cluster_share * n_rest))))
    steps.append(Step(Greedy(beta)))
    return steps


def read_clusters(path: str, space: str) -> np.ndarray:
    """Whole-space cluster labels from a CLUSTERS.csv (``arch_str``, ``cluster``; ``nasgcn supernet cluster``)."""
    from .logs import read_log

    log = read_log(path, metrics=["cluster"], space=space)
    lab = np.asarray(log.metrics["cluster"], dtype=np.float64)
    if not np.all(lab == np.round(lab)) or (lab < 0).any():
        raise NasgcnError(
            f"{path}: column 'cluster' must hold non-negative integers (a file from 'nasgcn supernet cluster')"
        )
    from .spaces import get_space

    return expand_clusters(get_space(space).encode(log.arch_str.tolist()), lab.astype(np.int64), space)


def expand_clusters(labelled_ids: np.ndarray, labels: np.ndarray, space: str, block: int = 2048) -> np.ndarray:
    """One cluster label per architecture of the space, from labels of some of them.

    Why: DC-NAS clusters are computed for the architectures a supernet evaluated (``nasgcn supernet
    cluster`` on a sample), but a round chooses from the whole space. Each architecture takes the
    label of a labelled member of its isomorphism class if it has one, else of its nearest labelled
    architecture by the number of differing slots (ties: the smallest label among the nearest).
    """
    from .spaces import get_space

    sp = get_space(space)
    sp.require_enumerable("spreading picks over clusters (suggest --clusters)")
    lab_ids = np.asarray(labelled_ids, dtype=np.int64).reshape(-1, sp.num_slots)
    lab = np.asarray(labels, dtype=np.int64).reshape(-1)
    if lab_ids.shape[0] != lab.shape[0] or lab.size == 0:
        raise NasgcnError(
            f"expected one cluster label per labelled architecture, got {lab.size} for {lab_ids.shape[0]}"
        )
    all_ids = sp.all_ids()
    out = np.empty(sp.size, dtype=np.int64)
    cls = sp.iso_class(all_ids)
    lab_cls = sp.iso_class(lab_ids)
    order = np.argsort(lab_cls, kind="stable")  # first labelled member of each class
    uniq, first = np.unique(lab_cls[order], return_index=True)
    pos = np.searchsorted(uniq, cls)
    hit = (pos < uniq.size) & (uniq[np.minimum(pos, uniq.size - 1)] == cls)
    out[hit] = lab[order][first][pos[hit]]
    miss = np.flatnonzero(~hit)  # only these need the nearest labelled architecture
    for lo in range(0, miss.size, block):
        rows = miss[lo : lo + block]
        dist = (all_ids[rows, None, :] != lab_ids[None, :, :]).sum(2)  # (B, L)
        best = dist.min(1, keepdims=True)
        out[rows] = np.where(dist == best, lab[None, :], np.iinfo(np.int64).max).min(1)
    return out
