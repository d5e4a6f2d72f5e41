"""Build engines: what turns a build's render Tasks into Outcomes.

The build plans (what to render) and writes (one writer, small transactions) by itself; an
engine only runs `func(task)` somewhere and yields each task's Outcome as it finishes, a
crash or a hang failing that task alone. Two engines:

- "local": spawned worker processes on this machine (presets_db.pool);
- "ray": Ray tasks on a local Ray instance or an existing cluster (presets_db.ray_engine,
  imported only when chosen: Ray is the optional extra `cir[ray]`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from cir import defaults
from cir.errors import import_optional
from cir.presets_db.errors import EngineError
from cir.presets_db.pool import Outcome, run_tasks


class Engine(Protocol):
    """Runs tasks; yields one Outcome per task, in the order they finish."""

    name: str

    def run(
        self, func: Callable[[Any], Any], tasks: Sequence[Any], timeout: float
    ) -> Iterator[Outcome]: ...


class LocalEngine:
    """Worker processes on this machine, one task each at a time (presets_db.pool)."""

    name = "local"

    def __init__(self, workers: int | None = None):
        self.workers = workers or os.cpu_count() or 1

    def run(
        self, func: Callable[[Any], Any], tasks: Sequence[Any], timeout: float
    ) -> Iterator[Outcome]:
        return run_tasks(func, tasks, self.workers, timeout)


@contextlib.contextmanager
def open_engine(
    name: str = defaults.BUILD_ENGINE, workers: int | None = None, address: str | None = None
) -> Iterator[Engine]:
    """The engine called `name`, closed on exit (a Ray instance it started is shut down).

    `workers`: processes (local) or Ray tasks at once; `address`: an existing Ray cluster.
    """
    check_engine(name, address)
    if name == "local":
        yield LocalEngine(workers)
        return
    from cir.presets_db.ray_engine import RayEngine

    engine = RayEngine(workers, address)
    try:
        yield engine
    finally:
        engine.close()


def check_engine(name: str, address: str | None = None) -> None:
    """EngineError or MissingDependencyError now, before a build writes anything, when the
    engine `name` cannot be used as asked."""
    if name not in defaults.BUILD_ENGINES:
        raise EngineError(
            f"unknown build engine {name!r}: expected one of {', '.join(defaults.BUILD_ENGINES)}"
        )
    if address and name != "ray":
        raise EngineError(
            f"a cluster address ({address}) needs the Ray engine: add --engine ray"
        )
    if name == "ray":
        import_optional("ray", "ray")
