"""Training's settings: what its data pipelines and trainers share.

Used by this package alone: cir.defaults keeps the contracts between layers."""

from __future__ import annotations

# Contrastive losses on cosine distance (docs/DESIGN.md): triplet margin in 1 - cos units, InfoNCE
# temperature as in the paper.
TRIPLET_MARGIN = 0.3
INFONCE_TEMPERATURE = 0.1
# Mixtures (docs/DESIGN.md, the method): one preset per family, monophonic lines in a random scale.
MIX_TEMPO_RANGE = (60.0, 140.0)
# Note lengths in beats and their odds, per family: percussion mostly quarters, basses longer,
# leads shorter. Each slot is silent with MIX_SILENCE_PROB (never for percussion).
MIX_NOTE_BEATS = {
    "percussion": ((0.5, 1.0, 2.0), (0.2, 0.7, 0.1)),
    "bass": ((1.0, 2.0, 4.0), (0.45, 0.4, 0.15)),
    "lead": ((0.25, 0.5, 1.0, 2.0), (0.25, 0.45, 0.2, 0.1)),
    "pad": ((2.0, 4.0), (0.5, 0.5)),
    "keys": ((0.5, 1.0, 2.0), (0.3, 0.5, 0.2)),
}
MIX_SILENCE_PROB = 0.25
# Fraction of its slot a note is held (release tails run on until the next onset cuts them).
MIX_GATE_FRACTION = 0.85
# A cut note fades out over 10 ms (no click), and onsets move by up to +-10 ms (not robotic).
MIX_FADE_SECONDS = 0.010
MIX_ONSET_JITTER_SECONDS = 0.010
# Percussion is boosted after per-track peak normalisation (x4 in the authors' code).
MIX_PERCUSSION_BOOST = 4.0
# Velocity (mean, standard deviation) per family, clipped to 30..127, for mixes and notes.
NOTE_VELOCITY = {
    "percussion": (100.0, 15.0),
    "bass": (95.0, 12.0),
    "lead": (90.0, 15.0),
    "pad": (80.0, 12.0),
    "keys": (90.0, 15.0),
}
# Scales a line is drawn from (semitones above the root).
MIX_SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "harmonic-minor": (0, 2, 3, 5, 7, 8, 11),
    "minor-pentatonic": (0, 3, 5, 7, 10),
    "major-pentatonic": (0, 2, 4, 7, 9),
}
# Training stems (cir.training.data.line_set): monophonic lines per TRAIN preset, rendered by
# the engine with plan_mix's rhythms, pitches, gates and velocities, each this long (uniform).
TRAIN_LINES_PER_PRESET = 8
TRAIN_LINE_SECONDS = (3.0, 8.0)
# Random level of a training stem or mix part, in dB around its normalised level: queries
# arrive at any level, and level must never identify a preset.
TRAIN_GAIN_DB = (-6.0, 6.0)
# VALID mixes of training runs: how many, and how many families play in each (uniform).
VALID_MIX_COUNT = 300
VALID_MIX_PARTS = (2, 5)
