"""The one list of instrument families, and the names that map onto them.

Ranking is per family (docs/DESIGN.md): every catalogue entry carries exactly one of FAMILIES.
v1 benchmarks use the paper's three (MIX_FAMILIES); pad and keys follow.
"""

from __future__ import annotations

from dataclasses import dataclass

from cir.errors import CIRError

FAMILIES: tuple[str, ...] = ("percussion", "bass", "lead", "pad", "keys")


@dataclass(frozen=True)
class FamilySpec:
    """What CIR assumes of one family. Reference renders use the first three (they are part
    of RENDER_VERSION in cir.defaults: change one, bump it)."""

    # The catalogue's canonical note (velocity CANONICAL_VELOCITY, docs/DESIGN.md): near the
    # family's median pitch.
    canonical_pitch: int
    note_seconds: float  # held note length of a reference render
    clip_seconds: float  # a reference clip: the note plus a release tail
    # MIDI pitch range the family plays in (training notes, mixtures, bank register checks).
    # Percussion plays its designed sound on any key (Voice.fixed_pitch); its range only
    # places hits.
    pitch_range: tuple[int, int]


FAMILY_SPECS: dict[str, FamilySpec] = {
    "percussion": FamilySpec(60, 0.25, 1.0, (48, 72)),
    "bass": FamilySpec(40, 0.8, 1.5, (28, 52)),
    "lead": FamilySpec(72, 0.8, 1.5, (60, 88)),
    "pad": FamilySpec(60, 1.5, 2.5, (48, 76)),
    "keys": FamilySpec(60, 0.8, 1.5, (48, 84)),
}

# The three families of the paper's mixtures, in mix order.
MIX_FAMILIES: tuple[str, ...] = ("percussion", "bass", "lead")

# Folder and category names seen in preset libraries (case-insensitive) -> family.
ALIASES: dict[str, str] = {
    "percussion": "percussion",
    "perc": "percussion",
    "drums": "percussion",
    "drum": "percussion",
    "bass": "bass",
    "basses": "bass",
    "lead": "lead",
    "leads": "lead",
    "synth lead": "lead",
    "pad": "pad",
    "pads": "pad",
    "keys": "keys",
    "key": "keys",
    "pluck": "keys",
    "plucks": "keys",
}


class UnknownFamilyError(CIRError):
    """A family name that is not one of FAMILIES nor a known alias."""


def family_from_name(name: str | None) -> str | None:
    """Return the family a folder/category name maps to, or None when it maps to none."""
    if not name:
        return None
    return ALIASES.get(name.strip().lower())


def normalise_family(name: str) -> str:
    """Return the canonical family for `name`, or raise UnknownFamilyError naming the choices."""
    family = family_from_name(name)
    if family is None:
        raise UnknownFamilyError(
            f"unknown family {name!r}: expected one of {', '.join(FAMILIES)} "
            f"(aliases: {', '.join(sorted(set(ALIASES) - set(FAMILIES)))})"
        )
    return family
