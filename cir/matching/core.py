"""The matching core: audio in, per family the closest catalogue entries out.

`match` is the one function every route calls: the daemon's socket server (after decoding a
protocol v1 request), `cir match --local`, and the public API's `cir.Matcher`. `Matcher`
holds what a process loads once (the embedder and the catalogue's index) and checks a
query's values first (cir.query), as the daemon's decoder does.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cir import defaults
from cir.audio import as_frames
from cir.encoder.api import FamilyEmbedder, QueryReading, settle_presence
from cir.families import FAMILIES
from cir.matching.index import CatalogueIndex
from cir.matching.prepare import prepare
from cir.matching.result import MatchResult, Presence, QueryInfo
from cir.query import (
    check_families,
    check_finite,
    check_int,
    check_k,
    check_sample_rate,
    check_size,
    check_tempo,
)

# Torch threads of a daemon on the CPU. One: a query is small, and on a busy machine (a DAW's
# audio threads, other jobs) torch's thread hand-offs stall: p50 on 2 shared cores went from
# 185 ms with 2 threads to 27 ms with 1 (`cir bench latency`, docs/BENCHMARKS.md).
DAEMON_TORCH_THREADS = 1
# numpy's BLAS threads in a daemon (exact search), for the same reason: exact search of 10^5
# real vectors, p50 on 2 loaded cores, took 7.9 ms with OpenBLAS's 2 threads and 0.53 ms with
# 1 (`tools.bench.search_scale` runs 1 and 3, docs/BENCHMARKS.md; it measures under this limit).
DAEMON_BLAS_THREADS = 1


def ms_since(start: float) -> float:
    """Milliseconds since `start` (a time.perf_counter() value), to the microsecond: timings
    in replies and logs."""
    return round((time.perf_counter() - start) * 1000.0, 3)


def limit_blas_threads() -> None:
    """numpy's BLAS (exact search's `X @ q`) on DAEMON_BLAS_THREADS threads, for the rest of
    the process: on busy cores its thread hand-offs, not the arithmetic, set the time."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(DAEMON_BLAS_THREADS, user_api="blas")


def read_query(embedder: Any, mono: np.ndarray, families: tuple[str, ...]) -> QueryReading:
    """The query as the search uses it: a FamilyEmbedder's reading ((m, dim) per-family rows,
    the search scoring each entry's best row; presence, empty without a presence head; the
    solo score), else one embed_query vector for every family and no presence."""
    if isinstance(embedder, FamilyEmbedder):
        reading = embedder.read(mono, families)
        vectors = {f: np.asarray(reading.vectors[f], dtype=np.float32) for f in families}
        return QueryReading(vectors, reading.presence, reading.solo)
    vector = np.asarray(embedder.embed_query(mono), dtype=np.float32)
    return QueryReading({f: vector for f in families}, {})


def match(
    embedder: Any,
    index: CatalogueIndex,
    audio: np.ndarray,
    sample_rate: int,
    k: int = defaults.MATCH_DEFAULT_K,
    families: tuple[str, ...] | None = None,
    *,
    tempo: float | None = None,
) -> MatchResult:
    """Per family, the `k` entries of `index` closest to `audio` ((frames, channels) float32
    at `sample_rate`, values already checked); `families` None means every family the
    catalogue has. QueryError("silent_audio" / "no_catalogue") when it cannot answer."""
    t0 = time.perf_counter()
    prepared = prepare(audio, sample_rate, embedder.sample_rate)
    timing = {"preprocess": ms_since(t0)}
    index.refresh()
    index.require_entries()
    t1 = time.perf_counter()
    reading = read_query(embedder, prepared.audio, tuple(families or FAMILIES))
    timing["embed"] = ms_since(t1)
    t2 = time.perf_counter()
    results = index.search(reading.vectors, k, families)
    timing["search"] = ms_since(t2)
    # A solo's family is the one its best hit is in (encoder.api.settle_presence).
    presence = settle_presence(reading, {f: hits[0].score for f, hits in results.items()
                                         if hits})
    timing["total"] = ms_since(t0)
    return MatchResult(
        results=results,
        query=QueryInfo(
            seconds=audio.shape[0] / sample_rate, sample_rate=sample_rate,
            channels=audio.shape[1], tempo=tempo, peak_dbfs=round(prepared.peak_dbfs, 2),
        ),
        presence=[Presence(f, float(p)) for f, p in presence.items() if f in results],
        timing_ms=timing,
        warnings=prepared.warnings,
    )


class Matcher:
    """An embedder and a catalogue's index, loaded once; `match` answers queries in-process.

    `embedder`: None for the shipped weights, a name or checkpoint path (load_embedder), or
    a loaded embedder. `warm_up` runs one forward pass at load (the first is slow).
    """

    def __init__(
        self, catalogue: str | Path | None = None, embedder: Any = None, *, warm_up: bool = False
    ):
        if embedder is None or isinstance(embedder, str):
            from cir.encoder.embed import load_embedder

            embedder = load_embedder(embedder)
        if str(getattr(embedder, "device", "cpu")) == "cpu":
            import torch

            torch.set_num_threads(DAEMON_TORCH_THREADS)
        limit_blas_threads()
        self.embedder = embedder
        self.index = CatalogueIndex(catalogue, embedder.version)
        self.index.load()
        if warm_up:
            noise = np.random.default_rng(0).standard_normal(embedder.sample_rate)
            read_query(embedder, (0.1 * noise).astype(np.float32), FAMILIES)

    @property
    def size(self) -> int:
        """Entries searchable with this embedder (0 without a catalogue)."""
        return self.index.size

    def match(
        self,
        audio: np.ndarray,
        sample_rate: int,
        *,
        k: int = defaults.MATCH_DEFAULT_K,
        families: Sequence[str] | None = None,
        tempo: float | None = None,
    ) -> MatchResult:
        """Per family, the `k` closest entries to `audio` ((frames,) or (frames, channels));
        QueryError (its `code` as the daemon's) for a value out of range."""
        frames = as_frames(audio)
        rate = check_sample_rate(sample_rate)
        check_int("frames", frames.shape[0], 1, 2**63 - 1, "invalid_frames")
        check_size(frames.shape[0], frames.shape[1], rate)
        check_finite(frames)
        return match(self.embedder, self.index, frames, rate, check_k(k),
                     check_families(families), tempo=check_tempo(tempo))

    def close(self) -> None:
        self.index.close()

    def __enter__(self) -> Matcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
