"""The CIR Bridge window (DPF DGL, Cairo) read like a producer reads it.

The plugin's JACK standalone build (`make plugins`: the same plugin and window code as the
VST3, CLAP and LV2) runs under Xvfb on a JACK dummy server. A player (sounddevice, in a
subprocess: PortAudio looks for JACK when it is first imported) feeds it a loop and records
its output. xdotool presses the window's buttons; screenshots of the window are read by OCR
(tesseract) to find what a producer would see: the state sentence and the suggestions. The
daemon is the real one (daemon.server.Server) on a loopback port with a small catalogue whose
entries have preview files, so auditions and picks go all the way.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from conftest import BUILD_PLUGINS

STANDALONE = BUILD_PLUGINS / "CIRBridge"
TOOLS = ("Xvfb", "jackd", "jack_lsp", "jack_connect", "tesseract", "xdotool")
RATE = 48_000
GRID = (620, 580)  # the window's layout grid (CIRBridgeUI.cpp), scaled by DPF_SCALE_FACTOR
CAPTURE_BUTTON = (64, 99)
BARS_DOWN = (191, 99)
OPEN_PAGE = (550, 99)
ADJECTIVES = ["Amber", "Cobalt", "Velvet", "Marble", "Copper", "Silver", "Walnut", "Crimson"]
NOUNS = {"percussion": "Kick", "bass": "Reese", "lead": "Whistle"}


def _missing() -> str | None:
    absent = [tool for tool in TOOLS if shutil.which(tool) is None]
    if absent:
        return f"{', '.join(absent)} not installed (see .ci/run)"
    if not STANDALONE.exists():
        return f"{STANDALONE} not built: run `make plugins`"
    return None


pytestmark = [pytest.mark.slow, pytest.mark.skipif(_missing() is not None, reason=str(_missing()))]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def display():
    """A private X server; its display name."""
    read, write = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "2400x1800x24",
                             "-nolisten", "tcp"], pass_fds=(write,), stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    assert number, "Xvfb did not start"
    yield f":{number}"
    _stop(proc)


@pytest.fixture
def jack_env(display):
    """A JACK dummy server (64-frame periods, like a low-latency DAW); the environment for
    its clients, with the display."""
    name = f"cir-ui-{uuid.uuid4().hex[:8]}"
    proc = subprocess.Popen(["jackd", "--no-realtime", "-n", name, "-d", "dummy", "-r", str(RATE),
                             "-p", "64"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = dict(os.environ, JACK_DEFAULT_SERVER=name, JACK_NO_AUDIO_RESERVATION="1", DISPLAY=display)
    deadline = time.monotonic() + 15
    while subprocess.run(["jack_lsp"], env=env, capture_output=True).returncode != 0:
        assert time.monotonic() < deadline and proc.poll() is None, "jackd did not start"
        time.sleep(0.1)
    yield env
    _stop(proc)


def preview_tone(freq: float, seconds: float = 6.0) -> np.ndarray:
    t = np.arange(int(seconds * 22_050)) / 22_050
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def named_catalogue(path: Path, embedder) -> None:
    """A catalogue of 24 entries with two-word names OCR reads well, random vectors and a
    preview file each (a sine: what an audition must play)."""
    from pedalboard.io import AudioFile

    from cir.presets_db.catalogue import Catalogue, PresetResult

    rng = np.random.default_rng(7)
    previews = path.with_name(path.name + ".previews")
    previews.mkdir(parents=True)
    results = []
    with Catalogue.open(path) as catalogue:
        source = catalogue.add_source("folder", str(path.parent / "named"), {})
        for i, adjective in enumerate(ADJECTIVES):
            for j, (family, noun) in enumerate(NOUNS.items()):
                preview = previews / f"{family}-{i}.flac"
                with AudioFile(str(preview), "w", 22_050, 1) as f:
                    f.write(preview_tone(220.0 * (1 + i + j))[None, :])
                v = rng.standard_normal(embedder.dim).astype(np.float32)
                results.append((source.id, PresetResult(
                    key=f"{family}-{i}", name=f"{adjective} {noun}", family=family, tags=(),
                    locator={"index": i}, content_hash=f"{family}{i}", settings_hash="test",
                    status="ok", sample_rate=22_050, preview=str(preview),
                    vector=v / np.linalg.norm(v), embedder=embedder.name,
                    embedder_version=embedder.version,
                )))
        catalogue.write_results(results)


@pytest.fixture
def daemon(tmp_path, monkeypatch):
    """The real daemon on a loopback port; (endpoint, requests received, catalogue path)."""
    from test_plugin_bridge import free_port

    from cir.daemon.server import Server, ServerConfig
    from cir.encoder.embed import load_embedder
    from cir.protocol.keys import ensure_keys, key_path

    ensure_keys(key_path())
    embedder = load_embedder("mfcc80")
    path = tmp_path / "catalogue.db"
    named_catalogue(path, embedder)
    received: list[tuple[dict, np.ndarray]] = []
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    server = Server(ServerConfig([endpoint], path, embedder, lock_path=tmp_path / "daemon.lock",
                                 warm_up=False))
    server.observer = lambda h, a: received.append((h, a.copy()))
    thread = server.serve_in_thread()
    yield endpoint, received, path
    server.stop()
    thread.join(10)


PLAYER = textwrap.dedent("""
    # Plays the loop into the bridge while the file LOOP_ON exists (silence after), records
    # the bridge's output into OUT (float32 stereo, appended as it comes), until STOP exists.
    import os, subprocess, sys, time
    import numpy as np
    import sounddevice as sd

    loop_path, loop_on, out_path, stop = sys.argv[1:5]
    loop = np.load(loop_path)
    jack = [i for i, d in enumerate(sd.query_devices())
            if sd.query_hostapis(d["hostapi"])["name"].startswith("JACK")
            and d["max_input_channels"] >= 2 and d["max_output_channels"] >= 2]
    pos = [0]
    out = open(out_path, "wb", buffering=0)

    def callback(indata, outdata, frames, time_info, status):
        if os.path.exists(loop_on):
            idx = (pos[0] + np.arange(frames)) % len(loop)
            outdata[:] = loop[idx]
        else:
            outdata[:] = 0.0
        pos[0] += frames
        out.write(indata.astype("<f4").tobytes())

    with sd.Stream(samplerate=48000, channels=2, dtype="float32", device=jack[0],
                   callback=callback, blocksize=256):
        ports = subprocess.run(["jack_lsp"], capture_output=True, text=True).stdout.split("\\n")
        mine = [p for p in ports if p.startswith("PortAudio")]
        outs = sorted(p for p in mine if ":out_" in p)
        ins = sorted(p for p in mine if ":in_" in p)
        for p in ("system:capture_1", "system:capture_2"):
            for q in ins:
                subprocess.run(["jack_disconnect", p, q], capture_output=True)
        for a, b in zip(outs, ["CIR Bridge:audio_in_1", "CIR Bridge:audio_in_2"]):
            subprocess.run(["jack_connect", a, b], check=True)
        for a, b in zip(["CIR Bridge:audio_out_1", "CIR Bridge:audio_out_2"], ins):
            subprocess.run(["jack_connect", a, b], check=True)
        print("connected", flush=True)
        while not os.path.exists(stop):
            time.sleep(0.05)
    out.close()
