"""What PlugMemStore promises beyond InMemoryStore: durability, TTL, thread and loop safety."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from _store_fixtures import T0, CountingEmbeddings, HashEmbeddings, ManualClock, raw_count
from langgraph.store.base import GetOp, IndexConfig, InvalidNamespaceError, PutOp, SearchOp, TTLConfig
from plugmem_langgraph.store import PlugMemStore, matches_filter

from plugmem import InvalidInputError, MemoryClosedError, open_database

pytestmark = pytest.mark.backends


@pytest.fixture
def db(backend: str, memory_at: Callable[[str], str]) -> Any:
    """The store's database: a file in the test's directory, or a PostgreSQL schema of its own."""
    where = memory_at("mem")
    return Path(where) / "memory.sqlite" if backend == "sqlite" else where


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Path:
    return tmp_path / "mem" / "memory.sqlite"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(db: Path, clock: ManualClock) -> Iterator[PlugMemStore]:
    s = PlugMemStore(db, index={"dims": 64, "embed": HashEmbeddings(64), "fields": ["text"]}, clock=clock)
    yield s
    s.close()


def hash_index(dims: int = 64) -> IndexConfig:
    return {"dims": dims, "embed": HashEmbeddings(dims), "fields": ["text"]}


# -- durability ---------------------------------------------------------------------------
def test_items_vectors_and_timestamps_survive_a_reopen(db: Any, clock: ManualClock) -> None:
    first = PlugMemStore(db, index=hash_index(), clock=clock)
    first.put(("docs", "u1"), "food", {"text": "pizza with melted cheese"})
    first.put(("docs", "u1"), "weather", {"text": "sunny weather today"})
    clock.advance(minutes=5)
    first.put(("docs", "u1"), "food", {"text": "pizza with melted cheese", "v": 2})
    before = first.get(("docs", "u1"), "food")
    ranked = first.search(("docs",), query="melted cheese")
    first.close()

    second = PlugMemStore(db, index=hash_index(), clock=clock)
    try:
        after = second.get(("docs", "u1"), "food")
        assert after == before
        assert after is not None and after.created_at == T0 and (after.updated_at - T0).total_seconds() == 300
        again = second.search(("docs",), query="melted cheese")
        assert [(i.key, i.score) for i in again] == [(i.key, i.score) for i in ranked]
        assert second.list_namespaces() == [("docs", "u1")]
    finally:
        second.close()


def test_the_file_is_in_wal_mode_and_only_store_tables_are_added(sqlite_db: Path) -> None:
    db = sqlite_db
    PlugMemStore(db).close()
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        assert tables and all(t.startswith("store_") for t in tables)
    finally:
        con.close()


def test_two_stores_on_one_file_see_each_other(db: Any) -> None:
    a, b = PlugMemStore(db), PlugMemStore(db)
    try:
        a.put(("shared",), "k", {"text": "from a"})
        item = b.get(("shared",), "k")
        assert item is not None and item.value == {"text": "from a"}
        b.delete(("shared",), "k")
        assert a.get(("shared",), "k") is None
    finally:
        a.close()
        b.close()


def test_deleting_an_item_deletes_its_vectors(store: PlugMemStore, db: Any) -> None:
    store.put(("v",), "a", {"text": "one"})
    store.put(("v",), "b", {"text": "two"})
    assert raw_count(db, "store_vectors") == 2
    store.delete(("v",), "a")
    store.put(("v",), "b", {"text": "two"}, index=False)
    assert raw_count(db, "store_vectors") == 0
    assert raw_count(db, "store_items") == 1


def test_in_memory_database_works(tmp_path: Path) -> None:
    with PlugMemStore(":memory:", index=hash_index()) as s:
        s.put(("m",), "k", {"text": "pizza"})
        assert [i.key for i in s.search(("m",), query="pizza")] == ["k"]


# -- TTL ----------------------------------------------------------------------------------
def test_an_expired_item_is_invisible_everywhere(store: PlugMemStore, clock: ManualClock) -> None:
    store.put(("t", "u1"), "short", {"text": "pizza"}, ttl=1)
    store.put(("t", "u1"), "forever", {"text": "pizza"})
    store.put(("t", "u2"), "short2", {"text": "pizza"}, ttl=1)
    clock.advance(seconds=59)
    assert store.get(("t", "u1"), "short", refresh_ttl=False) is not None
    clock.advance(seconds=2)
    assert store.get(("t", "u1"), "short") is None
    assert [i.key for i in store.search(("t",))] == ["forever"]
    assert [i.key for i in store.search(("t",), query="pizza")] == ["forever"]
    assert store.list_namespaces() == [("t", "u1")]


def test_reading_restarts_the_ttl_unless_asked_not_to(store: PlugMemStore, clock: ManualClock) -> None:
    store.put(("t",), "k", {"text": "x"}, ttl=1)
    clock.advance(seconds=50)
    assert store.get(("t",), "k") is not None  # refreshes: now expires 60s from here
    clock.advance(seconds=50)
    assert store.get(("t",), "k", refresh_ttl=False) is not None  # does not refresh
    clock.advance(seconds=11)
    assert store.get(("t",), "k") is None


def test_search_refreshes_only_the_items_it_returns(store: PlugMemStore, clock: ManualClock) -> None:
    store.put(("t",), "a", {"text": "pizza with cheese"}, ttl=1)
    store.put(("t",), "b", {"text": "sunny weather"}, ttl=1)
    clock.advance(seconds=50)
    assert [i.key for i in store.search(("t",), query="pizza cheese", limit=1)] == ["a"]
    clock.advance(seconds=20)
    assert [i.key for i in store.search(("t",), refresh_ttl=False)] == ["a"]


def test_ttl_config_sets_the_default_and_refresh_policy(db: Any, clock: ManualClock) -> None:
    with PlugMemStore(db, ttl={"default_ttl": 2, "refresh_on_read": False}, clock=clock) as s:
        s.put(("c",), "default", {"n": 1})
        s.put(("c",), "never", {"n": 2}, ttl=None)
        s.put(("c",), "explicit", {"n": 3}, ttl=10)
        clock.advance(minutes=1.5)
        assert s.get(("c",), "default") is not None  # config says: no refresh on read
        assert s.get(("c",), "explicit", refresh_ttl=True) is not None
        clock.advance(minutes=1)
        assert s.get(("c",), "default") is None
        assert s.get(("c",), "never") is not None
        assert s.get(("c",), "explicit") is not None


def test_re_putting_an_expired_item_makes_a_new_one(store: PlugMemStore, clock: ManualClock) -> None:
    store.put(("t",), "k", {"v": 1}, ttl=1)
    clock.advance(minutes=2)
    store.put(("t",), "k", {"v": 2})
    item = store.get(("t",), "k")
    assert item is not None and item.value == {"v": 2} and item.created_at == clock.now


def test_sweep_deletes_expired_rows_and_their_vectors(
    store: PlugMemStore, clock: ManualClock, db: Any
) -> None:
    store.put(("s",), "a", {"text": "one"}, ttl=1)
    store.put(("s",), "b", {"text": "two"}, ttl=5)
    store.put(("s",), "c", {"text": "three"})
    assert store.sweep_ttl() == 0
    clock.advance(minutes=2)
    assert store.sweep_ttl() == 1
    assert raw_count(db, "store_items") == 2
    assert raw_count(db, "store_vectors") == 2
    clock.advance(minutes=10)
    assert asyncio.run(store.asweep_ttl()) == 1
    assert [i.key for i in store.search(("s",))] == ["c"]


def test_the_sweeper_thread_deletes_expired_items(db: Any, clock: ManualClock) -> None:
    ttl: TTLConfig = {"sweep_interval_minutes": 0.001}  # type: ignore[typeddict-item]  # minutes may be fractional
    s = PlugMemStore(db, ttl=ttl, clock=clock)
    try:
        s.put(("s",), "a", {"v": 1}, ttl=1)
        s.put(("s",), "b", {"v": 2})
        clock.advance(minutes=2)
        deadline = time.monotonic() + 60  # a liveness bound, not a speed requirement
        while raw_count(db, "store_items") != 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert raw_count(db, "store_items") == 1
    finally:
        s.close()
    assert s.stop_ttl_sweeper() is True


def test_an_unclosed_store_with_a_sweeper_can_be_freed(db: Any) -> None:
    s = PlugMemStore(db, ttl={"sweep_interval_minutes": 10})
    sweeper = s._sweeper
    ref = weakref.ref(s)
    del s
    gc.collect()
    assert ref() is None
    assert sweeper is not None
    sweeper.join(60)  # a liveness bound: it was woken when the store was freed
    assert not sweeper.is_alive()


def test_ttl_must_not_be_negative(store: PlugMemStore) -> None:
    with pytest.raises(InvalidInputError):
        store.put(("t",), "k", {"v": 1}, ttl=-1)
    with pytest.raises(InvalidInputError):
        store.put(("t",), "k", {"v": 1}, ttl=float("inf"))
    store.put(("t",), "huge", {"v": 1}, ttl=1e15)
    assert store.get(("t",), "huge") is not None
    with pytest.raises(InvalidInputError):
        PlugMemStore(":memory:", ttl={"default_ttl": -5})


async def test_async_ttl_expiry(store: PlugMemStore, clock: ManualClock) -> None:
    await store.aput(("t",), "k", {"text": "x"}, ttl=1)
    clock.advance(minutes=2)
    assert await store.aget(("t",), "k") is None
    assert await store.asearch(("t",)) == []


# -- semantics the reference store does not pin down ----------------------------------------
def test_filters_follow_json_semantics() -> None:
    value = {"flag": True, "one": 1, "date": "2024-05-01", "none": None}
    assert matches_filter(value, {"flag": True})
    assert not matches_filter(value, {"one": True})  # JSON: true is not 1
    assert not matches_filter(value, {"flag": 1})
    assert matches_filter(value, {"date": {"$gte": "2024-01-01", "$lt": "2024-06-01"}})
    # a missing field or a value of another kind never satisfies an order comparison;
    # InMemoryStore raises TypeError/ValueError from float() in those cases
    assert not matches_filter(value, {"missing": {"$gt": 0}})
    assert not matches_filter(value, {"date": {"$gt": 5}})
    assert matches_filter(value, {"missing": {"$ne": 3}})
    assert matches_filter(value, {"missing": None, "none": None})
    with pytest.raises(InvalidInputError):
        matches_filter(value, {"one": {"$gt": 0, "other": 1}})


def test_direct_batches_validate_namespaces(store: PlugMemStore) -> None:
    # BaseStore's methods validate before batching; ops handed straight to batch() skip
    # them. InMemoryStore accepts such ops; PlugMemStore checks every op, because a label
    # like "a.b" must never address the namespace ("a", "b").
    for op in (
        PutOp(("a.b",), "k", {"v": 1}),
        PutOp((), "k", {"v": 1}),
        GetOp(("a", ""), "k"),
        SearchOp(("a.b",)),
    ):
        with pytest.raises(InvalidNamespaceError):
            store.batch([op])


def test_bad_input_is_rejected_before_anything_is_written(store: PlugMemStore, db: Any) -> None:
    with pytest.raises(InvalidInputError, match="JSON"):
        store.batch([PutOp(("j",), "ok", {"v": 1}), PutOp(("j",), "bad", {"when": object()})])
    assert raw_count(db, "store_items") == 0
    with pytest.raises(InvalidInputError):
        store.batch([PutOp(("j",), "list", ["not", "a", "mapping"])])  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        store.search(("j",), limit=-1)
    with pytest.raises(InvalidInputError):
        store.list_namespaces(offset=-1)
    with pytest.raises(InvalidInputError):
        store.batch(["not an op"])  # type: ignore[list-item]


def test_a_closed_store_says_so(db: Any) -> None:
    s = PlugMemStore(db)
    s.close()
    s.close()
    with pytest.raises(MemoryClosedError):
        s.get(("a",), "k")


def test_constructor_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="directory"):
        PlugMemStore(tmp_path)
    with pytest.raises(InvalidInputError, match="db_path"):
        PlugMemStore(object())
    with pytest.raises(InvalidInputError, match="embed"):
        PlugMemStore(tmp_path / "x.sqlite", index={"dims": 8})
    with pytest.raises(InvalidInputError, match="auto"):
        PlugMemStore(tmp_path / "x.sqlite", index="auto")


def test_a_wrong_dimension_from_the_embedder_is_an_error(db: Any) -> None:
    with PlugMemStore(db, index={"dims": 32, "embed": HashEmbeddings(64)}) as s:
        with pytest.raises(InvalidInputError, match="dims"):
            s.put(("d",), "k", {"text": "x"})
        assert s.get(("d",), "k") is None


def test_a_plain_function_can_embed(db: Any) -> None:
    model = HashEmbeddings(16)

    def embed(texts: Sequence[str]) -> list[list[float]]:
        return [model.vector(t) for t in texts]

    with PlugMemStore(db, index={"dims": 16, "embed": embed, "fields": ["text"]}) as s:
        s.put(("f",), "a", {"text": "pizza with cheese"})
        s.put(("f",), "b", {"text": "sunny weather"})
        assert s.search(("f",), query="cheese pizza")[0].key == "a"


def test_reindex_after_changing_the_embedding_model(db: Path, caplog: pytest.LogCaptureFixture) -> None:
    with PlugMemStore(db, index=hash_index(64)) as old:
        old.put(("r",), "a", {"text": "pizza with cheese"})
        old.put(("r",), "b", {"text": "sunny weather", "note": "pizza"}, index=["note"])
        old.put(("r",), "c", {"text": "no vectors"}, index=False)
    with PlugMemStore(db, index=hash_index(32)) as new:
        with caplog.at_level(logging.WARNING, logger="plugmem.langgraph.store"):
            stale = new.search(("r",), query="pizza with cheese")
        assert all(i.score is None for i in stale)
        assert "reindex" in caplog.text
        assert new.reindex() == 3
        ranked = new.search(("r",), query="pizza with cheese")
        assert [i.key for i in ranked][:2] == ["a", "b"]  # b keeps its own index=["note"]
        assert ranked[0].score is not None and ranked[2].key == "c" and ranked[2].score is None


# -- concurrency --------------------------------------------------------------------------
def test_threads_can_share_one_store(db: Any) -> None:
    emb = CountingEmbeddings(HashEmbeddings(32))
    with PlugMemStore(db, index={"dims": 32, "embed": emb, "fields": ["text"]}) as s:
        errors: list[BaseException] = []

        def work(t: int) -> None:
            try:
                for i in range(25):
                    s.put(("th", f"t{t}"), f"k{i}", {"text": f"thread {t} item {i}", "i": i})
                    assert s.get(("th", f"t{t}"), f"k{i}") is not None
                    s.search(("th",), query=f"item {i}", limit=3)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert errors == []
        assert len(s.search(("th",), limit=1000)) == 200
        assert len(s.list_namespaces()) == 8


async def test_abatch_runs_sqlite_off_the_event_loop(db: Any, clock: ManualClock) -> None:
    with PlugMemStore(db, clock=clock) as s:
        await s.aput(("a",), "k", {"v": 1})
        assert await s.aget(("a",), "k") is not None
    assert clock.threads and threading.get_ident() not in clock.threads


async def test_abatch_embeds_with_the_async_api(db: Any) -> None:
    model = HashEmbeddings(16)
    calls: list[list[str]] = []

    async def aembed(texts: Sequence[str]) -> list[list[float]]:
        calls.append(list(texts))
        await asyncio.sleep(0)
        return [model.vector(t) for t in texts]

    with PlugMemStore(db, index={"dims": 16, "embed": aembed, "fields": ["text"]}) as s:
        await asyncio.gather(
            s.abatch(
                [PutOp(("x",), "a", {"text": "pizza with cheese"}), PutOp(("x",), "b", {"text": "rain"})]
            ),
        )
        found = await s.asearch(("x",), query="pizza")
        assert found[0].key == "a"
        assert calls[0] == ["pizza with cheese", "rain"] and calls[1] == ["pizza"]
        # an async-only embedder cannot serve the sync API; the error comes from LangGraph
        with pytest.raises(ValueError):
            s.put(("x",), "c", {"text": "sync"})


def test_values_are_stored_as_json(store: PlugMemStore, db: Any) -> None:
    store.put(("j",), "k", {"text": "ünïcode", "n": [1, 2.5, None, True]})
    database = open_database(db)
    try:
        with database.tx(write=False) as cur:
            raw = cur.execute("SELECT value FROM store_items").fetchone()[0]
    finally:
        database.close()
    assert json.loads(raw) == {"text": "ünïcode", "n": [1, 2.5, None, True]}


# -- on a plugmem memory ------------------------------------------------------------------
def test_a_plugmem_memory_lends_its_file_embeddings_and_clock(
    memory_at: Callable[[str], str], clock: ManualClock
) -> None:
    from plugmem import PlugMem

    mem = PlugMem.open(memory_at("mem"), embeddings=HashEmbeddings(64), clock=clock)
    db_file = mem.url or mem.db_path
    try:
        with PlugMemStore(mem, index="auto") as auto:
            assert auto.db_path == (mem.url or str(mem.db_path))
            auto.put(("docs",), "food", {"text": "pizza with melted cheese"})
            auto.put(("docs",), "weather", {"text": "sunny weather today"})
            found = auto.search(("docs",), query="melted cheese pizza")
            assert found[0].key == "food" and found[0].score is not None
            item = auto.get(("docs",), "food")
            assert item is not None and item.created_at == T0
        with PlugMemStore(mem, index={"dims": 64, "fields": ["text"]}) as fields_only:
            assert fields_only.search(("docs",), query="sunny weather")[0].key == "weather"
        # the memory itself keeps working on the same file
        mem.add([{"role": "user", "content": "I moved to Lisbon", "id": "s1"}], namespace=("users", "u1"))
        mem.flush()
        assert [s.id for s in mem.steps(("users", "u1"))] == ["s1"]
    finally:
        mem.close()
    with PlugMemStore(db_file) as reopened:
        assert reopened.get(("docs",), "weather") is not None
