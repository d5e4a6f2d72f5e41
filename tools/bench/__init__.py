"""Benchmarks of docs/BENCHMARKS.md that a user does not run: each module is a command,
`python -m tools.bench.<name> --help`."""
