"""The benchmarks of docs/BENCHMARKS.md: the trained encoder and the MFCC-80 baseline, side by side.

    builtin-single  catalogue: the 3 families' held-out TEST presets + TRAIN presets as
                    distractors (BENCH_CATALOGUE_PER_FAMILY per family, about 1,500);
                    queries: other notes of held-out presets (never a reference note,
                    docs/DESIGN.md, pitfall 6), ranked against the whole catalogue.
    builtin-mix3    queries: seeded mixes (cir.training.mixes) of one held-out preset per family;
                    each family ranks only its own catalogue entries.
    builtin-mix5    the five families' catalogue (about 2,500); each mix plays 2-5 of them
                    (any subset), one held-out preset each.
    gm-single/-mix3 the same on FluidR3_GM's presets (never trained on): every preset is
                    held out, the catalogue is all of them.
    ext-*           sounds nobody here made, as a user's sample folder (cir.evaluation.ext_bench)

Mix benchmarks also report presence precision / recall when the embedder answers presence
(every family asked of every mix: those not playing are the negatives).

A catalogue entry's vector is the normalised mean of its reference clips' vectors, as in the
catalogue. Same seed, same queries, same numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cir import defaults
from cir.encoder.api import FamilyEmbedder
from cir.encoder.embed import unit_mean
from cir.errors import CIRError
from cir.evaluation.scoring import (
    MIX5_PARTS,
    embedder_versions,
    family_queries,
    mix_queries,
    presence_summary,
    rank_hits,
    settled,
    single_presence,
    solo_lines,
    stack_rows,
    summarise,
)
from cir.families import FAMILIES, FAMILY_SPECS, MIX_FAMILIES
from cir.synth.notes import Note
from cir.training import data
from cir.training.mixes import draw_velocity, item_rng, render_mix
from cir.training.streams import Stream

BENCHMARKS = ("builtin-single", "builtin-mix3", "builtin-mix5", "gm-single", "gm-mix3",
              "ext-single", "ext-mix3", "ext-mix3-bus", "ext-mix5")


class BenchmarkError(CIRError):
    """An unknown benchmark name, or one whose data is missing (e.g. no FluidR3_GM)."""


# --- ranking -------------------------------------------------------------------------------------


@torch.no_grad()
def embed_mels(model: Any, mels: np.ndarray | Sequence[np.ndarray], batch: int = 64) -> np.ndarray:
    """(n, dim) embeddings of log-mels (n, M, T) with a TimbreEncoder, in eval mode."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    for k in range(0, len(mels), batch):
        x = torch.from_numpy(np.asarray(mels[k : k + batch], dtype=np.float32)).to(device)
        out.append(model.embed_features(x).cpu().numpy())
    model.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, model.config.dim), np.float32)


def embed_references(
    embed: Callable[[np.ndarray], np.ndarray], clips: Sequence[np.ndarray]
) -> np.ndarray:
    """Per preset: normalised mean of its clips' vectors. Clips of equal shape share a batch."""
    shapes: dict[tuple, list[int]] = {}
    for i, c in enumerate(clips):
        shapes.setdefault(tuple(c.shape), []).append(i)
    out: list[Any] = [None] * len(clips)
    for members in shapes.values():
        stacked = np.stack([clips[i] for i in members])  # (n, clips, ...)
        n, k = stacked.shape[:2]
        vectors = embed(stacked.reshape(n * k, *stacked.shape[2:])).reshape(n, k, -1)
        for i, v in zip(members, vectors, strict=True):
            out[i] = unit_mean(v)
    return np.stack(out)


def catalogue_vectors(model: Any, refs: data.ReferenceSet) -> np.ndarray:
    """(N, dim) catalogue vectors of a TimbreEncoder: the unit mean of each preset's
    reference clips' vectors in fp32 (presets_db.build.preset_embedding's vector)."""
    return embed_references(lambda mels: embed_mels(model, mels), refs.mels)


# --- benchmark data ------------------------------------------------------------------------------


def builtin_catalogue(
    families: Sequence[str] = MIX_FAMILIES, per_family: int = defaults.BENCH_CATALOGUE_PER_FAMILY
) -> tuple[list[data.Source], set[str]]:
    """(catalogue sources, keys of the held-out ones): per family, the TEST presets, then TRAIN
    presets as distractors up to `per_family` (both in id-hash order: stable, not by position)."""
    test = data.builtin_sources("test", families)
    train = data.builtin_sources("train", families)
    out, held_out = [], set()
    for family in families:
        tests = sorted((s for s in test if s.family == family), key=lambda s: data._key_seed(s.key))
        trains = sorted(
            (s for s in train if s.family == family), key=lambda s: data._key_seed(s.key)
        )
        chosen = tests[:per_family]
        held_out.update(s.key for s in chosen)
        out.extend(chosen + trains[: max(per_family - len(chosen), 0)])
    out.sort(key=lambda s: (s.family, s.key))
    return out, held_out


