"""``nasgcn suggest``: the next architectures to train stand-alone (one round of sequential search).

The real loop is: ``nasgcn fit`` (noisy logs + ``--accurate`` results so far), ``nasgcn suggest``,
train the suggested cells, append them to the accurate log, repeat. See :mod:`predictor.acquisition`.
Heavy imports (torch, for a MODEL) happen inside the handler only.
"""

from __future__ import annotations

import argparse

import numpy as np

from ..proposals import MUTATION_RULES
from .hardware_cmd import add_bound_arguments, add_list_argument
from .options import add_device_option, add_output_option, add_prior_options, add_seed_option, prior_from_args
from .space_cmd import add_space_option


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser(
        "suggest",
        help="next architectures to train stand-alone (predicted best, unmeasured, within budgets)",
        description=(
            "Choose the next K architectures to evaluate accurately (e.g. train stand-alone): the best by "
            "pred + BETA * pred_std, one per isomorphism class, skipping cut-off cells, architectures (and "
            "their isomorphism classes) already measured (the table's 'measured' column, a MODEL's accurate "
            "labels, and every --exclude log) and those outside the --max/--min budgets. With --explore N, "
            "N of the K are drawn at random among the allowed ones instead (calibration of noisy labels). "
            "Writes OUT (arch_str, index, iso_class, pred, pred_std, score and the constrained columns). "
            "--space defaults to the space MODEL_OR_TABLE records (else nb201); a model, table or log made "
            "for another space is refused. Spaces too large to enumerate (fbnet): use 'nasgcn search'."
        ),
    )
    s.add_argument("source", metavar="MODEL_OR_TABLE", help="model from 'nasgcn fit' or table from 'nasgcn table'")
    s.add_argument("--k", type=int, default=5, help="number of architectures to suggest (default 5)")
    add_output_option(s, required=True, metavar="NEXT.csv", help="output CSV (written atomically)")
    add_list_argument(
        s, "--exclude", "LOG", "logs (CSV/JSONL with arch_str) of architectures already measured or scheduled"
    )
    add_list_argument(s, "--hardware", "FILE", "hardware cost files (arch_str + cost columns) joined by arch_str")
    add_bound_arguments(s)
    s.add_argument("--z", type=float, default=0.0, help="safety margin in standard deviations for predicted costs")
    s.add_argument(
        "--beta", type=float, default=0.0, help="weight of pred_std in the score (UCB; default 0 = predicted best)"
    )
    s.add_argument("--explore", type=int, default=0, metavar="N", help="of the K, N drawn at random (default 0)")
    s.add_argument(
        "--mutate",
        type=int,
        default=3,
        metavar="N",
        help="once accurate values are known: N of the K by --mutate-rule instead of the model alone "
        "(default 3, the best rule of benchmarks/predictor_nb201.py; 0 = greedy)",
    )
    s.add_argument(
        "--mutate-rule",
        choices=MUTATION_RULES,
        default="untested",
        help="untested: the model's best cell for each (slot, op) no measured cell has; novel: edits of the "
        "best measured cell whose changes were tried least; random: random edits of it (default untested)",
    )
    s.add_argument(
        "--radius", type=int, default=1, help="edits from the best measured cell for novel/random/--local (default 1)"
    )
    s.add_argument(
        "--local",
        type=int,
        default=0,
        metavar="N",
        help="rank only near the N best measured cells first (default 0: off)",
    )
    s.add_argument(
        "--clusters",
        metavar="CLUSTERS.csv",
        help="DC-NAS clusters (arch_str, cluster; 'nasgcn supernet cluster'): spread the model's picks over "
        "clusters, least-measured first; unlabelled architectures take their nearest labelled one's cluster",
    )
    s.add_argument(
        "--cluster-share",
        type=float,
        default=1.0,
        metavar="F",
        help="with --clusters: share of the model's picks spread over clusters (default 1)",
    )
    s.add_argument(
        "--debias-spread",
        type=float,
        default=1.0,
        metavar="S",
        help="the pick line lowers unmeasured predictions by the model's measured optimism on earlier "
        "suggestions (--exclude files written by suggest) plus S standard deviations of it (default 1)",
    )
    add_prior_options(s, "the model-based picks rank by pred + W * prior reward")
    add_seed_option(s, what="seed of --explore, random mutations and the prior")
    add_device_option(s, what="for a MODEL")
    add_space_option(s, default=None)
    s.set_defaults(func=_suggest)


def _is_model(path: str) -> bool:
    from pathlib import Path

    return Path(path + ".json").is_file() and Path(path).suffix.lower() not in (".csv", ".parquet")


