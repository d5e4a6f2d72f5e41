"""The results page's routes (Starlette): answers, live events, catalogue, media by id.

Every path parameter that names something is an integer id (`{id:int}`): an answer of the
history or a preset of the catalogue. Files are found from those ids, never from a path sent
by the client. GET routes only read; POST routes (match a dropped file, export, reveal) need
the run's token (security.Guard checks it before any route runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from cir import paths
from cir.daemon.constants import WEB_CATALOGUE_PAGE
from cir.daemon.history import Answer, History
from cir.daemon.logs import LOGGER_NAME
from cir.daemon.web import media
from cir.daemon.web.catalogue import CatalogueView, NotFoundError, how_to_use, place_query
from cir.daemon.web.security import TOKEN_HEADER, Guard
from cir.errors import CIRError
from cir.families import FAMILY_SPECS

# A file dropped on the page: the longest query (PROTOCOL_MAX_SECONDS) of a compressed or
# 16-bit stereo file at 96 kHz fits well within this.
WEB_UPLOAD_MAX_BYTES = 64 * 1024 * 1024
# Spectrograms/waveforms of previews kept in memory (small arrays; previews never change).
WEB_MEDIA_CACHE = 512
# Server-Sent Events: a comment line this often keeps proxies and browsers from dropping the
# stream; the stream re-checks for shutdown this often.
WEB_SSE_PING_S = 15.0
WEB_SSE_POLL_S = 0.5
# A dropped file is matched through the daemon's own socket; this long for its reply, ms.
WEB_MATCH_TIMEOUT_MS = 30_000

log = logging.getLogger(LOGGER_NAME)
STATIC = "static"
_PACKAGE = "cir.daemon.web"  # where STATIC ships (package data)


@dataclass
class PageState:
    """What the routes share: the history, the catalogue view, the daemon's facts, the token."""

    history: History
    catalogue: CatalogueView
    token: str
    endpoint: str  # the daemon's own socket, for files dropped on the page
    daemon_status: Any  # () -> dict: encoder, catalogue size, problem
    port: int = 0
    stopping: threading.Event = field(default_factory=threading.Event)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status)


def answer_json(answer: Answer) -> dict[str, Any]:
    """An answer for the page: the reply, URLs of its audio and of each suggestion's preview,
    and how to get each suggestion into a DAW."""
    data = answer.to_json()
    data["audio_url"] = f"/api/answers/{answer.id}/audio.wav"
    data["results"] = {family: [_hit_json(hit) for hit in hits]
                       for family, hits in data["results"].items()}
    return data


def _hit_json(hit: dict[str, Any]) -> dict[str, Any]:
    """A suggestion for the page: a new dict (the kept reply is never changed), its preview
    by id only (the path on disk stays here), and how to get it into a DAW."""
    shown = {key: value for key, value in hit.items() if key != "preview"}
    pid = hit.get("preset_id")
    shown["preview_url"] = f"/api/presets/{pid}/preview" if hit.get("preview") else None
    shown["how"] = how_to_use(hit.get("source", ""), hit.get("locator") or {},
                              hit.get("key", ""), hit.get("family", ""))
    return shown


