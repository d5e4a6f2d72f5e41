"""Start, stop and query the daemon as a background service (`cir daemon start|stop|status`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cir import defaults, protocol
from cir.daemon import paths
from cir.daemon.errors import DaemonError, DaemonNotRunningError, DaemonStartError
from cir.daemon.lock import is_locked, read_pid
from cir.daemon.logs import setup_logging

# How long `cir daemon start` waits for the new daemon to answer a ping, seconds.
DAEMON_START_TIMEOUT_S = 60.0
# How long `cir daemon stop` waits for the daemon to exit before giving up, seconds.
DAEMON_STOP_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Started:
    """A daemon that answers: its pid, endpoint, and whether this call started it."""

    pid: int | None
    endpoint: str
    started: bool
    log_path: Path


def run_foreground(
    catalogue: str | Path | None = None,
    embedder: str | None = None,
    endpoints: list[str] | None = None,
    lock_path: str | Path | None = None,
    idle_timeout: float | None = None,
    max_requests: int | None = None,
    log_file: str | Path | None = None,
    verbose: bool = False,
    web_port: int | None = -1,
) -> int:
    """Run the daemon in this process until stopped (what `cir daemon run` does).

    `web_port`: the results page's port (None: no page; -1: $CIR_WEB_PORT or the default).
    """
    from cir.daemon.server import Server, ServerConfig
    from cir.daemon.web import WebPage
    from cir.daemon.web import web_port as configured_port

    chosen = endpoints or protocol.daemon_endpoints()
    log_path = Path(log_file) if log_file else paths.log_path(paths.instance_name(chosen))
    setup_logging(log_path, stderr=verbose)
    port = configured_port() if web_port == -1 else web_port
    config = ServerConfig(
        endpoints=chosen,
        catalogue_path=catalogue,
        embedder=embedder,
        lock_path=lock_path,
        idle_timeout=idle_timeout,
        max_requests=max_requests,
        log_path=log_path,
    )
    server = Server(config, extensions=[WebPage(port)])
    return server.run()


def _client(endpoint: str | None, timeout_ms: int):
    from cir.protocol.client import Client

    return Client(endpoint, timeout_ms=timeout_ms, retries=1)


def _log_tail(path: Path, lines: int = 8) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start(
    catalogue: str | Path | None = None,
    embedder: str | None = None,
    endpoint: str | None = None,
    lock_path: str | Path | None = None,
    idle_timeout: float | None = None,
    timeout: float = DAEMON_START_TIMEOUT_S,
    web_port: int | None = -1,
) -> Started:
    """Start a background daemon unless one answers already; wait until it answers a ping.

    `endpoint` gives a private daemon (the demo's) with its own lock and log, which cannot
    clash with the user's own; `lock_path` overrides its lock file. `web_port`: the results
    page's port (None: no page; -1: $CIR_WEB_PORT or the default).
    """
    from cir.protocol.client import is_running

    target = endpoint or protocol.client_endpoint()
    instance = paths.client_instance(target)
    lock = Path(lock_path) if lock_path else paths.lock_path(instance)
    log_path = paths.log_path(instance)
    if is_running(target):
        return Started(read_pid(lock), target, False, log_path)
    cmd = [sys.executable, "-m", "cir", "daemon", "run"]
    if catalogue:
        cmd += ["--db", str(catalogue)]
    if embedder:
        cmd += ["--embedder", embedder]
    if lock_path:
        cmd += ["--lock", str(lock)]
    if idle_timeout:
        cmd += ["--idle-timeout", str(idle_timeout)]
    env = dict(os.environ)
    if endpoint:
        env[defaults.ENDPOINT_ENV] = endpoint
    if web_port != -1:
        env[defaults.WEB_PORT_ENV] = "off" if web_port is None else str(web_port)
    paths.log_dir(create=True)
    stderr_path = log_path.with_suffix(".stderr")
    with open(stderr_path, "ab") as err:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err, env=env,
            start_new_session=True,  # survives the terminal that started it
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DaemonStartError(
                f"the daemon exited at start-up (status {proc.returncode}); last log lines:\n"
                f"{_log_tail(stderr_path)}"
            )
        if is_running(target):
            return Started(proc.pid, target, True, log_path)
        time.sleep(0.05)
    proc.terminate()
    raise DaemonStartError(
        f"the daemon did not answer at {target} within {timeout:g} s; see {log_path}"
    )


def status(endpoint: str | None = None) -> dict[str, Any]:
    """The running daemon's status reply, or DaemonNotRunningError (in under a second when
    nothing listens; NotYourDaemon/KeyRefused errors pass through with their own message)."""
    from cir.protocol.client import DaemonUnavailableError, KeyRefusedError, NotYourDaemonError

    target = endpoint or protocol.client_endpoint()
    try:
        with _client(target, defaults.CLIENT_PROBE_TIMEOUT_MS * 3) as client:
            return client.status()
    except (NotYourDaemonError, KeyRefusedError) as exc:
        raise DaemonNotRunningError(str(exc)) from None
    except DaemonUnavailableError:
        raise DaemonNotRunningError(
            f"daemon not running at {target}; start it with `cir daemon start`"
        ) from None


def reload(endpoint: str | None = None) -> int:
    """Make the running daemon reopen its catalogue now (protocol `rebuild`); its new size."""
    from cir.protocol.client import DaemonUnavailableError, ipc_socket_exists

    target = endpoint or protocol.client_endpoint()
    try:
        if not ipc_socket_exists(target):
            raise DaemonUnavailableError(target)
        with _client(target, defaults.CLIENT_PROBE_TIMEOUT_MS * 3) as client:
            return int(client.rebuild()["catalogue_size"])
    except DaemonUnavailableError:
        raise DaemonNotRunningError(
            f"daemon not running at {target}: nothing to reload (`cir daemon start` loads "
            "the catalogue as it is)"
        ) from None


def page_url(endpoint: str | None = None) -> str:
    """The running daemon's results page address, or a DaemonError saying why there is none."""
    info = status(endpoint)
    if info.get("web_url"):
        return info["web_url"]
    why = info.get("web_problem") or "this daemon predates the results page"
    raise DaemonError(
        f"the daemon runs without a results page ({why}); restart it with `cir daemon stop` "
        "then `cir daemon start`"
    )


