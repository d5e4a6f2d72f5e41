"""The built-in synth engine: render a preset playing MIDI-like notes into a numpy array.

    audio = render(preset, [Note(pitch=40, duration=0.8)], sample_rate=44_100)

Each note is one voice (sources -> drive -> filter -> amp), voices are summed, then the
preset's effects chain runs over the mix, then `gain_db`, then a soft safety limiter (or peak
normalisation). Everything is vectorised (see synth.dsp), and the output is a pure function of
its inputs: noise is seeded from the preset id and note index.

What the preset numbers mean here (the bank relies on these):
- Envelopes: `attack` is the time to full level (convex, analog-like); `decay` and `release`
  are the times to fall 60 dB (towards sustain, towards silence). The amp envelope never
  attacks faster than 0.5 ms or releases faster than 3 ms (no clicks).
- Sources: oscillator, sub and FM levels add; when they sum above 1 the mix is scaled by
  1 / sum. Unison voices spread evenly over `detune_cents` and are scaled by 1/sqrt(unison).
  Saw, pulse, triangle and synced waves are band-limited (PolyBLEP/PolyBLAMP).
- Fixed pitch: a voice with `fixed_pitch` plays that pitch for every note (velocity, timing and
  gate still come from the note), as a drum machine plays its kick on any key.
- Pitch envelope: `amount_semitones * exp(-t / decay)` (decay is a time constant). Glide:
  `glide` seconds to get within 5 % of the interval, from the previous mono note.
- Filter: RBJ biquad (12 dB/octave; 24 = two sections, resonance on the second) with
  Q = 0.707 * 32 ** resonance, cutoff = cutoff_hz * 2 ** (env_amount_oct * filter_env +
  keytrack * (pitch - 60) / 12 + velocity_oct * velocity / 127 + cutoff LFOs), within
  20 Hz .. 0.45 x sample rate, updated every SYNTH_BLOCK samples.
- FM: operator frequency = ratio x note + detune_hz; a modulator's level is its peak phase
  deviation in radians, a carrier's level its output gain (at most 1); carriers are averaged.
  Feedback 0..1 turns an operator from a sine towards a saw.
- LFOs start at phase 0 with each note and fade in over `delay` seconds. Depth units: pitch
  semitones, pulse-width units, cutoff octaves; amp LFOs swing the gain between 1 and
  1 - depth.
- Drive: tanh with gain 1 + 15 drive^2, scaled so full scale stays full scale.
- Loudness: SYNTH_VOICE_GAIN x (1 - velocity_amp + velocity_amp * velocity / 127).
"""

from __future__ import annotations

import math
import sys
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from cir import defaults
from cir.errors import CIRError
from cir.families import FAMILY_SPECS
from cir.synth import dsp
from cir.synth.constants import SYNTH_FILTER_MAX_FRACTION
from cir.synth.effects import apply_effects, tail_seconds
from cir.synth.notes import Note, midi_to_hz
from cir.synth.preset import FM, Envelope, Oscillator, Preset, Voice

# Sample rates the engine accepts: telephone band up to high-resolution studio rates.
SYNTH_SAMPLE_RATE_RANGE = (8_000, 192_000)
# Shortest amp release and attack (seconds): a note never starts or stops with a click.
SYNTH_MIN_RELEASE = 0.003
SYNTH_MIN_ATTACK = 0.0005
# A mono voice cut by the next note fades out over this time (seconds).
SYNTH_MONO_FADE = 0.004
# Glide time is the time to get within 5 % of the target pitch (3 time constants).
SYNTH_GLIDE_TIME_CONSTANTS = 3.0
# FM operator feedback y = sin(theta + b * y) is solved per sample as Kepler's equation
# (Newton steps, vectorised) instead of a one-sample loop: b = feedback * this maximum (below 1
# the solution is unique and goes from sine to saw-like), with this many Newton iterations
# (float32-exact up to the maximum).
SYNTH_FM_FEEDBACK_MAX = 0.95
SYNTH_FM_FEEDBACK_ITERATIONS = 5
# Peak-ish level of one full-velocity voice before effects: leaves headroom for chords and
# resonance so the limiter rarely works.
SYNTH_VOICE_GAIN = 0.5
# Above this level the safety limiter bends the signal smoothly so nothing exceeds 1.0.
SYNTH_LIMITER_KNEE = 0.9
# Optional glibc allocator settings (synth.engine.tune_allocator): keep freed memory up to
# these sizes in the heap instead of handing it back to the OS, so the engine's many
# short-lived 100-400 KB arrays stop costing page faults (about a third of a render's time).
SYNTH_MALLOC_MMAP_THRESHOLD = 32 * 1024 * 1024
SYNTH_MALLOC_TRIM_THRESHOLD = 256 * 1024 * 1024


