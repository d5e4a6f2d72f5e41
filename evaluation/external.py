"""The transfer benchmarks' instruments (`ext-*`): sounds nobody here made, never trained on.

    DX7 voices   the factory ROM voices that Debian's `hexter` ships (its data folder's `.dx7`
                 files: 128-byte packed voices, 432 in all), played by the Dexed engine
                 (`dexed-py`, PyPI, GPL-3.0): FM synthesis by another implementation than ours.
    drum kits    every instrument of every kit in Debian's `hydrogen-drumkits` (acoustic and
                 machine kits, recorded or made by their authors), played as a sampler plays a
                 one-shot: the velocity picks the layer and the level, the sound plays to its
                 end (a drum machine's one-shot mode), the pitch is the kit's own.

Families come from the voice names (`dx7_family`: the rule and its misfits are written there);
every kit instrument is percussion. Identical voices (same parameter bytes under two names)
and identical kit samples (same file content) are kept once: a twin would make the ranking a
coin toss.

Neither the Dexed engine, nor a hydrogen kit, nor a SoundFont made from the same recordings
(`EXT_RESERVED_SOUNDFONTS`) may ever be a training source: `check_training_independence`
refuses them, and cir.training.data calls it for every run.
"""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from cir import defaults
from cir.errors import CIRError
from cir.families import FAMILY_SPECS
from cir.synth.notes import Note

HEXTER_DIR = Path("/usr/share/hexter")
HYDROGEN_KITS_DIR = Path("/usr/share/hydrogen/data/drumkits")
# Bytes of one packed DX7 voice (a 4,096-byte bank holds 32); the last 10 are its name.
DX7_VOICE_BYTES = 128
_DX7_NAME_BYTES = 10
# Engines and kinds of source that only the transfer benchmarks may play.
EXT_KINDS = ("dx7", "kit")
# SoundFonts made from recordings that a hydrogen kit holds too: avldrums' Black Pearl is the
# kit "The Black Pearl 1.0" by the same author. Never train on these.
EXT_RESERVED_SOUNDFONTS = ("Black_Pearl_4_LV2.sf2",)
# A one-shot's level in the folder catalogue and at velocity 100: the engine's render peak.
_LEVEL = defaults.RENDER_PEAK
# Release tail rendered after a DX7 note's end (its envelopes' release), in seconds.
_DX7_TAIL_SECONDS = 2.0
# Fade at the end of a kit one-shot cut by the clip's end, in seconds (no click).
_FADE_SECONDS = 0.01

# Name rule, first match wins (upper-cased names, "FB:" prefix removed). Solo melodic voices
# (winds, brass solos, harmonica, whistles) count as lead, as a producer would file them.
# Misfits, written down: BASSOON and "SAX BC" are solo winds (lead), not bass; "B.DRM-SNAR" is
# a drum (percussion); "HARP-FLUTE", "BELL-FLUTE" are layered pads of the ROM and "HORN SEC."
# a brass section (pad); "FB:PfVibe" (piano and vibraphone) is read as a mallet; effects
# (TRAIN, TAKE OFF, EXPLOSION, ...) and guitars, harps, kotos and sitars fit no family and
# are left out.
_FAMILY_RULES: tuple[tuple[str, str], ...] = (
    ("pad", r"HARP-FLUTE|BELL-FLUTE|CHIME-STRG|STRING ?PAD|HORN SEC"),
    ("lead", r"BASSOON|SAX"),
    ("percussion", r"B\.DRM|SNARE|DRUM|DRM|CYMB|TOM TOM|TIMPANI|TIMP|GONG|COW ?BELL|BLOCK|"
                   r"MARIMB|VIBE|XYLOPH|GLOCK|GLOKEN|BELLS|TUB ?BELL|TUBEBE|CHIMES|KARIMBA|"
                   r"MALLET|TEMPLEG|STEELDR|STEEL DRUM|CLOCK"),
    ("bass", r"BASS|BAS\d|PLUKBAS|FRETLES|SYN-BASS|SYNBAS"),
    ("lead", r"LEAD|FLUTE|FLT\b|FLUT|PICCOLO|OBOE|CLARIN|RECORDER|HARMONI|HRMNCA|TRUMPET|"
             r"TRUMPT|TMPT|FLUGEL|TROMBON|WHISTLE|WHISL|SOLOVIO|REED|SYNCLAR|MONOSYN|"
             r"CALIOPE|HORN\b|HORN$|HORN \d|HORN2|HORN3"),
    ("keys", r"PIANO|PNO|E\.P|EP\d|NEWEP|EPIANO|CLAV|CLV|ORGAN|ORGN|HARPSI|CELEST|TOY PIANO|"
             r"PIPES|PIPE\b|GRAND|HONKEY|PF|HIGHTIN|HARDTIN|SYN-PIANO|ACCORDION|SQUEEZE"),
    ("pad", r"STRING|STRG|STRIG|ST\d|CELLO|VIOLIN|ORCH|VOICE|VOX|CHOIR|SYNBRASS|BRASS|BRS|"
            r"HORNS|HORN SEC|SYNVOIC|M\.VOICE|HOLLOW|FANTASY|SHIMMER|EVOLUTION|SYN-RISE|"
            r"TUBERISE|HARMOSYNTH|5TH STR"),
)


