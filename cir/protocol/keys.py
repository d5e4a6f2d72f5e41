"""The user's CurveZMQ keys: who may talk to the daemon, and how a client knows it is the daemon.

One file per data dir, ``<data dir>/daemon.key`` (or ``$CIR_KEY_FILE``), mode 0600, holds two
key pairs in Z85 text:

    # CIR daemon keys (CurveZMQ, Z85). Keep this file secret: mode 0600.
    server-public = <40 characters>
    server-secret = <40 characters>
    client-public = <40 characters>
    client-secret = <40 characters>

The daemon proves it holds ``server-secret`` in every CURVE handshake (a process that binds the
port in its place cannot complete one, so a client never sends it the audio), and admits only
clients that prove they hold ``client-secret`` (its ZAP handler compares ``client-public``).
Only the user can read the file, so only the user's processes can do either. The daemon's
first start creates it; clients only read it.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cir import paths
from cir.errors import CIRError

# The daemon's key file (CurveZMQ key pairs, mode 0600) in the data dir; the first start
# creates it. CIR_KEY_FILE names another file (clients and the native plugin read it too).
KEY_FILENAME = "daemon.key"
KEY_FILE_ENV = "CIR_KEY_FILE"

_FIELDS = ("server-public", "server-secret", "client-public", "client-secret")
_Z85_KEY_CHARS = 40
_HEADER = "# CIR daemon keys (CurveZMQ, Z85). Keep this file secret: mode 0600.\n"


class KeyFileError(CIRError):
    """The key file is missing, unreadable, readable by others, or not a CIR key file."""


@dataclass(frozen=True)
class UserKeys:
    """The two CurveZMQ key pairs of one user's daemon (Z85 bytes, 40 characters each)."""

    server_public: bytes
    server_secret: bytes
    client_public: bytes
    client_secret: bytes


def key_path() -> Path:
    """The key file: ``$CIR_KEY_FILE``, else ``<data dir>/daemon.key``."""
    override = os.environ.get(KEY_FILE_ENV)
    return Path(override).expanduser() if override else paths.data_dir() / KEY_FILENAME


def _check_private(path: Path, st: os.stat_result) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise KeyFileError(
            f"key file {path} is not a regular file; remove it and restart the daemon"
        )
    if os.name != "posix":  # pragma: no cover - Windows: the profile folder's ACL protects it
        return
    if st.st_uid != os.geteuid():
        raise KeyFileError(
            f"key file {path} belongs to uid {st.st_uid}, not to this user (uid {os.geteuid()}); "
            f"remove it, or set {KEY_FILE_ENV} to a file of your own"
        )
    if st.st_mode & 0o077:
        raise KeyFileError(
            f"key file {path} has mode {stat.S_IMODE(st.st_mode):04o}: other users can read it; "
            f"run `chmod 600 {path}` (and restart the daemon to be safe)"
        )


def load_keys(path: Path | None = None) -> UserKeys:
    """Read and check the key file; KeyFileError names the problem and the fix."""
    path = Path(path) if path else key_path()
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise KeyFileError(
            f"no CIR key at {path}: the daemon's first start creates it (`cir daemon start`)"
        ) from None
    except OSError as exc:
        raise KeyFileError(f"cannot read the key file {path} ({exc.strerror})") from None
    try:
        _check_private(path, os.fstat(fd))
        with os.fdopen(fd, "r", encoding="ascii", errors="replace") as f:
            fd = -1
            text = f.read(4096)
    finally:
        if fd >= 0:
            os.close(fd)
    return _parse(path, text)


def _parse(path: Path, text: str) -> UserKeys:
    values: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            values[name.strip()] = value.strip()
    missing = [f for f in _FIELDS if len(values.get(f, "")) != _Z85_KEY_CHARS]
    if missing:
        raise KeyFileError(
            f"key file {path} lacks a valid {missing[0]!r}; remove it and restart the daemon "
            "to create a new one"
        )
    return UserKeys(*(values[f].encode("ascii") for f in _FIELDS))


def create_keys(path: Path | None = None) -> UserKeys:
    """Write a new key file (mode 0600, never over an existing one); FileExistsError if any."""
    import zmq

    path = Path(path) if path else key_path()
    paths.ensure_dir(path.parent)
    server_public, server_secret = zmq.curve_keypair()
    client_public, client_secret = zmq.curve_keypair()
    body = _HEADER + "".join(
        f"{name} = {value.decode('ascii')}\n"
        for name, value in zip(
            _FIELDS, (server_public, server_secret, client_public, client_secret), strict=True
        )
    )
    # Written under a private temporary name, then linked: readers never see half a file, and
    # link() fails rather than replace a key another process created meanwhile.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return load_keys(path)


def ensure_keys(path: Path | None = None) -> UserKeys:
    """The key file's keys, creating the file first if there is none (the daemon's start)."""
    path = Path(path) if path else key_path()
    try:
        return load_keys(path)
    except KeyFileError:
        if path.exists() or path.is_symlink():
            raise
    try:
        return create_keys(path)
    except FileExistsError:  # another process created it between our two looks
        return load_keys(path)
