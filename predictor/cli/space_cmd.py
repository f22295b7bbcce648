"""``nasgcn space info`` and ``nasgcn space list``."""

from __future__ import annotations

import argparse

from .options import TABLE, add_output_option

SPACE_HELP = "search space: nb201 (default), nbmacro, fbnet, or a chain-space spec file NAME.toml"


def add_space_option(parser: argparse.ArgumentParser, default: str | None = "nb201") -> None:
    """The one ``--space`` option every command that handles architectures shares."""
    parser.add_argument("--space", default=default, metavar="SPACE", help=SPACE_HELP)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("space", help="inspect a search space", description="Inspect a search space.")
    ssub = p.add_subparsers(dest="space_command", metavar="SUBCOMMAND", required=True)

    info = ssub.add_parser(
        "info",
        help="size, unique architectures, ops and slots of a space",
        description="Size, isomorphism classes, ops and slots of a search space (sizes are exact integers).",
    )
    add_space_option(info)
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    info.set_defaults(func=_info)

    lst = ssub.add_parser(
        "list",
        help="write every architecture with its isomorphism class and exact costs to CSV or Parquet",
        description=(
            "Write one row per architecture: arch_str, index, iso_class, dead, params_m, "
            "flops_m (MACs, millions). Costs are for the macro network given by the options. "
            "Only for spaces small enough to enumerate. OUT.csv gets a OUT.csv.meta.json sidecar; OUT.parquet "
            "(needs pyarrow) keeps the metadata inside."
        ),
    )
    add_space_option(lst)
    add_output_option(lst, suffixes=TABLE, required=True, help="output .csv or .parquet path (written atomically)")
    lst.add_argument("--unique", action="store_true", help="one row per isomorphism class")
    lst.add_argument("--channels", type=int, default=None, help="nb201: channels C of the first stage (16)")
    lst.add_argument("--cells", type=int, default=None, help="nb201: cells N per stage (5)")
    lst.add_argument("--classes", type=int, default=None, help="output classes (the space's default)")
    lst.add_argument("--input-size", type=int, default=None, help="input height = width (32)")
    lst.set_defaults(func=_list)


def _info(args: argparse.Namespace) -> int:
    from ..io import dumps
    from ..spaces import get_space

    space = get_space(args.space)
    info = space.describe()
    if args.json:
        print(dumps(info, indent=2))
        return 0
    unique = "not enumerable" if info["unique"] is None else f"{info['unique']:,} up to isomorphism"
    dead = f", {info['dead']} dead" if "dead" in info else ""
    print(f"space   {info['space']}")
    print(f"size    {info['size']:,} architectures ({unique}{dead})")
    print(f"ops     {', '.join(info['ops'])}")
    if "edges" in info:
        print(f"edges   {', '.join(f'{a}->{b}' for a, b in info['edges'])}")
    else:
        print(f"slots   {space.num_slots} ({space.macro_description})")
    return 0


def _macro_from_args(args: argparse.Namespace, defaults: dict) -> dict:
    from ..errors import NasgcnError

    given = {"channels": args.channels, "cells": args.cells, "num_classes": args.classes, "input_size": args.input_size}
    macro = {}
    for key, value in given.items():
        if value is None:
            continue
        if key not in defaults:
            flag = "--" + {"num_classes": "classes"}.get(key, key).replace("_", "-")
            raise NasgcnError(f"{flag} does not apply to space {args.space!r} (its options: {', '.join(defaults)})")
        macro[key] = value
    return macro


def _list(args: argparse.Namespace) -> int:
    from ..spaces import get_space
    from ..table import space_frame, write_table

    space = get_space(args.space)
    space.require_enumerable("nasgcn space list")
    defaults = space.macro_defaults()
    macro = _macro_from_args(args, defaults)
    frame = space_frame(space.name, macro, unique=args.unique)
    write_table(args.out, frame, meta={"space": space.name, "macro": {**defaults, **macro}, "flops": "MACs (millions)"})
    print(f"wrote {len(frame['arch_str']):,} rows to {args.out}")
    return 0
