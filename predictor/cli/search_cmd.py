"""``nasgcn search``: constrained search over a fitted predictor, for spaces too large to tabulate.

Lazy like the other command modules: argparse only at import; torch (the model) and the
search engine are imported inside the handler.
"""

from __future__ import annotations

import argparse
import sys

from .hardware_cmd import add_bound_arguments, add_list_argument
from .options import (
    add_device_option,
    add_output_option,
    add_prior_options,
    add_seed_option,
    add_threads_option,
    prior_from_args,
)


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser(
        "search",
        help="constrained search over a predictor (for spaces too large to tabulate, e.g. fbnet)",
        description=(
            "Search the model's space for the best architectures whose costs satisfy every --max/--min "
            "bound: regularized evolution (tournament, crossover, mutation) interleaved with local search "
            "(all one-slot edits of the best), candidates deduplicated by isomorphism class and scored in "
            "large vectorized batches. Costs: the exact params_m and flops_m of the space, columns of "
            "--hardware tables (CSV/JSON/Parquet keyed by arch_str; NaN or absent = cannot run) and "
            "predictions of latency model files. With --z a cost with an uncertainty must satisfy "
            "mean + z*std <= budget; the objective is pred - kappa*pred_std. Prints the best K "
            "(distinct classes) and keeps the Pareto front of every feasible candidate scored "
            "(maximize the objective, minimize the --max columns). On a small space the answer can be "
            "checked against 'nasgcn table' + 'nasgcn query'. With --pareto COL the engine is NSGA-II "
            "(non-dominated sorting + crowding distance, binary tournament, the space's crossover and "
            "mutation, constraint domination for --max/--min): it returns the Pareto set maximizing pred and "
            "minimizing each COL, and reports its hypervolume (reference point: the worst feasible value "
            "scored of each criterion + 10 percent of its range). --prior EXPERTS.txt --prior-weight W adds an "
            "IRLAS topology prior learned from expert architectures to the objective (off by default)."
        ),
    )
    s.add_argument("model", metavar="MODEL", help="fitted predictor (nasgcn fit --out MODEL); its space is searched")
    s.add_argument(
        "--space",
        default=None,
        metavar="SPACE",
        help="expected search space; refused when the model was fitted on another (default: the model's)",
    )
    add_list_argument(
        s,
        "--hardware",
        "FILE",
        "cost sources: hardware tables (arch_str + cost columns, .csv/.json/.jsonl/.parquet) or latency "
        "model files (nasgcn latency predict --save-model); each must be for the model's space",
    )
    s.add_argument(
        "--iso",
        choices=("keep", "mean", "median"),
        default="keep",
        help="isomorphic duplicates in hardware tables: each its own value (keep) or the class mean/median",
    )
    add_bound_arguments(s)
    s.add_argument("--top", type=int, default=10, metavar="K", help="number of architectures to return (default 10)")
    s.add_argument(
        "--z", type=float, default=0.0, help="safety margin in standard deviations for uncertain costs (default 0)"
    )
    s.add_argument(
        "--kappa",
        type=float,
        default=0.0,
        help="objective pred - kappa*pred_std: > 0 prefers architectures the predictor is sure of (default 0)",
    )
    s.add_argument(
        "--budget",
        type=int,
        default=None,
        metavar="N",
        help="predictor calls: distinct candidates (isomorphism classes) to score (default 100,000; with --pareto "
        "20,000; a small space stops when exhausted)",
    )
    s.add_argument(
        "--method",
        choices=("both", "evolution", "local"),
        default="both",
        help="evolution then local search, alternating (both, default), evolution only, or local search with restarts",
    )
    s.add_argument(
        "--population", type=int, default=None, metavar="N", help="evolution (or NSGA-II) population (default: auto)"
    )
    s.add_argument(
        "--batch", type=int, default=None, metavar="N", help="children scored per generation (default: auto)"
    )
    add_seed_option(s, what="random seed of the search")
    s.add_argument(
        "--pareto",
        action="append",
        default=[],
        metavar="COL",
        help=(
            "a cost column of the Pareto front (repeat for several): the search becomes NSGA-II, maximizing pred "
            "and minimizing each COL, and prints the Pareto set with its hypervolume (--pareto-out alone keeps "
            "the front of the single-objective search over the --max columns, else flops_m)"
        ),
    )
    add_prior_options(s, "objective pred + W * prior reward")
    s.add_argument(
        "--exclude-dead", action="store_true", help="never return cut-off cells (output identically zero; nb201)"
    )
    add_threads_option(s)
    add_device_option(s, what="device of the predictor")
    s.add_argument(
        "--json",
        action="store_true",
        help=(
            "print JSON rows like 'nasgcn query --json' (arch_str, pred, pred_std, each cost column): the top K, "
            "or the Pareto front when --pareto is given; a one-line summary goes to stderr"
        ),
    )
    add_output_option(s, metavar="CSV", help="also write the top K rows to this CSV (atomically, meta beside)")
    add_output_option(s, "--pareto-out", metavar="CSV", help="write the Pareto front rows to this CSV (atomically)")
    s.set_defaults(func=_search)


