"""Options that many commands share, declared once so that names, defaults, checks and help agree.

Every command that has one of these options declares it through a helper here (``tests/test_cli_options.py``
checks it): ``--threads``, ``--device``, ``--seed``, ``--quiet``, and the two image limits, which used to be
one ``--max-images`` meaning training images in ``supernet train`` and validation images in
``supernet eval``. They are now ``--max-train-images`` and ``--max-val-images``; the old spellings still
work (hidden aliases) so scripts keep running.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from typing import Any

__all__ = [
    "CSV",
    "PLOT",
    "TABLE",
    "add_device_option",
    "add_output_option",
    "check_outputs",
    "add_max_train_images_option",
    "add_max_val_images_option",
    "add_quiet_option",
    "add_seed_option",
    "add_threads_option",
    "device_type",
    "positive_int",
]

# Suffixes each kind of writer honours ("" = no suffix, which claims no format). Anything else is refused.
CSV = (".csv", "")
TABLE = (".csv", ".parquet", ".pq", "")  # predictor.table.write_table: Parquet by suffix
PLOT = (".png",)  # the plots are written as PNG

_DEVICE = re.compile(r"(cpu|cuda(:\d+)?|mps)")


def _whole_number(text: str, minimum: int, note: str = "") -> int:
    """``text`` as an integer >= ``minimum``, or the argparse error that says what was expected."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}{note}, got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (a bad value fails at parse time, before any work)."""
    return _whole_number(text, 1)


def _count(text: str) -> int:
    """argparse type: an integer >= 0 (0 = no limit)."""
    return _whole_number(text, 0, " (0 = all)")


def device_type(text: str) -> str:
    """argparse type: ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` (whether it exists is checked when used)."""
    if not _DEVICE.fullmatch(text):
        raise argparse.ArgumentTypeError(f"expected cpu, cuda or cuda:N, got {text!r}")
    return text


def _default_text(default: object, none_means: str) -> str:
    return none_means if default is None else str(default)


def add_quiet_option(
    parser: argparse.ArgumentParser,
    dest: str = "no_progress",
    help: str = "no progress bars (bars are shown only on a terminal)",
) -> None:
    """``--quiet``: no progress bars (they only draw on a terminal anyway). ``--no-progress`` still works."""
    parser.add_argument("--quiet", dest=dest, action="store_true", help=help)
    parser.add_argument("--no-progress", dest=dest, action="store_true", help=argparse.SUPPRESS)


def add_threads_option(
    parser: argparse.ArgumentParser,
    default: int | None = 1,
    none_means: str = "torch's choice",
    note: str = "the models are small: more threads rarely help",
) -> None:
    """``--threads N``: torch CPU threads (>= 1)."""
    extra = f"; {note}" if note else ""
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=default,
        metavar="N",
        help=f"torch CPU threads (default: {_default_text(default, none_means)}{extra})",
    )


def add_device_option(
    parser: argparse.ArgumentParser,
    default: str | None = "cpu",
    none_means: str = "cpu",
    what: str = "",
) -> None:
    """``--device``: ``cpu``, ``cuda`` or ``cuda:N``."""
    lead = f"{what}: " if what else ""
    parser.add_argument(
        "--device",
        type=device_type,
        default=default,
        metavar="DEV",
        help=f"{lead}cpu, cuda or cuda:N (default: {_default_text(default, none_means)})",
    )


def add_seed_option(
    parser: argparse.ArgumentParser,
    default: int | None = 0,
    what: str = "random seed",
    none_means: str = "0",
) -> None:
    """``--seed S``: the seed of everything random in the command (``what`` says what that is)."""
    parser.add_argument(
        "--seed",
        type=int,
        default=default,
        metavar="S",
        help=f"{what} (default: {_default_text(default, none_means)})",
    )


def add_max_train_images_option(parser: argparse.ArgumentParser, dest: str = "limit_train") -> None:
    """``--max-train-images N``: train on the first N training images (old spellings: ``--limit-train``, ``--max-images``)."""
    parser.add_argument(
        "--max-train-images",
        dest=dest,
        type=_count,
        metavar="N",
        help="use only the first N training images (default: all; 0 = all)",
    )
    parser.add_argument(
        "--limit-train", "--max-images", dest=dest, type=_count, default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )


def add_max_val_images_option(
    parser: argparse.ArgumentParser, default: int = 1000, dest: str = "max_images", what: str = "per architecture"
) -> None:
    """``--max-val-images N``: validation images used (0 = all; old spelling ``--max-images``)."""
    parser.add_argument(
        "--max-val-images",
        dest=dest,
        type=_count,
        default=default,
        metavar="N",
        help=f"validation images {what} (default: {default}; 0 = all)",
    )
    parser.add_argument("--max-images", dest=dest, type=_count, default=argparse.SUPPRESS, help=argparse.SUPPRESS)


