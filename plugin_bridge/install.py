"""Install the CIR Bridge plugin bundles (built by `make plugins`) into the user's plugin folders.

Standard per-user folders, which DAWs scan without extra settings:

| format | Linux   | macOS                         | Windows                                |
|--------|---------|-------------------------------|----------------------------------------|
| VST3   | ~/.vst3 | ~/Library/Audio/Plug-Ins/VST3 | %LOCALAPPDATA%\\Programs\\Common\\VST3 |
| CLAP   | ~/.clap | ~/Library/Audio/Plug-Ins/CLAP | %LOCALAPPDATA%\\Programs\\Common\\CLAP |
| LV2    | ~/.lv2  | ~/Library/Audio/Plug-Ins/LV2  | %APPDATA%\\LV2                         |
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from cir import defaults, paths
from cir.errors import CIRError


class PluginInstallError(CIRError):
    """The plugin bundles are missing, or cannot be copied to their destination."""


@dataclass(frozen=True)
class InstalledBundle:
    """One bundle copied: its format, where it came from and where it now lives."""

    format: str
    source: Path
    destination: Path

    def to_json(self) -> dict[str, str]:
        return {
            "format": self.format,
            "source": str(self.source),
            "destination": str(self.destination),
        }


def build_dir() -> Path:
    """Where `make plugins` puts the bundles (cir.paths.plugin_build_dir)."""
    return paths.plugin_build_dir()


def bundle_name(fmt: str) -> str:
    """The bundle file or folder name of the bridge in format `fmt` (vst3, clap, lv2)."""
    return f"{defaults.PLUGIN_BRIDGE_NAME}.{fmt}"


def user_plugin_dirs(platform: str | None = None, home: Path | None = None) -> dict[str, Path]:
    """The per-user plugin folder of each format on `platform` (default: this machine)."""
    platform = platform or sys.platform
    home = home or Path.home()
    if platform == "darwin":
        base = home / "Library" / "Audio" / "Plug-Ins"
        return {"vst3": base / "VST3", "clap": base / "CLAP", "lv2": base / "LV2"}
    if platform == "win32":
        local = Path(os.environ.get("LOCALAPPDATA", home / "AppData" / "Local"))
        roaming = Path(os.environ.get("APPDATA", home / "AppData" / "Roaming"))
        common = local / "Programs" / "Common"
        return {"vst3": common / "VST3", "clap": common / "CLAP", "lv2": roaming / "LV2"}
    return {"vst3": home / ".vst3", "clap": home / ".clap", "lv2": home / ".lv2"}


def _copy(source: Path, target: Path) -> None:
    """Replace `target` by a copy of `source` (a file or a bundle folder), via a temp name."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.installing")
    if temp.is_dir():
        shutil.rmtree(temp)
    if source.is_dir():
        shutil.copytree(source, temp, symlinks=True)
    else:
        shutil.copy2(source, temp)
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    elif target.exists() or target.is_symlink():
        target.unlink()
    temp.rename(target)


def install_plugins(
    dest: str | Path | None = None,
    formats: tuple[str, ...] = defaults.PLUGIN_FORMATS,
    source_dir: str | Path | None = None,
) -> list[InstalledBundle]:
    """Copy the bridge bundles of `formats` into the user plugin folders, or all into `dest`."""
    unknown = [f for f in formats if f not in defaults.PLUGIN_FORMATS]
    if unknown:
        raise PluginInstallError(
            f"unknown plugin format(s) {', '.join(unknown)}; use any of "
            f"{', '.join(defaults.PLUGIN_FORMATS)}"
        )
    source_dir = Path(source_dir) if source_dir else build_dir()
    sources = {fmt: source_dir / bundle_name(fmt) for fmt in formats}
    missing = [str(path) for path in sources.values() if not path.exists()]
    if missing:
        raise PluginInstallError(
            f"plugin bundles not built: {', '.join(missing)} missing; run `make plugins` in "
            f"the CIR checkout first (needs dpf-source, libzmq3-dev, g++, make, pkg-config)"
        )
    folders = user_plugin_dirs()
    installed = []
    for fmt, source in sources.items():
        target = (Path(dest) if dest else folders[fmt]) / source.name
        try:
            _copy(source, target)
        except OSError as exc:
            raise PluginInstallError(
                f"cannot copy {source} to {target} ({exc.strerror or exc}); check that the "
                f"folder is writable or pass --dest DIR"
            ) from None
        installed.append(InstalledBundle(fmt, source, target))
    return installed
