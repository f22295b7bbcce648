"""``nasgcn query`` (constrained lookup) and ``nasgcn latency measure|predict``.

``query`` must start fast: it imports numpy and predictor modules only (no torch,
no pandas). ``latency measure`` imports torch and the supernet's stand-alone
network inside its handler.
"""

from __future__ import annotations

import argparse
from typing import Any

from .options import (
    PLOT,
    add_device_option,
    add_output_option,
    add_prior_options,
    add_quiet_option,
    add_seed_option,
    add_threads_option,
    prior_from_args,
)


def _bound(text: str) -> tuple[str, float]:
    """Parse ``COL=VALUE`` (argparse type)."""
    col, sep, value = text.partition("=")
    col = col.strip()
    try:
        num = float(value)
    except ValueError:
        num = None  # type: ignore[assignment]
    if not sep or not col or num is None:
        raise argparse.ArgumentTypeError(f"expected COL=VALUE with a number, e.g. pixel3_latency=5.0; got {text!r}")
    return col, num


def add_list_argument(p: argparse.ArgumentParser, flag: str, metavar: str, help: str) -> None:
    """A repeatable option taking one or more values (``--hardware A B --hardware C``)."""
    p.add_argument(flag, nargs="+", action="extend", default=[], metavar=metavar, help=help)


def add_bound_arguments(p: argparse.ArgumentParser) -> None:
    """``--max``/``--min COL=VALUE`` budgets, shared by ``query`` and ``suggest``."""
    for flag, what in (
        ("--max", "upper bound on a cost column, repeatable (e.g. flops_m=60, pixel3_latency=5)"),
        ("--min", "lower bound on a column, repeatable (e.g. params_m=0.5)"),
    ):
        p.add_argument(flag, dest=flag[2:], type=_bound, action="append", default=[], metavar="COL=VALUE", help=what)


