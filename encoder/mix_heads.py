"""Per-family query heads for mixtures, distilled towards a frozen single-note encoder.

After Kim et al. (ICASSP 2023, "Show Me the Instruments"): one embedding of a three-part mix
cannot sit near three different references, so the mix side gets one head per family.

    catalogue side  the shipped TimbreEncoder, FROZEN: catalogue vectors and single-note
                    queries are unchanged (no catalogue rebuild)
    query side      mix log-mel -> trunk (initialised from the frozen encoder's) -> pooled
                    -> head_f (initialised from the frozen projection) -> unit vector, per f
    loss, per f     InfoNCE of head_f(mix) against the frozen canonical-note embeddings of
                    ALL training presets of family f (the positive: the mix's f stem), plus
                    optionally regression_weight x (1 - cos) to that positive

The training loop reuses encoder.train's data (cached notes, mixes laid out on the fly) and
validation mixes. Checkpoints hold both parts, each with its config and version; the version
of the vector space stays the frozen encoder's (`version`), the heads' is `query_version`.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cir.encoder.evaluate import embed_mels, embed_references, rank_hits
from cir.encoder.mixes import item_rng
from cir.encoder.model import (
    FEATURES_VERSION,
    CheckpointError,
    EncoderConfig,
    TimbreEncoder,
    count_parameters,
    load_model,
    read_checkpoint,
    weights_digest,
    write_payload,
)
from cir.encoder.train import TrainConfig, TrainConfigError, TrainData, draw_mix, lr_factor
from cir.encoder.train import prepare_data as prepare_train_data

HEADS_FORMAT = "cir-mix-heads"
# Bump when the layout of a heads checkpoint or what its state dicts mean changes.
HEADS_VERSION = 1
_HEADS_STREAM = 7  # item_rng stream of the heads' batches (encoder.train uses 2 and 5)


@dataclass(frozen=True)
class HeadsConfig:
    """Constructor arguments of `MixHeadsEncoder`; checkpoints store them."""

    trunk: EncoderConfig
    families: tuple[str, ...]
    name: str = "cir-cnn-heads"

    def to_dict(self) -> dict[str, Any]:
        return {"trunk": self.trunk.to_dict(), "families": list(self.families), "name": self.name}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HeadsConfig:
        return cls(EncoderConfig.from_dict(d["trunk"]), tuple(d["families"]), d["name"])


class MixHeadsEncoder(nn.Module):
    """Log-mel of a mix -> {family: (B, dim) unit vectors}, one projection head per family."""

    def __init__(self, config: HeadsConfig):
        super().__init__()
        self.config = config
        self.trunk = TimbreEncoder(config.trunk)
        template = self.trunk.head
        self.trunk.head = nn.Identity()  # the trunk's own projection is replaced by the heads
        self.heads = nn.ModuleDict({f: copy.deepcopy(template) for f in config.families})

    @classmethod
    def from_encoder(
        cls, encoder: TimbreEncoder, families: tuple[str, ...], name: str
    ) -> MixHeadsEncoder:
        """Trunk and every head start as copies of `encoder`: at step 0 each head_f(mix) is the
        frozen encoder's single mix embedding (the shipped behaviour), then they specialise."""
        model = cls(HeadsConfig(encoder.config, tuple(families), name))
        state = encoder.state_dict()
        model.trunk.load_state_dict({k: v for k, v in state.items() if not k.startswith("head.")})
        head = {k[len("head.") :]: v for k, v in state.items() if k.startswith("head.")}
        for module in model.heads.values():
            module.load_state_dict(head)
        return model

    def forward_features(
        self, mel: torch.Tensor, families: tuple[str, ...] | None = None
    ) -> dict[str, torch.Tensor]:
        """(B, M, T) log-mel -> {family: (B, dim) unit vectors} for `families` (default all)."""
        pooled = self.trunk.pool_features(mel)
        return {
            f: F.normalize(self.heads[f](pooled), dim=-1) for f in families or self.config.families
        }

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


