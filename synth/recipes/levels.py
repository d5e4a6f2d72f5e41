"""Level calibration table: a gain per name stem so every kind of preset plays about equally loud.

`LEVEL_DB` is measured, not guessed (synth.calibrate explains how): after changing a recipe or
the engine, run

    .venv/bin/python -m cir.synth.calibrate

and paste the printed table here (it is part of the bank: bump BANK_VERSION with it).
"""

# Gain in dB per name stem, measured by `synth.calibrate.measure_gains()` on BANK_VERSION 2.
LEVEL_DB: dict[str, float] = {
    "808 Bass": -3.4,
    "Acid Bass": -7.8,
    "Bell": -1.7,
    "Bell Keys": 0.7,
    "Chip Lead": -3.8,
    "Clap": 13.3,
    "Clav": 2.6,
    "Closed Hat": 7.0,
    "Conga": -0.2,
    "Cowbell": 6.0,
    "Dirty Bass": -8.8,
    "E-Piano": -2.4,
    "FM Bass": -1.5,
    "FM Lead": -3.9,
    "FM Pad": -6.8,
    "Glock": -2.0,
    "Growl Bass": -3.8,
    "Kick": -2.6,
    "Marimba": -1.3,
    "Open Hat": 4.9,
    "Organ": -3.5,
    "PWM Lead": -7.8,
    "PWM Pad": -5.9,
    "Pluck": 0.3,
    "Pluck Bass": 0.6,
    "Pulse Bass": -4.4,
    "Reese Bass": -5.0,
    "Rim": 7.6,
    "Saw Lead": -4.2,
    "Shaker": 1.7,
    "Snare": 2.2,
    "Square Lead": -5.1,
    "String Pad": -8.4,
    "Sub Bass": -5.0,
    "Supersaw": -6.3,
    "Sync Lead": -6.0,
    "Tom": -0.8,
    "Toy Keys": 2.5,
    "Vibes": 0.7,
    "Vibrato Lead": -2.8,
    "Warm Pad": -4.6,
    "Woodblock": 1.5,
    "Zap": 0.5,
}
