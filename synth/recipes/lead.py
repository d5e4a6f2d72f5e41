"""Leads: bright, mostly monophonic voices made to sit above the mix (canonical note C5)."""

from __future__ import annotations

from cir.synth.preset import (
    FM,
    LFO,
    Effect,
    Envelope,
    Filter,
    Operator,
    Oscillator,
    PitchEnvelope,
    Voice,
)
from cir.synth.recipes.common import (
    Dice,
    Draft,
    Recipe,
    bitcrush,
    chain,
    chorus,
    delay,
    distortion,
    env,
    maybe,
    mono_glide,
    phaser,
    reverb,
    sustained,
)


def _lowpass(d: Dice, cutoff: tuple[float, float] = (1200, 12000), res: float = 0.5) -> Filter:
    return Filter(
        type="lowpass",
        cutoff_hz=d.log(*cutoff),
        resonance=d.uniform(0.0, res),
        env_amount_oct=d.uniform(0.0, 2.5) if d.chance(0.5) else 0.0,
        keytrack=d.uniform(0.3, 1.0),
        velocity_oct=d.uniform(0.0, 1.0),
        slope_db=d.pick((12, 24)),
    )


def _filter_env(d: Dice) -> Envelope:
    return env(d.log(0.001, 0.05), d.log(0.05, 0.8), d.uniform(0.0, 0.6), d.log(0.05, 0.5))


def _vibrato(d: Dice, p: float) -> tuple[LFO, ...]:
    if not d.chance(p):
        return ()
    return (
        LFO(
            target="pitch",
            shape=d.pick(("sine", "triangle")),
            rate_hz=d.uniform(4.0, 7.0),
            depth=d.uniform(0.1, 0.6),
            delay=d.uniform(0.0, 0.5),
        ),
    )


def _space(d: Dice) -> tuple[Effect | None, ...]:
    """The usual lead send effects: delay, reverb, sometimes chorus or phaser."""
    return (
        maybe(d, 0.4, delay),
        maybe(d, 0.4, reverb, (0.2, 0.7), (0.1, 0.3)),
        maybe(d, 0.15, chorus),
        maybe(d, 0.08, phaser),
    )


def square_lead(d: Dice) -> Draft:
    oscs = [Oscillator(wave="square", pulse_width=d.uniform(0.3, 0.5))]
    if d.chance(0.5):
        oscs.append(
            Oscillator(
                wave=d.pick(("square", "saw")),
                level=d.uniform(0.3, 0.8),
                semitones=d.pick((0.0, 7.0, 12.0, -12.0)),
                cents=d.uniform(-12, 12),
            )
        )
    voice = Voice(
        oscillators=tuple(oscs),
        filter=_lowpass(d, res=0.4),
        filter_env=_filter_env(d),
        amp_env=sustained(d, attack=(0.001, 0.03)),
        lfos=_vibrato(d, 0.3),
        **mono_glide(d, 0.6, (0.01, 0.1)),
    )
    return Draft(voice, chain(*_space(d)), ("square",))


def saw_lead(d: Dice) -> Draft:
    oscs = [Oscillator(wave="saw")]
    if d.chance(0.6):
        oscs.append(
            Oscillator(
                wave="saw",
                level=d.uniform(0.4, 1.0),
                semitones=d.pick((0.0, 12.0, 7.0, -12.0)),
                cents=d.uniform(-15, 15),
            )
        )
    voice = Voice(
        oscillators=tuple(oscs),
        filter=_lowpass(d, res=0.6),
        filter_env=_filter_env(d),
        amp_env=sustained(d, attack=(0.001, 0.05)),
        lfos=_vibrato(d, 0.3),
        drive=d.uniform(0.0, 0.4),
        **mono_glide(d, 0.6, (0.01, 0.1)),
    )
    return Draft(voice, chain(maybe(d, 0.15, distortion, (4.0, 16.0)), *_space(d)), ("saw",))


def supersaw(d: Dice) -> Draft:
    oscs = [Oscillator(wave="saw", unison=d.integer(5, 9), detune_cents=d.uniform(15, 60))]
    if d.chance(0.4):
        oscs.append(
            Oscillator(
                wave="saw",
                level=d.uniform(0.3, 0.7),
                semitones=12.0,
                unison=d.integer(3, 7),
                detune_cents=d.uniform(10, 40),
            )
        )
    voice = Voice(
        oscillators=tuple(oscs),
        filter=_lowpass(d, (2000, 14000), res=0.3),
        filter_env=_filter_env(d),
        amp_env=sustained(d, attack=(0.001, 0.08), release=(0.1, 0.6)),
        **mono_glide(d, 0.3),
    )
    effects = chain(
        maybe(d, 0.4, chorus), maybe(d, 0.5, reverb, (0.3, 0.8), (0.1, 0.35)), maybe(d, 0.3, delay)
    )
    return Draft(voice, effects, ("supersaw", "unison"))


def sync_lead(d: Dice) -> Draft:
    voice = Voice(
        oscillators=(
            # Hard-synced to the note, so its own pitch sets the formant, not the note.
            Oscillator(wave=d.pick(("saw", "square")), semitones=d.uniform(3, 24), sync=True),
            Oscillator(wave="saw", level=d.uniform(0.0, 0.5)),
        ),
        filter=_lowpass(d, (2000, 12000), res=0.4),
        filter_env=_filter_env(d),
        amp_env=sustained(d),
        pitch_env=PitchEnvelope(amount_semitones=d.uniform(3, 12), decay=d.log(0.05, 0.3))
        if d.chance(0.3)
        else PitchEnvelope(),
        lfos=_vibrato(d, 0.3),
        drive=d.uniform(0.0, 0.5),
        **mono_glide(d, 0.6),
    )
    return Draft(voice, chain(maybe(d, 0.2, distortion, (4.0, 16.0)), *_space(d)), ("sync",))


