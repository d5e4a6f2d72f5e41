"""`cir bench`: the speed and quality figures recorded in docs/BENCHMARKS.md."""

from __future__ import annotations

import click

from cir import defaults
from cir.cli.output import db_option, echo_json, json_option, json_stdout


@click.group()
def bench() -> None:
    """Benchmarks that print the figures of docs/BENCHMARKS.md.

    \b
    Example:
        cir bench synth
        cir bench synth --json
    """


@bench.command("synth")
@click.option("--repeats", type=click.IntRange(1, 10_000), default=None,
              help="Timed renders per preset (default from cir.defaults).")
@click.option("--tune-allocator", is_flag=True,
              help="Keep freed memory for reuse first (synth.engine.tune_allocator).")
@json_option("Print the results as JSON.")
def synth_speed(repeats: int | None, tune_allocator: bool, as_json: bool) -> None:
    """Built-in synth render speed on one core: renders/s and x real time per family.

    Renders a 1 s note at 44.1 kHz with one typical preset per family (each with one or
    two effects) and prints the median and the fastest of the repeats, and the median over
    presets of each (the fastest run is what one uncontended core does).

    \b
    Example:
        cir bench synth
        cir bench synth --repeats 100 --json
        cir bench synth --tune-allocator
    """
    from cir import defaults
    from cir.benchmarks.synth import bench_synth

    with json_stdout(as_json):
        result = bench_synth(repeats=repeats or defaults.BENCH_SYNTH_REPEATS, tune=tune_allocator)
    if as_json:
        echo_json(result)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"cir bench synth: {result['seconds']:g} s note at "
                        f"{result['sample_rate']} Hz, one core, {result['repeats']} runs each"
                        + (", allocator tuned" if result["allocator_tuned"] else ""),
                  caption="x RT = times faster than real time (median run; best = fastest run)")
    columns = ("preset", "family", "ms", "renders/s", "x RT", "best ms", "best x RT")
    for column in columns:
        table.add_column(column, justify="left" if column in ("preset", "family") else "right")
    for row in result["presets"]:
        table.add_row(row["preset"], row["family"], f"{row['ms']:.2f}",
                      f"{row['renders_per_s']:.0f}", f"{row['x_realtime']:.0f}",
                      f"{row['best_ms']:.2f}", f"{row['best_x_realtime']:.0f}")
    table.add_row("median", "", "", f"{result['median_renders_per_s']:.0f}",
                  f"{result['median_x_realtime']:.0f}", "",
                  f"{result['median_best_x_realtime']:.0f}")
    Console().print(table)


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
    from cir import defaults
    from cir.benchmarks.latency import bench_latency

    with json_stdout(as_json):
        result = bench_latency(
            requests=n_requests or defaults.BENCH_LATENCY_REQUESTS,
            clients=clients or defaults.BENCH_LATENCY_CLIENTS,
            catalogue_size=catalogue_size or defaults.BENCH_LATENCY_CATALOGUE_SIZE,
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
    from cir import defaults
    from cir.benchmarks.catalogue import bench_build

    with json_stdout(as_json):
        result = bench_build(presets or defaults.BENCH_BUILD_PRESETS, workers, embedder)
    if as_json:
        echo_json(result)
        return
    for row in result["rows"]:
        click.echo(
            f"{row['source']:<8} {row['presets']:>4} presets in {row['seconds']:6.1f} s: "
            f"{row['presets_per_second']:.2f} presets/s ({row['failed']} failed)"
        )


@bench.command("engines")
@click.option("--presets", type=click.IntRange(8), default=None,
              help="Factory presets per build (default from cir.defaults).")
@click.option("--embedder", default="default", show_default=True,
              help="Embedder: default (the shipped encoder) or mfcc80.")
@json_option("Print the results as JSON.")
def engines_speed(presets: int | None, embedder: str, as_json: bool) -> None:
    """Catalogue builds on the local pool (2 workers) vs Ray (1 and 2 workers), Ray's cost
    per task, and what a 100-core cluster would need for 10^6 presets.

    Needs Ray (pip install 'cir[ray]'); starts a local Ray instance per Ray run.

    \b
    Example:
        cir bench engines
        nice cir bench engines --presets 48 --json
    """
    from cir import defaults
    from cir.benchmarks.build_engines import bench_engines

    with json_stdout(as_json):
        result = bench_engines(presets or defaults.BENCH_ENGINES_PRESETS, embedder)
    if as_json:
        echo_json(result)
        return
    for r in result["runs"]:
        click.echo(
            f"{r['engine']:<5} {r['workers']} worker(s): {r['presets']} presets in "
            f"{r['seconds']:.1f} s = {r['presets_per_second']:.2f} presets/s (steady "
            f"{r['steady_presets_per_second']:.2f}), driver CPU "
            f"{r['driver_cpu_ms_per_preset']:.1f} ms/preset, start {r['start_s']:.1f} s"
        )
    costs = result["task_ms"]
    click.echo(f"no-op task: local pool {costs['local']:.2f} ms, Ray {costs['ray']:.2f} ms")
    p = result["projection"]
    click.echo(
        f"{p['presets']:,} presets at {p['core_seconds_per_preset']:.3f} core-s each = "
        f"{p['core_hours']:.0f} core-hours; {p['cores']} cores: "
        f"{p['cluster_presets_per_second']:.0f} presets/s ({p['bound_by']}-bound; one "
        f"driver takes {p['driver_max_presets_per_second']:.0f}/s, as many as "
        f"{p['cores_to_saturate_driver']:.0f} cores send), {p['hours']:.1f} h"
    )


@bench.command("fusion")
@click.option("--singles", type=click.IntRange(1, 10_000), default=None,
              help="Single-note queries (default from cir.defaults).")
@click.option("--mixes", type=click.IntRange(1, 10_000), default=None,
              help="Mix queries (default from cir.defaults).")
@json_option("Print the results as JSON.")
def fusion(singles: int | None, mixes: int | None, as_json: bool) -> None:
    """How the daemon's per-family query vectors rank single notes and mixes: the heads
    alone, the shared note vector alone, and their max (what the daemon uses).

    \b
    Example:
        cir bench fusion
        cir bench fusion --singles 60 --mixes 30 --json
    """
    from cir import defaults
    from cir.benchmarks.query_fusion import bench_fusion

    with json_stdout(as_json):
        result = bench_fusion(singles or defaults.BENCH_FUSION_SINGLES,
                              mixes or defaults.BENCH_FUSION_MIXES)
    if as_json:
        echo_json(result)
        return
    click.echo(f"encoder {result['encoder']}, heads {result['heads']}")
    for row in result["rows"]:
        click.echo(f"{row['queries']:<6} {row['way']:<6} top-1 {row['top1']:5.1f}  "
                   f"top-5 {row['top5']:5.1f}  ({row['n']} queries)")


@bench.command("page")
@click.option("--requests", "n_requests", type=click.IntRange(1, 10_000), default=None,
              help="Answers timed to the page (default from cir.defaults).")
@click.option("--family-size", type=click.IntRange(4, 100_000), default=None,
              help="Entries of the family the map is drawn for (default 500).")
@json_option("Print the results as JSON.")
def page_speed(n_requests: int | None, family_size: int | None, as_json: bool) -> None:
    """Results page: the daemon's cost per answer, answer-to-page delay, map time.

    A real daemon in a thread with its page on a free port; an SSE reader times each answer
    from the client's reply to its event. The map is t-SNE over one synthetic family.

    \b
    Example:
        cir bench page
        cir bench page --requests 100 --json
    """
    from cir import defaults
    from cir.benchmarks.page import bench_page

    with json_stdout(as_json):
        result = bench_page(
            requests=n_requests or defaults.BENCH_PAGE_REQUESTS,
            family_size=family_size or defaults.BENCH_CATALOGUE_PER_FAMILY,
        )
    if as_json:
        echo_json(result)
        return
    for key, value in result.items():
        click.echo(f"{key:>16}: {value}")


@bench.command("search-scale")
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
    cir.benchmarks.search_scale). 10^6 takes most of an hour on 2 cores.

    \b
    Example:
        cir bench search-scale --db ~/.cache/cir/search-bench/builtin.db --size 100000
        nice cir bench search-scale --db builtin.db --json > scale.json
    """
    from pathlib import Path

    from cir.benchmarks.search_scale import bench_search_scale

    def log(line: str) -> None:
        click.echo(line, err=True)

    with json_stdout(as_json):
        result = bench_search_scale(Path(db), sizes or defaults.BENCH_SCALE_SIZES, server_url,
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
