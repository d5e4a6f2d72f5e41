"""Keys and plucks: e-pianos (FM), organs (additive sines), plucks, bells and clavs."""

from __future__ import annotations

from cir.synth.preset import FM, LFO, Filter, Operator, Oscillator, Voice
from cir.synth.recipes.common import (
    Dice,
    Draft,
    Recipe,
    chain,
    chorus,
    compressor,
    delay,
    distortion,
    env,
    ladder,
    maybe,
    phaser,
    reverb,
)

# Hammond drawbar footages as semitones from the played note: 16', 5 1/3', 8', 4', 2 2/3', 2',
# 1 3/5', 1 1/3', 1'.
_DRAWBARS = (-12.0, 7.0, 0.0, 12.0, 19.0, 24.0, 28.0, 31.0, 36.0)
_ROOM = ((0.2, 0.7), (0.1, 0.3))


def _tremolo(d: Dice, p: float) -> tuple[LFO, ...]:
    if not d.chance(p):
        return ()
    return (
        LFO(target="amp", shape="sine", rate_hz=d.uniform(3.0, 7.0), depth=d.uniform(0.1, 0.4)),
    )


def epiano(d: Dice) -> Draft:
    tine = env(0.0, d.log(0.3, 2.0), d.uniform(0.0, 0.3), 0.2)
    bark = env(0.0, d.log(0.01, 0.08), 0.0, 0.05)
    ops = [
        Operator(ratio=1.0, envelope=env(0.0, 2.0, 1.0, 0.3)),
        Operator(ratio=1.0, level=d.log(0.3, 2.5), envelope=tine),
    ]
    if d.chance(0.6):
        # The second pair: a high-ratio modulator gives the bell-like attack of a tine piano.
        ops += [
            Operator(
                ratio=d.pick((1.0, 2.0)),
                level=d.uniform(0.2, 0.8),
                envelope=env(0.0, 1.5, 0.5, 0.3),
            ),
            Operator(ratio=d.pick((14.0, 11.0, 7.0)), level=d.log(0.3, 3.0), envelope=bark),
        ]
    voice = Voice(
        oscillators=(),
        fm=FM(operators=tuple(ops), algorithm="pairs" if len(ops) == 4 else "stack", level=1.0),
        filter=Filter(type="none"),
        amp_env=env(d.uniform(0.001, 0.005), d.log(0.6, 3.0), d.uniform(0.0, 0.4), d.log(0.1, 0.6)),
        lfos=_tremolo(d, 0.4),
        velocity_amp=d.uniform(0.5, 0.9),
    )
    effects = chain(
        maybe(d, 0.5, chorus),
        maybe(d, 0.2, phaser),
        maybe(d, 0.1, distortion, (3.0, 10.0)),
        maybe(d, 0.5, reverb, *_ROOM),
    )
    return Draft(voice, effects, ("e-piano", "fm"), "E-Piano")


def organ(d: Dice) -> Draft:
    bars = sorted({d.integer(0, len(_DRAWBARS) - 1) for _ in range(d.integer(3, 7))} | {2})
    voice = Voice(
        oscillators=tuple(
            Oscillator(wave="sine", semitones=_DRAWBARS[i], level=d.pick((0.25, 0.5, 0.75, 1.0)))
            for i in bars
        ),
        filter=Filter(type="none")
        if d.chance(0.6)
        else Filter(type="lowpass", cutoff_hz=d.log(2000, 10000)),
        amp_env=env(d.log(0.002, 0.02), 0.1, 1.0, d.log(0.02, 0.1)),
        # Leslie: a rotary speaker is a tremolo plus a chorus.
        lfos=_tremolo(d, 0.3),
        drive=d.uniform(0.1, 0.5) if d.chance(0.3) else 0.0,
        velocity_amp=d.uniform(0.0, 0.3),
    )
    effects = chain(
        maybe(d, 0.5, chorus), maybe(d, 0.2, distortion, (3.0, 12.0)), maybe(d, 0.5, reverb, *_ROOM)
    )
    return Draft(voice, effects, ("organ", "additive"))