def register(sub: argparse._SubParsersAction) -> None:
    q = sub.add_parser(
        "query",
        help="best architectures of a lookup table under hardware budgets",
        description=(
            "Constrained lookup: the top architectures by predicted accuracy (or --maximize COL) "
            "whose costs satisfy every --max/--min bound. NaN costs (the target cannot run it) never "
            "qualify. With --z, a predicted cost column c with a c_std column must satisfy "
            "c + z*c_std <= budget. One row per isomorphism class (its best member) unless --all-members; rows "
            "equal at the precision shown share a rank ('2=' in text; rank and tied in --json); a table's "
            "extrapolated column (nasgcn table) is shown, and picks resting on extrapolation are noted."
        ),
    )
    q.add_argument("table", metavar="TABLE.csv", help="lookup table (nasgcn table / LookupTable.to_csv)")
    q.add_argument(
        "--space",
        default=None,
        metavar="SPACE",
        help="search space of TABLE and the --hardware files (default: the one TABLE's metadata records, else "
        "nb201); a table or file recorded for another space is refused",
    )
    add_list_argument(
        q,
        "--hardware",
        "FILE",
        "hardware cost files (arch_str + cost columns; .csv/.json/.jsonl/.parquet) joined by arch_str; "
        "they must be for the table's space",
    )
    q.add_argument(
        "--iso",
        choices=("keep", "mean", "median"),
        default="keep",
        help="isomorphic duplicates in hardware files: each its own value (keep) or the class mean/median",
    )
    add_bound_arguments(q)
    q.add_argument("--maximize", default="pred", metavar="COL", help="column to rank by (default: pred)")
    q.add_argument(
        "--minimize", action="store_true", help="rank ascending instead (e.g. --maximize flops_m --minimize)"
    )
    q.add_argument("--top", type=int, default=10, metavar="K", help="number of rows (default 10)")
    members = q.add_mutually_exclusive_group()
    members.add_argument(
        "--all-members",
        dest="unique",
        action="store_false",
        help="list every member of an isomorphism class (default: one row per class, its best member)",
    )
    members.add_argument(
        "--unique",
        dest="unique",
        action="store_true",
        help="one row per isomorphism class (the default; kept as an alias)",
    )
    q.set_defaults(unique=None)  # one row per class where the table has iso_class
    q.add_argument("--z", type=float, default=0.0, help="safety margin in standard deviations for predicted costs")
    q.add_argument("--exclude-dead", action="store_true", help="drop cut-off cells (output identically zero)")
    q.add_argument(
        "--pareto",
        metavar="COL[,COL]",
        help="print the Pareto front (objective vs one or two costs) among feasible rows instead of the top K",
    )
    q.add_argument(
        "--min-distance",
        type=int,
        default=0,
        metavar="D",
        help="a diverse short list to retrain: each row differs from every better row in at least D slots "
        "(edges or layers; default 0: off; 2 is what benchmarks/search_strategies.py measured best)",
    )
    q.add_argument(
        "--clusters",
        metavar="CLUSTERS.csv",
        help="DC-NAS clusters (arch_str, cluster; 'nasgcn supernet cluster'): each cluster's best first, best "
        "cluster first; unlabelled architectures take their nearest labelled one's cluster",
    )
    add_prior_options(q, "rank by --maximize + W * prior reward; the prior and prior_score columns are shown")
    q.add_argument(
        "--columns", default="", metavar="COL[,COL]", help="extra columns to print (unknown names are refused)"
    )
    q.add_argument("--json", action="store_true", help="print a JSON list of rows, best first")
    add_output_option(
        q,
        "--plot",
        suffixes=PLOT,
        metavar="FILE.png",
        help="draw objective vs the first constrained cost with the picks (PNG)",
    )
    q.set_defaults(func=_query)

    lat = sub.add_parser("latency", help="measure or predict hardware latency", description="Hardware latency.")
    lsub = lat.add_subparsers(dest="latency_command", metavar="SUBCOMMAND", required=True)
    m = lsub.add_parser(
        "measure",
        help="time the real stand-alone network of architectures on this machine",
        description=(
            "Time the stand-alone network of each architecture of --space (eval mode, no_grad, warm-up runs, then "
            "--repeats timed runs; median and IQR in ms per batch). One measurement per isomorphism class, "
            "written for every member of the class (iso_rep names the measured representative); spaces too large "
            "to enumerate (fbnet) measure --sample N random architectures. Rows are appended and flushed as they "
            "finish: rerun the same command to resume after an interruption."
        ),
    )
    m.add_argument("--space", default="nb201", help="search space of the networks (nb201; e.g. nbmacro, fbnet)")
    add_output_option(m, required=True, help="output CSV (appended; units etc. in OUT.meta.json)")
    m.add_argument("--name", default="cpu", help="target name: the column is <name>_latency (default cpu)")
    add_device_option(m, what="device to time on")
    m.add_argument("--batch", type=int, default=1, help="batch size (latency is per batch)")
    pick = m.add_mutually_exclusive_group()
    pick.add_argument(
        "--sample", type=int, metavar="N", help="N random isomorphism classes (fbnet: architectures; default 100)"
    )
    pick.add_argument(
        "--all", action="store_true", help="every isomorphism class (nb201: 6,466 measurements; enumerable spaces only)"
    )
    add_threads_option(m, default=None, note="")
    m.add_argument("--warmup", type=int, default=5, help="untimed runs first (default 5)")
    m.add_argument("--repeats", type=int, default=20, help="timed runs (default 20)")
    add_seed_option(m, what="seed of --sample")
    m.add_argument("--representatives-only", action="store_true", help="write only the measured representatives")
    m.add_argument("--channels", type=int, default=16, help="NB201: channels C of the first stage (16)")
    m.add_argument("--cells", type=int, default=5, help="NB201: cells N per stage (5)")
    m.add_argument("--width", type=float, default=1.0, help="chain spaces: channel multiplier (1 = exact network)")
    m.add_argument("--classes", type=int, default=None, help="classifier outputs (default: the space's, nb201 10)")
    m.add_argument("--input-size", type=int, default=32, help="input image side in pixels (32)")
    add_quiet_option(m)
    m.set_defaults(func=_measure)

    t = lsub.add_parser("targets", help="list the registered hardware targets with units")
    t.add_argument("pattern", nargs="?", default="*", help="glob on target names (default *)")
    t.add_argument("--json", action="store_true", help="print JSON instead of text")
    t.set_defaults(func=_targets)

    p = lsub.add_parser(
        "predict",
        help="fit a cost model on measured costs and write predicted costs (or save the model)",
        description=(
            "Fit a cost model on the measured rows of FILE (architecture column arch_str, arch_ids or arch; digit "
            "codes are read as strings) and write <col> and <col>_std for the architectures of --archs, or for "
            "the whole space where it can be enumerated (nb201, nbmacro), ready for 'nasgcn query --hardware'. "
            "--save-model writes the fitted per-(layer, block) table model for 'nasgcn search --hardware' "
            "(the only way on spaces too large to list, such as fbnet). Method 'table' (default on chain "
            "spaces and with --save-model): additive per-(layer, block) costs (structured by the space's "
            "MACs and stages, robust Huber fit) plus adjacent-layer pair terms kept when cross-validation says "
            "they help; column names drop a trailing _ms. Methods 'additive'/'gcn' (default on nb201, as before): ridge on op features "
            "blended with boosted trees, or the GCN; where the measured file has NaN (cannot run), a "
            "classifier learns which cells run: <col> is NaN below --runnable-threshold and <col>_runnable "
            "holds the probability."
        ),
    )
    p.add_argument("measured", metavar="FILE", help="measured costs (architecture column + cost columns), CSV")
    p.add_argument("--space", default="nb201", help="search space of FILE's architectures (default nb201)")
    p.add_argument("--column", action="append", default=[], help="cost column(s) to model (default: all)")
    add_output_option(p, default=None, help="output CSV (written atomically; units in OUT.meta.json)")
    p.add_argument(
        "--archs",
        metavar="ARCHS.csv",
        default=None,
        help="predict only these architectures (a CSV "
        "with arch_str, arch_ids or arch), one output row each, in file order",
    )
    add_output_option(
        p,
        "--save-model",
        suffixes=(".npz",),
        metavar="MODEL.npz",
        default=None,
        help="also save the fitted table model (.npz, no pickles) for 'nasgcn search --hardware MODEL'",
    )
    p.add_argument(
        "--method",
        choices=("auto", "table", "additive", "gcn"),
        default="auto",
        help="auto: table on chain spaces or with --save-model, additive otherwise",
    )
    p.add_argument(
        "--loss",
        choices=("auto", "huber", "lad", "lsq"),
        default="auto",
        help="table method: robust Huber fit, median fit (lad) or plain least squares (lsq); auto "
        "(default): huber or lsq, whichever cross-validates better per column",
    )
    p.add_argument(
        "--correction",
        choices=("auto", "none", "pairs", "gcn"),
        default="auto",
        help="table method: none, adjacent-layer pair terms (auto: when cross-validation says they help), "
        "or gcn: a GCN fitted on the log-ratio of measured to table cost (the non-additive part)",
    )
    p.add_argument("--ensemble", type=int, default=8, help="additive/gcn methods (nb201): ensemble members")
    p.add_argument("--epochs", type=int, default=200, help="GCN epochs")
    add_device_option(p, what="device of a GCN correction")
    add_seed_option(p, what="seed of the cost model's fit")
    p.add_argument(
        "--iso",
        choices=("keep", "mean", "median"),
        default="keep",
        help="rows of one isomorphism class in MEASURED: keep each (default), or use their mean or median",
    )
    p.add_argument(
        "--runnable-threshold",
        type=float,
        default=0.3,
        help="predict NaN (cannot run) below this run probability (default 0.3; 0 = never NaN)",
    )
    p.set_defaults(func=_predict)


