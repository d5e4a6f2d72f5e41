"""Resident memory: reading it, and the ceiling past which the daemon drops its connections.

libzmq enforces a size limit per frame (ZMQ_MAXMSGSIZE) before it buffers the frame, but it
hands a multipart message to the application only once every frame has arrived, so a client
can make it buffer many maximum-size frames (or many clients one each) before the daemon can
look. The guard bounds what that costs: the loop reads its resident size every poll (50 ms)
and, past the ceiling, closes the socket (libzmq frees every partial message and queue) and
listens again.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os
import sys

import psutil

from cir.daemon.constants import DAEMON_MEMORY_HEADROOM_BYTES
from cir.daemon.logs import LOGGER_NAME

# glibc: allocations from this size on get their own mapping, handed back to the system when
# freed, so a burst of large requests does not leave resident memory high (Linux only).
DAEMON_MALLOC_MMAP_THRESHOLD = 256 * 1024

log = logging.getLogger(LOGGER_NAME)

_M_MMAP_THRESHOLD = -3  # glibc mallopt parameter


def rss_bytes(pid: int | str = "self") -> int | None:
    """Resident memory of a process in bytes (psutil: Linux, macOS, Windows), or None when the
    process is gone or its memory cannot be read."""
    try:
        process = _self() if pid == "self" else psutil.Process(int(pid))
        return int(process.memory_info().rss)
    except (psutil.Error, OSError, ValueError):
        return None


@functools.cache
def _self() -> psutil.Process:
    return psutil.Process(os.getpid())


def peak_rss_bytes(pid: int | str = "self") -> int | None:
    """The highest resident memory a process has had (Linux VmHWM: tests and tools), or None
    where unknown."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


def release_large_blocks() -> bool:
    """Make glibc map large blocks on their own (returned to the system when freed) instead of
    raising its threshold as it goes; True when set. A no-op outside glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, DAEMON_MALLOC_MMAP_THRESHOLD))
    except (OSError, AttributeError):
        return False


class MemoryGuard:
    """Trips when resident memory passes `baseline + headroom` (disabled where RSS is unknown)."""

    def __init__(self, headroom: int = DAEMON_MEMORY_HEADROOM_BYTES):
        self.headroom = int(headroom)
        self.baseline = rss_bytes()
        self.trips = 0

    @property
    def enabled(self) -> bool:
        return self.baseline is not None and self.headroom > 0

    @property
    def ceiling(self) -> int | None:
        if self.baseline is None or self.headroom <= 0:
            return None
        return self.baseline + self.headroom

    def over(self) -> int | None:
        """The resident size when it is past the ceiling, else None."""
        ceiling = self.ceiling
        if ceiling is None:
            return None
        rss = rss_bytes()
        return rss if rss is not None and rss > ceiling else None

    def tripped(self, rss: int) -> None:
        """Count a trip; if memory stays high after the reset (not the socket's), move the
        baseline up so the guard does not fire forever on memory it cannot free."""
        self.trips += 1
        after = rss_bytes()
        ceiling = self.ceiling or 0
        log.warning(
            "resident memory %.0f MB passed the ceiling %.0f MB: dropped every connection "
            "and queued request (trip %d); now %.0f MB",
            rss / 1e6, ceiling / 1e6, self.trips, (after or 0) / 1e6,
        )
        if after is not None and after > ceiling - self.headroom // 4:
            self.baseline = after
            log.warning("memory stayed high after the reset: new baseline %.0f MB", after / 1e6)
