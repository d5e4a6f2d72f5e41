"""`cir match`, `cir record`, `cir listen`, `cir devices`: ask the daemon about audio."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Collection
from pathlib import PurePath
from typing import Any

import click

from cir import defaults
from cir.cli.output import db_option, echo_json, echo_json_line, fit, json_option

# `cir listen` keeps this many seconds in its ring buffer and sends them on Enter.
LISTEN_SECONDS = 8.0


def where(hit: dict[str, Any]) -> str:
    """Where a suggestion lives, short: a factory id, 'TimGM6mb.sf2 0:33', a preset file."""
    loc, kind = hit.get("locator") or {}, hit.get("source", "")
    if kind == "builtin":
        return str(loc.get("id", hit.get("key", "")))
    if kind == "sf2":
        text = f"{PurePath(str(loc.get('file', ''))).name} {loc.get('bank')}:{loc.get('program')}"
        return text + (f" key {loc['key']}" if loc.get("key") is not None else "")
    if kind == "vst3":
        return PurePath(str(loc.get("preset") or loc.get("plugin") or "")).name
    return str(hit.get("key") or PurePath(str(loc.get("file", ""))).name)


def result_lines(
    results: dict[str, list[dict[str, Any]]],
    width: int,
    truth: Collection[int] = (),
    presence: dict[str, Any] | None = None,
) -> list[str]:
    """The suggestions as text rows that never wrap at `width` columns: rank, score, preset
    name (cut first), and where it lives (kept whole: the file name is what you look for).
    A family whose presence is below defaults.PRESENCE_THRESHOLD is collapsed to one line,
    marked absent; the family with the best-scoring hit keeps its rows all the same, marked
    unsure (presence can miss an instrument; the best match should never be hidden)."""
    lines: list[str] = []
    if not results:
        return ["no suggestions: the catalogue has no entries for these families"]
    best = max((f for f, hits in results.items() if hits),
               key=lambda f: results[f][0]["score"], default=None)
    for family, hits in results.items():
        share = (presence or {}).get(family)
        if isinstance(share, dict):
            share = share.get("score")
        heard = not isinstance(share, int | float) or share >= defaults.PRESENCE_THRESHOLD
        if not heard and family != best:
            # Not heard in the loop: its nearest presets would only look confident.
            lines.append(f"{family}  absent (presence {share:.0%})")
            continue
        note = "" if heard else ", unsure it plays"
        lines.append(family + (f"  (presence {share:.0%}{note})" if isinstance(share, float)
                               else ""))
        places = [where(hit) for hit in hits]
        room = width - len(f"{'✔ ' if truth else ''}100  -0.000  ") - 2
        place_w = min(max((len(p) for p in places), default=0), max(room - 12, room // 2))
        name_w = min(max((len(h["name"]) for h in hits), default=0), room - place_w)
        for hit, place in zip(hits, places, strict=True):
            mark = ("✔ " if hit["preset_id"] in truth else "  ") if truth else ""
            head = f"{mark}{hit['rank']:>3}  {hit['score']:6.3f}  "
            name = fit(hit["name"], name_w)
            lines.append(f"{head}{name:<{name_w}}  {fit(place, place_w)}".rstrip())
    return lines


def print_results(
    results: dict[str, list[dict[str, Any]]],
    title: str = "",
    truth: Collection[int] = (),
    warnings: Collection[str] = (),
    presence: dict[str, Any] | None = None,
) -> None:
    """The suggestions per family, fitted to the terminal's width (80 when piped)."""
    width = shutil.get_terminal_size((80, 24)).columns
    if title:
        click.echo(fit(title, width))
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    for line in result_lines(results, width, truth, presence):
        click.echo(line)


def _play_top(results: dict[str, list[dict[str, Any]]], device: str | None) -> None:
    from cir.app.match import load_audio
    from cir.plugin_bridge.capture import play

    for family, hits in results.items():
        preview = hits[0].get("preview") if hits else None
        if preview:
            click.echo(f"playing {family}: {hits[0]['name']}", err=True)
            audio, rate = load_audio(preview)
            play(audio, rate, device)


def _show(path: str, reply: dict[str, Any], as_json: bool) -> None:
    from cir.app.match import as_json_line

    if as_json:
        echo_json_line(as_json_line(path, reply))
    else:
        print_results(reply.get("results", {}), path, warnings=reply.get("warnings", ()),
                      presence=reply.get("presence"))


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
@json_option("JSON Lines: one object per file.")
@click.option("--local", is_flag=True, help="Match in this process, without the daemon.")
@db_option("Catalogue for --local, a file or postgresql:// URL (the daemon serves its own: "
           "`cir daemon start --db`).")
