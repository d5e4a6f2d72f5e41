"""Synthetic workloads of the daemon's benchmarks (and of the tests and tools that load a
daemon): a catalogue of random unit vectors and a drum-and-tones query loop.

Search time does not depend on what the vectors mean, so a synthetic catalogue of any size
stands in for one that would take hours to render.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cir import defaults
from cir.families import MIX_FAMILIES


def synthetic_catalogue(path: Path, size: int, embedder: Any, seed: int = 0) -> Path:
    """A catalogue of `size` entries (families round-robin) with random unit vectors."""
    from cir.presets_db.catalogue import Catalogue, PresetResult

    rng = np.random.default_rng(seed)
    with Catalogue.open(path) as catalogue:
        source = catalogue.add_source("folder", str(path.parent / "synthetic"), {})
        results = []
        for i in range(size):
            v = rng.standard_normal(embedder.dim).astype(np.float32)
            family = MIX_FAMILIES[i % len(MIX_FAMILIES)]
            results.append((source.id, PresetResult(
                key=f"synthetic-{i:05d}", name=f"Synthetic {i:05d}", family=family, tags=(),
                locator={"index": i}, content_hash=f"{i}", settings_hash="bench", status="ok",
                sample_rate=defaults.MODEL_SAMPLE_RATE, vector=v / np.linalg.norm(v),
                embedder=embedder.name, embedder_version=embedder.version,
            )))
        catalogue.write_results(results)
    return path


def query_loop(seconds: float, sample_rate: int, seed: int = 0) -> np.ndarray:
    """(frames, 2) float32: a drum-like noise burst per beat over a bass tone and a lead tone."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    beat = (t * 2.0) % 1.0  # 120 BPM
    drums = rng.standard_normal(len(t)) * np.exp(-beat * 30.0)
    tones = 0.4 * np.sin(2 * np.pi * 55.0 * t) + 0.2 * np.sign(np.sin(2 * np.pi * 440.0 * t))
    mono = 0.3 * drums + 0.5 * tones
    mono = (0.8 * mono / np.max(np.abs(mono))).astype(np.float32)
    return np.stack([mono, mono * 0.9], axis=1)
