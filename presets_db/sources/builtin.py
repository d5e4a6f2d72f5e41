"""The built-in synth's factory bank: every preset, or those of one split.

Content hash = hash of the preset's canonical JSON, so editing a preset in the bank re-renders
exactly that preset. Args: `split` (train/valid/test, or all) and `limit` (a small, family-
balanced subset: tests and benchmarks).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import zip_longest
from typing import Any

import numpy as np

from cir import defaults
from cir.presets_db.errors import SourceError
from cir.presets_db.render import render_references
from cir.presets_db.sources import Entry, sha256

PATH = "factory"


def normalise_args(split: str | None = None, limit: int | None = None) -> dict[str, Any]:
    """Validated source args (stored with the source, so `build` repeats the same selection)."""
    if split is not None and split not in defaults.SPLITS:
        raise SourceError(f"unknown split {split!r}: expected one of {', '.join(defaults.SPLITS)}")
    if limit is not None and limit < 1:
        raise SourceError(f"limit {limit} must be at least 1")
    return {k: v for k, v in {"split": split, "limit": limit}.items() if v is not None}


def _select(presets: list[Any], limit: int | None) -> list[Any]:
    """Round-robin over families so a small limit still covers every family."""
    if limit is None:
        return presets
    by_family: dict[str, list[Any]] = {}
    for p in presets:
        by_family.setdefault(p.family, []).append(p)
    order = [p for group in zip_longest(*by_family.values()) for p in group if p is not None]
    return order[:limit]


def scan(path: str, args: dict[str, Any]) -> Iterator[Entry]:
    from cir.synth import bank

    split = args.get("split")
    presets = sorted(bank.presets(split=split), key=lambda p: p.id)
    for preset in _select(presets, args.get("limit")):
        doc = preset.to_json()
        yield Entry(
            key=preset.id,
            name=preset.name,
            family=preset.family,
            locator={"bank": "factory", "id": preset.id, "split": bank.split_of(preset.id)},
            content_hash=sha256("builtin", doc),
            spec=doc,
            tags=tuple(preset.tags),
        )


def files(spec: str) -> tuple[str, ...]:
    """Files a worker must see to render `spec`: none, the bank ships with cir."""
    return ()


def render_clips(spec: str, family: str, sample_rate: int) -> list[np.ndarray]:
    from cir.synth.engine import BuiltinInstrument
    from cir.synth.preset import Preset

    instrument = BuiltinInstrument(Preset.from_dict(json.loads(spec)))
    return render_references(instrument, family, sample_rate)
