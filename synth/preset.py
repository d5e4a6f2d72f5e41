"""The built-in synth's preset: a small, versioned JSON document, validated field by field.

A preset is plain data (frozen dataclasses); `synth.engine` turns it into sound. Every field
has a range; `Preset.from_dict` rejects anything else with an error naming the field path,
the value and what was expected, so a broken preset file never reaches the engine.

JSON shape (format "cir-synth-preset", version 1):

    {"format": "cir-synth-preset", "version": 1, "id": "bass-0042", "name": "Acid Bass 042",
     "family": "bass", "tags": ["acid"], "voice": {...Voice...}, "effects": [{...}, ...]}
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cir.errors import CIRError
from cir.families import FAMILIES

PRESET_FORMAT = "cir-synth-preset"
PRESET_VERSION = 1

Wave = Literal["saw", "square", "triangle", "sine", "noise"]
FilterType = Literal["none", "lowpass", "highpass", "bandpass"]
LfoTarget = Literal["pitch", "pulse_width", "cutoff", "amp"]
LfoShape = Literal["sine", "triangle", "square", "saw"]
FmAlgorithm = Literal["stack", "pairs", "parallel", "y"]
EffectType = Literal[
    "chorus", "delay", "reverb", "distortion", "ladder", "compressor", "phaser", "bitcrush"
]


class PresetError(CIRError):
    """A preset document is malformed: the message names the field path, value and expectation."""


def _range(lo: float, hi: float) -> dict[str, Any]:
    return {"range": (lo, hi)}


@dataclass(frozen=True)
class Envelope:
    """ADSR in seconds (sustain is a level 0..1)."""

    attack: float = field(default=0.005, metadata=_range(0.0, 10.0))
    decay: float = field(default=0.2, metadata=_range(0.0, 10.0))
    sustain: float = field(default=0.8, metadata=_range(0.0, 1.0))
    release: float = field(default=0.1, metadata=_range(0.0, 10.0))


@dataclass(frozen=True)
class Oscillator:
    """One oscillator; `unison` voices spread over `detune_cents` (total spread)."""

    wave: Wave = "saw"
    level: float = field(default=1.0, metadata=_range(0.0, 1.0))
    semitones: float = field(default=0.0, metadata=_range(-48.0, 48.0))
    cents: float = field(default=0.0, metadata=_range(-100.0, 100.0))
    pulse_width: float = field(default=0.5, metadata=_range(0.05, 0.95))
    unison: int = field(default=1, metadata=_range(1, 9))
    detune_cents: float = field(default=0.0, metadata=_range(0.0, 100.0))
    # Hard sync to the note's fundamental (sync leads): the oscillator restarts every period.
    sync: bool = False


@dataclass(frozen=True)
class Sub:
    """A sub oscillator an octave or two below the note."""

    level: float = field(default=0.0, metadata=_range(0.0, 1.0))
    octave: int = field(default=-1, metadata=_range(-2, -1))
    wave: Literal["sine", "square", "triangle"] = "sine"


@dataclass(frozen=True)
class Operator:
    """An FM operator: frequency = ratio x note (+ fixed offset); level is its output or index."""

    ratio: float = field(default=1.0, metadata=_range(0.125, 32.0))
    level: float = field(default=1.0, metadata=_range(0.0, 10.0))
    feedback: float = field(default=0.0, metadata=_range(0.0, 1.0))
    detune_hz: float = field(default=0.0, metadata=_range(-50.0, 50.0))
    envelope: Envelope = field(default_factory=Envelope)


@dataclass(frozen=True)
class FM:
    """2-4 operators; operator 0 is always a carrier. Algorithms:
    stack: 3->2->1->0; pairs: 1->0 and 3->2 (0, 2 carriers); parallel: 1..n-1 all modulate 0;
    y: 2->1, 3->1, 1->0."""

    operators: tuple[Operator, ...] = (Operator(), Operator(ratio=2.0))
    algorithm: FmAlgorithm = "stack"
    level: float = field(default=1.0, metadata=_range(0.0, 1.0))


@dataclass(frozen=True)
class Filter:
    """A resonant filter; cutoff moves by `env_amount_oct` octaves with the filter envelope."""

    type: FilterType = "lowpass"
    cutoff_hz: float = field(default=8000.0, metadata=_range(20.0, 20000.0))
    resonance: float = field(default=0.1, metadata=_range(0.0, 0.98))
    env_amount_oct: float = field(default=0.0, metadata=_range(-8.0, 8.0))
    # 0 = cutoff fixed, 1 = cutoff follows the note's pitch exactly.
    keytrack: float = field(default=0.0, metadata=_range(0.0, 1.0))
    # Velocity -> extra cutoff, octaves at velocity 127.
    velocity_oct: float = field(default=0.0, metadata=_range(0.0, 4.0))
    # 12 dB/octave (2-pole) or 24 dB/octave (4-pole; resonance on the second section).
    slope_db: Literal[12, 24] = 12


@dataclass(frozen=True)
class PitchEnvelope:
    """Pitch starts `amount_semitones` off and decays exponentially (kicks, toms, zaps)."""

    amount_semitones: float = field(default=0.0, metadata=_range(-48.0, 96.0))
    decay: float = field(default=0.05, metadata=_range(0.001, 5.0))


@dataclass(frozen=True)
class LFO:
    """A low-frequency oscillator; depth is in the target's unit.

    Units: semitones (pitch), width (pulse_width), octaves (cutoff), gain 0..1 (amp).
    """

    target: LfoTarget = "pitch"
    shape: LfoShape = "sine"
    rate_hz: float = field(default=5.0, metadata=_range(0.01, 40.0))
    depth: float = field(default=0.0, metadata=_range(0.0, 12.0))
    delay: float = field(default=0.0, metadata=_range(0.0, 5.0))


@dataclass(frozen=True)
class Voice:
    """Everything that makes one note: sources, filter, envelopes, modulation, drive."""

    oscillators: tuple[Oscillator, ...] = (Oscillator(),)
    sub: Sub = field(default_factory=Sub)
    fm: FM | None = None
    noise_color: Literal["white", "pink"] = "white"
    filter: Filter = field(default_factory=Filter)
    amp_env: Envelope = field(default_factory=Envelope)
    filter_env: Envelope = field(default_factory=Envelope)
    pitch_env: PitchEnvelope = field(default_factory=PitchEnvelope)
    lfos: tuple[LFO, ...] = ()
    # Saturation before the filter (tanh), 0 = clean.
    drive: float = field(default=0.0, metadata=_range(0.0, 1.0))
    # Mono voices cut the previous note (basses, leads); poly voices overlap.
    mono: bool = False
    glide: float = field(default=0.0, metadata=_range(0.0, 1.0))
    # How much velocity scales loudness (0 = none, 1 = linear).
    velocity_amp: float = field(default=0.7, metadata=_range(0.0, 1.0))
    # A MIDI pitch this voice always plays, whatever note is pressed (drum machines: a kick on
    # any key is the same kick); None = follow the played note.
    fixed_pitch: int | None = field(default=None, metadata=_range(0, 127))


@dataclass(frozen=True)
class Effect:
    """One pedalboard effect; `params` are that effect's keyword arguments (EFFECT_PARAMS)."""

    type: EffectType
    params: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Preset:
    """A built-in synth preset: identity, family, tags, a voice and an effects chain."""

    id: str
    name: str
    family: str
    voice: Voice = field(default_factory=Voice)
    effects: tuple[Effect, ...] = ()
    tags: tuple[str, ...] = ()
    gain_db: float = field(default=0.0, metadata=_range(-24.0, 24.0))

    @classmethod
    def from_dict(cls, data: Any) -> Preset:
        """Build a validated preset from a JSON-like dict, or raise PresetError."""
        if not isinstance(data, dict):
            raise PresetError(f"preset: expected a JSON object, got {type(data).__name__}")
        if data.get("format") != PRESET_FORMAT:
            raise PresetError(
                f"preset.format: expected {PRESET_FORMAT!r}, got {data.get('format')!r}"
            )
        if data.get("version") != PRESET_VERSION:
            raise PresetError(
                f"preset.version: this CIR reads version {PRESET_VERSION}, "
                f"got {data.get('version')!r}; upgrade CIR or re-export the preset"
            )
        body = {k: v for k, v in data.items() if k not in ("format", "version")}
        preset = _build(cls, body, "preset")
        if preset.family not in FAMILIES:
            raise PresetError(
                f"preset.family: expected one of {', '.join(FAMILIES)}, got {preset.family!r}"
            )
        if preset.voice.fm is not None and not 2 <= len(preset.voice.fm.operators) <= 4:
            raise PresetError(
                f"preset.voice.fm.operators: expected 2 to 4 operators, "
                f"got {len(preset.voice.fm.operators)}"
            )
        _check_effects(preset.effects)
        return preset

    def to_dict(self) -> dict[str, Any]:
        """The preset as a JSON-ready dict (round-trips through from_dict)."""
        return {"format": PRESET_FORMAT, "version": PRESET_VERSION, **_dump(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))