def pluck(d: Dice) -> Draft:
    dec = d.log(0.15, 0.8)
    voice = Voice(
        oscillators=(
            Oscillator(
                wave=d.pick(("saw", "square", "triangle")),
                pulse_width=d.uniform(0.2, 0.5),
                unison=d.integer(1, 4),
                detune_cents=d.uniform(0, 25),
            ),
        ),
        filter=Filter(
            type="lowpass",
            cutoff_hz=d.log(300, 3000),
            resonance=d.uniform(0.0, 0.6),
            env_amount_oct=d.uniform(2.0, 5.0),
            keytrack=d.uniform(0.3, 1.0),
            velocity_oct=d.uniform(0.0, 2.0),
        ),
        filter_env=env(0.0, d.log(0.05, 0.4), 0.0, 0.1),
        amp_env=env(0.0, dec, d.uniform(0.0, 0.1), d.log(0.1, 0.5)),
        velocity_amp=d.uniform(0.5, 1.0),
    )
    effects = chain(maybe(d, 0.5, delay), maybe(d, 0.6, reverb, *_ROOM), maybe(d, 0.2, chorus))
    return Draft(voice, effects, ("pluck",))


def bell_key(d: Dice) -> Draft:
    kind = d.pick(("bell", "clav", "toy"))
    if kind == "clav":
        voice = Voice(
            oscillators=(Oscillator(wave="square", pulse_width=d.uniform(0.08, 0.25)),),
            filter=Filter(
                type=d.pick(("highpass", "bandpass")),
                cutoff_hz=d.log(300, 2000),
                resonance=d.uniform(0.2, 0.7),
                env_amount_oct=d.uniform(0.5, 2.5),
            ),
            filter_env=env(0.0, d.log(0.03, 0.2), 0.2, 0.05),
            amp_env=env(0.0, d.log(0.3, 1.5), d.uniform(0.0, 0.5), d.log(0.03, 0.15)),
            velocity_amp=d.uniform(0.5, 1.0),
        )
        effects = chain(
            maybe(d, 0.4, phaser),
            maybe(d, 0.3, ladder, (1500.0, 8000.0)),
            maybe(d, 0.3, compressor),
        )
        return Draft(voice, effects, ("clav",), "Clav")
    ops = (
        Operator(
            ratio=d.pick((1.0, 2.0)) if kind == "bell" else 4.0, envelope=env(0.0, 2.0, 1.0, 0.5)
        ),
        Operator(
            ratio=d.pick((1.4, 3.5, 2.76, 5.19)),
            level=d.log(0.5, 4.0),
            envelope=env(0.0, d.log(0.2, 2.0), 0.1, 0.5),
        ),
        Operator(
            ratio=d.pick((1.0, 0.5)), envelope=env(0.0, 2.0, 1.0, 0.5), level=d.uniform(0.3, 0.7)
        ),
        Operator(
            ratio=d.pick((3.0, 7.0, 9.0)),
            level=d.log(0.2, 2.0),
            feedback=d.uniform(0.0, 0.3),
            envelope=env(0.0, d.log(0.05, 0.5), 0.0, 0.2),
        ),
    )
    voice = Voice(
        oscillators=(),
        fm=FM(operators=ops, algorithm="pairs", level=1.0),
        filter=Filter(type="none"),
        amp_env=env(0.0, d.log(0.8, 4.0), d.uniform(0.0, 0.2), d.log(0.3, 2.0)),
        lfos=_tremolo(d, 0.2),
        velocity_amp=d.uniform(0.5, 1.0),
    )
    effects = chain(maybe(d, 0.3, chorus), maybe(d, 0.3, delay), maybe(d, 0.6, reverb, *_ROOM))
    return Draft(
        voice,
        effects,
        ("bell", "fm") if kind == "bell" else ("toy", "fm"),
        "Bell Keys" if kind == "bell" else "Toy Keys",
    )


RECIPES = (
    Recipe("keys", "e-piano", "E-Piano", 220, epiano),
    Recipe("keys", "organ", "Organ", 180, organ),
    Recipe("keys", "pluck", "Pluck", 220, pluck),
    Recipe("keys", "bells", "Bell Keys", 180, bell_key),
)
