"""The line-aware catalogue encoder: a preset's engine-rendered lines are positives of its notes.

    batch (step s: a pure function of (seed, s), made in a background thread)
      P presets        hard_fraction of them from one family, the rest from any family
      per preset       batch_notes cached notes (crops from the onset) and one of its lines
                       (an engine-rendered stem, cropped at random, at a random level)
    loss = InfoNCE line->note + note->line + note->note (temperature T, same preset =
           positive; several positives share the target mass, a row is never its own pair)

A line is a multi-note phrase (pitches, rhythm, gates, velocities); a catalogue entry is the
mean of its reference notes. Training both to one point per preset is what lets a loop's
line find its preset (a line-naive note encoder finds it about a quarter of the time).

Speed on CPU: the trunk runs under bf16 autocast with channels_last weights (projection,
normalisation and loss in fp32: near neighbours sit at cosine 0.92-0.96), optionally
torch.compile'd; batches are made beside the trainer. VALID: isolated lines and mixes of
VALID presets rendered by the engine (data.valid_mixes), single notes, all ranked against
the VALID presets' reference clips.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from cir import defaults
from cir.encoder.features import FeatureConfig
from cir.encoder.model import (
    EncoderConfig,
    TimbreEncoder,
    count_parameters,
    load_model,
    read_checkpoint,
    save_checkpoint,
)
from cir.evaluation.harness import embed_mels, embed_references, rank_hits
from cir.training import data
from cir.training.config import LineEncoderTrainConfig, TrainConfigError
from cir.training.loop import Job, Prefetcher, run_loop, start_run, torch_threads, weights_path
from cir.training.losses import cross_infonce, multi_positive_infonce
from cir.training.mixes import item_rng, power_sum
from cir.training.streams import Stream
from cir.training.train import feature_stats


@dataclass
class LineData:
    notes: data.NoteSet
    note_index: list[np.ndarray]  # per source: its note indices
    lines: data.LineSet
    line_index: list[np.ndarray]  # per source: its line indices
    by_family: dict[str, np.ndarray]  # family -> source indices
    from_font: np.ndarray  # per source: a SoundFont preset? (data.from_soundfont)
    valid_refs: data.ReferenceSet
    valid_notes: data.NoteSet
    valid: data.ValidMixes
    features: FeatureConfig


def prepare_line_data(config: LineEncoderTrainConfig, progress: bool = True) -> LineData:
    """Render (or read from the cache dir) the notes, lines and VALID sets of a run."""
    features = FeatureConfig(n_mels=config.n_mels)
    train, valid = data.run_sources(config.families, config.train_presets_per_family,
                                    config.valid_presets_per_family, config.soundfonts)
    kw = {"workers": config.workers, "progress": progress}
    notes = data.note_set(
        train, config.notes_per_preset, config.note_seconds, config.seed, features, **kw
    )
    lines = data.line_set(train, config.lines_per_preset, config.seed, features,
                          tuple(config.line_seconds), **kw)
    valid_notes = data.note_set(
        valid, config.valid_notes_per_preset, config.note_seconds, config.seed + 1, features, **kw
    )
    return LineData(
        notes=notes,
        note_index=notes.by_source(),
        lines=lines,
        line_index=lines.by_source(),
        by_family={f: np.asarray([i for i, s in enumerate(train) if s.family == f])
                   for f in config.families},
        from_font=data.from_soundfont(train),
        valid_refs=data.reference_set(valid, features, **kw),
        valid_notes=valid_notes,
        valid=data.valid_mixes(valid, config.valid_mixes, config.seed, features,
                               progress=progress),
        features=features,
    )


# --- batches -------------------------------------------------------------------------------------


@dataclass
class LineBatch:
    notes: torch.Tensor  # (P * batch_notes, M, Tn)
    lines: torch.Tensor  # (P, M, Tl)
    owner: torch.Tensor  # (P * batch_notes,) the batch slot (0..P-1) of each note's preset
    presets: list[int]  # source index per slot


def crop_line(
    rng: np.random.Generator, mel: np.ndarray, frames: int, gain: float, floor: float
) -> np.ndarray:
    """A random `frames`-long window of a line at amplitude `gain` (floor subtracted before the
    gain, as in a mix); a shorter line is padded with silence."""
    start = int(rng.integers(0, max(mel.shape[1] - frames, 0) + 1))
    return power_sum([(mel[:, start : start + frames], gain)], floor, frames)


def draw_gain(rng: np.random.Generator, peak: float, gain_db: tuple[float, float]) -> float:
    """Amplitude gain that brings a stem of this peak to RENDER_PEAK, then a random level."""
    level = 10.0 ** (float(rng.uniform(*gain_db)) / 20.0)
    return defaults.RENDER_PEAK / peak * level if peak > 0 else 0.0


def _draw(rng: np.random.Generator, pool: np.ndarray, n: int, ld: LineData, share: float
          ) -> list[int]:
    """`n` distinct presets of `pool`, SoundFont presets drawn `share` of the time."""
    p = data.draw_weights(ld.from_font[pool], share)
    return [int(i) for i in rng.choice(pool, size=n, replace=False, p=p)]


def make_line_batch(step: int, config: LineEncoderTrainConfig, ld: LineData) -> LineBatch:
    """The batch of `step`: a pure function of (seed, step) and the cached data."""
    rng = item_rng(config.seed, step, stream=Stream.LINE_BATCH)
    fc = ld.features
    floor = fc.log_floor
    families = list(config.families)
    hard = families[int(rng.integers(len(families)))]
    n_hard = round(config.presets * config.hard_fraction)
    picked = _draw(rng, ld.by_family[hard], n_hard, ld, config.soundfont_share)
    rest = np.setdiff1d(np.concatenate([ld.by_family[f] for f in families]), picked)
    picked += _draw(rng, rest, config.presets - n_hard, ld, config.soundfont_share)

    note_frames = fc.frames(round(config.crop_seconds[
        int(rng.integers(len(config.crop_seconds)))] * fc.sample_rate))
    line_frames = fc.frames(round(config.line_crop_seconds[
        int(rng.integers(len(config.line_crop_seconds)))] * fc.sample_rate))
    notes, owner, lines = [], [], []
    for slot, p in enumerate(picked):
        for n in rng.choice(ld.note_index[p], size=config.batch_notes, replace=False):
            notes.append(data.fit_frames(ld.notes.mels[n], note_frames, floor))
            owner.append(slot)
        k = int(ld.line_index[p][int(rng.integers(len(ld.line_index[p])))])
        gain = draw_gain(rng, float(ld.lines.peaks[k]), tuple(config.gain_db))
        lines.append(crop_line(rng, ld.lines.line(k), line_frames, gain, floor))
    return LineBatch(
        torch.from_numpy(np.stack(notes).astype(np.float32)),
        torch.from_numpy(np.stack(lines).astype(np.float32)),
        torch.tensor(owner),
        picked,
    )


def line_loss(
    notes: torch.Tensor, lines: torch.Tensor, owner: torch.Tensor, config: LineEncoderTrainConfig
) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted sum of InfoNCE line->note, note->line and note->note on unit vectors."""
    t = config.temperature
    same = owner.view(-1, 1) == owner.view(1, -1)
    eye = torch.eye(len(owner), dtype=torch.bool)
    note_note = multi_positive_infonce(notes, same & ~eye, ~same, temperature=t)
    of_line = owner.view(-1, 1) == torch.arange(len(lines)).view(1, -1)  # (notes, lines)
    line_note = cross_infonce(lines, notes, of_line.T, t)
    note_line = cross_infonce(notes, lines, of_line, t)
    total = (config.line_to_note * line_note + config.note_to_line * note_line
             + config.note_to_note * note_note)
    return total, {"line_note": round(float(line_note.detach()), 4),
                   "note_line": round(float(note_line.detach()), 4),
                   "note_note": round(float(note_note.detach()), 4)}


