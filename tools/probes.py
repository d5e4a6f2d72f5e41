"""Probes of variants around a line-aware catalogue encoder, on the VALID split (no training).

    python -m tools.probes ENCODER.pt [--phrases 2]

On the VALID isolated lines (data.valid_mixes' stems: 6 s, one preset each), each ranked
among its family's VALID presets (top-1 / top-5, mean over families):

    whole line       one pass over the whole line (what the heads and the encoder do)
    notes, mean      note-level matching: the line cut at onsets (spectral flux of the log-mel),
                     each note embedded alone, the unit mean of the notes' vectors
    notes, max       the same notes, an entry scoring its best cosine with any note
    refs + phrases   catalogue entries = unit mean of the reference notes AND `phrases`
                     engine-rendered 4 s phrases of the preset (a line compared with lines)
    phrases only     catalogue entries from the phrases alone
"""

from __future__ import annotations

import argparse
import itertools
import json
from typing import Any

import numpy as np

from cir.encoder.embed import unit_mean
from cir.encoder.features import FeatureConfig
from cir.encoder.model import load_model
from cir.evaluation.harness import embed_mels, embed_references, rank_hits
from cir.families import FAMILIES
from cir.training import data
from cir.training.constants import VALID_MIX_COUNT

# Onsets: frames whose positive spectral flux exceeds mean + ONSET_K x std, at least
# ONSET_GAP_SECONDS apart; notes shorter than MIN_NOTE_SECONDS are dropped.
ONSET_K = 1.5
ONSET_GAP_SECONDS = 0.08
MIN_NOTE_SECONDS = 0.08
_PROBE_SEED = 0
_PHRASE_SEED = 101  # the phrases' line seed: not the training lines' (seed 0)


def onsets(mel: np.ndarray, hop_seconds: float) -> list[int]:
    """Onset frames of a (M, T) log-mel by positive spectral flux (frame 0 always one)."""
    flux = np.maximum(np.diff(mel.astype(np.float32), axis=1), 0.0).sum(0)
    threshold = flux.mean() + ONSET_K * flux.std()
    gap = max(1, round(ONSET_GAP_SECONDS / hop_seconds))
    out = [0]
    for t in np.flatnonzero(flux > threshold) + 1:
        if t - out[-1] >= gap:
            out.append(int(t))
    return out


def note_segments(mel: np.ndarray, hop_seconds: float) -> list[np.ndarray]:
    """The line cut at its onsets; too-short pieces dropped (the whole line if none is left)."""
    cuts = [*onsets(mel, hop_seconds), mel.shape[1]]
    shortest = max(1, round(MIN_NOTE_SECONDS / hop_seconds))
    pieces = [mel[:, a:b] for a, b in itertools.pairwise(cuts) if b - a >= shortest]
    return pieces or [mel]


def _hits_by_family(queries: list[np.ndarray], v: data.ValidMixes, catalogue: np.ndarray,
                    cat_families: np.ndarray) -> dict[str, float]:
    """Mean over families of top-1 / top-5 in percent; a query may have several rows (max)."""
    top1, top5 = [], []
    for family in sorted(set(v.stem_family.tolist())):
        rows = np.flatnonzero(v.stem_family == family)
        members = np.flatnonzero(cat_families == family)
        targets = np.searchsorted(members, v.stem_source[rows])
        h1, h5 = [], []
        for r, t in zip(rows, targets, strict=True):
            q = queries[r]
            hits = rank_hits(q[None] if q.ndim == 2 else q[None, None], catalogue[members],
                             np.asarray([t]))
            h1.append(hits[1][0])
            h5.append(hits[5][0])
        top1.append(np.mean(h1))
        top5.append(np.mean(h5))
    return {"top1": round(100 * float(np.mean(top1)), 1),
            "top5": round(100 * float(np.mean(top5)), 1)}


def run_probes(encoder: str, phrases: int = 2, workers: int | None = 1,
               progress: bool = True) -> dict[str, Any]:
    """The table of the module docstring for `encoder` (a TimbreEncoder checkpoint)."""
    model, version = load_model(encoder)
    fc = FeatureConfig(n_mels=model.config.features.n_mels)
    valid = data.builtin_sources("valid", FAMILIES)
    refs = data.reference_set(valid, fc, workers=workers, progress=progress)
    v = data.valid_mixes(valid, VALID_MIX_COUNT, _PROBE_SEED, fc, progress=progress)
    cat_families = np.asarray([s.family for s in valid])

    def embed(mels):
        return embed_mels(model, mels)

    catalogue = embed_references(embed, refs.mels)
    hop = fc.hop / fc.sample_rate
    whole = [row for row in embed(v.stems)]
    notes = [embed_references(embed, [m[None] for m in note_segments(s, hop)])
             for s in v.stems]
    out: dict[str, Any] = {"encoder": version, "lines": len(v.stems)}
    out["whole line"] = _hits_by_family(whole, v, catalogue, cat_families)
    out["notes, mean"] = _hits_by_family([unit_mean(n) for n in notes], v, catalogue,
                                         cat_families)
    out["notes, max"] = _hits_by_family(notes, v, catalogue, cat_families)
    if phrases:
        lines = data.line_set(valid, phrases, _PHRASE_SEED, fc, (4.0, 4.0), workers=workers,
                              progress=progress)
        by_source = lines.by_source()
        phrase_vecs = [embed(np.stack([lines.line(i) for i in idx])) for idx in by_source]
        ref_vecs = [embed(m) for m in refs.mels]
        both = np.stack([unit_mean(np.concatenate([r, p])) for r, p in
                         zip(ref_vecs, phrase_vecs, strict=True)])
        only = np.stack([unit_mean(p) for p in phrase_vecs])
        out["refs + phrases"] = _hits_by_family(whole, v, both, cat_families)
        out["phrases only"] = _hits_by_family(whole, v, only, cat_families)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("encoder", help="a TimbreEncoder checkpoint (.pt)")
    parser.add_argument("--phrases", type=int, default=2, help="4 s phrases per preset (0: skip)")
    args = parser.parse_args(argv)
    print(json.dumps(run_probes(args.encoder, args.phrases), indent=2))


if __name__ == "__main__":
    main()
