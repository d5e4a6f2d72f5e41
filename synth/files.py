"""Presets and renders as files: what `cir synth render / list / export` call.

A preset argument is either a factory id ("bass-0042") or a path to a preset JSON file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cir import defaults
from cir.errors import CIRError
from cir.families import FAMILY_SPECS
from cir.synth.bank import bank_digest, factory_bank, get_preset, presets, split_of
from cir.synth.constants import BANK_VERSION
from cir.synth.notes import Note
from cir.synth.preset import Preset, load_preset


class SynthFileError(CIRError):
    """A render or export target that cannot be written, or notes that make no sense."""


def resolve_preset(id_or_path: str) -> Preset:
    """A factory preset by id, or a preset read (and validated) from a JSON file."""
    if id_or_path.lower().endswith(".json") or Path(id_or_path).is_file():
        return load_preset(id_or_path)
    return get_preset(id_or_path)


def listing(family: str | None = None, split: str | None = None) -> list[dict[str, Any]]:
    """One row per factory preset: id, name, family, split and tags (JSON-ready)."""
    return [_row(p) for p in presets(family, split)]


def _row(p: Preset) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "family": p.family,
        "split": split_of(p.id),
        "tags": list(p.tags),
    }


def phrase(pitches: Sequence[int], velocity: int, seconds: float, sequence: bool) -> list[Note]:
    """Notes held `seconds` each: all together (a chord), or one after another."""
    if not pitches:
        raise SynthFileError("no notes to render: give at least one --note (MIDI 0-127)")
    return [
        Note(pitch=p, velocity=velocity, start=i * seconds if sequence else 0.0, duration=seconds)
        for i, p in enumerate(pitches)
    ]


def render_to_wav(
    id_or_path: str,
    out: str | Path,
    pitches: Sequence[int],
    velocity: int = defaults.CANONICAL_VELOCITY,
    seconds: float | None = None,
    sample_rate: int = defaults.RENDER_SAMPLE_RATE,
    sequence: bool = False,
) -> tuple[Preset, float]:
    """Render a preset playing `pitches` into a mono wav; returns the preset and the length in s.

    `seconds` is how long each note is held (the family's default note length when None);
    the file also holds the release and the effects' tail.
    """
    from pedalboard.io import AudioFile  # imported here: only rendering needs it

    from cir.synth.engine import render

    preset = resolve_preset(id_or_path)
    held = FAMILY_SPECS[preset.family].note_seconds if seconds is None else seconds
    if not held > 0:
        raise SynthFileError(f"--seconds {held} must be a positive number of seconds")
    audio = render(preset, phrase(pitches, velocity, held, sequence), sample_rate=sample_rate)
    out = Path(out)
    if not out.parent.is_dir():
        raise SynthFileError(f"cannot write {out}: folder {out.parent} does not exist")
    with AudioFile(str(out), "w", samplerate=sample_rate, num_channels=1) as f:
        f.write(np.asarray(audio, dtype=np.float32)[None, :])
    return preset, len(audio) / sample_rate


def export_bank(
    directory: str | Path,
    family: str | None = None,
    split: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Write one pretty-printed JSON file per preset plus index.json; returns the count.

    `progress(done, total)` is called after each file (the CLI draws a bar with it).
    """
    directory = Path(directory)
    chosen = presets(family, split)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SynthFileError(f"cannot create export folder {directory}: {exc.strerror}") from exc
    for i, preset in enumerate(chosen, 1):
        text = json.dumps(preset.to_dict(), indent=2, sort_keys=True)
        (directory / f"{preset.id}.json").write_text(text + "\n", encoding="utf-8")
        if progress is not None:
            progress(i, len(chosen))
    index = {
        "bank_version": BANK_VERSION,
        "bank_digest": bank_digest(),
        "bank_size": len(factory_bank()),
        "presets": [{**_row(p), "file": f"{p.id}.json"} for p in chosen],
    }
    (directory / "index.json").write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    return len(chosen)


def export_preset(preset_id: str, directory: str | Path) -> Path:
    """Write one factory preset as a pretty-printed JSON file in `directory`; its path.

    The file loads in `cir synth render FILE ...` and is the starting point for editing.
    """
    preset = get_preset(preset_id)
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{preset.id}.json"
        text = json.dumps(preset.to_dict(), indent=2, sort_keys=True)
        path.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise SynthFileError(f"cannot write the preset to {directory}: {exc.strerror}") from exc
    return path
