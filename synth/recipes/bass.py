"""Bass: fundamental-dominant low end (low-pass filters that track the key, sub oscillators)."""

from __future__ import annotations

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
    ladder,
    maybe,
    mono_glide,
    phaser,
    reverb,
    sustained,
)

_SMALL_ROOM = ((0.1, 0.4), (0.05, 0.15))


def _sub(d: Dice, p: float) -> Sub:
    if not d.chance(p):
        return Sub()
    return Sub(
        level=d.uniform(0.2, 0.7), octave=-1, wave=d.pick(("sine", "sine", "square", "triangle"))
    )


def sub_bass(d: Dice) -> Draft:
    eight_oh_eight = d.chance(0.3)
    voice = Voice(
        oscillators=(Oscillator(wave=d.pick(("sine", "sine", "triangle"))),),
        filter=Filter(type="lowpass", cutoff_hz=d.log(200, 900), keytrack=d.uniform(0.0, 1.0))
        if d.chance(0.5)
        else Filter(type="none"),
        amp_env=env(0.001, d.log(0.4, 1.5), d.uniform(0.0, 0.3), d.log(0.1, 0.4))
        if eight_oh_eight
        else sustained(d, sustain=(0.7, 1.0)),
        pitch_env=PitchEnvelope(amount_semitones=d.uniform(3, 14), decay=d.log(0.01, 0.06))
        if eight_oh_eight
        else PitchEnvelope(),
        drive=d.uniform(0.1, 0.5) if d.chance(0.35) else 0.0,
        velocity_amp=d.uniform(0.3, 0.8),
        **mono_glide(d, 0.7),
    )
    effects = chain(maybe(d, 0.3, compressor), maybe(d, 0.1, distortion, (3.0, 12.0)))
    return Draft(
        voice,
        effects,
        ("sub", "808") if eight_oh_eight else ("sub",),
        "808 Bass" if eight_oh_eight else None,
    )


def reese(d: Dice) -> Draft:
    voice = Voice(
        oscillators=(
            Oscillator(wave="saw", unison=d.integer(2, 5), detune_cents=d.uniform(10, 45)),
            Oscillator(
                wave="saw",
                level=d.uniform(0.4, 1.0),
                semitones=d.pick((0.0, -12.0)),
                cents=d.uniform(-20, 20),
            ),
        ),
        sub=_sub(d, 0.5),
        filter=Filter(
            type="lowpass",
            cutoff_hz=d.log(250, 2000),
            resonance=d.uniform(0.0, 0.4),
            keytrack=d.uniform(0.2, 0.8),
            slope_db=d.pick((12, 24)),
        ),
        lfos=(
            LFO(
                target="cutoff",
                shape=d.pick(("sine", "triangle")),
                rate_hz=d.log(0.1, 1.0),
                depth=d.uniform(0.3, 1.5),
            ),
        )
        if d.chance(0.4)
        else (),
        amp_env=sustained(d),
        drive=d.uniform(0.0, 0.5),
        **mono_glide(d, 0.6),
    )
    effects = chain(
        maybe(d, 0.3, chorus),
        maybe(d, 0.2, distortion, (5.0, 20.0)),
        maybe(d, 0.15, phaser),
        maybe(d, 0.2, compressor),
        maybe(d, 0.1, reverb, *_SMALL_ROOM),
    )
    return Draft(voice, effects, ("reese", "detuned"))


def acid(d: Dice) -> Draft:
    voice = Voice(
        oscillators=(Oscillator(wave=d.pick(("saw", "saw", "square"))),),
        filter=Filter(
            type="lowpass",
            cutoff_hz=d.log(120, 900),
            resonance=d.uniform(0.55, 0.92),
            env_amount_oct=d.uniform(1.5, 5.0),
            keytrack=d.uniform(0.0, 0.6),
            velocity_oct=d.uniform(0.3, 1.5),
            slope_db=d.pick((12, 24)),
        ),
        filter_env=env(0.0, d.log(0.08, 0.6), d.uniform(0.0, 0.25), d.log(0.05, 0.2)),
        amp_env=sustained(d),
        drive=d.uniform(0.1, 0.7),
        mono=True,
        glide=d.log(0.02, 0.15),
        velocity_amp=d.uniform(0.3, 0.8),
    )
    effects = chain(
        maybe(d, 0.35, distortion, (6.0, 24.0)),
        maybe(d, 0.25, delay, (0.1, 0.4), (0.1, 0.25)),
        maybe(d, 0.1, reverb, *_SMALL_ROOM),
    )
    return Draft(voice, effects, ("acid", "resonant"))