@click.option("--play", is_flag=True, help="Audition each family's top suggestion.")
@click.option("--device", help="Output device for --play (index or name).")
def match(files, k, families, as_json, local, db, play, device):
    """Suggest presets per family for audio files (a bounced loop).

    Every answer also appears on the daemon's results page (`cir open`). A file that cannot
    be read is reported and the others are still matched.

    \b
    Example:
        cir match loop.wav
        cir match loop.wav other.flac --k 3 --json
        cir match loop.wav --local --db my.db
    """
    from cir.app.match import as_json_line, match_files

    if db and not local:
        raise click.UsageError(
            "--db applies to --local only: the daemon serves its own catalogue (start it "
            "with `cir daemon start --db PATH`), or add --local"
        )
    failed = 0
    for answer in match_files(files, k, families or None, local, db):
        if answer.error is not None:
            failed += 1
            if as_json:
                echo_json_line(as_json_line(answer.path, None, answer.error))
            else:
                click.echo(f"Error: {answer.error}", err=True)
            continue
        assert answer.reply is not None  # a FileAnswer holds its reply or its error
        _show(answer.path, answer.reply, as_json)
        if play:
            _play_top(answer.reply.get("results", {}), device)
    if failed:
        sys.exit(1)


@click.command()
@click.option("--seconds", type=float, help="Capture this many seconds.")
@click.option("--bars", type=float, help="Capture this many bars (needs --bpm).")
@click.option("--bpm", type=float, help="Tempo for --bars.")
@click.option("--device", help="Input device (index or name substring; see `cir devices`).")
@_k_option
@_family_option
@json_option("JSON Lines: one object for the capture.")
@click.option("--save", type=click.Path(dir_okay=False), help="Also write the capture to a wav.")
def record(seconds, bars, bpm, device, k, families, as_json, save):
    """Capture from an audio input (or loopback device) and ask the daemon.

    The answer also appears on the daemon's results page (`cir open`).

    \b
    Example:
        cir record --seconds 8
        cir record --bars 4 --bpm 120 --device "Loopback"
    """
    from cir.plugin_bridge.capture import bars_to_seconds
    from cir.plugin_bridge.capture import record as capture
    from cir.protocol.client import Client

    if seconds is not None and bars is None:
        length = seconds
    elif seconds is None and bars is not None and bpm is not None:
        length = bars_to_seconds(bars, bpm)
    else:
        raise click.UsageError("pass either --seconds N, or --bars N with --bpm B")
    click.echo(f"recording {length:.2f} s ...", err=True)
    audio = capture(length, device)
    if save:
        from pedalboard.io import AudioFile

        with AudioFile(save, "w", defaults.CAPTURE_SAMPLE_RATE, audio.shape[1]) as f:
            f.write(audio.T)
    with Client() as client:
        reply = client.match(audio, defaults.CAPTURE_SAMPLE_RATE, k=k,
                             families=families or None, tempo=bpm, source="cir record")
    _show(save or "<recording>", reply, as_json)


@click.command()
@click.option("--seconds", type=float, default=LISTEN_SECONDS, show_default=True,
              help="How much recent audio to keep and send.")
@click.option("--device", help="Input device (index or name substring; see `cir devices`).")
@_k_option
@json_option("JSON Lines: one object per match.")
def listen(seconds, device, k, as_json):
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
                f"Enter: match the last {seconds:g} s, q: quit", default="", show_default=False,
                err=True,
            )
            if line.strip().lower() == "q":
                return
            audio = rec.snapshot()
            if len(audio) == 0:
                click.echo("nothing captured yet", err=True)
                continue
            reply = client.match(audio, rec.sample_rate, k=k, source="cir listen")
            _show("<listen>", reply, as_json)


@click.command()
@json_option("Print the devices as a JSON list.")
def devices(as_json):
    """List audio devices (for --device of record and listen).

    \b
    Example:
        cir devices
        cir devices --json
    """
    from cir.plugin_bridge.capture import list_devices

    found = list_devices()
    if as_json:
        echo_json(found)
        return
    if not found:
        click.echo("no audio devices found (is PortAudio's backend running? e.g. JACK, ALSA)")
    width = shutil.get_terminal_size((80, 24)).columns
    for d in found:
        marks = ("<" if d["default_input"] else " ") + (">" if d["default_output"] else " ")
        tail = f" ({d['hostapi']}; {d['inputs']} in, {d['outputs']} out, " \
               f"{d['default_samplerate']:.0f} Hz)"
        head = f"{marks} {d['index']:3d} "
        click.echo(head + fit(d["name"], width - len(head) - len(tail)) + tail)
