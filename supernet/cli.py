"""``nasgcn supernet train|eval|retrain``: the weight-sharing supernet and stand-alone retraining.

Top-level imports stay light (argparse only); torch and the trainers load inside handlers.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from predictor.cli.options import (
    add_device_option,
    add_max_train_images_option,
    add_max_val_images_option,
    add_output_option,
    add_quiet_option,
    add_seed_option,
    add_threads_option,
)

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
    add_max_train_images_option(p)
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
    from .samplers import sampler_help, sampler_names  # the registry (no torch import)

    t.add_argument(
        "--sampler",
        choices=sampler_names(),
        help=f"path sampling / training strategy (uniform); {sampler_help()}",
    )
    t.add_argument("--max-drop", type=float, help="final drop rate of the dropout and hopnas samplers (0.5)")
    t.add_argument(
        "--sampler-option",
        action="append",
        default=None,
        metavar="KEY=VALUE",
        help="a registered parameter of the sampler (repeatable; e.g. hopnas k=2.0, pgnas logit_lr=0.03; "
        "values are JSON, else strings)",
    )
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
    add_seed_option(t, default=None, what="seed of initialization and data order", none_means="the config's, else 0")
    add_device_option(t, default=None, none_means="the config's, else cpu")
    add_threads_option(t, default=None, none_means="torch's choice", note="")
    t.add_argument("--config", help="TOML or JSON file of TrainConfig options (flags override it)")
    add_output_option(t, kind="dir", required=True, help="run directory (checkpoint.pt, config.json, history.jsonl)")
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
    e.add_argument(
        "run_dir",
        metavar="RUN_DIR",
        help="a supernet run directory (or checkpoint file), or a split folder of `supernet split` (each "
        "architecture scored by the sub-supernet that holds it)",
    )
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
    add_output_option(e, required=True, help="evaluation log CSV (written atomically; + .meta.json)")
    e.add_argument(
        "--surviving",
        action="store_true",
        help="a hopnas run: only architectures made of the ops it kept (--sample/--unique/--all draw there; "
        "--archs outside it are refused)",
    )
    add_max_val_images_option(e)
    e.add_argument("--batch-size", type=int, default=500, help="evaluation batch size (500)")
    e.add_argument("--recalibrate-batches", type=int, default=4, help="BN recalibration batches if tracked (4)")
    add_seed_option(e, what="seed of --sample")
    e.add_argument("--data-root", help="override the data location recorded in the run")
    add_device_option(e)
    add_threads_option(e, default=None, note="")
    e.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="CPU worker processes sharing the architectures (1); e.g. one per core: small convolutions "
        "scale better over processes than over threads",
    )
    add_quiet_option(e, help="no progress bar or protocol line (bars are shown only on a terminal)")
    e.add_argument(
        "--chunk",
        type=int,
        default=64,
        help="under torchrun (architectures sharded over ranks): rows per resumable write of a shard (64)",
    )
    e.set_defaults(func=_eval)
    _register_cluster(ssub)

    sp = ssub.add_parser(
        "split",
        help="few-shot: split a trained supernet on a slot into sub-supernets and fine-tune each (resumable)",
        description=(
            "Build one sub-supernet per op of --slot (or --groups G groups of the op combinations of the "
            "slots) from the trained one-shot RUN, each started from its weights and fine-tuned on its part of "
            "the space (SGD Nesterov, lr 0.025 cosine to 0.001, wd 1e-4, half RUN's epochs; data, batch and "
            "seed are RUN's). Each member is an ordinary run folder under --out, listed with the routing in "
            "OUT/split.json; `nasgcn supernet eval OUT` scores every architecture with its member. Rerun to "
            "resume. Members can train on other machines: copy OUT (and RUN) there and run the same command "
            "with --member K (also under torchrun for data parallelism)."
        ),
    )
    sp.add_argument("run", metavar="RUN", help="trained one-shot supernet run directory")
    sp.add_argument(
        "--slot",
        required=True,
        help="slot to split on: index or name (nb201: an edge such as 1<-0; chain spaces: a layer index); "
        "comma-separated for several slots (with --groups)",
    )
    sp.add_argument("--epochs", type=int, help="fine-tuning epochs per sub-supernet (half of RUN's)")
    sp.add_argument(
        "--groups", type=int, help="G groups of the slots' op combinations (default: one sub-supernet per combination)"
    )
    sp.add_argument(
        "--share-prefix",
        type=int,
        default=0,
        metavar="K",
        help="keep the stem and the first K layers (nb201: cells/reduction blocks; chain: layers) at the one-shot "
        "weights, shared by all sub-supernets; fine-tune only the rest (0)",
    )
    sp.add_argument("--sampler", help="sampler of the fine-tuning (default RUN's), restricted to each part")
    sp.add_argument("--lr", type=float, help="initial fine-tuning learning rate (0.025)")
    sp.add_argument("--min-lr", type=float, help="final cosine learning rate (0.001)")
    sp.add_argument("--weight-decay", type=float, help="weight decay (1e-4)")
    sp.add_argument("--limit-train-batches", type=int, help="at most N steps per epoch (short CPU runs)")
    add_output_option(sp, kind="dir", required=True, help="split folder (split.json + one run folder per sub-supernet)")
    sp.add_argument("--jobs", type=int, default=1, help="sub-supernets trained side by side in processes (1)")
    sp.add_argument(
        "--member", type=int, action="append", help="train only member K (repeatable; e.g. one per machine)"
    )
    sp.add_argument("--plan-only", action="store_true", help="write split.json and the member folders; train nothing")
    add_threads_option(sp, default=None, note="per process")
    add_device_option(sp, what="with --jobs 1")
    add_quiet_option(sp)
    sp.set_defaults(func=_split)

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
    add_seed_option(r, default=None, what="seed of the split, initialisation and data order", none_means="0")
    add_device_option(r, default=None)
    add_threads_option(r, default=None, note="")
    add_output_option(r, kind="dir", required=True, help="folder for per-architecture checkpoints")
    add_output_option(r, "--log", help="evaluation log CSV to append to (default OUT/retrain.csv)")
    add_quiet_option(r)
    r.set_defaults(func=_retrain)

    po = ssub.add_parser(
        "posterior",
        help="PGNAS/HOPNAS: draw architectures from what the run learned, score them; write an evaluation log",
        description=(
            "Draw --sample C distinct architectures from a pgnas run's learned posterior (one op per slot, "
            "probability proportional to its keep probability; a hopnas run: uniform over the surviving ops), "
            "score each with the supernet's weights like `supernet eval` and write the same evaluation log "
            "(readable by `nasgcn fit`); the probabilities go into the log's .meta.json. --show prints them."
        ),
    )
    po.add_argument("run_dir", metavar="RUN", help="a supernet run trained with --sampler pgnas (or hopnas)")
    po.add_argument("--sample", type=int, metavar="C", help="number of distinct architectures to draw and score")
    add_output_option(po, help="evaluation log CSV (written atomically; + .meta.json)")
    po.add_argument("--show", action="store_true", help="print the op probabilities per slot")
    po.add_argument("--space", help="search space (default: the run's; a different space is refused)")
    add_max_val_images_option(po)
    po.add_argument("--batch-size", type=int, default=500, help="evaluation batch size (500)")
    add_seed_option(po, what="seed of the draw")
    po.add_argument("--data-root", help="override the data location recorded in the run")
    add_device_option(po)
    add_threads_option(po, default=None, note="")
    po.add_argument("--jobs", type=int, default=1, help="CPU worker processes sharing the architectures (1)")
    add_quiet_option(po, help="no progress bar or protocol line (bars are shown only on a terminal)")
    po.set_defaults(func=_posterior)


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


def _parse_options(items: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; values parse as JSON (numbers, true/false, lists), else stay strings."""
    from predictor.errors import NasgcnError

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise NasgcnError(f"--sampler-option {item!r}: expected KEY=VALUE, e.g. k=2.0")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value.strip()
    return out


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
    if args.sampler_option:
        values["sampler_options"] = {**values.get("sampler_options", {}), **_parse_options(args.sampler_option)}
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


