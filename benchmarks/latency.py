"""`cir bench latency`: client-to-reply time of a real daemon on a 10,000-preset catalogue.

The catalogue is real (presets_db SQLite, the daemon's own index) but its vectors are
synthetic unit vectors: rendering 10,000 presets would take hours and search time does not
depend on what the vectors mean. The query is real audio (noise bursts and tones), sent by
the real bridge client to a daemon subprocess, 8 s stereo at 48 kHz.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from cir import defaults
from cir.benchmarks.workload import query_loop, synthetic_catalogue

# Latency benchmark: an 8 s stereo 48 kHz loop against a catalogue of 10,000 presets.
BENCH_LATENCY_SECONDS = 8.0
BENCH_LATENCY_SAMPLE_RATE = 48_000
BENCH_LATENCY_CATALOGUE_SIZE = 10_000
BENCH_LATENCY_REQUESTS = 50
BENCH_LATENCY_CLIENTS = 8


def _percentile(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 2)


def _timed(
    client: Any, loop: np.ndarray, rate: int, n: int, out: list[float],
    stages: list[dict[str, float]] | None = None,
) -> None:
    for _ in range(n):
        t0 = time.perf_counter()
        reply = client.match(loop, rate, k=defaults.MATCH_DEFAULT_K)
        out.append((time.perf_counter() - t0) * 1000.0)
        if stages is not None:
            stages.append(reply["timing_ms"])


def bench_latency(
    requests: int = BENCH_LATENCY_REQUESTS,
    clients: int = BENCH_LATENCY_CLIENTS,
    catalogue_size: int = BENCH_LATENCY_CATALOGUE_SIZE,
    seconds: float = BENCH_LATENCY_SECONDS,
    sample_rate: int = BENCH_LATENCY_SAMPLE_RATE,
    embedder: str | None = None,
) -> dict[str, Any]:
    """p50/p95 of one client's requests, then throughput and p95 with `clients` at once."""
    from cir.daemon import service
    from cir.encoder.embed import load_embedder
    from cir.protocol.client import Client

    emb = load_embedder(embedder)
    loop = query_loop(seconds, sample_rate)
    with tempfile.TemporaryDirectory(prefix="cir-bench-") as tmp:
        work = Path(tmp)
        db = synthetic_catalogue(work / "catalogue.db", catalogue_size, emb)
        endpoint = f"ipc://{work / 'bench.sock'}"
        started = service.start(db, embedder, endpoint=endpoint, lock_path=work / "bench.lock")
        try:
            with Client(endpoint) as client:
                status = client.status()
                _timed(client, loop, sample_rate, 3, [])  # warm-up
                single: list[float] = []
                stages: list[dict[str, float]] = []
                _timed(client, loop, sample_rate, requests, single, stages)
            concurrent: list[float] = []
            per_client = max(1, requests // clients)
            conns = [Client(endpoint) for _ in range(clients)]
            threads = [
                threading.Thread(target=_timed, args=(c, loop, sample_rate, per_client, concurrent))
                for c in conns
            ]
            t0 = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - t0
            for c in conns:
                c.close()
        finally:
            if started.started:
                service.stop(endpoint, work / "bench.lock")
    return {
        "p50_ms": _percentile(single, 50),
        "p95_ms": _percentile(single, 95),
        "requests": len(single),
        "concurrent_clients": clients,
        "concurrent_requests": len(concurrent),
        "concurrent_p50_ms": _percentile(concurrent, 50),
        "concurrent_p95_ms": _percentile(concurrent, 95),
        "throughput_rps": round(len(concurrent) / wall, 2),
        # Daemon-side medians of the single-client run: where the time goes.
        "daemon_median_ms": {
            key: _percentile([s[key] for s in stages], 50) for key in stages[0]
        },
        "catalogue_size": status["catalogue_size"],
        "encoder": status["encoder_version"],
        "device": status["device"],
        "query": f"{seconds:g} s stereo {sample_rate} Hz float32",
    }
