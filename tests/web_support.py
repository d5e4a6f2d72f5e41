"""Helpers for the results page's tests: a real daemon with its page, raw HTTP, a catalogue
with real previews."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from daemon_support import mfcc

from cir.daemon.server import Server, ServerConfig
from cir.daemon.web import WebPage


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def builtin_catalogue(path: Path, limit: int = 30, embedder: str = "mfcc80") -> Path:
    """A real catalogue of `limit` built-in presets (family-balanced) with FLAC previews."""
    from cir.presets_db import build
    from cir.presets_db.catalogue import Catalogue

    with Catalogue.open(path) as catalogue:
        build.add_builtin(catalogue, split="test", limit=limit, embedder=embedder, workers=1,
                          progress=False)
    return path


@contextlib.contextmanager
def page_daemon(directory: Path, catalogue: Path, embedder: Any = None,
                **options) -> Iterator[tuple[Server, WebPage]]:
    """A daemon in a thread on a loopback TCP port (the native plugin speaks TCP) with its
    page on a free port; MFCC-80 unless another embedder is given."""
    page = WebPage(port=0)
    config = ServerConfig([f"tcp://127.0.0.1:{free_port()}"], catalogue, embedder or mfcc(),
                          lock_path=directory / "d.lock", warm_up=False, **options)
    server = Server(config, extensions=[page])
    thread = server.serve_in_thread()
    try:
        yield server, page
    finally:
        server.stop()
        thread.join(15)
        assert not thread.is_alive(), "the daemon thread did not stop"


class Http:
    """Raw HTTP/1.1 to the page (any Host, Origin, path), like a hostile client could send."""

    def __init__(self, url: str):
        self.port = int(url.rstrip("/").rsplit(":", 1)[1])

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            sent = {"Host": f"127.0.0.1:{self.port}", **(headers or {})}
            if body or method == "POST":
                sent["Content-Length"] = str(len(body))
            for key, value in sent.items():
                if value is not None:
                    conn.putheader(key, value)
            conn.endheaders(body or None)
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, \
                response.read()
        finally:
            conn.close()

    def get_json(self, path: str, **headers: str) -> Any:
        status, _, body = self.request("GET", path, headers)
        assert status == 200, (status, body[:300])
        return json.loads(body)
