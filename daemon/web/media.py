"""Audio for the page: WAV bytes, waveform outlines and mel spectrograms as small arrays.

The page draws waveforms and spectrograms on canvases from these arrays, so no imaging
library is needed and nothing but numbers crosses the wire. Pure functions on numpy arrays.
"""

from __future__ import annotations

import base64
import functools
import io
import wave
from pathlib import Path
from typing import Any

import numpy as np

from cir import defaults
from cir.errors import CIRError

# Spectrograms drawn on the page: mel bands, FFT size, columns (time is resampled to this many),
# and the dB range below the loudest bin that is shown.
WEB_SPECTROGRAM_MELS = 96
WEB_SPECTROGRAM_N_FFT = 2048
WEB_SPECTROGRAM_COLUMNS = 480
WEB_SPECTROGRAM_DB_RANGE = 80.0
# Waveform: min/max pairs drawn across the player's width.
WEB_WAVEFORM_POINTS = 600


class MediaError(CIRError):
    """An audio file of the catalogue cannot be read for the page."""


def wav_bytes(pcm: np.ndarray, sample_rate: int) -> bytes:
    """A 16-bit PCM WAV file of (frames, channels) int16 audio."""
    pcm = np.asarray(pcm, dtype=np.int16)
    if pcm.ndim == 1:
        pcm = pcm[:, None]
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(pcm.shape[1])
        w.setsampwidth(2)
        w.setframerate(int(sample_rate))
        w.writeframes(np.ascontiguousarray(pcm, dtype="<i2").tobytes())
    return out.getvalue()


def read_mono(path: Path) -> tuple[np.ndarray, int]:
    """(frames,) float32 mono and the rate of an audio file (a catalogue preview)."""
    from pedalboard.io import AudioFile

    try:
        with AudioFile(str(path)) as f:
            rate = int(f.samplerate)
            audio = f.read(f.frames)
    except Exception as exc:
        raise MediaError(f"cannot read preview {path.name} ({exc})") from None
    return np.asarray(audio, dtype=np.float32).mean(axis=0), rate


def waveform(mono: np.ndarray, points: int = WEB_WAVEFORM_POINTS) -> dict[str, Any]:
    """Min and max of `points` equal slices: what a waveform view draws."""
    mono = np.asarray(mono, dtype=np.float32)
    if mono.size == 0:
        return {"min": [], "max": []}
    points = max(1, min(points, mono.size))
    edges = np.linspace(0, mono.size, points + 1).astype(np.int64)
    lo = np.minimum.reduceat(mono, edges[:-1])
    hi = np.maximum.reduceat(mono, edges[:-1])
    return {"min": np.round(lo.astype(np.float64), 3).tolist(),
            "max": np.round(hi.astype(np.float64), 3).tolist()}


@functools.cache
def _mel_matrix(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular mel filters (HTK mel scale), 20 Hz to Nyquist."""

    def hz_to_mel(hz: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + hz / 700.0)

    def mel_to_hz(mel: np.ndarray) -> np.ndarray:
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)

    freqs = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    mels = np.linspace(hz_to_mel(np.array(20.0)), hz_to_mel(np.array(sample_rate / 2.0)),
                       n_mels + 2)
    hz = mel_to_hz(mels)
    lower, centre, upper = hz[:-2, None], hz[1:-1, None], hz[2:, None]
    rising = (freqs[None, :] - lower) / np.maximum(centre - lower, 1e-9)
    falling = (upper - freqs[None, :]) / np.maximum(upper - centre, 1e-9)
    return np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)


def spectrogram(
    mono: np.ndarray,
    sample_rate: int,
    columns: int = WEB_SPECTROGRAM_COLUMNS,
    n_mels: int = WEB_SPECTROGRAM_MELS,
    n_fft: int = WEB_SPECTROGRAM_N_FFT,
    db_range: float = WEB_SPECTROGRAM_DB_RANGE,
) -> dict[str, Any]:
    """A mel spectrogram as `columns` x `n_mels` bytes (0 = db_range below the peak, 255 =
    the peak), column-major from low to high bands, base64 in "data"."""
    mono = np.asarray(mono, dtype=np.float32)
    if mono.size < n_fft:
        mono = np.pad(mono, (0, n_fft - mono.size))
    # Hop chosen so the frames cover the clip in about `columns` steps (no frame wasted).
    hop = max(1, (mono.size - n_fft) // max(1, columns - 1))
    starts = np.arange(0, mono.size - n_fft + 1, hop)[:columns]
    frames = mono[starts[:, None] + np.arange(n_fft)[None, :]] * np.hanning(n_fft).astype(
        np.float32
    )
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2  # (columns, bins)
    mel = power @ _mel_matrix(int(sample_rate), n_fft, n_mels).T  # (columns, n_mels)
    db = 10.0 * np.log10(np.maximum(mel, 1e-12))
    db -= db.max()
    scaled = np.clip((db + db_range) / db_range, 0.0, 1.0) * 255.0
    data = np.ascontiguousarray(scaled.astype(np.uint8))
    return {
        "columns": int(data.shape[0]),
        "bands": int(data.shape[1]),
        "seconds": round(mono.size / sample_rate, 3),
        "data": base64.b64encode(data.tobytes()).decode("ascii"),
    }


def decode_upload(data: bytes, name: str) -> tuple[np.ndarray, int]:
    """(frames, channels) float32 and the rate of an audio file dropped on the page."""
    from pedalboard.io import AudioFile

    if not data:
        raise MediaError(f"{name} is empty: drop a wav, flac, mp3, ogg or aiff file")
    try:
        with AudioFile(io.BytesIO(data)) as f:
            rate = int(f.samplerate)
            if f.frames > defaults.PROTOCOL_MAX_SECONDS * rate:
                raise MediaError(
                    f"{name} is {f.frames / rate:.1f} s long; queries are at most "
                    f"{defaults.PROTOCOL_MAX_SECONDS:g} s: trim it to the loop"
                )
            audio = f.read(f.frames)
    except MediaError:
        raise
    except Exception:
        raise MediaError(
            f"cannot read {name} as audio: drop a wav, flac, mp3, ogg or aiff file"
        ) from None
    audio = np.ascontiguousarray(np.asarray(audio, dtype=np.float32).T)
    if audio.shape[1] > defaults.PROTOCOL_MAX_CHANNELS:
        audio = audio.mean(axis=1, keepdims=True)
    if audio.shape[0] == 0:
        raise MediaError(f"{name} holds no audio frames")
    return audio, rate
