"""Pads: slow attacks, long releases, detuned sources, chorus and reverb."""

from __future__ import annotations

from cir.synth.preset import FM, LFO, Effect, Envelope, Filter, Operator, Oscillator, Voice
from cir.synth.recipes.common import (
    Dice,
    Draft,
    Recipe,
    chain,
    chorus,
    delay,
    env,
    maybe,
    phaser,
    reverb,
    sustained,
)

_HALL = ((0.5, 0.95), (0.2, 0.5))


def _amp(d: Dice) -> Envelope:
    return sustained(
        d, attack=(0.15, 2.0), decay=(0.5, 3.0), sustain=(0.6, 1.0), release=(0.4, 3.0)
    )


def _motion(d: Dice) -> tuple[LFO, ...]:
    """Slow movement most pads have: a filter sweep or a tremolo."""
    if d.chance(0.25):
        return (
            LFO(
                target="cutoff",
                shape=d.pick(("sine", "triangle")),
                rate_hz=d.log(0.05, 0.8),
                depth=d.uniform(0.3, 1.5),
            ),
        )
    if d.chance(0.15):
        return (
            LFO(
                target="amp",
                shape=d.pick(("sine", "triangle", "square")),
                rate_hz=d.log(1.0, 8.0),
                depth=d.uniform(0.2, 0.6),
            ),
        )
    return ()


def _space(d: Dice) -> tuple[Effect | None, ...]:
    return (
        maybe(d, 0.7, chorus),
        maybe(d, 0.15, phaser),
        maybe(d, 0.2, delay, (0.2, 0.5), (0.1, 0.3)),
        maybe(d, 0.8, reverb, *_HALL),
    )


def warm_pad(d: Dice) -> Draft:
    voice = Voice(
        oscillators=(
            Oscillator(wave="saw", unison=d.integer(2, 5), detune_cents=d.uniform(8, 35)),
            Oscillator(
                wave=d.pick(("saw", "triangle", "square")),
                level=d.uniform(0.3, 0.8),
                semitones=d.pick((0.0, -12.0, 12.0, 7.0)),
                cents=d.uniform(-10, 10),
            ),
        ),
        filter=Filter(
            type="lowpass",
            cutoff_hz=d.log(400, 4000),
            resonance=d.uniform(0.0, 0.4),
            env_amount_oct=d.uniform(0.0, 2.0),
            keytrack=d.uniform(0.0, 0.7),
            slope_db=d.pick((12, 24)),
        ),
        filter_env=env(d.log(0.2, 2.0), d.log(0.5, 3.0), d.uniform(0.3, 1.0), d.log(0.5, 3.0)),
        amp_env=_amp(d),
        lfos=_motion(d),
    )
    return Draft(voice, chain(*_space(d)), ("warm", "saw"))


def string_pad(d: Dice) -> Draft:
    oscs = [Oscillator(wave="saw", unison=d.integer(3, 7), detune_cents=d.uniform(8, 25))]
    if d.chance(0.3):
        oscs.append(Oscillator(wave="noise", level=d.uniform(0.02, 0.1)))  # bow noise
    voice = Voice(
        oscillators=tuple(oscs),
        noise_color="pink",
        filter=Filter(
            type="lowpass",
            cutoff_hz=d.log(1500, 7000),
            resonance=d.uniform(0.0, 0.3),
            keytrack=d.uniform(0.5, 1.0),
        ),
        amp_env=sustained(
            d, attack=(0.1, 0.8), decay=(0.5, 2.0), sustain=(0.7, 1.0), release=(0.3, 1.5)
        ),
        lfos=(
            LFO(
                target="pitch",
                shape="sine",
                rate_hz=d.uniform(4.0, 6.0),
                depth=d.uniform(0.05, 0.2),
                delay=d.uniform(0.3, 1.0),
            ),
        ),
    )
    return Draft(voice, chain(*_space(d)), ("strings",), "String Pad")


def pwm_pad(d: Dice) -> Draft:
    voice = Voice(
        oscillators=(
            Oscillator(wave="square", pulse_width=d.uniform(0.3, 0.5)),
            Oscillator(
                wave="square",
                level=d.uniform(0.5, 1.0),
                pulse_width=d.uniform(0.3, 0.5),
                cents=d.uniform(-15, 15),
            ),
        ),
        filter=Filter(
            type="lowpass",
            cutoff_hz=d.log(600, 5000),
            resonance=d.uniform(0.0, 0.4),
            keytrack=d.uniform(0.0, 0.8),
        ),
        amp_env=_amp(d),
        lfos=(
            LFO(
                target="pulse_width",
                shape=d.pick(("sine", "triangle")),
                rate_hz=d.log(0.1, 1.5),
                depth=d.uniform(0.1, 0.35),
            ),
            *_motion(d),
        ),
    )
    return Draft(voice, chain(*_space(d)), ("pwm",))


def fm_pad(d: Dice) -> Draft:
    n = d.integer(2, 4)
    swell = env(d.log(0.3, 3.0), d.log(0.5, 3.0), d.uniform(0.3, 1.0), d.log(0.5, 2.0))
    ops = [Operator(ratio=1.0, envelope=env(0.0, 1.0, 1.0, 1.0))]
    for _ in range(n - 1):
        ops.append(
            Operator(
                ratio=d.pick((0.5, 1.0, 2.0, 3.0)),
                level=d.log(0.2, 2.5),
                detune_hz=d.uniform(0.2, 3.0) * d.sign(),
                envelope=swell,
            )
        )
    algorithm = (
        "stack"
        if n == 2
        else d.pick(("pairs", "parallel", "y") if n == 4 else ("parallel", "y", "stack"))
    )
    voice = Voice(
        oscillators=(),
        fm=FM(operators=tuple(ops), algorithm=algorithm, level=1.0),
        filter=Filter(type="lowpass", cutoff_hz=d.log(1000, 8000), keytrack=0.5)
        if d.chance(0.5)
        else Filter(type="none"),
        amp_env=_amp(d),
        lfos=_motion(d),
    )
    return Draft(voice, chain(*_space(d)), ("fm",))


RECIPES = (
    Recipe("pad", "warm", "Warm Pad", 220, warm_pad),
    Recipe("pad", "strings", "String Pad", 200, string_pad),
    Recipe("pad", "pwm", "PWM Pad", 180, pwm_pad),
    Recipe("pad", "fm", "FM Pad", 200, fm_pad),
)