def _split(args: argparse.Namespace) -> int:
    import torch

    from .fewshot import plan_split, train_split

    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = {
        k: v
        for k, v in {
            "lr": args.lr,
            "min_lr": args.min_lr,
            "weight_decay": args.weight_decay,
            "limit_train_batches": args.limit_train_batches,
        }.items()
        if v is not None
    }
    split = plan_split(
        args.run, args.slot, args.out, args.epochs, args.groups, args.share_prefix, args.sampler, overrides
    )
    names = ", ".join(m["dir"] for m in split.members)
    print(f"split of {split.manifest['parent']['checkpoint']} on {split.manifest['slot_names']}: {names}")
    if not args.plan_only:
        done = train_split(args.out, args.member, args.jobs, not args.no_progress, args.threads, device=args.device)
        left = split.unfinished()
        print(f"trained {len(done)} sub-supernet(s); {len(left)} unfinished: {left or 'none'}")
    from .distributed import cleanup

    cleanup()
    return 0


def _register_cluster(ssub: argparse._SubParsersAction) -> None:
    """``supernet cluster`` (DC-NAS): its parser; the handler is :func:`_cluster`."""
    c = ssub.add_parser(
        "cluster",
        help="DC-NAS: cluster architectures by their supernet features on a probe batch (k-means)",
        description=(
            "Run every architecture through the trained supernet on a fixed probe batch (the first --probe "
            "images of the run's validation split), take the global-average-pooled output of each layer "
            "(--layers), centre and L2-normalize each layer's block, and cluster the concatenation with "
            "k-means. Writes arch_str,cluster,distance (distance to the cluster's centroid) that "
            "'nasgcn suggest --clusters' reads."
        ),
    )
    c.add_argument("run_dir", metavar="RUN", help="a supernet run directory (or checkpoint file)")
    c.add_argument("--k", type=int, required=True, metavar="K", help="number of clusters")
    sel = c.add_mutually_exclusive_group(required=True)
    sel.add_argument("--sample", type=int, metavar="N", help="N distinct random architectures (seeded by --seed)")
    sel.add_argument("--archs", metavar="FILE", help="architectures from a file (one per line, or CSV with arch_str)")
    add_output_option(c, required=True, metavar="CLUSTERS.csv", help="output CSV (atomically; + .meta.json)")
    c.add_argument("--space", help="search space of the architectures (default: the run's; another is refused)")
    c.add_argument(
        "--layers", default="all", help="feature layers: all (default), last, logits, or indices like 0,2,-1"
    )
    c.add_argument("--probe", type=int, default=64, help="probe images from the validation split (64)")
    add_seed_option(c, what="seed of --sample and of k-means")
    c.add_argument("--data-root", help="override the data location recorded in the run")
    add_device_option(c)
    add_threads_option(c, default=None, note="")
    add_quiet_option(c, help="no progress bar (bars are shown only on a terminal)")
    c.set_defaults(func=_cluster)


