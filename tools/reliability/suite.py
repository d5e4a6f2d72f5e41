"""`make reliability`: a real daemon probed as an attacker and as a busy studio would, with figures.

    python -m tools.reliability [--quick] [--out docs/RELIABILITY.md] [--json]

Each section runs against real daemon processes on real sockets with the user's CURVE keys,
real SQLite catalogues and real catalogue builds, in a private temporary folder:

- fuzz: >= 10,000 requests (deep nesting, multi-frame, huge finite samples, short clips,
  mutated headers, random bytes ...): crashes, hangs (no reply in time), wrong replies;
- load: 8 x 100 and 32 x 20 concurrent clients: lost replies, p50/p95/max, throughput;
- faults: SIGKILLs of a catalogue build and of the daemon mid-request: corrupt catalogues,
  lost entries, time to recover;
- race: a catalogue changed by another process while clients match: failed requests;
- memory: resident memory under hostile messages, against the guard's ceiling;
- other user: as `nobody` (root only, via setpriv): key file, ipc, tcp status/shutdown,
  taking the port while the daemon is down.

`--quick` is the short form CI runs (tests/test_reliability.py); the full form writes
docs/RELIABILITY.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zmq

from cir import defaults, protocol
from cir.benchmarks.workload import query_loop, synthetic_catalogue
from cir.daemon.memory import peak_rss_bytes, rss_bytes
from cir.matching.prepare import DAEMON_SILENCE_DBFS
from cir.paths import CIR_HOME_ENV
from cir.protocol.client import Client, ClientError, DaemonUnavailableError, RequestRefusedError
from cir.protocol.keys import KEY_FILENAME, UserKeys, ensure_keys, load_keys
from tools import tools_env

MB = 1024 * 1024


@dataclass(frozen=True)
class Plan:
    """How much of everything: the full suite or its short CI form."""

    fuzz_cases: int
    load: tuple[tuple[int, int], ...]
    build_kills: int
    daemon_kills: int
    build_presets: int
    race_matches: int
    memory_frames: int
    memory_frame_mb: int
    memory_headroom_mb: int
    memory_unauth_connections: int


FULL = Plan(10_000, ((8, 100), (32, 20)), 20, 20, 600, 300, 16, 80, 1024, 16)
QUICK = Plan(1_000, ((4, 10), (8, 5)), 3, 3, 60, 40, 6, 40, 200, 4)


def _pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 1) if values else float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- daemon processes ----------------------------------------------------------------------------

_DAEMON = """
import json, sys, time
from pathlib import Path
from cir.daemon.logs import setup_logging
from cir.daemon.server import Server, ServerConfig
cfg = json.loads(sys.argv[1])
setup_logging(Path(cfg["log"]))
observer = None
if cfg.get("flag"):
    def observer(header, audio, flag=Path(cfg["flag"]), pause=cfg["pause"]):
        flag.touch()
        time.sleep(pause)
extra = {"memory_headroom": cfg["headroom"]} if cfg.get("headroom") else {}
server = Server(ServerConfig(endpoints=cfg["endpoints"], catalogue_path=cfg["catalogue"],
                             embedder=cfg["embedder"], lock_path=cfg["lock"], warm_up=True,
                             **extra))
