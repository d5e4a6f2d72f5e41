"""The results page without a browser: the answer history, page media, and the page's guard
(real daemon, real uvicorn on a loopback port, raw HTTP requests)."""

from __future__ import annotations

import io
import json
import sqlite3
import wave

import numpy as np
import pytest
from daemon_support import serve, short_dir, synthetic_db, wait_until
from web_support import Http, builtin_catalogue, page_daemon

from cir import defaults, protocol
from cir.daemon.history import History, keepable_audio
from cir.daemon.web import WebPage, WebPageError, media, web_port
from cir.daemon.web.catalogue import place_query, project
from cir.daemon.web.media import WEB_SPECTROGRAM_COLUMNS, WEB_SPECTROGRAM_MELS
from cir.daemon.web.security import CONTENT_SECURITY_POLICY
from cir.protocol.client import Client

SR = 48_000


def tone(seconds: float = 1.0, hz: float = 220.0, rate: int = SR, channels: int = 2):
    t = np.arange(int(seconds * rate)) / rate
    mono = (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    return np.repeat(mono[:, None], channels, axis=1)


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    return builtin_catalogue(tmp_path_factory.mktemp("web") / "catalogue.db", limit=15)


@pytest.fixture
def daemon(catalogue, tmp_path):
    with page_daemon(tmp_path, catalogue) as (server, page):
        yield server, page, Http(page.url)


def match(server, audio=None, **fields):
    """Send a match; return its reply once the page's history holds it (the reply leaves
    first, then the history hears of it)."""
    page = server.extensions[0]
    before = page.history.answers()[0].id if len(page.history) else 0
    with Client(server.endpoints[0], timeout_ms=20_000, retries=1) as client:
        reply = client.request(protocol.encode_match(
            tone() if audio is None else audio, SR, k=3, **fields))
    wait_until(lambda: len(page.history) and page.history.answers()[0].id > before,
               what="the answer in the history")
    return reply


# --- history ------------------------------------------------------------------------------------


def test_history_keeps_newest_first_and_is_bounded_by_count_and_bytes():
    history = History(max_answers=3, max_bytes=10**9)
    for i in range(5):
        history.add({"sample_rate": SR, "source": f"c{i}"}, tone(0.1), {"ok": True})
    assert [a.source for a in history.answers()] == ["c4", "c3", "c2"]
    assert history.get(1) is None and history.get(5).source == "c4"

    one = keepable_audio(tone(1.0), SR)[0].nbytes
    history = History(max_answers=100, max_bytes=int(2.5 * one))
    for _ in range(4):
        history.add({"sample_rate": SR}, tone(1.0), {"ok": True})
    assert len(history) == 2  # the bytes bound dropped the two oldest
    assert sum(a.nbytes for a in history.answers()) <= 2.5 * one


def test_history_audio_is_shrunk_to_stereo_int16_at_most_48k_and_keeps_its_level():
    surround = tone(0.5, hz=1000.0, rate=96_000, channels=6)
    pcm, rate = keepable_audio(surround, 96_000)
    assert pcm.dtype == np.int16 and pcm.shape == (24_000, 2) and rate == 48_000
    peak = np.abs(pcm.astype(np.float32) / 32768.0).max()
    assert peak == pytest.approx(0.5, abs=0.02)
    # The copy is independent of the (read-only, frame-backed) audio it came from.
    source = tone(0.1)
    source.setflags(write=False)
    kept = History().add({"sample_rate": SR}, source, {"ok": True})
    assert kept.audio.flags.writeable


def test_history_listeners_hear_each_answer_until_they_unsubscribe():
    history, heard = History(), []
    unsubscribe = history.subscribe(lambda answer: heard.append(answer.id))
    history.add({"sample_rate": SR}, tone(0.1), {"ok": True})
    unsubscribe()
    history.add({"sample_rate": SR}, tone(0.1), {"ok": True})
    assert heard == [1]


# --- media --------------------------------------------------------------------------------------


def test_wav_bytes_round_trip():
    pcm = (tone(0.25) * 32767).astype(np.int16)
    with wave.open(io.BytesIO(media.wav_bytes(pcm, SR))) as w:
        assert (w.getnchannels(), w.getframerate(), w.getnframes()) == (2, SR, pcm.shape[0])
        back = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2)
    assert np.array_equal(back, pcm)


