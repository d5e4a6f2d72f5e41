"""The shared catalogue: a real PostgreSQL + pgvector server (the pgserver wheel) started in a
temporary folder, filled by `push` from a real SQLite catalogue, searched like the local one
and served by a daemon that keeps serving while the server is away."""

from __future__ import annotations

import contextlib
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cir.cli import cli
from cir.presets_db import shared_server
from cir.presets_db.catalogue import Catalogue, PresetResult
from cir.presets_db.errors import CatalogueError
from cir.presets_db.search import ExactIndex, load_index
from cir.presets_db.shared import (
    ServerIndex,
    SharedCatalogue,
    SharedCatalogueError,
    open_catalogue,
    push,
)

pytest.importorskip("psycopg")
pytest.importorskip("pgvector")

VERSION = "test-v1"
DIM = 32
FAMILIES = ("percussion", "bass", "lead", "pad", "keys")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def pg_server() -> Iterator[shared_server.ServerInfo]:
    """A PostgreSQL server in a fresh temporary folder (searchable by `nobody`, which runs it
    under root), stopped and removed at exit."""
    base = Path(tempfile.mkdtemp(prefix="cir-pg-", dir="/tmp"))
    base.chmod(0o711)
    folder = base / "server"
    try:
        yield shared_server.start(folder, port=_free_port())
    finally:
        shared_server.stop(folder)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def server() -> Iterator[shared_server.ServerInfo]:
    with pg_server() as info:
        yield info


def _result(key: str, family: str, vector: np.ndarray, version: str = VERSION) -> PresetResult:
    return PresetResult(
        key=key, name=f"Preset {key}", family=family, tags=("warm",), locator={"id": key},
        content_hash=key, settings_hash="s", status="ok", vector=vector, embedder="test",
        embedder_version=version, sample_rate=22_050,
    )  # fmt: skip