# ----- query -------------------------------------------------------------------------------
def _query(args: argparse.Namespace) -> int:
    import numpy as np

    from ..errors import NasgcnError
    from ..hardware import HardwareTable
    from ..io import dumps
    from ..lookup import LookupTable

    table = LookupTable.load(args.table)
    space = str(table.meta.get("space") or "nb201")
    if args.space is not None:
        from ..spaces import get_space

        get_space(args.space).check_compatible(space, f"lookup table {args.table}")
    for path in args.hardware:
        table = table.join(HardwareTable.read(path, iso=args.iso, space=space))
    upper = dict(args.max)
    lower = dict(args.min)
    for col in [*upper, *lower, args.maximize]:
        if col not in table.columns:
            raise NasgcnError(f"unknown column {col!r}; available columns: {', '.join(table.columns)}")
    if args.top < 1:
        raise NasgcnError(f"--top must be >= 1, got {args.top}")
    if args.min_distance < 0:
        raise NasgcnError(f"--min-distance must be >= 0, got {args.min_distance}")
    pareto_cols = [c.strip() for c in args.pareto.split(",") if c.strip()] if args.pareto else []
    for col in pareto_cols:
        if col not in table.columns:
            raise NasgcnError(f"unknown --pareto column {col!r}; available columns: {', '.join(table.columns)}")
    if pareto_cols and (args.min_distance or args.clusters or args.prior_weight):
        raise NasgcnError("--pareto returns the whole front: it takes no --min-distance, --clusters or --prior-weight")
    if args.minimize and args.prior_weight:
        raise NasgcnError("--prior-weight adds a reward to the maximized column: it cannot be used with --minimize")
    prior = prior_from_args(args, space)
    clusters = None
    if args.clusters:
        from ..proposals import read_clusters

        clusters = read_clusters(args.clusters, space)
    extra = [c.strip() for c in args.columns.split(",") if c.strip()]
    unknown = [c for c in extra if c not in table.columns]
    if unknown:
        raise NasgcnError(
            f"unknown --columns {', '.join(map(repr, unknown))}; available columns: {', '.join(table.columns)}"
        )
    _refuse_non_finite(table, args)
    if args.unique is None:
        args.unique = "iso_class" in table.columns
    if pareto_cols:
        picks = table.pareto(
            args.maximize,
            pareto_cols,
            constraints=upper,
            z=args.z,
            unique=args.unique,
            minimums=lower,
            exclude_dead=args.exclude_dead,
        )
    else:
        picks = table.query(
            maximize=args.maximize,
            constraints=upper,
            minimums=lower,
            top_k=args.top + 1,  # one more: does the last row shown tie with rows left out?
            unique=args.unique,
            z=args.z,
            exclude_dead=args.exclude_dead,
            minimize=args.minimize,
            min_distance=args.min_distance,
            clusters=clusters,
            prior=prior,
            prior_weight=args.prior_weight,
        )
        picks.meta["query"]["top_k"] = args.top
        if clusters is not None:
            from ..spaces import get_space

            sp = get_space(space)
            picks.columns["cluster"] = clusters[sp.index_of(sp.encode(picks.columns["arch_str"].tolist()))]
        ranked_by = "prior_score" if "prior_score" in picks.columns else args.maximize
        _add_ranks(picks, ranked_by, len(picks) > args.top, args.top, descending=not args.minimize)
    shown = ["rank", "arch_str", "pred", args.maximize, "prior", "prior_score", *upper, *lower, *pareto_cols]
    shown += extra
    shown += [f"{c}_std" for c in [*upper, *lower] if f"{c}_std" in table.columns]
    shown += ["pred_std", "iso_class", "cluster", "tied", "extrapolated", "measured"]
    cols = [c for i, c in enumerate(shown) if c in picks.columns and c not in shown[:i]]
    rows = picks.records(cols)
    _log_extrapolated(picks, table)
    if args.plot:
        _plot(table, picks, args, upper, pareto_cols)
    if args.json:
        print(dumps(rows, indent=2))
        return 0
    if not rows:
        print("no architecture satisfies the constraints")
        return 0
    from ..hardware import infer_unit

    units = {c: table.meta.get("units", {}).get(c) or infer_unit(c) for c in cols}
    if "rank" in cols:  # text: a tie reads "2=" and needs no count column
        for r in rows:
            r["rank"] = f"{r['rank']}=" if r.get("tied", 1) > 1 else str(r["rank"])
        cols = [c for c in cols if c != "tied"]
    print(_format_rows(rows, cols, units))
    what = "Pareto front" if pareto_cols else f"top {len(rows)}"
    print(f"{what} of {len(table):,} architectures ({int(np.sum(_feasible(table, upper, lower, args))):,} feasible)")
    return 0


