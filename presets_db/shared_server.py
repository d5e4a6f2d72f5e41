"""A local PostgreSQL server with pgvector for a shared catalogue, from the `pgserver` wheel.

The wheel carries PostgreSQL 16 with pgvector built in (Debian 12 packages no pgvector), so
`pip install 'cir[shared]'` is all a team server needs. `start(folder)` initialises a cluster
in `folder/data` on first use (user `cir` with a generated password kept in `folder`, password
authentication over TCP), starts it listening on `host:port` and returns its URL;
`stop(folder)` stops it (a fast shutdown: open transactions roll back, committed data stays).

PostgreSQL refuses to run as root: under root the server runs as the unprivileged `nobody`,
which then owns `folder`, so every folder above it must be searchable by others.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cir import defaults
from cir.errors import import_optional
from cir.presets_db.errors import CatalogueError

# Seconds pg_ctl waits for the server to start or stop.
SHARED_SERVER_WAIT_S = 60

INFO_FILE = "server.json"
PASSWORD_FILE = "password"
LOG_FILE = "server.log"
ROOT_RUNS_AS = "nobody"


class SharedServerError(CatalogueError):
    """The local PostgreSQL server of a shared catalogue cannot be set up, started or stopped."""


@dataclass(frozen=True)
class ServerInfo:
    folder: Path
    host: str
    port: int
    url: str
    pid: int | None


def _installed_bin_dir() -> Path:
    """pgserver's PostgreSQL binaries, found without importing it (its import has side
    effects: a lock file, and a user of its own when run as root)."""
    spec = importlib.util.find_spec("pgserver")
    locations = spec.submodule_search_locations if spec is not None else None
    if not locations:
        import_optional("pgserver", "shared")  # raises the 'install cir[shared]' error
        raise SharedServerError("pgserver is not a package: reinstall 'cir[shared]'")
    folder = Path(next(iter(locations))) / "pginstall" / "bin"
    if not (folder / "postgres").exists():
        raise SharedServerError(f"pgserver's PostgreSQL is missing from {folder}: reinstall "
                                "it with `pip install --force-reinstall 'cir[shared]'`")
    return folder


def _bin_dir(folder: Path) -> Path:
    """The binaries the server runs: the installed ones, or under root, when `nobody` cannot
    reach them (a virtual environment under /root), a copy kept in the server's folder."""
    installed = _installed_bin_dir()
    if os.geteuid() != 0 or _reachable(installed):
        return installed
    import shutil

    # The binaries find their libraries at $ORIGIN/../../../pgserver.libs: keep that layout.
    site, copy = installed.parents[2], folder / "pgserver-copy"
    if not (copy / "pgserver" / "pginstall" / "bin" / "postgres").exists():
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(installed.parent, copy / "pgserver" / "pginstall", symlinks=True)
        shutil.copytree(site / "pgserver.libs", copy / "pgserver.libs", symlinks=True)
    return copy / "pgserver" / "pginstall" / "bin"


def _reachable(path: Path) -> bool:
    """Whether others may walk down to `path` (every folder above it searchable)."""
    return all(os.stat(p).st_mode & 0o001 for p in path.resolve().parents)


def _run_as() -> tuple[str | None, str | None]:
    """(user, group) for subprocess: PostgreSQL refuses to run as root."""
    return (ROOT_RUNS_AS, "nogroup") if os.geteuid() == 0 else (None, None)


def _run(args: list[str], folder: Path, what: str) -> str:
    user, group = _run_as()
    try:
        done = subprocess.run(args, capture_output=True, text=True, cwd=folder,
                              timeout=SHARED_SERVER_WAIT_S + 10, user=user, group=group)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SharedServerError(f"{what} failed: {exc}") from None
    if done.returncode != 0:
        log = folder / LOG_FILE
        tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
        said = done.stderr.strip() or done.stdout.strip()
        raise SharedServerError(f"{what} failed ({said})" + (f"; log: {tail}" if tail else ""))
    return done.stdout


