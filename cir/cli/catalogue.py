"""`cir catalogue ...`: build and inspect the preset catalogue (presets_db)."""

from __future__ import annotations

import shutil
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from cir import defaults
from cir.cli.output import db_option, echo_json, fit, json_option, json_stdout

EMBEDDERS = click.Choice(["default", "mfcc80"])


def _width() -> int:
    """The terminal's width (80 when it cannot be told, e.g. piped)."""
    return shutil.get_terminal_size((80, 24)).columns


def fit_path(path: str, width: int) -> str:
    """A path cut from the left so that its file name survives: …/sf2/TimGM6mb.sf2."""
    if len(path) <= width:
        return path
    name = Path(path).name
    if len(name) + 2 > width:
        return fit(name, width)
    return "…" + path[len(path) - (width - 1):]


def _wrap(text: str, indent: str = "    ") -> str:
    return textwrap.fill(text, _width(), initial_indent=indent, subsequent_indent=indent)


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
            help="Render processes (default: all cores); with --engine ray, Ray tasks at "
            "once (default: the cluster's CPUs).",
        ),
        click.option(
            "--engine",
            type=click.Choice(defaults.BUILD_ENGINES),
            default=defaults.BUILD_ENGINE,
            show_default=True,
            help="Where presets render: 'local' worker processes, or 'ray' tasks on a local "
            "Ray instance or the cluster at --address (pip install 'cir[ray]').",
        ),
        click.option(
            "--address",
            default=None,
            metavar="HOST:PORT",
            help="With --engine ray: the Ray cluster to use (its head, e.g. head:6379); "
            "every node needs cir and the plugins/SoundFonts at the same paths. Default: "
            "start a local Ray instance for the build.",
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
        click.option(
            "--left-out", "show_left_out", is_flag=True,
            help="List the entries left out because no family could be told.",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _open(db: str | None):
    from cir.presets_db.catalogue import Catalogue
    from cir.presets_db.shared import is_url

    if is_url(db):
        raise click.BadParameter(
            "this command works on a local catalogue file; a shared catalogue URL is served "
            "by `cir daemon start --db URL` and filled by `cir catalogue push --to URL`",
            param_hint="--db",
        )
    return Catalogue.open(db)


def _print_summary(data: dict[str, Any], show_left_out: bool) -> None:
    click.echo(
        f"added {data['added']}, updated {data['updated']}, skipped {data['skipped']}, "
        f"failed {data['failed']}, removed {data['removed']}"
    )
    click.echo(f"in {data['seconds']:.1f} s ({data['presets_per_second']:.2f} presets/s), "
               f"embedder {data['embedder_version']}")
    if data["unmapped"]:
        more = "" if show_left_out else " (--left-out lists them)"
        click.echo(f"left out {data['unmapped']} with no family{more}")
        if show_left_out:
            for entry in data["left_out"]:
                click.echo(f"  {fit(entry['name'], _width() - 4)}")
    for failure in data["failures"]:
        click.echo(f"failed {fit(failure['key'], _width() - 7)}")
        click.echo(_wrap(failure["error"]))


def _run_build(db: str | None, as_json: bool, call: Callable, **kwargs: Any) -> None:
    show_left_out = kwargs.pop("show_left_out")
    options = {
        "embedder": kwargs.pop("embedder"),
        "workers": kwargs.pop("workers"),
        "engine": kwargs.pop("engine"),
        "address": kwargs.pop("address"),
        "batch_size": kwargs.pop("batch_size"),
        "retry_failed": kwargs.pop("retry_failed"),
        "progress": not as_json,
    }
    with json_stdout(as_json), _open(db) as catalogue:
        summary = call(catalogue, **kwargs, **options)
    data = summary.to_dict()
    if as_json:
        echo_json(data)
    else:
        _print_summary(data, show_left_out)


@click.group()
def catalogue() -> None:
    """Build and inspect the catalogue of your presets that `cir match` searches.

    \b
    Example:
        cir catalogue add-builtin --split test
        cir catalogue add-sf2 /usr/share/sounds/sf2/TimGM6mb.sf2
        cir catalogue reload
        cir catalogue stats
    """


@catalogue.command("add-builtin")
@click.option("--split", type=click.Choice(defaults.SPLITS), default=None, help="Only this split.")
@click.option(
    "--limit", type=click.IntRange(1), default=None, help="At most N presets, all families."
)
@_build_options
@db_option()
@json_option("Print the build summary as JSON.")
def add_builtin(db, as_json, split, limit, **build) -> None:
    """Add the built-in synth's factory bank and render it.

    \b
    Example:
        cir catalogue add-builtin
        cir catalogue add-builtin --split test --json
        cir catalogue add-builtin --engine ray
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
@db_option()
@json_option("Print the build summary as JSON.")
def add_sf2(db, as_json, file, programs, **build) -> None:
    """Add every (bank, program) preset of a SoundFont (SF2/SF3) and render them.

    Drum kits (bank 128) become one entry per kit piece (kick, snare, clap, hats, crash).

    \b
    Example:
        cir catalogue add-sf2 /usr/share/sounds/sf2/TimGM6mb.sf2
        cir catalogue add-sf2 my.sf2 --program 33 --program 81 --left-out
        cir catalogue add-sf2 /shared/sf2/big.sf2 --engine ray --address head:6379
    """
    from cir.presets_db.build import add_sf2 as call

    _run_build(db, as_json, call, file=file, programs=list(programs) or None, **build)


@catalogue.command("add-vst3")
@click.argument("plugin", type=click.Path())
@click.option("--presets", type=click.Path(), default=None, help="Folder of .vstpreset files.")
@click.option("--family", default=None, help="Family when folder names do not tell one.")
@_build_options
@db_option()
@json_option("Print the build summary as JSON.")
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
@db_option()
@json_option("Print the build summary as JSON.")
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
@db_option()
@json_option("Print the build summary as JSON.")
def build_command(db, as_json, **build) -> None:
    """Re-scan every registered source; render and embed only what changed.

    \b
    Example:
        cir catalogue build
        cir catalogue build --embedder mfcc80 --json
        cir catalogue build --engine ray --workers 2
        cir catalogue build --engine ray --address head-node:6379
    """
    from cir.presets_db.build import build as call

    _run_build(db, as_json, call, **build)


@catalogue.command("reload")
@json_option("Print the daemon's new catalogue size as JSON.")
def reload_command(as_json) -> None:
    """Make the running daemon reopen the catalogue now (after a build or a copy).

    The daemon also notices changes by itself before its next match; this makes it sure.

    \b
    Example:
        cir catalogue add-builtin --split test
        cir catalogue reload
    """
    from cir.daemon.service import reload

    size = reload()
    if as_json:
        echo_json({"catalogue_size": size})
    else:
        click.echo(f"the daemon reloaded its catalogue: {size} searchable entries")


@catalogue.command("list")
@click.option("--family", default=None, help="Only this family.")
@click.option("--source", default=None, help="Only this source (id or path).")
@click.option("--failed", is_flag=True, help="Only presets that failed to render.")
@db_option()
@json_option("Print the entries as a JSON list.")
def list_command(db, as_json, family, source, failed) -> None:
    """List catalogue entries: id, family, source, name (and why a failed one failed).

    \b
    Example:
        cir catalogue list --family bass
        cir catalogue list --source 2 --json
    """
    with _open(db) as catalogue:
        records = catalogue.presets(family, source, "failed" if failed else None)
    rows = [r.to_dict() for r in records]
    if as_json:
        echo_json(rows)
        return
    width = _width()
    for r in rows:
        source_tag = f"{r['source']['kind']}:{r['source']['id']}"
        head = f"{r['id']:>6}  {r['family']:<10}  {source_tag:<10}  "
        mark = "  FAILED" if r["status"] != "ok" else ""
        click.echo(head + fit(r["name"], width - len(head) - len(mark)) + mark)
        if r["status"] != "ok":
            click.echo(_wrap(r["error"] or "no reason recorded", " " * 8))
    click.echo(f"{len(rows)} entries", err=True)


def describe_locator(kind: str, locator: dict[str, Any]) -> str:
    """Where a preset lives, in words."""
    if kind == "builtin":
        split = f" (split {locator['split']})" if locator.get("split") else ""
        return f"factory preset {locator.get('id')}{split}"
    if kind == "sf2":
        where = f"bank {locator.get('bank')}, program {locator.get('program')}"
        if locator.get("key") is not None:
            where += f", key {locator['key']}"
        return where
    if kind == "vst3":
        preset = locator.get("preset")
        return f"preset file {preset}" if preset else "the plugin's default state"
    return f"file {locator.get('file')}"


@catalogue.command("show")
@click.argument("preset_id", type=int)
@db_option()
@json_option("Print the entry as JSON.")
def show(db, as_json, preset_id) -> None:
    """Show one entry: name, family, source, where it lives, preview file, vectors.

    \b
    Example:
        cir catalogue show 42
        cir catalogue show 42 --json
    """
    with _open(db) as catalogue:
        record = catalogue.preset(preset_id).to_dict()
    if as_json:
        echo_json(record)
        return
    r, width = record, _width() - 10
    lines = [
        ("id", str(r["id"])),
        ("name", r["name"]),
        ("family", r["family"]),
        ("status", r["status"]),
    ]
    if r["error"]:
        lines.append(("error", r["error"]))
    if r["tags"]:
        lines.append(("tags", ", ".join(r["tags"])))
    lines += [
        ("source", f"{r['source']['id']}: {r['source']['kind']} "
                   f"{fit_path(r['source']['path'], width - 12)}"),
        ("where", describe_locator(r["source"]["kind"], r["locator"])),
        ("preview", fit_path(r["preview"], width) if r["preview"] else "none"),
    ]
    for name, version in r["embedders"].items():
        lines.append(("vectors", f"{name} ({version})"))
    for key, value in lines:
        click.echo(textwrap.fill(f"{key:<9} {value}", _width(), subsequent_indent=" " * 10))


@catalogue.command("stats")
@db_option()
@json_option("Print the counts as JSON.")
def stats(db, as_json) -> None:
    """Counts: entries per family and per source, failures, embedder versions.

    \b
    Example:
        cir catalogue stats
        cir catalogue stats --json
    """
    with _open(db) as catalogue:
        d = catalogue.stats()
    if as_json:
        echo_json(d)
        return
    width = _width()
    click.echo(f"{fit_path(d['path'], width - 30)}: {d['entries']} entries, "
               f"{d['failed']} failed")
    if not d["by_source"]:
        click.echo("no sources yet: add one with `cir catalogue add-builtin`, add-sf2, "
                   "add-vst3 or add-folder")
    for family, n in d["by_family"].items():
        click.echo(f"  {family:<11} {n:>6}")
    for sid, s in d["by_source"].items():
        failed = f", {s['failed']} failed" if s["failed"] else ""
        head = f"  source {sid:>2}  {s['kind']:<7} {s['entries']:>6} entries{failed}  "
        args = " ".join(f"{k}={v}" for k, v in (s["args"] or {}).items() if v is not None)
        tail = f"{s['path']}{' (' + args + ')' if args else ''}"
        click.echo(head + fit_path(tail, width - len(head)))
    for version, n in d["embedders"].items():
        click.echo(f"  vectors     {n:>6}  {version}")


@catalogue.command("remove")
@click.argument("source")
@db_option()
@json_option("Print what was removed as JSON.")
def remove(db, as_json, source) -> None:
    """Remove a source (id or path) with its entries, vectors and previews.

    \b
    Example:
        cir catalogue remove 2
        cir catalogue remove /usr/share/sounds/sf2/TimGM6mb.sf2
    """
    with _open(db) as catalogue:
        removed = catalogue.remove_source(source)
    if as_json:
        echo_json({"source": source, "removed": removed})
    else:
        click.echo(f"removed source {source} ({removed} entries)")


@catalogue.command("push")
@db_option("Local catalogue to publish (default: the user's catalogue).")
@click.option("--to", "url", required=True,
              help="Shared catalogue URL: postgresql://user:password@host:port/database.")
@json_option("Print what changed as JSON.")
def push(db, url, as_json) -> None:
    """Publish a local catalogue to a shared one that many daemons search.

    Sends every embedder version's vectors and what the hits show (names, families,
    sources); a second push sends only what changed. Daemons then serve it with
    `cir daemon start --db URL`. Previews stay on this machine.

    \b
    Example:
        cir catalogue server start --dir /srv/cir-catalogue
        cir catalogue push --to postgresql://cir:PASSWORD@127.0.0.1:5433/cir
        cir daemon start --db postgresql://cir:PASSWORD@127.0.0.1:5433/cir
    """
    from cir.presets_db.shared import is_url
    from cir.presets_db.shared import push as call

    if not is_url(url):
        raise click.BadParameter(f"{url!r} is not a postgresql:// URL", param_hint="--to")
    with json_stdout(as_json), _open(db) as local:
        entries = sum(local.embedder_versions().values())
        with _progress(entries, as_json, "pushing") as advance:
            summary = call(local, url, progress=advance)
    data = summary.to_dict()
    if as_json:
        echo_json(data)
        return
    for version, counts in data["versions"].items():
        click.echo(f"{version}: {counts['entries']} entries, +{counts['added']} "
                   f"-{counts['removed']}")
    click.echo(f"pushed to {data['url']} in {data['seconds']:.1f} s (generation "
               f"{data['generation']})")


def _progress(total: int, quiet: bool, label: str):
    """A progress bar over `total` items (none with --json); yields its advance function."""
    import contextlib

    if quiet:
        return contextlib.nullcontext(lambda n: None)

    @contextlib.contextmanager
    def bar():
        with click.progressbar(length=total, label=label, file=None) as progress:
            yield progress.update

    return bar()


@catalogue.group("server")
def server() -> None:
    """A local PostgreSQL + pgvector server for a shared catalogue (needs `cir[shared]`).

    \b
    Example:
        cir catalogue server start --dir /srv/cir-catalogue --host 0.0.0.0
        cir catalogue server status --dir /srv/cir-catalogue
        cir catalogue server stop --dir /srv/cir-catalogue
    """


_dir_option = click.option(
    "--dir", "folder", type=click.Path(file_okay=False), required=True,
    help="Folder of the server's data, password and log (created on first start).",
)


@server.command("start")
@_dir_option
@click.option("--port", type=click.IntRange(1, 65535), default=defaults.SHARED_SERVER_PORT,
              show_default=True, help="TCP port.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0: every interface, for a team's network).")
@json_option("Print the server's facts as JSON.")
def server_start(folder, port, host, as_json) -> None:
    """Start the server (initialising its folder on first use) and print its URL.

    \b
    Example:
        cir catalogue server start --dir ~/cir-shared
        cir catalogue server start --dir /srv/cir-catalogue --host 0.0.0.0 --port 5433
    """
    from cir.presets_db import shared_server

    info = shared_server.start(Path(folder), port=port, host=host)
    _print_server(info, as_json)


@server.command("status")
@_dir_option
@json_option("Print the server's facts as JSON.")
def server_status(folder, as_json) -> None:
    """Say whether the server of a folder runs, and its URL.

    \b
    Example:
        cir catalogue server status --dir ~/cir-shared
    """
    from cir.presets_db import shared_server

    info = shared_server.status(Path(folder))
    if info is None:
        if as_json:
            echo_json({"running": False, "folder": str(folder)})
        else:
            click.echo(f"no server runs in {folder}: `cir catalogue server start --dir {folder}`")
        sys.exit(1)
    _print_server(info, as_json)


@server.command("stop")
@_dir_option
@json_option("Print whether it was running as JSON.")
def server_stop(folder, as_json) -> None:
    """Stop the server of a folder (committed data stays).

    \b
    Example:
        cir catalogue server stop --dir ~/cir-shared
    """
    from cir.presets_db import shared_server

    stopped = shared_server.stop(Path(folder))
    if as_json:
        echo_json({"folder": str(folder), "stopped": stopped})
        return
    click.echo(f"server in {folder} {'stopped' if stopped else 'was not running'}")


def _print_server(info, as_json: bool) -> None:
    if as_json:
        echo_json({"running": True, "folder": str(info.folder), "host": info.host,
                   "port": info.port, "url": info.url, "pid": info.pid})
        return
    click.echo(f"server running (pid {info.pid}) on {info.host}:{info.port}")
    click.echo(f"url: {info.url}")
    click.echo("publish with `cir catalogue push --to URL`; serve with `cir daemon start --db URL`")
