"""The catalogue database itself: migrations, sources, records, vectors and search (real SQLite)."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from cir import paths
from cir.presets_db import migrations
from cir.presets_db.catalogue import Catalogue, PresetResult
from cir.presets_db.errors import (
    CatalogueError,
    EmbedderMismatchError,
    UnknownPresetError,
    UnknownSourceError,
)
from cir.presets_db.search import ExactIndex, HnswIndex, load_index


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v)).astype(np.float32)


def result(key: str, family: str, vector: np.ndarray, version: str = "test-v1") -> PresetResult:
    return PresetResult(
        key=key, name=f"Preset {key}", family=family, tags=("t",), locator={"k": key},
        content_hash=f"hash-{key}", settings_hash="s1", status="ok", vector=vector,
        embedder="test", embedder_version=version, sample_rate=22_050, notes=[{"pitch": 60}],
    )  # fmt: skip


def test_open_creates_wal_database_with_recorded_migrations(tmp_path):
    path = tmp_path / "sub" / "cat.db"
    with Catalogue.open(path) as cat:
        assert cat.db.journal_mode == "wal"
        assert migrations.applied(cat.db) == [name for name, _ in migrations.MIGRATIONS]
        tables = set(cat.db.table_names())
        assert {"migrations", "sources", "presets", "renders", "embeddings"} <= tables
    # Opening again applies nothing new and keeps one record per migration.
    with Catalogue.open(path) as cat:
        assert migrations.migrate(cat.db) == []
        rows = cat.db.execute("SELECT COUNT(*) FROM migrations").fetchone()[0]
        assert rows == len(migrations.MIGRATIONS)


def test_failed_migration_rolls_back(tmp_path, monkeypatch):
    with Catalogue.open(tmp_path / "cat.db"):
        pass
    bad = (*migrations.MIGRATIONS, ("0099_bad", "CREATE TABLE extra (x INTEGER); SELECT nope()"))
    monkeypatch.setattr(migrations, "MIGRATIONS", bad)
    with pytest.raises(CatalogueError, match="0099_bad failed and was rolled back"):
        Catalogue.open(tmp_path / "cat.db")
    conn = sqlite3.connect(tmp_path / "cat.db")
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "extra" not in names
    assert conn.execute("SELECT COUNT(*) FROM migrations WHERE name='0099_bad'").fetchone()[0] == 0


def test_newer_database_is_refused(tmp_path):
    with Catalogue.open(tmp_path / "cat.db") as cat:
        cat.db.execute("INSERT INTO migrations (name, applied_at) VALUES ('9999_future', 'x')")
    with pytest.raises(CatalogueError, match="9999_future"):
        Catalogue.open(tmp_path / "cat.db")


def test_not_a_database_gives_clear_error(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(CatalogueError, match="not a usable CIR catalogue"):
        Catalogue.open(junk)
    with pytest.raises(CatalogueError, match="is a directory"):
        Catalogue.open(tmp_path)


def test_default_path_follows_cir_home(tmp_path, monkeypatch):
    monkeypatch.setenv("CIR_HOME", str(tmp_path / "home"))
    assert paths.catalogue_path() == tmp_path / "home" / "catalogue.db"
    with Catalogue.open() as cat:
        assert cat.path == tmp_path / "home" / "catalogue.db"
        assert cat.path.exists()


def test_sources_presets_stats_and_remove(tmp_path):
    rng = np.random.default_rng(1)
    with Catalogue.open(tmp_path / "cat.db") as cat:
        a = cat.add_source("folder", "/samples", {"family": "bass"})
        assert cat.add_source("folder", "/samples", {"family": "bass"}).id == a.id
        b = cat.add_source("builtin", "factory", {})
        cat.write_results([(a.id, result("x", "bass", unit(rng.normal(size=8))))])
        cat.write_results([(b.id, result("y", "lead", unit(rng.normal(size=8))))])
        failed = PresetResult("z", "Broken", "lead", (), {}, "h", "s1", "failed", error="boom")
        cat.write_results([(b.id, failed)])

        stats = cat.stats()
        assert stats["entries"] == 2 and stats["failed"] == 1
        assert stats["by_family"] == {"bass": 1, "lead": 1}
        assert stats["by_source"][str(b.id)]["entries"] == 1
        assert stats["by_source"][str(b.id)]["failed"] == 1

        (record,) = cat.presets(family="basses")
        assert record.name == "Preset x" and record.source.path == "/samples"
        assert record.locator == {"k": "x"} and record.tags == ("t",)
        assert cat.preset(record.id).embedders == {"test": "test-v1"}
        assert [r.error for r in cat.presets(status="failed")] == ["boom"]
        with pytest.raises(UnknownPresetError, match="999"):
            cat.preset(999)
        with pytest.raises(UnknownSourceError, match="not a registered source"):
            cat.remove_source("/nowhere")

        assert cat.remove_source("/samples") == 1
        assert cat.stats()["entries"] == 1
        assert cat.db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0] == 1


def test_exact_and_hnsw_search_find_the_stored_vector(tmp_path):
    rng = np.random.default_rng(2)
    vectors = {f"{fam}{i}": (fam, unit(rng.normal(size=32))) for fam in ("bass", "lead")
               for i in range(40)}  # fmt: skip
    with Catalogue.open(tmp_path / "cat.db") as cat:
        source = cat.add_source("builtin", "factory", {})
        cat.write_results([(source.id, result(k, f, v)) for k, (f, v) in vectors.items()])
        ids = {r.key: r.id for r in cat.presets()}

        exact = load_index(cat, "test-v1")
        assert isinstance(exact, ExactIndex)
        assert exact.size == 80 and exact.families == ("bass", "lead")
        hnsw = load_index(cat, "test-v1", exact_max=10)
        assert isinstance(hnsw, HnswIndex)
        assert (cat.index_dir / "test-v1" / "manifest.json").exists()
        # Reloading finds the saved graph fresh (same generation).
        assert HnswIndex.load(cat.index_dir / "test-v1", cat.generation()) is not None

        for index in (exact, hnsw):
            hits = index.search(vectors["lead7"][1], "lead", 5)
            assert hits[0].preset_id == ids["lead7"]
            assert hits[0].score == pytest.approx(1.0, abs=1e-4)
            assert len(hits) == 5 and all(h.score <= hits[0].score for h in hits)
            # Per-family: a lead vector searched among basses never returns a lead.
            bass_ids = {ids[k] for k in vectors if k.startswith("bass")}
            assert {h.preset_id for h in index.search(vectors["lead7"][1], "bass", 3)} <= bass_ids
            # Several query rows: each preset scores its best cosine with any row (max fusion),
            # the same top k as brute force over the element-wise maximum.
            rows = np.stack([vectors["lead7"][1], unit(rng.normal(size=32))])
            lead_keys = [k for k in vectors if k.startswith("lead")]
            best = {ids[k]: float((rows @ vectors[k][1]).max()) for k in lead_keys}
            want = sorted(best, key=lambda i: -best[i])[:4]
            fused = index.search(rows, "lead", 4)
            assert [h.preset_id for h in fused] == want
            assert [h.score for h in fused] == pytest.approx([best[i] for i in want], abs=1e-4)
        assert exact.search(vectors["lead7"][1], "pad", 3) == []
        with pytest.raises(CatalogueError, match="32"):
            exact.search(np.ones(5), "lead", 3)

        # A write makes the saved graph stale.
        cat.write_results([(source.id, result("lead99", "lead", unit(rng.normal(size=32))))])
        assert HnswIndex.load(cat.index_dir / "test-v1", cat.generation()) is None
        assert load_index(cat, "test-v1", exact_max=10).size == 81


def test_other_embedder_version_is_never_mixed(tmp_path):
    with Catalogue.open(tmp_path / "cat.db") as cat:
        assert load_index(cat, "v1").size == 0  # empty catalogue: empty index, no error
        source = cat.add_source("builtin", "factory", {})
        cat.write_results([(source.id, result("a", "bass", unit(np.ones(4)), "v1"))])
        with pytest.raises(EmbedderMismatchError, match="v1"):
            load_index(cat, "v2")
