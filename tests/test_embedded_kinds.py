"""The vector index holds the documents of the embedded kinds, and nothing else after an open.

A vector with no document (a crash after a forget, or a kind a later version stopped embedding)
is dropped when the namespace's catalog loads.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
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
)


@pytest.mark.needs_model
def test_vectors_are_the_embedded_documents_and_strays_go_on_open(memory_at: At, vectors: str | None) -> None:
    path = memory_at("m")
    with PlugMem.open(path, policy=POLICY, vectors=vectors) as m:
        m.add(TALK, namespace=NS, session_id="s1")
        m.flush()
        assert m.vectors is not None
        cat = m.catalog(KEY)
        want = {i for i, d in cat.docs.items() if d.kind in EMBEDDED_KINDS}
        assert set(m.vectors.ids(KEY)) == want
        m.vectors.upsert(KEY, ["k:gone"], np.ones((1, 384), dtype=np.float32), ["knowledge"])
    with PlugMem.open(path, policy=POLICY, vectors=vectors) as m:
        assert m.vectors is not None
        m.catalog(KEY)
        assert set(m.vectors.ids(KEY)) == want  # the stray vector was dropped on open
        assert "m1" in m.recall("which pet did I get?", namespace=NS, mode="fast").source_ids


def _proposition_ids(m: PlugMem) -> set[str]:
    cat = m.catalog(KEY)
    return {i for i, d in cat.docs.items() if d.kind == "knowledge" and d.extra.get("kind") == "proposition"}


@pytest.mark.needs_model
@pytest.mark.parametrize("disk_from", [None, 0], ids=["ram", "fts5"])
def test_with_vectors_facts_are_found_by_meaning_not_twice_by_words(
    memory_at: At, disk_from: int | None
) -> None:
    """Propositions repeat their turn's words: with dense search they stay out of the word index, still found."""
    policy = MemoryPolicy(full_history_when_fits=False, lexical_on_disk_from=disk_from)
    with PlugMem.open(memory_at("m"), policy=policy) as m:
        m.add(TALK, namespace=NS, session_id="s1")
        m.flush()
        facts = _proposition_ids(m)
        assert facts
        cat = m.catalog(KEY)
        by_words = {
            i for i, _ in cat.lexical.search("Priya married Goa December golden retriever Biscuit", 100)
        }
        assert by_words and not by_words & facts
        assert "t:m1" in by_words
        r = m.recall("Who is getting married, and where?", namespace=NS, mode="fast")
        assert "Goa" in r.context


@pytest.mark.parametrize("disk_from", [None, 0], ids=["ram", "fts5"])
def test_without_vectors_facts_are_searched_by_words(memory_at: At, disk_from: int | None) -> None:
    policy = MemoryPolicy(full_history_when_fits=False, lexical_on_disk_from=disk_from)
    with PlugMem.open(memory_at("m"), policy=policy, embeddings=None) as m:
        m.add(TALK, namespace=NS, session_id="s1")
        m.flush()
        facts = _proposition_ids(m)
        by_words = {
            i for i, _ in m.catalog(KEY).lexical.search("Priya married Goa December golden retriever", 100)
        }
        assert facts and facts & by_words
