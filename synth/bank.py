"""The factory bank: thousands of presets drawn by a seeded generator, and lookups into it.

Every recipe (synth.recipes) draws its presets from its own numpy Generator seeded with
(BANK_SEED, BANK_VERSION, recipe index), so the same BANK_VERSION always yields the same bank,
and appending a recipe leaves the others untouched. About one preset in five is a *sibling*:
a copy of an earlier preset of its sub-category with one or two parameters moved moderately,
tagged `sibling` and `parent:<id>` — the near neighbours (hard negatives) of training. A
sibling whose canonical note sounds like its parent's (BANK_SIBLING_MIN_DB) is drawn again:
twins would be a ceiling no encoder can pass, not a hard negative.

The train/valid/test split of a preset is a hash of its id and the seed, never its position.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
from collections.abc import Callable

import numpy as np

from cir import defaults
from cir.errors import CIRError
from cir.families import FAMILIES, normalise_family
from cir.synth.constants import BANK_SEED, BANK_VERSION
from cir.synth.preset import FM, Effect, Preset, Voice
from cir.synth.recipes import RECIPES
from cir.synth.recipes.common import Dice, Draft, Recipe, rounded
from cir.synth.recipes.levels import LEVEL_DB
from cir.synth.recipes.siblings import SIBLING_REDRAWS

# About one preset in five is a sibling: an earlier preset of its sub-category with one or two
# parameters moved moderately (the near neighbours contrastive training needs as hard negatives).
BANK_SIBLING_FRACTION = 0.2
# Siblings start once a sub-category has this many originals, so parents are spread out.
BANK_SIBLING_MIN_PARENTS = 5
# Redraws allowed when a draw repeats an existing sound (a recipe that needs more is a bug).
BANK_MAX_REDRAWS = 20
# Longest amp decay (time to -60 dB, s) of a percussion one-shot: gone well within a second.
BANK_ONE_SHOT_MAX_DECAY = 0.6

# (parent, sibling) -> True when the sibling sounds like its parent (synth.calibrate measures it).
SiblingCheck = Callable[[Preset, Preset], bool]


class UnknownPresetError(CIRError):
    """A preset id that is not in the factory bank."""


class UnknownSplitError(CIRError):
    """A split name other than train, valid or test."""


# --- public lookups --------------------------------------------------------------------------


@functools.cache
def factory_bank() -> tuple[Preset, ...]:
    """Every factory preset, in a stable order (family, sub-category, number)."""
    return draw_bank()


def draw_bank(too_close: SiblingCheck | None = None) -> tuple[Preset, ...]:
    """Draw the whole bank. Siblings that sound like their parent are re-drawn: by the measured
    table SIBLING_REDRAWS (the default, fast), or by `too_close(parent, sibling)` itself, which
    is how synth.calibrate measures that table."""
    bank: list[Preset] = []
    for family in FAMILIES:
        numbers: dict[str, int] = {}  # per name stem, for "Acid Bass 042"
        members: list[Preset] = []  # ids count within the family: bass-0001, bass-0002...
        for index, recipe in enumerate(RECIPES):
            if recipe.family == family:
                drawer = _RecipeDraw(index, recipe, len(members), numbers, too_close)
                members.extend(drawer.draw())
        bank.extend(members)
    return tuple(bank)


@functools.cache
def _by_id() -> dict[str, Preset]:
    return {p.id: p for p in factory_bank()}


def canonical_id(preset_id: str) -> str:
    """'bass-42', 'Bass-042' -> 'bass-0042' (ids count within a family, four digits)."""
    family, sep, number = preset_id.strip().rpartition("-")
    if not sep or not number.isdigit():
        return preset_id
    return f"{family.lower()}-{int(number):04d}"


def get_preset(preset_id: str) -> Preset:
    """The factory preset with this id, or UnknownPresetError with the closest ids."""
    preset = _by_id().get(preset_id) or _by_id().get(canonical_id(preset_id))
    if preset is None:
        close = difflib.get_close_matches(preset_id, list(_by_id()), n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise UnknownPresetError(
            f"no factory preset {preset_id!r}; {hint}ids look like 'bass-0042' "
            "(see `cir synth list`)"
        )
    return preset


def presets(family: str | None = None, split: str | None = None) -> list[Preset]:
    """Factory presets, optionally of one family (aliases accepted) and one split."""
    fam = normalise_family(family) if family is not None else None
    if split is not None and split not in defaults.SPLITS:
        raise UnknownSplitError(
            f"unknown split {split!r}: expected one of {', '.join(defaults.SPLITS)}"
        )
    return [
        p
        for p in factory_bank()
        if (fam is None or p.family == fam) and (split is None or split_of(p.id) == split)
    ]


def split_of(preset_id: str) -> str:
    """train / valid / test for a preset id: a pure function of the id and BANK_SEED."""
    digest = hashlib.sha256(f"{BANK_SEED}:{preset_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0**64
    train, valid = defaults.SPLIT_FRACTIONS
    if u < train:
        return defaults.SPLITS[0]
    return defaults.SPLITS[1] if u < train + valid else defaults.SPLITS[2]


def stem_of(preset: Preset) -> str:
    """The name without its number ("Acid Bass 042" -> "Acid Bass"): the preset's kind."""
    return preset.name.rsplit(" ", 1)[0]


