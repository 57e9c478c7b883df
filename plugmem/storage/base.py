"""The storage interface every backend implements, and the data methods they share.

Why one class with the SQL in it: the memory's tables, and what ingest, recall and forget
ask of them, are the same on every engine. The statements are written in the subset SQLite
and PostgreSQL both speak (`?` placeholders, `INSERT ... ON CONFLICT`), so a backend only
supplies the plumbing: how a transaction and a query reach its engine (`tx`, `query`), its
DDL dialect (`plugmem.storage.schema`), and what its errors mean. As with LangGraph's
checkpoint savers, the interface lives beside its implementations (`sqlite.py`,
`postgres.py`), and callers hold a `Store`, never a backend.

`Tx` is what a transaction hands its caller (and what `forget`'s erasers receive): a
`sqlite3.Connection` satisfies it, and the PostgreSQL backend wraps its connection to match.
Rows support access by position and by column name on both.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np

from plugmem.errors import ConflictError, PlugMemError
from plugmem.model import Edge, Entity, Event, Knowledge, Step, Summary, ToolCall
from plugmem.namespace import NamespaceKey

log = logging.getLogger("plugmem")

COUNTER_FLUSH_S = 2.0  # longest a buffered counter waits before it is committed
_CHUNK = 500  # ids bound per statement
# steps.state: logged, processed, or set aside after failing (retried with backoff, never blocking others)
PENDING, DONE, QUARANTINED = 0, 1, 2


class Cursor(Protocol):
    """The result of one statement (sqlite3.Cursor, or the PostgreSQL backend's)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Tx(Protocol):
    """A transaction in progress: portable SQL with `?` placeholders."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor: ...

    def executemany(self, sql: str, seq_of_parameters: Iterable[Sequence[Any]], /) -> Cursor: ...


def to_ts(dt: datetime) -> float:
    return dt.timestamp()


def from_ts(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def _json_default(o: object) -> object:
    if isinstance(o, datetime):
        return {"$dt": o.timestamp()}
    if isinstance(o, (set, tuple)):
        return list(o)
    raise TypeError(f"cannot serialise {type(o).__name__}")


def _json_hook(d: dict[str, Any]) -> object:
    if len(d) == 1 and "$dt" in d:
        return from_ts(d["$dt"])
    return d


def dumps(obj: object) -> str:
    return json.dumps(obj, default=_json_default, ensure_ascii=False, separators=(",", ":"))


def loads(s: str) -> Any:
    return json.loads(s, object_hook=_json_hook)


def upsert(table: str, columns: Sequence[str], key: Sequence[str]) -> str:
    """`INSERT ... ON CONFLICT (key) DO UPDATE` of every other column: a replace both engines run."""
    cols = ", ".join(columns)
    marks = ", ".join("?" * len(columns))
    rest = [c for c in columns if c not in key]
    action = "DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in rest) if rest else "DO NOTHING"
    return f"INSERT INTO {table} ({cols}) VALUES ({marks}) ON CONFLICT ({', '.join(key)}) {action}"


def _chunks(items: Sequence[str]) -> Iterator[list[str]]:
    for i in range(0, len(items), _CHUNK):
        yield list(items[i : i + _CHUNK])


def _marks(chunk: Sequence[object]) -> str:
    return ",".join("?" * len(chunk))


KnowledgeKeys = Callable[[Knowledge], Iterable[str]]  # the keys a stored fact is found by


class Store(ABC):
    """The source of truth of one memory: steps log, pending work, derived rows, counters, vector cache.

    Backends implement the plumbing (`tx`, `query`, `claim`, `checkpoint`, `close`); the data
    methods below are shared. `shared` is True when other processes may write the same memory
    (then each process re-reads what others derived, see `generation`).
    """

    dialect: str = "sqlite"
    shared: bool = False

    def __init__(self) -> None:
        self._counts_lock = threading.Lock()
        self._pending_counts: dict[str, int] = {}
        self._counts_written = time.monotonic()

    # -- plumbing (per backend) -----------------------------------------------------
    @abstractmethod
    def tx(self) -> AbstractContextManager[Tx]:
        """One atomic transaction; rolled back whole on any error; engine errors become typed errors."""

    @abstractmethod
    def query(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        """Rows of one read, each indexable by position and by column name."""

    @abstractmethod
    def claim(self, namespace: NamespaceKey, *, wait: bool) -> AbstractContextManager[bool]:
        """Hold a namespace's work for this process: True if held (`wait=False` gives up at once).

        Deriving is sequential per namespace (segmentation and consolidation read what the
        previous batch stored), so the unit of work any process may claim is a namespace.
        """

    @abstractmethod
    def checkpoint(self) -> None:
        """Make erased text leave the engine's logs where it can (SQLite's WAL)."""

    def close(self) -> None:
        self._write_counts()

    def memory_id(self) -> str:
        """This memory's random id, made once: it keeps its collections apart on a shared vector server."""
        with self.tx() as c:
            c.execute(
                "INSERT INTO meta(key, value) VALUES ('memory_id', ?) ON CONFLICT (key) DO NOTHING",
                (uuid.uuid4().hex,),
            )
            row = c.execute("SELECT value FROM meta WHERE key = 'memory_id'").fetchone()
        return str(row[0])

    def vector_server(self) -> str | None:
        """The Chroma server this memory's vectors were last kept on (`vectors=`), or None."""
        rows = self.query("SELECT value FROM meta WHERE key = 'vector_server'")
        return str(rows[0][0]) if rows else None

    def set_vector_server(self, url: str) -> None:
        """Record where the vectors live: a later open without `vectors=` goes there, so a forget erases there."""
        with self.tx() as c:
            c.execute(
                "INSERT INTO meta(key, value) VALUES ('vector_server', ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (url,),
            )

    # -- steps ------------------------------------------------------------------
    def append_steps(
        self,
        steps: Sequence[Step],
        *,
        explicit_times: Iterable[str] = (),
        on_replace: Callable[[Tx, NamespaceKey, list[str]], None] | None = None,
    ) -> list[str]:
        """Durably log steps (one transaction); an id already stored with the same message is a no-op.

        An id stored with a different message (content, role, speaker, session, or a timestamp
        the message itself carried) raises `ConflictError` and stores nothing, unless
        `on_replace` is given: it is called in the same transaction with the conflicting ids
        (to unlink what they fed), and the steps are rewritten and queued for processing.
        Concurrent writers of the same id store it once (the insert yields to the first).
        """
        explicit = set(explicit_times)
        with self.tx() as c:
            changed: list[Step] = []
            for s in steps:
                inserted = c.execute(
                    "INSERT INTO steps(namespace, id, session_id, role, name, content, ts, tool_calls,"
                    " tool_call_id, metadata) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (namespace, id) DO NOTHING",
                    (s.namespace, s.id, s.session_id, *self._step_fields(s)),
                ).rowcount
                if inserted:
                    continue
                row = c.execute(
                    "SELECT content, role, name, session_id, ts FROM steps WHERE namespace = ? AND id = ?",
                    (s.namespace, s.id),
                ).fetchone()
                if tuple(row[:4]) != (s.content, s.role, s.name, s.session_id) or (
                    s.id in explicit and row[4] != to_ts(s.timestamp)
                ):
                    changed.append(s)
            if changed and on_replace is None:
                ids = [s.id for s in changed]
                raise ConflictError(
                    f"message id(s) {ids[:5]} already hold a different message in namespace "
                    f"{changed[0].namespace!r}; nothing was stored. Use new ids, or pass "
                    'on_conflict="replace" to replace them and re-derive what they fed'
                )
            if changed and on_replace is not None:
                on_replace(c, changed[0].namespace, [s.id for s in changed])
                c.executemany(
                    "UPDATE steps SET session_id = ?, role = ?, name = ?, content = ?, ts = ?, tool_calls = ?,"
                    " tool_call_id = ?, metadata = ?, state = 0 WHERE namespace = ? AND id = ?",
                    [(s.session_id, *self._step_fields(s), s.namespace, s.id) for s in changed],
                )
        return [s.id for s in steps]

    @staticmethod
    def _step_fields(s: Step) -> tuple[object, ...]:
        """(role, name, content, ts, tool_calls, tool_call_id, metadata) as stored."""
        calls = dumps([asdict(t) for t in s.tool_calls]) if s.tool_calls else None
        meta = dumps(s.metadata) if s.metadata else None
        return (s.role, s.name, s.content, to_ts(s.timestamp), calls, s.tool_call_id, meta)

    @staticmethod
    def step_of(r: Any) -> Step:
        """A stored row as a Step. Metadata or tool calls that no longer parse (e.g. written by an
        older version) are kept as text rather than making the whole step unreadable."""
        try:
            calls = tuple(ToolCall(**t) for t in loads(r["tool_calls"])) if r["tool_calls"] else ()
        except (TypeError, ValueError, KeyError, OverflowError):
            calls = ()
        try:
            meta = loads(r["metadata"]) if r["metadata"] else {}
        except (TypeError, ValueError, KeyError, OverflowError):
            meta = {"unreadable_metadata": str(r["metadata"])}
        return Step(
            id=r["id"],
            namespace=r["namespace"],
            session_id=r["session_id"],
            seq=r["seq"],
            role=r["role"],
            content=r["content"],
            timestamp=from_ts(r["ts"]),
            name=r["name"],
            tool_calls=calls,
            tool_call_id=r["tool_call_id"],
            metadata=meta if isinstance(meta, dict) else {"metadata": meta},
        )

    @classmethod
    def steps_of(cls, rows: Iterable[Any]) -> list[Step]:
        """Rows as Steps, skipping any that cannot be read at all (the worker quarantines those)."""
        out: list[Step] = []
        for r in rows:
            try:
                out.append(cls.step_of(r))
            except (TypeError, ValueError, KeyError, OverflowError) as exc:
                log.warning("plugmem: skipping unreadable step %r: %s", r["id"], exc)
        return out

    def pending_steps(self, namespace: NamespaceKey, limit: int) -> list[Step]:
        """The next logged steps of a namespace; a row that cannot even be read is quarantined."""
        rows = self.query(
            "SELECT * FROM steps WHERE state = 0 AND namespace = ? ORDER BY seq LIMIT ?", (namespace, limit)
        )
        out: list[Step] = []
        for r in rows:
            try:
                out.append(self.step_of(r))
            except (TypeError, ValueError, KeyError, OverflowError) as exc:
                self.quarantine(
                    namespace, [r["id"]], f"unreadable row: {type(exc).__name__}: {exc}", time.time()
                )
        return out

    def pending_namespaces(self) -> list[NamespaceKey]:
        """Namespaces with logged, unprocessed steps, the longest-waiting first (one queue each)."""
        rows = self.query("SELECT namespace FROM steps WHERE state = 0 GROUP BY namespace ORDER BY MIN(seq)")
        return [NamespaceKey(r[0]) for r in rows]

    # -- work generations (what another process derived) ------------------------------
    def generation(self, namespace: NamespaceKey) -> int:
        """How many times a namespace's derived rows changed (each batch and forget adds one)."""
        rows = self.query("SELECT gen FROM generations WHERE namespace = ?", (namespace,))
        return int(rows[0][0]) if rows else 0

    def next_generation(self, c: Tx, namespace: NamespaceKey) -> int:
        """Count one change of a namespace's derived rows, inside the caller's transaction."""
        c.execute(
            "INSERT INTO generations(namespace, gen) VALUES (?, 1)"
            " ON CONFLICT (namespace) DO UPDATE SET gen = generations.gen + 1",
            (namespace,),
        )
        return int(c.execute("SELECT gen FROM generations WHERE namespace = ?", (namespace,)).fetchone()[0])

    # -- quarantine ----------------------------------------------------------------------
    def quarantine(self, namespace: NamespaceKey, ids: Sequence[str], error: str, now: float) -> None:
        """Set steps aside after they failed; each retry waits longer (5 s, 20 s, ... up to an hour)."""
        put = upsert("quarantine", ("namespace", "id", "error", "attempts", "next_try"), ("namespace", "id"))
        with self.tx() as c:
            for i in ids:
                row = c.execute(
                    "SELECT attempts FROM quarantine WHERE namespace = ? AND id = ?", (namespace, i)
                ).fetchone()
                attempts = (row[0] if row else 0) + 1
                delay = min(3600.0, 5.0 * 4 ** (attempts - 1))
                c.execute(put, (namespace, i, error[:2000], attempts, now + delay))
                c.execute(
                    f"UPDATE steps SET state = {QUARANTINED} WHERE namespace = ? AND id = ?", (namespace, i)
                )

    def release_quarantined(self, now: float | None) -> int:
        """Queue quarantined steps again: those due by `now`, or all of them when `now` is None."""
        due = "" if now is None else " AND next_try <= ?"
        with self.tx() as c:
            n = c.execute(
                f"UPDATE steps SET state = {PENDING} WHERE state = {QUARANTINED} AND (namespace, id) IN"
                f" (SELECT namespace, id FROM quarantine WHERE 1 = 1{due})",
                () if now is None else (now,),
            ).rowcount
        return int(n)

    def next_quarantine_retry(self) -> float | None:
        row = self.query(
            f"SELECT MIN(q.next_try) FROM quarantine q JOIN steps s ON s.namespace = q.namespace"
            f" AND s.id = q.id WHERE s.state = {QUARANTINED}"
        )
        return float(row[0][0]) if row and row[0][0] is not None else None

    def quarantined(self, namespace: NamespaceKey | None = None) -> list[dict[str, Any]]:
        """The steps set aside, with their last error and attempts (shown in `stats()`)."""
        sql = (
            "SELECT q.namespace, q.id, q.error, q.attempts, q.next_try FROM quarantine q JOIN steps s"
            f" ON s.namespace = q.namespace AND s.id = q.id WHERE s.state = {QUARANTINED}"
        )
        rows = self.query(
            sql + (" AND q.namespace = ?" if namespace else ""), (namespace,) if namespace else ()
        )
        return [dict(r) for r in rows]

    def snapshot_query(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        """A read of committed rows that need not wait for this process's writer (default: `query`).

        Only for reads outside any transaction: it does not see a transaction in progress.
        """
        return self.query(sql, params)

    def pending_count(self, namespace: NamespaceKey | None = None) -> int:
        """Steps logged and not yet processed; a recall asks this on every call, so it never waits for a write."""
        if namespace is None:
            return int(self.snapshot_query("SELECT COUNT(*) FROM steps WHERE state = 0")[0][0])
        return int(
            self.snapshot_query("SELECT COUNT(*) FROM steps WHERE state = 0 AND namespace = ?", (namespace,))[
                0
            ][0]
        )

    def steps(
        self, namespace: NamespaceKey, *, session_id: str | None = None, ids: Iterable[str] | None = None
    ) -> list[Step]:
        if ids is not None:
            out: list[Step] = []
            for chunk in _chunks(list(ids)):
                out += self.steps_of(
                    self.query(
                        f"SELECT * FROM steps WHERE namespace = ? AND id IN ({_marks(chunk)}) ORDER BY seq",
                        (namespace, *chunk),
                    )
                )
            return sorted(out, key=lambda s: s.seq)
        if session_id is not None:
            rows = self.query(
                "SELECT * FROM steps WHERE namespace = ? AND session_id = ? ORDER BY seq",
                (namespace, session_id),
            )
        else:
            rows = self.query("SELECT * FROM steps WHERE namespace = ? ORDER BY seq", (namespace,))
        return self.steps_of(rows)

    def session_step_ids(self, namespace: NamespaceKey, session_id: str) -> list[str]:
        """The ids of a session's logged steps (what `forget(session_id=...)` erases)."""
        rows = self.query(
            "SELECT id FROM steps WHERE namespace = ? AND session_id = ?", (namespace, session_id)
        )
        return [r[0] for r in rows]

    def unprocessed_ids(self, namespace: NamespaceKey) -> set[str]:
        """Ids of a namespace's steps not processed yet (pending or quarantined)."""
        rows = self.query(f"SELECT id FROM steps WHERE namespace = ? AND state != {DONE}", (namespace,))
        return {r[0] for r in rows}

    def session_count(self, namespace: NamespaceKey | None = None) -> int:
        """Distinct sessions with logged steps, in one namespace or in all of them."""
        sql = "SELECT COUNT(DISTINCT namespace || '|' || session_id) FROM steps"
        if namespace:
            return int(self.query(sql + " WHERE namespace = ?", (namespace,))[0][0])
        return int(self.query(sql)[0][0])

    def session_tail(self, namespace: NamespaceKey, session_id: str, before_seq: int, n: int) -> list[Step]:
        rows = self.query(
            "SELECT * FROM steps WHERE namespace = ? AND session_id = ? AND seq < ? AND state = 1"
            " ORDER BY seq DESC LIMIT ?",
            (namespace, session_id, before_seq, n),
        )
        return self.steps_of(reversed(rows))

    def mark_processed(self, c: Tx, steps: Sequence[Step]) -> None:
        keys = [(s.namespace, s.id) for s in steps]
        c.executemany(f"UPDATE steps SET state = {DONE} WHERE namespace = ? AND id = ?", keys)
        c.executemany("DELETE FROM quarantine WHERE namespace = ? AND id = ?", keys)

    def existing_ids(self, namespace: NamespaceKey, ids: Sequence[str]) -> set[str]:
        out: set[str] = set()
        for chunk in _chunks(ids):
            out.update(
                r[0]
                for r in self.query(
                    f"SELECT id FROM steps WHERE namespace = ? AND id IN ({_marks(chunk)})",
                    (namespace, *chunk),
                )
            )
        return out

    def namespaces(self) -> list[NamespaceKey]:
        """Every namespace that has logged steps, by key."""
        return [
            NamespaceKey(r[0]) for r in self.query("SELECT DISTINCT namespace FROM steps ORDER BY namespace")
        ]

    # -- derived nodes -------------------------------------------------------------
    def put_events(self, c: Tx, events: Sequence[Event]) -> None:
        c.executemany(
            upsert("events", ("namespace", "id", "session_id", "start", "data"), ("namespace", "id")),
            [(e.namespace, e.id, e.session_id, to_ts(e.start), dumps(asdict(e))) for e in events],
        )

    def put_knowledge(self, c: Tx, items: Sequence[Knowledge], *, keys: KnowledgeKeys) -> None:
        """Write facts and the keys consolidation finds them by (`keys`, e.g. `match_keys`)."""
        self._put_keys(c, items, keys)
        c.executemany(
            upsert(
                "knowledge",
                ("namespace", "id", "kind", "subject", "valid_until", "data"),
                ("namespace", "id"),
            ),
            [
                (
                    k.namespace,
                    k.id,
                    k.kind,
                    k.subject,
                    to_ts(k.valid_until) if k.valid_until else None,
                    dumps(asdict(k)),
                )
                for k in items
            ],
        )

    def _put_keys(self, c: Tx, items: Sequence[Knowledge], keys: KnowledgeKeys) -> None:
        c.executemany(
            "DELETE FROM knowledge_keys WHERE namespace = ? AND id = ?", [(k.namespace, k.id) for k in items]
        )
        c.executemany(
            upsert("knowledge_keys", ("namespace", "key", "id"), ("namespace", "key", "id")),
            [(k.namespace, key, k.id) for k in items for key in keys(k)],
        )

    def rekey_knowledge(self, keys: KnowledgeKeys) -> int:
        """Key the facts stored before `knowledge_keys` existed (migration 4 marks such a database)."""
        if not self.query("SELECT 1 FROM meta WHERE key = 'knowledge_keys'"):
            return 0
        with self.tx() as c:
            items = [Knowledge(**loads(r[0])) for r in c.execute("SELECT data FROM knowledge").fetchall()]
            for i in range(0, len(items), _CHUNK):
                self._put_keys(c, items[i : i + _CHUNK], keys)
            c.execute("DELETE FROM meta WHERE key = 'knowledge_keys'")
        log.info("plugmem: keyed %d stored facts for consolidation", len(items))
        return len(items)

    def put_entities(self, c: Tx, items: Sequence[Entity]) -> None:
        c.executemany(
            upsert("entities", ("namespace", "id", "name", "data"), ("namespace", "id")),
            [(e.namespace, e.id, e.name, dumps(asdict(e))) for e in items],
        )

    def put_summaries(self, c: Tx, items: Sequence[Summary]) -> None:
        c.executemany(
            upsert("summaries", ("namespace", "id", "level", "key", "data"), ("namespace", "id")),
            [(s.namespace, s.id, s.level, s.key, dumps(asdict(s))) for s in items],
        )

    def delete_entities(self, c: Tx, namespace: NamespaceKey, ids: Sequence[str]) -> None:
        """Entities merged into others (consolidation), inside the caller's transaction."""
        c.executemany("DELETE FROM entities WHERE namespace = ? AND id = ?", [(namespace, i) for i in ids])

    def put_edges(self, c: Tx, namespace: NamespaceKey, edges: Sequence[Edge]) -> None:
        c.executemany(
            upsert(
                "edges",
                ("namespace", "src", "dst", "kind", "label", "weight"),
                ("namespace", "src", "dst", "kind", "label"),
            ),
            [(namespace, e.src, e.dst, e.kind, e.label or "", e.weight) for e in edges],
        )

    def events(self, namespace: NamespaceKey, *, session_id: str | None = None) -> list[Event]:
        if session_id is None:
            rows = self.query("SELECT data FROM events WHERE namespace = ? ORDER BY start", (namespace,))
        else:
            rows = self.query(
                "SELECT data FROM events WHERE namespace = ? AND session_id = ? ORDER BY start",
                (namespace, session_id),
            )
        return [Event(**loads(r[0])) for r in rows]

    def latest_events(self, namespace: NamespaceKey, n: int) -> list[Event]:
        """The `n` latest events, oldest first: ingest links new events to these without decoding them all."""
        rows = self.query(
            "SELECT data FROM (SELECT data, start FROM events WHERE namespace = ? ORDER BY start DESC LIMIT ?) t"
            " ORDER BY start",
            (namespace, n),
        )
        return [Event(**loads(r[0])) for r in rows]

    def knowledge(self, namespace: NamespaceKey) -> list[Knowledge]:
        rows = self.query("SELECT data FROM knowledge WHERE namespace = ? ORDER BY id", (namespace,))
        return [Knowledge(**loads(r[0])) for r in rows]

    def knowledge_matching(
        self, namespace: NamespaceKey, keys: Iterable[str], ids: Iterable[str] = ()
    ) -> list[Knowledge]:
        """The facts stored under any of `keys` (see `put_knowledge`) or with one of `ids`, by id."""
        data: dict[str, str] = {}
        for chunk in _chunks(sorted(set(keys))):
            rows = self.query(
                "SELECT k.id, k.data FROM knowledge k WHERE k.namespace = ? AND k.id IN"
                f" (SELECT id FROM knowledge_keys WHERE namespace = ? AND key IN ({_marks(chunk)}))",
                (namespace, namespace, *chunk),
            )
            data.update((r[0], r[1]) for r in rows)
        for chunk in _chunks(sorted(set(ids) - set(data))):
            rows = self.query(
                f"SELECT id, data FROM knowledge WHERE namespace = ? AND id IN ({_marks(chunk)})",
                (namespace, *chunk),
            )
            data.update((r[0], r[1]) for r in rows)
        return [Knowledge(**loads(data[i])) for i in sorted(data)]

    def entities(self, namespace: NamespaceKey) -> list[Entity]:
        return [
            Entity(**loads(r[0]))
            for r in self.query("SELECT data FROM entities WHERE namespace = ? ORDER BY id", (namespace,))
        ]

    def events_by_id(self, namespace: NamespaceKey, ids: Sequence[str]) -> list[Event]:
        return [Event(**loads(d)) for d in self._data_by_id("events", namespace, ids)]

    def knowledge_by_id(self, namespace: NamespaceKey, ids: Sequence[str]) -> list[Knowledge]:
        return [Knowledge(**loads(d)) for d in self._data_by_id("knowledge", namespace, ids)]

    def summaries_by_id(self, namespace: NamespaceKey, ids: Sequence[str]) -> list[Summary]:
        return [Summary(**loads(d)) for d in self._data_by_id("summaries", namespace, ids)]

    def _data_by_id(self, table: str, namespace: NamespaceKey, ids: Sequence[str]) -> list[str]:
        """The `data` of some rows of a derived table, by primary key (absent ids are skipped)."""
        out: list[str] = []
        for chunk in _chunks(ids):
            rows = self.query(
                f"SELECT data FROM {table} WHERE namespace = ? AND id IN ({_marks(chunk)})",
                (namespace, *chunk),
            )
            out += [r[0] for r in rows]
        return out

    def summaries(self, namespace: NamespaceKey) -> list[Summary]:
        return [
            Summary(**loads(r[0]))
            for r in self.query("SELECT data FROM summaries WHERE namespace = ? ORDER BY id", (namespace,))
        ]

    def edges(self, namespace: NamespaceKey) -> list[Edge]:
        rows = self.query(
            "SELECT src, dst, kind, label, weight FROM edges WHERE namespace = ? ORDER BY src, dst, kind, label",
            (namespace,),
        )
        return [Edge(r[0], r[1], r[2], r[3] or None, r[4]) for r in rows]

    def count(self, table: str, namespace: NamespaceKey | None = None, where: str = "") -> int:
        clauses = [w for w in (where, "namespace = ?" if namespace else "") if w]
        sql = f"SELECT COUNT(*) FROM {table}" + (" WHERE " + " AND ".join(clauses) if clauses else "")
        return int(self.query(sql, (namespace,) if namespace else ())[0][0])

    # -- deletion ------------------------------------------------------------------
    def delete_namespace(self, namespace: NamespaceKey) -> int:
        with self.tx() as c:
            n = c.execute("DELETE FROM steps WHERE namespace = ?", (namespace,)).rowcount
            for t in ("events", "knowledge", "knowledge_keys", "entities", "summaries", "edges"):
                c.execute(f"DELETE FROM {t} WHERE namespace = ?", (namespace,))
            self.next_generation(c, namespace)
        return int(n)

    def delete_steps(self, namespace: NamespaceKey, ids: Sequence[str]) -> int:
        """Delete steps and everything derived only from them (their nodes are rebuilt)."""
        with self.tx() as c:
            n = 0
            for chunk in _chunks(ids):
                n += c.execute(
                    f"DELETE FROM steps WHERE namespace = ? AND id IN ({_marks(chunk)})", (namespace, *chunk)
                ).rowcount
        return int(n)

    # -- embedding cache -----------------------------------------------------------
    def load_vectors(self, model: str, hashes: list[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for chunk in _chunks(hashes):
            for h, blob in self.query(
                f"SELECT hash, vec FROM embeddings WHERE model = ? AND hash IN ({_marks(chunk)})",
                (model, *chunk),
            ):
                out[h] = np.frombuffer(bytes(blob), dtype=np.float32)
        return out

    def save_vectors(self, model: str, vecs: dict[str, np.ndarray]) -> None:
        rows = [(model, h, np.asarray(vecs[h], dtype=np.float32).tobytes()) for h in sorted(vecs)]
        with self.tx() as c:  # sorted: concurrent writers of the same texts take row locks in one order
            c.executemany(
                "INSERT INTO embeddings(model, hash, vec) VALUES (?,?,?) ON CONFLICT (model, hash) DO NOTHING",
                rows,
            )

    def has_vectors_of(self, model: str) -> bool:
        """Whether any vector of `model` is cached (an index lookup, cheap at any size)."""
        return bool(self.query("SELECT 1 FROM embeddings WHERE model = ? LIMIT 1", (model,)))

    def embedding_models(self) -> list[tuple[str, int]]:
        """(model id, cached vectors) per model, the most used first."""
        rows = self.query("SELECT model, COUNT(*) FROM embeddings GROUP BY model ORDER BY COUNT(*) DESC")
        return [(r[0], int(r[1])) for r in rows]

    def all_vectors(self, model: str) -> Iterator[tuple[str, bytes]]:
        """Every cached vector of a model as (text hash, float32 bytes)."""
        for h, blob in self.query("SELECT hash, vec FROM embeddings WHERE model = ?", (model,)):
            yield h, bytes(blob)

    # -- failures and counters -------------------------------------------------------
    def record_failure(
        self, namespace: NamespaceKey | None, stage: str, error: str, attempts: int, data: object
    ) -> None:
        """Record a failure; never raises (a full disk must not turn one failure into a dead worker)."""
        try:
            with self.tx() as c:
                c.execute(
                    "INSERT INTO failures(namespace, stage, error, attempts, created, data) VALUES (?,?,?,?,?,?)",
                    (namespace, stage, error[:4000], attempts, time.time(), dumps(data)),
                )
        except (PlugMemError, TypeError, ValueError) as exc:
            log.warning("plugmem: could not record a %s failure (%s): %s", stage, exc, error)

    def failures(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.query("SELECT * FROM failures ORDER BY id")]

    def bump(self, counts: dict[str, int], *, soon: bool = False) -> None:
        """Add to counters; `soon` buffers them for up to COUNTER_FLUSH_S instead of committing now.

        Recall counts once per recall: a durable commit each time cost ~1 ms (an fsync) of a
        ~10 ms recall. A crash loses at most the last COUNTER_FLUSH_S of buffered counts, which
        are statistics, never memory.
        """
        if not counts:
            return
        with self._counts_lock:
            for k, v in counts.items():
                self._pending_counts[k] = self._pending_counts.get(k, 0) + v
            if soon and time.monotonic() - self._counts_written < COUNTER_FLUSH_S:
                return
        self._write_counts()

    def _write_counts(self) -> None:
        with self._counts_lock:
            rows = sorted(self._pending_counts.items())  # one lock order for concurrent writers
            self._pending_counts.clear()
            self._counts_written = time.monotonic()
        if not rows:
            return
        try:
            with self.tx() as c:
                c.executemany(
                    "INSERT INTO counters(name, value) VALUES (?, ?)"
                    " ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value",
                    rows,
                )
        except PlugMemError as exc:  # statistics wait in RAM (a full disk must not fail a recall)
            log.debug("plugmem: counters not written yet: %s", exc)
            with self._counts_lock:
                for k, v in rows:
                    self._pending_counts[k] = self._pending_counts.get(k, 0) + v

    def counters(self) -> dict[str, int]:
        self._write_counts()
        return {r[0]: int(r[1]) for r in self.query("SELECT name, value FROM counters")}
