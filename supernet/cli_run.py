"""``nasgcn run``, ``nasgcn demo`` and ``nasgcn shift``: the end-to-end pipeline and Supernet Shifting.

Only argparse at import time; the pipeline, torch and the supernet load inside handlers.
"""

from __future__ import annotations

import argparse

from predictor.cli.options import add_device_option, add_output_option, add_quiet_option, add_seed_option


def _stage_names() -> tuple[str, ...]:
    """The declared stages (:func:`supernet.stage_engine.stage`), in pipeline order."""
    from .stage_engine import stage_names

    return stage_names()


def register(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser(
        "run",
        help="run the whole pipeline from a TOML config (cached, resumable stages)",
        description=(
            "Train supernet -> label -> fit -> table -> query -> shift -> retrain -> report on the search "
            "space of the config's [space] section (default nb201; a space too large to tabulate gets a "
            "table of a predictor search instead). Each stage's output lands in OUT/stages/<stage>-<hash>/ "
            "(hash of its config, the space and upstream stages); a rerun skips finished stages and resumes "
            "a killed one."
        ),
    )
    run.add_argument("config", help="TOML config file (see supernet/configs/*.toml)")
    _common(run)
    run.set_defaults(func=_run)

    demo = sub.add_parser(
        "demo",
        help="run the built-in offline demo (digits) end to end in a few minutes on a CPU",
        description="Run the pipeline on the built-in digits config and print where the report is.",
    )
    _common(demo, default_out="demo_out")
    demo.add_argument("--show-config", action="store_true", help="print the built-in config and exit")
    demo.set_defaults(func=_demo)

    sh = sub.add_parser(
        "shift",
        help="Supernet Shifting from a trained supernet, seeded from a lookup table",
        description=(
            "Evolutionary search that trains every visited architecture on the supernet for a few SGD steps "
            "before scoring it. Constraints: --max COL=V on flops_m/params_m (exact) or any table column."
        ),
    )
    sh.add_argument("run_dir", help="supernet run directory (or checkpoint.pt) from 'nasgcn supernet train'")
    sh.add_argument(
        "--space",
        help="search space (nb201, nbmacro, fbnet, ...); default: the one the supernet was trained on, "
        "which it must match",
    )
    sh.add_argument("--table", help="lookup table CSV (seeds the population with its best rows; latency columns)")
    sh.add_argument("--max", action="append", default=[], metavar="COL=V", help="upper bound (repeatable)")
    sh.add_argument("--min", action="append", default=[], metavar="COL=V", help="lower bound (repeatable)")
    sh.add_argument(
        "--hardware",
        action="append",
        default=[],
        help="hardware table (joined by arch_str) or latency model file (prices any architecture) for constraints",
    )
    add_output_option(sh, kind="dir", required=True, help="output directory (checkpoint, trajectory.jsonl, result)")
    sh.add_argument(
        "--new-dataset", help="transfer: reset the classifier and shift on this dataset (digits, npz:DIR...)"
    )
    sh.add_argument("--data-root", help="data folder for the dataset (cifar / npz)")
    sh.add_argument("--preset", choices=("cpu", "paper"), default="cpu", help="cpu (small, default) or paper sizes")
    sh.add_argument("--seeds", type=int, default=10, help="initial population members taken from the table (10)")
    for name, typ in (
        ("population", int),
        ("keep", int),
        ("mutations", int),
        ("crossovers", int),
        ("generations", int),
        ("steps-per-candidate", int),
        ("mutation-prob", float),
        ("lr", float),
        ("batch-size", int),
        ("eval-batches", int),
    ):
        sh.add_argument(f"--{name}", type=typ, help="override the preset")
    add_device_option(sh)
    add_seed_option(sh, what="seed of the shifting run")
    add_quiet_option(sh)
    sh.set_defaults(func=_shift)


def _common(p: argparse.ArgumentParser, default_out: str | None = None) -> None:
    add_output_option(
        p, kind="dir", default=default_out, help=f"output directory (default: {default_out or 'runs/<config name>'})"
    )
    names = _stage_names()
    stages = ", ".join(names)
    p.add_argument(
        "--only", choices=names, metavar="STAGE", help=f"run this stage alone, upstream must be done ({stages})"
    )
    p.add_argument("--from", dest="from_stage", choices=names, metavar="STAGE", help="redo STAGE and all after it")
    p.add_argument(
        "--force", action="append", default=[], choices=names, metavar="STAGE", help="redo STAGE (repeatable)"
    )
    p.add_argument(
        "--data-root",
        metavar="DIR",
        help="data folder, overrides [data] root (relative to the current folder, not to the config)",
    )
    add_device_option(p, default=None, none_means="[run] device of the config", what="overrides [run] device")
    add_seed_option(
        p, default=None, what="overrides [run] seed (changes every stage's hash)", none_means="[run] seed of the config"
    )
    p.add_argument(
        "--space", help="search space, overrides [space] name (nb201, nbmacro, fbnet, ...; changes every stage's hash)"
    )
    add_quiet_option(p)


def _execute(cfg, args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from predictor.errors import NasgcnError

    from .pipeline import Pipeline

    if args.seed is not None:
        if args.seed < 0:
            raise NasgcnError(f"--seed {args.seed}: must be ≥ 0")
        cfg.sections["run"]["seed"] = int(args.seed)
    if args.data_root is not None:
        cfg.sections["data"]["root"] = str(Path(args.data_root).expanduser().resolve())
        cfg.overridden["data.root"] = "--data-root"
    for note in cfg.notes:
        print(f"note: {note}")
    out = args.out or str(Path("runs") / Path(cfg.path).stem)
    t0 = time.perf_counter()
    pipe = Pipeline(cfg, out, device=args.device, progress=False if args.no_progress else None)
    records = pipe.run(only=args.only, from_stage=args.from_stage, force=tuple(args.force))
    print(f"finished in {time.perf_counter() - t0:.1f}s; outputs under {pipe.out}")
    if "report" in records:
        rep = pipe.out / "report"
        print(f"report: {rep / 'report.md'}" + (f" ({rep / 'report.html'})" if (rep / "report.html").exists() else ""))
    shift = records.get("shift", {}).get("outputs", {})
    if shift.get("best_arch"):
        print(f"shifting pick: {shift['best_arch']} ({shift['best_score']:.2f} % supernet, target {shift['target']})")
    return 0


def _run(args: argparse.Namespace) -> int:
    from .pipeline import load_config

    return _execute(load_config(args.config, space=args.space), args)


def _demo(args: argparse.Namespace) -> int:
    from .pipeline import builtin_config

    if args.show_config:
        from importlib import resources

        print((resources.files("supernet") / "configs" / "demo.toml").read_text(encoding="utf-8"))
        return 0
    return _execute(builtin_config("demo", space=args.space), args)


def _bounds(items: list[str], flag: str) -> dict[str, float]:
    from predictor.errors import NasgcnError

    out = {}
    for item in items:
        col, sep, val = item.partition("=")
        try:
            if not sep or not col:
                raise ValueError
            out[col.strip()] = float(val)
        except ValueError:
            raise NasgcnError(f"{flag} {item!r}: expected COLUMN=NUMBER, e.g. {flag} flops_m=60") from None
    return out


def _shift(args: argparse.Namespace) -> int:
    from predictor.io import write_json_atomic
    from predictor.lookup import LookupTable
    from predictor.search import load_cost_source
    from predictor.spaces import get_space

    from .data import Normalizer, load_data, load_data_from
    from .shifting import ShiftingConfig, SupernetShifting, make_constraint, seed_from_table
    from .train import checkpoint_space, load_supernet

    model, ckpt = load_supernet(args.run_dir, args.device, space=args.space)
    sp = get_space(args.space or checkpoint_space(ckpt))
    c = ckpt["config"]
    new_classes = None
    if args.new_dataset:
        data = load_data(args.new_dataset, args.data_root, False, c["val_fraction"], args.seed)
        new_classes = data.num_classes
    else:
        data = load_data_from(c)
    table = LookupTable.read_csv(args.table) if args.table else None
    if table is not None:
        sp.check_compatible(table.meta.get("space"), f"lookup table {args.table}")
    models = []  # latency model files price any architecture; tables are joined by arch_str
    for path in args.hardware:
        src = load_cost_source(path, sp.name)
        if not hasattr(src, "table"):
            models.append(src)
            continue
        hw = src.table
        table = hw.join(table) if table is not None else hw
    macro = table.meta.get("macro") if table is not None and isinstance(getattr(table, "meta", None), dict) else None
    if isinstance(macro, dict):  # the table's network; keep only options this space has
        macro = {k: v for k, v in macro.items() if k in sp.macro_defaults()}
    constraint = make_constraint(
        _bounds(args.max, "--max"),
        table=table,
        macro=macro,
        min_values=_bounds(args.min, "--min"),
        space=sp,
        sources=models,
    )
    overrides = {
        k.replace("-", "_"): getattr(args, k.replace("-", "_"))
        for k in (
            "population",
            "keep",
            "mutations",
            "crossovers",
            "generations",
            "steps-per-candidate",
            "mutation-prob",
            "lr",
            "batch-size",
            "eval-batches",
        )
        if getattr(args, k.replace("-", "_")) is not None
    }
    cfg = ShiftingConfig.cpu(**overrides) if args.preset == "cpu" else ShiftingConfig(**overrides)
    seeds = None
    if table is not None and "pred" in table:
        seeds = seed_from_table(table, args.seeds, constraint, space=sp)
    sh = SupernetShifting(
        model,
        data.train,
        data.val,
        cfg,
        constraint=constraint,
        new_num_classes=new_classes,
        run_dir=args.out,
        device=args.device,
        random_state=args.seed,
        progress=not args.no_progress,
        space=sp.name,
        transform=Normalizer(data.mean, data.std),
    )
    result = sh.run(seeds)
    write_json_atomic(
        f"{args.out}/shifting_result.json", {k: v for k, v in result.to_dict().items() if k != "trajectory"}
    )
    print(f"best: {result.best_arch} ({result.best_score:.2f} % on validation after shifting; space {sp.name})")
    print(f"trajectory: {args.out}/trajectory.jsonl")
    return 0
