"""Per-family top-k search by cosine over one embedder version's preset vectors.

Up to SEARCH_EXACT_MAX vectors: exact, a float32 matrix per family in memory and
`X @ q` + argpartition. Beyond: a usearch HNSW index per family, saved in
`<db>.index/<version>/` with a manifest holding the catalogue generation it reflects and the
fingerprint of every entry; when the catalogue moved on, the next build (or load) adds the new
entries to the saved graphs and removes the gone ones, and builds afresh only when the graphs
are missing, unreadable, of other parameters, or hold too many removed nodes.

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
from typing import Any, Protocol

import numpy as np

from cir.errors import import_optional
from cir.families import FAMILIES, normalise_family
from cir.presets_db.catalogue import Catalogue
from cir.presets_db.constants import HNSW_CONNECTIVITY, HNSW_EXPANSION_ADD, HNSW_EXPANSION_SEARCH
from cir.presets_db.errors import CatalogueError, EmbedderMismatchError

# Exact search (numpy) up to this many vectors per embedder version; HNSW (usearch) beyond.
# From `tools.bench.search_scale` on the shipped encoder's vectors (docs/BENCHMARKS.md, "Catalogue
# search on real embeddings", run 3): exact on one BLAS thread takes 0.5 ms at 10^5 and 7.7 ms
# (p95 8.7) at 10^6, always exact; usearch HNSW takes 0.15 ms at 10^6 but finds only 77% of
# the true top 5 there. Beyond 10^6 exact passes 10 ms, and the index takes over.
SEARCH_EXACT_MAX = 1_000_000
# A saved HNSW index is updated in place (usearch add/remove) as entries come and go; removed
# nodes stay in the graph as tombstones, so past this share of removals it is built afresh.
HNSW_MAX_REMOVED_FRACTION = 0.25
# Threads that insert into an HNSW graph. usearch's concurrent inserts leave a node unreachable
# now and then: 28 of 3,000 nodes in 30 graphs of 100 (each then missing from every answer,
# tests/test_search_incremental.py caught it), none with one thread.
HNSW_BUILD_THREADS = 1


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


class FamilyIndex:
    """The search API every index shares: per-family top k of one embedder version."""

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


class ExactIndex(FamilyIndex):
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


MANIFEST_FILE = "manifest.json"
ENTRIES_FILE = "entries.npz"
# Odd 64-bit multipliers of the fingerprint hash (fixed: saved fingerprints must stay valid).
_MIX = np.random.default_rng(0x5EED).integers(1, 2**63, size=4096, dtype=np.uint64) | np.uint64(1)
_CHUNK = 65_536


def _graph_params() -> dict[str, int]:
    """What shapes a saved graph (a change rebuilds it); the search breadth is set on load."""
    return {
        "connectivity": HNSW_CONNECTIVITY,
        "expansion_add": HNSW_EXPANSION_ADD,
    }


def fingerprints(
    ids: np.ndarray, matrix: np.ndarray, families: Sequence[str] | np.ndarray
) -> np.ndarray:
    """One uint64 per row from its id, family and vector bits: an entry whose vector or family
    changed gets a new key, so the index update removes the old node and adds the new one."""
    matrix = np.ascontiguousarray(matrix, np.float32)
    n, dim = matrix.shape if matrix.ndim == 2 else (0, 0)
    if dim > _MIX.size:
        raise CatalogueError(f"vectors of {dim} dimensions: the fingerprint handles {_MIX.size}")
    keys = np.empty(n, np.uint64)
    family_code = np.array([hash_family(f) for f in families], np.uint64).reshape(-1)
    with np.errstate(over="ignore"):
        for start in range(0, n, _CHUNK):  # chunks keep the 10^6 case's temporaries small
            bits = matrix[start : start + _CHUNK].view(np.uint32).astype(np.uint64)
            keys[start : start + _CHUNK] = (bits * _MIX[:dim]).sum(axis=1)
        keys ^= ids.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        keys ^= family_code
    return keys


def hash_family(family: str) -> int:
    return int.from_bytes(family.encode()[:8].ljust(8, b"\0"), "little") * 0x100000001B3 % 2**64


@dataclass
class Entries:
    """What a saved HNSW index holds: each entry's id, family and fingerprint key."""

    ids: np.ndarray
    families: np.ndarray
    keys: np.ndarray

    @classmethod
    def empty(cls) -> Entries:
        return cls(np.zeros(0, np.int64), np.zeros(0, "U16"), np.zeros(0, np.uint64))

    @classmethod
    def of(cls, ids: np.ndarray, matrix: np.ndarray, families: Sequence[str]) -> Entries:
        fam = np.asarray(families, dtype="U16").reshape(-1)
        return cls(np.asarray(ids, np.int64), fam, fingerprints(ids, matrix, fam))

    def save(self, path: Path) -> None:
        with path.open("wb") as f:
            np.savez(f, ids=self.ids, families=self.families, keys=self.keys)

    @classmethod
    def load(cls, path: Path) -> Entries:
        with np.load(path, allow_pickle=False) as data:
            return cls(data["ids"], data["families"], data["keys"])


