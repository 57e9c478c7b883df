"""The ingest pipeline behind `add`: logged steps → events, knowledge → indexes.

Runs in one background thread, in batches. A batch is committed in one SQLite
transaction together with marking its steps processed, after its documents reached
the vector index, so a crash at any point replays the batch (ids are deterministic,
upserts idempotent) and loses nothing.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence

from plugmem.errors import IngestStalledError
from plugmem.index.catalog import Catalog, Doc, step_doc
from plugmem.index.embeddings import CachedEmbeddings
from plugmem.llm_roles import ChatModels
from plugmem.model import Step
from plugmem.policy import MemoryPolicy
from plugmem.storage.sqlite import SQLiteStore
from plugmem.structure import Structurer
from plugmem.tokens import TokenCounter

log = logging.getLogger("plugmem")

BATCH = 512
MAX_ATTEMPTS = 3
COALESCE_S = 0.05  # let a burst of add() calls gather into one embedding batch


class Pipeline:
    def __init__(
        self,
        *,
        store: SQLiteStore,
        catalog: Callable[[str], Catalog],
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
        self._work_lock = threading.Lock()  # held while a batch is processed
        self.last_error: str | None = None
        self.stalled: str | None = None  # set when a batch could not even be indexed raw

    # -- worker ---------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="plugmem-ingest", daemon=True)
        self._thread.start()
        self.notify()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def notify(self) -> None:
        with self._cond:
            self._wake = True
            self._cond.notify_all()

    def wait_idle(self, timeout: float | None, *, stalled_ok: bool = False) -> None:
        """Block until nothing is pending (or `timeout` seconds passed).

        Raises `IngestStalledError` when the worker went idle with work it could not do,
        unless `stalled_ok` (callers that must proceed anyway, such as `forget`).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._thread is None:  # no worker: process inline
            self.stalled = None
            while self.run_once():
                pass
            self._raise_if_stalled(stalled_ok)
            return
        self.notify()
        while True:
            with self._cond:
                if not self._busy and not self._wake:
                    if self.store.pending_count() == 0:
                        return
                    if self.stalled is not None:
                        self._raise_if_stalled(stalled_ok)
                        return
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(f"flush timed out with {self.store.pending_count()} steps pending")
                self._cond.wait(0.05 if remaining is None else min(0.05, remaining))

    def _raise_if_stalled(self, stalled_ok: bool) -> None:
        if self.stalled is None or stalled_ok:
            return
        n = self.store.pending_count()
        if n:
            raise IngestStalledError(
                f"{n} logged steps could not be processed ({self.stalled}); they stay in the log "
                "and are retried on the next add, flush or open"
            )

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._wake and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                self._wake = False
                self._busy = True
                self.stalled = None
            time.sleep(COALESCE_S)
            try:
                while not self._stop and self.run_once():
                    pass
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def run_once(self) -> bool:
        """Process one batch; False when nothing was pending or the batch could not be processed."""
        with self._work_lock:
            steps = self.store.pending_steps(BATCH)
            if not steps:
                return False
            by_ns: dict[str, list[Step]] = defaultdict(list)
            for s in steps:
                by_ns[s.namespace].append(s)
            done = True
            for ns, batch in by_ns.items():
                done = self._process_with_retries(ns, batch) and done
            return done

    def _process_with_retries(self, namespace: str, steps: list[Step]) -> bool:
        """True once the steps are processed (structured, or at least indexed raw)."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                self._process(namespace, steps, structure=True)
                return True
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("plugmem: ingest attempt %d failed: %s", attempt, self.last_error)
                self.store.bump({"ingest.retries": 1})
                if attempt == MAX_ATTEMPTS:
                    self.store.record_failure(
                        namespace,
                        "ingest",
                        self.last_error,
                        attempt,
                        {"step_ids": [s.id for s in steps], "trace": traceback.format_exc(limit=5)},
                    )
                    # keep the raw turns recallable even when structuring keeps failing
                    try:
                        self._process(namespace, steps, structure=False)
                    except Exception as exc2:  # not even indexable: leave them pending, stop this round
                        self.stalled = f"{type(exc2).__name__}: {exc2}"
                        self.store.record_failure(
                            namespace, "index", self.stalled, attempt, {"step_ids": [s.id for s in steps]}
                        )
                        return False
                    return True
                time.sleep(0.05 * attempt)
        return False  # unreachable: the last attempt returns

    def _process(self, namespace: str, steps: list[Step], *, structure: bool) -> None:
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
        if result is not None:
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
        cat.put(docs, embed=False)
        missing = cat.missing_vectors()
        if missing:
            log.info("plugmem: re-indexing %d vectors missing from namespace %s", len(missing), ns)
            cat.put(missing, embed=True)

    def _pending_ids(self, ns: str) -> set[str]:
        return {
            r[0] for r in self.store.query("SELECT id FROM steps WHERE namespace = ? AND state = 0", (ns,))
        }

    def forget_steps(self, namespace: str, ids: Sequence[str], before_rebuild: Callable[[], None]) -> int:
        """Delete steps; derived structure of the namespace is dropped and rebuilt."""
        with self._work_lock:
            n = self.store.delete_steps(namespace, ids)
            before_rebuild()
            with self.store.tx() as c:
                for t in ("events", "knowledge", "entities", "summaries", "edges"):
                    c.execute(f"DELETE FROM {t} WHERE namespace = ?", (namespace,))
                c.execute("UPDATE steps SET state = 0 WHERE namespace = ?", (namespace,))
        self.notify()
        return n
