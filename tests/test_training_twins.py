"""Benchmark catalogue twins: the distance between reference notes, and the ceiling it sets."""

from __future__ import annotations

import numpy as np

from cir.training import data
from tools.twins import ceilings, distances


def test_twins_cap_what_any_encoder_can_reach():
    # Entries 0 and 1 are twins, 2 stands alone; queries target 0, 1 and 2.
    dist = np.array([[0.0, 0.2, 9.0], [0.2, 0.0, 9.0], [9.0, 9.0, 0.0]])
    got = ceilings(dist, [0, 1, 2], threshold=1.0)
    assert got["with_twin"] == 2
    assert got["top1_ceiling"] == round(100 * (0.5 + 0.5 + 1.0) / 3, 1)
    assert got["top5_ceiling"] == 100.0
    assert ceilings(dist, [2], threshold=1.0)["top1_ceiling"] == 100.0


def test_the_same_preset_under_two_keys_is_a_twin_and_others_are_not():
    kick, bass = (s for s in data.builtin_sources("test", ("percussion", "bass"))[::200][:2])
    same = data.Source("copy-of-" + kick.key, kick.family, kick.kind, kick.spec)
    dist = distances([kick, same, bass])
    assert dist[0, 1] < 0.5  # only the noise seed (the key) differs
    assert dist[0, 2] > 3.0 and dist[1, 2] > 3.0
