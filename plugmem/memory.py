"""`PlugMem`: the one object users hold.

Writes return once the steps are durably logged in SQLite; a background worker then
segments, extracts and indexes them. `flush()` waits for that work. Recall reads
the derived indexes through the scheduler.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from langchain_core.embeddings import Embeddings

from plugmem.errors import InvalidInputError, MemoryClosedError, MemoryNotFoundError, NotFoundError
from plugmem.index.catalog import Catalog
from plugmem.index.embeddings import CachedEmbeddings, default_embeddings, model_id_of
from plugmem.index.vectors import VectorIndex
from plugmem.ingest.normalize import normalize, parse_timestamp
from plugmem.llm import usage_counters
from plugmem.llm_roles import ROLES, ChatModels, ModelLike
from plugmem.model import Step
from plugmem.namespace import ns_key
from plugmem.pipeline import Pipeline
from plugmem.policy import MemoryPolicy, RecallMode
from plugmem.prompts import Prompts, check_overrides
from plugmem.recall.engine import RecallEngine
from plugmem.recall.reason import reason_over
from plugmem.results import Recall, Stats
from plugmem.storage.sqlite import SQLiteStore
from plugmem.tokens import TokenCounter

log = logging.getLogger("plugmem")

Clock = Callable[[], datetime]
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
        start_worker: bool = True,
        llms: Mapping[str, ModelLike] | None = None,
        prompts: Mapping[str, str] | None = None,
        create: bool = True,
    ) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise InvalidInputError(f"memory path {self.path} exists and is not a directory")
        if not create and not (self.path / DB_FILE).is_file():
            raise MemoryNotFoundError(
                f"{self.path} is not a plugmem memory (no {DB_FILE} in it); nothing was created. "
                "Check the path, or open it with create=True to start a new memory there"
            )
        self.models = ChatModels(llm, llms)  # checks role names before anything is created
        self.prompt_overrides = dict(prompts or {})
        check_overrides(self.prompt_overrides)
        self.path.mkdir(parents=True, exist_ok=True)
        self.policy = policy or MemoryPolicy()
        self.llm = llm
        self.clock: Clock = clock or _utcnow
        self.tokens = TokenCounter()
        self.store = SQLiteStore(self.db_path, synchronous=self.policy.synchronous)
        inner = default_embeddings() if embeddings is True else (embeddings or None)
        self.embeddings: CachedEmbeddings | None = None
        self.vectors: VectorIndex | None = None
        if inner is not None:
            mid = model_id_of(inner)
            self.embeddings = CachedEmbeddings(
                inner, model_id=mid, load=self.store.load_vectors, save=self.store.save_vectors
            )
            self.vectors = VectorIndex(self.path / CHROMA_DIR, model_id=mid, client=chroma_client)
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
        self._closed = False
        if start_worker:
            self.pipeline.start()

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
        create: bool = True,
    ) -> PlugMem:
        """Open (or create) a memory directory; pending work from a crash is resumed.

        `embeddings=True` (default) uses the bundled-format MiniLM ONNX model when it is
        on disk, else lexical-only recall with a warning; `embeddings=None` forces lexical-only.
        `llm` is the chat model of every role (extract, plan, reason), `llms` one per role; either
        may be a `BaseChatModel` or an `init_chat_model` spec such as "openai:gpt-4o-mini".
        `prompts` overrides prompts of `plugmem.prompts` by name for this memory.
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
            create=create,
        )

    @classmethod
    async def aopen(cls, path: str | Path, policy: MemoryPolicy | None = None, **kwargs: Any) -> PlugMem:
        return await asyncio.to_thread(cls.open, path, policy, **kwargs)

    @property
    def db_path(self) -> Path:
        return self.path / DB_FILE

    @property
    def lexical_only(self) -> bool:
        return self.embeddings is None

    def prompts(self, policy: MemoryPolicy | None = None) -> Prompts:
        """The prompts in use under `policy` (default: the memory's): defaults, policy, then open()'s."""
        return Prompts.with_overrides((policy or self.policy).prompts, self.prompt_overrides)

    def close(self) -> None:
        if self._closed:
            return
        self.pipeline.stop()
        self.store.close()
        self._closed = True

    async def aclose(self) -> None:
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

    def catalog(self, namespace: str) -> Catalog:
        """The (lazily loaded) search catalog of one namespace key."""
        with self._catalog_lock:
            cat = self._catalogs.get(namespace)
            if cat is None:
                cat = Catalog(namespace, self.vectors, self.embeddings)
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
    ) -> list[str]:
        """Durably log messages; return their ids (as given, or generated and stable).

        Returns once the messages are committed to SQLite; extraction and indexing run
        in the background (`flush()` waits for them).
        """
        self._check_open()
        ns = ns_key(namespace)
        if session_id is not None and (not isinstance(session_id, str) or not session_id.strip()):
            raise InvalidInputError(f"session_id must be a non-empty string, got {session_id!r}")
        ts = parse_timestamp(timestamp, what="add(timestamp=...)") if timestamp is not None else self.clock()
        steps = normalize(
            messages,
            namespace=ns,
            session_id=session_id or "default",
            timestamp=ts,
            max_chars=self.policy.max_message_chars,
            roles=self.policy.store_roles,
        )
        ids = self.store.append_steps(steps)
        self.pipeline.notify()
        return ids

    async def aadd(
        self,
        messages: Sequence[Any] | Any,
        *,
        namespace: Sequence[str] | str,
        session_id: str | None = None,
        timestamp: datetime | str | float | None = None,
    ) -> list[str]:
        return await asyncio.to_thread(
            self.add, messages, namespace=namespace, session_id=session_id, timestamp=timestamp
        )

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every logged step is processed and indexed."""
        self._check_open()
        self.pipeline.wait_idle(timeout)

    async def aflush(self, timeout: float | None = None) -> None:
        await asyncio.to_thread(self.flush, timeout)

    def forget(
        self,
        *,
        namespace: Sequence[str] | str,
        ids: Sequence[str] | None = None,
        session_id: str | None = None,
    ) -> int:
        """Delete steps by id, by session, or the whole namespace; returns steps deleted.

        Knowledge derived from deleted steps is rebuilt from what remains.
        """
        self._check_open()
        ns = ns_key(namespace)
        if ids is not None and session_id is not None:
            raise InvalidInputError("forget takes ids or session_id, not both")
        self.pipeline.wait_idle(None, stalled_ok=True)  # a stalled message must stay forgettable
        with self._catalog_lock:
            if ids is None and session_id is None:
                n = self.store.delete_namespace(ns)
                self._drop_index(ns)
                return n
            if ids is not None:
                if isinstance(ids, str):
                    raise InvalidInputError("ids must be a list of ids, not a single string")
                known = self.store.existing_ids(ns, ids)
                unknown = [i for i in ids if i not in known]
                if unknown:
                    raise NotFoundError(
                        f"no message with id(s) {unknown[:5]} in namespace {ns!r}; nothing deleted"
                    )
                target = list(ids)
            else:
                target = [s.id for s in self.store.steps(ns, session_id=session_id)]
                if not target:
                    raise NotFoundError(f"no session {session_id!r} in namespace {ns!r}")
            n = self.pipeline.forget_steps(ns, target, lambda: self._drop_index(ns))
        return n

    def _drop_index(self, ns: str) -> None:
        self._catalogs.pop(ns, None)
        if self.vectors is not None:
            self.vectors.drop(ns)

    async def aforget(
        self,
        *,
        namespace: Sequence[str] | str,
        ids: Sequence[str] | None = None,
        session_id: str | None = None,
    ) -> int:
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
        if budget_tokens is not None and (not isinstance(budget_tokens, int) or budget_tokens < 1):
            raise InvalidInputError(f"budget_tokens must be a positive integer, got {budget_tokens!r}")
        if k is not None and (not isinstance(k, int) or k < 1):
            raise InvalidInputError(f"k must be a positive integer, got {k!r}")
        if mode is not None and mode not in ("auto", "fast", "deep"):
            raise InvalidInputError(f"mode must be 'auto', 'fast' or 'deep', got {mode!r}")
        ns = ns_key(namespace)
        pol = policy or self.policy
        if pol.read_your_writes and self.store.pending_count(ns):
            self.pipeline.wait_idle(None, stalled_ok=True)  # recall what is indexed; flush() reports
        return self.engine.recall(query, ns, budget_tokens=budget_tokens, k=k, mode=mode, policy=pol)

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
        self._check_open()
        ns = ns_key(namespace) if namespace is not None else None
        s = self.store
        counters = s.counters()
        recalls = {t: counters.get(f"recall.{t}", 0) for t in ("full", "fast", "deep")}
        auto_fast, auto_deep = counters.get("recall.auto.fast", 0), counters.get("recall.auto.deep", 0)
        return Stats(
            namespaces=len(s.namespaces()) if ns is None else int(s.count("steps", ns) > 0),
            steps=s.count("steps", ns),
            sessions=int(
                s.query(
                    "SELECT COUNT(DISTINCT namespace || '|' || session_id) FROM steps"
                    + (" WHERE namespace = ?" if ns else ""),
                    (ns,) if ns else (),
                )[0][0]
            ),
            events=s.count("events", ns),
            propositions=s.count("knowledge", ns, "kind = 'proposition'"),
            prescriptions=s.count("knowledge", ns, "kind = 'prescription'"),
            entities=s.count("entities", ns),
            summaries=s.count("summaries", ns),
            pending=s.pending_count(ns),
            failures=s.count("failures", ns),
            retries=counters.get("ingest.retries", 0),
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


def _outcomes(counters: Mapping[str, int]) -> dict[str, dict[str, int]]:
    """`llm.<outcome>.<role>` counters as {role: {outcome: n}}, for the roles that ran."""
    out: dict[str, dict[str, int]] = {}
    for outcome in ("parsed", "retried", "truncated", "fallbacks"):
        for role in ROLES:
            n = counters.get(f"llm.{outcome}.{role}", 0)
            if n:
                out.setdefault(role, {})[outcome] = n
    return out
