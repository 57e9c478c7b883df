"""Lexical search in SQLite FTS5: the same answers as BM25 in RAM, kept in step with the log, erased by forget.

A namespace's lexical index moves into the memory's database once it holds
`MemoryPolicy.lexical_on_disk_from` documents. These tests hold it to what the in-RAM index
promises (ranking, coverage, isolation) and to what the database promises (a forget's words
leave the file, a reopen rewrites only what changed).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _support import conv

from plugmem import MemoryPolicy, PlugMem, connect_sqlite
from plugmem.index.lexical import LexicalIndex
from plugmem.index.lexical_fts import FtsIndex, table_name
from plugmem.namespace import NamespaceKey
from plugmem.storage.sqlite import SQLiteStore
from plugmem.text import tokenize

NS = ("org", "u1")
KEY = NamespaceKey("org/u1")
DOCS = [
    ("a", "My sister Ana lives in Porto with her husband Rui."),
    ("b", "I adopted a golden retriever named Biscuit last spring."),
    ("c", "Ana's favourite food is grilled sardines."),
    ("d", "I work as a welder at Acme in Leeds."),
    ("e", "We went sailing in Croatia; the boat was called Biscuit too."),
]


def file_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


@pytest.fixture
def fts(tmp_path: Path) -> FtsIndex:
    store = SQLiteStore(tmp_path / "db.sqlite")
    index = FtsIndex(store, KEY)
    index.add(DOCS)
    return index


def test_fts_ranks_and_covers_like_bm25_in_ram(fts: FtsIndex) -> None:
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


def test_fts_add_replaces_remove_deletes_sync_holds_exactly(fts: FtsIndex) -> None:
    fts.add([("a", "My sister Ana moved to Lisbon.")])
    assert len(fts) == 5
    assert [i for i, _ in fts.search("Lisbon", 5)] == ["a"] and fts.search("Porto", 5) == []
    fts.remove(["b", "nope"])
    assert len(fts) == 4 and fts.search("retriever", 5) == []
    fts.sync([("c", DOCS[2][1]), ("z", "A new note about Porto.")])
    assert len(fts) == 2
    assert {i for i, _ in fts.search("Porto sardines", 5)} == {"c", "z"}
    assert fts.search("welder", 5) == []


def _memory(path: Path, disk_from: int | None) -> PlugMem:
    policy = MemoryPolicy(full_history_when_fits=False, lexical_on_disk_from=disk_from)
    return PlugMem.open(path, policy=policy, embeddings=None)


def _tables(m: PlugMem) -> set[str]:
    rows = m.store.query("SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL%'")
    return {str(r[0]) for r in rows if str(r[0]).startswith("lex_")}


def test_a_namespace_moves_to_disk_when_it_grows_and_back_when_it_shrinks(tmp_path: Path) -> None:
    path = tmp_path / "m"
    with _memory(path, 12) as m:
        m.add(conv("My sister Ana lives in Porto.", "Nice!"), namespace=NS, session_id="s1")
        m.flush()
        assert isinstance(m.catalog(KEY).lexical, LexicalIndex) and not _tables(m)
        m.add(
            conv(*(f"note {i}: the locker {i} opens with pin {4000 + i}" for i in range(12)), prefix="n"),
            namespace=NS,
        )
        m.flush()
        cat = m.catalog(KEY)
        assert isinstance(cat.lexical, FtsIndex) and len(cat.lexical) == len(cat.docs)
        assert _tables(m) == {table_name(KEY), table_name(KEY) + "_vocab"}
        assert "m1" in m.recall("Where does Ana live?", namespace=NS, mode="fast").source_ids
        assert "n8" in m.recall("which pin opens locker 7?", namespace=NS, mode="fast").source_ids
    with _memory(path, 12) as m:  # reopened above the size: the index on disk is used as it is
        cat = m.catalog(KEY)
        assert isinstance(cat.lexical, FtsIndex) and len(cat.lexical) == len(cat.docs)
        assert "n8" in m.recall("which pin opens locker 7?", namespace=NS, mode="fast").source_ids
    with _memory(path, 10_000) as m:  # now below the size: back to RAM, the table is gone
        assert isinstance(m.catalog(KEY).lexical, LexicalIndex) and not _tables(m)
        assert "n8" in m.recall("which pin opens locker 7?", namespace=NS, mode="fast").source_ids


def test_a_reopen_brings_the_disk_index_in_step_with_the_log(tmp_path: Path) -> None:
    path = tmp_path / "m"
    with _memory(path, 0) as m:
        m.add(conv("My sister Ana lives in Porto.", "Nice!", "I adopted a dog named Biscuit."), namespace=NS)
        m.flush()
        m.catalog(KEY)
    t = table_name(KEY)
    c = connect_sqlite(path / "memory.sqlite")  # as a crash between the log and the index would leave it
    c.execute(f"DELETE FROM {t} WHERE doc_id = 't:m3'")
    c.execute(f"INSERT INTO {t}(rowid, doc_id, hash, body) VALUES (42, 't:gone', 'x', 'zanzibar')")
    c.close()
    with _memory(path, 0) as m:
        cat = m.catalog(KEY)
        rows = {str(r[0]) for r in m.store.query(f"SELECT doc_id FROM {t}")}
        assert rows == set(cat.docs) and len(cat.lexical) == len(cat.docs)
        assert "m3" in m.recall("what is my dog called?", namespace=NS, mode="fast").source_ids
        assert m.recall("zanzibar", namespace=NS, mode="fast").source_ids == []


def test_namespaces_on_disk_are_isolated(tmp_path: Path) -> None:
    with _memory(tmp_path / "m", 0) as m:
        m.add(conv("My golden retriever Biscuit loves the beach."), namespace=("t", "a"))
        m.add(conv("I sail in Croatia every summer.", prefix="b"), namespace=("t", "b"))
        m.flush()
        assert isinstance(m.catalog(NamespaceKey("t/b")).lexical, FtsIndex)
        r = m.recall("golden retriever Biscuit", namespace=("t", "b"), mode="fast")
        assert "Biscuit" not in r.context and "m1" not in r.source_ids
        assert "m1" in m.recall("golden retriever Biscuit", namespace=("t", "a"), mode="fast").source_ids


SECRET = "My locker combination is 7-31-4 and the spare is taped under the Quetzalcoatl poster."


def test_forget_erases_the_words_from_the_full_text_index(tmp_path: Path) -> None:
    path = tmp_path / "m"
    with _memory(path, 0) as m:
        m.add(
            conv("I like tea.", SECRET, "Noted, I will remember the Xochiquetzal mural."),
            namespace=NS,
            session_id="s1",
        )
        m.add(conv("I like coffee.", "Good.", prefix="c"), namespace=NS, session_id="s2")
        m.add(conv("Quetzalcoatl is also my cat's name.", prefix="o"), namespace=("org", "u2"))
        m.flush()
        assert b"quetzalcoatl" in file_bytes(m.db_path)
        assert m.forget(namespace=NS, ids=["m2"]) == 1
        assert m.recall("Quetzalcoatl poster", namespace=NS, mode="fast").source_ids == []
        m.flush()
        assert "o1" in m.recall("Quetzalcoatl", namespace=("org", "u2"), mode="fast").source_ids
        assert m.forget(namespace=("org", "u2")) == 1
        assert table_name(NamespaceKey("org/u2")) not in _tables(m)
        m.flush()
        db = m.db_path
    raw = file_bytes(db).lower()
    for word in ["7-31-4", *tokenize("combination taped Quetzalcoatl poster")]:  # as said, and as indexed
        assert word.encode() not in raw, f"{word!r} is still in the database files"
    assert b"xochiquetzal" in raw  # what was not forgotten stays
