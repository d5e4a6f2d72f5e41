"""What every benchmark shares (cir.evaluation.harness, cir.evaluation.ext_bench): mix plans, the
matcher's read of a query, ranking, and the summaries in percent."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from cir import defaults
from cir.encoder.api import FamilyEmbedder, QueryReading, settle_presence
from cir.families import FAMILIES, MIX_FAMILIES
from cir.training import data
from cir.training.mixes import item_rng, render_mix
from cir.training.streams import Stream

# Families each mix plays in builtin-mix5 (uniform in the count, any subset of FAMILIES).
MIX5_PARTS = (2, 5)


def rank_hits(
    queries: np.ndarray, catalogue: np.ndarray, targets: np.ndarray
) -> dict[int, np.ndarray]:
    """{1: hit, 5: hit} boolean per query: is the target's cosine similarity among the top k?

    `queries` is (Q, dim), or (Q, m, dim) for several vectors per query: an entry then scores
    its best cosine with any of them, as the catalogue's search does."""
    sims = queries @ catalogue.T  # (Q, N) or (Q, m, N)
    if sims.ndim == 3:
        sims = sims.max(axis=1)
    target_sim = sims[np.arange(len(queries)), targets]
    # Rank = how many entries beat the target (ties count against it: no lucky draws).
    better = (sims > target_sim[:, None]).sum(1) + ((sims == target_sim[:, None]).sum(1) - 1)
    return {1: better < 1, 5: better < 5}


def summarise(hits: dict[str, dict[int, np.ndarray]]) -> dict[str, Any]:
    """{"per_family": {family: {"top1", "top5"}}, "mean": {...}} in percent."""
    per = {
        f: {"top1": round(100 * float(h[1].mean()), 1), "top5": round(100 * float(h[5].mean()), 1)}
        for f, h in hits.items()
    }
    mean = {k: round(float(np.mean([v[k] for v in per.values()])), 1) for k in ("top1", "top5")}
    return {"per_family": per, "mean": mean}


def mix_queries(
    sources: Sequence[data.Source], held_out: set[str], n: int, seed: int,
    families: Sequence[str] = MIX_FAMILIES, parts: tuple[int, int] | None = None,
) -> list[dict[str, int]]:
    """`n` mixes as {family: catalogue index}, one held-out preset per family each: every one
    of `families` (parts None: the mix3 benchmarks), or a random subset of parts[0]..parts[1]
    of them (builtin-mix5; its own stream, in `families` order)."""
    pools = {
        f: [i for i, s in enumerate(sources) if s.family == f and s.key in held_out]
        for f in families
    }
    out = []
    for q in range(n):
        if parts is None:
            rng = item_rng(seed, q, stream=Stream.MIX_QUERIES)
            out.append({f: pool[int(rng.integers(len(pool)))] for f, pool in pools.items()})
            continue
        rng = item_rng(seed, q, stream=Stream.MIX5_QUERIES)
        count = int(rng.integers(parts[0], parts[1] + 1))
        playing = sorted(int(i) for i in rng.choice(len(families), size=count, replace=False))
        chosen = {}
        for i in playing:
            pool = pools[families[i]]
            chosen[families[i]] = pool[int(rng.integers(len(pool)))]
        out.append(chosen)
    return out


def family_queries(
    embedder: Any, audio: np.ndarray, families: Sequence[str], sample_rate: int | None = None
) -> QueryReading:
    """The query as the matcher reads it: (m, dim) rows per family, presence and the solo
    score from a FamilyEmbedder (encoder.api.QueryReading), else one `embed_query` vector
    shared by every family and no presence. `sample_rate` None: the model's rate."""
    if isinstance(embedder, FamilyEmbedder):
        return embedder.read(audio, tuple(families), sample_rate)
    vector = embedder.embed_query(audio, sample_rate)
    return QueryReading({f: vector for f in families}, {})


def settled(reading: QueryReading, catalogue: np.ndarray, cat_families: np.ndarray
            ) -> dict[str, float]:
    """The presence the matcher reports for `reading` against this catalogue
    (encoder.api.settle_presence: a solo's best-scoring family is present)."""
    if not reading.is_solo:
        return reading.presence
    top = {}
    for f, rows in reading.vectors.items():
        members = cat_families == f
        if members.any():
            top[f] = float((np.atleast_2d(rows) @ catalogue[members].T).max())
    return settle_presence(reading, top)