def _load(args: argparse.Namespace):
    """Whole-space lookup table of MODEL_OR_TABLE (a MODEL's accurate labels overlaid and marked measured)."""
    from ..errors import NasgcnError
    from ..lookup import LookupTable
    from ..spaces import get_space

    if not _is_model(args.source):
        table = LookupTable.load(args.source)
        table.check_space(args.space or table.space, f"table {args.source}")
        return table
    from ..gcn import GCNPredictor
    from ..noisy import overlay_measured

    est = GCNPredictor.load(args.source, device=args.device, space=args.space)
    sp = get_space(est.space)
    if not sp.enumerable:
        raise NasgcnError(
            f"{args.source}: suggest ranks the whole space, and space {sp.name!r} ({sp.size:.3e} "
            f"architectures) cannot be enumerated; use nasgcn search {args.source} --top K instead"
        )
    pred, std = est.predict_space(return_std=True)
    measured = getattr(est, "measured_", None)
    mask = None
    if measured:
        pred, std, mask = overlay_measured(pred, std, measured["arch_str"], measured["y"], est.space)
    table = LookupTable.build(pred, std, space=sp.name, meta={"model": str(args.source), "target": est.target_})
    if mask is not None:
        table.columns["measured"] = mask
        table.measured_exact = (list(measured["arch_str"]), np.asarray(measured["y"], dtype=np.float64))
    return table


def _measured(table, sp, rows) -> tuple[np.ndarray, np.ndarray]:
    """Space indices and values of what was measured: a MODEL's accurate labels themselves, or a
    table's ``measured`` rows (there every member of a measured isomorphism class)."""
    exact = getattr(table, "measured_exact", None)
    if exact is not None:  # the architectures measured, not their isomorphic copies: the rules count (slot, op)s
        return sp.index_of(sp.encode(exact[0])), exact[1]
    if "measured" not in table.columns:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    mask = np.asarray(table["measured"], dtype=bool)
    return rows[mask], np.asarray(table["pred"], dtype=np.float64)[mask]


def _history_bias(paths: list[str], measured_idx, measured_y, sp, spread: float) -> tuple[float, int]:
    """The model's optimism on earlier suggestions: their recorded ``pred`` against what they measured."""
    from ..acquisition import optimism
    from ..errors import NasgcnError
    from ..table import read_csv

    value = dict(zip(measured_idx.tolist(), measured_y.tolist(), strict=True))
    gaps_pred, gaps_got = [], []
    for path in paths:
        if not path.lower().endswith(".csv"):
            continue
        try:
            frame, meta = read_csv(path)
        except NasgcnError:  # a plain log, not a suggest output: no predictions to learn from
            continue
        if meta.get("kind") != "suggest" or not meta.get("calibrated") or "pred" not in frame:
            continue
        model = np.asarray(frame["model_chosen"], dtype=bool) if "model_chosen" in frame else None
        idx = sp.index_of(sp.encode(list(frame["arch_str"])))
        for j, i in enumerate(idx.tolist()):
            if (model is None or model[j]) and i in value and np.isfinite(value[i]):
                gaps_pred.append(float(frame["pred"][j]))
                gaps_got.append(value[i])
    return optimism(gaps_pred, gaps_got, spread), len(gaps_pred)


