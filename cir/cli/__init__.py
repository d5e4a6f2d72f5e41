"""The `cir` command line: a thin layer that parses arguments and calls one library function.

Each command group lives in its own module of this package and registers itself here.
Library errors (CIRError) become one clear line on stderr and exit status 1.
"""

from __future__ import annotations

import sys

import click

from cir import __version__
from cir.errors import CIRError


class CIRGroup(click.Group):
    """A click group that turns CIRError into one line instead of a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except CIRError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=CIRGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cir")
def cli() -> None:
    """CIR — find which of your presets make the sounds in a loop.

    \b
    Example:
        cir synth list --family bass
        cir synth render bass-0042 --note 40 -o bass.wav
    """


def _register() -> None:
    # Imported here so `cir --help` stays fast and each module owns its own commands.
    from cir.cli import bench, catalogue, daemon, demo, match, plugin, synth
    from cir.cli import eval as eval_cli
    from cir.cli import train as train_cli

    cli.add_command(synth.synth)
    cli.add_command(bench.bench)
    cli.add_command(daemon.daemon)
    cli.add_command(demo.demo)
    cli.add_command(catalogue.catalogue)
    cli.add_command(plugin.plugin)
    cli.add_command(train_cli.train)
    cli.add_command(eval_cli.eval_)
    for command in (match.match, match.record, match.listen, match.devices):
        cli.add_command(command)


_register()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="cir")
