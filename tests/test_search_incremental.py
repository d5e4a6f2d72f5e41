"""The saved HNSW index follows a real SQLite catalogue by adding and removing entries, and
answers like exact search on small sets; it is built afresh only when it must be."""

from __future__ import annotations

import numpy as np
import pytest

from cir.presets_db.catalogue import Catalogue, PresetResult
from cir.presets_db.search import (
    HNSW_MAX_REMOVED_FRACTION,
    ExactIndex,
    HnswIndex,
    index_folder,
    load_index,
)

VERSION = "test-v1"
DIM = 24


def _result(key: str, family: str, vector: np.ndarray) -> PresetResult:
    return PresetResult(
        key=key, name=key, family=family, tags=(), locator={"k": key}, content_hash=key,
        settings_hash="s", status="ok", vector=vector, embedder="test",
        embedder_version=VERSION, sample_rate=22_050,
    )  # fmt: skip


def _unit_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _write(cat: Catalogue, source_id: int, keys: list[str], rng: np.random.Generator) -> None:
    families = ("bass", "lead", "pad")
    vectors = _unit_rows(rng, len(keys))
    cat.write_results(
        [(source_id, _result(k, families[hash(k) % 3], v)) for k, v in zip(keys, vectors,
                                                                          strict=True)]
    )


def _same_as_exact(cat: Catalogue, index: HnswIndex, rng: np.random.Generator) -> None:
    """Every family's top 5 for 20 random queries equal exact search's (the sets are small)."""
    exact = load_index(cat, VERSION, exact_max=10**9)
    assert isinstance(exact, ExactIndex)
    assert index.counts == exact.counts
    for q in _unit_rows(rng, 20):
        for family in exact.families:
            want = [h.preset_id for h in exact.search(q, family, 5)]
            assert [h.preset_id for h in index.search(q, family, 5)] == want


@pytest.fixture
def catalogue(tmp_path):
    with Catalogue.open(tmp_path / "cat.db") as cat:
        yield cat


def test_index_is_updated_in_place_as_entries_come_and_go(catalogue):
    rng = np.random.default_rng(1)
    source = catalogue.add_source("builtin", "factory", {})
    _write(catalogue, source.id, [f"p{i}" for i in range(300)], rng)

    index = load_index(catalogue, VERSION, exact_max=10)
    assert isinstance(index, HnswIndex) and index.origin == "built"
    _same_as_exact(catalogue, index, rng)
    assert load_index(catalogue, VERSION, exact_max=10).origin == "saved"

    # 40 new presets, 30 re-embedded (same id, new vector), 25 deleted.
    _write(catalogue, source.id, [f"new{i}" for i in range(40)], rng)
    _write(catalogue, source.id, [f"p{i}" for i in range(30)], rng)
    gone = [r.id for r in catalogue.presets() if r.key in {f"p{i}" for i in range(100, 125)}]
    catalogue.delete_presets(gone)

    index = load_index(catalogue, VERSION, exact_max=10)
    assert index.origin == "updated (+70 -55)"
    assert index.size == 315 and index.removed == 55
    _same_as_exact(catalogue, index, rng)
    found = {h.preset_id for f in index.families for h in index.search(rng.random(DIM), f, 400)}
    assert not found & set(gone)
    # The update was saved: the next load finds it fresh, equal to the catalogue.
    again = load_index(catalogue, VERSION, exact_max=10)
    assert again.origin == "saved" and again.counts == index.counts
    _same_as_exact(catalogue, again, rng)


def test_a_family_that_empties_or_appears_is_followed(catalogue):
    rng = np.random.default_rng(2)
    source = catalogue.add_source("builtin", "factory", {})
    catalogue.write_results([(source.id, _result(f"b{i}", "bass", v))
                             for i, v in enumerate(_unit_rows(rng, 100))])  # fmt: skip
    assert load_index(catalogue, VERSION, exact_max=10).families == ("bass",)
    catalogue.write_results([(source.id, _result(f"k{i}", "keys", v))
                             for i, v in enumerate(_unit_rows(rng, 12))])  # fmt: skip
    # b0..b4 move from bass to keys (same key, new family): removed from one graph, added to
    # the other.
    catalogue.write_results([(source.id, _result(f"b{i}", "keys", v))
                             for i, v in enumerate(_unit_rows(rng, 5))])  # fmt: skip
    index = load_index(catalogue, VERSION, exact_max=10)
    assert index.origin.startswith("updated") and index.counts == {"bass": 95, "keys": 17}
    _same_as_exact(catalogue, index, rng)
    catalogue.delete_presets([r.id for r in catalogue.presets(family="keys")])
    index = load_index(catalogue, VERSION, exact_max=10)
    assert index.families == ("bass",) and index.origin == "updated (+0 -17)"
    assert index.search(rng.random(DIM), "keys", 3) == []


def test_rebuilt_when_missing_corrupt_or_too_many_removed(catalogue):
    rng = np.random.default_rng(3)
    source = catalogue.add_source("builtin", "factory", {})
    _write(catalogue, source.id, [f"p{i}" for i in range(200)], rng)
    folder = index_folder(catalogue, VERSION)
    assert load_index(catalogue, VERSION, exact_max=10).origin == "built"

    # A damaged graph file: built afresh, never an exception or wrong answers.
    graph = next(folder.glob("*.usearch"))
    graph.write_bytes(graph.read_bytes()[: graph.stat().st_size // 3])
    _write(catalogue, source.id, ["extra"], rng)
    index = load_index(catalogue, VERSION, exact_max=10)
    assert index.origin == "built"
    _same_as_exact(catalogue, index, rng)

    # Removing more than HNSW_MAX_REMOVED_FRACTION of the entries rebuilds.
    share = int(200 * HNSW_MAX_REMOVED_FRACTION) + 10
    catalogue.delete_presets([r.id for r in catalogue.presets()][:share])
    index = load_index(catalogue, VERSION, exact_max=10)
    assert index.origin == "built" and index.removed == 0
    _same_as_exact(catalogue, index, rng)

    # No manifest: built.
    (folder / "manifest.json").unlink()
    assert load_index(catalogue, VERSION, exact_max=10).origin == "built"
