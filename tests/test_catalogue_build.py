"""Catalogue builds from real sources: factory bank, TimGM6mb, generated samples, the test VST3."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from pathlib import Path

import numpy as np
import pytest
from build_support import build_in_flight
from click.testing import CliRunner
from conftest import BUILD_PLUGINS, as_nobody
from pedalboard.io import AudioFile

from cir.cli import cli
from cir.presets_db import build
from cir.presets_db.catalogue import Catalogue
from cir.presets_db.search import load_index

TIMGM = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")
SYNTH = BUILD_PLUGINS / "CIRTestSynth.vst3"
SR = 22_050
FAST = {"embedder": "mfcc80", "workers": 1, "progress": False}


def write_wav(path: Path, audio: np.ndarray, sample_rate: int = SR) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with AudioFile(str(path), "w", samplerate=sample_rate, num_channels=1) as f:
        f.write(audio.astype(np.float32)[None, :])
    return path


def tone(freq: float, seconds: float = 0.6, square: bool = False) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    wave = np.sin(2 * np.pi * freq * t)
    return 0.5 * (np.sign(wave) if square else wave) * np.exp(-3 * t)


def centroid_hz(path: Path) -> float:
    with AudioFile(str(path)) as f:
        audio, sr = f.read(f.frames)[0], f.samplerate
    mag = np.abs(np.fft.rfft(audio))
    return float((mag * np.fft.rfftfreq(audio.size, 1 / sr)).sum() / mag.sum())


@pytest.fixture
def samples(tmp_path) -> Path:
    root = tmp_path / "samples"
    write_wav(root / "Drums" / "hit.wav", np.random.default_rng(0).normal(size=8000) * 0.3)
    write_wav(root / "bass" / "low.wav", tone(55.0, square=True))
    write_wav(root / "Lead" / "high.wav", tone(880.0))
    write_wav(root / "misc" / "unsorted.wav", tone(300.0))  # no family: left out
    (root / "bass" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 10)
    return root


def test_folder_source_builds_incrementally_and_search_finds_each_file(tmp_path, samples):
    with Catalogue.open(tmp_path / "cat.db") as cat:
        summary = build.add_folder(cat, str(samples), **FAST)
        assert (summary.added, summary.skipped, summary.unmapped) == (3, 0, 1)
        (failure,) = summary.failures
        assert failure.key == "bass/broken.wav" and "not a readable audio file" in failure.error
        stats = cat.stats()
        assert stats["by_family"] == {"bass": 1, "lead": 1, "percussion": 1}
        assert stats["failed"] == 1

        low = cat.presets(family="bass", status="ok")[0]
        assert low.locator == {"file": str(samples / "bass" / "low.wav")}
        with AudioFile(str(low.preview)) as f:
            assert f.samplerate == SR and f.frames == int(0.6 * SR)

        # The entry's own clips (the file, and a melodic file where a sampler plays it) as
        # query find it first with cosine about 1; the file alone finds it first too.
        from cir.encoder.baseline import MFCCEmbedder
        from cir.presets_db.sources.folder import read_clip, render_clips

        embedder = MFCCEmbedder()
        index = load_index(cat, embedder.version)
        for record in cat.presets(status="ok"):
            file = record.locator["file"]
            clips = build.normalise_clips(render_clips(file, record.family, SR))
            assert len(clips) == (1 if record.family == "percussion" else 5)
            hits = index.search(build.preset_embedding(embedder, clips), record.family, 3)
            assert hits[0].preset_id == record.id
            assert hits[0].score == pytest.approx(1.0, abs=1e-4)
            alone = build.normalise_clips([read_clip(file, SR)])
            hits = index.search(build.preset_embedding(embedder, alone), record.family, 3)
            assert hits[0].preset_id == record.id

        # Unchanged: nothing rendered (the broken file stays failed, not retried).
        again = build.build(cat, **FAST)
        assert (again.added, again.updated, again.failed, again.skipped) == (0, 0, 0, 4)

        # One file changed, one deleted, the broken one fixed: exactly those are redone.
        write_wav(samples / "Lead" / "high.wav", tone(990.0))
        (samples / "Drums" / "hit.wav").unlink()
        write_wav(samples / "bass" / "broken.wav", tone(60.0))
        third = build.build(cat, **FAST)
        assert (third.added, third.updated, third.removed, third.skipped) == (0, 2, 1, 1)
        assert cat.stats()["failed"] == 0 and cat.stats()["entries"] == 3


def test_builtin_subset_then_rerun_skips_everything(tmp_path):
    with Catalogue.open(tmp_path / "cat.db") as cat:
        first = build.add_builtin(cat, split="test", limit=5, **FAST)
        assert (first.added, first.failed) == (5, 0)
        assert len(cat.stats()["by_family"]) == 5  # limit is family-balanced
        record = cat.presets()[0]
        assert record.source.kind == "builtin" and record.locator["split"] == "test"
        assert len(record.notes) >= 1 and record.preview.exists()
        second = build.add_builtin(cat, split="test", limit=5, **FAST)
        assert (second.added, second.updated, second.skipped) == (0, 0, 5)
        # Another embedder is another vector space: everything is re-embedded, as updates.
        assert cat.stats()["embedders"] == {"mfcc80-v1": 5}


@pytest.mark.slow
@pytest.mark.skipif(
    not TIMGM.exists(), reason=f"{TIMGM} missing: apt-get install timgm6mb-soundfont"
)
def test_sf2_programs_and_drum_kit_pieces(tmp_path):
    with Catalogue.open(tmp_path / "cat.db") as cat:
        summary = build.add_sf2(cat, str(TIMGM), programs=[0, 33, 81], **FAST)
        assert summary.failed == 0
        by_key = {r.key: r for r in cat.presets()}
        assert by_key["000:000"].family == "keys"
        assert by_key["000:033"].family == "bass"
        assert by_key["000:081"].family == "lead"
        kit = [r for r in by_key.values() if r.locator["bank"] == 128]
        assert {r.locator["key"] for r in kit} == {36, 38, 39, 42, 46, 49}
        assert {r.family for r in kit} == {"percussion"}
        assert by_key["000:033"].locator == {"file": str(TIMGM), "bank": 0, "program": 33}
        # Kick and hat are different sounds: each stored vector finds itself, and the hat is
        # brighter.
        ids, matrix, _ = cat.vectors("mfcc80-v1")
        index = load_index(cat, "mfcc80-v1")
        for key in ("128:000:kick", "128:000:closed hat"):
            vector = matrix[list(ids).index(by_key[key].id)]
            assert index.search(vector, "percussion", 1)[0].preset_id == by_key[key].id
        kick, hat = (by_key[f"128:000:{p}"].preview for p in ("kick", "closed hat"))
        assert centroid_hz(hat) > 2 * centroid_hz(kick)
        assert build.build(cat, **FAST).skipped == summary.added


def test_a_soundfont_render_does_not_hear_the_render_before_it():
    """FluidSynth is shared by the renders of a process: a crash cymbal cut off at the end of
    its clip must not ring into the next preset's clip, nor shift its onset."""
    from cir.presets_db.sources.sf2 import SF2Instrument
    from cir.synth.calibrate import band_db, band_distance_db
    from cir.synth.notes import Note

    crash = SF2Instrument(str(TIMGM), 128, 0, 49)
    snare = SF2Instrument(str(TIMGM), 128, 0, 38)
    hit = [Note(60, 90, 0.0, 0.2)]
    alone = snare.render(hit, 1.0, 22050)
    assert np.max(np.abs(alone)) > 0.01
    for seconds in (0.5013, 0.25):  # clips of any length, cut while the crash rings
        crash.render([Note(60, 127, 0.0, 2.0)], seconds, 22050)
        after = snare.render(hit, 1.0, 22050)
        # Same samples from the second FluidSynth block on (the first can ramp its attack
        # differently by a few samples, about 0.002 dB of spectrum): no cymbal, no shift.
        assert np.max(np.abs(after[64:] - alone[64:])) < 1e-3
        assert band_distance_db(band_db(after), band_db(alone)) < 0.05
    crash.render([Note(60, 127, 0.0, 2.0)], 0.3, 22050)
    assert np.max(np.abs(snare.render([], 1.0, 22050))) < 1e-3


