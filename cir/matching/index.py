"""The catalogue's searchable index for one encoder, kept in step with the catalogue.

It reloads the index when the catalogue changes on disk (its generation counter moves) or on
demand (`rebuild`), and describes each hit from the same snapshot it searched. The
catalogue is a SQLite file or a shared catalogue's URL (presets_db.shared): a server that
cannot be reached leaves the daemon serving, each match answering why, until it is back.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from cir import paths
from cir.errors import CIRError
from cir.families import FAMILIES
from cir.matching.result import Hit
from cir.presets_db.catalogue import Catalogue
from cir.presets_db.search import SearchIndex
from cir.presets_db.shared import (
    SharedCatalogue,
    SharedCatalogueError,
    catalogue_ref,
    is_url,
    open_catalogue,
    redact,
)
from cir.query import QueryError

# The daemon's log takes this logger's records too (cir.daemon.logs.setup_logging).
log = logging.getLogger("cir.matching")


class CatalogueIndex:
    """A catalogue's entries for one encoder version, searched per family."""

    def __init__(self, catalogue_path: str | Path | None, version: str):
        self.version = version  # the embedder version whose vectors are searched
        self.catalogue_path = catalogue_ref(catalogue_path, paths.catalogue_path)
        self.catalogue_name = redact(str(self.catalogue_path))  # for messages: no password
        self._catalogue: Catalogue | SharedCatalogue | None = None
        self._index: SearchIndex | None = None
        self._generation: int | None = None
        self._file_id: tuple[int, int] | None = None
        self._records: dict[int, dict[str, Any]] = {}
        self.problem: str | None = None  # why the catalogue is not searchable, if it is not
        self._lock = threading.Lock()

    # --- loading ---------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Entries searchable with the loaded encoder (0 without a catalogue)."""
        return int(self._index.size) if self._index is not None else 0

    def load(self) -> int:
        """(Re)open the catalogue and load its index for this encoder; returns the size."""
        with self._lock:
            self._close()
            self.problem = None
            if not self._present():
                log.warning("no catalogue at %s yet: matches will fail", self.catalogue_name)
                return 0
            try:
                self._catalogue = open_catalogue(self.catalogue_path)
                self._file_id = self._identity()
                with self._catalogue.snapshot():
                    return self._load_index()
            except SharedCatalogueError as exc:  # its server is down: serve, say why
                self._close()
                self.problem = str(exc)
                log.warning("catalogue not searchable: %s", exc)
                return 0

    def _present(self) -> bool:
        return is_url(self.catalogue_path) or Path(self.catalogue_path).is_file()

    def _load_index(self) -> int:
        """Load the index inside the caller's snapshot: generation and vectors agree."""
        from cir.presets_db.search import load_index

        catalogue = self._opened()
        self._records.clear()
        self._index = None
        self.problem = None
        self._generation = catalogue.generation()
        try:
            self._index = load_index(catalogue, self.version)
        except CIRError as exc:  # e.g. vectors of another encoder only: serve, say why
            self.problem = str(exc)
            log.warning("catalogue not searchable: %s", exc)
            return 0
        log.info(
            "catalogue %s loaded: %d entries for encoder %s (generation %s)",
            self.catalogue_name, self.size, self.version, self._generation,
        )
        return self.size

    def refresh(self) -> bool:
        """Reload when the catalogue appeared or changed since the last load; True if so."""
        if self._catalogue is None:
            if self._present():
                self.load()
                return True
            return False
        try:
            generation = self._catalogue.generation()
        except Exception:  # the database broke under us: start over
            generation = None
        # A file replaced (not written in place) keeps the old generation on our connection.
        if generation != self._generation or self._identity() != self._file_id:
            self.load()
            return True
        return False

    def _identity(self) -> tuple[int, int] | None:
        if is_url(self.catalogue_path):
            return None
        try:
            st = Path(self.catalogue_path).stat()
        except OSError:
            return None
        return (st.st_dev, st.st_ino)

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._catalogue is not None:
            self._catalogue.close()
        self._catalogue = self._index = self._generation = None
        self._records.clear()

    def _opened(self) -> Catalogue | SharedCatalogue:
        """The open catalogue (load() opened it; callers check that it did)."""
        if self._catalogue is None:
            raise QueryError("no_catalogue", f"the catalogue {self.catalogue_name} is not open")
        return self._catalogue

    # --- matching --------------------------------------------------------------------------

    def _record(self, preset_id: int) -> dict[str, Any]:
        cached = self._records.get(preset_id)
        if cached is None:
            rec = self._opened().preset(preset_id)
            cached = {
                "preset_id": int(rec.id),
                "name": rec.name,
                "family": rec.family,
                "key": rec.key,
                "source": rec.source.kind,
                "source_path": rec.source.path,
                "locator": rec.locator,
                "preview": str(rec.preview) if rec.preview else None,
            }
            self._records[preset_id] = cached
        return cached

    def search(
        self, vectors: dict[str, np.ndarray], k: int, families: tuple[str, ...] | None
    ) -> dict[str, list[Hit]]:
        """Per family, the `k` entries closest to its query vectors (best first).

        The search and the description of its hits run in one read transaction whose
        generation matches the loaded index (reloaded first when the catalogue moved on): a
        preset deleted meanwhile is either still in that snapshot or not in the index, so a
        match racing a catalogue change never meets an id it cannot describe.
        """
        try:
            return self._search(vectors, k, families)
        except SharedCatalogueError as exc:  # the shared catalogue's server went away
            self.problem = str(exc)
            raise QueryError("no_catalogue", str(exc)) from None

    def _search(
        self, vectors: dict[str, np.ndarray], k: int, families: tuple[str, ...] | None
    ) -> dict[str, list[Hit]]:
        results: dict[str, list[Hit]] = {}
        catalogue = self._opened()
        with self._lock, catalogue.snapshot():
            if catalogue.generation() != self._generation:
                self._load_index()  # changed since refresh(): search what this snapshot holds
                self.require_entries()
            index = self._index
            assert index is not None  # require_entries passed
            for family in families or FAMILIES:
                hits = index.search(vectors[family], family, k)
                if not hits and families is None:
                    continue  # all-families queries list only families the catalogue has
                results[family] = [
                    Hit(rank=rank, **self._record(int(hit.preset_id)), score=float(hit.score))
                    for rank, hit in enumerate(hits, start=1)
                ]
        return results

    def require_entries(self) -> None:
        """QueryError("no_catalogue") unless the index has entries, naming what to do."""
        if self._index is not None and self.size > 0:
            return
        if self.problem:
            raise QueryError("no_catalogue", self.problem)
        raise QueryError(
            "no_catalogue",
            f"the catalogue {self.catalogue_name} has no entries for encoder "
            f"{self.version}: fill it with `cir catalogue add-builtin` (or "
            "add-sf2 / add-vst3 / add-folder), then run `cir catalogue reload`",
        )
