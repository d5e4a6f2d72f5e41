"""Engine-rendered training stems, power-summed mixes without a floor shortcut, VALID mixes,
and the line-aware encoder's loss and (tiny) training run. Real engine renders throughout."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from cir import defaults
from cir.encoder.features import FeatureConfig, log_mel
from cir.encoder.model import read_checkpoint
from cir.synth.notes import Note
from cir.training import data
from cir.training.config import LineEncoderTrainConfig
from cir.training.constants import TRAIN_LINE_SECONDS
from cir.training.lines import (
    initial_model,
    line_loss,
    make_line_batch,
    prepare_line_data,
    train_lines,
    validate_lines,
)
from cir.training.mixes import (
    Line,
    MixNote,
    MixPlan,
    item_rng,
    mix_mels,
    plan_mix,
    power_sum,
    render_line,
)
from cir.training.streams import Stream

FC = FeatureConfig()
SR = FC.sample_rate
FLOOR = math.log(FC.log_floor)


def two_lines() -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """A rendered bass line and lead line of TEST presets (3 s)."""
    audio = {}
    for family in ("bass", "lead"):
        source = data.builtin_sources("test", (family,))[0]
        line = plan_mix((family,), item_rng(1, 0), 3.0).lines[0]
        audio[family] = render_line(line, data.make_instrument(source), 3.0, SR)
    return audio, {f: float(np.max(np.abs(a))) for f, a in audio.items()}


def test_power_sum_of_stems_matches_the_rendered_mix():
    audio, peaks = two_lines()
    gains = {"bass": 0.5 / peaks["bass"], "lead": 0.3 / peaks["lead"]}
    real = log_mel(sum(gains[f] * audio[f] for f in audio), FC).numpy()
    parts = [(log_mel(a, FC).numpy().astype(np.float16), gains[f]) for f, a in audio.items()]
    got = power_sum(parts, FC.log_floor)
    assert got.shape == real.shape
    loud = real > FLOOR + 4
    # Phases cancel or add within a mel band; on average the power sum is the real mix.
    assert np.median(np.abs(got - real)[loud]) < 0.2
    assert np.abs(np.mean(got[loud] - real[loud])) < 0.1


def test_no_floor_shortcut_silence_stays_at_the_floor_at_any_gain():
    audio, _ = two_lines()
    mel = log_mel(np.concatenate([audio["bass"], np.zeros(SR, np.float32)]), FC).numpy()
    silent = slice(mel.shape[1] - 20, mel.shape[1])
    assert np.all(mel[:, silent] == np.float32(FLOOR))
    for gain in (0.1, 1.0, 40.0):
        out = power_sum([(mel, gain)], FC.log_floor)
        assert np.all(out[:, silent] == np.float32(FLOOR)), gain
    # The same in mixes laid out from cached notes: before the first onset, the floor.
    note = MixNote(onset=1.0, pitch=40, velocity=100, gate=0.5, end=2.0)
    plan = MixPlan(2.0, 120.0, 0, "major", (Line("percussion", (note,)),))
    source = data.builtin_sources("test", ("percussion",))[0]
    clip = data.make_instrument(source).render([Note(40, 100, 0.0, 0.5)], 1.0, SR)
    cached = log_mel(clip, FC).numpy()
    out = mix_mels(plan, lambda f, n: (cached, float(np.max(np.abs(clip)))),
                   FC.frames(2 * SR), FC.hop / SR, FC.log_floor)
    assert np.all(out[:, : round(1.0 * SR / FC.hop) - 1] == np.float32(FLOOR))


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CIR_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_line_set_holds_engine_renders_and_is_cached(cache):
    sources = [s for f in ("percussion", "pad") for s in data.builtin_sources("train", (f,))[:2]]
    lines = data.line_set(sources, 3, seed=4, features=FC, workers=1, progress=False,
                          chunk_size=3)
    assert len(lines) == 12 and lines.mels.dtype == np.float16
    lo, hi = TRAIN_LINE_SECONDS
    for i in range(len(lines)):
        seconds = lines.line(i).shape[1] * FC.hop / SR
        assert lo - 0.1 <= seconds <= hi + 0.1
    per_source = lines.by_source()
    assert [len(x) for x in per_source] == [3, 3, 3, 3]
    # A stored line is the engine's render of the drawn line, as float16 log-mel.
    k = int(per_source[2][1])
    line = data.draw_lines(sources[2], 3, seed=4)[1]
    audio = render_line(line, data.make_instrument(sources[2]), line.notes[-1].end, SR)
    assert np.array_equal(lines.line(k), log_mel(audio, FC).numpy().astype(np.float16))
    assert lines.peaks[k] == pytest.approx(float(np.max(np.abs(audio))))
    again = data.line_set(sources, 3, seed=4, features=FC, workers=1, progress=False,
                          chunk_size=3)
    assert np.array_equal(again.mels, lines.mels) and np.array_equal(again.owners, lines.owners)


def test_valid_mixes_have_two_to_five_parts_on_their_own_plan_stream(cache):
    sources = [s for f in ("percussion", "bass", "lead", "pad", "keys")
               for s in data.builtin_sources("valid", (f,))[:2]]
    valid = data.valid_mixes(sources, 6, seed=0, features=FC, progress=False)
    assert valid.mixes.shape[0] == 6
    assert valid.stems.shape[1:] == valid.mixes.shape[1:] == (FC.n_mels, FC.frames(6 * SR))
    for q in range(6):
        chosen = valid.chosen(q)
        assert 2 <= len(chosen) <= 5
        assert all(sources[i].family == f for f, i in chosen.items())
        # Never a benchmark plan (mix3 and mix5 queries are drawn on their own streams).
        mine = plan_mix(tuple(chosen), item_rng(0, q, Stream.VALID_PLAN), defaults.MIX_SECONDS)
        for stream in (Stream.BENCH_MIX_PLAN, Stream.MIX5_QUERIES):
            assert plan_mix(tuple(chosen), item_rng(0, q, stream), defaults.MIX_SECONDS) != mine
    again = data.valid_mixes(sources, 6, seed=0, features=FC, progress=False)
    assert np.array_equal(again.stems, valid.stems)


def test_line_loss_rewards_lines_at_their_notes():
    owner = torch.tensor([0, 0, 1, 1])
    notes = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    config = LineEncoderTrainConfig()
    good, parts = line_loss(notes, torch.tensor([[1.0, 0.0], [0.0, 1.0]]), owner, config)
    bad, _ = line_loss(notes, torch.tensor([[0.0, 1.0], [1.0, 0.0]]), owner, config)
    # Two positives per line: each takes half the target mass, so log 2 is the least
    # line->note can be (a line sitting exactly on both its notes); the rest is ~0.
    assert parts["line_note"] == pytest.approx(math.log(2), abs=1e-3)
    assert float(good) == pytest.approx(math.log(2), abs=1e-3)
    assert float(bad) > 10


TINY = {
    "name": "tiny-line", "families": ["percussion", "bass", "pad"], "channels": [8, 8, 16, 16],
    "dim": 16, "train_presets_per_family": 4, "notes_per_preset": 3, "lines_per_preset": 2,
    "presets": 6, "steps": 3, "warmup_steps": 1, "valid_presets_per_family": 3,
    "valid_notes_per_preset": 1, "valid_mixes": 4, "eval_every": 2, "checkpoint_every": 1,
    "log_every": 1, "workers": 1, "threads": 1,
}


@pytest.mark.slow
def test_tiny_line_encoder_run_resumes_and_logs_valid_line_scores(tmp_path, cache):
    config = LineEncoderTrainConfig.from_dict(TINY)
    summary = train_lines(config, tmp_path / "run", progress=False)
    assert summary["steps"] == 3 and summary["best"]["step"] in (2, 3)
    log = [json.loads(x) for x in (tmp_path / "run" / "train.log").read_text().splitlines()]
    valid = [r for r in log if r.get("event") == "valid"]
    assert [r["step"] for r in valid] == [0, 2, 3]
    for r in valid[1:]:
        assert np.isfinite(r["train_loss"]) and 0 <= r["line_top1"] <= r["line_top5"] <= 1
        assert 0 <= r["single_top1"] <= 1
    # Batches are pure functions of (seed, step): resuming replays the same data.
    ld = prepare_line_data(config, progress=False)
    a, b = make_line_batch(2, config, ld), make_line_batch(2, config, ld)
    assert torch.equal(a.notes, b.notes) and torch.equal(a.lines, b.lines)
    assert a.presets == b.presets and len(set(a.presets)) == config.presets
    longer = LineEncoderTrainConfig.from_dict({**TINY, "steps": 4})
    resumed = train_lines(longer, tmp_path / "run", resume=True, progress=False)
    assert resumed["steps"] == 4 and read_checkpoint(tmp_path / "run" / "last.pt")["step"] == 4
    log = [json.loads(x) for x in (tmp_path / "run" / "train.log").read_text().splitlines()]
    assert [r["step"] for r in log if r.get("event") == "start"] == [0, 3]
    # The fp32 (as served) evaluation of the fresh model runs on the same data.
    metrics = validate_lines(initial_model(config, ld), ld)
    assert {"line_top1", "single_top1", "mix_top1", "score"} <= set(metrics)
