"""The page's read-only view of the catalogue: search, entries, previews, similar, 2-D maps.

It opens its own SQLite connection (WAL: reads never block the daemon's loop) and its own copy
of the vectors, keyed by the catalogue's generation, so nothing here touches the matcher the
ZeroMQ loop uses. Preview files are resolved from the catalogue by preset id and must lie in
the catalogue's own previews folder: no client-supplied path is ever opened.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from cir import paths
from cir.daemon.constants import WEB_CATALOGUE_PAGE, WEB_SIMILAR_K
from cir.daemon.logs import LOGGER_NAME
from cir.errors import CIRError
from cir.families import FAMILIES, FAMILY_SPECS

# The 2-D map: t-SNE (scikit-learn) over one family's vectors; perplexity as in the t-SNE paper's
# default, lowered for small families (it must stay below the number of points).
WEB_MAP_PERPLEXITY = 30.0
WEB_MAP_SEED = 0
# The query is placed on the map at the score-weighted mean of its top hits (t-SNE has no
# out-of-sample transform); weights are exp(score / this temperature), so the closest dominate.
WEB_MAP_QUERY_TEMPERATURE = 0.05

log = logging.getLogger(LOGGER_NAME)


class NotFoundError(CIRError):
    """The page asked for a preset, preview or answer that does not exist."""


class CatalogueView:
    """Catalogue queries for the page, against the daemon's catalogue and embedder version."""

    def __init__(self, catalogue_path: str | Path, embedder_version: Callable[[], str]):
        self.path = Path(catalogue_path)
        self._version = embedder_version
        self._catalogue = None
        self._file_id: tuple[int, int] | None = None
        self._lock = threading.RLock()
        self._vectors: dict[tuple[str, int], tuple[np.ndarray, np.ndarray, list[str]]] = {}
        self._maps: dict[tuple[str, int, str], dict[str, Any]] = {}

    # --- connection --------------------------------------------------------------------------

    def _open(self):
        """The catalogue, reopened when the file was replaced; None when there is none yet."""
        try:
            st = self.path.stat()
        except OSError:
            self.close()
            return None
        identity = (st.st_dev, st.st_ino)
        if self._catalogue is None or identity != self._file_id:
            from cir.presets_db.catalogue import Catalogue

            self.close()
            self._catalogue = Catalogue.open(self.path)
            self._file_id = identity
        return self._catalogue

    def close(self) -> None:
        with self._lock:
            if self._catalogue is not None:
                self._catalogue.close()
            self._catalogue = None
            self._vectors.clear()

    # --- listings ----------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """Entries per family and the sources, for the page's filters and the empty-state hint."""
        with self._lock:
            catalogue = self._open()
            if catalogue is None:
                return {"path": str(self.path), "entries": 0, "by_family": {}, "sources": []}
            stats = catalogue.stats()
        sources = [
            {"id": int(sid), "kind": s["kind"], "path": s["path"], "entries": s["entries"]}
            for sid, s in stats["by_source"].items()
        ]
        return {
            "path": stats["path"],
            "entries": stats["entries"],
            "by_family": stats["by_family"],
            "sources": sources,
            "embedder_version": self._version(),
            "vectors": stats["embedders"].get(self._version(), 0),
        }

    def search(
        self,
        text: str = "",
        family: str | None = None,
        source: str | None = None,
        limit: int = WEB_CATALOGUE_PAGE,
        offset: int = 0,
    ) -> dict[str, Any]:
        """One page of entries whose name, key or tags hold every word of `text`."""
        with self._lock:
            catalogue = self._open()
            if catalogue is None:
                return {"total": 0, "entries": []}
            total, records = catalogue.find(text, family or None, source or None, limit, offset)
        return {"total": total, "entries": [entry_json(r) for r in records]}

    def preset(self, preset_id: int) -> dict[str, Any]:
        """One entry with where it lives and how to get it into a DAW."""
        record = self._record(preset_id)
        return {**entry_json(record), "how": how_to_use(
            record.source.kind, record.locator, record.key, record.family)}

    def _record(self, preset_id: int):
        from cir.presets_db.errors import UnknownPresetError

        with self._lock:
            catalogue = self._open()
            if catalogue is None:
                raise NotFoundError(f"no catalogue at {self.path}")
            try:
                return catalogue.preset(preset_id)
            except UnknownPresetError:
                raise NotFoundError(f"preset {preset_id} is not in the catalogue") from None

    def picks(self, limit: int = 100) -> dict[str, Any]:
        """The producer's latest picks ("this one" in the plugin), newest first."""
        from cir.presets_db.picks import list_picks

        with self._lock:
            catalogue = self._open()
            picks = [] if catalogue is None else list_picks(catalogue, limit)
        return {"picks": [p.to_dict() for p in picks]}

    def preview_path(self, preset_id: int) -> Path:
        """The preview file of a preset, only if it lies inside the catalogue's previews folder."""
        from cir.presets_db.errors import UnknownPresetError

        with self._lock:
            catalogue = self._open()
            if catalogue is None:
                raise NotFoundError(f"no catalogue at {self.path}")
            try:
                path = catalogue.preview_file(preset_id)
            except UnknownPresetError:
                raise NotFoundError(f"preset {preset_id} is not in the catalogue") from None
        if path is None:
            raise NotFoundError(f"preset {preset_id} has no preview file")
        return path

    # --- vectors: similar and map ------------------------------------------------------------

    def _matrix(self) -> tuple[np.ndarray, np.ndarray, list[str], int]:
        """(ids, unit rows, families, generation) of the ok entries for this embedder."""
        version = self._version()
        with self._lock:
            catalogue = self._open()
            if catalogue is None:
                return np.zeros(0, np.int64), np.zeros((0, 0), np.float32), [], 0
            generation = catalogue.generation()
            key = (version, generation)
            if key not in self._vectors:
                ids, rows, families = catalogue.vectors(version)
                if rows.size:
                    rows = rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
                self._vectors = {key: (ids, rows, families)}
            ids, rows, families = self._vectors[key]
        return ids, rows, families, generation

    def similar(self, preset_id: int, k: int = WEB_SIMILAR_K) -> dict[str, Any]:
        """The k entries of the same family closest to this one (cosine of stored vectors)."""
        record = self._record(preset_id)
        ids, rows, families, _ = self._matrix()
        where = np.flatnonzero(ids == preset_id)
        if where.size == 0:
            raise NotFoundError(
                f"preset {preset_id} has no vector for encoder {self._version()}: "
                "rebuild the catalogue with `cir catalogue build`"
            )
        same = np.flatnonzero(np.asarray(families) == record.family)
        scores = rows[same] @ rows[where[0]]
        order = [i for i in np.argsort(-scores) if ids[same[i]] != preset_id][:k]
        hits = [(int(ids[same[i]]), float(scores[i])) for i in order]
        return {"of": entry_json(record), "similar": self._describe(hits)}

    def _describe(self, hits: list[tuple[int, float]]) -> list[dict[str, Any]]:
        out = []
        for rank, (pid, score) in enumerate(hits, start=1):
            out.append({**entry_json(self._record(pid)), "rank": rank, "score": round(score, 4)})
        return out

    def map(self, family: str) -> dict[str, Any]:
        """2-D t-SNE coordinates of one family's entries, cached per embedder version and
        catalogue generation (in memory and in the user cache dir)."""
        if family not in FAMILIES:
            raise NotFoundError(f"unknown family {family!r}: one of {', '.join(FAMILIES)}")
        ids, rows, families, generation = self._matrix()
        version = self._version()
        key = (version, generation, family)
        with self._lock:
            if key in self._maps:
                return self._maps[key]
        mine = np.flatnonzero(np.asarray(families, dtype=object) == family)
        cache = self._cache_file(version, generation, family)
        result = _read_json(cache)
        if result is None or len(result.get("points", [])) != mine.size:
            xy = project(rows[mine]) if mine.size else np.zeros((0, 2))
            names = self._names([int(i) for i in ids[mine]])
            result = {
                "family": family,
                "embedder_version": version,
                "generation": generation,
                "method": "t-SNE (scikit-learn)" if mine.size > 3 else "fixed layout",
                "points": [
                    {"id": int(ids[i]), "x": round(float(x), 4), "y": round(float(y), 4),
                     "name": names.get(int(ids[i]), "")}
                    for i, (x, y) in zip(mine, xy, strict=True)
                ],
            }
            _write_json(cache, result)
        with self._lock:
            self._maps = {k: v for k, v in self._maps.items() if k[:2] == key[:2]}
            self._maps[key] = result
        return result

    def _names(self, preset_ids: list[int]) -> dict[int, str]:
        with self._lock:
            catalogue = self._open()
            if catalogue is None:  # removed since the map was drawn
                return {}
            rows = catalogue.db.execute(
                "SELECT id, name FROM presets WHERE status = 'ok'"
            ).fetchall()
        wanted = set(preset_ids)
        return {r[0]: r[1] for r in rows if r[0] in wanted}

    def _cache_file(self, version: str, generation: int, family: str) -> Path:
        # One file per catalogue file, encoder version, generation and family.
        tag = hashlib.sha256(f"{self.path.resolve()}|{version}".encode()).hexdigest()[:16]
        return paths.cache_dir() / "maps" / f"{tag}-g{generation}-{family}.json"


def project(rows: np.ndarray, seed: int = WEB_MAP_SEED) -> np.ndarray:
    """(n, 2) coordinates in [0, 1] of unit vectors: t-SNE on cosine distance (PCA start)."""
    n = rows.shape[0]
    if n <= 3:  # t-SNE needs a few points; place tiny families on a line
        return np.column_stack([np.linspace(0.2, 0.8, n), np.full(n, 0.5)])
    from sklearn.manifold import TSNE

    perplexity = min(WEB_MAP_PERPLEXITY, max(2.0, (n - 1) / 3.0))
    tsne = TSNE(n_components=2, perplexity=perplexity, metric="cosine", init="pca",
                random_state=seed)
    xy = tsne.fit_transform(rows.astype(np.float64))
    xy -= xy.min(axis=0)
    xy /= np.maximum(xy.max(axis=0), 1e-12)
    return xy


def place_query(points: dict[int, tuple[float, float]], hits: list[dict[str, Any]]):
    """Where a query sits on a map: the score-weighted mean of its hits' positions (the
    closest dominate); None when none of its hits is on the map."""
    placed = [(points[h["preset_id"]], float(h["score"])) for h in hits if h["preset_id"] in points]
    if not placed:
        return None
    scores = np.array([s for _, s in placed])
    weights = np.exp((scores - scores.max()) / WEB_MAP_QUERY_TEMPERATURE)
    xy = np.array([p for p, _ in placed]) * weights[:, None]
    x, y = xy.sum(axis=0) / weights.sum()
    return float(x), float(y)


