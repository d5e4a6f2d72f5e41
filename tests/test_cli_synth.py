"""`cir synth list / render / export` through click's CliRunner, in process."""

from __future__ import annotations

import json

import click
import numpy as np
import pytest
from click.testing import CliRunner
from pedalboard.io import AudioFile

from cir.cli import cli
from cir.synth.bank import get_preset, presets
from cir.synth.preset import load_preset


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _sub_bass_id() -> str:
    """A plain poly sub bass (no effects, no drive): its spectrum peaks at the fundamental,
    and chords sound (a mono voice would cut the earlier notes)."""
    for p in presets("bass"):
        plain = not p.effects and p.voice.drive == 0 and not p.voice.mono
        if p.tags[0] == "sub" and "808" not in p.tags and plain:
            return p.id
    raise AssertionError("the bank has no plain sub bass")


def _read(path) -> tuple[np.ndarray, int]:
    with AudioFile(str(path)) as f:
        return f.read(f.frames)[0], int(f.samplerate)


def _peaks(audio: np.ndarray, sr: int, count: int) -> list[float]:
    """Frequencies of the `count` strongest spectral peaks, each at least 10 % from the others."""
    n = max(len(audio), sr)  # zero-pad to 1 Hz bins or finer
    power = np.abs(np.fft.rfft(audio * np.hanning(len(audio)), n=n)) ** 2
    freqs = np.fft.rfftfreq(n, 1.0 / sr)
    found: list[float] = []
    for _ in range(count):
        i = int(np.argmax(power))
        found.append(float(freqs[i]))
        power[np.abs(freqs - freqs[i]) < 0.1 * freqs[i]] = 0.0
    return sorted(found)


def test_list_json_has_every_preset_with_its_fields(runner):
    result = runner.invoke(cli, ["synth", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) >= 6000
    assert {"id", "name", "family", "split", "tags"} <= set(rows[0])
    assert sum(r["family"] == "lead" for r in rows) >= 1000


def test_list_filters_by_family_and_split(runner):
    result = runner.invoke(
        cli, ["synth", "list", "--family", "basses", "--split", "valid", "--json"]
    )
    rows = json.loads(result.stdout)
    assert (
        rows and {r["family"] for r in rows} == {"bass"} and {r["split"] for r in rows} == {"valid"}
    )
    table = runner.invoke(cli, ["synth", "list", "--family", "bass"])
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert lines[0].split()[:4] == ["id", "name", "family", "split"]
    assert len(lines) == 1 + len(presets("bass"))
    assert all(" bass " in line for line in lines[1:])


def test_list_rejects_unknown_family_and_split_in_one_line(runner):
    result = runner.invoke(cli, ["synth", "list", "--family", "strings"])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert "percussion, bass, lead, pad, keys" in result.stderr
    result = runner.invoke(cli, ["synth", "list", "--split", "holdout"])
    assert result.exit_code == 1 and "train, valid, test" in result.stderr


def test_render_writes_the_requested_pitch(runner, tmp_path):
    out = tmp_path / "bass.wav"
    result = runner.invoke(cli, ["synth", "render", _sub_bass_id(), "--note", "45", "-o", str(out)])
    assert result.exit_code == 0, result.output
    audio, sr = _read(out)
    assert sr == 44_100
    assert np.sqrt(np.mean(audio**2)) > 1e-3
    (peak,) = _peaks(audio, sr, 1)
    assert abs(peak - 110.0) < 110.0 * 0.02


def test_render_chord_and_sequence(runner, tmp_path):
    chord, seq = tmp_path / "chord.wav", tmp_path / "seq.wav"
    args = [
        "synth",
        "render",
        _sub_bass_id(),
        "-n",
        "57",
        "-n",
        "64",
        "--seconds",
        "0.5",
        "-r",
        "22050",
    ]
    assert runner.invoke(cli, [*args, "-o", str(chord)]).exit_code == 0
    assert runner.invoke(cli, [*args, "--sequence", "-o", str(seq)]).exit_code == 0
    audio, sr = _read(chord)
    assert sr == 22_050
    low, high = _peaks(audio, sr, 2)
    assert abs(low - 220.0) < 5 and abs(high - 329.6) < 7
    assert len(_read(seq)[0]) == pytest.approx(len(audio) + 0.5 * sr, abs=2)


def test_render_a_preset_file(runner, tmp_path):
    path = tmp_path / "lead.json"
    path.write_text(get_preset("lead-0042").to_json())
    out = tmp_path / "lead.wav"
    result = runner.invoke(cli, ["synth", "render", str(path), "--note", "72", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert np.abs(_read(out)[0]).max() > 0.01


def test_broken_preset_file_names_the_field(runner, tmp_path):
    doc = get_preset("bass-0001").to_dict()
    doc["voice"]["filter"]["resonance"] = 3.0
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(doc))
    result = runner.invoke(
        cli, ["synth", "render", str(path), "-n", "40", "-o", str(tmp_path / "x.wav")]
    )
    assert result.exit_code == 1
    assert "preset.voice.filter.resonance" in result.stderr and "3.0" in result.stderr
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "x.wav").exists()


def test_unknown_preset_id_is_one_clear_line(runner, tmp_path):
    result = runner.invoke(
        cli, ["synth", "render", "bass-99999", "-n", "40", "-o", str(tmp_path / "x.wav")]
    )
    assert result.exit_code == 1
    assert "no factory preset 'bass-99999'" in result.stderr and "cir synth list" in result.stderr


def test_export_writes_one_file_per_preset_and_an_index(runner, tmp_path):
    result = runner.invoke(
        cli, ["synth", "export", str(tmp_path / "bank"), "--family", "keys", "--split", "test"]
    )
    assert result.exit_code == 0, result.output
    expected = presets("keys", "test")
    files = sorted((tmp_path / "bank").glob("keys-*.json"))
    assert len(files) == len(expected) > 50
    assert load_preset(files[0]) == get_preset(files[0].stem)
    assert files[0].read_text().startswith("{\n")  # pretty-printed for people
    index = json.loads((tmp_path / "bank" / "index.json").read_text())
    assert [r["id"] for r in index["presets"]] == [p.id for p in expected]
    assert index["bank_size"] >= 6000


def _commands(group: click.Group, path: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        yield (*path, name)
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))


@pytest.mark.parametrize(
    "path", [(), *[("synth", c) for c in ("list", "render", "export")], ("synth",)]
)
def test_synth_help_has_examples(runner, path):
    result = runner.invoke(cli, [*path, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output


def test_every_cir_command_help_has_an_example(runner):
    missing = [
        " ".join(p)
        for p in _commands(cli)
        if "Example" not in runner.invoke(cli, [*p, "--help"]).output
    ]
    assert not missing
