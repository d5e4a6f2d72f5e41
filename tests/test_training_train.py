"""One training step on rendered audio in a temp dir, checkpoints, configs, benchmark plumbing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cir.encoder.features import FeatureConfig
from cir.encoder.model import (
    CheckpointError,
    EncoderConfig,
    TimbreEncoder,
    count_parameters,
    load_model,
    read_checkpoint,
    save_checkpoint,
)
from cir.evaluation import harness
from cir.training.config import EncoderTrainConfig, TrainConfigError, load_config
from cir.training.train import make_batch, prepare_data, train

TINY = {
    "name": "tiny",
    "channels": [8, 8, 16, 16],
    "dim": 16,
    "train_presets_per_family": 4,
    "notes_per_preset": 2,
    "pair_presets": 4,
    "mixes": 1,
    "steps": 2,
    "warmup_steps": 1,
    "valid_presets_per_family": 3,
    "valid_notes_per_preset": 1,
    "valid_mixes": 2,
    "eval_every": 2,
    "checkpoint_every": 1,
    "log_every": 1,
    "workers": 1,
    "threads": 1,
}


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CIR_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_default_model_is_compact_and_unit_norm():
    model = TimbreEncoder(EncoderConfig(channels=(16, 32, 64, 128), dim=128)).eval()
    assert 300_000 <= count_parameters(model) <= 3_000_000
    with torch.no_grad():
        out = model(torch.randn(3, 22_050))
    assert out.shape == (3, 128)
    assert torch.allclose(out.norm(dim=1), torch.ones(3), atol=1e-5)


def test_checkpoint_round_trip_and_refusals(tmp_path):
    torch.manual_seed(1)
    model = TimbreEncoder(EncoderConfig(channels=(8, 8, 16), dim=16)).eval()
    path = tmp_path / "m.pt"
    version = save_checkpoint(path, model)
    loaded, loaded_version = load_model(path)
    assert loaded_version == version and loaded.config == model.config
    x = torch.randn(2, 11_025)
    with torch.no_grad():
        assert torch.allclose(model(x), loaded(x), atol=1e-6)
    with pytest.raises(CheckpointError, match="features"):
        load_model(path, features=FeatureConfig(n_mels=128))
    payload = read_checkpoint(path)
    payload["features_version"] = 999
    torch.save(payload, tmp_path / "old.pt")
    with pytest.raises(CheckpointError, match="features_version"):
        load_model(tmp_path / "old.pt")
    payload = read_checkpoint(path)
    payload["config"]["heads"] = 3
    torch.save(payload, tmp_path / "odd.pt")
    with pytest.raises(CheckpointError, match="unknown field 'heads'"):
        load_model(tmp_path / "odd.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "missing.pt")


def test_config_rejects_unknown_settings(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"stepz": 3}))
    with pytest.raises(TrainConfigError, match="stepz"):
        load_config(path)
    path.write_text(json.dumps({"loss": "l2"}))
    with pytest.raises(TrainConfigError, match="loss"):
        load_config(path)
    # Each kind has its own type: an encoder setting in a heads config is refused by name.
    heads = {"kind": "mix-heads", "frozen_encoder": "weights/cir-cnn.pt"}
    path.write_text(json.dumps({**heads, "margin": 0.3}))
    with pytest.raises(TrainConfigError, match="unknown mix-heads training setting 'margin'"):
        load_config(path)
    path.write_text(json.dumps({"kind": "gan"}))
    with pytest.raises(TrainConfigError, match="kind 'gan'"):
        load_config(path)
    assert load_config_text(tmp_path, heads).frozen_encoder == "weights/cir-cnn.pt"


def test_shipped_configs_load(tmp_path):
    from cir.training.config import CONFIG_TYPES

    configs = sorted((Path(__file__).resolve().parents[1] / "training" / "configs").glob("*.json"))
    assert configs
    for path in configs:
        config = load_config(path)
        assert type(config) is CONFIG_TYPES[config.kind]
        assert load_config_text(tmp_path, config.to_dict()) == config  # round trip


def test_shipped_config_names_are_unique():
    configs = sorted((Path(__file__).resolve().parents[1] / "training" / "configs").glob("*.json"))
    names = [load_config(path).name for path in configs]
    assert len(configs) >= 5 and len(names) == len(set(names))


def test_export_never_replaces_another_runs_weights(tmp_path):
    from cir.training.run import check_export

    root = Path(__file__).resolve().parents[1] / "training" / "configs"
    mine, other = load_config(root / "cir-cnn.json"), load_config(root / "cir-cnn-triplet.json")
    check_export(tmp_path, mine)  # nothing there yet
    (tmp_path / "cir-cnn.pt").write_bytes(b"weights")
    (tmp_path / "cir-cnn.json").write_text(json.dumps({"train_config": mine.to_dict()}))
    check_export(tmp_path, mine)  # the same run again
    stranger = EncoderTrainConfig.from_dict({**other.to_dict(), "name": "cir-cnn"})
    with pytest.raises(TrainConfigError, match="holds the weights of config 'cir-cnn'"):
        check_export(tmp_path, stranger)
    (tmp_path / "cir-cnn.json").unlink()
    with pytest.raises(TrainConfigError, match="an unknown run"):
        check_export(tmp_path, mine)
    assert (tmp_path / "cir-cnn.pt").read_bytes() == b"weights"


def test_checkpoints_named_by_the_shipped_configs_exist():
    from cir.encoder.embed import WEIGHTS_DIR
    from cir.training.loop import CHECKPOINTS_DIR, weights_path

    configs = sorted((Path(__file__).resolve().parents[1] / "training" / "configs").glob("*.json"))
    named = {(path.name, key, value) for path in configs
             for key, value in json.loads(path.read_text()).items()
             if key in ("frozen_encoder", "init_encoder", "init_heads") and value}
    assert len(named) >= 5
    for config, key, value in sorted(named):
        found = weights_path(value)
        assert found.is_file(), f"{config}: {key} {value} is not at {found}"
        # Shipped weights come from the encoder package, earlier ones from the checkpoints.
        assert found.parent in (WEIGHTS_DIR, CHECKPOINTS_DIR)


def load_config_text(folder, raw):
    path = folder / "round-trip.json"
    path.write_text(json.dumps(raw))
    return load_config(path)


@pytest.mark.slow
def test_training_steps_resume_and_benchmark(tmp_path, cache):
    config = EncoderTrainConfig.from_dict(TINY)
    summary = train(config, tmp_path / "run", progress=False)
    assert summary["steps"] == 2 and summary["best"]["step"] == 2
    log = [json.loads(line) for line in (tmp_path / "run" / "train.log").read_text().splitlines()]
    losses = [r["loss"] for r in log if "loss" in r]
    assert len(losses) == 2 and all(np.isfinite(losses))
    assert read_checkpoint(tmp_path / "run" / "last.pt")["step"] == 2
    # Same config, same weights (seeded data, seeded init, one thread).
    again = train(config, tmp_path / "again", progress=False)
    assert again["best"] == summary["best"]
    assert (
        read_checkpoint(tmp_path / "run" / "best.pt")["version"]
        == read_checkpoint(tmp_path / "again" / "best.pt")["version"]
    )

    # Batches are a pure function of (seed, step): resuming replays the same data.
    td = prepare_data(config, progress=False)
    a, b = make_batch(1, config, td), make_batch(1, config, td)
    assert torch.equal(a.singles, b.singles) and torch.equal(a.mixes, b.mixes)
    assert a.presets == b.presets and sum(a.is_mix) == config.mixes

    # A new run never replaces a finished one in the same folder.
    before = (tmp_path / "run" / "last.pt").read_bytes()
    with pytest.raises(TrainConfigError, match=r"already holds a run: add --resume"):
        train(config, tmp_path / "run", progress=False)
    assert (tmp_path / "run" / "last.pt").read_bytes() == before

    longer = EncoderTrainConfig.from_dict({**TINY, "steps": 3, "eval_every": 3})
    resumed = train(longer, tmp_path / "run", resume=True, progress=False)
    assert read_checkpoint(tmp_path / "run" / "last.pt")["step"] == 3
    assert resumed["steps"] == 3

    # The benchmark on a tiny catalogue: JSON shape, both embedders, same seed same numbers.
    kw = {
        "queries": 3,
        "seed": 4,
        "embedder": str(tmp_path / "run" / "best.pt"),
        "workers": 1,
        "progress": False,
        "catalogue_per_family": 4,
    }
    first = harness.run_benchmark("builtin-mix3", **kw)
    assert first == harness.run_benchmark("builtin-mix3", **kw)
    assert {"benchmark", "queries", "model", "baseline"} <= set(first)
    for side in ("model", "baseline"):
        assert set(first[side]) == {"per_family", "mean"}
        assert set(first[side]["per_family"]) == {"percussion", "bass", "lead"}
        for scores in [*first[side]["per_family"].values(), first[side]["mean"]]:
            assert 0 <= scores["top1"] <= scores["top5"] <= 100
    single = harness.run_benchmark("builtin-single", **kw)
    assert single["queries"] == 3 and single["catalogue"] == 12


def test_benchmark_queries_are_seeded_and_never_a_reference_note():
    from cir.presets_db.render import reference_notes

    sources, held_out = harness.builtin_catalogue(per_family=6)
    assert len(sources) == 18 and len(held_out) == 18  # TEST presets fill small catalogues
    a = harness.single_queries(sources, held_out, 30, seed=1)
    assert a == harness.single_queries(sources, held_out, 30, seed=1)
    assert a != harness.single_queries(sources, held_out, 30, seed=2)
    for q in a:
        family = sources[q.target].family
        refs = {(r.pitch, r.velocity, r.duration) for r in reference_notes(family)}
        assert (q.note.pitch, q.note.velocity, q.note.duration) not in refs
        assert sources[q.target].key in held_out
    m = harness.mix_queries(sources, held_out, 10, seed=1)
    assert m == harness.mix_queries(sources, held_out, 10, seed=1)
    assert all(sources[i].family == f for mix in m for f, i in mix.items())


def test_rank_hits_hand_case():
    catalogue = np.eye(3, dtype=np.float32)
    queries = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0], [0.5, 0.4, 0.3]], np.float32)
    hits = harness.rank_hits(queries, catalogue, np.array([0, 0, 2]))
    assert hits[1].tolist() == [True, False, False]
    assert hits[5].tolist() == [True, True, True]
