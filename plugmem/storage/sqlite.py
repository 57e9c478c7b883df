"""The source of truth: one SQLite file in WAL mode under the memory directory.

Everything else (Chroma vectors, BM25, the networkx graph) is derived from these
tables and can be rebuilt from them. A step is durable once `append_steps` returns;
`state = 0` marks it as logged but not yet processed, which is what makes recovery
after a crash a plain query.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from plugmem.model import Edge, Entity, Event, Knowledge, Step, Summary, ToolCall

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
"""


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


class SQLiteStore:
    """Thread-safe access to the memory database (one connection, one lock)."""

    def __init__(self, path: str | Path, *, synchronous: str = "FULL") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._pending_counts: dict[str, int] = {}
        self._counts_written = time.monotonic()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'FULL' else 'NORMAL'}")
        self._conn.execute("PRAGMA foreign_keys=ON")
        with self._lock:
            self._conn.executescript(SCHEMA)  # executescript manages its own transaction
        with self.tx() as c:
            c.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )

    # -- plumbing ---------------------------------------------------------------
    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One atomic transaction; rolled back whole on any error."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def query(self, sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
        with self._lock:
            cur = self._conn.execute(sql, params)
            cur.row_factory = sqlite3.Row
            return list(cur.fetchall())

    def close(self) -> None:
        with self._lock:
            self._write_counts()
            self._conn.close()

    # -- steps ------------------------------------------------------------------
    def append_steps(self, steps: Sequence[Step]) -> list[str]:
        """Durably log steps; an id already stored with the same content is a no-op.

        A known id with new content replaces the content and marks it for reprocessing
        (LangGraph may rewrite a message under the same id).
        """
        with self.tx() as c:
            for s in steps:
                row = c.execute(
                    "SELECT content, role FROM steps WHERE namespace = ? AND id = ?", (s.namespace, s.id)
                ).fetchone()
                calls = dumps([asdict(t) for t in s.tool_calls]) if s.tool_calls else None
                meta = dumps(s.metadata) if s.metadata else None
                if row is None:
                    c.execute(
                        "INSERT INTO steps(namespace, id, session_id, role, name, content, ts, tool_calls,"
                        " tool_call_id, metadata) VALUES (?,?,?,?,?,?,?,?,?,?)",
                        (
                            s.namespace,
                            s.id,
                            s.session_id,
                            s.role,
                            s.name,
                            s.content,
                            to_ts(s.timestamp),
                            calls,
                            s.tool_call_id,
                            meta,
                        ),
                    )
                elif row[0] != s.content:
                    c.execute(
                        "UPDATE steps SET content = ?, tool_calls = ?, metadata = ?, state = 0"
                        " WHERE namespace = ? AND id = ?",
                        (s.content, calls, meta, s.namespace, s.id),
                    )
        return [s.id for s in steps]

    @staticmethod
    def _step(r: sqlite3.Row) -> Step:
        calls = tuple(ToolCall(**t) for t in loads(r["tool_calls"])) if r["tool_calls"] else ()
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
            metadata=loads(r["metadata"]) if r["metadata"] else {},
        )

    def pending_steps(self, limit: int) -> list[Step]:
        rows = self.query("SELECT * FROM steps WHERE state = 0 ORDER BY seq LIMIT ?", (limit,))
        return [self._step(r) for r in rows]

    def pending_count(self, namespace: str | None = None) -> int:
        if namespace is None:
            return int(self.query("SELECT COUNT(*) FROM steps WHERE state = 0")[0][0])
        return int(
            self.query("SELECT COUNT(*) FROM steps WHERE state = 0 AND namespace = ?", (namespace,))[0][0]
        )

    def steps(
        self, namespace: str, *, session_id: str | None = None, ids: Iterable[str] | None = None
    ) -> list[Step]:
        if ids is not None:
            idl = list(ids)
            out: list[Step] = []
            for i in range(0, len(idl), 500):
                chunk = idl[i : i + 500]
                q = ",".join("?" * len(chunk))
                out += [
                    self._step(r)
                    for r in self.query(
                        f"SELECT * FROM steps WHERE namespace = ? AND id IN ({q}) ORDER BY seq",
                        (namespace, *chunk),
                    )
                ]
            return sorted(out, key=lambda s: s.seq)
        if session_id is not None:
            rows = self.query(
                "SELECT * FROM steps WHERE namespace = ? AND session_id = ? ORDER BY seq",
                (namespace, session_id),
            )
        else:
            rows = self.query("SELECT * FROM steps WHERE namespace = ? ORDER BY seq", (namespace,))
        return [self._step(r) for r in rows]

    def session_tail(self, namespace: str, session_id: str, before_seq: int, n: int) -> list[Step]:
        rows = self.query(
            "SELECT * FROM steps WHERE namespace = ? AND session_id = ? AND seq < ? AND state = 1"
            " ORDER BY seq DESC LIMIT ?",
            (namespace, session_id, before_seq, n),
        )
        return [self._step(r) for r in reversed(rows)]

    def mark_processed(self, c: sqlite3.Connection, steps: Sequence[Step]) -> None:
        c.executemany(
            "UPDATE steps SET state = 1 WHERE namespace = ? AND id = ?", [(s.namespace, s.id) for s in steps]
        )

    def existing_ids(self, namespace: str, ids: Sequence[str]) -> set[str]:
        return {s.id for s in self.steps(namespace, ids=ids)}

    def namespaces(self) -> list[str]:
        return [r[0] for r in self.query("SELECT DISTINCT namespace FROM steps ORDER BY namespace")]

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

    def put_edges(self, c: sqlite3.Connection, namespace: str, edges: Sequence[Edge]) -> None:
        c.executemany(
            "INSERT OR REPLACE INTO edges(namespace, src, dst, kind, label, weight) VALUES (?,?,?,?,?,?)",
            [(namespace, e.src, e.dst, e.kind, e.label or "", e.weight) for e in edges],
        )

    def events(self, namespace: str, *, session_id: str | None = None) -> list[Event]:
        if session_id is None:
            rows = self.query("SELECT data FROM events WHERE namespace = ? ORDER BY start", (namespace,))
        else:
            rows = self.query(
                "SELECT data FROM events WHERE namespace = ? AND session_id = ? ORDER BY start",
                (namespace, session_id),
            )
        return [Event(**loads(r[0])) for r in rows]

    def knowledge(self, namespace: str, *, subjects: Iterable[str] | None = None) -> list[Knowledge]:
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

    def entities(self, namespace: str) -> list[Entity]:
        return [
            Entity(**loads(r[0]))
            for r in self.query("SELECT data FROM entities WHERE namespace = ?", (namespace,))
        ]

    def summaries(self, namespace: str) -> list[Summary]:
        return [
            Summary(**loads(r[0]))
            for r in self.query("SELECT data FROM summaries WHERE namespace = ?", (namespace,))
        ]

    def edges(self, namespace: str) -> list[Edge]:
        rows = self.query("SELECT src, dst, kind, label, weight FROM edges WHERE namespace = ?", (namespace,))
        return [Edge(r[0], r[1], r[2], r[3] or None, r[4]) for r in rows]

    def count(self, table: str, namespace: str | None = None, where: str = "") -> int:
        clauses = [w for w in (where, "namespace = ?" if namespace else "") if w]
        sql = f"SELECT COUNT(*) FROM {table}" + (" WHERE " + " AND ".join(clauses) if clauses else "")
        return int(self.query(sql, (namespace,) if namespace else ())[0][0])

    # -- deletion ------------------------------------------------------------------
    def delete_namespace(self, namespace: str) -> int:
        with self.tx() as c:
            n = c.execute("DELETE FROM steps WHERE namespace = ?", (namespace,)).rowcount
            for t in ("events", "knowledge", "entities", "summaries", "edges"):
                c.execute(f"DELETE FROM {t} WHERE namespace = ?", (namespace,))
        return int(n)

    def delete_steps(self, namespace: str, ids: Sequence[str]) -> int:
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
        self, namespace: str | None, stage: str, error: str, attempts: int, data: object
    ) -> None:
        with self.tx() as c:
            c.execute(
                "INSERT INTO failures(namespace, stage, error, attempts, created, data) VALUES (?,?,?,?,?,?)",
                (namespace, stage, error, attempts, time.time(), dumps(data)),
            )

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
            with self.tx() as c:
                c.executemany(
                    "INSERT INTO counters(name, value) VALUES (?, ?)"
                    " ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                    rows,
                )
            self._pending_counts.clear()
            self._counts_written = time.monotonic()

    def counters(self) -> dict[str, int]:
        self._write_counts()
        return {r[0]: int(r[1]) for r in self.query("SELECT name, value FROM counters")}
