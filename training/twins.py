"""Near-twins in a benchmark catalogue, and the ceiling they put on top-1 and top-5.

    python -m cir.training.twins gm          # FluidR3_GM's catalogue (gm-single, gm-mix3)
    python -m cir.training.twins builtin     # the builtin benchmarks' catalogue

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
from cir.families import MIX_FAMILIES
from cir.presets_db.render import render_references
from cir.synth.calibrate import band_db, band_distance_db
from cir.training import data
from cir.training.evaluate import builtin_catalogue, gm_catalogue

# Thresholds reported, in dB: well below, near and at the bank's sibling rule.
THRESHOLDS_DB = (0.5, 1.0, defaults.BANK_SIBLING_MIN_DB)


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("catalogue", choices=("gm", "builtin"))
    args = parser.parse_args(argv)
    print(json.dumps(twin_report(args.catalogue), indent=1))


if __name__ == "__main__":
    main()
