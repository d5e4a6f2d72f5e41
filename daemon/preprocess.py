"""Turn a decoded match request's audio into what the embedder wants: mono, at its rate.

Pure functions (no sockets), so every check is tested without a daemon.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from cir import defaults
from cir.protocol import ProtocolError


@dataclass
class Prepared:
    """Mono float32 audio at `sample_rate`, the input peak in dBFS and any warnings."""

    audio: np.ndarray
    sample_rate: int
    peak_dbfs: float
    warnings: list[str] = field(default_factory=list)


def downmix(frames: np.ndarray) -> np.ndarray:
    """(frames, channels) -> (frames,) float32 mean of the channels."""
    if frames.ndim == 1:
        return frames.astype(np.float32, copy=False)
    if frames.shape[1] == 1:
        return frames[:, 0].astype(np.float32)
    # Column adds are ~50x faster than mean(axis=1) over interleaved frames (SIMD, no reduce).
    # Each channel is scaled before it is added: samples near the float32 maximum would
    # otherwise sum to infinity.
    scale = np.float32(1.0 / frames.shape[1])
    mono = frames[:, 0] * scale
    for channel in range(1, frames.shape[1]):
        mono += frames[:, channel] * scale
    return mono


def _fast_length(n: int) -> int:
    """The next length >= n whose factors are 2, 3 and 5 only (fast FFT sizes)."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p = p35
            while p < n:
                p *= 2
            best = min(best, p)
            p35 *= 3
        p5 *= 5
    return best


def resample(audio: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Band-limited FFT resampling of mono audio (exact anti-aliasing, a few ms for 8 s).

    The signal is zero-padded to a fast FFT length first, which also keeps the circular
    wrap-around of FFT resampling away from the audio's ends.
    """
    if source_rate == target_rate:
        return audio.astype(np.float32, copy=False)
    n = len(audio)
    n_out = max(1, round(n * target_rate / source_rate))
    padded = _fast_length(n + n // 16 + 64)
    padded_out = round(padded * target_rate / source_rate)
    spectrum = np.fft.rfft(audio.astype(np.float32), padded)
    bins = padded_out // 2 + 1
    if bins <= len(spectrum):
        spectrum = spectrum[:bins]
    else:
        spectrum = np.concatenate([spectrum, np.zeros(bins - len(spectrum), spectrum.dtype)])
    out = np.fft.irfft(spectrum, padded_out) * (padded_out / padded)
    return out[:n_out].astype(np.float32)


def peak_dbfs(audio: np.ndarray) -> float:
    """Peak level in dBFS (-inf for digital silence)."""
    peak = max(float(audio.max()), -float(audio.min())) if audio.size else 0.0
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf


def prepare(frames: np.ndarray, sample_rate: int, target_rate: int) -> Prepared:
    """Check levels, downmix, resample, normalise the peak; ProtocolError("silent_audio") on
    silence."""
    level = peak_dbfs(frames)
    if level < defaults.DAEMON_SILENCE_DBFS:
        shown = "digital silence" if level == -math.inf else f"{level:.1f} dBFS"
        raise ProtocolError(
            "silent_audio",
            f"the audio's peak is {shown}, below {defaults.DAEMON_SILENCE_DBFS:g} dBFS: "
            "capture while the loop plays, or check the input device and its gain",
        )
    warnings = []
    if level >= 20.0 * math.log10(defaults.DAEMON_CLIP_PEAK):
        warnings.append(
            f"peak at {level:.1f} dBFS: the audio is probably clipping; lower the level "
            "before capture for better matches"
        )
    # Unit peak before resampling, so no float32 overflow can come from huge (finite) samples
    # or the resampler's overshoot; then, since catalogue references are peak-normalised to
    # RENDER_PEAK, the query is brought to the same level so loudness (a fader, a velocity)
    # does not move it in embedding space.
    mono = _normalise(downmix(frames), 1.0)
    mono = _normalise(resample(mono, sample_rate, target_rate), defaults.RENDER_PEAK)
    return Prepared(
        audio=pad_to_minimum(mono, target_rate), sample_rate=target_rate, peak_dbfs=level,
        warnings=warnings,
    )


def _normalise(mono: np.ndarray, target: float) -> np.ndarray:
    peak = max(float(mono.max()), -float(mono.min())) if mono.size else 0.0
    if peak > 0:
        mono = mono * np.float32(target / peak)
    return mono


def pad_to_minimum(mono: np.ndarray, sample_rate: int) -> np.ndarray:
    """`mono` followed by silence up to DAEMON_MIN_QUERY_SECONDS (unchanged if long enough)."""
    minimum = math.ceil(defaults.DAEMON_MIN_QUERY_SECONDS * sample_rate)
    if len(mono) >= minimum:
        return mono
    return np.concatenate([mono, np.zeros(minimum - len(mono), np.float32)])
