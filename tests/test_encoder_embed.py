"""Features, the MFCC-80 baseline and the trained-embedder contract on generated audio."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cir.encoder.baseline import MFCCEmbedder, dct_matrix
from cir.encoder.embed import EncoderEmbedder, load_embedder, window_starts
from cir.encoder.features import FeatureConfig, FeatureError, log_mel, mel_filterbank, resample
from cir.encoder.model import EncoderConfig, TimbreEncoder, save_checkpoint

SR = 22_050


def tone(freq: float, seconds: float = 1.0, sr: int = SR, harmonics: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    wave = sum(np.sin(2 * np.pi * freq * k * t) / k for k in range(1, harmonics + 1))
    return (0.5 * wave * np.exp(-2 * t)).astype(np.float32)


def test_log_mel_puts_a_sine_in_the_right_band():
    cfg = FeatureConfig()
    mel = log_mel(tone(1000.0), cfg)
    assert mel.shape == (cfg.n_mels, cfg.frames(SR))
    band = int(mel.mean(1).argmax())
    fb = mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.f_min)
    centre_hz = float(fb[:, band].argmax()) * SR / cfg.n_fft
    assert 800 < centre_hz < 1250
    # Silence sits exactly at the floor.
    silent = log_mel(np.zeros(SR, np.float32), cfg)
    assert torch.allclose(silent, torch.full_like(silent, np.log(cfg.log_floor)))


def test_dct_is_orthonormal():
    d = dct_matrix(40, 40)
    assert torch.allclose(d.T @ d, torch.eye(40), atol=1e-5)


def test_resample_keeps_pitch_length_and_timing():
    x = tone(440.0, 1.0, 44_100)
    y = resample(x, 44_100, SR)
    assert len(y) == SR
    spectrum = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spectrum) * SR / len(y) - 440.0) < 2.0
    with pytest.raises(FeatureError):
        resample(np.zeros(0, np.float32), 44_100, SR)


def test_mfcc_embedder_shape_norm_determinism_and_discrimination():
    emb = MFCCEmbedder()
    clips = [tone(220, harmonics=1), tone(220, harmonics=8), tone(233, harmonics=8)]
    v = emb.embed_clips(clips)
    assert v.shape == (3, 80) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(v, emb.embed_clips(clips))
    # Same timbre a semitone apart is closer than another timbre at the same pitch.
    assert v[1] @ v[2] > v[1] @ v[0]
    q = emb.embed_query(np.concatenate(clips))
    assert q.shape == (80,) and abs(np.linalg.norm(q) - 1) < 1e-5


def test_window_starts_cover_the_query():
    assert window_starts(100, 200, 50) == [0]
    assert window_starts(500, 200, 100) == [0, 100, 200, 300]
    assert window_starts(550, 200, 100)[-1] == 350


@pytest.fixture()
def tiny_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = TimbreEncoder(EncoderConfig(channels=(8, 16, 16), dim=32))
    path = tmp_path / "tiny.pt"
    save_checkpoint(path, model.eval())
    return path


def test_trained_embedder_contract(tiny_checkpoint):
    emb = load_embedder(str(tiny_checkpoint), device="cpu")
    assert isinstance(emb, EncoderEmbedder) and emb.dim == 32 and emb.device == "cpu"
    clips = [tone(110), tone(220, 1.5), tone(330)]
    v = emb.embed_clips(clips)
    assert v.shape == (3, 32)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    # Batched equals one by one, and runs are deterministic.
    one = np.stack([emb.embed_clips([c])[0] for c in clips])
    assert np.allclose(v, one, atol=1e-5)
    long = np.tile(tone(220, 2.0), 5)  # 10 s: several windows
    q = emb.embed_query(long)
    assert q.shape == (32,) and abs(np.linalg.norm(q) - 1) < 1e-5
    assert np.array_equal(q, emb.embed_query(long))
    # A 44.1 kHz query is resampled, not misread.
    q44 = emb.embed_query(resample(long, SR, 44_100), sample_rate=44_100)
    assert float(q44 @ q) > 0.95


def test_load_embedder_names():
    assert load_embedder("mfcc80").name == "mfcc80"
    with pytest.raises(Exception, match="unknown embedder"):
        load_embedder("nope")


def test_default_embedder_is_the_shipped_encoder_when_weights_exist():
    from cir.encoder.embed import default_weights

    if not default_weights().is_file():
        assert load_embedder().name == "mfcc80"
        return
    emb = load_embedder()
    from cir import defaults

    assert isinstance(emb, EncoderEmbedder) and emb.name == defaults.ENCODER_WEIGHTS_NAME
    assert emb.version.startswith(f"{defaults.ENCODER_WEIGHTS_NAME}-") and emb.sample_rate == SR
    v = emb.embed_clips([tone(110, harmonics=6), tone(880, harmonics=1)])
    assert v.shape == (2, emb.dim)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
