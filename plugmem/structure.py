"""Orchestrates the ingest functions for one batch: segment → extract → consolidate → summarize.

Reads what it needs from the store, calls the pure functions in `plugmem.ingest`,
and returns a `StructureResult` that the pipeline commits atomically with the
batch's "processed" mark.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from plugmem.errors import LLMUnavailableError
from plugmem.index.catalog import Catalog, Doc, event_doc, knowledge_doc, summary_doc, turn_text
from plugmem.index.embeddings import CachedEmbeddings
from plugmem.ingest.consolidate import consolidate, consolidate_entities, lookup_keys, match_keys
from plugmem.ingest.extract import Extractor, RuleExtractor
from plugmem.ingest.extract_llm import LLMExtractor
from plugmem.ingest.relations import event_edges, tree_edges
from plugmem.ingest.segment import segment
from plugmem.ingest.summarize import rollup, touched_ids
from plugmem.llm import usage_counters
from plugmem.llm_roles import ChatModels
from plugmem.model import Edge, Entity, Event, ExtractionFailure, Knowledge, Step, Summary
from plugmem.namespace import NamespaceKey
from plugmem.policy import MemoryPolicy
from plugmem.prompts import Prompts
from plugmem.storage.base import Store, Tx
from plugmem.tokens import TokenCounter

RECENT_EVENTS = 200  # how far back new events look for shared-entity links
KEPT_NAMESPACES = 16  # namespaces whose entities ingest keeps between batches

# Ids minted by the ingest functions carry these prefixes; catalog/graph ids use short ones.
_RAW_PREFIX = {"kn-": "k:", "ev-": "e:", "ent-": "n:", "sum-": "s:"}


def node_id(raw: str, *, step: bool = False) -> str:
    """The graph/catalog id of a raw id (steps keep the caller's id behind "t:")."""
    if not step:
        for p, short in _RAW_PREFIX.items():
            if raw.startswith(p):
                return short + raw
    return "t:" + raw


def graph_edge(e: Edge, step_ids: set[str]) -> Edge:
    """Map an edge between raw ids onto catalog ids, by what each end can be."""
    src_step = e.kind == "part_of" and e.src in step_ids
    dst_step = e.kind == "derived_from"
    return Edge(node_id(e.src, step=src_step), node_id(e.dst, step=dst_step), e.kind, e.label, e.weight)


@dataclass(slots=True)
class StructureResult:
    namespace: NamespaceKey
    events: list[Event] = field(default_factory=list)
    knowledge: list[Knowledge] = field(default_factory=list)
    entities: list[Entity] = field(default_factory=list)
    dropped_entities: list[str] = field(default_factory=list)
    summaries: list[Summary] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    docs: list[Doc] = field(default_factory=list)
    removed_doc_ids: list[str] = field(default_factory=list)
    failures: list[ExtractionFailure] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)

    def persist(self, store: Store, c: Tx) -> None:
        store.put_events(c, self.events)
        store.put_knowledge(c, self.knowledge, keys=match_keys)
        store.put_entities(c, self.entities)
        store.delete_entities(c, self.namespace, self.dropped_entities)
        store.put_summaries(c, self.summaries)
        store.put_edges(c, self.namespace, self.edges)


