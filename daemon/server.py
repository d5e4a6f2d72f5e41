"""The daemon's one service loop: bootstrap, signals, poll with timeout, handle, teardown.

    server = Server(endpoints=["ipc:///tmp/x.sock"], max_requests=10)
    server.run()           # returns when stopped, idle, or after max_requests

Tests run it in a thread (`Server.serve_in_thread`) or as a subprocess (`python -m cir daemon run`).
Requests are handled one at a time; any number of clients may queue on the ROUTER. Every
request gets exactly one reply, errors included, and the loop keeps serving.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import zmq

from cir import defaults, protocol
from cir import paths as cir_paths
from cir.daemon import paths
from cir.daemon.errors import DaemonError
from cir.daemon.lock import InstanceLock
from cir.daemon.logs import LOGGER_NAME
from cir.daemon.matcher import Matcher
from cir.daemon.preprocess import prepare
from cir.families import FAMILIES
from cir.protocol import ProtocolError, Request

log = logging.getLogger(LOGGER_NAME)

# Called with each valid decoded match request: (header dict, (frames, channels) float32).
Observer = Callable[[dict[str, Any], np.ndarray], None]


class Extension(Protocol):
    """Runs beside the loop (the results page, cir.daemon.web): started once the daemon
    serves, told of every answered match after its reply left, stopped at teardown."""

    def start(self, server: Server) -> None: ...

    def answered(self, header: dict[str, Any], audio: np.ndarray, reply: dict[str, Any]) -> None:
        """`audio` is a view on the received frame: copy what you keep before returning."""

    def status(self) -> dict[str, Any]: ...

    def stop(self) -> None: ...


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 3)


def _prepare_ipc(endpoint: str) -> Path | None:
    """Create an ipc endpoint's directory (0700) and clear a stale socket file; its path."""
    if not endpoint.startswith("ipc://"):
        return None
    path = Path(endpoint[len("ipc://") :])
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
        os.chmod(path.parent, 0o700)  # mkdir's mode is masked by the umask
    # We hold the instance lock (or the caller chose a private path): a file here is stale.
    path.unlink(missing_ok=True)
    return path