def export_heads(checkpoint: str | Path, dest_dir: str | Path, name: str) -> Path:
    """Copy a run's best heads checkpoint without optimiser state as <name>.pt + <name>.json."""
    state = read_heads(checkpoint)
    catalogue, cat_version, model, _ = load_heads(checkpoint)
    extra = {k: state.get(k) for k in ("step", "metrics", "train_config")}
    dest = Path(dest_dir)
    version = save_heads(dest / f"{name}.pt", model, catalogue, cat_version, extra)
    info = {"version": cat_version, "query_version": version, "step": state.get("step"),
            "valid_metrics": state.get("metrics"), "model": model.config.to_dict(),
            "train_config": state.get("train_config")}
    (dest / f"{name}.json").write_text(json.dumps(info, indent=2) + "\n")
    return dest / f"{name}.pt"


# --- loss ----------------------------------------------------------------------------------------


def heads_loss(
    embeddings: dict[str, torch.Tensor],
    targets: dict[str, torch.Tensor],
    banks: dict[str, torch.Tensor],
    temperature: float,
    regression_weight: float = 0.0,
) -> torch.Tensor:
    """Mean over families of InfoNCE(head_f rows vs bank_f; positive = target index) plus
    regression_weight x mean(1 - cos(head_f row, its positive)). Rows whose target is -1
    (the family is absent from that mix) are skipped."""
    losses = []
    for family, emb in embeddings.items():
        t = targets[family]
        keep = t >= 0
        if not bool(keep.any()):
            continue
        e, t, bank = emb[keep], t[keep], banks[family]
        loss = F.cross_entropy(e @ bank.T / temperature, t)
        if regression_weight:
            loss = loss + regression_weight * (1.0 - (e * bank[t]).sum(-1)).mean()
        losses.append(loss)
    return torch.stack(losses).mean()


# --- training ------------------------------------------------------------------------------------


