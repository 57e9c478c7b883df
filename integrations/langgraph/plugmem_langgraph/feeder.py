"""`Feeder`: the checkpointer's second job, feeding each thread's new messages into memory.

Why apart from the checkpointer: a checkpoint must be stored at once, in the saver's transaction;
feeding memory can wait until the graph is quiet, so that a run's burst of steps becomes one
`memory.add` per thread, made between steps rather than during them. `PlugMemSaver` queues one
job per checkpoint (`put`) and gives the feeder a callback, `load_fed`, to read what its table
`lg_fed` says was fed already; the feeder keeps what it fed since in RAM until the saver writes it
with its next commit (`take_records`). The feeder never touches the saver's connection, and does
not import the saver.

Inside, `_Batcher` is the thread: it starts with the first job, sleeps on a clock rather than on
the queue (a burst does not wake it once per job), survives any error, and `flush()` skips the wait.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar, cast

from langchain_core.messages import AIMessage, BaseMessage

from plugmem import (
    InvalidInputError,
    MemoryPolicy,
    NamespaceKey,
    PlugMem,
    PolicyError,
    ns_key,
    parse_timestamp,
    validate_namespace,
)
from plugmem_langgraph.messages import storable_message
from plugmem_langgraph.policies import namespace_for

__all__ = ["FALLBACK_NAMESPACE_PREFIX", "FeedJob", "Feeder"]

log = logging.getLogger("plugmem.langgraph.checkpoint")

J = TypeVar("J")
FALLBACK_NAMESPACE_PREFIX = "threads"
DRAIN_MAX = 256  # jobs handed to the callback per batch
_FED_CACHE_THREADS = 512  # threads whose fed-message digests stay in RAM
FedKey = tuple[NamespaceKey, str]  # (namespace key, thread id)
FedRow = tuple[NamespaceKey, str, str, str]  # (namespace key, thread id, message id, digest)
_WAKE = object()  # queued by flush(): handle what is waiting now, without the batching delay


class _Batcher(Generic[J]):
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


@dataclass(slots=True)
class FeedJob:
    """One checkpoint's message list, waiting for the feed thread."""

    thread_id: str
    configurable: dict[str, Any]
    messages: list[Any]
    ts: str | None
    checkpoint_id: str = ""


@dataclass(slots=True)
class _FeedGroup:
    """The new messages of one (namespace, thread) within one batch."""

    namespace: tuple[str, ...]
    thread_id: str
    timestamp: datetime | None
    pending: dict[str, tuple[str, BaseMessage]] = field(default_factory=dict)  # id -> (digest, message)


