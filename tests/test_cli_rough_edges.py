"""What a new user hit, each fixed and checked with the real commands: the first-run path, one
clear line per error, one bad file among several, 80-column output, left-out entries,
library noise kept off the terminal, Ctrl+C during a build."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import REPO

from cir import defaults
from cir.cli import cli
from cir.paths import RUNTIME_DIR_ENV

SR = 44_100
TIM = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")


def write_wav(path: Path, audio: np.ndarray, rate: int = SR) -> Path:
    from pedalboard.io import AudioFile

    audio = np.asarray(audio, np.float32)
    with AudioFile(str(path), "w", rate, 1) as f:
        f.write(audio[None, :])
    return path


def tone(seconds: float, hz: float = 110.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return 0.4 * np.sin(2 * np.pi * hz * t)


def cir(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """The real `cir` in a subprocess: what a terminal sees, C-level stderr included."""
    full = dict(os.environ, PYTHONPATH=str(REPO), COLUMNS="80", **(env or {}))
    return subprocess.run([sys.executable, "-m", "cir", *args], capture_output=True, text=True,
                          env=full, timeout=timeout)


def assert_one_line_error(stderr: str, *expected: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), stderr
    assert "Traceback" not in stderr
    for text in expected:
        assert text in lines[0], stderr


@pytest.fixture(scope="module")
def default_db(tmp_path_factory):
    """A small catalogue embedded with the daemon's default embedder (what --local uses)."""
    from cir.presets_db import build
    from cir.presets_db.catalogue import Catalogue

    path = tmp_path_factory.mktemp("rough") / "catalogue.db"
    with Catalogue.open(path) as catalogue:
        build.add_builtin(catalogue, split="test", limit=10, workers=1, progress=False)
    return path


# --- first run ------------------------------------------------------------------------------------


def test_build_without_sources_says_which_command_adds_one(tmp_path):
    result = CliRunner().invoke(cli, ["catalogue", "build", "--db", str(tmp_path / "c.db")])
    assert result.exit_code == 1
    assert_one_line_error(result.stderr, "no sources yet", "cir catalogue add-builtin")


def test_stats_of_an_empty_catalogue_says_how_to_fill_it(tmp_path):
    result = CliRunner().invoke(cli, ["catalogue", "stats", "--db", str(tmp_path / "c.db")])
    assert result.exit_code == 0 and "no sources yet" in result.stdout
    assert "cir catalogue add-builtin" in result.stdout


@pytest.mark.slow
def test_first_run_start_says_how_to_fill_then_reload_status_and_open(tmp_path):
    """From an empty catalogue to an answer, as the messages say."""
    env = {
        defaults.ENDPOINT_ENV: f"ipc://{tmp_path / 'd.sock'}",
        defaults.WEB_PORT_ENV: "0",
        RUNTIME_DIR_ENV: str(tmp_path / "run"),
    }
    db = tmp_path / "fresh.db"
    start = cir("daemon", "start", "--db", str(db), "--embedder", "mfcc80", env=env)
    try:
        assert start.returncode == 0, start.stderr
        assert "daemon started" in start.stdout
        assert "page: http://127.0.0.1:" in start.stdout
        assert "is empty: fill it with `cir catalogue add-builtin`" in start.stderr
        assert "then run `cir catalogue reload`" in start.stderr
        status = cir("daemon", "status", env=env)
        url = next(line.split()[1] for line in status.stdout.splitlines()
                   if line.startswith("page:"))
        assert cir("open", "--print", env=env).stdout.strip() == url
        assert json.loads(cir("daemon", "status", "--json", env=env).stdout)["web_url"] == url
        loop = write_wav(tmp_path / "loop.wav", tone(2.0))
        refused = cir("match", str(loop), env=env)
        assert_one_line_error(refused.stderr, "cir catalogue add-builtin", "reload")
        fill = cir("catalogue", "add-builtin", "--limit", "5", "--embedder", "mfcc80",
                   "--db", str(db), env=env)
        assert fill.returncode == 0, fill.stderr
        reload = cir("catalogue", "reload", env=env)
        assert reload.stdout.strip() == "the daemon reloaded its catalogue: 5 searchable entries"
        answered = cir("match", str(loop), "--json", env=env)
        assert answered.returncode == 0, answered.stderr
        assert json.loads(answered.stdout)["families"]
    finally:
        cir("daemon", "stop", env=env)
    assert_one_line_error(cir("catalogue", "reload", env=env).stderr, "daemon not running")