def _refuse_non_finite(table: Any, args: argparse.Namespace) -> None:
    """Infinite objective values (a broken model: every prediction ``-inf``) must never become the best picks.

    NaN in a hardware column means "cannot run" and only excludes the row; NaN or inf in ``pred`` is a broken
    prediction and refuses the whole table.
    """
    import numpy as np

    from ..errors import NasgcnError

    for col in dict.fromkeys(["pred", args.maximize]):
        if col not in table.columns or np.asarray(table[col]).dtype.kind not in "fiu":
            continue
        v = np.asarray(table[col], dtype=np.float64)
        bad = np.isinf(v) | (np.isnan(v) if col == "pred" else np.zeros(v.shape, dtype=bool))
        if bad.any():
            raise NasgcnError(
                f"{args.table}: {int(bad.sum()):,} value(s) of {col!r} are not finite (e.g. {v[bad][0]}); "
                "the table comes from a broken model: rebuild it from a model fitted on finite labels"
            )


def _add_ranks(picks: Any, col: str, more: bool, top: int, descending: bool = True) -> None:
    """``rank`` (shared by rows equal at the 4 significant digits shown; "2=" in text) and ``tied`` (how many
    rows shown share it).

    ``picks`` holds one row more than is shown when there are more feasible rows: a tie that goes on past the
    last row shown is noted and that extra row is then dropped.
    """
    import logging

    import numpy as np

    from ..metrics import tie_ranks

    if len(picks) == 0:
        return
    rank, tied = tie_ranks(np.asarray(picks[col], dtype=np.float64), significant=4, descending=descending)
    if more and len(picks) > top:
        if rank[top] == rank[top - 1]:
            logging.getLogger(__name__).info(
                f"row {top} ties with rows not shown (equal {col} at the precision shown); raise --top to see them"
            )
        keep = np.arange(top)
        for name in list(picks.columns):
            picks.columns[name] = picks.columns[name][keep]
        rank, tied = tie_ranks(np.asarray(picks[col], dtype=np.float64), significant=4, descending=descending)
    picks.columns["rank"] = rank
    picks.columns["tied"] = tied


