"""The login-service files start `cir daemon run` and parse as their formats."""

from __future__ import annotations

import configparser
import plistlib
import shutil
import subprocess

import pytest
from daemon_support import REPO

INSTALLERS = REPO / "installers"


def test_systemd_unit_runs_the_daemon_in_the_foreground():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read_string((INSTALLERS / "systemd" / "cir-daemon.service").read_text())
    assert unit["Service"]["ExecStart"] == "@CIR@ daemon run"
    assert unit["Service"]["KillSignal"] == "SIGTERM"
    assert unit["Install"]["WantedBy"] == "default.target"


def test_launchd_plist_runs_the_daemon_at_load():
    plist = plistlib.loads((INSTALLERS / "launchd" / "org.cir.daemon.plist").read_bytes())
    assert plist["ProgramArguments"] == ["@CIR@", "daemon", "run"]
    assert plist["RunAtLoad"] is True and plist["KeepAlive"] == {"SuccessfulExit": False}


def test_windows_task_and_install_script():
    script = (INSTALLERS / "windows" / "install-logon-task.ps1").read_text()
    assert '-Argument "daemon run"' in script and "-AtLogOn" in script
    if not shutil.which("sh"):
        pytest.skip("no POSIX shell")
    assert subprocess.run(["sh", "-n", str(INSTALLERS / "install.sh")]).returncode == 0
