"""Exception types shared by the whole package.

Every error a user can cause (bad strings, broken files, wrong shapes) is a
:class:`NasgcnError`, so the CLI can print one clear line instead of a traceback.
"""

from __future__ import annotations


class NasgcnError(ValueError):
    """A problem with user input: the message says what is wrong and how to fix it."""


class ArchitectureError(NasgcnError):
    """A malformed architecture string, an unknown op or an out-of-range encoding."""


class LogFormatError(NasgcnError):
    """A broken evaluation log; the message names the file and line."""

    def __init__(self, path: str, line: int | None, problem: str, fix: str = "") -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        msg = f"{where}: {problem}"
        if fix:
            msg += f" ({fix})"
        super().__init__(msg)
        self.path = path
        self.line = line
        self.problem = problem