""")


class Bridge:
    """The standalone plugin with its window, and the player feeding it."""

    def __init__(self, env: dict, tmp: Path, endpoint: str, scale: float,
                 extra_env: dict | None = None):
        from test_plugin_bridge import known_loop

        self.env, self.tmp, self.scale = env, tmp, scale
        self.loop_on, self.stop_file = tmp / "loop_on", tmp / "stop"
        self.out_path = tmp / "out.f32"
        self.opened = tmp / "opened.txt"
        # "open page" runs xdg-open: this one records what it was asked to open.
        bin_dir = tmp / "bin"
        bin_dir.mkdir()
        (bin_dir / "xdg-open").write_text(f"#!/bin/sh\necho \"$1\" >> {self.opened}\n")
        (bin_dir / "xdg-open").chmod(0o755)
        app_env = dict(env, CIR_ENDPOINT=endpoint, CIR_BRIDGE_TIMEOUT_MS="20000",
                       DPF_SCALE_FACTOR=str(scale), PATH=f"{bin_dir}:{env['PATH']}",
                       **(extra_env or {}))
        self.logs = [open(tmp / "bridge.log", "w"), open(tmp / "player.log", "w")]  # noqa: SIM115
        self.app = subprocess.Popen([str(STANDALONE)], env=app_env, stdout=subprocess.DEVNULL,
                                    stderr=self.logs[0])
        self.window = self._wait_window()
        loop = np.ascontiguousarray(np.resize(known_loop(1.0).T, (RATE * 2, 2)))
        np.save(tmp / "loop.npy", loop)
        self.loop_on.touch()
        self.player = subprocess.Popen(
            [sys.executable, "-c", PLAYER, str(tmp / "loop.npy"), str(self.loop_on),
             str(self.out_path), str(self.stop_file)],
            env=env, stdout=subprocess.PIPE, stderr=self.logs[1], text=True,
        )
        connected = self.player.stdout.readline().strip() == "connected"
        assert connected, (tmp / "player.log").read_text()
        self.started = time.monotonic()

    def _wait_window(self) -> str:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            found = subprocess.run(["xdotool", "search", "--name", "^CIR Bridge$"], env=self.env,
                                   capture_output=True, text=True).stdout.split()
            if found:
                return found[0]
            assert self.app.poll() is None, (self.tmp / "bridge.log").read_text()
            time.sleep(0.1)
        raise AssertionError("the CIR Bridge window did not appear")

    def geometry(self) -> tuple[int, int, int, int]:
        out = subprocess.run(["xdotool", "getwindowgeometry", "--shell", self.window],
                             env=self.env, capture_output=True, text=True, check=True).stdout
        g = dict(line.split("=") for line in out.split())
        return int(g["X"]), int(g["Y"]), int(g["WIDTH"]), int(g["HEIGHT"])

    def click(self, x: float, y: float) -> None:
        """Click at window coordinates (pixels)."""
        subprocess.run(["xdotool", "mousemove", "--window", self.window, str(int(x)), str(int(y)),
                        "click", "1"], env=self.env, check=True)

    def press(self, grid_point: tuple[int, int]) -> None:
        self.click(grid_point[0] * self.scale, grid_point[1] * self.scale)

    def position(self) -> int:
        """Frames of the bridge's output recorded so far (the player appends as it goes)."""
        return self.out_path.stat().st_size // 8

    def one_bar(self) -> None:
        """Bars 4 -> 1 (one bar at the fallback tempo is 2 s), and 2 s of loop played."""
        for _ in range(3):
            self.press(BARS_DOWN)
        time.sleep(max(0.0, 2.5 - (time.monotonic() - self.started)))

    def screenshot(self, name: str) -> Path:
        from PIL import ImageGrab

        x, y, w, h = self.geometry()
        image = ImageGrab.grab(bbox=(x, y, x + w, y + h), xdisplay=self.env["DISPLAY"])
        path = self.tmp / f"{name}.png"
        image.save(path)
        return path

    def read(self, name: str, shot: Path | None = None) -> list[dict]:
        """OCR words of a fresh screenshot (or of `shot`): text and centre in window pixels."""
        from PIL import Image

        shot = shot or self.screenshot(name)
        zoom = 3 if self.scale < 2 else 2  # tesseract reads text 20+ pixels high best
        image = Image.open(shot).convert("L")
        image.resize((image.width * zoom, image.height * zoom), Image.LANCZOS).save(
            self.tmp / "ocr.png")
        tsv = subprocess.run(["tesseract", str(self.tmp / "ocr.png"), "-", "tsv"],
                             capture_output=True, text=True, check=True).stdout.splitlines()
        head = tsv[0].split("\t")
        words = []
        for row in tsv[1:]:
            cells = dict(zip(head, row.split("\t"), strict=False))
            if cells.get("text", "").strip():
                words.append({
                    "text": cells["text"].strip(),
                    "x": (int(cells["left"]) + int(cells["width"]) / 2) / zoom,
                    "y": (int(cells["top"]) + int(cells["height"]) / 2) / zoom,
                })
        return words

    def close(self) -> np.ndarray:
        """Stop both; the bridge's recorded output, (frames, 2)."""
        self.stop_file.touch()
        try:
            self.player.wait(10)
        except subprocess.TimeoutExpired:
            self.player.kill()
        _stop(self.app)
        for log in self.logs:
            log.close()
        return np.fromfile(self.out_path, "<f4").reshape(-1, 2)