class HnswIndex(FamilyIndex):
    """Approximate cosine search: one usearch HNSW graph per family.

    Saved in a folder with a manifest and `entries.npz` (each entry's id, family and vector
    fingerprint), so that `update` can bring a saved graph up to date with the catalogue by
    adding and removing only what changed."""

    kind = "hnsw"

    def __init__(
        self,
        indexes: dict[str, Any],  # usearch.index.Index per family (an optional import)
        dim: int,
        embedder_version: str,
        entries: Entries | None = None,
        removed: int = 0,
    ):
        self._indexes = indexes
        self.entries = entries if entries is not None else Entries.empty()
        self.removed = removed  # entries removed from the graphs since the last full build
        self.origin = "built"  # how load_index got it: built, saved, or updated (+a -r)
        super().__init__({f: len(i) for f, i in indexes.items()}, dim, embedder_version)

    @staticmethod
    def _new_graph(dim: int) -> Any:
        Index = import_optional("usearch.index", "ann").Index

        return Index(
            ndim=dim,
            metric="cos",
            dtype="f32",
            connectivity=HNSW_CONNECTIVITY,
            expansion_add=HNSW_EXPANSION_ADD,
            expansion_search=HNSW_EXPANSION_SEARCH,
        )

    @classmethod
    def build(
        cls, parts: Parts, embedder_version: str, threads: int = HNSW_BUILD_THREADS,
        entries: Entries | None = None,
    ) -> HnswIndex:
        """Build one graph per family from {family: (ids, unit vectors)}."""
        indexes = {}
        dim = next((m.shape[1] for _, m in parts.values()), 0)
        for family, (ids, matrix) in sorted(parts.items()):
            if len(ids):
                indexes[family] = cls._new_graph(dim)
                indexes[family].add(ids.astype(np.uint64), matrix, threads=threads)
        return cls(indexes, dim, embedder_version, entries)

    @property
    def memory_bytes(self) -> int:
        return sum(int(i.memory_usage) for i in self._indexes.values())

    def update(
        self, ids: np.ndarray, matrix: np.ndarray, now: Entries,
        threads: int = HNSW_BUILD_THREADS,
    ) -> tuple[int, int]:
        """Bring the graphs to these rows (`now` = Entries.of them): remove the entries that
        left (or whose vector or family changed), add the new ones; returns (added, removed)."""
        gone = ~np.isin(self.entries.keys, now.keys)
        new = ~np.isin(now.keys, self.entries.keys)
        for family in np.unique(self.entries.families[gone]):
            graph = self._indexes[str(family)]
            graph.remove(self.entries.ids[gone & (self.entries.families == family)].astype(
                np.uint64))
        for family in np.unique(now.families[new]):
            rows = new & (now.families == family)
            graph = self._indexes.get(str(family))
            if graph is None:
                graph = self._indexes[str(family)] = self._new_graph(self.dim)
            graph.add(ids[rows].astype(np.uint64), matrix[rows], threads=threads)
        self._indexes = {f: g for f, g in self._indexes.items() if len(g)}
        self.entries = now
        self.removed += int(gone.sum())
        self.counts = {f: len(self._indexes[f]) for f in FAMILIES if f in self._indexes}
        return int(new.sum()), int(gone.sum())

    def save(self, folder: Path, generation: int) -> None:
        """Write the graphs, entries and manifest into `folder` (replacing what was there)."""
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for family, index in self._indexes.items():
            index.save(str(tmp / f"{family}.usearch"))
        self.entries.save(tmp / ENTRIES_FILE)
        manifest = {
            "embedder_version": self.embedder_version,
            "generation": generation,
            "dim": self.dim,
            "counts": self.counts,
            "removed": self.removed,
            "params": _graph_params(),
        }
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1))
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)

    @classmethod
    def open(cls, folder: Path) -> tuple[HnswIndex, int] | None:
        """(the saved index in `folder`, the catalogue generation it reflects), or None when
        it is missing, unreadable or built with other graph parameters."""
        Index = import_optional("usearch.index", "ann").Index

        try:
            manifest = json.loads((folder / MANIFEST_FILE).read_text())
            if manifest.get("params") != _graph_params():
                return None
            entries = Entries.load(folder / ENTRIES_FILE)
            indexes = {f: Index.restore(str(folder / f"{f}.usearch")) for f in manifest["counts"]}
        except (OSError, ValueError, KeyError, RuntimeError):
            return None
        if any(i is None or len(i) != manifest["counts"][f] for f, i in indexes.items()):
            return None
        index = cls(indexes, manifest["dim"], manifest["embedder_version"], entries,
                    int(manifest.get("removed", 0)))
        index.set_expansion_search(HNSW_EXPANSION_SEARCH)
        if index.size != len(entries.ids):
            return None
        return index, int(manifest["generation"])

    @classmethod
    def load(cls, folder: Path, generation: int) -> HnswIndex | None:
        """The saved index in `folder` if it was built at `generation`, else None (stale)."""
        opened = cls.open(folder)
        if opened is None or opened[1] != generation:
            return None
        return opened[0]

    def set_expansion_search(self, ef: int) -> None:
        """Search breadth of every graph (recall against speed; no rebuild needed)."""
        for graph in self._indexes.values():
            graph.expansion_search = int(ef)

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