server.observer = observer
server.run()
"""


@dataclass
class Daemon:
    """A daemon subprocess (`cir.daemon.server.Server.run` in its main thread)."""

    work: Path
    endpoints: list[str]
    catalogue: Path
    embedder: str | None = "mfcc80"  # None: the shipped encoder
    flag: Path | None = None
    pause: float = 0.0
    headroom: int | None = None
    proc: subprocess.Popen | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return self.endpoints[0]

    def start(self, timeout: float = 120.0) -> float:
        """Start it and wait until it answers; the seconds that took."""
        cfg = {
            "endpoints": self.endpoints, "catalogue": str(self.catalogue),
            "embedder": self.embedder, "lock": str(self.work / "daemon.lock"),
            "log": str(self.work / "daemon.log"), "flag": str(self.flag) if self.flag else None,
            "pause": self.pause, "headroom": self.headroom,
        }
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _DAEMON, json.dumps(cfg)], env={**os.environ, **self.env},
            stdout=subprocess.DEVNULL, stderr=open(self.work / "daemon.stderr", "ab"),  # noqa: SIM115
        )
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited at start-up: see {self.work / 'daemon.log'}")
            with contextlib.suppress(ClientError), Client(self.endpoint, timeout_ms=2000,
                                                          retries=1) as client:
                client.ping()
                return time.monotonic() - t0
            time.sleep(0.05)
        raise RuntimeError("daemon did not answer in time")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()

    def stop(self) -> int | None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode if self.proc else None


@contextlib.contextmanager
def running(daemon: Daemon) -> Iterator[Daemon]:
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


# --- fuzz ----------------------------------------------------------------------------------------


def _noise(rng: np.random.Generator, frames: int, channels: int, scale: float = 0.3) -> bytes:
    return (scale * rng.standard_normal((frames, channels))).astype("<f4").tobytes()


def _header(**fields: Any) -> dict[str, Any]:
    head = {"v": 1, "cmd": "match", "sample_rate": 48000, "channels": 2, "frames": 4800,
            "format": "f32le", "tempo": None, "k": 3, "families": None}
    head.update(fields)
    return head


def _case(kind: str, i: int, rng: np.random.Generator) -> tuple[list[bytes], str | None, bool]:
    """(body frames, the id the reply must carry, whether the request is valid)."""
    rid = f"fz{i}"
    if kind == "valid":  # short clips to a few seconds, 1-8 channels, any rate
        rate = int(rng.choice([8000, 22050, 44100, 48000, 96000, 192000]))
        ch = int(rng.integers(1, 9))
        frames = int(rng.choice([1, 2, 17, 100, 1000, 1999, 4800, rate]))
        head = _header(id=rid, sample_rate=rate, channels=ch, frames=frames,
                       k=int(rng.integers(1, 101)))
        body = [json.dumps(head).encode(), _noise(rng, frames, ch)]
        return body, rid, _valid(head, body)  # (a one-sample clip may be silence)
    if kind == "huge_samples":  # finite, up to the float32 maximum
        top = np.finfo(np.float32).max
        pcm = (rng.uniform(-1, 1, (4800, 2)) * top).astype("<f4")
        pcm[0, 0] = top
        return [json.dumps(_header(id=rid)).encode(), pcm.tobytes()], rid, True
    if kind == "deep_nesting":
        depth = int(rng.integers(100, 60_000))
        opener = rng.choice([b"[", b'{"a":'])
        return [opener * depth], None, False
    if kind == "multi_frame":
        n = int(rng.integers(3, 9))
        frames = [json.dumps(_header(id=rid)).encode()] + [_noise(rng, 4800, 2)] * (n - 1)
        return frames, rid, False
    if kind == "random_bytes":
        frames = [rng.bytes(int(rng.integers(0, 300))) for _ in range(int(rng.integers(1, 3)))]
        return frames, None, False
    if kind == "bad_utf8":
        return [b'{"v": 1, "id": "\xff\xfe", "cmd": "ping"}'], None, False
    if kind == "non_finite":
        pcm = rng.standard_normal((4800, 2)).astype("<f4")
        pcm[int(rng.integers(0, 4800)), int(rng.integers(0, 2))] = rng.choice(
            [np.nan, np.inf, -np.inf])
        return [json.dumps(_header(id=rid)).encode(), pcm.tobytes()], rid, False
    if kind == "control_id":
        head = {"v": 1, "id": f"x\n{rid}\x1b[31m\r\u2028", "cmd": "ping"}
        return [json.dumps(head).encode()], head["id"], True
    if kind == "command_with_audio":
        cmd = str(rng.choice(["ping", "status", "rebuild", "shutdown"]))
        return [json.dumps({"v": 1, "id": rid, "cmd": cmd}).encode(), b"pcm"], rid, False
    if kind == "oversize_header":
        return [b" " * 70_000 + b"{}"], None, False
    # mutated: a valid match header with 1-3 fields removed or replaced by junk
    head = _header(id=rid)
    junk = [None, -1, 0, 1.5, 10**30, "x", [], {}, True, 1e308, "\n", -(2**63), 2**64]
    for _ in range(int(rng.integers(1, 4))):
        key = str(rng.choice([k for k in head if k != "id"]))
        if rng.random() < 0.3:
            head.pop(key)
        else:
            head[key] = junk[int(rng.integers(0, len(junk)))]
    body = [json.dumps(head).encode()]
    frames = head.get("frames")
    channels = head.get("channels")
    sizes = (frames, channels)
    if all(type(x) is int for x in sizes) and frames > 0 and 0 < frames * channels < 10**6:
        body.append(_noise(rng, frames, channels) if rng.random() < 0.8 else b"\0" * 12)
    valid = head.get("cmd") == "match" and _valid(head, body)
    return body, rid, valid


def _valid(head: dict[str, Any], body: list[bytes]) -> bool:
    try:
        request = protocol.decode_request(body)
    except protocol.ProtocolError:
        return False
    audio = request.audio
    return audio is not None and float(np.abs(audio).max()) >= 10 ** (
        DAEMON_SILENCE_DBFS / 20)


FUZZ_KINDS = {  # kind: share of the cases
    "valid": 0.10, "huge_samples": 0.03, "deep_nesting": 0.08, "multi_frame": 0.08,
    "random_bytes": 0.10, "bad_utf8": 0.03, "non_finite": 0.05, "control_id": 0.05,
    "command_with_audio": 0.05, "oversize_header": 0.03, "mutated": 0.40,
}


def fuzz(work: Path, cases: int, seed: int = 20_261_202) -> dict[str, Any]:
    """Send `cases` requests; count crashes, hangs and wrong replies."""
    db = synthetic_catalogue(work / "fuzz.db", 300, _mfcc())
    daemon = Daemon(work, [f"ipc://{work / 'fuzz.sock'}"], db)
    rng = np.random.default_rng(seed)
    kinds = list(FUZZ_KINDS)
    weights = np.array([FUZZ_KINDS[k] for k in kinds])
    counts = dict.fromkeys(kinds, 0)
    hangs, wrong, crashes, examples = 0, 0, 0, []
    codes: dict[str, int] = {}
    t0 = time.monotonic()
    with running(daemon):
        sock = _dealer(daemon.endpoint, load_keys())
        for i in range(cases):
            kind = str(rng.choice(kinds, p=weights / weights.sum()))
            counts[kind] += 1
            body, want_id, valid = _case(kind, i, rng)
            if kind == "command_with_audio" and b"shutdown" in body[0]:
                valid = False  # refused (it carries audio): the daemon must not stop
            sock.send_multipart([b"", *body])
            if not sock.poll(20_000):
                hangs += 1
                examples.append(f"hang: {kind}")
                if not daemon.alive():
                    crashes += 1
                    daemon.start()
                sock.close(0)
                sock = _dealer(daemon.endpoint, load_keys())
                continue
            reply = protocol.decode_reply(sock.recv_multipart()[1:])
            code = (reply.get("error") or {}).get("code", "ok")
            codes[code] = codes.get(code, 0) + 1
            bad = (
                reply.get("v") != 1 or reply.get("id") != want_id or reply["ok"] is not valid
                or (not reply["ok"] and code not in protocol.ERROR_CODES)
                or code == "internal_error"
            )
            if bad:
                wrong += 1
                if len(examples) < 10:
                    examples.append(f"wrong: {kind} -> {code} id={reply.get('id')!r}")
        sock.close(0)
        alive_at_end = daemon.alive()
        with Client(daemon.endpoint) as client:
            served = client.status()["requests_served"]
    return {
        "cases": cases, "kinds": counts, "reply_codes": dict(sorted(codes.items())),
        "crashes": crashes + (0 if alive_at_end else 1), "hangs": hangs,
        "wrong_replies": wrong, "examples": examples, "served_by_daemon": served,
        "seconds": round(time.monotonic() - t0, 1),
    }


def _dealer(endpoint: str, keys: UserKeys, ctx: zmq.Context | None = None) -> zmq.Socket:
    sock = (ctx or zmq.Context.instance()).socket(zmq.DEALER)
    sock.linger = 0
    sock.curve_serverkey = keys.server_public
    sock.curve_publickey = keys.client_public
    sock.curve_secretkey = keys.client_secret
    sock.connect(endpoint)
    return sock


_MFCC = None


def _mfcc():
    global _MFCC
    if _MFCC is None:
        from cir.encoder.baseline import MFCCEmbedder

        _MFCC = MFCCEmbedder()
    return _MFCC


# --- load ----------------------------------------------------------------------------------------


def load(work: Path, shapes: tuple[tuple[int, int], ...], embedder: str | None) -> list[dict]:
    """Concurrent clients, each with its own connection, 4 s stereo 48 kHz queries."""
    from cir.encoder.embed import load_embedder

    emb = load_embedder(embedder)
    db = synthetic_catalogue(work / "load.db", 1000, emb)
    daemon = Daemon(work, [f"ipc://{work / 'load.sock'}"], db, embedder=embedder)
    audio = query_loop(4.0, 48_000)
    out = []
    with running(daemon):
        with Client(daemon.endpoint) as client:  # warm-up
            for _ in range(3):
                client.match(audio, 48_000)
        for clients, each in shapes:
            out.append(_load_round(daemon, audio, clients, each))
    return out


def _load_round(daemon: Daemon, audio: np.ndarray, clients: int, each: int) -> dict[str, Any]:
    latencies: list[float] = []
    failed: list[str] = []
    lost = [0]
    lock = threading.Lock()
    start = threading.Barrier(clients)

    def one() -> None:
        with Client(daemon.endpoint) as client:
            start.wait()
            for _ in range(each):
                t0 = time.perf_counter()
                try:
                    client.match(audio, 48_000, k=5)
                    with lock:
                        latencies.append((time.perf_counter() - t0) * 1000.0)
                except RequestRefusedError as exc:
                    with lock:
                        failed.append(exc.code)
                except DaemonUnavailableError:
                    with lock:
                        lost[0] += 1

    threads = [threading.Thread(target=one) for _ in range(clients)]
    before = peak_rss_bytes(daemon.proc.pid)
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    return {
        "clients": clients, "requests_each": each, "sent": clients * each,
        "answered": len(latencies), "failed": len(failed), "failed_codes": sorted(set(failed)),
        "lost": lost[0], "p50_ms": _pct(latencies, 50), "p95_ms": _pct(latencies, 95),
        "max_ms": round(max(latencies), 1) if latencies else float("nan"),
        "throughput_rps": round(len(latencies) / wall, 2), "seconds": round(wall, 1),
        "daemon_peak_rss_mb": round((peak_rss_bytes(daemon.proc.pid) or 0) / MB),
        "daemon_rss_before_mb": round((before or 0) / MB),
        "daemon_alive": daemon.alive(),
    }


# --- faults --------------------------------------------------------------------------------------

_BUILD = """
import sys
from cir.presets_db.build import build
from cir.presets_db.catalogue import Catalogue
with Catalogue.open(sys.argv[1]) as cat:
    build(cat, embedder="mfcc80", workers=1, batch_size=4, progress=False)