class ExtError(CIRError):
    """The transfer benchmarks' sources are missing, or a training source is one of them."""


@dataclass(frozen=True)
class ExtSource:
    """One ext sound: `key` (unique), `family`, `kind` ("dx7" or "kit") and `spec` (for a DX7
    voice: (file, byte offset); for a kit instrument: its layers as (file, min velocity, max
    velocity, gain) with velocities in 0..1, and the instrument's volume)."""

    key: str
    name: str
    family: str
    kind: str
    spec: tuple


def dx7_family(name: str) -> str | None:
    """The family of a DX7 voice name by _FAMILY_RULES (None: an effect, a guitar...)."""
    upper = name.upper().strip()
    upper = upper[3:] if upper.startswith("FB:") else upper
    for family, pattern in _FAMILY_RULES:
        if re.search(pattern, upper):
            return family
    return None


def missing_packages() -> list[str]:
    """Debian packages the ext benchmarks need that are not installed (by their data)."""
    out = []
    if not sorted(HEXTER_DIR.glob("*.dx7")):
        out.append("hexter")
    if not sorted(HYDROGEN_KITS_DIR.glob("*/drumkit.xml")):
        out.append("hydrogen-drumkits")
    try:
        import dexed  # noqa: F401
    except ImportError:
        out.append("dexed-py (pip)")
    return out


def require_packages() -> None:
    """ExtError naming what to install, in one line, when the ext data is not here."""
    missing = missing_packages()
    if missing:
        debian = [m for m in missing if "(pip)" not in m]
        parts = [f"apt-get install {' '.join(debian)}"] if debian else []
        if "dexed-py (pip)" in missing:
            parts.append("pip install dexed-py")
        raise ExtError(f"the ext benchmarks need {', '.join(missing)}: {' && '.join(parts)}")


def dx7_voices(folder: Path = HEXTER_DIR) -> list[ExtSource]:
    """Every distinct DX7 voice of the `.dx7` files in `folder` that has a family."""
    out, seen = [], set()
    for path in sorted(folder.glob("*.dx7")):
        data = path.read_bytes()
        for offset in range(0, len(data) - DX7_VOICE_BYTES + 1, DX7_VOICE_BYTES):
            voice = data[offset : offset + DX7_VOICE_BYTES]
            name = voice[-_DX7_NAME_BYTES:].decode("ascii", "replace").strip()
            family = dx7_family(name)
            body = voice[:-_DX7_NAME_BYTES]  # the same sound under another name is a twin
            if family is None or body in seen:
                continue
            seen.add(body)
            key = f"dx7:{path.stem}:{offset // DX7_VOICE_BYTES:03d}"
            out.append(ExtSource(key, name, family, "dx7", (str(path), offset)))
    return out


def _text(node: ET.Element, tag: str, default: str = "") -> str:
    found = node.find(tag)
    return found.text.strip() if found is not None and found.text else default


def _strip_namespaces(root: ET.Element) -> None:
    for node in root.iter():
        node.tag = node.tag.split("}", 1)[-1]


