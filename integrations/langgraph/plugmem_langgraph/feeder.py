"""`Feeder`: one background thread that hands queued jobs to a callback in batches, between bursts.

Why a thread of its own, apart from the checkpointer: a checkpoint must be stored at once, while
feeding memory can wait until the graph is quiet, so that a run's burst of steps becomes one
batch, handled between steps rather than during them. This module knows nothing of checkpoints or
memory: `PlugMemSaver` gives it a callback (`handle`) and an error sink (`on_error`), and queues
jobs. The thread starts with the first job, sleeps on a clock rather than on the queue (a burst
does not wake it once per job), survives any error of the callback, and `flush()` skips the wait.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar, cast

__all__ = ["Feeder"]

J = TypeVar("J")
DRAIN_MAX = 256  # jobs handed to the callback per batch
_WAKE = object()  # queued by flush(): handle what is waiting now, without the batching delay


class Feeder(Generic[J]):
    """Batches jobs for `handle(jobs)` on a daemon thread.

    Args:
        handle: called on the feeder's thread with each batch, in queue order.
        on_error: called with (exception, what failed) when `handle` raises; the thread goes on.
        delay, max_delay: a batch waits until no job arrived for `delay` seconds, or `max_delay`
            passed since the first one, or `flush()` asked.
        name: the thread's name.
    """

    def __init__(
        self,
        handle: Callable[[list[J]], None],
        *,
        on_error: Callable[[BaseException, str], None],
        delay: float,
        max_delay: float,
        name: str,
    ) -> None:
        self._handle = handle
        self._on_error = on_error
        self.delay = delay
        self.max_delay = max_delay
        self._name = name
        self._queue: queue.SimpleQueue[J | object | None] = queue.SimpleQueue()
        self._cv = threading.Condition()
        self._pending = 0  # jobs queued and not handled yet
        self._worker: threading.Thread | None = None
        self._last_put = 0.0  # time.monotonic() of the latest job
        self._wake = threading.Event()  # set by flush(): handle now

    @property
    def pending(self) -> int:
        """Jobs queued and not handled yet."""
        with self._cv:
            return self._pending

    def put(self, job: J) -> None:
        """Queue a job; the thread starts with the first one."""
        with self._cv:
            self._pending += 1
            self._last_put = time.monotonic()
            if self._worker is None:
                self._worker = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._worker.start()
        self._queue.put(job)

    def flush(self, timeout: float | None = None) -> bool:
        """Handle what is queued now and wait for it; True if nothing is pending any more."""
        with self._cv:
            if self._pending and self._worker is not None:
                self._wake.set()
                self._queue.put(_WAKE)
            return self._cv.wait_for(lambda: self._pending == 0, timeout)

    def stop(self, timeout: float | None = None) -> None:
        """End the thread after what is queued before this call (it is not restarted by later jobs)."""
        worker = self._worker
        if worker is None:
            return
        self._queue.put(None)
        if worker is not threading.current_thread():
            worker.join(timeout)
        self._worker = None

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            if first is not _WAKE:
                self._wait_for_quiet()
            flushing = self._wake.is_set() or first is _WAKE
            self._wake.clear()
            jobs, stop, drained = self._drain(first)
            if drained:
                flushing = False  # everything queued is in this batch
            if jobs:
                self._run(jobs)
            if flushing:
                self._wake.set()  # more than one batch was waiting: keep going without the delay
            if stop:
                return

    def _drain(self, first: J | object) -> tuple[list[J], bool, bool]:
        """(the batch, whether stop was asked, whether the queue was emptied) after `first`."""
        jobs: list[J] = [] if first is _WAKE else [cast(J, first)]
        while len(jobs) < DRAIN_MAX:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                return jobs, False, True
            if nxt is None:
                return jobs, True, False
            if nxt is not _WAKE:
                jobs.append(cast(J, nxt))
        return jobs, False, False

    def _run(self, jobs: list[J]) -> None:
        try:
            self._handle(jobs)
        except Exception as exc:  # the thread must survive; the caller retries with later jobs
            self._on_error(exc, "feeding memory")
        finally:
            with self._cv:
                self._pending -= len(jobs)
                self._cv.notify_all()

    def _wait_for_quiet(self) -> None:
        """Sleep until no job was queued for `delay`, `max_delay` passed, or flush() asked."""
        deadline = time.monotonic() + self.max_delay
        while True:
            until = min(self._last_put + self.delay, deadline)
            left = until - time.monotonic()
            if left <= 0 or self._wake.wait(left):
                return
