"""Capture through sounddevice on a real JACK server with the dummy backend (docs/DESIGN.md).

The test starts its own jackd, plays a known sine with sounddevice, routes it with jack_connect
into the input that plugin_bridge.capture.record is capturing, and checks pitch and level.
It runs in a subprocess: PortAudio scans for JACK only when sounddevice is first imported.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
import time
import uuid

import pytest
from daemon_support import REPO

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent("""
    import json, subprocess, threading, time
    import numpy as np
    import sounddevice as sd
    from cir.plugin_bridge.capture import list_devices, record, resolve_device

    RATE, FREQ, AMP = 48000, 1000.0, 0.5
    jack = [d for d in list_devices() if d["hostapi"].startswith("JACK")]
    device = resolve_device("system", "input")  # by name substring, as --device does
    assert jack and device == jack[0]["index"], (jack, device)
    phase = [0]

    def tone(out, frames, time_info, status):
        n = np.arange(phase[0], phase[0] + frames)
        phase[0] += frames
        out[:] = (AMP * np.sin(2 * np.pi * FREQ * n / RATE))[:, None]

    def ports():
        return subprocess.run(["jack_lsp"], capture_output=True, text=True).stdout.split()

    def patch():
        # Once record() has opened its input, route our tone into it.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            ins = sorted(p for p in ports() if ":in_" in p)
            if len(ins) == 2:
                outs = sorted(p for p in ports() if ":out_" in p)
                for a, b in zip(outs, ins):
                    subprocess.run(["jack_connect", a, b], check=True)
                return
            time.sleep(0.02)

    with sd.OutputStream(samplerate=RATE, channels=2, device=device, callback=tone,
                         dtype="float32"):
        threading.Thread(target=patch, daemon=True).start()
        audio = record(3.0, device=device, sample_rate=RATE, channels=2)
    tail = audio[-RATE:]  # the last second: well after the connection
    spectrum = np.abs(np.fft.rfft(tail[:, 0] * np.hanning(len(tail))))
    print(json.dumps({
        "shape": list(audio.shape),
        "freq": float(np.argmax(spectrum) * RATE / len(tail)),
        "rms_db": [float(20 * np.log10(np.sqrt(np.mean(tail[:, c] ** 2)) + 1e-12)) for c in (0, 1)],
    }))
""")


@pytest.fixture
def jack_server():
    if not shutil.which("jackd"):
        pytest.skip("jackd is not installed (apt-get install jackd2)")
    name = f"cir-test-{uuid.uuid4().hex[:8]}"
    proc = subprocess.Popen(
        ["jackd", "--no-realtime", "-n", name, "-d", "dummy", "-r", "48000", "-p", "512"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    env = dict(os.environ, JACK_DEFAULT_SERVER=name, JACK_NO_AUDIO_RESERVATION="1")
    try:
        deadline = time.monotonic() + 15
        while subprocess.run(["jack_lsp"], env=env, capture_output=True).returncode != 0:
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("jackd did not start")
            time.sleep(0.1)
        yield env
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_record_captures_a_known_sine_through_jack(jack_server):
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=REPO, env=jack_server, capture_output=True,
        text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    facts = json.loads(result.stdout.strip().splitlines()[-1])
    assert facts["shape"] == [3 * 48000, 2]
    assert abs(facts["freq"] - 1000.0) < 2.0
    expected = 20 * math.log10(0.5 / math.sqrt(2))  # a 0.5 sine: -9.03 dBFS RMS
    for level in facts["rms_db"]:
        assert abs(level - expected) < 0.5