def stop(
    endpoint: str | None = None,
    lock_path: str | Path | None = None,
    timeout: float = DAEMON_STOP_TIMEOUT_S,
) -> int | None:
    """Stop the daemon that answers at `endpoint`: protocol `shutdown` (authenticated), and
    only if it does not answer, SIGTERM to the pid in that endpoint's own lock (a stuck daemon
    of this instance). Waits for it to exit; returns its pid, or DaemonNotRunningError."""
    from cir.protocol.client import ClientError, KeyRefusedError, NotYourDaemonError

    target = endpoint or protocol.client_endpoint()
    lock = Path(lock_path) if lock_path else paths.lock_path(paths.client_instance(target))
    try:
        with _client(target, defaults.CLIENT_PROBE_TIMEOUT_MS * 3) as client:
            pid = client.shutdown().get("pid")
    except (NotYourDaemonError, KeyRefusedError) as exc:
        raise DaemonNotRunningError(f"{exc}; nothing was stopped") from None
    except ClientError:
        pid = read_pid(lock) if is_locked(lock) else None
        if pid is None:
            raise DaemonNotRunningError(
                f"daemon not running at {target} (no daemon holds {lock}); nothing to stop"
            ) from None
        os.kill(pid, signal.SIGTERM)  # this endpoint's daemon, alive but not answering
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # A daemon thread of this very process (tests) is gone when it released its lock.
        gone = not is_locked(lock) if pid == os.getpid() else not _alive(pid)
        if gone:
            return pid
        time.sleep(0.05)
    raise DaemonNotRunningError(
        f"the daemon (pid {pid}) did not exit within {timeout:g} s; kill it with `kill {pid}`"
    )


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours still "exists": reap it if it is ours.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True
