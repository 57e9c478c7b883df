"""`PlugMem`: the one object users hold.

Writes return once the steps are durably logged in the store; a background worker then
segments, extracts and indexes them. `flush()` waits for that work. Recall reads
the derived indexes through the scheduler, waiting (boundedly) only for its own
namespace's pending writes.

Where the memory lives: a directory (embedded: SQLite + Chroma on disk; one process owns it,
`plugmem.lock`) or a PostgreSQL URL (server: any number of processes share it; each keeps
its own search indexes, reloaded when another process changed a namespace). Locks, in the
one order they are taken: a namespace's work lock (pipeline) → `_catalog_lock` → the store's lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from langchain_core.embeddings import Embeddings

from plugmem.erase import Eraser, Unlinked, unlink, unlink_namespace
from plugmem.errors import (
    InvalidInputError,
    MemoryClosedError,
    MemoryNotFoundError,
    PlugMemError,
    StorageError,
    VectorServerError,
)
from plugmem.index import lexical_fts, lexical_pg, repair
from plugmem.index.catalog import Catalog
from plugmem.index.embeddings import CachedEmbeddings, default_embeddings, model_id_of
from plugmem.index.lexical import LexicalIndex
from plugmem.index.lexical_search import DropIn, EraseIn, LexicalBackends, LexicalSearch
from plugmem.index.vectors import VectorIndex, server_client
from plugmem.ingest.consolidate import match_keys
from plugmem.llm import usage_counters
from plugmem.llm_roles import ROLES, ChatModels, ModelLike
from plugmem.model import Step
from plugmem.namespace import NamespaceKey, ns_key
from plugmem.normalize import check_id, check_text, normalize, parse_timestamp
from plugmem.pipeline import Pipeline
from plugmem.policy import MemoryPolicy, RecallMode
from plugmem.prompts import Prompts, check_overrides
from plugmem.recall.engine import RecallEngine
from plugmem.recall.reason import reason_over
from plugmem.results import Recall, Stats
from plugmem.storage.base import Store, Tx
from plugmem.storage.lock import DirectoryLock
from plugmem.storage.postgres import PostgresDatabase, PostgresStore, is_postgres_url, redact
from plugmem.storage.sqlite import SQLiteDatabase, SQLiteStore
from plugmem.tokens import TokenCounter

log = logging.getLogger("plugmem")

Clock = Callable[[], datetime]
OnConflict = Literal["error", "replace"]
DB_FILE = "memory.sqlite"
CHROMA_DIR = "chroma"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class PlugMem:
    """Long-term memory for one or many agents, isolated by namespace."""

    def __init__(
        self,
        path: str | Path,
        *,
        policy: MemoryPolicy | None = None,
        embeddings: Embeddings | bool | None = True,
        llm: ModelLike | None = None,
        clock: Clock | None = None,
        chroma_client: Any = None,
        vectors: str | None = None,
        start_worker: bool = True,
        llms: Mapping[str, ModelLike] | None = None,
        prompts: Mapping[str, str] | None = None,
        create: bool = True,
    ) -> None:
        self._closed = True  # until the setup below succeeded
        self.url: str | None = str(path) if is_postgres_url(path) else None
        self.path = Path(redact(str(path))) if self.url else Path(path)
        self.models = ChatModels(llm, llms)  # checks role names before anything is created
        self.prompt_overrides = dict(prompts or {})
        check_overrides(self.prompt_overrides)
        self._dir_lock: DirectoryLock | None = None
        self._vector_dir: Path | None = None
        if self.url is None:
            self._lock_directory(create)
        try:
            self._setup(policy, embeddings, llm, clock, (chroma_client, vectors), create)
        except BaseException:
            if hasattr(self, "store"):
                self.store.close()
            self._release()
            raise
        self._closed = False
        if start_worker:
            self.pipeline.start()

    def _lock_directory(self, create: bool) -> None:
        """Check and take the memory directory (embedded backend): one process owns it."""
        if self.path.exists() and not self.path.is_dir():
            raise InvalidInputError(f"memory path {self.path} exists and is not a directory")
        if not create and not (self.path / DB_FILE).is_file():
            raise MemoryNotFoundError(
                f"{self.path} is not a plugmem memory (no {DB_FILE} in it); nothing was created. "
                "Check the path, or open it with create=True to start a new memory there"
            )
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            lock = DirectoryLock(self.path)
            lock.acquire()
        except OSError as exc:
            raise StorageError(
                f"cannot use {self.path} as a memory directory ({exc}); check that it is writable"
            ) from exc
        self._dir_lock = lock

    def _release(self) -> None:
        """Give back what open took beside the store: the directory lock, a server memory's vector cache."""
        if self._dir_lock is not None:
            self._dir_lock.release()
        if self._vector_dir is not None:
            vectors = getattr(self, "vectors", None)
            if vectors is not None:
                vectors.close()
            shutil.rmtree(self._vector_dir, ignore_errors=True)
            self._vector_dir = None

    def _setup(
        self,
        policy: MemoryPolicy | None,
        embeddings: Embeddings | bool | None,
        llm: ModelLike | None,
        clock: Clock | None,
        where_vectors: tuple[Any, str | None],
        create: bool,
    ) -> None:
        self.policy = policy or MemoryPolicy()
        self.llm = llm
        self.clock: Clock = clock or _utcnow
        self.tokens = TokenCounter()
        self.store: Store = (
            PostgresStore(self.url, create=create)
            if self.url
            else SQLiteStore(self.db_path, synchronous=self.policy.synchronous)
        )
        with contextlib.suppress(PlugMemError):  # a full disk must not stop the open; flush reports it
            self.store.release_quarantined(None)  # steps set aside get another try on every open
        self.store.rekey_knowledge(match_keys)  # facts from before schema 4 get their consolidation keys
        inner = (
            default_embeddings(self.policy.embedding_precision, self.store.has_vectors_of)
            if embeddings is True
            else (embeddings or None)
        )
        self.embeddings: CachedEmbeddings | None = None
        self.vectors: VectorIndex | None = None
        chroma_client = _vector_client(self.store, *where_vectors, recorded=inner is not None)
        self._owns_chroma = chroma_client is None  # Chroma on disk under the memory directory
        if inner is not None:
            mid = model_id_of(inner)
            self.embeddings = CachedEmbeddings(
                inner, model_id=mid, load=self.store.load_vectors, save=self.store.save_vectors
            )
            self.vectors = self._open_vectors(mid, chroma_client)
        self._erasers: list[Eraser] = []
        # large namespaces search words in the database's full-text index (SQLite FTS5, or the
        # tsvector table on PostgreSQL); another store keeps every namespace's index in RAM
        store = self.store
        on_disk: Callable[[NamespaceKey, bool], LexicalSearch | None] | None = None
        self._lexical_erase: tuple[EraseIn, DropIn] | None = None
        if isinstance(store, SQLiteStore):
            on_disk = functools.partial(lexical_fts.open_fts, store)
            self._lexical_erase = (lexical_fts.erase_in, lexical_fts.drop_in)
        elif isinstance(store, PostgresStore):
            on_disk = functools.partial(lexical_pg.open_pg, store)
            self._lexical_erase = (lexical_pg.erase_in, lexical_pg.drop_in)
        self._lexical = LexicalBackends(
            in_memory=LexicalIndex, on_disk=on_disk, disk_from=self.policy.lexical_on_disk_from
        )
        self._catalogs: dict[str, Catalog] = {}
        self._catalog_lock = threading.Lock()
        self.pipeline = Pipeline(
            store=self.store,
            catalog=self.catalog,
            embeddings=self.embeddings,
            policy=self.policy,
            models=self.models,
            tokens=self.tokens,
            prompt_overrides=self.prompt_overrides,
        )
        self.engine = RecallEngine(
            store=self.store,
            catalog=self.catalog,
            embeddings=self.embeddings,
            tokens=self.tokens,
            policy=self.policy,
            models=self.models,
            clock=self.clock,
            prompt_overrides=self.prompt_overrides,
        )

    # -- lifecycle -------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        path: str | Path,
        policy: MemoryPolicy | None = None,
        embeddings: Embeddings | bool | None = True,
        llm: ModelLike | None = None,
        *,
        llms: Mapping[str, ModelLike] | None = None,
        prompts: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        chroma_client: Any = None,
        vectors: str | None = None,
        create: bool = True,
    ) -> PlugMem:
        """Open (or create) a memory directory; pending work from a crash is resumed.

        `path` may instead be a PostgreSQL URL ("postgresql://user@host:port/db", the `postgres`
        extra): the server backend, which any number of processes may open at once.

        `embeddings=True` (default) uses the bundled-format MiniLM ONNX model when it is
        on disk, else lexical-only recall with a warning; `embeddings=None` forces lexical-only.
        `llm` is the chat model of every role (extract, plan, reason), `llms` one per role; either
        may be a `BaseChatModel` or an `init_chat_model` spec such as "openai:gpt-4o-mini".
        `prompts` overrides prompts of `plugmem.prompts` by name for this memory.
        `vectors="http://host:port"` keeps the vectors on a Chroma server (`chroma run`) instead of
        on disk beside the memory; many memories can share one server (each has its own collections).
        The memory records that URL, and a later open without `vectors=` uses the same server.
        `chroma_client` passes a Chroma client of your own instead (one of the two, not both).
        `create=False` opens only an existing memory and raises `MemoryNotFoundError` otherwise
        (inspecting tools must not leave a new empty memory behind a mistyped path).
        """
        return cls(
            path,
            policy=policy,
            embeddings=embeddings,
            llm=llm,
            llms=llms,
            prompts=prompts,
            clock=clock,
            chroma_client=chroma_client,
            vectors=vectors,
            create=create,
        )

    @classmethod
    async def aopen(cls, path: str | Path, policy: MemoryPolicy | None = None, **kwargs: Any) -> PlugMem:
        """`open` in a worker thread (opening reads SQLite and may load the embedding model)."""
        return await asyncio.to_thread(cls.open, path, policy, **kwargs)

    def _open_vectors(self, model_id: str, client: Any) -> VectorIndex:
        """The vector index; a local one that fails to load (probed in a child first) is rebuilt."""
        if client is not None:
            return VectorIndex(model_id=model_id, client=client, memory_id=self.store.memory_id())
        if self.url is not None:  # this process's copy, filled from the store's embedding cache
            self._vector_dir = Path(tempfile.mkdtemp(prefix="plugmem-vectors-"))
            return VectorIndex(self._vector_dir, model_id=model_id)
        where = self.path / CHROMA_DIR
        why = repair.probe(where) if repair.needs_probe(where) else None
        if why is None:
            try:
                return VectorIndex(where, model_id=model_id)
            except Exception as exc:  # chromadb raises many kinds; the index is derived data
                why = f"{type(exc).__name__}: {exc}"
        repair.set_aside(where, why)
        return VectorIndex(where, model_id=model_id)

    def register_eraser(self, eraser: Eraser) -> None:
        """Run `eraser(connection, namespace_key, steps)` inside every forget's transaction.

        For integrations that keep copies of messages in this memory's database file (the
        LangGraph checkpointer), so a forget erases those copies in the same commit.
        """
        self._erasers.append(eraser)

    @property
    def db_path(self) -> Path:
        """The SQLite file: the source of truth of an embedded memory (integrations keep their tables in it)."""
        if self.url is not None:
            raise InvalidInputError(
                f"this memory lives in PostgreSQL ({self.path}), not in a file; "
                "use memory.open_database() for a connection to its database"
            )
        return self.path / DB_FILE

    def open_database(self, *, synchronous: str | None = None) -> SQLiteDatabase | PostgresDatabase:
        """A new connection (or pool) to this memory's database, for integrations that keep their own
        tables beside the memory's (the LangGraph checkpointer and store); the caller closes it."""
        if self.url is not None:
            return PostgresDatabase(self.url, max_size=4)
        return SQLiteDatabase(self.db_path, synchronous=synchronous or self.policy.synchronous)

    @property
    def lexical_only(self) -> bool:
        """True when no embedding model is in use: recall searches with BM25 alone."""
        return self.embeddings is None

    def prompts(self, policy: MemoryPolicy | None = None) -> Prompts:
        """The prompts in use under `policy` (default: the memory's): defaults, policy, then open()'s."""
        return Prompts.with_overrides((policy or self.policy).prompts, self.prompt_overrides)

    def close(self) -> None:
        """Stop the worker (work not done stays logged and resumes on the next open) and release the directory."""
        if self._closed:
            return
        self._closed = True
        try:
            self.pipeline.stop()
            self.store.close()
            if self._owns_chroma and self.vectors is not None and self.url is None:
                repair.mark_clean(self.path / CHROMA_DIR)
                # Chroma caches one client per path in the process: a later open must not reuse one whose
                # files another process may since have set aside (its writes then fail as "readonly")
                self.vectors.close()
        finally:
            self._release()

    async def aclose(self) -> None:
        """`close` in a worker thread (it waits for the batch in progress)."""
        await asyncio.to_thread(self.close)

    def __enter__(self) -> PlugMem:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> PlugMem:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def _check_open(self) -> None:
        if self._closed:
            raise MemoryClosedError("this PlugMem was closed; open it again with PlugMem.open(path)")

    def catalog(self, namespace: NamespaceKey) -> Catalog:
        """The (lazily loaded) search catalog of one namespace key.

        On a shared store, a catalog another process's work made stale (the namespace's
        generation moved past the one it reflects) is loaded again.
        """
        gen = self.store.generation(namespace) if self.store.shared else 0
        with self._catalog_lock:
            cat = self._catalogs.get(namespace)
            if cat is None or cat.generation < gen:
                texts = functools.partial(self.pipeline.doc_texts, namespace)
                cat = Catalog(namespace, self.vectors, self.embeddings, self._lexical, texts)
                cat.generation = gen
                self.pipeline.load_catalog(cat)
                self._catalogs[namespace] = cat
            return cat

    # -- writes ------------------------------------------------------------------
    def add(
        self,
        messages: Sequence[Any] | Any,
        *,
        namespace: Sequence[str] | str,
        session_id: str | None = None,
        timestamp: datetime | str | float | None = None,
        on_conflict: OnConflict = "error",
    ) -> list[str]:
        """Durably log messages; return their ids (as given, or generated and stable).

        Returns once the messages are committed to SQLite; extraction and indexing run
        in the background (`flush()` waits for them). Ids have one meaning: re-adding a
        stored message is a no-op; an id stored with a different message raises
        `ConflictError` (nothing stored) unless `on_conflict="replace"`, which replaces it
        and re-derives what it fed. Invalid input raises `InvalidInputError` and stores nothing.
        """
        self._check_open()
        ns = ns_key(namespace)
        if on_conflict not in ("error", "replace"):
            raise InvalidInputError(f'on_conflict must be "error" or "replace", got {on_conflict!r}')
        if session_id is not None:
            if not isinstance(session_id, str) or not session_id.strip():
                raise InvalidInputError(f"session_id must be a non-empty string, got {session_id!r}")
            check_text(session_id, what="session_id")
        ts = parse_timestamp(timestamp, what="add(timestamp=...)") if timestamp is not None else self.clock()
        explicit: set[str] = set()
        steps = normalize(
            messages,
            namespace=ns,
            session_id=session_id or "default",
            timestamp=ts,
            max_chars=self.policy.max_message_chars,
            roles=self.policy.store_roles,
            explicit_times=explicit,
        )
        if on_conflict == "error":
            ids = self.store.append_steps(steps, explicit_times=explicit)
        else:
            with self.pipeline.ns_lock(ns), self.store.claim(ns, wait=True):
                done: list[Unlinked] = []

                def replaced(c: Tx, key: NamespaceKey, changed: list[str]) -> None:
                    done.append(unlink(self.store, c, key, changed, delete=False))
                    self.store.next_generation(c, key)

                ids = self.store.append_steps(steps, explicit_times=explicit, on_replace=replaced)
                for res in done:
                    self._follow(ns, res, self.store.generation(ns))
        self.pipeline.notify()
        return ids

    async def aadd(
        self,
        messages: Sequence[Any] | Any,
        *,
        namespace: Sequence[str] | str,
        session_id: str | None = None,
        timestamp: datetime | str | float | None = None,
        on_conflict: OnConflict = "error",
    ) -> list[str]:
        """`add` in a worker thread: same arguments, result and errors."""
        return await asyncio.to_thread(
            self.add,
            messages,
            namespace=namespace,
            session_id=session_id,
            timestamp=timestamp,
            on_conflict=on_conflict,
        )

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every logged step is processed and indexed (quarantined steps are retried now).

        Raises `IngestTimeoutError` after `timeout` seconds (the work goes on in the
        background) and `IngestStalledError` when steps stay quarantined or ingest is paused.
        """
        self._check_open()
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout >= 0
        ):
            raise InvalidInputError(f"timeout must be a non-negative number of seconds, got {timeout!r}")
        self.pipeline.wait_idle(timeout)

    async def aflush(self, timeout: float | None = None) -> None:
        """`flush` in a worker thread: same timeout and errors."""
        await asyncio.to_thread(self.flush, timeout)

    def forget(
        self,
        *,
        namespace: Sequence[str] | str,
        ids: Iterable[str] | None = None,
        session_id: str | None = None,
    ) -> int:
        """Erase steps by id (any iterable), by session, or the whole namespace; returns steps deleted.

        One transaction: the steps, what they fed (re-derived from what remains in their
        sessions), their cached vectors and registered copies (the checkpointer's) go
        together, and the WAL is checkpointed so the text leaves the files. Forgetting
        what is already gone is not an error (returns 0). Other namespaces never wait.
        """
        self._check_open()
        ns = ns_key(namespace)
        if ids is not None and session_id is not None:
            raise InvalidInputError("forget takes ids or session_id, not both")
        target = self._forget_target(ns, ids, session_id)
        with self.pipeline.ns_lock(ns), self.store.claim(ns, wait=True):
            with self.store.tx() as c:
                if target is None:
                    res = unlink_namespace(c, ns, erasers=self._erasers)
                else:
                    res = unlink(self.store, c, ns, target, delete=True, erasers=self._erasers)
                self._erase_lexical(c, ns, res)
                gen = self.store.next_generation(c, ns)
            self._follow(ns, res, gen)
        self.store.checkpoint()
        self.pipeline.notify()
        return res.steps

    def _erase_lexical(self, c: Tx, ns: NamespaceKey, res: Unlinked) -> None:
        """Inside a forget's transaction: the namespace's full-text index forgets too."""
        if self._lexical_erase is None:
            return
        erase_in, drop_in = self._lexical_erase
        if res.whole_namespace:
            drop_in(c, ns)
            return
        changed = [(d.id, d.lexical_text or d.text) for d in res.changed_docs]
        # requeued turns are indexed with the turn before them, which may be forgotten
        erase_in(c, ns, [*res.removed_docs, *res.requeued_docs], changed)

    def _forget_target(
        self, ns: NamespaceKey, ids: Iterable[str] | None, session_id: str | None
    ) -> list[str] | None:
        """The step ids to forget (None: the whole namespace); validated before anything changes."""
        if ids is not None:
            if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
                raise InvalidInputError(
                    "ids must be an iterable of ids (a list, set or generator), not a single id"
                )
            target = list(ids)
            for i in target:
                check_id(i, what="forget(ids=...)")
            return target
        if session_id is not None:
            if not isinstance(session_id, str) or not session_id.strip():
                raise InvalidInputError(f"session_id must be a non-empty string, got {session_id!r}")
            check_text(session_id, what="session_id")
            return self.store.session_step_ids(ns, session_id)
        return None

    def _follow(self, ns: NamespaceKey, res: Unlinked, gen: int) -> None:
        """Bring the in-memory catalog and the vector index in line with a committed unlink."""
        if res.whole_namespace:
            with self._catalog_lock:
                self._catalogs.pop(ns, None)
            if self.vectors is not None:
                self.vectors.drop(ns)
            return
        with self._catalog_lock:
            cat = self._catalogs.get(ns)
        if cat is not None:
            cat.remove(res.removed_docs)
            cat.put(res.changed_docs)
            if cat.generation == gen - 1:
                cat.generation = gen
        elif self.vectors is not None:
            self.vectors.delete(ns, res.removed_docs)

    async def aforget(
        self,
        *,
        namespace: Sequence[str] | str,
        ids: Iterable[str] | None = None,
        session_id: str | None = None,
    ) -> int:
        """`forget` in a worker thread: same arguments, result and errors."""
        return await asyncio.to_thread(self.forget, namespace=namespace, ids=ids, session_id=session_id)

    # -- reads ------------------------------------------------------------------
    def recall(
        self,
        query: str,
        *,
        namespace: Sequence[str] | str,
        budget_tokens: int | None = None,
        k: int | None = None,
        mode: RecallMode | None = None,
        policy: MemoryPolicy | None = None,
    ) -> Recall:
        """The memory most useful for `query`, rendered within `budget_tokens`."""
        self._check_open()
        if not isinstance(query, str) or not query.strip():
            raise InvalidInputError("query must be a non-empty string")
        check_text(query, what="query")
        if budget_tokens is not None and (not isinstance(budget_tokens, int) or budget_tokens < 1):
            raise InvalidInputError(f"budget_tokens must be a positive integer, got {budget_tokens!r}")
        if k is not None and (not isinstance(k, int) or k < 1):
            raise InvalidInputError(f"k must be a positive integer, got {k!r}")
        if mode is not None and mode not in ("auto", "fast", "deep"):
            raise InvalidInputError(f"mode must be 'auto', 'fast' or 'deep', got {mode!r}")
        ns = ns_key(namespace)
        pol = policy or self.policy
        if policy is not None and not isinstance(policy, MemoryPolicy):
            raise InvalidInputError(f"policy must be a MemoryPolicy, got {type(policy).__name__}")
        behind = self._read_your_writes(ns, pol)
        result = self.engine.recall(query, ns, budget_tokens=budget_tokens, k=k, mode=mode, policy=pol)
        return result.model_copy(update={"reason": f"{result.reason}; {behind}"}) if behind else result

    def _read_your_writes(self, ns: NamespaceKey, pol: MemoryPolicy) -> str | None:
        """Wait (bounded) for this namespace's own pending writes; say so when recall cannot."""
        if not pol.read_your_writes or not self.pipeline.busy_with(ns):
            return None
        if self.pipeline.wait_namespace(ns, pol.read_your_writes_timeout_s):
            return None
        waiting = self.store.pending_count(ns)
        if not waiting:
            return None
        paused = self.pipeline.paused
        why = (
            f"ingest is paused: {type(paused).__name__}"
            if paused is not None
            else f"still being processed after read_your_writes_timeout_s={pol.read_your_writes_timeout_s:g} s"
        )
        return f"answered from what is indexed; {waiting} newer messages of this namespace are not ({why})"

    async def arecall(
        self,
        query: str,
        *,
        namespace: Sequence[str] | str,
        budget_tokens: int | None = None,
        k: int | None = None,
        mode: RecallMode | None = None,
        policy: MemoryPolicy | None = None,
    ) -> Recall:
        """`recall` in a worker thread: same arguments, result and errors."""
        return await asyncio.to_thread(
            self.recall,
            query,
            namespace=namespace,
            budget_tokens=budget_tokens,
            k=k,
            mode=mode,
            policy=policy,
        )

    def reason(
        self,
        query: str,
        *,
        namespace: Sequence[str] | str,
        budget_tokens: int | None = None,
        k: int | None = None,
        mode: RecallMode | None = None,
        policy: MemoryPolicy | None = None,
    ) -> Recall:
        """Recall, then turn what was recalled into short guidance for the current step (`Recall.guidance`).

        With a "reason" model: one call that writes the guidance and names the items it used,
        or says nothing recalled is relevant (guidance None). Without one, or when it fails
        (counted in `stats().llm_outcomes`): the best current facts and procedure steps recalled.
        """
        r = self.recall(
            query, namespace=namespace, budget_tokens=budget_tokens, k=k, mode=mode, policy=policy
        )
        pol = policy or self.policy
        llm = self.models.get("reason", pol)

        def ranked() -> list[Any]:  # the whole history is unranked: rank it for the extractive path
            if r.tier != "full":
                return list(r.items)
            again = self.recall(
                query, namespace=namespace, budget_tokens=budget_tokens, k=k, mode="fast", policy=pol
            )
            return list(again.items)

        guidance, usage = reason_over(
            query, r.items, llm=llm, prompts=self.prompts(pol), tokens=self.tokens, ranked_items=ranked
        )
        if usage.calls or usage.fallbacks:
            self.store.bump(usage_counters("reason", usage), soon=True)
        return r.model_copy(
            update={
                "guidance": guidance,
                "llm_calls": r.llm_calls + usage.calls,
                "llm_tokens": r.llm_tokens + usage.tokens,
            }
        )

    async def areason(
        self,
        query: str,
        *,
        namespace: Sequence[str] | str,
        budget_tokens: int | None = None,
        k: int | None = None,
        mode: RecallMode | None = None,
        policy: MemoryPolicy | None = None,
    ) -> Recall:
        """`reason` in a worker thread: same arguments, result and errors."""
        return await asyncio.to_thread(
            self.reason,
            query,
            namespace=namespace,
            budget_tokens=budget_tokens,
            k=k,
            mode=mode,
            policy=policy,
        )

    def steps(self, namespace: Sequence[str] | str, session_id: str | None = None) -> list[Step]:
        """Every logged step of a namespace (or one session), in order."""
        self._check_open()
        return self.store.steps(ns_key(namespace), session_id=session_id)

    def stats(self, namespace: Sequence[str] | str | None = None) -> Stats:
        """Counts of what is stored and derived, pending and quarantined work, recalls per tier and LLM use.

        With `namespace`, the stored counts are that namespace's; recall and LLM counters are the
        memory's (they are kept per memory, not per namespace).
        """
        self._check_open()
        ns = ns_key(namespace) if namespace is not None else None
        s = self.store
        counters = s.counters()
        recalls = {t: counters.get(f"recall.{t}", 0) for t in ("full", "fast", "deep")}
        auto_fast, auto_deep = counters.get("recall.auto.fast", 0), counters.get("recall.auto.deep", 0)
        return Stats(
            namespaces=len(s.namespaces()) if ns is None else int(s.count("steps", ns) > 0),
            steps=s.count("steps", ns),
            sessions=s.session_count(ns),
            events=s.count("events", ns),
            propositions=s.count("knowledge", ns, "kind = 'proposition'"),
            prescriptions=s.count("knowledge", ns, "kind = 'prescription'"),
            entities=s.count("entities", ns),
            summaries=s.count("summaries", ns),
            pending=s.pending_count(ns),
            failures=s.count("failures", ns),
            retries=counters.get("ingest.retries", 0),
            quarantined=len(s.quarantined(ns)),
            ingest_paused=str(self.pipeline.paused) if self.pipeline.paused is not None else None,
            recalls=recalls,
            escalation_rate=(auto_deep / (auto_fast + auto_deep)) if auto_fast + auto_deep else 0.0,
            llm_calls={k[len("llm.calls.") :]: v for k, v in counters.items() if k.startswith("llm.calls.")},
            llm_tokens={
                k[len("llm.tokens.") :]: v for k, v in counters.items() if k.startswith("llm.tokens.")
            },
            llm_outcomes=_outcomes(counters),
            prompts_version=self.prompts().version,
            lexical_only=self.lexical_only,
        )


def _vector_client(store: Store, client: Any, url: str | None, *, recorded: bool) -> Any:
    """The Chroma client the caller chose: their own, one for a server URL, or None (on disk).

    With neither, the server the memory recorded the last time it was opened with `vectors=`
    (when `recorded`: this open uses vectors at all): its vectors are there, and a forget from a
    process that did not say so must erase them there.
    """
    if client is not None and url is not None:
        raise InvalidInputError("pass vectors= (a Chroma server URL) or chroma_client=, not both")
    if client is not None:
        return client
    if url is None:
        return _recorded_server(store.vector_server()) if recorded else None
    if not isinstance(url, str):
        raise InvalidInputError(f"vectors= takes a Chroma server URL string, got {type(url).__name__}")
    found = server_client(url)
    if store.vector_server() != url:
        store.set_vector_server(url)
    return found


def _recorded_server(url: str | None) -> Any:
    if url is None:
        return None
    try:
        return server_client(url)
    except VectorServerError as exc:
        raise VectorServerError(
            f"this memory keeps its vectors on the Chroma server at {url} (recorded when it was opened "
            f"with vectors=), and that server did not answer; start it, or pass vectors= its current URL"
        ) from exc


def _outcomes(counters: Mapping[str, int]) -> dict[str, dict[str, int]]:
    """`llm.<outcome>.<role>` counters as {role: {outcome: n}}, for the roles that ran."""
    out: dict[str, dict[str, int]] = {}
    for outcome in ("parsed", "retried", "truncated", "fallbacks"):
        for role in ROLES:
            n = counters.get(f"llm.{outcome}.{role}", 0)
            if n:
                out.setdefault(role, {})[outcome] = n
    return out
