"""The page's guard: loopback Host and Origin only, a per-run token for actions, strict headers.

An ASGI middleware in front of every route:

- **Host** must be this page's own loopback address (127.0.0.1 or localhost, with its port):
  a page on another site that rebinds its DNS name to 127.0.0.1 sends its own name and is
  refused (DNS rebinding).
- **Origin** (sent by browsers on cross-origin requests and on every POST) must be this page's
  own origin; `Sec-Fetch-Site: cross-site` is refused too.
- Actions that change something (POST: match a dropped file, export, reveal) carry the run's
  token in the `X-CIR-Token` header. The page gets it in its HTML, which only a same-origin
  reader can see; a custom header also forces a CORS preflight that nothing here answers.
- Every response carries a Content-Security-Policy allowing this origin only (no inline
  script, no outside origin), and nosniff / no-referrer / no-framing headers.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOKEN_HEADER = "x-cir-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; font-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


def new_token() -> str:
    """A fresh per-run secret (256 bits)."""
    return secrets.token_urlsafe(32)


class Guard:
    """Refuse foreign Host/Origin and token-less actions; add the security headers."""

    def __init__(self, app: ASGIApp, port: Callable[[], int], token: str):
        self.app = app
        self.port = port
        self.token = token

    def allowed_hosts(self) -> set[str]:
        port = self.port()
        return {f"127.0.0.1:{port}", f"localhost:{port}"}

    def refusal(self, scope: Scope) -> str | None:
        """Why this request is refused, or None."""
        headers = Headers(scope=scope)
        hosts = self.allowed_hosts()
        host = headers.get("host", "")
        if host.lower() not in hosts:
            return f"refused: Host {host!r} is not this page's address"
        origin = headers.get("origin")
        if origin is not None and origin.lower() not in {f"http://{h}" for h in hosts}:
            return f"refused: Origin {origin!r} is not this page"
        if headers.get("sec-fetch-site") == "cross-site":
            return "refused: cross-site request"
        if scope.get("method", "GET") not in SAFE_METHODS:
            given = headers.get(TOKEN_HEADER, "")
            if not secrets.compare_digest(given.encode(), self.token.encode()):
                return "refused: this action needs the page's token (reload the page)"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        why = self.refusal(scope)
        if why is not None:
            status = 400 if why.startswith("refused: Host") else 403
            await PlainTextResponse(why, status)(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)
