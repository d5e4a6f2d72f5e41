"""Per-family top-k search by cosine over one embedder version's preset vectors.

Up to defaults.SEARCH_EXACT_MAX vectors: exact, a float32 matrix per family in memory and
`X @ q` + argpartition (a few ms at 100k). Beyond: a usearch HNSW index per family, saved in
`<db>.index/<version>/` with a manifest holding the catalogue generation it was built from,
rebuilt by the next build (or the next load) when stale.

API for the daemon:
    index = load_index(catalogue, embedder.version)
    hits = index.search(vector, family="bass", k=5)   # [Hit(preset_id, score), ...]
    hits = index.search(rows, "bass", 5)   # (m, dim): best cosine with any row
    index.size, index.families, index.counts
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cir import defaults
from cir.errors import import_optional
from cir.families import FAMILIES, normalise_family
from cir.presets_db.catalogue import Catalogue
from cir.presets_db.errors import CatalogueError, EmbedderMismatchError


@dataclass(frozen=True)
class Hit:
    """One search result: a catalogue preset id and its cosine similarity (higher is closer)."""

    preset_id: int
    score: float


def _unit(vector: np.ndarray, dim: int) -> np.ndarray:
    v = np.asarray(vector, dtype=np.float32).reshape(-1)
    if v.size != dim:
        raise CatalogueError(
            f"query vector has {v.size} dimensions, the index has {dim}: embed the query "
            "with the embedder version the index was loaded for"
        )
    return v / max(float(np.linalg.norm(v)), 1e-12)


Parts = dict[str, tuple[np.ndarray, np.ndarray]]


def split_by_family(ids: np.ndarray, matrix: np.ndarray, families: Sequence[str]) -> Parts:
    """{family: (ids, rows)} from parallel arrays."""
    fam = np.asarray(families)
    return {f: (ids[fam == f], matrix[fam == f]) for f in sorted(set(families))}


class _Base:
    kind = ""

    def __init__(self, counts: dict[str, int], dim: int, embedder_version: str):
        self.counts = {f: counts[f] for f in FAMILIES if counts.get(f)}
        self.dim = dim
        self.embedder_version = embedder_version

    @property
    def size(self) -> int:
        return sum(self.counts.values())

    @property
    def families(self) -> tuple[str, ...]:
        """Families that have at least one entry, in cir.families order."""
        return tuple(self.counts)

    def search(self, vector: np.ndarray, family: str, k: int) -> list[Hit]:
        """The k presets of `family` closest to `vector`, best first (fewer in a small family).

        `vector` is one query (dim,) or several (m, dim): then a preset scores its best cosine
        with any of them. The top k of that maximum always lie in the union of each row's
        top k, so merging the rows' results is exact, for the HNSW index too."""
        family = normalise_family(family)
        if k < 1:
            raise CatalogueError(f"k={k}: ask for at least 1 result")
        if family not in self.counts:
            return []
        rows = np.asarray(vector, dtype=np.float32)
        if rows.ndim < 2:
            return self._search(_unit(rows, self.dim), family, k)
        best: dict[int, float] = {}
        for row in rows:
            for hit in self._search(_unit(row, self.dim), family, k):
                best[hit.preset_id] = max(hit.score, best.get(hit.preset_id, -np.inf))
        ranked = sorted(best.items(), key=lambda item: -item[1])[:k]
        return [Hit(preset_id, score) for preset_id, score in ranked]

    def _search(self, q: np.ndarray, family: str, k: int) -> list[Hit]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.embedder_version} size={self.size} {self.counts}>"


class ExactIndex(_Base):
    """Exact cosine search on unit vectors held in memory, one matrix per family."""

    kind = "exact"

    def __init__(self, parts: Parts, embedder_version: str):
        self._parts = {
            f: (ids, np.ascontiguousarray(m, np.float32)) for f, (ids, m) in parts.items()
        }
        dim = next((m.shape[1] for _, m in parts.values()), 0)
        super().__init__({f: len(p[0]) for f, p in self._parts.items()}, dim, embedder_version)

    @classmethod
    def from_rows(
        cls, ids: np.ndarray, matrix: np.ndarray, families: Sequence[str], embedder_version: str
    ) -> ExactIndex:
        return cls(split_by_family(ids, matrix, families), embedder_version)

    @property
    def memory_bytes(self) -> int:
        return sum(ids.nbytes + m.nbytes for ids, m in self._parts.values())

    def _search(self, q: np.ndarray, family: str, k: int) -> list[Hit]:
        ids, matrix = self._parts[family]
        scores = matrix @ q
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [Hit(int(ids[i]), float(scores[i])) for i in top]


