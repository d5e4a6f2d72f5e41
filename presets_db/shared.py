"""A shared catalogue: preset vectors and metadata on a PostgreSQL server with pgvector.

A team publishes one local catalogue with `push` (`cir catalogue push --to URL`) and points
every daemon at the server's URL instead of a file (`--db postgresql://...`); the daemon's
matcher then searches it through the same API as a local index:

    catalogue = open_catalogue("postgresql://cir:...@host:5433/cir")   # or a .db path
    index = load_index(catalogue, embedder.version)    # -> ServerIndex
    hits = index.search(vector, family="bass", k=5)

Tables: cir_meta (the generation, bumped by every push that changed something), cir_presets
(what a hit shows) and cir_vectors (one row per preset and embedder version, with the family
and the fingerprint the push compares). Search is per family and version: one partial HNSW
index per (embedder version, family), searched exactly (index scans off) while the version
has at most SHARED_SEARCH_EXACT_MAX entries (a scan costs more on the server than numpy's
product does locally, and pgvector's graphs keep their recall).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cir.errors import import_optional
from cir.families import FAMILIES
from cir.presets_db.catalogue import Catalogue, PresetRecord, SourceRecord
from cir.presets_db.constants import HNSW_CONNECTIVITY, HNSW_EXPANSION_ADD, HNSW_EXPANSION_SEARCH
from cir.presets_db.errors import (
    CatalogueError,
    EmbedderMismatchError,
    UnknownPresetError,
)
from cir.presets_db.search import FamilyIndex, Hit, fingerprints

# Shared catalogue (presets_db.shared, PostgreSQL + pgvector): seconds to wait for the server
# before saying it cannot be reached (the daemon keeps serving and says why); presets per COPY
# batch of a push (one progress step); memory for pgvector's HNSW build (the build is far
# slower once the graph outgrows it; 10^6 x 256-d needs about 1.3 GB).
SHARED_CONNECT_TIMEOUT_S = 5
# The server searches exactly (a scan of the family, index scans off) up to this many entries
# of a version, its HNSW indexes beyond: they kept recall@5 at 1.000 at 2*10^4 and 10^5 and
# 0.997 at 10^6 (`tools.bench.search_scale`), where a scan cost 16 ms p50 at 10^5 (a first run
# whose planner, lacking statistics, sorted the family instead of using the index).
SHARED_SEARCH_EXACT_MAX = 10_000
SHARED_PUSH_BATCH = 2_000
SHARED_INDEX_BUILD_MEMORY = "2GB"

SCHEMES = ("postgresql://", "postgres://")

_SCHEMA = """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE IF NOT EXISTS cir_meta (key text PRIMARY KEY, value text NOT NULL);
INSERT INTO cir_meta VALUES ('generation', '0'), ('schema', '1') ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS cir_presets (
    id bigint PRIMARY KEY, key text NOT NULL, name text NOT NULL, family text NOT NULL,
    source_kind text NOT NULL, source_path text NOT NULL, locator jsonb NOT NULL,
    tags jsonb NOT NULL
);
CREATE TABLE IF NOT EXISTS cir_vectors (
    embedder_version text NOT NULL, preset_id bigint NOT NULL, family text NOT NULL,
    fingerprint bigint NOT NULL, embedding vector NOT NULL,
    PRIMARY KEY (embedder_version, preset_id)
);
CREATE INDEX IF NOT EXISTS cir_vectors_family ON cir_vectors (embedder_version, family);
"""


class SharedCatalogueError(CatalogueError):
    """The shared catalogue's server cannot be reached or does not hold a CIR catalogue."""


def is_url(ref: str | Path | None) -> bool:
    """True when `ref` names a shared catalogue (a postgresql:// URL), not a file."""
    return isinstance(ref, str) and ref.startswith(SCHEMES)


def catalogue_ref(ref: str | Path | None, default: Callable[[], Path]) -> str | Path:
    """The catalogue option's value as given: a URL stays a string, a path becomes a Path."""
    if not ref:
        return default()
    return ref if is_url(ref) else Path(ref)


