"""Core, the checkpointer and the store open the one database file the same way (`plugmem.connect_sqlite`)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from _node_fixtures import open_memory
from plugmem_langgraph import PlugMemSaver, PlugMemStore


def _settings(conn: sqlite3.Connection) -> tuple[str, int, int, int]:
    return (
        conn.execute("PRAGMA journal_mode").fetchone()[0],
        conn.execute("PRAGMA synchronous").fetchone()[0],
        conn.execute("PRAGMA foreign_keys").fetchone()[0],
        conn.execute("PRAGMA secure_delete").fetchone()[0],
    )


def test_every_connection_to_the_memory_file_has_the_same_settings(tmp_path: Path) -> None:
    with open_memory(tmp_path / "m", synchronous="NORMAL") as mem:
        saver = PlugMemSaver(memory=mem, feed=False)
        store = PlugMemStore(mem)
        try:
            core = _settings(mem.store._conn)
            assert core == ("wal", 1, 1, 1)  # WAL, synchronous NORMAL, foreign keys, secure delete
            assert _settings(saver._db._conn) == core
            assert _settings(store._db._conn) == core
        finally:
            store.close()
            saver.close()


def test_full_durability_is_the_default(tmp_path: Path) -> None:
    with PlugMemSaver(path=tmp_path / "cp.db") as saver:
        assert _settings(saver._db._conn) == ("wal", 2, 1, 1)
