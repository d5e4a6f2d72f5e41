"""Catalogue-style reference renders: the one function that decides what a preset "sounds like".

The catalogue stores these renders' embeddings, and the encoder's training uses the very same
function for the positives of its mixtures, so training and search see the same kind of clip
(docs/DESIGN.md: the canonical note per family, velocity 100, plus a few more notes).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from cir.families import FAMILY_SPECS
from cir.synth.notes import Note

# Reference notes per family as (semitones from the canonical pitch, velocity), the canonical
# note (CANONICAL_VELOCITY) first. A preset's embedding is the normalised mean over their
# renders, which span the register and the dynamics a loop plays it in: a sampled instrument
# changes samples across both (multisamples, velocity layers; a GM snare at velocity 64 is
# another recording than at 100), so one note would not stand for it, and one unlucky note
# does not decide its place. Measured on the gm and builtin benchmarks: docs/BENCHMARKS.md.
_MELODIC_REFERENCES = ((0, 100), (-12, 100), (-5, 80), (7, 100), (12, 80))
REFERENCE_NOTES = {
    "percussion": ((0, 100), (0, 64), (0, 127)),
    "bass": _MELODIC_REFERENCES,
    "lead": _MELODIC_REFERENCES,
    "pad": _MELODIC_REFERENCES,
    "keys": _MELODIC_REFERENCES,
}


class Instrument(Protocol):
    """Anything that can play notes: the built-in synth, a SoundFont preset, a VST3 plugin."""

    def render(self, notes: Sequence[Note], seconds: float, sample_rate: int) -> np.ndarray:
        """Mono float32 audio of exactly round(seconds * sample_rate) samples."""
        ...


def reference_notes(
    family: str, spec: Sequence[tuple[int, int]] | None = None
) -> list[Note]:
    """The reference notes of a family: the canonical note first, then the others.
    `spec`: other (semitones from the canonical pitch, velocity) pairs than
    REFERENCE_NOTES (the catalogue's), for probes of other choices."""
    pitch = FAMILY_SPECS[family].canonical_pitch
    duration = FAMILY_SPECS[family].note_seconds
    return [
        Note(pitch=pitch + offset, velocity=velocity, start=0.0, duration=duration)
        for offset, velocity in (spec or REFERENCE_NOTES[family])
    ]


def render_references(
    instrument: Instrument, family: str, sample_rate: int, notes: Sequence[Note] | None = None
) -> list[np.ndarray]:
    """Render each reference note of `family` (or `notes`) as its own clip, canonical first."""
    seconds = FAMILY_SPECS[family].clip_seconds
    return [instrument.render([note], seconds, sample_rate)
            for note in (notes or reference_notes(family))]
