"""What every command prints, one way each: JSON objects, JSON Lines, errors, shared options.

- A command whose `--json` output is one document (an object or a list) prints it pretty,
  indented 2 (`echo_json`); a command that prints one result per input as it goes (`cir
  match a.wav b.wav`, `cir listen`) prints JSON Lines, one compact object per line
  (`echo_json_line`).
- While a `--json` command runs, anything the libraries print (progress bars, notices) goes to
  stderr (`json_stdout`), so `cir ... --json > file` is always valid JSON.
- The catalogue option is `--db` everywhere (`--catalogue` is accepted as an alias).
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from typing import Any

import click


def echo_json(data: Any) -> None:
    """One JSON document on stdout, indented 2."""
    click.echo(json.dumps(data, indent=2, default=str))


def echo_json_line(data: Any) -> None:
    """One JSON Lines record on stdout (compact, one line)."""
    click.echo(json.dumps(data, separators=(",", ":"), default=str))


@contextlib.contextmanager
def json_stdout(as_json: bool) -> Iterator[None]:
    """With --json, send whatever the library prints to stderr; the JSON goes out after."""
    if not as_json:
        yield
        return
    with contextlib.redirect_stdout(sys.stderr):
        yield


def json_option(help_text: str = "Print the result as JSON.") -> Callable:
    return click.option("--json", "as_json", is_flag=True, help=help_text)


class AliasedOption(click.Option):
    """An option whose help shows only its first name; the others are accepted aliases."""

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        record = super().get_help_record(ctx)
        if record is None:
            return None
        names, text = record
        first = self.opts[0]
        metavar = names.rsplit(" ", 1)[-1] if not self.is_flag else ""
        return (f"{first} {metavar}".strip(), text)


def db_option(help_text: str = "Catalogue database file (default: the user's catalogue).",
              **extra: Any) -> Callable:
    """`--db PATH` (alias `--catalogue`): the one name of the catalogue option."""
    return click.option("--db", "--catalogue", "db", cls=AliasedOption,
                        type=click.Path(dir_okay=False), default=None, help=help_text, **extra)


def fit(text: str, width: int) -> str:
    """`text` cut to `width` characters with an ellipsis (never wrapped)."""
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"
