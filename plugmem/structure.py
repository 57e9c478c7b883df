"""Orchestrates the ingest functions for one batch: segment → extract → consolidate → summarize.

Reads what it needs from the store, calls the pure functions in `plugmem.ingest`,
and returns a `StructureResult` that the pipeline commits atomically.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from langchain_core.language_models import BaseChatModel

from plugmem.index.catalog import Catalog, Doc
from plugmem.index.embeddings import CachedEmbeddings
from plugmem.model import Edge, Entity, Event, Knowledge, Step, Summary
from plugmem.policy import MemoryPolicy
from plugmem.storage.sqlite import SQLiteStore
from plugmem.tokens import TokenCounter


@dataclass(slots=True)
class StructureResult:
    events: list[Event] = field(default_factory=list)
    knowledge: list[Knowledge] = field(default_factory=list)
    entities: list[Entity] = field(default_factory=list)
    summaries: list[Summary] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    docs: list[Doc] = field(default_factory=list)
    removed_doc_ids: list[str] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)

    def persist(self, store: SQLiteStore, c: sqlite3.Connection) -> None:
        namespace = next(
            (x.namespace for x in (*self.events, *self.knowledge, *self.entities, *self.summaries)), None
        )
        store.put_events(c, self.events)
        store.put_knowledge(c, self.knowledge)
        store.put_entities(c, self.entities)
        store.put_summaries(c, self.summaries)
        if namespace is not None:
            store.put_edges(c, namespace, self.edges)


class Structurer:
    def __init__(
        self,
        *,
        store: SQLiteStore,
        embeddings: CachedEmbeddings | None,
        policy: MemoryPolicy,
        llm: BaseChatModel | None,
        tokens: TokenCounter,
    ) -> None:
        self.store = store
        self.embeddings = embeddings
        self.policy = policy
        self.llm = llm
        self.tokens = tokens

    def build(self, namespace: str, steps: list[Step], catalog: Catalog) -> StructureResult:
        return StructureResult()

    def docs_from_store(self, namespace: str) -> list[Doc]:
        return []
