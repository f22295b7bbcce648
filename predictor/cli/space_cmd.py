"""``nasgcn space info`` and ``nasgcn space list``."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("space", help="inspect a search space", description="Inspect a search space.")
    ssub = p.add_subparsers(dest="space_command", metavar="SUBCOMMAND", required=True)

    info = ssub.add_parser("info", help="size, unique cells, ops and edges of a space")
    info.add_argument("--space", default="nb201", help="search space name (default: nb201)")
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    info.set_defaults(func=_info)

    lst = ssub.add_parser(
        "list",
        help="write every architecture with its isomorphism class and exact costs to CSV",
        description=(
            "Write one row per architecture: arch_str, index, iso_class, dead, params_m, "
            "flops_m (MACs, millions). Costs are for the macro network given by the options."
        ),
    )
    lst.add_argument("--space", default="nb201")
    lst.add_argument("--out", required=True, help="output CSV path (written atomically)")
    lst.add_argument("--unique", action="store_true", help="one row per isomorphism class")
    lst.add_argument("--channels", type=int, default=16, help="channels C of the first stage (16)")
    lst.add_argument("--cells", type=int, default=5, help="cells N per stage (5)")
    lst.add_argument("--classes", type=int, default=10, help="output classes (10)")
    lst.add_argument("--input-size", type=int, default=32, help="input height = width (32)")
    lst.set_defaults(func=_list)


def _info(args: argparse.Namespace) -> int:
    from ..io import dumps
    from ..spaces import get_space

    space = get_space(args.space)
    info = {
        "space": space.name,
        "size": space.size,
        "unique": space.num_unique,
        "dead": int(space.is_dead(space.all_ids()).sum()),
        "ops": list(space.ops),
        "edges": [list(e) for e in getattr(space, "edges", [])],
    }
    if args.json:
        print(dumps(info, indent=2))
    else:
        print(f"space   {info['space']}")
        print(f"size    {info['size']:,} architectures ({info['unique']:,} up to isomorphism, {info['dead']} dead)")
        print(f"ops     {', '.join(info['ops'])}")
        print(f"edges   {', '.join(f'{a}->{b}' for a, b in info['edges'])}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from ..costs import MacroConfig
    from ..table import space_frame, write_csv

    cfg = MacroConfig(channels=args.channels, cells=args.cells, num_classes=args.classes, input_size=args.input_size)
    frame = space_frame(args.space, cfg, unique=args.unique)
    write_csv(args.out, frame, meta={"space": args.space, "macro": cfg.__dict__, "flops": "MACs (millions)"})
    print(f"wrote {len(frame['arch_str']):,} rows to {args.out}")
    return 0
