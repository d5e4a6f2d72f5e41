"""The transfer benchmarks (`ext-*`): sounds of instruments nobody here made, queried as a user
queries, scored as the other benchmarks are (cir.evaluation.harness).

    catalogue      a one-shot sample folder (cir.evaluation.external.write_folder: one file per
                   sound at its family's canonical note), read through the folder source
                   (presets_db.sources.folder) and embedded as a catalogue build embeds it
    ext-single     each query plays one catalogue sound at another note (percussion +-1..5
                   semitones, melodic +-1..7), another velocity (60-127, never 100) and
                   another length; the user's path (read_query: presence, routing, heads)
                   ranks the target's family; presence recall = the target's family heard
    ext-mix3/-mix5 mixes of one ext sound per family, planned and levelled like builtin-mix3
                   and builtin-mix5 (cir.training.mixes.render_mix)
    ext-mix3-bus   the ext-mix3 mixes after the bus a producer adds: a compressor, a reverb
                   send, then MP3 at 128 kbit/s (44.1 kHz), drawn per mix

Queries are 44.1 kHz (a user's files are), the folder's files too; embedders resample.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cir import defaults
from cir.evaluation import external
from cir.evaluation import scoring as ev
from cir.families import FAMILIES, FAMILY_SPECS, MIX_FAMILIES
from cir.synth.notes import Note
from cir.training import data
from cir.training.mixes import item_rng, render_mix
from cir.training.streams import Stream

# Sample rate of the folder's files and of the queries (what a user's files have).
EXT_SAMPLE_RATE = 44_100
# Bump when the folder's files change (rendering, levels, the family rule): a new folder.
EXT_FOLDER_VERSION = 1
# ext-single: semitones from the canonical note (never 0) and note lengths, per kind.
_SINGLE_SEMITONES = {"percussion": 5, "melodic": 7}
_SINGLE_SECONDS = {"percussion": (0.1, 0.5), "melodic": (0.25, 3.0)}
_SINGLE_VELOCITY = (60, 127)
# A single query's clip: the note, then this much of its release, at most _SINGLE_MAX_CLIP
# (a 3 s note and its release), seconds.
_SINGLE_RELEASE = 0.5
_SINGLE_MAX_CLIP = 4.0
# Bus: compressor threshold (dB) and ratio, reverb send level and room size, drawn uniformly.
_BUS_THRESHOLD_DB = (-24.0, -12.0)
_BUS_RATIO = (2.0, 6.0)
_BUS_SEND = (0.1, 0.3)
_BUS_ROOM = (0.3, 0.8)
_BUS_MP3 = "128k"


@dataclass(frozen=True)
class ExtCatalogue:
    sources: list[data.Source]  # sorted by (family, key), as ext_sources gives them
    clips: list[list[np.ndarray]]  # per entry: its file's clips, as a build embeds them


def ext_catalogue(families: Sequence[str]) -> ExtCatalogue:
    """The ext sounds of `families` and their one-shot folder's clips (files written once
    into the user cache dir, read back through the folder source and peak-normalised as a
    build does). A file the build would fail (a silent sample: one hydrogen kit has one) is
    left out, as it would be of a user's catalogue."""
    from cir.presets_db.build import normalise_clips
    from cir.presets_db.errors import RenderError
    from cir.presets_db.sources import folder

    found = external.ext_sources(families)
    root = data.cache_root() / f"ext-folder-v{EXT_FOLDER_VERSION}"
    paths = external.write_folder(found, root, EXT_SAMPLE_RATE)
    rate = defaults.MODEL_SAMPLE_RATE
    sources, clips = [], []
    for path, sound in zip(paths, found, strict=True):
        try:
            clips.append(normalise_clips(folder.render_clips(str(path), sound.family, rate)))
        except RenderError:
            continue
        sources.append(data.Source(sound.key, sound.family, sound.kind, sound.spec))
    return ExtCatalogue(sources, clips)


def catalogue_matrix(embedder: Any, cat: ExtCatalogue) -> np.ndarray:
    """(N, dim): each entry's vector as a catalogue build stores it (presets_db.build)."""
    from cir.presets_db.build import preset_embedding

    return np.stack([preset_embedding(embedder, clips) for clips in cat.clips])


@dataclass(frozen=True)
class ExtSingle:
    target: int
    note: Note
    seconds: float