@pytest.mark.slow
@pytest.mark.skipif(not SYNTH.exists(), reason=f"{SYNTH} is not built: run `make plugins`")
def test_vst3_presets_by_folder_and_a_corrupt_preset(tmp_path):
    from cir.presets_db.sources.vst3 import write_preset

    presets = tmp_path / "presets"
    write_preset(
        SYNTH, {"waveform": 0.0, "cutoff_hz": 300.0}, presets / "Basses" / "dark.vstpreset"
    )
    write_preset(
        SYNTH, {"waveform": 1.0, "cutoff_hz": 12000.0}, presets / "Leads" / "bright.vstpreset"
    )
    (presets / "Pads").mkdir()
    (presets / "Pads" / "corrupt.vstpreset").write_bytes(b"VST3 this is not a preset")
    with Catalogue.open(tmp_path / "cat.db") as cat:
        summary = build.add_vst3(cat, str(SYNTH), presets=str(presets), **FAST)
        assert summary.added == 2
        assert [f.key for f in summary.failures] == ["Pads/corrupt.vstpreset"]
        dark, bright = (cat.presets(family=f)[0] for f in ("bass", "lead"))
        assert dark.locator["preset"].endswith("dark.vstpreset")
        assert centroid_hz(bright.preview) > 2 * centroid_hz(dark.preview)
        assert build.build(cat, **FAST).skipped == 3


