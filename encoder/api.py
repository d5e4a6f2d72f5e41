"""What every embedder offers: the contract between encoder, catalogue and daemon."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from cir import defaults


@dataclass(frozen=True)
class QueryReading:
    """What one read of a query gives: per family (m, dim) unit query vectors, presence in
    [0, 1] per family (empty without a presence head), and how sure the model is that one
    instrument plays alone (None without a solo output)."""

    vectors: dict[str, np.ndarray]
    presence: dict[str, float]
    solo: float | None = None

    @property
    def is_solo(self) -> bool:
        return plays_alone(self.solo)


def plays_alone(solo: float | None) -> bool:
    """Does a solo score say one instrument plays alone? (None: the model cannot tell.)"""
    return solo is not None and solo >= defaults.PRESENCE_THRESHOLD


def settle_presence(reading: QueryReading, top_scores: Mapping[str, float]) -> dict[str, float]:
    """Presence per family once the catalogue has answered (`top_scores`: each family's best
    score). A solo is one instrument: its family is the one whose entries match it best (the
    query was read by the catalogue encoder, so scores compare across families); that family
    is present at least as surely as the query is a solo, the others at most as surely as it
    is not. A mixture keeps the presence the heads heard."""
    presence = dict(reading.presence)
    if not reading.is_solo or not presence or not top_scores:
        return presence
    assert reading.solo is not None
    scored = [f for f in presence if f in top_scores]
    if not scored:
        return presence
    best = max(scored, key=lambda f: top_scores[f])
    return {f: round(max(p, reading.solo) if f == best else min(p, 1.0 - reading.solo), 4)
            for f, p in presence.items()}


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

    def read(
        self, audio: np.ndarray, families: Sequence[str], sample_rate: int | None = None
    ) -> QueryReading:
        """read_query's vectors and presence, and the solo score (settle_presence uses it
        once the catalogue has answered)."""
        ...
