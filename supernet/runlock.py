"""One writer per run folder: a lock file that names its holder.

Why: two ``supernet train`` (or ``nasgcn run``) processes writing into one ``--out`` both
report success while the folder ends as a mix of the two. The second one must stop before
it writes anything, and say who holds the folder.

How: ``<folder>/.nasgcn.lock`` is opened and locked with ``fcntl.flock`` (exclusive, not
blocking); the holder writes its pid, host, start time and command into it. The kernel drops
the lock when the holder dies, however it dies, so a lock file without a lock is stale: its
folder is taken over with a log line naming the dead holder. Where ``fcntl`` is missing, the
file is created with ``O_EXCL`` and a recorded pid that no longer runs on this host marks it
stale. The file is removed on release. Locks are reentrant inside one process (a pipeline
holds its folder while its stages lock their own).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from predictor.errors import NasgcnError

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows: O_EXCL files and pid checks
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".nasgcn.lock"
logger = logging.getLogger(__name__)

_HELD: dict[str, list[Any]] = {}  # real folder path -> [fd, depth] of the locks this process holds
_GUARD = threading.Lock()


class RunFolderBusy(NasgcnError):
    """Another live process holds the run folder."""


def _holder_text(info: dict[str, Any] | None) -> str:
    if not info:
        return "a process that has not written its name yet"
    when = info.get("started")
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(when)) if isinstance(when, (int, float)) else "?"
    cmd = f" ({info['command']})" if info.get("command") else ""
    return f"pid {info.get('pid', '?')} on host {info.get('host', '?')}, started {started}{cmd}"


def _read(fd: int) -> dict[str, Any] | None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        raw = os.read(fd, 65536)
        info = json.loads(raw.decode("utf-8")) if raw.strip() else None
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _me(command: str) -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(), "command": command}


class RunLock:
    """Exclusive ownership of a run folder (context manager; :meth:`acquire` / :meth:`release`).

    ``command`` is recorded for whoever finds the folder busy. ``enabled=False`` makes it a
    no-op (the non-zero ranks of a data-parallel run share their rank 0's folder).
    """

    def __init__(self, folder: str | os.PathLike, command: str = "", enabled: bool = True) -> None:
        self.folder = Path(folder)
        self.command = command or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
        self.enabled = enabled
        self._key: str | None = None

    @property
    def path(self) -> Path:
        return self.folder / LOCK_NAME

    def acquire(self) -> RunLock:
        """Take the folder (creating it) or raise :class:`RunFolderBusy` naming the holder."""
        if not self.enabled or self._key is not None:
            return self
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise NasgcnError(f"{self.folder}: not a folder (pick another --out)") from None
        key = os.path.realpath(self.folder)
        with _GUARD:
            if key in _HELD:
                _HELD[key][1] += 1
            else:
                _HELD[key] = [self._lock_flock() if fcntl is not None else self._lock_excl(), 1]
        self._key = key
        return self

    def release(self) -> None:
        """Give the folder back (the lock file goes when the outermost holder in this process releases)."""
        if self._key is None:
            return
        with _GUARD:
            entry = _HELD[self._key]
            entry[1] -= 1
            if entry[1] == 0:
                del _HELD[self._key]
                try:
                    self.path.unlink()
                except FileNotFoundError:
                    pass
                os.close(entry[0])
        self._key = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    # -- implementations -----------------------------------------------------------------
    def _busy(self, info: dict[str, Any] | None) -> RunFolderBusy:
        return RunFolderBusy(
            f"{self.folder}: run folder in use by {_holder_text(info)} "
            f"(wait for it to finish or stop it, or pick another --out; if that process is gone, delete {self.path})"
        )

    def _stale(self, info: dict[str, Any] | None) -> None:
        if info:
            logger.warning("%s: taking over a stale lock of %s (no longer running)", self.folder, _holder_text(info))

    def _write(self, fd: int) -> None:
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(_me(self.command)).encode("utf-8"))
        os.fsync(fd)

    def _lock_flock(self) -> int:
        for _ in range(20):  # retry while another process replaces the file under us
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                info = _read(fd)
                os.close(fd)
                raise self._busy(info) from None
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:  # released (unlinked) between our open and our lock
                same = False
            if not same:
                os.close(fd)
                continue
            self._stale(_read(fd))
            self._write(fd)
            return fd
        raise self._busy(None)  # pragma: no cover - a storm of lock holders

    def _lock_excl(self) -> int:  # pragma: no cover - exercised only without fcntl
        for _ in range(20):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                try:
                    fd = os.open(self.path, os.O_RDONLY)
                except FileNotFoundError:
                    continue
                info = _read(fd)
                os.close(fd)
                if info and info.get("host") == socket.gethostname() and not _pid_alive(info.get("pid")):
                    self._stale(info)
                    try:
                        self.path.unlink()
                    except FileNotFoundError:
                        pass
                    continue
                raise self._busy(info) from None
            self._write(fd)
            return fd
        raise self._busy(None)


def run_lock(folder: str | os.PathLike, command: str = "", enabled: bool = True) -> RunLock:
    """:class:`RunLock` of ``folder`` (use as ``with run_lock(out, "supernet train"): ...``)."""
    return RunLock(folder, command, enabled)
