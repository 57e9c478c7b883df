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
