"""The Python bridge's client: protocol v1 over a CURVE DEALER socket, zguide "Lazy Pirate" style.

Before a request leaves, the client completes a CurveZMQ handshake with the daemon's public key
(cir.protocol.keys): only the user's daemon can complete it, so audio never reaches a process
that took the daemon's address. A socket monitor reports how the connection went:

- nothing listens (connection refused, no ipc socket): DaemonUnavailableError at once;
- the peer fails the handshake: NotYourDaemonError ("not your CIR daemon"), nothing sent;
- the daemon refuses this client's key: KeyRefusedError;
- the connection drops while a reply is awaited (the daemon died): the try ends at once.

Each try then waits `timeout_ms` for the reply; on silence it closes the socket (dropping
anything queued), reconnects and resends, up to `retries` tries, then raises
DaemonUnavailableError with one line: "daemon not running at <endpoint>; start it with
`cir daemon start`".

    with Client() as client:
        reply = client.match(audio, 48_000, k=5)
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import zmq
from zmq.utils.monitor import parse_monitor_message

from cir import defaults, protocol
from cir.errors import CIRError
from cir.protocol.keys import KeyFileError, UserKeys, key_path, load_keys

# Per-try reply timeout, ms: long enough for a cold first match on CPU.
CLIENT_TIMEOUT_MS = 10_000
# Tries before the client says the daemon is not running.
CLIENT_RETRIES = 3
# How long a client waits for a TCP/ipc connection before saying no daemon runs (a refused
# connection is known at once), and then for the CURVE handshake that proves it is the user's
# daemon, ms. The second is generous: a busy machine may be slow to schedule the daemon.
CLIENT_CONNECT_TIMEOUT_MS = 1_000
CLIENT_HANDSHAKE_TIMEOUT_MS = 5_000

_HANDSHAKE_FAILED = (
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL,
    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
)
_MONITORED = (
    zmq.EVENT_CONNECTED
    | zmq.EVENT_CLOSED
    | zmq.EVENT_CONNECT_RETRIED
    | zmq.EVENT_DISCONNECTED
    | zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
)


class ClientError(CIRError):
    """Base class of the bridge client's errors."""


class DaemonUnavailableError(ClientError):
    """No reply from the daemon after every retry: it is not running (or is stuck)."""


class NotYourDaemonError(DaemonUnavailableError):
    """Something answers at the endpoint but fails the handshake: it is not the user's daemon."""


class KeyRefusedError(DaemonUnavailableError):
    """The daemon at the endpoint refused this client's key (it was started with another)."""


class RequestRefusedError(ClientError):
    """The daemon answered with an error; `code` is the protocol error code."""

    def __init__(self, code: str, message: str):
        super().__init__(f"daemon refused the request: {message} ({code})")
        self.code = code


def not_running(endpoint: str, detail: str = "") -> DaemonUnavailableError:
    """The one-line error every caller shows when no daemon answers at `endpoint`."""
    tail = f" ({detail})" if detail else ""
    return DaemonUnavailableError(
        f"daemon not running at {endpoint}; start it with `cir daemon start`{tail}"
    )


class _Connection:
    """One DEALER socket with its monitor, connected and past the CURVE handshake."""

    def __init__(self, ctx: zmq.Context, endpoint: str, keys: UserKeys, max_reply: int):
        self.sock = ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.MAXMSGSIZE, max_reply)
        self.sock.curve_serverkey = keys.server_public
        self.sock.curve_publickey = keys.client_public
        self.sock.curve_secretkey = keys.client_secret
        self.monitor = self.sock.get_monitor_socket(_MONITORED)
        self.dropped = False  # the daemon went away after the handshake
        self.sock.connect(endpoint)

    def handshake(self, endpoint: str, connect_ms: int, handshake_ms: int) -> None:
        """Wait until the daemon proved its key; raise a named error otherwise."""
        start = time.monotonic()
        connected = False
        failures = 0
        last = 0
        while True:
            limit = handshake_ms if connected else connect_ms
            left = start + limit / 1000.0 - time.monotonic()
            if left <= 0:
                if connected:
                    raise DaemonUnavailableError(
                        f"no CIR daemon answers at {endpoint}: a process accepts connections "
                        f"there but did not complete the key handshake within {limit} ms (a "
                        "stuck daemon, or another program on that address); nothing was sent"
                    )
                raise not_running(endpoint, "no connection")
            if not self.monitor.poll(max(1, int(left * 1000))):
                continue
            event = parse_monitor_message(self.monitor.recv_multipart())["event"]
            last, previous = event, last
            if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                return
            if event == zmq.EVENT_CONNECTED:
                connected, start = True, time.monotonic()
            elif event == zmq.EVENT_CONNECT_RETRIED and previous == zmq.EVENT_CLOSED:
                # The connection attempt itself failed (refused, no socket file): nobody
                # listens. (A retry after a dropped connection follows DISCONNECTED instead.)
                raise not_running(endpoint)
            elif event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                raise KeyRefusedError(
                    f"the daemon at {endpoint} refused this user's key ({key_path()}): it runs "
                    "with another key file; restart it with `cir daemon stop` and "
                    "`cir daemon start` under the same CIR_HOME"
                )
            elif event in _HANDSHAKE_FAILED:
                # A protocol failure (another mechanism, bad cryptography) is a verdict. A peer
                # that just closed the connection may be a daemon dying at that moment: libzmq
                # reconnects at once, and a second close (or nothing listening) decides.
                failures += 1
                connected, start = False, time.monotonic()
                if event == zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL and failures < 2:
                    continue
                raise NotYourDaemonError(
                    f"the process at {endpoint} is not your CIR daemon (it failed the key "
                    "handshake); nothing was sent to it. Stop that program, or set CIR_ENDPOINT "
                    "to your daemon's address"
                )

    def watch(self) -> None:
        """Note a dropped connection (read the monitor without blocking)."""
        while self.monitor.poll(0):
            event = parse_monitor_message(self.monitor.recv_multipart())["event"]
            if event == zmq.EVENT_DISCONNECTED:
                self.dropped = True

    def close(self) -> None:
        with contextlib.suppress(zmq.ZMQError):
            self.sock.disable_monitor()
        self.monitor.close(linger=0)
        self.sock.close(linger=0)


