"""Transfer to instruments nobody here made: the ext benchmarks' instruments (DX7 voices through
Dexed, hydrogen-style drum kits) on small fixtures made here, their independence from
training, the solo route (a single instrument read by the catalogue encoder, its family
present), and the heads' new training items (single notes, the solo logit, the bus)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cir import defaults
from cir.encoder.api import QueryReading, settle_presence
from cir.evaluation import external
from cir.families import FAMILY_SPECS
from cir.presets_db.render import REFERENCE_NOTES
from cir.synth.notes import Note
from cir.training.family_heads import bus_mel

RATE = 22_050


# --- the family rule -----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "family"), [
    ("BASS    1 ", "bass"), ("E.BASS   A", "bass"), ("FB:SynBas1", "bass"),
    ("BASSOON   ", "lead"), ("SAX BC    ", "lead"), ("FB:Flute  ", "lead"),
    ("SYN-LEAD 1", "lead"), ("TRUMPET  A", "lead"), ("MARIMBA   ", "percussion"),
    ("B.DRM-SNAR", "percussion"), ("FB:Tom Tom", "percussion"), ("E.PIANO 1 ", "keys"),
    ("HORN SEC.A", "pad"), ("STRINGS 1 ", "pad"), ("TRAIN     ", None), ("GUITAR  1 ", None),
])
def test_dx7_names_give_families_by_the_written_rule(name, family):
    assert external.dx7_family(name) == family


# --- kits: a sampler over velocity layers --------------------------------------------------------


def _write_wav(path, audio, rate=RATE):
    from pedalboard.io import AudioFile

    with AudioFile(str(path), "w", samplerate=rate, num_channels=1) as f:
        f.write(np.asarray(audio, np.float32)[None, :])


def _decay(freq: float, seconds: float = 0.6, rate: int = RATE) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t) * np.exp(-t / 0.1)).astype(np.float32)


@pytest.fixture
def kits(tmp_path):
    """Two tiny kits: one layered (soft and hard samples), one in the old one-file format,
    whose snare is a byte copy of the first kit's hard kick (kept once)."""
    layered, old = tmp_path / "Layered Kit", tmp_path / "OldKit"
    layered.mkdir()
    old.mkdir()
    _write_wav(layered / "kick-soft.wav", _decay(60))
    _write_wav(layered / "kick-hard.wav", _decay(90))
    (layered / "drumkit.xml").write_text(
        '<?xml version="1.0"?><drumkit_info xmlns="http://www.hydrogen-music.org/drumkit">'
        "<name>Layered Kit</name><instrumentList><instrument><id>0</id><name>Kick</name>"
        "<volume>1</volume>"
        "<layer><filename>kick-soft.wav</filename><min>0</min><max>0.5</max><gain>1</gain>"
        "</layer><layer><filename>kick-hard.wav</filename><min>0.5</min><max>1</max>"
        "<gain>1</gain></layer></instrument></instrumentList></drumkit_info>")
    (old / "snare.wav").write_bytes((layered / "kick-hard.wav").read_bytes())
    _write_wav(old / "hat.wav", np.random.default_rng(0).normal(0, 0.2, 4000))
    (old / "drumkit.xml").write_text(
        "<drumkit_info><name>OldKit</name><instrumentList>"
        "<instrument><id>0</id><name>snare</name><filename>snare.wav</filename></instrument>"
        "<instrument><id>1</id><name>hat</name><filename>hat.wav</filename></instrument>"
        "<instrument><id>2</id><name>gone</name><filename>missing.wav</filename></instrument>"
        "</instrumentList></drumkit_info>")
    return tmp_path


def test_kit_pieces_are_read_from_both_formats_and_twins_kept_once(kits):
    pieces = external.kit_pieces(kits)
    assert [p.name for p in pieces] == ["Layered Kit Kick", "OldKit hat"]
    assert all(p.family == "percussion" and p.kind == "kit" for p in pieces)
    layers, volume = pieces[0].spec
    assert len(layers) == 2 and volume == 1.0


def test_a_kit_piece_plays_its_velocity_layer_at_the_catalogue_level(kits):
    kick = external.make_instrument(external.kit_pieces(kits)[0])
    soft = kick.render([Note(60, 40, 0.0, 0.2)], 1.0, RATE)
    hard = kick.render([Note(60, 100, 0.0, 0.2)], 1.0, RATE)
    assert soft.shape == hard.shape == (RATE,)
    assert np.abs(hard).max() == pytest.approx(defaults.RENDER_PEAK, rel=1e-3)
    # The hard layer is 90 Hz, the soft one 60 Hz: velocity picks the sample.
    spectrum = lambda x: np.argmax(np.abs(np.fft.rfft(x, RATE)))  # noqa: E731
    assert abs(spectrum(hard) - 90) <= 2 and abs(spectrum(soft) - 60) <= 2
    # One-shot: the note's length does not cut it; another pitch does not change it.
    longer = kick.render([Note(65, 100, 0.0, 0.9)], 1.0, RATE)
    assert np.allclose(longer, hard, atol=1e-6)


