"""Per-family query heads for mixtures: the model and its checkpoints (runtime side).

After Kim et al. (ICASSP 2023, "Show Me the Instruments"): one embedding of a three-part mix
cannot sit near three different references, so the mix side gets one head per family.

    catalogue side  a TimbreEncoder, FROZEN: catalogue vectors and single-note queries are
                    its own (no catalogue rebuild when the heads change)
    query side      mix log-mel -> trunk -> pooled -> head_f -> unit vector, per family f

Training lives in cir.training.heads. Checkpoints hold both parts, each with its config and
version; the version of the vector space stays the catalogue encoder's (`version`), the
heads' is `query_version`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from cir.encoder.model import (
    FEATURES_VERSION,
    CheckpointError,
    EncoderConfig,
    TimbreEncoder,
    read_checkpoint,
    weights_digest,
    write_payload,
)

HEADS_FORMAT = "cir-mix-heads"
# Bump when the layout of a heads checkpoint or what its state dicts mean changes.
HEADS_VERSION = 1
# Hidden width of the presence head (pooled trunk features -> hidden -> one logit per family).
PRESENCE_HIDDEN = 128


def _slot(family: str) -> str:
    """The ModuleDict key of a family's head: "keys" is a ModuleDict method, so it gets a
    trailing underscore (the other families keep their names: older checkpoints load)."""
    return f"{family}_" if hasattr(nn.ModuleDict, family) else family


@dataclass(frozen=True)
class HeadsConfig:
    """Constructor arguments of `MixHeadsEncoder`; checkpoints store them."""

    trunk: EncoderConfig
    families: tuple[str, ...]
    name: str = "cir-cnn-heads"
    # A presence head: one logit per family, "is this family heard in the query?"
    presence: bool = False
    # Queries also get the frozen encoder's shared vector as a second row (max fusion): right
    # for heads trained on mixes only; heads trained on solo lines too answer those alone.
    shared_row: bool = True
    # Per-family attention pooling over time: each family weighs the frames where it is heard
    # (the bass under a kick, the lead between hits) instead of the plain mean.
    attention: bool = False
    # A solo logit after the presence logits: "is this one instrument alone?" (a one-shot, a
    # line, a chord). A solo is read by the catalogue encoder (its vector transfers to other
    # synths' sounds); a mixture by the heads (HeadsEmbedder.read).
    solo: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"trunk": self.trunk.to_dict(), "families": list(self.families), "name": self.name,
                "presence": self.presence, "shared_row": self.shared_row,
                "attention": self.attention, "solo": self.solo}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HeadsConfig:
        # Older checkpoints lack the later keys: they get the behaviour of their time.
        return cls(EncoderConfig.from_dict(d["trunk"]), tuple(d["families"]), d["name"],
                   bool(d.get("presence", False)), bool(d.get("shared_row", True)),
                   bool(d.get("attention", False)), bool(d.get("solo", False)))


class MixHeadsEncoder(nn.Module):
    """Log-mel of a mix -> {family: (B, dim) unit vectors}, one projection head per family."""

    def __init__(self, config: HeadsConfig):
        super().__init__()
        self.config = config
        self.trunk = TimbreEncoder(config.trunk)
        template = self.trunk.head
        self.trunk.head = nn.Identity()  # the trunk's own projection is replaced by the heads
        self.heads = nn.ModuleDict({_slot(f): copy.deepcopy(template) for f in config.families})
        self.attend: nn.ModuleDict | None = None
        if config.attention:
            # Zero weights: uniform attention, so each head starts exactly as mean pooling.
            frame_width = template[0].in_features // 2
            self.attend = nn.ModuleDict(
                {_slot(f): nn.Linear(frame_width, 1) for f in config.families})
            for layer in self.attend.values():
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)
        self.presence: nn.Module | None = None
        if config.presence:
            width = template[0].in_features
            self.presence = nn.Sequential(
                nn.Linear(width, PRESENCE_HIDDEN), nn.ReLU(inplace=True),
                nn.Linear(PRESENCE_HIDDEN, len(config.families) + int(config.solo)),
            )

    @classmethod
    def from_encoder(
        cls, encoder: TimbreEncoder, families: tuple[str, ...], name: str,
        presence: bool = False, shared_row: bool = True, attention: bool = False,
        solo: bool = False,
    ) -> MixHeadsEncoder:
        """Trunk and every head start as copies of `encoder`: at step 0 each head_f(mix) is the
        frozen encoder's single mix embedding (the shipped behaviour), then they specialise."""
        model = cls(HeadsConfig(encoder.config, tuple(families), name, presence, shared_row,
                                attention, solo))
        state = encoder.state_dict()
        model.trunk.load_state_dict({k: v for k, v in state.items() if not k.startswith("head.")})
        head = {k[len("head.") :]: v for k, v in state.items() if k.startswith("head.")}
        for module in model.heads.values():
            module.load_state_dict(head)
        return model

    def head(self, family: str) -> nn.Module:
        """The projection head of `family`."""
        return self.heads[_slot(family)]

    def pool(
        self, frames: torch.Tensor, families: tuple[str, ...] | None = None
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """(B, C*R, T') trunk frames -> ({family: (B, 2*C*R) its heads' input}, (B, 2*C*R)
        shared mean+max pooling, the presence head's input)."""
        mean, peak = frames.mean(-1), frames.amax(-1)
        shared = torch.cat([mean, peak], dim=1)
        families = families or self.config.families
        if self.attend is None:
            return {f: shared for f in families}, shared
        per = {}
        for f in families:
            weights = torch.softmax(self.attend[_slot(f)](frames.transpose(1, 2)), dim=1)
            per[f] = torch.cat([(frames * weights.transpose(1, 2)).sum(-1), peak], dim=1)
        return per, shared

    def forward_features(
        self, mel: torch.Tensor, families: tuple[str, ...] | None = None
    ) -> dict[str, torch.Tensor]:
        """(B, M, T) log-mel -> {family: (B, dim) unit vectors} for `families` (default all)."""
        return self.read_features(mel, families)[0]

    def read_features(
        self, mel: torch.Tensor, families: tuple[str, ...] | None = None
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
        """One trunk pass: ({family: (B, dim) unit vectors}, (B, len(config.families))
        presence logits, then the solo logit when config.solo (split_logits parts them), or
        None without a presence head)."""
        per, shared = self.pool(self.trunk.frame_features(mel), families)
        vectors = {f: F.normalize(self.head(f)(x), dim=-1) for f, x in per.items()}
        return vectors, None if self.presence is None else self.presence(shared)

    def split_logits(
        self, logits: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, F) presence logits and (B,) solo logits (None without a solo output)."""
        families = len(self.config.families)
        return logits[:, :families], logits[:, families] if self.config.solo else None

    def forward(self, audio: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.forward_features(self.trunk.logmel(audio))


# --- checkpoints ---------------------------------------------------------------------------------


def heads_version(model: MixHeadsEncoder) -> str:
    return f"{model.config.name}-{weights_digest(model)}"


def save_heads(
    path: str | Path,
    model: MixHeadsEncoder,
    catalogue: TimbreEncoder,
    catalogue_version: str,
    extra: dict[str, Any] | None = None,
) -> str:
    """Write both parts (configs, versions, weights) + `extra`; return the heads' version."""
    version = heads_version(model)
    payload = {
        "format": HEADS_FORMAT,
        "format_version": HEADS_VERSION,
        "features_version": FEATURES_VERSION,
        "catalogue": {
            "config": catalogue.config.to_dict(),
            "version": catalogue_version,
            "state_dict": catalogue.state_dict(),
        },
        "query": {"config": model.config.to_dict(), "version": version,
                  "state_dict": model.state_dict()},
        **(extra or {}),
    }
    write_payload(path, payload)
    return version


def checkpoint_format(path: str | Path) -> str | None:
    """The `format` field of a checkpoint file (None when unreadable): picks its loader."""
    try:
        payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception:  # torch raises many types for a damaged file; the loader reports it
        return None
    return payload.get("format") if isinstance(payload, dict) else None


def read_heads(path: str | Path) -> dict[str, Any]:
    """A heads checkpoint dict, its format and versions checked, or CheckpointError."""
    return read_checkpoint(path, HEADS_FORMAT, HEADS_VERSION, "mix-heads")


def load_heads(path: str | Path) -> tuple[TimbreEncoder, str, MixHeadsEncoder, str]:
    """(catalogue encoder, its version, heads model, heads version), both in eval mode."""
    payload = read_heads(path)
    cat, query = payload["catalogue"], payload["query"]
    catalogue = TimbreEncoder(EncoderConfig.from_dict(cat["config"]))
    model = MixHeadsEncoder(HeadsConfig.from_dict(query["config"]))
    if model.config.trunk.features != catalogue.config.features:
        raise CheckpointError(
            f"checkpoint {path}: the heads' features differ from the catalogue encoder's; "
            "re-train the heads on the catalogue encoder's features"
        )
    try:
        catalogue.load_state_dict(cat["state_dict"])
        model.load_state_dict(query["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {path} does not match its config: {exc}") from exc
    # A changed catalogue encoder changes the vector space the heads were trained for.
    if f"{catalogue.config.name}-{weights_digest(catalogue)}" != cat["version"]:
        raise CheckpointError(f"checkpoint {path}: catalogue weights do not match their version")
    return catalogue.eval(), cat["version"], model.eval(), query["version"]
