"""The catalogue's settings: what its builds, sources and search share.

Used by this package alone: cir.defaults keeps the contracts between layers."""

from __future__ import annotations

# A worker that takes longer than this on one preset is killed and the preset marked failed
# (a hanging plugin must not stall the build). Generous: the first task includes imports.
BUILD_TASK_TIMEOUT_S = 120.0
# Folder samples longer than this are cut: the attack and body carry the timbre.
FOLDER_MAX_SECONDS = 4.0
# HNSW parameters (usearch and the shared server's pgvector): graph degree and search/build
# breadth. Recall on real embeddings (`tools.bench.search_scale`): 0.999-1.000 up to 10^5; at
# 10^6 of crowded jittered copies 0.77, and expansion_search 512 only reaches 0.81 (the graph,
# not the breadth), so the search breadth stays at 64.
HNSW_CONNECTIVITY = 16
HNSW_EXPANSION_ADD = 128
HNSW_EXPANSION_SEARCH = 64
