"""Helpers for the store tests: deterministic embeddings, a manual clock, store factories.

The same behaviour tests run against LangGraph's `InMemoryStore` (the reference) and
`PlugMemStore`; a `StoreKind` opens either, and says where InMemoryStore is known to
differ from the documented `BaseStore` contract so a test can note it instead of
weakening what PlugMemStore must do.
"""

from __future__ import annotations

import functools
import hashlib
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langgraph.store.base import BaseStore, IndexConfig, TTLConfig
from langgraph.store.memory import InMemoryStore
from plugmem_langgraph.store import PlugMemStore
from pydantic import Field

from plugmem import open_database

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
_WORD = re.compile(r"[a-z0-9]+")


class HashEmbeddings(Embeddings):
    """Bag of words hashed into `dims` buckets: deterministic, and texts sharing words are close."""

    def __init__(self, dims: int = 64) -> None:
        self.dims = dims

    def vector(self, text: str) -> list[float]:
        v = np.zeros(self.dims, dtype=np.float64)
        for word in _WORD.findall(text.lower()):
            digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
            v[int.from_bytes(digest, "little") % self.dims] += 1.0
        norm = float(np.linalg.norm(v))
        return [float(x) for x in (v / norm if norm else v)]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.vector(text)


class CountingEmbeddings(Embeddings):
    """Wraps an embedder and records every call, so tests can see how often a store embeds."""

    def __init__(self, inner: Embeddings) -> None:
        self.inner = inner
        self.dims: int | None = getattr(inner, "dims", None)
        self.document_calls: list[list[str]] = []
        self.query_calls: list[str] = []
        self._lock = threading.Lock()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        with self._lock:
            self.document_calls.append(list(texts))
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        with self._lock:
            self.query_calls.append(text)
        return self.inner.embed_query(text)


@functools.cache
def onnx_embeddings() -> Embeddings | None:
    """plugmem's MiniLM ONNX embedder if the model is on disk (loaded once per session)."""
    from plugmem.index.embeddings import OnnxMiniLM, find_model_dir

    model_dir = find_model_dir()
    return OnnxMiniLM(model_dir) if model_dir is not None else None


class ManualClock:
    """A clock tests move by hand; it also records which threads asked for the time."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start
        self.threads: set[int] = set()

    def __call__(self) -> datetime:
        self.threads.add(threading.get_ident())
        return self.now

    def advance(self, *, minutes: float = 0, seconds: float = 0) -> None:
        self.now += timedelta(minutes=minutes, seconds=seconds)


@dataclass
class StoreKind:
    """Opens stores of one implementation with one embedder, and knows its known quirks."""

    name: str  # "inmemory" | "plugmem"
    embedder: str  # "hash" | "onnx"
    tmp: Path
    locate: Callable[[str], str] | None = None  # a PostgreSQL schema per file name (server backend)
    opened: list[BaseStore] = field(default_factory=list)
    last_embeddings: CountingEmbeddings | None = None

    @property
    def is_plugmem(self) -> bool:
        return self.name == "plugmem"

    # Where InMemoryStore departs from the documented BaseStore contract (the tests say how):
    @property
    def orders_by_recency(self) -> bool:
        """Search without a query lists the most recently updated items first."""
        return self.is_plugmem

    @property
    def keeps_created_at(self) -> bool:
        """`created_at` is the creation time, kept when an item is updated."""
        return self.is_plugmem

    @property
    def lists_only_live_namespaces(self) -> bool:
        """`list_namespaces` shows only namespaces that hold items."""
        return self.is_plugmem

    def new_embeddings(self) -> CountingEmbeddings:
        inner = onnx_embeddings() if self.embedder == "onnx" else HashEmbeddings(64)
        assert inner is not None
        self.last_embeddings = CountingEmbeddings(inner)
        return self.last_embeddings

    def index(self, fields: Sequence[str] | None = ("text",)) -> IndexConfig:
        emb = self.new_embeddings()
        config: IndexConfig = {"dims": int(emb.dims or 0), "embed": emb}
        if fields is not None:
            config["fields"] = list(fields)
        return config

    def open(
        self,
        *,
        fields: Sequence[str] | None = ("text",),
        indexed: bool = True,
        ttl: TTLConfig | None = None,
        clock: ManualClock | None = None,
        file: str = "store.sqlite",
    ) -> BaseStore:
        index = self.index(fields) if indexed else None
        store: BaseStore
        if self.is_plugmem:
            where = self.locate(file) if self.locate is not None else self.tmp / file
            store = PlugMemStore(where, index=index, ttl=ttl, clock=clock)
        else:
            store = InMemoryStore(index=index)
        self.opened.append(store)
        return store

    def close_all(self) -> None:
        for store in self.opened:
            if isinstance(store, PlugMemStore):
                store.close()


def raw_count(db: Path | str, table: str) -> int:
    """Row count read straight from the database, to see what a store really persisted."""
    database = open_database(db)
    try:
        with database.tx(write=False) as cur:
            return int(cur.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    finally:
        database.close()


class ScriptedChatModel(BaseChatModel):
    """A chat model that answers from a script and records what it was shown.

    `bind_tools` returns the model itself: the script already holds the tool calls.
    """

    responses: list[AIMessage]
    seen: list[list[BaseMessage]] = Field(default_factory=list)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.seen.append(list(messages))
        reply = self.responses[len(self.seen) - 1]
        return ChatResult(generations=[ChatGeneration(message=reply)])

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:
        return self

    @property
    def _llm_type(self) -> str:
        return "scripted"
