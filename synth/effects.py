"""The preset's effects chain: pedalboard effects (and a numpy tanh distortion), validated.

`EFFECT_PARAMS` lists every effect's parameters with (default, low, high); a preset's
`Effect.params` may set any of them. The ladder filter's `mode` is an index into
`LADDER_MODES`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pedalboard

from cir import defaults
from cir.errors import CIRError
from cir.synth.preset import Effect


class EffectError(CIRError):
    """An effect of a preset has an unknown parameter or a value out of range."""


EFFECT_PARAMS: dict[str, dict[str, tuple[float, float, float]]] = {
    "chorus": {
        "rate_hz": (1.0, 0.01, 20.0),
        "depth": (0.25, 0.0, 1.0),
        "centre_delay_ms": (7.0, 1.0, 50.0),
        "feedback": (0.0, -0.95, 0.95),
        "mix": (0.5, 0.0, 1.0),
    },
    "delay": {
        "delay_seconds": (0.25, 0.001, 2.0),
        "feedback": (0.3, 0.0, 0.95),
        "mix": (0.3, 0.0, 1.0),
    },
    "reverb": {
        "room_size": (0.5, 0.0, 1.0),
        "damping": (0.5, 0.0, 1.0),
        "wet_level": (0.33, 0.0, 1.0),
        "dry_level": (0.4, 0.0, 1.0),
        "width": (1.0, 0.0, 1.0),
    },
    "distortion": {"drive_db": (25.0, 0.0, 60.0)},
    "ladder": {
        "mode": (0.0, 0.0, 5.0),
        "cutoff_hz": (1000.0, 20.0, 20000.0),
        "resonance": (0.0, 0.0, 1.0),
        "drive": (1.0, 1.0, 10.0),
    },
    "compressor": {
        "threshold_db": (-12.0, -60.0, 0.0),
        "ratio": (4.0, 1.0, 20.0),
        "attack_ms": (5.0, 0.1, 200.0),
        "release_ms": (100.0, 1.0, 2000.0),
    },
    "phaser": {
        "rate_hz": (1.0, 0.01, 20.0),
        "depth": (0.5, 0.0, 1.0),
        "centre_frequency_hz": (1300.0, 50.0, 10000.0),
        "feedback": (0.0, -0.95, 0.95),
        "mix": (0.5, 0.0, 1.0),
    },
    "bitcrush": {"bit_depth": (8.0, 1.0, 24.0)},
}

LADDER_MODES = ("LPF12", "HPF12", "BPF12", "LPF24", "HPF24", "BPF24")


def effect_settings(effect: Effect) -> dict[str, float]:
    """The effect's full parameter set (defaults filled in), or EffectError."""
    spec = EFFECT_PARAMS.get(effect.type)
    if spec is None:
        raise EffectError(f"effect type {effect.type!r} is unknown; expected one of "
                          f"{', '.join(EFFECT_PARAMS)}")
    settings = {name: default for name, (default, _, _) in spec.items()}
    for name, value in effect.params.items():
        if name not in spec:
            raise EffectError(f"effect {effect.type}: unknown parameter {name!r}; expected one "
                              f"of {', '.join(spec)}")
        _, lo, hi = spec[name]
        if not (isinstance(value, int | float) and lo <= value <= hi):
            raise EffectError(f"effect {effect.type}.{name}: {value!r} is out of range "
                              f"[{lo}, {hi}]")
        settings[name] = float(value)
    return settings


def _plugin(kind: str, s: dict[str, float]) -> pedalboard.Plugin:
    if kind == "chorus":
        return pedalboard.Chorus(**s)
    if kind == "delay":
        return pedalboard.Delay(**s)
    if kind == "reverb":
        return pedalboard.Reverb(**s)
    if kind == "ladder":
        mode = getattr(pedalboard.LadderFilter.Mode, LADDER_MODES[round(s["mode"])])
        return pedalboard.LadderFilter(mode=mode, cutoff_hz=s["cutoff_hz"],
                                       resonance=s["resonance"], drive=s["drive"])
    if kind == "compressor":
        return pedalboard.Compressor(**s)
    if kind == "phaser":
        return pedalboard.Phaser(**s)
    return pedalboard.Bitcrush(**s)


def tail_seconds(effects: Sequence[Effect]) -> float:
    """How long the chain rings after the input stops (capped by SYNTH_EFFECT_TAIL_MAX)."""
    tail = 0.0
    for effect in effects:
        s = effect_settings(effect)
        if effect.type == "delay":
            # Repeats until the echo has fallen 60 dB.
            repeats = 1.0 + math.log(1e-3) / math.log(max(s["feedback"], 1e-3))
            tail += s["delay_seconds"] * repeats
        elif effect.type == "reverb":
            tail += 0.3 + 2.5 * s["room_size"]
        elif effect.type in ("chorus", "phaser"):
            tail += 0.05
    return min(tail, defaults.SYNTH_EFFECT_TAIL_MAX)


def apply_effects(audio: np.ndarray, effects: Sequence[Effect], sample_rate: int) -> np.ndarray:
    """Run mono float32 audio through the chain (same length out)."""
    if not effects:
        return audio
    board: list[pedalboard.Plugin] = []
    for effect in effects:
        s = effect_settings(effect)
        if effect.type == "distortion":
            # Same curve as pedalboard.Distortion (tanh of the gained signal), at numpy speed.
            audio = _run(board, audio, sample_rate)
            board = []
            audio = np.tanh(audio * np.float32(10.0 ** (s["drive_db"] / 20.0)))
        else:
            board.append(_plugin(effect.type, s))
    return _run(board, audio, sample_rate)


def _run(board: list[pedalboard.Plugin], audio: np.ndarray, sample_rate: int) -> np.ndarray:
    if not board:
        return audio
    out = pedalboard.Pedalboard(board)(audio.astype(np.float32), float(sample_rate))
    return np.asarray(out, dtype=np.float32).reshape(-1)[: len(audio)]
