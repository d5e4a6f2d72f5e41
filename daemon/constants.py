"""The daemon's settings: limits, timings and sizes its modules share.

Used by this package alone: cir.defaults keeps the contracts between layers."""

from __future__ import annotations

# Memory guard: when resident memory passes the daemon's size at start-up plus this headroom,
# it drops every connection and every queued request (libzmq then frees what it buffered) and
# listens again. The headroom holds a full queue plus the largest request in flight.
DAEMON_MEMORY_HEADROOM_BYTES = 1024 * 1024 * 1024
# "Find similar" and catalogue search page sizes.
WEB_SIMILAR_K = 12
WEB_CATALOGUE_PAGE = 200
