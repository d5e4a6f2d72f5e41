"""The built-in synth engine measured as physics: pitch, envelopes, spectra, lengths, errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from cir import defaults
from cir.errors import CIRError
from cir.presets_db.render import Instrument
from cir.synth.engine import BuiltinInstrument, RenderError, render, render_note
from cir.synth.notes import Note, midi_to_hz
from cir.synth.preset import (
    FM,
    LFO,
    Effect,
    EffectError,
    Envelope,
    Filter,
    Operator,
    Oscillator,
    PitchEnvelope,
    Preset,
    PresetError,
    Sub,
    Voice,
)

NO_FILTER = Filter(type="none")
FLAT = Envelope(attack=0.001, decay=0.1, sustain=1.0, release=0.05)


def make(pid: str = "test-0001", family: str = "lead", effects=(), **voice) -> Preset:
    voice.setdefault("filter", NO_FILTER)
    voice.setdefault("amp_env", FLAT)
    return Preset(id=pid, name="Test", family=family, voice=Voice(**voice), effects=tuple(effects))


def f0(audio: np.ndarray, sr: int) -> float:
    """Frequency of the strongest spectral peak (Hann window, parabolic interpolation)."""
    spec = np.abs(np.fft.rfft(audio * np.hanning(len(audio)), 8 * len(audio)))
    spec[: int(20 / sr * 8 * len(audio))] = 0
    k = int(np.argmax(spec))
    a, b, c = np.log(spec[k - 1 : k + 2] + 1e-20)
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * sr / (8 * len(audio))


def rms_db(audio: np.ndarray, sr: int, hop: float = 0.005) -> np.ndarray:
    n = int(hop * sr)
    frames = audio[: len(audio) // n * n].reshape(-1, n).astype(np.float64)
    return 10 * np.log10(np.mean(frames**2, axis=1) + 1e-20)


def band_db(audio: np.ndarray, sr: int, lo: float, hi: float) -> float:
    spec = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / sr)
    return 10 * np.log10(spec[(freqs >= lo) & (freqs < hi)].sum() + 1e-20)


# --- pitch ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("sr", [8_000, 22_050, 44_100, 96_000])
@pytest.mark.parametrize("wave", ["saw", "square", "triangle", "sine"])
def test_oscillator_pitch(wave, sr):
    pitch = 57 if sr > 8_000 else 45
    audio = render_note(make(oscillators=(Oscillator(wave=wave),)), pitch, duration=0.5,
                        seconds=0.5, sample_rate=sr)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert f0(audio[sr // 20 :], sr) == pytest.approx(midi_to_hz(pitch), rel=0.01)


@pytest.mark.parametrize("sr", [22_050, 48_000])
def test_fm_pitch(sr):
    fm = FM(operators=(Operator(ratio=1.0), Operator(ratio=2.0, level=1.5)), algorithm="stack")
    preset = make(oscillators=(Oscillator(level=0.0),), fm=fm)
    audio = render_note(preset, 64, duration=0.5, seconds=0.5, sample_rate=sr)
    assert f0(audio, sr) == pytest.approx(midi_to_hz(64), rel=0.01)


@pytest.mark.parametrize("algorithm", ["stack", "pairs", "parallel", "y"])
def test_fm_algorithms_render_distinct_finite_sound(algorithm):
    ops = (Operator(ratio=1.0), Operator(ratio=3.0, level=2.0, feedback=0.5),
           Operator(ratio=1.0), Operator(ratio=7.0, level=1.0))
    preset = make(oscillators=(Oscillator(level=0.0),), fm=FM(operators=ops, algorithm=algorithm))
    audio = render_note(preset, 60, duration=0.3, seconds=0.3)
    assert np.isfinite(audio).all() and np.abs(audio).max() > 0.05


def test_unison_sync_and_sub_keep_the_note_pitch():
    sr = 44_100
    for osc, sub in [
        (Oscillator(wave="saw", unison=5, detune_cents=12), Sub()),
        (Oscillator(wave="saw", sync=True, semitones=7), Sub()),
        (Oscillator(wave="square", level=0.3), Sub(level=1.0, octave=-1)),
    ]:
        audio = render_note(make(oscillators=(osc,), sub=sub), 52, duration=0.6, seconds=0.6)
        expected = midi_to_hz(52) / (2 if sub.level else 1)
        assert f0(audio[sr // 10 :], sr) == pytest.approx(expected, rel=0.01)


@pytest.mark.parametrize(("wave", "sync"), [("saw", False), ("square", False),
                                           ("triangle", False), ("saw", True), ("square", True)])
def test_oscillators_are_band_limited(wave, sync):
    sr = 44_100
    pitch = 91  # 1568 Hz: naive waveforms fold strong partials back between the harmonics
    osc = Oscillator(wave=wave, sync=sync, semitones=19.3 if sync else 0.0, pulse_width=0.3)
    audio = render_note(make(oscillators=(osc,)), pitch, duration=1.0,
                        seconds=1.0)[sr // 10 :].astype(np.float64)
    spec = np.abs(np.fft.rfft(audio * np.hanning(len(audio)))) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / sr)
    f = midi_to_hz(pitch)
    harmonic = np.abs(freqs / f - np.round(freqs / f)) * f < 15
    alias_db = 10 * np.log10(spec[~harmonic & (freqs < 8000)].sum() / spec[harmonic].sum())
    assert alias_db < -45  # a naive saw here is about -18 dB


def test_pink_noise_falls_3db_per_octave():
    sr = 44_100
    audio = render_note(make(oscillators=(Oscillator(wave="noise"),), noise_color="pink"), 60,
                        duration=2.0, seconds=2.0)
    low = band_db(audio, sr, 200, 400) - 10 * np.log10(200)
    high = band_db(audio, sr, 3200, 6400) - 10 * np.log10(3200)
    assert -16 < high - low < -8  # 4 octaves at -3 dB/octave = -12 dB (per-Hz density)


# --- determinism, length, levels -----------------------------------------------------------------


def test_render_is_bit_identical_including_noise():
    preset = make(oscillators=(Oscillator(wave="noise"), Oscillator(wave="saw", unison=3,
                                                                     detune_cents=20)),
                  noise_color="pink", filter=Filter(cutoff_hz=2000, env_amount_oct=2),
                  effects=[Effect("chorus"), Effect("reverb")])
    notes = [Note(48, 90, 0.0, 0.4), Note(55, 70, 0.2, 0.4)]
    a = render(preset, notes)
    b = render(preset, notes)
    assert a.tobytes() == b.tobytes()
    other = render(dataclasses.replace(preset, id="test-0002"), notes)
    assert len(other) == len(a) and not np.array_equal(other, a)


def test_exact_length_and_automatic_length():
    preset = make(amp_env=Envelope(0.001, 0.1, 1.0, 0.4))
    assert len(render(preset, [Note(60, duration=2.0)], 48_000, seconds=1.2345)) == round(
        1.2345 * 48_000)
    auto = render(preset, [Note(60, start=0.25, duration=0.5)], 44_100)
    assert round((0.25 + 0.5 + 0.4) * 44_100) <= len(auto) <= round(1.2 * 44_100)
    with_tail = render(dataclasses.replace(preset, effects=(Effect("reverb"),)),
                       [Note(60, start=0.25, duration=0.5)], 44_100)
    assert len(with_tail) > len(auto)
    assert render(preset, [], 44_100, seconds=0.5).shape == (22_050,)


def test_normalize_and_safety_limiter():
    loud = dataclasses.replace(make(oscillators=(Oscillator(wave="square"),)), gain_db=24.0)
    chord = [Note(p, 127, 0, 0.3) for p in (48, 52, 55, 60)]
    limited = render(loud, chord)
    assert np.abs(limited).max() <= 1.0 and np.isfinite(limited).all()
    normal = render(loud, chord, normalize=True)
    assert float(np.abs(normal).max()) == pytest.approx(defaults.RENDER_PEAK, rel=1e-4)


def test_extreme_settings_stay_finite():
    ops = tuple(Operator(ratio=r, level=10.0, feedback=1.0) for r in (0.5, 13.0, 32.0, 1.0))
    preset = make(oscillators=(Oscillator(wave="square", pulse_width=0.05, unison=9,
                                          detune_cents=100, semitones=48),),
                  fm=FM(operators=ops, algorithm="y"), drive=1.0,
                  filter=Filter(cutoff_hz=20, resonance=0.98, env_amount_oct=8, slope_db=24),
                  lfos=(LFO(target="cutoff", depth=12, rate_hz=40),
                        LFO(target="pitch", depth=12, rate_hz=40)),
                  pitch_env=PitchEnvelope(amount_semitones=96, decay=0.001))
    for sr in (8_000, 192_000):
        audio = render_note(preset, 127, velocity=127, duration=0.2, sample_rate=sr)
        assert np.isfinite(audio).all() and np.abs(audio).max() <= 1.0


# --- envelopes -----------------------------------------------------------------------------------


def test_attack_and_release_times():
    sr = 44_100
    preset = make(oscillators=(Oscillator(wave="sine"),),
                  amp_env=Envelope(attack=0.2, decay=0.1, sustain=1.0, release=0.3))
    audio = render_note(preset, 69, duration=0.6, seconds=1.2)
    env = rms_db(audio, sr)
    hop = 0.005
    top = env[int(0.3 / hop) : int(0.6 / hop)].max()
    reached = np.argmax(env > top - 0.5) * hop  # 0.5 dB below full level
    assert 0.1 < reached < 0.22
    assert env[int(0.05 / hop)] < top - 3  # still rising early in the attack
    below = np.argmax(env[int(0.6 / hop) :] < top - 40) * hop  # 40 dB = 2/3 of the 60 dB time
    assert 0.15 < below < 0.26


def test_percussion_decays_to_silence_while_held():
    sr = 44_100
    preset = make(family="percussion", oscillators=(Oscillator(wave="noise"),),
                  amp_env=Envelope(attack=0.0, decay=0.25, sustain=0.0, release=0.05))
    audio = render_note(preset, 60, duration=2.0, seconds=2.0)
    env = rms_db(audio, sr)
    assert env[: int(0.02 / 0.005)].max() > -30
    assert env[int(0.4 / 0.005) :].max() < env.max() - 60
    # A one-shot's automatic length ends once it is silent, not at the held note's end.
    assert len(render_note(preset, 60, duration=2.0)) < sr


def test_pitch_envelope_sweeps_down_like_a_kick():
    sr = 44_100
    kick = make(family="percussion", oscillators=(Oscillator(wave="sine"),),
                pitch_env=PitchEnvelope(amount_semitones=36, decay=0.04),
                amp_env=Envelope(attack=0.0, decay=0.6, sustain=0.0, release=0.05))
    audio = render_note(kick, 33, duration=0.5, seconds=0.5)

    def crossings_hz(seg: np.ndarray) -> float:
        return np.count_nonzero(np.diff(np.signbit(seg))) / 2 / (len(seg) / sr)

    early = crossings_hz(audio[: int(0.02 * sr)])
    late = crossings_hz(audio[int(0.3 * sr) : int(0.45 * sr)])
    assert early > 3 * late
    assert late == pytest.approx(midi_to_hz(33), rel=0.1)


# --- filter --------------------------------------------------------------------------------------


def test_lowpass_and_highpass_shape_the_spectrum():
    sr = 44_100
    src = (Oscillator(wave="noise"),)
    dry = render_note(make(oscillators=src), 60, duration=1.0, seconds=1.0)
    lp12 = render_note(make(oscillators=src, filter=Filter(cutoff_hz=1000)), 60, duration=1.0,
                       seconds=1.0)
    lp24 = render_note(make(oscillators=src, filter=Filter(cutoff_hz=1000, slope_db=24)), 60,
                       duration=1.0, seconds=1.0)
    hp = render_note(make(oscillators=src, filter=Filter(type="highpass", cutoff_hz=4000)), 60,
                     duration=1.0, seconds=1.0)
    bp = render_note(make(oscillators=src, filter=Filter(type="bandpass", cutoff_hz=2000,
                                                         resonance=0.5)), 60, duration=1.0,
                     seconds=1.0)

    def drop(x, lo, hi):
        return band_db(x, sr, lo, hi) - band_db(dry, sr, lo, hi)

    assert drop(lp12, 100, 500) > -2
    assert drop(lp12, 8000, 16000) < -30
    assert drop(lp24, 8000, 16000) < drop(lp12, 8000, 16000) - 20
    assert drop(hp, 100, 500) < -30 and drop(hp, 8000, 16000) > -2
    assert drop(bp, 1800, 2200) > drop(bp, 100, 400) + 20


def test_resonance_peaks_at_cutoff():
    sr = 44_100
    src = (Oscillator(wave="noise"),)
    flat = render_note(make(oscillators=src, filter=Filter(cutoff_hz=2000, resonance=0.0)), 60,
                       duration=1.0, seconds=1.0)
    peaky = render_note(make(oscillators=src, filter=Filter(cutoff_hz=2000, resonance=0.8)), 60,
                        duration=1.0, seconds=1.0)
    gain = band_db(peaky, sr, 1900, 2100) - band_db(flat, sr, 1900, 2100)
    assert gain > 10


def test_filter_envelope_closes_over_time():
    sr = 44_100
    preset = make(oscillators=(Oscillator(wave="saw"),),
                  filter=Filter(cutoff_hz=200, env_amount_oct=5, resonance=0.3),
                  filter_env=Envelope(attack=0.001, decay=0.3, sustain=0.0, release=0.1))
    audio = render_note(preset, 45, duration=1.0, seconds=1.0)
    early = audio[int(0.01 * sr) : int(0.1 * sr)]
    late = audio[int(0.7 * sr) : int(0.79 * sr)]

    def bright(x):
        return band_db(x, sr, 2000, 10000) - band_db(x, sr, 50, 400)

    assert bright(early) > bright(late) + 15


# --- voices, modulation, effects -----------------------------------------------------------------


def test_poly_overlaps_and_mono_cuts():
    sr = 44_100
    notes = [Note(60, 100, 0.0, 1.0), Note(67, 100, 0.5, 1.0)]
    window = slice(int(0.6 * sr), int(0.95 * sr))
    low, high = midi_to_hz(60), midi_to_hz(67)
    for mono in (False, True):
        audio = render(make(oscillators=(Oscillator(wave="sine"),), mono=mono), notes)[window]
        low_db = band_db(audio, sr, low - 10, low + 10)
        high_db = band_db(audio, sr, high - 10, high + 10)
        if mono:
            assert low_db < high_db - 30
        else:
            assert abs(low_db - high_db) < 3


def test_mono_chord_plays_only_its_last_note():
    sr = 44_100
    sine = (Oscillator(wave="sine"),)
    chord = render(make(oscillators=sine, mono=True), [Note(60), Note(67)], seconds=0.5)
    single = render(make(oscillators=sine), [Note(67)], seconds=0.5)
    np.testing.assert_allclose(chord, single, atol=1e-6)
    assert band_db(chord, sr, 250, 280) < band_db(chord, sr, 380, 400) - 40


def test_mono_glide_starts_from_the_previous_note():
    sr = 44_100
    preset = make(oscillators=(Oscillator(wave="sine"),), mono=True, glide=0.3)
    audio = render(preset, [Note(48, 100, 0.0, 0.5), Note(60, 100, 0.5, 1.0)])
    just_after = audio[int(0.51 * sr) : int(0.56 * sr)]
    settled = audio[int(1.1 * sr) : int(1.4 * sr)]
    assert f0(just_after, sr) < 0.85 * midi_to_hz(60)
    assert f0(settled, sr) == pytest.approx(midi_to_hz(60), rel=0.01)


def test_vibrato_and_tremolo_modulate():
    sr = 44_100
    plain = make(oscillators=(Oscillator(wave="sine"),))
    trem = make(oscillators=(Oscillator(wave="sine"),), lfos=(LFO(target="amp", depth=1.0,
                                                                   rate_hz=4.0),))
    env_plain = rms_db(render_note(plain, 69, duration=1.0, seconds=1.0), sr, 0.02)[5:]
    env_trem = rms_db(render_note(trem, 69, duration=1.0, seconds=1.0), sr, 0.02)[5:]
    assert np.ptp(env_plain) < 1 and np.ptp(env_trem) > 10
    vib = make(oscillators=(Oscillator(wave="sine"),), lfos=(LFO(target="pitch", depth=2.0,
                                                                  rate_hz=1.0),))
    audio = render_note(vib, 69, duration=1.0, seconds=1.0)
    assert f0(audio[int(0.2 * sr) : int(0.3 * sr)], sr) > 1.05 * midi_to_hz(69)


@pytest.mark.parametrize("kind", ["chorus", "delay", "reverb", "distortion", "ladder",
                                  "compressor", "phaser", "bitcrush"])
def test_each_effect_changes_the_sound_and_stays_finite(kind):
    base = make(oscillators=(Oscillator(wave="saw"),), amp_env=Envelope(0.001, 0.2, 0.5, 0.1))
    params = {"bitcrush": {"bit_depth": 4.0}, "compressor": {"threshold_db": -30.0},
              "ladder": {"cutoff_hz": 500.0, "mode": 3.0}}.get(kind, {})
    wet = dataclasses.replace(base, effects=(Effect(kind, params),))
    dry_audio = render_note(base, 48, duration=0.3, seconds=0.8)
    wet_audio = render_note(wet, 48, duration=0.3, seconds=0.8)
    assert np.isfinite(wet_audio).all() and np.abs(wet_audio).max() <= 1.0
    assert np.abs(wet_audio - dry_audio).max() > 0.01


def test_delay_rings_after_the_note():
    sr = 44_100
    preset = make(oscillators=(Oscillator(wave="saw"),), amp_env=Envelope(0.001, 0.05, 0.0, 0.02),
                  effects=[Effect("delay", {"delay_seconds": 0.3, "feedback": 0.5, "mix": 0.5})])
    audio = render_note(preset, 60, duration=0.05)
    env = rms_db(audio, sr)
    assert env[int(0.3 / 0.005) : int(0.36 / 0.005)].max() > env.max() - 12


# --- errors and protocol -------------------------------------------------------------------------


@pytest.mark.parametrize("sr", [7_999, 192_001, 0, 44_100.0])
def test_bad_sample_rate_is_a_clear_error(sr):
    with pytest.raises(RenderError, match="8000") as info:
        render(make(), [Note(60)], sample_rate=sr)
    assert isinstance(info.value, CIRError)


def test_bad_effect_parameter_names_it():
    preset = make(effects=[Effect("delay", {"delay_seconds": 5.0})])
    with pytest.raises(EffectError, match=r"delay\.delay_seconds: 5\.0 is out of range"):
        render(preset, [Note(60)])
    with pytest.raises(EffectError, match="unknown parameter 'speed'"):
        render(make(effects=[Effect("chorus", {"speed": 1.0})]), [Note(60)])


def test_bad_effect_parameter_in_a_preset_file_names_the_field():
    data = make(effects=[Effect("reverb", {"room_size": 3.0})]).to_dict()
    with pytest.raises(PresetError, match=r"preset\.effects\[0\]: effect reverb\.room_size"):
        Preset.from_dict(data)


def test_bad_seconds_and_notes():
    with pytest.raises(RenderError, match="seconds"):
        render(make(), [Note(60)], seconds=0.0)
    with pytest.raises(RenderError, match="Note"):
        render(make(), [(60, 100, 0.0, 0.5)])


def test_builtin_instrument_is_an_instrument():
    inst: Instrument = BuiltinInstrument(make())
    audio = inst.render([Note(60, 100, 0.0, 0.3)], 0.75, 22_050)
    assert audio.shape == (round(0.75 * 22_050),) and np.abs(audio).max() > 0.05


def test_fm_feedback_brightens_towards_a_saw():
    sr = 44_100

    def harmonic_db(feedback: float) -> float:
        fm = FM(operators=(Operator(feedback=feedback), Operator(level=0.0)))
        audio = render_note(make(oscillators=(), fm=fm), 57, duration=1.0, seconds=1.0)
        f = midi_to_hz(57)
        return band_db(audio, sr, 2.5 * f, 3.5 * f) - band_db(audio, sr, 0.5 * f, 1.5 * f)

    assert harmonic_db(0.0) < -40
    assert -20 < harmonic_db(1.0) < -6  # a saw's third harmonic is at -9.5 dB


def test_bench_synth_command_prints_json():
    import json

    from click.testing import CliRunner

    from tools.bench.synth import synth_speed

    result = CliRunner().invoke(synth_speed, ["--repeats", "1", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {row["family"] for row in data["presets"]} == {"percussion", "bass", "lead", "pad",
                                                           "keys"}
    assert all(row["x_realtime"] > 0 and row["renders_per_s"] > 0 for row in data["presets"])
    assert data["median_x_realtime"] > 0


def test_block_filter_matches_a_direct_form_biquad():
    from cir.synth import dsp

    sr = 44_100
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, dsp.L)).astype(np.float32)  # 3,200 samples in blocks
    q = dsp.resonance_q(0.6)
    got = dsp.biquad_tv(x, "lowpass", np.full(200, 1500.0), q, sr).reshape(-1)
    # RBJ lowpass, direct form I, one sample at a time.
    w = 2 * np.pi * 1500.0 / sr
    alpha = np.sin(w) / (2 * q)
    a0 = 1 + alpha
    b = np.array([(1 - np.cos(w)) / 2, 1 - np.cos(w), (1 - np.cos(w)) / 2]) / a0
    a = np.array([-2 * np.cos(w), 1 - alpha]) / a0
    want = np.zeros(x.size)
    xs = x.reshape(-1).astype(np.float64)
    for n in range(x.size):
        acc = b[0] * xs[n]
        if n >= 1:
            acc += b[1] * xs[n - 1] - a[0] * want[n - 1]
        if n >= 2:
            acc += b[2] * xs[n - 2] - a[1] * want[n - 2]
        want[n] = acc
    np.testing.assert_allclose(got, want, atol=1e-4 * np.abs(want).max())


def test_tune_allocator_does_not_change_the_sound():
    from cir.synth.engine import tune_allocator

    preset = make(oscillators=(Oscillator(wave="saw", unison=3, detune_cents=10),))
    before = render_note(preset, 45, duration=0.3)
    assert isinstance(tune_allocator(), bool)
    assert render_note(preset, 45, duration=0.3).tobytes() == before.tobytes()


def test_a_fixed_pitch_voice_plays_the_same_sound_on_every_key():
    drum = make(family="percussion", fixed_pitch=60, amp_env=Envelope(0.001, 0.2, 0.0, 0.05))
    at_c4 = render(drum, [Note(60, 100, 0.0, 0.25)], sample_rate=22_050, seconds=0.5)
    at_c1 = render(drum, [Note(36, 100, 0.0, 0.25)], sample_rate=22_050, seconds=0.5)
    np.testing.assert_array_equal(at_c1, at_c4)
    softer = render(drum, [Note(36, 40, 0.0, 0.25)], sample_rate=22_050, seconds=0.5)
    assert np.abs(softer).max() < np.abs(at_c4).max()  # velocity still comes from the note
    follows = make(family="percussion", amp_env=Envelope(0.001, 0.2, 0.0, 0.05))
    moved = render(follows, [Note(36, 100, 0.0, 0.25)], sample_rate=22_050, seconds=0.5)
    assert not np.allclose(moved, render(follows, [Note(60, 100, 0.0, 0.25)],
                                         sample_rate=22_050, seconds=0.5))


def test_fixed_pitch_in_a_preset_file_is_checked():
    data = make(fixed_pitch=60).to_dict()
    assert Preset.from_dict(data).voice.fixed_pitch == 60
    data["voice"]["fixed_pitch"] = 200
    with pytest.raises(PresetError, match=r"preset\.voice\.fixed_pitch: 200 is out of range"):
        Preset.from_dict(data)
    data["voice"]["fixed_pitch"] = None
    assert Preset.from_dict(data).voice.fixed_pitch is None
