"""Read the CIR Bridge plugin's status from its saved state (for hosts without output params).

The plugin mirrors its output parameters (State, Captured, Top score) in a read-only "status"
state entry. Hosts built on JUCE 7, pedalboard included, never refresh output parameter values
(they lack a message thread), but they do ask the plugin for its state, e.g. `preset_data`.
"""

from __future__ import annotations

import json
from typing import Any

from cir.errors import CIRError

STATES = ("idle", "capturing", "sent", "answered", "error")
_KEY = b"\x00status\x00"


class BridgeStatusError(CIRError):
    """The state blob holds no CIR Bridge status entry."""


def bridge_status(state: bytes) -> dict[str, Any]:
    """The status dict (state, captured_seconds, top_score, requests, error: why the last
    request failed, e.g. "not_your_daemon") in a plugin state blob.

    `state` is what the host saved, e.g. pedalboard's `plugin.preset_data` (.vstpreset bytes).
    """
    start = state.find(_KEY)
    if start < 0:
        raise BridgeStatusError(
            "no 'status' entry in the plugin state; expected the state of a CIR Bridge plugin "
            "built by `make plugins`"
        )
    start += len(_KEY)
    end = state.find(b"\x00", start)
    return json.loads(state[start:end].decode("utf-8"))
