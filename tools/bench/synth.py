"""`cir bench synth`: how many times faster than real time the engine renders, on one core.

The presets are built here (one typical patch per family) so the figure does not move when
the factory bank changes.
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

import click

from cir import defaults
from cir.cli.output import echo_json, json_option, json_stdout
from cir.families import FAMILY_SPECS
from cir.synth.engine import render, tune_allocator
from cir.synth.notes import Note
from cir.synth.preset import (
    FM,
    LFO,
    Effect,
    Envelope,
    Filter,
    Operator,
    Oscillator,
    PitchEnvelope,
    Preset,
    Sub,
    Voice,
)

# `tools.bench.synth`: seconds of audio per render and renders per preset.
BENCH_SYNTH_NOTE_SECONDS = 1.0
BENCH_SYNTH_REPEATS = 30


def typical_presets() -> list[Preset]:
    """One ordinary patch per family, each with one or two effects."""
    bass = Voice(
        oscillators=(Oscillator(wave="saw", unison=3, detune_cents=18),
                     Oscillator(wave="saw", semitones=-12, unison=3, detune_cents=12, level=0.7)),
        filter=Filter(cutoff_hz=250, resonance=0.45, env_amount_oct=4.0, keytrack=0.5),
        filter_env=Envelope(attack=0.001, decay=0.35, sustain=0.25, release=0.15),
        amp_env=Envelope(attack=0.002, decay=0.3, sustain=0.8, release=0.12),
        mono=True,
    )
    lead = Voice(
        oscillators=(Oscillator(wave="square", pulse_width=0.4),
                     Oscillator(wave="saw", unison=3, detune_cents=15, cents=5)),
        filter=Filter(cutoff_hz=2500, resonance=0.3, env_amount_oct=1.5, slope_db=24),
        lfos=(LFO(target="pitch", depth=0.25, rate_hz=5.5, delay=0.3),
              LFO(target="pulse_width", depth=0.15, rate_hz=0.7)),
        amp_env=Envelope(attack=0.01, decay=0.2, sustain=0.9, release=0.25),
        mono=True, glide=0.05,
    )
    kick = Voice(
        oscillators=(Oscillator(wave="sine"), Oscillator(wave="noise", level=0.15)),
        pitch_env=PitchEnvelope(amount_semitones=36, decay=0.035),
        filter=Filter(cutoff_hz=3000, env_amount_oct=2.0),
        filter_env=Envelope(attack=0.0, decay=0.05, sustain=0.0, release=0.05),
        amp_env=Envelope(attack=0.0, decay=0.5, sustain=0.0, release=0.05),
    )
    pad = Voice(
        oscillators=(Oscillator(wave="saw", unison=5, detune_cents=25),
                     Oscillator(wave="triangle", semitones=12, level=0.5)),
        sub=Sub(level=0.3),
        filter=Filter(cutoff_hz=1200, resonance=0.2, env_amount_oct=1.0),
        lfos=(LFO(target="cutoff", depth=0.5, rate_hz=0.3),),
        amp_env=Envelope(attack=0.4, decay=0.5, sustain=0.8, release=0.8),
    )
    keys = Voice(
        oscillators=(Oscillator(level=0.0),),
        fm=FM(operators=(Operator(ratio=1.0), Operator(ratio=14.0, level=1.2,
                                                        envelope=Envelope(0.0, 0.3, 0.0, 0.2)),
                         Operator(ratio=1.0), Operator(ratio=1.0, level=1.5, feedback=0.3,
                                                       envelope=Envelope(0.0, 1.0, 0.2, 0.3))),
              algorithm="pairs"),
        filter=Filter(type="none"),
        amp_env=Envelope(attack=0.001, decay=1.5, sustain=0.3, release=0.4),
    )
    return [
        Preset(id="bench-bass", name="Bench Saw Bass", family="bass", voice=bass,
               effects=(Effect("distortion", {"drive_db": 12.0}), Effect("chorus"))),
        Preset(id="bench-lead", name="Bench Lead", family="lead", voice=lead,
               effects=(Effect("delay"), Effect("reverb", {"room_size": 0.4}))),
        Preset(id="bench-kick", name="Bench Kick", family="percussion", voice=kick,
               effects=(Effect("compressor"),)),
        Preset(id="bench-pad", name="Bench Pad", family="pad", voice=pad,
               effects=(Effect("chorus"), Effect("reverb", {"room_size": 0.8}))),
        Preset(id="bench-keys", name="Bench FM Keys", family="keys", voice=keys,
               effects=(Effect("chorus", {"mix": 0.3}),)),
    ]


def _single_thread() -> None:
    # The engine's numpy calls are single-threaded; pin torch too if something loaded it.
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


def bench_synth(repeats: int = BENCH_SYNTH_REPEATS,
                seconds: float = BENCH_SYNTH_NOTE_SECONDS,
                sample_rate: int = defaults.RENDER_SAMPLE_RATE,
                tune: bool = False) -> dict[str, Any]:
    """Time `repeats` renders of a `seconds`-long note per typical preset.

    Per preset: the median and the fastest run; then the median over presets of each. On a
    shared machine the median includes other processes' load, the fastest run does not.
    tune=True first applies `tune_allocator` (as a long rendering job would).
    """
    _single_thread()
    tuned = tune_allocator() if tune else False
    rows = []
    for preset in typical_presets():
        pitch = FAMILY_SPECS[preset.family].canonical_pitch
        notes = [Note(pitch=pitch, velocity=100, start=0.0, duration=seconds)]
        render(preset, notes, sample_rate, seconds=seconds)  # warm-up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            render(preset, notes, sample_rate, seconds=seconds)
            times.append(time.perf_counter() - t0)
        elapsed = statistics.median(times)
        best = min(times)
        rows.append({
            "preset": preset.name, "family": preset.family, "ms": elapsed * 1e3,
            "renders_per_s": 1.0 / elapsed, "x_realtime": seconds / elapsed,
            "best_ms": best * 1e3, "best_x_realtime": seconds / best,
        })
    return {
        "sample_rate": sample_rate, "seconds": seconds, "repeats": repeats, "threads": 1,
        "allocator_tuned": tuned,
        "presets": rows,
        "median_x_realtime": statistics.median(r["x_realtime"] for r in rows),
        "median_renders_per_s": statistics.median(r["renders_per_s"] for r in rows),
        # The fastest run of each preset: what one uncontended core does (timeit's advice).
        "median_best_x_realtime": statistics.median(r["best_x_realtime"] for r in rows),
    }


@click.command()
@click.option("--repeats", type=click.IntRange(1, 10_000), default=None,
              help="Timed renders per preset (default from cir.defaults).")
@click.option("--tune-allocator", is_flag=True,
              help="Keep freed memory for reuse first (synth.engine.tune_allocator).")
@json_option("Print the results as JSON.")
def synth_speed(repeats: int | None, tune_allocator: bool, as_json: bool) -> None:
    """Built-in synth render speed on one core: renders/s and x real time per family.

    Renders a 1 s note at 44.1 kHz with one typical preset per family (each with one or
    two effects) and prints the median and the fastest of the repeats, and the median over
    presets of each (the fastest run is what one uncontended core does).

    \b
    Example:
        python -m tools.bench.synth
        python -m tools.bench.synth --repeats 100 --json
        python -m tools.bench.synth --tune-allocator
    """

    with json_stdout(as_json):
        result = bench_synth(repeats=repeats or BENCH_SYNTH_REPEATS, tune=tune_allocator)
    if as_json:
        echo_json(result)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"python -m tools.bench.synth: {result['seconds']:g} s note at "
                        f"{result['sample_rate']} Hz, one core, {result['repeats']} runs each"
                        + (", allocator tuned" if result["allocator_tuned"] else ""),
                  caption="x RT = times faster than real time (median run; best = fastest run)")
    columns = ("preset", "family", "ms", "renders/s", "x RT", "best ms", "best x RT")
    for column in columns:
        table.add_column(column, justify="left" if column in ("preset", "family") else "right")
    for row in result["presets"]:
        table.add_row(row["preset"], row["family"], f"{row['ms']:.2f}",
                      f"{row['renders_per_s']:.0f}", f"{row['x_realtime']:.0f}",
                      f"{row['best_ms']:.2f}", f"{row['best_x_realtime']:.0f}")
    table.add_row("median", "", "", f"{result['median_renders_per_s']:.0f}",
                  f"{result['median_x_realtime']:.0f}", "",
                  f"{result['median_best_x_realtime']:.0f}")
    Console().print(table)


if __name__ == "__main__":
    synth_speed()
