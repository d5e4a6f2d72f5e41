"""A small process pool that survives its tasks: crashes and hangs fail one task, not the run.

Each worker is a spawned process with its own pipe and gets one task at a time, so the parent
always knows which task a dead or stuck worker held. A worker that dies (segfault in a plugin,
os._exit) or runs past `timeout` is killed and replaced; its task comes back as an error.
Spawn (not fork) keeps plugin hosts and FluidSynth out of the parent's state and works on
every OS.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

_DONE = object()
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclass
class Outcome:
    """What became of one task: `value` when ok, else `error` (one line)."""

    task: Any
    ok: bool
    value: Any = None
    error: str | None = None
    crashed: bool = False  # the worker died or was killed: it must be replaced


def one_compute_thread() -> None:
    """One compute thread per worker: a build's parallelism is its worker processes.

    Call before the first task imports torch; intra-op threads fighting over the same cores
    made the small feature ops of an embedding about 10x slower on a loaded 2-core machine.
    """
    for name in _THREAD_VARIABLES:
        os.environ[name] = "1"


def describe_error(exc: BaseException) -> str:
    """A task's exception as the one line a build's failure list shows: "Type: message"."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _worker_main(conn: Connection, func: Callable[[Any], Any]) -> None:
    one_compute_thread()
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):  # parent gone (killed): exit quietly
            return
        if task is None:
            return
        try:
            result = ("ok", func(task))
        except Exception as exc:
            result = ("error", describe_error(exc))
        try:
            conn.send(result)
        except (BrokenPipeError, OSError):
            return


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT while a worker is spawned. The ignored disposition survives exec, and
    Python then installs no KeyboardInterrupt handler in the child: a Ctrl+C in the terminal
    (sent to every process of the group) reaches only the parent, which stops the workers,
    instead of printing a traceback per worker."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class _Worker:
    def __init__(self, ctx: Any, func: Callable[[Any], Any]):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, func), daemon=True)
        with _sigint_ignored():  # the child inherits "ignore": Ctrl+C is the parent's to handle
            self.process.start()
        child.close()
        self.task: Any = None
        self.started = 0.0

    def give(self, task: Any) -> None:
        self.task, self.started = task, time.monotonic()
        self.conn.send(task)

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        else:
            try:
                self.conn.send(None)
            except (BrokenPipeError, OSError):
                self.process.kill()
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


def run_tasks(
    func: Callable[[Any], Any], tasks: Iterable[Any], workers: int, timeout: float
) -> Iterator[Outcome]:
    """Run `func(task)` for every task on `workers` processes; yield outcomes as they finish.

    `func` must be importable by name (module-level) so spawned workers can unpickle it.
    """
    ctx = mp.get_context("spawn")
    pending = iter(tasks)
    pool: list[_Worker] = []
    first = list(itertools.islice(pending, max(1, workers)))
    pending = itertools.chain(first, pending)

    def feed(worker: _Worker) -> bool:
        task = next(pending, _DONE)
        if task is _DONE:
            return False
        worker.give(task)
        return True

    try:
        for _ in first:  # no more processes than tasks: spawning costs seconds
            worker = _Worker(ctx, func)
            pool.append(worker)
            feed(worker)
        while any(w.task is not None for w in pool):
            busy = [w for w in pool if w.task is not None]
            now = time.monotonic()
            wait_for = max(0.0, min(w.started + timeout - now for w in busy))
            ready = wait([obj for w in busy for obj in (w.conn, w.process.sentinel)], wait_for)
            for worker in busy:
                outcome = _collect(worker, ready, timeout)
                if outcome is None:
                    continue
                worker.task = None
                if outcome.crashed:
                    # The process is dead or killed: replace it before giving more work.
                    worker.stop(kill=True)
                    pool.remove(worker)
                    worker = _Worker(ctx, func)
                    pool.append(worker)
                if not feed(worker):
                    worker.stop()
                    pool.remove(worker)
                # Fed first, then handed over: the worker renders while the caller writes.
                yield outcome
    finally:
        for worker in pool:
            worker.stop(kill=worker.task is not None)


def _collect(worker: _Worker, ready: list[Any], timeout: float) -> Outcome | None:
    task = worker.task
    if worker.conn in ready:
        try:
            status, value = worker.conn.recv()
        except (EOFError, OSError):
            pass  # died while sending: handled as a crash below
        else:
            if status == "ok":
                return Outcome(task, True, value=value)
            return Outcome(task, False, error=value)
    if worker.process.sentinel in ready or worker.conn in ready:
        worker.process.join(timeout=1)
        code = worker.process.exitcode
        return Outcome(
            task, False, error=f"worker crashed (exit code {code}) on this preset", crashed=True
        )
    if time.monotonic() - worker.started >= timeout:
        return Outcome(
            task, False, error=f"worker timed out after {timeout:g} s on this preset", crashed=True
        )
    return None
