"""Measure the bank's two tables on the final engine: levels and sibling re-draws.

Levels (synth.recipes.levels.LEVEL_DB):
A preset's loudness is the loudest 1024-sample RMS frame of its canonical note at the model
sample rate. The gain per name stem brings the median preset of the stem to BANK_LEVEL_DBFS,
capped so that the stem's 90th-percentile true peak stays under BANK_PEAK_CEILING_DBFS.

    .venv/bin/python -m cir.synth.calibrate     # prints the table to paste into levels.py

Sibling re-draws (synth.recipes.siblings.SIBLING_REDRAWS): the bank drawn with the live check
`sibling_too_close` (64-band log spectrograms of both canonical notes, mean |difference| under
BANK_SIBLING_MIN_DB), recording how many draws each sibling slot rejected.

    .venv/bin/python -m cir.synth.calibrate --siblings
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from dataclasses import replace

import numpy as np

from cir import defaults
from cir.families import FAMILY_SPECS
from cir.synth.bank import draw_bank, factory_bank, stem_of
from cir.synth.engine import render_note
from cir.synth.preset import Preset
from cir.synth.recipes.levels import LEVEL_DB

# A sibling must differ from its parent by at least this mean |difference| (dB) of 64-band log
# spectrograms over the canonical note (synth.calibrate). About 1 dB is a just-noticeable level
# change; on BANK_VERSION 1, 287 of 1,218 siblings were under 1 dB and 96 under 0.1 (twins).
BANK_SIBLING_MIN_DB = 1.5
# Loudest-frame RMS (dBFS) that each kind of preset is calibrated to (synth/recipes/levels.py,
# measured by synth/calibrate.py): about 9 dB of headroom below the engine's limiter knee for peaks.
BANK_LEVEL_DBFS = -15.0
# ...but never so loud that most presets of a kind (90th percentile) peak above this: short
# percussion has a high crest factor, and an RMS target alone would drive it into the limiter.
BANK_PEAK_CEILING_DBFS = -1.0

# Presets measured per stem when calibrating.
_SAMPLE = 40
_FRAME = 1024
# Most presets of a stem must stay under the peak ceiling; a few outliers may touch the limiter.
_PEAK_PERCENTILE = 90
_HEADROOM_DB = 24.0
# Spectrogram for the sibling check: frame, hop and log-spaced bands (about a mel scale's shape).
_SPEC_FRAME, _SPEC_HOP, _SPEC_BANDS = 1024, 512, 64
# Band energies are floored this far (dB) below the louder clip's peak: silence compares equal.
_SPEC_RANGE_DB = 80.0
# Frames count when either clip's loudest band is within this many dB of the pair's peak.
_SPEC_ACTIVE_DB = 60.0


def peak_db(audio: np.ndarray) -> float:
    """Sample peak in dBFS (-200 for silence)."""
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    return 20.0 * np.log10(peak) if peak > 0 else -200.0


def loudness_db(audio: np.ndarray) -> float:
    """The loudest frame's RMS in dBFS (-200 for silence)."""
    n = max(len(audio) // _FRAME, 1) * _FRAME
    frames = np.pad(audio, (0, max(n - len(audio), 0)))[:n].reshape(-1, _FRAME)
    rms = float(np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1)).max())
    return 20.0 * np.log10(rms) if rms > 0 else -200.0


def render_canonical(preset: Preset) -> np.ndarray:
    """The preset's canonical note (family pitch, velocity 100) at the model sample rate."""
    return render_note(
        preset,
        FAMILY_SPECS[preset.family].canonical_pitch,
        sample_rate=defaults.MODEL_SAMPLE_RATE,
        seconds=FAMILY_SPECS[preset.family].clip_seconds,
    )


