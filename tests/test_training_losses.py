"""The contrastive losses against small hand-computed cases."""

from __future__ import annotations

import math

import pytest
import torch

from cir.training.losses import multi_positive_infonce, relation_masks, triplet_loss


def rows(*presets, mixes=()):
    return [frozenset(p) for p in presets], [i in mixes for i in range(len(presets))]


def test_relation_masks_never_pair_a_row_with_itself_or_two_mixes():
    presets, is_mix = rows({0, 1, 2}, {3, 4, 5}, {0}, {3}, {9}, mixes=(0, 1))
    pos, neg = relation_masks(presets, is_mix)
    assert not pos.diagonal().any() and not neg.diagonal().any()
    assert not pos[0, 1] and not neg[0, 1]  # mix-mix: no relation
    assert pos[0, 2] and pos[2, 0] and neg[0, 3] and neg[3, 0]  # stem <-> its mix, both ways
    assert neg[2, 3] and neg[2, 4]  # different presets
    assert not (pos & neg).any()


def test_triplet_loss_hand_computed():
    emb = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    presets, is_mix = rows({0}, {0}, {1})
    pos, neg = relation_masks(presets, is_mix)
    # anchor 0: d(0,1)=0.4, d(0,2)=1.0 -> max(0, 0.4-1+0.3)=0 (inactive)
    # anchor 1: d(1,0)=0.4, d(1,2)=0.2 -> 0.4-0.2+0.3 = 0.5; anchor 2 has no positive.
    assert float(triplet_loss(emb, pos, neg, margin=0.3)) == pytest.approx(0.5, abs=1e-6)
    # Large margin: both triplets active -> mean(0.4-1+2, 0.4-0.2+2) = (1.4 + 2.2) / 2
    assert float(triplet_loss(emb, pos, neg, margin=2.0)) == pytest.approx(1.8, abs=1e-6)


def test_triplet_loss_is_zero_and_differentiable_when_all_triplets_are_easy():
    emb = torch.tensor([[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0]], requires_grad=True)
    presets, is_mix = rows({0}, {0}, {1})
    pos, neg = relation_masks(presets, is_mix)
    loss = triplet_loss(emb, pos, neg, margin=0.3)
    loss.backward()
    assert float(loss.detach()) == 0.0 and emb.grad is not None


def test_infonce_hand_computed_single_positive():
    emb = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    pos, neg = relation_masks(*rows({0}, {0}, {1}))
    a0 = -math.log(math.exp(0.6) / (math.exp(0.6) + math.exp(0.0)))
    a1 = -math.log(math.exp(0.6) / (math.exp(0.6) + math.exp(0.8)))
    got = float(multi_positive_infonce(emb, pos, neg, temperature=1.0))
    assert got == pytest.approx((a0 + a1) / 2, abs=1e-6)


def test_infonce_multi_positive_masks_self_and_normalises_targets():
    s = math.sqrt(0.5)
    # row 0: a mix of presets 0 and 1; rows 1-3: notes of presets 0, 1, 2.
    emb = torch.tensor([[1.0, 0.0], [s, s], [0.0, 1.0], [-1.0, 0.0]])
    presets, is_mix = rows({0, 1}, {0}, {1}, {2}, mixes=(0,))
    pos, neg = relation_masks(presets, is_mix)
    anchors = torch.tensor([True, False, False, False])
    # Anchor = the mix: candidates are the three notes (never itself), targets 1/2, 1/2, 0.
    logits = [s, 0.0, -1.0]
    log_z = math.log(sum(math.exp(x) for x in logits))
    expected = -(0.5 * (logits[0] - log_z) + 0.5 * (logits[1] - log_z))
    got = multi_positive_infonce(emb, pos, neg, temperature=1.0, anchors=anchors)
    assert float(got) == pytest.approx(expected, abs=1e-6)
    # Its minimum is log(2) (two positives share the mass), not 0: targets are normalised.
    far = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [-1.0, 0.0]])
    low = multi_positive_infonce(far, pos, neg, temperature=0.01, anchors=anchors)
    assert float(low) == pytest.approx(math.log(2), abs=1e-4)


def test_relation_masks_match_the_pairwise_rule_on_random_batches():
    rng = torch.Generator().manual_seed(0)
    for _ in range(5):
        n = int(torch.randint(2, 30, (1,), generator=rng))
        presets = [
            frozenset(torch.randint(0, 12, (int(torch.randint(1, 4, (1,), generator=rng)),),
                                    generator=rng).tolist())
            for _ in range(n)
        ]
        is_mix = (torch.rand(n, generator=rng) < 0.3).tolist()
        pos, neg = relation_masks(presets, is_mix)
        for a in range(n):
            for b in range(n):
                related = a != b and not (is_mix[a] and is_mix[b])
                shared = bool(presets[a] & presets[b])
                assert bool(pos[a, b]) == (related and shared)
                assert bool(neg[a, b]) == (related and not shared)
