"""``nasgcn supernet train|eval|retrain``: the weight-sharing supernet and stand-alone retraining.

Top-level imports stay light (argparse only); torch and the trainers load inside handlers.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from predictor.cli.options import add_quiet_option

# Options whose CLI value overrides a --config file (argparse dest -> TrainConfig field).
_TRAIN_FIELDS = {
    "dataset": "dataset",
    "data_root": "data_root",
    "download": "download",
    "val_fraction": "val_fraction",
    "limit_train": "limit_train",
    "input_size": "input_size",
    "augment": "augment",
    "space": "space",
    "channels": "channels",
    "cells": "cells",
    "width": "width",
    "sampler": "sampler",
    "max_drop": "max_drop",
    "epochs": "epochs",
    "batch_size": "batch_size",
    "lr": "lr",
    "min_lr": "min_lr",
    "weight_decay": "weight_decay",
    "micro_batches": "micro_batches",
    "limit_train_batches": "limit_train_batches",
    "seed": "seed",
    "device": "device",
    "threads": "threads",
    "track_running_stats": "track_running_stats",
}


def _data_options(p: argparse.ArgumentParser, default_dataset: str | None = None) -> None:
    p.add_argument("--dataset", default=default_dataset, help="digits (offline default), cifar10, cifar100 or npz:DIR")
    p.add_argument("--data-root", help="where torchvision keeps CIFAR (default ~/.cache/nasgcn/data)")
    p.add_argument("--download", action="store_true", default=None, help="let torchvision download CIFAR")
    p.add_argument("--val-fraction", type=float, help="share of the training data held out for validation (0.2)")
    p.add_argument("--limit-train", "--max-images", dest="limit_train", type=int, help="use only N training images")
    p.add_argument("--input-size", type=int, help="resize images to S×S pixels (divisible by 4)")
    p.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="random crop + flip of training batches (default: on for CIFAR/npz, off for digits)",
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("supernet", help="train/evaluate the weight-sharing supernet; retrain archs stand-alone")
    ssub = p.add_subparsers(dest="supernet_command", metavar="SUBCOMMAND", required=True)

    t = ssub.add_parser(
        "train",
        help="train a weight-sharing supernet of a search space (resumable; torchrun for multi-GPU)",
        description=(
            "Train the weight-sharing supernet of --space (nb201 default; nbmacro, fbnet or a registered chain "
            "space). Defaults: NB201 supernet recipe (SGD Nesterov 0.9, lr 0.025 cosine to 0.001, wd 5e-4, batch "
            "64, 250 epochs; NB201 C=16, N=5; chain spaces at --width 1). Options: defaults < --config file < "
            "flags. Launch with `torchrun --nproc_per_node K $(which nasgcn) supernet train ...` for data "
            "parallelism."
        ),
    )
    t.add_argument(
        "--space",
        help="search space of the supernet (nb201; e.g. nbmacro, fbnet); recorded in the run, --resume keeps it",
    )
    _data_options(t)
    t.add_argument(
        "--sampler",
        choices=("uniform", "balanced", "weighted", "fair", "dropout"),
        help="path sampling strategy (uniform); balanced: depth-balanced single path (NB201: cell depth groups, "
        "no cut-off cells; chain spaces: uniform number of non-skip layers); weighted: ops with parameters drawn "
        "twice as often as parameter-free ops; fair: FairNAS, every op once per step; dropout: path dropout",
    )
    t.add_argument("--max-drop", type=float, help="final drop rate of the dropout sampler (0.5)")
    t.add_argument(
        "--fix",
        action="append",
        default=None,
        metavar="SLOT=OP",
        help="train a sub-supernet with slot SLOT (NB201 edge 0..5, chain layer 0..L-1) fixed to OP (name or id; "
        "repeatable)",
    )
    t.add_argument("--epochs", type=int, help="epochs (250)")
    t.add_argument("--channels", type=int, help="NB201: channels C of the first stage (16)")
    t.add_argument("--cells", type=int, help="NB201: cells N per stage (5)")
    t.add_argument(
        "--width", type=float, help="chain spaces: channel multiplier (1 = the space's exact network; e.g. 0.5 on CPU)"
    )
    t.add_argument("--batch-size", type=int, help="global batch size (64)")
    t.add_argument("--lr", type=float, help="initial learning rate (0.025)")
    t.add_argument("--min-lr", type=float, help="final cosine learning rate (0.001)")
    t.add_argument("--weight-decay", type=float, help="weight decay (5e-4)")
    t.add_argument("--micro-batches", type=int, help="split each batch into K gradient-accumulated chunks (1)")
    t.add_argument("--limit-train-batches", type=int, help="at most N steps per epoch (short CPU runs)")
    t.add_argument(
        "--track-running-stats",
        action="store_true",
        default=None,
        help="BN tracks running statistics (recalibrated per arch at eval) instead of batch statistics",
    )
    t.add_argument("--seed", type=int, help="seed (0)")
    t.add_argument("--device", help="cpu, cuda or cuda:K (cpu)")
    t.add_argument("--threads", type=int, help="torch CPU threads")
    t.add_argument("--config", help="TOML or JSON file of TrainConfig options (flags override it)")
    t.add_argument("--out", required=True, help="run directory (checkpoint.pt, config.json, history.jsonl)")
    t.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its last checkpoint (starts fresh if there is none)",
    )
    add_quiet_option(t)
    t.set_defaults(func=_train)

    e = ssub.add_parser(
        "eval",
        help="evaluate architectures with inherited weights; write an evaluation log",
        description=(
            "Evaluate architectures with the supernet's weights on the run's validation split (a split of the "
            "training data, never the test set) and write a CSV log (arch_str, supernet_acc, supernet_loss, "
            "checkpoint, images, epoch, dataset, split, source) that `nasgcn fit` reads."
        ),
    )
    e.add_argument("run_dir", metavar="RUN_DIR", help="a supernet run directory (or checkpoint file)")
    e.add_argument(
        "--space",
        help="search space of the architectures (default: the run's, recorded in its checkpoint; a different "
        "space is refused)",
    )
    sel = e.add_mutually_exclusive_group(required=True)
    sel.add_argument("--sample", type=int, metavar="N", help="N distinct random architectures (any space)")
    sel.add_argument("--archs", metavar="FILE", help="architectures from a file (one per line, or CSV with arch_str)")
    sel.add_argument(
        "--unique", action="store_true", help="one architecture per isomorphism class (nb201: 6,466; small spaces only)"
    )
    sel.add_argument("--all", action="store_true", help="every architecture (nb201: 15,625; small spaces only)")
    e.add_argument("--out", required=True, help="evaluation log CSV (written atomically; + .meta.json)")
    e.add_argument("--max-images", type=int, default=1000, help="validation images per architecture (1000; 0 = all)")
    e.add_argument("--batch-size", type=int, default=500, help="evaluation batch size (500)")
    e.add_argument("--recalibrate-batches", type=int, default=4, help="BN recalibration batches if tracked (4)")
    e.add_argument("--seed", type=int, default=0, help="seed of --sample (0)")
    e.add_argument("--data-root", help="override the data location recorded in the run")
    e.add_argument("--device", default="cpu", help="cpu or cuda (cpu)")
    e.add_argument("--threads", type=int, help="torch CPU threads")
    e.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="CPU worker processes sharing the architectures (1); e.g. one per core: small convolutions "
        "scale better over processes than over threads",
    )
    add_quiet_option(e, help="no progress bar or protocol line (bars are shown only on a terminal)")
    e.set_defaults(func=_eval)

    r = ssub.add_parser(
        "retrain",
        help="train architectures stand-alone from scratch; append results to an evaluation log",
        description=(
            "Train chosen architectures from scratch (preset nb201: 200 epochs, batch 256, lr 0.1 cosine, wd 5e-4, "
            "Nesterov; cpu-small and tiny for CPUs), checkpointing each epoch; rerunning resumes. Results are "
            "appended to --log (arch_str, val_acc|test_acc, ..., source=retrain)."
        ),
    )
    rsel = r.add_mutually_exclusive_group(required=True)
    rsel.add_argument("--arch", action="append", help="an architecture string (repeatable)")
    rsel.add_argument("--archs", metavar="FILE", help="architectures from a file (one per line, or CSV with arch_str)")
    r.add_argument("--top", type=int, help="with --archs CSV: only the first N rows")
    r.add_argument("--space", default="nb201", help="search space of the architectures (nb201; e.g. nbmacro, fbnet)")
    r.add_argument(
        "--preset",
        default="cpu-small",
        choices=("nb201", "cpu-small", "tiny"),
        help="recipe (cpu-small: 10 epochs, NB201 C=8 N=2, chain width 0.5; tiny: 2 epochs, C=4 N=1, width 0.25)",
    )
    _data_options(r, None)
    r.add_argument("--epochs", type=int, help="epochs (preset's)")
    r.add_argument("--channels", type=int, help="NB201: channels C of the first stage (preset's)")
    r.add_argument("--cells", type=int, help="NB201: cells N per stage (preset's)")
    r.add_argument("--width", type=float, help="chain spaces: channel multiplier (preset's; 1 = exact network)")
    r.add_argument("--batch-size", type=int, help="batch size (preset's)")
    r.add_argument("--lr", type=float, help="initial learning rate (preset's)")
    r.add_argument("--split", choices=("val", "test"), help="evaluate on the validation split (val) or test split")
    r.add_argument("--seed", type=int, help="seed of the split, initialisation and data order (0)")
    r.add_argument("--device", default=None, help="cpu or cuda (cpu)")
    r.add_argument("--threads", type=int, help="torch CPU threads")
    r.add_argument("--out", required=True, help="folder for per-architecture checkpoints")
    r.add_argument("--log", help="evaluation log to append to (default OUT/retrain.csv)")
    add_quiet_option(r)
    r.set_defaults(func=_retrain)


def read_config_file(path: str) -> dict[str, Any]:
    """Options from a TOML (``[supernet]`` table or top level) or JSON file."""
    from predictor.errors import NasgcnError

    p = Path(path)
    if not p.exists():
        raise NasgcnError(f"config file {p} does not exist")
    text = p.read_text(encoding="utf-8")
    try:
        if p.suffix == ".json":
            data = json.loads(text)
        else:
            try:
                import tomllib
            except ImportError:  # pragma: no cover - Python < 3.11
                import tomli as tomllib
            data = tomllib.loads(text)
    except Exception as exc:
        raise NasgcnError(f"{p}: cannot parse ({exc})") from exc
    if isinstance(data.get("supernet"), dict):
        data = data["supernet"]
    if not isinstance(data, dict):
        raise NasgcnError(f"{p}: expected a table of options")
    return data


def _parse_fix(items: list[str] | None) -> dict[str, Any] | None:
    from predictor.errors import NasgcnError

    if not items:
        return None
    fixed: dict[str, Any] = {}
    for item in items:
        slot, sep, op = item.partition("=")
        if not sep or not slot.strip().isdigit():
            raise NasgcnError(f"--fix {item!r}: expected SLOT=OP, e.g. 0=nor_conv_3x3")
        fixed[slot.strip()] = int(op) if op.strip().isdigit() else op.strip()
    return fixed


def _check_resume_options(values: dict[str, Any], run_dir: Path) -> None:
    """A resumed run keeps its saved config: refuse options that say otherwise instead of ignoring them."""
    from predictor.errors import NasgcnError

    from .train import CONFIG, TrainConfig

    path = run_dir / CONFIG
    if not path.exists():
        return
    saved = json.loads(path.read_text())
    where_ok = {*TrainConfig.RUNTIME, "data_root", "download"}  # how to run, not what to compute
    clash = [
        f"{k}={values[k]!r} (run: {saved[k]!r})"
        for k in sorted(values)
        if k not in where_ok and k in saved and values[k] != saved[k]
    ]
    if clash:
        raise NasgcnError(
            f"{path}: --resume continues the saved run, whose config differs from the options given: "
            f"{', '.join(clash)}. Drop those options to resume, or pick a new --out for a new run."
        )


def _train(args: argparse.Namespace) -> int:
    from predictor.errors import NasgcnError

    from .train import CONFIG, TrainConfig, train_supernet

    values: dict[str, Any] = read_config_file(args.config) if args.config else {}
    for dest, name in _TRAIN_FIELDS.items():
        v = getattr(args, dest, None)
        if v is not None:
            values[name] = v
    fixed = _parse_fix(args.fix)
    if fixed is not None:
        values["fixed"] = fixed
    if args.no_progress:
        values["progress"] = False
    if args.resume and "space" not in values:
        saved = Path(args.out) / CONFIG
        if saved.exists():  # resuming keeps the run's space unless one is given (then it must match)
            values["space"] = json.loads(saved.read_text()).get("space", "nb201")
    cfg = TrainConfig.from_dict(values, args.config or "options")
    if args.resume:
        _check_resume_options(values, Path(args.out))
    trainer = train_supernet(cfg, args.out, resume=args.resume)
    if trainer.dist.is_main:
        last = trainer.history_[-1] if trainer.history_ else {}
        print(
            f"supernet {trainer.checkpoint_id_}: {trainer.epoch} epochs, last train acc "
            f"{last.get('train_acc', float('nan')):.2f}%; checkpoint {Path(args.out) / 'checkpoint.pt'}"
        )
    if trainer.epoch < cfg.epochs:  # pragma: no cover - defensive
        raise NasgcnError("training stopped early")
    from .distributed import cleanup

    cleanup()
    return 0


def _eval(args: argparse.Namespace) -> int:
    import torch

    from predictor.spaces import get_space

    from .evaluate import evaluate_run, select_archs
    from .train import checkpoint_space, load_checkpoint

    if args.threads:
        torch.set_num_threads(args.threads)
    ckpt = load_checkpoint(args.run_dir)
    recorded = checkpoint_space(ckpt)
    space = get_space(args.space or recorded)
    space.check_compatible(recorded, f"supernet run {args.run_dir}")
    fixed = {int(k): v for k, v in ckpt["config"].get("fixed", {}).items()}
    del ckpt
    if fixed:
        fixed = {k: list(space.ops).index(v) if isinstance(v, str) else int(v) for k, v in fixed.items()}
    if args.sample is not None:
        ids = select_archs("sample", args.sample, seed=args.seed, fixed=fixed, space=space)
    elif args.archs:
        ids = select_archs("list", archs_file=args.archs, fixed=fixed, space=space)
    else:
        ids = select_archs("unique" if args.unique else "all", fixed=fixed, space=space)
    result = evaluate_run(
        args.run_dir,
        ids,
        args.out,
        args.max_images or None,
        args.batch_size,
        args.device,
        args.data_root,
        args.recalibrate_batches,
        not args.no_progress,
        jobs=args.jobs,
    )
    rate = len(ids) / max(result.protocol["seconds"], 1e-9)
    print(
        f"wrote {len(ids):,} evaluations to {args.out} ({rate:.1f} archs/s; mean supernet_acc {result.acc.mean():.2f}%)"
    )
    return 0


def _retrain(args: argparse.Namespace) -> int:
    import torch

    from .evaluate import read_arch_list
    from .retrain import preset, retrain

    if args.threads:
        torch.set_num_threads(args.threads)
    from predictor.spaces import get_space

    space = get_space(args.space)
    archs = space.encode(args.arch) if args.arch else read_arch_list(args.archs, space)
    if args.top:
        archs = archs[: args.top]
    cfg = preset(
        args.preset,
        dataset=args.dataset,
        data_root=args.data_root,
        download=args.download,
        val_fraction=args.val_fraction,
        limit_train=args.limit_train,
        input_size=args.input_size,
        augment=args.augment,
        epochs=args.epochs,
        space=space.name,
        channels=args.channels,
        cells=args.cells,
        width=args.width,
        batch_size=args.batch_size,
        lr=args.lr,
        split=args.split,
        seed=args.seed,
        device=args.device,
        progress=False if args.no_progress else None,
    )
    records = retrain(archs, cfg, args.out, args.log)
    log = args.log or str(Path(args.out) / "retrain.csv")
    print(f"retrained {len(records)} architecture(s); results appended to {log}")
    return 0