def _check_reachable(folder: Path) -> None:
    """Under root, `nobody` must be able to walk down to `folder`."""
    if os.geteuid() == 0 and not _reachable(folder):
        raise SharedServerError(
            f"a folder above {folder} is not searchable by others, so the server (run as "
            f"{ROOT_RUNS_AS} under root) cannot reach it: pick a folder under /var/tmp or "
            "/srv, or run as a normal user"
        )


def _own(path: Path) -> None:
    if os.geteuid() == 0:
        import shutil

        shutil.chown(path, ROOT_RUNS_AS, "nogroup")


def init(folder: Path) -> None:
    """Create the cluster in `folder/data` (user cir, a generated password) unless it exists."""
    folder = Path(folder).expanduser().resolve()
    data = folder / "data"
    if (data / "PG_VERSION").exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    _check_reachable(folder)
    _own(folder)
    password = folder / PASSWORD_FILE
    if not password.exists():
        password.write_text(secrets.token_urlsafe(18))
        password.chmod(0o600)
        _own(password)
    _run([str(_bin_dir(folder) / "initdb"), "-D", str(data), "-U", defaults.SHARED_SERVER_USER,
          "--pwfile", str(password), "--auth-local=scram-sha-256",
          "--auth-host=scram-sha-256", "-E", "UTF8", "--no-instructions"],
         folder, f"initdb in {data}")


def start(folder: Path, port: int | None = None, host: str = "127.0.0.1") -> ServerInfo:
    """Start the server of `folder` (initialising it first); its URL. Idempotent."""
    folder = Path(folder).expanduser().resolve()
    running = status(folder)
    if running is not None:
        return running
    init(folder)
    port = port or defaults.SHARED_SERVER_PORT
    options = f"-h {host} -p {port} -k {folder}"
    pg_ctl = str(_bin_dir(folder) / "pg_ctl")
    _run([pg_ctl, "-D", str(folder / "data"), "-l", str(folder / LOG_FILE), "-o", options,
          "-w", "-t", str(SHARED_SERVER_WAIT_S), "start"],
         folder, f"starting PostgreSQL on {host}:{port}")
    info = {"host": host, "port": port}
    (folder / INFO_FILE).write_text(json.dumps(info))
    _create_database(folder, host, port)
    started = status(folder)
    if started is None:
        raise SharedServerError(f"PostgreSQL in {folder} did not stay up: see {folder / LOG_FILE}")
    return started


def _url(folder: Path, host: str, port: int, database: str) -> str:
    password = (folder / PASSWORD_FILE).read_text().strip()
    return f"postgresql://{defaults.SHARED_SERVER_USER}:{password}@{host}:{port}/{database}"


def _create_database(folder: Path, host: str, port: int) -> None:
    psycopg = import_optional("psycopg", "shared")
    with psycopg.connect(_url(folder, host, port, "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                              [defaults.SHARED_SERVER_DATABASE]).fetchone()
        if not exists:
            conn.execute(f"CREATE DATABASE {defaults.SHARED_SERVER_DATABASE}")


def status(folder: Path) -> ServerInfo | None:
    """The running server of `folder`, or None."""
    folder = Path(folder).expanduser().resolve()
    pid_file = folder / "data" / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, 0)
        info = json.loads((folder / INFO_FILE).read_text())
    except (OSError, ValueError, IndexError):
        return None
    url = _url(folder, info["host"], info["port"], defaults.SHARED_SERVER_DATABASE)
    return ServerInfo(folder, info["host"], int(info["port"]), url, pid)


def stop(folder: Path) -> bool:
    """Stop the server of `folder` (fast shutdown); False when it was not running."""
    folder = Path(folder).expanduser().resolve()
    if status(folder) is None:
        return False
    _run([str(_bin_dir(folder) / "pg_ctl"), "-D", str(folder / "data"), "-m", "fast", "-w",
          "-t", str(SHARED_SERVER_WAIT_S), "stop"], folder,
         f"stopping PostgreSQL in {folder}")
    return True
