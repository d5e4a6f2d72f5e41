"""The one list of instrument families, and the names that map onto them.

Ranking is per family (docs/DESIGN.md): every catalogue entry carries exactly one of FAMILIES.
v1 benchmarks use the paper's three (MIX_FAMILIES); pad and keys follow.
"""

from __future__ import annotations

from cir.errors import CIRError

FAMILIES: tuple[str, ...] = ("percussion", "bass", "lead", "pad", "keys")

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
