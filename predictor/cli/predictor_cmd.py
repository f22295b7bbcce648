"""``nasgcn fit``, ``nasgcn table`` and ``nasgcn evaluate``: the GCN predictor from the command line."""

from __future__ import annotations

import argparse
import logging

from .options import (
    TABLE,
    add_device_option,
    add_output_option,
    add_quiet_option,
    add_seed_option,
    add_threads_option,
)
from .space_cmd import add_space_option


def register(sub: argparse._SubParsersAction) -> None:
    fit = sub.add_parser(
        "fit",
        help="fit a GCN predictor on evaluation logs",
        description=(
            "Fit a GCN predictor on one or more evaluation logs (CSV/JSONL with arch_str and a target "
            "column; arch_str holds the --space's canonical strings, digit codes such as 00012220 for "
            "nbmacro/fbnet; a column named arch or arch_ids is read as arch_str when there is none). To mix many cheap noisy labels (e.g. supernet accuracies, the LOGs) with a few "
            "accurate ones (stand-alone training results), pass the accurate logs with --accurate: the "
            "model is then expressed in the units of the accurate target, learns an affine calibration "
            "of the noisy labels (plus a parameter-count term) and ranks within each source. Writes "
            "MODEL (torch state_dict) and MODEL.json (config: space, target, training-set size, data hash). "
            "A log whose LOG.meta.json records another space is refused."
        ),
    )
    fit.add_argument("logs", nargs="+", metavar="LOG", help="evaluation log(s) with the (noisy) labels")
    add_space_option(fit)
    fit.add_argument("--target", required=True, metavar="COL", help="metric column of LOG to fit")
    add_output_option(
        fit, suffixes=(".pt", ".pth", ""), default="model.pt", metavar="MODEL", help="model path (default: model.pt)"
    )
    fit.add_argument("--epochs", type=int, default=150, metavar="E", help="training epochs (default: 150)")
    fit.add_argument("--ensemble", type=int, default=3, metavar="K", help="deep-ensemble members (default: 3)")
    fit.add_argument("--loss", choices=("mse", "rank", "mix"), default="mix", help="training loss (default: mix)")
    add_seed_option(fit, what="seed of initialization, batch order and the validation split")
    fit.add_argument(
        "--lower-is-better",
        action="store_true",
        help="the --target column is a loss (e.g. supernet_loss): fit its negative, so the model's "
        "target is '-COL' and a higher prediction is still better",
    )
    fit.add_argument(
        "--accurate",
        nargs="+",
        default=[],
        metavar="LOG",
        help="log(s) of accurate labels (e.g. stand-alone results) to fit together with the noisy LOGs",
    )
    fit.add_argument(
        "--accurate-target",
        metavar="COL",
        help="metric column of the --accurate logs (default: the same as --target)",
    )
    fit.add_argument(
        "--accurate-weight",
        default="auto",
        metavar="W",
        help="weight of one accurate label relative to one noisy label, or 'auto' = "
        "max(1, 0.75 * n_noisy / n_accurate) (default: auto)",
    )
    fit.add_argument(
        "--target-range",
        metavar="LO,HI",
        help="values the --target column can take (either side may be empty: '0,' is >= 0); predictions are "
        "clipped to it and labels outside it are refused (with --lower-is-better, give COL's own range). "
        "Default: from the target's name: accuracy 0,100; losses, latencies, energies and other costs 0,; "
        "anything else unbounded",
    )
    fit.add_argument(
        "--dead-value",
        default="auto",
        metavar="V",
        help="prediction for cut-off cells (output disconnected from the input): auto = the median of their "
        "training labels (2 or more), else chance level for accuracy (100/classes) and loss (log classes) "
        "targets, else the network's; a number; or none (default: auto)",
    )
    fit.add_argument("--hidden", type=int, default=32, help="hidden width (default: 32)")
    fit.add_argument("--layers", type=int, default=3, help="graph-convolution layers (default: 3)")
    fit.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate (default: 0.003)")
    fit.add_argument(
        "--batch-size", default="auto", help="mini-batch size or 'auto' = max(64, ceil(n/8)) (default: auto)"
    )
    fit.add_argument("--early-stopping", action="store_true", help="hold out 10%% of labels and stop early")
    add_device_option(fit)
    fit.add_argument(
        "--on-error",
        choices=("raise", "skip"),
        default="raise",
        help="bad log rows: stop with file:line (raise, default) or skip them with a warning",
    )
    add_quiet_option(fit, dest="quiet")
    add_threads_option(fit)
    fit.set_defaults(func=_fit)

    table = sub.add_parser(
        "table",
        help="predict every architecture and write the lookup table",
        description=(
            "Predict all architectures of the model's space (15,625 for nb201, 6,561 for nbmacro) in one "
            "pass and write a CSV with arch_str, index, iso_class, dead, params_m, flops_m, pred, pred_std "
            "(ensemble std) plus TABLE.csv.meta.json (space, model, target, data hash). A space too large "
            "to enumerate (fbnet) has no table: use 'nasgcn search MODEL' instead."
        ),
    )
    table.add_argument("model", metavar="MODEL", help="model written by 'nasgcn fit'")
    add_output_option(
        table, suffixes=TABLE, required=True, metavar="TABLE.csv", help="output .csv or .parquet (written atomically)"
    )
    add_device_option(table)
    add_threads_option(table)
    table.add_argument(
        "--no-overlay",
        action="store_true",
        help="for models fitted with --accurate: keep predictions for the accurately measured architectures "
        "(default: they get their measured value, pred_std 0 and measured=True)",
    )
    table.set_defaults(func=_table)

    ev = sub.add_parser(
        "evaluate",
        help="rank metrics of a table's predictions against measured values",
        description=(
            "Join TABLE.csv (column --pred, default pred) with FILE (any CSV with arch_str and COL) by "
            "canonical arch_str (of --space; default: the table's recorded space, else nb201; a table or "
            "truth file recorded for another space is refused) and report Kendall tau, Spearman, Kendall tau among the true top 1 % and "
            "5 %, precision@10/100, NDCG@10 and the regret of the top-1 pick. Rows with NaN are dropped."
        ),
    )
    ev.add_argument("table", metavar="TABLE.csv", help="lookup table (or any CSV with arch_str and --pred)")
    ev.add_argument("--truth", required=True, metavar="FILE", help="CSV with arch_str and the measured column")
    ev.add_argument("--column", required=True, metavar="COL", help="measured column of FILE (higher is better)")
    ev.add_argument("--pred", default="pred", metavar="COL", help="score column of TABLE.csv (default: pred)")
    ev.add_argument("--json", action="store_true", help="print JSON")
    ev.add_argument(
        "--predictions-only",
        action="store_true",
        help="drop the rows the table marks as measured (column measured: accurate labels overlaid by "
        "'nasgcn table'), so that only predictions are scored; either way the count is reported",
    )
    add_space_option(ev, default=None)
    ev.set_defaults(space_default="nb201")
    ev.set_defaults(func=_evaluate)


