"""Authentication and privacy: only the user's processes can talk to the daemon, and the user's
clients talk only to the user's daemon (CurveZMQ keys, cir.protocol.keys; docs/protocol.md)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import sys

import numpy as np
import pytest
import zmq
from daemon_support import REPO, Impostor, Raw, mfcc, serve, short_dir, synthetic_db

from cir import protocol
from cir.benchmarks.workload import query_loop
from cir.daemon.server import Server, ServerConfig
from cir.protocol.client import (
    Client,
    DaemonUnavailableError,
    KeyRefusedError,
    NotYourDaemonError,
)
from cir.protocol.keys import KeyFileError, UserKeys, create_keys, key_path, load_keys


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stranger(user: UserKeys | None = None) -> UserKeys:
    """Keys of someone else: their own pairs, knowing at most the daemon's public key."""
    sp, ss = zmq.curve_keypair()
    cp, cs = zmq.curve_keypair()
    return UserKeys(user.server_public if user else sp, ss, cp, cs)


# --- the key file ---------------------------------------------------------------------------------


def test_the_first_start_creates_a_private_key_and_later_starts_reuse_it():
    assert not key_path().exists()
    with short_dir() as d:
        with serve(d):
            pass
        first = load_keys()
        mode = stat.S_IMODE(key_path().stat().st_mode)
        with serve(d):
            pass
    assert mode == 0o600
    assert load_keys() == first  # not replaced by the second start
    assert len({first.server_public, first.server_secret, first.client_public,
                first.client_secret}) == 4


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_a_key_file_others_can_read_is_refused_by_daemon_and_client(tmp_path):
    keys = create_keys(tmp_path / "k.key")
    (tmp_path / "k.key").chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_keys(tmp_path / "k.key")
    with short_dir() as d:
        server = Server(ServerConfig(endpoints=[f"ipc://{d / 'd.sock'}"],
                                     catalogue_path=d / "c.db", embedder=mfcc(),
                                     lock_path=d / "l", warm_up=False,
                                     key_file=tmp_path / "k.key"))
        with pytest.raises(KeyFileError, match="chmod 600"):
            server.run()
    (tmp_path / "k.key").chmod(0o600)
    assert load_keys(tmp_path / "k.key") == keys  # the keys themselves were fine


def test_a_key_file_that_is_not_one_is_refused(tmp_path):
    bad = tmp_path / "k.key"
    bad.write_text("server-public = short\n")
    bad.chmod(0o600)
    with pytest.raises(KeyFileError, match="server-public"):
        load_keys(bad)


# --- clients without the user's key ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ipc", "tcp"])
def test_clients_without_the_users_key_are_refused_before_any_command(kind):
    with short_dir() as d:
        synthetic_db(d, size=3)
        endpoint = (f"ipc://{d / 'd.sock'}" if kind == "ipc"
                    else f"tcp://127.0.0.1:{free_port()}")
        server = Server(ServerConfig(endpoints=[endpoint], catalogue_path=d / "catalogue.db",
                                     embedder=mfcc(), lock_path=d / "l", warm_up=False))
        thread = server.serve_in_thread()
        try:
            user = load_keys()
            attempts = {
                "no security": {"curve": False},
                "own keys": {"keys": stranger()},
                "own client key, daemon's public key": {"keys": stranger(user)},
            }
            for name, how in attempts.items():
                for cmd in ("status", "shutdown", "ping"):
                    raw = Raw(endpoint, **how)
                    # A refused peer has no pipe left to queue on: do not block.
                    with contextlib.suppress(zmq.Again):
                        raw.sock.send_multipart([b"", *protocol.encode_request(cmd, name)],
                                                flags=zmq.NOBLOCK)
                    assert raw.recv(1500) is None, f"{name}: {cmd} was answered"
                    raw.close()
            assert thread.is_alive() and server.requests_served == 0
            with Client(endpoint) as client:
                status = client.status()
        finally:
            server.stop()
            thread.join(10)
    assert status["requests_served"] == 0  # nothing of theirs ran
    assert status["refused_clients"] >= 1  # the key check saw the one that knew the public key


