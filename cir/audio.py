"""CIR's one audio-shape convention, checked where audio enters a layer.

In Python, audio is a numpy array of samples shaped ``(frames,)`` (mono) or
``(frames, channels)``, with its sample rate in Hz passed beside it. This is the layout of
the wire format (interleaved PCM) and of sounddevice. pedalboard reads and writes
``(channels, frames)``: the few adapters that call it transpose there and nowhere else.

Nothing guesses: a 2-D array whose second axis is longer than any channel count and whose
first axis is short is refused with the fix (``audio.T``), never silently transposed.

>>> import numpy as np
>>> as_frames(np.zeros(4)).shape
(4, 1)
>>> as_frames(np.zeros((2, 48_000)))
Traceback (most recent call last):
...
cir.audio.AudioShapeError: audio has shape (2, 48000), which looks like (channels, frames): \
pass audio.T (CIR audio is (frames,) or (frames, channels))
"""

from __future__ import annotations

import numpy as np

from cir import defaults
from cir.errors import CIRError


class AudioShapeError(CIRError):
    """Audio that is not (frames,) or (frames, channels) float samples."""


def as_frames(audio: np.ndarray, what: str = "audio") -> np.ndarray:
    """`audio` as a float32 ``(frames, channels)`` array, or AudioShapeError naming the fix."""
    a = np.asarray(audio)
    if a.dtype.kind not in "fiu":
        raise AudioShapeError(f"{what} has dtype {a.dtype}: expected float samples")
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise AudioShapeError(
            f"{what} has shape {a.shape}: expected (frames,) or (frames, channels)"
        )
    frames, channels = a.shape
    limit = defaults.PROTOCOL_MAX_CHANNELS
    if channels > limit:
        hint = (" which looks like (channels, frames): pass audio.T" if frames <= limit
                else f" with {channels} channels; at most {limit} are accepted")
        raise AudioShapeError(
            f"{what} has shape {a.shape},{hint} (CIR audio is (frames,) or (frames, channels))"
        )
    return a.astype(np.float32, copy=False)


def to_mono(audio: np.ndarray, what: str = "audio") -> np.ndarray:
    """The channel mean as float32 ``(frames,)``; summed in float64 so loud stereo cannot
    overflow to infinity."""
    a = as_frames(audio, what)
    if a.shape[1] == 1:
        return a[:, 0]
    return a.mean(axis=1, dtype=np.float64).astype(np.float32)
