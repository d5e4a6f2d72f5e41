"""Per-family heads and a presence head over a frozen line-aware catalogue encoder.

    batch (step s: a pure function of (seed, s), made in a background thread)
      K mixes          each plays n ~ U{parts} families (any subset; n = 1 is a solo line),
                       one TRAIN preset per family and one of its engine-rendered lines,
                       cropped at random to one of crop_seconds, at a random level
                       (gain_db), summed in the power domain (mixes.power_sum)
    loss, family f     InfoNCE of head_f(mix) against the CATALOGUE vectors of every TRAIN
                       preset of f (the unit mean of its reference clips through the frozen
                       encoder, as the catalogue computes them) + regression_weight x
                       (1 - cos) to the positive, over the mixes where f plays
    presence           BCE of one logit per family (plays / does not), presence_weight x

Trunk and heads start as copies of the frozen encoder. VALID: the engine-rendered mixes of
data.valid_mixes (2-5 families, one pass over the whole 6 s mix) and their isolated stems,
each family ranked among its VALID presets' catalogue vectors; presence precision / recall
at defaults.PRESENCE_THRESHOLD.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from cir import defaults
from cir.encoder.features import FeatureConfig
from cir.encoder.mix_heads import HeadsConfig, MixHeadsEncoder, read_heads, save_heads
from cir.encoder.model import count_parameters
from cir.evaluation.harness import catalogue_vectors, embed_mels, rank_hits
from cir.training import data
from cir.training.config import FamilyHeadsTrainConfig, TrainConfigError
from cir.training.constants import MIX_PERCUSSION_BOOST
from cir.training.heads import heads_loss
from cir.training.lines import draw_gain
from cir.training.loop import (
    Job,
    Prefetcher,
    load_frozen,
    run_loop,
    start_run,
    torch_threads,
    weights_path,
)
from cir.training.mixes import item_rng, mix_peak, power_sum
from cir.training.streams import Stream


@dataclass
class HeadsData:
    lines: data.LineSet
    line_index: list[np.ndarray]  # per TRAIN source: its line indices
    by_family: dict[str, np.ndarray]  # family -> TRAIN source indices
    draw_p: dict[str, np.ndarray | None]  # family -> draw probabilities of by_family (None: even)
    train_refs: data.ReferenceSet  # catalogue clips of every TRAIN preset (the targets)
    valid_refs: data.ReferenceSet
    valid: data.ValidMixes
    features: FeatureConfig


def prepare_heads_data(config: FamilyHeadsTrainConfig, progress: bool = True) -> HeadsData:
    """Lines, TRAIN and VALID reference clips, VALID mixes: rendered once, then cached."""
    features = FeatureConfig(n_mels=config.n_mels)
    train, valid = data.run_sources(config.families, config.train_presets_per_family,
                                    config.valid_presets_per_family, config.soundfonts)
    kw = {"workers": config.workers, "progress": progress}
    lines = data.line_set(train, config.lines_per_preset, config.seed, features,
                          tuple(config.line_seconds), **kw)
    by_family = {f: np.asarray([i for i, s in enumerate(train) if s.family == f])
                 for f in config.families}
    from_font = data.from_soundfont(train)
    return HeadsData(
        lines=lines,
        line_index=lines.by_source(),
        by_family=by_family,
        draw_p={f: data.draw_weights(from_font[members], config.soundfont_share)
                for f, members in by_family.items()},
        train_refs=data.reference_set(train, features, **kw),
        valid_refs=data.reference_set(valid, features, **kw),
        valid=data.valid_mixes(valid, config.valid_mixes, config.seed, features,
                               progress=progress),
        features=features,
    )


# --- batches -------------------------------------------------------------------------------------


@dataclass
class HeadsBatch:
    mixes: torch.Tensor  # (K, M, T)
    targets: dict[str, torch.Tensor]  # family -> (K,) index into the family's bank, -1 absent
    present: torch.Tensor  # (K, F) 1.0 where the family plays


def make_mix_batch(step: int, config: FamilyHeadsTrainConfig, hd: HeadsData) -> HeadsBatch:
    """The batch of `step`: a pure function of (seed, step) and the cached lines."""
    rng = item_rng(config.seed, step, stream=Stream.FAMILY_HEADS_BATCH)
    fc = hd.features
    floor = fc.log_floor
    families = list(config.families)
    frames = fc.frames(round(config.crop_seconds[
        int(rng.integers(len(config.crop_seconds)))] * fc.sample_rate))
    mixes, present = [], np.zeros((config.mixes, len(families)), np.float32)
    targets = {f: np.full(config.mixes, -1, np.int64) for f in families}
    for k in range(config.mixes):
        n = int(rng.integers(config.parts[0], config.parts[1] + 1))
        playing = sorted(int(i) for i in rng.choice(len(families), size=n, replace=False))
        parts, peaks = [], []
        for fi in playing:
            family = families[fi]
            weights = hd.draw_p[family]
            # Even draws keep the generator's old call: runs without SoundFonts see the
            # very batches they saw before soundfont_share existed.
            position = int(rng.integers(len(hd.by_family[family])) if weights is None
                           else rng.choice(len(weights), p=weights))
            source = int(hd.by_family[family][position])
            line = int(rng.choice(hd.line_index[source]))
            mel = hd.lines.line(line)
            start = int(rng.integers(0, max(mel.shape[1] - frames, 0) + 1))
            peak = float(hd.lines.peaks[line])
            gain = draw_gain(rng, peak, tuple(config.gain_db))
            if family == "percussion":
                gain *= MIX_PERCUSSION_BOOST  # as level_stems does
            parts.append((mel[:, start : start + frames], gain))
            peaks.append(gain * peak)
            targets[family][k] = position
            present[k, fi] = 1.0
        # The whole mix brought to RENDER_PEAK, as level_stems does (its peak estimated).
        norm = defaults.RENDER_PEAK / mix_peak(peaks) if max(peaks) > 0 else 1.0
        mixes.append(power_sum([(m, g * norm) for m, g in parts], floor, frames))
    return HeadsBatch(torch.from_numpy(np.stack(mixes)),
                      {f: torch.from_numpy(t) for f, t in targets.items()},
                      torch.from_numpy(present))


def presence_loss(logits: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits.float(), present)


# --- validation ----------------------------------------------------------------------------------


def presence_figures(scores: np.ndarray, truth: np.ndarray, threshold: float) -> dict[str, float]:
    """Precision and recall of `scores >= threshold` against boolean `truth` (same shape)."""
    said = scores >= threshold
    tp = float((said & truth).sum())
    return {"precision": tp / max(float(said.sum()), 1.0),
            "recall": tp / max(float(truth.sum()), 1.0)}


@torch.no_grad()
def read_mels(model: MixHeadsEncoder, mels: np.ndarray, batch: int = 32
              ) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """({family: (N, dim)}, (N, F) presence probabilities or None) of (N, M, T) log-mels."""
    vectors: dict[str, list[np.ndarray]] = {f: [] for f in model.config.families}
    presence: list[np.ndarray] = []
    for i in range(0, len(mels), batch):
        x = torch.from_numpy(np.asarray(mels[i : i + batch], np.float32))
        per, logits = model.read_features(x)
        for f, v in per.items():
            vectors[f].append(v.float().numpy())
        if logits is not None:
            presence.append(torch.sigmoid(logits.float()).numpy())
    return ({f: np.concatenate(v) for f, v in vectors.items()},
            np.concatenate(presence) if presence else None)


def _family_top(queries: dict[str, np.ndarray], rows_of: np.ndarray, v: data.ValidMixes,
                catalogue: np.ndarray, cat_families: np.ndarray, prefix: str,
                out: dict[str, float]) -> None:
    """Rank each stem's family query (row rows_of[stem] of that family's vectors) among the
    family's catalogue entries; {prefix}_{family}_top1 and the family means."""
    top1, top5 = [], []
    for family in sorted(set(v.stem_family.tolist())):
        stems = np.flatnonzero(v.stem_family == family)
        members = np.flatnonzero(cat_families == family)
        target = np.searchsorted(members, v.stem_source[stems])
        hits = rank_hits(queries[family][rows_of[stems]], catalogue[members], target)
        out[f"{prefix}_{family}_top1"] = hits[1].mean()
        top1.append(hits[1].mean())
        top5.append(hits[5].mean())
    out[f"{prefix}_top1"], out[f"{prefix}_top5"] = np.mean(top1), np.mean(top5)


