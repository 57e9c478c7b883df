"""Lexical search in the database: the same answers as BM25 in RAM, kept in step with the log, erased by forget.

A namespace's lexical index moves into the memory's database once it holds
`MemoryPolicy.lexical_on_disk_from` documents: SQLite FTS5 on the embedded backend, the
`lexical` tsvector table on PostgreSQL. These tests run on both backends and hold the index to
what the in-RAM index promises (ranking, coverage, isolation) and to what the database promises
(a forget's words leave it, a reopen rewrites only what changed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from _support import conv

from plugmem import MemoryPolicy, PlugMem
from plugmem.index.lexical import LexicalIndex
from plugmem.index.lexical_fts import FtsIndex, table_name
from plugmem.index.lexical_pg import PgFtsIndex
from plugmem.index.lexical_search import LexicalSearch
from plugmem.namespace import NamespaceKey
from plugmem.storage.base import Store
from plugmem.storage.database import open_database
from plugmem.storage.postgres import PostgresStore
from plugmem.storage.sqlite import SQLiteStore
from plugmem.text import tokenize

pytestmark = pytest.mark.backends

At = Callable[[str], str]
NS = ("org", "u1")
KEY = NamespaceKey("org/u1")
DOCS = [
    ("a", "My sister Ana lives in Porto with her husband Rui."),
    ("b", "I adopted a golden retriever named Biscuit last spring."),
    ("c", "Ana's favourite food is grilled sardines."),
    ("d", "I work as a welder at Acme in Leeds."),
    ("e", "We went sailing in Croatia; the boat was called Biscuit too."),
]
ON_DISK: dict[str, type] = {"sqlite": FtsIndex, "postgres": PgFtsIndex}


def file_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


def _store(backend: str, where: str) -> Store:
    return SQLiteStore(Path(where) / "db.sqlite") if backend == "sqlite" else PostgresStore(where)


def _index(backend: str, store: Store, namespace: NamespaceKey) -> LexicalSearch:
    if isinstance(store, SQLiteStore):
        return FtsIndex(store, namespace)
    return PgFtsIndex(store, namespace)


@pytest.fixture
def fts(backend: str, memory_at: At) -> Iterator[LexicalSearch]:
    store = _store(backend, memory_at("lex"))
    index = _index(backend, store, KEY)
    index.add(DOCS)
    yield index
    store.close()


def test_fts_ranks_and_covers_like_bm25_in_ram(fts: LexicalSearch) -> None:
    ram = LexicalIndex()
    ram.add(DOCS)
    for query in ("where does Ana live?", "golden retriever", "what is my job in Leeds", "Biscuit"):
        assert [i for i, _ in fts.search(query, 1)] == [i for i, _ in ram.search(query, 1)], query
        ids = [i for i, _ in ram.search(query, 3)]
        assert fts.coverage(query, ids) == pytest.approx(ram.coverage(query, ids))
        assert fts.coverage(query, ids, known_only=True) == pytest.approx(
            ram.coverage(query, ids, known_only=True)
        )
    assert fts.search("quetzalcoatl", 5) == [] and fts.coverage("quetzalcoatl", ["a"], known_only=True) == 0.0


def test_bm25_in_sql_scores_as_bm25_in_ram(postgres_schemas: At) -> None:
    """PostgreSQL ranks with the in-RAM formula itself: the same ids, order and scores, partial matches too.

    (FTS5 ranks with its own BM25, k1 1.2 and a clamped IDF: only its top hit is held equal.)
    """
    store = PostgresStore(postgres_schemas("lex"))
    try:
        sql = PgFtsIndex(store, KEY)
        sql.add(DOCS)
        ram = LexicalIndex()
        ram.add(DOCS)
        for query in ("Ana Porto sardines", "Biscuit the golden dog", "sailing boat in Leeds", "welder"):
            got, want = sql.search(query, 5), ram.search(query, 5)
            assert [i for i, _ in got] == [i for i, _ in want], query
            assert [s for _, s in got] == pytest.approx([s for _, s in want], rel=1e-4), query
    finally:
        store.close()


def test_coverage_after_a_write_uses_the_new_document_frequencies(postgres_schemas: At) -> None:
    """A search's document frequencies serve the `coverage` calls after it, and no longer once a write lands."""
    store = PostgresStore(postgres_schemas("lex"))
    try:
        sql, ram = PgFtsIndex(store, KEY), LexicalIndex()
        for index in (sql, ram):
            index.add(DOCS)
        query = "Ana and the golden retriever"
        assert sql.coverage(query, ["a"]) == pytest.approx(ram.coverage(query, ["a"]))
        sql.search(query, 3)
        for index in (sql, ram):  # "golden" grows common, so Ana's share of the query grows
            index.add([("f", "A golden sunset."), ("g", "Golden hour again."), ("h", "The golden gate.")])
        assert sql.coverage(query, ["a"]) == pytest.approx(ram.coverage(query, ["a"]))
    finally:
        store.close()


