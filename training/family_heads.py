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
from scipy.signal import lfilter

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

# bus_mel: reverb decay time (s, to -60 dB) and send level; compressor threshold below the
# mix's loudest frame (dB) and ratio, drawn uniformly.
_BUS_DECAY_SECONDS = (0.4, 2.0)
_BUS_SEND = (0.05, 0.3)
_BUS_THRESHOLD_DB = (6.0, 18.0)
_BUS_RATIO = (2.0, 6.0)


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
    solo: torch.Tensor  # (K,) 1.0 where one instrument plays alone (a note or a line)


def draw_position(rng: np.random.Generator, hd: HeadsData, family: str) -> int:
    """A TRAIN preset of `family` (its position in the family's bank), SoundFont presets drawn
    their share of the time (HeadsData.draw_p)."""
    weights = hd.draw_p[family]
    # Even draws keep the generator's old call: runs without SoundFonts see the very batches
    # they saw before soundfont_share existed.
    return int(rng.integers(len(hd.by_family[family])) if weights is None
               else rng.choice(len(weights), p=weights))


def note_item(rng: np.random.Generator, config: FamilyHeadsTrainConfig, hd: HeadsData,
              frames: int) -> tuple[np.ndarray, str, int]:
    """(log-mel (M, frames), family, position in the family's bank): one reference clip of a
    TRAIN preset alone at a random level, silence after it (a one-shot query)."""
    families = list(config.families)
    family = families[int(rng.integers(len(families)))]
    position = draw_position(rng, hd, family)
    clips = hd.train_refs.mels[int(hd.by_family[family][position])]
    mel = clips[int(rng.integers(len(clips)))].astype(np.float32)
    floor = float(np.log(hd.features.log_floor))
    level = 2.0 * float(np.log(10.0)) * float(rng.uniform(*config.gain_db)) / 20.0  # log power
    mel = np.maximum(mel + np.float32(level), np.float32(floor))
    return data.fit_frames(mel, frames, hd.features.log_floor), family, position


def bus_mel(mel: np.ndarray, rng: np.random.Generator, frame_seconds: float,
            log_floor: float) -> np.ndarray:
    """A producer's bus on a (M, T) log-mel, in the power domain: a reverb send (each band's
    power fed through an exponential decay) and a compressor (frames above a threshold below
    the loudest frame turned down by the ratio)."""
    power = np.exp(mel.astype(np.float64))
    decay = float(rng.uniform(*_BUS_DECAY_SECONDS))
    keep = 10.0 ** (-6.0 * frame_seconds / decay)  # per frame: -60 dB over `decay` seconds
    tail = lfilter([1.0], [1.0, -keep], power, axis=1)
    power = power + float(rng.uniform(*_BUS_SEND)) * (1.0 - keep) * tail
    energy = power.sum(axis=0)
    loudest = 10.0 * np.log10(max(float(energy.max()), 1e-12))
    level = 10.0 * np.log10(np.maximum(energy, 1e-12))
    threshold = loudest - float(rng.uniform(*_BUS_THRESHOLD_DB))
    ratio = float(rng.uniform(*_BUS_RATIO))
    over = np.maximum(level - threshold, 0.0)
    power = power * 10.0 ** (-(over * (1.0 - 1.0 / ratio)) / 10.0)
    return np.log(np.maximum(power, log_floor)).astype(np.float32)


def make_mix_batch(step: int, config: FamilyHeadsTrainConfig, hd: HeadsData) -> HeadsBatch:
    """The batch of `step`: a pure function of (seed, step) and the cached lines."""
    rng = item_rng(config.seed, step, stream=Stream.FAMILY_HEADS_BATCH)
    fc = hd.features
    floor = fc.log_floor
    families = list(config.families)
    frames = fc.frames(round(config.crop_seconds[
        int(rng.integers(len(config.crop_seconds)))] * fc.sample_rate))
    mixes, present = [], np.zeros((config.mixes, len(families)), np.float32)
    solo = np.zeros(config.mixes, np.float32)
    targets = {f: np.full(config.mixes, -1, np.int64) for f in families}
    notes = (item_rng(config.seed, step, stream=Stream.HEADS_NOTE_ITEMS)
             if config.note_share else None)
    bus = item_rng(config.seed, step, stream=Stream.HEADS_BUS) if config.bus_share else None
    for k in range(config.mixes):
        if notes is not None and notes.random() < config.note_share:
            mel, family, position = note_item(notes, config, hd, frames)
            mixes.append(mel)
            targets[family][k] = position
            present[k, families.index(family)] = 1.0
            solo[k] = 1.0
            continue
        n = int(rng.integers(config.parts[0], config.parts[1] + 1))
        solo[k] = float(n == 1)
        playing = sorted(int(i) for i in rng.choice(len(families), size=n, replace=False))
        parts, peaks = [], []
        for fi in playing:
            family = families[fi]
            position = draw_position(rng, hd, family)
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
        mix = power_sum([(m, g * norm) for m, g in parts], floor, frames)
        if bus is not None and bus.random() < config.bus_share:
            mix = bus_mel(mix, bus, fc.hop / fc.sample_rate, floor)
        mixes.append(mix)
    return HeadsBatch(torch.from_numpy(np.stack(mixes)),
                      {f: torch.from_numpy(t) for f, t in targets.items()},
                      torch.from_numpy(present), torch.from_numpy(solo))


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
            # The solo probability, when there is one, rides along as a last column.
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
    stem_vec, stem_presence = read_mels(model, v.stems)
    if model.config.solo and mix_presence is not None and stem_presence is not None:
        # VALID mixes play 2-5 families, stems one: the solo logit's two sides.
        out["solo_recall"] = float((stem_presence[:, -1] >= 0.5).mean())
        out["solo_false"] = float((mix_presence[:, -1] >= 0.5).mean())
        mix_presence, stem_presence = mix_presence[:, :-1], stem_presence[:, :-1]
    _family_top(mix_vec, v.stem_mix, v, catalogue, cat_families, "mix", out)
    fused = {f: np.stack([mix_vec[f], shared_mix], axis=1) for f in families}
    _family_top(fused, v.stem_mix, v, catalogue, cat_families, "fused", out)
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
    weights = dict(state["state_dict"])
    if mine.solo and not start.solo:
        # Heads without a solo output: keep their presence rows, the solo row starts fresh.
        own = model.state_dict()
        for name in ("presence.2.weight", "presence.2.bias"):
            grown = own[name].clone()
            grown[: len(mine.families)] = weights[name]
            weights[name] = grown
    model.load_state_dict(weights)


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
                                             attention=config.attention, solo=config.solo)
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
            families, solo = model.split_logits(model.presence(shared))
            seen = presence_loss(families, batch.present)
            if solo is not None:
                seen = seen + presence_loss(solo, batch.solo)
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