def _search(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from ..errors import NasgcnError
    from ..gcn import GCNPredictor
    from ..hardware import infer_unit
    from ..io import dumps
    from ..search import load_cost_source, pareto_search, search
    from ..spaces import get_space
    from ..table import write_csv

    if args.top < 1:
        raise NasgcnError(f"--top must be >= 1, got {args.top}")
    if args.budget is not None and args.budget < 1:
        raise NasgcnError(f"--budget must be >= 1, got {args.budget}")
    if args.threads < 1:
        raise NasgcnError(f"--threads must be >= 1, got {args.threads}")
    torch.set_num_threads(args.threads)
    est = GCNPredictor.load(args.model, device=args.device)
    space = get_space(est.space)
    if args.space is not None:
        get_space(args.space).check_compatible(est.space, f"model {args.model}")
    sources = [load_cost_source(path, space.name, iso=args.iso) for path in args.hardware]
    upper, lower = dict(args.max), dict(args.min)
    pareto_cols = [c.strip() for item in args.pareto for c in item.split(",") if c.strip()] or None

    def score(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return est.predict(ids, return_std=True)

    prior = prior_from_args(args, space)
    common = dict(
        constraints=upper, minimums=lower, z=args.z, kappa=args.kappa, population=args.population,
        random_state=args.seed, exclude_dead=args.exclude_dead, prior=prior, prior_weight=args.prior_weight,
        top_k=args.top,
    )  # fmt: skip
    if args.pareto:
        budget = args.budget or 20_000
        result = pareto_search(space, score, sources, pareto_costs=pareto_cols, budget=budget, **common)
    else:
        result = search(
            space, score, sources, budget=args.budget or 100_000, method=args.method, batch=args.batch,
            pareto_costs=pareto_cols, **common,
        )  # fmt: skip
    rows = result.top_records()
    front = result.pareto_records()
    units: dict[str, str] = {}
    for src in sources:
        units.update(getattr(src, "units", {}) or {})
    meta = {
        "space": space.name,
        "model": str(args.model),
        "target": getattr(est, "target_", None),
        "constraints": upper,
        "minimums": lower,
        "hardware": list(args.hardware),
        "pareto_costs": result.pareto_costs,
        "stats": result.stats,
    }
    for path, rows_ in ((args.out, result.top), (args.pareto_out, result.pareto)):
        if path:
            cols = result.columns(rows_)
            write_csv(path, cols, {**meta, "units": {c: units.get(c) or infer_unit(c) for c in cols}})
    st = result.stats
    hv_line = ""
    if args.pareto and st.get("hypervolume") is not None:
        ref = ", ".join(f"{v:.4g}" for v in st["hv_reference"])
        hv_line = (
            f"; NSGA-II hypervolume {st['hypervolume']:.6g} (normalized {st['hv_normalized'] or 0:.4f}) "
            f"over (-pred, {', '.join(result.pareto_costs)}) with reference point ({ref})"
        )
    if args.json:
        print(dumps(front if args.pareto else rows, indent=2))
        print(
            f"nasgcn search: {len(rows)} top rows, Pareto front of {len(front)} over "
            f"{', '.join(result.pareto_costs)}; {st['scored']:,} candidates scored ({st['feasible']:,} feasible) "
            f"in {st['seconds']:.2f} s{hv_line}",
            file=sys.stderr,
        )
        return 0
    if not rows:
        print(
            f"no architecture satisfies the constraints among {st['scored']:,} scored "
            "(loosen a bound, raise --budget, or check the cost columns)"
        )
        return 0
    from .hardware_cmd import _format_rows

    shown = ["arch_str", "pred", *upper, *lower, *result.pareto_costs, "params_m", "flops_m", "prior"]
    shown += [f"{c}_std" for c in [*upper, *lower] if f"{c}_std" in rows[0]]
    shown.append("pred_std")
    cols = [c for i, c in enumerate(shown) if c in rows[0] and c not in shown[:i]]
    if args.pareto:  # the Pareto set is the answer; the top K by pred stays in --out
        cols_f = [c for c in cols if front and c in front[0]]
        print(_format_rows(front, cols_f, {c: units.get(c) or infer_unit(c) for c in cols_f}))
        print(
            f"Pareto set of {len(front)} (NSGA-II) over pred and {', '.join(result.pareto_costs)}; "
            f"{st['scored']:,} candidates scored ({st['feasible']:,} feasible) in {st['seconds']:.2f} s{hv_line}"
        )
        return 0
    print(_format_rows(rows, cols, {c: units.get(c) or infer_unit(c) for c in cols}))
    print(
        f"top {len(rows)} of {st['scored']:,} candidates scored ({st['feasible']:,} feasible"
        f"{', the whole space' if st['exhausted'] else ''}) in {st['seconds']:.2f} s; "
        f"Pareto front: {len(front)} rows over {', '.join(result.pareto_costs)}"
        f"{f' (written to {args.pareto_out})' if args.pareto_out else ' (--pareto-out FILE or --json to get it)'}"
    )
    return 0
