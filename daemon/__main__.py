"""`python -m daemon ARGS` is `cir daemon ARGS` (how `cir daemon start` spawns the service)."""

import sys

import click

from cir.cli.daemon import daemon
from cir.errors import CIRError

if __name__ == "__main__":
    try:
        daemon.main(args=sys.argv[1:], prog_name="cir daemon", standalone_mode=False)
    except CIRError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
