"""The producer's picks: "this one" in the plugin's window, kept in the catalogue.

A pick says which preset the producer chose for a query (a fingerprint the client made of
its audio) in one family. The preset's key, name and source are copied into the pick, so a
pick keeps its meaning after its preset leaves the catalogue. Nothing re-ranks with picks
yet; storing every one now is what lets that come later.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from cir.presets_db.catalogue import Catalogue
from cir.presets_db.errors import CatalogueError
from cir.presets_db.migrations import utc_now


class PickError(CatalogueError):
    """A pick that does not fit its preset (another family)."""


@dataclass(frozen=True)
class Pick:
    """One stored pick."""

    id: int
    query: str
    family: str
    preset_id: int | None  # None once the preset left the catalogue
    preset_key: str
    preset_name: str
    source_kind: str
    source_path: str
    client: str
    picked_at: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def record_pick(
    catalogue: Catalogue, query: str, family: str, preset_id: int, client: str = ""
) -> Pick:
    """Store that `preset_id` was picked for `query` in `family`; UnknownPresetError when the
    preset is not in the catalogue, PickError when it is of another family."""
    preset = catalogue.preset(preset_id)
    if preset.family != family:
        raise PickError(
            f"preset {preset_id} ({preset.name}) is a {preset.family} preset, not {family}: "
            "pick it in its own family"
        )
    with catalogue.db.atomic():
        cursor = catalogue.db.execute(
            "INSERT INTO picks (query, family, preset_id, preset_key, preset_name, source_kind,"
            " source_path, client, picked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [query, family, preset.id, preset.key, preset.name, preset.source.kind,
             preset.source.path, client, utc_now()],
        )
        pick_id = cursor.lastrowid
    return list_picks(catalogue, pick_id=pick_id)[0]


def list_picks(
    catalogue: Catalogue, limit: int | None = None, pick_id: int | None = None
) -> list[Pick]:
    """Picks, newest first (at most `limit`), or the one pick `pick_id`."""
    sql = "SELECT * FROM picks"
    params: list[Any] = []
    if pick_id is not None:
        sql += " WHERE id = ?"
        params.append(pick_id)
    sql += " ORDER BY id DESC"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    return [Pick(**row) for row in catalogue.db.query(sql, params)]


def load_picks(path: str | None = None, limit: int | None = None) -> list[Pick]:
    """The picks stored in the catalogue at `path` (default: the user's), newest first."""
    with Catalogue.open(path) as catalogue:
        return list_picks(catalogue, limit)