class Structurer:
    def __init__(
        self,
        *,
        store: Store,
        embeddings: CachedEmbeddings | None,
        policy: MemoryPolicy,
        models: ChatModels,
        tokens: TokenCounter,
        prompt_overrides: Mapping[str, str] | None = None,
    ) -> None:
        self.store = store
        self.embeddings = embeddings
        self.policy = policy
        self.models = models
        self.tokens = tokens
        self.prompts = Prompts.with_overrides(policy.prompts, prompt_overrides)
        # the entities of the namespaces ingested last, as of a generation: every batch reads them all
        self._entities: OrderedDict[NamespaceKey, tuple[int, dict[str, Entity]]] = OrderedDict()

    def _known_entities(self, namespace: NamespaceKey) -> list[Entity]:
        gen = self.store.generation(namespace)
        held = self._entities.get(namespace)
        if held is None or held[0] != gen:
            held = (gen, {e.id: e for e in self.store.entities(namespace)})
            self._entities[namespace] = held
            while len(self._entities) > KEPT_NAMESPACES:  # many tenants: keep the busy ones, not all
                self._entities.popitem(last=False)
        self._entities.move_to_end(namespace)
        return sorted(held[1].values(), key=lambda e: e.id)  # the store's order

    def committed(self, result: StructureResult, generation: int) -> None:
        """`result` was committed as `generation`: keep the entities current without reading them again."""
        held = self._entities.get(result.namespace)
        if held is None or held[0] != generation - 1:
            self._entities.pop(result.namespace, None)  # another writer came between: read afresh
            return
        known = held[1]
        for i in result.dropped_entities:
            known.pop(i, None)
        known.update((e.id, e) for e in result.entities)
        self._entities[result.namespace] = (generation, known)

    def _extractor(self, entities: Sequence[Entity]) -> tuple[Extractor, str | None]:
        """The extract role's model, else rules; a model that cannot be created is reported, not raised."""
        try:
            llm = self.models.get("extract", self.policy)
        except LLMUnavailableError as exc:
            return RuleExtractor(entities=entities), str(exc)
        if llm is not None:
            return LLMExtractor(llm, entities=entities, tokens=self.tokens, prompts=self.prompts), None
        return RuleExtractor(entities=entities), None

    def _vectors(self, steps: Sequence[Step]) -> list[list[float]] | None:
        # same text as the turn documents, so these are cache hits, not new model calls
        if self.embeddings is None or not steps:
            return None
        return self.embeddings.embed_array([turn_text(s) for s in steps]).tolist()

    def build(self, namespace: NamespaceKey, steps: list[Step], catalog: Catalog) -> StructureResult:
        out = StructureResult(namespace)
        by_session: dict[str, list[Step]] = defaultdict(list)
        for s in steps:
            by_session[s.session_id].append(s)
        step_map = {s.id: s for s in steps}
        new_events: list[Event] = []
        for session_id, batch in by_session.items():
            prior = self.store.events(namespace, session_id=session_id)
            previous = prior[-1] if prior else None
            prev_steps = self.store.steps(namespace, ids=previous.step_ids) if previous else []
            step_map.update({s.id: s for s in prev_steps})
            new_events += segment(
                batch,
                self._vectors(batch),
                gap_minutes=self.policy.segment_gap_minutes,
                previous=previous,
                previous_steps=prev_steps,
                previous_vectors=self._vectors(prev_steps) if prev_steps else None,
            )
        if not new_events:
            return out
        existing_entities = self._known_entities(namespace)
        extractor, unavailable = self._extractor(existing_entities)
        extraction = extractor.extract(new_events, step_map)
        if unavailable is not None:  # counted like any other fallback to the rules
            extraction.usage.fallbacks += 1
            extraction.failures.append(
                ExtractionFailure([e.id for e in new_events], "llm", unavailable, attempts=0)
            )
        for ev in new_events:
            better = extraction.event_summaries.get(ev.id)
            if better:
                ev.summary = better
        existing_knowledge = self.store.knowledge_matching(
            namespace,
            keys=[key for k in extraction.knowledge for key in lookup_keys(k)],
            ids=[k.id for k in extraction.knowledge],
        )
        cons = consolidate(extraction.knowledge, existing_knowledge)
        ents = consolidate_entities(extraction.entities, existing_entities)
        summaries = rollup(new_events, self.store.summaries_by_id(namespace, touched_ids(new_events)))
        recent = self.store.latest_events(namespace, RECENT_EVENTS)
        known_ids = {e.id for e in new_events}
        raw_edges = [
            *extraction.edges,
            *cons.edges,
            *event_edges(new_events, [e for e in recent if e.id not in known_ids]),
            *tree_edges(summaries),
            *(Edge(sid, e.id, "part_of") for e in new_events for sid in e.step_ids),
        ]
        all_steps = set(step_map)
        out.events = new_events
        out.knowledge = [*cons.to_add, *cons.to_close, *cons.merged]
        out.entities = ents.upsert
        out.dropped_entities = list(ents.merged)
        out.summaries = summaries
        out.edges = [graph_edge(e, all_steps) for e in raw_edges]
        out.failures = list(extraction.failures)
        # superseded facts stay searchable (history questions need them); recall marks them stale
        out.docs = [
            *(event_doc(e) for e in new_events),
            *(knowledge_doc(k) for k in [*cons.to_add, *cons.merged, *cons.to_close]),
            *(summary_doc(s) for s in summaries),
        ]
        out.removed_doc_ids = ["k:" + i for i in cons.merged_ids]
        out.counters = usage_counters("extract", extraction.usage)
        return out

    def docs_from_store(self, namespace: NamespaceKey) -> list[Doc]:
        docs = [event_doc(e) for e in self.store.events(namespace)]
        docs += [knowledge_doc(k) for k in self.store.knowledge(namespace)]
        docs += [summary_doc(s) for s in self.store.summaries(namespace)]
        return docs
