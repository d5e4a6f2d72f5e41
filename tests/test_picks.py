"""Auditions and picks through the real daemon: `preview` sends a catalogue entry's preview as
PCM, `pick` stores the producer's choice in the catalogue, `cir picks` lists and exports the
picks, the results page shows them (real daemon and page on loopback, a built catalogue)."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest
from click.testing import CliRunner
from web_support import Http, builtin_catalogue, page_daemon

from cir.cli import cli
from cir.daemon.previews import PREVIEW_MAX_SECONDS
from cir.daemon.web.media import read_mono
from cir.matching.prepare import resample
from cir.presets_db import migrations
from cir.presets_db.catalogue import Catalogue
from cir.presets_db.picks import list_picks, load_picks
from cir.protocol.client import Client, RequestRefusedError


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    return builtin_catalogue(tmp_path_factory.mktemp("picks") / "catalogue.db", limit=6)


@pytest.fixture
def daemon(catalogue, tmp_path):
    with (page_daemon(tmp_path, catalogue) as (server, page),
          Client(server.endpoints[0], timeout_ms=20_000, retries=1) as client):
        yield server, client, Http(page.url)


def entries(path) -> list:
    with Catalogue.open(path) as catalogue:
        return catalogue.presets()


def test_preview_is_the_entry_preview_mono_at_the_asked_rate(daemon, catalogue):
    _, client, _ = daemon
    entry = entries(catalogue)[0]
    reply = client.preview(entry.id, 48_000)
    assert reply["name"] == entry.name and reply["preset_id"] == entry.id
    assert (reply["sample_rate"], reply["channels"], reply["format"]) == (48_000, 1, "f32le")
    mono, rate = read_mono(entry.preview)
    expected = resample(mono[: int(PREVIEW_MAX_SECONDS * rate)], rate, 48_000)
    assert reply["audio"].shape == (len(expected), 1)
    np.testing.assert_allclose(reply["audio"][:, 0], expected, atol=1e-5)
    assert np.abs(reply["audio"]).max() > 0.01  # a sound, not silence


def test_preview_of_a_tampered_path_is_refused(daemon, catalogue):
    server, client, _ = daemon
    entry = entries(catalogue)[1]
    with sqlite3.connect(server.catalogue_path) as db:
        db.execute("UPDATE renders SET preview = '/etc/passwd' WHERE preset_id = ?", [entry.id])
    try:
        with pytest.raises(RequestRefusedError, match="has no preview file") as refused:
            client.preview(entry.id, 44_100)
        assert refused.value.code == "no_preview"
        assert client.ping()["pong"]
    finally:
        with sqlite3.connect(server.catalogue_path) as db:
            db.execute("UPDATE renders SET preview = ? WHERE preset_id = ?",
                       [str(entry.preview), entry.id])


def test_pick_is_stored_listed_exported_and_shown_on_the_page(daemon, catalogue):
    _, client, http = daemon
    entry = entries(catalogue)[2]
    reply = client.pick(entry.id, entry.family, "fnv1a64:00112233", source="cir-bridge")
    picks = load_picks(str(catalogue))
    assert picks[0].id == reply["pick_id"] and picks[0].picked_at == reply["picked_at"]
    assert (picks[0].query, picks[0].family, picks[0].preset_id, picks[0].preset_name,
            picks[0].client) == ("fnv1a64:00112233", entry.family, entry.id, entry.name,
                                 "cir-bridge")
    # A pick in another family than its preset's is refused and stores nothing.
    other = "lead" if entry.family != "lead" else "bass"
    with pytest.raises(RequestRefusedError, match="pick it in its own family"):
        client.pick(entry.id, other, "fnv1a64:00112233")
    assert len(load_picks(str(catalogue))) == len(picks)

    listed = CliRunner().invoke(cli, ["picks", "--db", str(catalogue)])
    assert listed.exit_code == 0 and entry.name in listed.output
    exported = CliRunner().invoke(cli, ["picks", "--db", str(catalogue), "--json", "--limit", "1"])
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.output)["picks"] == [picks[0].to_dict()]
    shown = http.get_json("/api/picks")["picks"]
    assert shown[0]["preset_name"] == entry.name and shown[0]["query"] == "fnv1a64:00112233"


def test_a_pick_outlives_its_preset(tmp_path, catalogue):
    path = tmp_path / "copy.db"
    with sqlite3.connect(catalogue) as src, sqlite3.connect(path) as dst:
        src.backup(dst)
    with Catalogue.open(path) as cat:
        entry = cat.presets()[0]
        from cir.presets_db.picks import record_pick

        record_pick(cat, "q1", entry.family, entry.id)
        cat.delete_presets([entry.id])
        kept = list_picks(cat)[0]
    assert kept.preset_id is None and (kept.preset_name, kept.preset_key) == (entry.name, entry.key)
    assert "0003_picks" in [name for name, _ in migrations.MIGRATIONS]


def test_cir_picks_on_an_empty_catalogue_says_how_to_pick(tmp_path):
    result = CliRunner().invoke(cli, ["picks", "--db", str(tmp_path / "empty.db")])
    assert result.exit_code == 0 and "this one" in result.output
    assert "Example:" in CliRunner().invoke(cli, ["picks", "--help"]).output