# --- errors: one line, and one bad file does not stop the others ---------------------------------


@pytest.mark.slow
def test_short_empty_and_missing_files_do_not_stop_the_others(tmp_path, default_db):
    good = write_wav(tmp_path / "good.wav", tone(2.0))
    click = write_wav(tmp_path / "click.wav", np.array([0.5]))  # one sample
    hit = write_wav(tmp_path / "hit.wav", tone(0.01, 2000.0))  # 10 ms
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    missing = tmp_path / "missing.wav"
    run = cir("match", "--local", "--db", str(default_db), str(click), str(empty), str(good),
              str(missing), str(hit))
    assert run.returncode == 1  # some files failed...
    answered = [line for line in run.stdout.splitlines() if line.endswith(".wav")]
    assert answered == [str(click), str(good), str(hit)]  # ...the others were answered
    errors = run.stderr.splitlines()
    assert [e for e in errors if e.startswith("Error: ")] == [
        f"Error: cannot read {empty}: not a wav, flac, mp3, ogg or aiff file pedalboard can "
        "decode",
        f"Error: audio file {missing} does not exist; pass a wav/flac/mp3/ogg/aiff file",
    ]
    # Very short audio is padded and answered, with a warning instead of torch internals.
    assert "warning: the audio is only 0 ms long" in run.stderr
    assert "warning: the audio is only 10 ms long" in run.stderr
    for noise in ("Traceback", "Given input size", "daemon refused", "RuntimeError",
                  "ReadableAudioFile"):
        assert noise not in run.stdout + run.stderr


def test_json_lines_carry_each_files_error(tmp_path, default_db):
    good = write_wav(tmp_path / "good.wav", tone(1.0))
    result = CliRunner().invoke(cli, ["match", "--local", "--db", str(default_db), "--json",
                                      str(tmp_path / "nope.wav"), str(good)])
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.exit_code == 1
    assert [r["query"] for r in records] == [str(tmp_path / "nope.wav"), str(good)]
    assert "does not exist" in records[0]["error"] and records[1]["families"]


def test_db_without_local_is_refused_not_ignored(tmp_path):
    result = CliRunner().invoke(cli, ["match", "x.wav", "--db", str(tmp_path / "c.db")])
    assert result.exit_code == 2 and "--db applies to --local only" in result.output


def test_unexpected_failures_are_one_line_and_logged(tmp_path, monkeypatch):
    from cir import paths
    from cir.presets_db.catalogue import Catalogue

    def broken(self):
        raise ZeroDivisionError("deep inside a library")

    monkeypatch.setattr(Catalogue, "stats", broken)
    result = CliRunner().invoke(cli, ["catalogue", "stats", "--db", str(tmp_path / "c.db")])
    assert result.exit_code == 1
    log = paths.log_dir() / "cli.log"
    assert_one_line_error(result.stderr, "failed unexpectedly (ZeroDivisionError)", str(log))
    assert "deep inside a library" not in result.stderr
    assert "ZeroDivisionError: deep inside a library" in log.read_text()  # the details


def test_a_one_sample_sample_is_called_too_short_and_entries_keep_extensions(tmp_path):
    samples = tmp_path / "samples"
    (samples / "lead").mkdir(parents=True)
    (samples / "bass").mkdir()
    for suffix in ("wav", "flac", "ogg"):
        write_wav(samples / "lead" / f"loop.{suffix}", tone(0.5, 440.0))
    write_wav(samples / "bass" / "tick.wav", np.array([0.5]))
    db = str(tmp_path / "c.db")
    result = CliRunner().invoke(cli, ["catalogue", "add-folder", str(samples), "--db", db,
                                      "--embedder", "mfcc80", "--workers", "1"])
    assert result.exit_code == 0, result.output
    words = " ".join(result.stdout.split())  # the reason is wrapped to the terminal's width
    assert "too short to hold a sound (1 sample at 44100 Hz)" in words
    assert "cannot decode" not in result.stdout
    listing = CliRunner().invoke(cli, ["catalogue", "list", "--db", db, "--json"])
    names = sorted(r["name"] for r in json.loads(listing.stdout) if r["status"] == "ok")
    assert names == ["loop.flac", "loop.ogg", "loop.wav"]


