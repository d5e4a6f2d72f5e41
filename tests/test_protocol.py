"""Protocol v1 encode/decode, limits, endpoints and the daemon's audio preparation (no sockets)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from cir import defaults, paths, protocol
from cir.matching.prepare import downmix, peak_dbfs, prepare, resample
from cir.protocol import DAEMON_TCP_PORT, ProtocolError


def sine(freq: float, seconds: float, rate: int, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def header(**fields) -> bytes:
    base = {"v": 1, "id": "r1", "cmd": "match", "sample_rate": 48000, "channels": 2,
            "frames": 100, "format": "f32le", "tempo": None, "k": 5, "families": None}
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not ...}).encode()


PCM = np.zeros((100, 2), "<f4").tobytes()


def test_match_round_trip_is_bit_exact():
    rng = np.random.default_rng(1)
    audio = rng.uniform(-1, 1, (480, 2)).astype(np.float32)
    body = protocol.encode_match(audio, 48000, k=3, families=["drums", "bass"], tempo=128.0,
                                 request_id="abc")
    request = protocol.decode_request(body)
    assert request.cmd == "match" and request.id == "abc"
    assert request.match == protocol.MatchOptions(48000, 2, 480, 128.0, 3, ("percussion", "bass"))
    assert request.audio.dtype == np.float32
    assert np.array_equal(request.audio, audio)
    # Interleaved little-endian float32 on the wire: frame 0 left, frame 0 right, frame 1 ...
    wire = np.frombuffer(body[1], "<f4")
    assert wire[0] == audio[0, 0] and wire[1] == audio[0, 1] and wire[2] == audio[1, 0]


def test_mono_and_defaults():
    body = protocol.encode_match(np.zeros(1000, np.float32), 8000)
    head = json.loads(body[0])
    assert head["v"] == 1 and head["channels"] == 1 and head["frames"] == 1000
    assert len(body[1]) == 4000
    minimal = json.dumps({"v": 1, "cmd": "match", "sample_rate": 8000, "channels": 1,
                          "frames": 10}).encode()
    request = protocol.decode_request([minimal, bytes(40)])
    assert request.match.k == defaults.MATCH_DEFAULT_K and request.match.families is None
    assert request.id is None


def test_unknown_fields_are_ignored():
    request = protocol.decode_request([header(future_field={"x": 1}), PCM])
    assert request.match.frames == 100
    ping = protocol.decode_request([json.dumps({"v": 1, "cmd": "ping", "x": 2}).encode()])
    assert ping.cmd == "ping" and ping.match is None and ping.audio is None


CASES = [
    ([], "bad_message"),
    ([header(), PCM, b"extra"], "bad_message"),
    ([b"\xff\xfe"], "bad_json"),
    ([b"{not json"], "bad_json"),
    ([b"[1, 2]"], "bad_header"),
    ([b"x" * (defaults.PROTOCOL_MAX_HEADER_BYTES + 1)], "header_too_large"),
    ([header(v=2), PCM], "unsupported_version"),
    ([header(v=...), PCM], "unsupported_version"),
    ([header(v=True), PCM], "unsupported_version"),
    ([header(id=12), PCM], "bad_header"),
    ([header(id="x" * 500), PCM], "bad_header"),
    ([header(cmd="explode")], "unknown_command"),
    ([header(cmd=None)], "unknown_command"),
    ([header(format="s16le"), PCM], "unsupported_format"),
    ([header(sample_rate=7999), PCM], "invalid_sample_rate"),
    ([header(sample_rate=10**9), PCM], "invalid_sample_rate"),
    ([header(sample_rate=48000.5), PCM], "invalid_sample_rate"),
    ([header(sample_rate="48000"), PCM], "invalid_sample_rate"),
    ([header(channels=0), PCM], "invalid_channels"),
    ([header(channels=9), PCM], "invalid_channels"),
    ([header(frames=0), PCM], "invalid_frames"),
    ([header(frames=-5), PCM], "invalid_frames"),
    ([header(frames=48000 * 61), PCM], "too_long"),
    ([header(frames=10**18), PCM], "too_long"),
    ([header(sample_rate=192000, channels=8, frames=192000 * 59), PCM], "too_large"),
    ([header(k=0), PCM], "invalid_k"),
    ([header(k=10**6), PCM], "invalid_k"),
    ([header(tempo=-120), PCM], "invalid_tempo"),
    ([header(tempo="fast"), PCM], "invalid_tempo"),
    ([header(families=["kazoo"]), PCM], "unknown_family"),
    ([header(families="bass"), PCM], "bad_header"),
    ([header()], "missing_audio"),
    ([header(cmd="ping"), PCM], "unexpected_audio"),
    ([header(), PCM[:-4]], "size_mismatch"),
    ([header(), PCM + b"\0\0\0\0"], "size_mismatch"),
    ([header(), np.full((100, 2), np.nan, "<f4").tobytes()], "non_finite_audio"),
    ([header(), np.full((100, 2), np.inf, "<f4").tobytes()], "non_finite_audio"),
]


@pytest.mark.parametrize(("body", "code"), CASES)
def test_bad_requests_raise_their_code(body, code):
    with pytest.raises(ProtocolError) as info:
        protocol.decode_request(body)
    assert info.value.code == code
    assert info.value.code in protocol.ERROR_CODES
    assert len(info.value.message) > 20  # a sentence, not a bare code


def test_version_error_names_the_supported_version():
    with pytest.raises(ProtocolError, match="v=1"):
        protocol.decode_request([header(v=7), PCM])


def test_reply_round_trip_and_version_check():
    ok = protocol.decode_reply(protocol.encode_reply("r9", results={"bass": []}))
    assert ok == {"v": 1, "id": "r9", "ok": True, "error": None, "results": {"bass": []}}
    err = protocol.decode_reply(protocol.encode_reply("r9", ProtocolError("too_long", "msg")))
    assert err["ok"] is False and err["error"] == {"code": "too_long", "message": "msg"}
    with pytest.raises(ProtocolError) as info:
        protocol.decode_reply([json.dumps({"v": 2, "ok": True}).encode()])
    assert info.value.code == "unsupported_version"


def test_split_envelope_and_peek_id():
    env, body = protocol.split_envelope([b"id1", b"", b"h", b"p"])
    assert env == [b"id1", b""] and body == [b"h", b"p"]
    env, body = protocol.split_envelope([b"id1", b"h"])  # DEALER without delimiter
    assert env == [b"id1", b""] and body == [b"h"]
    assert protocol.peek_id([header(id="zz")]) == "zz"
    assert protocol.peek_id([b"garbage"]) is None


def test_limits_are_consistent():
    assert defaults.PROTOCOL_MAX_MESSAGE_BYTES >= defaults.PROTOCOL_MAX_PCM_BYTES
    # The full length in stereo at the highest rate fits; more channels must be shorter.
    stereo_max = int(defaults.PROTOCOL_MAX_SECONDS * defaults.PROTOCOL_MAX_SAMPLE_RATE)
    head = json.loads(header(sample_rate=defaults.PROTOCOL_MAX_SAMPLE_RATE, frames=stereo_max))
    assert stereo_max * 2 * 4 == defaults.PROTOCOL_MAX_PCM_BYTES
    with pytest.raises(ProtocolError) as info:  # valid header, PCM (deliberately) absent
        protocol.decode_request([json.dumps(head).encode()])
    assert info.value.code == "missing_audio"


def test_endpoints(monkeypatch, tmp_path):
    monkeypatch.delenv(defaults.ENDPOINT_ENV, raising=False)
    assert protocol.client_endpoint() == f"tcp://127.0.0.1:{DAEMON_TCP_PORT}"
    assert protocol.daemon_endpoints()[0] == protocol.tcp_endpoint()
    assert protocol.ipc_endpoint().endswith("/cir/daemon.sock")
    sock = paths.runtime_dir() / "daemon.sock"
    sock.parent.mkdir(parents=True)
    sock.touch()
    assert protocol.client_endpoint() == protocol.ipc_endpoint()
    monkeypatch.setenv(defaults.ENDPOINT_ENV, "tcp://127.0.0.1:1234")
    assert protocol.client_endpoint() == "tcp://127.0.0.1:1234"
    assert protocol.daemon_endpoints() == ["tcp://127.0.0.1:1234"]


# --- the daemon's audio preparation --------------------------------------------------------------


def test_resample_keeps_pitch_and_level():
    out = resample(sine(1000.0, 2.0, 48000), 48000, 22050)
    assert len(out) == 44100
    spectrum = np.abs(np.fft.rfft(out * np.hanning(len(out))))
    assert abs(np.argmax(spectrum) * 22050 / len(out) - 1000.0) < 2.0
    rms_db = 20 * math.log10(np.sqrt(np.mean(out[2000:-2000] ** 2)))
    assert abs(rms_db - 20 * math.log10(0.5 / math.sqrt(2))) < 0.1


def test_resample_removes_content_above_the_new_nyquist():
    out = resample(sine(15000.0, 1.0, 48000), 48000, 22050)
    assert np.max(np.abs(out[1000:-1000])) < 1e-3


def test_downmix_and_peak():
    stereo = np.stack([sine(100, 0.1, 8000), -sine(100, 0.1, 8000)], axis=1)
    assert np.allclose(downmix(stereo), 0.0)
    assert abs(peak_dbfs(stereo) - 20 * math.log10(0.5)) < 0.01
    assert peak_dbfs(np.zeros(10, np.float32)) == -math.inf


def test_prepare_rejects_silence_and_warns_on_clipping():
    quiet = np.full((1000, 2), 10 ** (-70 / 20), np.float32)
    with pytest.raises(ProtocolError) as info:
        prepare(quiet, 48000, 22050)
    assert info.value.code == "silent_audio" and "-70.0 dBFS" in info.value.message
    loud = np.clip(4 * sine(220, 1.0, 48000), -1, 1)[:, None]
    prepared = prepare(loud, 48000, 22050)
    assert prepared.sample_rate == 22050 and len(prepared.audio) == 22050
    assert prepared.warnings and "clipping" in prepared.warnings[0]
    assert not prepare(sine(220, 1.0, 48000)[:, None], 48000, 22050).warnings
