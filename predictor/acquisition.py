"""Spending a few accurate evaluations in rounds: fit, pick the next batch, measure, refit.

Why: choosing all ``K`` stand-alone trainings at once from a noisy-only table (``hybrid`` in
:mod:`predictor.noisy`) spends them on where the *supernet* thinks the best cells are. After the
first few accurate results the model knows better, so the next batch goes where the *calibrated*
table puts the best cells; the top of NB201 is a tight neighbourhood (the 14 cells >= 94.2 % differ
in one or two edges), so rounds of "measure the predicted best, refit" walk into it.

* :func:`acquire` — the acquisition rule on a whole-space table: the ``n`` best by
  ``pred + beta * pred_std`` (UCB on the ensemble spread; ``beta=0`` is greedy), one per isomorphism
  class, cut-off cells, already-measured classes and infeasible architectures skipped.
* :func:`explore` — ``n`` random feasible architectures of distinct, unmeasured classes, drawn from
  the best ``pool`` fraction of the table (``pool=1`` is uniform); they calibrate the noisy labels.
* :func:`novel_mutations` / :func:`untested_pairs` — picks that do not follow the model alone: the
  incumbent's one-edit neighbours whose changes the accurate labels tried least, or the model's best
  cell for each (edge, op) that no accurate label has tried yet.
* :func:`sequential_search` — the loop, with an ``oracle`` that returns accurate values (stand-alone
  training in real use, a ground-truth lookup in benchmarks). The result's table overlays the
  measured values (:func:`predictor.noisy.overlay_measured`), as ``nasgcn table`` does.

The command-line equivalent of one round is ``nasgcn suggest TABLE.csv --k 5 --exclude LOG``.

Measured with ``benchmarks/predictor_nb201.py --sections noisy`` (K = 20, rounds of 5, all 17
``oneshot_baseline`` runs; true accuracy of the table's top-1 pick, mean over the runs; the benchmark
seed draws the N noisy labels and initializes the GCN; target 94.2). The misses are bimodal: a run
either finds the 94.3-94.4 cells around ``skip_connect`` on edge 3<-0 or stops at the all-3x3 cell
(93.76), which the supernet labels favour; the model, once a few accurate labels show that skip
hurts on other edges, rates skip on that edge low too, so only a rule that does not follow the
model alone measures it. Per-seed means therefore spread by 0.1-0.3.

* Greedy (the default: ``mutate=0``, ``beta=0``, ``explore_share=0``), seeds 0 / 1, current code:
  N = 100: 94.14 / 94.10; N = 300: 94.30 / 94.01; N = 1,000: 94.01 / 94.26 (``hybrid``, all at once,
  N = 100: 93.75 / 93.69; the supernet's own pick: 92.81).
* Not better: UCB ``beta=1``; rounds of 2; ``local=2``; a random first-round share; random one-edit
  mutations; mutations restricted to the model's better half of the neighbourhood (93.88 / 93.99
  against 94.14 / 93.96 on seeds 1 / 2, removed).
* ``mutate=2, mutate_rule="novel"``: N = 100, seeds 0-4: 94.25 / 94.14 / 93.96 / 94.30 / 94.25 (mean
  94.18, before the fixes below); seeds 5-8, current code: 94.21 / 94.15 / 94.34 / 94.29.
* ``mutate=3, mutate_rule="untested"`` (:func:`untested_pairs`), current code: N = 100, seeds 0-9:
  94.18 / 94.12 / 94.05 / 94.33 / 94.19 / 94.33 / 94.37 / 94.29 / 94.28 / 94.14 (mean 94.23); N = 300,
  seeds 0-6: 94.34 / 94.24 / 94.10 / 94.18 / 94.28 / 94.13 / 94.30 (mean 94.22); N = 1,000, seeds 0-3:
  94.11 / 94.25 / 94.29 / 94.21 (mean 94.22). The benchmark's defaults; recommended with rounds of 5.
  Seeds 5-9 were never used to choose a rule. On another machine (16 processes on the H200 host,
  torch 2.11, before the fixes) the same rule gave 94.21 / 94.16 / 94.01 / 94.33 / 94.22 on seeds 0-4
  and ``mutate=5`` gave 94.21 / 93.99 / 94.19 / 94.35 / 94.26.

On NAS-Bench-Macro (``benchmarks/search_nbmacro.py``, K = 20 true ``mean_acc`` values, 10 seeds;
optimum 93.127, random search 92.61): without noisy labels (``noisy_archs=None``: 10 random, then
rounds of 2 by ``pred + pred_std``) the pick scores 93.047 on average; with 100 labels of a small
CPU supernet (greedy rounds of 5, the NB201 defaults) 93.079, with 200 of 800 such labels 93.072.

The final table lowers the unmeasured predictions by the model's measured optimism plus one
standard deviation of it (:func:`selection_bias`, ``debias_spread=1``): with 20 accurate labels, an
unmeasured cell rated a little above the best measured one was worse more often than better (54
against 36 runs of 629 on the H200 host). Before the calibration map's features were clipped to
the range of the accurate labels (:mod:`predictor.gcn`), one such run ranked the identity cell
first (pick 84.05 after measuring 94.37).
Under a latency budget (``benchmarks/constrained_nb201.py``, ``b_seq``: greedy rounds of 10 on the
feasible cells) the mean regret over 6 devices x 3 budgets (10th, 25th, 50th latency percentile),
3 seeds, was 0.23 points (0.16 over edgegpu / raspi4 / edgetpu, 0.30 over pixel3 / eyeriss / fpga)
against 1.15 for the same 20 accurate labels chosen at random at once (``b_once``); current code,
2-core VM. The figures for the rule above (N = 100, seeds 0-9) reproduce exactly with the fused
prediction kernels of :mod:`predictor.kernels`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import NasgcnError
from .gcn import GCNPredictor, to_ids
from .noisy import fit_noisy_accurate, overlay_measured

__all__ = [
    "acquire",
    "explore",
    "neighbourhood",
    "novel_mutations",
    "untested_pairs",
    "selection_bias",
    "sequential_search",
    "SearchResult",
]

Oracle = Callable[[list[str]], Sequence[float] | np.ndarray]


def _candidates(
    space: str, exclude: Sequence[str] | np.ndarray | None, feasible: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """``(ok, cls)``: allowed architectures (space order) and every architecture's isomorphism class."""
    from .spaces import get_space

    sp = get_space(space)
    sp.require_enumerable("choosing from a whole-space table (acquire/explore/suggest)")
    all_ids = sp.all_ids()
    cls = sp.iso_class(all_ids)
    ok = ~sp.is_dead(all_ids)
    if feasible is not None:
        feasible = np.asarray(feasible, dtype=bool).reshape(-1)
        if feasible.shape[0] != sp.size:
            raise NasgcnError(f"feasible mask has {feasible.shape[0]} entries, expected {sp.size}")
        ok &= feasible
    if exclude is not None and len(exclude):
        ok &= ~np.isin(cls, sp.iso_class(to_ids(exclude, space)))
    return ok, cls


