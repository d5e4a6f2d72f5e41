"""Catalogue builds on Ray (--engine ray): the same catalogue as the local pool, a crash or a
hang fails one preset, a killed driver resumes. One local Ray instance (2 CPUs) serves the
module; the killed-driver test starts its own through the CLI."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from build_support import build_in_flight
from click.testing import CliRunner
from conftest import REPO

from cir.cli import cli
from cir.presets_db import build
from cir.presets_db.catalogue import Catalogue
from cir.presets_db.engines import open_engine
from cir.presets_db.errors import EngineError

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray", reason="Ray is missing: pip install 'cir[ray]'")

CRASHER = "bass/crasher.wav"  # the preset whose worker dies


@pytest.fixture(scope="module")
def ray_engine(tmp_path_factory):
    """A local Ray instance with 2 CPUs, started (and shut down) by the engine itself."""
    # Ray's workers import cir, not the tests: this module's task functions travel by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CIR_RUNTIME_DIR", str(tmp_path_factory.mktemp("run")))
        with open_engine("ray", workers=2) as engine:
            yield engine
    assert not ray.is_initialized()  # the engine shut down the instance it started


def work(task: str) -> str:
    if task == "crash":
        os._exit(3)
    if task == "hang":
        time.sleep(60)
    if task == "raise":
        raise ValueError("bad preset")
    return task.upper()


def render_or_crash(task: build.Task) -> dict:
    """The build's render, except that one preset kills its worker process (as a plugin's
    segfault would)."""
    if task.entry.key == CRASHER:
        os._exit(3)
    return build.render_task(task)


class CrashingEngine:
    """The module's Ray engine, running render_or_crash in place of the build's render."""

    name = "ray"

    def __init__(self, engine):
        self.engine = engine

    def run(self, func, tasks, timeout):
        return self.engine.run(render_or_crash, tasks, timeout)


def contents(db: Path, version: str) -> dict[str, tuple]:
    """Every entry by key: what the catalogue says of it, its preview's bytes, its vector."""
    with Catalogue.open(db) as cat:
        ids, matrix, _ = cat.vectors(version)
        vectors = dict(zip(ids.tolist(), matrix, strict=True))
        return {
            r.key: (r.name, r.family, r.locator, r.status, r.error, r.notes,
                    r.preview.name, r.preview.read_bytes(), vectors[r.id].tobytes())
            for r in cat.presets()
        }  # fmt: skip


def test_ray_builds_the_same_catalogue_as_the_local_pool(tmp_path, ray_engine):
    options = {"split": "test", "limit": 6, "embedder": "default", "workers": 2,
               "progress": False}  # fmt: skip
    summaries = {}
    for name, engine in (("local", "local"), ("ray", ray_engine)):
        with Catalogue.open(tmp_path / f"{name}.db") as cat:
            summaries[name] = build.add_builtin(cat, engine=engine, **options)
    local, on_ray = summaries["local"], summaries["ray"]
    assert (on_ray.added, on_ray.failed) == (local.added, local.failed) == (6, 0)
    version = local.embedder_version
    expected = contents(tmp_path / "local.db", version)
    got = contents(tmp_path / "ray.db", version)
    assert got.keys() == expected.keys() and len(got) == 6
    assert got == expected  # same rows, byte-identical previews and vectors
    # The stored vectors are unit vectors of the shipped encoder, not zeros.
    with Catalogue.open(tmp_path / "ray.db") as cat:
        _, matrix, _ = cat.vectors(version)
    assert np.allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-5)


def test_a_crash_a_hang_and_an_error_fail_only_their_task(ray_engine):
    tasks = ["a", "crash", "b", "hang", "raise", "c"]
    outcomes = {o.task: o for o in ray_engine.run(work, tasks, timeout=5.0)}
    assert set(outcomes) == set(tasks)
    assert [outcomes[t].value for t in "abc"] == ["A", "B", "C"]
    assert outcomes["crash"].error == "worker crashed on this preset (2 tries)"
    assert outcomes["hang"].error == "worker timed out after 5 s on this preset"
    assert outcomes["raise"].error == "ValueError: bad preset"
    assert outcomes["crash"].crashed and outcomes["hang"].crashed
    assert not outcomes["raise"].crashed


def test_a_crashing_preset_fails_alone_and_the_rest_land(tmp_path, ray_engine):
    samples = tmp_path / "samples"
    from test_catalogue_build import tone, write_wav

    for i, name in enumerate(["low", "lower", "crasher", "lowest"]):
        write_wav(samples / "bass" / f"{name}.wav", tone(55.0 * (i + 1), square=True))
    with Catalogue.open(tmp_path / "cat.db") as cat:
        summary = build.add_folder(cat, str(samples), embedder="mfcc80", progress=False,
                                   engine=CrashingEngine(ray_engine))  # fmt: skip
        assert summary.added == 3
        (failure,) = summary.failures
        assert failure.key == CRASHER
        assert failure.error == "worker crashed on this preset (2 tries)"
        assert len(cat.presets()) == 4 and cat.stats()["failed"] == 1  # the failure is kept


