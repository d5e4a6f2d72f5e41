"""The factory bank: size, identity, determinism, splits, siblings, registers and levels."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter, defaultdict

import numpy as np
import pytest

from cir import defaults
from cir.families import FAMILIES, FAMILY_SPECS, UnknownFamilyError
from cir.synth.bank import (
    UnknownPresetError,
    UnknownSplitError,
    bank_digest,
    draw_bank,
    factory_bank,
    get_preset,
    presets,
    split_of,
    stem_of,
)
from cir.synth.calibrate import (
    BANK_LEVEL_DBFS,
    BANK_SIBLING_MIN_DB,
    loudness_db,
    render_canonical,
    sibling_distance_db,
    sibling_too_close,
)
from cir.synth.engine import render
from cir.synth.notes import Note
from cir.synth.preset import Preset

SR = defaults.MODEL_SAMPLE_RATE


def _sample(family: str, count: int) -> list[Preset]:
    """`count` presets spread evenly over the family (so every sub-category is visited)."""
    members = presets(family)
    step = len(members) // count
    return members[::step][:count]


def _spectrum(audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    power = np.abs(np.fft.rfft(audio * np.hanning(len(audio)))) ** 2
    return np.fft.rfftfreq(len(audio), 1.0 / SR), power


def test_bank_has_thousands_of_presets_in_every_family():
    counts = Counter(p.family for p in factory_bank())
    assert sum(counts.values()) >= 6000
    for family in ("percussion", "bass", "lead"):
        assert counts[family] >= 1000, family
    for family in ("pad", "keys"):
        assert counts[family] >= 500, family
    assert set(counts) == set(FAMILIES)


def test_ids_and_names_are_unique_and_readable():
    bank = factory_bank()
    ids = [p.id for p in bank]
    assert len(set(ids)) == len(ids)
    assert len({p.name for p in bank}) == len(bank)
    for p in bank:
        assert re.fullmatch(rf"{p.family}-\d{{4}}", p.id), p.id
        assert re.fullmatch(r"[A-Z0-9][\w\- ]+ \d{3}", p.name), p.name
        assert p.tags and p.tags[0] != "sibling"
    assert get_preset("bass-0042").id == "bass-0042"
    assert get_preset("percussion-0001").family == "percussion"


def test_no_two_presets_make_the_same_sound():
    keys = {
        (p.voice, tuple((e.type, tuple(sorted(e.params.items()))) for e in p.effects))
        for p in factory_bank()
    }
    assert len(keys) == len(factory_bank())


def test_same_version_gives_the_same_bank_in_a_fresh_process():
    out = subprocess.run(
        [sys.executable, "-c", "from cir.synth.bank import bank_digest; print(bank_digest())"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == bank_digest()
    # And rebuilding in this process (cache cleared) gives equal presets, in the same order.
    before = factory_bank()
    factory_bank.cache_clear()
    assert factory_bank() == before


def test_splits_are_80_10_10_per_family_and_a_pure_function_of_the_id():
    for family in FAMILIES:
        members = presets(family)
        counts = Counter(split_of(p.id) for p in members)
        fractions = [counts[s] / len(members) for s in defaults.SPLITS]
        expected = [*defaults.SPLIT_FRACTIONS, 1 - sum(defaults.SPLIT_FRACTIONS)]
        assert np.allclose(fractions, expected, atol=0.02), (family, fractions)
        for split in defaults.SPLITS:
            assert {p.id for p in presets(family, split)} == {
                p.id for p in members if split_of(p.id) == split
            }
    # Ids outside the bank split too: a preset added later never moves existing ones.
    assert split_of("bass-9999") == split_of("bass-9999") in defaults.SPLITS
    assert Counter(split_of(f"x-{i}") for i in range(5000))["train"] > 3800


def test_lookups_validate_family_split_and_id():
    assert {p.family for p in presets("basses")} == {"bass"}
    assert {split_of(p.id) for p in presets(split="test")} == {"test"}
    with pytest.raises(UnknownFamilyError, match="percussion, bass, lead"):
        presets("strings")
    with pytest.raises(UnknownSplitError, match="train, valid, test"):
        presets(split="holdout")
    assert get_preset("bass-042").id == get_preset("Bass-42").id == "bass-0042"
    with pytest.raises(UnknownPresetError, match=r"bass-0042.*cir synth list"):
        get_preset("bas-0042")
    with pytest.raises(UnknownPresetError, match=r"no factory preset 'bass-9999'"):
        get_preset("bass-9999")


def test_about_a_fifth_are_siblings_close_to_a_parent_of_their_kind():
    bank = factory_bank()
    siblings = [p for p in bank if "sibling" in p.tags]
    assert 0.15 <= len(siblings) / len(bank) <= 0.25
    for p in siblings[::25]:
        (parent_tag,) = [t for t in p.tags if t.startswith("parent:")]
        parent = get_preset(parent_tag.split(":", 1)[1])
        assert parent.family == p.family and parent.tags[0] == p.tags[0]
        assert stem_of(parent) == stem_of(p)
        assert "sibling" not in parent.tags
        assert parent.voice != p.voice or parent.effects != p.effects
        # A moderate move: the same sources, or the same filter type, still.
        assert len(parent.voice.oscillators) == len(p.voice.oscillators)
        assert parent.voice.filter.type == p.voice.filter.type


def test_siblings_sound_different_from_their_parent_on_the_canonical_note():
    siblings = [p for p in factory_bank() if "sibling" in p.tags]
    for p in siblings[::20]:
        parent = get_preset(next(t for t in p.tags if t.startswith("parent:")).split(":", 1)[1])
        assert sibling_distance_db(parent, p) >= BANK_SIBLING_MIN_DB, p.id


def test_the_sibling_check_finds_twins():
    p = factory_bank()[0]
    assert sibling_distance_db(p, p) == 0.0 and sibling_too_close(p, p)
    other = get_preset("percussion-0002")
    assert sibling_distance_db(p, other) > BANK_SIBLING_MIN_DB


@pytest.mark.slow
def test_the_sibling_redraw_table_is_current():
    # The bank drawn with live renders must equal the one drawn from the measured table;
    # if not, re-run `python -m cir.synth.calibrate --siblings` and paste its table.
    assert draw_bank(too_close=sibling_too_close) == factory_bank()


def test_percussion_plays_its_designed_sound_on_any_key():
    for p in _sample("percussion", 8):
        at = {n: render(p, [Note(n, 100, 0.0, 0.25)], sample_rate=SR, seconds=0.5)
              for n in (36, 60, 72)}
        np.testing.assert_array_equal(at[36], at[60])
        np.testing.assert_array_equal(at[72], at[60])


def test_presets_round_trip_through_json():
    for p in factory_bank()[::3]:
        again = Preset.from_dict(json.loads(p.to_json()))
        assert again == p
        assert again.to_json() == p.to_json()


def test_every_engine_feature_is_used_somewhere():
    bank = factory_bank()
    voices = [p.voice for p in bank]
    oscs = [o for v in voices for o in v.oscillators]
    assert {o.wave for o in oscs} == {"saw", "square", "triangle", "sine", "noise"}
    assert any(o.sync for o in oscs) and any(o.unison > 5 for o in oscs)
    assert any(o.pulse_width < 0.2 for o in oscs if o.wave == "square")
    assert {v.sub.octave for v in voices if v.sub.level > 0} == {-1, -2}
    assert {v.sub.wave for v in voices if v.sub.level > 0} == {"sine", "square", "triangle"}
    fms = [v.fm for v in voices if v.fm is not None]
    assert {f.algorithm for f in fms} == {"stack", "pairs", "parallel", "y"}
    assert {len(f.operators) for f in fms} == {2, 3, 4}
    assert any(op.feedback > 0 for f in fms for op in f.operators)
    assert {v.filter.type for v in voices} == {"none", "lowpass", "highpass", "bandpass"}
    assert {v.filter.slope_db for v in voices} == {12, 24}
    assert any(v.filter.velocity_oct > 0 for v in voices)
    assert any(v.pitch_env.amount_semitones < 0 for v in voices)
    lfos = {(lfo.target, lfo.shape) for v in voices for lfo in v.lfos}
    assert {t for t, _ in lfos} == {"pitch", "pulse_width", "cutoff", "amp"}
    assert {s for _, s in lfos} == {"sine", "triangle", "square", "saw"}
    assert any(v.noise_color == "pink" for v in voices)
    assert any(v.mono and v.glide > 0 for v in voices) and any(v.drive > 0.5 for v in voices)
    effects = Counter(e.type for p in bank for e in p.effects)
    assert set(effects) == {
        "chorus",
        "delay",
        "reverb",
        "distortion",
        "ladder",
        "compressor",
        "phaser",
        "bitcrush",
    }
    assert sum(1 for p in bank if p.effects) > len(bank) // 3


def test_families_play_in_their_registers():
    centroids: dict[str, list[float]] = defaultdict(list)
    for family in ("bass", "lead"):
        for p in _sample(family, 12):
            audio = render(
                p,
                [Note(FAMILY_SPECS[family].canonical_pitch, 100, 0.0, 0.8)],
                sample_rate=SR,
                seconds=1.0,
            )
            freqs, power = _spectrum(audio)
            centroids[family].append(float((freqs * power).sum() / power.sum()))
            low = power[freqs < 500].sum() / power.sum()
            if family == "bass":
                assert low > 0.5, (p.id, low)  # the low end carries a bass
            else:
                assert low < 0.5, (p.id, low)
    assert max(centroids["bass"]) < 1200
    assert min(centroids["lead"]) > 300
    assert np.median(centroids["lead"]) > 3 * np.median(centroids["bass"])


def test_percussion_are_one_shots_that_die_while_held():
    for p in _sample("percussion", 16):
        assert p.voice.amp_env.sustain == 0.0, p.id
        audio = render(p, [Note(60, 100, 0.0, 1.0)], sample_rate=SR, seconds=1.0)
        frames = audio[: len(audio) // 512 * 512].reshape(-1, 512)
        peak = np.sqrt((frames**2).mean(axis=1)).max()
        tail = np.sqrt((audio[int(0.8 * len(audio)) :] ** 2).mean())
        assert peak > 1e-3, p.id
        assert 20 * np.log10((tail + 1e-12) / peak) < -30, p.id


def test_levels_are_sane_across_kinds():
    by_stem: dict[str, list[Preset]] = defaultdict(list)
    for p in factory_bank():
        by_stem[stem_of(p)].append(p)
    levels = {}
    for members in by_stem.values():
        for p in members[:: max(1, len(members) // 2)][:2]:
            levels[p.id] = loudness_db(render_canonical(p))
    quietest, loudest = min(levels.values()), max(levels.values())
    assert quietest > -40, min(levels, key=levels.get)
    assert loudest < 0.5
    median = float(np.median(list(levels.values())))
    assert abs(median - BANK_LEVEL_DBFS) < 4
