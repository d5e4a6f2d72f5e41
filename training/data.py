"""Training and benchmark data, rendered here (never downloaded) and cached as log-mel.

Two caches, each a folder of chunk files under the user cache dir (cir.paths.cache_dir;
CIR_CACHE overrides), filled on all cores, resumable (finished chunks are kept, a rerun
renders only the missing ones):

- notes: N single notes per preset (pitch, velocity, length drawn per family; the clip starts
  at the onset), as float16 log-mel, with each note's peak and pitch (mixes are laid out
  from these, cir.training.mixes.mix_mels);
- references: the catalogue-style clips of presets_db.render.render_references (canonical
  note first) as float16 log-mel, plus their MFCC-80 vectors. Mixes are paired with the
  canonical note (docs/DESIGN.md, pitfall 1, decided on purpose: the clip the catalogue holds).

A source is plain picklable data: ("builtin", preset JSON) or ("sf2", (file, bank, program,
drum key)), so spawned workers rebuild the instrument themselves.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cir import defaults, paths
from cir.encoder.features import FeatureConfig, log_mel
from cir.errors import CIRError
from cir.synth.notes import Note
from cir.training.mixes import draw_velocity, item_rng

# Bump when what a chunk holds changes (layout, note drawing): old caches are then ignored.
CACHE_VERSION = 1


class DataError(CIRError):
    """Training or benchmark data that cannot be built (no presets, unreadable cache)."""


@dataclass(frozen=True)
class Source:
    """One preset to render: `key` (unique), `family`, and a picklable `spec` by `kind`."""

    key: str
    family: str
    kind: str
    spec: Any


def cache_root() -> Path:
    """The user cache dir (cir.paths.cache_dir): big, rebuildable, never committed."""
    return paths.cache_dir()


def builtin_sources(split: str | None, families: Sequence[str]) -> list[Source]:
    """Factory-bank presets of `split` (None: all) and `families`, sorted by id."""
    from cir.synth import bank

    found = [p for f in families for p in bank.presets(family=f, split=split)]
    if not found:
        raise DataError(f"the factory bank has no {split or ''} presets of {', '.join(families)}")
    return [
        Source(p.id, p.family, "builtin", p.to_json()) for p in sorted(found, key=lambda p: p.id)
    ]


def sf2_sources(path: str | Path, families: Sequence[str]) -> list[Source]:
    """Every preset (and drum-kit piece) of a SoundFont whose family is one of `families`."""
    from cir.presets_db.sources import sf2

    return [
        Source(e.key, e.family, "sf2", tuple(e.spec))
        for e in sf2.scan(str(path), {})
        if e.family in families and e.error is None
    ]


def make_instrument(source: Source) -> Any:
    if source.kind == "builtin":
        from cir.synth.engine import BuiltinInstrument
        from cir.synth.preset import Preset

        return BuiltinInstrument(Preset.from_dict(json.loads(source.spec)))
    if source.kind == "sf2":
        from cir.presets_db.sources.sf2 import SF2Instrument

        return SF2Instrument(*source.spec)
    raise DataError(f"unknown source kind {source.kind!r}: expected 'builtin' or 'sf2'")


def _key_seed(key: str) -> int:
    return zlib.crc32(key.encode())


def draw_notes(source: Source, count: int, seed: int) -> list[Note]:
    """`count` training notes of a preset: pitch uniform in its family's register, velocity
    and length per family. Seeded by (seed, preset key): the same for any worker or order."""
    rng = item_rng(seed, _key_seed(source.key), stream=1)
    lo, hi = defaults.FAMILY_PITCH_RANGE[source.family]
    base = defaults.NOTE_SECONDS[source.family]
    notes = []
    for _ in range(count):
        pitch = int(rng.integers(lo, hi + 1))
        velocity = draw_velocity(source.family, rng)
        duration = float(base * np.exp(rng.uniform(np.log(0.4), np.log(1.6))))
        notes.append(Note(pitch, velocity, 0.0, round(duration, 3)))
    return notes


# --- chunk workers (run in spawned processes) ----------------------------------------------------


def _worker_init() -> None:
    import torch

    # Each worker is one core: torch's own thread pool would only fight the other workers.
    torch.set_num_threads(1)


def _render_notes_chunk(job: dict[str, Any]) -> dict[str, np.ndarray]:
    features = FeatureConfig(**job["features"])
    sr = features.sample_rate
    mels, peaks, pitches, owners = [], [], [], []
    for source_index, source in job["sources"]:
        instrument = make_instrument(source)
        for note in draw_notes(source, job["count"], job["seed"]):
            audio = np.asarray(instrument.render([note], job["seconds"], sr), np.float32)
            mels.append(log_mel(audio, features).numpy().astype(np.float16))
            peaks.append(float(np.max(np.abs(audio))))
            pitches.append(note.pitch)
            owners.append(source_index)
    return {
        "mels": np.stack(mels),
        "peaks": np.asarray(peaks, np.float32),
        "pitches": np.asarray(pitches, np.int16),
        "owners": np.asarray(owners, np.int32),
    }


def _render_refs_chunk(job: dict[str, Any]) -> dict[str, np.ndarray]:
    from cir.encoder.baseline import MFCCEmbedder
    from cir.presets_db.render import render_references

    features = FeatureConfig(**job["features"])
    mfcc = MFCCEmbedder(features.sample_rate)
    mels, vectors = [], []
    for _, source in job["sources"]:
        clips = render_references(make_instrument(source), source.family, features.sample_rate)
        if job["canonical_only"]:
            clips = clips[:1]
        mels.append(np.stack([log_mel(c, features).numpy().astype(np.float16) for c in clips]))
        vectors.append(mfcc.embed_clips(clips))
    return {"mels": np.stack(mels), "mfcc": np.stack(vectors)}


_WORKERS = {"notes": _render_notes_chunk, "refs": _render_refs_chunk}


def _run_job(job: dict[str, Any]) -> tuple[str, dict[str, np.ndarray]]:
    return job["path"], _WORKERS[job["kind"]](job)


def _cache_dir(kind: str, sources: Sequence[Source], params: dict[str, Any]) -> Path:
    h = hashlib.sha256()
    h.update(json.dumps({"v": CACHE_VERSION, "kind": kind, **params}, sort_keys=True).encode())
    for s in sources:
        h.update(f"{s.key}\0{s.family}\0{s.kind}\0{s.spec}\0".encode())
    engine = _engine_version(sources)
    h.update(str(engine).encode())
    return cache_root() / f"{kind}-{h.hexdigest()[:12]}"


def _engine_version(sources: Sequence[Source]) -> Any:
    if any(s.kind == "builtin" for s in sources):
        from cir.synth import engine

        return getattr(engine, "ENGINE_VERSION", None)
    return None


def _build(
    kind: str,
    sources: Sequence[Source],
    params: dict[str, Any],
    chunk_size: int,
    workers: int | None,
    progress: bool,
    label: str,
) -> dict[str, np.ndarray]:
    """Render every missing chunk (in a process pool), then load all chunks in order."""
    folder = _cache_dir(kind, sources, params)
    folder.mkdir(parents=True, exist_ok=True)
    # Same-family chunks: reference clips of one family share a length, so they stack.
    indexed = list(enumerate(sources))
    groups: list[list[tuple[int, Source]]] = []
    for family in sorted({s.family for s in sources}):
        members = [(i, s) for i, s in indexed if s.family == family]
        groups.extend(members[k : k + chunk_size] for k in range(0, len(members), chunk_size))
    jobs = []
    for n, group in enumerate(groups):
        path = folder / f"chunk-{n:05d}.npz"
        jobs.append({"kind": kind, "path": str(path), "sources": group, **params})
    todo = [j for j in jobs if not Path(j["path"]).is_file()]
    if todo:
        _render_jobs(todo, workers, progress, f"{label}: {len(todo)} chunks -> {folder}")
    chunks = [dict(np.load(j["path"])) for j in jobs]
    order = [i for group in groups for i, _ in group]
    return {"chunks": chunks, "order": np.asarray(order), "groups": groups, "folder": folder}


def _save_chunk(path: str, arrays: dict[str, np.ndarray]) -> None:
    tmp = path + ".tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def _render_jobs(jobs: list[dict], workers: int | None, progress: bool, label: str) -> None:
    from rich.progress import Progress

    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    with Progress(disable=not progress, transient=False) as bar:
        task = bar.add_task(label, total=len(jobs))
        if workers == 1:
            _worker_init()
            for job in jobs:
                _save_chunk(*_run_job(job))
                bar.advance(task)
            return
        ctx = mp.get_context("spawn")
        with ctx.Pool(workers, initializer=_worker_init) as pool:
            for path, arrays in pool.imap_unordered(_run_job, jobs):
                _save_chunk(path, arrays)
                bar.advance(task)


# --- the caches ----------------------------------------------------------------------------------


@dataclass
class NoteSet:
    """Cached single notes: mels (N, M, T) float16; peaks, pitches; owner = source index."""

    sources: list[Source]
    mels: np.ndarray
    peaks: np.ndarray
    pitches: np.ndarray
    owners: np.ndarray

    def by_source(self) -> list[np.ndarray]:
        """For each source, the indices of its notes."""
        out: list[list[int]] = [[] for _ in self.sources]
        for i, owner in enumerate(self.owners):
            out[int(owner)].append(i)
        return [np.asarray(x, dtype=np.int64) for x in out]


def note_set(
    sources: Sequence[Source],
    count: int,
    seconds: float,
    seed: int,
    features: FeatureConfig,
    workers: int | None = None,
    progress: bool = True,
    chunk_size: int = 16,
) -> NoteSet:
    """`count` notes per source, rendered (or read from the cache) and stacked."""
    params = {"count": count, "seconds": seconds, "seed": seed, "features": features.to_dict()}
    built = _build("notes", sources, params, chunk_size, workers, progress, "rendering notes")
    c = built["chunks"]
    return NoteSet(
        list(sources),
        np.concatenate([x["mels"] for x in c]),
        np.concatenate([x["peaks"] for x in c]),
        np.concatenate([x["pitches"] for x in c]),
        np.concatenate([x["owners"] for x in c]),
    )


@dataclass
class ReferenceSet:
    """Catalogue-style clips per source: `mels[i]` (clips, M, T) float16 (canonical first),
    `mfcc[i]` (clips, 80) MFCC-80 vectors of the same clips."""

    sources: list[Source]
    mels: list[np.ndarray]
    mfcc: list[np.ndarray]


def reference_set(
    sources: Sequence[Source],
    features: FeatureConfig,
    canonical_only: bool = False,
    workers: int | None = None,
    progress: bool = True,
    chunk_size: int = 16,
) -> ReferenceSet:
    """Reference clips of every source (render_references), rendered or read from the cache."""
    params = {
        "features": features.to_dict(),
        "canonical_only": canonical_only,
        "render_version": defaults.RENDER_VERSION,
    }
    built = _build("refs", sources, params, chunk_size, workers, progress, "rendering references")
    mels: list[Any] = [None] * len(sources)
    mfcc: list[Any] = [None] * len(sources)
    for chunk, group in zip(built["chunks"], built["groups"], strict=True):
        for k, (i, _) in enumerate(group):
            mels[i] = chunk["mels"][k]
            mfcc[i] = chunk["mfcc"][k]
    return ReferenceSet(list(sources), mels, mfcc)
