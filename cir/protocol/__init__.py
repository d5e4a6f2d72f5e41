"""Protocol v1: the wire format shared by the daemon, the Python bridge and the native plugin.

docs/protocol.md is the specification; this module is its one implementation in Python. A
request is a ZeroMQ multipart message ``[b"", header_json]`` or ``[b"", header_json, pcm]``
(the empty delimiter frame is what REQ sockets add; DEALER clients send it themselves); a reply
is ``[b"", reply_json]``. Functions here work on the frames after the delimiter ("the body").

Every decoding error is a ProtocolError carrying a stable snake_case `code` and a message that
names the value and the fix; the daemon sends both back and keeps serving.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cir import defaults, paths
from cir.audio import as_frames
from cir.families import FAMILIES, family_from_name
from cir.query import (
    QueryError,
    check_families,
    check_finite,
    check_int,
    check_k,
    check_sample_rate,
    check_size,
    check_tempo,
)

# Loopback TCP works everywhere (the native plugin uses it); POSIX also gets a user-private ipc.
DAEMON_TCP_PORT = 47100
# Frames of a request body (after the routing envelope): the header, and the PCM for match.
PROTOCOL_MAX_BODY_FRAMES = 2
# Replies have a limit of their own, sized from k: a fixed part (status, timings, warnings)
# plus, per suggestion, room for its name, key, locator and two paths of up to 4 KiB each
# (escaped in JSON). k=100 over five families: about 8 MB.
PROTOCOL_REPLY_BASE_BYTES = 64 * 1024
PROTOCOL_REPLY_HIT_BYTES = 16 * 1024

PROTOCOL_VERSION = 1
COMMANDS: tuple[str, ...] = ("ping", "match", "status", "rebuild", "shutdown", "preview", "pick")
AUDIO_FORMAT = "f32le"  # interleaved float32, little-endian
MAX_ID_CHARS = 200

# Every error code a v1 daemon may send, with what it means (docs/protocol.md repeats these).
ERROR_CODES: dict[str, str] = {
    "bad_message": "the multipart message has the wrong number of frames",
    "header_too_large": "the JSON header frame is larger than the header limit",
    "bad_json": "the header frame is not UTF-8 JSON",
    "bad_header": "the header is not a JSON object, or a field has the wrong type",
    "unsupported_version": "the header's protocol version is not one this daemon speaks",
    "unknown_command": "cmd is not one of the v1 commands",
    "unsupported_format": "format is not f32le",
    "invalid_sample_rate": "sample_rate is not an integer in the allowed range",
    "invalid_channels": "channels is not an integer in the allowed range",
    "invalid_frames": "frames is not a positive integer",
    "too_long": "frames / sample_rate is longer than the maximum query length",
    "too_large": "the PCM payload would be larger than the payload limit",
    "invalid_k": "k is not an integer in the allowed range",
    "unknown_family": "families names a family this daemon does not know",
    "invalid_tempo": "tempo is not null nor a positive number",
    "missing_audio": "a match request came without its PCM frame",
    "unexpected_audio": "a command other than match came with a PCM frame",
    "size_mismatch": "the PCM frame's size differs from frames x channels x 4 bytes",
    "non_finite_audio": "the PCM holds NaN or infinite samples",
    "silent_audio": "the audio is silent (peak below the silence threshold)",
    "no_catalogue": "the daemon has no catalogue entries for its encoder",
    "busy": "the daemon's request queue is full; try again in a moment",
    "shutting_down": "the daemon is stopping and did not start this request",
    "reply_too_large": "the reply would be larger than the reply limit for this k",
    "internal_error": "the daemon failed on a valid request (see its log)",
    "invalid_preset_id": "preset_id is not a positive integer",
    "unknown_preset": "no preset with this preset_id is in the catalogue",
    "no_preview": "the preset has no preview file to send",
    "invalid_query": "a pick's query (or source) is not a short string",
}
# A pick names its query by a client-made fingerprint (the plugin: FNV-1a of the PCM).
MAX_QUERY_CHARS = 128
MAX_SOURCE_CHARS = 40


# A message that breaks protocol v1: `code` is one of ERROR_CODES, the text says the fix. The
# same class as the query checks' (cir.query), which the decoder shares with in-process matching.
ProtocolError = QueryError


@dataclass(frozen=True)
class MatchOptions:
    """The audio description and options of a `match` request, validated."""

    sample_rate: int
    channels: int
    frames: int
    tempo: float | None = None
    k: int = defaults.MATCH_DEFAULT_K
    families: tuple[str, ...] | None = None


@dataclass
class Request:
    """A decoded request: the raw header, its command and id, and for match the audio."""

    header: dict[str, Any]
    cmd: str
    id: str | None
    match: MatchOptions | None = None
    # (frames, channels) float32, a read-only view on the received frame.
    audio: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# --- Endpoints -----------------------------------------------------------------------------------


def ipc_endpoint() -> str:
    """The POSIX ipc endpoint: ``ipc://<user runtime dir>/cir/daemon.sock``."""
    return f"ipc://{paths.runtime_dir() / 'daemon.sock'}"


