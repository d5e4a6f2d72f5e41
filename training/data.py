"""Training and benchmark data, rendered here (never downloaded) and cached as log-mel.

Three caches, each a folder of chunk files under the user cache dir (cir.paths.cache_dir;
CIR_CACHE overrides), filled on all cores, resumable (finished chunks are kept, a rerun
renders only the missing ones):

- notes: N single notes per preset (pitch, velocity, length drawn per family; the clip starts
  at the onset), as float16 log-mel, with each note's peak and pitch (mixes are laid out
  from these, cir.training.mixes.mix_mels);
- lines (stems): K monophonic lines per preset, 3-8 s, drawn as the lines of a mix
  (plan_mix: tempo, scale, rhythm, rests, gates, velocities) and rendered by the engine
  (render_line), as float16 log-mel end to end with each line's peak; training mixes are
  power sums of these (cir.training.mixes.power_sum);
- references: the catalogue-style clips of presets_db.render.render_references (canonical
  note first) as float16 log-mel, plus their MFCC-80 vectors. Mixes are paired with the
  canonical note (docs/DESIGN.md, pitfall 1, decided on purpose: the clip the catalogue holds).

A source is plain picklable data: ("builtin", preset JSON) or ("sf2", (file, bank, program,
drum key)), so spawned workers rebuild the instrument themselves.

TRAIN is the factory bank's TRAIN split plus every preset of the SoundFonts a config lists
(recorded instruments the synth cannot make; the gm benchmarks' FluidR3_GM is refused). Each
cache keeps one folder per origin (the bank, each SoundFont): adding a SoundFont to a run
renders only that SoundFont.
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
from cir.families import FAMILY_SPECS
from cir.synth.notes import Note
from cir.training.constants import MIX_NOTE_BEATS, TRAIN_LINE_SECONDS, VALID_MIX_PARTS
from cir.training.mixes import Line, draw_velocity, item_rng, level_stems, plan_mix, render_line
from cir.training.streams import Stream

# Bump when what a chunk holds changes (layout, note drawing): old caches are then ignored.
CACHE_VERSION = 1
# Lines and VALID mixes do not play the catalogue's reference notes, so RENDER_VERSION (which
# follows those) does not key their caches; bump this when how a line is rendered changes.
LINE_RENDER_VERSION = 1
# VALID mixes: who plays (Stream.VALID_PICK) and the plans (Stream.VALID_PLAN); benchmarks
# plan on Stream.BENCH_MIX_PLAN.


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


def run_sources(families: Sequence[str], train_per_family: int | None,
                valid_per_family: int | None, soundfonts: Sequence[str] = ()
                ) -> tuple[list[Source], list[Source]]:
    """A training run's (TRAIN, VALID) sources: factory-bank presets, each split limited per
    family, then every preset of each of `soundfonts` appended to TRAIN (after the bank, so the
    bank's caches stay valid: they are kept per origin)."""
    from cir.evaluation.external import check_training_independence

    train = limit_per_family(builtin_sources("train", families), train_per_family)
    for path in soundfonts:
        train += soundfont_training_sources(path, families)
    # Never a sound of the transfer benchmarks (ext): no engine, kit or SoundFont of theirs.
    check_training_independence({s.kind for s in train}, soundfonts)
    return train, limit_per_family(builtin_sources("valid", families), valid_per_family)


def soundfont_training_sources(path: str | Path, families: Sequence[str]) -> list[Source]:
    """A training SoundFont's presets, keys prefixed with the file name (two SoundFonts both
    have a "000:032"). The benchmarks' SoundFont (GM_SOUNDFONT) is refused, by path or by
    content: the gm benchmarks measure presets never trained on."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"training SoundFont {path} not found: give the path of an .sf2/.sf3 file")
    if is_benchmark_soundfont(path):
        raise DataError(
            f"training SoundFont {path} is the gm benchmarks' {defaults.GM_SOUNDFONT}: the "
            "benchmarks measure presets never trained on; train on another SoundFont"
        )
    found = [Source(f"{path.name}:{s.key}", s.family, s.kind, s.spec)
             for s in sf2_sources(path, families)]
    if not found:
        raise DataError(f"training SoundFont {path} has no presets of {', '.join(families)}")
    return found


def is_benchmark_soundfont(path: Path) -> bool:
    """Is `path` the gm benchmarks' SoundFont, or a copy of it?"""
    bench = Path(defaults.GM_SOUNDFONT)
    if not bench.is_file():
        return False
    if path.resolve() == bench.resolve():
        return True
    if path.stat().st_size != bench.stat().st_size:
        return False
    from cir.presets_db.sources import file_sha256

    return file_sha256(path) == file_sha256(bench)


def from_soundfont(sources: Sequence[Source]) -> np.ndarray:
    """(n,) bool: which sources are SoundFont presets (computed once per run: draws read it)."""
    return np.asarray([s.kind == "sf2" for s in sources], dtype=bool)


def draw_weights(from_sf2: np.ndarray, share: float) -> np.ndarray | None:
    """Sampling probabilities over a pool of presets (`from_sf2`: which of them are SoundFont
    presets, from_soundfont) that give the SoundFont ones `share` of the draws together
    (None: uniform). A few hundred sampled instruments beside thousands of bank presets would
    otherwise be drawn too rarely to teach the encoder what recorded instruments sound like."""
    if share <= 0 or from_sf2.all() or not from_sf2.any():
        return None
    return np.where(from_sf2, share / from_sf2.sum(), (1 - share) / (~from_sf2).sum())


def limit_per_family(sources: list[Source], per_family: int | None) -> list[Source]:
    """A deterministic subset (by id hash, not by position) of `per_family` sources per family."""
    if per_family is None:
        return sources
    out = []
    for family in sorted({s.family for s in sources}):
        members = sorted((s for s in sources if s.family == family), key=lambda s: _key_seed(s.key))
        out.extend(sorted(members[:per_family], key=lambda s: s.key))
    return out


def fit_frames(mel: np.ndarray, frames: int, floor: float) -> np.ndarray:
    """Crop or pad (with silence at `floor` power) a (M, T) log-mel to `frames` frames."""
    if mel.shape[1] >= frames:
        return mel[:, :frames]
    pad = np.full((mel.shape[0], frames - mel.shape[1]), np.log(floor), dtype=mel.dtype)
    return np.concatenate([mel, pad], axis=1)


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
    rng = item_rng(seed, _key_seed(source.key), stream=Stream.NOTES)
    lo, hi = FAMILY_SPECS[source.family].pitch_range
    base = FAMILY_SPECS[source.family].note_seconds
    notes = []
    for _ in range(count):
        pitch = int(rng.integers(lo, hi + 1))
        velocity = draw_velocity(source.family, rng)
        duration = float(base * np.exp(rng.uniform(np.log(0.4), np.log(1.6))))
        notes.append(Note(pitch, velocity, 0.0, round(duration, 3)))
    return notes


def draw_lines(source: Source, count: int, seed: int,
               seconds: tuple[float, float] = TRAIN_LINE_SECONDS) -> list[Line]:
    """`count` monophonic lines of a preset, each as one part of a plan_mix plan (own tempo,
    scale, rhythm) of a length uniform in `seconds`; `Line.notes[-1].end` is its length.
    Seeded by (seed, preset key), like draw_notes."""
    rng = item_rng(seed, _key_seed(source.key), stream=Stream.LINES)
    lines = []
    for _ in range(count):
        length = round(float(rng.uniform(*seconds)), 2)
        lines.append(plan_mix((source.family,), rng, length).lines[0])
    return lines


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


def _render_lines_chunk(job: dict[str, Any]) -> dict[str, np.ndarray]:
    features = FeatureConfig(**job["features"])
    sr = features.sample_rate
    mels, lengths, peaks, owners = [], [], [], []
    for source_index, source in job["sources"]:
        instrument = make_instrument(source)
        for line in draw_lines(source, job["count"], job["seed"], tuple(job["seconds"])):
            audio = render_line(line, instrument, line.notes[-1].end, sr)
            mel = log_mel(audio, features).numpy().astype(np.float16)
            mels.append(mel)
            lengths.append(mel.shape[1])
            peaks.append(float(np.max(np.abs(audio))))
            owners.append(source_index)
    return {
        "mels": np.concatenate(mels, axis=1),
        "lengths": np.asarray(lengths, np.int32),
        "peaks": np.asarray(peaks, np.float32),
        "owners": np.asarray(owners, np.int32),
    }


_WORKERS = {
    "notes": _render_notes_chunk,
    "refs": _render_refs_chunk,
    "lines": _render_lines_chunk,
}


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
    """What else decides the sound: the engine's version, or the SoundFont renderer's
    revision and the files' sizes and modification times (a replaced file renders again)."""
    if any(s.kind == "builtin" for s in sources):
        from cir.synth import engine

        return getattr(engine, "ENGINE_VERSION", None)
    files = sorted({s.spec[0] for s in sources if s.kind == "sf2"})
    if not files:
        return None
    from cir.presets_db.sources.sf2 import RENDER_REVISION

    return [RENDER_REVISION] + [(f, os.stat(f).st_size, os.stat(f).st_mtime_ns)
                                for f in files if os.path.isfile(f)]


def _render_missing(
    kind: str,
    sources: Sequence[Source],
    params: dict[str, Any],
    chunk_size: int,
    workers: int | None,
    progress: bool,
    label: str,
) -> tuple[list[str], list[list[tuple[int, Source]]]]:
    """Render every missing chunk (in a process pool): (chunk paths, their sources)."""
    groups: list[list[tuple[int, Source]]] = []
    jobs = []
    folders = []
    for offset, segment in _origin_segments(sources):
        # A folder per origin: adding a SoundFont to a run renders only that SoundFont.
        folder = _cache_dir(kind, segment, {**params, "offset": offset} if offset else params)
        folder.mkdir(parents=True, exist_ok=True)
        folders.append(folder)
        # Same-family chunks: reference clips of one family share a length, so they stack.
        chunks = _family_chunks(list(enumerate(segment, start=offset)), chunk_size)
        for n, group in enumerate(chunks):
            path = folder / f"chunk-{n:05d}.npz"
            jobs.append({"kind": kind, "path": str(path), "sources": group, **params})
        groups.extend(chunks)
    todo = [j for j in jobs if not Path(j["path"]).is_file()]
    if todo:
        where = ", ".join(str(f) for f in folders)
        _render_jobs(todo, workers, progress, f"{label}: {len(todo)} chunks -> {where}")
    return [j["path"] for j in jobs], groups


def _family_chunks(indexed: list[tuple[int, Source]], size: int
                   ) -> list[list[tuple[int, Source]]]:
    """(index, source) pairs cut into chunks of at most `size`, one family per chunk."""
    out = []
    for family in sorted({s.family for _, s in indexed}):
        members = [(i, s) for i, s in indexed if s.family == family]
        out.extend(members[k : k + size] for k in range(0, len(members), size))
    return out


def _origin_segments(sources: Sequence[Source]) -> list[tuple[int, list[Source]]]:
    """(offset, sources) runs of one origin each: the factory bank, or one SoundFont file."""
    out: list[tuple[int, list[Source]]] = []
    origin = None
    for i, s in enumerate(sources):
        here = (s.kind, s.spec[0] if s.kind == "sf2" else None)
        if here != origin:
            out.append((i, []))
            origin = here
        out[-1][1].append(s)
    return out


def _build(
    kind: str,
    sources: Sequence[Source],
    params: dict[str, Any],
    chunk_size: int,
    workers: int | None,
    progress: bool,
    label: str,
) -> dict[str, Any]:
    """Render every missing chunk, then load all chunks in order."""
    chunk_paths, groups = _render_missing(
        kind, sources, params, chunk_size, workers, progress, label
    )
    chunks = [dict(np.load(p)) for p in chunk_paths]
    order = [i for group in groups for i, _ in group]
    return {"chunks": chunks, "order": np.asarray(order), "groups": groups}


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


@dataclass
class LineSet:
    """Cached training lines end to end: line i is `mels[:, offsets[i]:offsets[i + 1]]`
    (float16 log-mel), with its peak amplitude and its owner (source index)."""

    sources: list[Source]
    mels: np.ndarray
    offsets: np.ndarray
    peaks: np.ndarray
    owners: np.ndarray

    def __len__(self) -> int:
        return len(self.peaks)

    def line(self, i: int) -> np.ndarray:
        return self.mels[:, self.offsets[i] : self.offsets[i + 1]]

    def by_source(self) -> list[np.ndarray]:
        """For each source, the indices of its lines."""
        order = np.argsort(self.owners, kind="stable")
        counts = np.bincount(self.owners, minlength=len(self.sources))
        return np.split(order.astype(np.int64), np.cumsum(counts)[:-1])


def line_set(
    sources: Sequence[Source],
    count: int,
    seed: int,
    features: FeatureConfig,
    seconds: tuple[float, float] = TRAIN_LINE_SECONDS,
    workers: int | None = None,
    progress: bool = True,
    chunk_size: int = 16,
) -> LineSet:
    """`count` engine-rendered lines per source (draw_lines), rendered or read from the cache.
    Chunks are copied into one preallocated array: the set can take gigabytes."""
    params = {"count": count, "seed": seed, "seconds": list(seconds),
              "features": features.to_dict(), "render_version": LINE_RENDER_VERSION}
    chunk_paths, _ = _render_missing(
        "lines", sources, params, chunk_size, workers, progress, "rendering lines"
    )
    lengths, peaks, owners = [], [], []
    for path in chunk_paths:
        with np.load(path) as chunk:
            lengths.append(chunk["lengths"])
            peaks.append(chunk["peaks"])
            owners.append(chunk["owners"])
    offsets = np.concatenate([[0], np.cumsum(np.concatenate(lengths))]).astype(np.int64)
    mels = np.empty((features.n_mels, int(offsets[-1])), np.float16)
    at = 0
    for path in chunk_paths:
        with np.load(path) as chunk:
            block = chunk["mels"]
            mels[:, at : at + block.shape[1]] = block
            at += block.shape[1]
    return LineSet(list(sources), mels, offsets, np.concatenate(peaks), np.concatenate(owners))


@dataclass
class ValidMixes:
    """Engine-rendered VALID mixes and their stems, all MIX_SECONDS long, as float16 log-mel.

    mixes (Q, M, T); stems (S, M, T), each stem alone peak-normalised to RENDER_PEAK (an
    isolated line as a user would send it); per stem: the mix it plays in, its source index
    and family."""

    mixes: np.ndarray
    stems: np.ndarray
    stem_mix: np.ndarray
    stem_source: np.ndarray
    stem_family: np.ndarray

    def chosen(self, q: int) -> dict[str, int]:
        """{family: source index} of mix q."""
        rows = np.flatnonzero(self.stem_mix == q)
        return {str(self.stem_family[r]): int(self.stem_source[r]) for r in rows}


def valid_mixes(
    sources: Sequence[Source],
    count: int,
    seed: int,
    features: FeatureConfig,
    parts: tuple[int, int] = VALID_MIX_PARTS,
    progress: bool = True,
) -> ValidMixes:
    """`count` mixes of 2-5 (`parts`) families of `sources`, one source per family, on a plan
    stream of their own (never a benchmark plan); rendered once, then read from the cache."""
    params = {"count": count, "seed": seed, "parts": list(parts), "features": features.to_dict(),
              "render_version": LINE_RENDER_VERSION, "seconds": defaults.MIX_SECONDS,
              "plan_stream": int(Stream.VALID_PLAN)}
    path = _cache_dir("valid-mixes", sources, params).with_suffix(".npz")
    if not path.is_file():
        _render_valid_mixes(path, list(sources), count, seed, features, parts, progress)
    with np.load(path) as f:
        return ValidMixes(*(f[k] for k in ("mixes", "stems", "stem_mix", "stem_source",
                                           "stem_family")))


def _render_valid_mixes(path: Path, sources: list[Source], count: int, seed: int,
                        features: FeatureConfig, parts: tuple[int, int], progress: bool) -> None:
    from rich.progress import Progress

    sr = features.sample_rate
    families = [f for f in MIX_NOTE_BEATS if any(s.family == f for s in sources)]
    pools = {f: [i for i, s in enumerate(sources) if s.family == f] for f in families}
    lo, hi = min(parts[0], len(families)), min(parts[1], len(families))
    out: dict[str, list] = {k: [] for k in ("mixes", "stems", "stem_mix", "stem_source",
                                            "stem_family")}
    with Progress(disable=not progress) as bar:
        task = bar.add_task(f"rendering {count} VALID mixes", total=count)
        for q in range(count):
            rng = item_rng(seed, q, stream=Stream.VALID_PICK)
            n = int(rng.integers(lo, hi + 1))
            playing = sorted(rng.choice(len(families), size=n, replace=False))
            chosen = {families[k]: pools[families[k]][int(rng.integers(len(pools[families[k]])))]
                      for k in playing}
            plan = plan_mix(tuple(chosen), item_rng(seed, q, Stream.VALID_PLAN),
                            defaults.MIX_SECONDS)
            stems = {line.family: render_line(line, make_instrument(sources[chosen[line.family]]),
                                              defaults.MIX_SECONDS, sr)
                     for line in plan.lines}
            mix, _ = level_stems(stems)
            out["mixes"].append(log_mel(mix, features).numpy().astype(np.float16))
            for family, stem in stems.items():
                peak = float(np.max(np.abs(stem)))
                alone = stem * (defaults.RENDER_PEAK / peak) if peak > 0 else stem
                out["stems"].append(log_mel(alone, features).numpy().astype(np.float16))
                out["stem_mix"].append(q)
                out["stem_source"].append(chosen[family])
                out["stem_family"].append(family)
            bar.advance(task)
    arrays = {k: np.asarray(v) for k, v in out.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    _save_chunk(str(path), arrays)
