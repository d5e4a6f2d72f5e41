"""Percussion: one-shots (sustain 0) tuned so the canonical note (MIDI 60) sounds like the drum.

Oscillators are transposed relative to that note: a kick's sine sits ~30 semitones below it,
so its body lands around 40-60 Hz. Every percussion voice is pinned to the canonical pitch
(`Voice.fixed_pitch`): like a drum machine or a GM kit piece, it plays its designed sound on
whatever key a loop uses, so a kick played on C1 still sounds like the catalogue's kick.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from cir.families import FAMILY_SPECS
from cir.synth.preset import FM, LFO, Filter, Operator, Oscillator, PitchEnvelope, Sub, Voice
from cir.synth.recipes.common import (
    Dice,
    Draft,
    Recipe,
    bitcrush,
    chain,
    chorus,
    compressor,
    delay,
    distortion,
    env,
    maybe,
    one_shot,
    phaser,
    reverb,
)

# Percussion reverbs stay small so the tail is gone well within a second.
# Noise filters stay below 9 kHz: the model's 22.05 kHz sample rate has nothing above 11 kHz.
_ROOM = (0.1, 0.5)
_WET = (0.05, 0.2)


def _noise(d: Dice, lo: float, hi: float) -> Oscillator:
    return Oscillator(wave="noise", level=d.uniform(lo, hi))


def kick(d: Dice) -> Draft:
    oscs = [
        Oscillator(wave=d.pick(("sine", "sine", "sine", "triangle")), semitones=d.uniform(-34, -26))
    ]
    if d.chance(0.4):
        oscs.append(_noise(d, 0.03, 0.25))
    voice = Voice(
        oscillators=tuple(oscs),
        filter=Filter(
            type="lowpass",
            cutoff_hz=d.log(120, 1500),
            resonance=d.uniform(0.0, 0.4),
            env_amount_oct=d.uniform(1.0, 5.0),
        ),
        filter_env=env(0.0, d.log(0.01, 0.08), 0.0, 0.05),
        amp_env=one_shot(d, (0.15, 0.6)),
        pitch_env=PitchEnvelope(amount_semitones=d.uniform(18, 48), decay=d.log(0.012, 0.1)),
        drive=d.uniform(0.1, 0.8) if d.chance(0.4) else 0.0,
        velocity_amp=d.uniform(0.3, 0.9),
    )
    effects = chain(
        maybe(d, 0.3, compressor),
        maybe(d, 0.2, distortion, (4.0, 18.0)),
        maybe(d, 0.05, bitcrush, (6.0, 10.0)),
        maybe(d, 0.1, reverb, _ROOM, _WET),
    )
    return Draft(voice, effects, ("kick", "drum"))


def snare(d: Dice) -> Draft:
    body = d.uniform(-15, -5)
    oscs = [
        Oscillator(wave=d.pick(("triangle", "sine")), level=d.uniform(0.3, 0.8), semitones=body),
        _noise(d, 0.5, 1.0),
    ]
    if d.chance(0.3):
        oscs.append(
            Oscillator(wave="sine", level=d.uniform(0.2, 0.5), semitones=body + d.uniform(5, 9))
        )
    kind = d.pick(("lowpass", "lowpass", "bandpass", "highpass"))
    # Band-pass snares keep a wide band: a narrow one would leave a quiet whistle.
    cutoff = {"lowpass": (3000, 14000), "bandpass": (600, 2500), "highpass": (120, 700)}[kind]
    voice = Voice(
        oscillators=tuple(oscs),
        noise_color=d.pick(("white", "pink")),
        filter=Filter(type=kind, cutoff_hz=d.log(*cutoff), resonance=d.uniform(0.0, 0.3)),
        amp_env=one_shot(d, (0.08, 0.4)),
        pitch_env=PitchEnvelope(amount_semitones=d.uniform(3, 15), decay=d.log(0.008, 0.05)),
        drive=d.uniform(0.0, 0.5) if d.chance(0.3) else 0.0,
        velocity_amp=d.uniform(0.4, 0.9),
    )
    effects = chain(
        maybe(d, 0.3, compressor),
        maybe(d, 0.1, distortion, (3.0, 15.0)),
        maybe(d, 0.4, reverb, _ROOM, _WET),
    )
    return Draft(voice, effects, ("snare", "drum"))


def _hat_sources(d: Dice) -> tuple[tuple[Oscillator, ...], FM | None, str]:
    kind = d.pick(("noise", "metallic", "fm"))
    if kind == "noise":
        return (_noise(d, 0.8, 1.0),), None, "noise"
    if kind == "metallic":
        # The 808 recipe: several square waves at inharmonic intervals, plus a little noise.
        squares = tuple(
            Oscillator(
                wave="square",
                level=d.uniform(0.2, 0.5),
                semitones=d.uniform(20, 40),
                cents=d.uniform(-50, 50),
            )
            for _ in range(d.integer(3, 6))
        )
        return (*squares, _noise(d, 0.1, 0.6)), None, "metallic"
    fm = FM(
        operators=(
            Operator(ratio=d.pick((2.0, 3.0, 4.0))),
            Operator(
                ratio=d.log(1.3, 7.1), level=d.uniform(2.0, 8.0), feedback=d.uniform(0.0, 0.6)
            ),
        ),
        algorithm="stack",
        level=d.uniform(0.4, 0.9),
    )
    return (_noise(d, 0.3, 0.8),), fm, "metallic"


def _hat(d: Dice, decay: tuple[float, float], tag: str) -> Draft:
    oscs, fm, character = _hat_sources(d)
    kind = d.pick(("highpass", "highpass", "bandpass"))
    voice = Voice(
        oscillators=oscs,
        fm=fm,
        filter=Filter(
            type=kind,
            cutoff_hz=d.log(3000, 8000) if kind == "highpass" else d.log(4500, 9000),
            resonance=d.uniform(0.0, 0.5),
        ),
        amp_env=one_shot(d, decay),
        velocity_amp=d.uniform(0.4, 1.0),
    )
    effects = chain(
        maybe(d, 0.15, reverb, _ROOM, _WET),
        maybe(d, 0.05, bitcrush, (5.0, 10.0)),
        maybe(d, 0.1 if tag == "open-hat" else 0.0, phaser),
    )
    return Draft(voice, effects, ("hat", tag, character))


def closed_hat(d: Dice) -> Draft:
    return _hat(d, (0.02, 0.12), "closed-hat")


def open_hat(d: Dice) -> Draft:
    return _hat(d, (0.2, 0.55), "open-hat")


def tom(d: Dice) -> Draft:
    oscs = [Oscillator(wave=d.pick(("sine", "triangle")), semitones=d.uniform(-24, -8))]
    if d.chance(0.5):
        oscs.append(_noise(d, 0.05, 0.3))
    voice = Voice(
        oscillators=tuple(oscs),
        filter=Filter(
            type="lowpass",
            cutoff_hz=d.log(300, 3000),
            resonance=d.uniform(0.0, 0.3),
            env_amount_oct=d.uniform(0.0, 3.0),
        ),
        filter_env=env(0.0, d.log(0.02, 0.15), 0.0, 0.05),
        amp_env=one_shot(d, (0.15, 0.6)),
        pitch_env=PitchEnvelope(amount_semitones=d.uniform(4, 20), decay=d.log(0.03, 0.2)),
        velocity_amp=d.uniform(0.4, 0.9),
    )
    effects = chain(maybe(d, 0.4, reverb, _ROOM, _WET), maybe(d, 0.2, compressor))
    return Draft(voice, effects, ("tom", "drum"))


def clap(d: Dice) -> Draft:
    voice = Voice(
        oscillators=(_noise(d, 0.8, 1.0),),
        noise_color=d.pick(("white", "pink")),
        filter=Filter(type="bandpass", cutoff_hz=d.log(700, 2500), resonance=d.uniform(0.1, 0.4)),
        amp_env=one_shot(d, (0.1, 0.35)),
        # A fast square LFO on the amp splits the burst into the hand claps of a clap.
        lfos=(
            LFO(target="amp", shape="square", rate_hz=d.uniform(20, 38), depth=d.uniform(0.4, 1.0)),
        ),
        velocity_amp=d.uniform(0.4, 0.9),
    )
    effects = chain(maybe(d, 0.6, reverb, _ROOM, _WET), maybe(d, 0.15, compressor))
    return Draft(voice, effects, ("clap",))


def perc(d: Dice) -> Draft:
    kind = d.pick(("rim", "cowbell", "shaker", "zap", "conga", "woodblock"))
    oscs: tuple[Oscillator, ...]
    filt = Filter(type="none")
    pitch = PitchEnvelope()
    if kind == "rim":
        oscs = (Oscillator(wave="square", semitones=d.uniform(12, 24)), _noise(d, 0.1, 0.4))
        filt = Filter(type="bandpass", cutoff_hz=d.log(800, 3000), resonance=d.uniform(0.2, 0.5))
        pitch = PitchEnvelope(amount_semitones=d.uniform(2, 12), decay=d.log(0.003, 0.02))
        amp = one_shot(d, (0.04, 0.12))
    elif kind == "cowbell":
        # Two detuned squares about a fifth apart through a band-pass: the 808 cowbell.
        oscs = (
            Oscillator(wave="square", semitones=d.uniform(10, 14), level=0.6),
            Oscillator(wave="square", semitones=d.uniform(18, 22), level=0.6),
        )
        filt = Filter(type="bandpass", cutoff_hz=d.log(600, 1500), resonance=d.uniform(0.2, 0.6))
        amp = one_shot(d, (0.1, 0.4))
    elif kind == "shaker":
        oscs = (_noise(d, 0.8, 1.0),)
        filt = Filter(type="highpass", cutoff_hz=d.log(2500, 7000), resonance=d.uniform(0.0, 0.3))
        dec = d.log(0.05, 0.2)
        amp = env(d.uniform(0.01, 0.04), dec, 0.0, min(dec, 0.05))
    elif kind == "zap":
        oscs = (
            Oscillator(wave=d.pick(("sine", "triangle", "square")), semitones=d.uniform(-12, 12)),
        )
        pitch = PitchEnvelope(amount_semitones=d.uniform(24, 72), decay=d.log(0.02, 0.2))
        amp = one_shot(d, (0.1, 0.3))
    elif kind == "conga":
        oscs = (Oscillator(wave="sine", semitones=d.uniform(-7, 7)),)
        pitch = PitchEnvelope(amount_semitones=d.uniform(2, 8), decay=d.log(0.01, 0.05))
        amp = one_shot(d, (0.1, 0.35))
    else:
        oscs = (Oscillator(wave=d.pick(("sine", "triangle")), semitones=d.uniform(10, 24)),)
        pitch = PitchEnvelope(amount_semitones=d.uniform(1, 4), decay=d.log(0.005, 0.02))
        amp = one_shot(d, (0.05, 0.15))
    voice = Voice(
        oscillators=oscs,
        filter=filt,
        amp_env=amp,
        pitch_env=pitch,
        velocity_amp=d.uniform(0.4, 0.9),
    )
    effects = chain(
        maybe(d, 0.25, reverb, _ROOM, _WET),
        maybe(d, 0.1, delay, (0.0, 0.2), (0.05, 0.15)),
    )
    return Draft(voice, effects, ("perc", kind), kind.capitalize())


def mallet(d: Dice) -> Draft:
    kind = d.pick(("marimba", "vibes", "bell", "glock"))
    carrier = Operator(
        ratio=d.pick((2.0, 4.0)) if kind == "glock" else 1.0, envelope=env(0.0, 1.0, 1.0, 0.1)
    )
    strike = env(0.0, d.log(0.02, 0.2), d.uniform(0.0, 0.2), 0.05)
    ratios = {
        "marimba": (4.0, 10.0, 3.0),
        "vibes": (1.0, 3.5, 4.0),
        "bell": (1.4, 2.76, 3.5, 5.4),
        "glock": (3.5, 7.0),
    }
    mods = tuple(
        Operator(
            ratio=d.pick(ratios[kind]),
            level=d.log(0.5, 4.0),
            detune_hz=d.uniform(-2, 2),
            envelope=strike,
        )
        for _ in range(d.integer(1, 3 if kind == "bell" else 1))
    )
    if len(mods) == 1:
        algorithm = "stack"
    else:
        algorithm = d.pick(
            ("parallel", "y", "stack") if len(mods) == 2 else ("pairs", "y", "parallel")
        )
    lfos = ()
    if kind == "vibes":
        lfos = (
            LFO(target="amp", shape="sine", rate_hz=d.uniform(3, 7), depth=d.uniform(0.15, 0.5)),
        )
    voice = Voice(
        oscillators=(),
        fm=FM(operators=(carrier, *mods), algorithm=algorithm, level=1.0),
        sub=Sub(level=d.uniform(0.1, 0.3), wave="sine")
        if kind == "marimba" and d.chance(0.3)
        else Sub(),
        filter=Filter(type="none"),
        amp_env=one_shot(d, (0.25, 0.6)),
        lfos=lfos,
        velocity_amp=d.uniform(0.5, 1.0),
    )
    effects = chain(
        maybe(d, 0.4, reverb, _ROOM, _WET),
        maybe(d, 0.2, chorus, (0.1, 0.3)),
    )
    return Draft(voice, effects, ("mallet", kind, "fm"), kind.capitalize())


def _pinned(draw: Callable[[Dice], Draft]) -> Callable[[Dice], Draft]:
    """The draw with its voice pinned to the canonical pitch (any key plays the same drum)."""

    def pinned(d: Dice) -> Draft:
        draft = draw(d)
        voice = replace(draft.voice, fixed_pitch=FAMILY_SPECS["percussion"].canonical_pitch)
        return replace(draft, voice=voice)

    return pinned


RECIPES = tuple(
    Recipe("percussion", key, label, count, _pinned(draw))
    for key, label, count, draw in (
        ("kick", "Kick", 300, kick),
        ("snare", "Snare", 240, snare),
        ("closed-hat", "Closed Hat", 160, closed_hat),
        ("open-hat", "Open Hat", 110, open_hat),
        ("tom", "Tom", 190, tom),
        ("clap", "Clap", 150, clap),
        ("perc", "Perc", 200, perc),
        ("mallet", "Mallet", 200, mallet),
    )
)
