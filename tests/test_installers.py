"""The one-command install (installers/install.sh) from a fresh clone into a fresh HOME, run
twice (the second run changes nothing), then uninstalled; and the macOS and Windows scripts
checked by a syntax and lint run (they cannot run here).

The install reuses this checkout's virtual environment (`--venv`: creating one downloads
nothing new but takes minutes), finds the clone's build/ seeded with this checkout's (so
`make plugins` runs but has nothing to compile: the same sources, a minute saved; the build
itself is tested by `make plugins` before the suite) and builds a 2-preset catalogue
(`--catalogue-limit 2`); the rest is the real thing: the bundles into ~/.vst3, ~/.clap and
~/.lv2, the systemd user unit (checked by `systemd-analyze verify`; where no user systemd
runs, as in CI containers, the installer starts the daemon directly), the background build.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import REPO

from cir.protocol.client import Client

INSTALL = REPO / "installers" / "install.sh"
MACOS = REPO / "installers" / "macos" / "install.sh"
COMMON = REPO / "installers" / "common.sh"
WINDOWS = REPO / "installers" / "windows"
BUNDLES = {".vst3": "CIRBridge.vst3", ".clap": "CIRBridge.clap", ".lv2": "CIRBridge.lv2"}
# Files that change by merely running (logs, SQLite's shared memory, lock holders' pids).
VOLATILE = re.compile(r"(\.log|\.stderr|-wal|-shm|\.lock|\.pid)$")


def snapshot(home: Path) -> dict[str, str]:
    """Every file under `home` but the volatile ones: relative path -> content hash."""
    return {
        str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(home.rglob("*")) if p.is_file() and not VOLATILE.search(p.name)
    }


def run_install(clone: Path, env: dict, *args: str) -> str:
    result = subprocess.run(["sh", str(clone / "installers" / "install.sh"), *args], env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def client(endpoint: str, home: Path) -> Client:
    """A client holding the fresh user's key (the test's own CIR_HOME has another)."""
    from cir.protocol.keys import load_keys

    keys = load_keys(home / ".local" / "share" / "cir" / "daemon.key")
    return Client(endpoint, timeout_ms=5000, retries=1, keys=keys)


def answers(endpoint: str, home: Path) -> bool:
    try:
        with client(endpoint, home) as c:
            return c.status()["ok"]
    except Exception:
        return False


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd not installed")
def test_install_from_a_fresh_clone_is_whole_idempotent_and_uninstalls(tmp_path):
    from test_plugin_bridge import free_port

    clone, home = tmp_path / "clone", tmp_path / "home"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    shutil.copytree(REPO / "build", clone / "build", symlinks=True)
    later = time.time() + 5  # newer than the clone's sources: up to date for make
    for path in (clone / "build").rglob("*"):
        if not path.is_symlink():
            os.utime(path, (later, later))
    home.mkdir()
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    # A fresh user: only PATH, HOME and a private endpoint (no CIR_HOME, no XDG_* from pytest).
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "CIR_ENDPOINT": endpoint,
           "LANG": "C.UTF-8"}
    venv = REPO / ".venv"
    cir = venv / "bin" / "cir"
    try:
        first = run_install(clone, env, "--venv", str(venv), "--catalogue-limit", "2")
        for folder, name in BUNDLES.items():
            installed = home / folder / name
            assert installed.exists(), first
            assert subprocess.run(["diff", "-r", str(clone / "build" / "plugins" / name),
                                   str(installed)]).returncode == 0
        unit = home / ".config" / "systemd" / "user" / "cir-daemon.service"
        assert f"ExecStart={cir} daemon run" in unit.read_text()
        verify = subprocess.run(["systemd-analyze", "verify", str(unit)],  # systemd, .ci/run
                                capture_output=True, text=True)
        assert verify.returncode == 0, verify.stderr
        assert answers(endpoint, home), first
        # The built-in catalogue builds in the background; the daemon picks it up.
        pid_file = home / ".local" / "state" / "cir" / "catalogue-build.pid"
        pid = int(pid_file.read_text())
        deadline = time.monotonic() + 300
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(1)
        log = (home / ".local" / "state" / "cir" / "catalogue-build.log").read_text()
        assert "added 2" in log, log
        with client(endpoint, home) as c:
            assert c.status()["catalogue_size"] == 2

        before = snapshot(home)
        with client(endpoint, home) as c:
            daemon_pid = c.status()["pid"]
        second = run_install(clone, env, "--venv", str(venv), "--catalogue-limit", "2")
        assert snapshot(home) == before, second
        with client(endpoint, home) as c:
            assert c.status()["pid"] == daemon_pid  # not restarted
        assert "in place" in second and "installed" not in second.replace("in place", "")

        removed = run_install(clone, env, "--uninstall", "--venv", str(venv))
        assert not unit.exists()
        assert not any((home / folder / name).exists() for folder, name in BUNDLES.items())
        assert not answers(endpoint, home)
        assert (home / ".local" / "share" / "cir" / "catalogue.db").exists(), removed
        run_install(clone, env, "--uninstall", "--purge", "--venv", str(venv))
        assert not (home / ".local" / "share" / "cir").exists()
        assert venv.exists()  # a venv the installer did not make is never removed
    finally:
        subprocess.run([str(cir), "daemon", "stop"], env=env, capture_output=True, timeout=60)


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
@pytest.mark.parametrize("script", [INSTALL, MACOS, COMMON], ids=["linux", "macos", "common"])
def test_shell_installers_pass_sh_n_and_shellcheck(script):
    assert subprocess.run(["sh", "-n", str(script)]).returncode == 0
    lint = subprocess.run(["shellcheck", "-x", "-s", "sh", str(script)], cwd=REPO,
                          capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout


@pytest.mark.parametrize("script", sorted(WINDOWS.glob("*.ps1")), ids=lambda p: p.name)
def test_windows_installers_are_well_formed(script):
    """No PowerShell here: a structural check (balanced brackets and quotes outside comments,
    every script it calls exists, every parameter it declares is used)."""
    text = script.read_text()
    code = "\n".join(line.split("#", 1)[0] if not line.lstrip().startswith("#") else ""
                     for line in text.splitlines())
    stack, pairs, quote = [], {")": "(", "]": "[", "}": "{"}, None
    for ch in code:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            stack.append(ch)
        elif ch in ")]}":
            assert stack and stack.pop() == pairs[ch], f"unbalanced {ch} in {script.name}"
    assert not stack and quote is None, f"unclosed {stack or quote} in {script.name}"
    for called in re.findall(r'Join-Path \$PSScriptRoot "([^"]+\.ps1)"', text):
        assert (script.parent / called).exists(), called
    params = re.search(r"param\((.*?)\n\)", text, re.S)
    for name in re.findall(r"\$(\w+)", params.group(1)) if params else []:
        assert text.count(f"${name}") > 1, f"-{name} is declared but never used"
