"""The source of truth: one SQLite file in WAL mode under the memory directory.

Everything else (Chroma vectors, BM25, the networkx graph) is derived from these
tables and can be rebuilt from them. A step is durable once `append_steps` returns;
`state = 0` marks it as logged but not yet processed, which is what makes recovery
after a crash a plain query.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from plugmem.errors import ConflictError, CorruptMemoryError, PlugMemError, StorageError, StorageFullError
from plugmem.model import Edge, Entity, Event, Knowledge, Step, Summary, ToolCall
from plugmem.namespace import NamespaceKey

log = logging.getLogger("plugmem")

SCHEMA_VERSION = 1
COUNTER_FLUSH_S = 2.0  # longest a buffered counter waits before it is committed

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS steps (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace TEXT NOT NULL,
    id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    role TEXT NOT NULL,
    name TEXT,
    content TEXT NOT NULL,
    ts REAL NOT NULL,
    tool_calls TEXT,
    tool_call_id TEXT,
    metadata TEXT,
    state INTEGER NOT NULL DEFAULT 0,
    UNIQUE (namespace, id)
);
CREATE INDEX IF NOT EXISTS steps_pending ON steps (state) WHERE state = 0;
CREATE INDEX IF NOT EXISTS steps_session ON steps (namespace, session_id, seq);
CREATE TABLE IF NOT EXISTS events (
    namespace TEXT NOT NULL, id TEXT NOT NULL, session_id TEXT NOT NULL,
    start REAL NOT NULL, data TEXT NOT NULL, PRIMARY KEY (namespace, id));
CREATE TABLE IF NOT EXISTS knowledge (
    namespace TEXT NOT NULL, id TEXT NOT NULL, kind TEXT NOT NULL, subject TEXT,
    valid_until REAL, data TEXT NOT NULL, PRIMARY KEY (namespace, id));
CREATE TABLE IF NOT EXISTS entities (
    namespace TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (namespace, id));
CREATE TABLE IF NOT EXISTS summaries (
    namespace TEXT NOT NULL, id TEXT NOT NULL, level TEXT NOT NULL, key TEXT NOT NULL,
    data TEXT NOT NULL, PRIMARY KEY (namespace, id));
CREATE TABLE IF NOT EXISTS edges (
    namespace TEXT NOT NULL, src TEXT NOT NULL, dst TEXT NOT NULL, kind TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '', weight REAL NOT NULL DEFAULT 1.0,
    PRIMARY KEY (namespace, src, dst, kind, label));
CREATE TABLE IF NOT EXISTS embeddings (
    model TEXT NOT NULL, hash TEXT NOT NULL, vec BLOB NOT NULL, PRIMARY KEY (model, hash));
CREATE TABLE IF NOT EXISTS failures (
    id INTEGER PRIMARY KEY AUTOINCREMENT, namespace TEXT, stage TEXT NOT NULL,
    error TEXT NOT NULL, attempts INTEGER NOT NULL, created REAL NOT NULL, data TEXT);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS quarantine (
    namespace TEXT NOT NULL, id TEXT NOT NULL, error TEXT NOT NULL, attempts INTEGER NOT NULL,
    next_try REAL NOT NULL, PRIMARY KEY (namespace, id));
"""
# steps.state: logged, processed, or set aside after failing (retried with backoff, never blocking others)
PENDING, DONE, QUARANTINED = 0, 1, 2
_FULL, _CORRUPT, _NOTADB = 13, 11, 26


def storage_error(exc: sqlite3.Error, path: Path) -> PlugMemError:
    """The typed error for a SQLite failure, with what the caller can do about it."""
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    if code == _FULL:
        return StorageFullError(
            f"the disk holding {path} is full ({exc}); free some space and retry: nothing of this write "
            "was stored, and background ingest resumes by itself"
        )
    if code in (_CORRUPT, _NOTADB) or type(exc) is sqlite3.DatabaseError:
        return CorruptMemoryError(
            f"{path} is damaged or is not a plugmem database ({exc}); restore it from a backup, or move "
            "the memory directory aside to start an empty memory"
        )
    return StorageError(
        f"cannot use {path} ({exc}); check that the directory is readable and writable and the disk "
        "is healthy, then retry"
    )


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


