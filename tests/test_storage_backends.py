"""What the storage backends promise beyond the core contract: schema migrations, and many writers.

Migrations run on both backends: a database at an older schema version (or from before
versions were recorded) is brought forward on open with its rows intact, and a database
newer than the code is refused with `SchemaTooNewError`, unchanged. Many writers run on
PostgreSQL only (the embedded backend refuses a second process, `MemoryLockedError`, tested
in test_reliability_process.py): real processes write and recall one memory at once, and the
database is audited afterwards.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from plugmem import MemoryPolicy, PlugMem, SchemaTooNewError, open_database
from plugmem.namespace import NamespaceKey
from plugmem.storage import schema
from plugmem.storage.postgres import PostgresStore

pytestmark = pytest.mark.backends
At = Callable[[str], str]
ROOT = Path(__file__).resolve().parents[1]
NS = ("org", "u1")


def _database(backend: str, where: str) -> str:
    """The database a memory at `where` keeps its tables in (the file, or the schema's URL)."""
    if backend == "sqlite":
        Path(where).mkdir(parents=True, exist_ok=True)
        return str(Path(where) / "memory.sqlite")
    return where


def _write_version_1(backend: str, where: str) -> None:
    """A database as plugmem wrote it before versions were recorded, holding one unprocessed step."""
    db = open_database(_database(backend, where))
    try:
        db.script(schema.MIGRATIONS[0])
        with db.tx() as c:
            c.execute("INSERT INTO meta(key, value) VALUES ('schema_version', '1')")
            c.execute(
                "INSERT INTO steps(namespace, id, session_id, role, content, ts) VALUES (?,?,?,?,?,?)",
                ("org/u1", "old-1", "s1", "user", "I keep bees on my roof in Lyon.", 1.7e9),
            )
    finally:
        db.close()


def _version(backend: str, where: str) -> int:
    db = open_database(_database(backend, where))
    try:
        with db.tx(write=False) as c:
            return int(c.execute("SELECT MAX(version) FROM schema_version").fetchone()[0])
    finally:
        db.close()


def test_an_older_database_is_migrated_on_open_and_keeps_its_rows(backend: str, memory_at: At) -> None:
    where = memory_at("old")
    _write_version_1(backend, where)
    with PlugMem.open(where, embeddings=None, policy=MemoryPolicy(full_history_when_fits=False)) as mem:
        assert _version(backend, where) == schema.LATEST
        mem.flush()
        assert [s.id for s in mem.steps(NS)] == ["old-1"]
        assert "old-1" in mem.recall("bees on the roof", namespace=NS).source_ids
    with PlugMem.open(where, embeddings=None) as again:  # nothing left to apply: opens as is
        assert _version(backend, where) == schema.LATEST and again.stats().steps == 1


def test_a_newer_database_is_refused_and_left_alone(backend: str, memory_at: At) -> None:
    where = memory_at("new")
    with PlugMem.open(where, embeddings=None) as mem:
        mem.add([{"role": "user", "content": "hello", "id": "h1"}], namespace=NS)
    db = open_database(_database(backend, where))
    try:
        with db.tx() as c:
            c.execute("UPDATE schema_version SET version = ?", (schema.LATEST + 1,))
    finally:
        db.close()
    with pytest.raises(SchemaTooNewError, match="Upgrade plugmem"):
        PlugMem.open(where, embeddings=None)
    assert _version(backend, where) == schema.LATEST + 1
    with pytest.raises(SchemaTooNewError):  # the refusal released everything: it refuses again
        PlugMem.open(where, embeddings=None)


def test_a_namespace_is_claimed_by_one_holder_at_a_time(postgres_schemas: At) -> None:
    """On the server backend (one process owns an embedded memory, so it has no claims to make)."""
    url = postgres_schemas("claims")
    a, b = PostgresStore(url), PostgresStore(url)
    try:
        with a.claim("org/u1", wait=False) as held:
            assert held
            with b.claim("org/u1", wait=False) as other:
                assert not other  # SKIP LOCKED: the other process moves on instead of waiting
            with b.claim("org/u2", wait=False) as elsewhere:
                assert elsewhere  # other namespaces stay free
        with b.claim("org/u1", wait=False) as after:
            assert after  # released with the holder's transaction
    finally:
        a.close()
        b.close()


def test_many_processes_write_and_recall_one_memory(postgres_schemas: At) -> None:
    """Four agent processes at once on the server backend: every message stored once, every step
    derived once, no errors."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from benchmarks.multi_agent import run

    row = run(postgres_schemas("agents"), processes=4, messages=8)
    assert row["errors"] == 0, row["first_errors"]
    assert row["stored"] == row["expected"] == 4 * 8 * 2 + 5
    assert (row["lost"], row["duplicated"], row["unexpected"]) == (0, 0, 0)
    assert (row["unprocessed"], row["derived_twice"], row["not_derived"]) == (0, 0, 0)
    assert (row["quarantined"], row["failures"]) == (0, 0)
    assert row["recalls"] == 4 * 8


def test_a_memory_keeps_one_id_across_reopens(memory_at: At) -> None:
    """The id that keeps a memory's collections apart on a shared vector server."""
    with PlugMem.open(memory_at("one"), embeddings=None) as mem:
        first = mem.store.memory_id()
    with PlugMem.open(memory_at("one"), embeddings=None) as mem:
        assert mem.store.memory_id() == first
    with PlugMem.open(memory_at("two"), embeddings=None) as other:
        assert other.store.memory_id() != first


def test_latest_events_are_the_last_of_all_events_oldest_first(memory_at: At) -> None:
    """Ingest links new events to the latest ones; reading only those must give what a full read ends with."""
    from _support import conv

    policy = MemoryPolicy(full_history_when_fits=False)
    with PlugMem.open(memory_at("m"), policy=policy, embeddings=None) as m:
        for day in range(4):
            talk = conv(f"Day {day}: I planted {day + 2} tomato seedlings.", "Nice!", prefix=f"d{day}-")
            for msg in talk:
                msg["timestamp"] += timedelta(days=day)  # type: ignore[operator]
            m.add(talk, namespace=NS, session_id=f"s{day}")
        m.add(conv("I sail in Croatia.", prefix="o"), namespace=("org", "u2"))
        m.flush()
        every = m.store.events(NamespaceKey("org/u1"))
        assert len(every) >= 3
        latest = m.store.latest_events(NamespaceKey("org/u1"), 2)
        assert [e.id for e in latest] == [e.id for e in every[-2:]]
        assert [e.id for e in m.store.latest_events(NamespaceKey("org/u1"), 100)] == [e.id for e in every]


def _back_to_version_3(backend: str, where: str) -> None:
    """The database as plugmem wrote it before facts had consolidation keys (schema 3)."""
    db = open_database(_database(backend, where))
    try:
        with db.tx() as c:
            c.execute("DROP TABLE knowledge_keys")
            c.execute("UPDATE schema_version SET version = 3")
    finally:
        db.close()


def test_facts_stored_before_keys_are_keyed_and_still_superseded(backend: str, memory_at: At) -> None:
    """A batch reads only the facts sharing a key with it, so facts from before schema 4 must get keys.

    Without them the Lisbon fact would not be found when Porto arrives, and stay current.
    """
    from _support import conv

    where, key = memory_at("old-facts"), NamespaceKey("org/u1")
    with PlugMem.open(where, embeddings=None) as mem:
        mem.add(conv("I live in Lisbon and work as a nurse.", "Nice."), namespace=NS)
        mem.flush()
    _back_to_version_3(backend, where)
    with PlugMem.open(where, embeddings=None) as mem:
        assert _version(backend, where) == schema.LATEST
        assert mem.store.count("knowledge_keys", key) > 0
        mem.add(conv("Update: I moved to Porto last week.", "Good luck!", prefix="n"), namespace=NS)
        mem.flush()
        lisbon = [k for k in mem.store.knowledge(key) if "Lisbon" in k.statement]
        assert lisbon and all(k.valid_until is not None for k in lisbon)
        assert lisbon[0].id in {k.id for k in mem.store.knowledge_matching(key, [], ids=[lisbon[0].id])}


def test_a_batch_reads_only_the_facts_it_may_repeat_or_supersede(memory_at: At) -> None:
    """`knowledge_matching` by a fact's lookup keys: its slot holder and its duplicate, not the rest."""
    from _support import conv

    from plugmem.ingest.consolidate import lookup_keys

    key = NamespaceKey("org/u1")
    with PlugMem.open(memory_at("m"), embeddings=None) as mem:
        mem.add(
            conv("I live in Lisbon.", "Nice.", "My sister Ana has a beagle called Biscuit.", "Cute."),
            namespace=NS,
        )
        mem.flush()
        facts = mem.store.knowledge(key)
        lisbon = next(k for k in facts if "Lisbon" in k.statement and k.slots)
        found = mem.store.knowledge_matching(key, lookup_keys(lisbon))
        assert lisbon.id in {k.id for k in found}
        assert not any("Biscuit" in k.statement for k in found)
        assert len(found) < len(facts)
