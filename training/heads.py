"""Training of the per-family mix heads (cir.encoder.mix_heads), towards a frozen encoder.

    loss, per family f   InfoNCE of head_f(mix) against the frozen canonical-note embeddings
                         of ALL training presets of family f (the positive: the mix's f
                         stem), plus optionally regression_weight x (1 - cos) to that positive

Trunk and heads start as copies of the frozen encoder. Data (cached notes, mixes laid out on
the fly, VALID mixes) comes from cir.training.train; the loop is cir.training.loop's.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from cir.encoder.embed import unit_mean
from cir.encoder.mix_heads import MixHeadsEncoder, load_heads, read_heads, save_heads
from cir.encoder.model import count_parameters
from cir.evaluation.harness import embed_mels, embed_references, rank_hits
from cir.training.config import HeadsTrainConfig
from cir.training.loop import Job, load_frozen, run_loop, start_run, torch_threads
from cir.training.mixes import item_rng
from cir.training.streams import Stream
from cir.training.train import TrainData, draw_mix
from cir.training.train import prepare_data as prepare_train_data

# --- export --------------------------------------------------------------------------------------


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
    step: int, config: HeadsTrainConfig, td: TrainData
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(mixes (K, M, T), {family: (K,) target index into the family's bank, -1 if absent}).
    A pure function of (seed, step) and the cached data; `solo_fraction` of the mixes play one
    family alone (the heads then also serve solo queries)."""
    rng = item_rng(config.seed, step, stream=Stream.HEADS_BATCH)
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
            per_family[f].append(unit_mean(v.numpy()))
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


def train_heads(
    config: HeadsTrainConfig, out_dir: str | Path, resume: bool = False, progress: bool = True,
    stop_at: int | None = None,
) -> dict[str, Any]:
    """Run (or resume) a mix-heads run in `out_dir`; same outputs as cir.training.train.train."""
    out = start_run(out_dir, config, resume)
    with torch_threads(config.threads):
        t0 = time.time()
        td = prepare_train_data(config, progress)
        frozen, frozen_version = load_frozen(config, td.features)
        # Frozen targets, computed once: every training preset's canonical note, per family.
        def embed(mels: np.ndarray) -> np.ndarray:
            return embed_mels(frozen, mels)

        canon = embed_references(embed, [c[None] for c in td.canonical])
        banks = {f: torch.from_numpy(canon[td.by_family[f]]) for f in config.families}
        valid_catalogue = embed_references(embed, td.valid_refs.mels)
        data_seconds = time.time() - t0

        torch.manual_seed(config.seed)
        model = MixHeadsEncoder.from_encoder(frozen, tuple(config.families), config.name)

        def step_loss(step: int) -> tuple[torch.Tensor, dict[str, float]]:
            x, targets = make_heads_batch(step, config, td)
            emb = model.forward_features(x)
            return heads_loss(emb, targets, banks, config.temperature,
                              config.regression_weight), {}

        def restore(path: Path) -> dict[str, Any]:
            state = read_heads(path)
            model.load_state_dict(state["query"]["state_dict"])
            return state

        job = Job(
            model=model,
            step_loss=step_loss,
            validate=lambda: validate_heads(model, td, valid_catalogue),
            save=lambda path, extra: save_heads(path, model, frozen, frozen_version, extra),
            restore=restore,
            label="training mix heads",
            start_record={"params": count_parameters(model),
                          "data_seconds": round(data_seconds, 1), "frozen": frozen_version},
        )
        summary = run_loop(config, out, job, resume, progress, stop_at)
    return {**summary, "data_seconds": round(data_seconds, 1), "params": count_parameters(model)}
