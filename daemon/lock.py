"""The single-instance lock: an exclusive, non-blocking lock on a file in the runtime dir.

The kernel drops the lock when the process dies (even by SIGKILL), so a stale file never
blocks a new daemon. The file holds the owner's pid for `cir daemon stop`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from cir.daemon.errors import AlreadyRunningError

# sys.platform, not os.name: type checkers follow it to the one branch of this platform.
if sys.platform == "win32":  # pragma: no cover - Windows
    import msvcrt
else:
    import fcntl


class InstanceLock:
    """Hold `path` exclusively for this process; `acquire` raises AlreadyRunningError."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self) -> InstanceLock:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if sys.platform == "win32":  # pragma: no cover
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            else:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            pid = read_pid(self.path)
            raise AlreadyRunningError(
                f"a CIR daemon (pid {pid}) already holds {self.path}; stop it with "
                "`cir daemon stop` or use it as it is"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
        finally:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> InstanceLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def read_pid(path: Path) -> int | None:
    """The pid recorded in a lock file, or None."""
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def is_locked(path: Path) -> bool:
    """True when some process holds the lock at `path` right now."""
    if not Path(path).exists():
        return False
    try:
        InstanceLock(path).acquire().release()
    except AlreadyRunningError:
        return True
    return False