class RenderError(CIRError):
    """A render request is impossible: bad sample rate, length or notes."""


L = dsp.L


def check_sample_rate(sample_rate: int) -> int:
    """Return the sample rate if the engine supports it, else raise RenderError."""
    lo, hi = SYNTH_SAMPLE_RATE_RANGE
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | np.integer):
        raise RenderError(f"sample rate {sample_rate!r} must be an integer in Hz, "
                          f"between {lo} and {hi}")
    if not lo <= sample_rate <= hi:
        raise RenderError(f"sample rate {sample_rate} Hz is out of range; use {lo} to {hi} Hz")
    return int(sample_rate)


@dataclass(frozen=True)
class _VoicePlan:
    """One note scheduled as a voice: where it starts, when its gate closes, how long it rings."""

    index: int
    note: Note
    gate: float  # seconds from note on
    length: float  # seconds of audio this voice produces
    cut: float | None  # mono: seconds from note on where the next note takes over
    glide_from: float | None  # mono glide: the previous note's pitch


def _ring_time(voice: Voice, gate: float) -> float:
    """Seconds from note on until the amp envelope is silent (about -60 dB or lower)."""
    env = voice.amp_env
    release = max(env.release, SYNTH_MIN_RELEASE)
    end = gate + release
    if env.sustain == 0.0:
        # One-shots fall silent (-80 dB) during the hold: no need to wait for the gate.
        end = min(end, env.attack + env.decay * 4.0 / 3.0)
    return end


def plan_voices(voice: Voice, notes: Sequence[Note]) -> list[_VoicePlan]:
    """Schedule notes as voices: poly voices overlap, mono voices are cut (and glide)."""
    order = sorted(range(len(notes)), key=lambda i: (notes[i].start, i))
    plans = []
    for pos, i in enumerate(order):
        note = notes[i]
        if voice.fixed_pitch is not None:
            note = replace(note, pitch=voice.fixed_pitch)
        gate = note.duration
        cut = None
        glide_from = None
        length = _ring_time(voice, gate)
        if voice.mono:
            if pos + 1 < len(order):
                nxt = notes[order[pos + 1]].start - note.start
                if nxt <= 0:
                    continue  # a mono voice plays the last of notes that start together
                if nxt < length:
                    cut = nxt
                    gate = min(gate, nxt)
                    length = min(_ring_time(voice, gate), nxt + SYNTH_MONO_FADE)
            if pos > 0 and voice.glide > 0:
                glide_from = float(plans[-1].note.pitch) if plans else None
        plans.append(_VoicePlan(i, note, gate, max(length, 1.0 / 1000), cut, glide_from))
    return plans


def render(preset: Preset, notes: Sequence[Note], sample_rate: int = defaults.RENDER_SAMPLE_RATE,
           seconds: float | None = None, normalize: bool = False) -> np.ndarray:
    """Render `notes` with `preset`: mono float32, never above 1.0, bit-identical on reruns.

    The length is round(seconds * sample_rate) when `seconds` is given, else it covers the last
    note's release plus the effects tail. normalize=True scales the peak to RENDER_PEAK.
    """
    sr = check_sample_rate(sample_rate)
    for n in notes:
        if not isinstance(n, Note):
            raise RenderError(f"notes must be synth.notes.Note objects, got {type(n).__name__}")
    plans = plan_voices(preset.voice, notes)
    if seconds is not None:
        if not (isinstance(seconds, int | float) and math.isfinite(seconds) and seconds > 0):
            raise RenderError(f"seconds {seconds!r} must be a positive number of seconds")
        total = round(seconds * sr)
    else:
        end = max((p.note.start + p.length for p in plans), default=0.0)
        total = round((end + tail_seconds(preset.effects)) * sr)
    out = np.zeros(total, dtype=np.float32)
    seed = zlib.crc32(preset.id.encode("utf-8"))
    for plan in plans:
        start = round(plan.note.start * sr)
        if start >= total:
            continue
        n = min(round(plan.length * sr), total - start)
        rng = np.random.default_rng([seed, plan.index])
        out[start:start + n] += _render_voice(preset.voice, plan, n, sr, rng)
    out = apply_effects(out, preset.effects, sr)
    if preset.gain_db:
        out *= np.float32(10.0 ** (preset.gain_db / 20.0))
    return _finish(out, normalize)


