"""The CIR Test Synth VST3 (tests/plugins/cir_test_synth, built by `make plugins`) in pedalboard.

The catalogue's VST3 source and other tests rely on this instrument: it must load fast (the
patched DPF hides its 2,080 MIDI CC parameters), show its own parameters, sound, change its
spectrum with each parameter, and round-trip its state through .vstpreset files.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import BUILD_PLUGINS

pedalboard = pytest.importorskip("pedalboard")

SYNTH = BUILD_PLUGINS / "CIRTestSynth.vst3"
SR = 44_100
EXPECTED_PARAMETERS = {"waveform", "cutoff_hz", "decay_s", "detune_cents", "volume"}

pytestmark = pytest.mark.skipif(
    not SYNTH.exists(), reason=f"{SYNTH} is not built: run `make plugins`"
)


def note(pitch: int = 60, seconds: float = 0.5, velocity: int = 100) -> list[tuple[bytes, float]]:
    """One MIDI note as pedalboard's (bytes, time in seconds) messages."""
    return [(bytes([0x90, pitch, velocity]), 0.0), (bytes([0x80, pitch, 0]), seconds)]


def render(plugin, messages, seconds: float = 1.0) -> np.ndarray:
    return plugin(messages, duration=seconds, sample_rate=SR, num_channels=2)


def db(x: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(np.square(x))) + 1e-12)


def spectrum(audio: np.ndarray) -> np.ndarray:
    """Magnitude spectrum of the mono mix, normalised to unit sum."""
    mono = audio.mean(axis=0)
    mag = np.abs(np.fft.rfft(mono * np.hanning(mono.size)))
    return mag / mag.sum()


def centroid_hz(audio: np.ndarray) -> float:
    spec = spectrum(audio)
    freqs = np.fft.rfftfreq(audio.shape[1], 1 / SR)
    return float((spec * freqs).sum())


def configure(plugin, **values) -> None:
    for name, value in values.items():
        setattr(plugin, name, value)


@pytest.fixture
def synth():
    return pedalboard.load_plugin(str(SYNTH))


def test_loads_as_instrument_with_only_its_own_parameters(synth):
    assert synth.is_instrument
    # The hidden "MIDI CC" parameters (renamed by patch-dpf.sh) must not show up.
    assert set(synth.parameters) == EXPECTED_PARAMETERS
    assert synth.parameters["cutoff_hz"].range[:2] == (50.0, 18000.0)


def test_note_sounds_and_silence_is_silent(synth):
    audio = render(synth, note(60))
    assert audio.shape == (2, SR)
    assert db(audio[:, : SR // 2]) > -40
    assert np.abs(audio).max() < 1.0
    assert db(render(synth, [])) < -120


def test_sine_note_has_its_pitch(synth):
    configure(synth, waveform=0.0, detune_cents=0.0, cutoff_hz=18000.0)
    audio = render(synth, note(69, seconds=0.9))
    peak = np.fft.rfftfreq(audio.shape[1], 1 / SR)[np.argmax(spectrum(audio))]
    assert peak == pytest.approx(440.0, abs=3.0)


@pytest.mark.parametrize(
    ("dark", "bright"),
    [
        ({"cutoff_hz": 200.0}, {"cutoff_hz": 12000.0}),
        ({"waveform": 0.0}, {"waveform": 1.0}),
    ],
    ids=["cutoff", "waveform"],
)
def test_parameters_change_the_spectrum(dark, bright):
    centroids = []
    for values in (dark, bright):
        plugin = pedalboard.load_plugin(str(SYNTH))
        configure(plugin, **values)
        centroids.append(centroid_hz(render(plugin, note(48))))
    assert centroids[1] > 1.5 * centroids[0]


def test_decay_and_detune_change_the_sound(synth):
    configure(synth, decay_s=0.05)
    short = render(synth, note(60, seconds=0.9))
    configure(synth, decay_s=3.0)
    long = render(synth, note(60, seconds=0.9))
    late = slice(int(0.4 * SR), int(0.8 * SR))
    assert db(long[:, late]) - db(short[:, late]) > 20

    # Detune splits a sine note's one spectral peak into two, 40 cents either side.
    configure(synth, waveform=0.0, cutoff_hz=18000.0, decay_s=4.0)
    for cents in (0.0, 40.0):
        configure(synth, detune_cents=cents)
        audio = render(synth, note(60, seconds=1.0))
        peak = np.fft.rfftfreq(audio.shape[1], 1 / SR)[np.argmax(spectrum(audio))]
        expected = 261.63 * 2 ** (cents / 1200)
        assert min(abs(peak - expected), abs(peak - 261.63**2 / expected)) < 1.5


def test_vstpreset_round_trip_reproduces_the_sound(synth, tmp_path):
    configure(synth, waveform=0.9, cutoff_hz=700.0, decay_s=0.3, detune_cents=25.0)
    render(synth, [], seconds=0.01)  # state reflects parameter changes after a process call
    preset = tmp_path / "dark.vstpreset"
    preset.write_bytes(synth.preset_data)
    expected = render(synth, note(57))

    fresh = pedalboard.load_plugin(str(SYNTH))
    default_sound = render(fresh, note(57))
    fresh.load_preset(str(preset))
    assert fresh.waveform == pytest.approx(0.9, abs=1e-3)
    np.testing.assert_allclose(render(fresh, note(57)), expected, atol=1e-6)
    assert np.abs(default_sound - expected).max() > 0.01


def test_raw_state_round_trip_keeps_the_first_parameter(synth):
    # Parameter 0 (waveform) is the one DPF 1.6's off-by-one lost: patch-dpf.sh fixes it.
    configure(synth, waveform=0.1, volume=0.8)
    render(synth, [], seconds=0.01)
    state = synth.raw_state
    other = pedalboard.load_plugin(str(SYNTH))
    other.raw_state = state
    assert other.waveform == pytest.approx(0.1, abs=1e-3)
    assert other.volume == pytest.approx(0.8, abs=1e-3)
