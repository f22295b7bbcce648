"""Options that many commands share, declared once so that names, defaults and help agree."""

from __future__ import annotations

import argparse


def add_quiet_option(
    parser: argparse.ArgumentParser,
    dest: str = "no_progress",
    help: str = "no progress bars (bars are shown only on a terminal)",
) -> None:
    """``--quiet``: no progress bars (they only draw on a terminal anyway). ``--no-progress`` still works."""
    parser.add_argument("--quiet", dest=dest, action="store_true", help=help)
    parser.add_argument("--no-progress", dest=dest, action="store_true", help=argparse.SUPPRESS)
