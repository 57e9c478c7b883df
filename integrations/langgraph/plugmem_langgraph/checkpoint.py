"""`PlugMemSaver`: LangGraph's checkpointer kept in plugmem's database, feeding threads into memory.

Why a checkpointer here: a LangGraph app already hands every thread's state to its
checkpointer after each step, so that is the one place that sees every message without
the graph having to call memory itself. Keeping the checkpoints in the memory's own
database means one file to back up and one WAL with no server (embedded), or one
PostgreSQL database (server memory). The saver owns the tables prefixed `lg_` and its own
connection (`plugmem.open_database`; the SQL is written once for both engines, docs/CONTRACTS.md).

Storage follows LangGraph's `SqliteSaver` (one serialized checkpoint per row, pending
writes in their own table, special channels at the negative indexes of `WRITES_IDX_MAP`),
with the extended capabilities the conformance suite checks (`delete_for_runs`,
`copy_thread`, `prune`) and async twins that run the SQLite work in a thread.

Feeding memory, and why it is shaped this way:

- Only the root graph's `messages` channel is fed (subgraph checkpoints repeat or
  fragment the same conversation), and only on steps where that channel changed. A
  `DeltaChannel` (LangGraph beta) keeps no inline value on most steps; those are skipped.
- `put` does no memory work: it snapshots the message list and queues it for the
  `Feeder` (feeder.py: the feeding half, given a callback to read `lg_fed`). Its single
  background thread waits until the graph is quiet (`feed_delay`, at most
  `feed_max_delay`), diffs the queued lists against what was already fed for each
  thread and calls `memory.add(new, namespace=..., session_id=thread_id,
  timestamp=<checkpoint ts>)` once per thread, so a run's burst of steps costs one
  append, made between steps. `memory.add` is a durable append; extraction and indexing
  run in plugmem's own worker. `flush()` feeds at once and waits; `close()` drains.
- What was fed is recorded per (namespace, thread, message id) with a content digest in
  `lg_fed`, after `memory.add` returned; the rows ride on the next checkpoint's commit
  (or `flush()`), so feeding adds no commit of its own to the saver. Repeated steps feed
  nothing twice, an edited message (same id, new content) is fed again, a message the
  user later `forget`s is not fed back, and a crash between a checkpoint and its feed is
  caught up by the thread's next checkpoint (the list is cumulative; memory ignores
  re-added ids).
- Recalled-memory messages (`is_memory_message`) and roles outside the policy's
  `store_roles` are skipped; over-long messages are truncated with a marker and messages
  without ids get a derived id, by the rule the memory node uses too (messages.py).
- A failed feed never fails the checkpoint: it is logged and counted (`feed_errors`,
  `last_feed_error`) and retried on the next checkpoint, except a message memory rejects
  as invalid, which is skipped until its content changes.

Namespace: an explicit `namespace=` wins; else the policy's template is filled from the
run's `config["configurable"]` (e.g. `("memories", "{user_id}")`); if the config lacks a
key the template needs, the thread gets its own namespace `("threads", <thread_id>)`
(logged once), a prefix that cannot collide with the per-user namespaces.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import logging
import os
import random
import threading
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, cast

from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    PendingWrite,
    SerializerProtocol,
    get_checkpoint_id,
    get_checkpoint_metadata,
    writes_sort_key,
)

from plugmem import (
    Database,
    InvalidInputError,
    MemoryClosedError,
    MemoryPolicy,
    NamespaceKey,
    PlugMem,
    Tx,
    open_database,
    validate_namespace,
)
from plugmem_langgraph.feeder import FALLBACK_NAMESPACE_PREFIX, Feeder, FeedJob
from plugmem_langgraph.messages import message_key

__all__ = ["FALLBACK_NAMESPACE_PREFIX", "PlugMemSaver"]

log = logging.getLogger("plugmem.langgraph.checkpoint")

SCHEMA_VERSION = "1"
_PAGE = 100  # checkpoints read per lock acquisition while listing
_MAX_VARS = 500  # ids bound per statement (SQLite's limit is far higher; keeps statements small)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS lg_meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS lg_checkpoints (
    thread_id TEXT NOT NULL,
    checkpoint_ns TEXT NOT NULL DEFAULT '',
    checkpoint_id TEXT NOT NULL,
    parent_checkpoint_id TEXT,
    type TEXT NOT NULL,
    checkpoint BLOB NOT NULL,
    metadata_type TEXT NOT NULL,
    metadata BLOB NOT NULL,
    run_id TEXT,
    PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id)
);
CREATE INDEX IF NOT EXISTS lg_checkpoints_run ON lg_checkpoints (run_id) WHERE run_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS lg_writes (
    thread_id TEXT NOT NULL,
    checkpoint_ns TEXT NOT NULL DEFAULT '',
    checkpoint_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    task_path TEXT NOT NULL DEFAULT '',
    idx INTEGER NOT NULL,
    channel TEXT NOT NULL,
    type TEXT NOT NULL,
    value BLOB,
    PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
);
CREATE TABLE IF NOT EXISTS lg_fed (
    namespace TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (namespace, thread_id, message_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS lg_fed_thread ON lg_fed (thread_id);
CREATE TABLE IF NOT EXISTS lg_unfed (
    thread_id TEXT PRIMARY KEY,
    checkpoint_id TEXT NOT NULL,
    configurable TEXT NOT NULL
);
"""

