"""CIR — Contrastive Instrument Retrieval: which of your presets make the sounds in a loop?

The public Python API (documented, with runnable examples, in ``cir.api``):

- ``render_preset(id_or_file, notes, ...)``: audio of a built-in preset.
- ``open_catalogue(path)`` / ``build_builtin_catalogue(path, split=..., limit=...)``.
- ``load_embedder(name)``: the timbre encoder (shipped weights by default).
- ``Matcher(catalogue).match(audio, sample_rate, k=..., families=...)`` and ``match_file``:
  a ``MatchResult`` (per family a list of ``Hit``; ``Presence`` per family).
- ``connect(endpoint)``: a client of the background daemon (``cir daemon start``).
- ``CIRError``: the root of every error CIR raises on purpose.

Audio is a float32 numpy array shaped ``(frames,)`` or ``(frames, channels)`` (cir.audio).

Layers, each a subpackage, importing only downwards: ``cir.synth`` (the built-in synth) ->
``cir.encoder`` (features, model, embedding) -> ``cir.presets_db`` (the catalogue) ->
``cir.matching`` (audio in, suggestions out) -> ``cir.daemon`` (the matcher service) ->
``cir.app`` (use cases) -> ``cir.cli`` (commands).
Ground floor: ``cir.defaults``, ``cir.families``, ``cir.errors``, ``cir.paths``, ``cir.audio``,
``cir.query`` (what a query may be), ``cir.protocol`` (wire format and client).
"""

from typing import TYPE_CHECKING

from cir.errors import CIRError

if TYPE_CHECKING:  # what __getattr__ hands out, for type checkers and editors
    from cir.api import (
        Hit,
        Matcher,
        MatchResult,
        Presence,
        build_builtin_catalogue,
        connect,
        load_embedder,
        match_file,
        open_catalogue,
        render_preset,
    )

__version__ = "0.1.0"

_API = ("Hit", "MatchResult", "Matcher", "Presence", "build_builtin_catalogue", "connect",
        "load_embedder", "match_file", "open_catalogue", "render_preset")
__all__ = ["CIRError", "Hit", "MatchResult", "Matcher", "Presence", "__version__",
           "build_builtin_catalogue", "connect", "load_embedder", "match_file", "open_catalogue",
           "render_preset"]


def __getattr__(name: str):
    # The API loads on first use (PEP 562): `import cir.defaults` from the lower layers stays
    # cheap and cannot pull the whole stack in.
    if name in _API:
        from cir import api

        return getattr(api, name)
    raise AttributeError(f"module 'cir' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
