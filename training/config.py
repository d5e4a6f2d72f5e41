"""Training configs: one frozen dataclass per kind of training, read from JSON, strict.

A config file names its kind (`"kind": "mix-heads"`; absent means "encoder"); every other key
must be a field of that kind's type, or loading fails naming the key. Same config (with the
same code), same weights.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from cir import defaults
from cir.errors import CIRError
from cir.families import FAMILIES, FAMILY_SPECS, MIX_FAMILIES
from cir.training.constants import (
    INFONCE_TEMPERATURE,
    TRAIN_GAIN_DB,
    TRAIN_LINE_SECONDS,
    TRAIN_LINES_PER_PRESET,
    TRIPLET_MARGIN,
    VALID_MIX_COUNT,
)


class TrainConfigError(CIRError):
    """A training config file that cannot be read or has unknown or invalid fields."""


@dataclass(frozen=True)
class BaseTrainConfig:
    """What every kind of training shares: data, optimisation, validation, bookkeeping."""

    kind: ClassVar[str] = ""

    name: str = defaults.ENCODER_WEIGHTS_NAME
    seed: int = 0
    families: tuple[str, ...] = MIX_FAMILIES
    n_mels: int = defaults.ENCODER_N_MELS
    # Data: notes rendered per training preset; None = every training preset of a family.
    train_presets_per_family: int | None = None
    notes_per_preset: int = 10
    note_seconds: float = 1.5
    temperature: float = INFONCE_TEMPERATURE
    # Optimisation: AdamW, linear warm-up then cosine decay to final_lr_fraction x lr
    steps: int = 3000
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    final_lr_fraction: float = 0.02
    grad_clip: float = 5.0
    # Validation on VALID presets: notes per preset, rendered mixes
    valid_presets_per_family: int | None = None
    valid_notes_per_preset: int = 2
    valid_mixes: int = 120
    eval_every: int = 250
    checkpoint_every: int = 50
    log_every: int = 10
    # torch threads of the trainer (None: torch's default) and render workers (None: all cores)
    threads: int | None = None
    workers: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        return {"kind": self.kind, **{k: list(v) if isinstance(v, tuple) else v
                                      for k, v in d.items()}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BaseTrainConfig:
        """Build and check a config; unknown keys and bad values raise TrainConfigError."""
        d = dict(d)
        kind = d.pop("kind", cls.kind)
        if kind != cls.kind:
            raise TrainConfigError(f"config of kind {kind!r} given to a {cls.kind!r} training")
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise TrainConfigError(
                f"unknown {cls.kind} training setting {unknown[0]!r}: expected some of "
                f"kind, {', '.join(names)}"
            )
        config = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})
        config.check()
        return config

    def check(self) -> None:
        """Raise TrainConfigError on values no run can use."""
        bad = [f for f in self.families if f not in FAMILY_SPECS]
        if bad:
            raise TrainConfigError(f"family {bad[0]!r} is not a CIR family")
        if self.steps < 1:
            raise TrainConfigError(f"steps {self.steps}: expected >= 1")
        for field in ("eval_every", "checkpoint_every", "log_every"):
            if getattr(self, field) < 1:
                raise TrainConfigError(f"{field} {getattr(self, field)}: expected >= 1")


@dataclass(frozen=True)
class EncoderTrainConfig(BaseTrainConfig):
    """The shared encoder: single-note pairs + mixes with their canonical notes."""

    kind: ClassVar[str] = "encoder"

    mixes: int = 8
    mix_seconds: float = defaults.QUERY_WINDOW_SECONDS
    channels: tuple[int, ...] = (16, 32, 64, 128)
    dim: int = 128
    # Single-note crops start at the onset; their length is drawn per step among these few
    # values (every new input shape costs oneDNN a second of set-up on CPU).
    crop_seconds: tuple[float, ...] = (1.0, 1.25, 1.5)
    pair_presets: int = 16
    hard_fraction: float = 0.5
    mix_weight: float = 1.0
    loss: str = "triplet-full"
    margin: float = TRIPLET_MARGIN

    def check(self) -> None:
        from cir.training.losses import LOSSES

        super().check()
        if self.loss not in LOSSES:
            raise TrainConfigError(f"loss {self.loss!r}: expected one of {', '.join(LOSSES)}")
        if self.pair_presets < 2:
            raise TrainConfigError(f"pair_presets {self.pair_presets}: expected >= 2")


@dataclass(frozen=True)
class HeadsTrainConfig(BaseTrainConfig):
    """Per-family mix heads distilled towards a frozen catalogue encoder (cir.training.heads)."""

    kind: ClassVar[str] = "mix-heads"

    name: str = defaults.ENCODER_HEADS_WEIGHTS_NAME
    mixes: int = 8
    mix_seconds: float = defaults.QUERY_WINDOW_SECONDS
    # Checkpoint of the catalogue-side encoder; a relative path names a file of the encoder
    # package (e.g. "weights/cir-cnn.pt").
    frozen_encoder: str = ""
    solo_fraction: float = 0.0  # share of training mixes that play one family only
    regression_weight: float = 0.0  # weight of the 1 - cos(head, target) term

    def check(self) -> None:
        super().check()
        if not self.frozen_encoder:
            raise TrainConfigError(
                "kind 'mix-heads' needs frozen_encoder: the catalogue encoder's checkpoint, "
                "e.g. weights/cir-cnn.pt"
            )


@dataclass(frozen=True)
class StemTrainConfig(BaseTrainConfig):
    """What the two kinds trained on engine-rendered line stems share (line-encoder,
    family-heads): the line library, extra SoundFonts, speed settings."""

    families: tuple[str, ...] = FAMILIES
    # Lines rendered per TRAIN preset, each uniform in line_seconds long; each stem at a
    # random level in gain_db.
    lines_per_preset: int = TRAIN_LINES_PER_PRESET
    line_seconds: tuple[float, float] = TRAIN_LINE_SECONDS
    gain_db: tuple[float, float] = TRAIN_GAIN_DB
    # Every preset of these SoundFonts joins TRAIN (recorded instruments beside the synth
    # bank; never the gm benchmarks' FluidR3_GM), drawn together `soundfont_share` of the
    # time within a family (0: as often as any bank preset).
    soundfonts: tuple[str, ...] = ()
    soundfont_share: float = 0.0
    # Speed: bf16 autocast of the trunk (projection, normalisation and loss stay fp32),
    # channels_last, batches made in a background thread.
    bf16: bool = True
    channels_last: bool = True
    prefetch: int = 2
    valid_mixes: int = VALID_MIX_COUNT

    def check(self) -> None:
        super().check()
        if not 0.0 <= self.soundfont_share < 1.0:
            raise TrainConfigError(
                f"soundfont_share {self.soundfont_share}: expected 0 <= share < 1"
            )
        if self.soundfont_share and not self.soundfonts:
            raise TrainConfigError("soundfont_share is set but soundfonts lists no SoundFont")


@dataclass(frozen=True)
class LineEncoderTrainConfig(StemTrainConfig):
    """The catalogue encoder that reads lines (cir.training.lines): a preset's engine-rendered
    lines are positives of its notes. Loss = InfoNCE line->note + note->line + note->note."""

    kind: ClassVar[str] = "line-encoder"

    # Start from this encoder checkpoint (relative: a file of the encoder package, e.g.
    # "weights/cir-cnn.pt"); "" = from scratch with `channels` and `dim`.
    init_encoder: str = ""
    channels: tuple[int, ...] = (16, 32, 64, 128)
    dim: int = 128
    # Batches: `presets` presets (hard_fraction of them from one family), each with
    # `batch_notes` of its cached notes and one of its engine-rendered lines.
    presets: int = 32
    hard_fraction: float = 0.5
    batch_notes: int = 2
    crop_seconds: tuple[float, ...] = (1.0, 1.25, 1.5)
    # A batch crops lines to one of line_crop_seconds (a few shapes: each new one costs oneDNN
    # set-up).
    line_crop_seconds: tuple[float, ...] = (3.0, 4.0, 5.0, 6.0)
    # Loss weights of the three InfoNCE directions.
    line_to_note: float = 1.0
    note_to_line: float = 1.0
    note_to_note: float = 1.0
    compile: bool = False  # torch.compile of the trunk

    def check(self) -> None:
        super().check()
        if self.presets < 2 or self.batch_notes < 1:
            raise TrainConfigError(
                f"presets {self.presets}, batch_notes {self.batch_notes}: expected >= 2 and >= 1"
            )
        if self.batch_notes > self.notes_per_preset:
            raise TrainConfigError(
                f"batch_notes {self.batch_notes} > notes_per_preset {self.notes_per_preset}"
            )


@dataclass(frozen=True)
class FamilyHeadsTrainConfig(StemTrainConfig):
    """Per-family heads + a presence head over a frozen (line-aware) catalogue encoder, trained
    on power-summed mixes of engine-rendered line stems (cir.training.family_heads)."""

    kind: ClassVar[str] = "family-heads"

    name: str = defaults.ENCODER_HEADS_WEIGHTS_NAME
    # Checkpoint of the frozen catalogue encoder (relative: a file of the encoder package).
    frozen_encoder: str = ""
    # Start the heads (trunk, pooling, heads, presence) from this heads checkpoint, e.g.
    # "weights/cir-line-heads-attn.pt" (same families and pooling); "" = from the frozen encoder.
    init_heads: str = ""
    # Mixes per step; each plays 1..max_parts families (any subset, uniform in the count).
    mixes: int = 32
    parts: tuple[int, int] = (1, 5)
    # The lines (the library the encoder run uses) are cropped to one of crop_seconds per step.
    crop_seconds: tuple[float, ...] = (3.0, 4.0, 5.0, 6.0, 8.0)
    regression_weight: float = 0.5  # weight of the 1 - cos(head, target) term
    presence_weight: float = 1.0  # weight of the presence BCE
    shared_row: bool = False  # serve the frozen encoder's vector beside each head's (max)
    attention: bool = False  # per-family attention pooling over time (encoder.mix_heads)
    # Items of a batch that are one TRAIN preset's single note alone (one of its catalogue
    # reference clips, silence after it), as a one-shot query is; 0 = lines and mixes only.
    note_share: float = 0.0
    # A solo logit (one instrument alone: a note or a line) beside the presence logits,
    # trained with the presence BCE at presence_weight (encoder.mix_heads.HeadsConfig.solo).
    solo: bool = False
    # Mixes given a producer's bus in the log-mel power domain (training.family_heads.bus_mel:
    # a reverb tail and level compression), at random strength; 0 = clean mixes only.
    bus_share: float = 0.0

    def check(self) -> None:
        super().check()
        for name in ("note_share", "bus_share"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise TrainConfigError(f"{name} {value}: expected 0 <= {name} < 1")
        if not self.frozen_encoder:
            raise TrainConfigError(
                "kind 'family-heads' needs frozen_encoder: the catalogue encoder's checkpoint"
            )
        lo, hi = self.parts
        if not 1 <= lo <= hi <= len(self.families):
            raise TrainConfigError(
                f"parts {list(self.parts)}: expected 1 <= low <= high <= {len(self.families)}"
            )


CONFIG_TYPES: dict[str, type[BaseTrainConfig]] = {
    c.kind: c for c in (EncoderTrainConfig, HeadsTrainConfig, LineEncoderTrainConfig,
                        FamilyHeadsTrainConfig)
}


def config_from_dict(raw: dict[str, Any]) -> BaseTrainConfig:
    """The config of the kind `raw` names ("encoder" when it names none)."""
    kind = raw.get("kind", EncoderTrainConfig.kind)
    if kind not in CONFIG_TYPES:
        raise TrainConfigError(f"kind {kind!r}: expected one of {', '.join(CONFIG_TYPES)}")
    return CONFIG_TYPES[kind].from_dict(raw)


def load_config(path: str | Path) -> BaseTrainConfig:
    """Read a JSON training config of any kind."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except OSError as exc:
        raise TrainConfigError(f"cannot read training config {path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise TrainConfigError(f"training config {path} is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise TrainConfigError(f"training config {path}: expected a JSON object")
    return config_from_dict(raw)
