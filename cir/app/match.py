"""Match audio files: through the running daemon, or in-process (`--local`) with the same code.

Both routes build the same protocol v1 request; the local one hands it to an in-process
Server's `respond`, so `cir match --local` and the daemon answer identically.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cir import defaults, protocol
from cir.errors import CIRError


class AudioFileError(CIRError):
    """An audio file is missing, unreadable, or too long for a query."""


def load_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """(frames, channels) float32 audio and its sample rate (wav, flac, mp3, ogg, aiff)."""
    from pedalboard.io import AudioFile

    path = Path(path)
    if not path.is_file():
        raise AudioFileError(f"audio file {path} does not exist; pass a wav/flac/mp3/ogg/aiff file")
    try:
        with AudioFile(str(path)) as f:
            rate = int(f.samplerate)
            limit = int(defaults.PROTOCOL_MAX_SECONDS * rate)
            if f.frames > limit:
                raise AudioFileError(
                    f"{path} is {f.frames / rate:.1f} s long; queries are at most "
                    f"{defaults.PROTOCOL_MAX_SECONDS:g} s: trim it to the loop"
                )
            audio = f.read(f.frames)
    except AudioFileError:
        raise
    except Exception as exc:
        raise AudioFileError(
            f"cannot read {path} ({exc}); use wav, flac, mp3, ogg or aiff"
        ) from None
    return np.ascontiguousarray(audio.T, dtype=np.float32), rate


class LocalMatcher:
    """An in-process daemon without sockets: loads the model and catalogue once."""

    def __init__(self, catalogue: str | Path | None = None, embedder: Any = None):
        from cir.daemon.server import Server

        self.server = Server(endpoints=[], catalogue_path=catalogue, embedder=embedder,
                             use_lock=False, warm_up=False).load()

    def match(self, audio: np.ndarray, sample_rate: int, **options: Any) -> dict[str, Any]:
        reply = protocol.decode_reply(
            self.server.respond(protocol.encode_match(audio, sample_rate, **options))
        )
        if not reply["ok"]:
            from cir.protocol.client import RequestRefusedError

            raise RequestRefusedError(reply["error"]["code"], reply["error"]["message"])
        return reply

    def close(self) -> None:
        if self.server.matcher is not None:
            self.server.matcher.close()


def match_files(
    files: Sequence[str | Path],
    k: int = defaults.MATCH_DEFAULT_K,
    families: Sequence[str] | None = None,
    local: bool = False,
    catalogue: str | Path | None = None,
    endpoint: str | None = None,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, match reply) per file, through the daemon or in-process."""
    if local:
        matcher: Any = LocalMatcher(catalogue)
    else:
        from cir.protocol.client import Client

        matcher = Client(endpoint)
    try:
        for path in files:
            audio, rate = load_audio(path)
            yield str(path), matcher.match(audio, rate, k=k, families=families)
    finally:
        matcher.close()


def as_json_line(path: str, reply: dict[str, Any]) -> dict[str, Any]:
    """The `cir match --json` object for one file."""
    return {
        "query": path,
        "families": reply.get("results", {}),
        "warnings": reply.get("warnings", []),
        "timing_ms": reply.get("timing_ms", {}),
    }