def test_the_python_client_names_a_refused_key():
    with short_dir() as d, serve(d) as (_, endpoint):
        client = Client(endpoint, keys=stranger(load_keys()))
        with client, pytest.raises(KeyRefusedError, match="refused this user's key"):
            client.ping()


# --- a process in the daemon's place --------------------------------------------------------------


@pytest.mark.parametrize(("kind", "error"), [
    ("zmq-router", NotYourDaemonError),
    ("curve-other-key", NotYourDaemonError),
    ("raw-tcp", DaemonUnavailableError),
])
def test_the_client_sends_nothing_to_a_process_in_the_daemons_place(kind, error):
    from cir.protocol.keys import ensure_keys

    ensure_keys()
    port = free_port()
    impostor = Impostor(kind, port)
    audio = query_loop(1.0, 48_000)
    try:
        with Client(f"tcp://127.0.0.1:{port}", handshake_timeout_ms=1500) as client, \
                pytest.raises(error) as info:
            client.match(audio, 48_000)
    finally:
        seen = impostor.close()
    message = str(info.value)
    assert "nothing was sent" in message and "\n" not in message
    if error is NotYourDaemonError:
        assert "is not your CIR daemon" in message
    block = np.ascontiguousarray(audio[:64]).astype("<f4").tobytes()
    assert block not in seen and len(seen) < 1024  # greetings and a HELLO at most


def test_another_users_ipc_socket_is_not_used(tmp_path):
    """A stale or foreign file where the daemon's ipc socket goes: a live listener is refused,
    a dead file replaced."""
    with short_dir() as d:
        path = d / "d.sock"
        squatter = socket.socket(socket.AF_UNIX)
        squatter.bind(str(path))
        squatter.listen()
        try:
            server = Server(ServerConfig(endpoints=[f"ipc://{path}"], catalogue_path=d / "c.db",
                                         embedder=mfcc(), lock_path=d / "l", warm_up=False))
            from cir.daemon.errors import DaemonError

            with pytest.raises(DaemonError, match="another process listens"):
                server.run()
        finally:
            squatter.close()
        with serve(d) as (_, endpoint), Client(endpoint) as client:  # the dead file: replaced
            assert client.ping()["pong"] is True


# --- another local user, for real -----------------------------------------------------------------


@pytest.mark.slow
def test_another_local_user_can_neither_query_stop_nor_overhear(tmp_path):
    from tools.reliability.suite import other_user

    result = other_user(tmp_path)
    if "skipped" in result:
        pytest.skip(result["skipped"])
    # Nothing the other user ran lies in the checkout or its virtual environment: they may sit
    # in a folder only their owner can enter (a 0700 home, what `mktemp -d` makes).
    for command in result["commands"]:
        assert not [arg for arg in command if str(REPO) in arg or sys.prefix in arg], command
    attempts = result["attempts"]
    assert attempts["read_key"].startswith("denied")
    assert attempts["ipc_connect"].startswith("denied")
    for cmd in ("status", "shutdown"):
        assert attempts[f"tcp_plain_{cmd}"] == "no reply"
        assert attempts[f"tcp_curve_own_key_{cmd}"] == "no reply"
    assert result["daemon_still_running"] and result["attacker_requests_served"] == 0
    assert result["refused_curve_clients"] >= 2
    impostor = result["impostor"]
    assert not impostor["audio_received"] and impostor["bytes_received"] < 1024
    assert "nothing was sent" in impostor["client_said"]
    assert impostor["ipc_bind"].startswith("denied")
    assert json.dumps(result)  # figures are plain data for the report


def test_a_client_kept_open_across_a_daemon_restart_proves_the_new_one():
    with short_dir() as d:
        synthetic_db(d, size=3)
        with serve(d) as (_, endpoint):
            client = Client(endpoint, timeout_ms=5000)
            first = client.status()["uptime_s"]
        with serve(d):  # a new daemon on the same endpoint, same key
            second = client.status()
        client.close()
    assert first >= 0 and second["requests_served"] == 0  # answered by the new daemon