def _log_extrapolated(picks: Any, table: Any) -> None:
    """One line when picks rest on extrapolation (the table's ``extrapolated`` column, see ``nasgcn table``)."""
    import logging

    import numpy as np

    if "extrapolated" not in picks.columns or len(picks) == 0:
        return
    n = int(np.sum(np.asarray(picks["extrapolated"], dtype=bool)))
    if n:
        logging.getLogger(__name__).info(
            f"{n} of the {len(picks)} rows shown rest on extrapolation (column 'extrapolated': a prediction "
            "beyond the training labels or a cell unlike the training rows); measure them before trusting them"
        )


def _feasible(table: Any, upper: dict, lower: dict, args: argparse.Namespace) -> Any:
    from ..query import feasible_mask

    return feasible_mask(table.columns, upper, lower, z=args.z, exclude_dead=args.exclude_dead)


def _format_rows(rows: list[dict], cols: list[str], units: dict[str, str]) -> str:
    def cell(v: Any) -> str:
        if v is None:
            return "nan"
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    heads = [f"{c} [{units[c]}]" if units.get(c) else c for c in cols]
    body = [[cell(r[c]) for c in cols] for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(heads)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(b, widths, strict=True)) for b in body]
    return "\n".join(lines)


def _plot(table: Any, picks: Any, args: argparse.Namespace, upper: dict, pareto_cols: list[str]) -> None:
    """PNG: every architecture in grey, the Pareto front, the picks and the budget."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from ..io import atomic_path
    from ..query import feasible_mask, pareto_front

    cost = pareto_cols[0] if pareto_cols else (next(iter(upper)) if upper else "flops_m")
    x = np.asarray(table[cost], dtype=float)
    y = np.asarray(table[args.maximize], dtype=float)
    fig, ax = plt.subplots(figsize=(7, 5))
    ax.scatter(x, y, s=3, c="0.75", label=f"all ({len(table):,})", rasterized=True)
    front = pareto_front(table.columns, args.maximize, [cost])
    ax.plot(x[front], y[front], "-", color="tab:blue", drawstyle="steps-post", label="Pareto front")
    feas = feasible_mask(table.columns, upper, dict(args.min), z=args.z)
    if upper:
        cfront = pareto_front(table.columns, args.maximize, [cost], mask=feas, z=args.z)
        ax.plot(x[cfront], y[cfront], ".", color="tab:green", ms=4, label="front under all budgets")
    px = np.asarray(picks[cost], dtype=float)
    py = np.asarray(picks[args.maximize], dtype=float)
    ax.scatter(px, py, s=40, marker="*", c="tab:red", zorder=5, label=f"picks ({len(picks)})")
    if cost in upper:
        ax.axvline(upper[cost], color="tab:red", ls="--", lw=1, label=f"budget {cost} <= {upper[cost]:g}")
    unit = table.meta.get("units", {}).get(cost, "")
    ax.set_xlabel(f"{cost} [{unit}]" if unit else cost)
    ax.set_ylabel(args.maximize)
    ax.set_title(f"{args.maximize} vs {cost}")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    with atomic_path(args.plot, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


# ----- latency -----------------------------------------------------------------------------
def _measure(args: argparse.Namespace) -> int:
    from supernet.latency import MeasureConfig, measure_space

    from ..spaces import get_space

    classes = args.classes
    if classes is None:
        classes = int(get_space(args.space).macro_defaults().get("num_classes", 10))
    cfg = MeasureConfig(
        space=args.space,
        width=args.width,
        name=args.name,
        device=args.device,
        batch=args.batch,
        threads=args.threads,
        warmup=args.warmup,
        repeats=args.repeats,
        channels=args.channels,
        cells=args.cells,
        num_classes=classes,
        input_size=args.input_size,
    )
    n = None if args.all else (args.sample if args.sample is not None else 100)
    summary = measure_space(
        args.out,
        cfg,
        sample=n,
        seed=args.seed,
        representatives_only=args.representatives_only,
        progress=not args.no_progress,
    )
    print(
        f"measured {summary['measured']} isomorphism classes ({summary['skipped']} already in {args.out}), "
        f"{summary['rows']} rows; median {cfg.column} {summary['median_ms']:.3f} ms, "
        f"median relative IQR {summary['median_rel_iqr']:.1%}"
    )
    return 0


def _targets(args: argparse.Namespace) -> int:
    from ..hardware import get_target, list_targets
    from ..io import dumps

    targets = [get_target(n) for n in list_targets(args.pattern)]
    if args.json:
        rows = [
            {
                "name": t.name,
                "column": t.column,
                "unit": t.unit,
                "measured": t.measured,
                "description": t.description,
                "source": t.source,
            }
            for t in targets
        ]
        print(dumps(rows, indent=2))
        return 0
    for t in targets:
        kind = "measured" if t.measured else "estimated"
        print(f"{t.name:<30} {t.column:<30} {t.unit or '-':<4} {kind:<9} {t.description}")
    return 0


def _same_file(a: str, b: str) -> bool:
    from pathlib import Path

    pa, pb = Path(a), Path(b)
    if pa.exists() and pb.exists():
        return pa.samefile(pb)
    return pa.resolve() == pb.resolve()


def _check_predict_paths(args: argparse.Namespace) -> None:
    from ..errors import NasgcnError

    if args.out is None and args.save_model is None:
        raise NasgcnError("latency predict: give --out OUT.csv (predicted costs), --save-model MODEL, or both")
    inputs = [("FILE", args.measured)] + ([("--archs", args.archs)] if args.archs else [])
    outputs = [(f, v) for f, v in (("--out", args.out), ("--save-model", args.save_model)) if v]
    for flag, out in outputs:
        for what, src in inputs:
            if _same_file(out, src):
                raise NasgcnError(f"{flag} {out} is the input {what}; write the output to another path")
    if len(outputs) == 2 and _same_file(outputs[0][1], outputs[1][1]):
        raise NasgcnError(f"--out and --save-model are the same path {args.out}; give two paths")


def _predict(args: argparse.Namespace) -> int:
    from ..errors import NasgcnError
    from ..spaces import ChainSpace, get_space

    if not 0 <= args.runnable_threshold <= 1:
        raise NasgcnError(f"--runnable-threshold must be in [0, 1], got {args.runnable_threshold}")
    _check_predict_paths(args)
    space = get_space(args.space)
    method = args.method
    if method == "auto":
        method = "table" if isinstance(space, ChainSpace) or args.save_model else "additive"
    if args.save_model and method != "table":
        raise NasgcnError(
            f"--save-model saves the table model; --method {method} models cannot be saved (use --method table)"
        )
    if args.out and not args.archs and not space.enumerable:
        raise NasgcnError(
            f"space {space.name!r} has {space.size:.3e} architectures and cannot be listed: pass --archs ARCHS.csv "
            "(the architectures to predict) or --save-model MODEL (a cost model for 'nasgcn search --hardware')"
        )
    target = None
    if args.archs:
        from ..latency_model import read_architectures

        target = read_architectures(args.archs, space.name)[0]
    if method == "table":
        return _predict_table(args, space, target)
    return _predict_cost_model(args, space, target, method)


def _predict_table(args: argparse.Namespace, space: Any, target: Any) -> int:
    from ..latency_model import fit_measured, read_measured

    measured = read_measured(args.measured, space.name, args.column or None)
    model = fit_measured(measured, loss=args.loss, correction=args.correction, random_state=args.seed)
    if args.save_model:
        model.save(args.save_model)
        print(f"saved a {space.name} latency model of {', '.join(model.columns)} to {args.save_model}")
    if args.out:
        ids = target if target is not None else space.all_ids()
        pred = model.predict(ids)
        frame: dict[str, Any] = {"arch_str": _strings(space, ids)}
        for c in model.columns:
            frame[c], frame[f"{c}_std"] = pred[c]
        units = {**model.units, **{f"{c}_std": u for c, u in model.units.items()}}
        meta = {
            "space": space.name,
            "measured_source": str(args.measured),
            "predicted": True,
            "model": "per-(layer, block) table (nasgcn.latency_model)",
            "batch": model.meta.get("batch"),
            "models": model.meta.get("fit"),
            "units": units,
        }
        _write_predicted(args.out, frame, meta, model.columns)
    return 0


def _strings(space: Any, ids: Any) -> Any:
    import numpy as np

    return np.asarray(space.decode(ids), dtype=object)


def _write_predicted(path: str, frame: dict[str, Any], meta: dict[str, Any], cols: list[str]) -> None:
    from ..table import write_csv

    write_csv(path, frame, meta)
    print(f"wrote {len(frame['arch_str']):,} predicted rows of {', '.join(cols)} (+ _std) to {path}")


def _predict_cost_model(args: argparse.Namespace, space: Any, target: Any, method: str) -> int:
    from ..cost_model import CostModel
    from ..errors import NasgcnError
    from ..hardware import HardwareTable

    hw = HardwareTable.read(args.measured, iso=args.iso, space=space.name)
    cols = args.column or [c for c in hw.metrics if not c.endswith(("_iqr", "_std", "_runnable"))]
    for c in cols:
        if c not in hw.metrics:
            raise NasgcnError(f"no cost column {c!r} in {args.measured}; columns: {', '.join(hw.metrics)}")
    train_ids = space.encode(list(hw["arch_str"]))
    ids = target if target is not None else space.all_ids()
    frame: dict[str, Any] = {"arch_str": _strings(space, ids)}
    models = {}
    for c in cols:
        model = CostModel(
            method=method,
            ensemble=args.ensemble,
            epochs=args.epochs,
            device=args.device,
            random_state=args.seed,
            runnable_threshold=args.runnable_threshold,
            space=space.name,
        ).fit(train_ids, hw[c])
        mean, std = model.predict(ids, return_std=True)
        frame[c], frame[f"{c}_std"] = mean, std
        if model.runnable_ is not None:
            frame[f"{c}_runnable"] = model.runnable_proba(ids)
        models[c] = {
            "method": method,
            "n_train": model.n_train_,
            "noise_rel": model.noise_rel_,
            "pairwise": getattr(model, "pairwise_", None),
            "dead_fallback": model.dead_fallback_,
            "runnable_threshold": args.runnable_threshold if model.runnable_ is not None else None,
        }
    units = {**{c: hw.units[c] for c in cols}, **{f"{c}_std": hw.units[c] for c in cols}}
    meta = {
        **{k: v for k, v in hw.meta.items() if k not in ("source",)},
        "space": space.name,
        "measured_source": str(args.measured),
        "predicted": True,
        "models": models,
        "units": units,
    }
    _write_predicted(args.out, frame, meta, cols)
    return 0
