"""`cir plugin`: install the CIR Bridge DAW plugin (VST3, CLAP, LV2) built by `make plugins`."""

from __future__ import annotations

import click

from cir import defaults
from cir.cli.output import echo_json, json_option


@click.group()
def plugin() -> None:
    """The CIR Bridge plugin that sends a DAW loop to the daemon.

    \b
    Example:
        make plugins
        cir plugin install
    """


@plugin.command()
@click.option(
    "--dest",
    type=click.Path(file_okay=False),
    help="Put every bundle in this folder instead of the standard per-user plugin folders.",
)
@click.option(
    "--format",
    "formats",
    type=click.Choice(defaults.PLUGIN_FORMATS),
    multiple=True,
    help="Install only this format (repeatable; default: all).",
)
@json_option("Print what was installed as JSON.")
def install(dest: str | None, formats: tuple[str, ...], as_json: bool) -> None:
    """Copy the built bundles to ~/.vst3, ~/.clap and ~/.lv2 (macOS/Windows: their folders).

    \b
    Example:
        cir plugin install
        cir plugin install --format vst3 --dest ~/my-plugins --json
    """
    from cir.plugin_bridge.install import install_plugins

    installed = install_plugins(dest=dest, formats=formats or defaults.PLUGIN_FORMATS)
    if as_json:
        echo_json({"installed": [b.to_json() for b in installed]})
        return
    for bundle in installed:
        click.echo(f"{bundle.format:5} {bundle.destination}")
    click.echo("Rescan plugins in your DAW, then add 'CIR Bridge' to the master or a bus.")
