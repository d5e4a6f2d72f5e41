"""The preset's effects chain rendered: pedalboard effects (and a numpy tanh distortion).

What a valid chain is (`EFFECT_PARAMS`, `effect_settings`) belongs to the preset document
(synth.preset), so validating a preset never imports pedalboard.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pedalboard

from cir.synth.preset import LADDER_MODES, Effect, effect_settings

# Effects tail added after the last release when the length is automatic (seconds, capped).
SYNTH_EFFECT_TAIL_MAX = 3.0


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
    return min(tail, SYNTH_EFFECT_TAIL_MAX)


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
