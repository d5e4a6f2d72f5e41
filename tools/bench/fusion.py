"""How the daemon's query vectors rank single notes and mixes (within the query's family).

The daemon cannot tell a one-shot from a loop, so every query goes through
`embed_query_by_family`: per-family heads, plus (heads trained on mixes only) the shared note
encoder, an entry scoring its best cosine with either (max fusion). This prints top-1 /
top-5 for the heads alone, the shared vector alone and the max, on the builtin benchmark's
catalogue and queries:

    cir bench fusion [--singles 240] [--mixes 120] [--json]
"""

from __future__ import annotations

from typing import Any

import click
import numpy as np
import torch

from cir import defaults
from cir.cli.output import echo_json, json_option, json_stdout
from cir.encoder.api import FamilyEmbedder
from cir.encoder.embed import load_embedder
from cir.errors import CIRError
from cir.evaluation.harness import (
    builtin_catalogue,
    catalogue_vectors,
    mix_queries,
    render_mix_query,
    single_queries,
)
from cir.families import MIX_FAMILIES
from cir.training import data

# Query-fusion benchmark (tools.bench.fusion): single-note and mix queries, builtin benchmark.
BENCH_FUSION_SINGLES = 240
BENCH_FUSION_MIXES = 120

WAYS = ("heads", "shared", "max")


def _rank(catalogue: np.ndarray, rows: np.ndarray, target: int) -> dict[str, int]:
    """How many entries beat the target, for the head row, the shared row and their max."""
    head, shared = catalogue @ rows[0], catalogue @ rows[-1]
    scores = {"heads": head, "shared": shared, "max": np.maximum(head, shared)}
    return {w: int((s > s[target]).sum()) for w, s in scores.items()}


class NoHeadsError(CIRError):
    """The embedder has no per-family query heads, so there is nothing to fuse."""


def bench_fusion(singles: int = BENCH_FUSION_SINGLES,
                 mixes: int = BENCH_FUSION_MIXES) -> dict[str, Any]:
    """Top-1/top-5 (%) of single-note and mix queries for heads, shared vector and max."""
    torch.set_num_threads(1)
    model = load_embedder()
    if not isinstance(model, FamilyEmbedder):
        raise NoHeadsError(f"the default embedder {model.version} has no per-family heads")

    def rows_of(audio: np.ndarray, families) -> dict[str, np.ndarray]:
        """Per family: (head row, shared row), whether or not the heads serve the shared one."""
        shared = model.embed_query(audio)
        return {f: np.stack([v[0], shared]) for f, v in
                model.embed_query_by_family(audio, families).items()}

    features = model.model.config.features
    sources, held_out = builtin_catalogue(per_family=defaults.BENCH_CATALOGUE_PER_FAMILY)
    refs = data.reference_set(sources, features, progress=False)
    catalogue = catalogue_vectors(model.model, refs)
    families = np.asarray([s.family for s in sources])

    def within(family: str, index: int) -> tuple[np.ndarray, int]:
        members = np.flatnonzero(families == family)
        return catalogue[members], int(np.searchsorted(members, index))

    ranks: dict[str, dict[str, list[int]]] = {"single": {}, "mix": {}}
    for q in single_queries(sources, held_out, singles, defaults.BENCH_SEED):
        family = sources[q.target].family
        clip = data.make_instrument(sources[q.target]).render(
            [q.note], q.seconds, features.sample_rate
        )
        rows = rows_of(clip, [family])[family]
        cat, target = within(family, q.target)
        for way, r in _rank(cat, rows, target).items():
            ranks["single"].setdefault(way, []).append(r)
    for i, chosen in enumerate(mix_queries(sources, held_out, mixes, defaults.BENCH_SEED)):
        mix = render_mix_query(sources, chosen, defaults.BENCH_SEED, i)
        by_family = rows_of(mix, MIX_FAMILIES)
        for family in MIX_FAMILIES:
            cat, target = within(family, chosen[family])
            for way, r in _rank(cat, by_family[family], target).items():
                ranks["mix"].setdefault(way, []).append(r)
    rows = [
        {"queries": kind, "way": way, "n": len(by_way[way]),
         "top1": round(100 * float((np.asarray(by_way[way]) < 1).mean()), 1),
         "top5": round(100 * float((np.asarray(by_way[way]) < 5).mean()), 1)}
        for kind, by_way in ranks.items() for way in WAYS
    ]
    return {"encoder": model.version, "heads": model.query_version, "rows": rows}


@click.command()
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
        python -m tools.bench.fusion
        python -m tools.bench.fusion --singles 60 --mixes 30 --json
    """

    with json_stdout(as_json):
        result = bench_fusion(singles or BENCH_FUSION_SINGLES,
                              mixes or BENCH_FUSION_MIXES)
    if as_json:
        echo_json(result)
        return
    click.echo(f"encoder {result['encoder']}, heads {result['heads']}")
    for row in result["rows"]:
        click.echo(f"{row['queries']:<6} {row['way']:<6} top-1 {row['top1']:5.1f}  "
                   f"top-5 {row['top5']:5.1f}  ({row['n']} queries)")


if __name__ == "__main__":
    fusion()