# --- readable output -----------------------------------------------------------------------------


def test_result_rows_fit_80_columns_and_keep_file_names():
    from cir.cli.match import result_lines

    sf2 = "/home/producer/Music/SoundFonts/Very Long Collection Name/Orchestral Strings.sf2"
    hits = [{
        "rank": rank, "preset_id": rank, "score": 0.912 - rank / 10, "source": "sf2",
        "name": "A Preset Name That Goes On And On Like A Producer's Favourite " * (rank % 2 + 1),
        "key": "000:048", "locator": {"file": sf2, "bank": 0, "program": 48},
    } for rank in (1, 2, 3)]
    lines = result_lines({"keys": hits}, 80)
    assert lines[0] == "keys"
    for line in lines[1:]:
        assert len(line) <= 80, line
        assert line.endswith("Orchestral Strings.sf2 0:48"), line  # the file name, whole
    assert lines[1].split()[:2] == ["1", "0.812"]


def test_catalogue_show_and_stats_read_as_text_not_python(tmp_path, default_db):
    runner = CliRunner()
    show = runner.invoke(cli, ["catalogue", "show", "1", "--db", str(default_db)])
    stats = runner.invoke(cli, ["catalogue", "stats", "--db", str(default_db)])
    for result in (show, stats):
        assert result.exit_code == 0, result.output
        text = result.stdout
        for python in ("{", "}", "None", "['", "':"):
            assert python not in text, (python, text)
        assert all(len(line) <= 80 for line in text.splitlines()), text
    assert "where     factory preset " in show.stdout
    assert "error" not in show.stdout  # an ok entry has no error line
    assert "source  1  builtin" in stats.stdout


@pytest.mark.skipif(not TIM.exists(), reason="timgm6mb-soundfont not installed")
def test_left_out_entries_are_listed_on_request(tmp_path):
    args = ["catalogue", "add-sf2", str(TIM), "--program", "0", "--program", "120",
            "--program", "121", "--embedder", "mfcc80", "--workers", "1"]
    plain = CliRunner().invoke(cli, [*args, "--db", str(tmp_path / "a.db")])
    assert "left out 2 with no family (--left-out lists them)" in plain.stdout
    listed = CliRunner().invoke(cli, [*args, "--db", str(tmp_path / "b.db"), "--left-out"])
    lines = listed.stdout.splitlines()
    at = lines.index("left out 2 with no family")
    assert sorted(line.strip() for line in lines[at + 1 : at + 3]) == ["Breath Noise",
                                                                      "Fret Noise"]
    summary = json.loads(CliRunner().invoke(
        cli, [*args, "--db", str(tmp_path / "c.db"), "--json"]).stdout)
    assert sorted(e["name"] for e in summary["left_out"]) == ["Breath Noise", "Fret Noise"]


# --- library noise off the terminal --------------------------------------------------------------