def render_note(preset: Preset, pitch: int, velocity: int = defaults.CANONICAL_VELOCITY,
                duration: float | None = None, seconds: float | None = None,
                sample_rate: int = defaults.RENDER_SAMPLE_RATE,
                normalize: bool = False) -> np.ndarray:
    """One note from time 0; the duration defaults to the family's (FAMILY_SPECS)."""
    if duration is None:
        spec = FAMILY_SPECS.get(preset.family)
        duration = spec.note_seconds if spec else 0.5
    note = Note(pitch=pitch, velocity=velocity, start=0.0, duration=duration)
    return render(preset, [note], sample_rate=sample_rate, seconds=seconds, normalize=normalize)


def tune_allocator() -> bool:
    """Make glibc keep freed memory for reuse (process-wide); True if it was applied.

    Renders allocate many short-lived arrays of a few hundred KB; by default glibc returns
    them to the OS and every new one page-faults back in. Call this once at the start of a
    long rendering job (catalogue build, training). Not applied off glibc.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
    ok = mallopt(m_mmap_threshold, SYNTH_MALLOC_MMAP_THRESHOLD)
    ok &= mallopt(m_trim_threshold, SYNTH_MALLOC_TRIM_THRESHOLD)
    return bool(ok)


class BuiltinInstrument:
    """The built-in synth playing one preset, as a presets_db.render.Instrument."""

    def __init__(self, preset: Preset) -> None:
        self.preset = preset

    def render(self, notes: Sequence[Note], seconds: float, sample_rate: int) -> np.ndarray:
        return render(self.preset, notes, sample_rate=sample_rate, seconds=seconds)

    def __repr__(self) -> str:
        return f"BuiltinInstrument({self.preset.id!r})"


def _finish(out: np.ndarray, normalize: bool) -> np.ndarray:
    out = out.astype(np.float32, copy=False)
    if not len(out):
        return out
    peak = max(float(out.max()), -float(out.min()))
    if not math.isfinite(peak):  # max/min propagate NaN, so this catches NaN and inf
        out = np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
        peak = float(np.max(np.abs(out)))
    if normalize:
        if peak > 0:
            out *= np.float32(defaults.RENDER_PEAK / peak)
        return out
    knee = SYNTH_LIMITER_KNEE
    if peak > knee:
        # Soft knee: untouched below `knee`, bends towards (never reaching) 1.0 above it.
        mag = np.abs(out)
        over = mag > knee
        bent = knee + (1.0 - knee) * np.tanh((mag[over] - knee) / (1.0 - knee))
        out[over] = np.sign(out[over]) * bent
    return out


# --- one voice ---------------------------------------------------------------------------------


def _env_blocks(env: Envelope, t_edges: np.ndarray, gate: float, amp: bool = False) -> np.ndarray:
    """An ADSR evaluated at block edges and interpolated to (B, L)."""
    level = dsp.adsr(t_edges, gate, env.attack, env.decay, env.sustain, env.release,
                     SYNTH_MIN_ATTACK if amp else 0.0,
                     SYNTH_MIN_RELEASE if amp else 0.0)
    return dsp.interp_blocks(level)


def _lfo(voice: Voice, target: str, t: np.ndarray) -> np.ndarray | None:
    """Sum of the voice's LFOs on `target` at times t (in the target's unit), or None."""
    total = None
    for lfo in voice.lfos:
        if lfo.target != target or lfo.depth == 0:
            continue
        value = lfo.depth * dsp.lfo_wave(lfo.shape, lfo.rate_hz * t)
        if lfo.delay > 0:
            value = value * np.clip(t / lfo.delay, 0.0, 1.0)
        total = value if total is None else total + value
    return total


def _tremolo(voice: Voice, t: np.ndarray) -> np.ndarray | None:
    """Gain of the amp LFOs: each swings between 1 and 1 - depth (depth above 1 counts as 1)."""
    gain = None
    for lfo in voice.lfos:
        if lfo.target != "amp" or lfo.depth == 0:
            continue
        dip = min(lfo.depth, 1.0) * (0.5 + 0.5 * dsp.lfo_wave(lfo.shape, lfo.rate_hz * t))
        if lfo.delay > 0:
            dip = dip * np.clip(t / lfo.delay, 0.0, 1.0)
        gain = 1.0 - dip if gain is None else gain * (1.0 - dip)
    return gain


def _render_voice(voice: Voice, plan: _VoicePlan, n: int, sr: int,
                  rng: np.random.Generator) -> np.ndarray:
    blocks = dsp.blocks_for(n)
    t_edges = np.arange(blocks + 1, dtype=np.float64) * (L / sr)
    t_mid = t_edges[:-1] + 0.5 * L / sr
    note = plan.note

    pitch = np.full(blocks, float(note.pitch))
    if voice.pitch_env.amount_semitones:
        pitch += voice.pitch_env.amount_semitones * np.exp(-t_mid / voice.pitch_env.decay)
    if plan.glide_from is not None:
        tau = voice.glide / SYNTH_GLIDE_TIME_CONSTANTS
        pitch += (plan.glide_from - note.pitch) * np.exp(-t_mid / tau)
    vib = _lfo(voice, "pitch", t_mid)
    if vib is not None:
        pitch += vib
    inc = midi_to_hz(0.0) * np.exp2(pitch / 12.0) / sr  # cycles per sample, per block

    x, level = _sources(voice, plan, inc, t_mid, t_edges, sr, rng, blocks)
    if level > 1.0:
        x *= np.float32(1.0 / level)
    if voice.drive > 0:
        g = 1.0 + 15.0 * voice.drive * voice.drive
        x = np.tanh(x * np.float32(g)) * np.float32(1.0 / math.tanh(g))
    x = _filter(voice, plan, x, t_mid, sr)

    amp = _env_blocks(voice.amp_env, t_edges, plan.gate, amp=True)
    if plan.cut is not None:
        fade = np.clip((plan.cut + SYNTH_MONO_FADE - t_edges) / SYNTH_MONO_FADE,
                       0.0, 1.0)
        amp = amp * dsp.interp_blocks(fade)
    trem = _tremolo(voice, t_edges)
    if trem is not None:
        amp = amp * dsp.interp_blocks(trem)
    gain = SYNTH_VOICE_GAIN * (1.0 - voice.velocity_amp
                                        + voice.velocity_amp * note.velocity / 127.0)
    x *= amp
    x *= np.float32(gain)
    return x.reshape(-1)[:n]


def _sources(voice: Voice, plan: _VoicePlan, inc: np.ndarray, t_mid: np.ndarray,
             t_edges: np.ndarray, sr: int, rng: np.random.Generator, blocks: int
             ) -> tuple[np.ndarray, float]:
    """Oscillators + sub + FM mixed into (B, L), and the sum of their levels."""
    x = np.zeros((blocks, L), dtype=np.float32)
    level = 0.0
    nyquist_inc = SYNTH_FILTER_MAX_FRACTION
    master = None
    pwm = _lfo(voice, "pulse_width", t_mid)
    for osc in voice.oscillators:
        if osc.level == 0:
            continue
        level += osc.level
        if osc.wave == "noise":
            x += dsp.noise(rng, x.shape, voice.noise_color) * np.float32(osc.level)
            continue
        if osc.sync and master is None:
            master = dsp.block_phase(inc, 0.0, nyquist_inc)
        x += _oscillator(osc, inc, pwm, master) * np.float32(osc.level / math.sqrt(osc.unison))
    sub = voice.sub
    if sub.level > 0:
        level += sub.level
        phase = dsp.Phase(inc, 2.0 ** sub.octave, 0.0, nyquist_inc)
        if sub.wave == "sine":
            y = dsp.sine_wave(phase)
        elif sub.wave == "triangle":
            y = dsp.triangle_wave(phase)
        else:
            y = dsp.pulse_wave(phase, 0.5)
        x += y * np.float32(sub.level)
    if voice.fm is not None and voice.fm.level > 0:
        level += voice.fm.level
        x += _fm(voice.fm, plan, inc, t_edges, sr) * np.float32(voice.fm.level)
    return x, level


def _oscillator(osc: Oscillator, inc: np.ndarray, pwm: np.ndarray | None,
                master: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """One oscillator's unison voices summed, (B, L)."""
    width = osc.pulse_width if pwm is None else np.clip(osc.pulse_width + pwm, 0.05, 0.95)
    count = osc.unison
    spread = (np.linspace(-0.5, 0.5, count) if count > 1 else np.zeros(1)) * osc.detune_cents
    ratios = 2.0 ** ((osc.semitones + (osc.cents + spread) / 100.0) / 12.0)
    if osc.sync and master is not None:
        out = _synced(osc.wave, master, float(ratios[0]), width)
        for ratio in ratios[1:]:
            out += _synced(osc.wave, master, float(ratio), width)
        return out
    # Unison voices start spread out (golden ratio steps), deterministically. One voice at a
    # time: stacking them would leave the CPU cache and run slower.
    starts = (np.arange(count) * 0.6180339887) % 1.0
    out = None
    for ratio, start in zip(ratios, starts, strict=True):
        phase = dsp.Phase(inc, float(ratio), float(start), SYNTH_FILTER_MAX_FRACTION)
        if osc.wave == "saw":
            y = dsp.saw_wave(phase)
        elif osc.wave == "square":
            y = dsp.pulse_wave(phase, width)
        elif osc.wave == "triangle":
            y = dsp.triangle_wave(phase)
        else:
            y = dsp.sine_wave(phase)
        if out is None:
            out = y
        else:
            out += y
    assert out is not None  # a preset has at least one oscillator (preset validation)
    return out


