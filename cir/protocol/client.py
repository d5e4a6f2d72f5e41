"""The Python bridge's client: protocol v1 over a DEALER socket, zguide "Lazy Pirate" style.

Each try waits `timeout_ms` for the reply; on silence it closes the socket (dropping anything
queued), reconnects and resends, up to `retries` tries, then raises DaemonUnavailableError
with one line: "daemon not running at <endpoint>; start it with `cir daemon start`".

    with Client() as client:
        reply = client.match(audio, 48_000, k=5)
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import zmq

from cir import defaults, protocol
from cir.errors import CIRError


class ClientError(CIRError):
    """Base class of the bridge client's errors."""


class DaemonUnavailableError(ClientError):
    """No reply from the daemon after every retry: it is not running (or is stuck)."""


class RequestRefusedError(ClientError):
    """The daemon answered with an error; `code` is the protocol error code."""

    def __init__(self, code: str, message: str):
        super().__init__(f"daemon refused the request: {message} ({code})")
        self.code = code


class Client:
    """A reconnecting request/reply client for one daemon endpoint."""

    def __init__(
        self,
        endpoint: str | None = None,
        timeout_ms: int = defaults.CLIENT_TIMEOUT_MS,
        retries: int = defaults.CLIENT_RETRIES,
        context: zmq.Context | None = None,
    ):
        if retries < 1:
            raise ClientError(f"retries={retries}: expected at least 1 try")
        self.endpoint = endpoint or protocol.client_endpoint()
        self.timeout_ms = int(timeout_ms)
        self.retries = int(retries)
        self._own_context = context is None
        self._ctx = context or zmq.Context()
        self._sock: zmq.Socket | None = None

    def _connect(self) -> zmq.Socket:
        if self._sock is None:
            sock = self._ctx.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(self.endpoint)
            self._sock = sock
        return self._sock

    def _reset(self) -> None:
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None

    def close(self) -> None:
        """Close the socket (and the context if this client made it)."""
        self._reset()
        if self._own_context:
            self._ctx.term()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- requests --------------------------------------------------------------------------

    def request(self, body: Sequence[bytes]) -> dict[str, Any]:
        """Send one request body (frames after the delimiter) and return the decoded reply,
        `ok` true or not. Raises DaemonUnavailableError when no reply comes."""
        wanted = protocol.peek_id(body)
        for _ in range(self.retries):
            sock = self._connect()
            sock.send_multipart([b"", *body], copy=len(body) < 2)
            reply = self._await(sock, wanted)
            if reply is not None:
                return reply
            self._reset()  # Lazy Pirate: a fresh socket drops whatever the old one queued
        seconds = self.timeout_ms * self.retries / 1000.0
        raise DaemonUnavailableError(
            f"daemon not running at {self.endpoint}; start it with `cir daemon start` "
            f"(no reply after {self.retries} tries, {seconds:g} s)"
        )

    def _await(self, sock: zmq.Socket, wanted: str | None) -> dict[str, Any] | None:
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        remaining = self.timeout_ms
        end = time.monotonic() + self.timeout_ms / 1000.0
        while remaining > 0:
            if not poller.poll(remaining):
                return None
            frames = sock.recv_multipart()
            body = frames[1:] if frames and frames[0] == b"" else frames
            reply = protocol.decode_reply(body)
            if wanted is None or reply.get("id") in (wanted, None):
                return reply
            # A late reply to an earlier, abandoned request: skip it and keep waiting.
            remaining = int((end - time.monotonic()) * 1000)
        return None

    def call(self, body: Sequence[bytes]) -> dict[str, Any]:
        """Like `request`, but an error reply raises RequestRefusedError."""
        reply = self.request(body)
        if not reply.get("ok"):
            error = reply.get("error") or {}
            raise RequestRefusedError(
                error.get("code", "unknown"), error.get("message", "no message")
            )
        return reply

    def ping(self) -> dict[str, Any]:
        return self.call(protocol.encode_request("ping"))

    def status(self) -> dict[str, Any]:
        return self.call(protocol.encode_request("status"))

    def rebuild(self) -> dict[str, Any]:
        return self.call(protocol.encode_request("rebuild"))

    def shutdown(self) -> dict[str, Any]:
        return self.call(protocol.encode_request("shutdown"))

    def match(
        self,
        audio: np.ndarray,
        sample_rate: int,
        *,
        k: int = defaults.MATCH_DEFAULT_K,
        families: Sequence[str] | None = None,
        tempo: float | None = None,
    ) -> dict[str, Any]:
        """Suggestions for `audio` ((frames,) or (frames, channels) float): the reply dict with
        "results" per family."""
        body = protocol.encode_match(audio, sample_rate, k=k, families=families, tempo=tempo)
        return self.call(body)


def is_running(endpoint: str | None = None, timeout_ms: int = defaults.CLIENT_PROBE_TIMEOUT_MS):
    """True when a daemon answers a ping at `endpoint` within `timeout_ms` (one try)."""
    endpoint = endpoint or protocol.client_endpoint()
    if not ipc_socket_exists(endpoint):
        return False  # nobody is bound there: no need to wait for a reply
    try:
        with Client(endpoint, timeout_ms=timeout_ms, retries=1) as client:
            client.ping()
    except ClientError:
        return False
    return True


def ipc_socket_exists(endpoint: str) -> bool:
    """False only for an ipc endpoint whose socket file is missing (no daemon is bound)."""
    if not endpoint.startswith("ipc://"):
        return True
    return os.path.exists(endpoint[len("ipc://") :])
