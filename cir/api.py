"""CIR's Python API: the few calls a script needs, each one line over the library.

Audio is always a float32 numpy array shaped ``(frames,)`` or ``(frames, channels)`` with its
sample rate beside it (cir.audio). Every call raises a subclass of ``cir.CIRError`` whose
message names the bad value and the fix.

Render a factory preset (the built-in synth: no plugin, no file needed):

>>> import cir
>>> audio = cir.render_preset("bass-0042", notes=[40, 47], seconds=0.5, sample_rate=22_050,
...                          sequence=True)  # two notes, one after the other
>>> audio.shape, audio.dtype.name
((22050,), 'float32')

Build a small catalogue of your presets, then match audio against it in-process:

>>> import tempfile, pathlib
>>> db = pathlib.Path(tempfile.mkdtemp()) / "catalogue.db"
>>> summary = cir.build_builtin_catalogue(db, split="test", limit=10, progress=False)
>>> summary.added
10
>>> with cir.open_catalogue(db) as catalogue:
...     entry = next(p for p in catalogue.presets() if p.family == "bass")
>>> note = cir.render_preset(entry.key, notes=[36], seconds=1.0, sample_rate=48_000)
>>> with cir.Matcher(db) as matcher:
...     answer = matcher.match(note, 48_000, k=3, families=["bass"])
>>> best = answer.results["bass"][0]
>>> best.name == entry.name, best.rank, best.family
(True, 1, 'bass')
>>> 0.0 < best.score <= 1.0
True

A value out of range is refused with the rule it broke (the daemon replies the same code):

>>> with cir.Matcher(db) as matcher:
...     matcher.match(note, 48_000, k=0)
Traceback (most recent call last):
...
cir.query.QueryError: k=0: expected an integer from 1 to 100

The same request through the background daemon (`cir daemon start`) is
``cir.connect().match(note, 48_000, k=3)``; its reply holds the same fields as a dict
(``cir.MatchResult.from_dict`` reads it).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cir import defaults
from cir.app.match import load_audio, local_matcher
from cir.families import FAMILY_SPECS
from cir.matching.core import Matcher
from cir.matching.result import Hit, MatchResult, Presence
from cir.presets_db.build import BuildSummary
from cir.presets_db.catalogue import Catalogue
from cir.protocol.client import Client
from cir.synth.notes import Note

__all__ = [
    "Hit",
    "MatchResult",
    "Matcher",
    "Presence",
    "build_builtin_catalogue",
    "connect",
    "load_embedder",
    "match_file",
    "open_catalogue",
    "render_preset",
]


def render_preset(
    preset: str | Path,
    notes: Sequence[int] = (FAMILY_SPECS["lead"].canonical_pitch,),
    *,
    velocity: int = defaults.CANONICAL_VELOCITY,
    seconds: float = 1.0,
    sample_rate: int = defaults.RENDER_SAMPLE_RATE,
    sequence: bool = False,
) -> np.ndarray:
    """Render a built-in preset (an id such as ``"bass-0042"``, or a preset JSON file):
    `notes` held `seconds` each, together or one after another; mono ``(frames,)``."""
    from cir.synth.engine import render
    from cir.synth.files import resolve_preset

    played = [Note(pitch=p, velocity=velocity, duration=seconds,
                   start=i * seconds if sequence else 0.0) for i, p in enumerate(notes)]
    length = seconds * (len(played) if sequence else 1)
    return render(resolve_preset(str(preset)), played, sample_rate=sample_rate, seconds=length)


def open_catalogue(path: str | Path | None = None) -> Catalogue:
    """Open (creating and migrating if needed) a catalogue; default: the user's (cir.paths).
    Use it as a context manager, or call ``close()``."""
    return Catalogue.open(path)


def build_builtin_catalogue(
    path: str | Path | None = None,
    *,
    split: str | None = None,
    limit: int | None = None,
    progress: bool = True,
) -> BuildSummary:
    """Add the built-in bank (one split, or a family-balanced `limit`) to a catalogue and
    render + embed what is new; returns what was added, skipped and failed."""
    from cir.presets_db.build import add_builtin

    with Catalogue.open(path) as catalogue:
        return add_builtin(catalogue, split=split, limit=limit, progress=progress)


def load_embedder(name: str | None = None) -> Any:
    """The timbre encoder: None for the shipped weights, a shipped name, or a checkpoint."""
    from cir.encoder.embed import load_embedder as load

    return load(name)


def match_file(
    path: str | Path, catalogue: str | Path | None = None, **options: Any
) -> MatchResult:
    """Match one audio file (wav, flac, mp3, ogg, aiff) in this process: loads the model for
    this call only (keep a `Matcher` for many files). `options`: k, families, tempo."""
    audio, rate = load_audio(path)
    with local_matcher(catalogue) as matcher:
        return matcher.match(audio, rate, **options)


def connect(endpoint: str | None = None) -> Client:
    """A client of the running daemon (`cir daemon start`): ``match``, ``status``, ``ping``."""
    return Client(endpoint)