@torch.no_grad()
def validate_family_heads(
    model: MixHeadsEncoder, hd: HeadsData, catalogue: np.ndarray, shared_mix: np.ndarray
) -> dict[str, float]:
    """VALID mixes (one pass) and isolated stems through the heads, per family against the
    VALID catalogue vectors; the mixes also with max fusion of the shared vector; presence
    precision / recall over (mix, family) pairs. score = mix top-1 (heads alone)."""
    model.eval()
    v = hd.valid
    families = list(model.config.families)
    cat_families = np.asarray([s.family for s in hd.valid_refs.sources])
    out: dict[str, float] = {}
    mix_vec, mix_presence = read_mels(model, v.mixes)
    _family_top(mix_vec, v.stem_mix, v, catalogue, cat_families, "mix", out)
    fused = {f: np.stack([mix_vec[f], shared_mix], axis=1) for f in families}
    _family_top(fused, v.stem_mix, v, catalogue, cat_families, "fused", out)
    stem_vec, stem_presence = read_mels(model, v.stems)
    _family_top(stem_vec, np.arange(len(v.stems)), v, catalogue, cat_families, "line", out)
    if mix_presence is not None:
        truth = np.zeros_like(mix_presence, dtype=bool)
        truth[v.stem_mix, [families.index(f) for f in v.stem_family]] = True
        fig = presence_figures(mix_presence, truth, defaults.PRESENCE_THRESHOLD)
        out["presence_precision"], out["presence_recall"] = fig["precision"], fig["recall"]
        assert stem_presence is not None
        solo = stem_presence[np.arange(len(v.stems)),
                             [families.index(f) for f in v.stem_family]]
        out["presence_solo_recall"] = float((solo >= defaults.PRESENCE_THRESHOLD).mean())
    out["score"] = out["mix_top1"]
    return {k: round(float(x), 4) for k, x in out.items()}