def lines(words: list[dict]) -> list[str]:
    """The words as rows of the window (same height, left to right): tesseract splits a row
    whose columns lie far apart into blocks."""
    rows: list[list[dict]] = []
    for w in sorted(words, key=lambda w: w["y"]):
        if rows and abs(rows[-1][0]["y"] - w["y"]) < 6:
            rows[-1].append(w)
        else:
            rows.append([w])
    return [" ".join(w["text"] for w in sorted(row, key=lambda w: w["x"])) for row in rows]


def until_seen(bridge: Bridge, wanted, timeout: float, name: str) -> tuple[list[dict], float]:
    """Screenshots until `wanted(text)` holds; (the words, when that screenshot was taken)."""
    deadline = time.monotonic() + timeout
    while True:
        taken = time.monotonic()
        words = bridge.read(name)
        if wanted("\n".join(lines(words))):
            return words, taken
        assert time.monotonic() < deadline, f"not seen within {timeout} s: {lines(words)}"
        time.sleep(0.1)


def word_at(words: list[dict], text: str, row_y: float | None = None) -> dict:
    """The OCR word `text` (on the row at `row_y` when given)."""
    found = [w for w in words if w["text"] == text
             and (row_y is None or abs(w["y"] - row_y) < 8)]
    assert found, (text, row_y, lines(words))
    return found[0]


def rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))


def test_window_shows_the_answer_auditions_and_records_the_pick_at_200_percent(
        jack_env, daemon, tmp_path):
    from cir.presets_db.picks import load_picks
    from cir.protocol.client import Client

    endpoint, received, catalogue = daemon
    bridge = Bridge(jack_env, tmp_path, endpoint, scale=2.0)
    try:
        assert bridge.geometry()[2:] == (GRID[0] * 2, GRID[1] * 2)
        until_seen(bridge, lambda t: "idle" in t and "Capture" in t, 20, "idle")
        bridge.one_bar()
        bridge.press(CAPTURE_BUTTON)
        words, _ = until_seen(bridge, lambda t: "answered" in t, 40, "answered")
        assert len(received) == 1
        header, audio = received[0]
        with Client(endpoint) as client:
            reply = client.match(audio, RATE, k=5)

        # Audition: the loop stops (silence in), then a click on the top percussion
        # suggestion plays its preview through the plugin's output.
        bridge.loop_on.unlink()
        time.sleep(0.3)
        quiet_from = bridge.position()
        time.sleep(0.7)
        quiet = (quiet_from, bridge.position())
        top = reply["results"]["percussion"][0]
        adjective = top["name"].split()[0]
        name_word = word_at(words, adjective)
        clicked = bridge.position()
        bridge.click(name_word["x"], name_word["y"])
        time.sleep(3.0)
        # "this one" on the same row records the pick in the catalogue.
        bridge.click(*(lambda w: (w["x"], w["y"]))(word_at(words, "this", name_word["y"])))
        until_seen(bridge, lambda t: f"picked {top['name']} for percussion" in t, 10, "picked")
    finally:
        out = bridge.close()

    assert header["source"] == "cir-bridge" and audio.shape == (RATE * 2, 2)
    # What the daemon answers for that loop is what the window showed.
    text = lines(words)
    for hits in reply["results"].values():
        row = f"{hits[0]['name']} {hits[0]['source']} {hits[0]['score']:.2f}"
        assert any(row in line for line in text), (row, text)

    assert rms(out[quiet[0]:quiet[1]]) < 1e-4
    # The preview starts within 2 s of the click (a request to the daemon, then the ring).
    window = RATE // 20
    onset = next((i for i in range(clicked, clicked + 2 * RATE, window)
                  if rms(out[i:i + window]) > 0.1), None)
    assert onset is not None, "no preview in the output within 2 s of the click"
    played = out[onset + window: onset + window + int(0.8 * RATE)]
    assert rms(played) > 0.2, rms(played)  # the preview: a 0.5 sine at -3 dB is 0.25 RMS
    # ... and it is this preset's preview: its sine's pitch (named_catalogue).
    i, j = ADJECTIVES.index(adjective), list(NOUNS).index("percussion")
    spectrum = np.abs(np.fft.rfft(played[:, 0] * np.hanning(len(played))))
    assert abs(np.argmax(spectrum) * RATE / len(played) - 220.0 * (1 + i + j)) < 5.0

    picks = load_picks(str(catalogue))
    assert [(p.preset_name, p.family, p.client) for p in picks] == [
        (top["name"], "percussion", "cir-bridge")]
    assert picks[0].query.startswith("fnv1a64:") and picks[0].preset_id == top["preset_id"]


