"""Training SoundFonts beside the synth bank: their presets join TRAIN under their own keys,
the gm benchmarks' SoundFont is refused, draws give them their share, their renders are cached
apart from the bank's, and heads can start from a heads checkpoint. Real FluidSynth renders."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cir import defaults
from cir.encoder.features import FeatureConfig
from cir.encoder.mix_heads import MixHeadsEncoder, read_heads
from cir.encoder.model import load_model
from cir.families import FAMILIES
from cir.presets_db.render import REFERENCE_NOTES
from cir.training import data
from cir.training.config import FamilyHeadsTrainConfig, LineEncoderTrainConfig, TrainConfigError
from cir.training.family_heads import start_heads

TIM = "/usr/share/sounds/sf2/TimGM6mb.sf2"
FC = FeatureConfig()


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CIR_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_a_training_soundfont_joins_train_after_the_bank_under_its_own_keys():
    train, valid = data.run_sources(("bass",), 3, 2, [TIM])
    assert [s.kind for s in train[:3]] == ["builtin"] * 3
    font = train[3:]
    assert len(font) == len(data.sf2_sources(TIM, ("bass",))) > 0
    assert all(s.kind == "sf2" and s.family == "bass" for s in font)
    assert all(s.key.startswith("TimGM6mb.sf2:") for s in font)
    assert len({s.key for s in train}) == len(train)
    assert all(s.kind == "builtin" for s in valid) and len(valid) == 2


def test_the_benchmark_soundfont_is_refused_even_behind_a_link(tmp_path):
    link = tmp_path / "my-font.sf2"
    link.symlink_to(defaults.GM_SOUNDFONT)
    for path in (defaults.GM_SOUNDFONT, link):
        with pytest.raises(data.DataError, match="never trained on"):
            data.run_sources(("bass",), 1, 1, [str(path)])
    with pytest.raises(data.DataError, match="not found"):
        data.run_sources(("bass",), 1, 1, [str(tmp_path / "missing.sf2")])


def test_draw_weights_give_the_soundfont_presets_their_share_together():
    train, _ = data.run_sources(("bass", "lead"), 20, 1, [TIM])
    from_font = data.from_soundfont(train)
    assert list(from_font) == [s.kind == "sf2" for s in train]
    p = data.draw_weights(from_font, 0.3)
    assert p is not None and p.sum() == pytest.approx(1.0)
    assert p[from_font].sum() == pytest.approx(0.3)
    assert np.ptp(p[from_font]) == 0 and np.ptp(p[~from_font]) == 0
    assert data.draw_weights(from_font, 0.0) is None
    assert data.draw_weights(from_font[:20], 0.3) is None  # the bank alone: even draws


def test_adding_a_soundfont_renders_only_its_presets(cache):
    bank = data.builtin_sources("train", ("bass",))[:2]
    font = data.soundfont_training_sources(TIM, ("bass",))[:2]
    first = data.note_set(bank, 2, 0.5, seed=3, features=FC, workers=1, progress=False)
    folders = sorted(cache.glob("notes-*"))
    stamps = {p: p.stat().st_mtime_ns for p in folders[0].iterdir()}
    both = data.note_set(bank + font, 2, 0.5, seed=3, features=FC, workers=1, progress=False)
    assert len(sorted(cache.glob("notes-*"))) == 2  # the bank's folder, and the font's
    assert {p: p.stat().st_mtime_ns for p in folders[0].iterdir()} == stamps
    per_source = both.by_source()
    assert [len(x) for x in per_source] == [2, 2, 2, 2]
    for i in range(2):
        assert np.array_equal(both.mels[per_source[i]], first.mels[first.by_source()[i]])
    # The font's notes are FluidSynth's renders of its presets, not silence or the bank's.
    loud = [float(both.mels[per_source[i]].max()) for i in (2, 3)]
    assert all(level > np.log(FC.log_floor) + 5 for level in loud)
    assert not np.array_equal(both.mels[per_source[2]], both.mels[per_source[0]])


def test_soundfont_settings_are_checked():
    with pytest.raises(TrainConfigError, match="soundfonts lists no SoundFont"):
        LineEncoderTrainConfig.from_dict({"kind": "line-encoder", "soundfont_share": 0.2})
    with pytest.raises(TrainConfigError, match=r"soundfont_share 1\.0"):
        LineEncoderTrainConfig.from_dict({"kind": "line-encoder", "soundfonts": [TIM],
                                          "soundfont_share": 1.0})
    ok = FamilyHeadsTrainConfig.from_dict({"kind": "family-heads", "frozen_encoder": "x.pt",
                                           "soundfonts": [TIM], "soundfont_share": 0.25})
    assert ok.soundfonts == (TIM,) and ok.to_dict()["soundfonts"] == [TIM]


def test_heads_start_from_a_heads_checkpoint_of_the_same_shape(tmp_path):
    from daemon_support import tiny_heads_checkpoint

    start = tiny_heads_checkpoint(tmp_path / "h.pt", presence=True)
    frozen, _ = load_model(start.with_suffix(".frozen.pt"))
    model = MixHeadsEncoder.from_encoder(frozen, FAMILIES, "next", presence=True,
                                         shared_row=False)
    start_heads(model, str(start))
    saved = read_heads(start)["query"]["state_dict"]
    assert all(torch.equal(model.state_dict()[k], v) for k, v in saved.items())
    other = MixHeadsEncoder.from_encoder(frozen, FAMILIES, "next", presence=True,
                                         shared_row=False, attention=True)
    with pytest.raises(TrainConfigError, match="attention"):
        start_heads(other, str(start))


def test_reference_probe_ranks_the_same_queries_against_each_reference_set(tmp_path, cache):
    from daemon_support import tiny_heads_checkpoint

    from cir.encoder.embed import load_embedder
    from cir.presets_db.render import render_references
    from tools.reference_probe import REFERENCE_SETS, entry_vectors, run_probe

    tiny_heads_checkpoint(tmp_path / "h.pt")
    encoder = str(tmp_path / "h.frozen.pt")
    result = run_probe(encoder, "builtin", seed=1, sets=("render v1", "shipped"), queries=6,
                       catalogue_per_family=3)
    assert set(result) == {"render v1", "shipped"}
    for r in result.values():
        assert set(r["per_family"]) == {"percussion", "bass", "lead"}
        for p in r["per_family"].values():
            assert 0 <= p["top1"] <= p["top5"] <= 100
    # "shipped" is the catalogue's own rule: the unit mean of render_references' clips.
    embedder = load_embedder(encoder)
    source = data.builtin_sources("test", ("bass",))[0]
    clips = render_references(data.make_instrument(source), "bass", FC.sample_rate)
    assert len(clips) == len(REFERENCE_NOTES["bass"])
    mean = embedder.embed_clips(clips).mean(axis=0)
    got = entry_vectors(embedder, [source], REFERENCE_SETS["shipped"])[0]
    assert np.allclose(got, mean / np.linalg.norm(mean), atol=1e-5)
