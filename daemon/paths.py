"""Where the daemon keeps its files: runtime (lock, pid, ipc socket), logs, data."""

from __future__ import annotations

from pathlib import Path

from cir import paths


def runtime_dir(create: bool = False) -> Path:
    """The user-private runtime directory (mode 0700): ipc socket and lock file."""
    path = paths.runtime_dir()
    return paths.ensure_dir(path, private=True) if create else path


def lock_path() -> Path:
    """The single-instance lock file; it also records the holder's pid."""
    return runtime_dir() / "daemon.lock"


def log_dir(create: bool = False) -> Path:
    """The log directory (cir.paths.log_dir), created on request."""
    path = paths.log_dir()
    return paths.ensure_dir(path) if create else path


def log_path() -> Path:
    """The daemon's log file."""
    return log_dir() / "daemon.log"

