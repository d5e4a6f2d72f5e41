"""Benchmarks of the catalogue: search time/memory/recall at scale, build throughput per source.

`cir bench search` and `cir bench build` print these; docs/BENCHMARKS.md records the figures.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from cir import defaults, paths
from cir.families import MIX_FAMILIES
from cir.presets_db.search import ExactIndex, HnswIndex

# `cir bench build`: presets per source in the throughput benchmark (enough that the workers'
# start-up, a few seconds, does not dominate).
BENCH_BUILD_PRESETS = 96

# `cir bench search`: catalogue sizes, dimension, queries per size.
BENCH_SEARCH_SIZES = (10_000, 100_000, 1_000_000)
BENCH_SEARCH_DIM = 256
# Intrinsic dimension of the benchmark's synthetic embeddings (see presets_db.bench).
BENCH_SEARCH_LATENT_DIM = 16
BENCH_SEARCH_QUERIES = 200
BENCH_SEARCH_K = 5

TIMGM = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")
TEST_PLUGIN = paths.plugin_build_dir() / "CIRTestSynth.vst3"


def _unit_rows(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    """Embedding-like unit vectors: a low-dimensional latent spread into `dim` plus a little
    isotropic noise. Real timbre embeddings lie near a low-dimensional manifold; uniform
    random vectors in 256-d are all nearly equidistant, a worst case no encoder produces."""
    latent_dim = BENCH_SEARCH_LATENT_DIM
    mixing = rng.standard_normal((latent_dim, dim), dtype=np.float32)
    x = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, _CHUNK):  # chunks keep the 10^6 case's temporaries small
        m = min(_CHUNK, n - start)
        x[start : start + m] = rng.standard_normal((m, latent_dim), dtype=np.float32) @ mixing
        x[start : start + m] += rng.standard_normal((m, dim), dtype=np.float32) * _NOISE
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


_CHUNK = 65_536
# Isotropic noise beside the latent's spread (std about sqrt(latent_dim) per coordinate).
_NOISE = 0.5


def bench_search_size(
    n: int, dim: int, queries: int, k: int, seed: int = 0, hnsw: bool = True
) -> dict[str, Any]:
    """Exact and HNSW top-k over n random unit vectors split across the 3 mix families.

    Queries are stored vectors plus noise (cosine about 0.9 to their source), so each has a
    true nearest neighbour, as a re-rendered preset would.
    """
    rng = np.random.default_rng(seed)
    families = MIX_FAMILIES
    sizes = [n // len(families) + (i < n % len(families)) for i in range(len(families))]
    parts, start = {}, 0
    for family, size in zip(families, sizes, strict=True):
        parts[family] = (np.arange(start, start + size, dtype=np.int64), _unit_rows(rng, size, dim))
        start += size
    exact = ExactIndex(parts, "bench")
    picks = [(families[i % len(families)], int(rng.integers(sizes[i % len(families)])))
             for i in range(queries)]  # fmt: skip
    noise = rng.standard_normal((queries, dim), dtype=np.float32) * (0.5 / np.sqrt(dim))
    qs = [parts[f][1][j] + noise[i] for i, (f, j) in enumerate(picks)]

    t = time.perf_counter()
    truth = [exact.search(q, f, k) for q, (f, _) in zip(qs, picks, strict=True)]
    exact_ms = (time.perf_counter() - t) * 1000 / queries
    row: dict[str, Any] = {
        "entries": n,
        "dim": dim,
        "k": k,
        "queries": queries,
        "exact_ms_per_query": round(exact_ms, 3),
        "exact_memory_mb": round(exact.memory_bytes / 2**20, 1),
    }
    if not hnsw:
        return row
    t = time.perf_counter()
    index = HnswIndex.build(parts, "bench")
    row["hnsw_build_s"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    found = [index.search(q, f, k) for q, (f, _) in zip(qs, picks, strict=True)]
    row["hnsw_ms_per_query"] = round((time.perf_counter() - t) * 1000 / queries, 3)
    row["hnsw_memory_mb"] = round(index.memory_bytes / 2**20, 1)
    recall = [
        len({h.preset_id for h in a} & {h.preset_id for h in b}) / k
        for a, b in zip(truth, found, strict=True)
    ]
    row[f"recall_at_{k}"] = round(float(np.mean(recall)), 4)
    return row


def bench_search(sizes: tuple[int, ...] = BENCH_SEARCH_SIZES) -> dict[str, Any]:
    """bench_search_size for each size (defaults: 10^4, 10^5, 10^6 x 256-d, 200 queries)."""
    rows = [
        bench_search_size(n, BENCH_SEARCH_DIM, BENCH_SEARCH_QUERIES,
                          BENCH_SEARCH_K)
        for n in sizes
    ]  # fmt: skip
    return {"families": list(MIX_FAMILIES), "rows": rows}


# --- build throughput --------------------------------------------------------------------------


def make_sample_folder(root: Path, per_family: int, sample_rate: int = 22_050) -> Path:
    """Generated one-shots in family subfolders: decaying tones and noise bursts."""
    from pedalboard.io import AudioFile

    rng = np.random.default_rng(0)
    t = np.arange(int(0.8 * sample_rate)) / sample_rate
    for family, base in (("drums", 0), ("bass", 55.0), ("lead", 440.0)):
        for i in range(per_family):
            if base:
                f = base * 2 ** (i / 12)
                audio = np.sign(np.sin(2 * np.pi * f * t)) * np.exp(-t * (2 + i))
            else:
                audio = rng.standard_normal(t.size) * np.exp(-t * (10 + 5 * i))
            path = root / family / f"{family}_{i:02d}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            with AudioFile(str(path), "w", samplerate=sample_rate, num_channels=1) as out:
                out.write((0.5 * audio).astype(np.float32)[None, :])
    return root


def make_vst3_presets(plugin: Path, root: Path, count: int) -> Path:
    """`count` .vstpreset files of the test synth in Bass/ and Lead/ folders."""
    from cir.presets_db.sources.vst3 import write_preset

    for i in range(count):
        folder = "Bass" if i % 2 else "Lead"
        # Spread over the plugin's ranges whatever `count` is: cutoff log-spaced 300 Hz-12 kHz.
        spread = ((i * 7) % count) / max(count - 1, 1)
        params = {
            "waveform": (i % 5) / 4,
            "cutoff_hz": 300.0 * 40.0**spread,
            "decay_s": 0.1 + 0.1 * (i % 20),
        }
        write_preset(plugin, params, root / folder / f"p{i:02d}.vstpreset")
    return root


def bench_build(
    presets: int = BENCH_BUILD_PRESETS,
    workers: int | None = None,
    embedder: str = defaults.CATALOGUE_EMBEDDER,
) -> dict[str, Any]:
    """Presets rendered + embedded per second per source (fresh catalogue per source)."""
    from cir.presets_db import build
    from cir.presets_db.catalogue import Catalogue

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        jobs: list[tuple[str, Any]] = [
            ("builtin", lambda c, o: build.add_builtin(c, limit=presets, **o)),
            ("folder", lambda c, o: build.add_folder(
                c, str(make_sample_folder(root / "samples", presets // 3)), **o)),
        ]  # fmt: skip
        if TIMGM.exists():
            programs = list(range(128))[:presets]
            jobs.append(("sf2", lambda c, o: build.add_sf2(c, str(TIMGM), programs, **o)))
        if TEST_PLUGIN.exists():
            folder = make_vst3_presets(TEST_PLUGIN, root / "vst3", presets)
            jobs.append(
                ("vst3", lambda c, o: build.add_vst3(c, str(TEST_PLUGIN), presets=str(folder), **o))
            )
        for name, job in jobs:
            with Catalogue.open(root / f"{name}.db") as catalogue:
                options = {"embedder": embedder, "workers": workers, "progress": False}
                summary = job(catalogue, options)
            rows.append({
                "source": name,
                "presets": summary.rendered,
                "embedder_version": summary.embedder_version,
                "failed": summary.failed,
                "seconds": round(summary.seconds, 2),
                "presets_per_second": round(summary.presets_per_second, 2),
            })  # fmt: skip
    return {"embedder": embedder, "workers": workers, "rows": rows}
