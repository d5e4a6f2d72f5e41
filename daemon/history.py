"""The daemon's memory of its last answers, with their query audio, for the results page.

Bounded twice: at most `max_answers` answers, and at most `max_bytes` of audio in all (the
oldest answers go first). Audio is kept as int16 at no more than WEB_AUDIO_MAX_RATE and
WEB_AUDIO_MAX_CHANNELS, so a 60 s stereo 192 kHz query costs 11 MB, not 92 MB.

Thread-safe: the ZeroMQ loop adds, the web threads read; listeners hear of each new answer
(the page's Server-Sent Events).
"""

from __future__ import annotations

import datetime as _dt
import itertools
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cir.matching.prepare import resample

# Answers kept for the page, newest first (the plugin's, `cir match`'s, `cir record`'s)...
WEB_HISTORY_ANSWERS = 50
# ...and at most this much query audio in all (int16, <= 48 kHz, <= 2 channels: a 60 s stereo
# query is 11 MB), so a long session never grows the daemon without bound.
WEB_HISTORY_MAX_BYTES = 160 * 1024 * 1024
WEB_AUDIO_MAX_RATE = 48_000
WEB_AUDIO_MAX_CHANNELS = 2

Listener = Callable[["Answer"], None]


@dataclass(frozen=True)
class Answer:
    """One answered match request: what was asked, what the daemon said, and the audio."""

    id: int
    time: str
    source: str
    header: dict[str, Any]
    reply: dict[str, Any]
    audio: np.ndarray = field(repr=False)  # (frames, channels) int16
    sample_rate: int = 0

    @property
    def nbytes(self) -> int:
        return int(self.audio.nbytes)

    def float_audio(self) -> np.ndarray:
        """(frames, channels) float32 in [-1, 1)."""
        return self.audio.astype(np.float32) / 32768.0

    def to_json(self) -> dict[str, Any]:
        """What the page gets (no audio: it is fetched by the answer's id)."""
        reply = self.reply
        return {
            "id": self.id,
            "time": self.time,
            "source": self.source,
            "request_id": reply.get("id"),
            "ok": bool(reply.get("ok")),
            "error": reply.get("error"),
            "k": self.header.get("k"),
            "loop_region": self.header.get("loop_region"),
            "query": reply.get("query") or {
                "seconds": self.audio.shape[0] / max(self.sample_rate, 1),
                "sample_rate": self.header.get("sample_rate"),
                "channels": self.header.get("channels"),
                "tempo": self.header.get("tempo"),
            },
            "results": reply.get("results") or {},
            "presence": reply.get("presence") or {},
            "warnings": reply.get("warnings") or [],
            "timing_ms": reply.get("timing_ms") or {},
            "audio_seconds": round(self.audio.shape[0] / max(self.sample_rate, 1), 3),
        }


def _source(header: dict[str, Any]) -> str:
    value = header.get("source")
    return str(value)[:64] if isinstance(value, str) and value else "unknown client"


def keepable_audio(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, int]:
    """(frames, <= 2 channels) int16 at <= WEB_AUDIO_MAX_RATE: what the page plays back."""
    frames = np.asarray(audio, dtype=np.float32)
    if frames.ndim == 1:
        frames = frames[:, None]
    if frames.shape[1] > WEB_AUDIO_MAX_CHANNELS:
        # Surround: a stereo fold-down of every channel is enough to recognise the loop.
        frames = np.stack([frames[:, 0::2].mean(axis=1), frames[:, 1::2].mean(axis=1)], axis=1)
    rate = int(sample_rate)
    if rate > WEB_AUDIO_MAX_RATE:
        frames = np.stack(
            [resample(frames[:, c], rate, WEB_AUDIO_MAX_RATE)
             for c in range(frames.shape[1])], axis=1,
        )
        rate = WEB_AUDIO_MAX_RATE
    pcm = np.clip(np.nan_to_num(frames), -1.0, 32767 / 32768) * 32768.0
    return np.ascontiguousarray(pcm.astype(np.int16)), rate


class History:
    """The last answers, newest last internally; `answers()` lists them newest first."""

    def __init__(
        self,
        max_answers: int = WEB_HISTORY_ANSWERS,
        max_bytes: int = WEB_HISTORY_MAX_BYTES,
    ):
        self.max_answers = max_answers
        self.max_bytes = max_bytes
        self._answers: OrderedDict[int, Answer] = OrderedDict()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []

    def add(self, header: dict[str, Any], audio: np.ndarray, reply: dict[str, Any]) -> Answer:
        """Keep one answer (copies and shrinks the audio), drop the oldest beyond the bounds."""
        pcm, rate = keepable_audio(audio, int(header.get("sample_rate") or 0) or 1)
        now = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
        with self._lock:
            answer = Answer(next(self._ids), now, _source(header), dict(header), reply, pcm, rate)
            self._answers[answer.id] = answer
            self._trim()
            listeners = list(self._listeners)
        for listener in listeners:
            listener(answer)
        return answer

    def _trim(self) -> None:
        total = sum(a.nbytes for a in self._answers.values())
        while self._answers and (
            len(self._answers) > self.max_answers or total > self.max_bytes
        ):
            _, oldest = self._answers.popitem(last=False)
            total -= oldest.nbytes

    def answers(self) -> list[Answer]:
        """Newest first."""
        with self._lock:
            return list(reversed(self._answers.values()))

    def get(self, answer_id: int) -> Answer | None:
        with self._lock:
            return self._answers.get(answer_id)

    def __len__(self) -> int:
        with self._lock:
            return len(self._answers)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(answer)` for each new answer (in the adding thread); returns the
        function that unsubscribes."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe
