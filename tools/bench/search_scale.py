"""`cir bench search-scale`: exact, HNSW and the shared server on real catalogue embeddings.

The catalogue's real vectors (one embedder version, e.g. the built-in bank embedded by the
shipped encoder) are grown to each size by jittered copies: a copy is a real vector plus
Gaussian noise of std `jitter / sqrt(dim)` per coordinate, re-normalised, of the same family.
The default jitter puts a copy as far from its source as real presets lie from their nearest
neighbour (median cosine about 0.94 on the built-in bank), so copies read as new presets in
the same neighbourhood, not as duplicates. Queries: real vectors jittered the same way (a
new sound near existing ones), one at a time, top k within the query's family. Recall@k =
overlap with exact search's top k.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import numpy as np
from threadpoolctl import threadpool_limits

from cir.benchmarks.catalogue import BENCH_SEARCH_K
from cir.cli.output import db_option, echo_json, json_option, json_stdout
from cir.matching.core import DAEMON_BLAS_THREADS
from cir.presets_db.catalogue import Catalogue
from cir.presets_db.constants import HNSW_EXPANSION_SEARCH
from cir.presets_db.search import ExactIndex, Hit, HnswIndex, split_by_family
from cir.presets_db.shared import SharedCatalogue

# `tools.bench.search_scale`: real catalogue vectors grown by jittered copies to these sizes;
# 200 queries; copies and queries are real vectors plus noise of std JITTER/sqrt(dim) per
# coordinate: 0.35 puts a copy at cosine about 0.945 from its source, as far as real built-in
# presets lie from their nearest neighbour (median 0.94), so copies read as new presets.
BENCH_SCALE_SIZES = (100_000, 1_000_000)
BENCH_SCALE_QUERIES = 200
BENCH_SCALE_JITTER = 0.35

# Entries added and removed by the timed in-place HNSW update; clients querying the server at
# once in the throughput run; the private server's port.
BENCH_SCALE_CHURN = 1_000
# expansion_search (usearch) / hnsw.ef_search (pgvector) values the benchmark also tries.
BENCH_SCALE_EF = (32, 128, 256, 512)
BENCH_SCALE_CLIENTS = 4
BENCH_SCALE_PORT = 55_433


def real_vectors(db: Path, embedder_version: str | None) -> tuple[np.ndarray, np.ndarray, str]:
    """(unit vectors, families, version) of a real catalogue: the version with most vectors."""
    with Catalogue.open(db) as catalogue:
        versions = catalogue.embedder_versions()
        if not versions:
            from cir.presets_db.errors import CatalogueError

            raise CatalogueError(f"{db} holds no vectors: build it with `cir catalogue "
                                 "add-builtin --db PATH` first")
        version = embedder_version or max(versions, key=versions.get)
        _, matrix, families = catalogue.vectors(version)
    matrix = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix.astype(np.float32), np.asarray(families), version


def jitter(rng: np.random.Generator, rows: np.ndarray, amount: float) -> np.ndarray:
    """Rows plus Gaussian noise of std amount/sqrt(dim) per coordinate, re-normalised."""
    scale = amount / np.sqrt(rows.shape[1])
    out = rows + rng.standard_normal(rows.shape, dtype=np.float32) * scale
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out.astype(np.float32, copy=False)


def grow(rng: np.random.Generator, real: np.ndarray, families: np.ndarray, size: int,
         amount: float) -> tuple[np.ndarray, np.ndarray]:
    """`size` rows: the real ones, then jittered copies of random real ones."""
    extra = max(size - len(real), 0)
    source = rng.integers(len(real), size=extra)
    matrix = np.empty((len(real) + extra, real.shape[1]), np.float32)
    matrix[: len(real)] = real
    for start in range(0, extra, 65_536):
        chunk = source[start : start + 65_536]
        at = len(real) + start
        matrix[at : at + len(chunk)] = jitter(rng, real[chunk], amount)
    return matrix[:size], np.concatenate([families, families[source]])[:size]


def _latency(search: Callable[[np.ndarray, str], list[Hit]], queries: np.ndarray,
             families: np.ndarray) -> tuple[list[list[int]], dict[str, float]]:
    found, times = [], []
    for q, f in zip(queries, families, strict=True):
        t = time.perf_counter()
        hits = search(q, str(f))
        times.append((time.perf_counter() - t) * 1000)
        found.append([h.preset_id for h in hits])
    return found, {"p50_ms": round(float(np.percentile(times, 50)), 3),
                   "p95_ms": round(float(np.percentile(times, 95)), 3)}


def _recall(truth: list[list[int]], found: list[list[int]], k: int) -> float:
    return round(float(np.mean([len(set(a) & set(b)) / k for a, b in zip(truth, found,
                                                                         strict=True)])), 4)


def _concurrent(url: str, version: str, queries: np.ndarray, families: np.ndarray, k: int,
                clients: int) -> float:
    """Queries per second with `clients` connections querying at once (each runs them all)."""
    def run() -> None:
        with SharedCatalogue.open(url) as shared:
            index = shared.search_index(version, exact_max=0)
            for q, f in zip(queries, families, strict=True):
                index.search(q, str(f), k)

    threads = [threading.Thread(target=run) for _ in range(clients)]
    t = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return round(clients * len(queries) / (time.perf_counter() - t), 1)


def bench_size(size: int, real: np.ndarray, real_families: np.ndarray, url: str | None,
               queries: int, k: int, amount: float, seed: int,
               log: Callable[[str], None]) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    matrix, families = grow(rng, real, real_families, size, amount)
    ids = np.arange(1, len(matrix) + 1, dtype=np.int64)
    picks = rng.integers(len(real), size=queries)
    qs, q_families = jitter(rng, real[picks], amount), real_families[picks]
    row: dict[str, Any] = {"entries": len(matrix), "dim": int(matrix.shape[1]), "k": k,
                           "queries": queries}
    parts = split_by_family(ids, matrix, list(families))

    exact = ExactIndex(parts, "bench")
    with threadpool_limits(DAEMON_BLAS_THREADS, user_api="blas"):  # as the daemon
        truth, row["exact"] = _latency(lambda q, f: exact.search(q, f, k), qs, q_families)
    row["exact"]["memory_mb"] = round(exact.memory_bytes / 2**20)
    log(f"{size:,}: exact {row['exact']}")

    t = time.perf_counter()
    hnsw = HnswIndex.build(parts, "bench")
    build_s = time.perf_counter() - t
    found, row["hnsw"] = _latency(lambda q, f: hnsw.search(q, f, k), qs, q_families)
    row["hnsw"].update(recall=_recall(truth, found, k), build_s=round(build_s, 1),
                       memory_mb=round(hnsw.memory_bytes / 2**20))
    row["hnsw"]["by_ef"] = _sweep(hnsw, qs, q_families, truth, k)
    row["hnsw"]["update_s"] = _time_update(hnsw, rng, ids, matrix, families, real, amount)
    log(f"{size:,}: hnsw {row['hnsw']}")

    if url is not None:
        row["server"] = _bench_server(url, ids, matrix, families, qs, q_families, truth, k)
        log(f"{size:,}: server {row['server']}")
    return row


def _sweep(index: Any, qs: np.ndarray, q_families: np.ndarray, truth: list[list[int]],
           k: int) -> dict[int, dict[str, float]]:
    """{expansion_search: {p50_ms, p95_ms, recall}} for BENCH_SCALE_EF, then back to the
    default: how much breadth real embeddings need."""
    out = {}
    for ef in BENCH_SCALE_EF:
        index.set_expansion_search(ef)
        found, stats = _latency(lambda q, f: index.search(q, f, k), qs, q_families)
        out[ef] = {**stats, "recall": _recall(truth, found, k)}
    index.set_expansion_search(HNSW_EXPANSION_SEARCH)
    return out


def _time_update(hnsw: HnswIndex, rng: np.random.Generator, ids: np.ndarray,
                 matrix: np.ndarray, families: np.ndarray, real: np.ndarray,
                 amount: float) -> float:
    """Seconds for an in-place update that adds and removes BENCH_SCALE_CHURN entries (what a
    catalogue change costs instead of a rebuild); includes fingerprinting every entry."""
    from cir.presets_db.search import Entries

    churn = BENCH_SCALE_CHURN
    hnsw.entries = Entries.of(ids, matrix, list(families))
    keep = slice(churn, None)
    new_ids = np.arange(ids[-1] + 1, ids[-1] + 1 + churn, dtype=np.int64)
    new_rows = jitter(rng, real[rng.integers(len(real), size=churn)], amount)
    all_ids = np.concatenate([ids[keep], new_ids])
    all_rows = np.concatenate([matrix[keep], new_rows])
    all_families = np.concatenate([families[keep], families[:churn]])
    t = time.perf_counter()
    hnsw.update(all_ids, all_rows, Entries.of(all_ids, all_rows, list(all_families)))
    return round(time.perf_counter() - t, 2)


def _bench_server(url: str, ids: np.ndarray, matrix: np.ndarray, families: np.ndarray,
                  qs: np.ndarray, q_families: np.ndarray, truth: list[list[int]],
                  k: int) -> dict[str, Any]:
    version = f"bench-{len(ids)}"
    with SharedCatalogue.open(url, create=True) as shared:
        shared.drop_version(version)
        t = time.perf_counter()
        shared.sync_vectors(version, ids, matrix, list(families), _bench_records(families),
                            index=False)
        load_s = time.perf_counter() - t
        t = time.perf_counter()
        shared.ensure_indexes(version, int(matrix.shape[1]))
        index_s = time.perf_counter() - t
        index = shared.search_index(version, exact_max=0)  # HNSW whatever the size
        found, row = _latency(lambda q, f: index.search(q, f, k), qs, q_families)
        row["by_ef"] = _sweep(index, qs, q_families, truth, k)
        row.update(recall=_recall(truth, found, k), load_s=round(load_s, 1),
                   inserts_per_s=round(len(ids) / load_s), index_build_s=round(index_s, 1),
                   disk_mb=shared.version_disk_mb())
    row[f"qps_{BENCH_SCALE_CLIENTS}_clients"] = _concurrent(
        url, version, qs, q_families, k, BENCH_SCALE_CLIENTS)
    with SharedCatalogue.open(url) as shared:
        shared.drop_version(version)
    return row


def _bench_records(families: np.ndarray) -> Callable[[list[int]], list[dict[str, Any]]]:
    def records(chunk: list[int]) -> list[dict[str, Any]]:
        return [{"id": i, "key": f"bench-{i}", "name": f"bench {i}",
                 "family": str(families[i - 1]), "source_kind": "bench", "source_path": "",
                 "locator": {}, "tags": []} for i in chunk]  # fmt: skip

    return records


def bench_search_scale(
    db: Path,
    sizes: tuple[int, ...] = BENCH_SCALE_SIZES,
    url: str | None = None,
    server: bool = True,
    queries: int = BENCH_SCALE_QUERIES,
    embedder_version: str | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Latency p50/p95, recall@k and build costs of exact, HNSW and the shared server at each
    size. With `server` and no `url`, starts a private PostgreSQL in a temporary folder."""
    real, families, version = real_vectors(db, embedder_version)
    amount = BENCH_SCALE_JITTER
    rng = np.random.default_rng(0)
    copy_cosine = float(np.median((jitter(rng, real, amount) * real).sum(axis=1)))
    result: dict[str, Any] = {
        "catalogue": str(db), "embedder_version": version, "real_vectors": len(real),
        "jitter": amount, "copy_cosine_median": round(copy_cosine, 4),
        "nn_cosine_median": round(_nn_cosine(real, families), 4), "rows": [],
    }
    with _server(url if server else None, server) as server_url:
        for size in sizes:
            result["rows"].append(bench_size(size, real, families, server_url, queries,
                                             BENCH_SEARCH_K, amount, size, log))
    return result