def test_the_one_shot_folder_holds_one_file_per_sound_by_family(kits, tmp_path):
    from cir.presets_db.sources import folder

    pieces = external.kit_pieces(kits)
    paths = external.write_folder(pieces, tmp_path / "folder", 44_100)
    assert [p.parent.name for p in paths] == ["percussion", "percussion"]
    entries = list(folder.scan(str(tmp_path / "folder"), {}))
    assert len(entries) == 2 and {e.family for e in entries} == {"percussion"}
    clip = folder.render_clips(str(paths[0]), "percussion", RATE)[0]
    assert np.abs(clip).max() == pytest.approx(defaults.RENDER_PEAK, rel=0.05)


# --- DX7 voices through Dexed --------------------------------------------------------------------


def test_dx7_voices_play_at_their_pitch_and_level_and_twins_are_kept_once(tmp_path):
    import dexed

    voice = dexed.Patch().to_packed()  # the init voice: one sine carrier
    assert len(voice) == external.DX7_VOICE_BYTES
    renamed = voice[:-10] + b"BASS  TWIN"  # the same sound under another name
    flute = bytearray(voice)
    flute[-10:] = b"FLUTE 1   "
    flute[0] = (flute[0] + 10) % 100  # another envelope rate: another sound
    (tmp_path / "bank.dx7").write_bytes(voice[:-10] + b"SYN-BASS 1" + renamed + bytes(flute))
    voices = external.dx7_voices(tmp_path)
    assert [(v.name, v.family) for v in voices] == [("SYN-BASS 1", "bass"), ("FLUTE 1", "lead")]
    bass = external.make_instrument(voices[0])
    audio = bass.render([Note(45, 100, 0.0, 0.5)], 1.0, RATE)
    assert audio.shape == (RATE,) and np.isfinite(audio).all()
    peak_bin = np.argmax(np.abs(np.fft.rfft(audio[: RATE // 2], RATE)))
    assert abs(peak_bin - 110) <= 3  # MIDI 45 = 110 Hz
    canonical = bass.render([Note(FAMILY_SPECS["bass"].canonical_pitch, 100, 0.0, 0.8)], 1.5, RATE)
    assert np.abs(canonical).max() == pytest.approx(defaults.RENDER_PEAK, rel=1e-3)


def test_without_the_packages_the_ext_benchmarks_say_what_to_install(tmp_path, monkeypatch):
    from cir.evaluation import harness as evaluate

    monkeypatch.setattr(external, "HEXTER_DIR", tmp_path / "none")
    monkeypatch.setattr(external, "HYDROGEN_KITS_DIR", tmp_path / "none")
    with pytest.raises(evaluate.BenchmarkError, match="apt-get install hexter hydrogen-drumkits"):
        evaluate.run_benchmark("ext-single", queries=1, progress=False)


# --- independence from training ------------------------------------------------------------------


def test_training_refuses_every_ext_engine_and_kit_recording(tmp_path):
    external.check_training_independence({"builtin", "sf2"}, ["/x/TimGM6mb.sf2"])
    with pytest.raises(external.ExtError, match="dx7"):
        external.check_training_independence({"builtin", "dx7"}, [])
    with pytest.raises(external.ExtError, match="Black_Pearl_4_LV2"):
        external.check_training_independence({"sf2"}, ["/usr/share/sounds/sf2/"
                                                       "Black_Pearl_4_LV2.sf2"])


def test_no_shipped_training_config_plays_an_ext_sound():
    from pathlib import Path

    import cir.training

    configs = sorted((Path(cir.training.__file__).parent / "configs").glob("*.json"))
    assert configs
    for path in configs:
        fonts = json.loads(path.read_text()).get("soundfonts", [])
        external.check_training_independence({"builtin", "sf2"}, fonts)
        assert not any(str(external.HYDROGEN_KITS_DIR) in f or str(external.HEXTER_DIR) in f
                       for f in fonts), path


# --- the solo route ------------------------------------------------------------------------------


def test_a_solo_is_present_in_the_family_of_its_best_hit():
    reading = QueryReading({}, {"percussion": 0.1, "lead": 0.3, "keys": 0.86}, solo=0.9)
    settled = settle_presence(reading, {"percussion": 0.2, "lead": 0.506, "keys": 0.251})
    assert settled == {"percussion": 0.1, "lead": 0.9, "keys": pytest.approx(0.1)}
    mixture = QueryReading({}, {"lead": 0.3, "keys": 0.86}, solo=0.2)
    assert settle_presence(mixture, {"lead": 0.9, "keys": 0.1}) == mixture.presence
    no_solo_output = QueryReading({}, {"lead": 0.3}, solo=None)
    assert settle_presence(no_solo_output, {"lead": 0.9}) == {"lead": 0.3}


def test_the_bus_adds_a_tail_and_turns_loud_frames_down():
    floor = 1e-10
    mel = np.full((8, 200), np.log(floor), np.float32)
    mel[:, 20:40] = np.log(1.0)  # a loud note
    mel[:, 120:140] = np.log(1e-3)  # a quiet one, 30 dB down
    out = bus_mel(mel, np.random.default_rng(3), 512 / RATE, floor)
    assert out.shape == mel.shape and np.isfinite(out).all()
    assert (out[:, 45:60] > np.log(floor) + 1.0).all()  # the reverb's tail after the note
    before = mel[0, 30] - mel[0, 130]
    after = out[0, 30] - out[0, 130]
    assert after < before - 0.5  # compressed: the loud note came closer to the quiet one


@pytest.mark.slow
def test_heads_learn_single_notes_and_a_solo_logit_and_read_solos_by_the_encoder(
        tmp_path, monkeypatch):
    from daemon_support import tiny_heads_checkpoint
    from test_training_family_heads import TINY

    from cir.encoder.embed import HeadsEmbedder
    from cir.training.config import FamilyHeadsTrainConfig
    from cir.training.family_heads import make_mix_batch, prepare_heads_data, train_family_heads

    monkeypatch.setenv("CIR_CACHE", str(tmp_path / "cache"))
    start = tiny_heads_checkpoint(tmp_path / "h.pt", presence=True)
    config = FamilyHeadsTrainConfig.from_dict({
        **TINY, "mixes": 8, "frozen_encoder": str(tmp_path / "h.frozen.pt"),
        "init_heads": str(start), "note_share": 0.5, "solo": True, "bus_share": 0.5})
    hd = prepare_heads_data(config, progress=False)
    batch = make_mix_batch(1, config, hd)
    assert torch.equal(batch.solo > 0, batch.present.sum(1) == 1)  # one instrument alone
    assert np.isfinite(batch.mixes.numpy()).all()
    plain = FamilyHeadsTrainConfig.from_dict({**config.to_dict(), "note_share": 0.0,
                                              "bus_share": 0.0, "solo": False})
    assert make_mix_batch(1, plain, hd).solo.shape == (8,)

    summary = train_family_heads(config, tmp_path / "run", progress=False)
    assert summary["steps"] == 2
    valid = [json.loads(x) for x in (tmp_path / "run" / "train.log").read_text().splitlines()
             if '"valid"' in x]
    assert all(0 <= r["solo_recall"] <= 1 and 0 <= r["solo_false"] <= 1 for r in valid)

    embedder = HeadsEmbedder(tmp_path / "run" / "best.pt", device="cpu")
    note = np.sin(2 * np.pi * 220 * np.arange(RATE) / RATE).astype(np.float32) * 0.5
    reading = embedder.read(note, ("bass", "lead"))
    assert reading.solo is not None and 0 <= reading.solo <= 1
    assert all(v.shape[0] == 1 for v in reading.vectors.values())
    if reading.is_solo:  # a solo is read by the catalogue encoder alone, in every family
        shared = embedder.embed_query(note)
        assert all(np.allclose(v[0], shared, atol=1e-5) for v in reading.vectors.values())

    from cir.evaluation import harness as evaluate

    result = evaluate.run_benchmark(
        "builtin-single", queries=4, seed=1, embedder=str(tmp_path / "run" / "best.pt"),
        workers=1, progress=False, catalogue_per_family=3)
    presence = result["presence"]
    assert presence["queries"] == 4 and 0 <= presence["recall"] <= 100
    lines = presence["lines"]
    assert lines["lines"] == 1 and 0 <= lines["top1"] <= 100 and 0 <= lines["recall"] <= 100
    table = evaluate.format_table(result)
    assert "single-sound queries" in table and "solo lines (1" in table


def test_a_melodic_one_shot_is_also_heard_where_a_sampler_would_play_it(tmp_path):
    from cir.presets_db.sources import folder

    t = np.arange(RATE) / RATE
    tone = (0.5 * np.sin(2 * np.pi * 220 * t) * np.exp(-t / 0.5)).astype(np.float32)
    _write_wav(tmp_path / "bass.wav", tone)
    offsets = folder.repitch_semitones("bass")
    assert offsets[0] == 0 and set(offsets) == {o for o, _ in REFERENCE_NOTES["bass"]}
    clips = folder.render_clips(str(tmp_path / "bass.wav"), "bass", RATE)
    assert len(clips) == len(offsets)
    for offset, clip in zip(offsets, clips, strict=True):
        want = 220 * 2 ** (offset / 12)
        got = np.argmax(np.abs(np.fft.rfft(clip, RATE * 4))) / 4
        assert abs(got - want) < 0.02 * want, (offset, got, want)
        # Higher is shorter, as a sampler plays it.
        assert abs(len(clip) - RATE * 2 ** (-offset / 12)) <= 2
    assert folder.repitch_semitones("percussion") == (0,)
