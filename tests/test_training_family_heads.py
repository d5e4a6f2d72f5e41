"""Per-family heads with presence (kind family-heads): batches of power-summed line stems,
presence figures, a tiny real training run that resumes, and builtin-mix5 with presence."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cir.encoder.mix_heads import read_heads
from cir.evaluation import harness
from cir.families import FAMILIES
from cir.training.config import FamilyHeadsTrainConfig, TrainConfigError
from cir.training.family_heads import (
    make_mix_batch,
    prepare_heads_data,
    presence_figures,
    train_family_heads,
)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CIR_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_presence_figures_count_mix_family_pairs():
    scores = np.array([[0.9, 0.2, 0.7], [0.4, 0.6, 0.1]])
    truth = np.array([[True, False, False], [True, True, False]])
    # said present: (0,0) (0,2) (1,1); right: (0,0) (1,1); playing: 3 pairs
    assert presence_figures(scores, truth, 0.5) == {"precision": 2 / 3, "recall": 2 / 3}
    assert presence_figures(scores, truth, 0.95) == {"precision": 0.0, "recall": 0.0}


def test_family_heads_config_is_strict():
    with pytest.raises(TrainConfigError, match="frozen_encoder"):
        FamilyHeadsTrainConfig.from_dict({"kind": "family-heads"})
    with pytest.raises(TrainConfigError, match="parts"):
        FamilyHeadsTrainConfig.from_dict({"kind": "family-heads", "frozen_encoder": "x.pt",
                                          "parts": [0, 6]})
    with pytest.raises(TrainConfigError, match="'mix_seconds'"):
        FamilyHeadsTrainConfig.from_dict({"kind": "family-heads", "frozen_encoder": "x.pt",
                                          "mix_seconds": 4})


def test_mix5_queries_play_two_to_five_families_in_family_order():
    sources, held_out = harness.builtin_catalogue(FAMILIES, per_family=3)
    qs = harness.mix_queries(sources, held_out, 40, seed=0, families=FAMILIES,
                              parts=harness.MIX5_PARTS)
    assert qs == harness.mix_queries(sources, held_out, 40, seed=0, families=FAMILIES,
                                      parts=harness.MIX5_PARTS)
    counts = {len(q) for q in qs}
    assert counts <= {2, 3, 4, 5} and len(counts) > 1
    for q in qs:
        assert list(q) == [f for f in FAMILIES if f in q]
        assert all(sources[i].family == f and sources[i].key in held_out for f, i in q.items())
    # The mix3 benchmarks keep their queries: every mix family, stream unchanged.
    three = harness.mix_queries(sources, held_out, 5, seed=0)
    assert all(list(q) == ["percussion", "bass", "lead"] for q in three)


TINY = {
    "kind": "family-heads", "name": "tiny-family-heads", "train_presets_per_family": 3,
    "lines_per_preset": 2, "mixes": 4, "parts": [1, 5], "crop_seconds": [3.0],
    "steps": 2, "warmup_steps": 1, "valid_presets_per_family": 2, "valid_mixes": 3,
    "eval_every": 2, "checkpoint_every": 1, "log_every": 1, "workers": 1, "threads": 1,
}


@pytest.mark.slow
def test_tiny_family_heads_run_resumes_and_answers_presence_on_mix5(tmp_path, cache):
    from daemon_support import tiny_heads_checkpoint

    tiny_heads_checkpoint(tmp_path / "h.pt")  # writes h.frozen.pt, a small real encoder
    config = FamilyHeadsTrainConfig.from_dict(
        {**TINY, "frozen_encoder": str(tmp_path / "h.frozen.pt")})
    summary = train_family_heads(config, tmp_path / "run", progress=False)
    assert summary["steps"] == 2 and summary["best"]["step"] == 2
    log = [json.loads(x) for x in (tmp_path / "run" / "train.log").read_text().splitlines()]
    valid = [r for r in log if r.get("event") == "valid"]
    assert [r["step"] for r in valid] == [0, 2]
    for r in valid:
        assert 0 <= r["mix_top1"] <= r["mix_top5"] <= 1 and 0 <= r["line_top1"] <= 1
        assert 0 <= r["presence_precision"] <= 1 and 0 <= r["presence_recall"] <= 1
    assert all(np.isfinite(r["presence"]) for r in log if "presence" in r)

    # Batches: pure functions of (seed, step); presence marks exactly the families with a
    # target; every mix plays 1-5 families.
    hd = prepare_heads_data(config, progress=False)
    a, b = make_mix_batch(1, config, hd), make_mix_batch(1, config, hd)
    assert torch.equal(a.mixes, b.mixes) and torch.equal(a.present, b.present)
    assert a.mixes.shape[0] == 4 and np.isfinite(a.mixes.numpy()).all()
    for k, f in enumerate(config.families):
        assert torch.equal(a.present[:, k] > 0, a.targets[f] >= 0)
    assert set(a.present.sum(1).int().tolist()) <= {1, 2, 3, 4, 5}

    # Stopped at step 1 on the same schedule, then resumed: the very weights of the whole run.
    stopped = train_family_heads(config, tmp_path / "stopped", progress=False, stop_at=1)
    assert stopped["stopped_at"] == 1 and read_heads(tmp_path / "stopped" / "last.pt")["step"] == 1
    train_family_heads(config, tmp_path / "stopped", resume=True, progress=False)
    whole = read_heads(tmp_path / "run" / "best.pt")["query"]["state_dict"]
    again = read_heads(tmp_path / "stopped" / "last.pt")["query"]["state_dict"]
    assert all(torch.allclose(whole[k].float(), again[k].float(), atol=1e-5) for k in whole)

    longer = FamilyHeadsTrainConfig.from_dict({**config.to_dict(), "steps": 3})
    resumed = train_family_heads(longer, tmp_path / "run", resume=True, progress=False)
    assert resumed["steps"] == 3 and read_heads(tmp_path / "run" / "last.pt")["step"] == 3

    result = harness.run_benchmark(
        "builtin-mix5", queries=3, seed=2, embedder=str(tmp_path / "run" / "best.pt"),
        workers=1, progress=False, catalogue_per_family=3,
    )
    assert result["catalogue"] == 15 and set(result["model"]["per_family"]) <= set(FAMILIES)
    presence = result["presence"]
    assert presence["pairs"] == 3 * len(FAMILIES)
    assert 0 <= presence["precision"] <= 100 and 0 <= presence["recall"] <= 100
    assert "presence (model" in harness.format_table(result)


def test_learning_curves_are_drawn_from_train_logs(tmp_path):
    from tools.curves import CurvesError, plot_runs, read_log

    run = tmp_path / "run"
    run.mkdir()
    records = [{"event": "start", "step": 0}]
    records += [{"step": s, "lr": 1e-3, "loss": 5.0 / s, "elapsed": s} for s in range(10, 200, 10)]
    records += [{"event": "valid", "step": s, "mix_top1": s / 400, "presence_recall": 0.9}
                for s in (0, 100, 190)]
    (run / "train.log").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    train, valid = read_log(run)
    assert len(train) == 19 and [r["step"] for r in valid] == [0, 100, 190]
    png = plot_runs([run, run], tmp_path / "out" / "curves.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    with pytest.raises(CurvesError, match=r"train\.log"):
        read_log(tmp_path)


def test_note_level_probe_cuts_a_line_at_its_onsets():
    from tools.probes import note_segments, onsets

    hop = 256 / 22050
    mel = np.full((64, 300), -11.5, np.float32)
    for start in (0, 60, 150, 220):  # four notes, each a loud band that then decays
        mel[10:30, start : start + 50] = -2.0 - np.linspace(0, 4, 50)[None, :]
    assert onsets(mel, hop) == [0, 60, 150, 220]
    pieces = note_segments(mel, hop)
    assert [p.shape[1] for p in pieces] == [60, 90, 70, 80]
    assert len(note_segments(np.full((64, 40), -11.5, np.float32), hop)) == 1  # no onset


def test_queries_with_more_rows_rank_as_their_best_row():
    catalogue = np.eye(3, dtype=np.float32)
    one = np.array([[1.0, 0.0, 0.0]], np.float32)  # one row: entry 0
    two = np.array([[0.0, 0.6, 0.8], [0.0, 0.9, 0.1]], np.float32)  # best rows: entries 2, 1
    stacked = harness.stack_rows([one, two, np.array([0.0, 0.0, 1.0], np.float32)])
    assert stacked.shape == (3, 2, 3)
    hits = harness.rank_hits(stacked, catalogue, np.array([0, 1, 2]))
    assert hits[1].tolist() == [True, True, True]


def test_attention_heads_start_as_mean_pooling_then_weigh_frames_per_family(tmp_path):
    from daemon_support import tiny_heads_checkpoint

    from cir.encoder.mix_heads import MixHeadsEncoder, load_heads

    tiny_heads_checkpoint(tmp_path / "h.pt")
    frozen = load_heads(tmp_path / "h.pt")[0]
    plain = MixHeadsEncoder.from_encoder(frozen, FAMILIES, "plain", presence=True).eval()
    attn = MixHeadsEncoder.from_encoder(frozen, FAMILIES, "attn", presence=True,
                                        attention=True).eval()
    attn.presence.load_state_dict(plain.presence.state_dict())
    mel = torch.randn(3, frozen.config.features.n_mels, 200)
    with torch.no_grad():
        a, pa = plain.read_features(mel)
        b, pb = attn.read_features(mel)
        assert all(torch.allclose(a[f], b[f], atol=1e-5) for f in FAMILIES)  # uniform at init
        assert torch.allclose(pa, pb)
        frames = frozen.frame_features(mel)
        per, shared = attn.pool(frames)
        assert all(torch.allclose(per[f], shared, atol=1e-6) for f in FAMILIES)
        torch.nn.init.normal_(attn.attend["bass"].weight, std=10.0)
        per, shared = attn.pool(frames)
    assert not torch.allclose(per["bass"], shared, atol=1e-3)  # bass now weighs its frames
    assert torch.allclose(per["lead"], shared, atol=1e-6)
    assert attn.config.attention and type(attn.config).from_dict(attn.config.to_dict()).attention