def connect_sqlite(path: str | Path, *, synchronous: str = "FULL") -> sqlite3.Connection:
    """A connection to a memory's database file, set up the way every user of the file shares.

    One function for core and the integrations (checkpointer, store), which each keep their own
    connection to the same file: WAL (readers never block the writer), `synchronous` FULL or
    NORMAL, foreign keys enforced, and `secure_delete` so deleted text is zeroed rather than left
    in free pages. Autocommit mode (`isolation_level=None`): callers open their own transactions.
    """
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'FULL' else 'NORMAL'}")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA secure_delete=ON")
    except BaseException:
        conn.close()
        raise
    return conn


class SQLiteStore:
    """Thread-safe access to the memory database (one connection, one lock)."""

    def __init__(self, path: str | Path, *, synchronous: str = "FULL") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._pending_counts: dict[str, int] = {}
        self._counts_written = time.monotonic()
        try:
            self._conn = connect_sqlite(self.path, synchronous=synchronous)
            with self._lock:
                self._conn.executescript(SCHEMA)  # executescript manages its own transaction
        except sqlite3.Error as exc:
            raise storage_error(exc, self.path) from exc
        with self.tx() as c:
            c.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )

    def memory_id(self) -> str:
        """This memory's random id, made once: it keeps its collections apart on a shared vector server."""
        with self.tx() as c:
            c.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('memory_id', ?)", (uuid.uuid4().hex,))
            row = c.execute("SELECT value FROM meta WHERE key = 'memory_id'").fetchone()
        return str(row[0])

    # -- plumbing ---------------------------------------------------------------
    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One atomic transaction; rolled back whole on any error. SQLite errors become typed errors."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise storage_error(exc, self.path) from exc
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException as exc:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise storage_error(exc, self.path) from exc
                raise

    def query(self, sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                cur = self._conn.execute(sql, params)
                cur.row_factory = sqlite3.Row
                return list(cur.fetchall())
            except sqlite3.Error as exc:
                raise storage_error(exc, self.path) from exc

    def checkpoint(self) -> None:
        """Copy the WAL into the database file and truncate it, so erased pages leave the WAL too."""
        with self._lock:
            try:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                log.warning("plugmem: WAL checkpoint failed (%s); it is retried on close", exc)

    def close(self) -> None:
        with self._lock:
            self._write_counts()
            self._conn.close()

    # -- steps ------------------------------------------------------------------
    def append_steps(
        self,
        steps: Sequence[Step],
        *,
        explicit_times: Iterable[str] = (),
        on_replace: Callable[[sqlite3.Connection, NamespaceKey, list[str]], None] | None = None,
    ) -> list[str]:
        """Durably log steps (one transaction); an id already stored with the same message is a no-op.

        An id stored with a different message (content, role, speaker, session, or a timestamp
        the message itself carried) raises `ConflictError` and stores nothing, unless
        `on_replace` is given: it is called in the same transaction with the conflicting ids
        (to unlink what they fed), and the steps are rewritten and queued for processing.
        """
        explicit = set(explicit_times)
        with self.tx() as c:
            changed: list[Step] = []
            for s in steps:
                row = c.execute(
                    "SELECT content, role, name, session_id, ts FROM steps WHERE namespace = ? AND id = ?",
                    (s.namespace, s.id),
                ).fetchone()
                if row is None:
                    c.execute(
                        "INSERT INTO steps(namespace, id, session_id, role, name, content, ts, tool_calls,"
                        " tool_call_id, metadata) VALUES (?,?,?,?,?,?,?,?,?,?)",
                        (s.namespace, s.id, s.session_id, *self._step_fields(s)),
                    )
                elif tuple(row[:4]) != (s.content, s.role, s.name, s.session_id) or (
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
    def _step(r: sqlite3.Row) -> Step:
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
    def _steps_of(cls, rows: Iterable[sqlite3.Row]) -> list[Step]:
        """Rows as Steps, skipping any that cannot be read at all (the worker quarantines those)."""
        out: list[Step] = []
        for r in rows:
            try:
                out.append(cls._step(r))
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
                out.append(self._step(r))
            except (TypeError, ValueError, KeyError, OverflowError) as exc:
                self.quarantine(
                    namespace, [r["id"]], f"unreadable row: {type(exc).__name__}: {exc}", time.time()
                )
        return out

    def pending_namespaces(self) -> list[NamespaceKey]:
        """Namespaces with logged, unprocessed steps, the longest-waiting first (one queue each)."""
        rows = self.query("SELECT namespace FROM steps WHERE state = 0 GROUP BY namespace ORDER BY MIN(seq)")
        return [NamespaceKey(r[0]) for r in rows]

    # -- quarantine ----------------------------------------------------------------------
    def quarantine(self, namespace: NamespaceKey, ids: Sequence[str], error: str, now: float) -> None:
        """Set steps aside after they failed; each retry waits longer (5 s, 20 s, ... up to an hour)."""
        with self.tx() as c:
            for i in ids:
                row = c.execute(
                    "SELECT attempts FROM quarantine WHERE namespace = ? AND id = ?", (namespace, i)
                ).fetchone()
                attempts = (row[0] if row else 0) + 1
                delay = min(3600.0, 5.0 * 4 ** (attempts - 1))
                c.execute(
                    "INSERT OR REPLACE INTO quarantine(namespace, id, error, attempts, next_try)"
                    " VALUES (?,?,?,?,?)",
                    (namespace, i, error[:2000], attempts, now + delay),
                )
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

    def pending_count(self, namespace: NamespaceKey | None = None) -> int:
        if namespace is None:
            return int(self.query("SELECT COUNT(*) FROM steps WHERE state = 0")[0][0])
        return int(
            self.query("SELECT COUNT(*) FROM steps WHERE state = 0 AND namespace = ?", (namespace,))[0][0]
        )

    def steps(
        self, namespace: NamespaceKey, *, session_id: str | None = None, ids: Iterable[str] | None = None
    ) -> list[Step]:
        if ids is not None:
            idl = list(ids)
            out: list[Step] = []
            for i in range(0, len(idl), 500):
                chunk = idl[i : i + 500]
                q = ",".join("?" * len(chunk))
                out += self._steps_of(
                    self.query(
                        f"SELECT * FROM steps WHERE namespace = ? AND id IN ({q}) ORDER BY seq",
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
        return self._steps_of(rows)

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
        return self._steps_of(reversed(rows))

    def mark_processed(self, c: sqlite3.Connection, steps: Sequence[Step]) -> None:
        keys = [(s.namespace, s.id) for s in steps]
        c.executemany(f"UPDATE steps SET state = {DONE} WHERE namespace = ? AND id = ?", keys)
        c.executemany("DELETE FROM quarantine WHERE namespace = ? AND id = ?", keys)

    def existing_ids(self, namespace: NamespaceKey, ids: Sequence[str]) -> set[str]:
        out: set[str] = set()
        for i in range(0, len(ids), 500):
            chunk = list(ids[i : i + 500])
            q = ",".join("?" * len(chunk))
            out.update(
                r[0]
                for r in self.query(
                    f"SELECT id FROM steps WHERE namespace = ? AND id IN ({q})", (namespace, *chunk)
                )
            )
        return out

    def namespaces(self) -> list[NamespaceKey]:
        """Every namespace that has logged steps, by key."""
        return [
            NamespaceKey(r[0]) for r in self.query("SELECT DISTINCT namespace FROM steps ORDER BY namespace")
        ]

    # -- derived nodes -------------------------------------------------------------
    def put_events(self, c: sqlite3.Connection, events: Sequence[Event]) -> None:
        c.executemany(
            "INSERT OR REPLACE INTO events(namespace, id, session_id, start, data) VALUES (?,?,?,?,?)",
            [(e.namespace, e.id, e.session_id, to_ts(e.start), dumps(asdict(e))) for e in events],
        )

    def put_knowledge(self, c: sqlite3.Connection, items: Sequence[Knowledge]) -> None:
        c.executemany(
            "INSERT OR REPLACE INTO knowledge(namespace, id, kind, subject, valid_until, data) VALUES (?,?,?,?,?,?)",
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

    def put_entities(self, c: sqlite3.Connection, items: Sequence[Entity]) -> None:
        c.executemany(
            "INSERT OR REPLACE INTO entities(namespace, id, name, data) VALUES (?,?,?,?)",
            [(e.namespace, e.id, e.name, dumps(asdict(e))) for e in items],
        )

    def put_summaries(self, c: sqlite3.Connection, items: Sequence[Summary]) -> None:
        c.executemany(
            "INSERT OR REPLACE INTO summaries(namespace, id, level, key, data) VALUES (?,?,?,?,?)",
            [(s.namespace, s.id, s.level, s.key, dumps(asdict(s))) for s in items],
        )

    def delete_entities(self, c: sqlite3.Connection, namespace: NamespaceKey, ids: Sequence[str]) -> None:
        """Entities merged into others (consolidation), inside the caller's transaction."""
        c.executemany("DELETE FROM entities WHERE namespace = ? AND id = ?", [(namespace, i) for i in ids])

    def put_edges(self, c: sqlite3.Connection, namespace: NamespaceKey, edges: Sequence[Edge]) -> None:
        c.executemany(
            "INSERT OR REPLACE INTO edges(namespace, src, dst, kind, label, weight) VALUES (?,?,?,?,?,?)",
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

    def knowledge(self, namespace: NamespaceKey, *, subjects: Iterable[str] | None = None) -> list[Knowledge]:
        if subjects is None:
            rows = self.query("SELECT data FROM knowledge WHERE namespace = ?", (namespace,))
        else:
            subj = list(set(subjects))
            if not subj:
                return []
            q = ",".join("?" * len(subj))
            rows = self.query(
                f"SELECT data FROM knowledge WHERE namespace = ? AND subject IN ({q})", (namespace, *subj)
            )
        return [Knowledge(**loads(r[0])) for r in rows]

    def entities(self, namespace: NamespaceKey) -> list[Entity]:
        return [
            Entity(**loads(r[0]))
            for r in self.query("SELECT data FROM entities WHERE namespace = ?", (namespace,))
        ]

    def summaries(self, namespace: NamespaceKey) -> list[Summary]:
        return [
            Summary(**loads(r[0]))
            for r in self.query("SELECT data FROM summaries WHERE namespace = ?", (namespace,))
        ]

    def edges(self, namespace: NamespaceKey) -> list[Edge]:
        rows = self.query("SELECT src, dst, kind, label, weight FROM edges WHERE namespace = ?", (namespace,))
        return [Edge(r[0], r[1], r[2], r[3] or None, r[4]) for r in rows]

    def count(self, table: str, namespace: NamespaceKey | None = None, where: str = "") -> int:
        clauses = [w for w in (where, "namespace = ?" if namespace else "") if w]
        sql = f"SELECT COUNT(*) FROM {table}" + (" WHERE " + " AND ".join(clauses) if clauses else "")
        return int(self.query(sql, (namespace,) if namespace else ())[0][0])

    # -- deletion ------------------------------------------------------------------
    def delete_namespace(self, namespace: NamespaceKey) -> int:
        with self.tx() as c:
            n = c.execute("DELETE FROM steps WHERE namespace = ?", (namespace,)).rowcount
            for t in ("events", "knowledge", "entities", "summaries", "edges"):
                c.execute(f"DELETE FROM {t} WHERE namespace = ?", (namespace,))
        return int(n)

    def delete_steps(self, namespace: NamespaceKey, ids: Sequence[str]) -> int:
        """Delete steps and everything derived only from them (their nodes are rebuilt)."""
        with self.tx() as c:
            n = 0
            for i in range(0, len(ids), 500):
                chunk = list(ids[i : i + 500])
                q = ",".join("?" * len(chunk))
                n += c.execute(
                    f"DELETE FROM steps WHERE namespace = ? AND id IN ({q})", (namespace, *chunk)
                ).rowcount
        return int(n)

    # -- embedding cache -----------------------------------------------------------
    def load_vectors(self, model: str, hashes: list[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for i in range(0, len(hashes), 500):
            chunk = hashes[i : i + 500]
            q = ",".join("?" * len(chunk))
            for h, blob in self.query(
                f"SELECT hash, vec FROM embeddings WHERE model = ? AND hash IN ({q})", (model, *chunk)
            ):
                out[h] = np.frombuffer(blob, dtype=np.float32)
        return out

    def save_vectors(self, model: str, vecs: dict[str, np.ndarray]) -> None:
        with self.tx() as c:
            c.executemany(
                "INSERT OR IGNORE INTO embeddings(model, hash, vec) VALUES (?,?,?)",
                [(model, h, np.asarray(v, dtype=np.float32).tobytes()) for h, v in vecs.items()],
            )

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
        with self._lock:
            for k, v in counts.items():
                self._pending_counts[k] = self._pending_counts.get(k, 0) + v
            if soon and time.monotonic() - self._counts_written < COUNTER_FLUSH_S:
                return
            self._write_counts()

    def _write_counts(self) -> None:
        with self._lock:
            if not self._pending_counts:
                return
            rows = list(self._pending_counts.items())
            try:
                with self.tx() as c:
                    c.executemany(
                        "INSERT INTO counters(name, value) VALUES (?, ?)"
                        " ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                        rows,
                    )
            except PlugMemError as exc:  # statistics wait in RAM (a full disk must not fail a recall)
                log.debug("plugmem: counters not written yet: %s", exc)
                self._counts_written = time.monotonic()
                return
            self._pending_counts.clear()
            self._counts_written = time.monotonic()

    def counters(self) -> dict[str, int]:
        self._write_counts()
        return {r[0]: int(r[1]) for r in self.query("SELECT name, value FROM counters")}
