"""Near-twins in a benchmark catalogue, and the ceiling they put on top-1 and top-5.

    python -m tools.twins gm          # FluidR3_GM's catalogue (gm-single, gm-mix3)
    python -m tools.twins builtin     # the builtin benchmarks' catalogue
    python -m tools.twins gm --misses ENCODER.pt   # gm percussion misses: twins or not

Two entries are twins when their canonical reference notes differ by less than `threshold`
dB (mean |difference| of 64-band log spectrograms, synth.calibrate.band_distance_db). No
encoder can tell twins apart from a query, so with k entries in a target's twin group the best
it can expect is 1/k at top-1 and min(5/k, 1) at top-5. SoundFont drum kits share samples
between kits, so a GM kick often has several twins; the factory bank re-draws sibling twins.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from cir import defaults
from cir.evaluation.harness import builtin_catalogue, gm_catalogue
from cir.families import MIX_FAMILIES
from cir.presets_db.render import render_references
from cir.synth.calibrate import BANK_SIBLING_MIN_DB, band_db, band_distance_db
from cir.training import data

# Thresholds reported, in dB: well below, near and at the bank's sibling rule.
THRESHOLDS_DB = (0.5, 1.0, BANK_SIBLING_MIN_DB)


def distances(sources: Sequence[data.Source]) -> np.ndarray:
    """(n, n) band distances between the sources' canonical reference notes (one family)."""
    specs = [
        band_db(render_references(data.make_instrument(s), s.family,
                                  defaults.MODEL_SAMPLE_RATE)[0])
        for s in sources
    ]
    n = len(specs)
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            out[i, j] = out[j, i] = band_distance_db(specs[i], specs[j])
    return out


def ceilings(dist: np.ndarray, targets: Sequence[int], threshold: float) -> dict[str, Any]:
    """Twins and the best reachable top-1 / top-5 (percent) over queries of `targets`."""
    group = (dist[np.asarray(targets)] < threshold).sum(axis=1)  # each includes itself
    return {
        "threshold_db": threshold,
        "with_twin": int((group > 1).sum()),
        "top1_ceiling": round(100 * float(np.mean(1.0 / group)), 1),
        "top5_ceiling": round(100 * float(np.mean(np.minimum(5.0 / group, 1.0))), 1),
    }


def twin_report(catalogue: str, families: Sequence[str] = MIX_FAMILIES) -> dict[str, Any]:
    """{family: {"entries", "targets", "ceilings": [...]}} for the gm or builtin catalogue."""
    sources, held_out = gm_catalogue(families) if catalogue == "gm" else builtin_catalogue(families)
    report: dict[str, Any] = {}
    for family in families:
        members = [s for s in sources if s.family == family]
        targets = [i for i, s in enumerate(members) if s.key in held_out]
        dist = distances(members)
        report[family] = {
            "entries": len(members),
            "targets": len(targets),
            "ceilings": [ceilings(dist, targets, t) for t in THRESHOLDS_DB],
        }
    return report


def _piece(source: data.Source) -> str:
    """A gm percussion entry's kind: its kit piece ("128:PPP:piece" keys), else "pitched"."""
    parts = source.key.split(":")
    return parts[2] if len(parts) == 3 else "pitched"


def percussion_misses(encoder: str, threshold: float = 1.0,
                      seed: int = defaults.BENCH_SEED) -> dict[str, Any]:
    """gm-single's percussion queries by kit piece: top-1, top-1 or a twin of the target
    (within `threshold` dB), and answers that are another kind of piece. Says how much of the
    percussion gap is twins (no encoder can help) and how much is confusion."""
    from cir.encoder.embed import load_embedder
    from cir.evaluation.harness import catalogue_vectors, single_queries

    model = load_embedder(encoder)
    sources, held_out = gm_catalogue()
    features = model.model.config.features
    refs = data.reference_set(sources, features, progress=False)
    catalogue = catalogue_vectors(model.model, refs)
    drums = [i for i, s in enumerate(sources) if s.family == "percussion"]
    dist = distances([sources[i] for i in drums])
    row = {i: k for k, i in enumerate(drums)}
    out: dict[str, dict[str, float]] = {}
    for q in single_queries(sources, held_out, defaults.BENCH_SINGLE_QUERIES, seed):
        if q.target not in row:
            continue
        clip = data.make_instrument(sources[q.target]).render([q.note], q.seconds,
                                                              features.sample_rate)
        top = int(np.argmax(catalogue @ model.embed_clips([clip])[0]))
        twin = top in row and dist[row[q.target], row[top]] < threshold
        kind = _piece(sources[q.target])
        tally = out.setdefault(kind, {"queries": 0, "top1": 0, "top1_or_twin": 0,
                                      "other_kind": 0})
        tally["queries"] += 1
        tally["top1"] += top == q.target
        tally["top1_or_twin"] += top == q.target or twin
        tally["other_kind"] += _piece(sources[top]) != kind
    for tally in out.values():
        for key in ("top1", "top1_or_twin"):
            tally[key] = round(100 * tally[key] / tally["queries"], 1)
    return {"threshold_db": threshold, "pieces": out}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("catalogue", choices=("gm", "builtin"))
    parser.add_argument("--misses", metavar="ENCODER.pt",
                        help="gm only: gm-single's percussion top-1 per kit piece for this "
                             "encoder, and how many answers are twins of the target")
    args = parser.parse_args(argv)
    if args.misses:
        if args.catalogue != "gm":
            parser.error("--misses reads the gm catalogue's percussion: use 'gm'")
        print(json.dumps(percussion_misses(args.misses), indent=1))
        return
    print(json.dumps(twin_report(args.catalogue), indent=1))


if __name__ == "__main__":
    main()