def _fill(cat: Catalogue, count: int, seed: int, prefix: str = "p", dim: int = DIM,
          version: str = VERSION) -> None:
    rng = np.random.default_rng(seed)
    source = cat.add_source("builtin", "factory", {})
    rows = rng.standard_normal((count, dim)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    cat.write_results([(source.id, _result(f"{prefix}{i}", FAMILIES[i % 5], rows[i], version))
                       for i in range(count)])  # fmt: skip


def _same_top_k(local: ExactIndex, remote: ServerIndex, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for q in rng.standard_normal((10, DIM)).astype(np.float32):
        for family in FAMILIES:
            want = local.search(q, family, 5)
            got = remote.search(q, family, 5)
            assert [h.preset_id for h in got] == [h.preset_id for h in want]
            assert [h.score for h in got] == pytest.approx([h.score for h in want], abs=1e-5)
    rows = rng.standard_normal((3, DIM)).astype(np.float32)  # several rows: max fusion
    assert [h.preset_id for h in remote.search(rows, "lead", 4)] == \
        [h.preset_id for h in local.search(rows, "lead", 4)]


@pytest.mark.slow
def test_pushed_catalogue_answers_per_family_queries_like_the_local_one(server, tmp_path):
    with Catalogue.open(tmp_path / "cat.db") as cat:
        _fill(cat, 200, seed=1)
        summary = push(cat, server.url)
        assert summary.versions[VERSION] == {"added": 200, "removed": 0, "entries": 200}
        assert "***" in summary.url and server.url.split(":")[2].split("@")[0] not in summary.url
        local = load_index(cat, VERSION)
        with open_catalogue(server.url) as shared:
            assert isinstance(shared, SharedCatalogue)
            exact = load_index(shared, VERSION)
            assert isinstance(exact, ServerIndex) and exact.exact
            assert exact.counts == local.counts
            _same_top_k(local, exact, seed=2)
            # The server's HNSW indexes (forced): on 40 entries a family, the same answers.
            _same_top_k(local, shared.search_index(VERSION, exact_max=0), seed=3)
            record = shared.preset(int(cat.presets()[0].id))
            assert (record.name, record.family, record.tags) == ("Preset p0", "percussion",
                                                                 ("warm",))

            # A second push sends nothing; a change sends only itself and bumps the generation.
            generation = shared.generation()
            assert push(cat, server.url).versions[VERSION]["added"] == 0
            assert shared.generation() == generation
            gone = [r.id for r in cat.presets(family="bass")[:7]]
            cat.delete_presets(gone)
            _fill(cat, 5, seed=4, prefix="new")
            assert push(cat, server.url).versions[VERSION] == {
                "added": 5, "removed": 7, "entries": 198}
            assert shared.generation() == generation + 1
            with pytest.raises(CatalogueError, match="not in the shared catalogue"):
                shared.preset(gone[0])
            local = load_index(cat, VERSION)
            _same_top_k(local, load_index(shared, VERSION), seed=5)


@pytest.mark.slow
def test_other_embedder_version_is_refused_by_name(server, tmp_path):
    with Catalogue.open(tmp_path / "other.db") as cat:
        _fill(cat, 10, seed=6, version="other-v9")
        push(cat, server.url)
    with open_catalogue(server.url) as shared, pytest.raises(CatalogueError, match="other-v9"):
        load_index(shared, "nobody-v0")


def test_unreachable_or_empty_server_says_so(tmp_path):
    url = f"postgresql://cir:secret@127.0.0.1:{_free_port()}/cir"
    with pytest.raises(SharedCatalogueError, match="cannot reach") as err:
        open_catalogue(url)
    assert "secret" not in str(err.value) and "server start" in str(err.value)
    with pytest.raises(CatalogueError, match="shared catalogue's URL"):
        Catalogue.open(url)
    runner = CliRunner()
    out = runner.invoke(cli, ["catalogue", "push", "--db", str(tmp_path / "c.db"), "--to", url])
    assert out.exit_code != 0 and "cannot reach" in out.output and "secret" not in out.output
    out = runner.invoke(cli, ["catalogue", "stats", "--db", url])
    assert out.exit_code == 2 and "local catalogue file" in out.output


def _match(matcher, k: int = 3):
    audio = (0.1 * np.random.default_rng(0).standard_normal(22_050)).astype(np.float32)
    return matcher.match(audio, 22_050, k=k)


@pytest.mark.slow
def test_the_matcher_serves_a_shared_catalogue_and_keeps_serving_while_it_is_down(tmp_path):
    # The daemon's matching core on a shared catalogue (the socket around it is the same for
    # every catalogue: tests/test_daemon.py).
    from daemon_support import mfcc, synthetic_db

    from cir.matching.core import Matcher, read_query
    from cir.query import QueryError

    local = synthetic_db(tmp_path, size=60)
    with pg_server() as info:
        with Catalogue.open(local) as cat:
            push(cat, info.url)
            local_index = load_index(cat, mfcc().version)
        with Matcher(info.url, mfcc()) as matcher:
            assert matcher.size == 60
            assert "***" in matcher.index.catalogue_name
            result = _match(matcher)
            assert result.results
            for family, hits in result.results.items():
                assert hits and all(h.family == family for h in hits)
            # Same ids as the local catalogue for the matcher's own query vector.
            vector = read_query(matcher.embedder, np.zeros(100, np.float32) + 0.01,
                                ("bass",)).vectors["bass"]
            remote = matcher.index._index.search(vector, "bass", 3)
            assert [h.preset_id for h in remote] == \
                [h.preset_id for h in local_index.search(vector, "bass", 3)]

            shared_server.stop(info.folder)
            with pytest.raises(QueryError, match="shared catalogue") as down:
                _match(matcher)
            assert down.value.code == "no_catalogue"

            shared_server.start(info.folder, port=info.port)
            assert _match(matcher).results  # back without a restart


@pytest.mark.slow
def test_server_commands_start_report_and_stop(tmp_path):
    base = Path(tempfile.mkdtemp(prefix="cir-pg-", dir="/tmp"))
    base.chmod(0o711)
    folder = base / "srv"
    runner = CliRunner()
    try:
        port = str(_free_port())
        out = runner.invoke(cli, ["catalogue", "server", "start", "--dir", str(folder),
                                  "--port", port])
        assert out.exit_code == 0, out.output
        assert f"127.0.0.1:{port}/cir" in out.output
        out = runner.invoke(cli, ["catalogue", "server", "status", "--dir", str(folder),
                                  "--json"])
        assert out.exit_code == 0 and '"running": true' in out.output
    finally:
        out = runner.invoke(cli, ["catalogue", "server", "stop", "--dir", str(folder)])
        shutil.rmtree(base, ignore_errors=True)
    assert out.exit_code == 0 and "stopped" in out.output
    out = runner.invoke(cli, ["catalogue", "server", "status", "--dir", str(folder)])
    assert out.exit_code == 1 and "no server runs" in out.output
