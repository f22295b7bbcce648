"""Small I/O helpers: atomic writes that honour the umask, output-path checks, JSON with numpy values,
and data files with a ``.meta.json`` sidecar that cannot drift apart (:func:`atomic_with_sidecar`)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
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
        raise NasgcnError(f"{what}: the path is empty (give a file name, e.g. {what} table.csv)")
    target = Path(path)
    if target.is_dir():
        raise NasgcnError(f"{what} {target} is a directory (give a file path inside it, e.g. {target / 'out.csv'})")
    _check_parents(target, what)
    return target


def check_output_dir(path: str | os.PathLike, what: str = "output folder") -> Path:
    """A usable output folder (new or existing), or one clear error: empty, a regular file, or under a file."""
    if str(path).strip() == "":
        raise NasgcnError(f"{what}: the path is empty (give a folder name, e.g. {what} runs/a)")
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise NasgcnError(f"{what} {target} is a file, not a folder (give a new or existing folder)")
    _check_parents(target, what)
    return target


def _check_parents(target: Path, what: str) -> None:
    """The nearest existing parent of ``target`` must be a folder (else mkdir/rename fail with OSErrors)."""
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise NasgcnError(f"{what} {target}: {parent} is a file, not a folder")
            break


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
    """Refuse a file suffix the writer cannot honour (e.g. ``.parquet`` for a CSV writer).

    ``""`` in ``allowed`` accepts a name without a suffix (it claims no format).
    """
    allowed = tuple(s.lower() for s in allowed)
    suffix = Path(path).suffix.lower()
    if suffix not in allowed:
        named = ", ".join(s for s in allowed if s) or "no suffix"
        raise NasgcnError(
            f"{what} {path}: this command cannot write {suffix or 'files without a suffix'} files (use {named})"
        )


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


# ----- a data file and its metadata sidecar ------------------------------------------------------

#: Key of the sidecar that records which data file it describes (name, bytes, sha256).
DATA_KEY = "data_file"


def sidecar_path(path: str | os.PathLike) -> Path:
    """``<path>.meta.json``: the metadata of a data file that has no room for it (CSV)."""
    return Path(str(path) + ".meta.json")


def _fingerprint(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return {"bytes": size, "sha256": digest.hexdigest()}


@contextlib.contextmanager
def atomic_with_sidecar(
    path: str | os.PathLike,
    meta: Mapping[str, Any] | None,
    suffix: str = "",
    sidecar: str | os.PathLike | None = None,
) -> Iterator[Path]:
    """Yield a temp path for the data; on success write the sidecar first, then rename the data into place.

    Why: a CSV and its ``.meta.json`` are two files, so two renames. The sidecar records the data's size
    and sha256 (:data:`DATA_KEY`) and is written before the data is renamed, so a crash in between
    leaves a sidecar that does not match the old data, which :func:`check_sidecar` reports on read,
    instead of silently pairing new metadata with old rows (or the reverse). ``meta=None`` removes a
    sidecar left from an earlier write of ``path`` (it would describe other data). ``sidecar``: another name
    than ``<path>.meta.json`` (a model's ``MODEL.json``).
    """
    target = check_output_path(path)
    side = Path(sidecar) if sidecar is not None else sidecar_path(target)
    with atomic_path(target, suffix=suffix) as tmp:
        yield tmp
        if meta is None:
            with contextlib.suppress(FileNotFoundError):
                side.unlink()
        else:
            record = {"name": target.name, **_fingerprint(tmp)}
            write_json_atomic(side, {**{k: v for k, v in meta.items() if k != DATA_KEY}, DATA_KEY: record})


def check_sidecar(
    path: str | os.PathLike,
    meta: Mapping[str, Any],
    sidecar: str | os.PathLike | None = None,
    sha256: str | None = None,
) -> dict:
    """``meta`` without its :data:`DATA_KEY` record, after checking that record against the data file.

    A sidecar without the record (written by an older nasgcn, or by hand) is accepted as it is. A
    mismatch means one of the two files was replaced, edited or half-written without the other.
    ``sha256``: the data file's hash when the caller has it already (the file is not hashed again).
    """
    meta = dict(meta)
    record = meta.pop(DATA_KEY, None)
    if not isinstance(record, Mapping):
        return meta
    data = Path(path)
    side = Path(sidecar) if sidecar is not None else sidecar_path(data)
    try:
        size = data.stat().st_size
    except OSError:
        return meta  # the reader reports a missing data file itself
    want_size, want_hash = record.get("bytes"), record.get("sha256")
    if size != want_size:
        found = {"bytes": size, "sha256": None}
    else:
        found = {"bytes": size, "sha256": sha256} if sha256 is not None else _fingerprint(data)
    if found["bytes"] != want_size or (want_hash and found["sha256"] != want_hash):
        what = (
            f"{size:,} bytes, the sidecar describes {want_size:,}"
            if isinstance(want_size, int) and size != want_size
            else "same size, different content"
        )
        raise NasgcnError(
            f"{data}: does not match its metadata {side} ({what}): one of the two was replaced, edited or "
            f"half-written without the other (write both again, or delete {side.name} to read the data without it)"
        )
    return meta