def _read_target(paths: list[str], column: str, on_error: str, space: str = "nb201"):
    from ..errors import NasgcnError
    from ..logs import ARCH_ALIASES, read_logs

    log = read_logs(paths, metrics=[column], on_error=on_error, space=space, arch_aliases=ARCH_ALIASES)
    if column not in log.metrics:
        raise NasgcnError(f"{', '.join(paths)}: no metric column {column!r}; columns: {', '.join(log.columns)}")
    if len(log) == 0:
        raise NasgcnError(f"{', '.join(paths)}: no usable rows")
    return log.arch_str.tolist(), log.metrics[column]


def _set_threads(n: int) -> None:
    import torch

    from ..errors import NasgcnError

    if n < 1:
        raise NasgcnError(f"--threads must be >= 1, got {n}")
    torch.set_num_threads(n)


def _fit(args: argparse.Namespace) -> int:
    import time

    from ..errors import NasgcnError
    from ..io import check_not_input
    from ..noisy import fit_noisy_accurate
    from ..spaces import get_space
    from ..targets import infer_range

    check_not_input(args.out, [*args.logs, *args.accurate])  # before any work: nothing is lost
    _set_threads(args.threads)
    space = get_space(args.space).name
    archs, y = _read_target(args.logs, args.target, args.on_error, space)
    noisy_target = args.target
    if args.lower_is_better:
        y, noisy_target = -y, f"-{args.target}"
    acc_archs, acc_y = None, None
    acc_target = args.accurate_target or args.target
    weight = args.accurate_weight
    if weight != "auto":
        try:
            weight = float(weight)
        except ValueError:
            raise NasgcnError(f"--accurate-weight must be a number or 'auto', got {weight!r}") from None
    if args.accurate:
        acc_archs, acc_y = _read_target(args.accurate, acc_target, args.on_error, space)
    model_target = acc_target if args.accurate else noisy_target
    bounds = _fit_bounds(args, model_target)
    if args.accurate:  # the noisy labels are another metric: checked against their own (inferred) range
        _check_labels(args.logs, noisy_target, y, infer_range(noisy_target))
    _check_labels(args.accurate or args.logs, model_target, acc_y if args.accurate else y, bounds)
    start = time.perf_counter()
    est = fit_noisy_accurate(
        archs,
        y,
        acc_archs,
        acc_y,
        accurate_weight=weight,
        space=space,
        hidden=args.hidden,
        num_layers=args.layers,
        loss=args.loss,
        ensemble=args.ensemble,
        epochs=args.epochs,
        batch_size=args.batch_size if args.batch_size == "auto" else int(args.batch_size),
        lr=args.lr,
        early_stopping=args.early_stopping,
        random_state=args.seed,
        device=args.device,
        n_threads=args.threads,
        verbose=not args.quiet,
        target_range=bounds,
        dead_value=_dead_value(args.dead_value),
    )
    est.target_ = model_target
    est.meta_ = {
        "logs": [str(p) for p in args.logs],
        "log_target": noisy_target,
        "accurate_logs": [str(p) for p in args.accurate],
        "accurate_target": acc_target if args.accurate else None,
        "accurate_weight": args.accurate_weight if args.accurate else None,
        "n_noisy": len(archs) if args.accurate else 0,
        "n_accurate": len(acc_archs) if acc_archs is not None else len(archs),
    }
    est.save(args.out)
    took = time.perf_counter() - start
    what = f"{len(archs)} labels ({noisy_target})"
    if args.accurate:
        what = f"{len(archs)} noisy ({noisy_target}) + {len(acc_archs)} accurate ({acc_target}) labels"
    print(f"fitted {args.ensemble}-member GCN ({space}) on {what} in {took:.1f}s, {est.n_epochs_} epochs")
    print(f"wrote {args.out} and {args.out}.json (target {est.target_}, data sha256 {est.data_hash_[:12]}...)")
    if get_space(space).enumerable:
        pred, _ = est.predict_space(return_std=True)
        _log_extrapolation(est, pred, est.extrapolated(pred=pred), "the space")
    return 0


