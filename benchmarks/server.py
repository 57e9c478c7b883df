"""Where a benchmark's server-backend memories live: a PostgreSQL server and a fresh schema per memory.

Why a schema per memory: two memories of one run (or a rerun) must not see each other's rows,
and a schema is the cheapest clean slate a server offers. Without a URL of its own a run starts
a throwaway cluster (`tests/pg_cluster.py`: initdb in a temp dir, fsync off) and deletes it after.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def fresh_schema(server: str, name: str) -> str:
    """The URL of an empty schema `name` on `server` (dropped first if a previous run left it)."""
    import psycopg

    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        conn.execute(f"CREATE SCHEMA {name}")
    sep = "&" if "?" in server else "?"
    return f"{server}{sep}options=-csearch_path%3D{name}"


def pg_cluster() -> Any:
    """The tests' throwaway-cluster module (`tests/pg_cluster.py`)."""
    sys.path.insert(0, str(ROOT / "tests"))
    import pg_cluster

    return pg_cluster


@contextmanager
def postgres(url: str | None = None, *, throwaway: bool = False) -> Iterator[str]:
    """A server URL for the block: `url`, else PLUGMEM_TEST_POSTGRES, else (or with `throwaway`) a
    throwaway cluster started for the block and deleted after it."""
    server = None if throwaway else url or os.environ.get("PLUGMEM_TEST_POSTGRES")
    if server:
        yield server
        return
    root = Path(tempfile.mkdtemp(prefix="plugmem-bench-pg-"))
    try:
        yield pg_cluster().start(root)
    finally:
        pg_cluster().stop(root)
