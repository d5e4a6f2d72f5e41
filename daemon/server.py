"""The daemon's service loop: bootstrap, signals, poll with timeout, handle, teardown.

    server = Server(ServerConfig(endpoints=["ipc:///tmp/x.sock"], max_requests=10))
    server.run()           # returns when stopped, idle, or after max_requests

Tests run it in a thread (`Server.serve_in_thread`) or as a subprocess (`python -m cir daemon run`).

Two threads. The loop (the thread that calls `run`) owns the CURVE ROUTER socket: it reads each
message, refuses at once what has too many frames or bytes or finds the queue full (`busy`),
queues the rest (daemon.work), sends the replies, and watches resident memory
(daemon.memory). The matcher thread serves queued requests one at a time, in arrival order,
through the matching core (cir.matching.match): the protocol is decoded and encoded here,
at the socket, and nowhere else. Every request that reaches the loop gets exactly one reply, errors
included, and the loop keeps serving; clients without the user's key never reach it (the
handshake refuses them, daemon.auth).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import zmq

from cir import defaults, protocol
from cir import paths as cir_paths
from cir.daemon import paths
from cir.daemon.auth import Gatekeeper
from cir.daemon.constants import DAEMON_MEMORY_HEADROOM_BYTES
from cir.daemon.errors import DaemonError
from cir.daemon.lock import InstanceLock
from cir.daemon.logs import LOGGER_NAME
from cir.daemon.memory import MemoryGuard, release_large_blocks, rss_bytes
from cir.daemon.picks import pick_reply
from cir.daemon.previews import preview_reply
from cir.daemon.work import Job, Worker, WorkQueue
from cir.matching.core import Matcher, match, ms_since
from cir.presets_db.shared import catalogue_ref, redact
from cir.protocol import ProtocolError, Request
from cir.protocol.keys import ensure_keys, key_path
from cir.query import QueryError

# Poll timeout of the service loop: how quickly it notices a signal, an idle deadline or
# memory past the guard's ceiling.
DAEMON_POLL_MS = 50
# Socket linger on close, ms: a reply in flight gets this long to leave, then it is dropped.
DAEMON_LINGER_MS = 200
# Requests waiting for the matcher, in number and in bytes: beyond either, a request is refused
# at once with `busy` instead of queueing without bound. 32 clients with an 8 s stereo loop
# each (about 100 MB) fit.
DAEMON_QUEUE_MAX_REQUESTS = 64
DAEMON_QUEUE_MAX_BYTES = 256 * 1024 * 1024
# Messages libzmq may hold per connection before the daemon has read them (ZMQ_RCVHWM), and
# replies per connection not yet sent (ZMQ_SNDHWM).
DAEMON_RCVHWM = 4
DAEMON_SNDHWM = 16
# A connection that has not finished the CURVE handshake by then is dropped (ZMQ_HANDSHAKE_IVL).
DAEMON_HANDSHAKE_MS = 5_000

log = logging.getLogger(LOGGER_NAME)

# Called with each valid decoded match request: (header dict, (frames, channels) float32).
Observer = Callable[[dict[str, Any], np.ndarray], None]
_WAKE = "inproc://cir-daemon-wake"
# How long a rebind after a memory-guard reset may wait for the old listener to go (s).
_REBIND_S = 2.0


class Extension(Protocol):
    """Runs beside the loop (the results page, cir.daemon.web): started once the daemon
    serves, told of every answered match after its reply left, stopped at teardown."""

    def start(self, server: Server) -> None: ...

    def answered(self, header: dict[str, Any], audio: np.ndarray, reply: dict[str, Any]) -> None:
        """`audio` is a view on the received frame: copy what you keep before returning."""

    def status(self) -> dict[str, Any]: ...

    def stop(self) -> None: ...


def _listening(path: Path) -> bool:
    """True when a process accepts connections on the unix socket at `path`."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(0.5)
        probe.connect(str(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def _ipc_path(endpoint: str) -> Path | None:
    return Path(endpoint[len("ipc://") :]) if endpoint.startswith("ipc://") else None


def _prepare_ipc(endpoint: str, probe: bool = True) -> Path | None:
    """Make an ipc endpoint's directory private and clear a stale socket file; its path.
    `probe`: refuse when a live process listens there (off for our own rebind)."""
    path = _ipc_path(endpoint)
    if path is None:
        return None
    if path.parent == cir_paths.runtime_dir() or not path.parent.exists():
        paths.private_dir(path.parent)  # the user's runtime dir, or one we create: 0700
    if path.exists() or path.is_symlink():
        if probe and _listening(path):
            raise DaemonError(
                f"another process listens at {endpoint}; stop it (`cir daemon stop`) or set "
                f"{defaults.ENDPOINT_ENV} to another endpoint"
            )
        path.unlink()  # we hold the endpoint's lock and nobody listens: a stale file
    return path


@dataclass(frozen=True)
class ServerConfig:
    """What a daemon serves and how: endpoints (None: protocol.daemon_endpoints()), the
    catalogue (None: the user's), the embedder (None: the shipped weights; a name, a path or
    a loaded one), and its limits. The defaults are the user's daemon."""

    endpoints: Sequence[str] | None = None
    catalogue_path: str | Path | None = None
    embedder: Any = None
    max_requests: int | None = None  # stop after this many (tests, benchmarks)
    idle_timeout: float | None = None  # stop after this many idle seconds
    lock_path: str | Path | None = None  # None: the instance's lock in the runtime dir
    use_lock: bool = True
    warm_up: bool = True  # one forward pass at start: the first is slow
    max_message_bytes: int = defaults.PROTOCOL_MAX_MESSAGE_BYTES
    key_file: str | Path | None = None  # None: the user's key (cir.protocol.keys)
    log_path: str | Path | None = None
    memory_headroom: int = DAEMON_MEMORY_HEADROOM_BYTES
    queue_requests: int = DAEMON_QUEUE_MAX_REQUESTS
    queue_bytes: int = DAEMON_QUEUE_MAX_BYTES


class Server:
    """Serve protocol v1 on the config's endpoints with one embedder and one catalogue."""

    # Made by `run` (bootstrap), before anything uses them; teardown closes what exists.
    matcher: Matcher
    guard: MemoryGuard
    gatekeeper: Gatekeeper
    _ctx: zmq.Context
    _sock: zmq.Socket
    _wake_rx: zmq.Socket
    _wake_tx: zmq.Socket
    _worker: Worker

    def __init__(self, config: ServerConfig | None = None, extensions: Sequence[Extension] = ()):
        self.config = config = config or ServerConfig()
        self.endpoints = list(
            protocol.daemon_endpoints() if config.endpoints is None else config.endpoints
        )
        self.instance = paths.instance_name(self.endpoints)
        self.catalogue_path = catalogue_ref(config.catalogue_path, cir_paths.catalogue_path)
        self.max_requests = config.max_requests
        # Called with each valid decoded match request before it is matched (tests set it).
        self.observer: Observer | None = None
        self.lock_path = (Path(config.lock_path) if config.lock_path
                          else paths.lock_path(self.instance))
        self.extensions = list(extensions)
        self.key_file = Path(config.key_file) if config.key_file else key_path()
        self.log_path = Path(config.log_path) if config.log_path else paths.log_path(self.instance)
        self.requests_served = 0
        self.ready = threading.Event()
        self.started_at = time.time()
        self.queue = WorkQueue(config.queue_requests, config.queue_bytes)
        self._stop = threading.Event()
        self._signals = 0
        self._count_lock = threading.Lock()
        self._epoch = 0  # bumped when the socket is replaced: older envelopes are void
        self._replies: deque[tuple[Job, list[bytes]]] = deque()
        self._lock: InstanceLock | None = None
        self._ipc_files: list[Path] = []
        self._old_handlers: dict[int, Any] = {}

    # --- control ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the loop to exit after the request in flight (thread- and signal-safe)."""
        self._stop.set()

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self._signals += 1
        if self._signals > 1 and signum == signal.SIGINT:
            raise KeyboardInterrupt  # second Ctrl+C: leave now
        log.info("signal %d: finishing the request in flight, then exiting", signum)
        self.stop()

    def serve_in_thread(self, timeout: float = 60.0) -> threading.Thread:
        """Start `run` in a daemon thread and wait until it serves (tests)."""
        errors: list[BaseException] = []

        def target() -> None:
            try:
                self.run()
            except BaseException as exc:
                errors.append(exc)
                self.ready.set()

        thread = threading.Thread(target=target, name="cir-daemon", daemon=True)
        thread.start()
        if not self.ready.wait(timeout) or errors:
            raise errors[0] if errors else DaemonError("daemon thread did not start in time")
        return thread

    # --- the loop --------------------------------------------------------------------------

    def run(self) -> int:
        """Serve until stopped, idle, or max_requests; returns the number of requests served."""
        try:
            self._bootstrap()
            for extension in self.extensions:
                extension.start(self)
            self.ready.set()
            log.info(
                "serving on %s (pid %d, instance %s, memory ceiling %s MB)",
                ", ".join(self.endpoints), os.getpid(), self.instance,
                round(self.guard.ceiling / 1e6) if self.guard.ceiling else "none",
            )
            self._loop()
        finally:
            self._teardown()
        return self.requests_served

    def _bootstrap(self) -> None:
        if self.config.use_lock:
            self._lock = InstanceLock(self.lock_path).acquire()
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                self._old_handlers[signum] = signal.signal(signum, self._on_signal)
        release_large_blocks()
        keys = ensure_keys(self.key_file)  # the first start creates the user's key
        self.load()
        self._ctx = zmq.Context()
        self.gatekeeper = Gatekeeper(self._ctx, keys)
        self._wake_rx = self._ctx.socket(zmq.PAIR)
        self._wake_rx.bind(f"{_WAKE}-{id(self)}")
        self._wake_tx = self._ctx.socket(zmq.PAIR)
        self._wake_tx.connect(f"{_WAKE}-{id(self)}")
        self._sock = self._open_socket()
        self._worker = Worker(self.queue, self._handle_job)
        self._worker.start()
        # The baseline: model and catalogue loaded.
        self.guard = MemoryGuard(self.config.memory_headroom)
        self.started_at = time.time()

    def _open_socket(self, rebind_s: float = 0.0) -> zmq.Socket:
        sock = self._ctx.socket(zmq.ROUTER)
        self.gatekeeper.secure(sock)
        sock.setsockopt(zmq.MAXMSGSIZE, self.config.max_message_bytes)
        sock.setsockopt(zmq.RCVHWM, DAEMON_RCVHWM)
        sock.setsockopt(zmq.SNDHWM, DAEMON_SNDHWM)
        sock.setsockopt(zmq.HANDSHAKE_IVL, DAEMON_HANDSHAKE_MS)
        sock.setsockopt(zmq.LINGER, DAEMON_LINGER_MS)
        try:
            for endpoint in self.endpoints:
                ipc = _prepare_ipc(endpoint, probe=rebind_s == 0)
                self._bind(sock, endpoint, rebind_s)
                if ipc is not None and ipc not in self._ipc_files:
                    self._ipc_files.append(ipc)
        except BaseException:
            sock.close(linger=0)
            raise
        return sock

    @staticmethod
    def _bind(sock: zmq.Socket, endpoint: str, wait_s: float) -> None:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                sock.bind(endpoint)
                return
            except zmq.ZMQError as exc:
                if time.monotonic() < deadline:  # the old listener is still closing
                    time.sleep(0.02)
                    continue
                raise DaemonError(
                    f"cannot listen on {endpoint} ({exc}); another program uses it: stop it, "
                    f"or set {defaults.ENDPOINT_ENV} to another endpoint"
                ) from None

    def load(self) -> Server:
        """Load the embedder and the catalogue once (at bootstrap)."""
        self.matcher = Matcher(self.catalogue_path, self.config.embedder,
                               warm_up=self.config.warm_up)
        return self

    def _loop(self) -> None:
        last = time.monotonic()
        while not self._stop.is_set():
            if self.max_requests is not None and self.requests_served >= self.max_requests:
                log.info("served max_requests=%d: exiting", self.max_requests)
                break
            if not self._worker.is_alive() or not self.gatekeeper.alive():
                raise DaemonError("the matcher or the key checker thread died: stopping")
            poller = zmq.Poller()
            poller.register(self._sock, zmq.POLLIN)
            poller.register(self._wake_rx, zmq.POLLIN)
            ready = dict(poller.poll(DAEMON_POLL_MS))
            if self._wake_rx in ready:
                self._deliver()
            if self._sock in ready:
                self._admit(self._sock.recv_multipart(copy=False))
                last = time.monotonic()
            elif not ready and self._idle(last):
                break
            if (rss := self.guard.over()) is not None:
                self._reset_socket(rss)
        self._finish()

    def _idle(self, last: float) -> bool:
        timeout = self.config.idle_timeout
        if timeout is None or len(self.queue) or self.queue.in_flight:
            return False
        if time.monotonic() - last > timeout:
            log.info("idle for %.1f s: exiting", timeout)
            return True
        return False

    def _admit(self, frames: list[zmq.Frame]) -> None:
        """Refuse at once what is malformed or finds the queue full; queue the rest."""
        raw = [f.buffer for f in frames]
        envelope, body = protocol.split_envelope([bytes(b) if len(b) < 256 else b for b in raw])
        envelope = [bytes(f) for f in envelope]
        job = Job(envelope, body, sum(len(b) for b in body), self._epoch)
        try:
            protocol.check_message(body)
            if not self.queue.offer(job):
                raise ProtocolError(
                    "busy",
                    f"the daemon has {len(self.queue)} requests waiting "
                    f"({self.queue.bytes // 1_000_000} MB); try again in a moment",
                )
        except ProtocolError as exc:
            request_id = protocol.peek_id(body)
            log.info("request %s refused: %s (%s)", request_id, exc.code, exc.message)
            self._count()
            self._send(envelope, protocol.encode_reply(request_id, exc))

    def _post(self, job: Job, reply: list[bytes]) -> None:
        """Matcher thread: hand a reply to the loop and wake it."""
        self._replies.append((job, reply))
        self._wake_tx.send(b"")

    def _deliver(self) -> None:
        while self._wake_rx.poll(0):
            self._wake_rx.recv()
        while self._replies:
            job, reply = self._replies.popleft()
            if job.epoch == self._epoch:
                self._send(job.envelope, reply)

    def _send(self, envelope: list[bytes], reply: list[bytes]) -> None:
        try:
            self._sock.send_multipart(envelope + reply, flags=zmq.DONTWAIT)
        except zmq.Again:  # that client stopped reading (its send queue is full): drop it
            log.info("reply dropped: the client is not reading its replies")

    def _reset_socket(self, rss: int) -> None:
        """Memory guard: drop every connection and queued request, then listen again."""
        dropped = self.queue.drain()
        self._sock.close(linger=0)
        self._epoch += 1
        # libzmq's I/O thread closes the old listeners a moment later and removes their ipc
        # files: wait for that, or it could remove the new socket's file.
        deadline = time.monotonic() + _REBIND_S
        while any(p.exists() for p in self._ipc_files) and time.monotonic() < deadline:
            time.sleep(0.01)
        self._sock = self._open_socket(rebind_s=_REBIND_S)
        self.guard.tripped(rss)
        log.warning("memory guard: %d queued requests dropped without reply", len(dropped))

    def _finish(self) -> None:
        """Stopping: answer what was queued but not started, wait for the request in flight."""
        for job in self.queue.drain():
            error = ProtocolError(
                "shutting_down", "the daemon is stopping; start it again and resend"
            )
            self._count()
            self._send(job.envelope, protocol.encode_reply(protocol.peek_id(job.body), error))
        while self.queue.in_flight or self._replies:
            if self._wake_rx.poll(DAEMON_POLL_MS):
                self._deliver()

    def _teardown(self) -> None:
        for extension in self.extensions:
            extension.stop()
        self.queue.close()
        # A start that failed half-way made only some of these.
        made = vars(self)
        if "_worker" in made:
            self._worker.join(DAEMON_LINGER_MS / 1000.0 + 5.0)
        for name in ("_sock", "_wake_rx", "_wake_tx"):
            if name in made:
                made[name].close(linger=DAEMON_LINGER_MS if name == "_sock" else 0)
        if "gatekeeper" in made:
            self.gatekeeper.stop()
        if "_ctx" in made:
            self._ctx.term()
        for path in self._ipc_files:
            path.unlink(missing_ok=True)
        if "matcher" in made:
            self.matcher.close()
        for signum, handler in self._old_handlers.items():
            signal.signal(signum, handler)
        if self._lock is not None:
            self._lock.release()
        log.info("stopped after %d requests", self.requests_served)

    # --- requests --------------------------------------------------------------------------

    def _handle_job(self, job: Job) -> None:
        """Matcher thread: answer one queued request, then tell the extensions."""
        request, reply = self._respond(job.body)
        self._post(job, reply)
        if request is not None and request.cmd == "match" and self.extensions:
            self._tell_extensions(request, reply)

    def _tell_extensions(self, request: Request, reply: list[bytes]) -> None:
        # After the reply was handed to the loop: the page never delays an answer, and never
        # breaks the matcher.
        answer = json.loads(bytes(reply[0]))
        assert request.audio is not None  # a decoded match request holds its audio
        for extension in self.extensions:
            try:
                extension.answered(request.header, request.audio, answer)
            except Exception:
                log.exception("extension %s failed on request %s", extension, request.id)

    def _count(self) -> None:
        with self._count_lock:
            self.requests_served += 1

    def _respond(self, body: Sequence[bytes | memoryview]) -> tuple[Request | None, list[bytes]]:
        """(the request if it decoded, the reply body): always one reply, never an exception."""
        t0 = time.perf_counter()
        request_id = None
        request = None
        try:
            request_id = protocol.peek_id(body)
            request = protocol.decode_request(body)
            request_id = request.id
            reply = self._dispatch(request, t0)
            limit = protocol.reply_limit(request.match.k if request.match else 0)
            if len(reply[0]) > limit:
                raise ProtocolError(
                    "reply_too_large",
                    f"the reply would be {len(reply[0])} bytes, over the {limit}-byte limit "
                    "for this k; ask for fewer suggestions",
                )
        except QueryError as exc:
            log.info("request %s refused: %s (%s)", request_id, exc.code, exc.message)
            reply = protocol.encode_reply(request_id, exc)
        except Exception:
            # The client gets an incident number, not the exception (shapes, paths): the log
            # has the details under the same number.
            incident = secrets.token_hex(4)
            log.exception("request %s failed (incident %s)", request_id, incident)
            reply = protocol.encode_reply(
                request_id,
                ProtocolError(
                    "internal_error",
                    f"the daemon failed on this request (incident {incident}); the daemon's "
                    "log has the details: `cir daemon status` shows where it is",
                ),
            )
        self._count()
        return request, reply

    def _dispatch(self, request: Request, t0: float) -> list[bytes]:
        if request.cmd == "ping":
            return protocol.encode_reply(request.id, pong=True)
        if request.cmd == "status":
            self.matcher.index.refresh()
            return protocol.encode_reply(request.id, **self.status())
        if request.cmd == "rebuild":
            size = self.matcher.index.load()
            return protocol.encode_reply(request.id, catalogue_size=size)
        if request.cmd == "shutdown":
            log.info("shutdown requested by a client")
            self.stop()
            return protocol.encode_reply(request.id, stopping=True, pid=os.getpid())
        if request.cmd == "preview":
            return preview_reply(self.catalogue_path, request)
        if request.cmd == "pick":
            return pick_reply(self.catalogue_path, request)
        return self._match(request, t0)

    def _match(self, request: Request, t0: float) -> list[bytes]:
        options, audio = request.match, request.audio
        assert options is not None and audio is not None  # decode_request made both for match
        decode_ms = ms_since(t0)
        if self.observer is not None:
            self.observer(request.header, audio)
        result = match(self.matcher.embedder, self.matcher.index, audio, options.sample_rate,
                       options.k, options.families, tempo=options.tempo)
        timing = {"decode": decode_ms, **result.timing_ms, "total": ms_since(t0)}
        log.info(
            "match %s: %.1f s at %d Hz x %d ch, %.1f ms", request.id,
            options.frames / options.sample_rate, options.sample_rate, options.channels,
            timing["total"],
        )
        return protocol.encode_reply(request.id, **{**result.to_dict(), "timing_ms": timing})

    def status(self) -> dict[str, Any]:
        """What `cir daemon status` shows."""
        embedder = self.matcher.embedder
        guard: MemoryGuard | None = getattr(self, "guard", None)
        return {
            "protocol": protocol.PROTOCOL_VERSION,
            "pid": os.getpid(),
            "endpoints": self.endpoints,
            "instance": self.instance,
            "encoder_name": getattr(embedder, "name", type(embedder).__name__),
            "encoder_version": embedder.version,
            "device": str(getattr(embedder, "device", "cpu")),
            "catalogue_path": redact(str(self.catalogue_path)),
            "catalogue_size": self.matcher.size,
            "uptime_s": round(time.time() - self.started_at, 3),
            "requests_served": self.requests_served,
            "queued": len(self.queue),
            "refused_clients": self.gatekeeper.refused if "gatekeeper" in vars(self) else 0,
            "memory": {
                "rss_bytes": rss_bytes(),
                "ceiling_bytes": guard.ceiling if guard else None,
                "guard_trips": guard.trips if guard else 0,
            },
            "log_path": str(self.log_path),
            "lock_path": str(self.lock_path),
            **{k: v for extension in self.extensions for k, v in extension.status().items()},
        }

