"""SoundFonts (SF2/SF3) through FluidSynth: every (bank, program) preset is an entry.

Families, for melodic banks (0-127; GS/XG variation banks keep the GM program's meaning), come
from the General MIDI program groups (GM numbers 1-128): piano 1-8, organ 17-24 and guitar 25-32
-> keys; chromatic percussion 9-16 and percussive 113-120 -> percussion; bass 33-40 -> bass;
solo strings 41-43 -> lead, contrabass 44 -> bass, tremolo strings 45 -> pad, pizzicato and harp
46-47 -> keys, timpani 48 -> percussion; ensembles 49-56 and synth pads 89-96 -> pad; brass,
reeds, pipes 57-80 and synth leads 81-88 -> lead; plucked ethnic 105-109 -> keys, bagpipe, fiddle,
shanai 110-112 -> lead. Synth effects 97-104, sound effects 121-128 and banks above 128 take
their family from name keywords (bass, lead, pad, piano, drum, ...) or are left out.

Drum kits (bank 128) become ONE ENTRY PER KIT PIECE, at the GM keys of
cir.SF2_DRUM_PIECES (kick 36, snare 38, clap 39, closed hat 42, open hat 46, crash
49), family percussion: a loop's drum part matches single hits, and a whole-kit render would
blur six timbres into one vector. The piece's instrument plays its key for every note (the
reference note's pitch is ignored; velocity and timing are kept). Keys: "BBB:PPP" for melodic
presets, "128:PPP:piece" for kit pieces.

Renders are dry (FluidSynth's global reverb and chorus off): the catalogue holds the preset's
own sound. Args: `programs` (only these program numbers 0-127, in every bank: tests and
benchmarks).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cir.errors import import_optional
from cir.families import family_from_name
from cir.presets_db.errors import SourceError
from cir.presets_db.render import render_references
from cir.presets_db.sources import (
    Entry,
    file_sha256,
    native_stderr_to_log,
    readable_path,
    sha256,
)
from cir.synth.notes import Note

# FluidSynth master gain for SoundFont renders (its default 0.2 is quiet; clips are normalised).
SF2_GAIN = 0.5
# GM drum kits (bank 128) become one entry per kit piece, at these GM keys.
SF2_DRUM_PIECES = {
    "kick": 36, "snare": 38, "clap": 39, "closed hat": 42, "open hat": 46, "crash": 49,
}  # fmt: skip

DRUM_BANK = 128
DRUM_CHANNEL = 9
MELODIC_CHANNEL = 0

# 0-based GM program -> family, where a group splits (strings, ethnic); else by group of 8.
_PROGRAM_FAMILY = {
    40: "lead",
    41: "lead",
    42: "lead",
    43: "bass",
    44: "pad",
    45: "keys",
    46: "keys",
    47: "percussion",
    104: "keys",
    105: "keys",
    106: "keys",
    107: "keys",
    108: "keys",
    109: "lead",
    110: "lead",
    111: "lead",
}
_GROUP_FAMILY = {
    0: "keys",
    1: "percussion",
    2: "keys",
    3: "keys",
    4: "bass",
    6: "pad",
    7: "lead",
    8: "lead",
    9: "lead",
    10: "lead",
    11: "pad",
    14: "percussion",
}
# Name words (beyond cir.families aliases) that tell a family when the GM group does not.
_KEYWORDS = {
    "piano": "keys",
    "organ": "keys",
    "guitar": "keys",
    "harp": "keys",
    "bell": "keys",
    "bells": "keys",
    "ep": "keys",
    "clav": "keys",
    "kick": "percussion",
    "snare": "percussion",
    "hat": "percussion",
    "cymbal": "percussion",
    "tom": "percussion",
    "strings": "pad",
    "choir": "pad",
    "saw": "lead",
    "square": "lead",
    "sub": "bass",
}


def gm_family(program: int) -> str | None:
    """Family of a 0-based GM program number, or None for the effects groups."""
    return _PROGRAM_FAMILY.get(program, _GROUP_FAMILY.get(program // 8))


def name_family(name: str) -> str | None:
    """Family from the words of a preset name, or None."""
    for word in re.findall(r"[a-z]+", name.lower()):
        family = family_from_name(word) or _KEYWORDS.get(word)
        if family:
            return family
    return None


def family_of(bank: int, program: int, name: str) -> str | None:
    if bank < DRUM_BANK:
        return gm_family(program) or name_family(name)
    return name_family(name)


def normalise_args(programs: Sequence[int] | None = None) -> dict[str, Any]:
    if programs is None:
        return {}
    bad = [p for p in programs if not 0 <= int(p) <= 127]
    if bad:
        raise SourceError(f"program {bad[0]} is outside 0-127: pass GM program numbers 0-127")
    return {"programs": sorted({int(p) for p in programs})}


def list_presets(path: Path) -> list[tuple[int, int, str]]:
    """(bank, program, name) of every preset in the SoundFont, or SourceError if unreadable."""
    fluidsynth = import_optional("fluidsynth", "soundfonts", system="libfluidsynth3")

    with path.open("rb") as f:
        head = f.read(12)
    # Both SF2 and SF3 are RIFF "sfbk" files: anything else is refused before FluidSynth,
    # whose loaders print several lines of C-level noise on a wrong file.
    if head[:4] != b"RIFF" or head[8:12] != b"sfbk":
        raise SourceError(f"{path} is not a SoundFont: pass an .sf2 or .sf3 file")
    synth = fluidsynth.Synth()
    try:
        with native_stderr_to_log(f"FluidSynth loading {path}"):
            sfid = synth.sfload(str(path))
        if sfid < 0:
            raise SourceError(
                f"{path} is not a SoundFont FluidSynth can load: pass an .sf2 or .sf3 file"
            )
        found = []
        for bank in range(DRUM_BANK + 1):
            for program in range(128):
                name = synth.sfpreset_name(sfid, bank, program)
                if name:
                    found.append((bank, program, name.strip()))
        return found
    finally:
        synth.delete()


def scan(path: str, args: dict[str, Any]) -> Iterator[Entry]:
    sf2 = readable_path(path, "SoundFont", directory=False)
    digest = file_sha256(sf2)
    only = set(args.get("programs", range(128)))
    for bank, program, name in list_presets(sf2):
        if program not in only:
            continue
        if bank == DRUM_BANK:
            for piece, key in SF2_DRUM_PIECES.items():
                spec = (str(sf2), bank, program, key)
                yield Entry(
                    key=f"{bank:03d}:{program:03d}:{piece}",
                    name=f"{name} {piece}",
                    family="percussion",
                    locator={"file": str(sf2), "bank": bank, "program": program, "key": key},
                    content_hash=sha256("sf2", digest, *map(str, spec[1:])),
                    spec=spec,
                    tags=("drum kit", piece),
                )
            continue
        family = family_of(bank, program, name)
        spec = (str(sf2), bank, program, None)
        yield Entry(
            key=f"{bank:03d}:{program:03d}",
            name=name,
            family=family,
            locator={"file": str(sf2), "bank": bank, "program": program},
            content_hash=sha256("sf2", digest, str(bank), str(program), str(family)),
            spec=spec,
        )


# One loaded synth per (file, sample rate) per worker process: loading a large SoundFont
# takes longer than rendering one preset. Renders share it, so each starts clean (_restart).
_SYNTHS: dict[tuple[str, int], _LoadedFont] = {}
# FluidSynth computes audio in fixed blocks of this many frames (FLUID_BUFSIZE) and applies
# events at block starts; a render that starts mid-block would shift its notes by up to 63
# frames depending on what was rendered before.
_FLUID_BLOCK = 64
_MIDI_CHANNELS = 16
# Bumped when what a render of the same preset and notes gives changes (caches key on it).
# 2: renders start silent and on a block boundary (before, voices of the previous render in
# the same process could ring on, and onsets moved with the previous render's length).
RENDER_REVISION = 2


@dataclass
class _LoadedFont:
    synth: Any
    sfid: int
    frames: int = 0  # frames pulled so far: the position in FluidSynth's current block

    def pull(self, n: int) -> np.ndarray:
        self.frames += n
        return self.synth.get_samples(n)

    def restart(self) -> None:
        """Reset controllers and programs, then silence every voice now (a reset alone,
        or one after the silencing, lets voices such as a crash cymbal ring on: measured),
        then finish the current block so the render starts on a block boundary."""
        self.synth.system_reset()
        for channel in range(_MIDI_CHANNELS):
            self.synth.all_sounds_off(channel)
        rest = -self.frames % _FLUID_BLOCK
        if rest:
            self.pull(rest)


def _synth(path: str, sample_rate: int) -> _LoadedFont:
    fluidsynth = import_optional("fluidsynth", "soundfonts", system="libfluidsynth3")

    key = (path, sample_rate)
    if key not in _SYNTHS:
        quiet = {"synth.reverb.active": 0, "synth.chorus.active": 0}
        synth = fluidsynth.Synth(gain=SF2_GAIN, samplerate=sample_rate, **quiet)
        with native_stderr_to_log(f"FluidSynth loading {path}"):
            sfid = synth.sfload(path)
        if sfid < 0:
            raise SourceError(f"{path} is not a SoundFont FluidSynth can load")
        _SYNTHS[key] = _LoadedFont(synth, sfid)
    return _SYNTHS[key]


class SF2Instrument:
    """One SoundFont preset (or one drum-kit piece) as a presets_db.render.Instrument. The
    same notes give the same audio whatever the process rendered before."""

    def __init__(self, path: str, bank: int, program: int, drum_key: int | None = None):
        self.path, self.bank, self.program, self.drum_key = path, bank, program, drum_key

    def render(self, notes: Sequence[Note], seconds: float, sample_rate: int) -> np.ndarray:
        font = _synth(self.path, sample_rate)
        font.restart()
        drums = self.bank == DRUM_BANK
        channel = DRUM_CHANNEL if drums else MELODIC_CHANNEL
        font.synth.program_select(channel, font.sfid, self.bank, self.program)
        total = round(seconds * sample_rate)
        events = []
        for note in notes:
            pitch = self.drum_key if self.drum_key is not None else note.pitch
            events.append((round(note.start * sample_rate), 1, pitch, note.velocity))
            events.append((round(note.end * sample_rate), 0, pitch, 0))
        out, cursor = [], 0
        for at, on, pitch, velocity in sorted(events):
            at = min(at, total)
            if at > cursor:
                out.append(font.pull(at - cursor))
                cursor = at
            if on:
                font.synth.noteon(channel, pitch, velocity)
            else:
                font.synth.noteoff(channel, pitch)
        if total > cursor:
            out.append(font.pull(total - cursor))
        stereo = np.concatenate(out).astype(np.float32).reshape(-1, 2) / 32768.0
        return stereo.mean(axis=1)


def files(spec: tuple) -> tuple[str, ...]:
    """Files a worker must see to render `spec`: the SoundFont."""
    return (spec[0],)


def render_clips(spec: tuple, family: str, sample_rate: int) -> list[np.ndarray]:
    return render_references(SF2Instrument(*spec), family, sample_rate)
