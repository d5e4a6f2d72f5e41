"""The comparison behind the shared catalogue's server choice (docs/DESIGN.md): Milvus Lite's
server and Chroma's server on the workload `cir bench search-scale` gives PostgreSQL +
pgvector (those figures come from that command).

Two steps, since each candidate lives in a virtual environment of its own (they are not CIR
dependencies):

    .venv/bin/python -m tools.bench.shared_candidates export data.npz --size 100000 \\
        --db ~/.cache/cir/search-bench/builtin.db
    /path/to/venv-with-pymilvus/bin/python benchmarks/shared_candidates.py milvus data.npz
    /path/to/venv-with-chromadb/bin/python benchmarks/shared_candidates.py chroma data.npz

`export` writes the catalogue rows (real vectors grown by jittered copies, as search-scale
does), the queries and exact search's top k. A candidate run starts the server in a temporary
folder, times its start, the insert of every row, per-family top-k queries one at a time
(filtered by family and embedder version), 4 clients at once, then restarts the server to
check that the rows survived, and prints one JSON object. Only numpy and the candidate's own
client are imported, so the file runs from the candidate's environment.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from tools.bench.search_scale import BENCH_SCALE_JITTER

K = 5
CLIENTS = 4
BATCH = 2_000
VERSION = "bench"


def export(out: Path, size: int, db: Path, queries: int = 200) -> None:
    """Rows, queries and exact truth for the candidates (uses cir; run from its venv)."""
    from cir.presets_db.search import ExactIndex, split_by_family
    from tools.bench.search_scale import grow, jitter, real_vectors

    real, families, _ = real_vectors(db, None)
    rng = np.random.default_rng(size)  # the seed search-scale uses for this size
    matrix, fam = grow(rng, real, families, size, BENCH_SCALE_JITTER)
    ids = np.arange(1, len(matrix) + 1, dtype=np.int64)
    picks = rng.integers(len(real), size=queries)
    qs, q_fam = jitter(rng, real[picks], BENCH_SCALE_JITTER), families[picks]
    exact = ExactIndex(split_by_family(ids, matrix, list(fam)), VERSION)
    truth = np.array([[h.preset_id for h in exact.search(q, str(f), K)]
                      for q, f in zip(qs, q_fam, strict=True)])  # fmt: skip
    np.savez(out, ids=ids, matrix=matrix, families=fam.astype("U16"), queries=qs,
             query_families=q_fam.astype("U16"), truth=truth)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(ready, timeout: float = 120.0) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        try:
            ready()
            return time.perf_counter() - t0
        except Exception:
            time.sleep(0.05)
    raise RuntimeError("the server did not answer")


def _stats(times: list[float]) -> dict[str, float]:
    return {"p50_ms": round(float(np.percentile(times, 50)), 3),
            "p95_ms": round(float(np.percentile(times, 95)), 3)}


class Milvus:
    """Milvus Lite's gRPC server (`milvus-lite server`), pymilvus client, HNSW index."""

    def start(self, folder: Path, port: int) -> subprocess.Popen:
        exe = Path(sys.executable).with_name("milvus-lite")
        return subprocess.Popen([str(exe), "server", "--data-dir", str(folder), "--host",
                                 "127.0.0.1", "--port", str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def client(self, port: int) -> Any:
        from pymilvus import MilvusClient

        return MilvusClient(uri=f"http://127.0.0.1:{port}")

    def ping(self, port: int) -> None:
        self.client(port).list_collections()

    def create(self, c: Any, dim: int) -> str:
        from pymilvus import DataType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("family", DataType.VARCHAR, max_length=16)
        schema.add_field("version", DataType.VARCHAR, max_length=64)
        schema.add_field("vec", DataType.FLOAT_VECTOR, dim=dim)
        params = c.prepare_index_params()
        params.add_index(field_name="vec", index_type="HNSW", metric_type="COSINE",
                         params={"M": 16, "efConstruction": 128})
        c.create_collection("cir", schema=schema, index_params=params)
        return "HNSW M=16 efConstruction=128"

    def insert(self, c: Any, ids, matrix, families) -> None:
        c.insert("cir", [{"id": int(i), "family": str(f), "version": VERSION, "vec": v.tolist()}
                         for i, f, v in zip(ids, families, matrix, strict=True)])

    def finish(self, c: Any) -> None:
        c.flush("cir")
        c.load_collection("cir")

    def search(self, c: Any, q: np.ndarray, family: str) -> list[int]:
        res = c.search("cir", data=[q.tolist()], limit=K,
                       filter=f'family == "{family}" and version == "{VERSION}"',
                       search_params={"metric_type": "COSINE", "params": {"ef": 64}})
        return [int(hit["id"]) for hit in res[0]]

    def count(self, c: Any) -> int:
        c.load_collection("cir")
        return int(c.query("cir", filter="id >= 0", output_fields=["count(*)"])[0]["count(*)"])


class Chroma:
    """Chroma's server (`chroma run`), chromadb HttpClient, its HNSW index, `where` filter."""

    def start(self, folder: Path, port: int) -> subprocess.Popen:
        exe = Path(sys.executable).with_name("chroma")
        return subprocess.Popen([str(exe), "run", "--path", str(folder), "--host", "127.0.0.1",
                                 "--port", str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def client(self, port: int) -> Any:
        import chromadb
        from chromadb.config import Settings

        return chromadb.HttpClient(host="127.0.0.1", port=port,
                                   settings=Settings(anonymized_telemetry=False))

    def ping(self, port: int) -> None:
        self.client(port).heartbeat()

    def create(self, c: Any, dim: int) -> str:
        c.create_collection("cir", embedding_function=None, configuration={"hnsw": {
            "space": "cosine", "max_neighbors": 16, "ef_construction": 128,
            "ef_search": 64}})  # fmt: skip
        return "HNSW max_neighbors=16 ef_construction=128 ef_search=64"

    def insert(self, c: Any, ids, matrix, families) -> None:
        c.get_collection("cir").add(
            ids=[str(i) for i in ids], embeddings=matrix,
            metadatas=[{"family": str(f), "version": VERSION} for f in families])

    def finish(self, c: Any) -> None:
        pass

    def search(self, c: Any, q: np.ndarray, family: str) -> list[int]:
        res = c.get_collection("cir").query(
            query_embeddings=[q], n_results=K,
            where={"$and": [{"family": family}, {"version": VERSION}]}, include=[])
        return [int(i) for i in res["ids"][0]]

    def count(self, c: Any) -> int:
        return int(c.get_collection("cir").count())


def run(kind: str, data: Path) -> dict[str, Any]:
    d = np.load(data)
    ids, matrix, families = d["ids"], d["matrix"], d["families"]
    qs, q_fam, truth = d["queries"], d["query_families"], d["truth"]
    cand = {"milvus": Milvus, "chroma": Chroma}[kind]()
    folder = Path(tempfile.mkdtemp(prefix=f"cir-{kind}-"))
    port = _port()
    row: dict[str, Any] = {"candidate": kind, "entries": len(ids)}
    proc = cand.start(folder / "data", port)
    try:
        row["start_s"] = round(_wait(lambda: cand.ping(port)), 2)
        c = cand.client(port)
        row["index"] = cand.create(c, matrix.shape[1])
        t = time.perf_counter()
        for s in range(0, len(ids), BATCH):
            cand.insert(c, ids[s:s + BATCH], matrix[s:s + BATCH], families[s:s + BATCH])
        cand.finish(c)
        load_s = time.perf_counter() - t
        row.update(load_s=round(load_s, 1), inserts_per_s=round(len(ids) / load_s))
        times, found = [], []
        for q, f in zip(qs, q_fam, strict=True):
            t = time.perf_counter()
            found.append(cand.search(c, q, str(f)))
            times.append((time.perf_counter() - t) * 1000)
        row.update(_stats(times))
        row["recall"] = round(float(np.mean([len(set(a) & set(b)) / K
                                             for a, b in zip(found, truth.tolist(),
                                                             strict=True)])), 4)  # fmt: skip

        def client_run() -> None:
            cc = cand.client(port)
            for q, f in zip(qs, q_fam, strict=True):
                cand.search(cc, q, str(f))

        threads = [threading.Thread(target=client_run) for _ in range(CLIENTS)]
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        row[f"qps_{CLIENTS}_clients"] = round(CLIENTS * len(qs) / (time.perf_counter() - t), 1)
        row["disk_mb"] = round(sum(p.stat().st_size for p in folder.rglob("*")
                                   if p.is_file()) / 2**20)  # fmt: skip
        proc.terminate()
        proc.wait(60)
        proc = cand.start(folder / "data", port)
        row["restart_s"] = round(_wait(lambda: cand.ping(port)), 2)
        row["entries_after_restart"] = cand.count(cand.client(port))
    except Exception as exc:  # report what was measured, and where it stopped
        row["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(folder, ignore_errors=True)
    return row


if __name__ == "__main__":
    if sys.argv[1] == "export":
        import argparse

        parser = argparse.ArgumentParser()
        parser.add_argument("cmd")
        parser.add_argument("out", type=Path)
        parser.add_argument("--size", type=int, default=100_000)
        parser.add_argument("--db", type=Path, required=True)
        args = parser.parse_args()
        export(args.out, args.size, args.db)
    else:
        print(json.dumps(run(sys.argv[1], Path(sys.argv[2]))))
