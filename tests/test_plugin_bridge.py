"""The CIR Bridge plugin (plugin_bridge/native, built by `make plugins`) and `cir plugin install`.

pedalboard hosts the VST3 build and streams a known stereo loop through it in blocks
(`reset=False`, like a DAW); the real daemon (daemon.server.Server on a loopback port, a small
catalogue, its `observer` hook) must receive the captured loop bit-exact and answer. pedalboard
(JUCE 7) never refreshes output parameters, so the plugin's state is read from its "status"
state entry (plugin_bridge.native_status), which mirrors the State / Captured / Top score outputs.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import BUILD_PLUGINS, REPO

from cir.cli import cli
from cir.plugin_bridge.install import PluginInstallError, install_plugins, user_plugin_dirs
from cir.plugin_bridge.native_status import BridgeStatusError, bridge_status

pedalboard = pytest.importorskip("pedalboard")

BRIDGE = BUILD_PLUGINS / "CIRBridge.vst3"
SR = 44_100
BLOCK = 512
# One bar at the plugin's fallback tempo (120 BPM, 4/4): pedalboard gives no transport.
BAR_SECONDS = 2.0
needs_bridge = pytest.mark.skipif(
    not BRIDGE.exists(), reason=f"{BRIDGE} not built: run `make plugins`"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def known_loop(seconds: float = 1.0, seed: int = 3) -> np.ndarray:
    """(2, frames) float32: a bass tone, a lead tone and noise bursts; distinct channels."""
    t = np.arange(int(seconds * SR)) / SR
    rng = np.random.default_rng(seed)
    bursts = rng.standard_normal(t.size) * (np.sin(2 * np.pi * 4 * t) > 0.9)
    left = 0.3 * np.sin(2 * np.pi * 55 * t) + 0.1 * bursts
    right = 0.2 * np.sin(2 * np.pi * 660 * t) + 0.1 * bursts + 0.05 * rng.standard_normal(t.size)
    return np.stack([left, right]).astype(np.float32)


class Stream:
    """Feeds a looping signal through a plugin block by block and keeps what went in."""

    def __init__(self, plugin, loop: np.ndarray):
        self.plugin, self.loop, self.pos, self.fed = plugin, loop, 0, []

    def blocks(self, n: int) -> None:
        for _ in range(n):
            idx = (self.pos + np.arange(BLOCK)) % self.loop.shape[1]
            block = np.ascontiguousarray(self.loop[:, idx])
            out = self.plugin.process(block, SR, buffer_size=BLOCK, reset=False)
            assert np.array_equal(out, block)  # pass-through, bit-exact, never stalled
            self.fed.append(block)
            self.pos += BLOCK

    def until(self, predicate, timeout: float = 20.0) -> bool:
        """Keep processing (like a playing DAW) until predicate() or timeout seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            self.blocks(4)
            time.sleep(0.005)
        return predicate()

    def stream(self) -> np.ndarray:
        """(frames, 2) of everything fed so far."""
        return np.concatenate(self.fed, axis=1).T


def status(plugin) -> dict:
    return bridge_status(plugin.preset_data)


def press_capture(feed: Stream, bars: int = 1) -> None:
    """Press the Capture button: off, one block (hosts send one value per block), then on."""
    feed.plugin.bars = bars
    feed.plugin.capture = False
    feed.blocks(1)
    feed.plugin.capture = True


def load_bridge(monkeypatch, endpoint: str, timeout_ms: int = 15_000):
    # The plugin reads both variables when it is instantiated.
    monkeypatch.setenv("CIR_ENDPOINT", endpoint)
    monkeypatch.setenv("CIR_BRIDGE_TIMEOUT_MS", str(timeout_ms))
    return pedalboard.load_plugin(str(BRIDGE))