def test_no_platformdirs_warning_without_xdg_runtime_dir(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("XDG_RUNTIME_DIR", RUNTIME_DIR_ENV, defaults.ENDPOINT_ENV)}
    run = subprocess.run([sys.executable, "-m", "cir", "daemon", "status"], env={
        **env, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=60)
    # (A daemon of this user may answer at the fallback runtime dir; either way, no warning.)
    if run.returncode:
        assert_one_line_error(run.stderr, "daemon not running")
    assert "Warning" not in run.stderr and "XDG_RUNTIME_DIR" not in run.stderr


def test_fluidsynth_noise_stays_off_the_terminal(tmp_path):
    fake = tmp_path / "broken.sf2"
    fake.write_bytes(b"RIFF\x10\x00\x00\x00sfbkLIST" + bytes(8))  # a SoundFont header, no body
    run = cir("catalogue", "add-sf2", str(fake), "--db", str(tmp_path / "c.db"))
    assert run.returncode == 1
    assert_one_line_error(run.stderr, "is not a SoundFont FluidSynth can load")
    for noise in ("fluidsynth:", "CRITICAL", "ipatch"):
        assert noise not in run.stderr
    junk = tmp_path / "notes.sf2"
    junk.write_text("not a soundfont")
    assert_one_line_error(cir("catalogue", "add-sf2", str(junk), "--db",
                              str(tmp_path / "c.db")).stderr, "is not a SoundFont")


# --- Ctrl+C --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_ctrl_c_during_a_build_is_one_line_and_the_build_resumes(tmp_path):
    db = tmp_path / "c.db"
    args = [sys.executable, "-m", "cir", "catalogue", "add-builtin", "--db", str(db),
            "--embedder", "mfcc80", "--workers", "2", "--limit", "2000"]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    # A terminal's Ctrl+C reaches every process of the foreground group: the workers too.
    # The build must not inherit an ignored SIGINT (what a shell gives a suite it starts in the
    # background, `make test &`): a foreground command in a terminal never has one.
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                text=True, start_new_session=True)
    finally:
        signal.signal(signal.SIGINT, inherited)

    def written() -> int:
        try:
            with sqlite3.connect(db) as conn:
                return conn.execute("SELECT COUNT(*) FROM presets").fetchone()[0]
        except sqlite3.Error:
            return 0

    deadline = time.monotonic() + 240
    while written() < 32 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    lines = [line for line in err.splitlines() if line.strip() and "rendering" not in line]
    assert lines == ["Interrupted; nothing half-written is kept (builds resume where they "
                     "stopped)."], err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    kept = written()
    assert kept >= 32
    # Run again: what was written is skipped, the rest is added.
    again = CliRunner().invoke(cli, ["catalogue", "build", "--db", str(db), "--embedder",
                                     "mfcc80", "--json"])
    summary = json.loads(again.stdout)
    assert summary["skipped"] >= kept - 16  # at most one unfinished batch is redone
    assert summary["added"] + summary["skipped"] + summary["updated"] == 2000


def test_synth_list_rows_fit_80_columns():
    result = CliRunner().invoke(cli, ["synth", "list"])
    rows = result.stdout.splitlines()
    assert len(rows) > 6000 and max(len(row) for row in rows) <= 80


def test_absent_families_are_marked_not_listed():
    from cir import defaults
    from cir.cli.match import result_lines

    hit = {"rank": 1, "preset_id": 1, "score": 0.93, "source": "builtin", "name": "Pad 1",
           "key": "pad-0001", "locator": {"id": "pad-0001"}}
    below = defaults.PRESENCE_THRESHOLD / 2
    lines = result_lines({"pad": [hit], "bass": [{**hit, "name": "Bass 1", "score": 0.95}]},
                         80, presence={"pad": below, "bass": 0.97})
    assert lines[0] == f"pad  absent (presence {below:.0%})"
    assert lines[1] == "bass  (presence 97%)" and "Bass 1" in lines[2]
    assert not any("Pad 1" in line for line in lines)


def test_the_best_scoring_family_is_shown_even_when_presence_misses_it():
    from cir.cli.match import result_lines

    lead = {"rank": 1, "preset_id": 7, "score": 0.506, "source": "builtin", "name": "Lead 7",
            "key": "lead-0007", "locator": {"id": "lead-0007"}}
    keys = {**lead, "preset_id": 8, "score": 0.251, "name": "E-Piano 8"}
    lines = result_lines({"lead": [lead], "keys": [keys]}, 80,
                         presence={"lead": 0.30, "keys": 0.86})
    assert lines[0] == "lead  (presence 30%, unsure it plays)" and "Lead 7" in lines[1]
    assert lines[2] == "keys  (presence 86%)" and "E-Piano 8" in lines[3]
