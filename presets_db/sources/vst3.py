"""VST3 instruments through pedalboard: each `.vstpreset` under a folder is an entry.

A preset's family is the first folder name on its path (nearest first) that cir.families
knows (Bass/Basses, Lead/Leads, Drums/Percussion, Pad, Keys, Pluck, ...), else the source's
`family` arg (--family), else the preset is left out. Without a presets folder the plugin's
default state is the one entry (it then needs --family).

The build renders every preset in a worker process with a timeout, so a plugin that crashes or
hangs fails its presets, never the build. DPF plugins have fixed stereo outputs: renders are
downmixed to mono. Content hash = plugin binary + preset file bytes + family.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cir import defaults
from cir.families import family_from_name, normalise_family
from cir.presets_db.errors import SourceError
from cir.presets_db.render import render_references
from cir.presets_db.sources import Entry, file_sha256, readable_path, sha256
from cir.synth.notes import Note

# VST3 renders: pedalboard's block size and the tail rendered before reading state.
VST3_BUFFER_SIZE = 512

DEFAULT_KEY = "default"


def normalise_args(presets: str | None = None, family: str | None = None) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if presets is not None:
        args["presets"] = str(readable_path(presets, "presets folder", directory=True))
    if family is not None:
        args["family"] = normalise_family(family)
    return args


def plugin_digest(bundle: Path) -> str:
    """Hash of every file of the plugin (a .vst3 bundle is a folder; a bare .so is one file)."""
    files = sorted(p for p in bundle.rglob("*") if p.is_file()) if bundle.is_dir() else [bundle]
    return sha256(*(file_sha256(p) for p in files))


def folder_family(relative: Path) -> str | None:
    """The family of the nearest folder name on `relative` that maps to one."""
    for part in reversed(relative.parent.parts):
        family = family_from_name(part)
        if family:
            return family
    return None


def scan(path: str, args: dict[str, Any]) -> Iterator[Entry]:
    bundle = readable_path(path, "VST3 plugin")
    if bundle.suffix.lower() != ".vst3":
        raise SourceError(f"{bundle} is not a VST3 plugin: expected a path ending in .vst3")
    digest = plugin_digest(bundle)
    fallback = args.get("family")
    folder = args.get("presets")
    if folder is None:
        if fallback is None:
            raise SourceError(
                f"{bundle.name}: without --presets the default state is the one entry and it "
                "needs a family: pass --family (bass, lead, percussion, pad, keys)"
            )
        yield Entry(
            key=DEFAULT_KEY,
            name=f"{bundle.stem} (default)",
            family=fallback,
            locator={"plugin": str(bundle), "preset": None},
            content_hash=sha256("vst3", digest, DEFAULT_KEY, str(fallback)),
            spec=(str(bundle), None),
        )
        return
    root = readable_path(folder, "presets folder", directory=True)
    files = sorted(root.rglob("*.vstpreset"), key=lambda p: p.as_posix())
    if not files:
        raise SourceError(f"no .vstpreset files under {root}: pass the folder that holds them")
    for file in files:
        relative = file.relative_to(root)
        family = folder_family(relative) or fallback
        try:
            data = file.read_bytes()
        except OSError as exc:
            data, error = b"", f"cannot read {file} ({exc.strerror})"
        else:
            error = None
        yield Entry(
            key=relative.as_posix(),
            name=file.stem,
            family=family,
            locator={"plugin": str(bundle), "preset": str(file)},
            content_hash=sha256("vst3", digest, data, str(family)),
            spec=(str(bundle), str(file)),
            tags=tuple(p for p in relative.parent.parts),
            error=error,
        )


# One loaded plugin per bundle per worker, with its default state to restore before each preset.
_PLUGINS: dict[str, tuple[Any, bytes]] = {}


def _plugin(path: str) -> tuple[Any, bytes]:
    import pedalboard

    if path not in _PLUGINS:
        plugin: Any = pedalboard.load_plugin(path)  # VST3Plugin: its stubs lack raw_state
        if not plugin.is_instrument:
            raise SourceError(f"{path} is an effect, not an instrument: pass a VST3 instrument")
        _PLUGINS[path] = (plugin, plugin.raw_state)
    return _PLUGINS[path]


class VST3Instrument:
    """A VST3 instrument in one state (default or a .vstpreset) as a render.Instrument."""

    def __init__(self, plugin_path: str, preset_path: str | None = None):
        self.plugin, default_state = _plugin(plugin_path)
        self.plugin.raw_state = default_state
        if preset_path is not None:
            try:
                self.plugin.load_preset(preset_path)
            except Exception as exc:
                raise SourceError(
                    f"{preset_path}: the plugin rejected this preset ({exc})"
                ) from exc

    def render(self, notes: Sequence[Note], seconds: float, sample_rate: int) -> np.ndarray:
        messages = []
        for note in notes:
            messages.append((bytes([0x90, note.pitch, note.velocity]), note.start))
            messages.append((bytes([0x80, note.pitch, 0]), min(note.end, seconds)))
        audio = self.plugin(
            messages,
            duration=seconds,
            sample_rate=sample_rate,
            num_channels=2,
            buffer_size=VST3_BUFFER_SIZE,
            reset=True,
        )
        mono = np.asarray(audio, dtype=np.float32).reshape(audio.shape[0], -1).mean(axis=0)
        total = round(seconds * sample_rate)
        return np.pad(mono[:total], (0, max(0, total - mono.size)))


def files(spec: tuple[str, str | None]) -> tuple[str, ...]:
    """Files a worker must see to render `spec`: the plugin bundle and the .vstpreset."""
    return tuple(path for path in spec if path)


def render_clips(spec: tuple[str, str | None], family: str, sample_rate: int) -> list[np.ndarray]:
    return render_references(VST3Instrument(*spec), family, sample_rate)


def write_preset(plugin_path: str | Path, params: dict[str, float], dest: str | Path) -> Path:
    """Write a .vstpreset of the plugin with `params` set (tests, benchmarks, quick banks)."""
    import pedalboard

    plugin: Any = pedalboard.load_plugin(str(plugin_path))  # its stubs lack preset_data
    for name, value in params.items():
        setattr(plugin, name, value)
    # Plugins report a parameter change in their state only after a process call.
    plugin([], duration=0.01, sample_rate=defaults.MODEL_SAMPLE_RATE, num_channels=2)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(plugin.preset_data)
    return dest
