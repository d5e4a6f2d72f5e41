"""Contrastive losses on unit vectors, driven by explicit positive / negative masks.

A batch holds single notes and mixes. `relation_masks` says which pairs are positives and which
are negatives; pairs that are neither (a mix and another mix, a row and itself) never enter a
loss. That one rule removes two pitfalls of the reference code (docs/DESIGN.md):

- flaw 4: a mix's sibling stems are positives of the mix, never its negatives, and the
  stem-anchored direction (stem -> its mix vs other mixes) is always included;
- flaw 3: the multi-positive InfoNCE masks each row's self-similarity and normalises its
  targets over the positives (SupCon-style).

Both losses use cosine geometry, the metric the catalogue searches with (flaw 5).
"""

from __future__ import annotations

import torch

from cir.training.constants import INFONCE_TEMPERATURE, TRIPLET_MARGIN


def relation_masks(
    presets: list[frozenset[int]], is_mix: list[bool]
) -> tuple[torch.Tensor, torch.Tensor]:
    """(positive, negative) boolean (n, n) masks for rows given as sets of preset ids.

    note-note: positive if same preset, negative otherwise; note-mix (both directions):
    positive if the note's preset plays in the mix, negative otherwise; mix-mix: neither.
    """
    n = len(presets)
    ids = sorted(set().union(*presets)) if presets else []
    column = {p: k for k, p in enumerate(ids)}
    member = torch.zeros(n, len(ids))
    for row, owned in enumerate(presets):
        member[row, [column[p] for p in owned]] = 1.0
    shared = (member @ member.T) > 0  # rows with a preset in common
    mix = torch.as_tensor(is_mix, dtype=torch.bool)
    related = ~(mix.view(-1, 1) & mix.view(1, -1)) & ~torch.eye(n, dtype=torch.bool)
    return shared & related, ~shared & related


def triplet_loss(
    emb: torch.Tensor,
    pos: torch.Tensor,
    neg: torch.Tensor,
    margin: float = TRIPLET_MARGIN,
    anchors: torch.Tensor | None = None,
) -> torch.Tensor:
    """Batch-all triplets on cosine distance, averaged over the active (non-zero) ones.

    For every anchor a (optionally only rows where `anchors` is true), positive p with
    pos[a, p] and negative q with neg[a, q]: max(0, d(a, p) - d(a, q) + margin), d = 1 - cos.
    With the masks of `relation_masks` this is the paper's "triplet-full": mix-anchored and
    stem-anchored triplets both enter.
    """
    dist = 1.0 - emb @ emb.T  # (n, n)
    # (a, p, q) grid: d(a, p) - d(a, q) + margin
    grid = dist.unsqueeze(2) - dist.unsqueeze(1) + margin
    valid = pos.unsqueeze(2) & neg.unsqueeze(1)
    if anchors is not None:
        valid = valid & anchors.view(-1, 1, 1)
    losses = torch.relu(grid)[valid]
    active = losses > 1e-12
    if not bool(active.any()):
        return emb.sum() * 0.0  # keeps the graph; zero gradient
    return losses[active].mean()


def multi_positive_infonce(
    emb: torch.Tensor,
    pos: torch.Tensor,
    neg: torch.Tensor,
    temperature: float = INFONCE_TEMPERATURE,
    anchors: torch.Tensor | None = None,
) -> torch.Tensor:
    """SupCon-style InfoNCE: per anchor, cross-entropy between the softmax over its candidates
    (positives and negatives, never itself) and the uniform distribution over its positives."""
    logits = (emb @ emb.T) / temperature
    candidates = pos | neg
    logits = logits.masked_fill(~candidates, float("-inf"))
    has_pos = pos.any(dim=1) & neg.any(dim=1)
    if anchors is not None:
        has_pos = has_pos & anchors
    if not bool(has_pos.any()):
        return emb.sum() * 0.0
    log_prob = torch.log_softmax(logits[has_pos], dim=1)
    p = pos[has_pos].float()
    target = p / p.sum(dim=1, keepdim=True)
    # Non-candidates have -inf log-probability but zero target: zero them before the product.
    log_prob = log_prob.masked_fill(~candidates[has_pos], 0.0)
    return -(target * log_prob).sum(dim=1).mean()


def cross_infonce(
    anchors: torch.Tensor,
    candidates: torch.Tensor,
    pos: torch.Tensor,
    temperature: float = INFONCE_TEMPERATURE,
) -> torch.Tensor:
    """Multi-positive InfoNCE of unit `anchors` (A, d) against another set of unit
    `candidates` (C, d) (so no self-pairs to mask): per anchor, cross-entropy between the
    softmax over all candidates and the uniform distribution over its positives (pos (A, C),
    every row with at least one)."""
    log_prob = torch.log_softmax(anchors @ candidates.T / temperature, dim=1)
    p = pos.float()
    return -((p / p.sum(dim=1, keepdim=True)) * log_prob).sum(dim=1).mean()


LOSSES = {"triplet-full": triplet_loss, "infonce": multi_positive_infonce}