class SearchSource(Protocol):
    """A catalogue that searches itself (the shared server): load_index hands over to it."""

    def search_index(self, embedder_version: str, exact_max: int | None) -> SearchIndex: ...


class SearchIndex(Protocol):
    """What the daemon's matcher needs of an index (ExactIndex, HnswIndex, the server's)."""

    kind: str
    counts: dict[str, int]

    @property
    def size(self) -> int: ...

    def search(self, vector: np.ndarray, family: str, k: int) -> list[Hit]: ...


def load_index(
    catalogue: Catalogue | SearchSource, embedder_version: str, exact_max: int | None = None
) -> SearchIndex:
    """The search index for `embedder_version`: exact when small, HNSW (saved beside the
    database, updated in place as entries come and go) when large; a shared catalogue's own
    index when `catalogue` is one (cir.presets_db.shared)."""
    if not isinstance(catalogue, Catalogue):
        return catalogue.search_index(embedder_version, exact_max)
    exact_max = SEARCH_EXACT_MAX if exact_max is None else exact_max
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
    return _hnsw_index(catalogue, embedder_version)


def _hnsw_index(catalogue: Catalogue, embedder_version: str) -> HnswIndex:
    """The saved graph as is when fresh; else updated with the entries added, changed and
    removed since it was saved; built anew only when missing, unreadable, of other graph
    parameters or another vector size, or when removals left too many dead nodes."""
    folder = index_folder(catalogue, embedder_version)
    generation = catalogue.generation()
    opened = HnswIndex.open(folder)
    if opened is not None and opened[1] == generation:
        opened[0].origin = "saved"
        return opened[0]
    ids, matrix, families = catalogue.vectors(embedder_version)
    now = Entries.of(ids, matrix, families)
    index = opened[0] if opened is not None else None
    if index is not None and _updatable(index, embedder_version, matrix.shape[1], now):
        added, removed = index.update(ids, matrix, now)
        index.origin = f"updated (+{added} -{removed})"
    else:
        index = HnswIndex.build(split_by_family(ids, matrix, families), embedder_version,
                                entries=now)
        index.origin = "built"
    index.save(folder, generation)
    return index


def _updatable(index: HnswIndex, embedder_version: str, dim: int, now: Entries) -> bool:
    removing = int((~np.isin(index.entries.keys, now.keys)).sum())
    dead = (index.removed + removing) / max(len(now.ids), 1)
    return (
        index.embedder_version == embedder_version
        and index.dim == dim
        and dead <= HNSW_MAX_REMOVED_FRACTION
    )


def refresh_index(
    catalogue: Catalogue, embedder_version: str, exact_max: int | None = None
) -> None:
    """After a build: (re)build the saved HNSW index if this version needs one and it is stale."""
    exact_max = SEARCH_EXACT_MAX if exact_max is None else exact_max
    if catalogue.embedder_versions().get(embedder_version, 0) > exact_max:
        load_index(catalogue, embedder_version, exact_max)