# --- Effect parameters: (default, low, high) per effect; a bad one fails at load. ------------


class EffectError(CIRError):
    """An effect of a preset has an unknown parameter or a value out of range."""


EFFECT_PARAMS: dict[str, dict[str, tuple[float, float, float]]] = {
    "chorus": {
        "rate_hz": (1.0, 0.01, 20.0),
        "depth": (0.25, 0.0, 1.0),
        "centre_delay_ms": (7.0, 1.0, 50.0),
        "feedback": (0.0, -0.95, 0.95),
        "mix": (0.5, 0.0, 1.0),
    },
    "delay": {
        "delay_seconds": (0.25, 0.001, 2.0),
        "feedback": (0.3, 0.0, 0.95),
        "mix": (0.3, 0.0, 1.0),
    },
    "reverb": {
        "room_size": (0.5, 0.0, 1.0),
        "damping": (0.5, 0.0, 1.0),
        "wet_level": (0.33, 0.0, 1.0),
        "dry_level": (0.4, 0.0, 1.0),
        "width": (1.0, 0.0, 1.0),
    },
    "distortion": {"drive_db": (25.0, 0.0, 60.0)},
    "ladder": {
        "mode": (0.0, 0.0, 5.0),
        "cutoff_hz": (1000.0, 20.0, 20000.0),
        "resonance": (0.0, 0.0, 1.0),
        "drive": (1.0, 1.0, 10.0),
    },
    "compressor": {
        "threshold_db": (-12.0, -60.0, 0.0),
        "ratio": (4.0, 1.0, 20.0),
        "attack_ms": (5.0, 0.1, 200.0),
        "release_ms": (100.0, 1.0, 2000.0),
    },
    "phaser": {
        "rate_hz": (1.0, 0.01, 20.0),
        "depth": (0.5, 0.0, 1.0),
        "centre_frequency_hz": (1300.0, 50.0, 10000.0),
        "feedback": (0.0, -0.95, 0.95),
        "mix": (0.5, 0.0, 1.0),
    },
    "bitcrush": {"bit_depth": (8.0, 1.0, 24.0)},
}

