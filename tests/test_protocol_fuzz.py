"""Protocol fuzz against a real daemon on a real socket: every bad request gets an error reply
and the daemon keeps serving (a ping right after each one still works)."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from daemon_support import Raw, serve, short_dir, synthetic_db

from cir import defaults, protocol


@pytest.fixture(scope="module")
def daemon():
    with short_dir() as directory:
        synthetic_db(directory, size=30)
        # Module scope: the per-test CIR_HOME is not set yet, so the key lives here.
        with serve(directory, key_file=directory / "daemon.key") as (server, endpoint):
            raw = Raw(endpoint, server.key_file)
            yield server, raw
            raw.close()


def ask(raw: Raw, frames: list[bytes], timeout_ms: int = 10_000) -> dict:
    raw.send(frames)
    reply = raw.recv(timeout_ms)
    assert reply is not None, f"no reply to {[f[:60] for f in frames]}"
    assert reply[0] == b"" and len(reply) == 2
    return protocol.decode_reply(reply[1:])


def assert_still_serving(raw: Raw) -> None:
    reply = ask(raw, [b"", *protocol.encode_request("ping", "after")])
    assert reply["ok"] and reply["id"] == "after" and reply["pong"] is True


def good_header(**fields) -> dict:
    head = {"v": 1, "id": "f", "cmd": "match", "sample_rate": 48000, "channels": 2,
            "frames": 4800, "format": "f32le", "tempo": 120.0, "k": 3, "families": None}
    head.update(fields)
    return head


def noise(frames: int, channels: int) -> bytes:
    rng = np.random.default_rng(frames)
    return (0.3 * rng.standard_normal((frames, channels))).astype("<f4").tobytes()


def test_valid_match_gets_results(daemon):
    _, raw = daemon
    reply = ask(raw, [b"", json.dumps(good_header()).encode(), noise(4800, 2)])
    assert reply["ok"], reply["error"]
    assert set(reply["results"]) == {"percussion", "bass", "lead"}
    assert [h["rank"] for h in reply["results"]["bass"]] == [1, 2, 3]
    assert {"preset_id", "name", "source", "locator", "score", "preview"} <= set(
        reply["results"]["bass"][0]
    )
    assert reply["timing_ms"]["total"] > 0


STRUCTURED = [
    ([b""], "bad_message"),
    ([b"", b""], "bad_json"),
    ([b"", b"\x00\x01garbage"], "bad_json"),
    ([b"", b'{"v": 1, "cmd": "ping"'], "bad_json"),  # truncated JSON
    ([b"", b'"just a string"'], "bad_header"),
    ([b"", json.dumps(good_header(v=99)).encode(), noise(4800, 2)], "unsupported_version"),
    ([b"", json.dumps({"cmd": "ping"}).encode()], "unsupported_version"),
    ([b"", json.dumps(good_header(cmd="format_disk")).encode()], "unknown_command"),
    ([b"", json.dumps(good_header()).encode(), noise(4800, 2)[:-3]], "size_mismatch"),
    ([b"", json.dumps(good_header()).encode(), noise(4800, 2)[:1000]], "size_mismatch"),
    ([b"", json.dumps(good_header(frames=4801)).encode(), noise(4800, 2)], "size_mismatch"),
    ([b"", json.dumps(good_header(channels=1)).encode(), noise(4800, 2)], "size_mismatch"),
    ([b"", json.dumps(good_header()).encode()], "missing_audio"),
    ([b"", json.dumps(good_header()).encode(), noise(4800, 2), b"x"], "bad_message"),
    ([b"", json.dumps(good_header(sample_rate=1)).encode(), noise(4800, 2)],
     "invalid_sample_rate"),
    ([b"", json.dumps(good_header(sample_rate=10**12)).encode(), noise(4800, 2)],
     "invalid_sample_rate"),
    ([b"", json.dumps(good_header(channels=1000)).encode(), noise(4800, 2)], "invalid_channels"),
    ([b"", json.dumps(good_header(frames=48000 * 3600)).encode(), noise(4800, 2)], "too_long"),
    ([b"", json.dumps(good_header(frames=-1)).encode(), noise(4800, 2)], "invalid_frames"),
    ([b"", json.dumps(good_header(format="mp3")).encode(), noise(4800, 2)],
     "unsupported_format"),
    ([b"", json.dumps(good_header(k=-3)).encode(), noise(4800, 2)], "invalid_k"),
    ([b"", json.dumps(good_header(families=["tuba"])).encode(), noise(4800, 2)],
     "unknown_family"),
    ([b"", json.dumps(good_header()).encode(),
      np.full((4800, 2), np.nan, "<f4").tobytes()], "non_finite_audio"),
    ([b"", json.dumps(good_header()).encode(),
      np.where(np.arange(9600) == 77, np.inf, 0.1).astype("<f4").tobytes()], "non_finite_audio"),
    ([b"", json.dumps(good_header()).encode(), bytes(4800 * 2 * 4)], "silent_audio"),
    ([b"", json.dumps(good_header(cmd="status")).encode(), b"pcm"], "unexpected_audio"),
    ([b"", b"{" * 70_000], "header_too_large"),
    # preview and pick (the plugin's audition and "this one")
    ([b"", json.dumps(good_header(cmd="preview", preset_id=1)).encode(), b"pcm"],
     "unexpected_audio"),
    ([b"", json.dumps({"v": 1, "cmd": "preview", "sample_rate": 48000}).encode()],
     "invalid_preset_id"),
    ([b"", json.dumps({"v": 1, "cmd": "preview", "preset_id": "1", "sample_rate": 48000})
      .encode()], "invalid_preset_id"),
    ([b"", json.dumps({"v": 1, "cmd": "preview", "preset_id": True, "sample_rate": 48000})
      .encode()], "invalid_preset_id"),
    ([b"", json.dumps({"v": 1, "cmd": "preview", "preset_id": 1, "sample_rate": 7}).encode()],
     "invalid_sample_rate"),
    ([b"", json.dumps({"v": 1, "cmd": "preview", "preset_id": 10**9, "sample_rate": 48000})
      .encode()], "unknown_preset"),
    ([b"", json.dumps({"v": 1, "cmd": "preview", "preset_id": 1, "sample_rate": 48000}).encode()],
     "no_preview"),  # the synthetic catalogue has no preview files
    ([b"", json.dumps({"v": 1, "cmd": "pick", "preset_id": 1, "query": "q"}).encode()],
     "unknown_family"),
    ([b"", json.dumps({"v": 1, "cmd": "pick", "preset_id": 1, "family": "tuba", "query": "q"})
      .encode()], "unknown_family"),
    ([b"", json.dumps({"v": 1, "cmd": "pick", "preset_id": 2, "family": "percussion",
                       "query": "q"}).encode()], "unknown_family"),  # preset 2 is a bass
    ([b"", json.dumps({"v": 1, "cmd": "pick", "preset_id": 1, "family": "percussion"}).encode()],
     "invalid_query"),
    ([b"", json.dumps({"v": 1, "cmd": "pick", "preset_id": 1, "family": "percussion",
                       "query": "q" * 129}).encode()], "invalid_query"),
    ([b"", json.dumps({"v": 1, "cmd": "pick", "preset_id": 1, "family": "percussion",
                       "query": ["q"]}).encode()], "invalid_query"),
    ([b"", json.dumps({"v": 1, "cmd": "pick", "preset_id": 1, "family": "percussion",
                       "query": "q", "source": 5}).encode()], "invalid_query"),
    ([b"", json.dumps({"v": 1, "cmd": "pick", "preset_id": 10**9, "family": "percussion",
                       "query": "q"}).encode()], "unknown_preset"),
]


@pytest.mark.parametrize(("frames", "code"), STRUCTURED)
def test_bad_request_gets_its_error_and_daemon_keeps_serving(daemon, frames, code):
    _, raw = daemon
    reply = ask(raw, frames)
    assert reply["ok"] is False
    assert reply["error"]["code"] == code, reply["error"]
    assert reply["error"]["message"]
    assert_still_serving(raw)


def test_request_without_delimiter_is_answered(daemon):
    _, raw = daemon
    raw.send([json.dumps({"v": 1, "id": "nodelim", "cmd": "ping"}).encode()])
    reply = raw.recv()
    assert reply is not None and reply[0] == b""
    assert protocol.decode_reply(reply[1:])["id"] == "nodelim"
    assert_still_serving(raw)


def _mutations(rng: random.Random) -> list[bytes]:
    """A random malformed request: mutated header fields, random frames, cut PCM."""
    head = good_header(id=f"fz{rng.randrange(10**6)}")
    junk = [None, -1, 0, 1.5, 10**30, "x", [], {}, True, float("1e308")]
    for _ in range(rng.randint(1, 3)):
        key = rng.choice(list(head))
        if rng.random() < 0.3:
            head.pop(key, None)
        else:
            head[key] = rng.choice(junk)
    pcm = noise(4800, 2)
    choice = rng.random()
    if choice < 0.3:
        pcm = pcm[: rng.randrange(len(pcm))]
    elif choice < 0.4:
        pcm = bytes(rng.getrandbits(8) for _ in range(rng.randrange(64)))
    frames = [b"", json.dumps(head, allow_nan=True).encode(), pcm]
    if rng.random() < 0.2:
        frames.append(b"extra")
    if rng.random() < 0.1:
        frames[1] = frames[1][: rng.randrange(len(frames[1]))]
    return frames


def _preview_and_pick_mutations(rng: random.Random) -> list[bytes]:
    """A random preview or pick request with junk in its fields."""
    head = {"v": 1, "id": f"pp{rng.randrange(10**6)}", "cmd": rng.choice(["preview", "pick"]),
            "preset_id": 1, "sample_rate": 48000, "family": "percussion", "query": "fnv1a64:0"}
    junk = [None, -1, 0, 2**63, 1.5, "x", "", "q" * 500, [], {}, True, "percussion\u0000"]
    for _ in range(rng.randint(1, 3)):
        key = rng.choice([k for k in head if k not in ("v", "cmd")])
        if rng.random() < 0.3:
            head.pop(key, None)
        else:
            head[key] = rng.choice(junk)
    return [b"", json.dumps(head).encode()]


def fuzz_codes(raw: Raw, mutations, seed: int, count: int) -> set[str]:
    """Send `count` requests made by `mutations(rng)`; every error reply names a v1 code and
    a message. The codes seen."""
    rng = random.Random(seed)
    codes = set()
    for _ in range(count):
        reply = ask(raw, mutations(rng))
        if not reply["ok"]:
            assert reply["error"]["code"] in protocol.ERROR_CODES, reply["error"]
            assert reply["error"]["message"]
            codes.add(reply["error"]["code"])
    return codes


def test_preview_and_pick_fuzz(daemon):
    """Junk in every field of the two new requests: each gets an error reply naming a v1
    code (or, by chance, a valid pick), and the daemon keeps serving."""
    _server, raw = daemon
    codes = fuzz_codes(raw, _preview_and_pick_mutations, 20261208, 120)
    assert {"invalid_preset_id", "unknown_family", "invalid_query", "invalid_sample_rate"} <= codes
    assert_still_serving(raw)


def test_random_fuzz(daemon):
    _server, raw = daemon
    codes = fuzz_codes(raw, _mutations, 20260913, 150)
    assert len(codes) >= 6  # the fuzz really reached many different checks
    assert_still_serving(raw)
    assert ask(raw, [b"", *protocol.encode_request("status")])["requests_served"] >= 150


def test_oversize_frame_is_dropped_by_the_socket_and_the_daemon_survives():
    limit = 64 * 1024
    with short_dir() as directory, serve(directory, max_message_bytes=limit) as (_, endpoint):
        big = Raw(endpoint)
        head = good_header(frames=limit // 8 + 1000)
        big.send([b"", json.dumps(head).encode(), noise(head["frames"], 2)])
        assert big.recv(1500) is None  # disconnected, never allocated: no reply at all
        big.close()
        fresh = Raw(endpoint)
        assert_still_serving(fresh)
        # Within the socket limit, the same kind of mistake gets a reply.
        reply = ask(fresh, [b"", json.dumps(good_header(frames=100)).encode(), noise(90, 2)])
        assert reply["error"]["code"] == "size_mismatch"
        fresh.close()
    assert defaults.PROTOCOL_MAX_MESSAGE_BYTES > defaults.PROTOCOL_MAX_PCM_BYTES