def embedder_versions(model: Any, baseline: Any) -> dict[str, str]:
    """The "embedder" field of a result: both versions, and the heads' when there are heads."""
    return {"model": model.version, "baseline": baseline.version,
            **({"model_query": model.query_version}
               if isinstance(model, FamilyEmbedder) else {})}


def single_presence(target_families: np.ndarray, heard: Sequence[dict[str, float]],
                    threshold: float = defaults.PRESENCE_THRESHOLD) -> dict[str, Any]:
    """Presence recall on single-instrument queries: how often the sound's own family is
    heard (percent), overall and per family."""
    said = np.asarray([h.get(f, 0.0) >= threshold for f, h in zip(target_families, heard,
                                                                    strict=True)])
    per = {f: round(100 * float(said[target_families == f].mean()), 1)
           for f in sorted(set(target_families.tolist()))}
    return {"threshold": threshold, "queries": len(said),
            "recall": round(100 * float(said.mean()), 1), "recall_per_family": per}


def solo_lines(model: Any, sources: Sequence[data.Source], held_out: set[str],
               catalogue: np.ndarray, make_instrument: Callable[[data.Source], Any], seed: int,
               n: int, sample_rate: int) -> dict[str, Any]:
    """`n` solo lines (a mix of one family: one held-out preset playing a phrase, families in
    turn) through the matcher's path: top-1 in the line's family and presence recall, in
    percent, with how often the line was read as one instrument."""
    cat_families = np.asarray([s.family for s in sources])
    families = sorted(set(cat_families.tolist()) & set(MIX_FAMILIES))
    hit, said, solo = [], [], []
    for q in range(n):
        family = families[q % len(families)]
        pool = [i for i, s in enumerate(sources) if s.family == family and s.key in held_out]
        target = pool[int(item_rng(seed, q, stream=Stream.SOLO_LINE_PICK).integers(len(pool)))]
        line, _, _ = render_mix({family: make_instrument(sources[target])}, seed,
                                defaults.MIX_SECONDS, sample_rate, index=q,
                                stream=Stream.SOLO_LINE_PLAN)
        reading = family_queries(model, line, FAMILIES, sample_rate)
        members = np.flatnonzero(cat_families == family)
        h = rank_hits(stack_rows([reading.vectors[family]]), catalogue[members],
                      np.searchsorted(members, [target]))
        hit.append(bool(h[1][0]))
        heard = settled(reading, catalogue, cat_families)
        said.append(heard.get(family, 0.0) >= defaults.PRESENCE_THRESHOLD)
        solo.append(reading.is_solo)
    return {"lines": n, "top1": round(100 * float(np.mean(hit)), 1),
            "recall": round(100 * float(np.mean(said)), 1),
            "read_as_solo": round(100 * float(np.mean(solo)), 1)}


def stack_rows(vectors: Sequence[np.ndarray]) -> np.ndarray:
    """(Q, m, dim) from queries of (dim,) or (m_i, dim) rows: fewer rows are padded with
    copies of their first (an entry's best cosine over the rows is unchanged)."""
    rows = [np.atleast_2d(v) for v in vectors]
    m = max(len(r) for r in rows)
    return np.stack([np.concatenate([r, np.repeat(r[:1], m - len(r), axis=0)]) for r in rows])


def presence_summary(
    mixes: Sequence[dict[str, int]], scores: Sequence[dict[str, float]],
    threshold: float = defaults.PRESENCE_THRESHOLD,
) -> dict[str, Any]:
    """Presence precision / recall in percent over (mix, family) pairs, families playing
    being the positives, at `threshold`; {} when the embedder gives no presence."""
    pairs = [(f in chosen, score) for chosen, said in zip(mixes, scores, strict=True)
             for f, score in said.items()]
    if not pairs:
        return {}
    truth = np.asarray([t for t, _ in pairs])
    said = np.asarray([p for _, p in pairs]) >= threshold
    tp = float((truth & said).sum())
    return {"threshold": threshold, "pairs": len(pairs),
            "precision": round(100 * tp / max(float(said.sum()), 1.0), 1),
            "recall": round(100 * tp / max(float(truth.sum()), 1.0), 1)}
