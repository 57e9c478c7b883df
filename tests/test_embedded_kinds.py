"""Only turns and events are embedded: facts and summaries are found by their words and their turns.

Embedding is most of ingest time, and facts and summaries were 58 % of the texts embedded while
LoCoMo dev recall holds without their vectors (docs/NOTES.md). A memory written when every kind
was embedded loses the vectors it no longer needs on open.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from _support import conv

from plugmem import MemoryPolicy, PlugMem
from plugmem.index.catalog import EMBEDDED_KINDS
from plugmem.namespace import NamespaceKey

At = Callable[[str], str]
NS = ("org", "u1")
KEY = NamespaceKey("org/u1")
POLICY = MemoryPolicy(full_history_when_fits=False)
TALK = conv(
    "I adopted a golden retriever puppy named Biscuit last week.",
    "Congrats! How is Biscuit doing?",
    "Great. Also, my sister Priya is getting married in Goa in December.",
    "How exciting, a wedding in Goa!",
    "I work as a nurse at St. Mary's hospital, night shifts mostly.",
    "Night shifts must be tough.",
)


@pytest.mark.needs_model
def test_only_turns_and_events_are_embedded_and_old_vectors_go(memory_at: At, vectors: str | None) -> None:
    path = memory_at("m")
    with PlugMem.open(path, policy=POLICY, vectors=vectors) as m:
        m.add(TALK, namespace=NS, session_id="s1")
        m.flush()
        assert m.vectors is not None and m.embeddings is not None
        cat = m.catalog(KEY)
        assert {d.kind for d in cat.docs.values()} > EMBEDDED_KINDS  # facts and summaries exist
        assert {cat.docs[i].kind for i in m.vectors.ids(KEY)} == EMBEDDED_KINDS
        assert m.vectors.count(KEY) == sum(d.kind in EMBEDDED_KINDS for d in cat.docs.values())
        fact = next(d for d in cat.docs.values() if d.kind == "knowledge")
        # as a memory written when every kind was embedded holds it
        m.vectors.upsert(KEY, [fact.id], m.embeddings.embed_array([fact.text]), [fact.kind])
    with PlugMem.open(path, policy=POLICY, vectors=vectors) as m:
        assert m.vectors is not None
        cat = m.catalog(KEY)
        assert fact.id not in m.vectors.ids(KEY)  # dropped on open
        assert m.vectors.count(KEY) == sum(d.kind in EMBEDDED_KINDS for d in cat.docs.values())
        # found by its words (a fact, or the turn it came from), and a turn by its meaning alone
        assert "m3" in m.recall("Who is getting married in Goa?", namespace=NS, mode="fast").source_ids
        assert "m1" in m.recall("which pet did I get?", namespace=NS, mode="fast").source_ids
