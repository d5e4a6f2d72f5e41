"""Named exceptions of the catalogue; each message names the value, the expectation and the fix."""

from __future__ import annotations

from cir.errors import CIRError


class CatalogueError(CIRError):
    """Base class of every catalogue error."""


class MigrationError(CatalogueError):
    """The database schema cannot be brought to the version this CIR expects."""


class SourceError(CatalogueError):
    """A source (SoundFont, plugin, folder, bank) cannot be read or is not what it claims to be."""


class UnknownSourceError(CatalogueError):
    """A source id or path that is not registered in the catalogue."""


class UnknownPresetError(CatalogueError):
    """A preset id that is not in the catalogue."""


class RenderError(CatalogueError):
    """One preset could not be rendered (the build records it as failed and goes on)."""


class EmbedderMismatchError(CatalogueError):
    """The catalogue holds embeddings of another embedder version than the one asked for."""


class NoSourcesError(CatalogueError):
    """`build` was asked to re-scan a catalogue that has no registered source."""


class EngineError(CatalogueError):
    """The build engine cannot be used: an unknown name, or a Ray cluster it cannot reach."""
