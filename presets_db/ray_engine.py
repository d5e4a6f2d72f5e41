"""The Ray build engine: render tasks as Ray tasks, on a local Ray instance or a cluster.

Imported only for `--engine ray`; Ray is the optional extra `cir[ray]`. What it keeps from
the local pool (presets_db.pool):

- isolation: each task runs in a Ray worker process; a worker that dies (a plugin's
  segfault, os._exit) fails its task after RAY_TASK_RETRIES more tries, and a task past the
  timeout is cancelled with its worker killed (a hanging plugin fails its preset, not the
  build);
- bounded work in flight: at most RAY_IN_FLIGHT_PER_WORKER tasks per running task are
  submitted, so a killed driver loses little and memory stays flat over a million presets;
- results come back to the driver, which alone writes the catalogue (presets_db.build).

A local instance is started with the build's worker count as its CPUs, no dashboard, its
logs under the cir runtime dir, and shut down after the build; `address` connects to an
existing cluster instead (left running). Each node needs the same cir installed, and the
plugins and SoundFonts at the same paths: a worker that cannot see one fails that preset,
naming the file and its host (presets_db.build.check_files).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cir import paths
from cir.errors import import_optional
from cir.presets_db.errors import EngineError
from cir.presets_db.pool import Outcome, describe_error, one_compute_thread

# Ray: a task whose worker process dies (a plugin's segfault, a lost node, the OOM killer) runs
# once more on a fresh worker before its preset is marked failed; on a cluster a death is often
# the node's fault, not the preset's. A task that raises is not retried: renders are
# deterministic, the same preset fails the same way.
RAY_TASK_RETRIES = 1
# Ray tasks submitted ahead per running task: enough that a worker finishing one preset finds
# the next already on its node, few enough that a killed driver loses little work in flight
# and the driver's memory stays bounded (a result is a vector and a FLAC preview, ~100 KB).
RAY_IN_FLIGHT_PER_WORKER = 2
# Longest the driver waits for a Ray result before it checks the timeouts again (seconds).
RAY_POLL_S = 1.0
# Object store of a local Ray instance (bytes): results are small and fetched at once; Ray's
# default (30 % of memory) would reserve gigabytes of shared memory for nothing.
RAY_OBJECT_STORE_BYTES = 256 * 1024**2

_DONE = object()


def _ray() -> Any:
    return import_optional("ray", "ray")


def _call(func: Callable[[Any], Any], task: Any) -> tuple[str, Any]:
    """Runs in a Ray worker: the task's own errors come back as values (one line each), so
    that Ray's exceptions at the driver mean only what Ray itself saw (a dead worker)."""
    one_compute_thread()  # before the first task imports torch (a no-op after)
    try:
        return "ok", func(task)
    except Exception as exc:
        return "error", describe_error(exc)


@dataclass
class _InFlight:
    task: Any
    started: float | None = None  # when it entered the running window (its timeout's clock)


