"""Level calibration table: a gain per name stem so every kind of preset plays about equally loud.

`LEVEL_DB` is measured, not guessed (synth.calibrate explains how): after changing a recipe or
the engine, run

    .venv/bin/python -m cir.synth.calibrate

and paste the printed table here (it is part of the bank: bump BANK_VERSION with it).
"""

# Gain in dB per name stem, measured by `synth.calibrate.measure_gains()` on BANK_VERSION 1.
LEVEL_DB: dict[str, float] = {
    "808 Bass": -3.4,
    "Acid Bass": -11.3,
    "Bell": -1.7,
    "Bell Keys": -0.0,
    "Chip Lead": -3.6,
    "Clap": 13.4,
    "Clav": -1.0,
    "Closed Hat": 8.0,
    "Conga": 0.3,
    "Cowbell": 5.8,
    "Dirty Bass": -7.6,
    "E-Piano": 0.0,
    "FM Bass": -3.0,
    "FM Lead": -4.2,
    "FM Pad": -5.6,
    "Glock": -2.5,
    "Growl Bass": -4.5,
    "Kick": -0.7,
    "Marimba": -1.9,
    "Open Hat": 4.9,
    "Organ": -4.9,
    "PWM Lead": -7.5,
    "PWM Pad": -7.1,
    "Pluck": 2.0,
    "Pluck Bass": 0.5,
    "Pulse Bass": -4.4,
    "Reese Bass": -3.1,
    "Rim": 7.2,
    "Saw Lead": -4.1,
    "Shaker": 2.8,
    "Snare": 3.0,
    "Square Lead": -5.4,
    "String Pad": -7.4,
    "Sub Bass": -4.9,
    "Supersaw": -7.3,
    "Sync Lead": -5.1,
    "Tom": -0.6,
    "Toy Keys": 0.9,
    "Vibes": -0.4,
    "Vibrato Lead": -2.8,
    "Warm Pad": -5.2,
    "Woodblock": 4.5,
    "Zap": -0.6,
}