def single_queries(sources: Sequence[data.Source], n: int, seed: int) -> list[ExtSingle]:
    """`n` queries, families in turn: a catalogue sound at another note, velocity, length."""
    families = sorted({s.family for s in sources})
    pools = {f: [i for i, s in enumerate(sources) if s.family == f] for f in families}
    out = []
    for q in range(n):
        family = families[q % len(families)]
        rng = item_rng(seed, q, stream=Stream.EXT_SINGLE_QUERIES)
        target = pools[family][int(rng.integers(len(pools[family])))]
        kind = "percussion" if family == "percussion" else "melodic"
        reach = _SINGLE_SEMITONES[kind]
        offset = int(rng.choice([s for s in range(-reach, reach + 1) if s != 0]))
        velocity = int(rng.choice([v for v in range(_SINGLE_VELOCITY[0], _SINGLE_VELOCITY[1] + 1)
                                   if v != defaults.CANONICAL_VELOCITY]))
        duration = round(float(rng.uniform(*_SINGLE_SECONDS[kind])), 3)
        seconds = min(max(FAMILY_SPECS[family].clip_seconds, duration + _SINGLE_RELEASE),
                      _SINGLE_MAX_CLIP)
        pitch = FAMILY_SPECS[family].canonical_pitch + offset
        out.append(ExtSingle(target, Note(pitch, velocity, 0.0, duration), seconds))
    return out


def render_single(cat: ExtCatalogue, query: ExtSingle) -> np.ndarray:
    return external.make_instrument(cat.sources[query.target]).render(
        [query.note], query.seconds, EXT_SAMPLE_RATE)


def render_mix_query(cat: ExtCatalogue, chosen: dict[str, int], seed: int, index: int,
                     bus: bool = False) -> tuple[np.ndarray, int]:
    """(audio, sample rate) of mix `index`: one ext sound per family of `chosen`; with `bus`,
    after bus_process."""
    instruments = {f: external.make_instrument(cat.sources[i]) for f, i in chosen.items()}
    mix, _, _ = render_mix(instruments, seed, defaults.MIX_SECONDS, EXT_SAMPLE_RATE,
                           index=index)
    if bus:
        mix = bus_process(mix, EXT_SAMPLE_RATE, item_rng(seed, index, stream=Stream.EXT_BUS))
    return mix, EXT_SAMPLE_RATE