class Server:
    """Serve protocol v1 on `endpoints` with one embedder and one catalogue."""

    def __init__(
        self,
        endpoints: Sequence[str] | None = None,
        catalogue_path: str | Path | None = None,
        embedder: Any = None,
        *,
        max_requests: int | None = None,
        idle_timeout: float | None = None,
        observer: Observer | None = None,
        lock_path: str | Path | None = None,
        use_lock: bool = True,
        warm_up: bool = True,
        max_message_bytes: int = defaults.PROTOCOL_MAX_MESSAGE_BYTES,
        extensions: Sequence[Extension] = (),
    ):
        self.endpoints = list(endpoints or protocol.daemon_endpoints())
        self.catalogue_path = Path(catalogue_path or cir_paths.catalogue_path())
        self._embedder_arg = embedder
        self.max_requests = max_requests
        self.idle_timeout = idle_timeout
        self.observer = observer
        self.lock_path = Path(lock_path) if lock_path else paths.lock_path()
        self.use_lock = use_lock
        self.warm_up = warm_up
        self.max_message_bytes = max_message_bytes
        self.extensions = list(extensions)
        self.requests_served = 0
        self.ready = threading.Event()
        self.matcher: Matcher | None = None
        self.started_at = time.time()
        self._stop = threading.Event()
        self._signals = 0
        self._ctx: zmq.Context | None = None
        self._sock: zmq.Socket | None = None
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
            log.info("serving on %s (pid %d)", ", ".join(self.endpoints), os.getpid())
            self._loop()
        finally:
            self._teardown()
        return self.requests_served

    def _bootstrap(self) -> None:
        if self.use_lock:
            self._lock = InstanceLock(self.lock_path).acquire()
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                self._old_handlers[signum] = signal.signal(signum, self._on_signal)
        self.load()
        self._ctx = zmq.Context()
        sock = self._ctx.socket(zmq.ROUTER)
        sock.setsockopt(zmq.MAXMSGSIZE, self.max_message_bytes)
        sock.setsockopt(zmq.LINGER, defaults.DAEMON_LINGER_MS)
        self._sock = sock
        for endpoint in self.endpoints:
            ipc = _prepare_ipc(endpoint)
            try:
                sock.bind(endpoint)
            except zmq.ZMQError as exc:
                raise DaemonError(
                    f"cannot listen on {endpoint} ({exc}); another program uses it: stop it, "
                    f"or set {defaults.ENDPOINT_ENV} to another endpoint"
                ) from None
            if ipc is not None:
                self._ipc_files.append(ipc)
        self.started_at = time.time()

    def load(self) -> Server:
        """Load the embedder and the catalogue once (bootstrap; also for in-process use)."""
        embedder = self._embedder_arg
        if embedder is None or isinstance(embedder, str):
            from cir.encoder.embed import load_embedder

            embedder = load_embedder(embedder)
        if str(getattr(embedder, "device", "cpu")) == "cpu":
            import torch

            torch.set_num_threads(defaults.DAEMON_TORCH_THREADS)
        self.matcher = Matcher(embedder, self.catalogue_path)
        self.matcher.load()
        if self.warm_up:  # the first forward pass is slow (allocations, lazy init)
            noise = np.random.default_rng(0).standard_normal(embedder.sample_rate)
            self.matcher.embed((0.1 * noise).astype(np.float32), FAMILIES)
        return self

    def _loop(self) -> None:
        poller = zmq.Poller()
        poller.register(self._sock, zmq.POLLIN)
        last = time.monotonic()
        while not self._stop.is_set():
            if self.max_requests is not None and self.requests_served >= self.max_requests:
                log.info("served max_requests=%d: exiting", self.max_requests)
                break
            if not poller.poll(defaults.DAEMON_POLL_MS):
                if self.idle_timeout is not None and time.monotonic() - last > self.idle_timeout:
                    log.info("idle for %.1f s: exiting", self.idle_timeout)
                    break
                continue
            frames = self._sock.recv_multipart(copy=False)
            self._handle(frames)
            last = time.monotonic()

    def _teardown(self) -> None:
        for extension in self.extensions:
            extension.stop()
        if self._sock is not None:
            self._sock.close()
        if self._ctx is not None:
            self._ctx.term()
        for path in self._ipc_files:
            path.unlink(missing_ok=True)
        if self.matcher is not None:
            self.matcher.close()
        for signum, handler in self._old_handlers.items():
            signal.signal(signum, handler)
        if self._lock is not None:
            self._lock.release()
        log.info("stopped after %d requests", self.requests_served)

    # --- requests --------------------------------------------------------------------------

    def _handle(self, frames: list[zmq.Frame]) -> None:
        raw = [f.buffer for f in frames]
        envelope, body = protocol.split_envelope([bytes(b) if len(b) < 256 else b for b in raw])
        request, reply = self._respond(body)
        self._sock.send_multipart([bytes(f) for f in envelope] + reply)
        if request is not None and request.cmd == "match" and self.extensions:
            self._tell_extensions(request, reply)

    def _tell_extensions(self, request: Request, reply: list[bytes]) -> None:
        # After the reply left: the page never delays an answer, and never breaks the loop.
        answer = json.loads(bytes(reply[0]))
        for extension in self.extensions:
            try:
                extension.answered(request.header, request.audio, answer)
            except Exception:
                log.exception("extension %s failed on request %s", extension, request.id)

    def respond(self, body: Sequence[bytes | memoryview]) -> list[bytes]:
        """The reply body to a request body: always one reply, never an exception."""
        return self._respond(body)[1]

    def _respond(self, body: Sequence[bytes | memoryview]) -> tuple[Request | None, list[bytes]]:
        t0 = time.perf_counter()
        request_id = protocol.peek_id(body)
        request = None
        try:
            request = protocol.decode_request(body)
            request_id = request.id
            reply = self._dispatch(request, t0)
        except ProtocolError as exc:
            log.info("request %s refused: %s (%s)", request_id, exc.code, exc.message)
            reply = protocol.encode_reply(request_id, exc)
        except Exception as exc:
            log.exception("request %s failed", request_id)
            reply = protocol.encode_reply(
                request_id,
                ProtocolError(
                    "internal_error",
                    f"the daemon failed on this request ({type(exc).__name__}: {exc}); "
                    f"see the log at {paths.log_path()}",
                ),
            )
        self.requests_served += 1
        return request, reply

    def _dispatch(self, request: Request, t0: float) -> list[bytes]:
        if request.cmd == "ping":
            return protocol.encode_reply(request.id, pong=True)
        if request.cmd == "status":
            self.matcher.refresh()
            return protocol.encode_reply(request.id, **self.status())
        if request.cmd == "rebuild":
            size = self.matcher.load()
            return protocol.encode_reply(request.id, catalogue_size=size)
        if request.cmd == "shutdown":
            log.info("shutdown requested by a client")
            self.stop()
            return protocol.encode_reply(request.id, stopping=True, pid=os.getpid())
        return self._match(request, t0)

    def _match(self, request: Request, t0: float) -> list[bytes]:
        options, audio = request.match, request.audio
        decode_ms = _ms(t0)
        if self.observer is not None:
            self.observer(request.header, audio)
        t1 = time.perf_counter()
        prepared = prepare(audio, options.sample_rate, self.matcher.embedder.sample_rate)
        preprocess_ms = _ms(t1)
        results, timing, presence = self.matcher.match(
            prepared.audio, options.k, options.families
        )
        timing = {"decode": decode_ms, "preprocess": preprocess_ms, **timing, "total": _ms(t0)}
        log.info(
            "match %s: %.1f s at %d Hz x %d ch, %.1f ms", request.id,
            options.frames / options.sample_rate, options.sample_rate, options.channels,
            timing["total"],
        )
        return protocol.encode_reply(
            request.id,
            results=results,
            **({"presence": presence} if presence else {}),
            timing_ms=timing,
            warnings=prepared.warnings,
            query={
                "seconds": options.frames / options.sample_rate,
                "sample_rate": options.sample_rate,
                "channels": options.channels,
                "tempo": options.tempo,
                "peak_dbfs": round(prepared.peak_dbfs, 2),
            },
        )

    def status(self) -> dict[str, Any]:
        """What `cir daemon status` shows."""
        embedder = self.matcher.embedder
        return {
            "protocol": protocol.PROTOCOL_VERSION,
            "pid": os.getpid(),
            "endpoints": self.endpoints,
            "encoder_name": getattr(embedder, "name", type(embedder).__name__),
            "encoder_version": embedder.version,
            "device": str(getattr(embedder, "device", "cpu")),
            "catalogue_path": str(self.catalogue_path),
            "catalogue_size": self.matcher.size,
            "uptime_s": round(time.time() - self.started_at, 3),
            "requests_served": self.requests_served,
            "log_path": str(paths.log_path()),
            **{k: v for extension in self.extensions for k, v in extension.status().items()},
        }
