"""Match audio files: through the running daemon, or in-process (`--local`) with the same code.

The local route calls the matching core (cir.matching) that the daemon runs behind its
socket, so `cir match --local` and the daemon answer identically; only the daemon's route
speaks the protocol (through its client).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cir import defaults
from cir.errors import CIRError
from cir.matching.core import Matcher
from cir.query import QueryError


class AudioFileError(CIRError):
    """An audio file is missing, unreadable, or too long for a query."""


@dataclass(frozen=True)
class FileAnswer:
    """One file's outcome: the match reply, or the one-line reason it has none."""

    path: str
    reply: dict[str, Any] | None = None
    error: str | None = None


def load_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """(frames, channels) float32 audio and its sample rate (wav, flac, mp3, ogg, aiff)."""
    from pedalboard.io import AudioFile

    path = Path(path)
    if not path.is_file():
        raise AudioFileError(f"audio file {path} does not exist; pass a wav/flac/mp3/ogg/aiff file")
    try:
        with AudioFile(str(path)) as f:
            rate, frames = int(f.samplerate), int(f.frames)
            limit = int(defaults.PROTOCOL_MAX_SECONDS * rate)
            if frames > limit:
                raise AudioFileError(
                    f"{path} is {frames / rate:.1f} s long; queries are at most "
                    f"{defaults.PROTOCOL_MAX_SECONDS:g} s: trim it to the loop"
                )
            # read(0) means "the whole file" to pedalboard: an empty file is said so below
            audio = f.read(frames) if frames else np.zeros((f.num_channels, 0), np.float32)
    except AudioFileError:
        raise
    except Exception:
        raise AudioFileError(
            f"cannot read {path}: not a wav, flac, mp3, ogg or aiff file pedalboard can decode"
        ) from None
    if audio.shape[-1] == 0:
        raise AudioFileError(f"{path} holds no audio (0 samples): export the loop again")
    return np.ascontiguousarray(audio.T, dtype=np.float32), rate


def local_matcher(catalogue: str | Path | None = None, embedder: Any = None) -> Matcher:
    """The matching core in this process (no sockets): loads the model and catalogue once.
    Its log goes to a file, as a daemon's does."""
    from cir import paths
    from cir.daemon.logs import LOGGER_NAME, setup_logging

    if not logging.getLogger(LOGGER_NAME).handlers:
        setup_logging(paths.log_dir() / "local.log")
    return Matcher(catalogue, embedder)


class _LocalMatcher:
    """`cir match --local`: the core's answer as the daemon's reply fields."""

    def __init__(self, catalogue: str | Path | None):
        self.matcher = local_matcher(catalogue)

    def match(self, audio: np.ndarray, sample_rate: int, **options: Any) -> dict[str, Any]:
        return self.matcher.match(audio, sample_rate, **options).to_dict()

    def close(self) -> None:
        self.matcher.close()


class _DaemonMatcher:
    """The running daemon, asked like `cir match` asks it (the page shows where from)."""

    def __init__(self, endpoint: str | None, source: str):
        from cir.protocol.client import Client

        self.client = Client(endpoint)
        self.source = source

    def match(self, audio: np.ndarray, sample_rate: int, **options: Any) -> dict[str, Any]:
        return self.client.match(audio, sample_rate, source=self.source, **options)

    def close(self) -> None:
        self.client.close()


def match_files(
    files: Sequence[str | Path],
    k: int = defaults.MATCH_DEFAULT_K,
    families: Sequence[str] | None = None,
    local: bool = False,
    catalogue: str | Path | None = None,
    endpoint: str | None = None,
    source: str = "cir match",
) -> Iterator[FileAnswer]:
    """One FileAnswer per file, through the daemon or in-process. A file that cannot be read
    or matched gets its error and the others go on; a daemon that does not answer (or a
    catalogue that cannot be opened) stops everything with its CIRError."""
    from cir.protocol.client import RequestRefusedError

    matcher: Any = _LocalMatcher(catalogue) if local else _DaemonMatcher(endpoint, source)
    try:
        for path in files:
            try:
                audio, rate = load_audio(path)
                reply = matcher.match(audio, rate, k=k, families=families)
            except (AudioFileError, QueryError) as exc:
                yield FileAnswer(str(path), error=str(exc))
                continue
            except RequestRefusedError as exc:
                if exc.code == "no_catalogue":
                    raise
                yield FileAnswer(str(path), error=str(exc))
                continue
            yield FileAnswer(str(path), reply=reply)
    finally:
        matcher.close()


def as_json_line(path: str, reply: dict[str, Any] | None, error: str | None = None):
    """The `cir match --json` object for one file (its error instead when it has one)."""
    if reply is None:
        return {"query": path, "error": error}
    return {
        "query": path,
        "families": reply.get("results", {}),
        **({"presence": reply["presence"]} if reply.get("presence") else {}),
        "warnings": reply.get("warnings", []),
        "timing_ms": reply.get("timing_ms", {}),
    }
