"""The `cir` command line: a thin layer that parses arguments and calls one library function.

Each command group lives in its own module of this package and registers itself here.
Every failure reaches the user as one line on stderr: library errors (CIRError) say what to
do; anything unexpected says where its details were logged. Library warnings go to the log,
never to the terminal.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
import warnings

import click

from cir import __version__
from cir.errors import CIRError

LOG_NAME = "cli.log"
_log = logging.getLogger("cir.cli")


class _LazyFileHandler(logging.Handler):
    """Appends to <log dir>/cli.log, creating the folder only when something is logged."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from cir import paths

            folder = paths.log_dir()
            folder.mkdir(parents=True, exist_ok=True)
            with open(folder / LOG_NAME, "a", encoding="utf-8") as f:
                f.write(self.format(record) + "\n")
        except OSError:
            pass  # a log we cannot write must never break the command


def log_path() -> str:
    from cir import paths

    return str(paths.log_dir() / LOG_NAME)


def _setup_logging() -> None:
    if any(isinstance(h, _LazyFileHandler) for h in _log.handlers):
        return
    handler = _LazyFileHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("cir.cli", "cir.presets_db", "py.warnings"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.propagate = False
    _log.setLevel(logging.INFO)
    logging.captureWarnings(True)  # library warnings: into the log, off the terminal
    warnings.simplefilter("default")


class CIRGroup(click.Group):
    """A click group that turns every failure into one line instead of a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except CIRError as exc:
            _log.info("error: %s", exc)
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("Interrupted; nothing half-written is kept (builds resume where they "
                       "stopped).", err=True)
            sys.exit(130)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except BrokenPipeError:  # `cir synth list | head`: the reader is done; so are we
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(0)
        except Exception as exc:
            _log.error("unexpected failure in `%s`:\n%s", " ".join(sys.argv[1:]),
                       traceback.format_exc())
            click.echo(
                f"Error: cir failed unexpectedly ({type(exc).__name__}); the details are in "
                f"{log_path()}", err=True,
            )
            sys.exit(1)


@click.group(cls=CIRGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cir")
def cli() -> None:
    """CIR — find which of your presets make the sounds in a loop.

    \b
    Example:
        cir daemon start
        cir match loop.wav
        cir open
    """
    _setup_logging()


def _register() -> None:
    # Imported here so `cir --help` stays fast and each module owns its own commands.
    from cir.cli import bench, catalogue, daemon, demo, match, picks, plugin, synth
    from cir.cli import eval as eval_cli
    from cir.cli import train as train_cli

    cli.add_command(synth.synth)
    cli.add_command(bench.bench)
    cli.add_command(daemon.daemon)
    cli.add_command(daemon.open_page)
    cli.add_command(demo.demo)
    cli.add_command(catalogue.catalogue)
    cli.add_command(plugin.plugin)
    cli.add_command(picks.picks)
    cli.add_command(train_cli.train)
    cli.add_command(eval_cli.eval_)
    for command in (match.match, match.record, match.listen, match.devices):
        cli.add_command(command)


_register()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="cir")
