"""Preset sources: each module scans one kind of source into `Entry` records and renders them.

A module offers `scan(path, args) -> Iterator[Entry]` (main process: cheap, lists and hashes)
and `render_clips(spec, family, sample_rate) -> list[np.ndarray]` (worker process: builds the
source's Instrument and calls presets_db.render.render_references, or for a folder reads the
file itself). `spec` is plain picklable data, so a spawned worker can rebuild the instrument.
`files(spec) -> tuple[str, ...]` names the files a worker must see (on a Ray cluster, another
host's worker may not).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from cir.presets_db.errors import SourceError

KINDS = ("builtin", "sf2", "vst3", "folder")


@dataclass(frozen=True)
class Entry:
    """One preset a source offers. `family` None: no family could be decided (left out).
    `error` set: known broken before rendering (recorded as failed)."""

    key: str
    name: str
    family: str | None
    locator: dict[str, Any]
    content_hash: str
    spec: Any
    tags: tuple[str, ...] = ()
    error: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def module(kind: str) -> ModuleType:
    """The source module of `kind` (builtin, sf2, vst3, folder)."""
    if kind not in KINDS:
        raise SourceError(f"unknown source kind {kind!r}: expected one of {', '.join(KINDS)}")
    return importlib.import_module(f"cir.presets_db.sources.{kind}")


def sha256(*parts: bytes | str) -> str:
    """Hash of several parts, unambiguous (each part length-prefixed)."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    """Hash of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def readable_path(path: str | Path, what: str, *, directory: bool | None = None) -> Path:
    """The absolute path, or a SourceError saying why it cannot be used."""
    p = Path(path).expanduser()
    if not p.exists():
        raise SourceError(f"{what} {p} does not exist: check the path")
    if directory is True and not p.is_dir():
        raise SourceError(f"{what} {p} is not a directory: pass a folder")
    if directory is False and not p.is_file():
        raise SourceError(f"{what} {p} is not a file: pass a file path")
    try:
        if p.is_dir():
            next(p.iterdir(), None)
        else:
            with open(p, "rb") as f:
                f.read(1)
    except OSError as exc:
        raise SourceError(
            f"{what} {p} is not readable ({exc.strerror}): check permissions"
        ) from exc
    return p.resolve()


@contextlib.contextmanager
def native_stderr_to_log(what: str) -> Iterator[None]:
    """Send what C libraries write to file descriptor 2 (FluidSynth's "error:" lines, glib's
    CRITICAL assertions) to the log instead of the user's terminal, for the `with` block."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode("utf-8", "replace").strip()
            if text:
                logging.getLogger("cir.presets_db").info("%s said:\n%s", what, text)
