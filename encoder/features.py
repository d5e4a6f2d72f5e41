"""Log-mel features in plain torch (torch.stft + a mel matrix built here) and resampling.

No torchaudio, no librosa (docs/DESIGN.md): the daemon imports this, so it must be light and fast
(about 2 ms for a 4 s clip). Settings live in `FeatureConfig`, which checkpoints store.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from cir import defaults
from cir.audio import to_mono
from cir.errors import CIRError

# Power floor before the log: about 100 dB below a full-scale partial, so silence is a constant.
ENCODER_LOG_FLOOR = 1e-5


class FeatureError(CIRError):
    """Audio that cannot be turned into features (wrong shape, empty, not finite)."""


@dataclass(frozen=True)
class FeatureConfig:
    """Everything that decides the feature space; stored in checkpoints and compared on load."""

    sample_rate: int = defaults.MODEL_SAMPLE_RATE
    n_fft: int = defaults.ENCODER_N_FFT
    hop: int = defaults.ENCODER_HOP
    n_mels: int = defaults.ENCODER_N_MELS
    f_min: float = defaults.ENCODER_F_MIN
    log_floor: float = ENCODER_LOG_FLOOR

    def to_dict(self) -> dict:
        return asdict(self)

    def frames(self, n_samples: int) -> int:
        """Number of frames `torch.stft(center=True)` gives for `n_samples`."""
        return n_samples // self.hop + 1


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    # HTK formula: simple, invertible, and the same on every platform.
    return 2595.0 * np.log10(1.0 + hz / 700.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float) -> torch.Tensor:
    """(n_fft // 2 + 1, n_mels) triangular filters, equal area (Slaney-style normalisation)."""
    f_max = sample_rate / 2
    fft_hz = np.linspace(0.0, f_max, n_fft // 2 + 1)
    edges = _mel_to_hz(
        np.linspace(_hz_to_mel(np.array(f_min)), _hz_to_mel(np.array(f_max)), n_mels + 2)
    )
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (fft_hz[:, None] - lower) / (centre - lower)
    falling = (upper - fft_hz[:, None]) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    # Equal area: wide high bands do not dominate the log-mel just by being wide.
    weights *= 2.0 / (upper - lower)
    return torch.from_numpy(weights.astype(np.float32))


class LogMel(torch.nn.Module):
    """(batch, samples) float audio -> (batch, n_mels, frames) natural-log mel power."""

    window: torch.Tensor  # buffers (register_buffer): declared for type checkers
    mel: torch.Tensor

    def __init__(self, config: FeatureConfig | None = None):
        super().__init__()
        self.config = config or FeatureConfig()
        c = self.config
        self.register_buffer("window", torch.hann_window(c.n_fft), persistent=False)
        self.register_buffer(
            "mel", mel_filterbank(c.sample_rate, c.n_fft, c.n_mels, c.f_min), persistent=False
        )

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        c = self.config
        spec = torch.stft(
            audio,
            c.n_fft,
            hop_length=c.hop,
            window=self.window,
            center=True,
            pad_mode="constant",
            return_complex=True,
        )  # (B, F, T)
        power = spec.real.square() + spec.imag.square()
        mel = torch.matmul(power.transpose(1, 2), self.mel).transpose(1, 2)  # (B, M, T)
        return torch.log(torch.clamp(mel, min=c.log_floor))


_LOGMELS: dict[FeatureConfig, LogMel] = {}


def log_mel(audio: np.ndarray | torch.Tensor, config: FeatureConfig | None = None) -> torch.Tensor:
    """Log-mel of one clip (samples,) -> (n_mels, frames), or a batch (B, samples) -> (B, M, T)."""
    config = config or FeatureConfig()
    x = torch.as_tensor(check_audio(audio) if isinstance(audio, np.ndarray) else audio)
    module = _LOGMELS.get(config)
    if module is None:
        module = _LOGMELS[config] = LogMel(config)
    single = x.dim() == 1
    with torch.no_grad():
        out = module(x.float().reshape(1, -1) if single else x.float())
    return out[0] if single else out


def check_audio(audio: np.ndarray) -> np.ndarray:
    """`audio` ((frames,) or (frames, channels), cir.audio) as float32 mono, channels
    averaged; AudioShapeError for another shape, FeatureError if empty or not finite."""
    a = to_mono(audio)
    if a.size == 0:
        raise FeatureError("audio is empty: expected at least one sample")
    if not np.all(np.isfinite(a)):
        raise FeatureError("audio contains NaN or infinite samples: expected finite floats")
    return a


def resample(audio: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Resample mono float32 audio (pedalboard's streaming resampler, latency compensated)."""
    audio = check_audio(audio)
    if source_rate == target_rate:
        return audio
    if source_rate <= 0 or target_rate <= 0:
        raise FeatureError(
            f"sample rates {source_rate} -> {target_rate} Hz: expected positive integers"
        )
    from pedalboard.io import StreamResampler

    resampler = StreamResampler(source_rate, target_rate, 1)
    x = np.ascontiguousarray(audio[None, :])
    out = np.concatenate([resampler.process(x), resampler.process(None)], axis=1)[0]
    n = math.floor(len(audio) * target_rate / source_rate + 0.5)
    if len(out) < n:
        out = np.pad(out, (0, n - len(out)))
    return np.ascontiguousarray(out[:n], dtype=np.float32)
