"""Regression tests for the ten defects found by probing the daemon (issue 11), one section each.

Each test reproduces the defect's symptom with real sockets, real catalogues and real daemons
(threads or subprocesses); each failed on the code before the fix.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

import numpy as np
import pytest
from daemon_support import (
    REPO,
    Raw,
    match_while_daemon_is_killed,
    mfcc,
    serve,
    short_dir,
    spawn_daemon,
    synthetic_db,
    wait_until,
)

from cir import defaults, paths, protocol
from cir.benchmarks.workload import query_loop
from cir.protocol.client import Client, DaemonUnavailableError, RequestRefusedError, is_running
from tools.reliability.suite import start_churn


def ask(raw: Raw, frames: list[bytes], timeout_ms: int = 10_000) -> dict | None:
    raw.send(frames)
    reply = raw.recv(timeout_ms)
    return None if reply is None else protocol.decode_reply(reply[1:])


def ping_ok(raw: Raw) -> bool:
    reply = ask(raw, [b"", *protocol.encode_request("ping", "alive")], 5000)
    return bool(reply and reply["ok"] and reply["id"] == "alive")


# --- 1. a ~1 KB request of nested brackets killed the daemon --------------------------------------


def test_deeply_nested_header_gets_bad_json_and_the_daemon_keeps_serving():
    with short_dir() as d, serve(d) as (_, endpoint):
        raw = Raw(endpoint)
        for header in (b"[" * 1000, b"{\"a\":" * 5000, b"[" * 60_000):
            reply = ask(raw, [b"", header])
            assert reply is not None, "the daemon died or hung on a nested header"
            assert reply["ok"] is False and reply["error"]["code"] == "bad_json"
            assert ping_ok(raw)
        raw.close()
    assert protocol.peek_id([b"[" * 100_000]) is None  # never raises


# --- 3. memory was bounded per frame, not per message ---------------------------------------------


def test_requests_beyond_the_queue_bound_are_refused_busy_not_buffered():
    """While the matcher is busy, queued requests are bounded in bytes: the next is `busy`."""
    release = threading.Event()
    entered = threading.Event()

    def hold(_header, _audio):
        entered.set()
        release.wait(30)

    big = np.full((48_000 * 20, 2), 0.25, np.float32)  # 20 s stereo: 7.7 MB per request
    with short_dir() as d:
        synthetic_db(d, size=6)
        with serve(d, observer=hold, queue_bytes=20_000_000) as (_, endpoint):
            raw = Raw(endpoint)
            head = protocol.encode_match(big, 48_000, request_id="first")
            raw.send([b"", *head])
            assert entered.wait(30)  # the first is in flight; the next ones queue
            for i in range(4):
                raw.send([b"", *protocol.encode_match(big, 48_000, request_id=f"q{i}")])
            refused = set()
            for _ in range(2):
                reply = raw.recv(10_000)
                assert reply is not None, "no immediate reply: requests queue without bound"
                answer = protocol.decode_reply(reply[1:])
                assert answer["error"]["code"] == "busy", answer
                refused.add(answer["id"])
            release.set()
            served = set()
            for _ in range(3):
                reply = raw.recv(30_000)
                assert reply is not None
                answer = protocol.decode_reply(reply[1:])
                assert answer["ok"], answer
                served.add(answer["id"])
            raw.close()
    assert refused == {"q2", "q3"} and served == {"first", "q0", "q1"}


@pytest.mark.slow
def test_a_many_frame_message_cannot_grow_the_daemon_past_its_memory_ceiling():
    """A client sending one message of many maximum-size frames (libzmq buffers them all before
    the daemon sees any) meets the memory guard: dropped, and the daemon keeps serving."""
    from cir.daemon.memory import peak_rss_bytes, rss_bytes

    headroom = 300 * 1024 * 1024
    with short_dir() as d:
        synthetic_db(d, size=6)
        proc = spawn_daemon(d, server_args=f"memory_headroom={headroom}")
        try:
            endpoint = f"ipc://{d / 'd.sock'}"
            wait_until(lambda: is_running(endpoint, 2000), 60, "daemon up")
            baseline = rss_bytes(proc.pid)
            raw = Raw(endpoint)
            frame = np.ones(40 * 1024 * 1024 // 4, np.float32).tobytes()  # 40 MB
            raw.send([b"", b"{}", *([frame] * 16)], copy=False)  # 640 MB in one message

            def tripped() -> bool:
                try:
                    with Client(endpoint) as client:
                        return client.status()["memory"]["guard_trips"] >= 1
                except DaemonUnavailableError:  # the moment the guard closes and reopens
                    return False

            wait_until(tripped, 180, "the memory guard")
            assert raw.recv(0) is None  # dropped, not answered: the 640 MB were never whole
            raw.close()
            assert proc.poll() is None
            peak = peak_rss_bytes(proc.pid)
        finally:
            proc.kill()
            proc.wait()
    # The guard acts within a poll of passing the ceiling: well under the 640 MB sent.
    assert peak - baseline < headroom + 200 * 1024 * 1024


# --- 4. `cir daemon stop` could stop the wrong daemon; a second endpoint could not start ----------


@pytest.mark.slow
def test_two_daemons_on_two_endpoints_and_stop_only_touches_its_own(monkeypatch):
    from click.testing import CliRunner

    from cir.cli import cli

    runner = CliRunner()
    with short_dir() as d:
        synthetic_db(d, size=6)
        a, b, c = (f"ipc://{d / name}" for name in ("a.sock", "b.sock", "c.sock"))
        started = []
        try:
            for endpoint in (a, b):
                monkeypatch.setenv("CIR_ENDPOINT", endpoint)
                result = runner.invoke(cli, ["daemon", "start", "--catalogue",
                                             str(d / "catalogue.db"), "--embedder", "mfcc80",
                                             "--idle-timeout", "120"])
                assert result.exit_code == 0, result.output
                started.append(endpoint)
            pids = {}
            for endpoint in (a, b):
                with Client(endpoint) as client:
                    pids[endpoint] = client.status()["pid"]
            assert pids[a] != pids[b]
            # Nothing answers at c: stop says so and signals nobody.
            monkeypatch.setenv("CIR_ENDPOINT", c)
            result = runner.invoke(cli, ["daemon", "stop"])
            assert result.exit_code == 1 and "not running" in result.output
            time.sleep(0.5)
            assert is_running(a, 3000) and is_running(b, 3000)
            # stop at b stops b, and only b.
            monkeypatch.setenv("CIR_ENDPOINT", b)
            result = runner.invoke(cli, ["daemon", "stop"])
            assert result.exit_code == 0, result.output
            assert str(pids[b]) in result.output
            started.remove(b)
            assert is_running(a, 3000) and not is_running(b, 1000)
        finally:
            for endpoint in started:
                monkeypatch.setenv("CIR_ENDPOINT", endpoint)
                runner.invoke(cli, ["daemon", "stop"])


def test_lock_and_log_follow_the_endpoint_and_the_data_dir(monkeypatch, tmp_path):
    from cir.daemon import paths as dpaths

    monkeypatch.setenv("CIR_HOME", str(tmp_path / "one"))
    default = dpaths.instance_name(protocol.default_endpoints())
    other = dpaths.instance_name(["tcp://127.0.0.1:47111"])
    assert default != other
    assert dpaths.lock_path(default) != dpaths.lock_path(other)
    assert dpaths.log_path(default) != dpaths.log_path(other)
    assert str(dpaths.lock_path(other)).startswith(str(tmp_path / "one"))
    monkeypatch.setenv("CIR_HOME", str(tmp_path / "two"))
    assert str(dpaths.lock_path(default)).startswith(str(tmp_path / "two"))


# --- 5. a match racing a catalogue delete failed; ids were reused ---------------------------------


def _results(source_id: int, keys: list[str], emb, rng) -> list:
    from cir.presets_db.catalogue import PresetResult

    out = []
    for key in keys:
        v = rng.standard_normal(emb.dim).astype(np.float32)
        out.append((source_id, PresetResult(
            key=key, name=key, family="bass", tags=(), locator={}, content_hash=key,
            settings_hash="t", status="ok", sample_rate=22050, vector=v / np.linalg.norm(v),
            embedder=emb.name, embedder_version=emb.version,
        )))
    return out


def test_preset_ids_are_never_reused(tmp_path):
    from cir.presets_db.catalogue import Catalogue

    emb = mfcc()
    rng = np.random.default_rng(0)
    with Catalogue.open(tmp_path / "c.db") as cat:
        source = cat.add_source("folder", str(tmp_path), {})
        cat.write_results(_results(source.id, ["a", "b", "c"], emb, rng))
        last = max(p.id for p in cat.presets())
        cat.delete_presets([last])
        cat.write_results(_results(source.id, ["d"], emb, rng))
        new = next(p.id for p in cat.presets() if p.key == "d")
        assert new > last
        cat.remove_source(source.id)
        again = cat.add_source("folder", str(tmp_path / "x"), {})
        assert again.id > source.id


def test_an_old_catalogue_is_migrated_with_its_data_and_keys_intact(tmp_path):
    import sqlite3

    import sqlite_utils

    from cir.presets_db import migrations
    from cir.presets_db.catalogue import Catalogue

    path = tmp_path / "old.db"
    db = sqlite_utils.Database(sqlite3.connect(str(path)))
    saved = migrations.MIGRATIONS
    try:
        migrations.MIGRATIONS = saved[:1]  # the schema as it was first shipped
        migrations.migrate(db)
    finally:
        migrations.MIGRATIONS = saved
    emb, vector = mfcc(), np.ones(mfcc().dim, np.float32) / np.sqrt(mfcc().dim)
    with db.conn:
        db.execute("INSERT INTO sources VALUES (1, 'folder', ?, '{}', 'then')", [str(tmp_path)])
        for pid in (1, 2):
            db.execute(
                "INSERT INTO presets (id, source_id, key, name, family, content_hash, "
                "settings_hash, status, updated_at) VALUES (?, 1, ?, ?, 'bass', 'h', 's', 'ok', "
                "'then')", [pid, f"k{pid}", f"P{pid}"],
            )
            db.execute("INSERT INTO renders (preset_id, notes, settings_hash, sample_rate, "
                       "created_at) VALUES (?, '[]', 's', 22050, 'then')", [pid])
            db.execute("INSERT INTO embeddings (preset_id, embedder, embedder_version, dim, "
                       "vector, created_at) VALUES (?, ?, ?, ?, ?, 'then')",
                       [pid, emb.name, emb.version, emb.dim, vector.tobytes()])
    db.close()
    with Catalogue.open(path) as cat:
        assert cat.stats()["schema"] == ["0001_initial", "0002_ids_never_reused", "0003_picks"]
        assert [(p.id, p.key, p.embedders) for p in cat.presets()] == [
            (1, "k1", {emb.name: emb.version}), (2, "k2", {emb.name: emb.version})
        ]
        cat.delete_presets([2])
        cat.write_results(_results(1, ["k3"], emb, np.random.default_rng(0)))
        assert cat.presets()[-1].id == 3  # not 2 again
        assert cat.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        cat.remove_source(1)  # the rebuilt tables still cascade
        for table in ("presets", "renders", "embeddings"):
            assert cat.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0


@pytest.mark.slow
def test_matches_never_fail_while_the_catalogue_changes_under_them():
    """Another process adds and deletes presets as fast as the API allows while a client
    matches (through the daemon, each match sees whatever the catalogue holds right then)."""
    audio = query_loop(4.0, 48_000)
    with short_dir() as d:
        synthetic_db(d, size=12)
        stop = d / "stop"
        writer = start_churn(d / "catalogue.db", stop, cwd=REPO)
        failures = []
        try:
            assert writer.stdout.readline().strip() == "1"  # churning
            with serve(d) as (_, endpoint), Client(endpoint) as client:
                for _ in range(100):
                    try:
                        client.match(audio, 48_000, k=20, families=["bass"])
                    except RequestRefusedError as exc:
                        failures.append(exc.code)
        finally:
            stop.touch()
            cycles = writer.communicate(timeout=60)[0].split()
    assert len(cycles) > 20  # the catalogue really moved during the matches
    assert failures == []


# --- 6. valid requests answered internal_error ----------------------------------------------------


@pytest.fixture(scope="module")
def shipped_embedder():
    from cir.encoder.embed import load_embedder

    return load_embedder(None)


@pytest.mark.parametrize("frames", [1, 100, 1000])
def test_short_clips_are_matched_with_the_shipped_encoder(frames, shipped_embedder):
    from cir.benchmarks.workload import synthetic_catalogue

    rng = np.random.default_rng(frames)
    clip = (0.3 * rng.standard_normal((frames, 2))).astype(np.float32)
    with short_dir() as d:
        synthetic_catalogue(d / "catalogue.db", 9, shipped_embedder)
        with serve(d, embedder=shipped_embedder) as (_, endpoint), Client(endpoint) as client:
            reply = client.match(clip, 48_000, k=2)
    assert reply["ok"] and reply["results"]


def test_samples_near_the_float32_maximum_are_matched():
    top = np.finfo(np.float32).max
    loud = np.tile(np.array([[top, top], [-top, top * 0.5]], np.float32), (12_000, 1))
    with short_dir() as d:
        synthetic_db(d, size=9)
        with serve(d) as (_, endpoint), Client(endpoint) as client:
            reply = client.match(loud, 48_000, k=2)
    scores = [h["score"] for hits in reply["results"].values() for h in hits]
    assert reply["ok"] and scores and all(np.isfinite(scores))


# --- 7. the ipc directory was 0755, and under /tmp without XDG_RUNTIME_DIR ------------------------


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_ipc_directory_is_private_even_when_it_existed(monkeypatch, tmp_path):
    runtime = tmp_path / "run" / "cir"
    runtime.mkdir(parents=True, mode=0o755)
    os.chmod(runtime, 0o755)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.delenv("CIR_RUNTIME_DIR", raising=False)
    with short_dir() as d:
        synthetic_db(d, size=3)
        from cir.daemon.server import Server, ServerConfig

        server = Server(ServerConfig(endpoints=[protocol.ipc_endpoint()],
                                     catalogue_path=d / "catalogue.db", embedder=mfcc(),
                                     warm_up=False, max_requests=1))
        thread = server.serve_in_thread()
        try:
            assert stat.S_IMODE(runtime.stat().st_mode) == 0o700
            assert (runtime / "daemon.sock").exists()
        finally:
            server.stop()
            thread.join(10)


def test_runtime_dir_is_never_under_tmp_without_xdg_runtime_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.delenv("CIR_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CIR_HOME", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    runtime = paths.runtime_dir()
    # Not platformdirs' fallback, /tmp/runtime-<uid>, which another user can create first.
    assert not str(runtime).startswith(f"{tempfile.gettempdir()}/runtime-"), runtime
    assert runtime == tmp_path / "home" / ".local" / "share" / "cir" / "run"


# --- 8. ids with newlines forged log lines; internal errors leaked exception text -----------------


def test_a_request_id_cannot_forge_a_log_line(tmp_path):
    from cir.daemon.logs import setup_logging

    log_file = tmp_path / "daemon.log"
    forged = "2026-01-01 00:00:00,000 INFO serving on tcp://evil (pid 1)"
    setup_logging(log_file)
    try:
        with short_dir() as d, serve(d) as (_, endpoint):
            raw = Raw(endpoint)
            header = {"v": 1, "id": f"x\n{forged}", "cmd": "format_disk"}
            reply = ask(raw, [b"", json.dumps(header).encode()])
            assert reply["error"]["code"] == "unknown_command"
            raw.close()
    finally:
        setup_logging(None)
    lines = log_file.read_text().splitlines()
    assert any("format_disk" in line for line in lines)
    assert not any(line.startswith(forged) for line in lines)


def test_internal_error_replies_carry_no_exception_text():
    def broken(_header, _audio):
        raise RuntimeError("Given input size: (16x32x1) in /home/someone/secret/model.pt")

    with short_dir() as d:
        synthetic_db(d, size=3)
        with serve(d, observer=broken) as (_, endpoint), Client(endpoint) as client:
            with pytest.raises(RequestRefusedError) as info:
                client.match(query_loop(1.0, 48_000), 48_000)
            assert client.ping()["ok"]
    message = str(info.value)
    assert info.value.code == "internal_error" and "incident" in message
    assert "16x32" not in message and "/home/someone" not in message


# --- 9. a kill during write_preview left temporary files forever ----------------------------------


@pytest.mark.slow
def test_a_build_removes_what_a_killed_preview_writer_left(tmp_path):
    from cir.presets_db.build import build
    from cir.presets_db.catalogue import Catalogue

    db = tmp_path / "c.db"
    previews = tmp_path / "c.db.previews"
    code = textwrap.dedent(f"""
        import os, time, numpy as np
        from pathlib import Path
        import cir.presets_db.build as b
        b.os.replace = lambda *a: (print("written", flush=True), time.sleep(60))
        b.write_preview(np.zeros(2205, np.float32), 22050, Path({str(previews / 'p.flac')!r}))
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "written"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    left = list(previews.glob(".*.tmp.flac"))
    assert len(left) == 1  # what the kill left behind
    with Catalogue.open(db) as cat:
        build(cat, [], embedder="mfcc80", progress=False)
    assert list(previews.glob(".*.tmp.flac")) == []


