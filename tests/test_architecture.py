"""The package's shape: one import direction between layers, no circles between modules.

Read statically (ast) from the source files, so lazy imports inside functions count too: a
function-level import is still an arrow of the design.
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

# Layers from the ground up; a module may import its own layer and the ones below it.
# cir.* modules that are not listed here (defaults, errors, families, paths, protocol) are the
# ground floor; the CLI is the top and nothing imports it.
LAYERS: list[tuple[str, ...]] = [
    ("cir.defaults", "cir.errors", "cir.families", "cir.paths", "cir.audio", "cir.query",
     "cir.protocol"),
    ("cir.synth",),
    ("cir.encoder",),
    ("cir.presets_db",),
    ("cir.matching",),
    ("cir.training", "cir.evaluation", "cir.daemon", "cir.plugin_bridge"),
    ("cir.app", "cir.benchmarks", "cir.api"),
    ("cir.cli", "cir.__main__"),
]
# `import cir` exposes the public API lazily (PEP 562): the facade is the one allowed arrow up.
FACADE = ("cir", "cir.api")


def _package_dirs() -> dict[str, Path]:
    """Each subpackage's source folder, as the installed package maps it."""
    dirs = {}
    for name in ("cir", "cir.synth", "cir.presets_db", "cir.encoder", "cir.daemon",
                 "cir.plugin_bridge", "cir.benchmarks", "cir.training", "cir.evaluation"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            dirs[name] = Path(next(iter(spec.submodule_search_locations)))
    return dirs


def _modules() -> dict[str, Path]:
    """Every module of the cir package, by dotted name."""
    found: dict[str, Path] = {}
    for package, folder in _package_dirs().items():
        for path in folder.rglob("*.py"):
            rel = path.relative_to(folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            name = ".".join([package, *parts])
            if package == "cir" and parts and parts[0] in ("synth", "presets_db", "encoder",
                                                           "daemon", "plugin_bridge"):
                continue  # not on disk under cir/, but be safe
            found[name] = path
    return found


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")[: -node.level] if not module.endswith("__init__") else None
    return ".".join([*(base or []), *([node.module] if node.module else [])])


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the cir modules it imports (to the longest known name)."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                # `from pkg import sub` depends on pkg.sub; `from mod import name`, on mod.
                base = _resolve(name, node)
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                         for a in node.names]
            else:
                continue
            for imported in names:
                parts = imported.split(".")
                for i in range(len(parts), 0, -1):
                    candidate = ".".join(parts[:i])
                    if candidate in modules and candidate != name:
                        targets.add(candidate)
                        break
        graph[name] = targets
    return graph


def _layer(module: str) -> int:
    best, rank = -1, 0
    for i, group in enumerate(LAYERS):
        for prefix in group:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), i
    return rank


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return _imports(_modules())


def test_the_graph_is_read(graph):
    assert "cir.daemon.server" in graph and "cir.synth.engine" in graph
    assert "cir.matching.core" in graph["cir.daemon.server"]


def test_no_upward_imports(graph):
    upward = sorted(
        f"{a} -> {b}"
        for a, targets in graph.items()
        for b in targets
        if _layer(b) > _layer(a) and (a, b) != FACADE
    )
    assert upward == []


def test_nothing_imports_the_cli(graph):
    users = sorted(a for a, t in graph.items() for b in t
                   if b.startswith("cir.cli") and not a.startswith(("cir.cli", "cir.__main__")))
    assert users == []


def test_the_package_imports_no_development_tool():
    # tools/ (probes, the reliability suite, benchmarks a user does not run) is not in the wheel.
    users = sorted(
        name for name, path in _modules().items()
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if (isinstance(node, ast.Import)
            and any(a.name.split(".")[0] == "tools" for a in node.names))
        or (isinstance(node, ast.ImportFrom) and node.level == 0
            and (node.module or "").split(".")[0] == "tools")
    )
    assert users == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_circles_between_modules(graph):
    facade_free = {a: {b for b in t if (a, b) != FACADE} for a, t in graph.items()}
    assert _cycles(facade_free) == []


def test_the_daemon_hot_path_imports_no_training(graph):
    seen, todo = set(), ["cir.daemon.server"]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(graph.get(m, ()))
    assert sorted(m for m in seen
                  if m.startswith(("cir.training", "cir.evaluation", "cir.cli"))) == []


def test_loading_the_shipped_embedder_imports_no_training_code():
    # What the daemon and the catalogue load at run time, checked in a fresh interpreter.
    code = ("import sys; from cir.encoder.embed import load_embedder; load_embedder();"
            "print(sorted(m for m in sys.modules"
            " if m.startswith(('cir.training', 'cir.evaluation', 'cir.cli'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_in_process_matching_does_not_touch_the_protocol(graph):
    # The matching core sits below the daemon; only the daemon's socket (and the client the
    # app uses to ask a running daemon) speaks protocol v1.
    core = sorted(b for a, t in graph.items() if a.startswith("cir.matching") for b in t
                  if b.startswith("cir.protocol"))
    assert core == []
    root = Path(__file__).resolve().parents[1]
    for path in [*sorted((root / "cir" / "app").glob("*.py")), root / "cir" / "api.py"]:
        for word in ("encode_match", "decode_reply", ".respond("):
            assert word not in path.read_text(), f"{path.name} uses {word}"


def test_the_server_takes_one_config():
    import inspect

    from cir.daemon.server import Server

    assert list(inspect.signature(Server.__init__).parameters) == [
        "self", "config", "extensions"]


def test_the_wheel_ships_the_weights_that_run_and_no_tool():
    import tomllib

    from cir import defaults
    from cir.encoder.embed import WEIGHTS_DIR

    root = Path(__file__).resolve().parents[1]
    setup = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert not any(p == "tools" or p.startswith("tools.") for p in setup["packages"])
    assert all(not folder.startswith("tools") for folder in setup["package-dir"].values())
    # encoder/weights is package data: only the shipped pair lives there.
    shipped = {defaults.ENCODER_WEIGHTS_NAME, defaults.ENCODER_HEADS_WEIGHTS_NAME}
    assert {p.stem for p in WEIGHTS_DIR.glob("*.pt")} == shipped
    assert sum(p.stat().st_size for p in WEIGHTS_DIR.glob("*.pt")) <= 15_000_000