def _fit_bounds(args: argparse.Namespace, model_target: str) -> tuple[float, float]:
    """The model target's range: ``--target-range`` (COL's own, negated for ``--lower-is-better``) or inferred."""
    from ..targets import infer_range, parse_range

    declared = parse_range(args.target_range, "--target-range")
    if declared is None:
        return infer_range(model_target)
    if args.lower_is_better and not args.accurate:
        return (-declared[1], -declared[0])
    return declared


def _dead_value(text: str) -> float | str | None:
    from ..errors import NasgcnError

    if text.strip().lower() in ("auto", "none"):
        return None if text.strip().lower() == "none" else "auto"
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if value != value or value in (float("inf"), float("-inf")):
        raise NasgcnError(f"--dead-value must be auto, none or a finite number, got {text!r}")
    return value


def _check_labels(paths: list[str], target: str, y, bounds: tuple[float, float]) -> None:
    """Refuse labels the target cannot take (an accuracy of 101, a negative latency) before any work."""
    import numpy as np

    from ..errors import NasgcnError

    y = np.asarray(y, dtype=np.float64)
    bad = np.flatnonzero((y < bounds[0]) | (y > bounds[1]))
    if bad.size:
        raise NasgcnError(
            f"{', '.join(paths)}: {bad.size} value(s) of {target} outside [{bounds[0]:g}, {bounds[1]:g}], e.g. "
            f"{y[bad[0]]:g} (fix those rows, or declare the range: --target-range LO,HI)"
        )


def _log_extrapolation(est, pred, extrapolated, where: str) -> None:
    """One line: how many predictions rest on extrapolation, and whether the best one does."""
    import numpy as np

    log = logging.getLogger(__name__)
    n = int(np.sum(extrapolated))
    labels = getattr(est, "label_range_", None)
    span = "" if labels is None else f" of [{labels[0]:.4g}, {labels[1]:.4g}]"
    if n == 0:
        log.info(f"no prediction over {where} leaves the training labels' range{span} or features")
        return
    best = int(np.nanargmax(pred))
    top = " including the best" if extrapolated[best] else ""
    log.info(
        f"{n:,} of {len(pred):,} predictions over {where}{top} rest on extrapolation (outside the training "
        f"labels' range{span} or the training cells' features; column 'extrapolated')"
    )