def test_window_says_no_daemon_within_2_s_at_100_percent(jack_env, tmp_path):
    from test_plugin_bridge import free_port

    from cir.protocol.keys import ensure_keys, key_path

    ensure_keys(key_path())
    bridge = Bridge(jack_env, tmp_path, f"tcp://127.0.0.1:{free_port()}", scale=1.0)
    try:
        assert bridge.geometry()[2:] == GRID
        until_seen(bridge, lambda t: "idle" in t, 20, "idle-100")
        bridge.one_bar()
        pressed = time.monotonic()
        bridge.press(CAPTURE_BUTTON)
        # Screenshots every 0.1 s for 3 s, read afterwards: OCR's speed does not count.
        shots = []
        while time.monotonic() - pressed < 3.0:
            shots.append((time.monotonic(), bridge.screenshot(f"no-daemon-{len(shots)}")))
            time.sleep(0.1)
        seen, words = None, []
        for taken, shot in shots:
            words = bridge.read("no-daemon", shot)
            if "no daemon: run" in "\n".join(lines(words)):
                seen = taken
                break
    finally:
        bridge.close()
    assert seen is not None, f"no 'no daemon' sentence within 3 s: {lines(words)}"
    assert seen - pressed < 2.0, f"the sentence took {seen - pressed:.2f} s"
    assert any("no daemon: run" in line and "cir daemon start" in line for line in lines(words))


