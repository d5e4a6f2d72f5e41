"""Measure the bank's level table (synth.recipes.levels.LEVEL_DB) on the final engine.

A preset's loudness is the loudest 1024-sample RMS frame of its canonical note at the model
sample rate. The gain per name stem brings the median preset of the stem to BANK_LEVEL_DBFS,
capped so that the stem's 90th-percentile true peak stays under BANK_PEAK_CEILING_DBFS.

    .venv/bin/python -m cir.synth.calibrate     # prints the table to paste into levels.py
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import replace

import numpy as np

from cir import defaults
from cir.synth.bank import factory_bank, stem_of
from cir.synth.engine import render_note
from cir.synth.preset import Preset
from cir.synth.recipes.levels import LEVEL_DB

# Presets measured per stem when calibrating.
_SAMPLE = 40
_FRAME = 1024
# Most presets of a stem must stay under the peak ceiling; a few outliers may touch the limiter.
_PEAK_PERCENTILE = 90
_HEADROOM_DB = 24.0


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
        defaults.CANONICAL_PITCH[preset.family],
        sample_rate=defaults.MODEL_SAMPLE_RATE,
        seconds=defaults.CLIP_SECONDS[preset.family],
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
        by_rms = defaults.BANK_LEVEL_DBFS - float(np.median(levels))
        by_peak = defaults.BANK_PEAK_CEILING_DBFS - float(np.percentile(peaks, _PEAK_PERCENTILE))
        gains[stem] = round(current + min(by_rms, by_peak), 1)
    return gains


if __name__ == "__main__":
    print("LEVEL_DB: dict[str, float] = {")
    for stem, gain in sorted(measure_gains().items()):
        print(f"    {json.dumps(stem)}: {gain},")
    print("}")
