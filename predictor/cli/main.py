"""Entry point of the ``nasgcn`` command.

Each command group lives in its own module exposing ``register(subparsers)``; the
module imports only argparse-level code at top level and imports the heavy parts
(torch, PyG, the supernet) inside its handler, so ``nasgcn query`` starts fast.
Handlers receive the parsed ``argparse.Namespace`` and return an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Modules that register commands, in the order they appear in --help.
COMMAND_MODULES: tuple[str, ...] = (
    "predictor.cli.space_cmd",
    "predictor.cli.predictor_cmd",
    "predictor.cli.acquire_cmd",
    "predictor.cli.hardware_cmd",
    "predictor.cli.search_cmd",
    "supernet.cli",
    "supernet.cli_run",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nasgcn",
        description=(
            "Trustworthy, hardware-aware weight-sharing NAS: supernet labels, a GCN "
            "predictor over the whole search space, hardware tables and constrained lookup."
        ),
        epilog="Run 'nasgcn COMMAND --help' for the options of one command.",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:  # a command group not installed or not written yet
            if err.name and name.startswith(err.name):
                continue
            raise
        module.register(sub)
    return parser


def _quiet_third_party_warnings() -> None:
    """Hide library deprecation chatter that users of the CLI cannot act on (e.g. PyG's torch.jit.script use)."""
    import warnings

    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.* is deprecated", category=FutureWarning)
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch_geometric(\.|$)")


def main(argv: Sequence[str] | None = None) -> int:
    _quiet_third_party_warnings()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(version("nasgcn"))
        except PackageNotFoundError:
            print("unknown (not installed)")
        return 0
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from ..errors import NasgcnError

    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("nasgcn: interrupted", file=sys.stderr)
        return 130
    except (NasgcnError, FileNotFoundError, PermissionError, IsADirectoryError) as err:
        if args.debug:
            raise
        print(f"nasgcn: error: {err}", file=sys.stderr)
        return 1
    except Exception as err:  # noqa: BLE001 - the CLI promises one line, never a traceback
        if args.debug:
            raise
        print(f"nasgcn: error: {type(err).__name__}: {err} (rerun with --debug for a traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