def fm_bass(d: Dice) -> Draft:
    mod_env = env(0.0, d.log(0.05, 0.5), d.uniform(0.0, 0.5), 0.1)
    ops = [
        Operator(ratio=d.pick((1.0, 1.0, 0.5)), envelope=env(0.0, 1.0, 1.0, 0.1)),
        Operator(
            ratio=d.pick((0.5, 1.0, 2.0, 3.0)),
            level=d.log(0.5, 5.0),
            feedback=d.uniform(0.0, 0.4),
            envelope=mod_env,
        ),
    ]
    algorithm = "stack"
    if d.chance(0.35):
        ops.append(Operator(ratio=d.pick((1.0, 2.0, 4.0)), level=d.log(0.3, 3.0), envelope=mod_env))
        algorithm = d.pick(("stack", "y", "parallel"))
    voice = Voice(
        oscillators=(),
        fm=FM(operators=tuple(ops), algorithm=algorithm, level=1.0),
        sub=_sub(d, 0.4),
        filter=Filter(type="lowpass", cutoff_hz=d.log(600, 5000), keytrack=d.uniform(0.3, 1.0))
        if d.chance(0.6)
        else Filter(type="none"),
        amp_env=sustained(d, sustain=(0.4, 1.0)),
        velocity_amp=d.uniform(0.4, 0.9),
        **mono_glide(d, 0.6),
    )
    effects = chain(
        maybe(d, 0.25, compressor), maybe(d, 0.15, chorus), maybe(d, 0.1, distortion, (4.0, 15.0))
    )
    return Draft(voice, effects, ("fm",))


def pluck_bass(d: Dice) -> Draft:
    dec = d.log(0.12, 0.6)
    voice = Voice(
        oscillators=(
            Oscillator(
                wave=d.pick(("saw", "square", "triangle")),
                unison=d.integer(1, 2),
                detune_cents=d.uniform(0, 15),
            ),
        ),
        sub=_sub(d, 0.5),
        filter=Filter(
            type="lowpass",
            cutoff_hz=d.log(150, 1000),
            resonance=d.uniform(0.0, 0.6),
            env_amount_oct=d.uniform(2.0, 5.0),
            keytrack=d.uniform(0.0, 0.8),
        ),
        filter_env=env(0.0, d.log(0.05, 0.3), 0.0, 0.1),
        amp_env=env(d.uniform(0.0, 0.005), dec, d.uniform(0.0, 0.3), d.log(0.05, 0.2)),
        velocity_amp=d.uniform(0.4, 0.9),
        **mono_glide(d, 0.4),
    )
    effects = chain(
        maybe(d, 0.2, reverb, *_SMALL_ROOM),
        maybe(d, 0.2, delay, (0.1, 0.3), (0.1, 0.2)),
        maybe(d, 0.15, chorus),
    )
    return Draft(voice, effects, ("pluck",))


