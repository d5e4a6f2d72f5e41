"""Training: one readable loop over batches of single-note pairs and mixes.

    batch (step s, drawn from a generator seeded by (seed, s): resuming replays the same data)
      P presets x 2 notes   half of them from one family (hard negatives), the rest anywhere
      K mixes               one preset per family, laid out from cached notes (mixes.mix_mels),
                            each with its presets' canonical notes (the catalogue's clips)
    loss = contrastive(notes) + mix_weight * contrastive(notes <-> mixes)
    AdamW, linear warm-up then cosine decay; every `eval_every` steps the VALID presets are
    ranked (single notes and rendered mixes) and the best checkpoint by that score is kept.

Outputs in the run folder: last.pt (resumable: model, optimiser, step), best.pt, train.log
(one JSON line per log step / evaluation) and config.json.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cir import defaults
from cir.encoder.embed import unit_mean
from cir.encoder.features import FeatureConfig
from cir.encoder.model import (
    EncoderConfig,
    TimbreEncoder,
    count_parameters,
    read_checkpoint,
    save_checkpoint,
)
from cir.evaluation.harness import catalogue_vectors, embed_mels, rank_hits
from cir.training import data
from cir.training.config import (
    BaseTrainConfig,
    EncoderTrainConfig,
    TrainConfigError,
    load_config,
)
from cir.training.loop import Job, run_loop, start_run, torch_threads
from cir.training.losses import LOSSES, relation_masks
from cir.training.mixes import item_rng, mix_mels, plan_mix, render_mix
from cir.training.streams import Stream

__all__ = ["EncoderTrainConfig", "TrainConfigError", "load_config", "prepare_data", "train"]

# --- data ----------------------------------------------------------------------------------------


@dataclass
class TrainData:
    notes: data.NoteSet
    note_index: list[np.ndarray]  # per source: its note indices
    canonical: list[np.ndarray]  # per source: (M, T) float16 canonical clip
    by_family: dict[str, np.ndarray]  # family -> source indices
    valid_refs: data.ReferenceSet
    valid_notes: data.NoteSet
    valid_mixes: list[tuple[np.ndarray, dict[str, int]]]  # (windows (W, M, T), family -> ref index)
    features: FeatureConfig


def prepare_data(config: BaseTrainConfig, progress: bool = True) -> TrainData:
    """Render (or read from the cache dir) everything a run needs."""
    features = FeatureConfig(n_mels=config.n_mels)
    train, valid = data.run_sources(config.families, config.train_presets_per_family,
                                    config.valid_presets_per_family)
    kw = {"workers": config.workers, "progress": progress}
    notes = data.note_set(
        train, config.notes_per_preset, config.note_seconds, config.seed, features, **kw
    )
    canon = data.reference_set(train, features, canonical_only=True, **kw)
    valid_refs = data.reference_set(valid, features, **kw)
    valid_notes = data.note_set(
        valid, config.valid_notes_per_preset, config.note_seconds, config.seed + 1, features, **kw
    )
    by_family = {
        f: np.asarray([i for i, s in enumerate(train) if s.family == f]) for f in config.families
    }
    return TrainData(
        notes=notes,
        note_index=notes.by_source(),
        canonical=[m[0] for m in canon.mels],
        by_family=by_family,
        valid_refs=valid_refs,
        valid_notes=valid_notes,
        valid_mixes=_valid_mixes(valid, config, features),
        features=features,
    )


def _valid_mixes(
    valid: list[data.Source], config: BaseTrainConfig, features: FeatureConfig
) -> list[tuple[np.ndarray, dict[str, int]]]:
    """Mixes of VALID presets rendered by the engine (the benchmark's domain), as window mels."""
    from cir.encoder.embed import window_starts
    from cir.encoder.features import log_mel

    sr = features.sample_rate
    window, hop = round(defaults.QUERY_WINDOW_SECONDS * sr), round(defaults.QUERY_HOP_SECONDS * sr)
    by_family = {f: [i for i, s in enumerate(valid) if s.family == f] for f in config.families}
    out = []
    for q in range(config.valid_mixes):
        rng = item_rng(config.seed, q, stream=Stream.ENCODER_VALID)
        chosen = {f: int(rng.choice(idx)) for f, idx in by_family.items()}
        instruments = {f: data.make_instrument(valid[i]) for f, i in chosen.items()}
        mix, _, _ = render_mix(instruments, config.seed, defaults.MIX_SECONDS, sr, index=q,
                               stream=Stream.ENCODER_VALID_PLAN)
        wins = [mix[s : s + window] for s in window_starts(len(mix), window, hop)]
        out.append((np.stack([log_mel(w, features).numpy() for w in wins]), chosen))
    return out


def feature_stats(notes: data.NoteSet, count: int = 2000) -> tuple[float, float]:
    """One global mean/std of the training log-mel (a fixed subset: deterministic)."""
    idx = np.linspace(0, len(notes.mels) - 1, min(count, len(notes.mels))).astype(int)
    x = notes.mels[idx].astype(np.float64)
    return float(x.mean()), float(x.std())


@dataclass
class Batch:
    singles: torch.Tensor  # (2P + 3K, M, Tc): note pairs, then canonical stems
    mixes: torch.Tensor  # (K, M, Tm)
    presets: list[frozenset[int]]  # per row (singles then mixes)
    is_mix: list[bool]


def draw_mix(
    rng: np.random.Generator, chosen: dict[str, int], seconds: float, td: TrainData
) -> np.ndarray:
    """(M, T) log-mel of a mix laid out from cached notes: one line per family of `chosen`
    (family -> source index), each note the preset's cached note nearest the planned pitch."""
    fc = td.features
    plan = plan_mix(tuple(chosen), rng, seconds)

    def pick(family: str, note):
        idx = td.note_index[chosen[family]]
        gaps = np.abs(td.notes.pitches[idx].astype(int) - note.pitch)
        nearest = idx[gaps == gaps.min()]
        n = int(nearest[int(rng.integers(len(nearest)))])
        return td.notes.mels[n], float(td.notes.peaks[n])

    frames = fc.frames(round(seconds * fc.sample_rate))
    return mix_mels(plan, pick, frames, fc.hop / fc.sample_rate, fc.log_floor)


def make_batch(step: int, config: EncoderTrainConfig, td: TrainData) -> Batch:
    """The batch of `step`: a pure function of (seed, step) and the cached data."""
    rng = item_rng(config.seed, step, stream=Stream.ENCODER_BATCH)
    fc = td.features
    floor = fc.log_floor
    families = list(config.families)
    used: set[int] = set()

    def draw(pool: np.ndarray, n: int) -> list[int]:
        free = np.asarray([i for i in pool if int(i) not in used])
        picked = [int(i) for i in rng.choice(free, size=n, replace=False)]
        used.update(picked)
        return picked

    everyone = np.concatenate([td.by_family[f] for f in families])
    hard = families[int(rng.integers(len(families)))]
    n_hard = round(config.pair_presets * config.hard_fraction)
    pair_presets = draw(td.by_family[hard], n_hard) + draw(everyone, config.pair_presets - n_hard)
    mix_presets = [{f: draw(td.by_family[f], 1)[0] for f in families} for _ in range(config.mixes)]

    seconds = config.crop_seconds[int(rng.integers(len(config.crop_seconds)))]
    crop = fc.frames(round(seconds * fc.sample_rate))
    singles, presets = [], []
    for p in pair_presets:
        for n in rng.choice(td.note_index[p], size=2, replace=False):
            singles.append(data.fit_frames(td.notes.mels[n], crop, floor))
            presets.append(frozenset([p]))
    for chosen in mix_presets:
        for f in families:
            singles.append(data.fit_frames(td.canonical[chosen[f]], crop, floor))
            presets.append(frozenset([chosen[f]]))

    mixes = []
    for chosen in mix_presets:
        mixes.append(draw_mix(rng, chosen, config.mix_seconds, td))
        presets.append(frozenset(chosen.values()))
    is_mix = [False] * len(singles) + [True] * len(mixes)
    return Batch(
        torch.from_numpy(np.stack(singles).astype(np.float32)),
        torch.from_numpy(np.stack(mixes).astype(np.float32)),
        presets,
        is_mix,
    )


def batch_loss(
    model: TimbreEncoder, batch: Batch, config: EncoderTrainConfig
) -> tuple[torch.Tensor, dict]:
    """single-note loss + mix_weight x note<->mix loss (both directions: triplet-full)."""
    emb = torch.cat([model.embed_features(batch.singles), model.embed_features(batch.mixes)])
    pos, neg = relation_masks(batch.presets, batch.is_mix)
    loss_fn = LOSSES[config.loss]
    kwargs = (
        {"margin": config.margin}
        if config.loss == "triplet-full"
        else {"temperature": config.temperature}
    )
    is_mix = torch.tensor(batch.is_mix)
    cross = is_mix.view(-1, 1) ^ is_mix.view(1, -1)  # a note and a mix
    n = len(batch.singles)
    single = loss_fn(emb[:n], pos[:n, :n], neg[:n, :n], **kwargs)
    mix = loss_fn(emb, pos & cross, neg & cross, **kwargs)
    total = single + config.mix_weight * mix
    return total, {"single": round(float(single.detach()), 4), "mix": round(float(mix.detach()), 4)}


# --- validation ----------------------------------------------------------------------------------


@torch.no_grad()
def validate(model: TimbreEncoder, td: TrainData) -> dict[str, float]:
    """top-1/top-5 on VALID presets: single notes vs all references, mixes per family."""
    model.eval()
    refs = td.valid_refs
    catalogue = catalogue_vectors(model, refs)
    families = np.asarray([s.family for s in refs.sources])
    notes = td.valid_notes
    q = embed_mels(model, notes.mels)
    single = rank_hits(q, catalogue, np.asarray(notes.owners))
    out = {"single_top1": single[1].mean(), "single_top5": single[5].mean()}
    mix_top1, mix_top5 = [], []
    qs = []
    for windows, _ in td.valid_mixes:
        qs.append(unit_mean(embed_mels(model, windows)))
    queries = np.stack(qs)
    for family in sorted({f for _, chosen in td.valid_mixes for f in chosen}):
        members = np.flatnonzero(families == family)
        target = np.asarray(
            [np.searchsorted(members, chosen[family]) for _, chosen in td.valid_mixes]
        )
        hits = rank_hits(queries, catalogue[members], target)
        out[f"mix_{family}_top1"] = hits[1].mean()
        mix_top1.append(hits[1].mean())
        mix_top5.append(hits[5].mean())
    out["mix_top1"] = float(np.mean(mix_top1))
    out["mix_top5"] = float(np.mean(mix_top5))
    out["score"] = 0.5 * (out["single_top1"] + out["mix_top1"])
    model.train()
    return {k: round(float(v), 4) for k, v in out.items()}


# --- the loop ------------------------------------------------------------------------------------


def train(
    config: EncoderTrainConfig, out_dir: str | Path, resume: bool = False, progress: bool = True,
    stop_at: int | None = None,
) -> dict[str, Any]:
    """Run (or resume) an encoder run in `out_dir`; return a summary with the best metrics."""
    out = start_run(out_dir, config, resume)
    with torch_threads(config.threads):
        t0 = time.time()
        td = prepare_data(config, progress)
        data_seconds = time.time() - t0
        mean, std = feature_stats(td.notes)
        torch.manual_seed(config.seed)
        model = TimbreEncoder(
            EncoderConfig(td.features, tuple(config.channels), config.dim, mean, std, config.name)
        )

        def step_loss(step: int) -> tuple[torch.Tensor, dict[str, float]]:
            return batch_loss(model, make_batch(step, config, td), config)

        def restore(path: Path) -> dict[str, Any]:
            state = read_checkpoint(path)
            model.load_state_dict(state["state_dict"])
            return state

        job = Job(
            model=model,
            step_loss=step_loss,
            validate=lambda: validate(model, td),
            save=lambda path, extra: save_checkpoint(path, model, extra),
            restore=restore,
            start_record={"params": count_parameters(model), "data_seconds": round(data_seconds, 1),
                          "train_presets": len(td.notes.sources)},
        )
        summary = run_loop(config, out, job, resume, progress, stop_at)
    return {**summary, "data_seconds": round(data_seconds, 1), "params": count_parameters(model)}


def export_weights(checkpoint: str | Path, dest_dir: str | Path, name: str | None = None) -> Path:
    """Copy a run's best checkpoint, without optimiser state, as <name>.pt + <name>.json."""
    from cir.encoder.model import load_model

    state = read_checkpoint(checkpoint)
    model, _ = load_model(checkpoint)
    name = name or model.config.name
    dest = Path(dest_dir)
    version = save_checkpoint(
        dest / f"{name}.pt",
        model,
        {
            "step": state.get("step"),
            "metrics": state.get("metrics"),
            "train_config": state.get("train_config"),
        },
    )
    info = {
        "version": version,
        "step": state.get("step"),
        "valid_metrics": state.get("metrics"),
        "model": model.config.to_dict(),
        "train_config": state.get("train_config"),
    }
    (dest / f"{name}.json").write_text(json.dumps(info, indent=2) + "\n")
    return dest / f"{name}.pt"