def _synced(wave: str, master: tuple[np.ndarray, np.ndarray], ratio: float,
            width: np.ndarray | float) -> np.ndarray:
    mph, dt = master
    if wave == "saw":
        return dsp.synced_saw(mph, dt, ratio)
    if wave == "square":
        return dsp.synced_pulse(mph, dt, ratio, width)
    ph = mph * np.float32(ratio)
    ph -= np.floor(ph)
    if wave == "triangle":
        return dsp.triangle(ph)
    return dsp.sine(ph)


# Which operators modulate which, per algorithm (operator 0 is always a carrier).
def _fm_graph(algorithm: str, count: int) -> tuple[dict[int, list[int]], list[int]]:
    mods: dict[int, list[int]] = {i: [] for i in range(count)}
    carriers = [0]
    if algorithm == "stack":
        for i in range(1, count):
            mods[i - 1].append(i)
    elif algorithm == "pairs":
        mods[0].append(1)
        if count >= 3:
            carriers.append(2)
        if count == 4:
            mods[2].append(3)
    elif algorithm == "parallel":
        mods[0].extend(range(1, count))
    else:  # y: 2->1, 3->1, 1->0
        mods[0].append(1)
        mods[1].extend(range(2, count))
    return mods, carriers


def _fm(fm: FM, plan: _VoicePlan, inc: np.ndarray, t_edges: np.ndarray, sr: int) -> np.ndarray:
    mods, carriers = _fm_graph(fm.algorithm, len(fm.operators))
    outs: dict[int, np.ndarray] = {}
    for i in reversed(range(len(fm.operators))):
        op = fm.operators[i]
        op_inc = np.clip(inc * op.ratio + op.detune_hz / sr, 0.0,
                         SYNTH_FILTER_MAX_FRACTION)
        theta = dsp.Phase(op_inc).centred(consume=True)
        theta += 1.0
        theta *= np.float32(np.pi)  # 2 pi x phase
        for j in mods[i]:
            theta += outs[j]
        y = np.sin(theta) if op.feedback == 0 else _feedback_sine(theta, op.feedback)
        env = _env_blocks(op.envelope, t_edges, plan.gate)
        scale = op.level if i not in carriers else min(op.level, 1.0)
        outs[i] = y * env * np.float32(scale)
    return np.asarray(sum(outs[c] for c in carriers) / np.float32(len(carriers)))


