"""The daemon's named exceptions."""

from __future__ import annotations

from cir.errors import CIRError


class DaemonError(CIRError):
    """Base class of daemon errors."""


class AlreadyRunningError(DaemonError):
    """Another daemon holds the single-instance lock."""


class DaemonNotRunningError(DaemonError):
    """No daemon answers at the endpoint (stop/status found nothing to talk to)."""


class DaemonStartError(DaemonError):
    """A background daemon was started but never answered a ping."""


class NoCatalogueError(DaemonError):
    """The catalogue file is missing or holds no entries for the loaded encoder."""
