"""The matcher: one query embedding, then a per-family top-k search of the catalogue.

It holds the loaded embedder and the catalogue's index, and reloads the index when the
catalogue changes on disk (its generation counter moves) or on demand (`rebuild`). The
catalogue is a SQLite file or a shared catalogue's URL (presets_db.shared): a server that
cannot be reached leaves the daemon serving, each match answering why, until it is back.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from cir import defaults, paths
from cir.encoder.api import FamilyEmbedder
from cir.errors import CIRError
from cir.families import FAMILIES
from cir.presets_db.shared import (
    SharedCatalogueError,
    catalogue_ref,
    is_url,
    open_catalogue,
    redact,
)
from cir.protocol import ProtocolError

# The daemon's log takes this logger's records too (cir.daemon.logs.setup_logging).
log = logging.getLogger("cir.matching")


def ms_since(start: float) -> float:
    """Milliseconds since `start` (a time.perf_counter() value), to the microsecond: timings
    in replies and logs."""
    return round((time.perf_counter() - start) * 1000.0, 3)


def limit_blas_threads() -> None:
    """numpy's BLAS (exact search's `X @ q`) on DAEMON_BLAS_THREADS threads, for the rest of
    the process: on busy cores its thread hand-offs, not the arithmetic, set the time."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(defaults.DAEMON_BLAS_THREADS, user_api="blas")


class Matcher:
    """Embed a query once, rank each family's catalogue entries, describe the hits."""

    def __init__(self, embedder: Any, catalogue_path: str | Path):
        self.embedder = embedder
        self.catalogue_path = catalogue_ref(catalogue_path, paths.catalogue_path)
        self.catalogue_name = redact(str(self.catalogue_path))  # for messages: no password
        self._catalogue = None
        self._index = None
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

        self._records.clear()
        self._index = None
        self.problem = None
        self._generation = self._catalogue.generation()
        try:
            self._index = load_index(self._catalogue, self.embedder.version)
        except CIRError as exc:  # e.g. vectors of another encoder only: serve, say why
            self.problem = str(exc)
            log.warning("catalogue not searchable: %s", exc)
            return 0
        log.info(
            "catalogue %s loaded: %d entries for encoder %s (generation %s)",
            self.catalogue_name, self.size, self.embedder.version, self._generation,
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

    # --- matching --------------------------------------------------------------------------

    def _record(self, preset_id: int) -> dict[str, Any]:
        cached = self._records.get(preset_id)
        if cached is None:
            rec = self._catalogue.preset(preset_id)
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

    def embed(
        self, audio: np.ndarray, families: tuple[str, ...]
    ) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        """(query vectors per family, presence per family): a FamilyEmbedder's (m, dim)
        per-family rows (the search scores each entry's best row) and its presence scores
        (empty without a presence head), else one embed_query vector and no presence."""
        if isinstance(self.embedder, FamilyEmbedder):
            by_family, presence = self.embedder.read_query(audio, families)
            return {f: np.asarray(by_family[f], dtype=np.float32) for f in families}, presence
        vector = np.asarray(self.embedder.embed_query(audio), dtype=np.float32)
        return {f: vector for f in families}, {}

    def match(
        self, audio: np.ndarray, k: int, families: tuple[str, ...] | None
    ) -> tuple[dict[str, list[dict[str, Any]]], dict[str, float], dict[str, float]]:
        """(results per family, timings in ms, presence per family: empty when the embedder
        has no presence head) for mono audio at the embedder's rate.

        The search and the description of its hits run in one read transaction whose
        generation matches the loaded index (reloaded first when the catalogue moved on): a
        preset deleted meanwhile is either still in that snapshot or not in the index, so a
        match racing a catalogue change never meets an id it cannot describe.
        """
        self.refresh()
        self._require_entries()
        t0 = time.perf_counter()
        vectors, presence = self.embed(audio, tuple(families or FAMILIES))
        timing = {"embed": ms_since(t0)}
        t1 = time.perf_counter()
        try:
            results = self._search(vectors, k, families)
        except SharedCatalogueError as exc:  # the shared catalogue's server went away
            self.problem = str(exc)
            raise ProtocolError("no_catalogue", str(exc)) from None
        timing["search"] = ms_since(t1)
        return results, timing, {f: p for f, p in presence.items() if f in results}

    def _search(
        self, vectors: dict[str, np.ndarray], k: int, families: tuple[str, ...] | None
    ) -> dict[str, list[dict[str, Any]]]:
        results: dict[str, list[dict[str, Any]]] = {}
        with self._lock, self._catalogue.snapshot():
            if self._catalogue.generation() != self._generation:
                self._load_index()  # changed since refresh(): search what this snapshot holds
                self._require_entries()
            for family in families or FAMILIES:
                hits = self._index.search(vectors[family], family, k)
                if not hits and families is None:
                    continue  # all-families queries list only families the catalogue has
                results[family] = [
                    {"rank": rank, **self._record(int(hit.preset_id)), "score": float(hit.score)}
                    for rank, hit in enumerate(hits, start=1)
                ]
        return results

    def _require_entries(self) -> None:
        if self._index is not None and self.size > 0:
            return
        if self.problem:
            raise ProtocolError("no_catalogue", self.problem)
        raise ProtocolError(
            "no_catalogue",
            f"the catalogue {self.catalogue_name} has no entries for encoder "
            f"{self.embedder.version}: fill it with `cir catalogue add-builtin` (or "
            "add-sf2 / add-vst3 / add-folder), then run `cir catalogue reload`",
        )