# what "replace the row" is in the SQL both engines run
_CP_REPLACE = (
    "ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id) DO UPDATE SET "
    "parent_checkpoint_id = excluded.parent_checkpoint_id, type = excluded.type, "
    "checkpoint = excluded.checkpoint, metadata_type = excluded.metadata_type, "
    "metadata = excluded.metadata, run_id = excluded.run_id"
)
_WRITES_REPLACE = (
    "ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id, task_id, idx) DO UPDATE SET "
    "task_path = excluded.task_path, channel = excluded.channel, type = excluded.type, value = excluded.value"
)
_FED_REPLACE = "ON CONFLICT (namespace, thread_id, message_id) DO UPDATE SET digest = excluded.digest"

_CP_COLUMNS = (
    "thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata_type, metadata"
)
_CpRow = tuple[str, str, str, str | None, str, bytes, str, bytes]
_WriteRow = tuple[str, str, str, bytes, str, int]


@dataclass(slots=True, eq=False)
class _Shared:
    """The saver's mutable state, in one object so that the shallow copies LangGraph makes
    with `with_allowlist` (strict msgpack mode) share it with the saver the user holds (they
    share its `Feeder` too: a copy's checkpoints are fed, counted and flushed like the original's)."""

    closed: bool = False


def _config_json(config: RunnableConfig) -> str:
    """The run's configurable values (what a namespace template reads), without LangGraph's internals."""
    conf = config.get("configurable") or {}
    plain = {
        str(k): v
        for k, v in conf.items()
        if not str(k).startswith("__") and not str(k).startswith("checkpoint")
    }
    return json.dumps(plain, default=str, sort_keys=True)