def make_heads_batch(
    step: int, config: TrainConfig, td: TrainData
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(mixes (K, M, T), {family: (K,) target index into the family's bank, -1 if absent}).
    A pure function of (seed, step) and the cached data; `solo_fraction` of the mixes play one
    family alone (the heads then also serve solo queries)."""
    rng = item_rng(config.seed, step, stream=_HEADS_STREAM)
    families = list(config.families)
    mixes, targets = [], {f: [] for f in families}
    for _ in range(config.mixes):
        present = families
        if rng.random() < config.solo_fraction:
            present = [families[int(rng.integers(len(families)))]]
        positions = {f: int(rng.integers(len(td.by_family[f]))) for f in present}
        chosen = {f: int(td.by_family[f][p]) for f, p in positions.items()}
        mixes.append(draw_mix(rng, chosen, config.mix_seconds, td))
        for f in families:
            targets[f].append(positions.get(f, -1))
    x = torch.from_numpy(np.stack(mixes).astype(np.float32))
    return x, {f: torch.tensor(v) for f, v in targets.items()}


@torch.no_grad()
def validate_heads(
    model: MixHeadsEncoder, td: TrainData, catalogue: np.ndarray
) -> dict[str, float]:
    """Mix top-1/top-5 on VALID presets, per family against that family's references."""
    model.eval()
    families = np.asarray([s.family for s in td.valid_refs.sources])
    out, top1, top5 = {}, [], []
    per_family: dict[str, list[np.ndarray]] = {f: [] for f in model.config.families}
    for windows, _ in td.valid_mixes:
        x = torch.from_numpy(np.asarray(windows, np.float32))
        for f, v in model.forward_features(x).items():
            m = v.mean(0).numpy()
            per_family[f].append(m / np.linalg.norm(m))
    for f in sorted({f for _, chosen in td.valid_mixes for f in chosen}):
        members = np.flatnonzero(families == f)
        target = np.asarray([np.searchsorted(members, c[f]) for _, c in td.valid_mixes])
        hits = rank_hits(np.stack(per_family[f]), catalogue[members], target)
        out[f"mix_{f}_top1"] = hits[1].mean()
        top1.append(hits[1].mean())
        top5.append(hits[5].mean())
    out["mix_top1"], out["mix_top5"] = np.mean(top1), np.mean(top5)
    out["score"] = out["mix_top1"]
    model.train()
    return {k: round(float(v), 4) for k, v in out.items()}


def _frozen_path(config: TrainConfig) -> Path:
    path = Path(config.frozen_encoder)
    # Relative paths name files of the encoder package ('weights/cir-cnn.pt'): read only.
    return path if path.is_absolute() else Path(__file__).resolve().parent / path


def train_heads(
    config: TrainConfig, out_dir: str | Path, resume: bool = False, progress: bool = True
) -> dict[str, Any]:
    """Run (or resume) a mix-heads run in `out_dir`; same outputs as encoder.train.train."""
    previous = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)  # see encoder.train.train: shared cores
    try:
        return _train_heads(config, Path(out_dir), resume, progress)
    finally:
        torch.set_num_threads(previous)


def _log(path: Path, record: dict[str, Any]) -> None:
    with path.open("a") as f:
        f.write(json.dumps(record) + "\n")


def _train_heads(config: TrainConfig, out: Path, resume: bool, progress: bool) -> dict[str, Any]:
    from rich.progress import Progress

    out.mkdir(parents=True, exist_ok=True)
    last, best_path, log_path = out / "last.pt", out / "best.pt", out / "train.log"
    (out / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    t0 = time.time()
    frozen, frozen_version = load_model(_frozen_path(config))
    td = prepare_train_data(config, progress)
    if frozen.config.features != td.features:
        raise TrainConfigError(
            f"frozen encoder {config.frozen_encoder} uses features "
            f"{frozen.config.features.to_dict()}, the config {td.features.to_dict()}: "
            "set n_mels to the frozen encoder's"
        )
    # Frozen targets, computed once: every training preset's canonical note, per family.
    canon = embed_references(lambda m: embed_mels(frozen, m), [c[None] for c in td.canonical])
    banks = {f: torch.from_numpy(canon[td.by_family[f]]) for f in config.families}
    valid_catalogue = embed_references(lambda m: embed_mels(frozen, m), td.valid_refs.mels)
    data_seconds = time.time() - t0

    torch.manual_seed(config.seed)
    model = MixHeadsEncoder.from_encoder(frozen, tuple(config.families), config.name)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, config))
    start, best, elapsed = 0, None, 0.0
    if resume and last.is_file():
        state = read_heads(last)
        model.load_state_dict(state["query"]["state_dict"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        start, best, elapsed = state["step"], state.get("best"), state.get("elapsed", 0.0)
    elif not resume and log_path.exists():
        log_path.unlink()
    _log(log_path, {"event": "start", "step": start, "params": count_parameters(model),
                    "data_seconds": round(data_seconds, 1), "frozen": frozen_version})
    if start == 0:
        metrics = validate_heads(model, td, valid_catalogue)
        _log(log_path, {"event": "valid", "step": 0, **metrics})

    def save(path: Path, step: int, **extra: Any) -> None:
        save_heads(path, model, frozen, frozen_version,
                   {"step": step, "train_config": config.to_dict(), **extra})

    model.train()
    t_loop = time.time()
    with Progress(disable=not progress) as bar:
        task = bar.add_task("training mix heads", total=config.steps, completed=start)
        for step in range(start, config.steps):
            x, targets = make_heads_batch(step, config, td)
            loss = heads_loss(model.forward_features(x), targets, banks, config.temperature,
                              config.regression_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            opt.step()
            sched.step()
            done = step + 1
            if done % config.log_every == 0:
                _log(log_path, {"step": done, "lr": sched.get_last_lr()[0],
                                "loss": round(float(loss.detach()), 4),
                                "elapsed": round(elapsed + time.time() - t_loop, 1)})
            if done % config.eval_every == 0 or done == config.steps:
                metrics = validate_heads(model, td, valid_catalogue)
                _log(log_path, {"event": "valid", "step": done, **metrics})
                if best is None or metrics["score"] > best["score"]:
                    best = {"step": done, **metrics}
                    save(best_path, done, metrics=metrics)
            if done % config.checkpoint_every == 0 or done == config.steps:
                save(last, done, optimizer=opt.state_dict(), scheduler=sched.state_dict(),
                     best=best, elapsed=elapsed + time.time() - t_loop)
            bar.update(task, completed=done)
    summary = {"steps": config.steps, "train_seconds": round(elapsed + time.time() - t_loop, 1),
               "data_seconds": round(data_seconds, 1), "best": best, "out": str(out),
               "params": count_parameters(model)}
    _log(log_path, {"event": "done", **summary})
    return summary

