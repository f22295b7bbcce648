"""Progress bars that only draw on a terminal.

Logs and pipes get no carriage-return spam: tqdm's ``disable=None`` hides the bar when the stream
is not a TTY, and every stage still prints its one-line summary.
"""

from __future__ import annotations

from typing import Any


def progress_bar(iterable: Any = None, *, enabled: bool = True, **kwargs: Any) -> Any:
    """A ``tqdm`` bar on a terminal (``enabled``), nothing otherwise; same arguments as ``tqdm``."""
    from tqdm.auto import tqdm

    return tqdm(iterable, disable=None if enabled else True, **kwargs)
