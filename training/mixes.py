"""Seeded mixtures (docs/DESIGN.md, the method), shared by training, benchmarks and the demo.

A mix is first a *plan* (plain data: tempo, scale, one monophonic line per family), drawn from
a generator seeded per item (`item_rng(seed, index)`: never a seed incremented in a worker,
docs/DESIGN.md, pitfall 7). The plan is then realised in one of two ways:

- `render_mix`: every note rendered by an Instrument (the built-in synth, a SoundFont), cut
  at the next onset with a 10 ms fade, tracks peak-normalised, percussion boosted, the mix
  peak-normalised. Benchmarks and the demo use this.
- `mix_mels`: the same plan laid out from pre-rendered single-note log-mels by adding their
  mel power (phase interference averages out within a mel band), for fast training batches.

`power_sum` is the one place log-mels are added: each part's floor is subtracted before its
gain applies (a silent frame stays silent at any gain; a lifted floor would tell the model
each part's gain, a cue real mixes do not have), the sum is floored once, as `log_mel` does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from cir import defaults
from cir.errors import CIRError
from cir.families import FAMILY_SPECS
from cir.synth.notes import Note
from cir.training.constants import (
    MIX_FADE_SECONDS,
    MIX_GATE_FRACTION,
    MIX_NOTE_BEATS,
    MIX_ONSET_JITTER_SECONDS,
    MIX_PERCUSSION_BOOST,
    MIX_SCALES,
    MIX_SILENCE_PROB,
    MIX_TEMPO_RANGE,
    NOTE_VELOCITY,
)


class MixError(CIRError):
    """A mixture request that cannot be planned (unknown family, no preset, bad length)."""


@dataclass(frozen=True)
class MixNote:
    """One note of a line: starts at `onset`, held for `gate`, cut at `end` (seconds)."""

    onset: float
    pitch: int
    velocity: int
    gate: float
    end: float


@dataclass(frozen=True)
class Line:
    family: str
    notes: tuple[MixNote, ...]


@dataclass(frozen=True)
class MixPlan:
    seconds: float
    tempo: float
    root: int
    scale: str
    lines: tuple[Line, ...]

    def info(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "tempo": round(self.tempo, 2),
            "root": self.root,
            "scale": self.scale,
            "notes": {line.family: len(line.notes) for line in self.lines},
        }


def item_rng(seed: int, index: int, stream: int = 0) -> np.random.Generator:
    """The generator of item `index` of a seeded set: independent of order and of workers."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, stream, index])))


def draw_velocity(family: str, rng: np.random.Generator) -> int:
    mean, sd = NOTE_VELOCITY[family]
    return int(np.clip(round(rng.normal(mean, sd)), 30, 127))


def _scale_pitches(root: int, scale: tuple[int, ...], lo: int, hi: int) -> list[int]:
    pitches = [p for p in range(lo, hi + 1) if (p - root) % 12 in scale]
    return pitches or list(range(lo, hi + 1))


# Notes shorter than this (cut by the next onset or the end of the mix) are left out.
_MIN_NOTE_SECONDS = 1e-3