def test_spectrogram_puts_a_tone_in_the_right_band_and_waveform_follows_the_level():
    low = media.spectrogram(tone(1.0, hz=110.0)[:, 0], SR)
    high = media.spectrogram(tone(1.0, hz=4000.0)[:, 0], SR)
    shape = (low["columns"], low["bands"])
    assert shape == (WEB_SPECTROGRAM_COLUMNS, WEB_SPECTROGRAM_MELS)

    def loudest_band(spec):
        data = np.frombuffer(__import__("base64").b64decode(spec["data"]), np.uint8)
        return int(data.reshape(spec["columns"], spec["bands"]).mean(axis=0).argmax())

    assert loudest_band(low) < WEB_SPECTROGRAM_MELS // 4 < loudest_band(high)
    outline = media.waveform(tone(1.0)[:, 0], points=100)
    assert len(outline["max"]) == 100
    assert max(outline["max"]) == pytest.approx(0.5, abs=0.01)
    assert min(outline["min"]) == pytest.approx(-0.5, abs=0.01)


def test_decode_upload_reads_a_wav_and_refuses_garbage_in_one_line():
    pcm = (tone(0.5) * 32767).astype(np.int16)
    audio, rate = media.decode_upload(media.wav_bytes(pcm, SR), "loop.wav")
    assert rate == SR and audio.shape == (pcm.shape[0], 2)
    for data in (b"", b"not audio at all" * 100):
        with pytest.raises(media.MediaError) as err:
            media.decode_upload(data, "x.wav")
        assert "\n" not in str(err.value) and "x.wav" in str(err.value)


# --- map ----------------------------------------------------------------------------------------


def test_map_projection_keeps_clusters_apart_and_the_query_lands_near_its_hits():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((2, 16)) * 4
    rows = np.concatenate([c + rng.standard_normal((20, 16)) * 0.3 for c in centres])
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    xy = project(rows)
    assert xy.shape == (40, 2) and xy.min() >= 0.0 and xy.max() <= 1.0
    a, b = xy[:20].mean(axis=0), xy[20:].mean(axis=0)
    spread = max(xy[:20].std(axis=0).max(), xy[20:].std(axis=0).max())
    assert np.linalg.norm(a - b) > 3 * spread
    points = {i: tuple(xy[i]) for i in range(40)}
    hits = [{"preset_id": i, "score": 0.9 - 0.01 * i} for i in range(5)]  # cluster A
    qx, qy = place_query(points, hits)
    assert np.linalg.norm(np.array([qx, qy]) - a) < np.linalg.norm(np.array([qx, qy]) - b)
    assert place_query(points, [{"preset_id": 999, "score": 1.0}]) is None


# --- the page on a real daemon ------------------------------------------------------------------


def test_status_prints_the_page_address_and_every_answer_is_kept(daemon):
    server, page, http = daemon
    assert server.status()["web_url"] == page.url
    assert page.url.startswith("http://127.0.0.1:")
    assert match(server, source="cir match")["ok"]
    silent = match(server, audio=np.zeros((SR, 2), np.float32), source="cir record")
    assert not silent["ok"]
    answers = http.get_json("/api/answers")["answers"]
    assert [a["source"] for a in answers] == ["cir record", "cir match"]  # newest first
    assert answers[0]["error"]["code"] == "silent_audio"
    first = answers[1]
    assert first["results"] and first["audio_url"] == f"/api/answers/{first['id']}/audio.wav"
    hit = next(iter(first["results"].values()))[0]
    assert hit["preview_url"] == f"/api/presets/{hit['preset_id']}/preview"
    assert "preview" not in hit  # paths on disk never reach the page
    again = http.get_json("/api/answers")["answers"][1]  # asked twice: the same answer
    assert again == first
    assert hit["how"]["commands"][0].startswith(f"cir synth render {hit['key']}")
    status, headers, body = http.request("GET", first["audio_url"])
    assert status == 200 and headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(body)) as w:
        assert w.getnframes() == SR and w.getnchannels() == 2