def _cluster(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from predictor.spaces import get_space

    from .cluster import cluster_architectures, write_clusters
    from .evaluate import select_archs
    from .train import checkpoint_space, load_checkpoint

    if args.threads:
        torch.set_num_threads(args.threads)
    recorded = checkpoint_space(load_checkpoint(args.run_dir))
    space = get_space(args.space or recorded)
    space.check_compatible(recorded, f"supernet run {args.run_dir}")
    if args.sample is not None:
        ids = select_archs("sample", args.sample, seed=args.seed, space=space)
    else:
        ids = select_archs("list", archs_file=args.archs, space=space)
    res = cluster_architectures(
        args.run_dir, ids, args.k, layers=args.layers, probe=args.probe, seed=args.seed, device=args.device,
        data_root=args.data_root, progress=not args.no_progress,
    )  # fmt: skip
    write_clusters(args.out, res)
    sizes = np.bincount(res.labels, minlength=args.k)
    print(f"wrote {len(ids):,} architectures in {args.k} clusters to {args.out} (sizes {sizes.min()}..{sizes.max()})")
    return 0


def _surviving(args: argparse.Namespace, space: Any, alive: Any) -> Any:
    """The kept-ops mask ``alive`` for ``--surviving`` (refused on runs that prune nothing); else a hint, once."""
    import logging

    import numpy as np

    from predictor.errors import NasgcnError

    if args.surviving and alive is None:
        raise NasgcnError(
            f"{args.run_dir}: --surviving needs a run that pruned ops (nasgcn supernet train --sampler hopnas)"
        )
    if alive is None:
        return None
    kept = float(np.prod(alive.sum(1).astype(np.float64)))
    if not args.surviving:
        logging.getLogger(__name__).info(
            "%s kept %.0f of %.0f architectures' ops (HOPNAS); --surviving evaluates only those",
            args.run_dir,
            kept,
            float(space.size),
        )
        return None
    return alive


def _eval(args: argparse.Namespace) -> int:
    import os

    import torch

    from predictor.spaces import get_space

    from .evaluate import evaluate_run, select_archs
    from .fewshot import Split, is_split
    from .posterior import checkpoint_surviving
    from .train import checkpoint_space, load_checkpoint

    if args.threads:
        torch.set_num_threads(args.threads)
    if is_split(args.run_dir):  # a split folder: members hold parts of the space; all of it is scored
        split = Split.load(args.run_dir)
        ckpt = load_checkpoint(split.member_dir(0))
        recorded = checkpoint_space(ckpt)
        parent_fixed = dict(split.manifest["members"][0]["config"].get("fixed") or {})
        own = {str(s) for s in split.manifest["slots"]}
        fixed = {int(k): v for k, v in parent_fixed.items() if k not in own}
        alive = None
    else:
        ckpt = load_checkpoint(args.run_dir)
        recorded = checkpoint_space(ckpt)
        fixed = {int(k): v for k, v in ckpt["config"].get("fixed", {}).items()}
        alive = checkpoint_surviving(ckpt)
    space = get_space(args.space or recorded)
    space.check_compatible(recorded, f"supernet run {args.run_dir}")
    del ckpt
    if fixed:
        fixed = {k: list(space.ops).index(v) if isinstance(v, str) else int(v) for k, v in fixed.items()}
    allowed = _surviving(args, space, alive)
    kw = {"fixed": fixed, "space": space, "allowed": allowed}
    if args.sample is not None:
        ids = select_archs("sample", args.sample, seed=args.seed, **kw)
    elif args.archs:
        ids = select_archs("list", archs_file=args.archs, **kw)
    else:
        ids = select_archs("unique" if args.unique else "all", **kw)
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
        sharded=int(os.environ.get("WORLD_SIZE", "1")) > 1,
        chunk=args.chunk,
    )
    from .distributed import cleanup

    cleanup()
    rate = len(ids) / max(result.protocol["seconds"], 1e-9)
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    print(
        f"wrote {len(ids):,} evaluations to {args.out} ({rate:.1f} archs/s; mean supernet_acc {result.acc.mean():.2f}%)"
    )
    return 0


def _posterior(args: argparse.Namespace) -> int:
    import torch

    from predictor.errors import NasgcnError

    from .posterior import format_probs, load_posterior, posterior_run

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.sample is None and not args.show:
        raise NasgcnError("supernet posterior: give --sample C --out EVALS.csv, or --show to print the posterior")
    if args.sample is not None and not args.out:
        raise NasgcnError("supernet posterior: --sample needs --out EVALS.csv (the evaluation log to write)")
    if args.show:
        print(format_probs(load_posterior(args.run_dir, args.space)[1]))
    if args.sample is None:
        return 0
    result = posterior_run(
        args.run_dir, args.sample, args.out, args.seed, args.max_images or None, args.batch_size, args.device,
        args.data_root, not args.no_progress, args.space, args.jobs,
    )  # fmt: skip
    print(
        f"wrote {len(result.ids):,} posterior samples to {args.out} (mean supernet_acc {result.acc.mean():.2f}%, "
        f"best {result.acc.max():.2f}%)"
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
