"""One CLI vocabulary: a walk over every command's --help and options checks the rules.

- every command has help with an `Example:` whose commands exist, use only options that
  exist, and name factory presets that exist;
- a short flag means one thing across all commands;
- the catalogue option is `--db` everywhere (`--catalogue` is an accepted alias, not shown);
- `--json` is one flag with one meaning, and its output is valid JSON when redirected: an
  object (or list) pretty-printed, a stream of results as JSON Lines.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from conftest import REPO

from cir.cli import cli

FACTORY_ID = re.compile(r"\b(?:percussion|bass|lead|pad|keys)-\d+\b")


def walk(group: click.Group = cli, path: tuple[str, ...] = ()):
    """(command path, command) of every command and group under `group`."""
    for name, command in sorted(group.commands.items()):
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from walk(command, (*path, name))


COMMANDS = list(walk())


def examples(command: click.Command) -> list[str]:
    """The `cir ...` lines of a command's Example: block."""
    text = command.help or ""
    assert "Example:" in text
    block = text.split("Example:", 1)[1]
    lines = [line.strip() for line in block.splitlines() if line.strip()]
    joined, pending = [], ""
    for line in lines:  # backslash continuations
        pending = f"{pending} {line.rstrip(chr(92)).strip()}".strip()
        if not line.endswith("\\"):
            joined.append(pending)
            pending = ""
    return [line for line in joined if re.match(r"^([A-Z_]+=\S+\s+)*cir\s", line)]


def resolve(words: list[str]) -> tuple[click.Command, list[str]]:
    """The command an example names, and its remaining words."""
    command: click.Command = cli
    while isinstance(command, click.Group) and words and words[0] in command.commands:
        command = command.commands[words.pop(0)]
    return command, words


def options_of(command: click.Command) -> dict[str, click.Parameter]:
    return {opt: p for p in command.params for opt in (*p.opts, *p.secondary_opts)}


@pytest.mark.parametrize("path,command", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_help_runs_and_its_examples_exist(path, command):
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example:" in result.output
    found = examples(command)
    assert found, f"`cir {' '.join(path)}` has no `cir ...` example"
    from cir.synth.bank import get_preset

    for line in found:
        words = shlex.split(line)
        while "=" in words[0]:  # VAR=value prefixes
            words.pop(0)
        assert words.pop(0) == "cir"
        target, rest = resolve(words)
        assert not isinstance(target, click.Group) or not rest, f"unknown command in: {line}"
        known = options_of(target)
        for word in rest:
            if word.startswith("-") and word != "-":
                assert word.split("=")[0] in known, f"{line}: no option {word}"
        for preset in FACTORY_ID.findall(line):
            get_preset(preset)  # raises for an id that does not exist


def test_short_flags_mean_one_thing_everywhere():
    meaning: dict[str, set[str]] = {}
    for _, command in COMMANDS:
        for param in command.params:
            shorts = [o for o in param.opts if re.fullmatch(r"-[A-Za-z]", o)]
            longs = [o for o in param.opts if o.startswith("--")]
            for short in shorts:
                meaning.setdefault(short, set()).add(longs[0] if longs else param.name)
    clashes = {short: longs for short, longs in meaning.items() if len(longs) > 1}
    assert not clashes, clashes


def test_the_catalogue_option_is_db_everywhere_with_catalogue_as_an_alias():
    with_db = []
    for path, command in COMMANDS:
        for param in command.params:
            if "--catalogue" in param.opts or "--db" in param.opts:
                assert param.opts[0] == "--db" and param.name == "db", path
                assert "--catalogue" in param.opts, path  # the old name still works
                with_db.append(path)
                record = param.get_help_record(click.Context(command))
                assert record[0].startswith("--db") and "--catalogue" not in record[0], path
    names = {" ".join(p) for p in with_db}
    assert {"match", "demo", "daemon run", "daemon start", "catalogue stats"} <= names


def test_json_is_one_flag_with_one_meaning():
    for path, command in COMMANDS:
        for param in command.params:
            if "--json" in param.opts:
                assert param.name == "as_json" and param.is_flag, path
                assert param.help and "JSON" in param.help, path


def test_the_old_catalogue_name_still_works(tmp_path):
    db = tmp_path / "c.db"
    result = CliRunner().invoke(cli, ["catalogue", "stats", "--catalogue", str(db), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["path"] == str(db)


def test_json_objects_are_pretty_and_lists_are_one_document(tmp_path):
    runner = CliRunner()
    stats = runner.invoke(cli, ["catalogue", "stats", "--db", str(tmp_path / "c.db"), "--json"])
    assert stats.exit_code == 0
    assert stats.stdout.startswith("{\n  \"")  # indent 2
    listing = runner.invoke(cli, ["synth", "list", "--family", "bass", "--split", "test",
                                  "--json"])
    rows = json.loads(listing.stdout)
    assert listing.stdout.startswith("[\n  {") and rows and rows[0]["family"] == "bass"


@pytest.mark.slow
def test_json_is_valid_when_redirected_while_a_progress_bar_runs(tmp_path):
    """`cir train --json > file`: the progress bar goes to stderr, the file is JSON."""
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({
        "name": "tiny", "channels": [8, 8, 16, 16], "dim": 16, "train_presets_per_family": 4,
        "notes_per_preset": 2, "pair_presets": 4, "mixes": 1, "steps": 2, "warmup_steps": 1,
        "valid_presets_per_family": 3, "valid_notes_per_preset": 1, "valid_mixes": 2,
        "eval_every": 2, "checkpoint_every": 1, "log_every": 1, "workers": 1, "threads": 1,
    }))
    out = tmp_path / "summary.json"
    env = dict(os.environ, CIR_CACHE=str(tmp_path / "cache"), PYTHONPATH=str(REPO),
               COLUMNS="80", FORCE_COLOR="1")
    with out.open("w") as f:
        run = subprocess.run(
            [sys.executable, "-m", "cir", "train", "--config", str(config), "--out",
             str(tmp_path / "run"), "--json"],
            stdout=f, stderr=subprocess.PIPE, env=env, timeout=600, cwd=tmp_path,
        )
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    summary = json.loads(out.read_text())
    assert summary["steps"] == 2 and Path(summary["out"]).is_dir()


def test_factory_ids_need_no_leading_zeros(tmp_path):
    out = tmp_path / "b.wav"
    result = CliRunner().invoke(cli, ["synth", "render", "bass-42", "-n", "40", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "(bass-0042)" in result.output and out.stat().st_size > 1000