def pulse_bass(d: Dice) -> Draft:
    oscs = [Oscillator(wave="square", pulse_width=d.uniform(0.08, 0.5))]
    if d.chance(0.4):
        oscs.append(
            Oscillator(
                wave="square",
                level=d.uniform(0.3, 0.8),
                pulse_width=d.uniform(0.2, 0.5),
                cents=d.uniform(-15, 15),
            )
        )
    lfos = ()
    if d.chance(0.4):
        lfos = (
            LFO(
                target="pulse_width",
                shape=d.pick(("sine", "triangle")),
                rate_hz=d.log(0.2, 3.0),
                depth=d.uniform(0.05, 0.3),
            ),
        )
    voice = Voice(
        oscillators=tuple(oscs),
        sub=Sub(level=d.uniform(0.2, 0.6), octave=d.pick((-1, -2)), wave="square")
        if d.chance(0.4)
        else Sub(),
        filter=Filter(
            type="lowpass",
            cutoff_hz=d.log(300, 3000),
            resonance=d.uniform(0.0, 0.5),
            keytrack=d.uniform(0.0, 1.0),
        ),
        amp_env=sustained(d),
        lfos=lfos,
        **mono_glide(d, 0.5),
    )
    effects = chain(
        maybe(d, 0.2, chorus), maybe(d, 0.15, bitcrush, (6.0, 12.0)), maybe(d, 0.2, compressor)
    )
    return Draft(voice, effects, ("pulse", "square"))


def growl(d: Dice) -> Draft:
    kind = d.pick(("lowpass", "lowpass", "bandpass"))
    voice = Voice(
        oscillators=(
            Oscillator(wave="saw"),
            Oscillator(
                wave="square",
                level=d.uniform(0.3, 0.9),
                semitones=d.pick((0.0, -12.0, 7.0)),
                cents=d.uniform(-10, 10),
            ),
        ),
        fm=FM(
            operators=(Operator(), Operator(ratio=d.pick((0.5, 1.0, 2.0)), level=d.log(0.5, 3.0))),
            level=d.uniform(0.2, 0.6),
        )
        if d.chance(0.3)
        else None,
        sub=_sub(d, 0.6),
        filter=Filter(
            type=kind,
            cutoff_hz=d.log(200, 1200),
            resonance=d.uniform(0.3, 0.8),
            keytrack=d.uniform(0.0, 0.5),
        ),
        # The wobble: an LFO sweeping the cutoff by octaves.
        lfos=(
            LFO(
                target="cutoff",
                shape=d.pick(("sine", "triangle", "square", "saw")),
                rate_hz=d.log(1.0, 8.0),
                depth=d.uniform(1.0, 3.5),
            ),
        ),
        amp_env=sustained(d),
        drive=d.uniform(0.3, 0.9),
        **mono_glide(d, 0.8),
    )
    effects = chain(
        maybe(d, 0.5, distortion, (6.0, 25.0)),
        maybe(d, 0.2, ladder, (300.0, 2500.0)),
        maybe(d, 0.4, compressor),
    )
    return Draft(voice, effects, ("growl", "wobble"))


def dirty(d: Dice) -> Draft:
    voice = Voice(
        oscillators=(
            Oscillator(
                wave=d.pick(("saw", "square")),
                unison=d.integer(1, 3),
                detune_cents=d.uniform(0, 25),
            ),
        ),
        sub=_sub(d, 0.5),
        filter=Filter(
            type="lowpass",
            cutoff_hz=d.log(300, 2500),
            resonance=d.uniform(0.0, 0.5),
            keytrack=d.uniform(0.0, 0.7),
        ),
        amp_env=sustained(d),
        drive=d.uniform(0.5, 1.0),
        **mono_glide(d, 0.7),
    )
    effects = chain(
        distortion(d, (10.0, 35.0)),
        maybe(d, 0.5, ladder, (400.0, 3000.0)),
        maybe(d, 0.15, bitcrush, (5.0, 10.0)),
        maybe(d, 0.3, compressor),
    )
    return Draft(voice, effects, ("distorted",))


RECIPES = (
    Recipe("bass", "sub", "Sub Bass", 150, sub_bass),
    Recipe("bass", "reese", "Reese Bass", 220, reese),
    Recipe("bass", "acid", "Acid Bass", 220, acid),
    Recipe("bass", "fm", "FM Bass", 200, fm_bass),
    Recipe("bass", "pluck", "Pluck Bass", 180, pluck_bass),
    Recipe("bass", "pulse", "Pulse Bass", 170, pulse_bass),
    Recipe("bass", "growl", "Growl Bass", 180, growl),
    Recipe("bass", "distorted", "Dirty Bass", 180, dirty),
)
