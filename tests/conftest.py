"""Shared test helpers: everything is written under pytest's tmp_path, never into the repo."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

from cir import paths

REPO = Path(__file__).resolve().parents[1]
BUILD_PLUGINS = paths.plugin_build_dir()
# Under CI (and `make test`) every test must run: a skip for a missing build artefact,
# Debian package or Python dependency is a failure there, not a silent pass.
REQUIRE_ALL_ENV = "CIR_REQUIRE_ALL"


# The package's own folders: nothing may be written there at run time (cir.paths decides).
PACKAGE_DIRS = ("cir", "synth", "encoder", "presets_db", "daemon", "plugin_bridge",
                "benchmarks", "training", "evaluation", "tools")


def _package_files() -> set[Path]:
    return {p for d in PACKAGE_DIRS for p in (REPO / d).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}


def pytest_sessionstart(session):
    session.config._cir_package_files = _package_files()


def pytest_sessionfinish(session, exitstatus):
    before = getattr(session.config, "_cir_package_files", None)
    new = sorted(str(p.relative_to(REPO)) for p in _package_files() - (before or set()))
    if before is not None and new:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"FAILED: the run wrote into the package: {', '.join(new)}",
                                red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_addoption(parser):
    parser.addoption("--require-all", action="store_true",
                     help=f"fail tests that skip (also when ${REQUIRE_ALL_ENV}=1)")


def _require_all(config) -> bool:
    return config.getoption("--require-all") or os.environ.get(REQUIRE_ALL_ENV) == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail") and _require_all(item.config):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = (f"skipped where every test must run ({REQUIRE_ALL_ENV}=1 / "
                           f"--require-all): {reason}")


NOBODY = 65534


@contextlib.contextmanager
def as_nobody():
    """Run the block with the effective uid/gid of `nobody` when the tests run as root (as CI
    does: root reads every file, so permission checks would never fire), else as the user.

    Python's own files may be unreadable to nobody (a pyenv under /root): import what the block
    needs before entering it.
    """
    if os.geteuid() != 0:
        yield
        return
    os.setegid(NOBODY)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Point every platformdirs location (data, logs, runtime) into a temp dir."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(home / "run"))
    monkeypatch.setenv("CIR_HOME", str(home / "cir"))
    (home / "run").mkdir(mode=0o700)
