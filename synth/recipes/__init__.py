"""How the factory bank draws each sub-category of each family (one module per family).

Each recipe draws a whole preset from a seeded `Dice`; `synth.bank` numbers, names, tags
and splits them. Recipes are appended, never reordered: a recipe's presets come from its
own seed, so adding one leaves every existing preset unchanged.
"""

from __future__ import annotations

from cir.synth.recipes import bass, keys, lead, pad, percussion
from cir.synth.recipes.common import Recipe

RECIPES: tuple[Recipe, ...] = (
    *percussion.RECIPES,
    *bass.RECIPES,
    *lead.RECIPES,
    *pad.RECIPES,
    *keys.RECIPES,
)
