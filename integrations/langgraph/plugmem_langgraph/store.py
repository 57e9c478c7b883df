"""`PlugMemStore`: LangGraph's `BaseStore` kept durably in plugmem's database (SQLite file or PostgreSQL).

Why a store at all: LangGraph's `store=` and LangMem's memory tools speak `BaseStore`;
giving them one backed by the memory's own database means one file to back up, one
WAL, and memories that survive restarts, with no server (or, for a server memory, the same
PostgreSQL database). The store owns the tables prefixed `store_` and its own connection
(`plugmem.open_database`; one SQL text for both engines, docs/CONTRACTS.md).

Semantics follow LangGraph's reference stores (InMemoryStore, SqliteStore, PostgresStore):

- a batch runs its reads (get, search, list) first and its writes after, all in one
  transaction; within a batch the last put for a (namespace, key) wins;
- search without a query returns the most recently updated items first, score None;
  with a query (and an index), items are ranked by the best cosine similarity of any of
  their indexed fields, and items without vectors follow, score None;
- `created_at` is kept across updates; `updated_at` moves on every put;
- expired items are invisible at once, and deleted by `sweep_ttl()` or the sweeper thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, cast

import numpy as np
from langchain_core.embeddings import Embeddings
from langgraph.store.base import (
    NOT_PROVIDED,
    BaseStore,
    GetOp,
    IndexConfig,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    MatchCondition,
    NotProvided,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
    ensure_embeddings,
    get_text_at_path,
    tokenize_path,
    validate_op_namespace,
)

from plugmem import Database, InvalidInputError, MemoryClosedError, PlugMemError, Tx, open_database
from plugmem_langgraph.errors import StoreNamespaceError

log = logging.getLogger("plugmem.langgraph.store")


@contextmanager
def _typed_errors(what: str) -> Iterator[None]:
    """Argument errors from LangGraph's own checks (which run before our code) as plugmem's typed errors."""
    try:
        yield
    except PlugMemError:
        raise
    except InvalidNamespaceError as exc:
        raise StoreNamespaceError(f"PlugMemStore.{what}: {exc}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise InvalidInputError(f"PlugMemStore.{what}: invalid argument ({exc})") from None


Clock = Callable[[], datetime]
Namespace = tuple[str, ...]
IndexSpec = Literal[False] | list[str] | None

SCHEMA_VERSION = "1"
# LangGraph forbids "." in namespace labels, so "." can join them without ambiguity, and
# every descendant of "a.b" sorts in ["a.b.", "a.b/") because "/" follows "." in ASCII.
NS_SEP = "."
NS_AFTER_SEP = "/"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FOREVER = 2**62  # microseconds; far past any datetime, still a SQLite integer
_OPERATORS = frozenset({"$eq", "$ne", "$gt", "$gte", "$lt", "$lte"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS store_meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS store_items (
    ns TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    index_spec TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    ttl_minutes REAL,
    expires_at INTEGER,
    PRIMARY KEY (ns, key)
);
CREATE INDEX IF NOT EXISTS store_items_recent ON store_items (updated_at DESC, seq DESC);
CREATE INDEX IF NOT EXISTS store_items_seq ON store_items (seq);
CREATE INDEX IF NOT EXISTS store_items_expiry ON store_items (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS store_vectors (
    ns TEXT NOT NULL,
    key TEXT NOT NULL,
    field TEXT NOT NULL,
    vec BLOB NOT NULL,
    PRIMARY KEY (ns, key, field),
    FOREIGN KEY (ns, key) REFERENCES store_items (ns, key) ON DELETE CASCADE
);
"""