def _nn_cosine(real: np.ndarray, families: np.ndarray) -> float:
    """Median cosine of each real vector with its nearest other vector of its family."""
    best = []
    for family in np.unique(families):
        x = real[families == family]
        sims = x @ x.T
        np.fill_diagonal(sims, -1.0)
        best.append(sims.max(axis=1))
    return float(np.median(np.concatenate(best)))


class _server:
    """The URL to benchmark: the one given, or a private server started in a temp folder."""

    def __init__(self, url: str | None, wanted: bool):
        self.url, self.wanted, self.folder = url, wanted, None

    def __enter__(self) -> str | None:
        if not self.wanted or self.url:
            return self.url
        from cir.presets_db import shared_server

        self.folder = Path(tempfile.mkdtemp(prefix="cir-bench-pg-"))
        self.folder.chmod(0o711)  # the server runs as nobody under root
        return shared_server.start(self.folder / "server", port=BENCH_SCALE_PORT).url

    def __exit__(self, *exc: object) -> None:
        if self.folder is not None:
            import shutil

            from cir.presets_db import shared_server

            shared_server.stop(self.folder / "server")
            shutil.rmtree(self.folder, ignore_errors=True)


@click.command()
@db_option("Real catalogue whose vectors seed the sizes (e.g. the built-in bank, "
           "`cir catalogue add-builtin --db PATH`).", required=True)
