"""The public API: its documented examples run, and `import cir` stays light."""

from __future__ import annotations

import doctest
import subprocess
import sys

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