def bank_digest() -> str:
    """sha256 of the whole bank's JSON: equal digests mean identical banks."""
    h = hashlib.sha256(f"bank-v{BANK_VERSION}".encode())
    for preset in factory_bank():
        h.update(preset.to_json().encode())
        h.update(b"\n")
    return h.hexdigest()


# --- generation --------------------------------------------------------------------------------


class _RecipeDraw:
    """One recipe's presets, drawn in order from the recipe's own seeded generator."""

    def __init__(self, index: int, recipe: Recipe, start: int, numbers: dict[str, int],
                 too_close: SiblingCheck | None):
        self.d = Dice(np.random.default_rng([BANK_SEED, BANK_VERSION, index]))
        self.recipe, self.start, self.numbers, self.too_close = recipe, start, numbers, too_close
        self.seen: set[tuple] = set()
        self.made: list[Preset] = []
        self.originals: list[tuple[Preset, Draft]] = []

    def draw(self) -> list[Preset]:
        for _ in range(self.recipe.count):
            parent = None
            if len(self.originals) >= BANK_SIBLING_MIN_PARENTS and self.d.chance(
                BANK_SIBLING_FRACTION
            ):
                parent = self.d.pick(self.originals)
            preset, draft = (self._sibling_of(parent) if parent else None) or self._original()
            self.made.append(preset)
            if "sibling" not in preset.tags:
                self.originals.append((preset, draft))
        return self.made

    def _new_sound(self, build: Callable[[], Draft]) -> Draft:
        for _try in range(BANK_MAX_REDRAWS):
            draft = build()
            if _sound_key(draft) not in self.seen:
                return draft
        raise RuntimeError(f"recipe {self.recipe.key} keeps drawing duplicates")  # a recipe bug

    def _original(self) -> tuple[Preset, Draft]:
        draft = self._new_sound(lambda: self.recipe.build(self.d))
        return self._keep(self._preset(draft, None), draft), draft

    def _sibling_of(self, parent: tuple[Preset, Draft]) -> tuple[Preset, Draft] | None:
        """A sibling that sounds different from its parent, or None (draw an original)."""
        family = self.recipe.family
        for rejected in range(BANK_MAX_REDRAWS):
            draft = self._new_sound(lambda: _sibling(self.d, parent[1], family))
            candidate = self._preset(draft, parent[0])
            if self.too_close is None:
                same = rejected < SIBLING_REDRAWS.get(candidate.id, 0)
            else:
                same = self.too_close(parent[0], candidate)
            if not same:
                return self._keep(candidate, draft), draft
        return None  # no audible move from this parent: an original takes the slot

    def _preset(self, draft: Draft, parent: Preset | None) -> Preset:
        label = draft.label or self.recipe.label
        number = self.numbers.get(label, 0) + 1
        tags = [self.recipe.key, *draft.tags, *_character(draft)]
        if parent:
            tags += ["sibling", f"parent:{parent.id}"]
        return Preset(
            id=f"{self.recipe.family}-{self.start + len(self.made) + 1:04d}",
            name=f"{label} {number:03d}",
            family=self.recipe.family,
            voice=draft.voice,
            effects=draft.effects,
            tags=tuple(dict.fromkeys(tags)),
            gain_db=LEVEL_DB.get(label, 0.0),
        )

    def _keep(self, preset: Preset, draft: Draft) -> Preset:
        """Count the kept preset's name and sound, so later draws neither reuse nor repeat them."""
        label = draft.label or self.recipe.label
        self.numbers[label] = self.numbers.get(label, 0) + 1
        self.seen.add(_sound_key(draft))
        return preset


