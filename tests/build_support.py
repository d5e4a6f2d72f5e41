"""Helpers for the catalogue build tests: a real `cir catalogue build` process to kill."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from conftest import REPO


def build_in_flight(db: Path, *options: str, env: dict | None = None,
                    at_least: int = 4) -> subprocess.Popen:
    """`cir catalogue build --db DB OPTIONS` in its own session, returned once it has written
    `at_least` presets and is still running (the moment a test kills it)."""
    cmd = [sys.executable, "-c", "from cir.cli import main; main()", "catalogue", "build",
           "--db", str(db), "--embedder", "mfcc80", "--batch-size", "2", "--json", *options]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 120
    done = 0
    while done < at_least and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        with sqlite3.connect(db) as conn:
            done = conn.execute("SELECT COUNT(*) FROM presets").fetchone()[0]
    assert proc.poll() is None, "the build finished before it could be killed"
    return proc
