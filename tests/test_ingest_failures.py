"""The worker retries failed batches, reports what it could not do, and never dies or loses a write."""

from __future__ import annotations

from pathlib import Path

import pytest
from _support import conv
from langchain_core.embeddings import Embeddings

from plugmem import IngestStalledError, MemoryPolicy, PlugMem
from plugmem.index.embeddings import default_embeddings

NS = ("org", "u1")


class FlakyEmbeddings(Embeddings):
    """A real model behind a switch, as a remote embedding service that goes down and comes back."""

    def __init__(self, fail_calls: int = 0) -> None:
        inner = default_embeddings()
        assert inner is not None, "the ONNX model is needed for this test"
        self.inner = inner
        self.fail_calls = fail_calls
        self.down = False

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if self.down or self.fail_calls > 0:
            self.fail_calls -= 1
            raise ConnectionError("embedding service unavailable")
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


def _open(path: Path, emb: Embeddings) -> PlugMem:
    return PlugMem.open(path, policy=MemoryPolicy(full_history_when_fits=False), embeddings=emb)


@pytest.mark.needs_model  # its assertions rely on semantic recall
def test_transient_failures_are_retried_and_counted(tmp_path: Path) -> None:
    emb = FlakyEmbeddings(fail_calls=2)
    with _open(tmp_path / "m", emb) as mem:
        mem.add(conv("My bike is a green Brompton I bought in Leeds."), namespace=NS)
        mem.flush()
        s = mem.stats()
        assert (s.retries, s.failures, s.pending) == (2, 0, 0)
        r = mem.recall("what bike do I ride?", namespace=NS)
        assert "m1" in {i for it in r.items for i in it.source_ids}


@pytest.mark.needs_model  # its assertions rely on semantic recall
def test_a_dead_embedder_quarantines_loudly_loses_nothing_and_recovers(tmp_path: Path) -> None:
    emb = FlakyEmbeddings()
    with _open(tmp_path / "m", emb) as mem:
        mem.add(conv("My bike is a green Brompton I bought in Leeds.", prefix="a"), namespace=NS)
        mem.flush()
        emb.down = True
        mem.add(
            conv("I started learning the cello in September.", "Bring snacks on Friday.", prefix="b"),
            namespace=NS,
        )
        with pytest.raises(IngestStalledError, match=r"2 logged steps could not be processed.*quarantined"):
            mem.flush()
        s = mem.stats()
        assert (s.pending, s.quarantined) == (0, 2) and s.failures >= 1
        # what was stored before is untouched and recallable, and recall does not wait for quarantined steps
        r = mem.recall("what bike do I ride?", namespace=NS)
        assert "a1" in {i for it in r.items for i in it.source_ids}
        assert mem.forget(namespace=NS, ids=["b2"]) == 1  # a quarantined message can still be forgotten
        emb.down = False
        mem.flush()  # flush retries quarantined steps at once
        assert (mem.stats().pending, mem.stats().quarantined) == (0, 0)
        r = mem.recall("which instrument am I learning?", namespace=NS)
        assert "b1" in {i for it in r.items for i in it.source_ids}
        assert [st.id for st in mem.steps(NS)] == ["a1", "b1"]


@pytest.mark.needs_model  # its assertions rely on semantic recall
def test_work_left_by_a_stall_is_done_on_reopen(tmp_path: Path) -> None:
    emb = FlakyEmbeddings()
    with _open(tmp_path / "m", emb) as mem:
        emb.down = True
        mem.add(conv("Our wifi password is on the fridge.", prefix="c"), namespace=NS)
        with pytest.raises(IngestStalledError):
            mem.flush()
    emb.down = False
    with _open(tmp_path / "m", emb) as mem:
        mem.flush()
        assert mem.stats().pending == 0
        r = mem.recall("where is the wifi password?", namespace=NS)
        assert "c1" in {i for it in r.items for i in it.source_ids}