def entry_json(record) -> dict[str, Any]:
    """A catalogue entry as the page shows it (its preview by id, never by path)."""
    return {
        "preset_id": int(record.id),
        "name": record.name,
        "key": record.key,
        "family": record.family,
        "tags": list(record.tags),
        "source": record.source.kind,
        "source_id": int(record.source.id),
        "source_path": record.source.path,
        "locator": record.locator,
        "has_preview": record.preview is not None,
    }


def how_to_use(kind: str, loc: dict[str, Any], key: str, family: str) -> dict[str, Any]:
    """How to get a preset into a DAW: a sentence, the files to open, commands to run."""
    if kind == "builtin":
        pid = loc.get("id", key)
        spec = FAMILY_SPECS.get(family)
        note = spec.canonical_pitch if spec else 60
        return {
            "text": f"A preset of CIR's built-in synth ({pid}). Export it as a preset file, "
                    "render it to a wav with the command below, and load the wav in your "
                    "sampler (or edit the JSON and render again).",
            "files": [],
            "export": True,
            "commands": [f"cir synth render {pid} --note {note} -o {pid}.wav"],
        }
    if kind == "sf2":
        where = f"bank {loc.get('bank')}, program {loc.get('program')}"
        if loc.get("key") is not None:
            where += f", key {loc['key']} (MIDI note)"
        return {
            "text": f"Load the SoundFont in a SoundFont player (e.g. FluidSynth, sfizz, "
                    f"Polyphone) and choose {where}.",
            "files": [loc.get("file")],
            "export": False,
            "commands": [],
            "bank": loc.get("bank"),
            "program": loc.get("program"),
        }
    if kind == "vst3":
        preset = loc.get("preset")
        files = [loc.get("plugin")] + ([preset] if preset else [])
        text = (f"Load the plugin, then its preset file {Path(preset).name}."
                if preset else "Load the plugin: this entry is its default state.")
        return {"text": text, "files": files, "export": False, "commands": []}
    return {  # folder: a sample file
        "text": "Drag the sample into your sampler or onto a track.",
        "files": [loc.get("file")],
        "export": False,
        "commands": [],
    }


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:  # a read-only cache only costs a recompute next time
        log.warning("cannot cache the map at %s: %s", path, exc)
