"""The `pick` request (protocol v1): the producer's "this one", stored in the catalogue."""

from __future__ import annotations

import logging
from pathlib import Path

from cir import protocol
from cir.daemon.logs import LOGGER_NAME
from cir.daemon.previews import local_catalogue
from cir.protocol import ProtocolError, Request

log = logging.getLogger(LOGGER_NAME)


def pick_reply(catalogue_path: str | Path, request: Request) -> list[bytes]:
    """Store the pick; reply with its id and when it was made."""
    from cir.presets_db.errors import UnknownPresetError
    from cir.presets_db.picks import PickError, record_pick

    fields = request.extra
    with local_catalogue(catalogue_path, "picks") as catalogue:
        try:
            pick = record_pick(catalogue, fields["query"], fields["family"], fields["preset_id"],
                               client=fields["source"])
        except UnknownPresetError:
            raise ProtocolError(
                "unknown_preset", f"preset_id={fields['preset_id']} is not in the catalogue "
                "(it may have been removed since the match): match again",
            ) from None
        except PickError as exc:
            raise ProtocolError("unknown_family", str(exc)) from None
    log.info("pick %d: preset %d for %s", pick.id, fields["preset_id"], fields["family"])
    return protocol.encode_reply(request.id, pick_id=pick.id, picked_at=pick.picked_at)