def tcp_endpoint() -> str:
    """The loopback TCP endpoint every platform (and the native plugin) can reach."""
    return f"tcp://127.0.0.1:{DAEMON_TCP_PORT}"


def default_endpoints() -> list[str]:
    """The user's usual daemon: tcp, plus ipc on POSIX (whatever $CIR_ENDPOINT says)."""
    if sys.platform == "win32":  # ipc is unreliable on Windows (docs/DESIGN.md)
        return [tcp_endpoint()]
    return [tcp_endpoint(), ipc_endpoint()]


def daemon_endpoints() -> list[str]:
    """What the daemon binds: $CIR_ENDPOINT alone when set, else the default endpoints."""
    override = os.environ.get(defaults.ENDPOINT_ENV)
    return [override] if override else default_endpoints()


def client_endpoint() -> str:
    """Where clients connect: $CIR_ENDPOINT, else the ipc socket when it exists, else tcp."""
    override = os.environ.get(defaults.ENDPOINT_ENV)
    if override:
        return override
    if sys.platform != "win32" and (paths.runtime_dir() / "daemon.sock").exists():
        return ipc_endpoint()
    return tcp_endpoint()


# --- Encoding ------------------------------------------------------------------------------------


def new_request_id() -> str:
    """A fresh request id (clients may use any string up to MAX_ID_CHARS)."""
    return uuid.uuid4().hex