def kit_pieces(folder: Path = HYDROGEN_KITS_DIR) -> list[ExtSource]:
    """Every instrument of every hydrogen kit under `folder` (percussion), its layers' files
    readable; an instrument whose main sample another already has is left out."""
    out, seen = [], set()
    for xml in sorted(folder.glob("*/drumkit.xml")):
        root = ET.parse(xml).getroot()
        _strip_namespaces(root)
        kit = _text(root, "name", xml.parent.name)
        for instrument in root.iter("instrument"):
            layers = []
            for layer in instrument.iter("layer"):
                path = xml.parent / _text(layer, "filename")
                if path.is_file():
                    layers.append((str(path), float(_text(layer, "min", "0")),
                                   float(_text(layer, "max", "1")),
                                   float(_text(layer, "gain", "1"))))
            direct = _text(instrument, "filename")
            if not layers and direct and (xml.parent / direct).is_file():
                layers.append((str(xml.parent / direct), 0.0, 1.0, 1.0))
            if not layers:
                continue
            main = _layer_for(tuple(layers), defaults.CANONICAL_VELOCITY)
            digest = hashlib.sha256(Path(main[0]).read_bytes()).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            name = _text(instrument, "name", "instrument")
            key = f"kit:{kit}:{_text(instrument, 'id', str(len(out)))}"
            volume = float(_text(instrument, "volume", "1"))
            out.append(ExtSource(key, f"{kit} {name}", "percussion", "kit",
                                 (tuple(layers), volume)))
    return out


def ext_sources(families: Sequence[str]) -> list[ExtSource]:
    """The ext catalogue of `families`, sorted by (family, key); ExtError without the data."""
    require_packages()
    found = [s for s in dx7_voices() + kit_pieces() if s.family in families]
    return sorted(found, key=lambda s: (s.family, s.key))


# --- instruments ---------------------------------------------------------------------------------


@cache
def _dexed(sample_rate: int):
    import dexed

    return dexed.DexedSynth(sample_rate=sample_rate)


class Dx7Instrument:
    """One DX7 voice as a presets_db.render.Instrument: each note rendered by Dexed from a
    fresh note-on and added at its start (a polyphonic synth's voices), the level brought to
    the catalogue's (its canonical note's peak at RENDER_PEAK: the engine peaks above 1)."""

    def __init__(self, path: str, offset: int, family: str):
        import dexed

        voice = Path(path).read_bytes()[offset : offset + DX7_VOICE_BYTES]
        self.patch = dexed.Patch.from_packed(voice)
        self.family = family
        self._gain: dict[int, float] = {}

    def _note(self, note: Note, seconds: float, sample_rate: int) -> np.ndarray:
        synth = _dexed(sample_rate)
        synth.load_patch(self.patch)
        length = min(seconds, note.duration + _DX7_TAIL_SECONDS)
        audio = synth.render(midi_note=note.pitch, velocity=note.velocity,
                             note_duration=note.duration, render_duration=length)
        return np.nan_to_num(np.asarray(audio, np.float32))

    def gain(self, sample_rate: int) -> float:
        if sample_rate not in self._gain:
            note = Note(FAMILY_SPECS[self.family].canonical_pitch, defaults.CANONICAL_VELOCITY,
                        0.0, FAMILY_SPECS[self.family].note_seconds)
            peak = float(np.abs(self._note(note, FAMILY_SPECS[self.family].clip_seconds,
                                           sample_rate)).max())
            self._gain[sample_rate] = _LEVEL / peak if peak > 0 else 1.0
        return self._gain[sample_rate]

    def render(self, notes: Sequence[Note], seconds: float, sample_rate: int) -> np.ndarray:
        total = round(seconds * sample_rate)
        out = np.zeros(total, np.float32)
        for note in notes:
            start = round(note.start * sample_rate)
            if start >= total:
                continue
            audio = self._note(note, (total - start) / sample_rate, sample_rate)[: total - start]
            out[start : start + len(audio)] += audio
        return out * self.gain(sample_rate)


def _layer_for(layers: tuple, velocity: int) -> tuple:
    """The layer a MIDI velocity plays (hydrogen's 0..1 ranges), else the nearest one."""
    v = velocity / 127
    for layer in layers:
        if layer[1] <= v <= layer[2]:
            return layer
    return min(layers, key=lambda layer: min(abs(layer[1] - v), abs(layer[2] - v)))


@cache
def _sample(path: str, sample_rate: int) -> np.ndarray:
    from cir.presets_db.sources.folder import read_clip

    return read_clip(path, sample_rate)


