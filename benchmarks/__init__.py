"""Benchmarks: each module is one `cir bench` command; its figures go to docs/BENCHMARKS.md."""
