"""`cir catalogue ...`: build and inspect the preset catalogue (presets_db)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from cir import defaults

EMBEDDERS = click.Choice(["default", "mfcc80"])


def _db_option(f: Callable) -> Callable:
    return click.option(
        "--db",
        "db",
        type=click.Path(dir_okay=False),
        default=None,
        help="Catalogue database file (default: $CIR_HOME/catalogue.db or the user data dir).",
    )(f)


def _json_option(f: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(f)


def _build_options(f: Callable) -> Callable:
    options = [
        click.option(
            "--embedder",
            type=EMBEDDERS,
            default=defaults.CATALOGUE_EMBEDDER,
            show_default=True,
            help="Embedder for the vectors: 'default' is the daemon's (trained weights, "
            "else MFCC-80).",
        ),
        click.option(
            "--workers",
            type=click.IntRange(1),
            default=None,
            help="Render processes (default: all cores).",
        ),
        click.option(
            "--batch-size",
            type=click.IntRange(1),
            default=defaults.BUILD_BATCH_SIZE,
            show_default=True,
            help="Presets written per transaction.",
        ),
        click.option(
            "--retry-failed", is_flag=True, help="Render again presets that failed before."
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _open(db: str | None):
    from cir.presets_db.catalogue import Catalogue

    return Catalogue.open(db)


def _emit(data: Any, as_json: bool, human: Callable[[Any], None]) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        human(data)


def _print_summary(data: dict[str, Any]) -> None:
    click.echo(
        f"added {data['added']}, updated {data['updated']}, skipped {data['skipped']}, "
        f"failed {data['failed']}, removed {data['removed']}, left out (no family) "
        f"{data['unmapped']} in {data['seconds']:.1f} s "
        f"({data['presets_per_second']:.2f} presets/s, embedder {data['embedder_version']})"
    )
    for failure in data["failures"]:
        click.echo(f"  failed: source {failure['source']} {failure['key']}: {failure['error']}")


def _run_build(db: str | None, as_json: bool, call: Callable, **kwargs: Any) -> None:
    options = {
        "embedder": kwargs.pop("embedder"),
        "workers": kwargs.pop("workers"),
        "batch_size": kwargs.pop("batch_size"),
        "retry_failed": kwargs.pop("retry_failed"),
        "progress": not as_json,
    }
    with _open(db) as catalogue:
        summary = call(catalogue, **kwargs, **options)
    _emit(summary.to_dict(), as_json, _print_summary)


@click.group()
def catalogue() -> None:
    """Build and inspect the catalogue of your presets that `cir match` searches.

    \b
    Example:
        cir catalogue add-builtin --split test
        cir catalogue add-sf2 /usr/share/sounds/sf2/TimGM6mb.sf2
        cir catalogue stats --json
    """


@catalogue.command("add-builtin")
@click.option("--split", type=click.Choice(defaults.SPLITS), default=None, help="Only this split.")
@click.option(
    "--limit", type=click.IntRange(1), default=None, help="At most N presets, all families."
)
@_build_options
@_db_option
@_json_option
def add_builtin(db, as_json, split, limit, **build) -> None:
    """Add the built-in synth's factory bank and render it.

    \b
    Example:
        cir catalogue add-builtin
        cir catalogue add-builtin --split test --json
    """
    from cir.presets_db.build import add_builtin as call

    _run_build(db, as_json, call, split=split, limit=limit, **build)


@catalogue.command("add-sf2")
@click.argument("file", type=click.Path())
@click.option(
    "--program",
    "programs",
    type=click.IntRange(0, 127),
    multiple=True,
    help="Only this program number (0-127, repeatable; default: every preset).",
)
@_build_options
@_db_option
@_json_option
def add_sf2(db, as_json, file, programs, **build) -> None:
    """Add every (bank, program) preset of a SoundFont (SF2/SF3) and render them.

    Drum kits (bank 128) become one entry per kit piece (kick, snare, clap, hats, crash).

    \b
    Example:
        cir catalogue add-sf2 /usr/share/sounds/sf2/TimGM6mb.sf2
        cir catalogue add-sf2 my.sf2 --program 33 --program 81
    """
    from cir.presets_db.build import add_sf2 as call

    _run_build(db, as_json, call, file=file, programs=list(programs) or None, **build)


@catalogue.command("add-vst3")
@click.argument("plugin", type=click.Path())
@click.option("--presets", type=click.Path(), default=None, help="Folder of .vstpreset files.")
@click.option("--family", default=None, help="Family when folder names do not tell one.")
@_build_options
@_db_option
@_json_option
def add_vst3(db, as_json, plugin, presets, family, **build) -> None:
    """Add a VST3 instrument: each .vstpreset under --presets, or its default state.

    Families come from folder names (Bass, Leads, Drums, Pad, Keys, Pluck...) or --family.

    \b
    Example:
        cir catalogue add-vst3 ~/.vst3/Synth.vst3 --presets ~/Presets/Synth
        cir catalogue add-vst3 build/plugins/CIRTestSynth.vst3 --family lead
    """
    from cir.presets_db.build import add_vst3 as call

    _run_build(db, as_json, call, plugin=plugin, presets=presets, family=family, **build)


@catalogue.command("add-folder")
@click.argument("folder", type=click.Path())
@click.option("--family", default=None, help="Family of files outside a family subfolder.")
@_build_options
@_db_option
@_json_option
def add_folder(db, as_json, folder, family, **build) -> None:
    """Add every audio file (wav, flac, mp3, ogg, aiff) under a folder.

    A file's family is its first-level subfolder (drums/, bass/, lead/, pad/, keys/...).

    \b
    Example:
        cir catalogue add-folder ~/Samples/OneShots
        cir catalogue add-folder ~/Samples/808s --family percussion
    """
    from cir.presets_db.build import add_folder as call

    _run_build(db, as_json, call, folder=folder, family=family, **build)


@catalogue.command("build")
@_build_options
@_db_option
@_json_option
def build_command(db, as_json, **build) -> None:
    """Re-scan every registered source; render and embed only what changed.

    \b
    Example:
        cir catalogue build
        cir catalogue build --embedder mfcc80 --json
    """
    from cir.presets_db.build import build as call

    _run_build(db, as_json, call, **build)


@catalogue.command("list")
@click.option("--family", default=None, help="Only this family.")
@click.option("--source", default=None, help="Only this source (id or path).")
@click.option("--failed", is_flag=True, help="Only presets that failed to render.")
@_db_option
@_json_option
def list_command(db, as_json, family, source, failed) -> None:
    """List catalogue entries.

    \b
    Example:
        cir catalogue list --family bass
        cir catalogue list --source 2 --json
    """
    with _open(db) as catalogue:
        records = catalogue.presets(family, source, "failed" if failed else None)
    rows = [r.to_dict() for r in records]

    def human(rows: list[dict[str, Any]]) -> None:
        for r in rows:
            status = "" if r["status"] == "ok" else f"  FAILED: {r['error']}"
            source = f"{r['source']['kind']}:{r['source']['id']}"
            click.echo(f"{r['id']:>6}  {r['family']:<10}  {source:<10}  {r['name']}{status}")

    _emit(rows, as_json, human)


@catalogue.command("show")
@click.argument("preset_id", type=int)
@_db_option
@_json_option
def show(db, as_json, preset_id) -> None:
    """Show one entry: name, family, source, locator, preview file, renders.

    \b
    Example:
        cir catalogue show 42 --json
    """
    with _open(db) as catalogue:
        record = catalogue.preset(preset_id).to_dict()

    def human(r: dict[str, Any]) -> None:
        for key in ("id", "name", "family", "status", "error", "tags", "locator", "preview"):
            click.echo(f"{key:>8}: {r[key]}")
        click.echo(f"{'source':>8}: {r['source']['kind']} {r['source']['path']}")
        click.echo(f"{'vectors':>8}: {r['embedders']}")

    _emit(record, as_json, human)


@catalogue.command("stats")
@_db_option
@_json_option
def stats(db, as_json) -> None:
    """Counts: entries, by_family, by_source, failures, embedder versions.

    \b
    Example:
        cir catalogue stats --json
    """
    with _open(db) as catalogue:
        data = catalogue.stats()

    def human(d: dict[str, Any]) -> None:
        click.echo(f"{d['path']}: {d['entries']} entries, {d['failed']} failed")
        for family, n in d["by_family"].items():
            click.echo(f"  {family:<10} {n}")
        for sid, s in d["by_source"].items():
            click.echo(
                f"  source {sid}: {s['kind']} {s['path']} {s['args'] or ''} "
                f"({s['entries']} entries, {s['failed']} failed)"
            )
        click.echo(f"  vectors: {d['embedders']}")

    _emit(data, as_json, human)


@catalogue.command("remove")
@click.argument("source")
@_db_option
@_json_option
def remove(db, as_json, source) -> None:
    """Remove a source (id or path) with its entries, vectors and previews.

    \b
    Example:
        cir catalogue remove 2
        cir catalogue remove /usr/share/sounds/sf2/TimGM6mb.sf2
    """
    with _open(db) as catalogue:
        removed = catalogue.remove_source(source)
    _emit(
        {"source": source, "removed": removed},
        as_json,
        lambda d: click.echo(f"removed source {d['source']} ({d['removed']} entries)"),
    )
