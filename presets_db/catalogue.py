"""The catalogue: one SQLite database (WAL) of sources, presets, renders and embeddings.

Preview audio lives beside the database, in `<db>.previews/`, as FLAC files named by content
hash; the HNSW index of large catalogues lives in `<db>.index/`. Every write happens in one
transaction, so a reader (the daemon) always sees the last complete state, and a build killed
half-way leaves whole presets or none.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sqlite_utils

from cir import paths
from cir.families import normalise_family
from cir.presets_db import migrations
from cir.presets_db.constants import BUILD_TASK_TIMEOUT_S
from cir.presets_db.errors import CatalogueError, UnknownPresetError, UnknownSourceError
from cir.presets_db.migrations import utc_now
from cir.presets_db.sources import KINDS


@dataclass(frozen=True)
class SourceRecord:
    """A registered source: what to scan (kind, path) and how (args, e.g. split, family)."""

    id: int
    kind: str
    path: str
    args: dict[str, Any]
    added_at: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PresetRecord:
    """One catalogue entry as the daemon and the CLI show it."""

    id: int
    key: str
    name: str
    family: str
    source: SourceRecord
    locator: dict[str, Any]
    tags: tuple[str, ...] = ()
    status: str = "ok"
    error: str | None = None
    content_hash: str = ""
    preview: Path | None = None
    notes: list[dict[str, Any]] = field(default_factory=list)
    embedders: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["source"] = self.source.to_dict()
        data["tags"] = list(self.tags)
        data["preview"] = str(self.preview) if self.preview else None
        return data


@dataclass(frozen=True)
class PresetState:
    """What the build needs to decide whether a preset is up to date."""

    id: int
    content_hash: str
    settings_hash: str
    status: str
    embedder_version: str | None


@dataclass(frozen=True)
class PresetResult:
    """One finished preset, ready to be written: metadata plus embedding (ok) or error (failed)."""

    key: str
    name: str
    family: str
    tags: tuple[str, ...]
    locator: dict[str, Any]
    content_hash: str
    settings_hash: str
    status: str
    error: str | None = None
    notes: list[dict[str, Any]] = field(default_factory=list)
    sample_rate: int = 0
    preview: str | None = None
    vector: np.ndarray | None = None
    embedder: str = ""
    embedder_version: str = ""


class Catalogue:
    """A preset catalogue in one SQLite file. Open with `Catalogue.open(path)`."""

    def __init__(self, path: Path, db: sqlite_utils.Database):
        self.path = path
        self.db = db

    # --- opening ---------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path | None = None) -> Catalogue:
        """Open (creating and migrating as needed) the catalogue at `path` (default location)."""
        if str(path or "").startswith(("postgresql://", "postgres://")):
            raise CatalogueError(
                f"{path} is a shared catalogue's URL, not a file: open it with "
                "cir.presets_db.shared.open_catalogue (`cir daemon start --db URL`)"
            )
        path = Path(path).expanduser() if path else paths.catalogue_path()
        if path.is_dir():
            raise CatalogueError(f"catalogue path {path} is a directory: expected a .db file path")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
        except (OSError, sqlite3.Error) as exc:
            raise CatalogueError(
                f"cannot open catalogue {path}: {exc}; check the path and its permissions"
            ) from exc
        db = sqlite_utils.Database(conn)
        try:
            db.execute("PRAGMA foreign_keys = ON")
            db.enable_wal()
            db.execute("PRAGMA synchronous = NORMAL")
            migrations.migrate(db)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise CatalogueError(
                f"{path} is not a usable CIR catalogue ({exc}); pass another --db path"
            ) from exc
        except BaseException:
            conn.close()
            raise
        return cls(path, db)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Catalogue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def previews_dir(self) -> Path:
        return self.path.with_name(self.path.name + ".previews")

    @property
    def index_dir(self) -> Path:
        return self.path.with_name(self.path.name + ".index")

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Catalogue]:
        """A read transaction: every read inside sees one consistent state of the catalogue,
        whatever other processes write meanwhile (WAL keeps the snapshot)."""
        with self.db.atomic():
            yield self

    def sweep_stale_previews(self) -> int:
        """Remove the temporary files of preview writers that died (``.<name>.<pid>.tmp.flac``,
        left by a killed build); returns how many were removed."""
        removed = 0
        if not self.previews_dir.is_dir():
            return 0
        now = time.time()
        for tmp in self.previews_dir.glob(".*.tmp.*"):
            match = _PREVIEW_TMP.match(tmp.name)
            if match is None:
                continue
            try:
                age = now - tmp.stat().st_mtime
            except OSError:
                continue
            # A live writer finishes within the build's task timeout (or is killed at it).
            if _pid_alive(int(match["pid"])) and age < 2 * BUILD_TASK_TIMEOUT_S:
                continue
            tmp.unlink(missing_ok=True)
            removed += 1
        return removed

    def generation(self) -> int:
        """A counter bumped by every write of embeddings: tells a saved index if it is stale."""
        return int(self.db.table("meta").get("generation")["value"])

    def _bump_generation(self) -> None:
        self.db.execute(
            "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'"
        )

    # --- sources ---------------------------------------------------------------------------

    def add_source(self, kind: str, path: str, args: dict[str, Any] | None = None) -> SourceRecord:
        """Register a source (idempotent: the same kind, path and args return the same record)."""
        if kind not in KINDS:
            raise CatalogueError(f"unknown source kind {kind!r}: expected one of {KINDS}")
        args_json = json.dumps(args or {}, sort_keys=True)
        with self.db.atomic():
            self.db.table("sources").insert(
                {"kind": kind, "path": path, "args": args_json, "added_at": utc_now()}, ignore=True
            )
            row = next(self.db.table("sources").rows_where(
                "kind = ? AND path = ? AND args = ?", [kind, path, args_json], select="id"
            ))
        return self.source(row["id"])

    def sources(self) -> list[SourceRecord]:
        return [_source(row) for row in self.db.table("sources").rows_where(order_by="id")]

    def source(self, ref: int | str) -> SourceRecord:
        """A source by id, or by path when exactly one source has it."""
        if isinstance(ref, int) or str(ref).isdigit():
            rows = list(self.db.table("sources").rows_where("id = ?", [int(ref)]))
        else:
            candidates = {str(ref), str(Path(ref).expanduser().resolve())}
            rows = [r for r in self.db.table("sources").rows if r["path"] in candidates]
        if len(rows) != 1:
            known = ", ".join(f"{s.id}={s.kind}:{s.path}" for s in self.sources()) or "none"
            what = "matches several sources" if rows else "is not a registered source"
            raise UnknownSourceError(
                f"source {ref!r} {what}; use a source id from `cir catalogue stats` "
                f"(known: {known})"
            )
        return _source(rows[0])

    def remove_source(self, ref: int | str) -> int:
        """Remove a source with its presets, renders, vectors and previews; return the count."""
        source = self.source(ref)
        previews = self._previews_of("p.source_id = ?", [source.id])
        with self.db.atomic():
            count = self.db.table("presets").count_where("source_id = ?", [source.id])
            self.db.table("sources").delete(source.id)
            self._bump_generation()
        self._unlink_unused(previews)
        return count

    # --- presets -----------------------------------------------------------------------------

    def preset(self, preset_id: int) -> PresetRecord:
        """The full record of one preset, or UnknownPresetError."""
        rows = self._preset_rows("p.id = ?", [int(preset_id)])
        if not rows:
            raise UnknownPresetError(
                f"preset {preset_id} is not in the catalogue {self.path}; "
                "list ids with `cir catalogue list`"
            )
        return rows[0]

    def preview_file(self, preset_id: int) -> Path | None:
        """The preview file of a preset, only when it exists inside this catalogue's own
        previews folder (a path stored in the database is never trusted to point elsewhere);
        None when it has none. UnknownPresetError for an unknown id."""
        record = self.preset(preset_id)
        if record.preview is None:
            return None
        path = Path(record.preview).resolve()
        if not path.is_relative_to(self.previews_dir.resolve()) or not path.is_file():
            return None
        return path

    def presets(
        self,
        family: str | None = None,
        source: int | str | None = None,
        status: str | None = None,
    ) -> list[PresetRecord]:
        """Presets, optionally of one family, one source (id or path) and one status."""
        where, params = ["1 = 1"], []
        if family is not None:
            where.append("p.family = ?")
            params.append(normalise_family(family))
        if source is not None:
            where.append("p.source_id = ?")
            params.append(self.source(source).id)
        if status is not None:
            where.append("p.status = ?")
            params.append(status)
        return self._preset_rows(" AND ".join(where), params)

    def find(
        self,
        text: str | None = None,
        family: str | None = None,
        source: int | str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> tuple[int, list[PresetRecord]]:
        """(how many match, one page of them): ok presets whose name, key or tags contain
        every word of `text` (any case), of one family and one source (id or path)."""
        where, params = ["p.status = 'ok'"], []
        for word in (text or "").split():
            where.append("(p.name LIKE ? ESCAPE '\\' OR p.key LIKE ? ESCAPE '\\' "
                         "OR p.tags LIKE ? ESCAPE '\\')")
            pattern = "%" + re.sub(r"([%_\\])", r"\\\1", word) + "%"
            params += [pattern] * 3
        if family:
            where.append("p.family = ?")
            params.append(normalise_family(family))
        if source is not None and source != "":
            where.append("p.source_id = ?")
            params.append(self.source(source).id)
        clause = " AND ".join(where)
        total = self.db.execute(f"SELECT COUNT(*) FROM presets p WHERE {clause}", params)
        count = int(total.fetchone()[0])
        page = f" LIMIT {int(limit)} OFFSET {int(offset)}" if limit is not None else ""
        return count, self._preset_rows(clause, params, page)

    def _preset_rows(
        self, where: str, params: Sequence[Any], page: str = ""
    ) -> list[PresetRecord]:
        sources = {s.id: s for s in self.sources()}
        sql = (
            "SELECT p.*, r.preview AS preview, r.notes AS notes FROM presets p "
            f"LEFT JOIN renders r ON r.preset_id = p.id WHERE {where} ORDER BY p.id{page}"
        )
        rows = list(self.db.query(sql, params))
        embedders: dict[int, dict[str, str]] = {}
        if rows:
            ids = [r["id"] for r in rows]
            for chunk in _chunks(ids, 900):
                marks = ",".join("?" * len(chunk))
                for e in self.db.query(
                    "SELECT preset_id, embedder, embedder_version FROM embeddings "
                    f"WHERE preset_id IN ({marks})",
                    chunk,
                ):
                    embedders.setdefault(e["preset_id"], {})[e["embedder"]] = e["embedder_version"]
        return [
            PresetRecord(
                id=r["id"],
                key=r["key"],
                name=r["name"],
                family=r["family"],
                source=sources[r["source_id"]],
                locator=json.loads(r["locator"]),
                tags=tuple(json.loads(r["tags"])),
                status=r["status"],
                error=r["error"],
                content_hash=r["content_hash"],
                preview=self.previews_dir / r["preview"] if r["preview"] else None,
                notes=json.loads(r["notes"]) if r["notes"] else [],
                embedders=embedders.get(r["id"], {}),
            )
            for r in rows
        ]

    def states(self, source_id: int, embedder: str) -> dict[str, PresetState]:
        """Per preset key of a source: what the build compares to decide to skip it."""
        sql = (
            "SELECT p.id, p.key, p.content_hash, p.settings_hash, p.status, e.embedder_version "
            "FROM presets p LEFT JOIN embeddings e ON e.preset_id = p.id AND e.embedder = ? "
            "WHERE p.source_id = ?"
        )
        return {
            r["key"]: PresetState(
                r["id"], r["content_hash"], r["settings_hash"], r["status"], r["embedder_version"]
            )
            for r in self.db.query(sql, [embedder, source_id])
        }

    def write_results(self, results: Iterable[tuple[int, PresetResult]]) -> None:
        """Insert or replace finished presets, (source id, result) pairs, in ONE transaction."""
        now = utc_now()
        with self.db.atomic():
            for source_id, res in results:
                self._write_one(source_id, res, now)
            self._bump_generation()

    def _write_one(self, source_id: int, res: PresetResult, now: str) -> None:
        values = [
            res.name,
            res.family,
            json.dumps(list(res.tags)),
            json.dumps(res.locator, sort_keys=True),
            res.content_hash,
            res.settings_hash,
            res.status,
            res.error,
            now,
        ]
        self.db.execute(
            "INSERT INTO presets (source_id, key, name, family, tags, locator, content_hash, "
            "settings_hash, status, error, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (source_id, key) DO UPDATE SET name = excluded.name, "
            "family = excluded.family, tags = excluded.tags, locator = excluded.locator, "
            "content_hash = excluded.content_hash, settings_hash = excluded.settings_hash, "
            "status = excluded.status, error = excluded.error, updated_at = excluded.updated_at",
            [source_id, res.key, *values],
        )
        preset_id = self.db.execute(
            "SELECT id FROM presets WHERE source_id = ? AND key = ?", [source_id, res.key]
        ).fetchone()[0]
        if res.status != "ok":
            # A failed re-render leaves no stale audio or vector behind for this preset.
            self.db.table("renders").delete_where("preset_id = ?", [preset_id])
            self.db.table("embeddings").delete_where("preset_id = ?", [preset_id])
            return
        self.db.table("renders").insert({
            "preset_id": preset_id, "notes": json.dumps(res.notes),
            "settings_hash": res.settings_hash, "sample_rate": res.sample_rate,
            "preview": res.preview, "created_at": now,
        }, replace=True)
        vector = np.ascontiguousarray(res.vector, dtype=np.float32)
        self.db.table("embeddings").insert({
            "preset_id": preset_id, "embedder": res.embedder,
            "embedder_version": res.embedder_version, "dim": vector.size,
            "vector": vector.tobytes(), "created_at": now,
        }, replace=True)

    def delete_presets(self, preset_ids: Sequence[int]) -> None:
        """Delete presets (gone from their source) with their renders, vectors and previews."""
        if not preset_ids:
            return
        previews = []
        with self.db.atomic():
            for chunk in _chunks(list(preset_ids), 900):
                marks = ",".join("?" * len(chunk))
                previews += self._previews_of(f"p.id IN ({marks})", chunk)
                self.db.execute(f"DELETE FROM presets WHERE id IN ({marks})", chunk)
            self._bump_generation()
        self._unlink_unused(previews)

    def _previews_of(self, where: str, params: Sequence[Any]) -> list[str]:
        sql = f"SELECT r.preview FROM renders r JOIN presets p ON p.id = r.preset_id WHERE {where}"
        return [row[0] for row in self.db.execute(sql, params).fetchall() if row[0]]

    def _unlink_unused(self, previews: Iterable[str]) -> None:
        for name in set(previews):
            if not self.db.table("renders").count_where("preview = ?", [name]):
                (self.previews_dir / name).unlink(missing_ok=True)

    # --- vectors and search ------------------------------------------------------------------

    def vectors(self, embedder_version: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(ids, (n, dim) float32 matrix, families) of the ok presets embedded with this version."""
        rows = self.db.execute(
            "SELECT p.id, p.family, e.dim, e.vector FROM embeddings e "
            "JOIN presets p ON p.id = e.preset_id "
            "WHERE e.embedder_version = ? AND p.status = 'ok' ORDER BY p.id",
            [embedder_version],
        ).fetchall()
        if not rows:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32), []
        dims = {r[2] for r in rows}
        if len(dims) != 1:
            raise CatalogueError(
                f"embedder version {embedder_version!r} has vectors of sizes {sorted(dims)}; "
                "rebuild with `cir catalogue build`"
            )
        ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
        matrix = np.frombuffer(b"".join(r[3] for r in rows), np.float32).reshape(len(rows), -1)
        return ids, matrix, [r[1] for r in rows]

    def embedder_versions(self) -> dict[str, int]:
        rows = self.db.execute(
            "SELECT embedder_version, COUNT(*) FROM embeddings GROUP BY embedder_version"
        ).fetchall()
        return {r[0]: r[1] for r in rows}

    # --- summaries ---------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counts for humans and scripts: entries (ok presets), by_family, by_source, failed, ..."""

        def count(sql: str, params: Sequence[Any] = ()) -> list[tuple]:
            return self.db.execute(sql, params).fetchall()

        by_family = dict(
            count(
                "SELECT family, COUNT(*) FROM presets WHERE status = 'ok' "
                "GROUP BY family ORDER BY family"
            )
        )
        by_source = {}
        for source in self.sources():
            ok, failed = count(
                "SELECT COALESCE(SUM(status = 'ok'), 0), COALESCE(SUM(status = 'failed'), 0) "
                "FROM presets WHERE source_id = ?",
                [source.id],
            )[0]
            by_source[str(source.id)] = {
                "kind": source.kind,
                "path": source.path,
                "args": source.args,
                "entries": ok,
                "failed": failed,
            }
        return {
            "path": str(self.path),
            "entries": sum(by_family.values()),
            "failed": count("SELECT COUNT(*) FROM presets WHERE status = 'failed'")[0][0],
            "by_family": by_family,
            "by_source": by_source,
            "embedders": self.embedder_versions(),
            "schema": migrations.applied(self.db),
        }


# What presets_db.build.write_preview writes before its atomic rename.
_PREVIEW_TMP = re.compile(r"^\.(?P<stem>.+)\.(?P<pid>\d+)\.tmp\.[A-Za-z0-9]+$")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    except OSError:
        return False
    return True


def _source(row: dict[str, Any]) -> SourceRecord:
    return SourceRecord(
        row["id"], row["kind"], row["path"], json.loads(row["args"]), row["added_at"]
    )


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
