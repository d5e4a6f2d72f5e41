"""Every random stream of training and evaluation, in one registry.

`item_rng(seed, index, stream)` (cir.training.mixes) draws item `index` of a seeded set from
its own generator; the stream keeps sets of different purposes apart, so that, say, the
benchmark's queries never share random numbers with a training batch. A stream is named
here once: `@unique` refuses two names with one number, and a test checks that every
`item_rng` call names one of these.
"""

from __future__ import annotations

from enum import IntEnum, unique


@unique
class Stream(IntEnum):
    # The numbers are what the published figures and weights were drawn with: never renumber
    # a stream in use (the figures would move); add new ones at the end.
    BENCH_MIX_PLAN = 0  # render_mix's default: the benchmarks' mix plans
    NOTES = 1  # data.note_set: each preset's training notes
    ENCODER_BATCH = 2  # train: the plain encoder's batches
    SINGLE_QUERIES = 3  # evaluation: single-note benchmark queries
    MIX_QUERIES = 4  # evaluation: mix benchmark queries (3 parts)
    ENCODER_VALID = 5  # train: the plain encoder's VALID mixes
    MIX5_QUERIES = 6  # evaluation: builtin-mix5 queries
    HEADS_BATCH = 7  # heads: the mix-heads batches
    LINES = 8  # data.line_set: each preset's training lines
    VALID_PICK = 9  # data.valid_mixes: which VALID presets play
    VALID_PLAN = 10  # data.valid_mixes: their plans (was 6, the same as MIX5_QUERIES)
    LINE_BATCH = 11  # lines: the line encoder's batches
    ENCODER_VALID_PLAN = 12  # train: the plans of its VALID mixes (was 0, the benchmarks')
    FAMILY_HEADS_BATCH = 13  # family_heads: the family heads' batches
    # 14-20 free. The transfer benchmarks and v4 heads (issue "encoder v4"):
    EXT_SINGLE_QUERIES = 21  # ext_bench: ext-single queries (note, velocity, length)
    EXT_BUS = 22  # ext_bench: ext-mix3-bus's compressor, reverb send
    HEADS_NOTE_ITEMS = 23  # family_heads: which items are single notes, and which
    HEADS_BUS = 24  # family_heads: which mixes get the bus in the mel domain, and how
    SOLO_LINE_PICK = 25  # scoring.solo_lines: which held-out preset plays the line
    SOLO_LINE_PLAN = 26  # scoring.solo_lines: the line's plan
