"""Random streams: one registry (cir.training.streams), no two purposes on one stream."""

from __future__ import annotations

import ast
from pathlib import Path

from cir.training.streams import Stream

ROOT = Path(__file__).resolve().parents[1]
# Calls that draw from item_rng(seed, index, stream): the stream argument's position.
DRAWS = {"item_rng": 2, "render_mix": 5}


def _stream_arguments() -> list[tuple[str, int, str, ast.expr | None]]:
    """(file, line, function, the stream argument or None) of every draw in the code."""
    found = []
    for folder in ("training", "evaluation", "tools", "benchmarks", "cir", "presets_db"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "id", getattr(node.func, "attr", None))
                if name not in DRAWS:
                    continue
                arg = next((k.value for k in node.keywords if k.arg == "stream"), None)
                if arg is None and len(node.args) > DRAWS[name]:
                    arg = node.args[DRAWS[name]]
                found.append((str(path.relative_to(ROOT)), node.lineno, name, arg))
    return found


def test_each_stream_has_one_number():
    numbers = [int(s) for s in Stream]
    assert len(numbers) == len(set(numbers)) == len(Stream.__members__)


def test_every_draw_names_a_registered_stream():
    draws = _stream_arguments()
    assert len(draws) >= 10  # the scan sees the code
    used = set()
    for where, line, name, arg in draws:
        if isinstance(arg, ast.Name) and arg.id == "stream":
            continue  # render_mix passing its caller's stream on
        if arg is None:  # render_mix without a stream: the benchmarks' plans
            assert name == "render_mix", f"{where}:{line} item_rng without a stream"
            used.add(Stream.BENCH_MIX_PLAN)
            continue
        assert isinstance(arg, ast.Attribute) and getattr(arg.value, "id", None) == "Stream", (
            f"{where}:{line} {name} draws from {ast.unparse(arg)}, not a Stream name")
        used.add(Stream[arg.attr])
    # Each registered stream is used by exactly one purpose, and some code uses each.
    assert used == set(Stream)
    named = [(arg.attr, where) for where, _, _, arg in draws if isinstance(arg, ast.Attribute)]
    for stream in Stream:
        users = {where for attr, where in named if attr == stream.name}
        assert len(users) <= 1, f"{stream.name} is drawn in {sorted(users)}"
