"""`cir match`, `cir record`, `cir listen`, `cir devices`: ask the daemon about audio."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

import click

from cir import defaults


def _locator(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def print_results(
    results: dict[str, list[dict[str, Any]]],
    title: str = "",
    truth: Collection[int] = (),
    warnings: Collection[str] = (),
) -> None:
    """One rich table per family; entries whose preset_id is in `truth` are marked."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for warning in warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    if not results:
        console.print("no suggestions: the catalogue has no entries for these families")
    for family, hits in results.items():
        table = Table(title=f"{title}{family}", title_justify="left")
        table.add_column("#", justify="right")
        if truth:
            table.add_column("true")
        table.add_column("preset")
        table.add_column("source")
        table.add_column("locator")
        table.add_column("score", justify="right")
        for hit in hits:
            mark = ["[bold green]✔[/]" if hit["preset_id"] in truth else ""] if truth else []
            table.add_row(
                str(hit["rank"]), *mark, hit["name"], hit.get("source", ""),
                _locator(hit.get("locator", "")), f"{hit['score']:.3f}",
            )
        console.print(table)


def _play_top(results: dict[str, list[dict[str, Any]]], device: str | None) -> None:
    from cir.app.match import load_audio
    from cir.plugin_bridge.capture import play

    for family, hits in results.items():
        preview = hits[0].get("preview") if hits else None
        if preview:
            click.echo(f"playing {family}: {hits[0]['name']}")
            audio, rate = load_audio(preview)
            play(audio, rate, device)


def _show(path: str, reply: dict[str, Any], as_json: bool) -> None:
    from cir.app.match import as_json_line

    if as_json:
        click.echo(json.dumps(as_json_line(path, reply)))
    else:
        print_results(reply.get("results", {}), f"{path} — ", warnings=reply.get("warnings", ()))


_k_option = click.option(
    "--k", "k", type=click.IntRange(1, defaults.MATCH_MAX_K), default=defaults.MATCH_DEFAULT_K,
    show_default=True, help="Suggestions per family.",
)
_family_option = click.option(
    "--family", "families", multiple=True, help="Only this family (repeatable)."
)


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@_k_option
@_family_option
@click.option("--json", "as_json", is_flag=True, help="JSON Lines: one object per file.")
@click.option("--local", is_flag=True, help="Match in this process, without the daemon.")
@click.option("--catalogue", type=click.Path(dir_okay=False), help="Catalogue for --local.")
@click.option("--play", is_flag=True, help="Audition each family's top suggestion.")
@click.option("--device", help="Output device for --play (index or name).")
def match(files, k, families, as_json, local, catalogue, play, device):
    """Suggest presets per family for audio files (a bounced loop).

    \b
    Example:
        cir match loop.wav
        cir match loop.wav other.flac --k 3 --json
        cir match loop.wav --local --catalogue my.db
    """
    from cir.app.match import match_files

    for path, reply in match_files(files, k, families or None, local, catalogue):
        _show(path, reply, as_json)
        if play:
            _play_top(reply.get("results", {}), device)


@click.command()
@click.option("--seconds", type=float, help="Capture this many seconds.")
@click.option("--bars", type=float, help="Capture this many bars (needs --bpm).")
@click.option("--bpm", type=float, help="Tempo for --bars.")
@click.option("--device", help="Input device (index or name substring; see `cir devices`).")
@_k_option
@_family_option
@click.option("--json", "as_json", is_flag=True, help="Print the answer as one JSON line.")
@click.option("--save", type=click.Path(dir_okay=False), help="Also write the capture to a wav.")
def record(seconds, bars, bpm, device, k, families, as_json, save):
    """Capture from an audio input (or loopback device) and ask the daemon.

    \b
    Example:
        cir record --seconds 8
        cir record --bars 4 --bpm 120 --device "Loopback"
    """
    from cir.plugin_bridge.capture import bars_to_seconds
    from cir.plugin_bridge.capture import record as capture
    from cir.protocol.client import Client

    if (seconds is None) == (bars is None) or (bars is not None and bpm is None):
        raise click.UsageError("pass either --seconds N, or --bars N with --bpm B")
    length = seconds if seconds is not None else bars_to_seconds(bars, bpm)
    click.echo(f"recording {length:.2f} s ...", err=True)
    audio = capture(length, device)
    if save:
        from pedalboard.io import AudioFile

        with AudioFile(save, "w", defaults.CAPTURE_SAMPLE_RATE, audio.shape[1]) as f:
            f.write(audio.T)
    with Client() as client:
        reply = client.match(audio, defaults.CAPTURE_SAMPLE_RATE, k=k,
                             families=families or None, tempo=bpm)
    _show(save or "<recording>", reply, as_json)


@click.command()
@click.option("--seconds", type=float, default=defaults.LISTEN_SECONDS, show_default=True,
              help="How much recent audio to keep and send.")
@click.option("--device", help="Input device (index or name substring; see `cir devices`).")
@_k_option
def listen(seconds, device, k):
    """Keep listening; press Enter to match the last seconds, q then Enter to quit.

    \b
    Example:
        cir listen --seconds 8 --device "Loopback"
    """
    from cir.plugin_bridge.capture import Recorder
    from cir.protocol.client import Client

    with Recorder(seconds, device) as rec, Client() as client:
        while True:
            line = click.prompt(
                f"Enter: match the last {seconds:g} s, q: quit", default="", show_default=False
            )
            if line.strip().lower() == "q":
                return
            audio = rec.snapshot()
            if len(audio) == 0:
                click.echo("nothing captured yet", err=True)
                continue
            reply = client.match(audio, rec.sample_rate, k=k)
            _show("<listen>", reply, False)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print devices as JSON.")
def devices(as_json):
    """List audio devices (for --device of record and listen).

    \b
    Example:
        cir devices
    """
    from cir.plugin_bridge.capture import list_devices

    found = list_devices()
    if as_json:
        click.echo(json.dumps(found))
        return
    if not found:
        click.echo("no audio devices found (is PortAudio's backend running? e.g. JACK, ALSA)")
    for d in found:
        marks = ("<" if d["default_input"] else " ") + (">" if d["default_output"] else " ")
        click.echo(
            f"{marks} {d['index']:3d} {d['name']} ({d['hostapi']}; "
            f"{d['inputs']} in, {d['outputs']} out, {d['default_samplerate']:.0f} Hz)"
        )