def _table(args: argparse.Namespace) -> int:
    from ..errors import NasgcnError
    from ..gcn import GCNPredictor
    from ..io import check_not_input
    from ..lookup import LookupTable
    from ..spaces import get_space

    check_not_input(args.out, [args.model])
    _set_threads(args.threads)
    est = GCNPredictor.load(args.model, device=args.device)
    sp = get_space(est.space)
    if not sp.enumerable:
        raise NasgcnError(
            f"{args.model}: space {sp.name!r} has {sp.size:.3e} architectures, too many for a table; "
            f"search it instead: nasgcn search {args.model} [--max COL=V ...] [--top K]"
        )
    pred, std = est.predict_space(return_std=True)
    _refuse_non_finite(args.model, pred, std, sp)
    extrapolated = est.extrapolated(pred=pred)
    measured = getattr(est, "measured_", None)
    n_measured = 0
    if measured and not args.no_overlay:
        from ..noisy import overlay_measured

        pred, std, mask = overlay_measured(pred, std, measured["arch_str"], measured["y"], est.space)
        n_measured = int(mask.sum())
        extrapolated = extrapolated & ~mask  # a measurement is not an extrapolation
    dead = est.dead_prediction()
    meta = {
        "space": sp.name,
        "model": str(args.model),
        "target": est.target_,
        "data_sha256": est.data_hash_,
        "n_train": est.n_train_,
        "ensemble": est.ensemble,
        "pred": "ensemble mean, units of the target, clipped to target_range",
        "pred_std": "ensemble standard deviation",
        "measured_overlay": n_measured,
        "dead": None if dead is None else {"value": dead[0], "std": dead[1], "from": dead[2]},
        "extrapolated": "prediction outside the training labels' range or cell outside the training features",
    }
    table = LookupTable.build(pred, std, space=est.space, meta=meta, target_range=est.target_bounds())
    if measured and not args.no_overlay:
        table.columns["measured"] = mask
    table.columns["extrapolated"] = extrapolated
    table.save(args.out)
    _prime_cache(args.out)
    _log_extrapolation(est, pred, extrapolated, "the table")
    print(f"wrote {len(table):,} rows to {args.out} (target {est.target_}, model {args.model})")
    return 0


def _prime_cache(path: str) -> None:
    """Read the new table back once, so that its first ``nasgcn query`` finds it checked (table_cache)."""
    from ..table import PARQUET_SUFFIXES, read_keyed
    from ..table_cache import cache_dir

    if cache_dir() is not None and not path.lower().endswith(PARQUET_SUFFIXES):
        read_keyed(path)


def _refuse_non_finite(model: str, pred, std, space) -> None:
    """A model whose predictions are NaN/inf is broken (labels like 1e308): never write them as a table."""
    import numpy as np

    from ..errors import NasgcnError

    bad = ~np.isfinite(pred) | ~np.isfinite(std)
    if bad.any():
        first = space.decode(space.all_ids()[np.flatnonzero(bad)[:1]])[0]
        raise NasgcnError(
            f"{model}: {int(bad.sum()):,} of {bad.size:,} predictions are not finite (NaN/inf), e.g. {first}; "
            "the model is broken (labels too large or non-finite?): refit it on checked labels"
        )


def _column(frame: dict, path: str, name: str):
    import numpy as np

    from ..errors import NasgcnError

    if not {"arch_str", "arch", "arch_ids"} & set(frame):
        raise NasgcnError(f"{path}: no arch_str column; columns: {', '.join(frame)}")
    if name not in frame:
        raise NasgcnError(f"{path}: no column {name!r}; columns: {', '.join(frame)}")
    col = frame[name]
    if col.dtype.kind not in "fiub":
        raise NasgcnError(f"{path}: column {name!r} is not numeric")
    return np.asarray(col, dtype=np.float64)


def _measured_mask(frame: dict, path: str):
    """The table's ``measured`` column (rows holding a measurement, not a prediction), all False without one."""
    import numpy as np

    from ..errors import NasgcnError

    n = len(next(iter(frame.values()))) if frame else 0
    if "measured" not in frame:
        return np.zeros(n, dtype=bool)
    col = np.asarray(frame["measured"])
    if col.dtype.kind == "b":
        return col
    if col.dtype.kind in "iuf":
        return np.nan_to_num(col.astype(np.float64)) != 0
    text = np.char.lower(col.astype(str))
    if not np.isin(text, ["true", "false", "1", "0", ""]).all():
        raise NasgcnError(f"{path}: column 'measured' must hold true/false")
    return np.isin(text, ["true", "1"])


