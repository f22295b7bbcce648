"""``nasgcn suggest``: the next architectures to train stand-alone (one round of sequential search).

The real loop is: ``nasgcn fit`` (noisy logs + ``--accurate`` results so far), ``nasgcn suggest``,
train the suggested cells, append them to the accurate log, repeat. See :mod:`predictor.acquisition`.
Heavy imports (torch, for a MODEL) happen inside the handler only.
"""

from __future__ import annotations

import argparse

from .hardware_cmd import add_bound_arguments, add_list_argument
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
    s.add_argument("--out", required=True, metavar="NEXT.csv", help="output CSV (written atomically)")
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
    s.add_argument("--seed", type=int, default=0, help="seed of --explore (default 0)")
    s.add_argument("--device", default="cpu", help="for a MODEL: cpu or cuda[:N] (default: cpu)")
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
    return table


def _suggest(args: argparse.Namespace) -> int:
    import numpy as np

    from ..acquisition import acquire, explore
    from ..errors import NasgcnError
    from ..hardware import HardwareTable
    from ..logs import read_log
    from ..query import feasible_mask
    from ..spaces import get_space
    from ..table import write_csv

    if args.k < 1:
        raise NasgcnError(f"--k must be >= 1, got {args.k}")
    if not 0 <= args.explore <= args.k:
        raise NasgcnError(f"--explore must be in [0, --k], got {args.explore}")
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
    if "measured" in table.columns:
        done += table["arch_str"][np.asarray(table["measured"], dtype=bool)].tolist()
    exclude = sp.encode(done) if done else None
    rng = np.random.default_rng(args.seed)
    picked = explore(pred, args.explore, rng, exclude=exclude, feasible=feasible, space=sp.name)
    if picked.size:
        exclude = sp.all_ids()[picked] if exclude is None else np.concatenate([exclude, sp.all_ids()[picked]])
    more = acquire(pred, args.k - picked.size, std, args.beta, exclude, feasible, space=sp.name)
    picked = np.concatenate([picked, more])
    at = np.argsort(rows)[picked]  # space index -> table row
    score = pred[picked] + (args.beta * std[picked] if std is not None and args.beta else 0.0)
    out = {
        "arch_str": table["arch_str"][at],
        "index": picked,
        "iso_class": sp.iso_class(sp.all_ids()[picked]),
        "pred": pred[picked],
        "pred_std": std[picked] if std is not None else np.zeros(picked.size),
        "score": score,
        "explore": np.arange(picked.size) < args.explore,
    }
    for col in [*upper, *lower]:
        out[col] = np.asarray(table[col])[at]
    meta = {
        "space": sp.name,
        "source": str(args.source),
        "k": args.k,
        "beta": args.beta,
        "explore": args.explore,
        "seed": args.seed,
        "max": upper,
        "min": lower,
        "excluded": len(done),
    }
    write_csv(args.out, out, meta)
    n_ok = int(feasible.sum())
    for s, p, v in zip(out["arch_str"], out["pred"], out["explore"], strict=True):
        print(f"{s}  pred {p:.3f}{'  (explore)' if v else ''}")
    print(
        f"wrote {picked.size} suggestion(s) to {args.out} ({n_ok:,} architectures within budget, {len(done)} excluded)"
    )
    if picked.size < args.k:
        print(f"only {picked.size} allowed architecture class(es) left")
    return 0
