"""`cir bench page`: what the results page costs the daemon, and how fast an answer reaches it.

- hook: the time the ZeroMQ thread spends on the page per answer after its reply left (a
  copy of the audio), and the page's keeper thread on shrinking it to <= 48 kHz stereo int16,
  for an 8 s stereo 48 kHz loop and for the largest query (60 s, 192 kHz stereo);
- view: waveform + mel spectrogram of that 8 s loop (what the page fetches per answer);
- live: from the client holding its reply to the Server-Sent Event reaching a reader of
  `/api/events` (a real daemon in a thread, its page on a free port, real sockets);
- map: t-SNE of one family of a synthetic catalogue (first request), then the cached answer.
"""

from __future__ import annotations

import http.client
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import click
import numpy as np

from cir import defaults, protocol
from cir.cli.output import echo_json, json_option, json_stdout
from cir.paths import CACHE_ENV

# `tools.bench.page`: timed repeats of the hook and the views, requests timed to the page.
BENCH_PAGE_REPEATS = 20
BENCH_PAGE_REQUESTS = 30


def _median_ms(samples: list[float]) -> float:
    return round(float(np.median(samples)) * 1000.0, 3)


def _p95_ms(samples: list[float]) -> float:
    return round(float(np.percentile(samples, 95)) * 1000.0, 3)


