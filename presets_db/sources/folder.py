"""Folders of one-shot samples: every wav/flac/mp3/ogg/aiff file under a folder is an entry.

Family: the name of the file's first-level subfolder (percussion/drums, bass, lead, pad, keys,
pluck, ... case-insensitive, see cir.families), else the source's `family` arg (--family), else
the file is left out. The file itself is the one reference render (cut to
FOLDER_MAX_SECONDS, downmixed, resampled); its absolute path is the locator. Content
hash = file bytes + family.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from cir.families import family_from_name, normalise_family
from cir.presets_db.constants import FOLDER_MAX_SECONDS
from cir.presets_db.errors import SourceError
from cir.presets_db.render import REFERENCE_NOTES
from cir.presets_db.sources import Entry, file_sha256, readable_path, sha256

# Shorter sample files (a click) are padded with silence to this length before embedding: the
# encoder's pooling needs a few frames; longer one-shots keep their own length and preview.
SAMPLE_MIN_SECONDS = 0.5

SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".aiff", ".aif")


def normalise_args(family: str | None = None) -> dict[str, Any]:
    return {"family": normalise_family(family)} if family is not None else {}


def scan(path: str, args: dict[str, Any]) -> Iterator[Entry]:
    root = readable_path(path, "samples folder", directory=True)
    files = sorted(
        (p for p in root.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file()),
        key=lambda p: p.as_posix(),
    )
    if not files:
        raise SourceError(
            f"no audio files ({', '.join(SUFFIXES)}) under {root}: pass the folder of samples"
        )
    families = {f: _family(f.relative_to(root), args.get("family")) for f in files}
    if not any(families.values()):
        raise SourceError(
            f"no file under {root} lies in a family subfolder (bass/, lead/, drums/, pad/, "
            "keys/, ...): sort them into such folders or pass --family"
        )
    for file in files:
        relative = file.relative_to(root)
        family = families[file]
        try:
            digest, error = file_sha256(file), None
        except OSError as exc:
            digest, error = "", f"cannot read {file} ({exc.strerror})"
        yield Entry(
            key=relative.as_posix(),
            name=file.name,  # with its extension: loop.wav and loop.flac are two entries
            family=family,
            locator={"file": str(file)},
            content_hash=sha256("folder", digest, str(family)),
            spec=str(file),
            tags=tuple(relative.parent.parts),
            error=error,
        )


def _family(relative: Path, fallback: str | None) -> str | None:
    sub = relative.parts[0] if len(relative.parts) > 1 else None
    return family_from_name(sub) or fallback


def read_clip(path: str | Path, sample_rate: float) -> np.ndarray:
    """The file as mono float32 at `sample_rate`, at most FOLDER_MAX_SECONDS long."""
    from pedalboard.io import AudioFile

    try:
        with AudioFile(str(path)) as raw:
            samples, rate = raw.frames, raw.samplerate
        with AudioFile(str(path)).resampled_to(sample_rate) as f:
            frames = min(f.frames, round(FOLDER_MAX_SECONDS * sample_rate))
            # read(0) means "everything" to pedalboard: never ask for it
            audio = f.read(frames) if frames > 0 else np.zeros((1, 0), np.float32)
    except Exception:  # pedalboard raises plain RuntimeError/ValueError on bad files
        raise SourceError(
            f"{path}: not a readable audio file; re-export it as wav, flac, ogg or aiff"
        ) from None
    if audio.shape[-1] == 0:
        raise SourceError(
            f"{path}: too short to hold a sound ({samples} sample{'s' * (samples != 1)} at "
            f"{rate:g} Hz); export the whole one-shot"
        )
    mono = np.asarray(audio, dtype=np.float32).mean(axis=0)
    # Very short one-shots (a click) are padded with silence to the shortest clip the
    # encoder takes.
    shortest = round(SAMPLE_MIN_SECONDS * sample_rate)
    return np.pad(mono, (0, max(0, shortest - mono.size)))


def files(spec: str) -> tuple[str, ...]:
    """Files a worker must see to render `spec`: the sample itself."""
    return (spec,)


def repitch_semitones(family: str) -> tuple[int, ...]:
    """The pitches a melodic one-shot is also embedded at, in semitones: the offsets of the
    family's reference notes (REFERENCE_NOTES), so a file stands for the register a
    loop plays it in, as a synth preset's references do. Percussion: the file alone (a drum
    one-shot plays at its own pitch)."""
    if family == "percussion":
        return (0,)
    return tuple(dict.fromkeys(offset for offset, _ in REFERENCE_NOTES[family]))


def render_clips(spec: str, family: str, sample_rate: int) -> list[np.ndarray]:
    """The file as it is, then played at each of repitch_semitones as a sampler plays it
    (resampled: a semitone up is 2^(1/12) faster and shorter)."""
    return [read_clip(spec, sample_rate * 2.0 ** (-offset / 12.0))
            for offset in repitch_semitones(family)]
