"""Where the daemon keeps its files: runtime (lock, pid, ipc socket), logs, data."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from cir import protocol

APP = "cir"


def runtime_dir(create: bool = False) -> Path:
    """The user-private runtime directory (mode 0700): ipc socket and lock file."""
    path = protocol.runtime_dir()
    if create:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        if os.name == "posix":
            os.chmod(path, 0o700)  # mkdir's mode is masked by umask and ignored if it exists
    return path


def lock_path() -> Path:
    """The single-instance lock file; it also records the holder's pid."""
    return runtime_dir() / "daemon.lock"


def log_dir(create: bool = False) -> Path:
    """The user log directory (platformdirs), e.g. ~/.local/state/cir/log on Linux."""
    path = Path(platformdirs.user_log_dir(APP, appauthor=False))
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def log_path() -> Path:
    """The daemon's log file."""
    return log_dir() / "daemon.log"


def data_dir() -> Path:
    """CIR's data directory: $CIR_HOME when set, else the platformdirs user data dir."""
    home = os.environ.get("CIR_HOME")
    return Path(home) if home else Path(platformdirs.user_data_dir(APP, appauthor=False))


def default_catalogue_path() -> Path:
    """The catalogue the daemon serves when none is named."""
    from cir.presets_db.catalogue import default_db_path  # the catalogue owns its location

    return default_db_path()
