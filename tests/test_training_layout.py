"""The runtime never imports training: cir.encoder (what the daemon and the catalogue load)
imports nothing from cir.training or cir.presets_db, even lazily."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    """Every module an `import` / `from ... import` anywhere in the file names."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_encoder_package_imports_no_training_and_no_catalogue_code():
    files = sorted((ROOT / "encoder").glob("*.py"))
    assert files
    for path in files:
        bad = {m for m in imported_modules(path)
               if m.startswith(("cir.training", "cir.presets_db", "cir.daemon", "cir.app"))}
        assert not bad, f"{path.name} imports {sorted(bad)}"


def test_loading_an_embedder_leaves_training_modules_unimported():
    code = (
        "import sys; from cir.encoder.embed import load_embedder; load_embedder('mfcc80');"
        "import cir.encoder.mix_heads;"
        "print(sorted(m for m in sys.modules if m.startswith('cir.training')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