def test_previews_are_served_by_id_with_their_views(daemon):
    _server, _, http = daemon
    entries = http.get_json("/api/catalogue")["entries"]
    pid = entries[0]["preset_id"]
    status, headers, body = http.request("GET", f"/api/presets/{pid}/preview")
    assert status == 200 and headers["content-type"] == "audio/flac" and body[:4] == b"fLaC"
    view = http.get_json(f"/api/presets/{pid}/view")
    assert view["spectrogram"]["columns"] > 10 and len(view["waveform"]["max"]) > 10
    similar = http.get_json(f"/api/presets/{pid}/similar")["similar"]
    assert similar and all(s["family"] == entries[0]["family"] for s in similar)
    assert pid not in [s["preset_id"] for s in similar]
    scores = [s["score"] for s in similar]
    assert scores == sorted(scores, reverse=True)


def test_catalogue_search_by_name_tag_family_and_source(daemon):
    _, _, http = daemon
    everything = http.get_json("/api/catalogue")
    assert everything["total"] == 15
    bass = http.get_json("/api/catalogue?family=bass")["entries"]
    assert bass and all(e["family"] == "bass" for e in bass)
    name = bass[0]["name"]
    found = http.get_json(f"/api/catalogue?q={name.split()[0].lower()}")["entries"]
    assert name in [e["name"] for e in found]
    tag = bass[0]["tags"][0]
    assert all(tag in e["tags"] or tag in e["name"].lower()
               for e in http.get_json(f"/api/catalogue?q={tag}")["entries"])
    assert http.get_json("/api/catalogue?q=%25")["total"] == 0  # LIKE wildcards are literal
    source = bass[0]["source_id"]
    assert http.get_json(f"/api/catalogue?source={source}")["total"] == 15


def test_map_is_cached_per_embedder_version_and_marks_the_query(daemon):
    server, _, http = daemon
    reply = match(server, source="cir match")
    family = next(iter(reply["results"]))
    first = http.get_json(f"/api/map/{family}")
    stats = http.get_json("/api/status")["catalogue"]
    assert len(first["points"]) == stats["by_family"][family]
    assert first["embedder_version"] == "mfcc80-v1"
    from cir import paths

    files = list((paths.cache_dir() / "maps").glob(f"*-g*-{family}.json"))
    assert len(files) == 1
    assert http.get_json(f"/api/map/{family}") == first
    answer = http.get_json("/api/answers")["answers"][0]
    marked = http.get_json(f"/api/answers/{answer['id']}/map/{family}")
    assert marked["query"] is not None and marked["hits"]


def test_dropped_file_is_matched_through_the_daemon(daemon):
    _server, page, http = daemon
    wav = media.wav_bytes((tone(1.0) * 20000).astype(np.int16), SR)
    status, _, body = http.request(
        "POST", "/api/match", {"X-CIR-Token": page.token, "X-File-Name": "my%20loop.wav"}, wav
    )
    assert status == 200, body
    wait_until(lambda: len(page.history) == 1, what="the dropped file's answer")
    assert http.get_json("/api/answers")["answers"][0]["source"] == "results page"
    status, _, body = http.request("POST", "/api/match", {"X-CIR-Token": page.token},
                                   b"RIFF garbage")
    assert status == 400 and b"cannot read" in body


def test_export_writes_a_builtin_preset_that_renders(daemon, tmp_path):
    _server, page, http = daemon
    pid = http.get_json("/api/catalogue?family=lead")["entries"][0]["preset_id"]
    status, _, body = http.request("POST", f"/api/presets/{pid}/export",
                                   {"X-CIR-Token": page.token})
    assert status == 200, body
    result = json.loads(body)
    from cir.synth.files import render_to_wav

    render_to_wav(result["path"], tmp_path / "out.wav", [72])
    assert (tmp_path / "out.wav").stat().st_size > 1000


# --- the guard ----------------------------------------------------------------------------------