def _dumps(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode("utf-8")


def encode_request(cmd: str, request_id: str | None = None, **fields: Any) -> list[bytes]:
    """Body frames of a request without audio: ``[header_json]``."""
    header = {"v": PROTOCOL_VERSION, "id": request_id or new_request_id(), "cmd": cmd, **fields}
    return [_dumps(header)]


def encode_match(
    audio: np.ndarray,
    sample_rate: int,
    *,
    k: int = defaults.MATCH_DEFAULT_K,
    families: Sequence[str] | None = None,
    tempo: float | None = None,
    request_id: str | None = None,
    **fields: Any,
) -> list[bytes]:
    """Body frames of a match request: header and interleaved f32le PCM of `audio`.

    `audio` is (frames,) mono or (frames, channels) (cir.audio; AudioShapeError otherwise).
    """
    pcm = as_frames(audio).astype("<f4", copy=False)
    header = {
        "v": PROTOCOL_VERSION,
        "id": request_id or new_request_id(),
        "cmd": "match",
        "sample_rate": int(sample_rate),
        "channels": int(pcm.shape[1]),
        "frames": int(pcm.shape[0]),
        "format": AUDIO_FORMAT,
        "tempo": tempo,
        "k": int(k),
        "families": list(families) if families is not None else None,
        **fields,
    }
    return [_dumps(header), np.ascontiguousarray(pcm).tobytes()]


def encode_reply(
    request_id: str | None, error: ProtocolError | None = None, **fields: Any
) -> list[bytes]:
    """Body frames of a reply: ``[reply_json]``; ok is true exactly when there is no error."""
    reply = {
        "v": PROTOCOL_VERSION,
        "id": request_id,
        "ok": error is None,
        "error": error.to_json() if error is not None else None,
        **fields,
    }
    return [_dumps(reply)]


# --- Decoding ------------------------------------------------------------------------------------


def split_envelope(
    frames: Sequence[bytes | memoryview],
) -> tuple[list[bytes | memoryview], list[bytes | memoryview]]:
    """Split a ROUTER message into (routing envelope up to and including b"", body)."""
    for i, frame in enumerate(frames):
        if len(frame) == 0:
            return list(frames[: i + 1]), list(frames[i + 1 :])
    # No delimiter: a DEALER that forgot it. Route back on the identity alone.
    return [*frames[:1], b""], list(frames[1:])


def reply_limit(k: int | None = None) -> int:
    """The largest reply a client accepts for a request asking `k` suggestions per family
    (None: the largest k allowed)."""
    k = defaults.MATCH_MAX_K if k is None else max(0, int(k))
    per_hit = PROTOCOL_REPLY_HIT_BYTES
    return PROTOCOL_REPLY_BASE_BYTES + k * len(FAMILIES) * per_hit


def _json_object(frame: bytes | memoryview, limit: int, what: str) -> dict[str, Any]:
    if len(frame) > limit:
        if what == "header":
            raise ProtocolError(
                "header_too_large",
                f"header frame is {len(frame)} bytes; the limit is {limit} bytes: "
                "send only the documented fields",
            )
        raise ProtocolError(
            "reply_too_large",
            f"reply is {len(frame)} bytes; the limit for this request is {limit} bytes: "
            "ask for fewer suggestions (k)",
        )
    try:
        obj = json.loads(bytes(frame).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(
            "bad_json", f"{what} frame is not UTF-8 JSON ({exc}); send a JSON object"
        ) from None
    except RecursionError:  # e.g. "[" x 1000: the parser's stack, not the daemon's problem
        raise ProtocolError(
            "bad_json", f"{what} frame nests JSON too deeply; send a flat JSON object"
        ) from None
    if not isinstance(obj, dict):
        raise ProtocolError(
            "bad_header", f"{what} is a JSON {type(obj).__name__}; expected a JSON object"
        )
    return obj


def _header(frame: bytes | memoryview) -> dict[str, Any]:
    return _json_object(frame, defaults.PROTOCOL_MAX_HEADER_BYTES, "header")


def _request_id(header: dict[str, Any]) -> str | None:
    rid = header.get("id")
    if rid is None or (isinstance(rid, str) and len(rid) <= MAX_ID_CHARS):
        return rid
    return None


def peek_id(body: Sequence[bytes | memoryview]) -> str | None:
    """The request id of a body if its header is readable, else None (for error replies).
    Never raises: it runs before anything else on whatever a client sent."""
    try:
        return _request_id(_header(body[0])) if body else None
    except Exception:
        return None


def check_message(body: Sequence[bytes | memoryview]) -> None:
    """Frame count and total size of a request body, before anything is decoded or queued."""
    if not 1 <= len(body) <= PROTOCOL_MAX_BODY_FRAMES:
        raise ProtocolError(
            "bad_message",
            f"request has {len(body)} frames after the empty delimiter; expected the header "
            "and, for match, one PCM frame",
        )
    total = sum(len(frame) for frame in body)
    if total > defaults.PROTOCOL_MAX_MESSAGE_BYTES:
        raise ProtocolError(
            "too_large",
            f"request is {total} bytes; the limit is {defaults.PROTOCOL_MAX_MESSAGE_BYTES} "
            "bytes: send at most the payload limit plus a header",
        )


def _match_options(header: dict[str, Any]) -> MatchOptions:
    fmt = header.get("format", AUDIO_FORMAT)
    if fmt != AUDIO_FORMAT:
        raise ProtocolError(
            "unsupported_format",
            f"format={fmt!r}: v1 accepts only {AUDIO_FORMAT!r} (interleaved float32 "
            "little-endian); convert the samples before sending",
        )
    rate = check_sample_rate(header.get("sample_rate"))
    channels = check_int("channels", header.get("channels"), 1, defaults.PROTOCOL_MAX_CHANNELS,
                         "invalid_channels")
    frames = check_int("frames", header.get("frames"), 1, 2**63 - 1, "invalid_frames")
    check_size(frames, channels, rate)
    return MatchOptions(
        sample_rate=rate,
        channels=channels,
        frames=frames,
        tempo=check_tempo(header.get("tempo")),
        k=check_k(header.get("k")),
        families=check_families(header.get("families")),
    )


def decode_audio(pcm: bytes | memoryview, options: MatchOptions) -> np.ndarray:
    """The (frames, channels) float32 view of a PCM frame, checked for size and finite values."""
    expected = options.frames * options.channels * 4
    if len(pcm) != expected:
        raise ProtocolError(
            "size_mismatch",
            f"PCM frame is {len(pcm)} bytes; frames={options.frames} x "
            f"channels={options.channels} x 4 bytes = {expected}: send exactly that many",
        )
    audio = np.frombuffer(pcm, dtype="<f4").reshape(options.frames, options.channels)
    check_finite(audio)
    return audio


def _preset_id(header: dict[str, Any]) -> int:
    value = header.get("preset_id")
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < 2**63:
        raise ProtocolError(
            "invalid_preset_id",
            f"preset_id={value!r}: expected a positive integer, a hit's preset_id from a match",
        )
    return value


def _short_string(header: dict[str, Any], name: str, limit: int, required: bool) -> str:
    value = header.get(name, None if required else "")
    least = 1 if required else 0
    if not isinstance(value, str) or not least <= len(value) <= limit:
        raise ProtocolError(
            "invalid_query",
            f"{name}={str(value)[:60]!r}: expected a string of {least} to {limit} characters",
        )
    return value


def _preview_fields(header: dict[str, Any]) -> dict[str, Any]:
    rate = check_sample_rate(header.get("sample_rate"))
    return {"preset_id": _preset_id(header), "sample_rate": rate}


def _pick_fields(header: dict[str, Any]) -> dict[str, Any]:
    name = header.get("family")
    family = family_from_name(name) if isinstance(name, str) else None
    if family is None:
        raise ProtocolError(
            "unknown_family", f"family={str(name)[:60]!r}: expected the family the pick was "
            f"made in, one of {', '.join(FAMILIES)}",
        )
    return {
        "preset_id": _preset_id(header), "family": family,
        "query": _short_string(header, "query", MAX_QUERY_CHARS, True),
        "source": _short_string(header, "source", MAX_SOURCE_CHARS, False),
    }


# Validated fields of the commands that take more than a header's v, id and cmd.
_EXTRA_FIELDS = {"preview": _preview_fields, "pick": _pick_fields}


def decode_request(body: Sequence[bytes | memoryview]) -> Request:
    """Decode and validate a request body (the frames after the delimiter)."""
    check_message(body)
    header = _header(body[0])
    version = header.get("v")
    if version != PROTOCOL_VERSION or isinstance(version, bool):
        raise ProtocolError(
            "unsupported_version",
            f"protocol version v={version!r} is not supported; this daemon speaks "
            f'v={PROTOCOL_VERSION}: send "v": {PROTOCOL_VERSION}',
        )
    rid = header.get("id")
    if rid is not None and (not isinstance(rid, str) or len(rid) > MAX_ID_CHARS):
        raise ProtocolError(
            "bad_header", f"id={rid!r}: expected a string of at most {MAX_ID_CHARS} characters"
        )
    cmd = header.get("cmd")
    if cmd not in COMMANDS:
        raise ProtocolError(
            "unknown_command", f"cmd={cmd!r} is not a v1 command; use one of {', '.join(COMMANDS)}"
        )
    if cmd != "match":
        if len(body) != 1:
            raise ProtocolError(
                "unexpected_audio", f"cmd={cmd!r} takes no PCM frame; send the header alone"
            )
        extra = _EXTRA_FIELDS[cmd](header) if cmd in _EXTRA_FIELDS else {}
        return Request(header=header, cmd=cmd, id=rid, extra=extra)
    options = _match_options(header)
    if len(body) != 2:
        raise ProtocolError(
            "missing_audio", "match request has no PCM frame; send [b'', header, pcm]"
        )
    return Request(
        header=header, cmd=cmd, id=rid, match=options, audio=decode_audio(body[1], options)
    )


def decode_reply(body: Sequence[bytes], max_bytes: int | None = None) -> dict[str, Any]:
    """Decode a reply body into its JSON object, checking the version and the reply limit
    (`max_bytes`, default `reply_limit()`: the largest k). A `preview` reply's PCM frame
    becomes its "audio": (frames, channels) float32."""
    if len(body) not in (1, 2):
        raise ProtocolError(
            "bad_message", f"reply has {len(body)} frames; expected 1 (2 for a preview)"
        )
    reply = _json_object(body[0], reply_limit() if max_bytes is None else max_bytes, "reply")
    if reply.get("v") != PROTOCOL_VERSION:
        raise ProtocolError(
            "unsupported_version",
            f"reply version v={reply.get('v')!r}; this client speaks v={PROTOCOL_VERSION}: "
            "upgrade CIR so the daemon and the client match",
        )
    if len(body) == 2:
        reply["audio"] = _reply_audio(body[1], reply)
    return reply


def _reply_audio(pcm: bytes, reply: dict[str, Any]) -> np.ndarray:
    frames, channels = reply.get("frames"), reply.get("channels")
    if (reply.get("format") != AUDIO_FORMAT or not isinstance(frames, int)
            or not isinstance(channels, int) or frames < 0 or channels < 1
            or len(pcm) != frames * channels * 4):
        raise ProtocolError(
            "size_mismatch", f"the reply's PCM frame has {len(pcm)} bytes, not frames x "
            f"channels x 4 of its header (frames={frames!r}, channels={channels!r})",
        )
    return np.frombuffer(pcm, "<f4").reshape(frames, channels)