class KitInstrument:
    """One hydrogen kit instrument as a presets_db.render.Instrument: a one-shot sampler
    (velocity picks the layer and scales the level; the sound plays to its end, cut with a
    short fade only by the clip's end; the pitch of a note does not change it)."""

    def __init__(self, layers: tuple, volume: float = 1.0):
        self.layers = tuple(tuple(layer) for layer in layers)
        self.volume = volume

    def gain(self, sample_rate: int) -> float:
        """The level that brings the velocity-100 layer's peak to the catalogue's level."""
        main = _layer_for(self.layers, defaults.CANONICAL_VELOCITY)
        peak = float(np.abs(_sample(main[0], sample_rate)).max()) * main[3]
        return _LEVEL / peak if peak > 0 else 1.0

    def render(self, notes: Sequence[Note], seconds: float, sample_rate: int) -> np.ndarray:
        total = round(seconds * sample_rate)
        out = np.zeros(total, np.float32)
        gain = self.gain(sample_rate)
        for note in notes:
            start = round(note.start * sample_rate)
            if start >= total:
                continue
            path, _, _, layer_gain = _layer_for(self.layers, note.velocity)
            hit = _sample(path, sample_rate)[: total - start]
            level = gain * layer_gain * note.velocity / defaults.CANONICAL_VELOCITY
            out[start : start + len(hit)] += hit * level
        fade = min(round(_FADE_SECONDS * sample_rate), total)
        if fade:
            out[total - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
        return out


def make_instrument(source: ExtSource | Any):
    """The instrument that plays an ext source (an ExtSource, or a cir.training.data.Source
    made from one: only `kind`, `spec` and `family` are read)."""
    if source.kind == "dx7":
        return Dx7Instrument(*source.spec, source.family)
    if source.kind == "kit":
        return KitInstrument(*source.spec)
    raise ExtError(f"unknown ext source kind {source.kind!r}: expected one of {EXT_KINDS}")


# --- the one-shot folder (the catalogue a user's sample folder would be) -------------------------


def one_shot(source: ExtSource, sample_rate: int) -> np.ndarray:
    """The file a sample folder would hold for `source`: its canonical note (velocity 100),
    rendered into its family's clip length (a kit instrument: its velocity-100 layer)."""
    note = Note(FAMILY_SPECS[source.family].canonical_pitch, defaults.CANONICAL_VELOCITY, 0.0,
                FAMILY_SPECS[source.family].note_seconds)
    instrument = make_instrument(source)
    if isinstance(instrument, KitInstrument):
        main = _layer_for(instrument.layers, defaults.CANONICAL_VELOCITY)
        return _sample(main[0], sample_rate) * instrument.gain(sample_rate) * main[3]
    return instrument.render([note], FAMILY_SPECS[source.family].clip_seconds, sample_rate)


def write_folder(sources: Sequence[ExtSource], root: Path, sample_rate: int) -> list[Path]:
    """One WAV per source in `root/<family>/` (the folder source's layout: families from
    sub-folder names); files already there are kept. The paths, in `sources` order."""
    from pedalboard.io import AudioFile

    paths = []
    for source in sources:
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", source.key)
        path = root / source.family / f"{safe}.wav"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.wav")
            with AudioFile(str(tmp), "w", samplerate=sample_rate, num_channels=1) as f:
                f.write(one_shot(source, sample_rate)[None, :])
            tmp.replace(path)
        paths.append(path)
    return paths


# --- independence from training ------------------------------------------------------------------


def check_training_independence(kinds: Sequence[str], soundfonts: Sequence[str | Path]) -> None:
    """ExtError when a training run would play an ext engine (`kinds` of its sources) or a
    SoundFont made from an ext kit's recordings (by name, or by content when the reserved
    file is installed)."""
    bad_kinds = sorted(set(kinds) & set(EXT_KINDS))
    if bad_kinds:
        raise ExtError(
            f"training sources of kind {', '.join(bad_kinds)}: those engines are the ext "
            "benchmarks'; train on the bank and SoundFonts only"
        )
    for font in soundfonts:
        path = Path(font).expanduser()
        if path.name in EXT_RESERVED_SOUNDFONTS or _same_content_as_reserved(path):
            raise ExtError(
                f"training SoundFont {path} holds the recordings of an ext benchmark kit: "
                f"never train on {', '.join(EXT_RESERVED_SOUNDFONTS)}"
            )


def _same_content_as_reserved(path: Path) -> bool:
    if not path.is_file():
        return False
    for name in EXT_RESERVED_SOUNDFONTS:
        reserved = Path("/usr/share/sounds/sf2") / name
        if reserved.is_file() and reserved.stat().st_size == path.stat().st_size:
            from cir.presets_db.sources import file_sha256

            if file_sha256(reserved) == file_sha256(path):
                return True
    return False