def _first_per_class(order: np.ndarray, cls: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` entries of ``order`` whose isomorphism classes are new."""
    _, first = np.unique(cls[order], return_index=True)
    return order[np.sort(first)][:n]


def acquire(
    pred: np.ndarray,
    n: int,
    pred_std: np.ndarray | None = None,
    beta: float = 0.0,
    exclude: Sequence[str] | np.ndarray | None = None,
    feasible: np.ndarray | None = None,
    space: str = "nb201",
) -> np.ndarray:
    """Indices (space order) of the ``n`` best by ``pred + beta * pred_std``, one per isomorphism class.

    Cut-off cells, the classes of ``exclude`` (already measured) and architectures outside the
    boolean ``feasible`` mask (space order) are skipped; ties keep space order.
    """
    ok, cls = _candidates(space, exclude, feasible)
    score = np.asarray(pred, dtype=np.float64).reshape(-1)
    if score.shape[0] != ok.shape[0]:
        raise NasgcnError(f"expected one prediction per architecture ({ok.shape[0]}), got {score.shape[0]}")
    if beta and pred_std is not None:
        score = score + float(beta) * np.asarray(pred_std, dtype=np.float64).reshape(-1)
    ok &= np.isfinite(score)
    order = np.flatnonzero(ok)[np.argsort(-score[ok], kind="stable")]
    return _first_per_class(order, cls, n)


def neighbourhood(anchors: Sequence[str] | np.ndarray, radius: int = 1, space: str = "nb201") -> np.ndarray:
    """Boolean mask (space order) of architectures within ``radius`` op changes of an anchor or of
    one of its isomorphic copies (the copies are different strings with different neighbours)."""
    from .spaces import get_space

    sp = get_space(space)
    all_ids = sp.all_ids()
    cls = sp.iso_class(all_ids)
    near = np.zeros(sp.size, dtype=bool)
    for a in all_ids[np.isin(cls, sp.iso_class(to_ids(anchors, space)))]:
        near |= (all_ids != a).sum(1) <= radius
    return near


def explore(
    pred: np.ndarray | None,
    n: int,
    rng: np.random.Generator,
    pool: float = 1.0,
    exclude: Sequence[str] | np.ndarray | None = None,
    feasible: np.ndarray | None = None,
    space: str = "nb201",
) -> np.ndarray:
    """``n`` random allowed architectures of distinct classes among the best ``pool`` fraction of ``pred``.

    ``pool=1`` (or ``pred=None``) draws from every allowed architecture.
    """
    if not 0 < pool <= 1:
        raise NasgcnError(f"pool must be in (0, 1], got {pool}")
    ok, cls = _candidates(space, exclude, feasible)
    allowed = np.flatnonzero(ok)
    if pred is not None and pool < 1 and allowed.size:
        score = np.asarray(pred, dtype=np.float64).reshape(-1)[allowed]
        keep = max(int(np.ceil(pool * allowed.size)), n)
        allowed = allowed[np.argsort(-score, kind="stable")[:keep]]
    return _first_per_class(rng.permutation(allowed), cls, n)


def novel_mutations(
    incumbent: np.ndarray,
    n: int,
    measured: np.ndarray,
    rng: np.random.Generator,
    exclude: Sequence[str] | np.ndarray | None = None,
    feasible: np.ndarray | None = None,
    space: str = "nb201",
) -> np.ndarray:
    """``n`` allowed architectures (space order) whose op changes from ``incumbent`` were measured least.

    Each candidate scores the number of ``measured`` architectures (op-id rows) that already carry each
    (edge, op) it changes, summed; the lowest score wins. Ties go to changes on the edges where the
    measured cells show the fewest distinct ops (an edge that carried one op in every measured cell
    is the one the accurate labels know nothing about), then at random. Every pick counts as measured
    for the next, so one round spreads over different ops. Unlike the model, this
    does not inherit the noisy labels' opinion of an op that no accurate label has tried yet.
    """
    from .spaces import get_space

    sp = get_space(space)
    all_ids = sp.all_ids()
    ok, cls = _candidates(space, exclude, feasible)
    cand = rng.permutation(np.flatnonzero(ok))
    inc = np.asarray(incumbent, dtype=np.int64).reshape(-1)
    n_ops = int(all_ids.max()) + 1
    counts = np.zeros((inc.shape[0], n_ops), dtype=np.int64)
    rows = np.asarray(measured, dtype=np.int64).reshape(-1, inc.shape[0])
    for e in range(inc.shape[0]):
        counts[e] = np.bincount(rows[:, e], minlength=n_ops)
    cand_ids, cand_cls = all_ids[cand], cls[cand]
    changed = cand_ids != inc  # (C, E)
    edges = np.arange(inc.shape[0])
    chosen: list[int] = []
    taken = cand_cls == sp.iso_class(inc[None])[0]  # the incumbent itself is no mutation
    while len(chosen) < n and not taken.all():
        score = np.where(changed, counts[edges, cand_ids], 0).sum(1)
        variety = np.where(changed, (counts > 0).sum(1)[None, :], 0).sum(1)  # distinct ops seen on the edges
        # untaken first; then least-tried changes, changes on the edges with the fewest ops tried, random order
        j = int(np.lexsort((variety, score, taken))[0])
        chosen.append(int(cand[j]))
        counts[edges[changed[j]], cand_ids[j][changed[j]]] += 1
        taken |= cand_cls == cand_cls[j]
    return np.asarray(chosen, dtype=np.int64)


def untested_pairs(
    pred: np.ndarray,
    n: int,
    measured: np.ndarray,
    exclude: Sequence[str] | np.ndarray | None = None,
    feasible: np.ndarray | None = None,
    space: str = "nb201",
) -> np.ndarray:
    """``n`` allowed architectures (space order): each the model's best one that carries an (edge, op)
    no ``measured`` architecture (op-id rows) carries.

    Why: the model inherits the noisy labels' opinion of an op on an edge until an accurate label
    tests it, and a test of that op in a poor cell (a random mutation) says little. This tests each
    untried (edge, op) in the best cell the model knows for it, best first; every pick counts as
    measured for the next, so one round covers different choices.
    """
    from .spaces import get_space

    sp = get_space(space)
    all_ids = sp.all_ids()
    ok, cls = _candidates(space, exclude, feasible)
    score = np.asarray(pred, dtype=np.float64).reshape(-1)
    ok &= np.isfinite(score)
    n_edges = all_ids.shape[1]
    seen = np.zeros((n_edges, int(all_ids.max()) + 1), dtype=bool)
    edges = np.arange(n_edges)
    seen[edges, np.asarray(measured, dtype=np.int64).reshape(-1, n_edges)] = True
    chosen: list[int] = []
    while len(chosen) < n:
        eligible = ok & ~seen[edges, all_ids].all(1)
        if not eligible.any():
            break
        j = int(np.flatnonzero(eligible)[np.argmax(score[eligible])])
        chosen.append(j)
        seen[edges, all_ids[j]] = True
        ok &= cls != cls[j]
    return np.asarray(chosen, dtype=np.int64)


@dataclass
class SearchResult:
    """What :func:`sequential_search` measured and the final table.

    ``measured``: space indices in the order they were evaluated; ``measured_y``: the oracle's values
    (NaN where it failed). ``pred``/``pred_std``: final whole-space table with the measured values
    overlaid and the other predictions lowered by ``bias`` (see :func:`selection_bias`);
    ``raw_pred``/``raw_std``: the model's own predictions. ``best``: the table's top-1 index (among
    ``feasible`` if given). ``history``: one dict per round, with the model's ``predicted`` values of
    the chosen architectures before they were measured.
    """

    measured: np.ndarray
    measured_y: np.ndarray
    pred: np.ndarray
    pred_std: np.ndarray
    raw_pred: np.ndarray
    raw_std: np.ndarray
    best: int
    model: GCNPredictor
    history: list[dict[str, Any]] = field(default_factory=list)
    bias: float = 0.0


def selection_bias(history: Sequence[dict[str, Any]], spread: float = 0.0) -> float:
    """How much the model overrated the architectures it chose, before they were measured (>= 0).

    Why: the model picks the architectures it rates highest, so the ones it rates highest and has not
    measured yet are, on average, overrated too (the optimizer's curse). Each round after the first
    (whose noisy-only model predicts in supernet units) records the model's prediction of the cells it
    chose (``model_chosen`` of them; mutations are not the model's choice) and what they measured; the
    mean of prediction minus measurement over those rounds estimates the overrating. Lowering the
    unmeasured predictions by it keeps the table from preferring an unmeasured cell over a better
    measured one on the model's optimism alone. ``spread`` adds that many standard deviations of the
    gaps: the table's top unmeasured cell is the maximum of many optimistic predictions, so it is
    overrated by more than the average choice was. 0 when nothing is known or the model underrated.
    """
    pred: list[float] = []
    got: list[float] = []
    for h in history[1:]:
        n = int(h.get("model_chosen", 0))
        if n:
            pred.extend(np.asarray(h["predicted"], dtype=np.float64)[-n:].tolist())
            got.extend(np.asarray(h["values"], dtype=np.float64)[-n:].tolist())
    return optimism(pred, got, spread)


def optimism(predicted: Sequence[float], measured: Sequence[float], spread: float = 0.0) -> float:
    """Mean of ``predicted - measured`` over the finite measurements, plus ``spread`` standard deviations (>= 0).

    The estimate behind :func:`selection_bias`, for callers that hold the pairs themselves (``nasgcn
    suggest`` reads them from earlier suggestion files).
    """
    p = np.asarray(predicted, dtype=np.float64).reshape(-1)
    m = np.asarray(measured, dtype=np.float64).reshape(-1)
    gaps = (p - m)[np.isfinite(m)]
    if gaps.size == 0:
        return 0.0
    extra = float(spread) * float(np.std(gaps)) if gaps.size > 1 else 0.0
    return max(0.0, float(np.mean(gaps)) + extra)


def _batches(k: int, batch: int, first: int | None = None) -> list[int]:
    if k < 2:
        raise NasgcnError(f"k must be >= 2 (the accurate labels calibrate the noisy ones), got {k}")
    if batch < 1:
        raise NasgcnError(f"batch must be >= 1, got {batch}")
    first = max(2, min(batch if first is None else int(first), k))  # the first refit needs two accurate labels
    return [first] + [min(batch, k - first - start) for start in range(0, k - first, batch)]


def sequential_search(
    noisy_archs: Sequence[str] | np.ndarray | None,
    noisy_y: Sequence[float] | np.ndarray | None,
    oracle: Oracle,
    k: int = 20,
    batch: int = 5,
    feasible: np.ndarray | None = None,
    beta: float = 0.0,
    explore_share: float = 0.0,
    explore_pool: float = 1.0,
    local: int = 0,
    radius: int = 1,
    mutate: int = 0,
    mutate_rule: str = "random",
    round_epochs: int | None = None,
    accurate_weight: float | str = "auto",
    debias: bool = True,
    debias_spread: float = 1.0,
    random_state: int = 0,
    initial: GCNPredictor | None = None,
    first_batch: int | None = None,
    clusters: np.ndarray | None = None,
    cluster_share: float = 1.0,
    prior_bonus: np.ndarray | None = None,
    **params: Any,
) -> SearchResult:
    """Spend ``k`` accurate evaluations in rounds of ``batch``, refitting after each round.

    Each round's choice is :func:`predictor.proposals.round_plan` run by
    :func:`predictor.proposals.propose_round` (what ``nasgcn suggest`` runs too). Round 1 chooses from
    the noisy-only table: ``round(explore_share * batch)`` random architectures (drawn from the best
    ``explore_pool`` fraction) and the rest the predicted best. Every later round takes ``mutate``
    picks by ``mutate_rule`` (``random``: one-edit mutations of the best measured; ``novel``: those whose
    changed ops the accurate labels tried least; ``untested``: anywhere feasible, the model's best
    cells that carry an (edge, op) no measured cell carries), then with ``local > 0`` the best by
    ``pred + beta * pred_std`` within ``radius`` op changes of the ``local`` best measured, then with
    ``clusters`` (one label per architecture, space order; DC-NAS) ``cluster_share`` of the rest one
    per cluster, least-measured clusters first, and the rest the best by ``pred + beta * pred_std``.
    ``prior_bonus`` (space order, e.g. ``weight * IRLAS reward``) is added to the score the model-based
    picks rank by. ``oracle(arch_strs)`` returns one accurate value per architecture (NaN = failed:
    counted against ``k``, not fitted, never re-chosen). ``feasible`` (boolean, space order) restricts
    both the choices and the final pick. ``params`` go to :class:`GCNPredictor` (``space``, ``epochs``,
    ...); ``round_epochs`` (default: ``epochs``) shortens the intermediate refits, the final one uses
    ``epochs``. ``initial``: an already fitted noisy-only model to choose round 1 from (saves that fit).
    ``debias`` lowers the final table's unmeasured predictions by the model's measured overrating of
    its own choices, plus ``debias_spread`` standard deviations of it (:func:`selection_bias`), so its
    top-1 is an unmeasured cell only if the model rates it above the best measured one by more than it
    has been erring. ``first_batch`` sets the size of round 1 (default ``batch``). Without noisy labels
    (``noisy_archs=None``) round 1 is drawn at random and every fit uses the accurate labels alone:
    plain model-based search from true evaluations only.
    """
    from .proposals import Pool, propose_round, round_plan
    from .spaces import get_space

    space = params.get("space", "nb201")
    sp = get_space(space)
    sp.require_enumerable("sequential_search (it ranks the whole space every round)")
    all_ids = sp.all_ids()
    rng = np.random.default_rng(random_state)
    sizes = _batches(int(k), int(batch), first_batch)
    plan_args = dict(
        beta=beta,
        explore_share=explore_share,
        explore_pool=explore_pool,
        local=local,
        radius=radius,
        mutate=mutate,
        mutate_rule=mutate_rule,
        clusters=clusters,
        cluster_share=cluster_share,
    )
    round_plan(False, 1, **plan_args)  # validate the options before any fit
    no_noisy = noisy_archs is None or len(noisy_archs) == 0
    n_ids = None if no_noisy else to_ids(noisy_archs, space)
    n_y = None if no_noisy else np.asarray(noisy_y, dtype=np.float64).reshape(-1)
    epochs = int(params.pop("epochs", GCNPredictor().epochs))
    mid_epochs = epochs if round_epochs is None else int(round_epochs)
    measured: list[int] = []
    values: list[float] = []
    history: list[dict[str, Any]] = []

    def fit(final: bool) -> GCNPredictor:
        good = np.isfinite(values)
        idx = np.asarray(measured, dtype=np.int64)[good]
        acc_ids = all_ids[idx] if good.sum() >= 2 else None
        acc_y = np.asarray(values)[good] if good.sum() >= 2 else None
        ep = epochs if final else mid_epochs
        if no_noisy:  # accurate labels alone (round 1 measured at least two)
            if acc_ids is None:
                raise NasgcnError("fewer than 2 accurate values came back from round 1; nothing to fit")
            return fit_noisy_accurate(acc_ids, acc_y, epochs=ep, random_state=random_state, **params)
        return fit_noisy_accurate(
            n_ids, n_y, acc_ids, acc_y, accurate_weight, epochs=ep, random_state=random_state, **params
        )

    start = time.perf_counter()
    model = None if no_noisy and initial is None else (fit(final=False) if initial is None else initial)
    for r, size in enumerate(sizes):
        if model is None:  # no noisy labels: round 1 at random
            pred = std = None
        else:
            pred, std = model.predict_space(return_std=True)
        pool = Pool(space, pred, std, measured, values, feasible=feasible, bonus=prior_bonus, rng=rng)
        steps = round_plan(r == 0, size, has_model=model is not None, **plan_args)
        chosen, n_random = propose_round(pool, size, steps)
        if chosen.size == 0:
            break  # nothing left to measure under the constraints
        got = np.asarray(oracle(sp.decode(all_ids[chosen])), dtype=np.float64).reshape(-1)
        if got.shape[0] != chosen.shape[0]:
            raise NasgcnError(f"oracle returned {got.shape[0]} values for {chosen.shape[0]} architectures")
        measured += chosen.tolist()
        values += got.tolist()
        best_so_far = float(np.nanmax(values)) if np.isfinite(values).any() else float("nan")
        last = r == len(sizes) - 1
        model = fit(final=last)
        history.append(
            {
                "round": r + 1,
                "chosen": chosen.tolist(),
                "predicted": (np.full(chosen.size, np.nan) if pred is None else pred[chosen]).tolist(),
                "model_chosen": int(chosen.size - n_random),  # they come last
                "values": got.tolist(),
                "best_measured": best_so_far,
                "n_epochs": model.n_epochs_,
                "seconds": time.perf_counter() - start,
            }
        )
    if len(history) and history[-1]["round"] != len(sizes):  # stopped early: refit in full
        model = fit(final=True)
    raw, raw_std = model.predict_space(return_std=True)
    m_idx = np.asarray(measured, dtype=np.int64)
    good = np.isfinite(values)
    bias = selection_bias(history, debias_spread) if debias else 0.0
    pred, std, _ = overlay_measured(raw - bias, raw_std, all_ids[m_idx[good]], np.asarray(values)[good], space)
    masked = pred if feasible is None else np.where(np.asarray(feasible, dtype=bool), pred, -np.inf)
    return SearchResult(
        measured=m_idx,
        measured_y=np.asarray(values, dtype=np.float64),
        pred=pred,
        pred_std=std,
        raw_pred=raw,
        raw_std=raw_std,
        best=int(np.argmax(masked)),
        model=model,
        history=history,
        bias=bias,
    )
