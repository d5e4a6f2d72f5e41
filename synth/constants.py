"""The built-in synth's settings: what its engine, recipes and bank share.

Used by this package alone: cir.defaults keeps the contracts between layers."""

from __future__ import annotations

# 2: percussion plays its designed sound on any key; siblings that sound like their parent are
# drawn again (synth.bank).
BANK_VERSION = 2
BANK_SEED = 20_260_913
# Filter: cutoff stays below this fraction of the sample rate; resonance 0..0.98 maps to
# Q = 0.707 * SYNTH_RESONANCE_Q_SPAN ** resonance (0.707 = no peak, about 23 at the top).
SYNTH_FILTER_MAX_FRACTION = 0.45
SYNTH_RESONANCE_Q_SPAN = 32.0