def _canonical_index(arch: list[str], path: str, space_name: str = "nb201"):
    """Space index of each row's isomorphism-class representative (join key of ``evaluate``)."""
    from ..errors import NasgcnError
    from ..spaces import get_space

    space = get_space(space_name)
    space.require_enumerable("evaluate")
    try:
        ids = space.encode(["".join(str(a).split()) for a in arch])
    except NasgcnError as err:
        raise NasgcnError(f"{path}: {err} (is it a file for space {space.name!r}? see --space)") from None
    return space.index_of(ids)


def _frame_arch(frame: dict, path: str) -> list[str]:
    """The architecture strings of a CSV frame (``arch_str``, else an ``arch``/``arch_ids`` column)."""
    from ..logs import ARCH_ALIASES

    for name in ("arch_str", *ARCH_ALIASES):
        if name in frame:
            return [str(a) for a in frame[name].tolist()]
    return []


def _evaluate_space(args: argparse.Namespace, tmeta: dict, truth_path: str) -> str:
    """``--space``, else the table's recorded space, else nb201; refuses a table or truth file of another space."""
    from ..logs import log_space
    from ..spaces import get_space

    recorded = tmeta.get("space")
    name = args.space or recorded or getattr(args, "space_default", "nb201")
    sp = get_space(name)
    sp.check_compatible(recorded, f"table {args.table}")
    sp.check_compatible(log_space(truth_path), f"truth file {truth_path}")
    return sp.name


def _evaluate(args: argparse.Namespace) -> int:
    import numpy as np

    from ..errors import NasgcnError
    from ..io import dumps
    from ..metrics import ranking_report
    from ..table import read_table as read_csv

    tframe, tmeta = read_csv(args.table)
    space = _evaluate_space(args, tmeta, args.truth)
    pred = _column(tframe, args.table, args.pred)
    gframe, _ = read_csv(args.truth)
    truth = _column(gframe, args.truth, args.column)
    tidx = _canonical_index(_frame_arch(tframe, args.table), args.table, space)
    gidx = _canonical_index(_frame_arch(gframe, args.truth), args.truth, space)
    if np.unique(gidx).size != gidx.size:
        raise NasgcnError(f"{args.truth}: duplicate arch_str rows; aggregate them first")
    if np.unique(tidx).size != tidx.size:
        raise NasgcnError(f"{args.table}: duplicate arch_str rows")
    common, ti, gi = np.intersect1d(tidx, gidx, return_indices=True)
    p, t = pred[ti], truth[gi]
    ok = np.isfinite(p) & np.isfinite(t)
    measured = _measured_mask(tframe, args.table)[ti]
    n_measured = int((measured & ok).sum())
    if args.predictions_only:
        ok &= ~measured
    if ok.sum() < 2:
        raise NasgcnError(
            f"only {int(ok.sum())} architectures of {args.table} have a finite {args.column} in {args.truth}"
        )
    report = ranking_report(t[ok], p[ok])
    report = {
        "table": str(args.table),
        "truth": str(args.truth),
        "column": args.column,
        "pred_column": args.pred,
        "n_table": int(len(tidx)),
        "n_truth": int(len(gidx)),
        "n_joined": int(len(common)),
        "n": report.pop("n"),
        "n_measured": 0 if args.predictions_only else n_measured,
        "n_measured_dropped": n_measured if args.predictions_only else 0,
        "space": space,
        "target": tmeta.get("target"),
        **report,
    }
    if args.json:
        print(dumps(report, indent=2))
        return 0
    print(
        f"protocol  {report['n']:,} architectures (table {report['n_table']:,}, truth {report['n_truth']:,}, "
        f"joined by arch_str, NaN dropped); {args.pred} vs {args.column}"
    )
    if args.predictions_only:
        print(f"measured  {n_measured:,} rows carried measured values (column measured) and were dropped")
    else:
        print(
            f"measured  {n_measured:,} of these {report['n']:,} rows carry measured values, not predictions "
            "(column measured; --predictions-only drops them)"
        )
    names = [
        ("kendall_tau", "Kendall tau"),
        ("spearman", "Spearman"),
        ("top1pct_kendall_tau", "Kendall tau, true top 1 %"),
        ("top5pct_kendall_tau", "Kendall tau, true top 5 %"),
        ("precision_at_10", "precision@10"),
        ("precision_at_100", "precision@100"),
        ("ndcg_at_10", "NDCG@10"),
        ("top1_true", f"true {args.column} of top-1 pick"),
        ("regret_top1", "regret of top-1 pick"),
    ]
    for key, label in names:
        print(f"{label:32s} {report[key]:.4f}")
    return 0