def test_cli_errors_are_one_clear_line(tmp_path):
    runner = CliRunner()
    db = str(tmp_path / "cat.db")
    cases = [
        (["add-folder", str(tmp_path / "missing")], "does not exist"),
        (["add-folder", str(tmp_path), "--family", "tuba"], "unknown family 'tuba'"),
        (["add-folder", str(tmp_path)], "no audio files"),
        (["add-sf2", str(tmp_path / "cat.db.txt")], "does not exist"),
        (["add-vst3", str(tmp_path)], "not a VST3 plugin"),
        (["show", "12"], "preset 12 is not in the catalogue"),
        (["remove", "7"], "not a registered source"),
    ]
    (tmp_path / "cat.db.txt").write_text("x")
    cases[3] = (["add-sf2", str(tmp_path / "cat.db.txt")], "not a SoundFont")
    for args, message in cases:
        res = runner.invoke(cli, ["catalogue", *args, "--db", db])
        assert res.exit_code == 1, (args, res.output)
        assert message in res.output and "Traceback" not in res.output


def test_unreadable_folder_is_one_clear_error():
    # The catalogue and the folder sit where nobody may enter: pytest's tmp_path is 0700.
    shared = Path(tempfile.mkdtemp(prefix="cir-nobody-"))
    try:
        shared.chmod(0o777)
        locked = shared / "locked"
        locked.mkdir(mode=0)
        args = ["catalogue", "add-folder", str(locked), "--db", str(shared / "cat.db")]
        runner = CliRunner()
        runner.invoke(cli, args)  # once as ourselves: every module it needs is imported
        (shared / "cat.db").unlink(missing_ok=True)
        with as_nobody():
            res = runner.invoke(cli, args)
        assert res.exit_code == 1, res.output
        assert "not readable" in res.output and "Traceback" not in res.output
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def test_every_command_has_help_with_an_example():
    import click

    from cir.cli.catalogue import catalogue

    commands = []
    for name, command in catalogue.commands.items():
        assert "Example:" in (command.help or ""), name
        if isinstance(command, click.Group):  # `server start|status|stop`
            commands += [(f"{name} {sub}", c) for sub, c in command.commands.items()]
        else:
            commands.append((name, command))
    for name, command in commands:
        assert "Example:" in (command.help or ""), name
        params = {p.name for p in command.params}
        assert "as_json" in params, name
        # Every command that opens a catalogue file takes --db; reload asks the daemon, and
        # the shared catalogue's server commands run a server, not a catalogue.
        assert ("db" in params) == (name != "reload" and not name.startswith("server")), name


@pytest.mark.slow
def test_build_killed_mid_way_resumes_without_loss(tmp_path):
    db = tmp_path / "cat.db"
    total = 24
    with Catalogue.open(db) as cat:
        cat.add_source("builtin", "factory", {"limit": total})
    proc = build_in_flight(db, "--workers", "1")
    try:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    with Catalogue.open(db) as cat:
        kept = cat.stats()["entries"]
        assert 4 <= kept < total
        # Every kept preset is whole: its render and its vector were written with it.
        assert load_index(cat, "mfcc80-v1").size == kept
        summary = build.build(cat, embedder="mfcc80", workers=2, progress=False)
        assert (summary.skipped, summary.added, summary.failed) == (kept, total - kept, 0)
        assert cat.stats()["entries"] == total
        assert cat.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
