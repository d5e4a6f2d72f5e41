"""The results page in a real headless Chromium (Debian's chromium + chromium-driver, driven by
selenium): the page loads, answers appear live, previews play, the map draws its points,
files dropped on the page are matched, a capture from the CIR Bridge VST3 (hosted by
pedalboard) shows up, and foreign hosts and path-traversal ids are refused.

Screenshots of each step are written under the test's temporary folder.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from daemon_support import wait_until
from web_support import builtin_catalogue, page_daemon

from cir import protocol
from cir.protocol.client import Client

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
webdriver = pytest.importorskip("selenium.webdriver")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
        reason="headless Chromium not installed: apt-get install chromium chromium-driver",
    ),
]
SR = 48_000
# Flags for a headless, offline, root-friendly Chromium; audio plays without a user gesture.
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--autoplay-policy=no-user-gesture-required",
    "--window-size=1400,1000",
)


def chromium(profile: Path, *extra: str):
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, *extra, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    return builtin_catalogue(tmp_path_factory.mktemp("page") / "catalogue.db", limit=30)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    driver = chromium(tmp_path_factory.mktemp("chromium"))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture
def daemon(catalogue, tmp_path):
    with page_daemon(tmp_path, catalogue) as (server, page):
        yield server, page


def js(driver, script: str, *args):
    return driver.execute_script(script, *args)


def until(driver, script: str, what: str, timeout: float = 60.0, *args):
    """Wait until the JavaScript expression `script` is truthy in the page; its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = js(driver, f"return {script};", *args)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} ({script})")


