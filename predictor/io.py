"""Small I/O helpers: atomic writes that honour the umask, output-path checks, JSON with numpy values."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import NasgcnError

_TMP_MARK = ".nasgcn-tmp-"


def _umask() -> int:
    """The process umask (read without changing it for longer than two calls)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_output_path(path: str | os.PathLike, what: str = "output") -> Path:
    """A usable output file path, or one clear error: empty, a directory, or under a file."""
    if str(path).strip() == "":
        raise NasgcnError(f"{what} path is empty (give a file name, e.g. --out table.csv)")
    target = Path(path)
    if target.is_dir():
        raise NasgcnError(f"{what} {target} is a directory (give a file path inside it, e.g. {target / 'out.csv'})")
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise NasgcnError(f"{what} {target}: {parent} is a file, not a folder")
            break
    return target


def check_not_input(output: str | os.PathLike, inputs: Iterable[str | os.PathLike | None], what: str = "--out") -> None:
    """Refuse an output that would replace one of the command's inputs (or its sidecar files)."""
    out = Path(output)
    for item in inputs:
        if item is None:
            continue
        src = Path(item)
        same = out.resolve() == src.resolve() or (out.exists() and src.exists() and os.path.samefile(out, src))
        sidecar = out.resolve() in (Path(str(src) + ".json").resolve(), Path(str(src) + ".meta.json").resolve())
        if same or sidecar:
            raise NasgcnError(f"{what} {out} is one of the inputs ({src}); write to another file so nothing is lost")


def check_suffix(path: str | os.PathLike, allowed: Iterable[str], what: str = "output") -> None:
    """Refuse a file suffix the writer cannot honour (e.g. ``.parquet`` for a CSV writer)."""
    allowed = tuple(s.lower() for s in allowed)
    suffix = Path(path).suffix.lower()
    if suffix not in allowed:
        raise NasgcnError(f"{what} {path}: cannot write {suffix or 'files without a suffix'}; use {', '.join(allowed)}")


def _remove_stale_temps(target: Path) -> None:
    """Delete temp files of earlier writes to ``target`` whose process is gone (a killed write)."""
    prefix = f".{target.name}{_TMP_MARK}"
    try:
        entries = list(target.parent.iterdir())
    except OSError:
        return
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        pid_text = entry.name[len(prefix) :].split(".", 1)[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid():
            continue
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                entry.unlink()
        except PermissionError:  # alive, another user's
            continue


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``.

    A crash mid-write leaves the old file (or none) in place, never a partial one; the temp file is
    removed on any error, and temp files left by a killed earlier write are removed on the next write.
    The file gets the permissions a plain ``open()`` would give (the umask is honoured).
    """
    target = check_output_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(target)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}{_TMP_MARK}{os.getpid()}.", suffix=suffix or ".tmp", dir=target.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def dumps(obj: Any, **kw: Any) -> str:
    return json.dumps(obj, default=_default, **kw)


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    write_text_atomic(path, dumps(obj, indent=2, sort_keys=True) + "\n")