@pytest.fixture
def daemon(tmp_path):
    """The real daemon on a loopback port with a small synthetic catalogue; records requests."""
    from cir.benchmarks.workload import synthetic_catalogue
    from cir.daemon.server import Server, ServerConfig
    from cir.encoder.embed import load_embedder

    embedder = load_embedder("mfcc80")
    catalogue = synthetic_catalogue(tmp_path / "catalogue.db", 30, embedder)
    received: list[tuple[dict, np.ndarray]] = []
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    server = Server(ServerConfig([endpoint], catalogue, embedder,
                                 lock_path=tmp_path / "daemon.lock", warm_up=False))
    server.observer = lambda h, a: received.append((h, a.copy()))
    thread = server.serve_in_thread()
    yield endpoint, received
    server.stop()
    thread.join(10)


# --- the capture engine (C++ unit test, no host) -------------------------------------------------


def build_native_test(tmp_path, name: str):
    native = REPO / "plugin_bridge" / "native"
    exe = tmp_path / name
    subprocess.run(
        ["g++", "-std=c++17", "-O1", "-Wall", "-Wextra", "-Werror", f"-I{native}",
         str(native / "tests" / f"{name}.cpp"), "-o", str(exe)],
        check=True, capture_output=True,
    )
    return exe


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not installed")
@pytest.mark.parametrize("name", ["capture_test", "answer_test", "preview_test"])
def test_native_engine_unit_tests(tmp_path, name):
    """capture_test: transport, bars, loops, the ring, the window's progress; answer_test:
    whole replies, refusals and malformed replies; preview_test: the audition ring."""
    run = subprocess.run([str(build_native_test(tmp_path, name))], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "ok: 0 failure(s)" in run.stdout


# --- the VST3 in pedalboard ---------------------------------------------------------------------


@needs_bridge
def test_bridge_loads_with_its_parameters(monkeypatch):
    plugin = load_bridge(monkeypatch, f"tcp://127.0.0.1:{free_port()}")
    assert not plugin.is_instrument
    assert {"capture", "bars", "auto", "state", "captured_s", "top_score"} <= set(plugin.parameters)
    assert plugin.bars == 4
    idle = {"state": "idle", "captured_seconds": 0.0, "top_score": 0.0, "requests": 0,
            "error": "", "message": "", "answer": {"results": {}, "presence": {}}}
    assert status(plugin) == idle


@needs_bridge
@pytest.mark.slow
def test_daemon_receives_the_loop_bit_exact_and_answers(monkeypatch, daemon):
    endpoint, received = daemon
    plugin = load_bridge(monkeypatch, endpoint)
    feed = Stream(plugin, known_loop())
    feed.blocks(20)
    press_capture(feed, bars=1)
    assert feed.until(lambda: status(plugin)["state"] in ("answered", "error"))

    final = status(plugin)
    assert final["state"] == "answered", final
    assert final["requests"] == 1
    assert final["captured_seconds"] == pytest.approx(BAR_SECONDS, abs=1e-3)
    assert 0.0 < final["top_score"] <= 1.0
    assert len(received) == 1
    header, audio = received[0]
    assert header["v"] == 1 and header["cmd"] == "match" and header["format"] == "f32le"
    assert (header["sample_rate"], header["channels"]) == (SR, 2)
    assert header["tempo"] is None and header["k"] == 5
    assert audio.shape == (int(BAR_SECONDS * SR), 2)
    # Bit-exact: the request is one contiguous slice of what went through the plugin.
    fed = feed.stream()
    starts = np.flatnonzero((fed[:, 0] == audio[0, 0]) & (fed[:, 1] == audio[0, 1]))
    assert any(np.array_equal(fed[s : s + len(audio)], audio) for s in starts)
    # It ends with the block in which the capture completed: the most recent audio.
    assert len(fed) - (starts.max() + len(audio)) < 64 * BLOCK

    # The whole answer reached the plugin: the same loop asked through the Python client
    # gives the same families, presets, sources and scores, in the same order.
    from cir.protocol.client import Client

    with Client(endpoint) as client:
        reply = client.match(audio, SR, k=5)
    expected = {
        family: [(h["preset_id"], h["name"], h["key"], h["source"]) for h in hits]
        for family, hits in reply["results"].items()
    }
    got = final["answer"]["results"]
    assert expected and {f: [(h["preset_id"], h["name"], h["key"], h["source"]) for h in hits]
                         for f, hits in got.items()} == expected
    for family, hits in reply["results"].items():
        scores = [h["score"] for h in hits]
        assert [h["score"] for h in got[family]] == pytest.approx(scores, abs=1e-6)
    assert final["answer"]["presence"] == pytest.approx(reply.get("presence") or {})
    assert final["top_score"] == pytest.approx(
        max(h["score"] for hits in reply["results"].values() for h in hits), abs=1e-6)

    # One press, one request: nothing more is sent while the host keeps playing.
    feed.blocks(50)
    assert len(received) == 2 and status(plugin)["requests"] == 1


def user_key(tmp_path):
    """The user's key file, as a daemon's first start creates it (the plugin reads it)."""
    from cir.protocol.keys import ensure_keys, key_path

    return ensure_keys(key_path())


@needs_bridge
@pytest.mark.slow
def test_daemon_down_gives_error_and_never_stalls(monkeypatch, tmp_path):
    user_key(tmp_path)
    plugin = load_bridge(monkeypatch, f"tcp://127.0.0.1:{free_port()}", timeout_ms=300)
    feed = Stream(plugin, known_loop())
    feed.blocks(10)
    press_capture(feed, bars=1)
    assert feed.until(lambda: status(plugin)["state"] == "error", timeout=20)
    # Nothing listens: known from the refused connection, nothing was sent.
    assert status(plugin)["error"] == "no_daemon" and status(plugin)["requests"] == 0
    assert status(plugin)["message"] == "no daemon: run `cir daemon start`"
    # A new press after the error starts over (and fails again, the daemon is still down).
    press_capture(feed, bars=1)
    assert feed.until(lambda: status(plugin)["state"] == "capturing", timeout=20)
    assert feed.until(lambda: status(plugin)["state"] == "error", timeout=20)
    assert status(plugin)["error"] == "no_daemon"


@needs_bridge
@pytest.mark.slow
@pytest.mark.parametrize("impostor", ["zmq-router", "curve-other-key", "raw-tcp"])
def test_a_process_on_the_daemons_port_never_receives_the_audio(monkeypatch, tmp_path, impostor):
    """Whoever binds the port while the daemon is down gets no audio, and the plugin says so."""
    from daemon_support import Impostor

    user_key(tmp_path)
    port = free_port()
    imp = Impostor(impostor, port)
    try:
        plugin = load_bridge(monkeypatch, f"tcp://127.0.0.1:{port}", timeout_ms=2000)
        loop = known_loop()
        feed = Stream(plugin, loop)
        feed.blocks(10)
        press_capture(feed, bars=1)
        assert feed.until(lambda: status(plugin)["state"] == "error", timeout=30)
        final = status(plugin)
    finally:
        seen = imp.close()
    expected = {"raw-tcp": "no_handshake"}.get(impostor, "not_your_daemon")
    assert final["error"] == expected and final["requests"] == 0
    # Not a single block of the loop reached the impostor, in any byte alignment.
    block = np.ascontiguousarray(loop[:, :64].T).tobytes()
    assert block not in seen and len(seen) < 1024


@needs_bridge
@pytest.mark.slow
def test_plugin_with_another_client_key_is_refused(monkeypatch, daemon, tmp_path):
    """It knows the daemon's public key but holds another client key: the daemon refuses it
    in the handshake, before any request."""
    import zmq

    from cir.protocol.keys import key_path, load_keys

    endpoint, received = daemon
    user = load_keys(key_path())
    public, secret = zmq.curve_keypair()
    other = tmp_path / "other.key"
    other.write_text(
        f"server-public = {user.server_public.decode()}\nserver-secret = {'x' * 40}\n"
        f"client-public = {public.decode()}\nclient-secret = {secret.decode()}\n"
    )
    other.chmod(0o600)
    monkeypatch.setenv("CIR_KEY_FILE", str(other))
    plugin = load_bridge(monkeypatch, endpoint)
    feed = Stream(plugin, known_loop())
    feed.blocks(10)
    press_capture(feed, bars=1)
    assert feed.until(lambda: status(plugin)["state"] == "error", timeout=30)
    assert status(plugin)["error"] == "key_refused" and status(plugin)["requests"] == 0
    assert received == []


@needs_bridge
@pytest.mark.slow
def test_daemon_error_reply_shows_error(monkeypatch, daemon):
    endpoint, received = daemon
    plugin = load_bridge(monkeypatch, endpoint)
    feed = Stream(plugin, np.zeros((2, SR), np.float32))  # silence: the daemon refuses it
    feed.blocks(10)
    press_capture(feed, bars=1)
    assert feed.until(lambda: status(plugin)["state"] in ("answered", "error"))
    assert status(plugin)["state"] == "error" and status(plugin)["error"] == "refused"
    # The window shows the daemon's own words.
    assert status(plugin)["message"].startswith("silent_audio: ")
    assert len(received) == 1  # it did reach the daemon, which refused it (silent_audio)


class ScriptedDaemon:
    """Holds the user's daemon key (so the plugin's handshake succeeds) and answers each
    request with `reply(request_id)`: replies the real daemon never sends."""

    def __init__(self, tmp_path, reply):
        import threading

        import zmq

        keys = user_key(tmp_path)
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.curve_server = True
        self.sock.curve_publickey = keys.server_public
        self.sock.curve_secretkey = keys.server_secret
        self.sock.linger = 0
        self.endpoint = f"tcp://127.0.0.1:{free_port()}"
        self.sock.bind(self.endpoint)
        self.reply, self.stop = reply, threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            if self.sock.poll(50):
                peer, _, header, *_ = self.sock.recv_multipart()
                self.sock.send_multipart([peer, b"", self.reply(json.loads(header)["id"])])

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()
        self.ctx.term()


@needs_bridge
@pytest.mark.slow
@pytest.mark.parametrize(("reply", "reason"), [
    (lambda rid: b"{not json", "malformed reply: not JSON"),
    (lambda rid: json.dumps({"v": 1, "id": rid, "ok": True, "results": {"bass": [
        {"name": "x", "source": "builtin", "score": "high", "preset_id": 1}]}}).encode(),
     "malformed reply: results.bass[0].score is not a number"),
    (lambda rid: json.dumps({"v": 1, "id": rid, "ok": True, "results": {"bass": []},
                             "x": [[[[[[[[[[0]]]]]]]]]]}).encode(),
     "malformed reply: nested deeper than a protocol v1 reply"),
], ids=["not-json", "wrong-type", "too-deep"])
def test_malformed_reply_leaves_the_plugin_in_error_with_the_reason(monkeypatch, tmp_path, reply,
                                                                   reason):
    fake = ScriptedDaemon(tmp_path, reply)
    try:
        plugin = load_bridge(monkeypatch, fake.endpoint, timeout_ms=5000)
        feed = Stream(plugin, known_loop())
        feed.blocks(10)
        press_capture(feed, bars=1)
        assert feed.until(lambda: status(plugin)["state"] in ("answered", "error"), timeout=30)
        final = status(plugin)
    finally:
        fake.close()
    assert (final["state"], final["error"], final["message"]) == ("error", "bad_reply", reason)
    assert final["answer"] == {"results": {}, "presence": {}} and final["requests"] == 1


@needs_bridge
@pytest.mark.slow
def test_many_instances_load_and_unload_cleanly(tmp_path):
    # In a child process: a crash or a hang at unload must fail this test, not the test run.
    script = textwrap.dedent(f"""
        import os, numpy as np, pedalboard
        os.environ["CIR_ENDPOINT"] = "tcp://127.0.0.1:{free_port()}"
        os.environ["CIR_BRIDGE_TIMEOUT_MS"] = "5000"
        block = np.full((2, {BLOCK}), 0.1, np.float32)
        for round in range(2):
            plugins = [pedalboard.load_plugin({str(BRIDGE)!r}) for _ in range(10)]
            for i, p in enumerate(plugins):
                for _ in range(4):
                    p.process(block, {SR}, buffer_size={BLOCK}, reset=False)
                if i % 2:  # half of them with a request in flight to a dead daemon
                    p.bars = 1
                    p.capture = True
                    for _ in range(200):
                        p.process(block, {SR}, buffer_size={BLOCK}, reset=False)
            del plugins
        print("unloaded")
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "unloaded" in run.stdout


def test_status_blob_without_entry_is_a_clear_error():
    with pytest.raises(BridgeStatusError, match="CIR Bridge"):
        bridge_status(b"VST3 not ours")


# --- cir plugin install ---------------------------------------------------------------------------


def fake_bundles(folder):
    (folder / "CIRBridge.vst3" / "Contents" / "x86_64-linux").mkdir(parents=True)
    (folder / "CIRBridge.vst3" / "Contents" / "x86_64-linux" / "CIRBridge.so").write_bytes(b"so")
    (folder / "CIRBridge.clap").write_bytes(b"clap")
    (folder / "CIRBridge.lv2").mkdir()
    (folder / "CIRBridge.lv2" / "manifest.ttl").write_text("@prefix lv2: <x> .")
    return folder


def test_install_copies_bundles_to_the_standard_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(sys, "platform", "linux")
    src = fake_bundles(tmp_path / "built")
    installed = install_plugins(source_dir=src)
    home = tmp_path / "home"
    assert {b.destination for b in installed} == {
        home / ".vst3" / "CIRBridge.vst3", home / ".clap" / "CIRBridge.clap",
        home / ".lv2" / "CIRBridge.lv2",
    }
    so = home / ".vst3" / "CIRBridge.vst3" / "Contents" / "x86_64-linux" / "CIRBridge.so"
    assert so.read_bytes() == b"so"
    # Installing again replaces the old copy.
    (src / "CIRBridge.clap").write_bytes(b"clap v2")
    install_plugins(source_dir=src)
    assert (home / ".clap" / "CIRBridge.clap").read_bytes() == b"clap v2"


def test_install_cli_json_with_dest(tmp_path, monkeypatch):
    monkeypatch.setenv("CIR_PLUGIN_BUILD_DIR", str(fake_bundles(tmp_path / "built")))
    result = CliRunner().invoke(
        cli, ["plugin", "install", "--dest", str(tmp_path / "out"), "--format", "vst3", "--json"]
    )
    assert result.exit_code == 0, result.output
    installed = json.loads(result.output)["installed"]
    assert [b["format"] for b in installed] == ["vst3"]
    assert (tmp_path / "out" / "CIRBridge.vst3" / "Contents").is_dir()


def test_install_without_built_bundles_says_run_make_plugins(tmp_path, monkeypatch):
    monkeypatch.setenv("CIR_PLUGIN_BUILD_DIR", str(tmp_path / "empty"))
    with pytest.raises(PluginInstallError, match="make plugins"):
        install_plugins(dest=tmp_path / "out")
    result = CliRunner().invoke(cli, ["plugin", "install", "--dest", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "run `make plugins`" in result.output
    assert not (tmp_path / "out").exists()


def test_user_plugin_dirs_per_platform(tmp_path, monkeypatch):
    home = tmp_path
    assert user_plugin_dirs("linux", home)["lv2"] == home / ".lv2"
    mac = user_plugin_dirs("darwin", home)
    assert mac["vst3"] == home / "Library" / "Audio" / "Plug-Ins" / "VST3"
    assert mac["clap"] == home / "Library" / "Audio" / "Plug-Ins" / "CLAP"
    monkeypatch.setenv("LOCALAPPDATA", str(home / "Local"))
    monkeypatch.setenv("APPDATA", str(home / "Roaming"))
    win = user_plugin_dirs("win32", home)
    assert win["vst3"] == home / "Local" / "Programs" / "Common" / "VST3"
    assert win["lv2"] == home / "Roaming" / "LV2"


def test_plugin_install_help_has_an_example():
    result = CliRunner().invoke(cli, ["plugin", "install", "--help"])
    assert result.exit_code == 0 and "Example:" in result.output
    assert os.sep  # the help renders on every platform