def _feedback_sine(theta: np.ndarray, feedback: float) -> np.ndarray:
    """y = sin(phi) with phi = theta + b sin(phi): a self-modulating operator, sine to saw-like.

    This is Kepler's equation, solved by Newton's method from Danby's starting point.
    """
    b = np.float32(feedback * SYNTH_FM_FEEDBACK_MAX)
    phi = theta + np.float32(0.85) * b * np.sign(np.sin(theta))
    for _ in range(SYNTH_FM_FEEDBACK_ITERATIONS):
        phi -= (phi - b * np.sin(phi) - theta) / (1.0 - b * np.cos(phi))
    return np.sin(phi)


def _filter(voice: Voice, plan: _VoicePlan, x: np.ndarray, t_mid: np.ndarray, sr: int
            ) -> np.ndarray:
    flt = voice.filter
    if flt.type == "none":
        return x
    octaves = np.full(len(t_mid), flt.keytrack * (plan.note.pitch - 60) / 12.0
                      + flt.velocity_oct * plan.note.velocity / 127.0)
    if flt.env_amount_oct:
        env = voice.filter_env
        octaves += flt.env_amount_oct * dsp.adsr(t_mid, plan.gate, env.attack, env.decay,
                                                 env.sustain, env.release)
    wobble = _lfo(voice, "cutoff", t_mid)
    if wobble is not None:
        octaves += wobble
    cutoff = np.clip(flt.cutoff_hz * np.exp2(octaves), 20.0,
                     SYNTH_FILTER_MAX_FRACTION * sr)
    q = dsp.resonance_q(flt.resonance)
    if flt.slope_db == 24:
        x = dsp.biquad_tv(x, flt.type, cutoff, 0.5412, sr)
        q = 1.3066 * q / 0.7071
    return dsp.biquad_tv(x, flt.type, cutoff, q, sr)