def _suggest(args: argparse.Namespace) -> int:
    from ..errors import NasgcnError
    from ..hardware import HardwareTable
    from ..logs import read_log
    from ..proposals import Explore, Pool, Step, propose_round_sources, read_clusters, round_plan, step_name
    from ..query import feasible_mask
    from ..spaces import get_space
    from ..table import write_csv

    if args.k < 1:
        raise NasgcnError(f"--k must be >= 1, got {args.k}")
    if not 0 <= args.explore <= args.k:
        raise NasgcnError(f"--explore must be in [0, --k], got {args.explore}")
    for name in ("mutate", "local", "radius"):
        if getattr(args, name) < 0:
            raise NasgcnError(f"--{name} must be >= 0, got {getattr(args, name)}")
    table = _load(args)
    sp = get_space(table.space)
    for path in args.hardware:
        table = table.join(HardwareTable.read(path, space=sp.name))
    upper, lower = dict(args.max), dict(args.min)
    for col in ["pred", *upper, *lower]:
        if col not in table.columns:
            raise NasgcnError(f"unknown column {col!r}; available columns: {', '.join(table.columns)}")
    try:
        rows = sp.index_of(sp.encode(table["arch_str"].tolist()))  # table row -> space index
    except NasgcnError as err:
        raise NasgcnError(f"{args.source}: {err} (a table for space {sp.name!r}?)") from None
    if rows.size != sp.size or np.unique(rows).size != sp.size:
        raise NasgcnError(f"{args.source}: expected one row per architecture of the space ({sp.size:,})")

    def in_space(values, fill):
        out = np.full(sp.size, fill, dtype=np.asarray(values).dtype)
        out[rows] = values
        return out

    pred = in_space(np.asarray(table["pred"], dtype=np.float64), np.nan)
    std = in_space(np.asarray(table["pred_std"], dtype=np.float64), 0.0) if "pred_std" in table.columns else None
    feasible = in_space(feasible_mask(table.columns, upper, lower, z=args.z), False)
    done = [s for path in args.exclude for s in read_log(path, metrics=[], space=sp.name).arch_str.tolist()]
    m_idx, m_y = _measured(table, sp, rows)
    clusters = read_clusters(args.clusters, sp.name) if args.clusters else None
    scheduled = sp.index_of(sp.encode(done)) if done else np.zeros(0, dtype=np.int64)
    calibrated = bool(np.isfinite(m_y).any())
    prior = prior_from_args(args, sp)
    bonus = args.prior_weight * prior.reward(sp.all_ids()) if prior is not None and args.prior_weight else None
    pool = Pool(sp.name, pred, std, m_idx, m_y, scheduled, feasible, bonus, rng=np.random.default_rng(args.seed))
    plan = dict(
        beta=args.beta,
        local=args.local,
        radius=args.radius,
        mutate=args.mutate,
        mutate_rule=args.mutate_rule,
        clusters=clusters,
        cluster_share=args.cluster_share,
    )
    if calibrated:  # a later round: mutations, local, clusters, then the best by score
        steps = ([Step(Explore(1.0), args.explore)] if args.explore else []) + round_plan(False, args.k, **plan)
    else:  # round 1: the noisy-only model's best (and --explore random picks), as in sequential_search
        steps = round_plan(True, args.k, explore_n=args.explore, **plan)
        if clusters is not None:
            print("no accurate values yet: the predicted best; --clusters spreads the picks from the next round on")
    picked, sources = propose_round_sources(pool, args.k, steps)
    names = np.asarray([step_name(steps[i]) for i in sources], dtype=object)
    model_chosen = np.asarray([steps[i].proposal.model_based for i in sources], dtype=bool)
    at = np.argsort(rows)[picked]  # space index -> table row
    score = pool.score(args.beta)[picked] if picked.size else np.zeros(0)
    out = {
        "arch_str": table["arch_str"][at],
        "index": picked,
        "iso_class": sp.iso_class(sp.all_ids()[picked]),
        "pred": pred[picked],
        "pred_std": std[picked] if std is not None else np.zeros(picked.size),
        "score": score,
        "explore": names == "explore",
        "rule": names,
        "model_chosen": model_chosen,
    }
    if clusters is not None:
        out["cluster"] = clusters[picked]
    for col in [*upper, *lower]:
        out[col] = np.asarray(table[col])[at]
    bias, n_gaps = _history_bias(list(args.exclude), m_idx, m_y, sp, args.debias_spread) if calibrated else (0.0, 0)
    overlaid = in_space(np.asarray(table["measured"], dtype=bool), False) if "measured" in table.columns else None
    pick = _pick(sp, pred, m_idx, m_y, feasible, bias, overlaid)
    meta = {
        "kind": "suggest",
        "space": sp.name,
        "source": str(args.source),
        "k": args.k,
        "beta": args.beta,
        "explore": args.explore,
        "mutate": args.mutate,
        "mutate_rule": args.mutate_rule,
        "local": args.local,
        "radius": args.radius,
        "clusters": args.clusters,
        "cluster_share": args.cluster_share,
        "prior": args.prior,
        "prior_weight": args.prior_weight,
        "seed": args.seed,
        "max": upper,
        "min": lower,
        "excluded": len(done),
        "calibrated": calibrated,
        "selection_bias": bias,
        "pick": pick,
    }
    write_csv(args.out, out, meta)
    n_ok = int(feasible.sum())
    for s, p, v in zip(out["arch_str"], out["pred"], out["rule"], strict=True):
        print(f"{s}  pred {p:.3f}{'' if v == 'greedy' else f'  ({v})'}")
    print(
        f"wrote {picked.size} suggestion(s) to {args.out} ({n_ok:,} architectures within budget, {len(done)} excluded)"
    )
    if picked.size < args.k:
        print(f"only {picked.size} allowed architecture class(es) left")
    if pick is not None:
        how = "measured" if pick["measured"] else f"predicted, after lowering unmeasured ones by {bias:.3f}"
        print(
            f"current pick: {pick['arch_str']}  {pick['value']:.3f} ({how}; optimism from {n_gaps} earlier suggestion(s))"
        )
    return 0


def _pick(sp, pred, m_idx, m_y, feasible, bias: float, overlaid: np.ndarray | None = None) -> dict | None:
    """The table's best feasible architecture with measured values overlaid and the rest lowered by ``bias``.

    ``overlaid``: the architectures (space order) whose ``pred`` already is a measured value (every
    member of a measured isomorphism class); they are not lowered.
    """
    if not m_idx.size:
        return None
    table = np.asarray(pred, dtype=np.float64) - bias
    good = np.isfinite(m_y)
    if overlaid is not None:
        table[overlaid] = np.asarray(pred, dtype=np.float64)[overlaid]
    table[m_idx[good]] = m_y[good]
    known = np.zeros(table.size, dtype=bool)
    known[m_idx[good]] = True
    if overlaid is not None:
        known |= overlaid
    table = np.where(feasible & np.isfinite(table), table, -np.inf)
    if not np.isfinite(table).any():
        return None
    i = int(np.argmax(table))
    return {"arch_str": sp.decode(sp.all_ids()[[i]])[0], "value": float(table[i]), "measured": bool(known[i])}
