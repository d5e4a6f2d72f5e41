"""Schema migrations: an ordered list, each applied once, in its own transaction, and recorded.

A migration is never edited once shipped; change the schema by appending a new one. The
`migrations` table lists what a database has seen, so opening a database twice, or opening an
old one, applies exactly the missing steps; a failed step rolls back and leaves the database
as it was.
"""

from __future__ import annotations

import datetime as _dt

import sqlite_utils

from cir.presets_db.errors import MigrationError

MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "0001_initial",
        """
        CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        CREATE TABLE sources (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('builtin', 'sf2', 'vst3', 'folder')),
            path TEXT NOT NULL,
            args TEXT NOT NULL DEFAULT '{}',
            added_at TEXT NOT NULL,
            UNIQUE (kind, path, args)
        );
        CREATE TABLE presets (
            id INTEGER PRIMARY KEY,
            source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
            key TEXT NOT NULL,
            name TEXT NOT NULL,
            family TEXT NOT NULL,
            tags TEXT NOT NULL DEFAULT '[]',
            locator TEXT NOT NULL DEFAULT '{}',
            content_hash TEXT NOT NULL,
            settings_hash TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
            error TEXT,
            updated_at TEXT NOT NULL,
            UNIQUE (source_id, key)
        );
        CREATE INDEX presets_family ON presets(family);
        CREATE TABLE renders (
            id INTEGER PRIMARY KEY,
            preset_id INTEGER NOT NULL UNIQUE REFERENCES presets(id) ON DELETE CASCADE,
            notes TEXT NOT NULL,
            settings_hash TEXT NOT NULL,
            sample_rate INTEGER NOT NULL,
            preview TEXT,
            created_at TEXT NOT NULL
        );
        CREATE TABLE embeddings (
            id INTEGER PRIMARY KEY,
            preset_id INTEGER NOT NULL REFERENCES presets(id) ON DELETE CASCADE,
            embedder TEXT NOT NULL,
            embedder_version TEXT NOT NULL,
            dim INTEGER NOT NULL,
            vector BLOB NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (preset_id, embedder)
        );
        CREATE INDEX embeddings_version ON embeddings(embedder_version);
        INSERT INTO meta (key, value) VALUES ('generation', '0');
        """,
    ),
    (
        # Ids are never reused: a client (a daemon reply, a script) may hold a preset or
        # source id long after it was deleted, and it must not come to name another one.
        # SQLite needs the tables rebuilt for AUTOINCREMENT; rows keep their ids.
        "0002_ids_never_reused",
        """
        CREATE TABLE sources_0002 (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL CHECK (kind IN ('builtin', 'sf2', 'vst3', 'folder')),
            path TEXT NOT NULL,
            args TEXT NOT NULL DEFAULT '{}',
            added_at TEXT NOT NULL,
            UNIQUE (kind, path, args)
        );
        INSERT INTO sources_0002 (id, kind, path, args, added_at)
            SELECT id, kind, path, args, added_at FROM sources;
        DROP TABLE sources;
        ALTER TABLE sources_0002 RENAME TO sources;
        CREATE TABLE presets_0002 (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
            key TEXT NOT NULL,
            name TEXT NOT NULL,
            family TEXT NOT NULL,
            tags TEXT NOT NULL DEFAULT '[]',
            locator TEXT NOT NULL DEFAULT '{}',
            content_hash TEXT NOT NULL,
            settings_hash TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
            error TEXT,
            updated_at TEXT NOT NULL,
            UNIQUE (source_id, key)
        );
        INSERT INTO presets_0002 (id, source_id, key, name, family, tags, locator, content_hash,
                                  settings_hash, status, error, updated_at)
            SELECT id, source_id, key, name, family, tags, locator, content_hash, settings_hash,
                   status, error, updated_at FROM presets;
        DROP TABLE presets;
        ALTER TABLE presets_0002 RENAME TO presets;
        CREATE INDEX presets_family ON presets(family);
        """,
    ),
    (
        # The producer's picks ("this one" in the plugin): which preset answered which query,
        # in which family. A pick outlives its preset (preset_id becomes NULL; key, name and
        # source stay), so every pick is kept for re-ranking later.
        "0003_picks",
        """
        CREATE TABLE picks (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            query TEXT NOT NULL,
            family TEXT NOT NULL,
            preset_id INTEGER REFERENCES presets(id) ON DELETE SET NULL,
            preset_key TEXT NOT NULL,
            preset_name TEXT NOT NULL,
            source_kind TEXT NOT NULL,
            source_path TEXT NOT NULL,
            client TEXT NOT NULL DEFAULT '',
            picked_at TEXT NOT NULL
        );
        CREATE INDEX picks_query ON picks(query);
        """,
    ),
)


def utc_now() -> str:
    """Now, UTC, to the second, ISO 8601: how the catalogue stamps what it records."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def applied(db: sqlite_utils.Database) -> list[str]:
    """Names of the migrations this database has recorded, in order."""
    if not db["migrations"].exists():
        return []
    return [row["name"] for row in db.query("SELECT name FROM migrations ORDER BY id")]


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Apply every missing migration, each in its own transaction; return the names applied."""
    with db.atomic():
        db.execute(
            "CREATE TABLE IF NOT EXISTS migrations ("
            "id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, applied_at TEXT NOT NULL)"
        )
    done = set(applied(db))
    known = {name for name, _ in MIGRATIONS}
    unknown = sorted(done - known)
    if unknown:
        raise MigrationError(
            f"database has migration {unknown[0]!r} that this CIR does not know: it was written "
            "by a newer CIR; upgrade CIR or use another --db"
        )
    todo = [(name, sql) for name, sql in MIGRATIONS if name not in done]
    if not todo:
        return []
    # Rebuilding a table drops the old one: with foreign keys on, that would cascade into
    # renders and embeddings. SQLite's procedure: keys off outside the transaction, check them
    # before each commit, then restore the setting.
    keys_on = bool(db.execute("PRAGMA foreign_keys").fetchone()[0])
    db.execute("PRAGMA foreign_keys = OFF")
    try:
        for name, sql in todo:
            _apply(db, name, sql)
    finally:
        db.execute(f"PRAGMA foreign_keys = {'ON' if keys_on else 'OFF'}")
    return [name for name, _ in todo]


def _apply(db: sqlite_utils.Database, name: str, sql: str) -> None:
    try:
        with db.atomic():
            # executescript() would COMMIT first; run statements one by one inside BEGIN.
            for statement in _statements(sql):
                db.execute(statement)
            broken = db.execute("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise MigrationError(f"{len(broken)} rows lost their parent, e.g. {broken[0]}")
            db.execute("INSERT INTO migrations (name, applied_at) VALUES (?, ?)", [name, utc_now()])
    except Exception as exc:
        raise MigrationError(f"migration {name} failed and was rolled back: {exc}") from exc


def _statements(sql: str) -> list[str]:
    return [s.strip() for s in sql.split(";") if s.strip()]