def _sound_key(draft: Draft) -> tuple:
    effects = tuple((e.type, tuple(sorted(e.params.items()))) for e in draft.effects)
    return (draft.voice, effects)


def _character(draft: Draft) -> list[str]:
    """Words a producer would use, read off the parameters."""
    v, tags = draft.voice, []
    kinds = {e.type for e in draft.effects}
    if v.filter.type == "lowpass":
        tags.append(
            "dark" if v.filter.cutoff_hz < 800 else "bright" if v.filter.cutoff_hz > 5000 else ""
        )
    if v.filter.type != "none" and v.filter.resonance >= 0.6:
        tags.append("resonant")
    if any(o.unison > 1 for o in v.oscillators):
        tags.append("wide")
    if v.drive >= 0.5 or "distortion" in kinds:
        tags.append("distorted")
    if "bitcrush" in kinds:
        tags.append("lo-fi")
    if v.mono:
        tags.append("mono")
    if v.glide > 0:
        tags.append("glide")
    if v.amp_env.attack >= 0.2:
        tags.append("slow-attack")
    if v.amp_env.sustain == 0.0:
        tags.append("one-shot")
    if any(lfo.target == "pitch" and lfo.depth < 2 for lfo in v.lfos):
        tags.append("vibrato")
    tags += sorted(kinds & {"chorus", "delay", "reverb", "phaser"})
    return [t for t in tags if t]


# --- siblings: one or two moderate moves away from a parent -------------------------------------

# A move returns the changed voice and effects, or None when it does not apply to this preset.
Moved = tuple[Voice, tuple[Effect, ...]] | None
Move = Callable[[Dice, Voice, tuple[Effect, ...], str], Moved]


def _octaves(d: Dice) -> float:
    """A moderate factor: 0.5 to 1 octave up or down."""
    return 2.0 ** (d.sign() * (0.5 + 0.5 * d.u()))


def _clip(x: float, lo: float, hi: float) -> float:
    return rounded(min(max(x, lo), hi))


def _move_cutoff(d: Dice, v: Voice, fx: tuple[Effect, ...], family: str) -> Moved:
    if v.filter.type == "none":
        return None
    f = dataclasses.replace(
        v.filter, cutoff_hz=_clip(v.filter.cutoff_hz * _octaves(d), 40.0, 18000.0)
    )
    return dataclasses.replace(v, filter=f), fx


def _move_resonance(d: Dice, v: Voice, fx: tuple[Effect, ...], family: str) -> Moved:
    if v.filter.type == "none":
        return None
    res = v.filter.resonance + d.sign() * (0.15 + 0.15 * d.u())
    f = dataclasses.replace(v.filter, resonance=_clip(res, 0.0, 0.92))
    return dataclasses.replace(v, filter=f), fx


def _move_decay(d: Dice, v: Voice, fx: tuple[Effect, ...], family: str) -> Moved:
    # Percussion stays a one-shot: its decay never grows past the one-shot limit.
    top = BANK_ONE_SHOT_MAX_DECAY if family == "percussion" else 8.0
    amp = dataclasses.replace(v.amp_env, decay=_clip(v.amp_env.decay * _octaves(d), 0.01, top))
    return dataclasses.replace(v, amp_env=amp), fx


def _move_attack(d: Dice, v: Voice, fx: tuple[Effect, ...], family: str) -> Moved:
    if v.amp_env.attack < 0.05:
        return None
    amp = dataclasses.replace(v.amp_env, attack=_clip(v.amp_env.attack * _octaves(d), 0.01, 8.0))
    return dataclasses.replace(v, amp_env=amp), fx


def _move_drive(d: Dice, v: Voice, fx: tuple[Effect, ...], family: str) -> Moved:
    drive = v.drive + (0.15 + 0.15 * d.u()) * (1.0 if v.drive < 0.5 else -1.0)
    return dataclasses.replace(v, drive=_clip(drive, 0.0, 1.0)), fx