print("complete", flush=True)
"""


def _catalogue_health(db: Path) -> dict[str, int]:
    """integrity_check, foreign keys, entries, and ok presets missing their vector or render."""
    conn = sqlite3.connect(str(db), timeout=30)
    try:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        orphans = len(conn.execute("PRAGMA foreign_key_check").fetchall())
        entries = conn.execute("SELECT COUNT(*) FROM presets WHERE status = 'ok'").fetchone()[0]
        partial = conn.execute(
            "SELECT COUNT(*) FROM presets p WHERE p.status = 'ok' AND (NOT EXISTS "
            "(SELECT 1 FROM embeddings e WHERE e.preset_id = p.id) OR NOT EXISTS "
            "(SELECT 1 FROM renders r WHERE r.preset_id = p.id))"
        ).fetchone()[0]
    except sqlite3.DatabaseError:
        return {"corrupt": 1, "entries": 0, "partial": 0, "orphans": 0}
    finally:
        conn.close()
    return {"corrupt": int(integrity != "ok"), "entries": entries, "partial": partial,
            "orphans": orphans}


def _ok_entries(db: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute("SELECT COUNT(*) FROM presets WHERE status = 'ok'").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def build_kills(work: Path, kills: int, presets: int, seed: int = 7) -> dict[str, Any]:
    """SIGKILL a catalogue build (and its workers) `kills` times at random moments, check the
    catalogue after each, then let one build finish: what survived, what it cost."""
    from cir.presets_db.catalogue import Catalogue
    from cir.presets_db.sources import builtin

    db = work / "build.db"
    with Catalogue.open(db) as cat:
        cat.add_source("builtin", builtin.PATH, builtin.normalise_args(None, presets))
    rng = random.Random(seed)
    corrupt = lost = partial = orphans = 0
    entries_before = 0
    landed = 0  # kills that came after this build had committed something
    tmp_seen = 0  # preview temp files a kill left behind (the next build removes them)
    for _ in range(kills):
        proc = subprocess.Popen([sys.executable, "-c", _BUILD, str(db)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        # Kill while it writes: once its first batch is in (start-up takes seconds), at a
        # random moment of the next 1.5 s, batches and previews in flight.
        deadline = time.monotonic() + 30
        while (time.monotonic() < deadline and proc.poll() is None
               and _ok_entries(db) <= entries_before):
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.5))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the build and its render workers
        proc.wait()
        health = _catalogue_health(db)
        tmp_seen = max(tmp_seen, len(list((work / "build.db.previews").glob(".*.tmp.*"))))
        corrupt += health["corrupt"]
        partial += health["partial"]
        orphans += health["orphans"]
        lost += max(0, entries_before - health["entries"])  # committed entries never vanish
        landed += health["entries"] > entries_before
        entries_before = max(entries_before, health["entries"])
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-c", _BUILD, str(db)], capture_output=True,
                          text=True, timeout=1800)
    recover = time.monotonic() - t0
    final = _catalogue_health(db)
    tmp_left = len(list((work / "build.db.previews").glob(".*.tmp.*")))
    with Catalogue.open(db) as cat:
        failed = cat.stats()["failed"]
    expected = presets
    return {
        "kills": kills, "kills_after_a_commit": landed, "corrupt_catalogues": corrupt,
        "entries_lost": lost + max(0, expected - failed - final["entries"]),
        "partial_entries": partial + final["partial"], "orphan_rows": orphans + final["orphans"],
        "entries_before_final_build": entries_before, "entries_final": final["entries"],
        "failed_presets": failed, "expected": expected,
        "final_build_completed": "complete" in done.stdout,
        "final_build_s": round(recover, 1), "temp_previews_after_a_kill_max": tmp_seen,
        "temp_previews_left": tmp_left,
    }


def daemon_kills(work: Path, kills: int) -> dict[str, Any]:
    """SIGKILL the daemon while it serves a request; how the client fares, how fast a new
    daemon answers, whether the catalogue and the lock survive."""
    db = synthetic_catalogue(work / "kill.db", 60, _mfcc())
    flag = work / "in-flight"
    daemon = Daemon(work, [f"ipc://{work / 'kill.sock'}"], db, flag=flag, pause=5.0)
    audio = query_loop(2.0, 48_000)
    notice, recover, clean = [], [], 0
    daemon.start()
    try:
        for _ in range(kills):
            flag.unlink(missing_ok=True)
            outcome: dict[str, Any] = {}

            def ask(outcome=outcome) -> None:
                try:
                    with Client(daemon.endpoint) as client:
                        client.match(audio, 48_000)
                    outcome["reply"] = True
                except DaemonUnavailableError as exc:
                    outcome["error"] = str(exc)
                    outcome["at"] = time.monotonic()

            thread = threading.Thread(target=ask)
            thread.start()
            deadline = time.monotonic() + 30
            while not flag.exists() and time.monotonic() < deadline:
                time.sleep(0.005)
            killed = time.monotonic()
            daemon.kill()
            thread.join(60)
            if "at" in outcome and "daemon not running" in outcome["error"]:
                clean += 1
                notice.append(outcome["at"] - killed)
            recover.append(daemon.start())
    finally:
        daemon.stop()
    health = _catalogue_health(db)
    return {
        "kills": kills, "client_told_not_running": clean,
        "client_notice_s_max": round(max(notice), 2) if notice else float("nan"),
        "restart_to_first_reply_s_p50": _pct(recover, 50),
        "restart_to_first_reply_s_max": round(max(recover), 1) if recover else float("nan"),
        "corrupt_catalogues": health["corrupt"],
    }


# --- catalogue changed while matching ------------------------------------------------------------

def churn(db: str | Path, stop: str | Path) -> None:
    """Add three presets to `db`, delete them, again and again until `stop` exists, as fast as
    the catalogue API allows; print the number of cycles done after each one (two writes each).
    Runs in its own process (start_churn): the daemon's reads race a real second writer."""
    from cir.encoder.baseline import MFCCEmbedder
    from cir.presets_db.catalogue import Catalogue, PresetResult

    db, stop = Path(db), Path(stop)
    emb, rng, n = MFCCEmbedder(), np.random.default_rng(2), 0
    with Catalogue.open(db) as cat:
        source = cat.add_source("folder", str(db.parent / "churn"), {})
        while not stop.exists():
            rows = []
            for i in range(3):
                v = rng.standard_normal(emb.dim).astype(np.float32)
                rows.append((source.id, PresetResult(
                    key=f"churn-{n}-{i}", name="churn", family="bass", tags=(), locator={},
                    content_hash=str(n), settings_hash="t", status="ok", sample_rate=22050,
                    vector=v / np.linalg.norm(v), embedder=emb.name,
                    embedder_version=emb.version)))
            cat.write_results(rows)
            cat.delete_presets([p.id for p in cat.presets(source=source.id)])
            n += 1
            print(n, flush=True)


