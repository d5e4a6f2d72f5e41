"""Where a daemon keeps its files: each daemon instance beside the data dir and endpoint it serves.

An instance is a data dir plus the endpoints a daemon binds. The user's usual daemon (the
default endpoints) is ``default``; a daemon on ``CIR_ENDPOINT`` or ``--endpoint`` gets a name
made from its endpoints. Per instance:

| file | where |
|---|---|
| lock (holds the pid) | ``<data dir>/daemon/<instance>.lock`` |
| log | ``<log dir>/daemon.log`` (default) or ``<log dir>/daemon-<instance>.log`` |
| start-up output | the log's name with ``.stderr`` |

So two daemons on two endpoints (or two data dirs) never share a lock or a log, and
`cir daemon stop` only ever signals the daemon of its own endpoint.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Sequence
from pathlib import Path

from cir import paths, protocol
from cir.daemon.errors import DaemonError

DEFAULT_INSTANCE = "default"


def instance_name(endpoints: Sequence[str]) -> str:
    """``default`` for the default endpoints, else a readable slug plus a short hash."""
    chosen = sorted(set(endpoints))
    if chosen == sorted(protocol.default_endpoints()):
        return DEFAULT_INSTANCE
    joined = "+".join(chosen)
    slug = re.sub(r"[^A-Za-z0-9.]+", "-", joined.split("://", 1)[-1]).strip("-")[:48]
    scheme = chosen[0].split("://", 1)[0] if chosen else "none"
    return f"{scheme}-{slug}-{hashlib.sha256(joined.encode()).hexdigest()[:8]}"


def client_instance(endpoint: str) -> str:
    """The instance a client endpoint belongs to (one of the defaults: the default instance)."""
    if endpoint in protocol.default_endpoints():
        return DEFAULT_INSTANCE
    return instance_name([endpoint])


def instance_dir(create: bool = False) -> Path:
    """``<data dir>/daemon``: the instances' lock files (private to the user)."""
    path = paths.data_dir() / "daemon"
    return paths.ensure_dir(path, private=True) if create else path


def lock_path(instance: str = DEFAULT_INSTANCE) -> Path:
    """The single-instance lock file of `instance`; it also records the holder's pid."""
    return instance_dir() / f"{instance}.lock"


def log_dir(create: bool = False) -> Path:
    """The log directory (cir.paths.log_dir), created on request."""
    path = paths.log_dir()
    return paths.ensure_dir(path) if create else path


def log_path(instance: str = DEFAULT_INSTANCE) -> Path:
    """The daemon log of `instance`."""
    name = "daemon.log" if instance == DEFAULT_INSTANCE else f"daemon-{instance}.log"
    return log_dir() / name


def private_dir(path: Path) -> Path:
    """Create `path` mode 0700, or make an existing one 0700; refuse one another user owns."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    st = path.lstat()
    if not stat.S_ISDIR(st.st_mode):
        raise DaemonError(f"{path} is not a directory; remove it so the daemon can create it")
    if os.name == "posix":
        if st.st_uid != os.geteuid():
            raise DaemonError(
                f"{path} belongs to uid {st.st_uid}, not to this user: another user may have "
                "created it to catch the daemon's socket; set XDG_RUNTIME_DIR or "
                "CIR_RUNTIME_DIR to a directory of your own"
            )
        if stat.S_IMODE(st.st_mode) != 0o700:
            os.chmod(path, 0o700)
    return path