def test_fts_add_replaces_remove_deletes_sync_holds_exactly(fts: LexicalSearch) -> None:
    fts.add([("a", "My sister Ana moved to Lisbon.")])
    assert len(fts) == 5
    assert [i for i, _ in fts.search("Lisbon", 5)] == ["a"] and fts.search("Porto", 5) == []
    fts.remove(["b", "nope"])
    assert len(fts) == 4 and fts.search("retriever", 5) == []
    fts.sync([("c", DOCS[2][1]), ("z", "A new note about Porto.")])
    assert len(fts) == 2
    assert {i for i, _ in fts.search("Porto sardines", 5)} == {"c", "z"}
    assert fts.search("welder", 5) == []


def test_namespaces_sharing_a_database_never_see_each_other(backend: str, memory_at: At) -> None:
    store = _store(backend, memory_at("lex"))
    try:
        mine, theirs = _index(backend, store, KEY), _index(backend, store, NamespaceKey("org/u2"))
        mine.add(DOCS)
        theirs.add([("x", "Biscuit is the name of my neighbour's parrot in Porto."), ("y", "Porto again.")])
        assert {i for i, _ in mine.search("Biscuit Porto parrot", 10)} == {"a", "b", "e"}
        assert {i for i, _ in theirs.search("Biscuit Porto parrot", 10)} == {"x", "y"}
        assert len(mine) == 5 and len(theirs) == 2
        assert theirs.coverage("golden retriever", ["b"]) == 0.0  # another namespace's id is not found
        theirs.drop()
        assert len(_index(backend, store, NamespaceKey("org/u2"))) == 0  # as a reopen finds it
        assert len(_index(backend, store, KEY)) == 5 and [i for i, _ in mine.search("retriever", 5)] == ["b"]
    finally:
        store.close()


def _memory(where: str, disk_from: int | None) -> PlugMem:
    policy = MemoryPolicy(full_history_when_fits=False, lexical_on_disk_from=disk_from)
    return PlugMem.open(where, policy=policy, embeddings=None)


def _disk_ids(m: PlugMem, namespace: NamespaceKey = KEY) -> set[str] | None:
    """The document ids of a namespace's index in the database; None when it has none there."""
    if m.store.dialect == "sqlite":
        if not m.store.query("SELECT 1 FROM sqlite_master WHERE name = ?", (table_name(namespace),)):
            return None
        return {str(r[0]) for r in m.store.query(f"SELECT doc_id FROM {table_name(namespace)}")}
    rows = m.store.query("SELECT doc_id FROM lexical WHERE namespace = ?", (namespace,))
    return {str(r[0]) for r in rows} or None


def _indexed_terms(m: PlugMem) -> set[str]:
    """Every term the database's lexical index holds, of every namespace."""
    if m.store.dialect == "sqlite":
        vocabs = [
            str(r[0]) for r in m.store.query("SELECT name FROM sqlite_master WHERE name GLOB 'lex_*_vocab'")
        ]
        return {str(r[0]) for t in vocabs for r in m.store.query(f"SELECT term FROM {t}")}
    return {str(r[0]) for r in m.store.query("SELECT unnest(tsvector_to_array(tsv)) FROM lexical")}