def shot(driver, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 2_000  # a real image (a refusal page is small)
    return path


def loop_audio(seconds: float = 2.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    bass = 0.4 * np.sin(2 * np.pi * 55 * t) * (1 - (t * 2 % 1))
    lead = 0.2 * np.sign(np.sin(2 * np.pi * 440 * t)) * (t * 4 % 1 < 0.5)
    mono = (bass + lead).astype(np.float32)
    return np.stack([mono, mono], axis=1)


def send_match(server, source: str = "cir match") -> dict:
    with Client(server.endpoints[0], timeout_ms=20_000, retries=1) as client:
        return client.call(protocol.encode_match(loop_audio(), SR, k=3, source=source))


def open_page(driver, page) -> None:
    driver.get(page.url)
    until(driver, "document.getElementById('live').textContent === 'live'", "the live stream")


def test_page_loads_with_status_and_empty_state(browser, daemon, tmp_path):
    _server, page = daemon
    open_page(browser, page)
    assert browser.title.startswith("CIR")
    status = until(browser, "document.getElementById('status').textContent", "the status line")
    assert "30 searchable entries" in status and "mfcc80" in status
    assert js(browser, "return document.getElementById('no-answers').hidden") is False
    assert js(browser, "return document.getElementById('hint').hidden") is True
    shot(browser, tmp_path, "01-empty")


def test_a_match_from_the_bridge_client_appears_without_reload(browser, daemon, tmp_path):
    server, page = daemon
    open_page(browser, page)
    js(browser, "window.__sameDocument = true")
    reply = send_match(server)
    until(browser, "document.querySelectorAll('article.answer').length === 1", "the answer card")
    assert js(browser, "return window.__sameDocument") is True  # no reload happened
    card = "document.querySelector('article.answer')"
    for family, hits in reply["results"].items():
        names = js(browser, f"return [...{card}.querySelectorAll("
                            f"'section.family[data-family=\"{family}\"] .hit .name')]"
                            ".map(e => e.textContent)")
        assert names == [h["name"] for h in hits]
    assert "from cir match" in js(browser, f"return {card}.querySelector('.meta').textContent")
    # The loop's player, waveform and spectrogram; a spectrogram per suggestion.
    until(browser, f"{card}.querySelector('canvas.wave').dataset.drawn", "the loop's waveform")
    until(browser, f"{card}.querySelector('canvas.spec').dataset.drawn", "the loop's spectrogram")
    count = sum(len(h) for h in reply["results"].values())
    until(browser, f"{card}.querySelectorAll('canvas.hit-spec[data-drawn]').length === {count}",
          "every suggestion's spectrogram")
    assert until(browser, f"{card}.querySelector('audio.loop').duration", "the loop's duration") \
        == pytest.approx(2.0, abs=0.01)
    # The spectrogram canvas holds an image, not a blank.
    lit = js(browser, f"""const c = {card}.querySelector('canvas.spec');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] > 60) n++;
        return n / (d.length / 4);""")
    assert lit > 0.05
    # A second answer goes on top.
    send_match(server, source="cir record")
    until(browser, "document.querySelectorAll('article.answer').length === 2", "the 2nd answer")
    assert "cir record" in js(browser, f"return {card}.querySelector('.meta').textContent")
    shot(browser, tmp_path, "02-answers")


def test_open_page_from_the_plugin_shows_its_answer_and_picks_appear(browser, daemon, tmp_path):
    """The plugin's "open page" goes to <page>#request=<its request id>: that answer is
    marked and scrolled to; a pick made in the plugin's window shows in "Your picks"."""
    server, page = daemon
    with Client(server.endpoints[0], timeout_ms=20_000, retries=1) as client:
        first = client.call(protocol.encode_match(loop_audio(), SR, k=3, request_id="bridge-a-1",
                                                  source="cir-bridge"))
        client.call(protocol.encode_match(loop_audio(3.0), SR, k=3, request_id="bridge-a-2"))
        wait_until(lambda: len(page.history) == 2, what="both answers in the history")
        browser.get(f"{page.url}#request=bridge-a-1")
        until(browser, "document.querySelectorAll('article.answer').length === 2", "the answers")
        marked = until(browser, "document.querySelector('article.requested')", "the marked answer")
        assert marked.get_attribute("data-request") == "bridge-a-1"
        assert len(browser.find_elements("css selector", "article.requested")) == 1
        hit = next(iter(first["results"].values()))[0]
        client.pick(hit["preset_id"], hit["family"], "fnv1a64:0123456789abcdef", "cir-bridge")
    row = until(browser, "document.querySelector('#picks tbody tr.pick')", "the pick's row", 20)
    assert hit["name"] in row.text and "fnv1a64:0123456789abcdef" in row.text
    assert js(browser, "return document.getElementById('picks-box').hidden") is False
    shot(browser, tmp_path, "02b-requested-and-picks")


def test_a_preview_loads_and_plays(browser, daemon, tmp_path):
    server, page = daemon
    open_page(browser, page)
    send_match(server)
    until(browser, "document.querySelector('audio.preview')", "a preview player")
    state = js(browser, """const a = document.querySelector('audio.preview');
        return a.play().then(() => 'playing').catch(e => 'refused: ' + e.message);""")
    assert state == "playing"
    until(browser, "document.querySelector('audio.preview').currentTime > 0.2",
          "the preview to advance")
    info = js(browser, """const a = document.querySelector('audio.preview');
        return {ready: a.readyState, error: a.error && a.error.message, duration: a.duration};""")
    assert info["ready"] >= 2 and info["error"] is None and info["duration"] > 0.5
    # Compare by ear: "together" plays the loop and the suggestion at once.
    js(browser, "document.querySelectorAll('audio').forEach(a => a.pause())")
    js(browser, "[...document.querySelectorAll('.hit button')]"
                ".find(b => b.textContent === 'together').click()")
    until(browser, "!document.querySelector('audio.loop').paused && "
                   "[...document.querySelectorAll('audio.preview')].some(a => !a.paused)",
          "the loop and a suggestion playing together")
    shot(browser, tmp_path, "03-playing")


def test_how_to_get_a_suggestion_into_the_daw(browser, daemon, tmp_path):
    server, page = daemon
    open_page(browser, page)
    send_match(server)
    until(browser, "document.querySelector('.hit')", "a suggestion")
    js(browser, "[...document.querySelectorAll('.hit button')]"
                ".find(b => b.textContent === 'get it into your DAW').click()")
    text = until(browser, "document.querySelector('.how') && "
                          "document.querySelector('.how').textContent", "the how-to")
    assert "cir synth render" in text
    js(browser, "document.querySelector('.how button.export').click()")
    exported = until(browser, "[...document.querySelectorAll('.how code')]"
                              ".map(c => c.textContent).find(t => t.endsWith('.json'))",
                     "the exported preset path")
    assert Path(exported).is_file() and Path(exported).parent.name == "exports"
    shot(browser, tmp_path, "04-how")


def test_the_catalogue_view_searches_and_its_map_renders_points(browser, daemon, tmp_path):
    server, page = daemon
    open_page(browser, page)
    reply = send_match(server)
    until(browser, "document.querySelector('article.answer')", "the answer")
    family = "bass"
    js(browser, "document.getElementById('tab-catalogue').click()")
    until(browser, "document.querySelectorAll('#entries tbody tr').length === 30", "30 entries")
    js(browser, """const s = document.getElementById('map-family'); s.value = arguments[0];
        s.dispatchEvent(new Event('change'));""", family)
    points = int(until(browser, "document.getElementById('map').dataset.family === arguments[0]"
                                " && document.getElementById('map').dataset.points",
                       "the map", 120, family))
    assert points == 6  # 30 entries, family-balanced over 5 families
    assert js(browser, "return document.getElementById('map').dataset.query") == "marked"
    coloured = js(browser, """const c = document.getElementById('map');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const colours = new Set();
        for (let i = 0; i < d.length; i += 4) {
          if (d[i] + d[i + 1] + d[i + 2] > 200) colours.add(d[i] + ',' + d[i + 1] + ',' + d[i + 2]);
        }
        return [...colours];""")
    assert "95,196,138" in coloured  # the answer's suggestions (green)
    assert "240,163,60" in coloured  # the query's cross (orange)
    shot(browser, tmp_path, "05-map")
    # Search by name, filter by family, find similar.
    name = reply["results"][family][0]["name"]
    js(browser, """const s = document.getElementById('search'); s.value = arguments[0];
        s.dispatchEvent(new Event('input'));""", name)
    until(browser, "[...document.querySelectorAll('#entries tbody tr')].length === 1",
          "the search result", 30)
    js(browser, "document.querySelector('#entries tbody tr button').click()")  # audition
    until(browser, "document.querySelector('audio.audition') && "
                   "document.querySelector('audio.audition').currentTime > 0.1", "audition")
    js(browser, "[...document.querySelectorAll('#entries tbody button')]"
                ".find(b => b.textContent === 'similar').click()")
    until(browser, "document.getElementById('catalogue-count').textContent.includes('closest')",
          "similar entries")
    families = js(browser, "return [...document.querySelectorAll('#entries tbody tr')]"
                           ".map(tr => tr.children[2].textContent)")
    assert len(families) == 6 and set(families) == {family}
    shot(browser, tmp_path, "06-similar")


def test_a_file_dropped_or_picked_is_matched(browser, daemon, tmp_path):
    _server, page = daemon
    open_page(browser, page)
    from pedalboard.io import AudioFile

    wav = tmp_path / "my loop.wav"
    with AudioFile(str(wav), "w", SR, 2) as f:
        f.write(loop_audio().T)
    browser.find_element("id", "pick").send_keys(str(wav))
    until(browser, "document.querySelectorAll('article.answer').length === 1", "the picked file")
    assert "from this page" in js(browser, "return document.querySelector('.meta').textContent")
    # A drop event carrying a file (the page's own loop audio, fetched back as a File).
    js(browser, """fetch(document.querySelector('audio.loop').src).then(r => r.blob()).then(b => {
        const data = new DataTransfer();
        data.items.add(new File([b], 'dropped.wav', {type: 'audio/wav'}));
        window.dispatchEvent(new DragEvent('drop', {dataTransfer: data, cancelable: true}));
    });""")
    until(browser, "document.querySelectorAll('article.answer').length === 2", "the dropped file")
    # A file that is not audio: one clear line, nothing added.
    junk = tmp_path / "notes.txt"
    junk.write_text("not audio")
    browser.find_element("id", "pick").send_keys(str(junk))
    message = until(browser, "document.getElementById('notice').classList.contains('error') && "
                             "document.getElementById('notice').textContent", "the error notice")
    assert "cannot read notes.txt as audio" in message
    assert js(browser, "return document.querySelectorAll('article.answer').length") == 2
    shot(browser, tmp_path, "07-dropped")


def test_presence_is_shown_when_the_answer_has_it(browser, daemon, tmp_path):
    server, page = daemon
    open_page(browser, page)
    reply = send_match(server)
    wait_until(lambda: len(page.history) == 1, what="the answer in the history")
    answer = page.history.answers()[0]
    assert "presence" not in answer.reply
    assert js(browser, "return document.querySelectorAll('.presence').length") == 0
    # The same reply with per-family presence (what the encoder's presence heads add).
    presence = {family: round(0.9 - 0.15 * i, 2) for i, family in enumerate(reply["results"])}
    page.history.add(answer.header, answer.float_audio(), {**answer.reply, "presence": presence})
    until(browser, "document.querySelectorAll('article.answer').length === 2", "the 2nd answer")
    shown = js(browser, """return Object.fromEntries([...document.querySelector('article.answer')
        .querySelectorAll('section.family')].map(s => [s.dataset.family,
        s.querySelector('.presence').textContent]));""")
    assert shown == {f: f"presence {round(p * 100)}%" for f, p in presence.items()}
    # Shown twice (live, then on a reload), an answer keeps its previews.
    count = sum(len(hits) for hits in reply["results"].values())
    browser.refresh()
    until(browser, "document.querySelectorAll('article.answer').length === 2", "the reload")
    for nth in (1, 2):
        assert js(browser, f"return document.querySelector('article.answer:nth-child({nth})')"
                           ".querySelectorAll('audio.preview').length") == count
    shot(browser, tmp_path, "08-presence")


def test_foreign_host_and_path_traversal_are_refused_in_the_browser(daemon, tmp_path):
    _, page = daemon
    port = int(page.url.rstrip("/").rsplit(":", 1)[1])
    # DNS rebinding: a name that resolves to 127.0.0.1 still sends its own Host.
    driver = chromium(tmp_path / "profile",
                      "--host-resolver-rules=MAP evil.example 127.0.0.1")
    try:
        driver.get(f"http://evil.example:{port}/")
        body = driver.find_element("tag name", "body").text
        assert "refused: Host 'evil.example:" in body
        assert not driver.find_elements("id", "answers")
        shot(driver, tmp_path, "09-refused-host")
        for path in ("api/presets/..%2F..%2F..%2Fetc%2Fpasswd/preview",
                     "static/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
                     "api/answers/..%2F..%2F1/audio.wav"):
            driver.get(page.url + path)
            text = driver.find_element("tag name", "body").text
            assert "Not Found" in text and "root:" not in text, path
        # The page's own fetch of a state-changing action without the token is refused.
        driver.get(page.url)
        status = driver.execute_script(
            "return fetch('/api/presets/1/export', {method: 'POST'}).then(r => r.status);")
        assert status == 403
    finally:
        driver.quit()


@pytest.fixture
def shipped_daemon(tmp_path):
    """The daemon as a user runs it: the shipped encoder (heads and presence included) over a
    catalogue it embedded itself."""
    from cir.encoder.embed import load_embedder

    db = builtin_catalogue(tmp_path / "shipped.db", limit=15, embedder="default")
    with page_daemon(tmp_path, db, embedder=load_embedder()) as (server, page):
        yield server, page


def test_a_capture_from_the_cir_bridge_vst3_shows_up_on_the_page(
    browser, shipped_daemon, tmp_path, monkeypatch
):
    from test_plugin_bridge import BRIDGE, Stream, known_loop, load_bridge, press_capture, status

    if not BRIDGE.exists():
        pytest.skip(f"{BRIDGE} not built: run `make plugins`")
    server, page = shipped_daemon
    open_page(browser, page)
    plugin = load_bridge(monkeypatch, server.endpoints[0])
    feed = Stream(plugin, known_loop())
    feed.blocks(20)
    press_capture(feed, bars=1)
    assert feed.until(lambda: status(plugin)["state"] in ("answered", "error"))
    assert status(plugin)["state"] == "answered"
    until(browser, "document.querySelectorAll('article.answer').length === 1", "the capture")
    card = "document.querySelector('article.answer')"
    meta = js(browser, f"return {card}.querySelector('.meta').textContent")
    assert "from CIR Bridge plugin" in meta and "2.0 s" in meta and "stereo" in meta
    assert until(browser, f"{card}.querySelector('audio.loop').duration", "the loop") \
        == pytest.approx(2.0, abs=0.01)
    families = js(browser, f"return [...{card}.querySelectorAll('section.family')]"
                           ".map(s => s.dataset.family)")
    assert set(families) == {"percussion", "bass", "lead", "pad", "keys"}
    until(browser, f"{card}.querySelector('canvas.spec').dataset.drawn", "the loop's spectrogram")
    until(browser, f"{card}.querySelectorAll('canvas.hit-spec[data-drawn]').length === 15",
          "the suggestions' spectrograms")
    assert js(browser, f"return {card}.querySelectorAll('audio.preview').length") == 15
    # The shipped encoder's presence heads: every family says how surely it is heard.
    shown = js(browser, f"return [...{card}.querySelectorAll('section.family')].map(s => "
                        "s.querySelector('.presence') && s.querySelector('.presence').textContent)")
    assert len(shown) == 5 and all(re.fullmatch(r"presence \d+%", p or "") for p in shown), shown
    top = status(plugin)["top_score"]
    scores = js(browser, f"return [...{card}.querySelectorAll('.hit .similarity')]"
                         ".map(s => parseFloat(s.textContent.replace('score', '')))")
    assert max(scores) == pytest.approx(top, abs=1e-3)
    shot(browser, tmp_path, "10-bridge-capture")
