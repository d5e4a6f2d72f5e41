"""`cir bench`: the speed and quality figures recorded in docs/BENCHMARKS.md."""

from __future__ import annotations

import click

from cir.cli.output import echo_json, json_option, json_stdout


@click.group()
def bench() -> None:
    """Benchmarks a user runs on their machine: daemon latency, catalogue build and search.

    \b
    Example:
        cir bench latency
        cir bench build --json
    """


@bench.command("latency")
@click.option("--requests", "n_requests", type=click.IntRange(1, 100_000), default=None,
              help="Timed requests (default from cir.defaults).")
@click.option("--clients", type=click.IntRange(1, 64), default=None,
              help="Concurrent clients for the second run (default from cir.defaults).")
@click.option("--catalogue-size", type=click.IntRange(1, 10_000_000), default=None,
              help="Synthetic catalogue entries (default 10,000).")
@json_option("Print the results as JSON.")
def latency(n_requests: int | None, clients: int | None, catalogue_size: int | None,
            as_json: bool) -> None:
    """Daemon latency: client sends an 8 s stereo 48 kHz loop, waits for the reply.

    Starts a private daemon on a 10,000-entry catalogue (real SQLite, synthetic vectors),
    times single requests (p50, p95), then N concurrent clients (throughput, p95).

    \b
    Example:
        cir bench latency
        cir bench latency --json --clients 8
    """
    from cir.benchmarks.latency import (
        BENCH_LATENCY_CATALOGUE_SIZE,
        BENCH_LATENCY_CLIENTS,
        BENCH_LATENCY_REQUESTS,
        bench_latency,
    )

    with json_stdout(as_json):
        result = bench_latency(
            requests=n_requests or BENCH_LATENCY_REQUESTS,
            clients=clients or BENCH_LATENCY_CLIENTS,
            catalogue_size=catalogue_size or BENCH_LATENCY_CATALOGUE_SIZE,
        )
    if as_json:
        echo_json(result)
        return
    for key, value in result.items():
        click.echo(f"{key:>22}: {value}")


@bench.command("search")
@click.option("--size", "sizes", type=click.IntRange(10), multiple=True,
              help="Catalogue size (repeatable; default 10^4, 10^5, 10^6).")
@json_option("Print the results as JSON.")
def search_speed(sizes: tuple[int, ...], as_json: bool) -> None:
    """Catalogue search: exact vs HNSW time per query, memory, recall@5 (256-d, 3 families).

    Random unit vectors; queries are stored vectors plus noise. 10^6 takes minutes on 2 cores.

    \b
    Example:
        cir bench search --size 10000 --size 100000
        nice cir bench search --json
    """
    from cir.benchmarks.catalogue import bench_search

    with json_stdout(as_json):
        result = bench_search(sizes) if sizes else bench_search()
    if as_json:
        echo_json(result)
        return
    for row in result["rows"]:
        click.echo(
            f"{row['entries']:>9,} entries: exact {row['exact_ms_per_query']:.2f} ms/query "
            f"{row['exact_memory_mb']:.0f} MB | HNSW {row['hnsw_ms_per_query']:.3f} ms/query "
            f"{row['hnsw_memory_mb']:.0f} MB, build {row['hnsw_build_s']:.0f} s, "
            f"recall@{row['k']} {row['recall_at_' + str(row['k'])]:.3f}"
        )


@bench.command("build")
@click.option("--presets", type=click.IntRange(3), default=None,
              help="Presets per source (default from cir.defaults).")
@click.option("--workers", type=click.IntRange(1), default=None, help="Render processes.")
@click.option("--embedder", default="default", show_default=True,
              help="Embedder: default (the shipped encoder) or mfcc80.")
@json_option("Print the results as JSON.")
def build_speed(presets: int | None, workers: int | None, embedder: str, as_json: bool) -> None:
    """Catalogue build throughput per source (builtin, folder, sf2, vst3): presets/s.

    Fresh catalogue per source, the shipped encoder unless --embedder; includes worker
    start-up.

    \b
    Example:
        cir bench build
        cir bench build --presets 48 --json
    """
    from cir.benchmarks.catalogue import BENCH_BUILD_PRESETS, bench_build

    with json_stdout(as_json):
        result = bench_build(presets or BENCH_BUILD_PRESETS, workers, embedder)
    if as_json:
        echo_json(result)
        return
    for row in result["rows"]:
        click.echo(
            f"{row['source']:<8} {row['presets']:>4} presets in {row['seconds']:6.1f} s: "
            f"{row['presets_per_second']:.2f} presets/s ({row['failed']} failed)"
        )
