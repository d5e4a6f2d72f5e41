"""The native plugin's C++ constants (plugin_bridge/native/*.hpp) against the Python values
they mirror: the plugin cannot import Python, so this test is what keeps them in step."""

from __future__ import annotations

import re
from pathlib import Path

from cir import defaults, paths, protocol
from cir.families import FAMILIES
from cir.protocol.client import CLIENT_CONNECT_TIMEOUT_MS, CLIENT_HANDSHAKE_TIMEOUT_MS
from cir.protocol.keys import KEY_FILE_ENV, KEY_FILENAME

NATIVE = Path(__file__).resolve().parents[1] / "plugin_bridge" / "native"


def _constants(*files: str) -> dict[str, object]:
    """name -> value of each `constexpr <type> kName = <literal or expression>;`."""
    values: dict[str, object] = {}
    for name in files:
        for m in re.finditer(r"constexpr [\w: *]+? (k\w+) = ([^;]+);", (NATIVE / name).read_text()):
            text = m.group(2).strip()
            if text.startswith('"'):
                values[m.group(1)] = text.strip('"')
            else:  # arithmetic over numbers and earlier constants (C++ casts dropped)
                text = re.sub(r"static_cast<[\w ]+>", "", text)
                text = re.sub(r"(\d(?:\.\d*)?)f\b", r"\1", text)  # 0.5f -> 0.5
                values[m.group(1)] = eval(text, {}, dict(values))  # our own header, not input
    return values


def test_the_plugin_speaks_the_python_protocol_values():
    from cir.daemon.previews import PREVIEW_MAX_SECONDS

    c = _constants("preview.hpp", "sender.hpp", "keys.hpp", "capture.hpp")
    assert c["kMaxPreviewSeconds"] >= PREVIEW_MAX_SECONDS  # the ring holds a whole preview
    assert c["kEndpointEnv"] == defaults.ENDPOINT_ENV
    assert c["kDefaultEndpoint"] == protocol.tcp_endpoint()
    assert c["kTimeoutEnv"] == defaults.PLUGIN_BRIDGE_TIMEOUT_ENV
    assert c["kMatchK"] == defaults.MATCH_DEFAULT_K
    assert c["kMaxReplyBytes"] == protocol.reply_limit(defaults.MATCH_DEFAULT_K)
    assert c["kConnectTimeoutMs"] == CLIENT_CONNECT_TIMEOUT_MS
    assert c["kHandshakeTimeoutMs"] == CLIENT_HANDSHAKE_TIMEOUT_MS
    assert c["kKeyFileEnv"] == KEY_FILE_ENV and c["kKeyFileName"] == KEY_FILENAME
    assert c["kHomeEnv"] == paths.CIR_HOME_ENV
    assert c["kChannels"] <= defaults.PROTOCOL_MAX_CHANNELS
    assert c["kMaxCaptureSeconds"] <= defaults.PROTOCOL_MAX_SECONDS
    assert len(FAMILIES) == 5  # kMaxReplyBytes counts five families


def test_every_family_has_one_spec():
    from cir.families import FAMILY_SPECS

    assert tuple(FAMILY_SPECS) == FAMILIES
    for spec in FAMILY_SPECS.values():
        lo, hi = spec.pitch_range
        assert lo < hi and 0 < spec.note_seconds < spec.clip_seconds
