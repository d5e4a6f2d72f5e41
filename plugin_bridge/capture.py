"""Audio capture for `cir record` and `cir listen`, with sounddevice (PortAudio).

The audio callbacks only copy each block into a queue (python-sounddevice's
`rec_unlimited.py` pattern); the consuming thread does everything else. Buffering and timing
are pure functions and classes (RingBuffer, bars_to_seconds) tested without hardware.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import numpy as np

from cir import defaults
from cir.errors import CIRError, import_optional

# Bars are 4 beats unless a caller says otherwise.
BEATS_PER_BAR = 4


class CaptureError(CIRError):
    """An audio device could not be found, opened, or delivered no audio."""


def _sd():
    return import_optional("sounddevice", "capture", system="libportaudio2 (PortAudio)")


# --- pure helpers ----------------------------------------------------------------------------


def bars_to_seconds(bars: float, bpm: float, beats_per_bar: int = BEATS_PER_BAR) -> float:
    """Length of `bars` bars at `bpm` beats per minute."""
    if bars <= 0 or bpm <= 0:
        raise CaptureError(f"bars={bars}, bpm={bpm}: expected positive numbers, e.g. 4 bars at 120")
    return bars * beats_per_bar * 60.0 / bpm


class RingBuffer:
    """The last `capacity` frames of a (frames, channels) float32 stream."""

    def __init__(self, capacity: int, channels: int):
        if capacity < 1 or channels < 1:
            raise CaptureError(
                f"ring buffer of {capacity} frames x {channels} channels: expected >= 1"
            )
        self._data = np.zeros((capacity, channels), np.float32)
        self._pos = 0  # next write index
        self._filled = 0

    @property
    def capacity(self) -> int:
        return len(self._data)

    def __len__(self) -> int:
        return self._filled

    def write(self, block: np.ndarray) -> None:
        """Append a (frames, channels) block, overwriting the oldest frames."""
        block = np.asarray(block, np.float32).reshape(-1, self._data.shape[1])
        if len(block) >= self.capacity:
            self._data[:] = block[-self.capacity :]
            self._pos, self._filled = 0, self.capacity
            return
        end = self._pos + len(block)
        if end <= self.capacity:
            self._data[self._pos : end] = block
        else:
            split = self.capacity - self._pos
            self._data[self._pos :] = block[:split]
            self._data[: end - self.capacity] = block[split:]
        self._pos = end % self.capacity
        self._filled = min(self.capacity, self._filled + len(block))

    def read(self) -> np.ndarray:
        """The buffered frames, oldest first (a copy)."""
        if self._filled < self.capacity:
            return self._data[: self._filled].copy()
        return np.concatenate([self._data[self._pos :], self._data[: self._pos]])


# --- devices ---------------------------------------------------------------------------------


def list_devices() -> list[dict[str, Any]]:
    """Every PortAudio device: index, name, host API, channel counts, default rate."""
    sd = _sd()
    apis = sd.query_hostapis()
    default_in, default_out = sd.default.device
    return [
        {
            "index": i,
            "name": d["name"],
            "hostapi": apis[d["hostapi"]]["name"],
            "inputs": d["max_input_channels"],
            "outputs": d["max_output_channels"],
            "default_samplerate": d["default_samplerate"],
            "default_input": i == default_in,
            "default_output": i == default_out,
        }
        for i, d in enumerate(sd.query_devices())
    ]


def resolve_device(spec: str | int | None, kind: str = "input") -> int | None:
    """A device index from an index or a case-insensitive name substring (None: default)."""
    if spec is None or spec == "":
        return None
    devices = list_devices()
    key = "inputs" if kind == "input" else "outputs"
    if isinstance(spec, int) or str(spec).isdigit():
        index = int(spec)
        if not 0 <= index < len(devices) or devices[index][key] == 0:
            raise CaptureError(
                f"device {index} is not an {kind} device; list devices with `cir devices`"
            )
        return index
    needle = str(spec).lower()
    matches = [d for d in devices if d[key] > 0 and needle in d["name"].lower()]
    exact = [d for d in matches if d["name"].lower() == needle]
    if len(exact) == 1 or len(matches) == 1:
        return (exact or matches)[0]["index"]
    names = ", ".join(f"{d['index']}: {d['name']}" for d in matches) or "none"
    raise CaptureError(
        f"device {spec!r} matches {len(matches)} {kind} devices ({names}); "
        "pass an index or a longer name (see `cir devices`)"
    )


# --- capture ---------------------------------------------------------------------------------


class Recorder:
    """An input stream whose callback only queues copies; a consumer thread fills a ring buffer.

        with Recorder(seconds=8) as rec:
            ...            # audio flows into the ring buffer
            loop = rec.snapshot()
    """

    def __init__(
        self,
        seconds: float,
        device: str | int | None = None,
        sample_rate: int = defaults.CAPTURE_SAMPLE_RATE,
        channels: int = defaults.CAPTURE_CHANNELS,
    ):
        self.device = resolve_device(device, "input")
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.ring = RingBuffer(max(1, round(seconds * sample_rate)), channels)
        self.frames_seen = 0
        self.overflows = 0
        self._queue: queue.Queue[np.ndarray] = queue.Queue()
        self._stream = None
        self._consumer: threading.Thread | None = None
        self._running = threading.Event()
        self._lock = threading.Lock()

    def _callback(self, indata, frames, time_info, status) -> None:
        # Audio thread: copy and queue, nothing else (no locks, no allocation beyond the copy).
        if status.input_overflow:
            self.overflows += 1
        self._queue.put(indata.copy())

    def _consume(self) -> None:
        while self._running.is_set() or not self._queue.empty():
            try:
                block = self._queue.get(timeout=0.05)
            except queue.Empty:
                continue
            with self._lock:
                self.ring.write(block)
                self.frames_seen += len(block)

    def start(self) -> Recorder:
        sd = _sd()
        try:
            self._stream = sd.InputStream(
                samplerate=self.sample_rate, channels=self.channels, dtype="float32",
                device=self.device, callback=self._callback,
            )
            self._running.set()
            self._consumer = threading.Thread(target=self._consume, daemon=True)
            self._consumer.start()
            self._stream.start()
        except sd.PortAudioError as exc:
            self._running.clear()
            raise CaptureError(
                f"cannot open input device {self.device if self.device is not None else 'default'} "
                f"at {self.sample_rate} Hz x {self.channels} ch ({exc}); pick another with "
                "--device (see `cir devices`) or check its sample rate"
            ) from None
        return self

    def stop(self) -> None:
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
            self._stream = None
        self._running.clear()
        if self._consumer is not None:
            self._consumer.join()
            self._consumer = None

    def __enter__(self) -> Recorder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def snapshot(self) -> np.ndarray:
        """The buffered audio, (frames, channels), oldest first."""
        with self._lock:
            return self.ring.read()

    def wait_frames(self, frames: int, timeout: float) -> None:
        """Block until `frames` frames arrived, or CaptureError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while self.frames_seen < frames:
            if time.monotonic() > deadline:
                raise CaptureError(
                    f"only {self.frames_seen} of {frames} frames arrived in {timeout:g} s: the "
                    "device delivers no audio; check it with `cir devices`"
                )
            time.sleep(0.01)


def record(
    seconds: float,
    device: str | int | None = None,
    sample_rate: int = defaults.CAPTURE_SAMPLE_RATE,
    channels: int = defaults.CAPTURE_CHANNELS,
) -> np.ndarray:
    """Capture `seconds` of audio from an input device: (frames, channels) float32."""
    if not 0 < seconds <= defaults.PROTOCOL_MAX_SECONDS:
        raise CaptureError(
            f"seconds={seconds}: expected more than 0 and at most "
            f"{defaults.PROTOCOL_MAX_SECONDS:g} (the protocol's limit)"
        )
    frames = round(seconds * sample_rate)
    with Recorder(seconds, device, sample_rate, channels) as rec:
        rec.wait_frames(frames, timeout=seconds + 5.0)
        return rec.snapshot()


def play(audio: np.ndarray, sample_rate: int, device: str | int | None = None) -> None:
    """Play audio on an output device and wait until it has played (previews, tests)."""
    sd = _sd()
    try:
        sd.play(audio, sample_rate, device=resolve_device(device, "output"), blocking=True)
    except sd.PortAudioError as exc:
        raise CaptureError(
            f"cannot play on output device {device or 'default'} ({exc}); "
            "pick another (see `cir devices`)"
        ) from None
