"""The daemon's side of CurveZMQ: its socket's keys and the ZAP handler that admits the user.

The ZAP handler (pyzmq's ThreadAuthenticator, a thread answering libzmq's
``inproc://zeromq.zap.01`` requests) admits a CURVE client only when its long-term public key
is the user's client key from the key file. The socket sets ZMQ_ZAP_ENFORCE_DOMAIN, so a
missing or dead handler refuses every client instead of admitting them all (libzmq's default).
Refusals happen in the handshake: a refused client never gets a message to the daemon's loop,
so `status` and `shutdown` are as unreachable as `match`.
"""

from __future__ import annotations

import logging

import zmq
from zmq.auth.thread import ThreadAuthenticator

from cir.daemon.errors import DaemonError
from cir.daemon.logs import LOGGER_NAME
from cir.protocol.keys import UserKeys

# ZAP domain of the daemon's CURVE socket (the authenticator answers only for it).
DAEMON_ZAP_DOMAIN = "cir"

log = logging.getLogger(LOGGER_NAME)


class _UserKeyOnly:
    """ZAP credentials provider: the user's client key, nothing else."""

    def __init__(self, client_public: bytes):
        self._allowed = client_public
        self.refused = 0

    def callback(self, domain: str, key: bytes) -> bool:
        if key == self._allowed:
            return True
        self.refused += 1
        log.info("refused a CURVE client with an unknown key (%d refused so far)", self.refused)
        return False


class Gatekeeper:
    """The ZAP handler thread of one context, admitting only `keys.client_public`."""

    def __init__(self, ctx: zmq.Context, keys: UserKeys):
        if not zmq.has("curve"):
            raise DaemonError(
                "this pyzmq's libzmq has no CURVE support, so the daemon cannot authenticate "
                "clients; install a pyzmq wheel (they ship with CURVE)"
            )
        self.keys = keys
        self.provider = _UserKeyOnly(keys.client_public)
        self._auth = ThreadAuthenticator(ctx, log=logging.getLogger(f"{LOGGER_NAME}.zap"))
        self._auth.start()
        self._auth.configure_curve_callback(DAEMON_ZAP_DOMAIN, self.provider)

    @property
    def refused(self) -> int:
        """CURVE clients refused so far (wrong or unknown key)."""
        return self.provider.refused

    def alive(self) -> bool:
        return self._auth.is_alive()

    def secure(self, sock: zmq.Socket) -> None:
        """Make `sock` (before bind) a CURVE server for the user's keys, ZAP enforced."""
        sock.curve_server = True
        sock.curve_secretkey = self.keys.server_secret
        sock.curve_publickey = self.keys.server_public
        sock.zap_domain = DAEMON_ZAP_DOMAIN.encode()
        enforce = getattr(zmq, "ZAP_ENFORCE_DOMAIN", None)
        if enforce is not None:
            try:
                sock.setsockopt(enforce, 1)
            except zmq.ZMQError:  # a libzmq without the draft option: the handler still runs
                log.warning("libzmq lacks ZMQ_ZAP_ENFORCE_DOMAIN; relying on the ZAP thread")

    def stop(self) -> None:
        self._auth.stop()