class Feeder:
    """Adds the new messages of queued checkpoints to memory, one `memory.add` per (namespace, thread).

    Args:
        memory: where messages go (None: jobs are dropped, for a saver without memory).
        policy: `store_roles` and the namespace template; `namespace` a fixed namespace instead.
        load_fed: (namespace key, thread) -> {message id: digest} recorded as fed in `lg_fed`.
        delay, max_delay: the batching wait (see `PlugMemSaver`).
    """

    def __init__(
        self,
        memory: PlugMem | None,
        *,
        policy: MemoryPolicy,
        namespace: tuple[str, ...] | None,
        load_fed: Callable[[FedKey], dict[str, str]],
        delay: float,
        max_delay: float,
    ) -> None:
        self.memory = memory
        self.policy = policy
        self.namespace = namespace
        self._load_fed = load_fed
        self.feed_errors = 0
        self.fed_messages = 0
        self.last_feed_error: BaseException | None = None
        self._warned_fallback = False
        self._batcher: _Batcher[FeedJob] = _Batcher(
            self._feed, on_error=self.failed, delay=delay, max_delay=max_delay, name="plugmem-saver-feed"
        )
        self._lock = threading.Lock()
        self._cache: OrderedDict[FedKey, dict[str, str]] = OrderedDict()
        # fed but not yet in lg_fed: written by the saver's next transaction (no extra commit)
        self._unrecorded: dict[tuple[NamespaceKey, str, str], str] = {}
        self._settled: dict[
            str, str
        ] = {}  # thread -> checkpoint id fully fed, cleared from lg_unfed next commit

    # -- what the saver calls ------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Checkpoints queued and not handled yet."""
        return self._batcher.pending

    def put(self, job: FeedJob) -> None:
        """Queue one checkpoint's messages; the thread starts with the first."""
        self._batcher.put(job)

    def flush(self, timeout: float | None = None) -> bool:
        """Feed what is queued now and wait; True if nothing is pending any more."""
        return self._batcher.flush(timeout)

    def stop(self, timeout: float | None = None) -> None:
        """End the thread after what is queued."""
        self._batcher.stop(timeout)

    def settle(self, thread_id: str, checkpoint_id: str) -> None:
        """A checkpoint with nothing to feed (e.g. a DeltaChannel step): its lg_unfed mark can go."""
        with self._lock:
            self._settled[thread_id] = checkpoint_id

    @property
    def has_records(self) -> bool:
        """Whether fed messages or settled checkpoints wait to be written by the saver."""
        return bool(self._unrecorded or self._settled)

    def take_records(self) -> tuple[list[FedRow], list[tuple[str, str]]]:
        """The fed rows for `lg_fed` and the (thread, checkpoint) marks to clear from `lg_unfed`."""
        with self._lock:
            rows = [(ns, tid, mid, digest) for (ns, tid, mid), digest in self._unrecorded.items()]
            self._unrecorded.clear()
            settled = list(self._settled.items())
            self._settled.clear()
        return rows, settled

    def restore_records(self, rows: list[FedRow], settled: list[tuple[str, str]]) -> None:
        """Put back what `take_records` gave when the saver's transaction failed."""
        with self._lock:
            for ns, tid, mid, digest in rows:
                self._unrecorded.setdefault((ns, tid, mid), digest)
            for tid, cid in settled:
                self._settled.setdefault(tid, cid)

    def forget_thread(self, thread_id: str) -> None:
        """Drop a thread's cached fed digests (its lg_fed rows were deleted or replaced)."""
        with self._lock:
            for key in [k for k in self._cache if k[1] == thread_id]:
                del self._cache[key]

    def failed(self, exc: BaseException, what: str) -> None:
        """Count and log a failure; the checkpoint itself is stored."""
        self.feed_errors += 1
        self.last_feed_error = exc
        log.warning(
            "PlugMemSaver: %s failed (%s: %s); the checkpoint is stored", what, type(exc).__name__, exc
        )

    def storable(self, m: Any) -> tuple[str, str, BaseMessage] | None:
        """(id, content digest, message to add) for a message memory should keep, else None."""
        try:
            item = storable_message(
                m,
                store_roles=self.policy.store_roles,
                max_chars=self.memory.policy.max_message_chars if self.memory is not None else None,
            )
        except InvalidInputError:
            return None  # content blocks memory cannot read (e.g. audio); nothing to remember
        if item is None:
            return None
        h = hashlib.blake2b(digest_size=12)
        h.update(f"{m.type}\x00{m.name or ''}\x00{item.text}\x00".encode())
        calls = m.tool_calls if isinstance(m, AIMessage) else []
        if calls:
            h.update(
                json.dumps(
                    [[c.get("name"), c.get("args")] for c in calls], sort_keys=True, default=str
                ).encode()
            )
        return item.id, h.hexdigest(), item.message

    # -- on the feed thread --------------------------------------------------------------
    def _feed(self, jobs: list[FeedJob]) -> None:
        """Add the new messages of a batch: one `memory.add` per (namespace, thread)."""
        memory = self.memory
        if memory is None:
            return
        groups, failed = self._group(jobs)
        done: list[FedRow] = []
        for key, group in groups.items():
            if group.pending:
                added = self._add(memory, group)
                done.extend((key[0], key[1], mid, digest) for mid, digest in added)
                if len(added) < len(group.pending):
                    failed.add(key[1])
        with self._lock:
            for job in jobs:  # fully fed: its lg_unfed mark goes with the next commit
                if job.thread_id not in failed:
                    self._settled[job.thread_id] = job.checkpoint_id
            for nsk, tid, mid, digest in done:
                self._unrecorded[(nsk, tid, mid)] = digest
                cached = self._cache.get((nsk, tid))
                if cached is not None:
                    cached[mid] = digest

    def _group(self, jobs: list[FeedJob]) -> tuple[dict[FedKey, _FeedGroup], set[str]]:
        """The messages of `jobs` not fed yet, per (namespace, thread), a later edit replacing an earlier
        one; and the threads whose namespace could not be resolved (their lg_unfed mark stays)."""
        groups: dict[FedKey, _FeedGroup] = {}
        failed: set[str] = set()
        for job in jobs:
            try:
                ns = self._namespace_of(job)
            except Exception as exc:
                self.failed(exc, f"resolving the memory namespace of thread {job.thread_id!r}")
                failed.add(job.thread_id)
                continue
            key = (ns_key(ns), job.thread_id)
            fed = self._fed(key)
            group = groups.get(key)
            for m in job.messages:
                item = self.storable(m)
                if item is None:
                    continue
                mid, digest, msg = item
                if fed.get(mid) == digest:
                    continue
                if group is None:
                    group = groups[key] = _FeedGroup(ns, job.thread_id, _timestamp(job.ts))
                known = group.pending.get(mid)
                if known is None or known[0] != digest:
                    group.pending[mid] = (digest, msg)  # a later edit replaces the earlier one in place
        return groups, failed

    def _namespace_of(self, job: FeedJob) -> tuple[str, ...]:
        if self.namespace is not None:
            return self.namespace
        try:
            return namespace_for(self.policy, {"configurable": job.configurable})
        except PolicyError as exc:
            fallback = validate_namespace((FALLBACK_NAMESPACE_PREFIX, job.thread_id))
            if not self._warned_fallback:
                self._warned_fallback = True
                log.warning(
                    "PlugMemSaver: %s; feeding thread %r into its own namespace %r "
                    "(pass namespace=... or the template's keys in config['configurable'])",
                    exc,
                    job.thread_id,
                    fallback,
                )
            return fallback

    def _fed(self, key: FedKey) -> dict[str, str]:
        """Message id -> digest already fed for (namespace key, thread), cached for recent threads."""
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        fed = self._load_fed(key)
        with self._lock:
            fed.update({k[2]: d for k, d in self._unrecorded.items() if k[:2] == key})
            self._cache[key] = fed
            while len(self._cache) > _FED_CACHE_THREADS:
                self._cache.popitem(last=False)
        return fed

    def _add(self, memory: PlugMem, group: _FeedGroup) -> list[tuple[str, str]]:
        """Add one group; returns the (id, digest) pairs now settled (fed, or rejected as invalid)."""
        items = list(group.pending.items())
        try:
            memory.add(
                [msg for _, (_, msg) in items],
                namespace=group.namespace,
                session_id=group.thread_id,
                timestamp=group.timestamp,
                on_conflict="replace",  # an edited message (same id) replaces what memory learned from it
            )
        except InvalidInputError:
            pass  # one bad message rejects the batch; add them one by one below
        except Exception as exc:
            self.failed(exc, f"adding thread {group.thread_id!r} to memory")
            return []
        else:
            self.fed_messages += len(items)
            return [(mid, digest) for mid, (digest, _) in items]
        settled: list[tuple[str, str]] = []
        for mid, (digest, msg) in items:
            try:
                memory.add(
                    [msg],
                    namespace=group.namespace,
                    session_id=group.thread_id,
                    timestamp=group.timestamp,
                    on_conflict="replace",
                )
                self.fed_messages += 1
            except InvalidInputError as exc:
                # skipped until its content changes, so one bad message cannot block the thread
                self.failed(exc, f"adding message {mid!r} of thread {group.thread_id!r}")
            except Exception as exc:
                self.failed(exc, f"adding thread {group.thread_id!r} to memory")
                break
            settled.append((mid, digest))
        return settled


def _timestamp(ts: str | None) -> datetime | None:
    if not ts:
        return None
    try:
        return parse_timestamp(ts, what="checkpoint ts")
    except InvalidInputError:
        return None
