"""The embedded backend: one SQLite file in WAL mode under the memory directory.

Everything else (Chroma vectors, BM25, the networkx graph) is derived from these
tables and can be rebuilt from them. A step is durable once `append_steps` returns;
`state = 0` marks it as logged but not yet processed, which is what makes recovery
after a crash a plain query. One process owns the file (`plugmem.lock`), so claiming a
namespace's work is the in-process lock the pipeline already holds.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from plugmem.errors import CorruptMemoryError, PlugMemError, StorageError, StorageFullError
from plugmem.namespace import NamespaceKey
from plugmem.storage import schema
from plugmem.storage.base import DONE, PENDING, QUARANTINED, Store, dumps, from_ts, loads, to_ts

__all__ = [
    "DONE",
    "PENDING",
    "QUARANTINED",
    "SQLiteStore",
    "connect_sqlite",
    "dumps",
    "from_ts",
    "loads",
    "storage_error",
    "to_ts",
]

log = logging.getLogger("plugmem")

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


class SQLiteStore(Store):
    """Thread-safe access to the memory database (one connection, one lock)."""

    dialect = "sqlite"

    def __init__(self, path: str | Path, *, synchronous: str = "FULL") -> None:
        super().__init__()
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._read_lock = threading.Lock()
        try:
            self._conn = connect_sqlite(self.path, synchronous=synchronous)
            self._conn.row_factory = sqlite3.Row
        except sqlite3.Error as exc:
            raise storage_error(exc, self.path) from exc
        try:
            self._migrate()
            # a second connection for snapshot reads: in WAL mode it reads beside a write in progress
            self._reader = connect_sqlite(self.path, synchronous=synchronous)
        except BaseException:
            self._conn.close()
            raise

    def _migrate(self) -> None:
        """Apply the migrations this file lacks, in one transaction (refuses a newer file)."""
        with self.tx() as c:
            schema.migrate(c, str(self.path), self.dialect)

    def schema_version(self) -> int:
        return int(self.query("SELECT MAX(version) FROM schema_version")[0][0])

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

    def query(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        with self._lock:
            try:
                return list(self._conn.execute(sql, params).fetchall())
            except sqlite3.Error as exc:
                raise storage_error(exc, self.path) from exc

    def snapshot_query(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        with self._read_lock:
            try:
                return list(self._reader.execute(sql, params).fetchall())
            except sqlite3.Error as exc:
                raise storage_error(exc, self.path) from exc

    @contextmanager
    def claim(self, namespace: NamespaceKey, *, wait: bool) -> Iterator[bool]:
        """Always held: one process owns the file, and the pipeline's namespace lock orders its threads."""
        yield True

    def checkpoint(self) -> None:
        """Copy the WAL into the database file and truncate it, so erased pages leave the WAL too."""
        with self._lock:
            try:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                log.warning("plugmem: WAL checkpoint failed (%s); it is retried on close", exc)

    def close(self) -> None:
        with self._lock, self._read_lock:
            try:
                super().close()
            finally:
                self._reader.close()
                self._conn.close()


class SQLiteDatabase:
    """A connection of its own to a memory's file, for the integrations' tables beside the memory's.

    The counterpart of `PostgresDatabase`: `tx(write=...)` gives one transaction with the `Tx`
    interface; reads get a consistent snapshot, writes take the write lock up front.
    """

    dialect = "sqlite"

    def __init__(self, path: str | Path, *, synchronous: str = "FULL") -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        self._conn = connect_sqlite(path, synchronous=synchronous)

    @contextmanager
    def tx(self, *, write: bool = True) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield cur
                cur.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    cur.execute("ROLLBACK")
                raise
            finally:
                cur.close()

    def script(self, script: str) -> None:
        """Run DDL (SQLite's executescript manages its own transaction)."""
        with self._lock:
            self._conn.executescript(script)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