def test_a_file_the_worker_cannot_see_fails_its_preset_naming_file_and_host(
    tmp_path, ray_engine
):
    import socket

    from test_catalogue_build import tone, write_wav

    samples = tmp_path / "samples"
    kept = write_wav(samples / "lead" / "kept.wav", tone(440.0))
    gone = write_wav(samples / "lead" / "gone.wav", tone(660.0))
    entries = list(build.sources_mod.module("folder").scan(str(samples), {"family": None}))
    gone.unlink()  # scanned here, missing where the worker looks (as on another host)
    with Catalogue.open(tmp_path / "cat.db") as cat:
        source = cat.add_source("folder", str(samples), {"family": None})
        summary = build.build(cat, [source], scanned={source.id: entries}, embedder="mfcc80",
                              progress=False, engine=ray_engine)  # fmt: skip
    assert summary.added == 1 and kept.exists()
    (failure,) = summary.failures
    assert str(gone) in failure.error and socket.gethostname() in failure.error


def test_cli_engine_options_are_checked_and_explained(tmp_path):
    runner = CliRunner()
    db = str(tmp_path / "cat.db")
    res = runner.invoke(cli, ["catalogue", "add-builtin", "--limit", "1", "--db", db,
                              "--address", "head:6379"])  # fmt: skip
    assert res.exit_code == 1 and "needs the Ray engine: add --engine ray" in res.output
    help_text = runner.invoke(cli, ["catalogue", "build", "--help"]).output
    assert "--engine [local|ray]" in help_text and "--address HOST:PORT" in help_text
    assert "cir catalogue build --engine ray" in help_text
    with pytest.raises(EngineError, match="unknown build engine 'dask'"), open_engine("dask"):
        pass
    with Catalogue.open(db) as cat:
        assert cat.sources() == []  # refused before the source was registered


def test_without_ray_the_command_says_how_to_get_it(tmp_path):
    db = tmp_path / "cat.db"
    hide_ray = "import sys; sys.modules['ray'] = None; from cir.cli import main; main()"
    res = subprocess.run([sys.executable, "-c", hide_ray, "catalogue", "add-builtin", "--limit",
                          "2", "--engine", "ray", "--db", str(db)],
                         cwd=REPO, capture_output=True, text=True)  # fmt: skip
    assert res.returncode == 1, res.stderr
    assert "pip install 'cir[ray]'" in res.stderr and "Traceback" not in res.stderr
    with Catalogue.open(db) as cat:
        assert cat.sources() == []  # nothing registered before the engine was checked


def test_killed_driver_resumes_without_loss_or_repeats(tmp_path, ray_engine):
    db = tmp_path / "cat.db"
    total = 24
    with Catalogue.open(db) as cat:
        cat.add_source("builtin", "factory", {"limit": total})
    run_dir = Path(tempfile.mkdtemp(prefix="cir-t-"))  # short: Ray's sockets go under it
    env = {**os.environ, "CIR_RUNTIME_DIR": str(run_dir)}
    proc = build_in_flight(db, "--engine", "ray", "--workers", "1", env=env)
    try:
        os.kill(proc.pid, signal.SIGKILL)  # the driver alone: Ray's processes must follow
        proc.wait()
        assert _ray_core_processes_gone(proc.pid, within=15.0)
    finally:
        with_group = subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True)
        if with_group.stdout:  # Ray's agents poll for the raylet and leave within a minute
            os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(run_dir, ignore_errors=True)
    with Catalogue.open(db) as cat:
        kept = cat.stats()["entries"]
        assert 4 <= kept < total
        summary = build.build(cat, embedder="mfcc80", progress=False, engine=ray_engine)
        assert (summary.skipped, summary.added, summary.failed) == (kept, total - kept, 0)
        keys = [r.key for r in cat.presets()]
        assert len(keys) == len(set(keys)) == total  # nothing lost, nothing twice
        assert len(list(cat.previews_dir.glob("*.flac"))) == total
        assert cat.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _ray_core_processes_gone(group: int, within: float) -> bool:
    """True once no GCS server or raylet of the killed driver's process group is left."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = subprocess.run(["pgrep", "-g", str(group), "-f", "gcs_server|raylet"],
                               capture_output=True, text=True).stdout.split()  # fmt: skip
        if not found:
            return True
        time.sleep(0.5)
    return False
