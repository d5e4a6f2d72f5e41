"""Helpers for the daemon, protocol and demo tests: real daemons on real sockets in temp dirs."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import zmq

from cir.benchmarks.workload import synthetic_catalogue
from cir.daemon.server import Server, ServerConfig
from cir.protocol.keys import UserKeys, load_keys

REPO = Path(__file__).resolve().parents[1]


@functools.cache
def mfcc():
    """The MFCC-80 embedder (real, fast to load), shared by the tests of one process."""
    from cir.encoder.baseline import MFCCEmbedder

    return MFCCEmbedder()


@contextlib.contextmanager
def short_dir() -> Iterator[Path]:
    """A short temp dir: ipc socket paths must stay under ~100 characters."""
    path = Path(tempfile.mkdtemp(prefix="cir-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def synthetic_db(directory: Path, size: int = 30) -> Path:
    """A real catalogue whose vectors are random (families round-robin)."""
    return synthetic_catalogue(directory / "catalogue.db", size, mfcc())


@contextlib.contextmanager
def serve(directory: Path, observer=None, extensions=(), **options
          ) -> Iterator[tuple[Server, str]]:
    """A Server in a thread on an ipc endpoint in `directory`; stopped and joined at exit.
    `options`: ServerConfig fields; `observer` sees each valid match request."""
    endpoint = f"ipc://{directory / 'd.sock'}"
    options.setdefault("catalogue_path", directory / "catalogue.db")
    options.setdefault("embedder", mfcc())
    options.setdefault("lock_path", directory / "daemon.lock")
    options.setdefault("warm_up", False)
    server = Server(ServerConfig(endpoints=[endpoint], **options), extensions)
    server.observer = observer
    thread = server.serve_in_thread()
    try:
        yield server, endpoint
    finally:
        server.stop()
        thread.join(10)
        assert not thread.is_alive(), "the daemon thread did not stop"


class Raw:
    """A raw DEALER socket for malformed traffic: send any frames, receive with a timeout.

    It speaks CURVE with the user's keys (`key_file`, default the user's key file), or with
    `keys` given, or with no security at all (`curve=False`): what another user could do.
    """

    def __init__(self, endpoint: str, key_file: Path | None = None, *, curve: bool = True,
                 keys: UserKeys | None = None):
        self.ctx = zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        if curve:
            keys = keys or load_keys(key_file)
            self.sock.curve_serverkey = keys.server_public
            self.sock.curve_publickey = keys.client_public
            self.sock.curve_secretkey = keys.client_secret
        self.sock.connect(endpoint)

    def send(self, frames: list[bytes], copy: bool = True) -> None:
        self.sock.send_multipart(frames, copy=copy)

    def recv(self, timeout_ms: int = 5000) -> list[bytes] | None:
        if self.sock.poll(timeout_ms):
            return self.sock.recv_multipart()
        return None

    def close(self) -> None:
        self.sock.close(0)


def spawn_daemon(
    directory: Path, observer: str = "None", extra: str = "", server_args: str = ""
) -> subprocess.Popen:
    """A daemon subprocess (main thread: real signal handlers) on `directory`/d.sock.

    `observer` is Python source for the observer callable (sees each valid match request);
    `server_args` more ServerConfig fields, as source ("memory_headroom=10**8").
    """
    code = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from cir.daemon.server import Server, ServerConfig
        from cir.daemon.logs import setup_logging
        from cir.encoder.baseline import MFCCEmbedder
        setup_logging(Path({str(directory / 'daemon.log')!r}))
        {extra}
        server = Server(ServerConfig(
            endpoints=[{f'ipc://{directory / "d.sock"}'!r}],
            catalogue_path={str(directory / 'catalogue.db')!r},
            embedder=MFCCEmbedder(), lock_path={str(directory / 'daemon.lock')!r},
            warm_up=False, {server_args}))
        server.observer = {observer}
        sys.exit(0 if server.run() >= 0 else 1)
    """)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env)


