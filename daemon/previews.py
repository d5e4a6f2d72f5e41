"""The `preview` request (protocol v1): a catalogue entry's preview as PCM, for auditions.

The plugin plays a suggestion through its own output, so it needs the sound, not a path: the
daemon reads the entry's preview file (only from the catalogue's own previews folder), mixes
it to mono, resamples it to the rate the client asked for and sends at most
PREVIEW_MAX_SECONDS of it as a second reply frame of f32le samples.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cir import protocol
from cir.protocol import ProtocolError, Request

# Longest audition sent (the plugin's player holds 12 s: kMaxPreviewSeconds in preview.hpp).
PREVIEW_MAX_SECONDS = 10.0


def local_catalogue(catalogue_path: str | Path, what: str):
    """The daemon's catalogue opened for one request; `no_catalogue` for a shared one."""
    from cir.presets_db.catalogue import Catalogue
    from cir.presets_db.shared import is_url

    if is_url(str(catalogue_path)):
        raise ProtocolError(
            "no_catalogue", f"{what} need a local catalogue file; this daemon serves a shared "
            "catalogue (start one on a local --db to use them)",
        )
    return Catalogue.open(catalogue_path)


def preview_pcm(
    catalogue_path: str | Path, preset_id: int, sample_rate: int
) -> tuple[np.ndarray, str]:
    """(mono float32 samples at `sample_rate`, the preset's name); ProtocolError when the
    preset is unknown or has no preview."""
    from cir.daemon.web.media import MediaError, read_mono
    from cir.matching.prepare import resample
    from cir.presets_db.errors import UnknownPresetError

    with local_catalogue(catalogue_path, "previews") as catalogue:
        try:
            path = catalogue.preview_file(preset_id)
            name = catalogue.preset(preset_id).name
        except UnknownPresetError:
            raise ProtocolError(
                "unknown_preset", f"preset_id={preset_id} is not in the catalogue (it may have "
                "been removed since the match): match again",
            ) from None
    if path is None:
        raise ProtocolError(
            "no_preview", f"preset {preset_id} ({name}) has no preview file: rebuild its source "
            "with `cir catalogue build` to render one",
        )
    try:
        mono, rate = read_mono(path)
    except MediaError as exc:
        raise ProtocolError("no_preview", f"preset {preset_id} ({name}): {exc}") from None
    mono = mono[: int(PREVIEW_MAX_SECONDS * rate)]
    return np.ascontiguousarray(resample(mono, rate, sample_rate), dtype="<f4"), name


def preview_reply(catalogue_path: str | Path, request: Request) -> list[bytes]:
    """Reply frames of a `preview` request: [reply_json, pcm]."""
    fields = request.extra
    pcm, name = preview_pcm(catalogue_path, fields["preset_id"], fields["sample_rate"])
    reply = protocol.encode_reply(
        request.id, preset_id=fields["preset_id"], name=name, sample_rate=fields["sample_rate"],
        channels=1, frames=int(pcm.shape[0]), format=protocol.AUDIO_FORMAT,
    )
    return [*reply, pcm.tobytes()]