def _move_detune(d: Dice, v: Voice, fx: tuple[Effect, ...], family: str) -> Moved:
    wide = [i for i, o in enumerate(v.oscillators) if o.unison > 1]
    if not wide:
        return None
    i = wide[0]
    osc = v.oscillators[i]
    osc = dataclasses.replace(osc, detune_cents=_clip(osc.detune_cents * _octaves(d), 2.0, 90.0))
    return dataclasses.replace(v, oscillators=_replace_at(v.oscillators, i, osc)), fx


def _move_pulse(d: Dice, v: Voice, fx: tuple[Effect, ...], family: str) -> Moved:
    squares = [i for i, o in enumerate(v.oscillators) if o.wave == "square"]
    if not squares:
        return None
    i = squares[0]
    osc = v.oscillators[i]
    width = osc.pulse_width + (0.1 + 0.1 * d.u()) * (1.0 if osc.pulse_width < 0.3 else -1.0)
    osc = dataclasses.replace(osc, pulse_width=_clip(width, 0.05, 0.5))
    return dataclasses.replace(v, oscillators=_replace_at(v.oscillators, i, osc)), fx


def _move_fm_index(d: Dice, v: Voice, fx: tuple[Effect, ...], family: str) -> Moved:
    if v.fm is None:
        return None
    op = v.fm.operators[1]
    op = dataclasses.replace(op, level=_clip(op.level * _octaves(d), 0.1, 9.0))
    fm = FM(
        operators=_replace_at(v.fm.operators, 1, op), algorithm=v.fm.algorithm, level=v.fm.level
    )
    return dataclasses.replace(v, fm=fm), fx


def _move_pitch_env(d: Dice, v: Voice, fx: tuple[Effect, ...], family: str) -> Moved:
    if v.pitch_env.amount_semitones == 0.0:
        return None
    amount = v.pitch_env.amount_semitones * (0.6 + 0.8 * d.u())
    pe = dataclasses.replace(v.pitch_env, amount_semitones=_clip(amount, -48.0, 96.0))
    return dataclasses.replace(v, pitch_env=pe), fx


def _move_lfo(d: Dice, v: Voice, fx: tuple[Effect, ...], family: str) -> Moved:
    if not v.lfos:
        return None
    lfo = dataclasses.replace(v.lfos[0], rate_hz=_clip(v.lfos[0].rate_hz * _octaves(d), 0.02, 40.0))
    return dataclasses.replace(v, lfos=_replace_at(v.lfos, 0, lfo)), fx


def _move_wet(d: Dice, v: Voice, fx: tuple[Effect, ...], family: str) -> Moved:
    wet = [i for i, e in enumerate(fx) if e.type in ("reverb", "chorus", "delay")]
    if not wet:
        return None
    i = wet[0]
    key = "wet_level" if fx[i].type == "reverb" else "mix"
    value = fx[i].params[key] + d.sign() * (0.1 + 0.1 * d.u())
    top = 0.25 if family == "percussion" else 0.6
    params = {**fx[i].params, key: _clip(value, 0.02, top)}
    return v, _replace_at(fx, i, Effect(fx[i].type, params))


_MOVES: tuple[Move, ...] = (
    _move_cutoff,
    _move_cutoff,  # twice: brightness is the move producers make most
    _move_resonance,
    _move_decay,
    _move_attack,
    _move_drive,
    _move_detune,
    _move_pulse,
    _move_fm_index,
    _move_pitch_env,
    _move_lfo,
    _move_wet,
)


def _sibling(d: Dice, parent: Draft, family: str) -> Draft:
    """The parent with one or two applicable moves applied."""
    voice, effects = parent.voice, parent.effects
    wanted, done = 1 + int(d.chance(0.5)), 0
    for _ in range(BANK_MAX_REDRAWS * 4):
        moved = d.pick(_MOVES)(d, voice, effects, family)
        if moved is not None:
            voice, effects = moved
            done += 1
            if done == wanted:
                break
    return Draft(voice, effects, parent.tags, parent.label)


def _replace_at(items: tuple, i: int, value: object) -> tuple:
    return (*items[:i], value, *items[i + 1 :])


__all__ = [
    "UnknownPresetError",
    "UnknownSplitError",
    "bank_digest",
    "draw_bank",
    "factory_bank",
    "get_preset",
    "presets",
    "split_of",
    "stem_of",
]