class HnswIndex(_Base):
    """Approximate cosine search: one usearch HNSW graph per family."""

    kind = "hnsw"

    def __init__(self, indexes: dict[str, object], dim: int, embedder_version: str):
        self._indexes = indexes
        super().__init__({f: len(i) for f, i in indexes.items()}, dim, embedder_version)

    @classmethod
    def build(cls, parts: Parts, embedder_version: str, threads: int = 0) -> HnswIndex:
        """Build one graph per family from {family: (ids, unit vectors)}."""
        Index = import_optional("usearch.index", "ann").Index

        indexes = {}
        dim = next((m.shape[1] for _, m in parts.values()), 0)
        for family, (ids, matrix) in sorted(parts.items()):
            index = Index(
                ndim=dim,
                metric="cos",
                dtype="f32",
                connectivity=defaults.HNSW_CONNECTIVITY,
                expansion_add=defaults.HNSW_EXPANSION_ADD,
                expansion_search=defaults.HNSW_EXPANSION_SEARCH,
            )
            index.add(ids.astype(np.uint64), matrix, threads=threads)
            indexes[family] = index
        return cls(indexes, dim, embedder_version)

    @property
    def memory_bytes(self) -> int:
        return sum(int(i.memory_usage) for i in self._indexes.values())

    def save(self, folder: Path, generation: int) -> None:
        """Write the graphs and a manifest into `folder` (replacing what was there)."""
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for family, index in self._indexes.items():
            index.save(str(tmp / f"{family}.usearch"))
        manifest = {
            "embedder_version": self.embedder_version,
            "generation": generation,
            "dim": self.dim,
            "counts": self.counts,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)

    @classmethod
    def load(cls, folder: Path, generation: int) -> HnswIndex | None:
        """The saved index in `folder` if it was built at `generation`, else None (stale)."""
        Index = import_optional("usearch.index", "ann").Index

        try:
            manifest = json.loads((folder / "manifest.json").read_text())
        except (OSError, ValueError):
            return None
        if manifest.get("generation") != generation:
            return None
        indexes = {f: Index.restore(str(folder / f"{f}.usearch")) for f in manifest["counts"]}
        if any(i is None for i in indexes.values()):
            return None
        return cls(indexes, manifest["dim"], manifest["embedder_version"])

    def _search(self, q: np.ndarray, family: str, k: int) -> list[Hit]:
        index = self._indexes[family]
        matches = index.search(q, min(k, len(index)))
        return [
            Hit(int(key), float(1.0 - d))
            for key, d in zip(matches.keys, matches.distances, strict=True)
        ]


def index_folder(catalogue: Catalogue, embedder_version: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", embedder_version)
    return catalogue.index_dir / safe


def load_index(
    catalogue: Catalogue, embedder_version: str, exact_max: int | None = None
) -> ExactIndex | HnswIndex:
    """The search index for `embedder_version`: exact when small, HNSW (saved) when large."""
    exact_max = defaults.SEARCH_EXACT_MAX if exact_max is None else exact_max
    versions = catalogue.embedder_versions()
    count = versions.get(embedder_version, 0)
    if count == 0 and versions:
        raise EmbedderMismatchError(
            f"catalogue {catalogue.path} has no vectors of embedder {embedder_version!r} "
            f"(it has {', '.join(sorted(versions))}); re-embed with "
            "`cir catalogue build --embedder ...` using the daemon's embedder"
        )
    if count <= exact_max:
        ids, matrix, families = catalogue.vectors(embedder_version)
        return ExactIndex.from_rows(ids, matrix, families, embedder_version)
    folder = index_folder(catalogue, embedder_version)
    generation = catalogue.generation()
    saved = HnswIndex.load(folder, generation)
    if saved is not None:
        return saved
    ids, matrix, families = catalogue.vectors(embedder_version)
    index = HnswIndex.build(split_by_family(ids, matrix, families), embedder_version)
    index.save(folder, generation)
    return index


def refresh_index(
    catalogue: Catalogue, embedder_version: str, exact_max: int | None = None
) -> None:
    """After a build: (re)build the saved HNSW index if this version needs one and it is stale."""
    exact_max = defaults.SEARCH_EXACT_MAX if exact_max is None else exact_max
    if catalogue.embedder_versions().get(embedder_version, 0) > exact_max:
        load_index(catalogue, embedder_version, exact_max)
