"""A database handle for the integrations' own tables, on whichever backend the memory uses.

Why: the LangGraph checkpointer and store keep their tables beside the memory's (one file
to back up on the embedded backend, one database on the server), each with a connection of
its own. They write their SQL once, in the subset both engines speak (`?` placeholders,
`INSERT ... ON CONFLICT`), and their DDL in SQLite's words; `Database.script` translates the
DDL for the engine it runs on.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from typing import Protocol

from plugmem.storage.base import Tx
from plugmem.storage.postgres import PostgresDatabase, is_postgres_url
from plugmem.storage.sqlite import SQLiteDatabase


class Database(Protocol):
    """Transactions on one database (`SQLiteDatabase` or `PostgresDatabase`)."""

    dialect: str

    def tx(self, *, write: bool = True) -> AbstractContextManager[Tx]: ...

    def script(self, script: str) -> None: ...

    def close(self) -> None: ...


def open_database(target: str | os.PathLike[str], *, synchronous: str = "FULL") -> Database:
    """A SQLite file (or ":memory:") by path, or a PostgreSQL database by `postgresql://` URL."""
    if is_postgres_url(target):
        return PostgresDatabase(str(target), max_size=4)
    return SQLiteDatabase(os.fspath(target), synchronous=synchronous)
