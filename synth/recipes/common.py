"""Seeded draws for the recipes, and the small builders they share.

`Dice` wraps a numpy Generator and hands out one buffered uniform at a time: the bank makes
~250,000 draws, and scalar `Generator` calls would cost most of its 2 s budget. Every value
is rounded to 4 significant digits so preset JSON stays short and readable.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from cir.synth.preset import Effect, Envelope, Voice

T = TypeVar("T")

# Uniforms drawn per refill: large enough to amortise the numpy call, small enough to be cheap
# for a recipe that draws only a few values.
_BUFFER = 1024
# Significant digits kept in every drawn number.
_DIGITS = 4


def rounded(x: float) -> float:
    """`x` with 4 significant digits, as a plain float."""
    return float(f"{x:.{_DIGITS}g}")


class Dice:
    """Reproducible draws from one seeded numpy Generator."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._buf: list[float] = rng.random(_BUFFER).tolist()  # plain floats index fastest
        self._i = 0

    def u(self) -> float:
        """One uniform in [0, 1)."""
        if self._i == _BUFFER:
            self._buf = self._rng.random(_BUFFER).tolist()
            self._i = 0
        value = self._buf[self._i]
        self._i += 1
        return value

    def uniform(self, lo: float, hi: float) -> float:
        return rounded(lo + (hi - lo) * self.u())

    def log(self, lo: float, hi: float) -> float:
        """Log-uniform: equal odds per octave, the way pitch, cutoff and time are heard."""
        return rounded(math.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * self.u()))

    def integer(self, lo: int, hi: int) -> int:
        """An integer in [lo, hi] inclusive."""
        return lo + min(int(self.u() * (hi - lo + 1)), hi - lo)

    def chance(self, p: float) -> bool:
        return self.u() < p

    def pick(self, items: Sequence[T]) -> T:
        return items[min(int(self.u() * len(items)), len(items) - 1)]

    def sign(self) -> float:
        return 1.0 if self.u() < 0.5 else -1.0


@dataclass(frozen=True)
class Draft:
    """What a recipe returns: the sound, plus its sub-category tags and an optional label."""

    voice: Voice
    effects: tuple[Effect, ...] = ()
    tags: tuple[str, ...] = ()
    # Name stem when it differs from the recipe's ("Cowbell" inside the "perc" recipe).
    label: str | None = None


@dataclass(frozen=True)
class Recipe:
    """One sub-category of a family: how many presets, their name stem, and the draw."""

    family: str
    key: str
    label: str
    count: int
    build: Callable[[Dice], Draft]


# Order in which effects are chained: tone shaping, modulation, dynamics, then space.
EFFECT_ORDER = (
    "distortion",
    "bitcrush",
    "ladder",
    "phaser",
    "chorus",
    "compressor",
    "delay",
    "reverb",
)


def chain(*effects: Effect | None) -> tuple[Effect, ...]:
    """Drop the effects a recipe skipped (None) and order the rest like a producer would."""
    kept = [e for e in effects if e is not None]
    return tuple(sorted(kept, key=lambda e: EFFECT_ORDER.index(e.type)))


def env(attack: float, decay: float, sustain: float, release: float) -> Envelope:
    return Envelope(attack=attack, decay=decay, sustain=sustain, release=release)


def one_shot(d: Dice, decay: tuple[float, float], attack: float = 0.003) -> Envelope:
    """A percussive amp envelope: sustain 0, so it dies out even while the note is held."""
    dec = d.log(*decay)
    return env(d.uniform(0.0, attack), dec, 0.0, rounded(min(dec, d.log(0.03, 0.3))))


# --- effects: keyword arguments are pedalboard's (see synth.effects) --------------------------


def reverb(
    d: Dice, size: tuple[float, float] = (0.2, 0.9), wet: tuple[float, float] = (0.1, 0.4)
) -> Effect:
    return Effect(
        "reverb",
        {
            "room_size": d.uniform(*size),
            "damping": d.uniform(0.2, 0.8),
            "wet_level": d.uniform(*wet),
            "dry_level": d.uniform(0.6, 0.9),
            "width": d.uniform(0.5, 1.0),
        },
    )


def chorus(d: Dice, mix: tuple[float, float] = (0.2, 0.6)) -> Effect:
    return Effect(
        "chorus",
        {
            "rate_hz": d.log(0.2, 3.0),
            "depth": d.uniform(0.1, 0.6),
            "centre_delay_ms": d.uniform(3.0, 12.0),
            "feedback": d.uniform(0.0, 0.3),
            "mix": d.uniform(*mix),
        },
    )


def delay(
    d: Dice, feedback: tuple[float, float] = (0.1, 0.5), mix: tuple[float, float] = (0.1, 0.35)
) -> Effect:
    return Effect(
        "delay",
        {
            "delay_seconds": d.pick((0.125, 0.1875, 0.25, 0.375, 0.5)),
            "feedback": d.uniform(*feedback),
            "mix": d.uniform(*mix),
        },
    )


def distortion(d: Dice, drive_db: tuple[float, float] = (6.0, 30.0)) -> Effect:
    return Effect("distortion", {"drive_db": d.uniform(*drive_db)})


def ladder(
    d: Dice, cutoff: tuple[float, float] = (300.0, 6000.0), modes: Sequence[float] = (0.0, 3.0)
) -> Effect:
    """A Moog-style ladder; `modes` index synth.preset.LADDER_MODES (default low-pass 12/24)."""
    return Effect(
        "ladder",
        {
            "mode": d.pick(modes),
            "cutoff_hz": d.log(*cutoff),
            "resonance": d.uniform(0.0, 0.7),
            "drive": d.uniform(1.0, 3.0),
        },
    )


def compressor(d: Dice) -> Effect:
    return Effect(
        "compressor",
        {
            "threshold_db": d.uniform(-24.0, -6.0),
            "ratio": d.uniform(2.0, 8.0),
            "attack_ms": d.log(0.5, 30.0),
            "release_ms": d.log(30.0, 300.0),
        },
    )


def phaser(d: Dice) -> Effect:
    return Effect(
        "phaser",
        {
            "rate_hz": d.log(0.1, 2.0),
            "depth": d.uniform(0.2, 0.9),
            "centre_frequency_hz": d.log(300.0, 3000.0),
            "feedback": d.uniform(0.0, 0.6),
            "mix": d.uniform(0.3, 0.7),
        },
    )


def bitcrush(d: Dice, bits: tuple[float, float] = (4.0, 10.0)) -> Effect:
    return Effect("bitcrush", {"bit_depth": d.uniform(*bits)})


def maybe(
    d: Dice, p: float, make: Callable[..., Effect], *args: tuple[float, float]
) -> Effect | None:
    """`make(d, *args)` with probability p, else None (for `chain`)."""
    return make(d, *args) if d.chance(p) else None


def sustained(
    d: Dice,
    attack: tuple[float, float] = (0.001, 0.02),
    decay: tuple[float, float] = (0.1, 1.0),
    sustain: tuple[float, float] = (0.6, 1.0),
    release: tuple[float, float] = (0.03, 0.3),
) -> Envelope:
    """An ADSR for held notes; times log-uniform, sustain uniform."""
    return env(d.log(*attack), d.log(*decay), d.uniform(*sustain), d.log(*release))


def mono_glide(d: Dice, p: float, glide: tuple[float, float] = (0.01, 0.15)) -> dict[str, Any]:
    """Voice keywords: mono with probability p, and then glide half of the time."""
    if d.chance(p):
        return {"mono": True, "glide": d.log(*glide) if d.chance(0.5) else 0.0}
    return {"mono": False, "glide": 0.0}
