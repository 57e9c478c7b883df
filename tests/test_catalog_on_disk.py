"""A large namespace's document texts stay in the store: the same recall, and forget still erases.

Once a namespace's lexical index lives in the database (`MemoryPolicy.lexical_on_disk_from`), its
catalog drops each document's text and reads it back when recall renders it. These tests hold that
to what a catalog holding its texts gives, across a reopen, and to forget on both backends.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from _support import T0, conv

from plugmem import MemoryPolicy, PlugMem
from plugmem.namespace import NamespaceKey

pytestmark = pytest.mark.backends

At = Callable[[str], str]
NS = ("org", "u1")
KEY = NamespaceKey("org/u1")
SECRET = "The combination is 7-31-4, taped behind the Quetzalcoatl poster."
TALK = (
    "My sister Ana moved to Porto last March with her husband Rui.",
    "That sounds lovely! Does she like it there?",
    "She loves it. She works as a nurse at the Santo António hospital now.",
    "Good for her. What about you, still welding at Acme in Leeds?",
    "Yes, and I adopted a golden retriever named Biscuit last spring.",
    "Biscuit is a great name. How old is he?",
)
NOW = T0 + timedelta(days=30)
QUESTIONS = ("Where does Ana live?", "What is my golden retriever called?", "Where does Ana work?")


def _memory(where: str, disk_from: int | None) -> PlugMem:
    policy = MemoryPolicy(full_history_when_fits=False, lexical_on_disk_from=disk_from)
    return PlugMem.open(where, policy=policy, embeddings=None, clock=lambda: NOW)  # "Now:" in the context


def _answers(m: PlugMem) -> list[tuple[str, list[str], list[str]]]:
    out = []
    for q in QUESTIONS:
        r = m.recall(q, namespace=NS, mode="fast")
        out.append((r.context, [it.text for it in r.items], r.source_ids))
    return out


def test_texts_read_back_from_the_store_are_the_texts_a_held_catalog_has(backend: str, memory_at: At) -> None:
    where = memory_at("m")
    with _memory(where, 0) as m:
        m.add(conv(*TALK), namespace=NS, session_id="s1")
        m.flush()
        cat = m.catalog(KEY)
        assert {d.kind for d in cat.docs.values()} >= {"turn", "event", "knowledge"}
        assert all(d.body is None and d.lexical_text is None for d in cat.docs.values())  # none on the heap
        on_disk = {i: d.text for i, d in cat.docs.items()}
        first = _answers(m)
    with _memory(where, None) as m:  # the lexical index back in RAM: the catalog holds every text
        cat = m.catalog(KEY)
        assert all(d.body is not None for d in cat.docs.values())
        assert {i: d.text for i, d in cat.docs.items()} == on_disk
    with _memory(where, 0) as m:  # reopened on disk: the same recall, word for word
        assert all(d.body is None for d in m.catalog(KEY).docs.values())
        again = _answers(m)
    assert again == first
    assert "Porto" in first[0][0] and "Biscuit" in first[1][0]


def test_forget_leaves_no_text_behind_in_a_catalog_on_disk(backend: str, memory_at: At) -> None:
    where = memory_at("m")
    with _memory(where, 0) as m:
        m.add(conv("I like tea.", SECRET, "Noted, I will not tell anyone."), namespace=NS, session_id="s1")
        later = conv("We went sailing in Croatia.", "Sounds fun!", start=T0 + timedelta(hours=5), prefix="x")
        m.add(later, namespace=NS, session_id="s2")  # so the day's summary is rewritten in place, not redone
        m.flush()
        cat = m.catalog(KEY)
        said = [d for d in cat.docs.values() if "quetzalcoatl" in d.text.lower()]  # reads every text once
        assert {d.kind for d in said} > {"turn"}  # derived documents quote it too: forget rewrites those
        assert "m2" in m.recall("Where is the Quetzalcoatl poster?", namespace=NS, mode="fast").source_ids
        assert m.forget(namespace=NS, ids=["m2"]) == 1
        m.flush()
        cat = m.catalog(KEY)
        assert not [d.id for d in cat.docs.values() if "quetzalcoatl" in d.text.lower()]
        r = m.recall("Where is the Quetzalcoatl poster?", namespace=NS, mode="fast")
        assert "m2" not in r.source_ids and "7-31-4" not in r.context
        assert "tea" in m.recall("Do I like tea?", namespace=NS, mode="fast").context
    with _memory(where, 0) as m:
        assert not [d.id for d in m.catalog(KEY).docs.values() if "quetzalcoatl" in d.text.lower()]


def test_a_recall_reads_the_texts_it_shows_in_one_go(tmp_path: Path) -> None:
    """The texts of the ranked items come back in one read per document kind, not one query per item.

    Counted with SQLite's statement trace on the store's two connections (embedded backend: the same
    read on PostgreSQL is the same `Pipeline.doc_texts` call).
    """
    where = str(tmp_path / "m")
    with _memory(where, 0) as m:
        m.add(conv(*TALK), namespace=NS, session_id="s1")
        m.flush()
    with _memory(where, 0) as m:
        m.recall("hello", namespace=NS, mode="fast")  # loads the catalog; its texts are not read yet
        reads: list[str] = []
        for conn in (m.store._conn, m.store._reader):  # type: ignore[attr-defined]
            conn.set_trace_callback(lambda sql: reads.append(sql) if " id IN (" in sql else None)
        r = m.recall("Where does Ana work?", namespace=NS, mode="fast")
        assert len(r.items) > 4 and "Santo António" in r.context
        assert len(reads) <= 4, reads  # turns, events, facts, summaries