def measure_gains() -> dict[str, float]:
    """Gain per stem that brings its median preset to BANK_LEVEL_DBFS."""
    groups = defaultdict(list)
    for preset in factory_bank():
        groups[stem_of(preset)].append(preset)
    gains = {}
    for stem, members in groups.items():
        step = max(1, len(members) // _SAMPLE)
        sample = members[::step][:_SAMPLE]
        levels = [loudness_db(render_canonical(p)) for p in sample]
        # Peaks are read _HEADROOM_DB lower, below the limiter, so they are the true peaks.
        quiet = [replace(p, gain_db=p.gain_db - _HEADROOM_DB) for p in sample]
        peaks = [peak_db(render_canonical(p)) + _HEADROOM_DB for p in quiet]
        # Relative to the current gain: the limiter bends loud raw renders, so measuring at the
        # calibrated level and re-running converges where a raw measurement would not.
        current = LEVEL_DB.get(stem, 0.0)
        by_rms = BANK_LEVEL_DBFS - float(np.median(levels))
        by_peak = BANK_PEAK_CEILING_DBFS - float(np.percentile(peaks, _PEAK_PERCENTILE))
        gains[stem] = round(current + min(by_rms, by_peak), 1)
    return gains


def band_db(audio: np.ndarray) -> np.ndarray:
    """(frames, bands) band energies in dB: Hann-windowed STFT summed into log-spaced bands."""
    x = np.pad(audio.astype(np.float64), (0, _SPEC_FRAME))
    frames = np.lib.stride_tricks.sliding_window_view(x, _SPEC_FRAME)[::_SPEC_HOP]
    power = np.abs(np.fft.rfft(frames * np.hanning(_SPEC_FRAME), axis=1)) ** 2
    edges = np.unique(np.geomspace(2, power.shape[1] - 1, _SPEC_BANDS + 1).astype(int))
    return 10.0 * np.log10(np.add.reduceat(power, edges, axis=1)[:, :-1] + 1e-30)


def band_distance_db(sa: np.ndarray, sb: np.ndarray) -> float:
    """Mean |difference| in dB of two band_db spectrograms over the frames where either sounds
    (loudest band within _SPEC_ACTIVE_DB of the pair's peak), both floored _SPEC_RANGE_DB below
    it: the silence after a one-shot would otherwise dilute every difference."""
    frames = min(len(sa), len(sb))
    sa, sb = sa[:frames], sb[:frames]
    peak = max(sa.max(), sb.max())
    active = np.maximum(sa.max(axis=1), sb.max(axis=1)) > peak - _SPEC_ACTIVE_DB
    floor = peak - _SPEC_RANGE_DB
    return float(np.mean(np.abs(np.maximum(sa[active], floor) - np.maximum(sb[active], floor))))


def sibling_distance_db(a: Preset, b: Preset) -> float:
    """Mean |difference| in dB between the two presets' canonical-note band spectrograms."""
    return band_distance_db(band_db(render_canonical(a)), band_db(render_canonical(b)))


def sibling_too_close(parent: Preset, sibling: Preset) -> bool:
    """True when the sibling's canonical note sounds like its parent's."""
    return sibling_distance_db(parent, sibling) < BANK_SIBLING_MIN_DB


def measure_sibling_redraws() -> dict[str, int]:
    """{preset id: sibling draws rejected} for the bank drawn with the live check."""
    redraws: dict[str, int] = defaultdict(int)

    def check(parent: Preset, sibling: Preset) -> bool:
        same = sibling_too_close(parent, sibling)
        redraws[sibling.id] += int(same)
        return same

    draw_bank(too_close=check)
    return {k: v for k, v in sorted(redraws.items()) if v}


def _print_table(name: str, table: dict[str, float] | dict[str, int]) -> None:
    print(f"{name}: dict[str, {type(next(iter(table.values()), 0)).__name__}] = {{")
    for key, value in sorted(table.items()):
        print(f"    {json.dumps(key)}: {value},")
    print("}")


if __name__ == "__main__":
    if "--siblings" in sys.argv[1:]:
        _print_table("SIBLING_REDRAWS", measure_sibling_redraws())
    else:
        _print_table("LEVEL_DB", measure_gains())
