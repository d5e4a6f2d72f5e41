"""What a match answers: typed, and the same whatever route the query took. The daemon sends
`MatchResult.to_dict()` as its reply's fields (docs/protocol.md); `from_dict` reads one back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Hit:
    """One suggestion: a catalogue entry and its cosine score against the query."""

    rank: int  # 1 = best in its family
    preset_id: int
    name: str
    family: str
    key: str  # the entry's key within its source (a factory id, a file path, ...)
    source: str  # the source's kind: builtin, sf2, vst3, folder
    source_path: str
    locator: dict[str, Any]  # where the preset lives within its source (bank, program, ...)
    preview: str | None  # the preview audio file, when the build wrote one
    score: float


@dataclass(frozen=True)
class Presence:
    """How sure the encoder's presence head is that a family plays in the query (0..1)."""

    family: str
    score: float


@dataclass(frozen=True)
class QueryInfo:
    """The query as it arrived, before it was downmixed and resampled."""

    seconds: float
    sample_rate: int
    channels: int
    tempo: float | None
    peak_dbfs: float


@dataclass(frozen=True)
class MatchResult:
    """Per family, the closest entries (best first); presence per family when the encoder
    has a presence head; timings in ms; warnings about the query (clipping, very short)."""

    results: dict[str, list[Hit]]
    query: QueryInfo
    presence: list[Presence] = field(default_factory=list)
    timing_ms: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The daemon reply's fields for this answer (JSON-ready)."""
        return {
            "results": {f: [asdict(hit) for hit in hits] for f, hits in self.results.items()},
            **({"presence": {p.family: p.score for p in self.presence}} if self.presence
               else {}),
            "timing_ms": dict(self.timing_ms),
            "warnings": list(self.warnings),
            "query": asdict(self.query),
        }

    @classmethod
    def from_dict(cls, reply: dict[str, Any]) -> MatchResult:
        """A daemon's match reply (or `to_dict()`) as a MatchResult."""
        return cls(
            results={f: [Hit(**hit) for hit in hits] for f, hits in reply["results"].items()},
            query=QueryInfo(**reply["query"]),
            presence=[Presence(f, s) for f, s in (reply.get("presence") or {}).items()],
            timing_ms=dict(reply.get("timing_ms", {})),
            warnings=list(reply.get("warnings", [])),
        )