def test_absent_family_is_collapsed_not_hidden(jack_env, tmp_path):
    from test_plugin_bridge import ScriptedDaemon

    def reply(request_id: str) -> bytes:
        hit = {"rank": 1, "preset_id": 3, "name": "Marble Reese", "family": "bass",
               "key": "b3", "source": "sf2", "score": 0.87, "preview": None}
        pad = dict(hit, preset_id=4, name="Hidden Choir", family="pad", score=0.4)
        return json.dumps({"v": 1, "id": request_id, "ok": True, "error": None,
                           "results": {"bass": [hit], "pad": [pad]},
                           "presence": {"bass": 0.93, "pad": 0.12}}).encode()

    fake = ScriptedDaemon(tmp_path, reply)
    bridge = Bridge(jack_env, tmp_path, fake.endpoint, scale=1.0)
    try:
        bridge.one_bar()
        bridge.press(CAPTURE_BUTTON)
        words, _ = until_seen(bridge, lambda t: "answered" in t, 20, "absent")
        bridge.press(OPEN_PAGE)  # "open page": the browser is asked for the answer's page
        deadline = time.monotonic() + 10
        while not bridge.opened.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        # Resized by the user to 150 %: the layout scales with the window.
        subprocess.run(["xdotool", "windowsize", bridge.window, str(GRID[0] * 3 // 2),
                        str(GRID[1] * 3 // 2)], env=bridge.env, check=True)
        time.sleep(0.5)
        resized, _ = until_seen(bridge, lambda t: "Marble Reese" in t, 10, "resized")
    finally:
        bridge.close()
        fake.close()
    # The daemon's default page (this daemon's status tells none), at this answer.
    opened = bridge.opened.read_text().split()
    assert len(opened) == 1 and re.fullmatch(
        r"http://127\.0\.0\.1:47101/#request=bridge-[0-9a-f]+-\d+", opened[0]), opened
    reese = word_at(resized, "Marble")
    assert abs(reese["x"] - 1.5 * word_at(words, "Marble")["x"]) < 6
    assert abs(reese["y"] - 1.5 * word_at(words, "Marble")["y"]) < 6
    text = lines(words)
    assert any("bass (presence 93%)" in line for line in text), text
    assert any("Marble Reese sf2 0.87" in line for line in text), text
    # The absent family keeps its line, without its suggestions.
    assert any("pad: absent (presence 12%)" in line for line in text), text
    assert not any("Hidden Choir" in line for line in text), text


# --- real-time safety -------------------------------------------------------------------------

NATIVE_TESTS = STANDALONE.parents[2] / "plugin_bridge" / "native" / "tests"
BLOCK = 64  # the JACK server's period (jack_env)


def build_shim(tmp: Path) -> Path:
    shim = tmp / "rt_shim.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-Wall", "-Wextra", "-Werror", "-o",
                    str(shim), str(NATIVE_TESTS / "rt_shim.c"), "-ldl", "-lpthread"], check=True)
    return shim


def shim_report(path: Path) -> dict:
    return json.loads(path.read_text())


def test_rt_shim_counts_allocations_and_locks_in_the_callback_only(tmp_path):
    """The shim is not blind: a host whose callback allocates, frees and locks once per call
    is counted exactly, and its allocations outside the callback are not."""
    shim, check = build_shim(tmp_path), tmp_path / "rt_shim_check"
    subprocess.run(["gcc", "-O0", "-rdynamic", "-o", str(check),
                    str(NATIVE_TESTS / "rt_shim_check.c"), "-ldl", "-lpthread"], check=True)
    report = tmp_path / "report.json"
    subprocess.run([str(check)], check=True, timeout=30,
                   env=dict(os.environ, LD_PRELOAD=str(shim), RT_SHIM_OUT=str(report)))
    facts = shim_report(report)
    assert (facts["calls"], facts["allocs"], facts["frees"], facts["locks"]) == (10, 10, 10, 10)


def test_audio_callback_never_allocates_nor_locks_with_the_window_open_and_auditioning(
        jack_env, daemon, tmp_path):
    """30 s of 64-frame blocks through the JACK standalone with its window open: a capture
    answered, then auditions clicked every 2 s (alone and mixed), another capture sent. The
    thread running the process callback makes no allocation and takes no mutex."""
    report = tmp_path / "rt.json"
    bridge = Bridge(jack_env, tmp_path, daemon[0], scale=1.0,
                    extra_env={"LD_PRELOAD": str(build_shim(tmp_path)), "RT_SHIM_OUT": str(report)})
    try:
        bridge.one_bar()
        bridge.press(CAPTURE_BUTTON)
        words, _ = until_seen(bridge, lambda t: "answered" in t, 40, "rt-answered")
        rows = [w for w in words if w["text"] in ADJECTIVES]
        assert len(rows) >= 3, lines(words)
        start = shim_report(report)["calls"]
        wanted = 30 * RATE // BLOCK
        clicks = 0
        while shim_report(report)["calls"] - start < wanted:
            row = rows[clicks % len(rows)]
            bridge.click(row["x"], row["y"])  # audition (or stop) this suggestion
            if clicks == 1:
                until_seen(bridge, lambda t: "playing" in t, 10, "rt-playing")
            if clicks == 5:
                bridge.press((440, 99))  # "hear alone" -> "hear mixed"
            if clicks == 8:
                bridge.press(CAPTURE_BUTTON)  # a capture sent while auditioning
            clicks += 1
            time.sleep(2.0)
        final = shim_report(report)
    finally:
        bridge.close()
    assert final["calls"] - start >= wanted and final["frames"] == final["calls"] * BLOCK
    assert clicks >= 10
    assert (final["allocs"], final["frees"], final["locks"]) == (0, 0, 0), final
