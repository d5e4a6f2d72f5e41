"""Development tools: probes, one-off comparisons, the reliability suite and the benchmarks a
user does not run. Not part of the `cir` package (the wheel leaves them out); run them from
the repository root, e.g. `python -m tools.twins gm`."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def tools_env() -> dict[str, str]:
    """The environment for a child Python that imports `tools`: the repository root on its
    path, whatever the child's working directory."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env
