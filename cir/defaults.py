"""Every default of CIR in one place, with the reason for each value.

Modules import these names rather than repeating numbers. Values that define a vector space
(sample rate, features, reference notes) are part of the encoder/catalogue versions: changing
them means bumping RENDER_VERSION and re-embedding.
"""

from __future__ import annotations

# --- Audio -----------------------------------------------------------------------------------
# Synths have content above the paper's 8 kHz; 22.05 kHz keeps it while halving compute.
MODEL_SAMPLE_RATE = 22_050
# The built-in synth's default output rate (CLI renders, previews, demo loops).
RENDER_SAMPLE_RATE = 44_100
# Peak level that renders are normalised to (about -1 dBFS): loud but never clipping.
RENDER_PEAK = 0.89

# --- Catalogue reference renders ---------------------------------------------------------------
# A canonical note per family (velocity 100, METHOD.md): near each family's median pitch.
CANONICAL_PITCH = {"percussion": 60, "bass": 40, "lead": 72, "pad": 60, "keys": 60}
CANONICAL_VELOCITY = 100
# Held note length per family, seconds; clips are the note plus a release tail.
NOTE_SECONDS = {"percussion": 0.25, "bass": 0.8, "lead": 0.8, "pad": 1.5, "keys": 0.8}
CLIP_SECONDS = {"percussion": 1.0, "bass": 1.5, "lead": 1.5, "pad": 2.5, "keys": 1.5}
# Extra reference notes, in semitones from the canonical pitch: a preset's embedding is the
# normalised mean over these renders, so one unlucky note does not decide its place.
EXTRA_NOTE_OFFSETS = {"percussion": (), "bass": (-5, 7), "lead": (-5, 7), "pad": (-5, 7), "keys": (-5, 7)}
# Bumped whenever the reference renders above change: stored embeddings then get rebuilt.
RENDER_VERSION = 1

# --- Factory bank ------------------------------------------------------------------------------
BANK_VERSION = 1
BANK_SEED = 20_260_913
# Split by preset: fractions for train / valid; test takes the rest (about 80/10/10).
SPLIT_FRACTIONS = (0.8, 0.1)
SPLITS = ("train", "valid", "test")

# --- Family registers ----------------------------------------------------------------------------
# MIDI pitch ranges each family plays in (training notes, mixtures, bank register checks).
# Percussion is mostly one-shots; its pitch only transposes tuned drums and mallets.
FAMILY_PITCH_RANGE = {
    "percussion": (48, 72),
    "bass": (28, 52),
    "lead": (60, 88),
    "pad": (48, 76),
    "keys": (48, 84),
}

# --- Daemon endpoints (protocol v1, docs/protocol.md) --------------------------------------------
# Loopback TCP works everywhere (the native plugin uses it); POSIX also gets a user-private ipc.
DAEMON_TCP_PORT = 47100
# A full ZeroMQ endpoint in this variable overrides the default for clients and the plugin.
ENDPOINT_ENV = "CIR_ENDPOINT"
