"""The ingest pipeline behind `add`: logged steps → events, knowledge → indexes.

Runs in one background thread, in batches of one namespace at a time. A batch is committed
in one SQLite transaction together with marking its steps processed, after its documents
reached the vector index, so a crash at any point replays the batch (ids are deterministic,
upserts idempotent) and loses nothing.

Why it cannot die or block others: each namespace is its own queue, served round-robin (a
namespace a reader is waiting for goes first, in small batches), so one tenant's import
never holds another's read-your-writes. A batch that fails is retried, then split; a step
that fails on its own is quarantined (recorded, retried with backoff, shown in `stats()`)
while everything else flows. A storage failure (a full disk) pauses ingest and it resumes
by itself once a write succeeds. The loop runs under a supervisor that restarts it after
any exception, and `notify()` restarts a thread that died.

Lock order (the only one): namespace work lock → PlugMem's catalog lock → store lock. The
worker holds a namespace's lock while it processes that namespace; `forget` and
`add(on_conflict="replace")` hold the same lock for their one transaction.

Several processes on one shared store (PostgreSQL): each worker claims a namespace in the
store before deriving it (`Store.claim`, a row lock taken with SKIP LOCKED) and reads its
pending steps only once the claim is held, so a batch is derived once, by whichever process
got there first; a namespace another process holds is skipped, and an idle worker polls
(`POLL_S`) for work that a process which stopped or died left behind.
"""

from __future__ import annotations

import errno
import logging
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence

from plugmem.errors import (
    IngestStalledError,
    IngestTimeoutError,
    PlugMemError,
    StorageError,
    StorageFullError,
)
from plugmem.index.catalog import Catalog, Doc, knowledge_doc, step_doc, turn_text
from plugmem.index.embeddings import CachedEmbeddings
from plugmem.llm_roles import ChatModels
from plugmem.model import Step
from plugmem.namespace import NamespaceKey
from plugmem.policy import MemoryPolicy
from plugmem.priority import lower_thread_priority
from plugmem.storage.base import Store
from plugmem.structure import Structurer
from plugmem.tokens import TokenCounter

log = logging.getLogger("plugmem")

BATCH = 128  # one namespace's batch; a reader of another namespace waits for at most one
SHARED_BATCH = 64  # batch size while a reader of another namespace is waiting
MAX_ATTEMPTS = 3  # whole-batch attempts before the batch is split (its halves get one each)
COALESCE_S = 0.05  # let a burst of add() calls gather into one embedding batch
PAUSE_S = 1.0  # retry interval while storage is failing (e.g. a full disk)
MAX_RESTART_S = 5.0
POLL_S = 0.5  # shared store: how often an idle worker looks for work other processes left