class Client:
    """A reconnecting, authenticated request/reply client for one daemon endpoint."""

    def __init__(
        self,
        endpoint: str | None = None,
        timeout_ms: int = CLIENT_TIMEOUT_MS,
        retries: int = CLIENT_RETRIES,
        context: zmq.Context | None = None,
        keys: UserKeys | None = None,
        connect_timeout_ms: int = CLIENT_CONNECT_TIMEOUT_MS,
        handshake_timeout_ms: int = CLIENT_HANDSHAKE_TIMEOUT_MS,
    ):
        if retries < 1:
            raise ClientError(f"retries={retries}: expected at least 1 try")
        self.endpoint = endpoint or protocol.client_endpoint()
        self.timeout_ms = int(timeout_ms)
        self.retries = int(retries)
        self.connect_timeout_ms = int(connect_timeout_ms)
        self.handshake_timeout_ms = int(handshake_timeout_ms)
        self._keys = keys
        self._own_context = context is None
        self._ctx = context or zmq.Context()
        self._conn: _Connection | None = None

    def _user_keys(self) -> UserKeys:
        if self._keys is None:
            try:
                self._keys = load_keys()
            except KeyFileError as exc:  # no key yet: no daemon was ever started here
                raise not_running(self.endpoint, str(exc)) from None
        return self._keys

    def _connect(self) -> _Connection:
        if self._conn is not None:
            self._conn.watch()
            if self._conn.dropped:  # the daemon went away since the last request: prove the
                self._reset()  # one there now before sending anything
        if self._conn is None:
            conn = _Connection(self._ctx, self.endpoint, self._user_keys(), protocol.reply_limit())
            try:
                conn.handshake(self.endpoint, self.connect_timeout_ms, self.handshake_timeout_ms)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _reset(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

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

    def request(self, body: Sequence[bytes], max_reply: int | None = None) -> dict[str, Any]:
        """Send one request body (frames after the delimiter) and return the decoded reply,
        `ok` true or not. Raises DaemonUnavailableError (or a subclass) when no reply comes."""
        wanted = protocol.peek_id(body)
        for _ in range(self.retries):
            conn = self._connect()
            conn.sock.send_multipart([b"", *body], copy=len(body) < 2)
            reply = self._await(conn, wanted, max_reply)
            if reply is not None:
                return reply
            self._reset()  # Lazy Pirate: a fresh socket drops whatever the old one queued
        seconds = self.timeout_ms * self.retries / 1000.0
        raise not_running(self.endpoint, f"no reply after {self.retries} tries, {seconds:g} s")

    def _await(
        self, conn: _Connection, wanted: str | None, max_reply: int | None
    ) -> dict[str, Any] | None:
        poller = zmq.Poller()
        poller.register(conn.sock, zmq.POLLIN)
        poller.register(conn.monitor, zmq.POLLIN)
        end = time.monotonic() + self.timeout_ms / 1000.0
        while (remaining := int((end - time.monotonic()) * 1000)) > 0:
            ready = dict(poller.poll(remaining))
            if conn.monitor in ready:
                conn.watch()
                if conn.dropped and conn.sock not in ready:
                    return None  # the daemon went away: retry now, not after the timeout
            if conn.sock not in ready:
                continue
            frames = conn.sock.recv_multipart()
            body = frames[1:] if frames and frames[0] == b"" else frames
            reply = protocol.decode_reply(body, max_reply)
            if wanted is None or reply.get("id") in (wanted, None):
                return reply
            # A late reply to an earlier, abandoned request: skip it and keep waiting.
        return None

    def call(self, body: Sequence[bytes], max_reply: int | None = None) -> dict[str, Any]:
        """Like `request`, but an error reply raises RequestRefusedError."""
        reply = self.request(body, max_reply)
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
        source: str | None = None,
    ) -> dict[str, Any]:
        """Suggestions for `audio` ((frames,) or (frames, channels) float): the reply dict with
        "results" per family. `source` tells the results page where the query came from."""
        fields = {"source": source} if source is not None else {}
        body = protocol.encode_match(audio, sample_rate, k=k, families=families, tempo=tempo,
                                     **fields)
        return self.call(body, protocol.reply_limit(k))

    def preview(self, preset_id: int, sample_rate: int) -> dict[str, Any]:
        """A catalogue entry's preview, mono at `sample_rate`: the reply with "audio"
        ((frames, 1) float32) and the preset's "name"."""
        body = protocol.encode_request("preview", preset_id=preset_id, sample_rate=sample_rate)
        return self.call(body, protocol.reply_limit())

    def pick(self, preset_id: int, family: str, query: str, source: str = "") -> dict[str, Any]:
        """Record the producer's pick of `preset_id` for the query fingerprint `query` in
        `family`: the reply with "pick_id"."""
        body = protocol.encode_request(
            "pick", preset_id=preset_id, family=family, query=query, source=source
        )
        return self.call(body)


def is_running(endpoint: str | None = None, timeout_ms: int = defaults.CLIENT_PROBE_TIMEOUT_MS):
    """True when the user's daemon answers a ping at `endpoint` within `timeout_ms` (one try).
    Nothing listening is known at once, without waiting for the timeout."""
    endpoint = endpoint or protocol.client_endpoint()
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
    import os

    return os.path.exists(endpoint[len("ipc://") :])