def _hook_and_view(repeats: int) -> dict[str, Any]:
    from cir.benchmarks.workload import query_loop
    from cir.daemon.history import History
    from cir.daemon.web import media

    loop = query_loop(8.0, 48_000)
    biggest = np.resize(query_loop(8.0, 192_000), (60 * 192_000, 2))
    history = History()
    timings: dict[str, list[float]] = {
        "hook_8s": [], "hook_60s_192k": [], "keep_8s": [], "keep_60s_192k": [], "view_8s": [],
    }
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.array(loop, dtype=np.float32)  # what WebPage.answered does on the loop's thread
        timings["hook_8s"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        answer = history.add({"sample_rate": 48_000}, loop, {"ok": True})
        timings["keep_8s"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        mono = answer.float_audio().mean(axis=1)
        media.waveform(mono)
        media.spectrogram(mono, answer.sample_rate)
        timings["view_8s"].append(time.perf_counter() - t0)
    for _ in range(max(1, repeats // 5)):
        t0 = time.perf_counter()
        np.array(biggest, dtype=np.float32)
        timings["hook_60s_192k"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        history.add({"sample_rate": 192_000}, biggest, {"ok": True})
        timings["keep_60s_192k"].append(time.perf_counter() - t0)
    return {f"{key}_ms": _median_ms(values) for key, values in timings.items()}


class _EventReader(threading.Thread):
    """Reads `/api/events` and stamps each answer event with its arrival time."""

    def __init__(self, port: int):
        super().__init__(daemon=True)
        self.port = port
        self.arrivals: dict[str, float] = {}
        self.connected = threading.Event()

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        conn.request("GET", "/api/events", headers={"Host": f"127.0.0.1:{self.port}"})
        response = conn.getresponse()
        self.connected.set()
        event = None
        while True:
            line = response.fp.readline()
            if not line:
                return
            text = line.decode().strip()
            if text.startswith("event:"):
                event = text.split(":", 1)[1].strip()
            elif text.startswith("data:") and event == "answer":
                request_id = json.loads(text[5:])["request_id"]
                self.arrivals[request_id] = time.perf_counter()


def _live(requests: int, workdir: Path) -> dict[str, Any]:
    from cir.benchmarks.workload import query_loop, synthetic_catalogue
    from cir.daemon.server import Server, ServerConfig
    from cir.daemon.web import WebPage
    from cir.encoder.embed import load_embedder
    from cir.protocol.client import Client

    embedder = load_embedder("mfcc80")
    db = synthetic_catalogue(workdir / "catalogue.db", 100, embedder)
    endpoint = f"ipc://{workdir / 'd.sock'}"
    page = WebPage(port=0)
    config = ServerConfig([endpoint], db, embedder, lock_path=workdir / "d.lock", warm_up=False)
    server = Server(config, extensions=[page])
    thread = server.serve_in_thread()
    try:
        reader = _EventReader(int(page.url.rstrip("/").rsplit(":", 1)[1]))
        reader.start()
        reader.connected.wait(30)
        time.sleep(0.5)  # the stream is subscribed once its first byte went out
        loop = query_loop(4.0, 48_000)
        delays = []
        with Client(endpoint) as client:
            for _ in range(requests):
                reply = client.call(protocol.encode_match(loop, 48_000, source="bench"))
                answered = time.perf_counter()
                deadline = answered + 10.0
                while reply["id"] not in reader.arrivals and time.perf_counter() < deadline:
                    time.sleep(0.0005)
                if reply["id"] in reader.arrivals:
                    delays.append(reader.arrivals[reply["id"]] - answered)
    finally:
        server.stop()
        thread.join(15)
    return {
        "live_requests": requests,
        "live_received": len(delays),
        "live_p50_ms": _median_ms(delays) if delays else None,
        "live_p95_ms": _p95_ms(delays) if delays else None,
    }


def _map(family_size: int, workdir: Path) -> dict[str, Any]:
    from cir.benchmarks.workload import synthetic_catalogue
    from cir.encoder.embed import load_embedder
    from cir.families import MIX_FAMILIES

    embedder = load_embedder("mfcc80")
    db = synthetic_catalogue(workdir / "map.db", family_size * len(MIX_FAMILIES), embedder)
    saved = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(workdir / "cache")  # not the user's cache
    try:
        return _time_map(db, embedder, MIX_FAMILIES[0])
    finally:
        if saved is None:
            os.environ.pop(CACHE_ENV, None)
        else:
            os.environ[CACHE_ENV] = saved


def _time_map(db: Path, embedder: Any, family: str) -> dict[str, Any]:
    from cir.daemon.web.catalogue import CatalogueView

    view = CatalogueView(db, lambda: embedder.version)
    t0 = time.perf_counter()
    first = view.map(family)
    computed = time.perf_counter() - t0
    fresh = CatalogueView(db, lambda: embedder.version)  # a restarted daemon: the disk cache
    t0 = time.perf_counter()
    fresh.map(family)
    cached = time.perf_counter() - t0
    view.close()
    fresh.close()
    return {"map_points": len(first["points"]), "map_tsne_s": round(computed, 2),
            "map_cached_ms": round(cached * 1000, 2)}


def bench_page(
    repeats: int = BENCH_PAGE_REPEATS,
    requests: int = BENCH_PAGE_REQUESTS,
    family_size: int = defaults.BENCH_CATALOGUE_PER_FAMILY,
) -> dict[str, Any]:
    """Every figure above, as one dict."""
    # A short folder: ipc socket paths must stay under ~100 characters.
    short = "/tmp" if os.name == "posix" else None
    with tempfile.TemporaryDirectory(prefix="cir-bench-page-", dir=short) as tmp:
        workdir = Path(tmp)
        return {
            **_hook_and_view(repeats),
            **_live(requests, workdir),
            **_map(family_size, workdir),
        }


@click.command()
@click.option("--requests", "n_requests", type=click.IntRange(1, 10_000), default=None,
              help="Answers timed to the page (default from cir.defaults).")
@click.option("--family-size", type=click.IntRange(4, 100_000), default=None,
              help="Entries of the family the map is drawn for (default 500).")
@json_option("Print the results as JSON.")
def page_speed(n_requests: int | None, family_size: int | None, as_json: bool) -> None:
    """Results page: the daemon's cost per answer, answer-to-page delay, map time.

    A real daemon in a thread with its page on a free port; an SSE reader times each answer
    from the client's reply to its event. The map is t-SNE over one synthetic family.

    \b
    Example:
        python -m tools.bench.page
        python -m tools.bench.page --requests 100 --json
    """

    with json_stdout(as_json):
        result = bench_page(
            requests=n_requests or BENCH_PAGE_REQUESTS,
            family_size=family_size or defaults.BENCH_CATALOGUE_PER_FAMILY,
        )
    if as_json:
        echo_json(result)
        return
    for key, value in result.items():
        click.echo(f"{key:>16}: {value}")


if __name__ == "__main__":
    page_speed()
