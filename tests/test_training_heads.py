"""Per-family mix heads: model, loss, checkpoints, the embedder, one tiny training run."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from daemon_support import tiny_heads_checkpoint

from cir.encoder.constants import HEADS_QUERY_SECONDS
from cir.encoder.embed import EncoderEmbedder, HeadsEmbedder, load_embedder
from cir.encoder.mix_heads import MixHeadsEncoder, load_heads, read_heads
from cir.encoder.model import CheckpointError, EncoderConfig, TimbreEncoder, save_checkpoint
from cir.evaluation import harness
from cir.families import MIX_FAMILIES
from cir.training.config import HeadsTrainConfig, TrainConfigError
from cir.training.heads import heads_loss, make_heads_batch, train_heads
from cir.training.train import prepare_data

SR = 22_050


def mix_audio(seconds: float = 5.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    kick = np.sin(2 * np.pi * 60 * t) * np.exp(-8 * (t % 0.5))
    lead = 0.3 * np.sign(np.sin(2 * np.pi * 440 * t))
    return (0.4 * (kick + lead)).astype(np.float32)


def test_heads_start_as_the_frozen_encoder():
    torch.manual_seed(0)
    frozen = TimbreEncoder(EncoderConfig(channels=(8, 8, 16), dim=16)).eval()
    heads = MixHeadsEncoder.from_encoder(frozen, MIX_FAMILIES, "h").eval()
    x = torch.randn(2, SR)
    with torch.no_grad():
        out = heads(x)
        assert set(out) == set(MIX_FAMILIES)
        for v in out.values():
            assert torch.allclose(v, frozen(x), atol=1e-5)


def test_heads_loss_hand_case_and_absent_families():
    bank = {"bass": torch.tensor([[1.0, 0.0], [0.0, 1.0]]), "lead": torch.eye(2)}
    emb = {"bass": torch.tensor([[1.0, 0.0]]), "lead": torch.tensor([[0.0, 1.0]])}
    targets = {"bass": torch.tensor([0]), "lead": torch.tensor([-1])}  # lead absent: skipped
    loss = heads_loss(emb, targets, bank, temperature=0.5, regression_weight=1.0)
    assert float(loss) == pytest.approx(math.log(1 + math.exp(-2.0)), abs=1e-6)
    wrong = heads_loss(emb, {"bass": torch.tensor([1]), "lead": torch.tensor([-1])}, bank, 0.5, 1.0)
    assert float(wrong) == pytest.approx(math.log(1 + math.exp(2.0)) + 1.0, abs=1e-6)


def test_heads_embedder_keeps_the_catalogue_space_and_gives_unit_vectors(tmp_path):
    path = tiny_heads_checkpoint(tmp_path / "heads.pt")
    embedder = load_embedder(str(path))
    assert isinstance(embedder, HeadsEmbedder)
    frozen = EncoderEmbedder(path.with_suffix(".frozen.pt"))
    # Catalogue side unchanged: same version, same clip vectors as the frozen encoder.
    assert embedder.version == frozen.version and embedder.query_version != embedder.version
    clips = [mix_audio(1.0), mix_audio(1.5)]
    assert np.allclose(embedder.embed_clips(clips), frozen.embed_clips(clips), atol=1e-6)
    audio = mix_audio()
    by_family = embedder.embed_query_by_family(audio, ("bass", "pad", "lead"), sample_rate=SR)
    assert list(by_family) == ["bass", "pad", "lead"]
    shared = embedder.embed_query(audio)
    for family, rows in by_family.items():
        assert rows.shape == ((1, 16) if family == "pad" else (2, 16))
        assert rows.dtype == np.float32
        assert np.linalg.norm(rows, axis=1) == pytest.approx(1.0, abs=1e-5)
        # The last row is always the shared query vector (max fusion with the heads).
        assert np.allclose(rows[-1], shared, atol=1e-6)
    # Heads differ from each other and from the shared vector.
    assert not np.allclose(by_family["bass"][0], by_family["lead"][0], atol=1e-3)
    assert not np.allclose(by_family["bass"][0], shared, atol=1e-3)


def test_heads_checkpoint_refuses_other_versions(tmp_path):
    path = tiny_heads_checkpoint(tmp_path / "heads.pt")
    payload = read_heads(path)
    payload["format_version"] = 99
    torch.save(payload, tmp_path / "old.pt")
    with pytest.raises(CheckpointError, match="format_version"):
        load_heads(tmp_path / "old.pt")
    with pytest.raises(CheckpointError, match="not a CIR mix-heads"):
        load_heads(path.with_suffix(".frozen.pt"))
    with pytest.raises(TrainConfigError, match="frozen_encoder"):
        HeadsTrainConfig.from_dict({"kind": "mix-heads"})


@pytest.mark.slow
def test_tiny_heads_training_and_mix_benchmark(tmp_path, monkeypatch):
    monkeypatch.setenv("CIR_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    frozen = tmp_path / "frozen.pt"
    save_checkpoint(frozen, TimbreEncoder(EncoderConfig(channels=(8, 8, 16), dim=16)))
    config = HeadsTrainConfig.from_dict({
        "name": "tiny-heads", "kind": "mix-heads", "frozen_encoder": str(frozen),
        "train_presets_per_family": 4, "notes_per_preset": 2, "mixes": 3,
        "solo_fraction": 0.5, "regression_weight": 0.5, "steps": 2, "warmup_steps": 1,
        "valid_presets_per_family": 3, "valid_notes_per_preset": 1, "valid_mixes": 2,
        "eval_every": 2, "checkpoint_every": 1, "log_every": 1, "workers": 1, "threads": 1,
    })
    summary = train_heads(config, tmp_path / "run", progress=False)
    assert summary["steps"] == 2 and summary["best"]["step"] == 2
    log = [json.loads(line) for line in (tmp_path / "run" / "train.log").read_text().splitlines()]
    losses = [r["loss"] for r in log if "loss" in r]
    assert len(losses) == 2 and all(np.isfinite(losses))
    assert read_heads(tmp_path / "run" / "last.pt")["step"] == 2

    # Batches are a pure function of (seed, step); solo mixes mark absent families with -1.
    td = prepare_data(config, progress=False)
    (xa, ta), (xb, tb) = make_heads_batch(1, config, td), make_heads_batch(1, config, td)
    assert torch.equal(xa, xb) and all(torch.equal(ta[f], tb[f]) for f in ta)
    assert xa.shape[0] == 3 and all((t >= -1).all() for t in ta.values())

    result = harness.run_benchmark(
        "builtin-mix3", queries=2, seed=4, embedder=str(tmp_path / "run" / "best.pt"),
        workers=1, progress=False, catalogue_per_family=4,
    )
    assert result["embedder"]["model_query"].startswith("tiny-heads-")
    assert set(result["model"]["per_family"]) == set(MIX_FAMILIES)


def test_shipped_heads_keep_the_shipped_catalogue_version():
    from cir import defaults
    from cir.encoder.api import FamilyEmbedder
    from cir.encoder.embed import WEIGHTS_DIR, shipped_names
    from cir.families import FAMILIES

    heads = WEIGHTS_DIR / f"{defaults.ENCODER_HEADS_WEIGHTS_NAME}.pt"
    plain = WEIGHTS_DIR / f"{defaults.ENCODER_WEIGHTS_NAME}.pt"
    if not (heads.is_file() and plain.is_file()):
        pytest.skip("no shipped weights in this checkout")
    default = load_embedder()
    assert isinstance(default, HeadsEmbedder) and isinstance(default, FamilyEmbedder)
    # Catalogues built with the plain shipped encoder stay valid under the heads.
    assert default.version == load_embedder(defaults.ENCODER_WEIGHTS_NAME).version
    assert set(default.head_families) == set(FAMILIES) and default.has_presence
    vectors, presence = default.read_query(mix_audio(), FAMILIES, sample_rate=SR)
    for rows in vectors.values():
        assert np.linalg.norm(rows, axis=1) == pytest.approx(1.0, abs=1e-5)
    assert set(presence) == set(FAMILIES)
    # Earlier generations are no longer shipped: loadable from the training checkpoints.
    from cir.training.loop import CHECKPOINTS_DIR

    assert "cir-cnn-heads" not in shipped_names()
    earlier = load_embedder(str(CHECKPOINTS_DIR / "cir-cnn-heads.pt"))
    assert earlier.query_version.startswith("cir-cnn-heads-")


def test_presence_heads_answer_presence_per_family_through_the_protocol(tmp_path):
    from daemon_support import tiny_heads_checkpoint

    from cir import defaults
    from cir.encoder.api import FamilyEmbedder
    from cir.families import FAMILIES

    embedder = load_embedder(str(tiny_heads_checkpoint(tmp_path / "h.pt", presence=True)))
    assert isinstance(embedder, FamilyEmbedder) and embedder.has_presence
    assert not isinstance(load_embedder("mfcc80"), FamilyEmbedder)
    vectors, presence = embedder.read_query(mix_audio(), FAMILIES, sample_rate=SR)
    assert list(vectors) == list(FAMILIES) and list(presence) == list(FAMILIES)
    assert all(0.0 <= p <= 1.0 for p in presence.values())
    heard = [f for f, p in presence.items() if p >= defaults.PRESENCE_THRESHOLD]
    shared = embedder.embed_query(mix_audio(), SR)
    for family, rows in vectors.items():
        assert np.linalg.norm(rows, axis=1) == pytest.approx(1.0, abs=1e-5)
        # The head's row alone; the shared row too only for the one family heard alone.
        solo = heard == [family]
        assert rows.shape == ((2, 16) if solo else (1, 16))
        if solo:
            assert np.allclose(rows[1], shared, atol=1e-6)
    # Solo or not is the presence head's call: make it hear exactly "bass", then nothing.
    heads = embedder.heads
    with torch.no_grad():
        last = heads.presence[-1]
        last.weight.zero_()
        last.bias.fill_(-10.0)
        last.bias[heads.config.families.index("bass")] = 10.0
        rows = embedder.read_query(mix_audio(), ("bass", "keys"), sample_rate=SR)[0]
        assert rows["bass"].shape == (2, 16) and rows["keys"].shape == (1, 16)
        last.bias.fill_(-10.0)
        rows = embedder.read_query(mix_audio(), ("bass", "keys"), sample_rate=SR)[0]
        assert rows["bass"].shape == (1, 16) and rows["keys"].shape == (1, 16)
    # The checkpoint round-trips with its presence head (same scores after a reload).
    again = load_embedder(str(tmp_path / "h.pt"))
    assert again.read_query(mix_audio(), FAMILIES, sample_rate=SR)[1] == presence
    # Old heads (no presence head) still load and answer no presence.
    old = load_embedder(str(tiny_heads_checkpoint(tmp_path / "old.pt")))
    assert isinstance(old, FamilyEmbedder) and not old.has_presence
    assert old.read_query(mix_audio(), ("bass",), sample_rate=SR)[1] == {}


def test_a_long_query_is_read_in_windows_as_long_as_the_heads_pass(tmp_path):
    from daemon_support import tiny_heads_checkpoint


    embedder = load_embedder(str(tiny_heads_checkpoint(tmp_path / "h.pt", presence=True)))
    rate = embedder.sample_rate
    short = embedder._pass_windows(mix_audio(5.0), SR)
    assert len(short) == 1  # a 5 s loop: one pass over all of it
    long = embedder._pass_windows(np.tile(mix_audio(5.0), 4), SR)  # 20 s
    assert len(long) > 1
    assert {len(w) for w in long} == {int(HEADS_QUERY_SECONDS * rate)}