def bus_process(audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A producer's bus: compressor, reverb send, level to RENDER_PEAK, MP3 at 128 kbit/s and
    back (the decoder's delay kept: a user's bounce has it too), same length."""
    from pedalboard import Compressor, Reverb
    from pedalboard.io import AudioFile

    x = audio[None, :].astype(np.float32)
    x = Compressor(threshold_db=float(rng.uniform(*_BUS_THRESHOLD_DB)),
                   ratio=float(rng.uniform(*_BUS_RATIO)), attack_ms=10.0,
                   release_ms=120.0)(x, sample_rate)
    wet = Reverb(room_size=float(rng.uniform(*_BUS_ROOM)), wet_level=1.0, dry_level=0.0)(
        x, sample_rate)
    x = x + float(rng.uniform(*_BUS_SEND)) * wet
    x *= defaults.RENDER_PEAK / max(float(np.abs(x).max()), 1e-9)
    buffer = io.BytesIO()
    with AudioFile(buffer, "w", samplerate=sample_rate, num_channels=1, format="mp3",
                   quality=_BUS_MP3) as f:
        f.write(x)
    buffer.seek(0)
    with AudioFile(buffer) as f:
        decoded = f.read(f.frames)[0]
    out = np.zeros(audio.shape[0], np.float32)
    out[: min(len(out), len(decoded))] = decoded[: len(out)]
    return out


# --- running -------------------------------------------------------------------------------------


# Rendered queries, catalogues and baseline vectors of this process, by (benchmark, n,
# seed): several embedders compared in one `cir eval` call hear the very same audio, rendered
# and read by the baseline once.
_MEMO: dict[tuple, Any] = {}


def _memo(key: tuple, make: Callable[[], Any]) -> Any:
    if key not in _MEMO:
        _MEMO[key] = make()
    return _MEMO[key]


def _queries(name: str, n: int, seed: int, progress: bool) -> tuple[ExtCatalogue, list, list]:
    """(catalogue, query plans, (audio, sample rate) per query) of an ext benchmark."""
    from rich.progress import Progress

    task = name.split("-", 1)[1]
    bench_families = FAMILIES if task == "mix5" else MIX_FAMILIES
    cat = _memo(("catalogue", bench_families), lambda: ext_catalogue(bench_families))

    def render() -> tuple[list, list]:
        if task == "single":
            qs: list = single_queries(cat.sources, n, seed)
        else:
            qs = ev.mix_queries(cat.sources, {s.key for s in cat.sources}, n, seed,
                                bench_families, ev.MIX5_PARTS if task == "mix5" else None)
        audio = []
        with Progress(disable=not progress) as bar:
            job = bar.add_task(f"{name}: rendering {n} queries", total=n)
            for i, q in enumerate(qs):
                audio.append((render_single(cat, q), EXT_SAMPLE_RATE) if task == "single"
                             else render_mix_query(cat, q, seed, i, bus=task == "mix3-bus"))
                bar.advance(job)
        return qs, audio

    qs, audio = _memo((name, n, seed), render)
    return cat, qs, audio


def run_ext(name: str, model: Any, baseline: Any, queries: int | None, seed: int,
            progress: bool = True) -> dict[str, Any]:
    """One ext benchmark: the fields of evaluate.run_benchmark's result, plus per-family n."""
    from rich.progress import Progress

    task = name.split("-", 1)[1]
    n = queries or (defaults.BENCH_SINGLE_QUERIES if task == "single"
                    else defaults.BENCH_MIX_QUERIES)
    cat, qs, audio = _queries(name, n, seed, progress)
    bench_families = sorted({s.family for s in cat.sources}, key=FAMILIES.index)
    families = np.asarray([s.family for s in cat.sources])
    cat_model = catalogue_matrix(model, cat)
    cat_base = _memo(("baseline-catalogue", tuple(bench_families)),
                     lambda: catalogue_matrix(baseline, cat))
    base_vectors = _memo(("baseline", name, n, seed),
                         lambda: [baseline.embed_query(a, rate) for a, rate in audio])
    hits: dict[str, dict[str, Any]] = {"model": {}, "baseline": {}}
    presence: dict[str, Any] = {}
    readings = []
    with Progress(disable=not progress) as bar:
        job = bar.add_task(f"{name}: reading {n} queries", total=n)
        for a, rate in audio:
            readings.append(ev.family_queries(model, a, FAMILIES, rate))
            bar.advance(job)
    if task == "single":
        targets = np.asarray([q.target for q in qs])
        target_families = families[targets]
        vm = [r.vectors[f] for r, f in zip(readings, target_families, strict=True)]
        for label, vecs, matrix in (("model", vm, cat_model),
                                    ("baseline", base_vectors, cat_base)):
            for f in MIX_FAMILIES:
                members = np.flatnonzero(families == f)
                sel = np.flatnonzero(target_families == f)
                if len(sel):
                    rows = ev.stack_rows([vecs[i] for i in sel])
                    hits[label][f] = ev.rank_hits(
                        rows, matrix[members], np.searchsorted(members, targets[sel]))
        if readings[0].presence:  # an embedder with a presence head
            heard = [ev.settled(r, cat_model, families) for r in readings]
            presence = ev.single_presence(target_families, heard)
            presence["lines"] = ev.solo_lines(
                model, cat.sources, {s.key for s in cat.sources}, cat_model,
                external.make_instrument,
                seed, max(n // 4, 1), EXT_SAMPLE_RATE)
    else:
        for label, matrix in (("model", cat_model), ("baseline", cat_base)):
            for f in bench_families:
                members = np.flatnonzero(families == f)
                rows = [r.vectors[f] if label == "model" else b
                        for r, b, c in zip(readings, base_vectors, qs, strict=True) if f in c]
                targets = np.asarray([np.searchsorted(members, c[f]) for c in qs if f in c])
                if len(targets):
                    hits[label][f] = ev.rank_hits(ev.stack_rows(rows), matrix[members], targets)
        presence = ev.presence_summary(qs, [ev.settled(r, cat_model, families)
                                            for r in readings])
    routed = [r.is_solo for r in readings if r.solo is not None]
    if routed and presence:
        # How often the query was read as one instrument (the catalogue encoder's path).
        presence["read_as_solo"] = round(100 * float(np.mean(routed)), 1)
    return {
        "benchmark": name, "queries": n, "seed": seed, "catalogue": len(cat.sources),
        "catalogue_per_family": {f: int((families == f).sum()) for f in bench_families},
        "embedder": ev.embedder_versions(model, baseline),
        "model": ev.summarise(hits["model"]), "baseline": ev.summarise(hits["baseline"]),
        **({"presence": presence} if presence else {}),
    }
