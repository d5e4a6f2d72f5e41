"""The public API: its documented examples run, and `import cir` stays light."""

from __future__ import annotations

import doctest
import subprocess
import sys

import numpy as np
import pytest

import cir
import cir.api
import cir.audio


@pytest.mark.parametrize("module", [cir.api, cir.audio], ids=lambda m: m.__name__)
def test_documented_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


def test_the_facade_names_the_api():
    assert set(cir.api.__all__) <= set(dir(cir))
    assert cir.render_preset is cir.api.render_preset
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        cir.nope  # noqa: B018


def test_import_cir_loads_no_heavy_layers():
    code = ("import sys, cir, cir.defaults, cir.protocol; "
            "print(sorted(m for m in ('torch', 'pedalboard', 'cir.api', 'cir.daemon') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_help_shows_the_api():
    out = subprocess.run([sys.executable, "-c", "import cir; help(cir)"], capture_output=True,
                         text=True, check=True, env={"PAGER": "cat", "TERM": "dumb",
                                                     "PATH": "/usr/bin:/bin"})
    for name in ("render_preset", "Matcher", "open_catalogue", "connect", "load_embedder"):
        assert name in out.stdout


def test_channel_first_audio_is_refused_with_the_fix_at_every_entry():
    from cir import protocol
    from cir.encoder.features import check_audio

    channel_first = np.zeros((2, 48_000), np.float32)
    for enter in (lambda a: protocol.encode_match(a, 48_000), check_audio,
                  cir.audio.as_frames):
        with pytest.raises(cir.audio.AudioShapeError, match=r"pass audio\.T"):
            enter(channel_first)
    assert protocol.encode_match(channel_first.T, 48_000)[1] == channel_first.T.tobytes()
