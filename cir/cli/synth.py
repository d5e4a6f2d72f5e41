"""`cir synth`: browse, audition and export the built-in synth's factory bank."""

from __future__ import annotations

import shutil

import click

from cir import defaults
from cir.cli.output import echo_json, fit, json_option


@click.group()
def synth() -> None:
    """The built-in synth and its factory bank of thousands of presets.

    \b
    Example:
        cir synth list --family bass
        cir synth render bass-0042 --note 40 -o bass.wav
        cir synth export ./bank
    """


@synth.command("list")
@click.option(
    "--family", "-f", default=None, help="Only this family (percussion, bass, lead, pad, keys)."
)
@click.option("--split", "-s", default=None, help="Only this split (train, valid, test).")
@json_option("Print the presets as a JSON list of objects.")
def list_presets(family: str | None, split: str | None, as_json: bool) -> None:
    """List factory presets: id, name, family, split and tags.

    \b
    Example:
        cir synth list --family bass --split test
        cir synth list --json > bank.json
    """
    from cir.synth.files import listing

    rows = listing(family, split)
    if as_json:
        echo_json(rows)
        return
    # Plain aligned text: a rich table of 6,000 rows takes seconds to lay out.
    room = shutil.get_terminal_size((80, 24)).columns - 57
    click.echo(f"{'id':<16}{'name':<22}{'family':<12}{'split':<7}tags")
    for r in rows:
        tags = fit(", ".join(t for t in r["tags"] if not t.startswith("parent:")), room)
        click.echo(f"{r['id']:<16}{r['name']:<22}{r['family']:<12}{r['split']:<7}{tags}")
    click.echo(f"{len(rows)} presets", err=True)


@synth.command("render")
@click.argument("preset")
@click.option(
    "--note",
    "-n",
    "notes",
    type=click.IntRange(0, 127),
    multiple=True,
    required=True,
    help="MIDI pitch (60 = C4); repeat for a chord.",
)
@click.option(
    "--velocity",
    type=click.IntRange(1, 127),
    default=defaults.CANONICAL_VELOCITY,
    show_default=True,
    help="MIDI velocity of every note.",
)
@click.option(
    "--seconds",
    type=float,
    default=None,
    help="How long each note is held [default: the family's note length].",
)
@click.option(
    "--sequence", is_flag=True, help="Play the notes one after another instead of together."
)
@click.option(
    "--sample-rate",
    "-r",
    type=int,
    default=defaults.RENDER_SAMPLE_RATE,
    show_default=True,
    help="Output sample rate in Hz.",
)
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False), required=True, help="The wav file to write."
)
def render_command(
    preset: str,
    notes: tuple[int, ...],
    velocity: int,
    seconds: float | None,
    sequence: bool,
    sample_rate: int,
    output: str,
) -> None:
    """Render a preset (factory id such as bass-0042 or bass-42, or a preset .json file) to a
    mono wav file.

    The file holds the notes plus their release and the effects' tail.

    \b
    Example:
        cir synth render bass-0042 --note 40 -o bass.wav
        cir synth render lead-0301 -n 72 -n 76 -n 79 --sequence -o arp.wav
        cir synth render my_preset.json --note 60 --seconds 2 -o pad.wav
    """
    from cir.synth.files import render_to_wav

    chosen, length = render_to_wav(
        preset,
        output,
        notes,
        velocity=velocity,
        seconds=seconds,
        sample_rate=sample_rate,
        sequence=sequence,
    )
    click.echo(f"wrote {output}: {chosen.name} ({chosen.id}), {length:.2f} s at {sample_rate} Hz")


@synth.command("export")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--family", "-f", default=None, help="Only this family.")
@click.option("--split", "-s", default=None, help="Only this split (train, valid, test).")
def export_command(directory: str, family: str | None, split: str | None) -> None:
    """Write the factory bank as one JSON file per preset, plus index.json.

    \b
    Example:
        cir synth export ./bank
        cir synth export ./basses --family bass --split test
    """
    from rich.console import Console
    from rich.progress import Progress

    from cir.synth.files import export_bank

    with Progress(transient=True, console=Console(stderr=True)) as bar:
        task = bar.add_task("exporting presets", total=None)
        count = export_bank(
            directory,
            family,
            split,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    click.echo(f"wrote {count} presets and index.json to {directory}")