@click.option("--size", "sizes", type=click.IntRange(10), multiple=True,
              help="Catalogue size (repeatable; default 10^5 and 10^6).")
@click.option("--server-url", default=None,
              help="Shared catalogue server to measure (default: a private PostgreSQL + "
                   "pgvector started in a temporary folder).")
@click.option("--no-server", is_flag=True, help="Measure exact and HNSW only.")
@json_option("Print the results as JSON.")
def search_scale(db: str, sizes: tuple[int, ...], server_url: str | None, no_server: bool,
                 as_json: bool) -> None:
    """Search on real embeddings at scale: exact, HNSW and the shared server, p50/p95 per
    query, recall@5 against exact, build and update costs.

    The catalogue's real vectors are grown to each size by jittered copies (see
    tools.bench.search_scale). 10^6 takes most of an hour on 2 cores.

    \b
    Example:
        python -m tools.bench.search_scale --db ~/.cache/cir/search-bench/builtin.db --size 100000
        nice python -m tools.bench.search_scale --db builtin.db --json > scale.json
    """
    from pathlib import Path


    def log(line: str) -> None:
        click.echo(line, err=True)

    with json_stdout(as_json):
        result = bench_search_scale(Path(db), sizes or BENCH_SCALE_SIZES, server_url,
                                    not no_server, log=log)
    if as_json:
        echo_json(result)
        return
    click.echo(f"{result['real_vectors']} real vectors of {result['embedder_version']}, jitter "
               f"{result['jitter']} (copy cosine {result['copy_cosine_median']}, real nearest "
               f"neighbour {result['nn_cosine_median']})")
    for row in result["rows"]:
        for way in ("exact", "hnsw", "server"):
            if way in row:
                facts = ", ".join(f"{k} {v}" for k, v in row[way].items())
                click.echo(f"{row['entries']:>9,} {way:<6} {facts}")


if __name__ == "__main__":
    search_scale()
