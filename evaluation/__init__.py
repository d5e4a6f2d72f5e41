"""Evaluation: the benchmarks of `cir eval` (docs/BENCHMARKS.md) and the ranking helpers the
trainers validate with."""