def start_churn(db: Path, stop: Path, cwd: Path | None = None) -> subprocess.Popen:
    """`churn` in a child process; its stdout carries the cycle counts."""
    code = "import sys; from tools.reliability.suite import churn; churn(*sys.argv[1:])"
    return subprocess.Popen([sys.executable, "-c", code, str(db), str(stop)], cwd=cwd,
                            env=tools_env(), stdout=subprocess.PIPE, text=True)


def race(work: Path, matches: int, clients: int = 4) -> dict[str, Any]:
    """Clients match while another process adds and deletes presets as fast as it can."""
    db = synthetic_catalogue(work / "race.db", 30, _mfcc())
    daemon = Daemon(work, [f"ipc://{work / 'race.sock'}"], db)
    stop = work / "race.stop"
    audio = query_loop(4.0, 48_000)
    failed: list[str] = []
    lost = [0]
    with running(daemon):
        writer = start_churn(db, stop)

        def one() -> None:
            with Client(daemon.endpoint) as client:
                for _ in range(matches // clients):
                    try:
                        client.match(audio, 48_000, k=20, families=["bass", "lead"])
                    except RequestRefusedError as exc:
                        failed.append(exc.code)
                    except DaemonUnavailableError:
                        lost[0] += 1

        time.sleep(1.0)  # the writer is churning
        threads = [threading.Thread(target=one) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stop.touch()
        writes = 2 * len(writer.communicate(timeout=60)[0].split())
    return {"matches": (matches // clients) * clients, "failed": len(failed),
            "failed_codes": sorted(set(failed)), "lost": lost[0], "catalogue_writes": writes}


# --- memory --------------------------------------------------------------------------------------


def _unauthenticated_big_frame(port: int, size: int) -> socket.socket:
    """A raw TCP peer that greets as a CURVE client and announces a `size`-byte command frame:
    what anyone on the machine can send before any key is checked."""
    s = socket.create_connection(("127.0.0.1", port))
    greeting = b"\xff" + b"\0" * 8 + b"\x7f" + b"\x03\x00" + b"CURVE".ljust(20, b"\0")
    s.sendall(greeting + b"\0" + b"\0" * 31)
    s.sendall(b"\x06" + size.to_bytes(8, "big"))  # command flag + long size
    return s


def memory(work: Path, plan: Plan) -> dict[str, Any]:
    """Resident memory of a daemon under hostile traffic, with the guard's ceiling."""
    port = free_port()
    db = synthetic_catalogue(work / "mem.db", 60, _mfcc())
    headroom = plan.memory_headroom_mb * MB
    daemon = Daemon(work, [f"tcp://127.0.0.1:{port}"], db, headroom=headroom)
    keys = load_keys()
    rows = []
    with running(daemon):
        pid = daemon.proc.pid
        baseline = rss_bytes(pid)
        ceiling = baseline + headroom

        def scenario(name: str, act) -> None:
            start = rss_bytes(pid)
            peak = [start]
            stop = threading.Event()

            def sample() -> None:
                while not stop.is_set():
                    peak[0] = max(peak[0], rss_bytes(pid) or 0)
                    time.sleep(0.005)

            sampler = threading.Thread(target=sample)
            sampler.start()
            try:
                sent = act()
                time.sleep(1.0)
            finally:
                stop.set()
                sampler.join()
            with Client(daemon.endpoint) as client:
                status = client.status()
            rows.append({
                "scenario": name, "sent_mb": round(sent / MB),
                "peak_rss_mb": round(peak[0] / MB), "rss_after_mb": round(rss_bytes(pid) / MB),
                "guard_trips": status["memory"]["guard_trips"], "alive": daemon.alive(),
            })

        frame = np.ones(plan.memory_frame_mb * MB // 4, np.float32).tobytes()

        def many_frames() -> int:
            """Until the daemon answers (refused) or drops the connection (the guard)."""
            sock = _dealer(daemon.endpoint, keys)
            monitor = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
            sock.send_multipart([b"", b"{}", *([frame] * plan.memory_frames)], copy=False)
            deadline = time.monotonic() + 300  # CURVE-encrypting a GB takes a while
            poller = zmq.Poller()
            poller.register(sock, zmq.POLLIN)
            poller.register(monitor, zmq.POLLIN)
            while time.monotonic() < deadline and not poller.poll(100):
                pass
            sock.disable_monitor()
            monitor.close(0)
            sock.close(0)
            return len(frame) * plan.memory_frames

        def many_max_requests() -> int:  # 8 clients, each several maximum-size requests
            big = np.full((defaults.PROTOCOL_MAX_PCM_BYTES // 8, 2), 0.2, np.float32)
            body = protocol.encode_match(big, defaults.PROTOCOL_MAX_SAMPLE_RATE)
            socks = [_dealer(daemon.endpoint, keys) for _ in range(8)]
            for sock in socks:
                for _ in range(3):
                    sock.send_multipart([b"", *body], copy=False)
            time.sleep(3.0)
            for sock in socks:
                sock.close(0)
            return 8 * 3 * len(body[1])

        def unauthenticated() -> int:
            size = defaults.PROTOCOL_MAX_MESSAGE_BYTES - 1024
            peers = [_unauthenticated_big_frame(port, size) for _ in
                     range(plan.memory_unauth_connections)]
            chunk = b"\0" * MB
            sent = 0
            for peer in peers:
                with contextlib.suppress(OSError):
                    for _ in range(size // MB):
                        peer.sendall(chunk)
                        sent += MB
            for peer in peers:
                peer.close()
            return sent

        scenario(f"one message of {plan.memory_frames} x {plan.memory_frame_mb} MB frames",
                 many_frames)
        scenario("8 clients x 3 maximum-size requests (88 MB each)", many_max_requests)
        scenario(f"{plan.memory_unauth_connections} unauthenticated peers, one ~88 MB frame "
                 "each", unauthenticated)
    return {"baseline_mb": round(baseline / MB), "ceiling_mb": round(ceiling / MB),
            "headroom_mb": plan.memory_headroom_mb, "scenarios": rows,
            "max_peak_mb": max(r["peak_rss_mb"] for r in rows)}


# --- another local user --------------------------------------------------------------------------

_ATTACKER = r'''
import json, os, socket, sys, time
cfg = json.loads(sys.argv[1])
sys.path.insert(0, cfg["lib"])  # pyzmq, copied where this user can read it
out = {}
try:
    open(cfg["key"]).read(); out["read_key"] = "read"
except OSError as exc:
    out["read_key"] = "denied: " + exc.strerror
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(cfg["ipc"]); out["ipc_connect"] = "connected"
except OSError as exc:
    out["ipc_connect"] = "denied: " + exc.strerror
s.close()
import zmq
ctx = zmq.Context()
def ask(cmd, curve=None):
    sock = ctx.socket(zmq.DEALER); sock.linger = 0
    if curve:
        public, secret = zmq.curve_keypair()  # its own key pair: not the user's
        sock.curve_serverkey, sock.curve_publickey, sock.curve_secretkey = curve, public, secret
    sock.connect(cfg["tcp"])
    sock.send_multipart([b"", json.dumps({"v": 1, "id": "x", "cmd": cmd}).encode()])
    got = sock.poll(2000)
    sock.close()
    return "REPLY" if got else "no reply"
for cmd in ("status", "shutdown"):
    out[f"tcp_plain_{cmd}"] = ask(cmd)
    out[f"tcp_curve_own_key_{cmd}"] = ask(cmd, cfg["server_public"].encode())
# a raw ZMTP NULL client in plain Python, as in the original probe
r = socket.create_connection(cfg["tcp_addr"]); r.settimeout(2)
r.sendall(b"\xff" + b"\0" * 8 + b"\x7f\x03\x00" + b"NULL".ljust(20, b"\0") + b"\0" * 32)
try:
    data = r.recv(4096)
    out["raw_zmtp"] = "closed" if not data else f"greeting only ({len(data)} bytes)"
except OSError:
    out["raw_zmtp"] = "no answer"
r.close()
print(json.dumps(out))
'''

_IMPOSTOR = r'''
import json, socket, sys, time
cfg = json.loads(sys.argv[1])
srv = socket.create_server(("127.0.0.1", cfg["port"]))
srv.settimeout(0.2)
got, end = b"", time.monotonic() + cfg["seconds"]
print("bound", flush=True)
while time.monotonic() < end:
    try:
        conn, _ = srv.accept()
    except TimeoutError:
        continue
    conn.settimeout(0.2)
    while time.monotonic() < end:
        try:
            data = conn.recv(65536)
        except TimeoutError:
            continue
        if not data:
            break
        got += data
    conn.close()
out = {"bytes": len(got)}
try:
    s = socket.socket(socket.AF_UNIX); s.bind(cfg["ipc"]); out["ipc_bind"] = "bound"
except OSError as exc:
    out["ipc_bind"] = "denied: " + exc.strerror
open(cfg["dump"], "wb").write(got)
print(json.dumps(out), flush=True)
'''


def _as_user(user: str) -> list[str] | None:
    """The command prefix that runs as `user`, or None when this process cannot."""
    if os.name != "posix" or os.geteuid() != 0 or shutil.which("setpriv") is None:
        return None
    import pwd

    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return None
    return ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups"]


def _copy_pyzmq(dest: Path) -> Path:
    """pyzmq's installed files copied to `dest`, readable by everyone, in their installed layout
    (the extension finds its bundled libzmq by a path relative to itself)."""
    from importlib.metadata import distribution

    for entry in distribution("pyzmq").files or ():
        if ".." not in entry.parts:  # what lies outside site-packages (scripts) is not needed
            (dest / entry).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(entry.locate(), dest / entry)
    for path in (dest, *dest.rglob("*")):  # whatever the umask
        path.chmod(0o755 if path.is_dir() else 0o644)
    return dest


def other_user(work: Path, user: str = "nobody") -> dict[str, Any]:
    """Another local user tries to read the key, query and stop the daemon, and take its port.

    What that user runs lies outside the checkout, which may sit in a folder only its owner can
    enter: the interpreter's own binary (not the virtual environment's link to it) with a copy
    of pyzmq. `commands` in the result lists every command it ran as that user.
    """
    prefix = _as_user(user)
    if prefix is None:
        return {"skipped": f"needs root and setpriv to act as {user!r}"}
    # A world-traversable folder, so only the daemon's own protections stop the other user.
    shared = Path(tempfile.mkdtemp(prefix="cir-rel-", dir="/tmp"))
    shared.chmod(0o755)
    try:
        python = [*prefix, os.path.realpath(sys.executable), "-I"]
        lib = str(_copy_pyzmq(shared / "lib"))
        probe = subprocess.run([*python, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                                "import zmq", lib], capture_output=True, cwd="/", timeout=60)
        if probe.returncode != 0:
            return {"skipped": f"{user} cannot run {python[len(prefix)]} with a copy of pyzmq "
                               f"in {lib}: {probe.stderr.decode(errors='replace')[-300:]}"}
        return _other_user(shared, python, lib, work)
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def _other_user(shared: Path, python: list[str], lib: str, work: Path) -> dict[str, Any]:
    home = shared / "home"
    run = shared / "run"
    for folder in (home, run):
        folder.mkdir(mode=0o755)
        folder.chmod(0o755)
    env = {"CIR_HOME": str(home), "XDG_RUNTIME_DIR": str(run)}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # this process is the user: its clients read the same key
    try:
        keys = ensure_keys()
        port = free_port()
        ipc = run / "cir" / "daemon.sock"
        db = synthetic_catalogue(shared / "other.db", 30, _mfcc())
        daemon = Daemon(work, [f"tcp://127.0.0.1:{port}", f"ipc://{ipc}"], db, env=env)
        cfg = {"key": str(home / KEY_FILENAME), "ipc": str(ipc),
               "tcp": f"tcp://127.0.0.1:{port}", "tcp_addr": ["127.0.0.1", port],
               "server_public": keys.server_public.decode(), "lib": lib}
        commands = [[*python, "-c", _ATTACKER, json.dumps(cfg)]]
        with running(daemon):
            with Client(daemon.endpoint) as client:
                before = client.status()["requests_served"]
            attack = subprocess.run(commands[0], capture_output=True, text=True, cwd="/",
                                    timeout=120)
            tried = json.loads(attack.stdout) if attack.returncode == 0 else {
                "error": attack.stderr[-500:]}
            with Client(daemon.endpoint) as client:
                status = client.status()
            still_running = daemon.alive()
        # The daemon is down: the other user binds its port and waits for the DAW's audio.
        dump = shared / "impostor"
        dump.mkdir(mode=0o777)
        dump.chmod(0o777)
        imp_cfg = {"port": port, "seconds": 8, "ipc": str(ipc), "dump": str(dump / "got")}
        commands.append([*python, "-c", _IMPOSTOR, json.dumps(imp_cfg)])
        impostor = subprocess.Popen(commands[1], stdout=subprocess.PIPE, text=True, cwd="/")
        assert impostor.stdout.readline().strip() == "bound"
        audio = query_loop(2.0, 48_000)
        try:
            with Client(f"tcp://127.0.0.1:{port}") as client:
                client.match(audio, 48_000)
            told = "REPLY (audio sent)"
        except DaemonUnavailableError as exc:
            told = str(exc)
        imp = json.loads(impostor.communicate(timeout=60)[0].strip().splitlines()[-1])
        got = (dump / "got").read_bytes()
        block = np.ascontiguousarray(audio[:64]).astype("<f4").tobytes()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return {
        "commands": commands, "attempts": tried, "daemon_still_running": still_running,
        # requests the daemon served between the user's two status requests (the first one)
        "attacker_requests_served": status["requests_served"] - before - 1,
        "refused_curve_clients": status["refused_clients"],
        "impostor": {"client_said": told, "bytes_received": imp["bytes"],
                     "audio_received": block in got, "ipc_bind": imp["ipc_bind"]},
    }


# --- the report ----------------------------------------------------------------------------------


SECTIONS = ("fuzz", "load", "build_kills", "daemon_kills", "race", "memory", "other_user")


def run_suite(
    plan: Plan, work: Path, embedder: str | None = None, sections: tuple[str, ...] = SECTIONS
) -> dict[str, Any]:
    """Every section; figures as a dict. The user's own key and daemons are never touched:
    keys, catalogues, sockets and locks all live in `work`."""
    saved = os.environ.get(CIR_HOME_ENV)
    os.environ[CIR_HOME_ENV] = str(work / "home")
    try:
        ensure_keys()
        return _run_sections(plan, work, embedder, sections)
    finally:
        if saved is None:
            os.environ.pop(CIR_HOME_ENV, None)
        else:
            os.environ[CIR_HOME_ENV] = saved


def _run_sections(
    plan: Plan, work: Path, embedder: str | None, sections: tuple[str, ...]
) -> dict[str, Any]:
    t0 = time.monotonic()
    results: dict[str, Any] = {"plan": plan.__dict__}
    for name, fn in (
        ("fuzz", lambda: fuzz(work, plan.fuzz_cases)),
        ("load", lambda: load(work, plan.load, embedder)),
        ("build_kills", lambda: build_kills(work, plan.build_kills, plan.build_presets)),
        ("daemon_kills", lambda: daemon_kills(work, plan.daemon_kills)),
        ("race", lambda: race(work, plan.race_matches)),
        ("memory", lambda: memory(work, plan)),
        ("other_user", lambda: other_user(work)),
    ):
        if name not in sections:
            continue
        started = time.monotonic()
        results[name] = fn()
        results.setdefault("seconds", {})[name] = round(time.monotonic() - started, 1)
        print(f"reliability: {name} done in {results['seconds'][name]} s", file=sys.stderr)
    results["total_seconds"] = round(time.monotonic() - t0, 1)
    return results


def problems(r: dict[str, Any]) -> list[str]:
    """What the figures say is wrong (empty when everything held)."""
    out: list[str] = []
    r = {"fuzz": {"crashes": 0, "hangs": 0, "wrong_replies": 0, "examples": []}, "load": [],
         "build_kills": None, "daemon_kills": None, "race": {"failed": 0, "lost": 0},
         "memory": {"scenarios": []}, "other_user": {"skipped": "not run"}, **r}
    f = r["fuzz"]
    if f["crashes"] or f["hangs"] or f["wrong_replies"]:
        out.append(f"fuzz: {f['crashes']} crashes, {f['hangs']} hangs, "
                   f"{f['wrong_replies']} wrong replies ({f['examples'][:3]})")
    for row in r["load"]:
        if row["lost"] or row["failed"] or not row["daemon_alive"]:
            out.append(f"load {row['clients']}x{row['requests_each']}: {row['lost']} lost, "
                       f"{row['failed']} failed")
    b = r["build_kills"]
    if b and (b["corrupt_catalogues"] or b["entries_lost"] or b["partial_entries"]
              or b["orphan_rows"] or not b["final_build_completed"] or b["temp_previews_left"]):
        out.append(f"build kills: {b}")
    d = r["daemon_kills"]
    if d and (d["client_told_not_running"] != d["kills"] or d["corrupt_catalogues"]):
        out.append(f"daemon kills: {d}")
    if r["race"]["failed"] or r["race"]["lost"]:
        out.append(f"race: {r['race']}")
    m = r["memory"]
    for row in m["scenarios"]:
        if not row["alive"]:
            out.append(f"memory: daemon died in {row['scenario']}")
    o = r["other_user"]
    if "skipped" not in o:
        a = o["attempts"]
        leaks = [k for k, v in a.items() if v in ("read", "connected", "REPLY")]
        if leaks or not o["daemon_still_running"] or o["impostor"]["audio_received"]:
            out.append(f"other user: {leaks} {o['impostor']}")
    return out


def render(r: dict[str, Any], command: str) -> str:
    """docs/RELIABILITY.md."""
    f, b, d, race_, m, o = (r[k] for k in
                            ("fuzz", "build_kills", "daemon_kills", "race", "memory",
                             "other_user"))
    lines = [
        "# Reliability figures",
        "",
        f"Written by `{command}` (`make reliability`) on {time.strftime('%Y-%m-%d')}; "
        f"{r['total_seconds']:.0f} s in all. Real daemon processes on real sockets with the",
        "user's CURVE keys, real SQLite catalogues, real catalogue builds, in a temporary",
        "folder. Machine: 2 shared cores, no GPU, other jobs running. Every figure below was",
        "printed by that run; the short form of the same code runs in CI",
        "(`tests/test_reliability.py`).",
        "",
        f"**Problems found: {len(problems(r))}.**",
        *[f"- {p}" for p in problems(r)],
        "",
        "## Protocol fuzz",
        "",
        f"{f['cases']:,} requests to one daemon (MFCC-80 encoder, 300 entries), one at a time, "
        "each awaited up to 20 s:",
        "",
        "| cases | crashes | hangs | wrong replies | seconds |",
        "|---:|---:|---:|---:|---:|",
        f"| {f['cases']:,} | {f['crashes']} | {f['hangs']} | {f['wrong_replies']} | "
        f"{f['seconds']} |",
        "",
        "A wrong reply: no `v: 1`, another id than the request's, `ok` for an invalid request",
        "or an error for a valid one, an unknown error code, or any `internal_error`. Cases by "
        "kind: " + ", ".join(f"{k} {v}" for k, v in f["kinds"].items()) + ". Reply codes: "
        + ", ".join(f"{k} {v}" for k, v in f["reply_codes"].items()) + ".",
        "",
        "## Load",
        "",
        "Concurrent clients, each with its own CURVE connection, 4 s stereo 48 kHz loops, "
        "k = 5, against the shipped encoder and 1,000 catalogue entries:",
        "",
        "| clients x requests | sent | answered | failed | lost | p50 ms | p95 ms | max ms | "
        "req/s | daemon peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *[
            f"| {x['clients']} x {x['requests_each']} | {x['sent']} | {x['answered']} | "
            f"{x['failed']} | {x['lost']} | {x['p50_ms']} | {x['p95_ms']} | {x['max_ms']} | "
            f"{x['throughput_rps']} | {x['daemon_peak_rss_mb']} |"
            for x in r["load"]
        ],
        "",
        "## Faults",
        "",
        f"**Catalogue build killed {b['kills']} times** (SIGKILL to the build and its render "
        "workers at a random moment of the 1.5 s after its first new batch was committed; "
        f"built-in bank, {b['expected']} presets, MFCC-80, batches of 4), the catalogue "
        "checked after every kill "
        "(`PRAGMA integrity_check`, foreign keys, every ok preset with its vector and render), "
        "then one build left to finish:",
        "",
        "| kills | kills after a commit | corrupt | entries lost | partial entries | "
        "entries before last build | final entries | last build s | temp previews after a "
        "kill (max) / left |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {b['kills']} | {b['kills_after_a_commit']} | {b['corrupt_catalogues']} | "
        f"{b['entries_lost']} | {b['partial_entries']} | {b['entries_before_final_build']} | "
        f"{b['entries_final']} of {b['expected']} | {b['final_build_s']} | "
        f"{b['temp_previews_after_a_kill_max']} / {b['temp_previews_left']} |",
        "",
        f"**Daemon killed {d['kills']} times mid-request** (SIGKILL while the matcher holds a "
        "request), restarted each time:",
        "",
        "| kills | client told \"not running\" | slowest notice s | restart to first reply "
        "s (p50 / max) | corrupt catalogues |",
        "|---:|---:|---:|---:|---:|",
        f"| {d['kills']} | {d['client_told_not_running']} | {d['client_notice_s_max']} | "
        f"{d['restart_to_first_reply_s_p50']} / {d['restart_to_first_reply_s_max']} | "
        f"{d['corrupt_catalogues']} |",
        "",
        "## Catalogue changed while matching",
        "",
        f"4 clients, {race_['matches']} matches (k = 20) while another process added and "
        f"deleted presets through the catalogue API ({race_['catalogue_writes']} writes): "
        f"**{race_['failed']} failed, {race_['lost']} lost**.",
        "",
        "## Memory",
        "",
        f"Daemon RSS after start-up {m['baseline_mb']} MB; guard ceiling {m['ceiling_mb']} MB "
        f"(start-up + {m['headroom_mb']} MB). Peak RSS sampled every 5 ms:",
        "",
        "| traffic | offered MB | peak RSS MB | RSS after MB | guard trips so far | alive |",
        "|---|---:|---:|---:|---:|---|",
        *[
            f"| {x['scenario']} | {x['sent_mb']} | {x['peak_rss_mb']} | {x['rss_after_mb']} | "
            f"{x['guard_trips']} | {x['alive']} |"
            for x in m["scenarios"]
        ],
        "",
        f"Highest resident memory seen: **{m['max_peak_mb']} MB** "
        f"({m['max_peak_mb'] - m['ceiling_mb']:+d} MB against the ceiling).",
        "",
        "## Another local user",
        "",
    ]
    if "skipped" in o:
        lines.append(f"Skipped: {o['skipped']}.")
    else:
        lines += [
            "Run as `nobody` (setpriv) against the user's daemon on tcp and ipc:",
            "",
            "| attempt | result |",
            "|---|---|",
            *[f"| {k} | {v} |" for k, v in o["attempts"].items()],
            f"| daemon still running afterwards | {o['daemon_still_running']} |",
            f"| CURVE clients refused by the key check | {o['refused_curve_clients']} |",
            "",
            "Then, with the daemon stopped, `nobody` bound its TCP port and the user's client "
            "sent a match:",
            "",
            f"- the client said: {o['impostor']['client_said']}",
            f"- bytes the impostor received: {o['impostor']['bytes_received']} (handshake "
            f"only); audio among them: {o['impostor']['audio_received']}",
            f"- binding the ipc socket as `nobody`: {o['impostor']['ipc_bind']}",
        ]
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the short CI form")
    parser.add_argument("--out", type=Path, help="write the Markdown report here")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--embedder", help="encoder for the load test (default: shipped)")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    with tempfile.TemporaryDirectory(prefix="cir-rel-") as tmp:
        results = run_suite(plan, Path(tmp), args.embedder)
    command = "python -m tools.reliability" + (" --quick" if args.quick else "")
    if args.out:
        args.out.write_text(render(results, command))
    if args.json:
        print(json.dumps(results, indent=1))
    found = problems(results)
    for line in found:
        print(f"reliability problem: {line}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
