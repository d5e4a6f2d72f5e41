"""Catalogue builds: scan sources, render and embed what changed, write in small transactions.

Incremental: a preset is skipped when its content hash, its render settings (RENDER_VERSION,
reference notes, sample rate) and the embedder version are unchanged; failed presets are not
retried until one of those changes (or `retry_failed`). Resumable: results are committed in
batches of BUILD_BATCH_SIZE (or every BUILD_BATCH_SECONDS), each batch one transaction, so a
killed build keeps every finished batch and the next build renders only the rest. Rendering
and embedding run on a build engine (presets_db.engines): spawned worker processes on this
machine (presets_db.pool, one per core by default) or Ray tasks on a local Ray instance or a
cluster. Either way this process alone writes the catalogue: the previews (FLAC bytes the
workers send back) and the rows.
"""

from __future__ import annotations

import io
import json
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from cir import defaults
from cir.families import FAMILY_SPECS
from cir.presets_db import sources as sources_mod
from cir.presets_db.catalogue import Catalogue, PresetResult, SourceRecord
from cir.presets_db.constants import BUILD_TASK_TIMEOUT_S, FOLDER_MAX_SECONDS
from cir.presets_db.engines import Engine, check_engine, open_engine
from cir.presets_db.errors import CatalogueError, NoSourcesError, RenderError, SourceError
from cir.presets_db.pool import Outcome
from cir.presets_db.render import reference_notes
from cir.presets_db.sources import Entry

# ... and at least every this many seconds, so a slow source still commits often.
BUILD_BATCH_SECONDS = 2.0
# A clip whose peak stays below this (about -80 dBFS) is silence: the preset made no sound.
SILENCE_PEAK = 1e-4


@dataclass
class Failure:
    """One preset (or a whole source, key "*") that could not be rendered, and why."""

    source: int
    key: str
    name: str
    error: str