def fm_lead(d: Dice) -> Draft:
    n = d.integer(2, 4)
    algorithm = (
        "stack"
        if n == 2
        else d.pick(("stack", "pairs", "parallel", "y") if n == 4 else ("stack", "parallel", "y"))
    )
    mod_env = sustained(d, attack=(0.001, 0.1), decay=(0.1, 1.5), sustain=(0.2, 1.0))
    ops = [Operator(ratio=1.0, envelope=env(0.0, 1.0, 1.0, 0.1))]
    for _ in range(n - 1):
        ops.append(
            Operator(
                ratio=d.pick((0.5, 1.0, 2.0, 3.0, 4.0)),
                level=d.log(0.3, 4.0),
                feedback=d.uniform(0.0, 0.5) if d.chance(0.3) else 0.0,
                detune_hz=d.uniform(-3, 3),
                envelope=mod_env,
            )
        )
    voice = Voice(
        oscillators=(),
        fm=FM(operators=tuple(ops), algorithm=algorithm, level=1.0),
        filter=Filter(type="none") if d.chance(0.5) else _lowpass(d, (2000, 14000), res=0.3),
        amp_env=sustained(d),
        lfos=_vibrato(d, 0.4),
        **mono_glide(d, 0.5),
    )
    return Draft(voice, chain(*_space(d)), ("fm",))


def pwm_lead(d: Dice) -> Draft:
    voice = Voice(
        oscillators=(
            Oscillator(
                wave="square",
                pulse_width=d.uniform(0.3, 0.5),
                unison=d.integer(1, 3),
                detune_cents=d.uniform(0, 20),
            ),
        ),
        filter=_lowpass(d, (1500, 10000), res=0.4),
        filter_env=_filter_env(d),
        amp_env=sustained(d),
        lfos=(
            LFO(
                target="pulse_width",
                shape=d.pick(("sine", "triangle", "saw")),
                rate_hz=d.log(0.3, 6.0),
                depth=d.uniform(0.1, 0.4),
            ),
            *_vibrato(d, 0.25),
        ),
        **mono_glide(d, 0.5),
    )
    return Draft(voice, chain(*_space(d)), ("pwm",))


def vibrato_lead(d: Dice) -> Draft:
    wave = d.pick(("saw", "triangle", "square", "sine"))
    oscs = [Oscillator(wave=wave)]
    if d.chance(0.4):
        oscs.append(
            Oscillator(wave=d.pick(("sine", "triangle")), level=d.uniform(0.3, 0.7), semitones=12.0)
        )
    voice = Voice(
        oscillators=tuple(oscs),
        filter=_lowpass(d, (1500, 10000), res=0.4),
        filter_env=_filter_env(d),
        amp_env=sustained(d, attack=(0.01, 0.1)),
        lfos=(
            LFO(
                target="pitch",
                shape=d.pick(("sine", "triangle")),
                rate_hz=d.uniform(4.5, 7.0),
                depth=d.uniform(0.15, 0.8),
                delay=d.uniform(0.1, 0.6),
            ),
        ),
        **mono_glide(d, 0.7, (0.02, 0.2)),
    )
    return Draft(voice, chain(*_space(d)), ("vibrato", wave))


def chip_lead(d: Dice) -> Draft:
    wave = d.pick(("square", "square", "square", "triangle"))
    blip = d.chance(0.35)
    lfos = ()
    if not blip and d.chance(0.4):
        lfos = (
            LFO(
                target="pitch",
                shape=d.pick(("triangle", "square")),
                rate_hz=d.uniform(5, 9),
                depth=d.uniform(0.2, 1.0),
                delay=d.uniform(0.05, 0.3),
            ),
        )
    voice = Voice(
        oscillators=(Oscillator(wave=wave, pulse_width=d.pick((0.125, 0.25, 0.5))),),
        filter=Filter(type="none"),
        amp_env=env(0.0, d.log(0.05, 0.5), d.uniform(0.3, 1.0), d.uniform(0.0, 0.05)),
        pitch_env=PitchEnvelope(
            amount_semitones=d.pick((12.0, 24.0, -12.0)), decay=d.log(0.01, 0.06)
        )
        if blip
        else PitchEnvelope(),
        lfos=lfos,
        mono=True,
        velocity_amp=d.uniform(0.0, 0.5),
    )
    effects = chain(
        maybe(d, 0.6, bitcrush, (3.0, 8.0)),
        maybe(d, 0.25, delay),
        maybe(d, 0.1, reverb, (0.1, 0.4), (0.05, 0.2)),
    )
    return Draft(voice, effects, ("chiptune", "8-bit"), "Chip Lead")


RECIPES = (
    Recipe("lead", "square", "Square Lead", 180, square_lead),
    Recipe("lead", "saw", "Saw Lead", 200, saw_lead),
    Recipe("lead", "supersaw", "Supersaw", 200, supersaw),
    Recipe("lead", "sync", "Sync Lead", 180, sync_lead),
    Recipe("lead", "fm", "FM Lead", 180, fm_lead),
    Recipe("lead", "pwm", "PWM Lead", 180, pwm_lead),
    Recipe("lead", "vibrato", "Vibrato Lead", 180, vibrato_lead),
    Recipe("lead", "chiptune", "Chip Lead", 200, chip_lead),
)
