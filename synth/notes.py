"""MIDI-like notes that the engine renders."""

from __future__ import annotations

from dataclasses import dataclass

from cir.errors import CIRError


class NoteError(CIRError):
    """A note outside MIDI ranges or with a non-positive duration."""


@dataclass(frozen=True)
class Note:
    """One note: MIDI pitch 0-127, velocity 1-127, start and duration in seconds."""

    pitch: int
    velocity: int = 100
    start: float = 0.0
    duration: float = 0.5

    def __post_init__(self) -> None:
        if not 0 <= self.pitch <= 127:
            raise NoteError(f"note pitch {self.pitch} is outside MIDI range 0-127")
        if not 1 <= self.velocity <= 127:
            raise NoteError(f"note velocity {self.velocity} is outside 1-127")
        if self.start < 0:
            raise NoteError(f"note start {self.start} s is negative")
        if not self.duration > 0:
            raise NoteError(f"note duration {self.duration} s must be positive")

    @property
    def end(self) -> float:
        return self.start + self.duration


def midi_to_hz(pitch: float) -> float:
    """Equal temperament, A4 = MIDI 69 = 440 Hz."""
    return 440.0 * 2.0 ** ((pitch - 69.0) / 12.0)
