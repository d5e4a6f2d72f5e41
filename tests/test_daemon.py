"""The daemon: lock, loop exits, status, reload, several clients, observer, signals, faults."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest
from daemon_support import (
    REPO,
    match_while_daemon_is_killed,
    mfcc,
    serve,
    short_dir,
    spawn_daemon,
    synthetic_db,
    wait_until,
)

from cir.benchmarks.workload import query_loop, synthetic_catalogue
from cir.daemon.errors import AlreadyRunningError
from cir.daemon.lock import InstanceLock, is_locked, read_pid
from cir.daemon.server import Server, ServerConfig
from cir.protocol.client import Client, DaemonUnavailableError, RequestRefusedError


def loop(seconds: float = 2.0, rate: int = 48000) -> np.ndarray:
    return query_loop(seconds, rate)


# --- single-instance lock ------------------------------------------------------------------------


def test_lock_is_exclusive_and_records_the_pid(tmp_path):
    path = tmp_path / "daemon.lock"
    with InstanceLock(path):
        assert read_pid(path) == os.getpid() and is_locked(path)
        with pytest.raises(AlreadyRunningError, match="cir daemon stop"):
            InstanceLock(path).acquire()
    assert not is_locked(path)
    InstanceLock(path).acquire().release()


def test_lock_of_a_killed_process_is_free(tmp_path):
    path = tmp_path / "daemon.lock"
    code = (f"from daemon.lock import InstanceLock; InstanceLock({str(path)!r}).acquire(); "
            "import time; print('held', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "held"
    assert is_locked(path)
    proc.kill()
    proc.wait()
    assert not is_locked(path)


def test_second_server_on_the_same_lock_refuses_to_start():
    with short_dir() as d, serve(d) as (server, _):
        other = Server(ServerConfig(endpoints=[f"ipc://{d / 'other.sock'}"],
                                    catalogue_path=d / "c.db", embedder=mfcc(),
                                    lock_path=server.lock_path, warm_up=False))
        with pytest.raises(AlreadyRunningError):
            other.run()


# --- the loop ------------------------------------------------------------------------------------


def test_max_requests_and_idle_exits():
    with short_dir() as d:
        server = Server(ServerConfig(endpoints=[f"ipc://{d / 'd.sock'}"],
                                     catalogue_path=d / "c.db", embedder=mfcc(),
                                     lock_path=d / "l", max_requests=3, warm_up=False))
        thread = server.serve_in_thread()
        with Client(f"ipc://{d / 'd.sock'}", timeout_ms=5000) as client:
            for _ in range(3):
                client.ping()
        thread.join(10)
        assert not thread.is_alive() and server.requests_served == 3
        assert not (d / "d.sock").exists() and not is_locked(d / "l")

        idle = Server(ServerConfig(endpoints=[f"ipc://{d / 'i.sock'}"],
                                   catalogue_path=d / "c.db", embedder=mfcc(),
                                   lock_path=d / "l", idle_timeout=0.3, warm_up=False))
        thread = idle.serve_in_thread()
        thread.join(10)
        assert not thread.is_alive() and idle.requests_served == 0


def test_status_reports_encoder_device_and_catalogue():
    with short_dir() as d:
        synthetic_db(d, size=12)
        with serve(d) as (_, endpoint), Client(endpoint) as client:
            status = client.status()
    assert status["encoder_version"] == mfcc().version
    assert status["device"] in ("cpu", "cuda", "mps")
    assert status["catalogue_size"] == 12
    assert status["pid"] == os.getpid() and status["uptime_s"] >= 0
    assert status["requests_served"] == 0  # counted after the reply is built


def test_catalogue_reload_after_rebuild_without_restart():
    with short_dir() as d, serve(d) as (_, endpoint), Client(endpoint) as client:
        with pytest.raises(RequestRefusedError) as info:
            client.match(loop(), 48000)
        assert info.value.code == "no_catalogue" and "cir catalogue add-builtin" in str(info.value)
        synthetic_catalogue(d / "catalogue.db", 9, mfcc())  # a build writes the file
        assert client.rebuild()["catalogue_size"] == 9
        assert sum(len(v) for v in client.match(loop(), 48000)["results"].values()) == 9
        # A later write is picked up by itself (the catalogue's generation moved).
        synthetic_catalogue(d / "catalogue.db", 15, mfcc(), seed=1)
        assert client.status()["catalogue_size"] == 15


def test_several_clients_at_once_and_observer_sees_exact_frames():
    seen = []
    with short_dir() as d:
        synthetic_db(d, size=30)
        with serve(d, observer=lambda header, frames: seen.append((header, frames.copy()))) as (
            _, endpoint,
        ):
            audio = loop(1.0)
            errors, replies = [], []

            def worker(n: int) -> None:
                try:
                    with Client(endpoint) as client:
                        for _ in range(n):
                            replies.append(client.match(audio, 48000, k=2, tempo=120.0))
                except Exception as exc:  # collected: asserting in threads hides failures
                    errors.append(exc)

            threads = [threading.Thread(target=worker, args=(3,)) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
    assert not errors and len(replies) == 12
    assert all(len(r["results"]["lead"]) == 2 for r in replies)
    assert len({r["id"] for r in replies}) == 12
    header, frames = seen[0]
    assert header["tempo"] == 120.0 and header["channels"] == 2
    assert frames.dtype == np.float32 and np.array_equal(frames, audio)


def test_reply_keeps_warnings_and_query_facts():
    with short_dir() as d:
        synthetic_db(d, size=6)
        loud = np.clip(3 * loop(1.0), -1, 1)
        with serve(d) as (_, endpoint), Client(endpoint) as client:
            reply = client.match(loud, 44100, families=["drums"])
    assert list(reply["results"]) == ["percussion"]
    assert reply["warnings"] and reply["query"]["sample_rate"] == 44100
    assert reply["query"]["peak_dbfs"] == pytest.approx(0.0, abs=0.01)


# --- faults and signals (daemon subprocesses) --------------------------------------------------


@pytest.mark.slow
def test_client_reports_a_daemon_killed_mid_request():
    with short_dir() as d:
        outcome = match_while_daemon_is_killed(d, timeout_ms=1000, retries=2)
    assert "daemon not running at " + outcome["endpoint"] in outcome["error"]
    assert "cir daemon start" in outcome["error"]
    # Its budget is 2 tries x 1 s; the bound is generous because a loaded 2-core CI machine can
    # stall a thread for seconds. What it guards against is waiting out the default timeouts.
    assert outcome["seconds"] < 10.0


@pytest.mark.slow
def test_sigterm_finishes_the_request_in_flight_then_exits():
    with short_dir() as d:
        synthetic_db(d, size=6)
        flag = d / "in-flight"
        proc = spawn_daemon(d, observer=f"lambda h, a: (Path({str(flag)!r}).touch(), "
                                        "time.sleep(1.0))")
        try:
            endpoint = f"ipc://{d / 'd.sock'}"
            wait_until(lambda: (d / "d.sock").exists(), what="daemon socket")
            replies = {}

            def ask() -> None:
                with Client(endpoint, timeout_ms=15_000, retries=1) as client:
                    replies["match"] = client.match(loop(1.0), 48000)

            thread = threading.Thread(target=ask)
            thread.start()
            wait_until(flag.exists, what="request in flight")
            proc.send_signal(signal.SIGTERM)
            thread.join(30)
            assert proc.wait(20) == 0
        finally:
            proc.kill()
            proc.wait()
        log = (d / "daemon.log").read_text()
    assert replies["match"]["ok"] and replies["match"]["results"]
    assert "finishing the request in flight" in log
    assert not is_locked(d / "daemon.lock")


def test_client_gives_one_clear_line_when_nothing_listens():
    with short_dir() as d:
        endpoint = f"ipc://{d / 'nobody.sock'}"
        with Client(endpoint, timeout_ms=200, retries=2) as client, pytest.raises(
            DaemonUnavailableError
        ) as info:
            client.ping()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"daemon not running at {endpoint}; start it with `cir daemon start`")


# --- the service commands ------------------------------------------------------------------------


@pytest.mark.slow
def test_start_status_stop_through_the_cli(monkeypatch):
    from click.testing import CliRunner

    from cir.cli import cli

    with short_dir() as d:
        synthetic_db(d, size=6)
        endpoint = f"ipc://{d / 'svc.sock'}"
        monkeypatch.setenv("CIR_ENDPOINT", endpoint)
        runner = CliRunner()
        result = runner.invoke(cli, ["daemon", "status"])
        assert result.exit_code == 1
        assert f"daemon not running at {endpoint}; start it with `cir daemon start`" in (
            result.output
        )
        result = runner.invoke(cli, ["daemon", "start", "--catalogue", str(d / "catalogue.db"),
                                     "--embedder", "mfcc80", "--idle-timeout", "120"])
        try:
            assert result.exit_code == 0, result.output
            assert "daemon started" in result.output
            result = runner.invoke(cli, ["daemon", "status", "--json"])
            status = json.loads(result.output)
            assert status["catalogue_size"] == 6 and status["encoder_name"] == "mfcc80"
            again = runner.invoke(cli, ["daemon", "start"])
            assert "already running" in again.output
        finally:
            stopped = runner.invoke(cli, ["daemon", "stop"])
        assert stopped.exit_code == 0, stopped.output
        assert "daemon stopped" in stopped.output
        assert runner.invoke(cli, ["daemon", "status"]).exit_code == 1


@pytest.mark.parametrize("args", [
    ["daemon"], ["daemon", "run"], ["daemon", "start"], ["daemon", "stop"], ["daemon", "status"],
    ["demo"], ["match"], ["record"], ["listen"], ["devices"], ["bench", "latency"],
])
def test_every_command_has_help_with_an_example(args):
    from click.testing import CliRunner

    from cir.cli import cli

    result = CliRunner().invoke(cli, [*args, "--help"])
    assert result.exit_code == 0 and "Example:" in result.output


def test_matcher_ranks_each_family_with_its_own_head_vector():
    from daemon_support import tiny_heads_checkpoint

    from cir.encoder.embed import load_embedder
    from cir.matching.prepare import prepare

    with short_dir() as d:
        embedder = load_embedder(str(tiny_heads_checkpoint(d / "heads.pt")))
        synthetic_catalogue(d / "catalogue.db", 9, embedder)
        audio = loop(2.0)
        with serve(d, embedder=embedder) as (_, endpoint), Client(endpoint) as client:
            reply = client.match(audio, 48000, k=3)
        mono = prepare(audio, 48000, embedder.sample_rate).audio
        wanted = embedder.embed_query_by_family(mono, ("percussion", "bass", "lead"))
        rng = np.random.default_rng(0)  # synthetic_catalogue's vectors, in order
        rows = rng.standard_normal((9, embedder.dim))
        rows /= np.linalg.norm(rows, axis=1, keepdims=True)
        shared = embedder.embed_query(mono)
        off_shared = 0
        for family, hits in reply["results"].items():
            assert len(hits) == 3
            for hit in hits:
                row = rows[int(hit["key"].split("-")[1])]
                # Max fusion: the best cosine with the family's head row or the shared row.
                best = float((wanted[family] @ row).max())
                assert hit["score"] == pytest.approx(best, abs=1e-4)
                off_shared += abs(hit["score"] - float(row @ shared)) > 1e-3
        assert off_shared > 0  # the heads, not the one shared vector, ranked the entries


def test_reply_says_presence_per_family_when_the_heads_have_a_presence_head():
    from daemon_support import tiny_heads_checkpoint

    from cir.encoder.embed import load_embedder
    from cir.matching.prepare import prepare

    with short_dir() as d:
        embedder = load_embedder(str(tiny_heads_checkpoint(d / "heads.pt", presence=True)))
        synthetic_catalogue(d / "catalogue.db", 9, embedder)
        audio = loop(2.0)
        with serve(d, embedder=embedder) as (_, endpoint), Client(endpoint) as client:
            reply = client.match(audio, 48000, k=2)
            only = client.match(audio, 48000, k=2, families=["bass"])
        mono = prepare(audio, 48000, embedder.sample_rate).audio
        _, wanted = embedder.read_query(mono, tuple(reply["results"]))
        assert set(reply["presence"]) == set(reply["results"]) and reply["results"]
        for family, score in reply["presence"].items():
            assert score == pytest.approx(wanted[family], abs=1e-4)
        assert set(only["presence"]) == {"bass"}
    # An encoder without a presence head answers no presence at all.
    with short_dir() as d:
        embedder = load_embedder(str(tiny_heads_checkpoint(d / "heads.pt")))
        synthetic_catalogue(d / "catalogue.db", 9, embedder)
        with serve(d, embedder=embedder) as (_, endpoint), Client(endpoint) as client:
            assert "presence" not in client.match(loop(2.0), 48000, k=2)
