"""What every embedder offers: the contract between encoder, catalogue and daemon."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

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


@runtime_checkable
class FamilyEmbedder(Embedder, Protocol):
    """An Embedder with per-family query heads (encoder.mix_heads): a loop gives one query per
    family, and, when the heads have a presence head, a presence score per family.

    `version` stays the catalogue's vector space (the frozen encoder's); `query_version`
    names the heads. Check with `isinstance(embedder, FamilyEmbedder)`."""

    query_version: str
    has_presence: bool  # True when read_query answers presence scores

    def embed_query_by_family(
        self, audio: np.ndarray, families: Sequence[str], sample_rate: int | None = None
    ) -> dict[str, np.ndarray]:
        """{family: (m, dim) unit query vectors}; matchers and the mix benchmarks rank family
        f's entries by their best cosine with any row of f (max fusion)."""
        ...

    def read_query(
        self, audio: np.ndarray, families: Sequence[str], sample_rate: int | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        """(embed_query_by_family's vectors, {family: presence in [0, 1]}) from one pass of
        the model; the presence dict is empty when the heads have no presence head."""
        ...