class RayEngine:
    """Ray tasks, at most `workers` running at once (default: the cluster's CPUs)."""

    name = "ray"

    def __init__(self, workers: int | None = None, address: str | None = None):
        self.ray = _ray()  # the missing extra is an error at once, before any scanning
        self.workers, self.address = workers, address
        self.slots = 0
        self._started = False  # this engine started the Ray instance: it shuts it down
        self._temp: Path | None = None  # a throwaway temp dir to delete after shutdown

    def _connect(self) -> None:
        """Start a local Ray instance or connect to `address` (once, on the first tasks)."""
        ray = self.ray
        if not ray.is_initialized():
            quiet = {"include_dashboard": False, "log_to_driver": False,
                     "logging_level": logging.ERROR}  # fmt: skip
            if self.address:
                try:
                    ray.init(address=self.address, **quiet)
                except (ConnectionError, RuntimeError, ValueError) as exc:
                    raise EngineError(
                        f"cannot reach the Ray cluster at {self.address} ({exc}): start it "
                        "with `ray start --head` there, or pass its address as host:6379"
                    ) from None
            else:
                temp, throwaway = paths.ray_temp_dir()
                self._temp = temp if throwaway else None
                try:
                    ray.init(address="local", num_cpus=self.workers or os.cpu_count() or 1,
                             object_store_memory=RAY_OBJECT_STORE_BYTES,
                             _temp_dir=str(temp), **quiet)  # fmt: skip
                except Exception as exc:  # Ray's own processes did not come up
                    self.close()
                    logs = "" if throwaway else f" (its logs: {temp})"
                    raise EngineError(
                        f"could not start a local Ray instance{logs}: {describe_error(exc)}; "
                        "build with --engine local meanwhile"
                    ) from None
            self._started = True
        cpus = int(ray.cluster_resources().get("CPU", 0))
        if cpus < 1:
            raise EngineError("the Ray cluster offers no CPU: start workers with `ray start`")
        self.slots = min(self.workers, cpus) if self.workers else cpus

    def close(self) -> None:
        """Shut down the Ray instance this engine started (a cluster is only disconnected)."""
        if self._started:
            self.ray.shutdown()
            self._started = False
        if self._temp is not None:
            shutil.rmtree(self._temp, ignore_errors=True)
            self._temp = None

    def run(
        self, func: Callable[[Any], Any], tasks: Sequence[Any], timeout: float
    ) -> Iterator[Outcome]:
        """Run `func(task)` for every task as a Ray task; yield outcomes as they finish."""
        if not tasks:
            return
        self._connect()
        ray = self.ray
        remote = ray.remote(_call).options(
            num_cpus=1, max_retries=RAY_TASK_RETRIES, retry_exceptions=False
        )
        pending = iter(tasks)
        flight: dict[Any, _InFlight] = {}  # insertion order = submission order
        limit = self.slots * RAY_IN_FLIGHT_PER_WORKER
        try:
            while True:
                while len(flight) < limit and (task := next(pending, _DONE)) is not _DONE:
                    flight[remote.remote(func, task)] = _InFlight(task)
                if not flight:
                    return
                self._start_clocks(flight)
                refs = list(flight)
                ready, _ = ray.wait(refs, num_returns=1, timeout=self._wait_for(flight, timeout))
                if ready:  # and every other result already here: one call per round, not each
                    ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
                for ref in ready:
                    yield self._outcome(flight.pop(ref).task, ref)
                yield from self._expire(flight, timeout)
        finally:
            # Ctrl+C, an error, or the build stopped early: nothing keeps rendering for it.
            for ref in flight:
                ray.cancel(ref, force=True)

    def _start_clocks(self, flight: dict[Any, _InFlight]) -> None:
        """Ray runs tasks about in submission order: the first `slots` in flight are taken
        as running, and their timeout counts from when they got there."""
        now = time.monotonic()
        for item in list(flight.values())[: self.slots]:
            if item.started is None:
                item.started = now

    @staticmethod
    def _wait_for(flight: dict[Any, _InFlight], timeout: float) -> float:
        now = time.monotonic()
        deadlines = [i.started + timeout - now for i in flight.values() if i.started is not None]
        return max(0.0, min([RAY_POLL_S, *deadlines]))

    def _expire(self, flight: dict[Any, _InFlight], timeout: float) -> Iterator[Outcome]:
        """Cancel (killing the worker) each running task past `timeout`; it fails alone."""
        now = time.monotonic()
        for ref, item in list(flight.items()):
            if item.started is not None and now - item.started >= timeout:
                self.ray.cancel(ref, force=True)
                del flight[ref]
                yield Outcome(item.task, False, crashed=True,
                              error=f"worker timed out after {timeout:g} s on this preset")

    def _outcome(self, task: Any, ref: Any) -> Outcome:
        exceptions = self.ray.exceptions
        try:
            status, value = self.ray.get(ref)
        except exceptions.WorkerCrashedError:
            tries = 1 + RAY_TASK_RETRIES
            return Outcome(task, False, crashed=True,
                           error=f"worker crashed on this preset ({tries} tries)")
        except exceptions.RayError as exc:  # a lost node, an object lost, cir not importable
            return Outcome(task, False, crashed=True,
                           error=f"Ray could not run this preset: {_last_line(exc)}")
        if status == "ok":
            return Outcome(task, True, value=value)
        return Outcome(task, False, error=value)


def _last_line(exc: BaseException) -> str:
    """The line of a Ray error that says what went wrong: its innermost cause's last line
    (Ray's own lines before it name the worker process, in terminal colours)."""
    while (cause := getattr(exc, "cause", None)) is not None and cause is not exc:
        exc = cause
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__