# --- the run -------------------------------------------------------------------------------------


def start_heads(model: MixHeadsEncoder, name: str) -> None:
    """Load the weights of heads checkpoint `name` into `model`; TrainConfigError when its
    families or pooling differ (their weights would not fit)."""
    state = read_heads(weights_path(name))["query"]
    start = HeadsConfig.from_dict(state["config"])
    mine = model.config
    if (start.families, start.attention) != (mine.families, mine.attention):
        raise TrainConfigError(
            f"init_heads {name} has families {list(start.families)} and attention "
            f"{start.attention}, the config {list(mine.families)} and {mine.attention}: "
            "start from heads of the same shape, or set init_heads to \"\""
        )
    model.load_state_dict(state["state_dict"])


def train_family_heads(
    config: FamilyHeadsTrainConfig, out_dir: str | Path, resume: bool = False,
    progress: bool = True, stop_at: int | None = None,
) -> dict[str, Any]:
    """Run (or resume) a family-heads run in `out_dir`; same outputs as the other kinds."""
    out = start_run(out_dir, config, resume)
    with torch_threads(config.threads):
        t0 = time.time()
        hd = prepare_heads_data(config, progress)
        frozen, frozen_version = load_frozen(config, hd.features)
        train_cat = catalogue_vectors(frozen, hd.train_refs)
        banks = {f: torch.from_numpy(train_cat[hd.by_family[f]]) for f in config.families}
        valid_cat = catalogue_vectors(frozen, hd.valid_refs)
        shared_mix = embed_mels(frozen, hd.valid.mixes)
        data_seconds = time.time() - t0

        torch.manual_seed(config.seed)
        model = MixHeadsEncoder.from_encoder(frozen, tuple(config.families), config.name,
                                             presence=True, shared_row=config.shared_row,
                                             attention=config.attention)
        if config.init_heads:
            start_heads(model, config.init_heads)
        if config.channels_last:
            model = model.to(memory_format=torch.channels_last)
        batches = Prefetcher(lambda s: make_mix_batch(s, config, hd), config.steps,
                             config.prefetch)

        def step_loss(step: int) -> tuple[torch.Tensor, dict[str, float]]:
            batch = batches.get(step)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.bf16):
                frames = model.trunk.frame_features(batch.mixes)
            # Pooling, heads, presence, normalisation and loss in fp32.
            per, shared = model.pool(frames.float(), tuple(config.families))
            emb = {f: F.normalize(model.head(f)(x), dim=-1) for f, x in per.items()}
            assert model.presence is not None
            match = heads_loss(emb, batch.targets, banks, config.temperature,
                               config.regression_weight)
            seen = presence_loss(model.presence(shared), batch.present)
            return match + config.presence_weight * seen, {
                "match": round(float(match.detach()), 4),
                "presence": round(float(seen.detach()), 4)}

        def restore(path: Path) -> dict[str, Any]:
            state = read_heads(path)
            model.load_state_dict(state["query"]["state_dict"])
            return state

        job = Job(
            model=model,
            step_loss=step_loss,
            validate=lambda: validate_family_heads(model, hd, valid_cat, shared_mix),
            save=lambda path, extra: save_heads(path, model, frozen, frozen_version, extra),
            restore=restore,
            label="training family heads",
            start_record={"params": count_parameters(model),
                          "data_seconds": round(data_seconds, 1), "frozen": frozen_version,
                          "train_presets": len(hd.train_refs.sources), "lines": len(hd.lines),
                          "valid_mixes": len(hd.valid.mixes)},
        )
        summary = run_loop(config, out, job, resume, progress, stop_at)
    return {**summary, "data_seconds": round(data_seconds, 1), "params": count_parameters(model)}
