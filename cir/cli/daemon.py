"""`cir daemon`: run, start, stop and query the background matcher."""

from __future__ import annotations

import json

import click


@click.group()
def daemon() -> None:
    """The background matcher serving protocol v1 (docs/protocol.md).

    \b
    Example:
        cir daemon start
        cir daemon status
        cir daemon stop
    """


@daemon.command()
@click.option("--catalogue", type=click.Path(dir_okay=False), help="Catalogue database to serve.")
@click.option("--embedder", help="Embedder name or checkpoint (default: shipped weights/MFCC).")
@click.option("--endpoint", "endpoints", multiple=True, help="Endpoint to bind (repeatable).")
@click.option("--lock", "lock_path", type=click.Path(dir_okay=False), hidden=True)
@click.option("--idle-timeout", type=float, help="Exit after this many idle seconds.")
@click.option("--max-requests", type=int, help="Exit after serving this many requests.")
@click.option("--log-file", type=click.Path(dir_okay=False), help="Log here, not the user log dir.")
@click.option("-v", "--verbose", is_flag=True, help="Also log to stderr.")
def run(catalogue, embedder, endpoints, lock_path, idle_timeout, max_requests, log_file, verbose):
    """Run the daemon in the foreground (Ctrl+C finishes the current request and exits).

    \b
    Example:
        cir daemon run -v
        CIR_ENDPOINT=tcp://127.0.0.1:47111 cir daemon run --catalogue my.db
    """
    from cir.daemon.service import run_foreground

    run_foreground(
        catalogue, embedder, list(endpoints) or None, lock_path, idle_timeout, max_requests,
        log_file, verbose,
    )


@daemon.command()
@click.option("--catalogue", type=click.Path(dir_okay=False), help="Catalogue database to serve.")
@click.option("--embedder", help="Embedder name or checkpoint (default: shipped weights/MFCC).")
@click.option("--idle-timeout", type=float, help="Exit after this many idle seconds.")
def start(catalogue, embedder, idle_timeout):
    """Start the daemon in the background and wait until it answers.

    \b
    Example:
        cir daemon start
        cir daemon start --catalogue ~/presets.db
    """
    from cir.daemon.service import start as start_daemon

    info = start_daemon(catalogue, embedder, idle_timeout=idle_timeout)
    verb = "started" if info.started else "already running"
    click.echo(f"daemon {verb} (pid {info.pid}) at {info.endpoint}; log: {info.log_path}")


@daemon.command()
def stop():
    """Stop the running daemon (it finishes the request in flight first).

    \b
    Example:
        cir daemon stop
    """
    from cir.daemon.service import stop as stop_daemon

    pid = stop_daemon()
    click.echo(f"daemon stopped (pid {pid})")


@daemon.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status reply as JSON.")
def status(as_json):
    """Show the running daemon's encoder, device, catalogue size and uptime.

    \b
    Example:
        cir daemon status
        cir daemon status --json
    """
    from cir.daemon.service import status as daemon_status

    info = daemon_status()
    if as_json:
        click.echo(json.dumps(info))
        return
    click.echo(
        f"daemon running (pid {info['pid']}) at {', '.join(info['endpoints'])}\n"
        f"  encoder:   {info['encoder_name']} ({info['encoder_version']}) on {info['device']}\n"
        f"  catalogue: {info['catalogue_size']} entries in {info['catalogue_path']}\n"
        f"  uptime:    {info['uptime_s']:.0f} s, {info['requests_served']} requests served\n"
        f"  log:       {info.get('log_path')}"
    )