_ITEM_COLUMNS = "ns, key, value, created_at, updated_at, ttl_minutes"
_VEC_REPLACE = "ON CONFLICT (ns, key, field) DO UPDATE SET vec = excluded.vec"
_ItemRow = tuple[str, str, str, int, int, float | None]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _to_micros(dt: datetime) -> int:
    """Exact integer microseconds since the epoch (floats would lose the last digit)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return (dt - _EPOCH) // timedelta(microseconds=1)


def _expiry(now: int, ttl_minutes: float) -> int:
    """When an item read or written at `now` expires; huge TTLs saturate instead of overflowing."""
    return min(now + round(ttl_minutes * 60_000_000), _FOREVER)


def _from_micros(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _ns_key(namespace: Namespace) -> str:
    return NS_SEP.join(namespace)


def _ns_tuple(key: str) -> Namespace:
    return tuple(key.split(NS_SEP))


def _prefix_clause(prefix: Sequence[str], column: str = "ns") -> tuple[str, list[Any]]:
    """SQL matching a namespace and all its descendants, as an index range scan."""
    if not prefix:
        return "TRUE", []
    base = _ns_key(tuple(prefix))
    return (
        f"({column} = ? OR ({column} >= ? AND {column} < ?))",
        [base, base + NS_SEP, base + NS_AFTER_SEP],
    )


# -- filters ------------------------------------------------------------------------
def _json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON sees it: true is not 1, and containers compare element-wise."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _ordered(actual: Any, operator: str, bound: Any) -> bool:
    """Order comparison; values of different kinds never match (they do not raise)."""
    if _is_number(actual) and _is_number(bound):
        a, b = float(actual), float(bound)
    elif isinstance(actual, str) and isinstance(bound, str):
        a, b = actual, bound  # type: ignore[assignment]
    else:
        return False
    if operator == "$gt":
        return a > b
    if operator == "$gte":
        return a >= b
    if operator == "$lt":
        return a < b
    return a <= b


def _match_condition(actual: Any, cond: Any) -> bool:
    if isinstance(cond, Mapping):
        op_keys = [k for k in cond if isinstance(k, str) and k.startswith("$")]
        if op_keys:
            if len(op_keys) != len(cond):
                raise InvalidInputError(f"filter {dict(cond)!r} mixes operators and field names")
            for op, bound in cond.items():
                if op not in _OPERATORS:
                    raise InvalidInputError(
                        f"unsupported filter operator {op!r}; use one of {sorted(_OPERATORS)}"
                    )
                if op == "$eq":
                    ok = _json_equal(actual, bound)
                elif op == "$ne":
                    ok = not _json_equal(actual, bound)
                else:
                    ok = _ordered(actual, op, bound)
                if not ok:
                    return False
            return True
        if not isinstance(actual, Mapping):
            return False
        return all(_match_condition(actual.get(k), v) for k, v in cond.items())
    if isinstance(cond, (list, tuple)):
        return (
            isinstance(actual, (list, tuple))
            and len(actual) == len(cond)
            and all(_match_condition(a, c) for a, c in zip(actual, cond, strict=True))
        )
    return _json_equal(actual, cond)


def matches_filter(value: Mapping[str, Any], filter: Mapping[str, Any] | None) -> bool:
    """Whether a stored value passes a LangGraph search filter.

    Plain values match by JSON equality, nested mappings match as subsets, and
    `$eq/$ne/$gt/$gte/$lt/$lte` compare; a missing field counts as null.
    """
    if not filter:
        return True
    return all(_match_condition(value.get(k), cond) for k, cond in filter.items())


def _matches_path(namespace: Namespace, condition: MatchCondition) -> bool:
    path = condition.path
    if len(namespace) < len(path):
        return False
    if condition.match_type == "prefix":
        window = namespace[: len(path)]
    elif condition.match_type == "suffix":
        window = namespace[len(namespace) - len(path) :]
    else:
        raise InvalidInputError(f"unknown namespace match type {condition.match_type!r}")
    return all(p == "*" or p == label for p, label in zip(path, window, strict=True))


# -- planning -----------------------------------------------------------------------
@dataclass(slots=True)
class _Put:
    namespace: Namespace
    key: str
    value_json: str | None
    index_json: str | None
    ttl: float | None
    texts: list[tuple[str, str]] = field(default_factory=list)  # (vector field name, text)


@dataclass(slots=True)
class _Plan:
    ops: list[Op]
    puts: dict[tuple[Namespace, str], _Put]
    texts: list[str]  # unique texts to embed, in first-seen order
    queries: list[str]  # unique queries to embed

    @property
    def writes(self) -> bool:
        return bool(self.puts) or any(isinstance(op, (GetOp, SearchOp)) and op.refresh_ttl for op in self.ops)


def _validate_put_namespace(namespace: Namespace) -> None:
    if not namespace:
        raise InvalidNamespaceError("Namespace cannot be empty.")


def _encode_value(namespace: Namespace, key: str, value: Any) -> str:
    if not isinstance(value, Mapping):
        raise InvalidInputError(
            f"value for {namespace!r}/{key!r} must be a mapping (dict), got {type(value).__name__}"
        )
    try:
        return json.dumps(dict(value), ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"value for {namespace!r}/{key!r} is not JSON-serializable ({exc}); the store keeps JSON"
        ) from None


class PlugMemStore(BaseStore):
    """LangGraph `BaseStore` persisted in SQLite (WAL), with vector search and TTL.

    `path_or_memory` is a SQLite file path (":memory:" works for throwaway stores) or a
    plugmem memory (`plugmem.PlugMem`), whose database file, embeddings, clock and
    durability setting are then used.

    `index` is LangGraph's `IndexConfig` (`dims`, `embed`, `fields`); `embed` may be left
    out when a memory with embeddings is given, and `index="auto"` means "the memory's
    embeddings over the whole value". `ttl` is LangGraph's `TTLConfig` (minutes).
    """

    supports_ttl: bool = True

    def __init__(
        self,
        path_or_memory: str | os.PathLike[str] | Any,
        *,
        index: IndexConfig | Literal["auto"] | None = None,
        ttl: TTLConfig | None = None,
        clock: Clock | None = None,
        synchronous: Literal["FULL", "NORMAL"] | None = None,
    ) -> None:
        memory_embeddings: Embeddings | None = None
        if isinstance(path_or_memory, (str, os.PathLike)):
            db = os.fspath(path_or_memory)
            if db != ":memory:" and "://" not in db:
                p = Path(db)
                if p.is_dir():
                    raise InvalidInputError(
                        f"{p} is a directory; pass the SQLite file path, or the PlugMem object itself"
                    )
                p.parent.mkdir(parents=True, exist_ok=True)
        else:
            db_path = getattr(path_or_memory, "url", None) or getattr(path_or_memory, "db_path", None)
            if db_path is None:
                raise InvalidInputError(
                    "PlugMemStore needs a SQLite file path or a plugmem memory with a `db_path`, "
                    f"got {type(path_or_memory).__name__}"
                )
            db = os.fspath(db_path)
            memory_embeddings = getattr(path_or_memory, "embeddings", None)
            mem_clock = getattr(path_or_memory, "clock", None)
            if clock is None and callable(mem_clock):
                clock = cast(Clock, mem_clock)
            policy_sync = getattr(getattr(path_or_memory, "policy", None), "synchronous", None)
            if synchronous is None and policy_sync in ("FULL", "NORMAL"):
                synchronous = cast(Literal["FULL", "NORMAL"], policy_sync)
        self.db_path = db
        self.clock: Clock = clock or _utcnow

        self.index_config: IndexConfig | None = None
        self.embeddings: Embeddings | None = None
        self._dims: int | None = None
        self._fields: list[tuple[str, str | list[str]]] = []
        self._setup_index(index, memory_embeddings)

        self.ttl_config: TTLConfig | None = self._check_ttl(ttl)

        self._lock = threading.RLock()
        self._closed = False
        self._warned_dims = False
        self._db: Database = open_database(db, synchronous=synchronous or "FULL")
        self._db.script(_SCHEMA)
        with self._db.tx() as cur:
            cur.execute(
                "INSERT INTO store_meta (name, value) VALUES ('schema_version', ?) ON CONFLICT (name) DO NOTHING",
                (SCHEMA_VERSION,),
            )

        self._sweep_stop = threading.Event()
        self._sweeper: threading.Thread | None = None
        if self.ttl_config and self.ttl_config.get("sweep_interval_minutes"):
            self.start_ttl_sweeper()

    # -- configuration ---------------------------------------------------------------
    def _setup_index(
        self, index: IndexConfig | Literal["auto"] | None, memory_embeddings: Embeddings | None
    ) -> None:
        if index is None:
            return
        if index == "auto":
            if memory_embeddings is None:
                raise InvalidInputError('index="auto" needs a plugmem memory that has embeddings')
            config: IndexConfig = {"fields": ["$"]}
        elif isinstance(index, Mapping):
            config = cast(IndexConfig, dict(index))
        else:
            raise InvalidInputError(f'index must be an IndexConfig dict, "auto" or None, got {index!r}')
        distance = cast(dict[str, Any], config).get("distance_type", "cosine")
        if distance != "cosine":
            raise InvalidInputError(
                f"PlugMemStore ranks by cosine similarity only; distance_type={distance!r} is not supported "
                "(leave it out or pass 'cosine')"
            )
        embed = config.get("embed") or memory_embeddings
        if embed is None:
            raise InvalidInputError(
                "index needs `embed` (a LangChain Embeddings or a function from texts to vectors), "
                "or a plugmem memory with embeddings as the first argument"
            )
        self.embeddings = ensure_embeddings(embed)
        dims = config.get("dims")
        if dims is None:
            dims = getattr(self.embeddings, "dims", None) or getattr(
                getattr(self.embeddings, "inner", None), "dims", None
            )
        if dims is not None and (not isinstance(dims, int) or dims <= 0):
            raise InvalidInputError(f"index dims must be a positive int, got {dims!r}")
        self._dims = dims
        fields = list(config.get("fields") or ["$"])
        config["embed"] = self.embeddings
        config["fields"] = fields
        if dims is not None:
            config["dims"] = dims
        self.index_config = config
        self._fields = [(p, p if p == "$" else tokenize_path(p)) for p in fields]

    @staticmethod
    def _check_ttl(ttl: TTLConfig | None) -> TTLConfig | None:
        if ttl is None:
            return None
        config = cast(TTLConfig, dict(ttl))
        default = config.get("default_ttl")
        if default is not None and (not _is_number(default) or not 0 <= default < math.inf):
            raise InvalidInputError(
                f"ttl default_ttl must be a non-negative number of minutes, got {default!r}"
            )
        for flag in ("omit_expired", "refresh_on_read"):
            if flag in config and not isinstance(config.get(flag), bool):
                raise InvalidInputError(f"ttl {flag} must be True or False, got {config.get(flag)!r}")
        interval = config.get("sweep_interval_minutes")
        if interval is not None and (not _is_number(interval) or interval <= 0):
            raise InvalidInputError(f"ttl sweep_interval_minutes must be positive, got {interval!r}")
        return config

    # -- lifecycle -------------------------------------------------------------------
    def close(self) -> None:
        """Stop the sweeper and close the connection; later calls raise MemoryClosedError."""
        self.stop_ttl_sweeper()
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._db.close()

    def __enter__(self) -> PlugMemStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        # wake the sweeper so it exits with the store it served
        stop = getattr(self, "_sweep_stop", None)
        if stop is not None:
            stop.set()

    def _check_open(self) -> None:
        if self._closed:
            raise MemoryClosedError("PlugMemStore was used after close()")

    def _now(self) -> int:
        return _to_micros(self.clock())

    def _cutoff(self, now: int) -> int:
        """Items expiring at or before this are hidden: expired ones at once, unless the TTL config
        says `omit_expired: False` (LangGraph's option), which keeps them visible until swept."""
        if self.ttl_config is not None and self.ttl_config.get("omit_expired") is False:
            return -_FOREVER
        return now

    # -- single operations: LangGraph's own argument checks, raised as typed errors --------------
    def put(
        self,
        namespace: tuple[str, ...],
        key: str,
        value: Mapping[str, Any],
        index: Literal[False] | list[str] | None = None,
        *,
        ttl: float | NotProvided | None = NOT_PROVIDED,
    ) -> None:
        with _typed_errors("put"):
            super().put(namespace, key, value, index, ttl=ttl)

    async def aput(
        self,
        namespace: tuple[str, ...],
        key: str,
        value: Mapping[str, Any],
        index: Literal[False] | list[str] | None = None,
        *,
        ttl: float | NotProvided | None = NOT_PROVIDED,
    ) -> None:
        with _typed_errors("aput"):
            await super().aput(namespace, key, value, index, ttl=ttl)

    def get(self, namespace: tuple[str, ...], key: str, *, refresh_ttl: bool | None = None) -> Item | None:
        with _typed_errors("get"):
            return super().get(namespace, key, refresh_ttl=refresh_ttl)

    async def aget(
        self, namespace: tuple[str, ...], key: str, *, refresh_ttl: bool | None = None
    ) -> Item | None:
        with _typed_errors("aget"):
            return await super().aget(namespace, key, refresh_ttl=refresh_ttl)

    def search(
        self,
        namespace_prefix: tuple[str, ...],
        /,
        *,
        query: str | None = None,
        filter: dict[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
        refresh_ttl: bool | None = None,
    ) -> list[SearchItem]:
        with _typed_errors("search"):
            return super().search(
                namespace_prefix,
                query=query,
                filter=filter,
                limit=limit,
                offset=offset,
                refresh_ttl=refresh_ttl,
            )

    async def asearch(
        self,
        namespace_prefix: tuple[str, ...],
        /,
        *,
        query: str | None = None,
        filter: dict[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
        refresh_ttl: bool | None = None,
    ) -> list[SearchItem]:
        with _typed_errors("asearch"):
            return await super().asearch(
                namespace_prefix,
                query=query,
                filter=filter,
                limit=limit,
                offset=offset,
                refresh_ttl=refresh_ttl,
            )

    def delete(self, namespace: tuple[str, ...], key: str) -> None:
        with _typed_errors("delete"):
            super().delete(namespace, key)

    async def adelete(self, namespace: tuple[str, ...], key: str) -> None:
        with _typed_errors("adelete"):
            await super().adelete(namespace, key)

    # -- batch -----------------------------------------------------------------------
    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run ops in one transaction; embeddings are computed before the lock is taken."""
        plan = self._plan(ops)
        vectors = self._vectors_for(plan, self._embed_documents(plan.texts))
        queries = {q: self._as_vector(self._require_embeddings().embed_query(q)) for q in plan.queries}
        return self._execute(plan, vectors, queries)

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Async twin of `batch`: async embedding calls, and the SQLite work in a thread."""
        plan = self._plan(ops)
        docs = await self._aembed_documents(plan.texts)
        vectors = self._vectors_for(plan, docs)
        queries: dict[str, np.ndarray] = {}
        if plan.queries:
            emb = self._require_embeddings()
            found = await asyncio.gather(*(emb.aembed_query(q) for q in plan.queries))
            queries = {q: self._as_vector(v) for q, v in zip(plan.queries, found, strict=True)}
        return await asyncio.to_thread(self._execute, plan, vectors, queries)

    def _plan(self, ops: Iterable[Op]) -> _Plan:
        """Validate every op and collect the texts and queries the batch must embed."""
        op_list = list(ops)
        puts: dict[tuple[Namespace, str], _Put] = {}
        queries: dict[str, None] = {}
        for op in op_list:
            if not isinstance(op, (GetOp, PutOp, SearchOp, ListNamespacesOp)):
                raise InvalidInputError(f"unknown store operation {type(op).__name__}")
            with _typed_errors("batch"):
                validate_op_namespace(op)
            if isinstance(op, PutOp):
                ns = tuple(op.namespace)
                _validate_put_namespace(ns)
                key = str(op.key)
                if op.ttl is not None and (not _is_number(op.ttl) or not 0 <= op.ttl < math.inf):
                    raise InvalidInputError(
                        f"ttl must be a non-negative, finite number of minutes (None never expires), got {op.ttl!r}"
                    )
                if op.index is not None and op.index is not False and not isinstance(op.index, list):
                    raise InvalidInputError(
                        f"index must be False, None or a list of field paths, got {op.index!r}"
                    )
                if op.value is None:
                    puts[(ns, key)] = _Put(ns, key, None, None, None)
                else:
                    puts[(ns, key)] = _Put(
                        ns,
                        key,
                        _encode_value(ns, key, op.value),
                        json.dumps(op.index),
                        float(op.ttl) if op.ttl is not None else None,
                        self._texts_of(op.value, op.index),
                    )
            elif isinstance(op, SearchOp):
                if op.limit < 0 or op.offset < 0:
                    raise InvalidInputError(
                        f"search limit and offset must be >= 0, got {op.limit}, {op.offset}"
                    )
                if op.query and self.embeddings is not None:
                    queries[op.query] = None
            elif isinstance(op, ListNamespacesOp) and (op.limit < 0 or op.offset < 0):
                raise InvalidInputError(
                    f"list_namespaces limit and offset must be >= 0, got {op.limit}, {op.offset}"
                )
        texts: dict[str, None] = {}
        for put in puts.values():
            for _, text in put.texts:
                texts[text] = None
        return _Plan(op_list, puts, list(texts), list(queries))

    def _texts_of(self, value: Mapping[str, Any], index: IndexSpec) -> list[tuple[str, str]]:
        """The (field, text) pairs to embed; a path yielding several texts gets one vector each."""
        if self.embeddings is None or index is False:
            return []
        paths = self._fields if index is None else [(p, p if p == "$" else tokenize_path(p)) for p in index]
        out: list[tuple[str, str]] = []
        for path, tokens in paths:
            found = get_text_at_path(value, tokens)
            if len(found) == 1:
                out.append((path, found[0]))
            else:
                out.extend((f"{path}.{i}", text) for i, text in enumerate(found))
        return out

    # -- embeddings ------------------------------------------------------------------
    def _require_embeddings(self) -> Embeddings:
        if self.embeddings is None:
            raise InvalidInputError("this PlugMemStore has no index configured")
        return self.embeddings

    def _as_vector(self, raw: Sequence[float]) -> np.ndarray:
        vec = np.asarray(raw, dtype=np.float32).reshape(-1)
        if self._dims is None:
            self._dims = int(vec.shape[0])
        elif vec.shape[0] != self._dims:
            raise InvalidInputError(
                f"the embedder returned {vec.shape[0]} dims, the index expects {self._dims}"
            )
        return vec

    def _check_count(self, texts: list[str], raw: Sequence[Sequence[float]]) -> list[np.ndarray]:
        if len(raw) != len(texts):
            raise InvalidInputError(f"the embedder returned {len(raw)} vectors for {len(texts)} texts")
        return [self._as_vector(v) for v in raw]

    def _embed_documents(self, texts: list[str]) -> list[np.ndarray]:
        if not texts:
            return []
        return self._check_count(texts, self._require_embeddings().embed_documents(texts))

    async def _aembed_documents(self, texts: list[str]) -> list[np.ndarray]:
        if not texts:
            return []
        return self._check_count(texts, await self._require_embeddings().aembed_documents(texts))

    @staticmethod
    def _vectors_for(plan: _Plan, docs: list[np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(plan.texts, docs, strict=True))

    # -- execution -------------------------------------------------------------------
    def _execute(
        self, plan: _Plan, vectors: dict[str, np.ndarray], queries: dict[str, np.ndarray]
    ) -> list[Result]:
        with self._lock:
            self._check_open()
            now = self._now()
            with self._db.tx(write=bool(plan.writes)) as cur:
                results: list[Result] = []
                for op in plan.ops:
                    if isinstance(op, GetOp):
                        results.append(self._get(cur, op, now))
                    elif isinstance(op, SearchOp):
                        results.append(self._search(cur, op, now, queries.get(op.query or "")))
                    elif isinstance(op, ListNamespacesOp):
                        results.append(self._list_namespaces(cur, op, now))
                    else:
                        results.append(None)
                for put in plan.puts.values():
                    self._apply_put(cur, put, now, vectors)
            return results

    @staticmethod
    def _item(row: _ItemRow) -> Item:
        return Item(
            namespace=_ns_tuple(row[0]),
            key=row[1],
            value=json.loads(row[2]),
            created_at=_from_micros(row[3]),
            updated_at=_from_micros(row[4]),
        )

    @staticmethod
    def _refresh(cur: Tx, rows: Iterable[_ItemRow], now: int) -> None:
        """Restart the TTL clock of items that were just read."""
        params = [(_expiry(now, ttl), ns, key) for ns, key, _, _, _, ttl in rows if ttl is not None]
        if params:
            cur.executemany("UPDATE store_items SET expires_at = ? WHERE ns = ? AND key = ?", params)

    def _get(self, cur: Tx, op: GetOp, now: int) -> Item | None:
        row = cur.execute(
            f"SELECT {_ITEM_COLUMNS} FROM store_items "
            "WHERE ns = ? AND key = ? AND (expires_at IS NULL OR expires_at > ?)",
            (_ns_key(tuple(op.namespace)), str(op.key), self._cutoff(now)),
        ).fetchone()
        if row is None:
            return None
        if op.refresh_ttl:
            self._refresh(cur, [row], now)
        return self._item(row)

    def _search(self, cur: Tx, op: SearchOp, now: int, query_vec: np.ndarray | None) -> list[SearchItem]:
        clause, params = _prefix_clause(op.namespace_prefix)
        sql = (
            f"SELECT {_ITEM_COLUMNS} FROM store_items WHERE {clause} "
            "AND (expires_at IS NULL OR expires_at > ?) ORDER BY updated_at DESC, seq DESC"
        )
        params.append(self._cutoff(now))
        ranked: list[tuple[_ItemRow, float | None]]
        if query_vec is None:
            if not op.filter:
                rows = cur.execute(sql + " LIMIT ? OFFSET ?", [*params, op.limit, op.offset]).fetchall()
            else:
                rows = []
                skipped = 0
                for row in cur.execute(sql, params):
                    if not matches_filter(json.loads(row[2]), op.filter):
                        continue
                    if skipped < op.offset:
                        skipped += 1
                        continue
                    if len(rows) >= op.limit:
                        break
                    rows.append(row)
            ranked = [(row, None) for row in rows]
        else:
            candidates = [
                row
                for row in cur.execute(sql, params)
                if not op.filter or matches_filter(json.loads(row[2]), op.filter)
            ]
            ranked = self._rank(cur, op, candidates, query_vec)[op.offset : op.offset + op.limit]
        if op.refresh_ttl:
            self._refresh(cur, (row for row, _ in ranked), now)
        return [
            SearchItem(
                namespace=_ns_tuple(row[0]),
                key=row[1],
                value=json.loads(row[2]),
                created_at=_from_micros(row[3]),
                updated_at=_from_micros(row[4]),
                score=score,
            )
            for row, score in ranked
        ]

    def _rank(
        self, cur: Tx, op: SearchOp, candidates: list[_ItemRow], query_vec: np.ndarray
    ) -> list[tuple[_ItemRow, float | None]]:
        """Best cosine per item (over its fields), best first; items without vectors last."""
        if not candidates:
            return []
        position = {(row[0], row[1]): i for i, row in enumerate(candidates)}
        clause, params = _prefix_clause(op.namespace_prefix)
        owners: list[int] = []
        mats: list[np.ndarray] = []
        dims = int(query_vec.shape[0])
        for ns, key, blob in cur.execute(f"SELECT ns, key, vec FROM store_vectors WHERE {clause}", params):
            i = position.get((ns, key))
            if i is None:
                continue
            vec = np.frombuffer(blob, dtype=np.float32)
            if vec.shape[0] != dims:
                if not self._warned_dims:
                    self._warned_dims = True
                    log.warning(
                        "store vectors of %d dims do not match the query's %d; "
                        "call PlugMemStore.reindex() after changing the embedding model",
                        vec.shape[0],
                        dims,
                    )
                continue
            owners.append(i)
            mats.append(vec)
        best = np.full(len(candidates), -np.inf, dtype=np.float64)
        if mats:
            matrix = np.stack(mats).astype(np.float64)
            q = query_vec.astype(np.float64)
            norms = np.linalg.norm(matrix, axis=1) * float(np.linalg.norm(q))
            sims = np.divide(matrix @ q, norms, out=np.zeros(len(mats)), where=norms > 0)
            np.maximum.at(best, np.asarray(owners), sims)
        scored = [i for i in range(len(candidates)) if math.isfinite(best[i])]
        scored.sort(key=lambda i: -best[i])  # stable: ties keep the most recent first
        unscored = [i for i in range(len(candidates)) if not math.isfinite(best[i])]
        return [(candidates[i], float(best[i])) for i in scored] + [(candidates[i], None) for i in unscored]

    def _list_namespaces(self, cur: Tx, op: ListNamespacesOp, now: int) -> list[Namespace]:
        literal: list[str] = []  # the wildcard-free head of a prefix condition narrows the scan
        for cond in op.match_conditions or ():
            if cond.match_type == "prefix":
                head: list[str] = []
                for label in cond.path:
                    if label == "*":
                        break
                    head.append(label)
                if len(head) > len(literal):
                    literal = head
        clause, params = _prefix_clause(literal)
        found = [
            _ns_tuple(ns)
            for (ns,) in cur.execute(
                f"SELECT DISTINCT ns FROM store_items WHERE {clause} AND (expires_at IS NULL OR expires_at > ?)",
                [*params, self._cutoff(now)],
            )
        ]
        conditions = op.match_conditions or ()
        kept = [ns for ns in found if all(_matches_path(ns, c) for c in conditions)]
        if op.max_depth is not None:
            kept = list({ns[: op.max_depth] for ns in kept})
        kept.sort()
        return kept[op.offset : op.offset + op.limit]

    def _apply_put(self, cur: Tx, put: _Put, now: int, vectors: dict[str, np.ndarray]) -> None:
        ns = _ns_key(put.namespace)
        if put.value_json is None:
            cur.execute("DELETE FROM store_items WHERE ns = ? AND key = ?", (ns, put.key))
            return
        expires = _expiry(now, put.ttl) if put.ttl is not None else None
        # an expired row that was not swept yet is a different item: it gets a new created_at
        cur.execute(
            "INSERT INTO store_items (ns, key, value, index_spec, created_at, updated_at, seq, ttl_minutes, "
            "expires_at) VALUES (?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM store_items), ?, ?) "
            "ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, index_spec = excluded.index_spec, "
            "created_at = CASE WHEN store_items.expires_at IS NOT NULL AND store_items.expires_at <= "
            "excluded.updated_at THEN excluded.created_at ELSE store_items.created_at END, "
            "updated_at = excluded.updated_at, seq = excluded.seq, ttl_minutes = excluded.ttl_minutes, "
            "expires_at = excluded.expires_at",
            (ns, put.key, put.value_json, put.index_json, now, now, put.ttl, expires),
        )
        cur.execute("DELETE FROM store_vectors WHERE ns = ? AND key = ?", (ns, put.key))
        if put.texts:
            cur.executemany(
                f"INSERT INTO store_vectors (ns, key, field, vec) VALUES (?, ?, ?, ?) {_VEC_REPLACE}",
                [(ns, put.key, name, vectors[text].tobytes()) for name, text in put.texts],
            )

    # -- TTL -------------------------------------------------------------------------
    def sweep_ttl(self) -> int:
        """Delete expired items (and their vectors) now; returns how many were deleted."""
        with self._lock:
            self._check_open()
            now = self._now()
            with self._db.tx() as cur:
                deleted = cur.execute(
                    "DELETE FROM store_items WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,)
                ).rowcount
            return int(deleted)

    async def asweep_ttl(self) -> int:
        return await asyncio.to_thread(self.sweep_ttl)

    def start_ttl_sweeper(self, sweep_interval_minutes: float | None = None) -> None:
        """Sweep expired items every interval in a daemon thread (idempotent)."""
        interval = sweep_interval_minutes or (self.ttl_config or {}).get("sweep_interval_minutes")
        if not interval or interval <= 0:
            raise InvalidInputError("start_ttl_sweeper needs a positive sweep interval in minutes")
        if self._sweeper is not None and self._sweeper.is_alive():
            return
        self._sweep_stop.clear()
        seconds = float(interval) * 60.0
        stop = self._sweep_stop
        # the thread holds only a weak reference, so a store nobody closed can still be freed
        ref = weakref.ref(self)

        def loop() -> None:
            while not stop.wait(seconds):
                store = ref()
                if store is None:
                    return
                try:
                    swept = store.sweep_ttl()
                except MemoryClosedError:
                    return
                except Exception:  # a failed sweep must not kill the thread; the next may succeed
                    log.exception("store TTL sweep failed")
                    continue
                finally:
                    del store
                if swept:
                    log.info("store TTL sweep deleted %d expired items", swept)

        self._sweeper = threading.Thread(target=loop, name="plugmem-store-ttl-sweeper", daemon=True)
        self._sweeper.start()

    async def astart_ttl_sweeper(self, sweep_interval_minutes: float | None = None) -> None:
        """Async twin of `start_ttl_sweeper` (the sweeper is a thread either way)."""
        self.start_ttl_sweeper(sweep_interval_minutes)

    async def astop_ttl_sweeper(self, timeout: float | None = None) -> bool:
        """Async twin of `stop_ttl_sweeper`; joins the thread without blocking the event loop."""
        return await asyncio.to_thread(self.stop_ttl_sweeper, timeout)

    def stop_ttl_sweeper(self, timeout: float | None = None) -> bool:
        """Stop the sweeper thread; True once it is no longer running."""
        self._sweep_stop.set()
        thread = self._sweeper
        if thread is None:
            return True
        if thread is not threading.current_thread():
            thread.join(timeout)
        if thread.is_alive():
            return False
        self._sweeper = None
        return True

    # -- maintenance -----------------------------------------------------------------
    def reindex(self, *, batch_size: int = 256) -> int:
        """Re-embed every live item with the current index (after changing the embedding model).

        Each item keeps the `index` it was put with. Items changed by a concurrent put
        are left alone (the put already embedded them). Returns the number re-embedded.
        """
        emb = self._require_embeddings()
        with self._lock:
            self._check_open()
            with self._db.tx(write=False) as cur:
                keys = cur.execute("SELECT ns, key FROM store_items ORDER BY ns, key").fetchall()
        done = 0
        for start in range(0, len(keys), batch_size):
            chunk = keys[start : start + batch_size]
            with self._lock, self._db.tx(write=False) as cur:
                self._check_open()
                rows = [
                    r
                    for ns, key in chunk
                    if (
                        r := cur.execute(
                            "SELECT ns, key, value, index_spec FROM store_items WHERE ns = ? AND key = ?",
                            (ns, key),
                        ).fetchone()
                    )
                ]
            wanted: list[tuple[str, str, str, str | None, list[tuple[str, str]]]] = []
            for ns, key, value_json, index_json in rows:
                spec = cast(IndexSpec, json.loads(index_json)) if index_json else None
                wanted.append((ns, key, value_json, index_json, self._texts_of(json.loads(value_json), spec)))
            texts = list(dict.fromkeys(t for *_, pairs in wanted for _, t in pairs))
            vectors = dict(
                zip(texts, self._check_count(texts, emb.embed_documents(texts)) if texts else [], strict=True)
            )
            with self._lock:
                self._check_open()
                with self._db.tx() as cur:
                    for ns, key, value_json, index_json, pairs in wanted:
                        current = cur.execute(
                            "SELECT value, index_spec FROM store_items WHERE ns = ? AND key = ?", (ns, key)
                        ).fetchone()
                        if current is None or tuple(current) != (value_json, index_json):
                            continue
                        cur.execute("DELETE FROM store_vectors WHERE ns = ? AND key = ?", (ns, key))
                        cur.executemany(
                            f"INSERT INTO store_vectors (ns, key, field, vec) VALUES (?, ?, ?, ?) {_VEC_REPLACE}",
                            [(ns, key, name, vectors[t].tobytes()) for name, t in pairs],
                        )
                        done += 1
        return done


__all__ = ["PlugMemStore", "matches_filter"]
