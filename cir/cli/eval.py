"""`cir eval`: the retrieval benchmarks, trained encoder and MFCC-80 baseline side by side."""

from __future__ import annotations

import click

from cir import defaults
from cir.cli.output import echo_json, json_option, json_stdout


@click.command("eval")
@click.option("--benchmark", "-b", required=True,
              type=click.Choice(["builtin-single", "builtin-mix3", "builtin-mix5", "gm-single",
                                 "gm-mix3", "ext-single", "ext-mix3", "ext-mix3-bus",
                                 "ext-mix5"]),
              help="Which benchmark (docs/BENCHMARKS.md defines them; ext-* need Debian's "
                   "hexter and hydrogen-drumkits and pip's dexed-py).")
@click.option("--queries", type=click.IntRange(1), default=None,
              help=f"Number of queries [default: {defaults.BENCH_SINGLE_QUERIES} single notes, "
                   f"{defaults.BENCH_MIX_QUERIES} mixes].")
@click.option("--seed", type=int, default=defaults.BENCH_SEED, show_default=True,
              help="Seed of the queries: same seed, same numbers.")
@click.option("--embedder", "-e", "embedders", multiple=True,
              help="'default' (shipped weights, else MFCC), 'mfcc80', or a checkpoint .pt; "
                   "repeat to compare several on the same queries (ext-* render them once).")
@json_option("Print the result as JSON (a list with several --embedder; progress goes to "
             "stderr).")
def eval_(benchmark: str, queries: int | None, seed: int, embedders: tuple[str, ...],
          as_json: bool) -> None:
    """Top-1 / top-5 per family and mean, for the encoder and the MFCC-80 baseline.

    \b
    Example:
        cir eval --benchmark builtin-mix3 --json
        cir eval --benchmark gm-single --queries 300
        cir eval --benchmark ext-mix3-bus
        cir eval -b builtin-mix5 -e ~/.local/share/cir/runs/cir-family-heads-attention/best.pt
        cir eval -b ext-mix3 -e default -e ~/.local/share/cir/runs/cir-v4-heads/last.pt
    """
    from cir.evaluation.harness import format_table, run_benchmark

    results = []
    for embedder in embedders or (None,):
        with json_stdout(as_json):
            results.append(run_benchmark(benchmark, queries, seed, embedder,
                                         progress=not as_json))
        if not as_json:
            click.echo(("\n" if len(results) > 1 else "") + format_table(results[-1]))
    if as_json:
        echo_json(results[0] if len(results) == 1 else results)
