"""`make typecheck`'s view of the package: build/typecheck/cir, a tree of links that maps each
`cir.*` subpackage to its top-level folder (pyproject.toml's package-dir), for type checkers.

The editable install maps those folders with an import hook, which type checkers cannot
follow; setuptools' strict editable mode would link them, but then `cir/` at the repository
root shadows the installed package for every `python` started there (tests, tools). So the
install stays as it is and the type checker reads this tree (pyproject's extraPaths).

    python -m tools.typecheck_tree
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

from tools import ROOT

TREE = ROOT / "build" / "typecheck"


def build_tree() -> Path:
    """Make build/typecheck/cir afresh; returns it."""
    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-dir"]
    shutil.rmtree(TREE, ignore_errors=True)
    package = TREE / "cir"
    package.mkdir(parents=True)
    subpackages = {name.split(".", 1)[1]: folder for name, folder in mapping.items() if "." in name}
    for entry in (ROOT / mapping["cir"]).iterdir():
        if entry.name not in subpackages and entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    for name, folder in subpackages.items():
        (package / name).symlink_to(ROOT / folder, target_is_directory=True)
    return package


if __name__ == "__main__":
    print(build_tree())
