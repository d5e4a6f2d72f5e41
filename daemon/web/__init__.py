"""The results page: a local web page, served by the daemon, where answers reach the producer.

    server = Server(..., extensions=[WebPage()])   # the page starts once the daemon serves
    server.status()["web_url"]                     # http://127.0.0.1:47101/

Starlette (routes, static files) on uvicorn (HTTP), run in a thread beside the ZeroMQ loop;
Server-Sent Events (sse-starlette) push each new answer to open pages. Bound to 127.0.0.1 only,
Host/Origin checked, a per-run token for actions, a strict Content-Security-Policy
(security.py). HTML, JavaScript and CSS are package data in static/: nothing is fetched from
anywhere at run time.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import sys
import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from cir import defaults
from cir.daemon.history import History
from cir.daemon.logs import LOGGER_NAME
from cir.errors import CIRError

# Loopback only, always: the page plays your audio and reveals files; no other host may reach it.
WEB_HOST = "127.0.0.1"
# Connections queued while the page's server starts (a browser opens a handful at once).
WEB_LISTEN_BACKLOG = 64

if TYPE_CHECKING:
    from cir.daemon.server import Server

log = logging.getLogger(LOGGER_NAME)


class WebPageError(CIRError):
    """The results page cannot be served (bad port setting)."""


def web_port() -> int | None:
    """The page's port: $CIR_WEB_PORT ("off": no page; 0: any free port), else WEB_PORT."""
    value = os.environ.get(defaults.WEB_PORT_ENV, "").strip().lower()
    if not value:
        return defaults.WEB_PORT
    if value in ("off", "no", "none", "false"):
        return None
    if not value.isdigit() or int(value) > 65535:
        raise WebPageError(
            f"{defaults.WEB_PORT_ENV}={value!r}: expected a port number 0-65535, or 'off'"
        )
    return int(value)


def _listening_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if sys.platform != "win32":  # on Windows this flag would let another program share it
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(False)
    sock.listen(WEB_LISTEN_BACKLOG)  # from here on, connections wait for the server
    return sock


def _client_endpoint(endpoints: list[str]) -> str:
    """An endpoint of the daemon that a client on this machine can connect to."""
    for endpoint in endpoints:
        if endpoint.startswith("ipc://"):
            return endpoint
    endpoint = endpoints[0] if endpoints else ""
    return endpoint.replace("://*:", "://127.0.0.1:").replace("://0.0.0.0:", "://127.0.0.1:")


class WebPage:
    """A Server extension: keeps the answer history and serves the page in a thread."""

    def __init__(
        self,
        port: int | None = defaults.WEB_PORT,
        history: History | None = None,
        host: str = WEB_HOST,
    ):
        self.port = port
        self.host = host
        self.history = history or History()
        self.url: str | None = None
        self.problem: str | None = None
        self._uvicorn = None
        self._thread: threading.Thread | None = None
        self._state = None
        self._incoming: queue.SimpleQueue = queue.SimpleQueue()
        self._keeper: threading.Thread | None = None

    # --- Extension ---------------------------------------------------------------------------

    def start(self, server: Server) -> None:
        """Bind the page's port and serve it; a busy port leaves the daemon serving without
        a page (status says why)."""
        if self.port is None:
            self.problem = f"the page is off ({defaults.WEB_PORT_ENV}=off)"
            return
        try:
            sock = _listening_socket(self.host, self.port)
        except OSError as exc:
            self.problem = (
                f"cannot serve the page on {self.host}:{self.port} ({exc.strerror}); another "
                f"program uses the port: set {defaults.WEB_PORT_ENV} to another port"
            )
            log.warning("%s", self.problem)
            return
        self._serve(server, sock)

    def _serve(self, server: Server, sock: socket.socket) -> None:
        import uvicorn

        from cir.daemon.web.app import PageState, build_app
        from cir.daemon.web.catalogue import CatalogueView
        from cir.daemon.web.security import new_token

        port = sock.getsockname()[1]
        self._state = PageState(
            history=self.history,
            catalogue=CatalogueView(server.catalogue_path, lambda: server.matcher.embedder.version),
            token=new_token(),
            endpoint=_client_endpoint(server.endpoints),
            daemon_status=lambda: _daemon_facts(server),
            port=port,
        )
        config = uvicorn.Config(
            build_app(self._state), log_config=None, log_level="warning", access_log=False,
            lifespan="off", timeout_graceful_shutdown=2, server_header=False,
        )
        self._uvicorn = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._uvicorn.run, kwargs={"sockets": [sock]}, name="cir-web", daemon=True
        )
        self._thread.start()
        self.url = f"http://{self.host}:{port}/"
        log.info("results page at %s", self.url)

    def answered(self, header: dict[str, Any], audio: np.ndarray, reply: dict[str, Any]) -> None:
        """Copy the audio (the frame it views is reused) and let the keeper thread shrink it:
        the loop only pays for a copy (about 1 ms for 8 s of 48 kHz stereo)."""
        if self._keeper is None:
            self._keeper = threading.Thread(target=self._keep, name="cir-web-history",
                                            daemon=True)
            self._keeper.start()
        self._incoming.put((dict(header), np.array(audio, dtype=np.float32), reply))

    def _keep(self) -> None:
        while (item := self._incoming.get()) is not None:
            try:
                self.history.add(*item)
            except Exception:
                log.exception("the results page could not keep an answer")

    def status(self) -> dict[str, Any]:
        return {"web_url": self.url, "web_problem": self.problem,
                "answers_kept": len(self.history)}

    def stop(self) -> None:
        if self._keeper is not None:
            self._incoming.put(None)
            self._keeper.join(10)
            self._keeper = None
        if self._state is not None:
            self._state.stopping.set()
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        if self._state is not None:
            self._state.catalogue.close()
        self.url = None

    @property
    def token(self) -> str | None:
        """The run's token (tests; the page reads it from its HTML)."""
        return self._state.token if self._state is not None else None


def _daemon_facts(server: Server) -> dict[str, Any]:
    matcher = server.matcher
    embedder = matcher.embedder
    return {
        "encoder_name": getattr(embedder, "name", type(embedder).__name__),
        "encoder_version": embedder.version,
        "catalogue_path": str(server.catalogue_path),
        "catalogue_size": matcher.size,
        "problem": matcher.index.problem,
        "requests_served": server.requests_served,
        "endpoints": server.endpoints,
    }