def test_a_namespace_moves_to_disk_when_it_grows_and_back_when_it_shrinks(
    backend: str, memory_at: At
) -> None:
    where = memory_at("m")
    with _memory(where, 12) as m:
        m.add(conv("My sister Ana lives in Porto.", "Nice!"), namespace=NS, session_id="s1")
        m.flush()
        assert isinstance(m.catalog(KEY).lexical, LexicalIndex) and _disk_ids(m) is None
        m.add(
            conv(*(f"note {i}: the locker {i} opens with pin {4000 + i}" for i in range(12)), prefix="n"),
            namespace=NS,
        )
        m.flush()
        cat = m.catalog(KEY)
        assert isinstance(cat.lexical, ON_DISK[backend]) and len(cat.lexical) == len(cat.docs)
        assert _disk_ids(m) == set(cat.docs)
        assert "m1" in m.recall("Where does Ana live?", namespace=NS, mode="fast").source_ids
        assert "n8" in m.recall("which pin opens locker 7?", namespace=NS, mode="fast").source_ids
    with _memory(where, 12) as m:  # reopened above the size: the index on disk is used as it is
        cat = m.catalog(KEY)
        assert isinstance(cat.lexical, ON_DISK[backend]) and len(cat.lexical) == len(cat.docs)
        assert "n8" in m.recall("which pin opens locker 7?", namespace=NS, mode="fast").source_ids
    with _memory(where, 10_000) as m:  # now below the size: back to RAM, the index on disk is gone
        assert isinstance(m.catalog(KEY).lexical, LexicalIndex) and _disk_ids(m) is None
        assert "n8" in m.recall("which pin opens locker 7?", namespace=NS, mode="fast").source_ids


def _tamper(backend: str, where: str) -> None:
    """As a crash between the log and the index would leave it: one row missing, one row too many."""
    db = open_database(Path(where) / "memory.sqlite" if backend == "sqlite" else where)
    try:
        with db.tx() as c:
            if backend == "sqlite":
                t = table_name(KEY)
                c.execute(f"DELETE FROM {t} WHERE doc_id = 't:m3'")
                c.execute(
                    f"INSERT INTO {t}(rowid, doc_id, hash, body) VALUES (42, 't:gone', 'x', 'zanzibar')"
                )
            else:
                c.execute(  # the row of t:m3 now stands for a document the log does not have
                    "UPDATE lexical SET doc_id = 't:gone', hash = 'x', tsv = tsv || 'zanzibar:50'::tsvector"
                    " WHERE namespace = ? AND doc_id = 't:m3'",
                    (KEY,),
                )
    finally:
        db.close()


def test_a_reopen_brings_the_disk_index_in_step_with_the_log(backend: str, memory_at: At) -> None:
    where = memory_at("m")
    with _memory(where, 0) as m:
        m.add(conv("My sister Ana lives in Porto.", "Nice!", "I adopted a dog named Biscuit."), namespace=NS)
        m.flush()
        m.catalog(KEY)
    _tamper(backend, where)
    with _memory(where, 0) as m:
        cat = m.catalog(KEY)
        assert _disk_ids(m) == set(cat.docs) and len(cat.lexical) == len(cat.docs)
        assert "m3" in m.recall("what is my dog called?", namespace=NS, mode="fast").source_ids
        assert m.recall("zanzibar", namespace=NS, mode="fast").source_ids == []


