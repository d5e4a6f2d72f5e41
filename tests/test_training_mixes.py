"""The seeded mixture generator and the benchmark query sets: rules and determinism."""

from __future__ import annotations

import numpy as np
import pytest

from cir import defaults
from cir.encoder.features import FeatureConfig, log_mel
from cir.families import FAMILY_SPECS
from cir.synth import bank
from cir.training.constants import MIX_SCALES, MIX_TEMPO_RANGE
from cir.training.mixes import (
    Line,
    MixError,
    MixNote,
    MixPlan,
    item_rng,
    mix_mels,
    plan_mix,
    render_mix,
)

SR = defaults.MODEL_SAMPLE_RATE


def test_plans_follow_the_rules():
    for index in range(40):
        plan = plan_mix(("percussion", "bass", "lead"), item_rng(3, index), 6.0)
        lo, hi = MIX_TEMPO_RANGE
        assert lo <= plan.tempo <= hi
        for line in plan.lines:
            assert line.notes, "every part sounds"
            p_lo, p_hi = FAMILY_SPECS[line.family].pitch_range
            onsets = [n.onset for n in line.notes]
            assert onsets == sorted(onsets)
            for note, following in zip(line.notes, line.notes[1:], strict=False):
                assert note.end == following.onset  # monophonic: cut at the next onset
            for n in line.notes:
                assert p_lo <= n.pitch <= p_hi
                assert 0 < n.gate <= n.end - n.onset + 1e-9
                assert (n.pitch - plan.root) % 12 in MIX_SCALES[plan.scale]


def test_percussion_never_rests():
    beat_sum = 0.0
    for index in range(20):
        plan = plan_mix(("percussion",), item_rng(1, index), 6.0)
        notes = plan.lines[0].notes
        # No silent slot: consecutive onsets are a whole slot apart, the last ends at the end.
        beat_sum += sum(n.end - n.onset for n in notes)
    assert beat_sum == pytest.approx(20 * 6.0, rel=0.02)


def test_same_seed_same_plan_other_index_other_plan():
    a = plan_mix(rng=item_rng(7, 11))
    assert a == plan_mix(rng=item_rng(7, 11))
    assert a != plan_mix(rng=item_rng(7, 12))
    with pytest.raises(MixError):
        plan_mix(("choir",), item_rng(0, 0))


@pytest.fixture(scope="module")
def three_presets():
    return {f: bank.presets(f, "test")[0] for f in ("percussion", "bass", "lead")}


def test_render_mix_is_deterministic_and_levelled(three_presets):
    mix, stems, info = render_mix(three_presets, seed=5, seconds=3.0, sample_rate=SR, index=2)
    again, _, _ = render_mix(three_presets, seed=5, seconds=3.0, sample_rate=SR, index=2)
    other, _, _ = render_mix(three_presets, seed=5, seconds=3.0, sample_rate=SR, index=3)
    assert mix.shape == (3 * SR,) and mix.dtype == np.float32
    assert np.array_equal(mix, again) and not np.array_equal(mix, other)
    assert np.max(np.abs(mix)) == pytest.approx(defaults.RENDER_PEAK, rel=1e-4)
    assert np.allclose(sum(stems.values()), mix, atol=1e-5)
    peaks = {f: np.max(np.abs(s)) for f, s in stems.items()}
    # Percussion was boosted x4 relative to the other peak-normalised tracks.
    assert peaks["percussion"] == pytest.approx(4 * peaks["bass"], rel=1e-3)
    assert info["seed"] == 5 and info["index"] == 2 and set(info["notes"]) == set(stems)


def test_mix_mels_levels_match_a_rendered_single_note(three_presets):
    """One bass note laid out from its cached log-mel == the rendered, levelled track."""
    fc = FeatureConfig()
    from cir.synth.engine import BuiltinInstrument
    from cir.synth.notes import Note

    note = MixNote(onset=0.5, pitch=40, velocity=100, gate=0.5, end=2.0)
    plan = MixPlan(2.0, 120.0, 0, "major", (Line("bass", (note,)),))
    clip = BuiltinInstrument(three_presets["bass"]).render([Note(40, 100, 0.0, 0.5)], 1.5, SR)
    cached = log_mel(clip, fc).numpy()
    frames = fc.frames(2 * SR)
    got = mix_mels(
        plan, lambda f, n: (cached, float(np.max(np.abs(clip)))), frames, fc.hop / SR, fc.log_floor
    )
    start = round(0.5 * SR / fc.hop)
    real = np.zeros(2 * SR, np.float32)
    real[int(0.5 * SR) : int(0.5 * SR) + len(clip)] = (
        clip / np.max(np.abs(clip)) * defaults.RENDER_PEAK
    )
    expected = log_mel(real, fc).numpy()
    loud = expected > np.log(fc.log_floor) + 5
    assert got.shape == expected.shape
    # Same level within 1 dB-ish in the loud bins (frame alignment and edges aside).
    assert (
        np.median(
            np.abs(got[:, start + 2 : start + 60] - expected[:, start + 2 : start + 60])[
                loud[:, start + 2 : start + 60]
            ]
        )
        < 0.25
    )


def test_every_line_sounds_even_when_only_its_last_slot_is_drawn_audible():
    """Regression: a line whose only audible slot starts at the very end (onset jittered past
    it) came out empty and crashed training ("mix plan has no audible note")."""
    from cir.training.mixes import _line

    # One beat of 1 s in a 1.0005 s mix: the second slot starts 0.5 ms before the end.
    for seed in range(300):
        line = _line("bass", np.random.default_rng(seed), 1.0005, 1.0, list(range(40, 52)))
        assert line.notes, f"seed {seed}: no note in the line"
        assert all(n.end - n.onset > 0 and n.onset < 1.0005 for n in line.notes)