def build_app(state: PageState) -> Guard:
    """The ASGI app, wrapped in the Guard."""

    def answer_or_404(request: Request) -> Answer:
        answer = state.history.get(request.path_params["id"])
        if answer is None:
            raise NotFoundError(f"answer {request.path_params['id']} is no longer kept")
        return answer

    async def index(_: Request) -> Response:
        html = resources.files(_PACKAGE).joinpath(STATIC, "index.html").read_text("utf-8")
        return HTMLResponse(html.replace("{{TOKEN}}", state.token),
                            headers={"cache-control": "no-store"})

    def status(_: Request) -> Response:
        summary = state.catalogue.summary()
        daemon = state.daemon_status()
        hint = None
        if not daemon.get("catalogue_size"):
            hint = daemon.get("problem") or (
                "The catalogue has no entries yet: fill it with `cir catalogue add-builtin` "
                "(the built-in synth) or `cir catalogue add-sf2 FILE`, then run "
                "`cir catalogue reload`."
            )
        return JSONResponse({"daemon": daemon, "catalogue": summary, "hint": hint,
                             "answers_kept": len(state.history)})

    def answers(_: Request) -> Response:
        return JSONResponse({"answers": [answer_json(a) for a in state.history.answers()]})

    def answer_audio(request: Request) -> Response:
        answer = answer_or_404(request)
        return Response(media.wav_bytes(answer.audio, answer.sample_rate), media_type="audio/wav")

    def answer_view(request: Request) -> Response:
        answer = answer_or_404(request)
        mono = answer.float_audio().mean(axis=1)
        return JSONResponse({"waveform": media.waveform(mono),
                             "spectrogram": media.spectrogram(mono, answer.sample_rate)})

    def answer_map(request: Request) -> Response:
        answer = answer_or_404(request)
        family = request.path_params["family"]
        result = dict(state.catalogue.map(family))
        points = {p["id"]: (p["x"], p["y"]) for p in result["points"]}
        hits = (answer.reply.get("results") or {}).get(family, [])
        result["query"] = place_query(points, hits)
        result["hits"] = [h["preset_id"] for h in hits]
        return JSONResponse(result)

    def catalogue_search(request: Request) -> Response:
        q = request.query_params
        try:
            limit = min(int(q.get("limit", WEB_CATALOGUE_PAGE)),
                        WEB_CATALOGUE_PAGE)
            offset = max(0, int(q.get("offset", 0)))
        except ValueError:
            return _error(400, "limit and offset must be whole numbers")
        return JSONResponse(state.catalogue.search(q.get("q", ""), q.get("family"),
                                                   q.get("source"), limit, offset))

    def preset(request: Request) -> Response:
        return JSONResponse(state.catalogue.preset(request.path_params["id"]))

    def preview(request: Request) -> Response:
        path = state.catalogue.preview_path(request.path_params["id"])
        kind = "audio/flac" if path.suffix == ".flac" else "audio/wav"
        return FileResponse(path, media_type=kind)

    def preview_view(request: Request) -> Response:
        path = state.catalogue.preview_path(request.path_params["id"])
        return JSONResponse(_preview_view(str(path), path.stat().st_mtime_ns))

    def picks(request: Request) -> Response:
        return JSONResponse(state.catalogue.picks())

    def similar(request: Request) -> Response:
        return JSONResponse(state.catalogue.similar(request.path_params["id"]))

    def family_map(request: Request) -> Response:
        return JSONResponse(state.catalogue.map(request.path_params["family"]))

    def export(request: Request) -> Response:
        record = state.catalogue.preset(request.path_params["id"])
        if record["source"] != "builtin":
            return _error(400, "only presets of the built-in synth are exported; this one "
                               "already lives in a file (see its paths)")
        from cir.synth.files import export_preset

        path = export_preset(record["locator"].get("id", record["key"]),
                             paths.data_dir() / "exports")
        spec = FAMILY_SPECS.get(record["family"])
        note = spec.canonical_pitch if spec else 60
        command = f"cir synth render {path} --note {note} -o {path.with_suffix('.wav')}"
        return JSONResponse({"path": str(path), "commands": [command]})

    def reveal(request: Request) -> Response:
        record = state.catalogue.preset(request.path_params["id"])
        try:
            index = int(request.query_params.get("file", 0))
            target = Path(record["how"]["files"][index])
        except (ValueError, IndexError, TypeError):
            return _error(404, "this preset has no such file")
        return JSONResponse(reveal_in_file_manager(target))

    async def match_upload(request: Request) -> Response:
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > WEB_UPLOAD_MAX_BYTES:
                return _error(413, f"the file is larger than "
                                   f"{WEB_UPLOAD_MAX_BYTES // 2**20} MB: trim it to "
                                   "the loop")
        name = unquote(request.headers.get("x-file-name", "dropped file"))[:200]
        return await run_in_threadpool(_match_bytes, state, bytes(data), name)

    async def events(request: Request) -> Response:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[int] = asyncio.Queue()

        def tell(answer: Answer) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(queue.put_nowait, answer.id)

        unsubscribe = state.history.subscribe(tell)
        try:
            last_seen = int(request.headers.get("last-event-id", "0"))
        except ValueError:
            last_seen = 0

        async def stream():
            try:
                # A reconnecting browser gets what it missed (its Last-Event-ID).
                for answer in reversed(state.history.answers()):
                    if last_seen and answer.id > last_seen:
                        yield _event(answer)
                while not state.stopping.is_set():
                    try:
                        answer_id = await asyncio.wait_for(queue.get(), WEB_SSE_POLL_S)
                    except TimeoutError:
                        continue
                    answer = state.history.get(answer_id)
                    if answer is not None:
                        yield _event(answer)
            finally:
                unsubscribe()

        return EventSourceResponse(stream(), ping=WEB_SSE_PING_S)

    routes = [
        Route("/", index),
        Route("/api/status", status),
        Route("/api/answers", answers),
        Route("/api/answers/{id:int}/audio.wav", answer_audio),
        Route("/api/answers/{id:int}/view", answer_view),
        Route("/api/answers/{id:int}/map/{family:str}", answer_map),
        Route("/api/events", events),
        Route("/api/catalogue", catalogue_search),
        Route("/api/picks", picks),
        Route("/api/map/{family:str}", family_map),
        Route("/api/presets/{id:int}", preset),
        Route("/api/presets/{id:int}/preview", preview),
        Route("/api/presets/{id:int}/view", preview_view),
        Route("/api/presets/{id:int}/similar", similar),
        Route("/api/presets/{id:int}/export", export, methods=["POST"]),
        Route("/api/presets/{id:int}/reveal", reveal, methods=["POST"]),
        Route("/api/match", match_upload, methods=["POST"]),
        Mount("/static", StaticFiles(packages=[(_PACKAGE, STATIC)]), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={
        NotFoundError: lambda _r, exc: _error(404, str(exc)),
        CIRError: lambda _r, exc: _error(400, str(exc)),
    })
    return Guard(app, lambda: state.port, state.token)


def _event(answer: Answer) -> dict[str, str]:
    return {"event": "answer", "id": str(answer.id), "data": json.dumps(answer_json(answer))}


@functools.lru_cache(maxsize=WEB_MEDIA_CACHE)
def _preview_view(path: str, _mtime: int) -> dict[str, Any]:
    mono, rate = media.read_mono(Path(path))
    return {"waveform": media.waveform(mono), "spectrogram": media.spectrogram(mono, rate)}


def _match_bytes(state: PageState, data: bytes, name: str) -> Response:
    """Decode a dropped file and send it to the daemon like any client (its answer then
    reaches the page through the history, as the plugin's do)."""
    from cir.protocol.client import Client, ClientError, RequestRefusedError

    try:
        audio, rate = media.decode_upload(data, name)
    except CIRError as exc:
        return _error(400, str(exc))
    try:
        with Client(state.endpoint, timeout_ms=WEB_MATCH_TIMEOUT_MS, retries=1) as c:
            reply = c.match(audio, rate, source="results page")
    except RequestRefusedError as exc:
        return _error(422, str(exc))
    except ClientError as exc:
        return _error(503, str(exc))
    return JSONResponse({"request_id": reply.get("id"), "ok": True})


def reveal_in_file_manager(target: Path) -> dict[str, Any]:
    """Show a file in the system's file manager (its folder on Linux); the command run."""
    if not target.exists():
        raise NotFoundError(f"{target} no longer exists")
    if sys.platform == "darwin":
        command = ["open", "-R", str(target)]
    elif sys.platform == "win32":
        command = ["explorer", f"/select,{target}"]
    else:
        command = ["xdg-open", str(target if target.is_dir() else target.parent)]
    try:
        subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError as exc:
        raise CIRError(f"cannot open a file manager ({command[0]}: {exc.strerror}); the file "
                       f"is {target}") from None
    return {"revealed": str(target), "command": command}


__all__ = ["TOKEN_HEADER", "PageState", "answer_json", "build_app"]