def test_namespaces_on_disk_are_isolated(backend: str, memory_at: At) -> None:
    with _memory(memory_at("m"), 0) as m:
        m.add(conv("My golden retriever Biscuit loves the beach."), namespace=("t", "a"))
        m.add(conv("I sail in Croatia every summer.", prefix="b"), namespace=("t", "b"))
        m.flush()
        assert isinstance(m.catalog(NamespaceKey("t/b")).lexical, ON_DISK[backend])
        r = m.recall("golden retriever Biscuit", namespace=("t", "b"), mode="fast")
        assert "Biscuit" not in r.context and "m1" not in r.source_ids
        assert "m1" in m.recall("golden retriever Biscuit", namespace=("t", "a"), mode="fast").source_ids


def test_memories_on_one_server_are_isolated(backend: str, memory_at: At) -> None:
    with _memory(memory_at("one"), 0) as one, _memory(memory_at("two"), 0) as two:
        one.add(conv("My golden retriever Biscuit loves the beach."), namespace=NS)
        two.add(conv("I sail in Croatia every summer.", prefix="b"), namespace=NS)
        one.flush()
        two.flush()
        assert isinstance(two.catalog(KEY).lexical, ON_DISK[backend])
        assert two.recall("golden retriever Biscuit", namespace=NS, mode="fast").source_ids == []
        assert "m1" in one.recall("golden retriever Biscuit", namespace=NS, mode="fast").source_ids
        assert _disk_ids(two) is not None and "t:m1" not in (_disk_ids(two) or set())


SECRET = "My locker combination is 7-31-4 and the spare is taped under the Quetzalcoatl poster."


def test_forget_erases_the_words_from_the_full_text_index(backend: str, memory_at: At) -> None:
    with _memory(memory_at("m"), 0) as m:
        m.add(
            conv("I like tea.", SECRET, "Noted, I will remember the Xochiquetzal mural."),
            namespace=NS,
            session_id="s1",
        )
        m.add(conv("I like coffee.", "Good.", prefix="c"), namespace=NS, session_id="s2")
        m.add(conv("Quetzalcoatl is also my cat's name.", prefix="o"), namespace=("org", "u2"))
        m.flush()
        assert "quetzalcoatl" in _indexed_terms(m)
        assert m.forget(namespace=NS, ids=["m2"]) == 1
        assert m.recall("Quetzalcoatl poster", namespace=NS, mode="fast").source_ids == []
        m.flush()
        assert "o1" in m.recall("Quetzalcoatl", namespace=("org", "u2"), mode="fast").source_ids
        assert m.forget(namespace=("org", "u2")) == 1
        assert _disk_ids(m, NamespaceKey("org/u2")) is None
        m.flush()
        indexed = _indexed_terms(m)
        for word in tokenize("combination taped Quetzalcoatl poster"):
            assert word not in indexed, f"{word!r} is still in the lexical index"
        assert "xochiquetzal" in indexed  # what was not forgotten stays
        db = m.db_path if backend == "sqlite" else None
    if db is not None:  # and the words left the file itself
        raw = file_bytes(db).lower()
        for word in ["7-31-4", *tokenize("combination taped Quetzalcoatl poster")]:  # as said, and as indexed
            assert word.encode() not in raw, f"{word!r} is still in the database files"
        assert b"xochiquetzal" in raw


def test_a_stale_load_does_not_write_back_what_a_forget_erased(postgres_schemas: At) -> None:
    """On a shared server, a process whose catalog load read the log before another's forget writes nothing."""
    with _memory(postgres_schemas("m"), 0) as m:
        m.add(conv("I like tea.", SECRET), namespace=NS)
        m.flush()
        seen = [(d.id, d.lexical_text or d.text) for d in m.catalog(KEY).docs.values()]
        before = m.store.generation(KEY)
        assert m.forget(namespace=NS, ids=["m2"]) == 1
        assert "quetzalcoatl" not in _indexed_terms(m)
        index = PgFtsIndex(m.store, KEY)
        index.sync(seen, generation=before)  # the load of a process that read the log before the forget
        assert "quetzalcoatl" not in _indexed_terms(m)
        index.sync(seen, generation=m.store.generation(KEY))  # at the current generation it writes
        assert "quetzalcoatl" in _indexed_terms(m)
