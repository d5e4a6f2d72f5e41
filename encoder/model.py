"""The timbre encoder: a compact 2-D CNN over log-mel, and its versioned checkpoints.

    audio (B, samples) -> log-mel (B, M, T) -> global mean/std -> strided stem + 2x2 max-pool
    -> conv blocks (pool 2x2 each) -> flatten (channels x remaining mel rows) per frame
    -> mean and max over time -> linear projection -> L2-normalised (B, dim)

Step speed matters more than width on CPUs (docs/DESIGN.md), hence the strided stem with an
early pool. Flattening the remaining mel rows keeps where in frequency the energy sits
(brightness is timbre), which a mean over frequency would discard.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from cir.encoder.features import FeatureConfig, LogMel
from cir.errors import CIRError

CHECKPOINT_FORMAT = "cir-encoder"
# Bump when the checkpoint layout or the model code changes what a state dict means.
CHECKPOINT_VERSION = 1
# Bump when encoder.features computes something different for the same FeatureConfig.
FEATURES_VERSION = 1


class CheckpointError(CIRError):
    """A checkpoint that is missing, malformed, or made for other code or features."""


@dataclass(frozen=True)
class EncoderConfig:
    """Constructor arguments of `TimbreEncoder`; checkpoints store them."""

    features: FeatureConfig = field(default_factory=FeatureConfig)
    channels: tuple[int, ...] = (24, 48, 96, 160)
    dim: int = 128
    # One global mean/std of the log-mel (not per clip: loudness and noise floor are timbre cues).
    feature_mean: float = 0.0
    feature_std: float = 1.0
    name: str = "cir-cnn"

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EncoderConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CheckpointError(
                f"encoder config has unknown field {unknown[0]!r}: expected {sorted(known)}; "
                "the checkpoint was made by another CIR version"
            )
        data = dict(data)
        if "features" in data:
            data["features"] = FeatureConfig(**data["features"])
        if "channels" in data:
            data["channels"] = tuple(data["channels"])
        return cls(**data)


def _conv_bn(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class TimbreEncoder(nn.Module):
    """Log-mel CNN -> (B, dim) unit vectors. `forward` takes audio; `embed_features` log-mel."""

    def __init__(self, config: EncoderConfig | None = None):
        super().__init__()
        self.config = c = config or EncoderConfig()
        self.logmel = LogMel(c.features)
        ch = c.channels
        # Stem: stride 2 then a 2x2 pool -> 1/4 resolution before any wide layer.
        self.stem = nn.Sequential(_conv_bn(1, ch[0], stride=2), nn.MaxPool2d(2))
        blocks = []
        for c_in, c_out in itertools.pairwise(ch):
            blocks.append(nn.Sequential(_conv_bn(c_in, c_out), _conv_bn(c_out, c_out)))
        self.blocks = nn.ModuleList(blocks)
        mel_rows = c.features.n_mels // 4 // 2 ** (len(ch) - 2)
        self.freq_rows = max(mel_rows, 1)
        width = ch[-1] * self.freq_rows
        self.head = nn.Sequential(
            nn.Linear(2 * width, 2 * c.dim), nn.ReLU(inplace=True), nn.Linear(2 * c.dim, c.dim)
        )

    def embed_features(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, M, T) log-mel -> (B, dim) unit vectors."""
        return F.normalize(self.head(self.pool_features(mel)), dim=-1)

    def pool_features(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, M, T) log-mel -> (B, 2*C*R) pooled trunk features (the projection's input)."""
        x = self.frame_features(mel)
        return torch.cat([x.mean(-1), x.amax(-1)], dim=1)  # (B, 2*C*R)

    def frame_features(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, M, T) log-mel -> (B, C*R, T') trunk features per frame, before time pooling."""
        c = self.config
        x = ((mel - c.feature_mean) / c.feature_std).unsqueeze(1)  # (B, 1, M, T)
        x = self.stem(x)  # (B, C0, M/4, T/4)
        for i, block in enumerate(self.blocks):
            x = block(x)
            # Pool all but the last block; never pool time below 1 frame (short clips).
            if i < len(self.blocks) - 1:
                x = F.max_pool2d(x, (2, 2 if x.shape[-1] >= 2 else 1))
        x = F.adaptive_avg_pool2d(x, (self.freq_rows, x.shape[-1]))  # (B, C, R, T')
        return x.flatten(1, 2)  # (B, C*R, T')

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, samples) audio at config.features.sample_rate -> (B, dim) unit vectors."""
        return self.embed_features(self.logmel(audio))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def weights_digest(model: nn.Module) -> str:
    """A short hash of the weights: part of the version every stored embedding records."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:12]


def save_checkpoint(
    path: str | Path, model: TimbreEncoder, extra: dict[str, Any] | None = None
) -> str:
    """Write model + config + versions (+ `extra`, e.g. optimiser state); return its version."""
    version = f"{model.config.name}-{weights_digest(model)}"
    payload = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "features_version": FEATURES_VERSION,
        "config": model.config.to_dict(),
        "version": version,
        "state_dict": model.state_dict(),
        **(extra or {}),
    }
    write_payload(path, payload)
    return version


def write_payload(path: str | Path, payload: dict[str, Any]) -> None:
    """torch.save `payload` to `path` atomically (every kind of checkpoint goes through here)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename: a crash mid-save never leaves a truncated checkpoint behind.
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(buffer.getvalue())
    tmp.replace(path)


def read_checkpoint(
    path: str | Path,
    fmt: str = CHECKPOINT_FORMAT,
    fmt_version: int = CHECKPOINT_VERSION,
    what: str = "encoder",
) -> dict[str, Any]:
    """Load a checkpoint dict and check its format and versions, or raise CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist: train one with `cir train`")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file
        raise CheckpointError(
            f"checkpoint {path} cannot be read ({exc}): re-train or re-copy it"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise CheckpointError(f"{path} is not a CIR {what} checkpoint (format {fmt!r})")
    for key, expected in (("format_version", fmt_version), ("features_version", FEATURES_VERSION)):
        if payload.get(key) != expected:
            raise CheckpointError(
                f"checkpoint {path} has {key} {payload.get(key)!r}, this code reads {expected}: "
                "re-train with `cir train` or use the CIR version that made it"
            )
    return payload


def load_model(
    path: str | Path, features: FeatureConfig | None = None
) -> tuple[TimbreEncoder, str]:
    """(model in eval mode, version) from a checkpoint; refuses other feature settings."""
    payload = read_checkpoint(path)
    config = EncoderConfig.from_dict(payload["config"])
    if features is not None and config.features != features:
        raise CheckpointError(
            f"checkpoint {path} was trained on features {config.features.to_dict()}, "
            f"expected {features.to_dict()}: re-train it or load it without a feature override"
        )
    model = TimbreEncoder(config)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {path} does not match its config: {exc}") from exc
    model.eval()
    return model, payload["version"]