class _OutputAction(argparse.Action):
    """Stores the path and records it for :func:`check_outputs` (run by the CLI before the command's work)."""

    def __init__(self, *args: Any, suffixes: tuple[str, ...] = CSV, kind: str = "file", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.suffixes, self.kind = suffixes, kind

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, values)
        checks = [c for c in getattr(namespace, "_output_checks", []) if c[0] != self.dest]
        checks.append((self.dest, option_string or self.option_strings[0], self.suffixes, self.kind))
        namespace._output_checks = checks


def add_output_option(
    parser: argparse.ArgumentParser,
    flag: str = "--out",
    *,
    suffixes: tuple[str, ...] = CSV,
    kind: str = "file",
    **kwargs: Any,
) -> None:
    """An output path option (``kind`` ``"file"`` or ``"dir"``), checked before any work by :func:`check_outputs`.

    A file's suffix must be one the writer honours (``suffixes``; e.g. ``.parquet`` only where Parquet is
    written); an empty path, an existing folder given as a file (or a file given as a folder) and a path
    under a regular file are refused with one line naming the option.
    """
    parser.add_argument(flag, action=_OutputAction, suffixes=tuple(suffixes), kind=kind, **kwargs)


def _leaf_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The (sub-)parser of the command ``args`` were parsed for (``nasgcn latency predict`` -> its parser)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            chosen = getattr(args, action.dest, None) if action.dest != argparse.SUPPRESS else None
            if chosen in action.choices:
                return _leaf_parser(action.choices[chosen], args)
    return parser


def _inputs(
    parser: argparse.ArgumentParser | None, args: argparse.Namespace, outputs: set[str]
) -> list[tuple[str, str]]:
    """(name as the user sees it, path) of every other argument whose value is an existing file."""
    if parser is None:
        return []
    found = []
    for action in _leaf_parser(parser, args)._actions:
        if action.dest in outputs or isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        value = getattr(args, action.dest, None)
        values = value if isinstance(value, (list, tuple)) else [value]
        name = action.option_strings[0] if action.option_strings else str(action.metavar or action.dest.upper())
        found += [(name, v) for v in values if isinstance(v, str) and v and Path(v).is_file()]
    return found


def _same_or_sidecar(out: Path, src: Path) -> str | None:
    """How ``out`` would overwrite ``src``: ``""`` (the file itself), ``"'s sidecar"``, or None (it would not)."""
    if out.exists() and os.path.samefile(out, src):
        return ""
    if out.resolve() in (Path(f"{src}.json").resolve(), Path(f"{src}.meta.json").resolve()):
        return "'s sidecar"
    return None


def check_outputs(args: argparse.Namespace, parser: argparse.ArgumentParser | None = None) -> None:
    """Check every output option the user gave (:func:`add_output_option`); raises ``NasgcnError``.

    With the ``parser``, an output that is one of the command's input files (or an input's sidecar) is
    refused first: nothing the user gave is ever replaced.
    """
    from ..errors import NasgcnError
    from ..io import check_output_dir, check_output_path, check_suffix

    checks = getattr(args, "_output_checks", [])
    inputs = _inputs(parser, args, {c[0] for c in checks}) if checks else []
    for dest, flag, suffixes, kind in checks:
        value = getattr(args, dest, None)
        if value is None:
            continue
        for what, src in inputs:
            how = _same_or_sidecar(Path(value), Path(src)) if str(value).strip() else None
            if how is not None:
                raise NasgcnError(f"{flag} {value} is the input {what}{how}; write the output to another path")
        if kind == "dir":
            check_output_dir(value, flag)
        else:
            check_output_path(value, flag)
            check_suffix(value, suffixes, flag)


def add_prior_options(parser: argparse.ArgumentParser, effect: str) -> None:
    """``--prior EXPERTS --prior-weight W`` (IRLAS topology prior), off by default; ``effect`` says where W enters."""
    parser.add_argument(
        "--prior",
        metavar="EXPERTS",
        help="IRLAS topology prior: a file of expert architecture strings, one a line (e.g. ResNet-like cells)",
    )
    parser.add_argument(
        "--prior-weight",
        type=float,
        default=0.0,
        metavar="W",
        help=f"{effect} (the reward has sd 1 over the space: W = points of pred per sd; default 0 = off)",
    )


def prior_from_args(args: argparse.Namespace, space: Any) -> Any:
    """The fitted IRLAS prior of ``--prior`` (``None`` without it); refuses a weight without experts."""
    import logging

    from ..errors import NasgcnError

    if args.prior_weight and not args.prior:
        raise NasgcnError("--prior-weight needs --prior EXPERTS.txt (expert architecture strings, one a line)")
    if args.prior_weight < 0:
        raise NasgcnError(f"--prior-weight must be >= 0, got {args.prior_weight}")
    if not args.prior:
        return None
    from ..prior import fit_prior

    prior = fit_prior(Path(args.prior), space, random_state=getattr(args, "seed", None) or 0)
    if not args.prior_weight:
        logging.getLogger("predictor.cli").info("--prior given with --prior-weight 0: the prior is off")
    return prior