# --- 10. the client took 30 s to say the daemon was gone ------------------------------------------


def test_client_says_not_running_at_once_when_nothing_listens():
    from cir.protocol.keys import ensure_keys

    ensure_keys()  # a daemon ran here once: the client gets as far as connecting
    with short_dir() as d:
        for endpoint in (f"ipc://{d / 'none.sock'}", "tcp://127.0.0.1:9"):
            t0 = time.monotonic()
            with Client(endpoint) as client, pytest.raises(DaemonUnavailableError) as info:
                client.ping()
            # Default timeouts (3 tries x 10 s before): the answer must not wait for them.
            assert time.monotonic() - t0 < 10.0
            assert str(info.value).startswith(f"daemon not running at {endpoint}")


@pytest.mark.slow
def test_client_of_a_daemon_killed_mid_request_fails_fast_with_default_timeouts():
    with short_dir() as d:
        outcome = match_while_daemon_is_killed(d)
    assert "daemon not running at " + outcome["endpoint"] in outcome["error"]
    assert outcome["after_kill"] < 10.0  # it was 3 x 10 s


# --- issue 12, same code: replies have a limit of their own, sized from k -------------------------


def test_a_k_100_reply_fits():
    from cir.benchmarks.workload import synthetic_catalogue

    with short_dir() as d:
        synthetic_catalogue(d / "catalogue.db", 330, mfcc())
        with serve(d) as (_, endpoint), Client(endpoint) as client:
            reply = client.match(query_loop(1.0, 48_000), 48_000, k=defaults.MATCH_MAX_K)
    size = len(json.dumps(reply))
    assert size > defaults.PROTOCOL_MAX_HEADER_BYTES  # bigger than a request header may be
    assert all(len(hits) == 100 for hits in reply["results"].values())
