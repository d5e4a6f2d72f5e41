"""The encoder's settings: what its model, features and embedders share.

Used by this package alone: cir.defaults keeps the contracts between layers."""

from __future__ import annotations

# Windows quieter than this RMS (about -60 dBFS) carry no timbre and are skipped, unless all are.
QUERY_SILENCE_RMS = 1e-3
# Clips embedded per forward pass (memory stays under ~200 MB on CPU at 4 s clips).
EMBED_BATCH_SIZE = 32
# Per-family heads read a query up to this long in one pass (they train on whole 3-8 s crops;
# one pass beat the mean of 4 s windows on 6 s mixes); longer queries: windows this long.
HEADS_QUERY_SECONDS = 8.0