def match_while_daemon_is_killed(directory: Path, **client_options) -> dict:
    """A daemon subprocess receives a match and is SIGKILLed while it handles it; returns what
    the client said: {"endpoint", "error" (DaemonUnavailableError's text), "seconds" (its
    whole wait), "after_kill" (seconds from the kill to the answer)}."""
    import signal
    import threading

    from cir.benchmarks.workload import query_loop
    from cir.protocol.client import Client, DaemonUnavailableError, is_running

    synthetic_db(directory, size=6)
    flag = directory / "in-flight"
    proc = spawn_daemon(directory, observer=f"lambda h, a: (Path({str(flag)!r}).touch(), "
                                            "time.sleep(60))")
    endpoint = f"ipc://{directory / 'd.sock'}"
    outcome: dict = {"endpoint": endpoint}
    try:
        wait_until(lambda: is_running(endpoint, 2000), 60, "daemon up")

        def ask() -> None:
            t0 = time.monotonic()
            try:
                with Client(endpoint, **client_options) as client:
                    client.match(query_loop(1.0, 48_000), 48_000)
            except DaemonUnavailableError as exc:
                outcome["error"] = str(exc)
            outcome["seconds"] = time.monotonic() - t0

        thread = threading.Thread(target=ask)
        thread.start()
        wait_until(flag.exists, 30, "request in flight")
        killed = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        thread.join(40)
        outcome["after_kill"] = time.monotonic() - killed
    finally:
        proc.kill()
        proc.wait()
    return outcome


def wait_until(predicate, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def tiny_heads_checkpoint(path: Path, seed: int = 0, presence: bool = False) -> Path:
    """A small real mix-heads checkpoint (random weights; heads unlike the frozen projection,
    so per-family vectors differ from the shared one). `presence`: heads for all five
    families with a presence head and no shared row (the family-heads kind)."""
    import torch

    from cir.encoder.mix_heads import MixHeadsEncoder, save_heads
    from cir.encoder.model import EncoderConfig, TimbreEncoder, load_model, save_checkpoint
    from cir.families import FAMILIES, MIX_FAMILIES

    torch.manual_seed(seed)
    frozen_path = path.with_suffix(".frozen.pt")
    save_checkpoint(frozen_path, TimbreEncoder(EncoderConfig(channels=(8, 8, 16), dim=16)))
    frozen, version = load_model(frozen_path)
    families = FAMILIES if presence else MIX_FAMILIES
    heads = MixHeadsEncoder.from_encoder(frozen, families, "tiny-heads", presence=presence,
                                         shared_row=not presence)
    with torch.no_grad():
        for p in heads.heads.parameters():
            p.normal_(0.0, 0.3)
    save_heads(path, heads, frozen, version)
    return path


class Impostor:
    """Something bound to the daemon's address that records every byte or message it gets."""

    def __init__(self, kind: str, port: int):
        self.kind, self.received, self.stop = kind, [], threading.Event()
        self.ctx = zmq.Context()
        if kind == "raw-tcp":
            self.sock = socket.create_server(("127.0.0.1", port))
            self.sock.settimeout(0.1)
        else:
            self.sock = self.ctx.socket(zmq.ROUTER)
            if kind == "curve-other-key":
                public, secret = zmq.curve_keypair()
                self.sock.curve_server = True
                self.sock.curve_publickey, self.sock.curve_secretkey = public, secret
            self.sock.bind(f"tcp://127.0.0.1:{port}")
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            if self.kind != "raw-tcp":
                if self.sock.poll(100):
                    self.received.append(b"".join(self.sock.recv_multipart()))
                continue
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            conn.settimeout(0.1)
            while not self.stop.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    break
                self.received.append(data)
            conn.close()

    def close(self) -> bytes:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()
        self.ctx.term()
        return b"".join(self.received)
