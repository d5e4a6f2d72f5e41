"""The bounded queue between the daemon's socket loop and its matcher thread.

The loop owns the socket: it reads each message, checks its frame count and size, and queues
it here; the matcher thread takes requests one at a time, in arrival order, and hands each
reply back. The queue is bounded in requests and in bytes: a request beyond either is refused
at once (`busy`) instead of queueing without end.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Job:
    """One request: its routing envelope, body frames, size in bytes, and the socket epoch it
    came in on (a reply is sent only on the same socket)."""

    envelope: list[bytes]
    body: list[Any]
    size: int
    epoch: int = 0


class WorkQueue:
    """A FIFO of Jobs with a count and a byte limit, for one consumer thread."""

    def __init__(self, max_requests: int, max_bytes: int):
        self.max_requests = int(max_requests)
        self.max_bytes = int(max_bytes)
        self._jobs: deque[Job] = deque()
        self._bytes = 0
        self._closed = False
        self._in_flight = 0
        self._cond = threading.Condition()

    def __len__(self) -> int:
        with self._cond:
            return len(self._jobs)

    @property
    def bytes(self) -> int:
        with self._cond:
            return self._bytes

    def offer(self, job: Job) -> bool:
        """Queue `job` unless the queue is full or closed; False when refused."""
        with self._cond:
            full = len(self._jobs) >= self.max_requests or (
                self._jobs and self._bytes + job.size > self.max_bytes
            )
            if self._closed or full:
                return False
            self._jobs.append(job)
            self._bytes += job.size
            self._cond.notify()
            return True

    def take(self) -> Job | None:
        """The next job, waiting for one; None once the queue is closed."""
        with self._cond:
            while not self._jobs and not self._closed:
                self._cond.wait()
            if self._closed:
                return None
            job = self._jobs.popleft()
            self._bytes -= job.size
            self._in_flight += 1
            return job

    def done(self) -> None:
        """The consumer finished the job it took last."""
        with self._cond:
            self._in_flight -= 1

    @property
    def in_flight(self) -> bool:
        """True while the consumer works on a job it took."""
        with self._cond:
            return self._in_flight > 0

    def drain(self) -> list[Job]:
        """Remove and return every queued job (they will not be served)."""
        with self._cond:
            jobs = list(self._jobs)
            self._jobs.clear()
            self._bytes = 0
            return jobs

    def close(self) -> None:
        """Wake the consumer for good: `take` returns None from now on."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class Worker:
    """The matcher thread: takes jobs and hands each to `handle` (which replies), in order."""

    def __init__(self, queue: WorkQueue, handle: Callable[[Job], None]):
        self.queue = queue
        self._handle = handle
        self._thread = threading.Thread(target=self._run, name="cir-matcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while (job := self.queue.take()) is not None:
            try:
                self._handle(job)
            finally:
                self.queue.done()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive()
