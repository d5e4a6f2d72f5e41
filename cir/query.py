"""What a match query may be, checked the same way on every route: the protocol's decoder (the
daemon's socket) and the in-process matcher (cir.matching) both call these.

Each refusal is a QueryError with a stable snake_case `code` (the daemon's reply carries it;
docs/protocol.md lists them) and a message that names the value and the fix.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from cir import defaults
from cir.errors import CIRError
from cir.families import FAMILIES, family_from_name


class QueryError(CIRError):
    """A query that cannot be answered: `code` says which rule it broke, the text the fix."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    def to_json(self) -> dict[str, str]:
        """The daemon reply's "error" object."""
        return {"code": self.code, "message": self.message}


def check_int(name: str, value: Any, lo: int, hi: int, code: str) -> int:
    """`value` if it is an int (not a bool) from `lo` to `hi`, else QueryError(`code`)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not lo <= value <= hi:
        raise QueryError(code, f"{name}={value!r}: expected an integer from {lo} to {hi}")
    return int(value)


def check_sample_rate(rate: Any) -> int:
    return check_int("sample_rate", rate, defaults.PROTOCOL_MIN_SAMPLE_RATE,
                     defaults.PROTOCOL_MAX_SAMPLE_RATE, "invalid_sample_rate")


def check_k(k: Any) -> int:
    """Suggestions per family; None means the default."""
    if k is None:
        return defaults.MATCH_DEFAULT_K
    return check_int("k", k, 1, defaults.MATCH_MAX_K, "invalid_k")


def check_tempo(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
        math.isfinite(value) and value > 0
    ):
        raise QueryError(
            "invalid_tempo", f"tempo={value!r}: expected null or a positive number of BPM"
        )
    return float(value)


def check_families(value: Any) -> tuple[str, ...] | None:
    """Canonical family names, aliases resolved and repeats dropped; None means all."""
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence) or not all(
        isinstance(v, str) for v in value
    ):
        raise QueryError(
            "bad_header", f"families={value!r}: expected null or a list of family names"
        )
    out: list[str] = []
    for name in value:
        family = family_from_name(name)
        if family is None:
            raise QueryError(
                "unknown_family",
                f"families: {name!r} is not a family; use any of {', '.join(FAMILIES)}",
            )
        if family not in out:
            out.append(family)
    return tuple(out)


def check_size(frames: int, channels: int, rate: int) -> None:
    """At most PROTOCOL_MAX_SECONDS long and PROTOCOL_MAX_PCM_BYTES of float32."""
    if frames > defaults.PROTOCOL_MAX_SECONDS * rate:
        raise QueryError(
            "too_long",
            f"frames={frames} at {rate} Hz is {frames / rate:.1f} s; the limit is "
            f"{defaults.PROTOCOL_MAX_SECONDS:g} s: send the last bars only",
        )
    if frames * channels * 4 > defaults.PROTOCOL_MAX_PCM_BYTES:
        raise QueryError(
            "too_large",
            f"{frames} frames x {channels} channels is {frames * channels * 4} bytes; the "
            f"limit is {defaults.PROTOCOL_MAX_PCM_BYTES} bytes: downmix to stereo or send less",
        )


def check_finite(audio: np.ndarray) -> None:
    # The sum is a cheap screen (NaN/inf propagate); only a suspect sum pays the exact check.
    if not np.isfinite(audio.sum(dtype=np.float64)) and not np.isfinite(audio).all():
        bad = int(np.count_nonzero(~np.isfinite(audio)))
        raise QueryError(
            "non_finite_audio",
            f"PCM holds {bad} NaN or infinite samples; send finite samples (-1.0..1.0)",
        )
