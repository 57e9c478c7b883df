"""Vectors on a Chroma server: what a shared server adds to the embedded promises.

The shared promises (recall, forget, namespace isolation, repair) run on both backends through
the `mem` / `vectors` fixtures. Here: memories sharing one server keep apart, a reopened memory
finds its own collections again, forget reaches the server, the embeddings cache is the memory's,
and a server that does not answer is a typed error that leaves the directory usable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import chromadb
import pytest
from _support import conv

from plugmem import InvalidInputError, MemoryPolicy, PlugMem, VectorServerError
from plugmem.index.catalog import EMBEDDED_KINDS
from plugmem.index.vectors import collection_name, server_address
from plugmem.storage.sqlite import SQLiteStore

NS = ("org", "u1")
POLICY = MemoryPolicy(full_history_when_fits=False)
FACTS = conv("I adopted a golden retriever named Biscuit.", "Lovely!", "My sister Ana lives in Porto.")


def _filled(path: Path, url: str) -> tuple[int, str]:
    """A memory at `path` holding FACTS, its vectors on the server: (documents embedded, memory id)."""
    with PlugMem.open(path, policy=POLICY, vectors=url) as m:
        m.add(FACTS, namespace=NS)
        m.flush()
        docs = sum(d.kind in EMBEDDED_KINDS for d in m.catalog("org/u1").docs.values())
        return docs, m.store.memory_id()


def _collections_of(url: str, memory_id: str) -> tuple[Any, list[str]]:
    """A client of the server, and the names of the collections it keeps for one memory."""
    host, port, _ = server_address(url)
    server = chromadb.HttpClient(host=host, port=port)
    return server, [
        c.name for c in server.list_collections() if (c.metadata or {}).get("memory") == memory_id
    ]


def test_server_urls_are_parsed_or_refused() -> None:
    assert server_address("http://127.0.0.1:8123") == ("127.0.0.1", 8123, False)
    assert server_address("https://chroma.example.com") == ("chroma.example.com", 443, True)
    assert server_address("http://chroma") == ("chroma", 8000, False)
    for bad in ("127.0.0.1:8000", "ftp://h:1", "http://:8000", "http://h:port"):
        with pytest.raises(InvalidInputError, match="vectors="):
            server_address(bad)


def test_a_server_that_does_not_answer_is_a_typed_error_and_frees_the_directory(tmp_path: Path) -> None:
    from _chroma_server import free_port

    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(VectorServerError, match="chroma run"):
        PlugMem.open(tmp_path / "m", vectors=url)
    with PlugMem.open(tmp_path / "m", embeddings=None) as m:  # the failed open left no lock behind
        assert m.steps(NS) == []


def test_vectors_and_chroma_client_together_are_refused(tmp_path: Path, chroma_url: str) -> None:
    host, port, _ = server_address(chroma_url)
    with pytest.raises(InvalidInputError, match="not both"):
        PlugMem.open(
            tmp_path / "m", vectors=chroma_url, chroma_client=chromadb.HttpClient(host=host, port=port)
        )


def test_the_memory_id_is_made_once_and_kept(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite")
    first = store.memory_id()
    assert first == store.memory_id() and len(first) == 32
    store.close()
    again = SQLiteStore(tmp_path / "db.sqlite")
    assert again.memory_id() == first
    again.close()
    other = SQLiteStore(tmp_path / "other.sqlite")
    assert other.memory_id() != first
    other.close()


@pytest.mark.needs_model
def test_memories_sharing_a_server_never_see_each_other(tmp_path: Path, chroma_url: str) -> None:
    with (
        PlugMem.open(tmp_path / "a", policy=POLICY, vectors=chroma_url) as a,
        PlugMem.open(tmp_path / "b", policy=POLICY, vectors=chroma_url) as b,
    ):
        a.add(FACTS, namespace=NS)  # the same namespace and ids in both memories
        b.add(conv("I sail in Croatia every summer.", "Sounds great."), namespace=NS)
        a.flush()
        b.flush()
        assert a.vectors is not None and b.vectors is not None
        a_ids, b_ids = set(a.vectors.ids("org/u1")), set(b.vectors.ids("org/u1"))
        assert "t:m1" in a_ids and "t:m1" in b_ids
        for m, ids in ((a, a_ids), (b, b_ids)):
            assert ids == {i for i, d in m.catalog("org/u1").docs.items() if d.kind in EMBEDDED_KINDS}
        assert a.vectors.search("org/u1", a.embeddings.embed_query_array("pet dog"), 50)  # type: ignore[union-attr]
        r = b.recall("which pet did I adopt?", namespace=NS, mode="fast")
        assert "golden retriever" not in r.context and "Biscuit" not in r.context


@pytest.mark.needs_model
def test_a_reopened_memory_finds_its_collections_on_the_server(tmp_path: Path, chroma_url: str) -> None:
    path = tmp_path / "m"
    docs, _ = _filled(path, chroma_url)
    with PlugMem.open(path, policy=POLICY, vectors=chroma_url) as m:
        assert m.vectors is not None and m.embeddings is not None
        assert m.vectors.count("org/u1") == docs
        assert m.embeddings.embedded == 0  # nothing was re-embedded or re-sent on open
        assert "m1" in m.recall("which pet did I get?", namespace=NS, mode="fast").source_ids


@pytest.mark.needs_model
def test_lost_server_vectors_come_back_from_the_embeddings_cache(tmp_path: Path, chroma_url: str) -> None:
    path = tmp_path / "m"
    docs, memory_id = _filled(path, chroma_url)
    server, ours = _collections_of(chroma_url, memory_id)
    assert len(ours) == 1  # one namespace, one collection of this memory
    server.delete_collection(ours[0])  # the server loses this memory's vectors
    with PlugMem.open(path, policy=POLICY, vectors=chroma_url) as m:
        cat = m.catalog("org/u1")
        assert m.vectors is not None and m.embeddings is not None
        assert m.vectors.count("org/u1") == docs
        assert m.embeddings.embedded == 0  # re-sent from the memory's own cache, not re-embedded
        assert collection_name("org/u1", m.embeddings.model_id, memory_id) == ours[0]
        assert "m1" in m.recall("which pet did I get?", namespace=NS, mode="fast").source_ids
        assert cat.missing_vectors() == []


@pytest.mark.needs_model
def test_forget_erases_from_the_server(tmp_path: Path, chroma_url: str) -> None:
    with PlugMem.open(tmp_path / "m", policy=POLICY, vectors=chroma_url) as m:
        m.add(FACTS, namespace=NS, session_id="s1")
        m.add(conv("I like tea.", prefix="o"), namespace=("org", "u2"))
        m.flush()
        assert m.vectors is not None
        assert "t:m1" in m.vectors.ids("org/u1")
        assert m.forget(namespace=NS, ids=["m1"]) == 1
        assert "t:m1" not in m.vectors.ids("org/u1")
        assert "t:m3" in m.vectors.ids("org/u1")
        assert m.forget(namespace=NS) == 2
        assert m.vectors.count("org/u1") == 0 and m.vectors.ids("org/u1") == []
        assert m.vectors.count("org/u2") > 0  # the other namespace keeps its collection


@pytest.mark.needs_model
def test_a_memory_opened_without_vectors_uses_the_server_it_recorded(tmp_path: Path, chroma_url: str) -> None:
    """A process that leaves out vectors= still finds the memory's vectors, and a forget erases them there."""
    path = tmp_path / "m"
    _, memory_id = _filled(path, chroma_url)
    server, (ours,) = _collections_of(chroma_url, memory_id)
    assert "t:m1" in server.get_collection(ours).get()["ids"]
    with PlugMem.open(path, policy=POLICY) as m:  # no vectors= this time
        assert m.embeddings is not None and m.embeddings.embedded == 0  # nothing re-embedded locally
        assert "m1" in m.recall("which pet did I get?", namespace=NS, mode="fast").source_ids
        assert m.forget(namespace=NS, ids=["m1"]) == 1
    assert "t:m1" not in server.get_collection(ours).get()["ids"]
    assert not (path / "chroma").exists()  # no second copy of the vectors beside the memory


@pytest.mark.needs_model
def test_a_recorded_server_that_does_not_answer_is_a_typed_error_naming_it(tmp_path: Path) -> None:
    from _chroma_server import free_port

    path = tmp_path / "m"
    gone = f"http://127.0.0.1:{free_port()}"
    with PlugMem.open(path, embeddings=None) as m:
        m.add(FACTS, namespace=NS)
        m.store.set_vector_server(gone)  # as if the memory had been opened with vectors=gone
    with pytest.raises(VectorServerError, match=f"recorded.*{gone}|{gone}.*recorded"):
        PlugMem.open(path, policy=POLICY)
    with PlugMem.open(path, embeddings=None) as m:  # lexical-only needs no vectors; nothing was lost
        assert len(m.steps(NS)) == 3