def open_catalogue(ref: str | Path | None) -> Catalogue | SharedCatalogue:
    """A local catalogue (a .db path, the default when None) or a shared one (a URL)."""
    if is_url(ref):
        return SharedCatalogue.open(str(ref))
    return Catalogue.open(ref)


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def _driver() -> tuple[Any, Any]:
    psycopg = import_optional("psycopg", "shared")
    register = import_optional("pgvector.psycopg", "shared").register_vector
    return psycopg, register


def connect(url: str, timeout_s: float | None = None) -> Any:
    """An autocommit psycopg connection with pgvector's types, or SharedCatalogueError."""
    psycopg, register = _driver()
    timeout = int(timeout_s or SHARED_CONNECT_TIMEOUT_S)
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=timeout)
    except psycopg.Error as exc:
        raise SharedCatalogueError(_unreachable(url, exc)) from None
    try:
        register(conn)
    except (psycopg.Error, TypeError) as exc:
        conn.close()
        raise SharedCatalogueError(
            f"{redact(url)} has no pgvector extension ({_first_line(exc)}); publish a "
            "catalogue there first with `cir catalogue push --to URL`"
        ) from None
    return conn


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


@dataclass(frozen=True)
class PushSummary:
    """What a push changed on the server, per embedder version."""

    url: str
    versions: dict[str, dict[str, int]]
    generation: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SharedCatalogue:
    """A catalogue on a PostgreSQL + pgvector server: what the daemon's matcher needs of a
    Catalogue (generation, snapshot, preset, embedder_versions), plus search_index and push."""

    def __init__(self, url: str, conn: Any):
        self.url = url
        self.path = redact(url)  # what status lines show where a local catalogue has a path
        self.conn = conn
        self._psycopg = _driver()[0]

    @classmethod
    def open(cls, url: str, create: bool = False) -> SharedCatalogue:
        """Connect; with `create`, set up the tables (the pushing side), else require them."""
        conn = connect(url) if not create else _connect_creating(url)
        catalogue = cls(url, conn)
        if not create and not catalogue._has_schema():
            conn.close()
            raise SharedCatalogueError(
                f"{redact(url)} holds no CIR catalogue yet: publish one with "
                f"`cir catalogue push --db LOCAL.db --to {redact(url)}`"
            )
        return catalogue

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> SharedCatalogue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- reads -----------------------------------------------------------------------------

    def _query(self, sql: Any, params: Sequence[Any] = ()) -> list[tuple]:
        try:
            return self.conn.execute(sql, params).fetchall()
        except self._psycopg.Error as exc:
            raise SharedCatalogueError(
                f"the shared catalogue {self.path} failed: {_first_line(exc)}; check that its "
                "server runs (`cir catalogue server start`)"
            ) from None

    def execute(self, sql: Any, params: Sequence[Any] = ()) -> None:
        """Run a statement that returns no rows (SharedCatalogueError on failure)."""
        try:
            self.conn.execute(sql, params)
        except self._psycopg.Error as exc:
            raise SharedCatalogueError(
                f"the shared catalogue {self.path} failed: {_first_line(exc)}"
            ) from None

    def _has_schema(self) -> bool:
        return bool(self._query("SELECT to_regclass('cir_vectors') IS NOT NULL")[0][0])

    def generation(self) -> int:
        """Bumped by every push that changed something: tells the daemon to reload."""
        return int(self._query("SELECT value FROM cir_meta WHERE key = 'generation'")[0][0])

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[SharedCatalogue]:
        """One repeatable-read transaction: reads inside see one state of the server."""
        try:
            with self.conn.transaction():
                self.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                yield self
        except self._psycopg.Error as exc:
            raise SharedCatalogueError(
                f"the shared catalogue {self.path} failed: {_first_line(exc)}"
            ) from None

    def embedder_versions(self) -> dict[str, int]:
        rows = self._query(
            "SELECT embedder_version, count(*) FROM cir_vectors GROUP BY embedder_version"
        )
        return {r[0]: int(r[1]) for r in rows}

    def preset(self, preset_id: int) -> PresetRecord:
        rows = self._query(
            "SELECT id, key, name, family, source_kind, source_path, locator, tags "
            "FROM cir_presets WHERE id = %s",
            [int(preset_id)],
        )
        if not rows:
            raise UnknownPresetError(f"preset {preset_id} is not in the shared catalogue "
                                     f"{self.path}")
        pid, key, name, family, kind, path, locator, tags = rows[0]
        source = SourceRecord(0, kind, path, {}, "")
        # Previews stay on the publisher's disk: a shared entry has none.
        return PresetRecord(pid, key, name, family, source, locator, tuple(tags))

    def search_index(
        self, embedder_version: str, exact_max: int | None = None
    ) -> ServerIndex:
        """The server-side index of this version (what search.load_index returns for it)."""
        versions = self.embedder_versions()
        if embedder_version not in versions and versions:
            raise EmbedderMismatchError(
                f"the shared catalogue {self.path} has no vectors of embedder "
                f"{embedder_version!r} (it has {', '.join(sorted(versions))}); push a catalogue "
                "built with the daemon's embedder"
            )
        rows = self._query(
            "SELECT family, count(*), max(vector_dims(embedding)) FROM cir_vectors "
            "WHERE embedder_version = %s GROUP BY family",
            [embedder_version],
        )
        counts = {r[0]: int(r[1]) for r in rows}
        dim = int(max((r[2] for r in rows), default=0))
        limit = SHARED_SEARCH_EXACT_MAX if exact_max is None else exact_max
        return ServerIndex(self, counts, dim, embedder_version, exact=sum(counts.values()) <= limit)

    # --- writes ----------------------------------------------------------------------------

    def sync_vectors(
        self,
        embedder_version: str,
        ids: np.ndarray,
        matrix: np.ndarray,
        families: Sequence[str],
        records: Callable[[Sequence[int]], list[dict[str, Any]]],
        progress: Callable[[int], None] | None = None,
        index: bool = True,
    ) -> dict[str, int]:
        """Make the server's vectors of this version equal these rows, in one transaction:
        insert the new or changed ones (with `records(ids)` for their metadata), delete the
        gone ones, bump the generation when something changed; {added, removed, entries}."""
        keys = fingerprints(ids, matrix, families).view(np.int64)
        remote = dict(self._query(
            "SELECT preset_id, fingerprint FROM cir_vectors WHERE embedder_version = %s",
            [embedder_version],
        ))  # fmt: skip
        local = dict(zip(ids.tolist(), keys.tolist(), strict=True))
        gone = [i for i, fp in remote.items() if local.get(i) != fp]
        new = np.array([local[i] != remote.get(i) for i in ids.tolist()], dtype=bool)
        try:
            with self.conn.transaction():
                self._delete(embedder_version, gone)
                self._insert(embedder_version, ids[new], matrix[new], np.asarray(families)[new],
                             keys[new], records, progress)
                if gone or new.any():
                    self.conn.execute("UPDATE cir_meta SET value = (value::bigint + 1)::text "
                                      "WHERE key = 'generation'")
            if index:
                self.ensure_indexes(embedder_version, matrix.shape[1] if matrix.size else 0)
            elif gone or new.any():
                self.conn.execute("ANALYZE cir_vectors")
        except self._psycopg.Error as exc:
            raise SharedCatalogueError(f"push to {self.path} failed: {_first_line(exc)}") from None
        return {"added": int(new.sum()), "removed": len(gone), "entries": len(ids)}

    def _delete(self, embedder_version: str, gone: list[int]) -> None:
        if not gone:
            return
        self.conn.execute(
            "DELETE FROM cir_vectors WHERE embedder_version = %s AND preset_id = ANY(%s)",
            [embedder_version, gone],
        )
        self.conn.execute(
            "DELETE FROM cir_presets p WHERE p.id = ANY(%s) AND NOT EXISTS "
            "(SELECT 1 FROM cir_vectors v WHERE v.preset_id = p.id)",
            [gone],
        )

    def _insert(self, embedder_version: str, ids: np.ndarray, matrix: np.ndarray,
                families: np.ndarray, keys: np.ndarray,
                records: Callable[[Sequence[int]], list[dict[str, Any]]],
                progress: Callable[[int], None] | None) -> None:
        step = SHARED_PUSH_BATCH
        for start in range(0, len(ids), step):
            chunk = ids[start : start + step].tolist()
            self._upsert_presets(records(chunk))
            with self.conn.cursor().copy(
                "COPY cir_vectors (embedder_version, preset_id, family, fingerprint, embedding) "
                "FROM STDIN WITH (FORMAT BINARY)"
            ) as copy:
                copy.set_types(["text", "int8", "text", "int8", "vector"])
                for j in range(start, min(start + step, len(ids))):
                    copy.write_row([embedder_version, int(ids[j]), str(families[j]),
                                    int(keys[j]), matrix[j]])
            if progress is not None:
                progress(len(chunk))

    def _upsert_presets(self, rows: list[dict[str, Any]]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO cir_presets (id, key, name, family, source_kind, source_path, "
                "locator, tags) VALUES (%(id)s, %(key)s, %(name)s, %(family)s, %(source_kind)s, "
                "%(source_path)s, %(locator)s, %(tags)s) ON CONFLICT (id) DO UPDATE SET "
                "key = excluded.key, name = excluded.name, family = excluded.family, "
                "source_kind = excluded.source_kind, source_path = excluded.source_path, "
                "locator = excluded.locator, tags = excluded.tags",
                [{**r, "locator": json.dumps(r["locator"]), "tags": json.dumps(r["tags"])}
                 for r in rows],
            )

    def drop_version(self, embedder_version: str) -> None:
        """Remove one embedder version's vectors and indexes (and presets left without any)."""
        for name in self._index_names(embedder_version):
            self.conn.execute(f'DROP INDEX IF EXISTS "{name}"')
        with self.conn.transaction():
            self.conn.execute("DELETE FROM cir_vectors WHERE embedder_version = %s",
                              [embedder_version])
            self.conn.execute("DELETE FROM cir_presets p WHERE NOT EXISTS "
                              "(SELECT 1 FROM cir_vectors v WHERE v.preset_id = p.id)")
            self.conn.execute("UPDATE cir_meta SET value = (value::bigint + 1)::text "
                              "WHERE key = 'generation'")

    def _index_names(self, embedder_version: str) -> list[str]:
        rows = self._query("SELECT indexname FROM pg_indexes WHERE indexname LIKE %s",
                           [_index_prefix(embedder_version) + "%"])
        return [r[0] for r in rows]

    def version_disk_mb(self) -> int:
        """Megabytes the vectors table and its indexes take on the server's disk."""
        size = self._query("SELECT pg_total_relation_size('cir_vectors')")[0][0]
        return round(int(size) / 2**20)

    def ensure_indexes(self, embedder_version: str, dim: int) -> None:
        """One partial HNSW index per family of this version (pgvector keeps it up to date
        as rows come and go; it is built once, after the first bulk load, which is faster)."""
        if not dim:
            return
        sql = import_optional("psycopg", "shared").sql
        self.conn.execute(sql.SQL("SET maintenance_work_mem = {}").format(
            sql.Literal(SHARED_INDEX_BUILD_MEMORY)))
        for family in FAMILIES:
            name = f"{_index_prefix(embedder_version)}{family}_{dim}"
            self.conn.execute(sql.SQL(
                "CREATE INDEX IF NOT EXISTS {name} ON cir_vectors USING hnsw "
                "((embedding::vector({dim})) vector_cosine_ops) WITH (m = {m}, "
                "ef_construction = {ef}) WHERE embedder_version = {version} AND family = {family}"
            ).format(
                name=sql.Identifier(name), dim=sql.Literal(dim),
                m=sql.Literal(HNSW_CONNECTIVITY),
                ef=sql.Literal(HNSW_EXPANSION_ADD),
                version=sql.Literal(embedder_version), family=sql.Literal(family),
            ))
        # Fresh statistics: without them, after a bulk load, the planner picks the family
        # btree and sorts every row (exact, and 20 times slower at 10^5) over the HNSW index.
        self.conn.execute("ANALYZE cir_vectors")


def _index_prefix(embedder_version: str) -> str:
    return "cir_hnsw_" + hashlib.sha1(embedder_version.encode()).hexdigest()[:12] + "_"


def _connect_creating(url: str) -> Any:
    """Connect, create the schema (and the extension), reconnect with pgvector's types."""
    psycopg = _driver()[0]
    try:
        conn = psycopg.connect(url, autocommit=True,
                               connect_timeout=int(SHARED_CONNECT_TIMEOUT_S))
    except psycopg.Error as exc:
        raise SharedCatalogueError(_unreachable(url, exc)) from None
    try:
        with conn:
            conn.execute(_SCHEMA)
    except psycopg.Error as exc:
        raise SharedCatalogueError(
            f"cannot set up the shared catalogue {redact(url)} ({_first_line(exc)}); its "
            "user must be allowed to create tables and the pgvector extension"
        ) from None
    return connect(url)


def _unreachable(url: str, exc: BaseException) -> str:
    return (
        f"cannot reach the shared catalogue {redact(url)} ({_first_line(exc)}); check the "
        "URL (postgresql://user:password@host:port/database) and that its server runs "
        "(`cir catalogue server start`)"
    )


class ServerIndex(FamilyIndex):
    """Per-family top-k on the server: `ORDER BY embedding <=> q LIMIT k` within one family
    and embedder version (exact up to SHARED_SEARCH_EXACT_MAX entries, pgvector HNSW above)."""

    kind = "server"

    def __init__(self, catalogue: SharedCatalogue, counts: dict[str, int], dim: int,
                 embedder_version: str, exact: bool):
        super().__init__(counts, dim, embedder_version)
        self.catalogue = catalogue
        self.exact = exact
        self.set_expansion_search(HNSW_EXPANSION_SEARCH)
        sql = import_optional("psycopg", "shared").sql
        self._sql = {
            family: sql.SQL(
                "SELECT preset_id, 1 - (embedding::vector({dim}) <=> %s::vector({dim})) "
                "FROM cir_vectors WHERE embedder_version = {version} AND family = {family} "
                "ORDER BY embedding::vector({dim}) <=> %s::vector({dim}) LIMIT %s"
            ).format(dim=sql.Literal(dim), version=sql.Literal(embedder_version),
                     family=sql.Literal(family))
            for family in self.counts
        }  # literals, not parameters: the planner must see the partial index's predicate

    def set_expansion_search(self, ef: int) -> None:
        """pgvector's hnsw.ef_search for this connection (recall against speed)."""
        self.catalogue.execute(f"SET hnsw.ef_search = {int(ef)}")

    def _search(self, q: np.ndarray, family: str, k: int) -> list[Hit]:
        conn = self.catalogue.conn
        psycopg = self.catalogue._psycopg
        try:
            if self.exact:  # a transaction of its own: index scans stay on for the rest
                with conn.transaction():
                    conn.execute("SET LOCAL enable_indexscan = off")
                    rows = conn.execute(self._sql[family], [q, q, int(k)]).fetchall()
            else:  # one round trip; hnsw.ef_search was set for the session
                rows = conn.execute(self._sql[family], [q, q, int(k)]).fetchall()
        except psycopg.Error as exc:
            raise SharedCatalogueError(
                f"the shared catalogue {self.catalogue.path} failed: {_first_line(exc)}"
            ) from None
        return [Hit(int(pid), float(score)) for pid, score in rows]


def push(
    catalogue: Catalogue, url: str, progress: Callable[[int], None] | None = None
) -> PushSummary:
    """Publish a local catalogue's vectors (every embedder version) and what its hits show to
    the shared catalogue at `url`; only what changed since the last push travels (an entry
    travels again when its vector or family changed, bringing its name and tags along)."""
    import time

    t0 = time.perf_counter()
    versions = {}
    with SharedCatalogue.open(url, create=True) as shared:
        for version in sorted(catalogue.embedder_versions()):
            ids, matrix, families = catalogue.vectors(version)
            versions[version] = shared.sync_vectors(
                version, ids, matrix, families, lambda chunk: _records(catalogue, chunk),
                progress,
            )
        generation = shared.generation()
    return PushSummary(redact(url), versions, generation, round(time.perf_counter() - t0, 2))


def _records(catalogue: Catalogue, ids: Sequence[int]) -> list[dict[str, Any]]:
    marks = ",".join("?" * len(ids))
    rows = catalogue.db.execute(
        "SELECT p.id, p.key, p.name, p.family, s.kind, s.path, p.locator, p.tags FROM presets p "
        f"JOIN sources s ON s.id = p.source_id WHERE p.id IN ({marks})",
        list(ids),
    ).fetchall()
    return [
        {"id": r[0], "key": r[1], "name": r[2], "family": r[3], "source_kind": r[4],
         "source_path": r[5], "locator": json.loads(r[6]), "tags": json.loads(r[7])}
        for r in rows
    ]  # fmt: skip
