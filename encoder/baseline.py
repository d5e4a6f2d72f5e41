"""The paper's MFCC-80 baseline: 40 MFCC (DCT of a 128-band log-mel), mean and std over time.

Every evaluation reports it beside the trained encoder (docs/DESIGN.md), and it is the fallback
embedder when no trained weights are shipped, so it follows the same Embedder contract.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from cir import defaults
from cir.encoder.features import FeatureConfig, check_audio, log_mel, resample

# The MFCC-80 baseline (the paper's): 40 coefficients of a 128-band log-mel, mean and std.
MFCC_N_MELS = 128
MFCC_N_COEFFS = 40


def dct_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """(n_in, n_out) orthonormal DCT-II: mfcc = log_mel.T @ D (as librosa/scipy norm='ortho')."""
    n = torch.arange(n_in, dtype=torch.float64)
    k = torch.arange(n_out, dtype=torch.float64)
    d = torch.cos(torch.pi / n_in * (n[:, None] + 0.5) * k[None, :]) * np.sqrt(2.0 / n_in)
    d[:, 0] /= np.sqrt(2.0)
    return d.float()


class MFCCEmbedder:
    """MFCC mean+std (80-d), L2-normalised. A query's statistics run over the whole query."""

    name = "mfcc80"
    version = "mfcc80-v1"

    def __init__(self, sample_rate: int = defaults.MODEL_SAMPLE_RATE):
        self.sample_rate = sample_rate
        self.n_coeffs = MFCC_N_COEFFS
        self.dim = 2 * self.n_coeffs
        self.features = FeatureConfig(sample_rate=sample_rate, n_mels=MFCC_N_MELS)
        self._dct = dct_matrix(self.features.n_mels, self.n_coeffs)
        self.device = "cpu"

    def _one(self, audio: np.ndarray, sample_rate: int | None) -> np.ndarray:
        audio = check_audio(audio)
        if sample_rate is not None and sample_rate != self.sample_rate:
            audio = resample(audio, sample_rate, self.sample_rate)
        mel = log_mel(audio, self.features)  # (M, T)
        mfcc = mel.T @ self._dct  # (T, C)
        stats = torch.cat([mfcc.mean(0), mfcc.std(0, unbiased=False)])
        v = stats.numpy().astype(np.float32)
        return v / max(float(np.linalg.norm(v)), 1e-12)

    def embed_clips(
        self, clips: Sequence[np.ndarray], sample_rate: int | None = None
    ) -> np.ndarray:
        """(n, 80) unit vectors; `sample_rate` (default: self.sample_rate) resamples first."""
        if len(clips) == 0:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([self._one(c, sample_rate) for c in clips])

    def embed_query(self, audio: np.ndarray, sample_rate: int | None = None) -> np.ndarray:
        """(80,) unit vector of a query of any length."""
        return self._one(audio, sample_rate)