def gm_catalogue(families: Sequence[str] = MIX_FAMILIES) -> tuple[list[data.Source], set[str]]:
    path = Path(defaults.GM_SOUNDFONT)
    if not path.is_file():
        raise BenchmarkError(
            f"{path} not found: install Debian's fluid-soundfont-gm for the gm benchmarks"
        )
    sources = sorted(data.sf2_sources(path, families), key=lambda s: (s.family, s.key))
    return sources, {s.key for s in sources}


@dataclass(frozen=True)
class SingleQuery:
    target: int  # catalogue index
    note: Note
    seconds: float


def single_queries(
    sources: Sequence[data.Source], held_out: set[str], n: int, seed: int
) -> list[SingleQuery]:
    """`n` single-note queries, families in turn; never a reference note of the preset."""
    from cir.presets_db.render import reference_notes

    families = sorted({s.family for s in sources})
    pools = {
        f: [i for i, s in enumerate(sources) if s.family == f and s.key in held_out]
        for f in families
    }
    out = []
    for q in range(n):
        family = families[q % len(families)]
        rng = item_rng(seed, q, stream=Stream.SINGLE_QUERIES)
        target = pools[family][int(rng.integers(len(pools[family])))]
        refs = {(r.pitch, r.velocity, r.duration) for r in reference_notes(family)}
        lo, hi = FAMILY_SPECS[family].pitch_range
        while True:
            pitch = int(rng.integers(lo, hi + 1))
            velocity = draw_velocity(family, rng)
            duration = round(
                FAMILY_SPECS[family].note_seconds * float(np.exp(rng.uniform(-0.9, 0.47))), 3
            )
            if (pitch, velocity, duration) not in refs:
                break
        out.append(
            SingleQuery(target, Note(pitch, velocity, 0.0, duration),
                        FAMILY_SPECS[family].clip_seconds)
        )
    return out


def render_mix_query(
    sources: Sequence[data.Source], chosen: dict[str, int], seed: int, index: int
) -> np.ndarray:
    instruments = {f: data.make_instrument(sources[i]) for f, i in chosen.items()}
    mix, _, _ = render_mix(
        instruments, seed, defaults.MIX_SECONDS, defaults.MODEL_SAMPLE_RATE, index=index
    )
    return mix


# --- running a benchmark -------------------------------------------------------------------------


