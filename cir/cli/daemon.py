"""`cir daemon`: run, start, stop and query the background matcher; `cir open`: its page."""

from __future__ import annotations

import click

from cir import defaults
from cir.cli.output import db_option, echo_json, json_option

_web_port_option = click.option(
    "--web-port", type=click.IntRange(0, 65535), default=None,
    help=f"Port of the results page on 127.0.0.1 (default {defaults.WEB_PORT}, or "
         f"${defaults.WEB_PORT_ENV}; 0: any free port).",
)
_no_page_option = click.option("--no-page", is_flag=True, help="Serve no results page.")


def _port(web_port: int | None, no_page: bool) -> int | None:
    """The port argument of the service functions: None = no page, -1 = the configured one."""
    if no_page:
        return None
    return -1 if web_port is None else web_port


@click.group()
def daemon() -> None:
    """The background matcher serving protocol v1 (docs/protocol.md) and the results page.

    \b
    Example:
        cir daemon start
        cir daemon status
        cir daemon stop
    """


@daemon.command()
@db_option("Catalogue to serve: a database file or a shared catalogue's postgresql:// URL.")
@click.option("--embedder", help="Embedder name or checkpoint (default: shipped weights/MFCC).")
@click.option("--endpoint", "endpoints", multiple=True, help="Endpoint to bind (repeatable).")
@click.option("--lock", "lock_path", type=click.Path(dir_okay=False), hidden=True)
@click.option("--idle-timeout", type=float, help="Exit after this many idle seconds.")
@click.option("--max-requests", type=int, help="Exit after serving this many requests.")
@click.option("--log-file", type=click.Path(dir_okay=False), help="Log here, not the user log dir.")
@_web_port_option
@_no_page_option
@click.option("-v", "--verbose", is_flag=True, help="Also log to stderr.")
def run(db, embedder, endpoints, lock_path, idle_timeout, max_requests, log_file, web_port,
        no_page, verbose):
    """Run the daemon in the foreground (Ctrl+C finishes the current request and exits).

    \b
    Example:
        cir daemon run -v
        CIR_ENDPOINT=tcp://127.0.0.1:47111 cir daemon run --db my.db --web-port 47112
    """
    from cir.daemon.service import run_foreground

    run_foreground(
        db, embedder, list(endpoints) or None, lock_path, idle_timeout, max_requests,
        log_file, verbose, web_port=_port(web_port, no_page),
    )


@daemon.command()
@db_option("Catalogue to serve: a database file or a shared catalogue's postgresql:// URL.")
@click.option("--embedder", help="Embedder name or checkpoint (default: shipped weights/MFCC).")
@click.option("--idle-timeout", type=float, help="Exit after this many idle seconds.")
@_web_port_option
@_no_page_option
def start(db, embedder, idle_timeout, web_port, no_page):
    """Start the daemon in the background and wait until it answers.

    \b
    Example:
        cir daemon start
        cir daemon start --db ~/presets.db
    """
    from cir.daemon.service import start as start_daemon
    from cir.daemon.service import status as daemon_status

    info = start_daemon(db, embedder, idle_timeout=idle_timeout, web_port=_port(web_port, no_page))
    verb = "started" if info.started else "already running"
    click.echo(f"daemon {verb} (pid {info.pid}) at {info.endpoint}")
    facts = daemon_status(info.endpoint)
    _print_page(facts)
    click.echo(f"log:  {info.log_path}")
    if not facts.get("catalogue_size"):
        click.echo(
            f"The catalogue {facts.get('catalogue_path')} is empty: fill it with "
            "`cir catalogue add-builtin` (the built-in synth; a few minutes), or add-sf2 / "
            "add-vst3 / add-folder, then run `cir catalogue reload`.", err=True,
        )


def _print_page(facts: dict) -> None:
    if facts.get("web_url"):
        click.echo(f"page: {facts['web_url']}  (`cir open` opens it)")
    elif facts.get("web_problem"):
        click.echo(f"page: none, {facts['web_problem']}")


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
@json_option("Print the status reply as JSON.")
def status(as_json):
    """Show the running daemon's page address, encoder, catalogue size and uptime.

    \b
    Example:
        cir daemon status
        cir daemon status --json
    """
    from cir.daemon.service import status as daemon_status

    info = daemon_status()
    if as_json:
        echo_json(info)
        return
    click.echo(f"daemon running (pid {info['pid']}) at {', '.join(info['endpoints'])}")
    _print_page(info)
    click.echo(
        f"encoder:   {info['encoder_name']} ({info['encoder_version']}) on {info['device']}\n"
        f"catalogue: {info['catalogue_size']} entries in {info['catalogue_path']}\n"
        f"uptime:    {info['uptime_s']:.0f} s, {info['requests_served']} requests served\n"
        f"log:       {info.get('log_path')}"
    )


@click.command("open")
@click.option("--print", "print_only", is_flag=True, help="Print the address, open nothing.")
def open_page(print_only):
    """Open the results page of the running daemon in your web browser.

    \b
    Example:
        cir open
        cir open --print
    """
    from cir.daemon.service import page_url

    url = page_url()
    if not print_only:
        import webbrowser

        if not webbrowser.open(url):
            click.echo(f"no web browser found here: open {url} yourself", err=True)
    click.echo(url)
