"""Level calibration: a gain per name stem so every kind of preset plays about equally loud.

A preset's loudness is the loudest 1024-sample RMS frame of its canonical note at the model
sample rate. `LEVEL_DB` is the gain that brings the median preset of each stem to
BANK_LEVEL_DBFS. It is measured, not guessed: after changing a recipe or the engine, run

    .venv/bin/python -m synth.recipes.levels

and paste the printed table here (it is part of the bank: bump BANK_VERSION with it).
"""

from __future__ import annotations

import json
from collections import defaultdict

import numpy as np

from cir import defaults
from synth.preset import Preset

# Gain in dB per name stem, measured by `measure_gains()` on BANK_VERSION 1.
LEVEL_DB: dict[str, float] = {
    "808 Bass": -3.4,
    "Acid Bass": -11.3,
    "Bell": -1.7,
    "Bell Keys": -0.2,
    "Chip Lead": -3.6,
    "Clap": 17.2,
    "Clav": 5.5,
    "Closed Hat": 16.0,
    "Conga": 0.3,
    "Cowbell": 5.8,
    "Dirty Bass": -7.6,
    "E-Piano": -0.2,
    "FM Bass": -3.0,
    "FM Lead": -4.2,
    "FM Pad": -5.6,
    "Glock": -2.5,
    "Growl Bass": -4.5,
    "Kick": -0.7,
    "Marimba": -1.9,
    "Open Hat": 8.0,
    "Organ": -4.9,
    "PWM Lead": -7.5,
    "PWM Pad": -7.1,
    "Pluck": 2.7,
    "Pluck Bass": 1.8,
    "Pulse Bass": -4.4,
    "Reese Bass": -3.1,
    "Rim": 10.5,
    "Saw Lead": -4.1,
    "Shaker": 2.8,
    "Snare": 6.0,
    "Square Lead": -5.4,
    "String Pad": -7.4,
    "Sub Bass": -4.9,
    "Supersaw": -7.3,
    "Sync Lead": -5.1,
    "Tom": -0.6,
    "Toy Keys": 0.7,
    "Vibes": -1.3,
    "Vibrato Lead": -2.8,
    "Warm Pad": -5.5,
    "Woodblock": 4.5,
    "Zap": -0.6,
}

# Presets measured per stem when calibrating.
_SAMPLE = 40
_FRAME = 1024


def loudness_db(audio: np.ndarray) -> float:
    """The loudest frame's RMS in dBFS (-200 for silence)."""
    n = max(len(audio) // _FRAME, 1) * _FRAME
    frames = np.pad(audio, (0, max(n - len(audio), 0)))[:n].reshape(-1, _FRAME)
    rms = float(np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1)).max())
    return 20.0 * np.log10(rms) if rms > 0 else -200.0


def render_canonical(preset: Preset) -> np.ndarray:
    """The preset's canonical note (family pitch, velocity 100) at the model sample rate."""
    from synth.engine import render_note  # the engine is only needed to calibrate

    return render_note(
        preset,
        defaults.CANONICAL_PITCH[preset.family],
        sample_rate=defaults.MODEL_SAMPLE_RATE,
        seconds=defaults.CLIP_SECONDS[preset.family],
    )


def measure_gains() -> dict[str, float]:
    """Gain per stem that brings its median preset to BANK_LEVEL_DBFS."""
    from synth.bank import factory_bank, stem_of

    groups = defaultdict(list)
    for preset in factory_bank():
        groups[stem_of(preset)].append(preset)
    gains = {}
    for stem, members in groups.items():
        step = max(1, len(members) // _SAMPLE)
        levels = [loudness_db(render_canonical(p)) for p in members[::step][:_SAMPLE]]
        # Relative to the current gain: the limiter bends loud raw renders, so measuring at the
        # calibrated level and re-running converges where a raw measurement would not.
        gain = LEVEL_DB.get(stem, 0.0) + defaults.BANK_LEVEL_DBFS - float(np.median(levels))
        gains[stem] = round(gain, 1)
    return gains


if __name__ == "__main__":
    print("LEVEL_DB: dict[str, float] = {")
    for stem, gain in sorted(measure_gains().items()):
        print(f"    {json.dumps(stem)}: {gain},")
    print("}")
