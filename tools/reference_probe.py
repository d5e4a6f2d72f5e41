"""Which reference notes should a catalogue entry average? Single-note benchmark queries
ranked against catalogues built from other reference sets (no training, same encoder).

    python -m tools.reference_probe ENCODER.pt --benchmark gm [--seed 0] [--json]

Each set names, per family, the (semitones from the canonical pitch, velocity) notes whose
renders' unit mean is the entry's vector (presets_db.render: the catalogue's own rule is
REFERENCE_NOTES, "shipped" below). The queries are the gm-single or builtin-single
queries of `seed` (cir.evaluation.harness.single_queries), the same for every set; top-1 /
top-5 per family and the mean, as `cir eval` prints them.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from cir import defaults
from cir.encoder.embed import load_embedder
from cir.evaluation.harness import builtin_catalogue, gm_catalogue, rank_hits, single_queries
from cir.families import MIX_FAMILIES
from cir.presets_db.build import preset_embedding
from cir.presets_db.render import REFERENCE_NOTES, reference_notes, render_references
from cir.training import data

_ONE = ((0, 100),)
_FIFTHS = ((0, 100), (-5, 100), (7, 100))
_OCTAVES = ((0, 100), (-12, 100), (-5, 100), (7, 100), (12, 100))
_DRUM_VELOCITIES = ((0, 100), (0, 64), (0, 127))

# Named reference sets: {family: notes}; "render v1" is the catalogue's rule before version 2.
REFERENCE_SETS: dict[str, dict[str, tuple[tuple[int, int], ...]]] = {
    "render v1": {"percussion": _ONE, "bass": _FIFTHS, "lead": _FIFTHS},
    "drum velocities": {"percussion": _DRUM_VELOCITIES, "bass": _FIFTHS, "lead": _FIFTHS},
    "octaves": {"percussion": _ONE, "bass": _OCTAVES, "lead": _OCTAVES},
    "octaves + velocities": {"percussion": _DRUM_VELOCITIES, "bass": _OCTAVES, "lead": _OCTAVES},
    "shipped": {f: REFERENCE_NOTES[f] for f in MIX_FAMILIES},
}


def entry_vectors(embedder: Any, sources: Sequence[data.Source],
                  notes: dict[str, tuple[tuple[int, int], ...]]) -> np.ndarray:
    """(n, dim) catalogue vectors: per source, the unit mean of its renders of `notes`
    (presets_db.build.preset_embedding with these reference notes)."""
    sr = embedder.model.config.features.sample_rate
    return np.stack([
        preset_embedding(embedder, render_references(
            data.make_instrument(s), s.family, sr, reference_notes(s.family, notes[s.family])))
        for s in sources
    ])


def run_probe(encoder: str, benchmark: str = "gm", seed: int = defaults.BENCH_SEED,
              sets: Sequence[str] = tuple(REFERENCE_SETS),
              queries: int = defaults.BENCH_SINGLE_QUERIES,
              catalogue_per_family: int = defaults.BENCH_CATALOGUE_PER_FAMILY) -> dict[str, Any]:
    """{set name: {"per_family": {f: {"top1", "top5"}}, "mean": {...}}} on the same queries."""
    embedder = load_embedder(encoder)
    if benchmark == "gm":
        sources, held_out = gm_catalogue()
    else:
        sources, held_out = builtin_catalogue(MIX_FAMILIES, catalogue_per_family)
    sr = embedder.model.config.features.sample_rate
    drawn = single_queries(sources, held_out, queries, seed)
    vectors = np.stack([
        embedder.embed_clips([data.make_instrument(sources[q.target]).render(
            [q.note], q.seconds, sr)])[0]
        for q in drawn
    ])
    targets = np.asarray([q.target for q in drawn])
    families = np.asarray([sources[t].family for t in targets])
    out: dict[str, Any] = {}
    for name in sets:
        hits = rank_hits(vectors, entry_vectors(embedder, sources, REFERENCE_SETS[name]), targets)
        per = {f: {f"top{k}": round(100 * float(hits[k][families == f].mean()), 1)
                   for k in (1, 5)} for f in MIX_FAMILIES}
        out[name] = {"per_family": per, "mean": {
            key: round(float(np.mean([p[key] for p in per.values()])), 1)
            for key in ("top1", "top5")}}
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("encoder", help="an encoder or heads checkpoint (.pt), or 'default'")
    parser.add_argument("--benchmark", choices=("gm", "builtin"), default="gm")
    parser.add_argument("--seed", type=int, default=defaults.BENCH_SEED)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    result = run_probe(args.encoder, args.benchmark, args.seed)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for name, r in result.items():
        cells = "  ".join(f"{f} {p['top1']:.1f}/{p['top5']:.1f}"
                          for f, p in r["per_family"].items())
        print(f"{name:22s} mean {r['mean']['top1']:.1f}/{r['mean']['top5']:.1f}   {cells}")


if __name__ == "__main__":
    main()
