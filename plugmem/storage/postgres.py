"""The server backend: PostgreSQL through psycopg 3 and a connection pool.

Why PostgreSQL: several processes (agents, workers behind a LangGraph deployment, other
machines) can then share one memory, which the embedded file cannot. The tables and the
statements are the embedded backend's (`plugmem.storage.base`, `plugmem.storage.schema`);
what differs is written here:

- Placeholders: the shared SQL uses `?`; psycopg wants `%s` (a literal `%` is doubled).
- Work claims: a namespace's batch is claimed by locking its `work_claims` row with
  `SELECT ... FOR UPDATE SKIP LOCKED` on a connection held for the batch, so exactly one
  process derives a namespace at a time and another process's worker takes over the moment
  the holder commits or dies (the server drops a dead client's locks).
- Migrations run under a transaction-scoped advisory lock, so processes opening at once
  apply each migration once.

Connections come from a `psycopg_pool.ConnectionPool` (autocommit; explicit transactions).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

from plugmem.errors import MemoryNotFoundError, PlugMemError, StorageError, StorageFullError
from plugmem.namespace import NamespaceKey
from plugmem.storage import schema
from plugmem.storage.base import Store

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

log = logging.getLogger("plugmem")

URL_SCHEMES = ("postgresql://", "postgres://")
_MIGRATION_LOCK = 0x706C75676D656D  # "plugmem": one advisory lock id for schema changes
POOL_SIZE = 10  # the worker's claim, its batch commit, and recalls/adds from the app's threads


def is_postgres_url(target: object) -> bool:
    return isinstance(target, str) and target.startswith(URL_SCHEMES)


def redact(url: str) -> str:
    """The URL without its password, for messages and repr."""
    head, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at:
        return url
    return f"{head}{sep}{creds.split(':', 1)[0]}@{host}"


class Row(Sequence[Any]):
    """A result row readable by position and by column name, like `sqlite3.Row`."""

    __slots__ = ("_index", "_values")

    def __init__(self, values: Sequence[Any], index: dict[str, int]) -> None:
        self._values = tuple(values)
        self._index = index

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return self._values[self._index[key]]
        return self._values[key]

    def __len__(self) -> int:
        return len(self._values)

    def keys(self) -> list[str]:
        return list(self._index)

    def __repr__(self) -> str:
        return f"Row{self._values!r}"


def _row_factory(cursor: Any) -> Callable[[Sequence[Any]], Row]:
    index = {c.name: i for i, c in enumerate(cursor.description or ())}
    return lambda values: Row(values, index)


def to_pg(sql: str) -> str:
    """The shared SQL (`?` placeholders) in psycopg's paramstyle."""
    return sql.replace("%", "%%").replace("?", "%s")