LADDER_MODES = ("LPF12", "HPF12", "BPF12", "LPF24", "HPF24", "BPF24")


def effect_settings(effect: Effect) -> dict[str, float]:
    """The effect's full parameter set (defaults filled in), or EffectError."""
    spec = EFFECT_PARAMS.get(effect.type)
    if spec is None:
        raise EffectError(f"effect type {effect.type!r} is unknown; expected one of "
                          f"{', '.join(EFFECT_PARAMS)}")
    settings = {name: default for name, (default, _, _) in spec.items()}
    for name, value in effect.params.items():
        if name not in spec:
            raise EffectError(f"effect {effect.type}: unknown parameter {name!r}; expected one "
                              f"of {', '.join(spec)}")
        _, lo, hi = spec[name]
        if not (isinstance(value, int | float) and lo <= value <= hi):
            raise EffectError(f"effect {effect.type}.{name}: {value!r} is out of range "
                              f"[{lo}, {hi}]")
        settings[name] = float(value)
    return settings


def _check_effects(effects: tuple[Effect, ...]) -> None:
    for i, effect in enumerate(effects):
        try:
            effect_settings(effect)
        except EffectError as exc:
            raise PresetError(f"preset.effects[{i}]: {exc}") from exc


def load_preset(path: str | Path) -> Preset:
    """Read and validate a preset JSON file; errors name the file and the field."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PresetError(f"{path}: cannot read preset file ({exc.strerror})") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PresetError(f"{path}: not valid JSON ({exc})") from exc
    try:
        return Preset.from_dict(data)
    except PresetError as exc:
        raise PresetError(f"{path}: {exc}") from exc


# --- generic dataclass <-> dict ------------------------------------------------------------------


def _dump(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {f.name: _dump(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple):
        return [_dump(v) for v in value]
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    return value


def _build(cls: type, data: Any, path: str) -> Any:
    if not isinstance(data, dict):
        raise PresetError(f"{path}: expected an object, got {json.dumps(data)}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise PresetError(
            f"{path}.{unknown[0]}: unknown field; expected one of {', '.join(sorted(names))}"
        )
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise PresetError(f"{path}.{f.name}: required field is missing")
            continue
        sub = f"{path}.{f.name}"
        value = _coerce(hints[f.name], data[f.name], sub)
        bounds = f.metadata.get("range")
        if bounds is not None and value is not None and not bounds[0] <= value <= bounds[1]:
            raise PresetError(f"{sub}: {value!r} is out of range [{bounds[0]}, {bounds[1]}]")
        kwargs[f.name] = value
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(inner, value, path)
    if origin is Literal:
        if value not in args:
            choices = ", ".join(repr(a) for a in args)
            raise PresetError(f"{path}: {value!r} is not one of {choices}")
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise PresetError(f"{path}: expected a list, got {json.dumps(value)}")
        return tuple(_coerce(args[0], v, f"{path}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise PresetError(f"{path}: expected an object, got {json.dumps(value)}")
        return {str(k): _coerce(args[1], v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value, path)
    if hint is bool:
        if not isinstance(value, bool):
            raise PresetError(f"{path}: expected true or false, got {json.dumps(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise PresetError(f"{path}: expected an integer, got {json.dumps(value)}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise PresetError(f"{path}: expected a number, got {json.dumps(value)}")
        return float(value)
    if hint is str:
        if not isinstance(value, str) or not value:
            raise PresetError(f"{path}: expected a non-empty string, got {json.dumps(value)}")
        return value
    raise TypeError(f"unsupported preset field type {hint!r} at {path}")
