"""What every embedder offers: the contract between encoder, catalogue and daemon."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class Embedder(Protocol):
    """Maps mono audio at `sample_rate` to L2-normalised float32 vectors of size `dim`."""

    name: str  # e.g. "mfcc80" or "cir-cnn"
    version: str  # changes whenever the vector space changes (weights, features, config)
    dim: int
    sample_rate: int

    def embed_clips(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        """(n, dim) embeddings of short clips (single notes, reference renders)."""
        ...

    def embed_query(self, audio: np.ndarray) -> np.ndarray:
        """(dim,) embedding of a query of any length: windowed, window embeddings combined."""
        ...

    # Optional (check with hasattr): embedders with per-family query heads (encoder.mix_heads)
    # also offer
    #     embed_query_by_family(audio, families, sample_rate=None) -> dict[str, np.ndarray]
    # (m, dim) unit query vectors per family, windowed as embed_query; matchers and the mix
    # benchmarks rank family f's entries by their best cosine with any row of f (max
    # fusion). Their `version` stays the catalogue's vector space; `query_version` names
    # the heads.
