"""Entry point of the ``nasgcn`` command.

Each command group lives in its own module exposing ``register(subparsers)``; the
module imports only argparse-level code at top level and imports the heavy parts
(torch, PyG, the supernet) inside its handler, so ``nasgcn query`` starts fast.
Handlers receive the parsed ``argparse.Namespace`` and return an exit code.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Iterator, Sequence

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


# Which module registers each command: ``nasgcn query`` imports only the module it runs, not every
# command group (and what their option declarations import). A command missing here still works:
# the parser then registers every module (tests check that this table matches the modules).
COMMANDS: dict[str, str] = {
    "space": "predictor.cli.space_cmd",
    "fit": "predictor.cli.predictor_cmd",
    "table": "predictor.cli.predictor_cmd",
    "evaluate": "predictor.cli.predictor_cmd",
    "suggest": "predictor.cli.acquire_cmd",
    "query": "predictor.cli.hardware_cmd",
    "latency": "predictor.cli.hardware_cmd",
    "search": "predictor.cli.search_cmd",
    "supernet": "supernet.cli",
    "run": "supernet.cli_run",
    "demo": "supernet.cli_run",
    "shift": "supernet.cli_run",
}


def _register(sub: argparse._SubParsersAction, name: str) -> None:
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as err:  # a command group not installed or not written yet
        if err.name and name.startswith(err.name):
            return
        raise
    module.register(sub)


def _command_of(argv: Sequence[str]) -> str | None:
    """The command word of ``argv`` (top-level options take no values, so it is the first non-option)."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``nasgcn`` parser; with ``command``, only that command's module is imported (fast start)."""
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
    if command in COMMANDS:
        _register(sub, COMMANDS[command])
        if command in sub.choices:
            return parser
    done = {COMMANDS[command]} if command in COMMANDS else set()
    for name in COMMAND_MODULES:
        if name not in done:
            _register(sub, name)
    return parser


def _quiet_third_party_warnings() -> None:
    """Hide library deprecation chatter that users of the CLI cannot act on (e.g. PyG's torch.jit.script use)."""
    import warnings

    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.* is deprecated", category=FutureWarning)
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch_geometric(\.|$)")


class _StderrHandler:
    """Marker base: the CLI's log handler (added once per process)."""


def _setup_logging() -> None:
    """The package's log messages as plain lines on the current stderr (``file:3: ...; row skipped``).

    Skipped rows and other user-facing notes go through :mod:`logging` (not :mod:`warnings`, which
    prints source paths); this shows ``predictor.*``/``supernet.*`` records at INFO and above.
    """
    import logging

    class Handler(logging.StreamHandler, _StderrHandler):
        @property  # type: ignore[override]
        def stream(self):  # the stderr of the moment (tests swap it), not the one at start-up
            return sys.stderr

        @stream.setter
        def stream(self, value) -> None:
            pass

    for name in ("predictor", "supernet"):
        log = logging.getLogger(name)
        if not any(isinstance(h, _StderrHandler) for h in log.handlers):
            handler = Handler()
            handler.setFormatter(logging.Formatter("%(message)s"))
            log.addHandler(handler)
            log.setLevel(logging.INFO)


@contextlib.contextmanager
def _one_shot_process() -> Iterator[None]:
    """Settings for a process that runs one command: numba's fused kernels off unless the user chose.

    Loading numba and its cached kernels costs about 1 s of CPU per process and saves ~10 ms per
    whole-space prediction, so a one-shot command is faster on the torch ops (``predictor.kernels``;
    ``NASGCN_NO_NUMBA=0 nasgcn ...`` turns them back on). Restored afterwards: in-process callers
    (tests, notebooks) keep their own setting.
    """
    if "NASGCN_NO_NUMBA" in os.environ:
        yield
        return
    os.environ["NASGCN_NO_NUMBA"] = "1"
    try:
        yield
    finally:
        os.environ.pop("NASGCN_NO_NUMBA", None)


def main(argv: Sequence[str] | None = None) -> int:
    with _one_shot_process():
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    _quiet_third_party_warnings()
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_command_of(argv))
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
    from ..readers import hint_style
    from .options import check_outputs

    _setup_logging()
    try:
        with hint_style("cli"):  # fix hints name --flags here, keyword arguments in the Python API
            check_outputs(args, parser)  # every --out/--plot the user gave, before the command does any work
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("nasgcn: interrupted", file=sys.stderr)
        return 130
    except (NasgcnError, FileNotFoundError, PermissionError, IsADirectoryError) as err:
        if args.debug:
            raise
        from ..model_file import strip_weights_only_advice

        print(f"nasgcn: error: {strip_weights_only_advice(str(err))}", file=sys.stderr)
        return 1
    except Exception as err:  # noqa: BLE001 - the CLI promises one line, never a traceback
        if args.debug:
            raise
        from ..model_file import strip_weights_only_advice

        message = strip_weights_only_advice(f"{type(err).__name__}: {err}")
        print(f"nasgcn: error: {message} (rerun with --debug for a traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