class PgTx:
    """A transaction on one pooled connection, with the `Tx` interface (`?` placeholders)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> psycopg.Cursor[Any]:
        return self._conn.execute(to_pg(sql), tuple(parameters))

    def executemany(self, sql: str, seq_of_parameters: Iterable[Sequence[Any]], /) -> psycopg.Cursor[Any]:
        cur = self._conn.cursor()
        rows = [tuple(p) for p in seq_of_parameters]
        if rows:
            cur.executemany(to_pg(sql), rows)
        return cur


def pg_error(exc: Exception, where: str) -> PlugMemError:
    """The typed error for a PostgreSQL failure, with what the caller can do about it."""
    import psycopg

    if isinstance(exc, psycopg.errors.DiskFull):
        return StorageFullError(
            f"the PostgreSQL server at {where} is out of disk ({exc}); free space on the server and retry: "
            "nothing of this write was stored, and background ingest resumes by itself"
        )
    if isinstance(exc, psycopg.OperationalError) or type(exc).__name__ == "PoolTimeout":
        return StorageError(
            f"cannot reach PostgreSQL at {where} ({exc}); check that the server is running and that the URL "
            "(host, port, database, user, password) is right, then retry"
        )
    return StorageError(f"PostgreSQL at {where} refused a plugmem statement ({exc}); retry, or report it")


class PostgresDatabase:
    """A pool of connections to one PostgreSQL database: transactions, reads and row-lock claims.

    The memory's store and the LangGraph integration each hold one (their own pool) on the
    same database, the way the embedded backend's users each hold a connection to one file.
    """

    dialect = "postgres"

    def __init__(self, url: str, *, max_size: int = POOL_SIZE) -> None:
        try:
            import psycopg  # noqa: F401
            from psycopg_pool import ConnectionPool
        except ImportError as exc:
            raise StorageError(
                f"the PostgreSQL backend needs psycopg 3 and psycopg-pool ({exc}); "
                'install them with: pip install "plugmem[postgres]"'
            ) from exc
        self.url = url
        self.where = redact(url)
        self._pool: ConnectionPool[Any] = ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            kwargs={"autocommit": True, "row_factory": _row_factory},
            open=False,
            name="plugmem",
            timeout=30,
        )
        try:
            self._pool.open(wait=True, timeout=15)
        except Exception as exc:
            self._pool.close()
            raise pg_error(exc, self.where) from exc

    @contextmanager
    def tx(self, *, write: bool = True) -> Iterator[PgTx]:
        """One transaction (rolled back whole on any error); server errors become typed errors."""
        import psycopg

        try:
            with self._pool.connection() as conn, conn.transaction():
                yield PgTx(conn)
        except psycopg.Error as exc:
            raise pg_error(exc, self.where) from exc
        except Exception as exc:
            if type(exc).__name__ == "PoolTimeout":
                raise pg_error(exc, self.where) from exc
            raise

    def query(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        with self.tx(write=False) as c:
            return c.execute(sql, params).fetchall()

    @contextmanager
    def claim(self, key: str, *, wait: bool) -> Iterator[bool]:
        """Lock `key`'s row in work_claims for as long as the block runs (False: another holder)."""
        import psycopg

        lock = "FOR UPDATE" if wait else "FOR UPDATE SKIP LOCKED"
        try:
            with self._pool.connection() as conn:
                conn.execute("INSERT INTO work_claims(namespace) VALUES (%s) ON CONFLICT DO NOTHING", (key,))
                with conn.transaction():
                    row = conn.execute(
                        f"SELECT namespace FROM work_claims WHERE namespace = %s {lock}", (key,)
                    ).fetchone()
                    yield row is not None
        except psycopg.Error as exc:
            raise pg_error(exc, self.where) from exc

    def script(self, script: str) -> None:
        """Run DDL written in SQLite's words, translated, in one transaction (one process at a time)."""
        with self.tx() as c:
            c.execute("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))
            for statement in schema.ddl(script, self.dialect):
                c.execute(statement)

    def close(self) -> None:
        self._pool.close()


class PostgresStore(Store):
    """The memory's tables in a PostgreSQL database shared by any number of processes."""

    dialect = "postgres"
    shared = True

    def __init__(self, url: str, *, create: bool = True) -> None:
        super().__init__()
        self.url = url
        self.db = PostgresDatabase(url)
        self.where = self.db.where
        try:
            if not create and not self._exists():
                raise MemoryNotFoundError(
                    f"{redact(url)} is not a plugmem memory (no plugmem tables in its schema); nothing was "
                    "created. Check the URL (database, and the search_path in options), or open it with "
                    "create=True to start a new memory there"
                )
            self._migrate()
        except BaseException:
            self.db.close()
            raise

    def _exists(self) -> bool:
        """Whether the schema the URL points at holds a memory (its version table)."""
        return self.query("SELECT to_regclass('schema_version') IS NOT NULL")[0][0] is True

    def _migrate(self) -> None:
        """Apply the migrations the database lacks, once, whichever process opens first."""
        with self.tx() as c:
            c.execute("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))
            schema.migrate(c, self.where, self.dialect)

    def schema_version(self) -> int:
        return int(self.query("SELECT MAX(version) FROM schema_version")[0][0])

    @contextmanager
    def tx(self) -> Iterator[PgTx]:
        with self.db.tx() as c:
            yield c

    def query(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        return self.db.query(sql, params)

    def claim(self, namespace: NamespaceKey, *, wait: bool) -> AbstractContextManager[bool]:
        return self.db.claim(namespace, wait=wait)

    def checkpoint(self) -> None:
        """Nothing to do: the server recycles its WAL, and autovacuum reclaims erased rows."""

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.db.close()
