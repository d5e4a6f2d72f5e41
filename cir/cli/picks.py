"""`cir picks`: the presets you picked in the plugin's window ("this one"), listed or exported."""

from __future__ import annotations

import click

from cir.cli.output import db_option, echo_json, fit, json_option


@click.command()
@db_option()
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Show only the newest N picks (default: all).")
@json_option("Export every pick as JSON (query fingerprint, family, preset, time).")
def picks(db: str | None, limit: int | None, as_json: bool) -> None:
    """List your picks, newest first: which preset you chose for which loop and family.

    \b
    Example:
        cir picks
        cir picks --json > picks.json
    """
    from cir.presets_db.picks import load_picks

    found = load_picks(db, limit)
    if as_json:
        echo_json({"picks": [p.to_dict() for p in found]})
        return
    if not found:
        click.echo("no picks yet: press \"this one\" beside a suggestion in the CIR Bridge window")
        return
    for p in found:
        gone = "" if p.preset_id is not None else "  (no longer in the catalogue)"
        click.echo(f"{p.picked_at[:19]}  {p.family:10} {fit(p.preset_name, 32):32} "
                   f"{p.source_kind:8} {p.query}{gone}")