def trainer_embed(
    model: TimbreEncoder, trunk: Callable[[torch.Tensor], torch.Tensor], bf16: bool
) -> Callable[[torch.Tensor], torch.Tensor]:
    """log-mel -> unit vectors for training: `trunk` (model.pool_features, maybe compiled)
    under bf16 autocast when asked; projection and normalisation in fp32."""

    def embed(mel: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            pooled = trunk(mel)
        return F.normalize(model.head(pooled.float()), dim=-1)

    return embed


# --- validation ----------------------------------------------------------------------------------


def _per_family_hits(
    queries: np.ndarray, families: np.ndarray, targets: np.ndarray, catalogue: np.ndarray,
    cat_families: np.ndarray, prefix: str, out: dict[str, float],
) -> None:
    """Rank each query among its family's entries; store {prefix}_{family}_top1 and the means
    over families of top-1 / top-5."""
    top1, top5 = [], []
    for family in sorted(set(families.tolist())):
        rows = np.flatnonzero(families == family)
        members = np.flatnonzero(cat_families == family)
        hits = rank_hits(queries[rows], catalogue[members], np.searchsorted(members, targets[rows]))
        out[f"{prefix}_{family}_top1"] = hits[1].mean()
        top1.append(hits[1].mean())
        top5.append(hits[5].mean())
    out[f"{prefix}_top1"], out[f"{prefix}_top5"] = np.mean(top1), np.mean(top5)


@torch.no_grad()
def validate_lines(model: TimbreEncoder, ld: LineData) -> dict[str, float]:
    """VALID top-1/top-5 in fp32 (as served): single notes against every reference; isolated
    lines (one pass over the whole 6 s stem) and whole mixes through the plain encoder, each
    against its family's references. score = mean of line and single-note top-1."""
    model.eval()

    def embed(mels: np.ndarray) -> np.ndarray:
        return embed_mels(model, mels)

    refs = ld.valid_refs
    catalogue = embed_references(embed, refs.mels)
    cat_families = np.asarray([s.family for s in refs.sources])
    single = rank_hits(embed(ld.valid_notes.mels), catalogue, np.asarray(ld.valid_notes.owners))
    out: dict[str, float] = {"single_top1": single[1].mean(), "single_top5": single[5].mean()}
    v = ld.valid
    _per_family_hits(embed(v.stems), v.stem_family, v.stem_source, catalogue, cat_families,
                     "line", out)
    mixes = embed(v.mixes)[v.stem_mix]  # one row per (mix, family playing in it)
    _per_family_hits(mixes, v.stem_family, v.stem_source, catalogue, cat_families, "mix", out)
    out["score"] = 0.5 * (out["line_top1"] + out["single_top1"])
    return {k: round(float(x), 4) for k, x in out.items()}


# --- the run -------------------------------------------------------------------------------------


def initial_model(config: LineEncoderTrainConfig, ld: LineData) -> TimbreEncoder:
    """The shipped (or given) encoder renamed to config.name, or a fresh one."""
    torch.manual_seed(config.seed)
    if config.init_encoder:
        start, _ = load_model(weights_path(config.init_encoder))
        if start.config.features != ld.features:
            raise TrainConfigError(
                f"init_encoder {config.init_encoder} uses features "
                f"{start.config.features.to_dict()}, the config {ld.features.to_dict()}: "
                "set n_mels to the encoder's"
            )
        model = TimbreEncoder(dataclasses.replace(start.config, name=config.name))
        model.load_state_dict(start.state_dict())
        return model
    mean, std = feature_stats(ld.notes)
    return TimbreEncoder(
        EncoderConfig(ld.features, tuple(config.channels), config.dim, mean, std, config.name)
    )


def train_lines(
    config: LineEncoderTrainConfig, out_dir: str | Path, resume: bool = False,
    progress: bool = True, stop_at: int | None = None,
) -> dict[str, Any]:
    """Run (or resume) a line-encoder run in `out_dir`; same outputs as cir.training.train."""
    out = start_run(out_dir, config, resume)
    with torch_threads(config.threads):
        t0 = time.time()
        ld = prepare_line_data(config, progress)
        data_seconds = time.time() - t0
        model = initial_model(config, ld)
        if config.channels_last:
            model = model.to(memory_format=torch.channels_last)
        trunk = model.pool_features
        if config.compile:
            trunk = torch.compile(trunk, dynamic=False)
        embed = trainer_embed(model, trunk, config.bf16)
        batches = Prefetcher(lambda s: make_line_batch(s, config, ld), config.steps,
                             config.prefetch)

        def step_loss(step: int) -> tuple[torch.Tensor, dict[str, float]]:
            batch = batches.get(step)
            return line_loss(embed(batch.notes), embed(batch.lines), batch.owner, config)

        def restore(path: Path) -> dict[str, Any]:
            state = read_checkpoint(path)
            model.load_state_dict(state["state_dict"])
            return state

        job = Job(
            model=model,
            step_loss=step_loss,
            validate=lambda: validate_lines(model, ld),
            save=lambda path, extra: save_checkpoint(path, model, extra),
            restore=restore,
            label="training line encoder",
            start_record={"params": count_parameters(model),
                          "data_seconds": round(data_seconds, 1),
                          "train_presets": len(ld.notes.sources), "lines": len(ld.lines),
                          "valid_lines": len(ld.valid.stems),
                          "valid_mixes": len(ld.valid.mixes)},
        )
        summary = run_loop(config, out, job, resume, progress, stop_at)
    return {**summary, "data_seconds": round(data_seconds, 1), "params": count_parameters(model)}