def test_page_refuses_foreign_host_and_origin_and_sets_a_strict_policy(daemon):
    _, page, http = daemon
    status, headers, _ = http.request("GET", "/")
    assert status == 200
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY and "http" not in CONTENT_SECURITY_POLICY
    assert headers["x-content-type-options"] == "nosniff"
    for host in ("evil.example:80", f"evil.example:{http.port}", "127.0.0.1:1", "127.0.0.1"):
        status, headers, body = http.request("GET", "/api/answers", {"Host": host})
        assert status == 400 and b"refused" in body, host
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert http.request("GET", "/api/answers", {"Host": None})[0] == 400  # HTTP/1.1 needs one
    status, _, _ = http.request("GET", "/", {"Host": f"localhost:{http.port}"})
    assert status == 200
    status, _, body = http.request("GET", "/api/answers", {"Origin": "http://evil.example"})
    assert status == 403 and b"Origin" in body
    status, _, _ = http.request("GET", "/api/answers", {"Sec-Fetch-Site": "cross-site"})
    assert status == 403
    # Actions need the token, and the right origin even with it.
    assert http.request("POST", "/api/match", {}, b"x")[0] == 403
    assert http.request("POST", "/api/match", {"X-CIR-Token": "guess"}, b"x")[0] == 403
    status, _, _ = http.request("POST", "/api/presets/1/export",
                                {"X-CIR-Token": page.token, "Origin": "http://evil.example"})
    assert status == 403


@pytest.mark.parametrize("path", [
    "/api/presets/../../../../etc/passwd/preview",
    "/api/presets/..%2F..%2Fetc%2Fpasswd/preview",
    "/api/presets/%2e%2e/preview",
    "/api/presets/1%2F..%2F2/preview",
    "/api/presets/-1/preview",
    "/api/answers/..%2F1/audio.wav",
    "/static/../../../../etc/passwd",
    "/static/..%2F..%2F..%2Fetc%2Fpasswd",
    "/static/%2e%2e/%2e%2e/app.py",
])
def test_path_traversal_ids_are_refused(daemon, path):
    _, _, http = daemon
    status, _, body = http.request("GET", path)
    assert status == 404, (path, status, body[:200])
    assert b"root:" not in body and b"import" not in body


def test_a_preview_path_outside_the_previews_folder_is_never_served(daemon):
    server, _, http = daemon
    pid = http.get_json("/api/catalogue")["entries"][0]["preset_id"]
    with sqlite3.connect(server.catalogue_path) as db:  # a tampered catalogue row
        db.execute("UPDATE renders SET preview = '../../../../etc/passwd' WHERE preset_id = ?",
                   [pid])
    status, _, body = http.request("GET", f"/api/presets/{pid}/preview")
    assert status == 404 and b"root:" not in body


# --- the daemon around the page -----------------------------------------------------------------


def test_busy_port_leaves_the_daemon_serving_and_says_why(tmp_path):
    import socket

    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        with short_dir() as d:
            synthetic_db(d, 12)
            with serve(d, extensions=[WebPage(port=port)]) as (server, endpoint):
                status = server.status()
                assert status["web_url"] is None and str(port) in status["web_problem"]
                with Client(endpoint) as client:
                    assert client.ping()["pong"]


def test_a_failing_extension_never_breaks_an_answer():
    class Broken:
        def start(self, server):
            pass

        def answered(self, header, audio, reply):
            raise RuntimeError("boom")

        def status(self):
            return {}

        def stop(self):
            pass

    with short_dir() as d:
        synthetic_db(d, 12)
        with serve(d, extensions=[Broken()]) as (_server, endpoint), Client(endpoint) as client:
            for _ in range(2):
                assert client.match(tone(), SR, k=2)["results"]


def test_web_port_setting(monkeypatch):
    monkeypatch.delenv(defaults.WEB_PORT_ENV, raising=False)
    assert web_port() == defaults.WEB_PORT
    monkeypatch.setenv(defaults.WEB_PORT_ENV, "off")
    assert web_port() is None
    monkeypatch.setenv(defaults.WEB_PORT_ENV, "0")
    assert web_port() == 0
    monkeypatch.setenv(defaults.WEB_PORT_ENV, "http")
    with pytest.raises(WebPageError, match="CIR_WEB_PORT='http'"):
        web_port()


@pytest.mark.slow
def test_bench_page_times_every_answer_to_the_page():
    from click.testing import CliRunner

    from tools.bench.page import page_speed

    result = CliRunner().invoke(page_speed, ["--requests", "3", "--family-size", "8", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["live_received"] == data["live_requests"] == 3
    assert 0 < data["live_p50_ms"] <= data["live_p95_ms"]
    assert data["map_points"] == 8 and data["hook_8s_ms"] > 0 and data["keep_8s_ms"] > 0
