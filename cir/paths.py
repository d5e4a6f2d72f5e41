"""Where CIR keeps its files on disk — the one module that decides.

Nothing is ever written inside the installed package. Every location comes from platformdirs
(the operating system's conventions) unless an environment variable overrides it:

| what | default (Linux) | override |
|---|---|---|
| user data: catalogue, demo loop, previews | ``~/.local/share/cir`` | ``CIR_HOME`` |
| caches: rendered training notes and stems | ``~/.cache/cir`` | ``CIR_CACHE`` |
| training runs (checkpoints, ``train.log``) | ``<user data>/runs`` | ``CIR_RUNS`` |
| logs (daemon log) | ``~/.local/state/cir/log`` | ``CIR_HOME`` (``<CIR_HOME>/log``) |
| runtime (ipc socket) | ``$XDG_RUNTIME_DIR/cir``, else ``<user data>/run`` | ``CIR_RUNTIME_DIR`` |
| built plugin bundles | ``build/plugins`` of a source checkout | ``CIR_PLUGIN_BUILD_DIR`` |
| Ray sessions (local instance) | ``<runtime>/ray``, if short, else a temp dir | runtime |

``CIR_HOME`` moves data and logs together, so tests and portable installs stay in one folder.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# platformdirs application name: the default catalogue is <user data dir>/cir/catalogue.db.
APP_NAME = "cir"
# When set, this directory holds the catalogue instead (tests and portable installs use it).
CIR_HOME_ENV = "CIR_HOME"
# Further overrides of cir.paths (caches, training runs, runtime dir): see that module's table.
CACHE_ENV = "CIR_CACHE"
RUNS_ENV = "CIR_RUNS"
RUNTIME_DIR_ENV = "CIR_RUNTIME_DIR"
CATALOGUE_FILENAME = "catalogue.db"
# Longest Ray temp dir (characters) under the cir runtime dir: Ray puts Unix sockets at
# <temp dir>/session_<date>_<pid>/sockets/<name> (about 60 more), and a socket path may not
# exceed 107 bytes on Linux. A longer runtime dir gets a private temporary folder instead.
RAY_TEMP_DIR_MAX_CHARS = 40
# When set, `cir plugin install` takes the bundles from this folder instead of build/plugins.
PLUGIN_BUILD_DIR_ENV = "CIR_PLUGIN_BUILD_DIR"

# platformdirs' appauthor: False everywhere, so Windows paths do not gain an author folder and
# every location agrees (AppData\Local\cir\...).
_AUTHOR = False


def _dirs():
    import platformdirs  # local: `import cir.paths` stays cheap for the plugin-side tools

    return platformdirs.PlatformDirs(APP_NAME, appauthor=_AUTHOR)


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value).expanduser() if value else None


def data_dir() -> Path:
    """User data: the default catalogue, the demo's loop, previews ($CIR_HOME overrides)."""
    return _env_path(CIR_HOME_ENV) or Path(_dirs().user_data_dir)


def catalogue_path() -> Path:
    """The catalogue used when none is named: ``<data dir>/catalogue.db``."""
    return data_dir() / CATALOGUE_FILENAME


def cache_dir() -> Path:
    """Big, rebuildable files (rendered training notes and stems): $CIR_CACHE overrides."""
    return _env_path(CACHE_ENV) or Path(_dirs().user_cache_dir)


def runs_dir() -> Path:
    """Training runs, one folder per config name: $CIR_RUNS, else ``<data dir>/runs``."""
    return _env_path(RUNS_ENV) or data_dir() / "runs"


def log_dir() -> Path:
    """Logs: ``<CIR_HOME>/log`` when CIR_HOME is set, else the platformdirs user log dir."""
    home = _env_path(CIR_HOME_ENV)
    return home / "log" if home else Path(_dirs().user_log_dir)


def runtime_dir() -> Path:
    """The user-private runtime directory (ipc socket): $CIR_RUNTIME_DIR overrides.

    On Linux and the BSDs it is ``$XDG_RUNTIME_DIR/cir``; without XDG_RUNTIME_DIR it is
    ``<data dir>/run`` in the user's own tree, never a folder in world-writable /tmp (where
    another user could create it first).
    """
    override = _env_path(RUNTIME_DIR_ENV)
    if override:
        return override
    if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        xdg = os.environ.get("XDG_RUNTIME_DIR")
        return Path(xdg) / APP_NAME if xdg else data_dir() / "run"
    return Path(_dirs().user_runtime_dir)


def plugin_build_dir() -> Path:
    """Where `make plugins` put the bundles: $CIR_PLUGIN_BUILD_DIR, else the source checkout's
    ``build/plugins`` (read only; an installed wheel carries no native plugins)."""
    override = _env_path(PLUGIN_BUILD_DIR_ENV)
    if override:
        return override
    return Path(__file__).resolve().parents[1] / "build" / "plugins"


def ray_temp_dir() -> tuple[Path, bool]:
    """Where a local Ray instance keeps its sessions (sockets, logs), and whether the folder is
    a throwaway to delete after the build.

    ``<runtime dir>/ray`` when it is short enough for the Unix sockets Ray puts under it
    (RAY_TEMP_DIR_MAX_CHARS), else a new private folder from tempfile (mode 0700).
    """
    preferred = runtime_dir() / "ray"
    if len(str(preferred)) <= RAY_TEMP_DIR_MAX_CHARS:
        # Ray opens its own folders to everyone (0777): the private runtime dir guards them.
        ensure_dir(runtime_dir(), private=True)
        return ensure_dir(preferred, private=True), False
    import tempfile

    return Path(tempfile.mkdtemp(prefix="cir-ray-")), True


def ensure_dir(path: Path, private: bool = False) -> Path:
    """Create `path` (and parents); `private` makes it 0700 even if it already existed."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700 if private else 0o777)
    if private and os.name == "posix":
        os.chmod(path, 0o700)  # mkdir's mode is masked by umask and ignored if it exists
    return path