@dataclass
class BuildSummary:
    """What a build did. `failed` counts this build's new failures (details in `failures`)."""

    added: int = 0
    updated: int = 0
    skipped: int = 0
    removed: int = 0
    unmapped: int = 0
    # Entries left out because no family could be told: (source id, key, name) each.
    left_out: list[dict[str, Any]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0
    rendered: int = 0
    embedder: str = ""
    embedder_version: str = ""
    sources: int = 0

    @property
    def failed(self) -> int:
        return len(self.failures)

    @property
    def presets_per_second(self) -> float:
        return self.rendered / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["failed"] = self.failed
        data["presets_per_second"] = round(self.presets_per_second, 3)
        data["seconds"] = round(self.seconds, 3)
        return data


def load_embedder(name: str | None):
    """The embedder called `name` ("default", "mfcc80", ...: encoder.embed.load_embedder)."""
    from cir.encoder.embed import load_embedder as load

    return load(name or defaults.CATALOGUE_EMBEDDER, device="cpu")


def settings_hash(kind: str, family: str, sample_rate: int) -> str:
    """Hash of everything besides the preset that shapes its reference renders."""
    if kind == "folder":
        from cir.presets_db.sources.folder import repitch_semitones

        how: Any = {"max_seconds": FOLDER_MAX_SECONDS,
                    "repitch": list(repitch_semitones(family))}
    else:
        how = {
            "notes": [asdict(n) for n in reference_notes(family)],
            "seconds": FAMILY_SPECS[family].clip_seconds,
        }
    doc = {
        "render_version": defaults.RENDER_VERSION,
        "sample_rate": sample_rate,
        "peak": defaults.RENDER_PEAK,
        "how": how,
    }
    return sources_mod.sha256(json.dumps(doc, sort_keys=True))[:16]


# --- worker side ------------------------------------------------------------------------------

_EMBEDDER: Any = None


@dataclass(frozen=True)
class Task:
    """Everything a worker needs to render, embed and preview one preset (picklable)."""

    source_id: int
    kind: str
    entry: Entry
    added: bool
    settings_hash: str
    embedder: EmbedderRef


@dataclass(frozen=True)
class EmbedderRef:
    """Which embedder a build uses, told to its workers (picklable)."""

    asked: str  # as asked ("default", "mfcc80", a checkpoint): workers load the same
    name: str  # as the embedder calls itself: stored with the vector
    version: str
    sample_rate: int


def normalise_clips(clips: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Each clip peak-normalised to RENDER_PEAK; silent clips dropped; RenderError if all are."""
    loud = []
    for clip in clips:
        peak = float(np.max(np.abs(clip))) if clip.size else 0.0
        if not np.isfinite(peak):
            raise RenderError("the render contains NaN or infinite samples")
        if peak >= SILENCE_PEAK:
            loud.append((clip * (defaults.RENDER_PEAK / peak)).astype(np.float32))
    if not loud:
        raise RenderError("silent render: the preset made no sound on its reference notes")
    return loud


def preset_embedding(embedder: Any, clips: Sequence[np.ndarray]) -> np.ndarray:
    """L2-normalised mean of the clips' embeddings: the preset's one vector."""
    from cir.encoder.embed import unit_mean

    return unit_mean(embedder.embed_clips(list(clips)))


def encode_flac(clip: np.ndarray, sample_rate: int) -> bytes:
    """A mono clip as FLAC file bytes (a worker encodes; the build's writer stores them)."""
    from pedalboard.io import AudioFile

    out = io.BytesIO()
    with AudioFile(out, "w", samplerate=sample_rate, num_channels=1, format="flac") as f:
        f.write(clip[None, :])
    return out.getvalue()


def store_preview(data: bytes, path: Path) -> None:
    """Write a preview file atomically (temporary name, then rename): never a half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_preview(clip: np.ndarray, sample_rate: int, path: Path) -> None:
    """Write a mono FLAC preview atomically."""
    store_preview(encode_flac(clip, sample_rate), path)


def check_files(task: Task) -> None:
    """SourceError naming the file and this host when the worker cannot see a file the preset
    needs (a Ray worker on another host without the user's plugins or SoundFonts)."""
    for path in sources_mod.module(task.kind).files(task.entry.spec):
        if not os.path.exists(path):
            raise SourceError(
                f"{path} is not on the worker's host {socket.gethostname()}: put it at the "
                "same path on every host of the cluster (a shared or copied folder)"
            )


def render_task(task: Task) -> dict[str, Any]:
    """Worker: render the reference clips, embed them, encode the preview; return the result.

    The preview travels back as FLAC bytes ("flac") for the build's writer to store: a worker
    on another host cannot write into the catalogue's folder.
    """
    global _EMBEDDER
    if _EMBEDDER is None:  # first task of this worker process
        from cir.synth.engine import tune_allocator

        tune_allocator()  # renders churn through short-lived arrays: keep them mapped
        _EMBEDDER = load_embedder(task.embedder.asked)
    if _EMBEDDER.version != task.embedder.version:
        raise CatalogueError(
            f"worker embedder is {_EMBEDDER.version!r}, build expects {task.embedder.version!r}"
        )
    entry = task.entry
    check_files(task)
    module = sources_mod.module(task.kind)
    rate = task.embedder.sample_rate
    clips = normalise_clips(module.render_clips(entry.spec, entry.family, rate))
    vector = preset_embedding(_EMBEDDER, clips)
    preview = f"{entry.content_hash[:20]}-{task.settings_hash[:8]}.flac"
    assert entry.family is not None  # entries without a family are left out before this
    notes = [asdict(n) for n in reference_notes(entry.family)] if task.kind != "folder" else []
    return {"vector": vector, "preview": preview, "notes": notes,
            "flac": encode_flac(clips[0], rate)}


# --- parent side ------------------------------------------------------------------------------


@dataclass
class _Plan:
    tasks: list[Task] = field(default_factory=list)


def _result(task: Task, outcome: Outcome | None, error: str | None = None) -> PresetResult:
    e = task.entry
    ok = outcome is not None and outcome.ok
    value = outcome.value if outcome is not None and outcome.ok else {}
    return PresetResult(
        key=e.key,
        name=e.name,
        family=e.family or "",
        tags=e.tags,
        locator=e.locator,
        content_hash=e.content_hash,
        settings_hash=task.settings_hash,
        status="ok" if ok else "failed",
        error=None if ok else (error or (outcome.error if outcome else "unknown error")),
        notes=value.get("notes", []),
        sample_rate=task.embedder.sample_rate,
        preview=value.get("preview"),
        vector=value.get("vector"),
        embedder=task.embedder.name,
        embedder_version=task.embedder.version,
    )


class _Builder:
    def __init__(self, catalogue: Catalogue, embedder: Any, embedder_arg: str, retry_failed: bool):
        self.catalogue = catalogue
        self.embedder = embedder
        self.ref = EmbedderRef(asked=embedder_arg, name=embedder.name, version=embedder.version,
                               sample_rate=embedder.sample_rate)
        self.retry_failed = retry_failed
        self.summary = BuildSummary(embedder=embedder.name, embedder_version=embedder.version)

    def plan(self, source: SourceRecord, entries: list[Entry], plan: _Plan) -> None:
        """Decide per entry: skip, render (task), or record as broken; delete vanished presets."""
        states = self.catalogue.states(source.id, self.embedder.name)
        mapped = [e for e in entries if e.family is not None]
        self.summary.unmapped += len(entries) - len(mapped)
        self.summary.left_out += [
            {"source": source.id, "key": e.key, "name": e.name}
            for e in entries if e.family is None
        ]
        keys = {e.key for e in mapped}
        gone = [st.id for key, st in states.items() if key not in keys]
        self.catalogue.delete_presets(gone)
        self.summary.removed += len(gone)
        for entry in mapped:
            assert entry.family is not None  # `mapped` holds the entries with a family
            settings = settings_hash(source.kind, entry.family, self.embedder.sample_rate)
            state = states.get(entry.key)
            if state is not None and self._current(state, entry, settings):
                self.summary.skipped += 1
                continue
            task = Task(source_id=source.id, kind=source.kind, entry=entry, added=state is None,
                        settings_hash=settings, embedder=self.ref)
            plan.tasks.append(task)  # an entry with `error` is written as failed, no worker

    def _current(self, state: Any, entry: Entry, settings: str) -> bool:
        if state.content_hash != entry.content_hash or state.settings_hash != settings:
            return False
        if state.status == "failed":
            return not self.retry_failed
        return state.embedder_version == self.embedder.version

    def run(self, plan: _Plan, engine: Engine, batch_size: int, progress: bool) -> None:
        batch: list[tuple[int, PresetResult]] = []
        last_flush = time.monotonic()
        todo = [t for t in plan.tasks if not t.entry.error]
        with _progress(progress) as bar:
            job = bar.add_task("rendering", total=len(plan.tasks))
            try:
                for task in (t for t in plan.tasks if t.entry.error):
                    batch.append((task.source_id, _result(task, None, task.entry.error)))
                    self._count(task, ok=False, error=task.entry.error)
                    bar.advance(job)
                outcomes = engine.run(render_task, todo, BUILD_TASK_TIMEOUT_S)
                for outcome in outcomes:
                    task = outcome.task
                    if outcome.ok:  # the preview file before its row: a row never lacks it
                        path = self.catalogue.previews_dir / outcome.value["preview"]
                        store_preview(outcome.value.pop("flac"), path)
                    batch.append((task.source_id, _result(task, outcome)))
                    self._count(task, ok=outcome.ok, error=outcome.error)
                    self.summary.rendered += 1
                    bar.advance(job)
                    if (
                        len(batch) >= batch_size
                        or time.monotonic() - last_flush >= BUILD_BATCH_SECONDS
                    ):
                        self.catalogue.write_results(batch)
                        batch, last_flush = [], time.monotonic()
            finally:
                # Ctrl+C or an error: keep every finished preset before leaving.
                if batch:
                    self.catalogue.write_results(batch)

    def _count(self, task: Task, ok: bool, error: str | None) -> None:
        if not ok:
            e = task.entry
            self.summary.failures.append(Failure(task.source_id, e.key, e.name, error or ""))
        elif task.added:
            self.summary.added += 1
        else:
            self.summary.updated += 1


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("elapsed"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
    )


def scan(source: SourceRecord) -> list[Entry]:
    """Every entry a registered source offers now (SourceError if it cannot be read)."""
    return list(sources_mod.module(source.kind).scan(source.path, source.args))


def build(
    catalogue: Catalogue,
    sources: Sequence[SourceRecord] | None = None,
    *,
    embedder: str | None = None,
    workers: int | None = None,
    engine: str | Engine = defaults.BUILD_ENGINE,
    address: str | None = None,
    batch_size: int = defaults.BUILD_BATCH_SIZE,
    retry_failed: bool = False,
    progress: bool = True,
    strict: bool = False,
    scanned: dict[int, list[Entry]] | None = None,
) -> BuildSummary:
    """Bring `sources` (default: every registered source) up to date; return the summary.

    `strict`: a source that cannot be scanned raises (add-*); otherwise it is reported in the
    summary as a failure with key "*" and its presets are kept as they are (build).
    `engine`: "local" (worker processes here) or "ray" (Ray tasks: a local Ray instance, or
    the cluster at `address`), or an open Engine to reuse (presets_db.engines.open_engine);
    `workers`: processes here, or Ray tasks at once (default: the cores / the cluster's CPUs).
    """
    start = time.monotonic()
    catalogue.sweep_stale_previews()  # what a killed build's preview writers left behind
    chosen = list(sources) if sources is not None else catalogue.sources()
    if sources is None and not chosen:
        raise NoSourcesError(
            f"the catalogue {catalogue.path} has no sources yet: add one with `cir catalogue "
            "add-builtin` (the built-in synth), `add-sf2 FILE`, `add-vst3 PLUGIN` or "
            "`add-folder DIR`"
        )
    emb = load_embedder(embedder)
    builder = _Builder(catalogue, emb, embedder or defaults.CATALOGUE_EMBEDDER, retry_failed)
    plan = _Plan()
    for source in chosen:
        try:
            entries = (scanned or {}).get(source.id) or scan(source)
        except CatalogueError as exc:
            if strict:
                raise
            builder.summary.failures.append(Failure(source.id, "*", source.path, str(exc)))
            continue
        builder.plan(source, entries, plan)
    builder.summary.sources = len(chosen)
    if isinstance(engine, str):
        with open_engine(engine, workers, address) as opened:
            builder.run(plan, opened, batch_size, progress)
    else:
        builder.run(plan, engine, batch_size, progress)
    from cir.presets_db.search import refresh_index

    refresh_index(catalogue, emb.version)
    builder.summary.seconds = time.monotonic() - start
    return builder.summary


def add_source(
    catalogue: Catalogue, kind: str, path: str, args: dict[str, Any], **options: Any
) -> BuildSummary:
    """Scan a new source (errors before anything is written), register it, and build it."""
    engine = options.get("engine", defaults.BUILD_ENGINE)
    if isinstance(engine, str):
        check_engine(engine, options.get("address"))
    module = sources_mod.module(kind)
    if kind != "builtin":
        path = str(Path(path).expanduser().resolve())
    entries = list(module.scan(path, args))
    source = catalogue.add_source(kind, path, args)
    return build(catalogue, [source], strict=True, scanned={source.id: entries}, **options)


def add_builtin(
    catalogue: Catalogue, split: str | None = None, limit: int | None = None, **options: Any
) -> BuildSummary:
    """Add the built-in factory bank (one split, or a family-balanced `limit`) and build it."""
    from cir.presets_db.sources import builtin

    args = builtin.normalise_args(split, limit)
    return add_source(catalogue, "builtin", builtin.PATH, args, **options)


def add_sf2(
    catalogue: Catalogue, file: str, programs: Sequence[int] | None = None, **options: Any
) -> BuildSummary:
    """Add every preset of a SoundFont (or only `programs`) and build them."""
    from cir.presets_db.sources import sf2

    return add_source(catalogue, "sf2", file, sf2.normalise_args(programs), **options)


def add_vst3(
    catalogue: Catalogue,
    plugin: str,
    presets: str | None = None,
    family: str | None = None,
    **options: Any,
) -> BuildSummary:
    """Add a VST3 instrument (its .vstpreset files under `presets`, or its default state)."""
    from cir.presets_db.sources import vst3

    return add_source(catalogue, "vst3", plugin, vst3.normalise_args(presets, family), **options)


def add_folder(
    catalogue: Catalogue, folder: str, family: str | None = None, **options: Any
) -> BuildSummary:
    """Add every audio file under a folder (family from its subfolder, else `family`)."""
    from cir.presets_db.sources import folder as folder_source

    return add_source(catalogue, "folder", folder, folder_source.normalise_args(family), **options)