def is_storage_failure(exc: BaseException) -> bool:
    """A failure of the disk rather than of the item: pause, do not quarantine."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, StorageError):
            return True
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
            return True
        text = str(seen).lower()
        if "disk is full" in text or "no space left" in text:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class Pipeline:
    def __init__(
        self,
        *,
        store: Store,
        catalog: Callable[[NamespaceKey], Catalog],
        embeddings: CachedEmbeddings | None,
        policy: MemoryPolicy,
        models: ChatModels,
        tokens: TokenCounter,
        prompt_overrides: Mapping[str, str] | None = None,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.embeddings = embeddings
        self.policy = policy
        self.structurer = Structurer(
            store=store,
            embeddings=embeddings,
            policy=policy,
            models=models,
            tokens=tokens,
            prompt_overrides=prompt_overrides,
        )
        self._cond = threading.Condition()
        self._busy = False
        self._stop = False
        self._wake = False
        self._thread: threading.Thread | None = None
        self._locks: dict[NamespaceKey, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._waiting: dict[NamespaceKey, int] = {}  # namespaces a read-your-writes recall is waiting for
        self._last_ns: NamespaceKey | None = None  # round-robin position
        self._active: NamespaceKey | None = None  # the namespace a batch is being processed for
        self.last_error: str | None = None
        self.paused: PlugMemError | None = None  # storage failing: ingest waits and retries
        self.restarts = 0

    def ns_lock(self, namespace: NamespaceKey) -> threading.Lock:
        """The work lock of one namespace (see the lock order in the module docstring)."""
        with self._locks_guard:
            lock = self._locks.get(namespace)
            if lock is None:
                lock = self._locks[namespace] = threading.Lock()
            return lock

    # -- worker and its supervisor ------------------------------------------------------
    def start(self) -> None:
        self._stop = False
        self._spawn()
        self.notify()

    def _spawn(self) -> None:
        self._thread = threading.Thread(target=self._supervise, name="plugmem-ingest", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def notify(self) -> None:
        thread = self._thread
        if thread is not None and not thread.is_alive() and not self._stop:
            self.restarts += 1
            log.error("plugmem: the ingest worker had stopped; restarting it")
            self._spawn()
        with self._cond:
            self._wake = True
            self._cond.notify_all()

    def _supervise(self) -> None:
        """Run the loop; after any exception, log it and start the loop again (backing off)."""
        lower_thread_priority(self.policy.ingest_niceness)
        delay = 0.1
        while not self._stop:
            try:
                self._loop()
                return
            except BaseException as exc:  # the worker must outlive anything a batch can throw
                self.last_error = f"{type(exc).__name__}: {exc}"
                self.restarts += 1
                log.exception("plugmem: ingest loop failed; restarting it in %.1f s", delay)
                with self._cond:
                    self._busy = False
                    self._wake = True
                    self._cond.notify_all()
                time.sleep(delay)
                delay = min(MAX_RESTART_S, delay * 2)

    def _loop(self) -> None:
        while True:
            with self._cond:
                if not self._wake and not self._stop:
                    self._cond.wait(self._idle_timeout())
                if self._stop:
                    return
                self._wake = False
                self._busy = True
            try:
                time.sleep(COALESCE_S)
                while not self._stop and self.run_once():
                    pass
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _idle_timeout(self) -> float | None:
        """How long the idle worker may sleep: until storage is retried or a quarantined step is due."""
        if self.paused is not None:
            return PAUSE_S
        try:
            due = self.store.next_quarantine_retry()
        except PlugMemError:
            return PAUSE_S
        wait = None if due is None else max(0.05, due - time.time())
        if self.store.shared:
            return POLL_S if wait is None else min(POLL_S, wait)
        return wait

    # -- waiting ------------------------------------------------------------------------
    def wait_idle(self, timeout: float | None) -> None:
        """`flush()`: retry quarantined steps now and wait until nothing is pending.

        Raises `IngestTimeoutError` after `timeout` seconds, and `IngestStalledError` when
        ingest is paused (storage failing) or steps stay quarantined.
        """
        try:
            self.store.release_quarantined(None)
        except PlugMemError as exc:
            self._pause(exc)
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._thread is None:  # no worker: process inline
            while self.run_once():
                pass
        else:
            self.notify()
            while not self._idle():
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise IngestTimeoutError(
                        f"flush timed out after {timeout} s with {self.store.pending_count()} steps pending; "
                        "they stay logged and are processed in the background"
                    )
                with self._cond:
                    self._cond.wait(0.05 if remaining is None else min(0.05, remaining))
        self._raise_if_stalled()

    def _idle(self) -> bool:
        with self._cond:
            if self._busy or self._wake:
                return False
        return self.paused is not None or self.store.pending_count() == 0

    def _raise_if_stalled(self) -> None:
        if self.paused is not None:
            raise IngestStalledError(
                f"ingest is paused: {self.paused} ({self.store.pending_count()} steps wait in the log)"
            ) from self.paused
        stuck = self.store.quarantined()
        if stuck:
            raise IngestStalledError(
                f"{len(stuck)} logged steps could not be processed ({stuck[-1]['error']}); they are quarantined "
                "(stats().quarantined), stay in the log and are retried with backoff, on the next flush and on open"
            )

    def busy_with(self, namespace: NamespaceKey) -> bool:
        """True while `namespace` has logged steps not yet processed and indexed."""
        return self._active == namespace or self.store.pending_count(namespace) > 0

    def wait_namespace(self, namespace: NamespaceKey, timeout: float) -> bool:
        """Wait (at most `timeout` s) until `namespace` has nothing pending; True if it caught up.

        Only this namespace's queue is waited for: the worker serves it next, in small batches.
        """
        if self._thread is None:
            while self.run_once():
                pass
            return self.store.pending_count(namespace) == 0
        deadline = time.monotonic() + timeout
        with self._cond:
            self._waiting[namespace] = self._waiting.get(namespace, 0) + 1
        try:
            self.notify()
            while self.busy_with(namespace):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.paused is not None:
                    return False
                with self._cond:
                    self._cond.wait(min(0.05, remaining))
            return True
        finally:
            with self._cond:
                self._waiting[namespace] -= 1
                if not self._waiting[namespace]:
                    del self._waiting[namespace]

    # -- one round ------------------------------------------------------------------------
    def run_once(self) -> bool:
        """Process one batch of one namespace; False when nothing was pending or storage is failing."""
        try:
            due = self.store.next_quarantine_retry()
            if due is not None and due <= time.time():
                self.store.release_quarantined(time.time())
            namespaces = self.store.pending_namespaces()
        except PlugMemError as exc:
            self._pause(exc)
            return False
        if not namespaces:
            self._resume()
            return False
        try:
            for ns, size in self._order(namespaces):
                if self._serve(ns, size):
                    return True
        except Exception as exc:
            if not is_storage_failure(exc):
                raise
            self._pause(exc)
        return False  # each pending namespace is being derived by another process

    def _serve(self, ns: NamespaceKey, size: int) -> bool:
        """One batch of `ns`, if this process can claim it (False: another process holds it)."""
        with self.ns_lock(ns), self.store.claim(ns, wait=False) as held:
            if not held:
                return False
            self._active = ns  # its steps are marked processed at commit, its derived docs indexed just after
            try:
                steps = self.store.pending_steps(ns, size)  # read under the claim: none is derived twice
                if steps:
                    self._ingest(ns, steps)
                self._resume()
            finally:
                self._active = None
        return True

    def _order(self, namespaces: list[NamespaceKey]) -> list[tuple[NamespaceKey, int]]:
        """The namespace to serve next (see `_pick`), then the others as fallbacks if it is claimed."""
        ns, size = self._pick(namespaces)
        return [(ns, size)] + [(n, BATCH) for n in namespaces if n != ns]

    def _pick(self, namespaces: list[NamespaceKey]) -> tuple[NamespaceKey, int]:
        """The namespace to serve next and its batch size: waited-for first, else round-robin."""
        with self._cond:
            waited = [n for n in namespaces if n in self._waiting]
        if waited:
            ns = waited[0]
        elif self._last_ns in namespaces:
            ns = namespaces[(namespaces.index(self._last_ns) + 1) % len(namespaces)]
        else:
            ns = namespaces[0]
        self._last_ns = ns
        others_wait = any(n != ns for n in waited)
        return ns, SHARED_BATCH if others_wait else BATCH

    def _pause(self, exc: BaseException) -> None:
        if self.paused is None:
            log.warning("plugmem: ingest paused, retrying every %.0f s: %s", PAUSE_S, exc)
        self.paused = exc if isinstance(exc, PlugMemError) else StorageFullError(str(exc))

    def _resume(self) -> None:
        if self.paused is not None:
            log.warning("plugmem: storage is writable again; ingest resumed")
            self.paused = None

    def _ingest(self, namespace: NamespaceKey, steps: list[Step], attempts: int = MAX_ATTEMPTS) -> None:
        """Structure and index steps; on failure retry, then split; a lone failing step is quarantined."""
        for attempt in range(1, attempts + 1):
            try:
                self._process(namespace, steps, structure=True)
                return
            except Exception as exc:
                if is_storage_failure(exc):
                    raise
                self._note_failure(exc, attempt, attempts)
        if len(steps) > 1:
            mid = len(steps) // 2
            self._ingest(namespace, steps[:mid], 1)
            self._ingest(namespace, steps[mid:], 1)
            return
        ids = [s.id for s in steps]
        self.store.record_failure(
            namespace,
            "ingest",
            self.last_error or "",
            MAX_ATTEMPTS,
            {"step_ids": ids, "trace": traceback.format_exc(limit=5)},
        )
        try:  # keep the raw turn recallable even when structuring it keeps failing
            self._process(namespace, steps, structure=False)
        except Exception as exc:
            if is_storage_failure(exc):
                raise
            error = f"{type(exc).__name__}: {exc}"
            log.warning("plugmem: quarantined step %s of %s: %s", ids[0], namespace, error)
            self.store.quarantine(namespace, ids, error, time.time())
            self.store.record_failure(namespace, "quarantine", error, MAX_ATTEMPTS + 1, {"step_ids": ids})

    def _note_failure(self, exc: Exception, attempt: int, attempts: int) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        log.warning("plugmem: ingest attempt %d failed: %s", attempt, self.last_error)
        self.store.bump({"ingest.retries": 1})
        if attempt < attempts:
            time.sleep(0.05 * attempt)

    def _process(self, namespace: NamespaceKey, steps: list[Step], *, structure: bool) -> None:
        cat = self.catalog(namespace)
        turn_docs = [step_doc(s, prev) for s, prev in zip(steps, self._previous(steps), strict=True)]
        cat.put(turn_docs)
        result = None
        if structure and self.policy.extract_knowledge:
            result = self.structurer.build(namespace, steps, cat)
        with self.store.tx() as c:
            if result is not None:
                result.persist(self.store, c)
            self.store.mark_processed(c, steps)
            gen = self.store.next_generation(c, namespace)
        if cat.generation == gen - 1:  # this catalog holds what the batch changed (below); no reload
            cat.generation = gen
        if result is not None:
            self.structurer.committed(result, gen)
            cat.remove(result.removed_doc_ids)
            cat.put(result.docs)
            if result.counters:
                self.store.bump(result.counters)
            for f in result.failures:  # recorded, never silently dropped; raw turns stay recallable
                self.store.record_failure(
                    namespace, f"extract:{f.extractor}", f.error, f.attempts, {"event_ids": f.event_ids}
                )

    def _previous(self, steps: list[Step]) -> list[Step | None]:
        """The step before each one in its session (from the batch, else the store)."""
        last: dict[str, Step] = {}
        out: list[Step | None] = []
        for s in steps:
            prev = last.get(s.session_id)
            if prev is None:
                tail = self.store.session_tail(s.namespace, s.session_id, s.seq, 1)
                prev = tail[-1] if tail else None
            out.append(prev)
            last[s.session_id] = s
        return out

    # -- catalog loading and deletion -----------------------------------------------------
    def load_catalog(self, cat: Catalog) -> None:
        """Fill a catalog from SQLite and repair vectors the index lost."""
        ns = cat.namespace
        pending = self._pending_ids(ns)
        docs: list[Doc] = []
        last: dict[str, Step] = {}
        for s in self.store.steps(ns):
            if s.id not in pending:
                docs.append(step_doc(s, last.get(s.session_id)))
            last[s.session_id] = s
        docs += self.structurer.docs_from_store(ns)
        cat.load(docs)
        stale = cat.extra_vectors()
        if stale:  # e.g. a crash between a forget's commit and its vector deletion
            log.info("plugmem: removing %d stale vectors from namespace %s", len(stale), ns)
            cat.drop_vectors(stale)
        missing = cat.missing_vectors()
        if missing:
            log.info("plugmem: re-indexing %d vectors missing from namespace %s", len(missing), ns)
            cat.embed(missing)

    def doc_texts(self, ns: NamespaceKey, ids: Sequence[str]) -> dict[str, str]:
        """The texts of catalog documents, read from the store (a large catalog does not hold them)."""
        by_kind: dict[str, list[str]] = {}
        for i in ids:
            by_kind.setdefault(i[:2], []).append(i[2:])
        out = {"t:" + s.id: turn_text(s) for s in self.store.steps(ns, ids=by_kind.get("t:", []))}
        out |= {"e:" + e.id: e.summary for e in self.store.events_by_id(ns, by_kind.get("e:", []))}
        out |= {
            "k:" + k.id: knowledge_doc(k).text for k in self.store.knowledge_by_id(ns, by_kind.get("k:", []))
        }
        out |= {"s:" + m.id: m.text for m in self.store.summaries_by_id(ns, by_kind.get("s:", []))}
        return out

    def _pending_ids(self, ns: NamespaceKey) -> set[str]:
        return self.store.unprocessed_ids(ns)
