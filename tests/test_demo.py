"""End to end on the real parts: a catalogue built from the bank, the default embedder, a real
daemon, the bridge client and the CLI (`cir demo`, `cir match`)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from daemon_support import serve, short_dir

from cir import defaults
from cir.app.demo import DEMO_SECONDS, bank_test_presets, ensure_catalogue, render_loop
from cir.app.match import load_audio
from cir.cli import cli
from cir.families import FAMILY_SPECS, MIX_FAMILIES
from cir.protocol.client import Client

pytestmark = pytest.mark.slow

# 12 test-split presets per family (the source takes families round-robin).
TEST_LIMIT = 60


@pytest.fixture(scope="module")
def catalogue():
    with short_dir() as directory:
        yield ensure_catalogue(directory / "catalogue.db", distractors=None,
                               test_limit=TEST_LIMIT, progress=False)


@pytest.fixture(scope="module")
def embedder():
    from cir.encoder.embed import load_embedder

    return load_embedder()


def test_demo_command_end_to_end(catalogue, embedder, tmp_path):
    args = ["demo", "--json", "--seed", "11", "--catalogue", str(catalogue), "--distractors",
            "0", "--test-limit", str(TEST_LIMIT), "--out", str(tmp_path)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)  # one object, pretty: progress went to stderr
    assert set(report["truth"]) == set(MIX_FAMILIES) == set(report["families"])
    for family, hits in report["families"].items():
        assert [h["rank"] for h in hits] == [1, 2, 3, 4, 5]
        assert all(h["family"] == family for h in hits)
        rank = report["ranks"][family]
        ids = [h["preset_id"] for h in hits]
        truth = report["truth"][family]["preset_id"]
        assert (rank is None and truth not in ids) or ids[rank - 1] == truth
    audio, rate = load_audio(report["loop"])
    assert rate == defaults.RENDER_SAMPLE_RATE
    assert audio.shape == (int(DEMO_SECONDS * rate), 2)
    if embedder.name != "mfcc80":
        # The trained encoder must find every preset of the loop in its top 5.
        assert all(report["ranks"][f] is not None for f in MIX_FAMILIES), report["ranks"]
    # Same seed, same presets: the user did not choose them, but the run is reproducible.
    again = json.loads(CliRunner().invoke(cli, args).stdout)
    assert again["truth"] == report["truth"]


def test_single_preset_queries_find_their_preset_in_the_top_5(catalogue, embedder):
    """A preset played softer and shorter than its catalogue references (same pitch: the
    MFCC fallback is not pitch-invariant; the trained encoder gets the pitch test too)."""
    from cir.synth import bank
    from cir.synth.engine import BuiltinInstrument
    from cir.synth.notes import Note

    rng = np.random.default_rng(5)
    misses = []
    with short_dir() as d, serve(d, catalogue_path=catalogue, embedder=embedder) as (
        _, endpoint,
    ), Client(endpoint) as client:
        for family, records in bank_test_presets(catalogue).items():
            for record in rng.choice(records, size=3, replace=False):
                instrument = BuiltinInstrument(bank.get_preset(record.key))
                shift = 2 if embedder.name != "mfcc80" else 0
                note = Note(pitch=FAMILY_SPECS[family].canonical_pitch + shift, velocity=80,
                            start=0.0, duration=0.7 * FAMILY_SPECS[family].note_seconds)
                audio = instrument.render([note], FAMILY_SPECS[family].clip_seconds, 44100)
                reply = client.match(audio, 44100, k=5, families=[family])
                if record.id not in [h["preset_id"] for h in reply["results"][family]]:
                    misses.append(record.key)
    assert not misses


def test_match_command_through_the_daemon_and_local(catalogue, embedder, tmp_path, monkeypatch):
    truth = {f: records[0] for f, records in bank_test_presets(catalogue).items()}
    loop = render_loop(truth, seed=3, seconds=4.0, sample_rate=44100)
    from pedalboard.io import AudioFile

    path = tmp_path / "loop.wav"
    with AudioFile(str(path), "w", 44100, 2) as f:
        f.write(loop.T)
    with short_dir() as d, serve(d, catalogue_path=catalogue, embedder=embedder) as (
        server, endpoint,
    ):
        monkeypatch.setenv(defaults.ENDPOINT_ENV, endpoint)
        result = CliRunner().invoke(cli, ["match", str(path), str(path), "--k", "3", "--json"])
        served = server.requests_served
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert len(lines) == 2 and served == 2
    assert lines[0]["query"] == str(path)
    assert set(lines[0]["families"]) >= set(MIX_FAMILIES)
    first = lines[0]["families"]["bass"][0]
    assert {"rank", "name", "locator", "score"} <= set(first) and first["rank"] == 1

    local = CliRunner().invoke(
        cli, ["match", str(path), "--k", "3", "--json", "--local", "--catalogue", str(catalogue)]
    )
    assert local.exit_code == 0, local.output
    local_line = json.loads(local.stdout.strip())
    for family in MIX_FAMILIES:
        assert [h["preset_id"] for h in local_line["families"][family]] == [
            h["preset_id"] for h in lines[0]["families"][family]
        ]

    table = CliRunner().invoke(
        cli, ["match", str(path), "--local", "--catalogue", str(catalogue)]
    )
    assert table.exit_code == 0 and "bass" in table.output
    rows = table.stdout.splitlines()
    assert all(len(row) <= 80 for row in rows), rows  # piped: 80 columns, no wrapped rows
    # The family's header (with its presence when the encoder answers one), then its rows.
    header = next(i for i, row in enumerate(rows) if row.split()[0] == "bass")
    assert "absent" not in rows[header]  # bass plays in this loop
    first_bass = rows[header + 1].split()
    assert first_bass[0] == "1" and first_bass[-1] == lines[0]["families"]["bass"][0]["key"]