def run_benchmark(
    name: str,
    queries: int | None = None,
    seed: int = defaults.BENCH_SEED,
    embedder: str | None = None,
    workers: int | None = None,
    progress: bool = True,
    catalogue_per_family: int = defaults.BENCH_CATALOGUE_PER_FAMILY,
) -> dict[str, Any]:
    """Run one benchmark for the chosen embedder (default: the shipped one) and MFCC-80."""
    from rich.progress import Progress

    from cir.encoder.baseline import MFCCEmbedder
    from cir.encoder.embed import EncoderEmbedder, load_embedder
    from cir.encoder.features import FeatureConfig

    if name not in BENCHMARKS:
        raise BenchmarkError(f"unknown benchmark {name!r}: expected one of {', '.join(BENCHMARKS)}")
    kind, task = name.split("-", 1)
    if kind == "ext":
        from cir.evaluation import ext_bench, external

        try:
            external.require_packages()
        except external.ExtError as exc:
            raise BenchmarkError(str(exc)) from None
        return ext_bench.run_ext(name, load_embedder(embedder), MFCCEmbedder(), queries, seed,
                                 progress)
    model = load_embedder(embedder)
    baseline = MFCCEmbedder()
    trained = isinstance(model, EncoderEmbedder)
    features = model.model.config.features if trained else FeatureConfig()
    bench_families = FAMILIES if task == "mix5" else MIX_FAMILIES
    if kind == "builtin":
        sources, held_out = builtin_catalogue(bench_families, catalogue_per_family)
    else:
        sources, held_out = gm_catalogue()
    presence: dict[str, Any] = {}
    refs = data.reference_set(sources, features, workers=workers, progress=progress)
    families = np.asarray([s.family for s in sources])
    cat_base = embed_references(lambda x: x, refs.mfcc)
    cat_model = (
        catalogue_vectors(model.model, refs) if trained else cat_base
    )
    n = queries or (
        defaults.BENCH_SINGLE_QUERIES if task == "single" else defaults.BENCH_MIX_QUERIES
    )
    hits: dict[str, dict[str, list]] = {"model": {}, "baseline": {}}
    with Progress(disable=not progress) as bar:
        if task == "single":
            qs = single_queries(sources, held_out, n, seed)
            job = bar.add_task(f"{name}: {n} queries", total=n)
            vm, vb = [], []
            heard = []
            for q in qs:
                clip = data.make_instrument(sources[q.target]).render(
                    [q.note], q.seconds, features.sample_rate
                )
                vm.append(model.embed_clips([clip])[0])
                vb.append(baseline.embed_clips([clip])[0])
                if isinstance(model, FamilyEmbedder):  # the matcher's path: presence, route
                    heard.append(settled(family_queries(model, clip, FAMILIES), cat_model,
                                         families))
                bar.advance(job)
            targets = np.asarray([q.target for q in qs])
            for label, vecs, cat in (("model", vm, cat_model), ("baseline", vb, cat_base)):
                h = rank_hits(np.stack(vecs), cat, targets)
                for f in [f for f in MIX_FAMILIES if f in set(families[targets])]:
                    sel = families[targets] == f
                    hits[label][f] = {1: h[1][sel], 5: h[5][sel]}
            if heard:
                presence = single_presence(families[targets], heard)
                presence["lines"] = solo_lines(
                    model, sources, held_out, cat_model, data.make_instrument, seed,
                    max(n // 4, 1), features.sample_rate)
        else:
            qs = mix_queries(sources, held_out, n, seed, bench_families,
                             MIX5_PARTS if task == "mix5" else None)
            job = bar.add_task(f"{name}: {n} mixes", total=n)
            vm: dict[str, list] = {f: [] for f in bench_families}
            vb: dict[str, list] = {f: [] for f in bench_families}
            scores: list[dict[str, float]] = []
            for i, chosen in enumerate(qs):
                mix = render_mix_query(sources, chosen, seed, i)
                # Presence is asked of every family: those not playing are its negatives.
                reading = family_queries(model, mix, FAMILIES)
                scores.append(settled(reading, cat_model, families))
                for f in chosen:
                    vm[f].append(reading.vectors[f])
                base = baseline.embed_query(mix)
                for f in chosen:
                    vb[f].append(base)
                bar.advance(job)
            for label, vecs, cat in (("model", vm, cat_model), ("baseline", vb, cat_base)):
                for f in bench_families:
                    members = np.flatnonzero(families == f)
                    targets = np.asarray(
                        [np.searchsorted(members, c[f]) for c in qs if f in c])
                    if len(targets):
                        hits[label][f] = rank_hits(stack_rows(vecs[f]), cat[members], targets)
            presence = presence_summary(qs, scores)
    return {
        "benchmark": name,
        "queries": n,
        "seed": seed,
        "catalogue": len(sources),
        "embedder": embedder_versions(model, baseline),
        "model": summarise(hits["model"]),
        "baseline": summarise(hits["baseline"]),
        **({"presence": presence} if presence else {}),
    }


def format_table(result: dict[str, Any]) -> str:
    """A plain-text table: per family and mean, model vs baseline, top-1 / top-5 in percent."""
    lines = [
        f"{result['benchmark']}: {result['queries']} queries, seed {result['seed']}, "
        f"catalogue {result['catalogue']} presets",
        f"{'family':<12}{'model T1':>10}{'model T5':>10}{'MFCC T1':>10}{'MFCC T5':>10}",
    ]
    rows = [*result["model"]["per_family"], "mean"]
    for row in rows:
        m = result["model"]["mean"] if row == "mean" else result["model"]["per_family"][row]
        b = result["baseline"]["mean"] if row == "mean" else result["baseline"]["per_family"][row]
        lines.append(
            f"{row:<12}{m['top1']:>10.1f}{m['top5']:>10.1f}{b['top1']:>10.1f}{b['top5']:>10.1f}"
        )
    presence = result.get("presence")
    if presence and "pairs" not in presence:
        lines.append(
            f"presence (model, threshold {presence['threshold']}, {presence['queries']} "
            f"single-sound queries): recall {presence['recall']:.1f}"
        )
        solo = presence.get("lines")
        if solo:
            lines.append(
                f"solo lines ({solo['lines']}, the matcher's path): top-1 {solo['top1']:.1f}  "
                f"presence recall {solo['recall']:.1f}  read as one instrument "
                f"{solo['read_as_solo']:.1f} %")
    elif presence:
        lines.append(
            f"presence (model, threshold {presence['threshold']}, {presence['pairs']} "
            f"mix x family pairs): precision {presence['precision']:.1f}  "
            f"recall {presence['recall']:.1f}"
        )
    if presence and "read_as_solo" in presence:
        lines.append(f"read as one instrument (the catalogue encoder's path): "
                     f"{presence['read_as_solo']:.1f} %")
    query = result["embedder"].get("model_query")
    lines.append(
        f"model: {result['embedder']['model']}"
        + (f" (mix queries: {query})" if query else "")
        + f"  baseline: {result['embedder']['baseline']}"
    )
    return "\n".join(lines)