def _line(
    family: str, rng: np.random.Generator, seconds: float, beat: float, pitches: list[int]
) -> Line:
    lengths, odds = MIX_NOTE_BEATS[family]
    odds = np.asarray(odds, dtype=float) / np.sum(odds)
    silence = 0.0 if family == "percussion" else MIX_SILENCE_PROB
    jitter = MIX_ONSET_JITTER_SECONDS
    # A melodic random walk over the scale: steps of at most two degrees, starting mid-range.
    degree = int(rng.integers(len(pitches) // 4, max(len(pitches) * 3 // 4, 1)))
    slots: list[tuple[float, float, bool]] = []
    t = 0.0
    while t < seconds:
        length = float(lengths[rng.choice(len(lengths), p=odds)]) * beat
        slots.append((t, length, bool(rng.random() < silence)))
        t += length
    drawn = []  # every slot draws the same numbers, sounding or not: plans stay reproducible
    for start, length, silent in slots:
        step = int(rng.integers(-2, 3))
        degree = int(np.clip(degree + step, 0, len(pitches) - 1))
        velocity = draw_velocity(family, rng)
        onset = max(0.0, start + float(rng.uniform(-jitter, jitter)))
        gate = length * MIX_GATE_FRACTION
        if family == "percussion":
            gate = min(gate, FAMILY_SPECS["percussion"].note_seconds)
        # A note whose jittered onset falls at the very end of the mix would not sound.
        audible = not silent and onset < seconds - _MIN_NOTE_SECONDS
        drawn.append((audible, onset, pitches[degree], velocity, gate))
    if not any(audible for audible, *_ in drawn):
        # Every part of a mix must sound: its preset is one of the mix's positives.
        drawn[0] = (True, *drawn[0][1:])
    notes = [note for audible, *note in drawn if audible]
    onsets = [onset for onset, *_ in notes]
    ends = [*onsets[1:], seconds]
    return Line(
        family=family,
        notes=tuple(
            MixNote(onset, pitch, velocity, min(gate, end - onset), end)
            for (onset, pitch, velocity, gate), end in zip(notes, ends, strict=True)
            if end - onset > _MIN_NOTE_SECONDS
        ),
    )


def plan_mix(
    families: tuple[str, ...] = ("percussion", "bass", "lead"),
    rng: np.random.Generator | None = None,
    seconds: float = defaults.MIX_SECONDS,
) -> MixPlan:
    """Draw tempo (60-140 BPM), a transposed scale and one monophonic line per family."""
    if seconds <= 0:
        raise MixError(f"mix length {seconds} s: expected a positive number of seconds")
    unknown = [f for f in families if f not in MIX_NOTE_BEATS]
    if unknown:
        raise MixError(
            f"family {unknown[0]!r} has no mix rhythm: expected one of "
            f"{', '.join(MIX_NOTE_BEATS)}"
        )
    rng = rng if rng is not None else np.random.default_rng()
    tempo = float(rng.uniform(*MIX_TEMPO_RANGE))
    names = sorted(MIX_SCALES)
    scale = names[int(rng.integers(len(names)))]
    root = int(rng.integers(12))
    lines = []
    for family in families:
        lo, hi = FAMILY_SPECS[family].pitch_range
        pitches = _scale_pitches(root, MIX_SCALES[scale], lo, hi)
        lines.append(_line(family, rng, seconds, 60.0 / tempo, pitches))
    return MixPlan(seconds, tempo, root, scale, tuple(lines))


# --- realising a plan as audio -------------------------------------------------------------------


def _fade_out(clip: np.ndarray, samples: int) -> np.ndarray:
    n = min(samples, len(clip))
    if n > 0:
        clip = clip.copy()
        clip[-n:] *= np.linspace(1.0, 0.0, n, dtype=np.float32)
    return clip


def render_line(line: Line, instrument: Any, seconds: float, sample_rate: int) -> np.ndarray:
    """One track: each note rendered alone, cut at the next onset with a 10 ms fade."""
    total = round(seconds * sample_rate)
    track = np.zeros(total, np.float32)
    fade = round(MIX_FADE_SECONDS * sample_rate)
    cache: dict[tuple, np.ndarray] = {}
    for note in line.notes:
        start = round(note.onset * sample_rate)
        length = min(round(note.end * sample_rate), total) - start
        if length <= 0:
            continue
        key = (note.pitch, note.velocity, round(note.gate, 4), length)
        if key not in cache:
            clip = instrument.render(
                [Note(note.pitch, note.velocity, 0.0, note.gate)], length / sample_rate, sample_rate
            )
            clip = np.asarray(clip, np.float32)[:length]
            cache[key] = _fade_out(clip, fade) if note.end < seconds else clip
        track[start : start + len(cache[key])] += cache[key]
    return track


def level_stems(stems: Mapping[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Peak-normalise each stem, boost percussion, peak-normalise the sum: (mix, scaled stems)."""
    scaled = {}
    for family, stem in stems.items():
        peak = float(np.max(np.abs(stem))) if stem.size else 0.0
        gain = (1.0 / peak) if peak > 0 else 0.0
        if family == "percussion":
            gain *= MIX_PERCUSSION_BOOST
        scaled[family] = stem * gain
    mix = np.sum(list(scaled.values()), axis=0)
    peak = float(np.max(np.abs(mix))) if mix.size else 0.0
    norm = defaults.RENDER_PEAK / peak if peak > 0 else 0.0
    return (mix * norm).astype(np.float32), {
        f: (s * norm).astype(np.float32) for f, s in scaled.items()
    }


def _instrument(preset_or_instrument: Any) -> Any:
    if hasattr(preset_or_instrument, "render"):
        return preset_or_instrument
    from cir.synth.engine import BuiltinInstrument

    return BuiltinInstrument(preset_or_instrument)


def render_mix(
    presets_by_family: Mapping[str, Any],
    seed: int,
    seconds: float = defaults.MIX_SECONDS,
    sample_rate: int = defaults.MODEL_SAMPLE_RATE,
    index: int = 0,
    stream: int = 0,
) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, Any]]:
    """Render mix `index` of seed `seed`: (mix, stems by family, info).

    `presets_by_family` maps each family to a built-in Preset or any Instrument (an object
    with `render(notes, seconds, sample_rate)`). Same arguments, same samples. The plan is
    drawn from item_rng(seed, index, stream): the benchmarks use stream 0, training's VALID
    sets other streams, so they never share a plan.
    """
    if not presets_by_family:
        raise MixError("no presets given: expected one preset per family, e.g. {'bass': preset}")
    plan = plan_mix(tuple(presets_by_family), item_rng(seed, index, stream), seconds)
    stems = {
        line.family: render_line(
            line, _instrument(presets_by_family[line.family]), seconds, sample_rate
        )
        for line in plan.lines
    }
    mix, stems = level_stems(stems)
    return mix, stems, {"seed": seed, "index": index, **plan.info()}


# --- realising a plan from cached note log-mels (training) ---------------------------------------


def power_sum(
    parts: list[tuple[np.ndarray, float]], floor: float, frames: int | None = None
) -> np.ndarray:
    """log(max(sum_i gain_i^2 * (exp(mel_i) - floor), floor)): the log-mel of a mix of parts
    given as (log-mel (M, T_i) clamped at log(floor), amplitude gain). Each part is placed at
    frame 0; the result has `frames` frames (default: the longest part), silence elsewhere."""
    if not parts:
        raise MixError("no parts to mix: expected at least one (log-mel, gain)")
    frames = frames or max(mel.shape[1] for mel, _ in parts)
    power = np.zeros((parts[0][0].shape[0], frames), np.float32)
    for mel, gain in parts:
        n = min(frames, mel.shape[1])
        above = np.exp(mel[:, :n].astype(np.float32)) - np.float32(floor)
        power[:, :n] += np.float32(gain) ** 2 * np.maximum(above, 0.0)
    return np.log(np.maximum(power, np.float32(floor)))


def mix_peak(peaks: list[float]) -> float:
    """The peak of a sum of tracks with these peaks, estimated: the loudest plus half the
    others (the true peak needs the waveforms; the tracks rarely peak together)."""
    loudest = max(peaks)
    return loudest + 0.5 * (sum(peaks) - loudest)


def mix_mels(
    plan: MixPlan,
    pick_note: Callable[[str, MixNote], tuple[np.ndarray, float]],
    frames: int,
    hop_seconds: float,
    floor: float,
) -> np.ndarray:
    """(M, frames) log-mel of `plan` from cached notes.

    `pick_note(family, note)` returns (log-mel (M, T) of a single note starting at its onset,
    that note's peak amplitude). Levels follow `level_stems` in the power domain (floor
    subtracted, as in `power_sum`); the mix peak is estimated by `mix_peak`.
    """
    tracks, peaks = [], []
    for line in plan.lines:
        canvas = None
        peak = 0.0
        for note in line.notes:
            mel, note_peak = pick_note(line.family, note)
            if canvas is None:
                canvas = np.zeros((mel.shape[0], frames), np.float32)
            start = round(note.onset / hop_seconds)
            stop = min(round(note.end / hop_seconds), frames)
            n = min(stop - start, mel.shape[1])
            if n <= 0:
                continue
            above = np.exp(mel[:, :n].astype(np.float32)) - np.float32(floor)
            canvas[:, start : start + n] += np.maximum(above, 0.0)
            peak = max(peak, note_peak)
        if canvas is None or peak <= 0:
            continue
        gain = 1.0 / peak * (MIX_PERCUSSION_BOOST if line.family == "percussion" else 1.0)
        tracks.append(canvas * gain**2)
        peaks.append(gain * peak)
    if not tracks:
        raise MixError("mix plan has no audible note: expected at least one note per mix")
    power = np.sum(tracks, axis=0) * (defaults.RENDER_PEAK / mix_peak(peaks)) ** 2
    return np.log(np.maximum(power, floor))
