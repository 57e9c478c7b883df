"""The alternatives plugmem is measured against, on the same turns and the same embedding model.

Each baseline ranks one haystack's turns for a query; `pack` turns any ranking into a
context within a token budget exactly the way plugmem renders turns, so budgets compare.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Protocol

import bm25s
import chromadb
import numpy as np
from langgraph.store.memory import InMemoryStore

from benchmarks.data import Turn
from plugmem.index.embeddings import CachedEmbeddings
from plugmem.recall.context import FOOTER, HEADER, fmt_day
from plugmem.tokens import TokenCounter


def turn_line(t: Turn) -> str:
    """The same line plugmem renders for a turn: `[date] speaker: text`."""
    return f"[{fmt_day(t.timestamp)}] {t.speaker}: {t.text}".replace("\n", " ")


def turn_costs(turns: Sequence[Turn], tokens: TokenCounter) -> dict[str, int]:
    return {t.id: tokens.count(turn_line(t)) + 1 for t in turns}


def pack(
    ranking: Sequence[str], costs: dict[str, int], budget: int, tokens: TokenCounter
) -> tuple[list[str], int]:
    """Greedy by rank: take each turn that still fits. Returns the ids and the tokens used."""
    room = budget - tokens.count(HEADER + "\n" + FOOTER) - 1
    used = budget - room
    chosen: list[str] = []
    for tid in ranking:
        c = costs.get(tid)
        if c is None or c > room:
            continue
        room -= c
        used += c
        chosen.append(tid)
    return chosen, used


def full_history(
    turns: Sequence[Turn], costs: dict[str, int], budget: int, tokens: TokenCounter
) -> tuple[list[str], int]:
    """What an agent without memory keeps: the most recent turns that fit."""
    return pack([t.id for t in reversed(turns)], costs, budget, tokens)


class Baseline(Protocol):
    name: str

    def index(self, turns: Sequence[Turn]) -> None: ...

    def rank(self, query: str, k: int) -> list[str]: ...

    def close(self) -> None: ...


class BM25Baseline:
    """bm25s alone: English stopwords, no stemming, one document per turn (`speaker: text`)."""

    name = "bm25"

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.model: bm25s.BM25 | None = None

    def index(self, turns: Sequence[Turn]) -> None:
        self.ids = [t.id for t in turns]
        corpus = bm25s.tokenize(
            [f"{t.speaker}: {t.text}" for t in turns], stopwords="en", show_progress=False
        )
        self.model = bm25s.BM25()
        self.model.index(corpus, show_progress=False)

    def rank(self, query: str, k: int) -> list[str]:
        assert self.model is not None
        q = bm25s.tokenize([query], stopwords="en", show_progress=False)
        if not q.vocab:
            return []
        k = min(k, len(self.ids))
        docs, scores = self.model.retrieve(q, k=k, show_progress=False)
        return [self.ids[int(i)] for i, s in zip(docs[0], scores[0], strict=True) if s > 0]

    def close(self) -> None:
        self.model = None


class DenseBaseline:
    """Chroma alone (cosine HNSW) with the same MiniLM vectors plugmem uses."""

    name = "dense"

    def __init__(self, client: Any, embeddings: CachedEmbeddings) -> None:
        self.client = client
        self.emb = embeddings
        self.coll: Any = None
        self.n = 0

    def index(self, turns: Sequence[Turn]) -> None:
        self.coll = self.client.create_collection(
            f"b{uuid.uuid4().hex[:12]}", metadata={"hnsw:space": "cosine"}
        )
        vecs = self.emb.embed_array([f"{t.speaker}: {t.text}" for t in turns])
        ids = [t.id for t in turns]
        for i in range(0, len(ids), 4000):
            self.coll.add(ids=ids[i : i + 4000], embeddings=vecs[i : i + 4000])
        self.n = len(ids)

    def rank(self, query: str, k: int) -> list[str]:
        q = self.emb.embed_query_array(query)
        res = self.coll.query(query_embeddings=[q], n_results=min(k, self.n))
        return list(res["ids"][0])

    def close(self) -> None:
        if self.coll is not None:
            self.client.delete_collection(self.coll.name)
            self.coll = None


class StoreBaseline:
    """LangGraph's `InMemoryStore` with semantic search (`index={"embed": ...}`), one item per turn."""

    name = "inmemorystore"

    def __init__(self, embeddings: CachedEmbeddings) -> None:
        self.emb = embeddings
        self.store: InMemoryStore | None = None

    def index(self, turns: Sequence[Turn]) -> None:
        self.store = InMemoryStore(index={"dims": 384, "embed": self.emb, "fields": ["text"]})
        ops_ns = ("bench",)
        for t in turns:
            self.store.put(ops_ns, t.id, {"text": f"{t.speaker}: {t.text}"})

    def rank(self, query: str, k: int) -> list[str]:
        assert self.store is not None
        return [it.key for it in self.store.search(("bench",), query=query, limit=k)]

    def close(self) -> None:
        self.store = None


def make_baselines(embeddings: CachedEmbeddings, client: Any | None = None) -> list[Baseline]:
    chroma = client or chromadb.EphemeralClient()
    return [BM25Baseline(), DenseBaseline(chroma, embeddings), StoreBaseline(embeddings)]


def cosine_rank(matrix: np.ndarray, ids: Sequence[str], q: np.ndarray, k: int) -> list[str]:
    """Exact dense ranking (used to check Chroma's approximate one)."""
    sims = matrix @ q
    return [ids[i] for i in np.argsort(-sims)[:k]]
