"""The memory's schema as numbered forward migrations, applied on open on every backend.

Why numbered: a database outlives the code that created it. `schema_version` holds the
highest migration applied; opening runs the ones after it in one transaction, and code that
finds a number higher than it knows refuses to open (`SchemaTooNewError`) rather than write
rows a newer version reads differently. Migration 1 is the schema of plugmem ≤ 0.x, written
with `IF NOT EXISTS`, so a database from before `schema_version` existed adopts it as is.

The DDL is written once in SQLite's words; `ddl(..., "postgres")` swaps the few types that
differ (identity keys, BYTEA, DOUBLE PRECISION, BIGINT, byte-order text), so both engines get
the same tables and sort text the same way. A migration that only one engine needs is a
mapping of dialect to script (the other engines record its number and run nothing): PostgreSQL's
full-text table has no SQLite counterpart, whose FTS5 tables are made per namespace on demand.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from plugmem.errors import SchemaTooNewError

Migration = str | Mapping[str, str]  # one script for every engine, or one per dialect

MIGRATIONS: tuple[Migration, ...] = (
    # 1: the log, derived rows, vector cache, failures, counters and quarantine
    """
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
""",
    # 2: several processes on one memory: a namespace's work is claimed by locking its row in
    # work_claims, and each change of its derived rows counts one generation (readers reload)
    """
CREATE TABLE work_claims (namespace TEXT PRIMARY KEY);
CREATE TABLE generations (namespace TEXT PRIMARY KEY, gen INTEGER NOT NULL);
CREATE INDEX steps_pending_ns ON steps (namespace, seq) WHERE state = 0;
""",
    # 3: PostgreSQL's lexical index of large namespaces (`plugmem.index.lexical_pg`): one row per
    # document, its tokens as a tsvector (term frequencies as positions) under a GIN index
    {
        "postgres": """
CREATE TABLE lexical (
    namespace TEXT NOT NULL, doc_id TEXT NOT NULL, hash TEXT NOT NULL, len INTEGER NOT NULL,
    tsv tsvector NOT NULL, PRIMARY KEY (namespace, doc_id));
CREATE INDEX lexical_tsv ON lexical USING gin (tsv);
""",
    },
    # 4: the keys a fact is found by when a batch consolidates (`Store.knowledge_matching`), so a
    # batch reads the facts it may repeat or supersede, not every fact of the namespace. Facts
    # stored before are keyed on the next open (`Store.rekey_knowledge`, marked here). A batch also
    # reads the last event of each session it continues and the latest events of the namespace:
    # indexed, not a scan of every event.
    """
CREATE TABLE knowledge_keys (
    namespace TEXT NOT NULL, key TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (namespace, key, id));
CREATE INDEX knowledge_keys_id ON knowledge_keys (namespace, id);
CREATE INDEX IF NOT EXISTS events_session ON events (namespace, session_id, start);
CREATE INDEX IF NOT EXISTS events_start ON events (namespace, start);
INSERT INTO meta(key, value) SELECT 'knowledge_keys', 'stale' WHERE EXISTS (SELECT 1 FROM knowledge);
""",
)

LATEST = len(MIGRATIONS)
VERSION_TABLE = "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"

_POSTGRES_TYPES = (
    (r"\bINTEGER PRIMARY KEY AUTOINCREMENT\b", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
    (r"\bINTEGER\b", "BIGINT"),
    (r"\bREAL\b", "DOUBLE PRECISION"),
    (r"\bBLOB\b", "BYTEA"),
    (r"\bTEXT\b", 'TEXT COLLATE "C"'),  # byte order, as SQLite compares (prefix ranges rely on it)
    (r"\)\s*WITHOUT ROWID", ")"),
)


def ddl(script: Migration, dialect: str) -> list[str]:
    """The statements of a migration in one engine's dialect (none when it is another engine's)."""
    if not isinstance(script, str):
        script = script.get(dialect, "")
    if dialect == "postgres":
        for pattern, replacement in _POSTGRES_TYPES:
            script = re.sub(pattern, replacement, script)
    return [s.strip() for s in script.split(";") if s.strip()]


def pending(current: int, where: str) -> list[int]:
    """The migrations to apply after `current`; a database newer than this code is refused."""
    if current > LATEST:
        raise SchemaTooNewError(
            f"{where} has schema version {current}, newer than this plugmem knows ({LATEST}); "
            "nothing was changed. Upgrade plugmem (pip install -U plugmem) to open it, or open a "
            "copy made before the upgrade"
        )
    return list(range(current + 1, LATEST + 1))


def migrate(c: Any, where: str, dialect: str) -> None:
    """Inside the caller's transaction: apply the migrations the database lacks and record the version.

    Refuses (via `pending`) a database newer than this code; both backends call this one function.
    """
    c.execute(VERSION_TABLE)
    row = c.execute("SELECT MAX(version) FROM schema_version").fetchone()
    current = int(row[0] or 0) if row else 0
    todo = pending(current, where)
    for n in todo:
        for statement in ddl(MIGRATIONS[n - 1], dialect):
            c.execute(statement)
    if todo:
        c.execute("DELETE FROM schema_version")
        c.execute("INSERT INTO schema_version(version) VALUES (?)", (todo[-1],))
        c.execute(
            "INSERT INTO meta(key, value) VALUES ('schema_version', ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(todo[-1]),),
        )
