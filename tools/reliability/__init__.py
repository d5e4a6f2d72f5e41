"""The daemon's reliability suite (`make reliability` -> docs/RELIABILITY.md)."""