def _chunks(items: Sequence[Any], size: int = _MAX_VARS) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class PlugMemSaver(BaseCheckpointSaver[str]):
    """LangGraph checkpointer persisted in SQLite (WAL), feeding each thread's messages into memory.

    Args:
        memory: an open `PlugMem`; checkpoints go into its database file and, with
            `feed=True`, the root graph's messages are added to it in the background.
        path: a SQLite file for the checkpoints instead of (or besides) the memory's
            file; with a path and no memory, the saver is a plain durable checkpointer.
            ":memory:" works for throwaway savers.
        policy: namespace template and `store_roles` for fed messages; default the
            memory's policy.
        feed: add thread messages to memory (needs `memory`).
        namespace: a fixed memory namespace for every thread instead of the template.
        serde: LangGraph serializer for checkpoints and writes (default JsonPlusSerializer).
        synchronous: "FULL" (fsync every commit) or "NORMAL" (survives process crashes,
            not power loss); default the memory policy's setting (else `policy`'s), FULL
            unless changed, so checkpoints are as durable as the memory beside them.
        messages_key: the state channel holding the conversation.
        feed_delay, feed_max_delay: the feed thread waits until no checkpoint arrived for
            `feed_delay` seconds (or `feed_max_delay` passed since the oldest waiting one)
            before it feeds, so a run's burst of steps becomes one `memory.add` per thread,
            done between steps rather than during them. `flush()` feeds at once.
    """

    def __init__(
        self,
        memory: PlugMem | None = None,
        *,
        path: str | os.PathLike[str] | None = None,
        policy: MemoryPolicy | None = None,
        feed: bool = True,
        namespace: tuple[str, ...] | None = None,
        serde: SerializerProtocol | None = None,
        synchronous: Literal["FULL", "NORMAL"] | None = None,
        messages_key: str = "messages",
        feed_delay: float = 0.05,
        feed_max_delay: float = 1.0,
    ) -> None:
        super().__init__(serde=serde)
        if memory is not None and not isinstance(memory, PlugMem):
            raise InvalidInputError(
                f"PlugMemSaver(memory=...) takes a plugmem.PlugMem, got {type(memory).__name__}; "
                "pass a SQLite file as path=... for a checkpointer without memory"
            )
        if memory is None and path is None:
            raise InvalidInputError(
                "PlugMemSaver needs a memory (PlugMemSaver(memory=PlugMem.open(dir))) "
                "or a SQLite file (PlugMemSaver(path='checkpoints.db'))"
            )
        if policy is not None and not isinstance(policy, MemoryPolicy):
            raise InvalidInputError(f"policy must be a plugmem.MemoryPolicy, got {type(policy).__name__}")
        if synchronous is not None and synchronous not in ("FULL", "NORMAL"):
            raise InvalidInputError(f'synchronous must be "FULL" or "NORMAL", got {synchronous!r}')
        if not messages_key or not isinstance(messages_key, str):
            raise InvalidInputError(f"messages_key must be a state channel name, got {messages_key!r}")
        if not 0 <= feed_delay <= feed_max_delay:
            raise InvalidInputError(
                f"need 0 <= feed_delay <= feed_max_delay (seconds), got {feed_delay!r} and {feed_max_delay!r}"
            )
        self.feed_delay = float(feed_delay)
        self.feed_max_delay = float(feed_max_delay)
        self.memory = memory
        self.policy: MemoryPolicy = policy or (memory.policy if memory is not None else MemoryPolicy())
        self.namespace = validate_namespace(namespace) if namespace is not None else None
        self.feed = bool(feed) and memory is not None
        self.messages_key = messages_key
        if path is not None:
            db = os.fspath(path)
            if db != ":memory:" and "://" not in db:
                p = Path(db)
                if p.is_dir():
                    raise InvalidInputError(
                        f"{p} is a directory; pass the SQLite file path, or the PlugMem as memory=..."
                    )
                p.parent.mkdir(parents=True, exist_ok=True)
        else:
            db = cast(PlugMem, memory).url or os.fspath(cast(PlugMem, memory).db_path)
        self.db_path = db
        # durability is the database's, not the agent's: follow the memory's own setting
        self.synchronous: Literal["FULL", "NORMAL"] = synchronous or (
            memory.policy.synchronous if memory is not None else self.policy.synchronous
        )

        self._lock = threading.RLock()
        self._s = _Shared()
        self._db: Database = (  # on SQLite, deleted checkpoints are zeroed (secure_delete)
            open_database(db, synchronous=self.synchronous)
            if path is not None
            else cast(PlugMem, memory).open_database(synchronous=self.synchronous)
        )
        self._db.script(_SCHEMA)
        with self._db.tx() as cur:
            cur.execute(
                "INSERT INTO lg_meta (name, value) VALUES ('schema_version', ?) ON CONFLICT (name) DO NOTHING",
                (SCHEMA_VERSION,),
            )

        # feeding memory: the Feeder's own thread, started on the first checkpoint to feed
        self._feeder = Feeder(
            memory,
            policy=self.policy,
            namespace=self.namespace,
            load_fed=self._load_fed,
            delay=self.feed_delay,
            max_delay=self.feed_max_delay,
        )
        if memory is not None and self.feed and self._same_database(memory, path):
            memory.register_eraser(self._erase_messages)  # forget reaches the checkpoints in this file
        if self.feed:
            self._catch_up()

    @staticmethod
    def _same_database(memory: PlugMem, path: str | os.PathLike[str] | None) -> bool:
        """Whether the checkpoints live in the memory's own database (then forget reaches them)."""
        if path is None:
            return True
        if memory.url is not None:
            return os.fspath(path) == memory.url
        return "://" not in os.fspath(path) and Path(path).resolve() == memory.db_path.resolve()

    # -- lifecycle -------------------------------------------------------------------
    @classmethod
    @contextmanager
    def from_conn_string(cls, conn_string: str, **kwargs: Any) -> Iterator[PlugMemSaver]:
        """A saver on a SQLite file (or ":memory:"), closed on exit; like `SqliteSaver.from_conn_string`."""
        saver = cls(path=conn_string, **kwargs)
        try:
            yield saver
        finally:
            saver.close()

    def setup(self) -> None:
        """Tables are created when the saver opens; kept for parity with LangGraph's savers."""
        self._check_open()

    def close(self, timeout: float | None = None) -> None:
        """Drain the feed queue, stop its thread and close the connection (idempotent)."""
        if self._s.closed:
            return
        self.flush(timeout)
        self._feeder.stop(timeout)
        with self._lock:
            if self._s.closed:
                return
            self._s.closed = True
            self._db.close()

    async def aclose(self) -> None:
        """`close` in a worker thread (the SQLite work must not block the event loop)."""
        await asyncio.to_thread(self.close)

    def __enter__(self) -> PlugMemSaver:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> PlugMemSaver:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"PlugMemSaver(db={self.db_path!r}, feed={self.feed}, policy={self.policy.name!r})"

    def _check_open(self) -> None:
        if self._s.closed:
            raise MemoryClosedError("PlugMemSaver was used after close()")

    @contextmanager
    def _tx(self, *, write: bool) -> Iterator[Tx]:
        """One transaction under the lock; reads get a consistent snapshot, writes the write lock up front."""
        with self._lock:
            self._check_open()
            with self._db.tx(write=write) as cur:
                yield cur

    # -- config ----------------------------------------------------------------------
    @staticmethod
    def _target(config: RunnableConfig | None, what: str) -> tuple[str, str, str | None]:
        """(thread_id, checkpoint_ns, checkpoint_id) of a config, or a clear error."""
        conf = config.get("configurable") if isinstance(config, Mapping) else None
        if not isinstance(conf, Mapping):
            raise InvalidInputError(
                f"PlugMemSaver.{what} needs a config like "
                "{'configurable': {'thread_id': 'some-thread'}}, "
                f"got {type(config).__name__ if not isinstance(config, Mapping) else 'no configurable'}"
            )
        thread_id = conf.get("thread_id")
        if thread_id is None or thread_id == "":
            raise InvalidInputError(
                f"PlugMemSaver.{what}: config['configurable'] has no 'thread_id' (keys: {sorted(map(str, conf))}); "
                "invoke the graph with config={'configurable': {'thread_id': 'some-thread'}}"
            )
        ns = conf.get("checkpoint_ns") or ""
        cid = conf.get("checkpoint_id") or None
        return str(thread_id), str(ns), (str(cid) if cid is not None else None)

    # -- reads -----------------------------------------------------------------------
    def _tuple(
        self, row: _CpRow, writes: Sequence[_WriteRow], config: RunnableConfig | None
    ) -> CheckpointTuple:
        thread_id, ns, cid, parent, ctype, cblob, mtype, mblob = row
        ordered = sorted(writes, key=lambda w: writes_sort_key(w[4], w[0], w[5]))
        pending: list[PendingWrite] = [
            (task_id, channel, self.serde.loads_typed((vtype, value)))
            for task_id, channel, vtype, value, _, _ in ordered
        ]
        return CheckpointTuple(
            config=config
            or {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": cid}},
            checkpoint=cast(Checkpoint, self.serde.loads_typed((ctype, cblob))),
            metadata=cast(CheckpointMetadata, self.serde.loads_typed((mtype, mblob))),
            parent_config=(
                {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": parent}}
                if parent
                else None
            ),
            pending_writes=pending,
        )

    @staticmethod
    def _writes_of(cur: Tx, thread_id: str, ns: str, cid: str) -> list[_WriteRow]:
        return cast(
            list[_WriteRow],
            cur.execute(
                "SELECT task_id, channel, type, value, task_path, idx FROM lg_writes "
                "WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ?",
                (thread_id, ns, cid),
            ).fetchall(),
        )

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint named by `checkpoint_id`, else the thread's latest in `checkpoint_ns`."""
        thread_id, ns, cid = self._target(config, "get_tuple")
        with self._tx(write=False) as cur:
            if cid:
                row = cur.execute(
                    f"SELECT {_CP_COLUMNS} FROM lg_checkpoints "
                    "WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ?",
                    (thread_id, ns, cid),
                ).fetchone()
            else:
                row = cur.execute(
                    f"SELECT {_CP_COLUMNS} FROM lg_checkpoints WHERE thread_id = ? AND checkpoint_ns = ? "
                    "ORDER BY checkpoint_id DESC LIMIT 1",
                    (thread_id, ns),
                ).fetchone()
            if row is None:
                return None
            writes = self._writes_of(cur, thread_id, ns, row[2])
        # deserialize outside the lock: other threads' puts need not wait for it
        return self._tuple(cast(_CpRow, row), writes, config if cid else None)

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """Checkpoints newest first, by thread / namespace / id, metadata equality filter, `before`, `limit`.

        Rows are read a page at a time and the lock is released between pages, so the
        caller may use the saver while iterating. Metadata filters compare values for
        equality after deserialization (as `InMemorySaver` does), so any metadata value
        type can be filtered on.
        """
        if limit is not None and limit <= 0:
            return
        where, params = self._list_where(config, before)
        if filter is not None and not isinstance(filter, Mapping):
            raise InvalidInputError(f"PlugMemSaver.list: filter must be a dict, got {type(filter).__name__}")
        remaining = limit
        last: tuple[str, str, str] | None = None
        page = _PAGE if filter or limit is None else min(_PAGE, limit)
        while True:
            rows, kept, writes = self._list_page(where, params, last, page, filter)
            if not rows:
                return
            last = (rows[-1][2], rows[-1][0], rows[-1][1])
            for row, row_writes in zip(kept, writes, strict=True):
                yield self._tuple(row, row_writes, None)
                if remaining is not None:
                    remaining -= 1
                    if remaining <= 0:
                        return
            if len(rows) < page:
                return

    @staticmethod
    def _list_where(
        config: RunnableConfig | None, before: RunnableConfig | None
    ) -> tuple[builtins.list[str], builtins.list[Any]]:
        """The WHERE clauses (and their parameters) of `list`'s thread / namespace / id / `before`."""
        where: list[str] = []
        params: list[Any] = []
        if config is not None:
            conf = config.get("configurable") if isinstance(config, Mapping) else None
            if not isinstance(conf, Mapping):
                raise InvalidInputError("PlugMemSaver.list: config must be None or {'configurable': {...}}")
            if conf.get("thread_id") not in (None, ""):
                where.append("thread_id = ?")
                params.append(str(conf["thread_id"]))
            if conf.get("checkpoint_ns") is not None:
                where.append("checkpoint_ns = ?")
                params.append(str(conf["checkpoint_ns"]))
            if cid := get_checkpoint_id(config):
                where.append("checkpoint_id = ?")
                params.append(str(cid))
        if before is not None and (bid := get_checkpoint_id(before)):
            where.append("checkpoint_id < ?")
            params.append(str(bid))
        return where, params

    def _list_page(
        self,
        where: Sequence[str],
        params: Sequence[Any],
        last: tuple[str, str, str] | None,
        page: int,
        filter: Mapping[str, Any] | None,
    ) -> tuple[builtins.list[_CpRow], builtins.list[_CpRow], builtins.list[builtins.list[_WriteRow]]]:
        """One page after `last`, newest first: (its rows, the rows `filter` keeps, their writes).

        Without a filter the writes come in the page's own read; with one, the metadata is
        deserialized outside the lock and the kept rows' writes are read after.
        """
        clauses = list(where)
        args = list(params)
        if last is not None:
            clauses.append("(checkpoint_id, thread_id, checkpoint_ns) < (?, ?, ?)")
            args.extend(last)
        sql = f"SELECT {_CP_COLUMNS} FROM lg_checkpoints"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY checkpoint_id DESC, thread_id DESC, checkpoint_ns DESC LIMIT ?"
        with self._tx(write=False) as cur:
            rows = cast(list[_CpRow], cur.execute(sql, [*args, page]).fetchall())
            if not filter:
                return rows, rows, [self._writes_of(cur, r[0], r[1], r[2]) for r in rows]
        if not rows:
            return rows, [], []
        kept = [
            r
            for r in rows
            if all(
                v == cast(dict[str, Any], self.serde.loads_typed((r[6], r[7]))).get(k)
                for k, v in filter.items()
            )
        ]
        with self._tx(write=False) as cur:
            writes = [self._writes_of(cur, r[0], r[1], r[2]) for r in kept]
        return rows, kept, writes

    # -- writes ----------------------------------------------------------------------
    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint (one transaction); queue the root thread's new messages for memory."""
        thread_id, ns, parent = self._target(config, "put")
        if not isinstance(checkpoint, Mapping) or "id" not in checkpoint:
            raise InvalidInputError(
                "PlugMemSaver.put: checkpoint must be a LangGraph Checkpoint with an 'id'"
            )
        ctype, cblob = self.serde.dumps_typed(checkpoint)
        md = get_checkpoint_metadata(config, metadata)
        mtype, mblob = self.serde.dumps_typed(md)
        run_id = md.get("run_id")
        with self._tx(write=True) as cur:
            cur.execute(
                "INSERT INTO lg_checkpoints (thread_id, checkpoint_ns, checkpoint_id, "
                "parent_checkpoint_id, type, checkpoint, metadata_type, metadata, run_id) "
                f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) {_CP_REPLACE}",
                (
                    thread_id,
                    ns,
                    str(checkpoint["id"]),
                    parent,
                    ctype,
                    cblob,
                    mtype,
                    mblob,
                    str(run_id) if run_id is not None else None,
                ),
            )
            feeding = self.feed and not ns and self.messages_key in new_versions
            if feeding:  # until fed, reopening the saver feeds this checkpoint (a crash loses no turn)
                cur.execute(
                    "INSERT INTO lg_unfed (thread_id, checkpoint_id, configurable) VALUES (?, ?, ?) "
                    "ON CONFLICT (thread_id) DO UPDATE SET checkpoint_id = excluded.checkpoint_id, "
                    "configurable = excluded.configurable",
                    (thread_id, str(checkpoint["id"]), _config_json(config)),
                )
            if self._feeder.has_records:
                self._record_fed(cur)
        if feeding:
            self._enqueue(thread_id, dict(config.get("configurable") or {}), checkpoint)
        return {
            "configurable": {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": checkpoint["id"]}
        }

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's pending writes for a checkpoint.

        A regular write is kept once per (task, index): a retry does not overwrite it. The
        special channels (error, interrupt, scheduled, resume) take the fixed negative
        indexes of `WRITES_IDX_MAP` and are replaced, so the latest one wins.
        """
        thread_id, ns, cid = self._target(config, "put_writes")
        if not cid:
            raise InvalidInputError(
                "PlugMemSaver.put_writes: config['configurable'] needs the 'checkpoint_id' the writes belong to"
            )
        replace: list[tuple[Any, ...]] = []
        keep: list[tuple[Any, ...]] = []
        for idx, (channel, value) in enumerate(writes):
            vtype, vblob = self.serde.dumps_typed(value)
            row = (
                thread_id,
                ns,
                cid,
                str(task_id),
                task_path or "",
                WRITES_IDX_MAP.get(channel, idx),
                channel,
            )
            (replace if channel in WRITES_IDX_MAP else keep).append((*row, vtype, vblob))
        if not replace and not keep:
            return
        cols = "(thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, value)"
        with self._tx(write=True) as cur:
            if replace:
                cur.executemany(
                    f"INSERT INTO lg_writes {cols} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) {_WRITES_REPLACE}",
                    replace,
                )
            if keep:
                cur.executemany(
                    f"INSERT INTO lg_writes {cols} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    keep,
                )

    def delete_thread(self, thread_id: str) -> None:
        """Delete a thread's checkpoints and writes (all namespaces) and its feed bookkeeping.

        What memory learned from the thread stays: forget it with
        `memory.forget(namespace=..., session_id=thread_id)`.
        """
        tid = str(thread_id)
        with self._tx(write=True) as cur:
            self._record_fed(cur)
            cur.execute("DELETE FROM lg_checkpoints WHERE thread_id = ?", (tid,))
            cur.execute("DELETE FROM lg_writes WHERE thread_id = ?", (tid,))
            cur.execute("DELETE FROM lg_fed WHERE thread_id = ?", (tid,))
            cur.execute("DELETE FROM lg_unfed WHERE thread_id = ?", (tid,))
        self._feeder.forget_thread(tid)

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete the checkpoints (and their writes) created by the given runs, in every thread.

        Like any deletion of ancestors, this can break a `DeltaChannel` (beta) whose
        history ran through the deleted checkpoints.
        """
        ids = list(dict.fromkeys(str(r) for r in run_ids))
        if not ids:
            return
        with self._tx(write=True) as cur:
            for chunk in _chunks(ids):
                marks = ", ".join("?" * len(chunk))
                cur.execute(
                    "DELETE FROM lg_writes WHERE (thread_id, checkpoint_ns, checkpoint_id) IN "
                    f"(SELECT thread_id, checkpoint_ns, checkpoint_id FROM lg_checkpoints WHERE run_id IN ({marks}))",
                    chunk,
                )
                cur.execute(f"DELETE FROM lg_checkpoints WHERE run_id IN ({marks})", chunk)

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy every checkpoint, write and feed record of a thread to another thread id.

        Rows the target already has under the same ids are replaced; its other rows stay.
        The copied messages count as fed, so the target feeds only what it adds itself.
        """
        src, dst = str(source_thread_id), str(target_thread_id)
        if src == dst:
            return
        with self._tx(write=True) as cur:
            self._record_fed(cur)  # the source's latest feed records are copied too
            cur.execute(
                "INSERT INTO lg_checkpoints (thread_id, checkpoint_ns, checkpoint_id, "
                "parent_checkpoint_id, type, checkpoint, metadata_type, metadata, run_id) "
                "SELECT ?, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, "
                f"metadata_type, metadata, run_id FROM lg_checkpoints WHERE thread_id = ? {_CP_REPLACE}",
                (dst, src),
            )
            cur.execute(
                "INSERT INTO lg_writes (thread_id, checkpoint_ns, checkpoint_id, task_id, "
                "task_path, idx, channel, type, value) SELECT ?, checkpoint_ns, checkpoint_id, task_id, "
                f"task_path, idx, channel, type, value FROM lg_writes WHERE thread_id = ? {_WRITES_REPLACE}",
                (dst, src),
            )
            cur.execute(
                "INSERT INTO lg_fed (namespace, thread_id, message_id, digest) "
                f"SELECT namespace, ?, message_id, digest FROM lg_fed WHERE thread_id = ? {_FED_REPLACE}",
                (dst, src),
            )
        self._feeder.forget_thread(dst)

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Shrink threads: `"keep_latest"` keeps the newest checkpoint per namespace (and its
        writes), `"delete"` removes the threads' checkpoints entirely.

        `keep_latest` drops ancestors, so it is not safe for graphs using LangGraph's beta
        `DeltaChannel`, whose state is rebuilt from ancestors' writes.
        """
        if strategy not in ("keep_latest", "delete"):
            raise InvalidInputError(f'prune strategy must be "keep_latest" or "delete", got {strategy!r}')
        tids = list(dict.fromkeys(str(t) for t in thread_ids))
        if not tids:
            return
        if strategy == "delete":
            with self._tx(write=True) as cur:
                self._record_fed(cur)
                for chunk in _chunks(tids):
                    marks = ", ".join("?" * len(chunk))
                    cur.execute(f"DELETE FROM lg_checkpoints WHERE thread_id IN ({marks})", chunk)
                    cur.execute(f"DELETE FROM lg_writes WHERE thread_id IN ({marks})", chunk)
                    cur.execute(f"DELETE FROM lg_fed WHERE thread_id IN ({marks})", chunk)
                    cur.execute(f"DELETE FROM lg_unfed WHERE thread_id IN ({marks})", chunk)
            for tid in tids:
                self._feeder.forget_thread(tid)
            return
        latest = (
            "SELECT checkpoint_ns, MAX(checkpoint_id) FROM lg_checkpoints WHERE thread_id = ? "
            "GROUP BY checkpoint_ns"
        )
        with self._tx(write=True) as cur:
            for tid in tids:
                cur.execute(
                    "DELETE FROM lg_writes WHERE thread_id = ? AND "
                    f"(checkpoint_ns, checkpoint_id) NOT IN ({latest})",
                    (tid, tid),
                )
                cur.execute(
                    "DELETE FROM lg_checkpoints WHERE thread_id = ? AND "
                    f"(checkpoint_ns, checkpoint_id) NOT IN ({latest})",
                    (tid, tid),
                )

    def get_next_version(self, current: str | None, channel: None) -> str:
        """Monotonic string versions with a random tail, so forked branches never share a version."""
        if current is None:
            current_v = 0
        elif isinstance(current, int):
            current_v = current
        else:
            current_v = int(str(current).split(".")[0])
        return f"{current_v + 1:032}.{random.random():016}"

    # -- async twins -------------------------------------------------------------------
    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """`get_tuple` in a worker thread (the SQLite work must not block the event loop)."""
        return await asyncio.to_thread(self.get_tuple, config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """Pages are read in a worker thread; tuples are yielded as each page arrives."""
        it = self.list(config, filter=filter, before=before, limit=limit)
        done = object()
        while True:
            batch = await asyncio.to_thread(self._next_batch, it, done)
            for item in batch:
                if item is done:
                    return
                yield cast(CheckpointTuple, item)

    @staticmethod
    def _next_batch(it: Iterator[CheckpointTuple], done: object, size: int = _PAGE) -> builtins.list[object]:
        out: list[object] = []
        for item in it:
            out.append(item)
            if len(out) >= size:
                return out
        out.append(done)
        return out

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """`put` in a worker thread (the SQLite work must not block the event loop)."""
        return await asyncio.to_thread(self.put, config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """`put_writes` in a worker thread (the SQLite work must not block the event loop)."""
        await asyncio.to_thread(self.put_writes, config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        """`delete_thread` in a worker thread (the SQLite work must not block the event loop)."""
        await asyncio.to_thread(self.delete_thread, thread_id)

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        """`delete_for_runs` in a worker thread (the SQLite work must not block the event loop)."""
        await asyncio.to_thread(self.delete_for_runs, run_ids)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """`copy_thread` in a worker thread (the SQLite work must not block the event loop)."""
        await asyncio.to_thread(self.copy_thread, source_thread_id, target_thread_id)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """`prune` in a worker thread (the SQLite work must not block the event loop)."""
        await asyncio.to_thread(self.prune, thread_ids, strategy=strategy)

    # -- feeding memory ------------------------------------------------------------------
    @property
    def feed_errors(self) -> int:
        """Feeds that failed (logged); their messages are retried with the thread's next checkpoint."""
        return self._feeder.feed_errors

    @property
    def fed_messages(self) -> int:
        """Messages handed to `memory.add` by this saver (and its copies) since it opened."""
        return self._feeder.fed_messages

    @property
    def last_feed_error(self) -> BaseException | None:
        """The latest feed failure (None if none)."""
        return self._feeder.last_feed_error

    @property
    def pending_feeds(self) -> int:
        """Checkpoints whose messages are queued for memory and not handled yet."""
        return self._feeder.pending

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued feed reached memory (or failed); True if the queue is empty.

        Memory's own extraction and indexing are not waited for: follow with `memory.flush()`.
        """
        done = self._feeder.flush(timeout)
        if self._feeder.has_records and not self._s.closed:
            with self._tx(write=True) as cur:
                self._record_fed(cur)
        return done

    async def aflush(self, timeout: float | None = None) -> bool:
        """`flush` in a worker thread (the SQLite work must not block the event loop)."""
        return await asyncio.to_thread(self.flush, timeout)

    def _enqueue(self, thread_id: str, configurable: dict[str, Any], checkpoint: Checkpoint) -> None:
        raw = checkpoint["channel_values"].get(self.messages_key)
        if not isinstance(raw, list) or not raw:
            # e.g. a DeltaChannel step, whose channel value is not stored inline
            self._feeder.settle(thread_id, str(checkpoint["id"]))
            return
        job = FeedJob(
            thread_id=thread_id,
            configurable=configurable,
            messages=list(raw),  # the list object may be reused by the graph; its messages are not mutated
            ts=checkpoint.get("ts"),
            checkpoint_id=str(checkpoint["id"]),
        )
        self._feeder.put(job)

    def _catch_up(self) -> None:
        """Queue the checkpoints whose messages were not all fed when the saver last stopped (a crash)."""
        with self._tx(write=False) as cur:
            marks = cur.execute("SELECT thread_id, checkpoint_id, configurable FROM lg_unfed").fetchall()
            rows = [
                (
                    tid,
                    cfg,
                    cur.execute(
                        "SELECT type, checkpoint FROM lg_checkpoints WHERE thread_id = ? AND checkpoint_ns = '' "
                        "AND checkpoint_id = ?",
                        (tid, cid),
                    ).fetchone(),
                )
                for tid, cid, cfg in marks
            ]
        for tid, cfg, row in rows:
            if row is None:
                continue
            try:
                checkpoint = cast(Checkpoint, self.serde.loads_typed((row[0], row[1])))
                configurable = json.loads(cfg)
            except Exception as exc:  # an unreadable checkpoint must not stop the saver from opening
                self._feeder.failed(exc, f"catching up thread {tid!r}")
                continue
            log.info("PlugMemSaver: feeding thread %r, checkpointed but not fed before the last stop", tid)
            self._enqueue(tid, configurable, checkpoint)

    def _erase_messages(self, c: Tx, namespace: NamespaceKey, steps: builtins.list[Any]) -> None:
        """Remove forgotten messages from this file's checkpoints and pending writes (memory's forget).

        Runs inside the forget's transaction on the memory's connection. The threads searched
        are the steps' sessions (the thread ids they were fed from) and any thread that
        recorded feeding one of them (copies made by `copy_thread`).
        """
        ids = {s.id for s in steps}
        threads = {s.session_id for s in steps}
        listed = sorted(ids)
        for chunk in _chunks(listed):
            marks = ", ".join("?" * len(chunk))
            threads.update(
                r[0]
                for r in c.execute(
                    f"SELECT DISTINCT thread_id FROM lg_fed WHERE namespace = ? AND message_id IN ({marks})",
                    (namespace, *chunk),
                )
            )
        for tid in sorted(threads):
            for cid, cns, ctype, blob in c.execute(
                "SELECT checkpoint_id, checkpoint_ns, type, checkpoint FROM lg_checkpoints WHERE thread_id = ?",
                (tid,),
            ).fetchall():
                cp, changed = self._scrub(self.serde.loads_typed((ctype, blob)), ids)
                if changed:
                    c.execute(
                        "UPDATE lg_checkpoints SET type = ?, checkpoint = ? WHERE thread_id = ? AND "
                        "checkpoint_ns = ? AND checkpoint_id = ?",
                        (*self.serde.dumps_typed(cp), tid, cns, cid),
                    )
            for cns, cid, task, idx, vtype, value in c.execute(
                "SELECT checkpoint_ns, checkpoint_id, task_id, idx, type, value FROM lg_writes WHERE thread_id = ?",
                (tid,),
            ).fetchall():
                kept, changed = self._scrub(self.serde.loads_typed((vtype, value)), ids)
                if changed:
                    c.execute(
                        "UPDATE lg_writes SET type = ?, value = ? WHERE thread_id = ? AND checkpoint_ns = ? "
                        "AND checkpoint_id = ? AND task_id = ? AND idx = ?",
                        (*self.serde.dumps_typed(kept), tid, cns, cid, task, idx),
                    )

    def _scrub(self, value: Any, ids: set[str], depth: int = 0) -> tuple[Any, bool]:
        """`value` without the messages in `ids`, looking inside lists and dicts (channel values,
        a graph's input under `__start__`, a write's payload); returns (value, whether it changed)."""
        if depth > 4:
            return value, False
        if isinstance(value, (list, tuple)):
            out: list[Any] = []
            changed = False
            for item in value:
                if isinstance(item, BaseMessage) and message_key(item) in ids:
                    changed = True
                    continue
                kept, inner = self._scrub(item, ids, depth + 1)
                changed = changed or inner
                out.append(kept)
            return (type(value)(out) if isinstance(value, tuple) else out), changed
        if isinstance(value, dict):
            changed = False
            for k in list(value):
                item = value[k]
                if isinstance(item, BaseMessage) and message_key(item) in ids:
                    value[k] = []
                    changed = True
                    continue
                kept, inner = self._scrub(item, ids, depth + 1)
                if inner:
                    value[k] = kept
                    changed = True
            return value, changed
        if isinstance(value, BaseMessage) and message_key(value) in ids:
            return [], True
        return value, False

    def _load_fed(self, key: tuple[NamespaceKey, str]) -> dict[str, str]:
        """Message id -> digest recorded in lg_fed for (namespace key, thread): the Feeder's callback."""
        with self._tx(write=False) as cur:
            rows = cur.execute(
                "SELECT message_id, digest FROM lg_fed WHERE namespace = ? AND thread_id = ?", key
            ).fetchall()
        return {mid: digest for mid, digest in rows}

    def _record_fed(self, cur: Tx) -> None:
        """Write the Feeder's fed-message records waiting in RAM, inside the caller's transaction.

        They ride on the next checkpoint's commit instead of costing a commit (and an
        fsync) of their own; until then the in-RAM cache is what dedupes. A crash in
        between only means those messages are added again, which memory ignores by id.
        """
        rows, settled = self._feeder.take_records()
        if not rows and not settled:
            return
        try:
            cur.executemany(
                f"INSERT INTO lg_fed (namespace, thread_id, message_id, digest) VALUES (?, ?, ?, ?) {_FED_REPLACE}",
                rows,
            )
            cur.executemany("DELETE FROM lg_unfed WHERE thread_id = ? AND checkpoint_id = ?", settled)
        except BaseException:
            self._feeder.restore_records(rows, settled)
            raise
